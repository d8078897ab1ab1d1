"""GET /api/v1/payments/{out_trade_no}/receipt.pdf|.html and GET /api/v1/me/payments: the payer or
whoever has the order number and the party name gets the receipt; everybody else the same 404."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlmodel import Session

from core.auth.service import token_for
from core.models import Citizen, PaymentChannel, StaffRole, StaffUser
from core.settings import get_settings
from tests.payments.receipts import orders
from tests.payments.receipts.orders import PAID_AT
from tests.payments.receipts.pdftext import pdf_lines


def headers(principal: Citizen | StaffUser) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(get_settings(), principal)[0]}"}


def pdf_url(out_trade_no: str) -> str:
    return f"/api/v1/payments/{out_trade_no}/receipt.pdf"


def test_the_payer_downloads_the_pdf(client: TestClient, session: Session) -> None:
    payer = orders.citizen(session)
    fine = orders.decision(session, party_name="张三")
    paid = orders.paid_order(session, fine, citizen_id=payer.id, late_fee_fen=600)

    response = client.get(pdf_url(paid.out_trade_no), headers=headers(payer))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    assert f'filename="receipt-{paid.receipt_no}.pdf"' in response.headers["content-disposition"]
    lines = pdf_lines(response.content)
    assert paid.receipt_no in lines
    assert "贰佰零陆元整" in lines
    assert "张三" in lines
    # The same bytes again: the receipt is rendered deterministically.
    assert client.get(pdf_url(paid.out_trade_no), headers=headers(payer)).content == response.content


def test_anyone_with_the_number_and_the_name(client: TestClient, session: Session) -> None:
    fine = orders.decision(session, party_name="张三")
    paid = orders.paid_order(session, fine)  # paid without logging in

    by_query = client.get(pdf_url(paid.out_trade_no), params={"party_name": " 张三 "})
    by_header = client.get(pdf_url(paid.out_trade_no), headers={"X-Party-Name": quote("张三")})
    page = client.get(f"/api/v1/payments/{paid.out_trade_no}/receipt.html", params={"party_name": "张三"})

    assert by_query.status_code == by_header.status_code == page.status_code == 200
    assert by_query.content == by_header.content
    assert page.headers["content-type"].startswith("text/html")
    assert "电子缴款凭证" in page.text
    assert paid.receipt_no is not None
    assert paid.receipt_no in page.text


def test_everybody_else_gets_the_same_404(client: TestClient, session: Session) -> None:
    payer = orders.citizen(session)
    other = orders.citizen(session)
    fine = orders.decision(session, party_name="张三")
    paid = orders.paid_order(session, fine, citizen_id=payer.id)
    unpaid = orders.order(session, orders.decision(session, party_name="张三"), citizen_id=payer.id)
    staff = StaffUser(
        username="receipt-staff", display_name="工作人员", role=StaffRole.OPERATOR, password_hash="x"
    )
    session.add(staff)
    session.flush()

    answers = [
        client.get(pdf_url(paid.out_trade_no), headers=headers(other)),
        client.get(pdf_url(paid.out_trade_no), headers=headers(staff)),
        client.get(pdf_url(paid.out_trade_no)),
        client.get(pdf_url(paid.out_trade_no), params={"party_name": "李四"}),
        client.get(pdf_url(unpaid.out_trade_no), headers=headers(payer)),
        client.get(pdf_url(unpaid.out_trade_no), params={"party_name": "张三"}),
        client.get(pdf_url("f" * 32), params={"party_name": "张三"}),
        client.get(f"/api/v1/payments/{paid.out_trade_no}/receipt.html", headers=headers(other)),
    ]

    assert [answer.status_code for answer in answers] == [404] * len(answers)
    assert all(answer.json() == answers[0].json() for answer in answers)
    assert answers[0].json()["code"] == "receipt_not_found"


def test_a_bad_token_is_401_not_anonymous(client: TestClient, session: Session) -> None:
    paid = orders.paid_order(session, orders.decision(session, party_name="张三"))
    response = client.get(
        pdf_url(paid.out_trade_no),
        params={"party_name": "张三"},
        headers={"Authorization": "Bearer zc1.nope"},
    )
    assert response.status_code == 401


def test_my_payments_newest_first_and_paged(client: TestClient, session: Session) -> None:
    me = orders.citizen(session)
    someone_else = orders.citizen(session)
    made = []
    for index in range(5):
        fine = orders.decision(session, amount_fen=10_000 + index)
        created = PAID_AT + timedelta(minutes=index)
        if index % 2 == 0:
            made.append(orders.paid_order(session, fine, citizen_id=me.id, created_at=created))
        else:
            made.append(orders.order(session, fine, citizen_id=me.id, created_at=created))
    orders.paid_order(session, orders.decision(session), citizen_id=someone_else.id)

    first = client.get("/api/v1/me/payments", params={"limit": 2}, headers=headers(me))
    rest = client.get("/api/v1/me/payments", params={"limit": 2, "offset": 2}, headers=headers(me))
    last = client.get("/api/v1/me/payments", params={"limit": 2, "offset": 4}, headers=headers(me))

    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == "no-store"
    pages = [first.json(), rest.json(), last.json()]
    assert [page["total"] for page in pages] == [5, 5, 5]
    items = [item for page in pages for item in page["items"]]
    assert [item["out_trade_no"] for item in items] == [order.out_trade_no for order in reversed(made)]
    newest, pending = items[0], items[1]
    assert newest["status"] == "paid"
    assert (newest["amount_fen"], newest["amount_yuan"]) == (10_004, "100.04")
    assert newest["receipt_no"] == made[4].receipt_no
    assert newest["receipt_url"] == pdf_url(made[4].out_trade_no)
    assert newest["paid_at"] == "2026-03-05T14:07:08+08:00"
    assert newest["decision_no"].startswith("渝城管罚决字")
    assert newest["channel"] == PaymentChannel.ALIPAY.value
    assert (pending["status"], pending["paid_at"], pending["receipt_no"], pending["receipt_url"]) == (
        "pending",
        None,
        None,
        None,
    )


def test_my_payments_needs_a_citizen_and_sane_paging(client: TestClient, session: Session) -> None:
    me = orders.citizen(session)
    assert client.get("/api/v1/me/payments").status_code == 401
    too_many = client.get("/api/v1/me/payments", params={"limit": 101}, headers=headers(me))
    assert too_many.status_code == 422
    assert too_many.json()["code"] == "invalid_request"
    empty = client.get("/api/v1/me/payments", headers=headers(me))
    assert empty.json() == {"items": [], "total": 0}


def test_a_malformed_order_number_is_the_same_404(client: TestClient, session: Session) -> None:
    """Never a 422 or a 500 (a NUL is an error in PostgreSQL): the same answer as an unknown number."""
    paid = orders.paid_order(session, orders.decision(session, party_name="张三"))
    unknown = client.get(pdf_url("f" * 32), params={"party_name": "张三"})
    malformed = [
        f"{paid.out_trade_no}%00",
        "%00",
        "a%00b",
        "f" * 33,
        "x" * 300,
        "T-1",
        "%E4%B8%AD",  # 中
        "%20" + paid.out_trade_no[:8],
    ]
    for number in malformed:
        for suffix in ("pdf", "html"):
            answer = client.get(f"/api/v1/payments/{number}/receipt.{suffix}", params={"party_name": "张三"})
            assert answer.status_code == 404, (number, answer.text)
            assert answer.json() == unknown.json()
    # The real number still works.
    assert client.get(pdf_url(paid.out_trade_no), params={"party_name": "张三"}).status_code == 200
