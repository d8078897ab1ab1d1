"""Alipay's business bill (``alipay.data.dataservice.bill.downloadurl.query``, bill_type ``trade``).

A zip holding ``<pid>_<yyyymmdd>_业务明细.csv`` (the one read) and ``…_业务明细(汇总).csv`` (ignored),
GBK-encoded (the archive's file names too, unless flagged UTF-8). ``#`` comment lines come before and
after the table; fields may be padded with spaces or tabs. 业务类型 ``交易`` is a payment, ``退款`` a
refund (商家实收 negative; 订单金额 stays the original order's) with our refund request number in
退款批次号/请求号. The trailer's ``#交易合计：N笔`` / ``#退款合计：M笔``, when present, must match the rows.

Amounts: 商家实收（元）, the money that actually moved on the merchant account (as WeChat Pay's
应结订单金额). Fines carry no merchant discounts, so it equals the order's ``total_amount`` in our
books; a discount would show up as an amount mismatch, as it should.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib

from payments.reconcile._csv import column_index, csv_rows, fen
from payments.reconcile.errors import BillUnreadable
from payments.reconcile.lines import BillKind, BillLine

DETAIL_SUFFIX = "_业务明细.csv"
MAX_CSV_BYTES = 64 * 1024 * 1024
UTF8_NAME_FLAG = 0x800
HEADER = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,"
    "商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,"
    "商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
)
COLUMNS = HEADER.split(",")
AMOUNT = "商家实收（元）"
REFUND_NO = "退款批次号/请求号"
REQUIRED = ("支付宝交易号", "商户订单号", "业务类型", AMOUNT, REFUND_NO)
PAYMENT_TYPE = "交易"
REFUND_TYPE = "退款"
TRAILER = {
    BillKind.PAYMENT: re.compile(r"^#\s*交易合计[：:]\s*(\d+)\s*笔"),
    BillKind.REFUND: re.compile(r"^#\s*退款合计[：:]\s*(\d+)\s*笔"),
}


def _member_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & UTF8_NAME_FLAG:
        return info.filename
    try:  # zipfile decoded a name without the UTF-8 flag as cp437; Alipay writes GBK
        return info.filename.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def detail_csv(data: bytes) -> str:
    """The text of the archive's 业务明细 CSV."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [
                info
                for info in archive.infolist()
                if _member_name(info).rsplit("/", 1)[-1].endswith(DETAIL_SUFFIX)
            ]
            if len(members) != 1:
                raise BillUnreadable("压缩包中应有且只有一个业务明细文件", found=len(members))
            if members[0].file_size > MAX_CSV_BYTES:
                raise BillUnreadable("业务明细文件过大", size=members[0].file_size)
            raw = archive.read(members[0])
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise BillUnreadable("不是完好的 zip 压缩包", error=str(exc)) from exc
    except RuntimeError as exc:  # zipfile: an encrypted member
        raise BillUnreadable("压缩包已加密", error=str(exc)) from exc
    try:
        return raw.decode("gb18030")  # a superset of GBK
    except UnicodeDecodeError as exc:
        raise BillUnreadable("业务明细不是 GBK 编码", error=str(exc)) from exc


def parse_bill(data: bytes) -> list[BillLine]:
    """Every payment and refund of the bill archive; raises ``BillUnreadable`` for anything malformed."""
    text = detail_csv(data).removeprefix("\ufeff")
    comments = [line.strip() for line in text.splitlines() if line.strip().startswith("#")]
    # Comment lines become blank ones, so the line numbers in errors are the file's.
    table = "\n".join("" if line.strip().startswith("#") else line for line in text.splitlines())
    rows = [(line_no, [cell.strip() for cell in cells]) for line_no, cells in csv_rows(table)]
    if not rows or rows[0][1][0] != COLUMNS[0]:
        raise BillUnreadable("不是支付宝业务明细（缺少表头）")
    header = rows[0][1]
    index = column_index(header, REQUIRED)
    lines = [_line(line_no, cells, header, index) for line_no, cells in rows[1:]]
    _check_trailer(comments, lines)
    return lines


def _line(line_no: int, cells: list[str], header: list[str], index: dict[str, int]) -> BillLine:
    while len(cells) > len(header) and not cells[-1]:
        cells = cells[:-1]  # a trailing separator
    if len(cells) != len(header):
        raise BillUnreadable(
            f"第 {line_no} 行列数为 {len(cells)}，表头为 {len(header)}", line=line_no, cells=len(cells)
        )
    trade_no, out_trade_no = cells[index["支付宝交易号"]], cells[index["商户订单号"]]
    if not trade_no or not out_trade_no:
        raise BillUnreadable(f"第 {line_no} 行缺少支付宝交易号或商户订单号", line=line_no)
    business = cells[index["业务类型"]]
    amount = fen(cells[index[AMOUNT]], line=line_no, column=AMOUNT)
    if business == PAYMENT_TYPE and amount > 0:
        return BillLine(BillKind.PAYMENT, out_trade_no, trade_no, amount)
    if business == REFUND_TYPE and amount < 0:
        return BillLine(BillKind.REFUND, out_trade_no, trade_no, -amount, cells[index[REFUND_NO]])
    if business not in (PAYMENT_TYPE, REFUND_TYPE):
        raise BillUnreadable(f"第 {line_no} 行业务类型“{business}”未知", line=line_no, business=business)
    raise BillUnreadable(f"第 {line_no} 行金额不合理", line=line_no, amount_fen=amount)


def _check_trailer(comments: list[str], lines: list[BillLine]) -> None:
    for kind, pattern in TRAILER.items():
        for comment in comments:
            match = pattern.match(comment)
            if match is None:
                continue
            listed = sum(1 for line in lines if line.kind is kind)
            if int(match.group(1)) != listed:
                raise BillUnreadable(
                    "合计笔数与明细不符，账单可能不完整",
                    kind=kind.value,
                    trailer_count=int(match.group(1)),
                    rows=listed,
                )
