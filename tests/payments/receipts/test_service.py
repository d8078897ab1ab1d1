"""Receipts: what they say (read back from the PDF and the HTML page), that issuing twice yields the
same receipt, and who may fetch one."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from core.kit.clock import utcnow
from core.models import PaymentChannel, PaymentOrderStatus
from core.settings import get_settings
from payments.receipts import service
from payments.receipts.errors import ReceiptNotFound
from payments.receipts.html import render_html
from payments.receipts.pdf import render_pdf
from tests.payments.receipts import orders
from tests.payments.receipts.pdftext import pdf_lines


def test_the_receipt_says_what_was_paid(session: Session) -> None:
    settings = get_settings()
    fine = orders.decision(session, party_name="张三", amount_fen=20_000)
    paid = orders.paid_order(session, fine, late_fee_fen=3_050, txn_id="2026030522000000000000000001")
    assert paid.id is not None
    assert paid.receipt_no is not None

    receipt = service.issue(session, order_id=paid.id, now=utcnow())
    lines = pdf_lines(render_pdf(receipt))

    def value(label: str) -> str:
        return lines[lines.index(label) + 1]

    assert lines[0] == "电子缴款凭证"
    assert value("凭证号") == paid.receipt_no
    assert paid.receipt_no.startswith("ZF20260305")  # the local paying date
    assert value("决定书编号") == fine.decision_no
    assert value("当事人") == "张三"
    assert value("罚款金额") == "200.00 元"
    assert value("加处罚款") == "30.50 元"
    assert value("合计（小写）") == "230.50 元"
    assert value("合计（大写）") == "贰佰叁拾元伍角"
    assert value("支付方式") == "支付宝"
    assert value("支付交易号") == "2026030522000000000000000001"
    assert value("支付订单号") == paid.out_trade_no
    assert value("支付时间") == "2026-03-05 14:07:08（北京时间）"
    assert value("执收单位") == settings.payments.bureau_name
    assert any("国库" in line and "非税收入" in line for line in lines)


def test_issuing_twice_yields_the_same_receipt(session: Session) -> None:
    fine = orders.decision(session)
    paid = orders.paid_order(session, fine, channel=PaymentChannel.WECHAT)
    assert paid.id is not None
    first = service.issue(session, order_id=paid.id, now=utcnow())
    second = service.issue(session, order_id=paid.id, now=utcnow())
    assert first == second
    assert render_pdf(first) == render_pdf(second)
    assert render_pdf(first).startswith(b"%PDF-")
    assert "微信支付" in pdf_lines(render_pdf(first))


def test_a_long_party_name_is_wrapped_not_cut(session: Session) -> None:
    name = "新余市渝水区某某某某某某某某某某某某某某某某餐饮管理服务有限责任公司第一百二十三分店门前经营点"
    fine = orders.decision(session, party_name=name)
    paid = orders.paid_order(session, fine)
    assert paid.id is not None
    lines = pdf_lines(render_pdf(service.issue(session, order_id=paid.id, now=utcnow())))
    start = lines.index("当事人") + 1
    end = lines.index("罚款金额")
    assert end - start > 1
    assert "".join(lines[start:end]) == name


def test_the_html_page_prints_the_same_lines_escaped(session: Session) -> None:
    fine = orders.decision(session, party_name="<b>赵六</b>")
    paid = orders.paid_order(session, fine)
    assert paid.id is not None
    receipt = service.issue(session, order_id=paid.id, now=utcnow())
    page = render_html(receipt)
    assert "&lt;b&gt;赵六&lt;/b&gt;" in page
    assert "<b>赵六" not in page
    assert "贰佰元整" in page
    assert f"<td>{paid.receipt_no}</td>" in page


def test_no_receipt_before_payment(session: Session) -> None:
    fine = orders.decision(session)
    pending = orders.order(session, fine)
    assert pending.id is not None
    with pytest.raises(ReceiptNotFound):
        service.issue(session, order_id=pending.id, now=utcnow())
    with pytest.raises(ReceiptNotFound):
        service.issue(session, order_id=pending.id + 10_000, now=utcnow())


def test_no_receipt_for_money_that_was_not_applied(session: Session) -> None:
    fine = orders.decision(session)
    first = orders.paid_order(session, fine)
    late = orders.order(session, fine, channel=PaymentChannel.WECHAT)  # closed when the first was paid
    from payments.orders.settle import settle_paid

    settle_paid(
        session, late, provider_txn_id="4200000000000000000001", paid_fen=late.amount_fen, paid_at=utcnow()
    )
    assert late.status is PaymentOrderStatus.NEEDS_REFUND
    assert late.id is not None
    assert first.id is not None
    with pytest.raises(ReceiptNotFound):
        service.issue(session, order_id=late.id, now=utcnow())


def test_who_may_fetch_a_receipt(session: Session) -> None:
    settings = get_settings()
    payer = orders.citizen(session)
    other = orders.citizen(session)
    assert payer.id is not None
    assert other.id is not None
    fine = orders.decision(session, party_name="张三")
    paid = orders.paid_order(session, fine, citizen_id=payer.id)
    number = paid.out_trade_no

    by_payer = service.receipt_for(session, out_trade_no=number, settings=settings, citizen_id=payer.id)
    assert by_payer.receipt_no == paid.receipt_no
    by_name = service.receipt_for(session, out_trade_no=f" {number} ", settings=settings, party_name=" 张三 ")
    assert by_name == by_payer
    # Another citizen with the right name is "anyone with the number and the name".
    assert service.receipt_for(
        session, out_trade_no=number, settings=settings, citizen_id=other.id, party_name="张三"
    )
    for kwargs in (
        {"citizen_id": other.id},
        {"party_name": "李四"},
        {"party_name": ""},
        {},
    ):
        with pytest.raises(ReceiptNotFound):
            service.receipt_for(session, out_trade_no=number, settings=settings, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ReceiptNotFound):
        service.receipt_for(session, out_trade_no="0" * 32, settings=settings, party_name="张三")
