"""Alipay's business bill: a zip whose 业务明细 CSV (GBK, # comments, padded fields) lists payments and
refunds; the 汇总 file is ignored."""

from __future__ import annotations

import io
import zipfile

import pytest

from payments.reconcile.alipay_bill import COLUMNS, HEADER, parse_bill
from payments.reconcile.errors import BillUnreadable
from payments.reconcile.lines import BillKind, BillLine

PID = "2088102177846875"
DETAIL = f"{PID}0156_20261120_业务明细.csv"
SUMMARY = f"{PID}0156_20261120_业务明细(汇总).csv"


def row(**values: str) -> str:
    """One detail row as Alipay writes it: most fields padded with a tab."""
    fields = {
        "支付宝交易号": "2026112022001404871453012345",
        "商户订单号": "FP2026112000000001",
        "业务类型": "交易",
        "商品名称": "城管罚款",
        "创建时间": "2026-11-20 10:15:02",
        "完成时间": "2026-11-20 10:15:09",
        "门店编号": "",
        "门店名称": "",
        "操作员": "",
        "终端号": "",
        "对方账户": "zha***@163.com",
        "订单金额（元）": "200.00",
        "商家实收（元）": "200.00",
        "支付宝红包（元）": "0.00",
        "集分宝（元）": "0.00",
        "支付宝优惠（元）": "0.00",
        "商家优惠（元）": "0.00",
        "券核销金额（元）": "0.00",
        "券名称": "",
        "商家红包消费金额（元）": "0.00",
        "卡消费金额（元）": "0.00",
        "退款批次号/请求号": "",
        "服务费（元）": "-1.20",
        "分润（元）": "0.00",
        "备注": "",
    } | values
    assert set(fields) == set(COLUMNS)
    return ",".join(f"{fields[name]}\t" for name in COLUMNS)


def refund_row(**values: str) -> str:
    return row(
        **{
            "业务类型": "退款",
            "完成时间": "2026-11-20 16:40:00",
            "订单金额（元）": "200.00",  # the original order's
            "商家实收（元）": "-200.00",
            "退款批次号/请求号": "RF20261120164000ABCDE12345",
            "服务费（元）": "1.20",
        }
        | values
    )


def detail(*rows: str, payments: int | None = None, refunds: int | None = None) -> str:
    paid = sum("\t,交易\t," in line for line in rows) if payments is None else payments
    refunded = sum("\t,退款\t," in line for line in rows) if refunds is None else refunds
    return "\r\n".join(
        [
            "#支付宝业务明细查询",
            f"#账号：[{PID}0156]",
            "#起始日期：[2026年11月20日 00:00:00]   终止日期：[2026年11月21日 00:00:00]",
            "#-----------------------------------------业务明细列表----------------------------------------",
            HEADER,
            *rows,
            "#-----------------------------------------业务明细列表结束------------------------------------",
            f"#交易合计：{paid}笔，商家实收共200.00元",
            f"#退款合计：{refunded}笔，商家实收共-200.00元",
            "#导出时间：[2026年11月21日 09:52:03]",
        ]
    )


def archive(members: dict[str, bytes], *, gbk_names: bool = True) -> bytes:
    """A zip as Alipay sends it: member names in GBK without the UTF-8 flag (``gbk_names``)."""
    buffer = io.BytesIO()
    placeholders: dict[bytes, bytes] = {}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for position, (name, content) in enumerate(members.items()):
            if gbk_names:
                raw = name.encode("gbk")
                placeholder = f"{position:02d}".encode().ljust(len(raw), b"x")
                placeholders[placeholder] = raw
                zipped.writestr(placeholder.decode(), content)
            else:
                zipped.writestr(name, content)
    data = buffer.getvalue()
    for placeholder, raw in placeholders.items():  # names are outside the CRC: swap the bytes in
        assert data.count(placeholder) == 2
        data = data.replace(placeholder, raw)
    return data


def bill(text: str, *, gbk_names: bool = True, encoding: str = "gbk") -> bytes:
    summary = "#支付宝业务汇总查询\r\n门店编号,门店名称,交易订单总笔数\r\n合计,,not,a,detail,table\r\n"
    return archive({DETAIL: text.encode(encoding), SUMMARY: summary.encode("gbk")}, gbk_names=gbk_names)


