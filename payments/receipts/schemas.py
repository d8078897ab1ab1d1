"""What the payment history answers: amounts in fen and as exact yuan strings, local times."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer

from core.kit.clock import local_isoformat
from core.models import PaymentChannel, PaymentOrderStatus

LocalTime = Annotated[datetime, PlainSerializer(local_isoformat, return_type=str)]


class PaymentHistoryItem(BaseModel):
    out_trade_no: str = Field(description="支付订单号（查看凭证时使用）")
    decision_no: str = Field(description="决定书编号")
    channel: PaymentChannel = Field(description="wechat 微信支付 / alipay 支付宝")
    status: PaymentOrderStatus = Field(
        description="pending 待支付 / paid 已支付 / closed 已关闭 / needs_refund 待退款 / refunded 已退款"
    )
    amount_fen: int = Field(description="订单金额（分），含加处罚款")
    amount_yuan: str = Field(description="订单金额（元）")
    fine_fen: int = Field(description="罚款（分）")
    late_fee_fen: int = Field(description="加处罚款（分）")
    created_at: LocalTime = Field(description="下单时间（北京时间）")
    paid_at: LocalTime | None = Field(description="支付时间（北京时间）")
    receipt_no: str | None = Field(description="缴款凭证号，已支付时才有")
    receipt_url: str | None = Field(description="电子缴款凭证（PDF）地址，已支付时才有")


class PaymentHistoryPage(BaseModel):
    items: list[PaymentHistoryItem]
    total: int
