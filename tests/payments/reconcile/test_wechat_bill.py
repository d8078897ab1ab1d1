"""WeChat Pay's trade bill (type ALL): backtick-prefixed CSV rows, a summary block that must match."""

from __future__ import annotations

import pytest

from payments.reconcile.errors import BillUnreadable
from payments.reconcile.lines import BillKind, BillLine
from payments.reconcile.wechat_bill import COLUMNS, HEADER, parse_trade_bill

SUMMARY_HEADER = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)


def row(**values: str) -> str:
    """One data row as WeChat Pay writes it: every field prefixed with a backtick."""
    fields = {
        "交易时间": "2026-11-20 10:15:02",
        "公众账号ID": "wx6f2b6e7a0c5d4e3f",
        "商户号": "1900000109",
        "特约商户号": "0",
        "设备号": "",
        "微信订单号": "4200002134202611201234567890",
        "商户订单号": "FP2026112000000001",
        "用户标识": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "交易类型": "JSAPI",
        "交易状态": "SUCCESS",
        "付款银行": "OTHERS",
        "货币种类": "CNY",
        "应结订单金额": "200.00",
        "代金券金额": "0.00",
        "微信退款单号": "0",
        "商户退款单号": "0",
        "退款金额": "0.00",
        "充值券退款金额": "0.00",
        "退款类型": "",
        "退款状态": "",
        "商品名称": "城管罚款 渝城管罚决字〔2026〕第0001号",
        "商户数据包": "",
        "手续费": "1.20000",
        "费率": "0.60%",
        "订单金额": "200.00",
        "申请退款金额": "0.00",
        "费率备注": "",
    } | values
    assert set(fields) == set(COLUMNS)
    return ",".join("`" + fields[name] for name in COLUMNS)


def refund_row(**values: str) -> str:
    return row(
        **{
            "交易状态": "REFUND",
            "微信退款单号": "50300807752026112012345678901",
            "商户退款单号": "RF20261120101500ABCDE12345",
            "退款金额": "200.00",
            "退款类型": "ORIGINAL",
            "退款状态": "SUCCESS",
            "申请退款金额": "200.00",
        }
        | values
    )


def summary(count: int, settled: str = "0.00", refunds: str = "0.00") -> str:
    return f"{SUMMARY_HEADER}\n`{count},`{settled},`{refunds},`0.00,`0.00000,`{settled},`{refunds}"


def bill(*rows: str, summary_block: str | None = None, newline: str = "\n") -> str:
    block = summary(len(rows)) if summary_block is None else summary_block
    return newline.join([HEADER, *rows, *block.split("\n")]) + newline


def test_payments_and_refunds_become_lines_in_fen() -> None:
    text = bill(
        row(),
        row(
            **{
                "商户订单号": "FP2026112000000002",
                "微信订单号": "4200002134202611200000000002",
                "应结订单金额": "0.10",
            }
        ),
        refund_row(
            **{
                "商户订单号": "FP2026111900000007",
                "微信订单号": "4200002134202611190000000007",
                "退款金额": "35.50",
            }
        ),
        summary_block=summary(3, "200.10", "35.50"),
    )
    assert parse_trade_bill(text) == [
        BillLine(BillKind.PAYMENT, "FP2026112000000001", "4200002134202611201234567890", 20000),
        BillLine(BillKind.PAYMENT, "FP2026112000000002", "4200002134202611200000000002", 10),
        BillLine(
            BillKind.REFUND,
            "FP2026111900000007",
            "4200002134202611190000000007",
            3550,
            "RF20261120101500ABCDE12345",
        ),
    ]


def test_byte_order_mark_crlf_and_padding_are_accepted() -> None:
    text = "\ufeff" + bill(
        row(**{"应结订单金额": "200.00 "}), summary_block=summary(1, "200.00"), newline="\r\n"
    )
    assert [line.amount_fen for line in parse_trade_bill(text)] == [20000]


def test_a_day_without_trades_has_no_lines() -> None:
    assert parse_trade_bill(bill(summary_block=summary(0))) == []


def test_the_payment_amount_is_the_settled_amount() -> None:
    # 应结订单金额 is what reached the merchant account: a (merchant-funded) coupon shows as a difference.
    text = bill(row(**{"应结订单金额": "190.00", "代金券金额": "10.00", "订单金额": "200.00"}))
    assert parse_trade_bill(text)[0].amount_fen == 19000


def unreadable(text: str) -> BillUnreadable:
    with pytest.raises(BillUnreadable) as caught:
        parse_trade_bill(text)
    assert caught.value.code == "bill_unreadable"
    assert caught.value.message.startswith("对账单无法识别：")
    return caught.value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n",
        "<html><body>502 Bad Gateway</body></html>",
        '{"code":"NO_STATEMENT_EXIST","message":"账单文件不存在"}',
        "交易时间,公众账号ID\n`2026-11-20 10:15:02,`wx1\n" + summary(1),  # required columns missing
    ],
)
def test_anything_that_is_not_a_trade_bill_is_unreadable(text: str) -> None:
    unreadable(text)


def test_a_bill_without_its_summary_may_be_truncated_and_is_unreadable() -> None:
    error = unreadable(HEADER + "\n" + row() + "\n")
    assert "汇总" in error.message


def test_the_summary_count_must_match_the_rows() -> None:
    error = unreadable(bill(row(), row(**{"商户订单号": "FP2"}), summary_block=summary(3, "400.00")))
    assert error.details["summary_count"] == 3
    assert error.details["rows"] == 2


def test_the_summary_refund_total_must_match_the_refund_rows() -> None:
    unreadable(bill(refund_row(**{"退款金额": "20.00"}), summary_block=summary(1, "0.00", "200.00")))


def test_rows_after_the_summary_are_unreadable() -> None:
    unreadable(bill(row(), summary_block=summary(1, "200.00") + "\n" + row()))


def test_a_row_with_a_missing_field_names_its_line() -> None:
    broken = row().rsplit(",", 1)[0]
    error = unreadable(bill(row(), broken))
    assert error.details["line"] == 3


@pytest.mark.parametrize("amount", ["abc", "", "0.001", "1,00", "-5.00", "0.00", "NaN"])
def test_a_bad_or_non_positive_amount_is_unreadable(amount: str) -> None:
    error = unreadable(bill(row(**{"应结订单金额": amount})))
    assert error.details["line"] == 2


def test_an_unknown_trade_state_is_unreadable() -> None:
    error = unreadable(bill(row(**{"交易状态": "REVOKED"})))
    assert error.details["state"] == "REVOKED"


@pytest.mark.parametrize("column", ["商户订单号", "微信订单号"])
def test_a_row_without_its_order_numbers_is_unreadable(column: str) -> None:
    unreadable(bill(row(**{column: ""})))


def test_a_refund_without_our_refund_number_is_unreadable() -> None:
    unreadable(bill(refund_row(**{"商户退款单号": ""}), summary_block=summary(1, "0.00", "200.00")))


def test_a_malformed_summary_is_unreadable() -> None:
    unreadable(
        bill(row(), summary_block=f"{SUMMARY_HEADER}\n`one,`200.00,`0.00,`0.00,`0.00000,`200.00,`0.00")
    )
    unreadable(bill(row(), summary_block=f"{SUMMARY_HEADER}\n`1,`200.00"))


def test_an_unreadable_bill_is_a_domain_error_not_a_crash() -> None:
    from core.errors import DomainError, ErrorKind

    error = unreadable("\x00\x00garbage")
    assert isinstance(error, DomainError)
    assert error.kind is ErrorKind.INVALID
