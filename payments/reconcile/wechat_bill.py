"""WeChat Pay's trade bill (交易账单, ``GET /v3/bill/tradebill`` then its download URL), type ALL.

UTF-8 CSV text: a header row, one row per payment (交易状态 ``SUCCESS``) or refund (``REFUND``, with
微信退款单号 / 商户退款单号 / 退款金额), every data field prefixed with a backtick; then a summary block
(a header starting with 总交易单数 and one row). The summary is required (a bill without it may be
truncated) and checked: its count of rows and its refund total must match the rows.

Amounts: a payment is its 应结订单金额 and a refund its 退款金额 — the money that actually moved on the
merchant account. Fines carry no merchant-funded coupons, so these equal the order and refund amounts
in our books; a coupon would show up as an amount mismatch, as it should.
"""

from __future__ import annotations

from payments.reconcile._csv import column_index, csv_rows, fen
from payments.reconcile.errors import BillUnreadable
from payments.reconcile.lines import BillKind, BillLine

HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
    "手续费,费率,订单金额,申请退款金额,费率备注"
)
COLUMNS = HEADER.split(",")
REQUIRED = ("交易时间", "微信订单号", "商户订单号", "交易状态", "应结订单金额", "商户退款单号", "退款金额")
SUMMARY_FIRST = "总交易单数"
SUMMARY_REQUIRED = (SUMMARY_FIRST, "退款总金额")
PAID = "SUCCESS"
REFUNDED = "REFUND"


def _cell(value: str) -> str:
    text = value.strip()
    return text[1:].strip() if text.startswith("`") else text


def parse_trade_bill(text: str) -> list[BillLine]:
    """Every payment and refund of the bill; raises ``BillUnreadable`` for anything malformed."""
    rows = csv_rows(text.removeprefix("\ufeff"))
    if not rows or _cell(rows[0][1][0]) != COLUMNS[0]:
        raise BillUnreadable("不是微信支付交易账单（缺少表头）")
    header = [_cell(name) for name in rows[0][1]]
    index = column_index(header, REQUIRED)
    summary_at = next(
        (position for position, (_, cells) in enumerate(rows) if _cell(cells[0]).startswith(SUMMARY_FIRST)),
        None,
    )
    if summary_at is None:
        raise BillUnreadable("缺少汇总行，账单可能不完整")
    if len(rows) != summary_at + 2:
        raise BillUnreadable("汇总部分应为一行表头和一行数据", line=rows[summary_at][0])
    lines = [_line(line_no, cells, header, index) for line_no, cells in rows[1:summary_at]]
    _check_summary(rows[summary_at][1], rows[summary_at + 1], lines)
    return lines


def _line(line_no: int, cells: list[str], header: list[str], index: dict[str, int]) -> BillLine:
    if len(cells) != len(header):
        raise BillUnreadable(
            f"第 {line_no} 行列数为 {len(cells)}，表头为 {len(header)}", line=line_no, cells=len(cells)
        )

    def value(name: str) -> str:
        return _cell(cells[index[name]])

    state = value("交易状态")
    out_trade_no, txn_id = value("商户订单号"), value("微信订单号")
    if not out_trade_no or not txn_id:
        raise BillUnreadable(f"第 {line_no} 行缺少商户订单号或微信订单号", line=line_no)
    if state == PAID:
        amount = fen(value("应结订单金额"), line=line_no, column="应结订单金额")
        kind, out_refund_no = BillKind.PAYMENT, ""
    elif state == REFUNDED:
        amount = fen(value("退款金额"), line=line_no, column="退款金额")
        kind, out_refund_no = BillKind.REFUND, value("商户退款单号")
        if not out_refund_no:
            raise BillUnreadable(f"第 {line_no} 行退款缺少商户退款单号", line=line_no)
    else:
        raise BillUnreadable(f"第 {line_no} 行交易状态“{state}”未知", line=line_no, state=state)
    if amount <= 0:
        raise BillUnreadable(f"第 {line_no} 行金额应大于零", line=line_no, amount_fen=amount)
    return BillLine(kind, out_trade_no, txn_id, amount, out_refund_no)


def _check_summary(header_cells: list[str], row: tuple[int, list[str]], lines: list[BillLine]) -> None:
    header = [_cell(name) for name in header_cells]
    index = column_index(header, SUMMARY_REQUIRED)
    line_no, cells = row
    if len(cells) != len(header):
        raise BillUnreadable("汇总行列数与其表头不符", line=line_no)
    count_text = _cell(cells[index[SUMMARY_FIRST]])
    if not count_text.isdigit():
        raise BillUnreadable("汇总行的总交易单数不是数字", line=line_no, value=count_text)
    refunds_fen = fen(_cell(cells[index["退款总金额"]]), line=line_no, column="退款总金额")
    listed_refunds = sum(line.amount_fen for line in lines if line.kind is BillKind.REFUND)
    if int(count_text) != len(lines) or refunds_fen != listed_refunds:
        raise BillUnreadable(
            "汇总行与明细不符，账单可能不完整",
            summary_count=int(count_text),
            rows=len(lines),
            summary_refunds_fen=refunds_fen,
            rows_refunds_fen=listed_refunds,
        )
