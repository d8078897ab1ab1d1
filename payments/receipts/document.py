"""What a receipt says, built from a paid order and its decision; the PDF and the HTML page both print
exactly these lines (``Receipt.lines``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.kit.clock import to_local
from core.models import PaymentChannel, PaymentOrder, PaymentOrderStatus, PenaltyDecision
from payments.fines.fees import yuan
from payments.receipts.capitals import fen_to_capitals

TITLE = "电子缴款凭证"
SUBTITLE = "（行政处罚罚没款）"
CHANNEL_LABELS: dict[PaymentChannel, str] = {
    PaymentChannel.WECHAT: "微信支付",
    PaymentChannel.ALIPAY: "支付宝",
}
# 罚缴分离 (《行政处罚法》第六十七条): the bureau never keeps the money.
TREASURY_NOTE = (
    "本款项为行政处罚罚没收入，按照罚缴分离规定全额缴入国库（财政非税收入账户），执法机关不得截留、坐支。"
)
ELECTRONIC_NOTE = "本凭证由系统根据支付机构的到账结果自动生成，与纸质凭证具有同等证明作用，请妥善保存。"


@dataclass(frozen=True)
class Receipt:
    receipt_no: str
    out_trade_no: str
    decision_no: str
    party_name: str
    fine_fen: int
    late_fee_fen: int
    total_fen: int
    channel: PaymentChannel
    provider_txn_id: str
    paid_at: datetime
    bureau_name: str

    @property
    def total_capitals(self) -> str:
        return fen_to_capitals(self.total_fen)

    @property
    def paid_at_local(self) -> str:
        return f"{to_local(self.paid_at):%Y-%m-%d %H:%M:%S}"

    @property
    def lines(self) -> list[tuple[str, str]]:
        """(label, value) in the order they are printed."""
        return [
            ("凭证号", self.receipt_no),
            ("决定书编号", self.decision_no),
            ("当事人", self.party_name),
            ("罚款金额", f"{yuan(self.fine_fen)} 元"),
            ("加处罚款", f"{yuan(self.late_fee_fen)} 元"),
            ("合计（小写）", f"{yuan(self.total_fen)} 元"),
            ("合计（大写）", self.total_capitals),
            ("支付方式", CHANNEL_LABELS[self.channel]),
            ("支付交易号", self.provider_txn_id),
            ("支付订单号", self.out_trade_no),
            ("支付时间", f"{self.paid_at_local}（北京时间）"),
            ("执收单位", self.bureau_name),
        ]

    @property
    def filename(self) -> str:
        return f"receipt-{self.receipt_no}.pdf"


def has_receipt(order: PaymentOrder) -> bool:
    """Only an applied payment has a receipt (a refunded or unapplied one does not)."""
    return (
        order.status is PaymentOrderStatus.PAID
        and order.receipt_no is not None
        and order.paid_at is not None
        and order.provider_txn_id is not None
    )


def build_receipt(order: PaymentOrder, decision: PenaltyDecision, *, bureau_name: str) -> Receipt:
    if not has_receipt(order):
        raise ValueError(f"order {order.out_trade_no} is not paid")
    assert order.receipt_no is not None
    assert order.paid_at is not None
    assert order.provider_txn_id is not None
    return Receipt(
        receipt_no=order.receipt_no,
        out_trade_no=order.out_trade_no,
        decision_no=decision.decision_no,
        party_name=decision.party_name,
        fine_fen=order.fine_fen,
        late_fee_fen=order.late_fee_fen,
        total_fen=order.amount_fen,
        channel=order.channel,
        provider_txn_id=order.provider_txn_id,
        paid_at=order.paid_at,
        bureau_name=bureau_name,
    )