def test_payments_and_refunds_become_lines_in_fen() -> None:
    small = {
        "支付宝交易号": "2026112022001404871453099999",
        "商户订单号": "FP2",
        "订单金额（元）": "0.10",
        "商家实收（元）": "0.10",
    }
    partial = {
        "支付宝交易号": "2026111922001404871453077777",
        "商户订单号": "FP7",
        "商家实收（元）": "-150.00",
    }
    data = bill(detail(row(), row(**small), refund_row(**partial)))
    assert parse_bill(data) == [
        BillLine(BillKind.PAYMENT, "FP2026112000000001", "2026112022001404871453012345", 20000),
        BillLine(BillKind.PAYMENT, "FP2", "2026112022001404871453099999", 10),
        BillLine(BillKind.REFUND, "FP7", "2026111922001404871453077777", 15000, "RF20261120164000ABCDE12345"),
    ]


def test_member_names_flagged_utf8_are_found_too() -> None:
    assert len(parse_bill(bill(detail(row()), gbk_names=False))) == 1


def test_a_day_without_trades_has_no_lines() -> None:
    assert parse_bill(bill(detail())) == []


def test_spaces_padding_and_a_trailing_separator_are_accepted() -> None:
    padded = ",".join(f"  {cell.strip()} " for cell in row().split(",")) + ","
    assert parse_bill(bill(detail(padded, payments=1)))[0].amount_fen == 20000


def unreadable(data: bytes) -> BillUnreadable:
    with pytest.raises(BillUnreadable) as caught:
        parse_bill(data)
    assert caught.value.code == "bill_unreadable"
    return caught.value


def test_not_a_zip_is_unreadable() -> None:
    unreadable(b"")
    unreadable(detail(row()).encode("gbk"))
    unreadable(b'{"alipay_data_dataservice_bill_downloadurl_query_response":{"code":"40004"}}')


def test_a_corrupt_archive_is_unreadable() -> None:
    data = bytearray(bill(detail(row(), row(**{"商户订单号": "FP2"}))))
    start = data.index(b"PK\x03\x04") + 30 + len(DETAIL.encode("gbk")) + 4  # inside the compressed data
    data[start] ^= 0xFF
    unreadable(bytes(data))


def test_the_archive_must_hold_exactly_one_detail_file() -> None:
    assert unreadable(archive({SUMMARY: b"x"})).details["found"] == 0
    other = f"{PID}0156_20261119_业务明细.csv"
    text = detail(row()).encode("gbk")
    assert unreadable(archive({DETAIL: text, other: text})).details["found"] == 2


def test_a_detail_file_not_in_gbk_is_unreadable() -> None:
    unreadable(archive({DETAIL: b"\xff\xfe\xff" + detail(row()).encode("utf-16-le")}))


def test_a_utf8_detail_file_reads_as_garbage_and_is_unreadable() -> None:
    unreadable(bill(detail(row()), encoding="utf-8"))


def test_the_trailer_counts_must_match_the_rows() -> None:
    assert unreadable(bill(detail(row(), payments=2))).details["trailer_count"] == 2
    unreadable(bill(detail(row(), refund_row(**{"商户订单号": "FP7"}), refunds=0)))


def test_a_missing_header_is_unreadable() -> None:
    unreadable(bill("#支付宝业务明细查询\r\n" + row()))


def test_a_row_with_a_missing_field_names_its_line() -> None:
    broken = row().rsplit(",", 2)[0]
    error = unreadable(bill(detail(row(), broken, payments=2)))
    assert error.details["line"] == 7  # four comment lines, the header, the first row


def test_the_amount_is_what_the_merchant_received() -> None:
    # 商家实收 is what reached the merchant account: a merchant discount shows as a difference.
    data = bill(
        detail(row(**{"订单金额（元）": "200.00", "商家优惠（元）": "10.00", "商家实收（元）": "190.00"}))
    )
    assert parse_bill(data)[0].amount_fen == 19000


@pytest.mark.parametrize("amount", ["abc", "", "0.001", "-200.00", "0.00"])
def test_a_bad_payment_amount_is_unreadable(amount: str) -> None:
    unreadable(bill(detail(row(**{"商家实收（元）": amount}))))


@pytest.mark.parametrize("amount", ["0.00", "200.00", "-0.005"])
def test_a_refund_must_be_negative(amount: str) -> None:
    unreadable(bill(detail(refund_row(**{"商家实收（元）": amount}))))


def test_an_unknown_business_type_is_unreadable() -> None:
    error = unreadable(bill(detail(row(**{"业务类型": "冻结"}), payments=0)))
    assert error.details["business"] == "冻结"


@pytest.mark.parametrize("column", ["支付宝交易号", "商户订单号"])
def test_a_row_without_its_order_numbers_is_unreadable(column: str) -> None:
    unreadable(bill(detail(row(**{column: ""}))))
