"""POST /api/v1/fines/{decision_no}/payments and GET /api/v1/payments/{out_trade_no}, against the local
fake WeChat Pay and Alipay gateways (real HTTP, real signatures)."""

from __future__ import annotations

import base64
import json
import re
import secrets
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from api.deps import get_session
from api.main import create_app
from core.kit.clock import utcnow
from core.models import (
    FineLookup,
    FineStatus,
    PaymentChannel,
    PaymentClient,
    PaymentOrder,
    PaymentOrderStatus,
    PenaltyDecision,
)
from core.settings import Settings
from payments.orders import repository
from tests.payments.orders.support import (
    PARTY,
    WECHAT_NOTIFY,
    Fakes,
    add_citizen,
    add_decision,
    queued,
    running_fakes,
)


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with running_fakes() as running:
        yield running


@pytest.fixture
def settings(fakes: Fakes, rq_settings: Settings) -> Settings:
    return fakes.settings(rq_settings)


def client_for(session: Session, settings: Settings) -> TestClient:
    app = create_app(settings)

    def _session() -> Iterator[Session]:
        yield session
        session.commit()

    app.dependency_overrides[get_session] = _session
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(session: Session, settings: Settings) -> Iterator[TestClient]:
    with client_for(session, settings) as test_client:
        yield test_client


def pay_url(decision: PenaltyDecision) -> str:
    return f"/api/v1/fines/{decision.decision_no}/payments"


def wechat_body(**changes: object) -> dict[str, object]:
    return {
        "channel": "wechat",
        "client": "miniprogram",
        "party_name": PARTY,
        "payer_openid": "o-payer-1",
    } | changes


def orders_of(session: Session, decision: PenaltyDecision) -> list[PaymentOrder]:
    session.expire_all()
    return list(
        session.exec(
            select(PaymentOrder)
            .where(col(PaymentOrder.decision_id) == decision.id)
            .order_by(col(PaymentOrder.id))
        ).all()
    )


def test_wechat_order_answers_signed_jsapi_parameters(
    client: TestClient, session: Session, fakes: Fakes, settings: Settings
) -> None:
    decision = add_decision(session)
    response = client.post(pay_url(decision), json=wechat_body())
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert re.fullmatch(r"FP\d{14}[0-9A-F]{16}", body["out_trade_no"])
    assert (body["channel"], body["client"], body["status"]) == ("wechat", "miniprogram", "pending")
    assert (body["amount_fen"], body["amount_yuan"], body["fine_fen"], body["late_fee_fen"]) == (
        23000,
        "230.00",
        20000,
        3000,
    )
    assert body["alipay"] is None
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at.utcoffset() == timedelta(hours=8)

    # The provider got the frozen amount, the payer, the expiry and our notify URL.
    fake_order = fakes.wechat.order(body["out_trade_no"])
    assert fake_order.request["amount"] == {"total": 23000, "currency": "CNY"}
    assert fake_order.request["payer"] == {"openid": "o-payer-1"}
    assert datetime.fromisoformat(fake_order.request["time_expire"]) == expires_at
    assert fake_order.request["notify_url"] == settings.wechatpay.notify_url
    assert decision.decision_no in fake_order.request["description"]
    assert PARTY not in fake_order.request["description"]

    # wx.requestPayment's parameters, paySign by the merchant key over the four lines.
    wechat = body["wechat"]
    assert wechat["appId"] == settings.wechatpay.app_id
    assert wechat["package"] == f"prepay_id={fake_order.prepay_id}"
    assert wechat["signType"] == "RSA"
    message = f"{wechat['appId']}\n{wechat['timeStamp']}\n{wechat['nonceStr']}\n{wechat['package']}\n"
    fakes.wechat.merchant_public_key.verify(
        base64.b64decode(wechat["paySign"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )

    [order] = orders_of(session, decision)
    assert (order.status, order.amount_fen, order.payer_ref, order.prepay_ref) == (
        PaymentOrderStatus.PENDING,
        23000,
        "o-payer-1",
        fake_order.prepay_id,
    )
    assert order.expires_at == (order.created_at + timedelta(seconds=settings.payments.order_ttl_s)).replace(
        microsecond=0
    )
    assert order.citizen_id is None


def test_alipay_mini_program_and_h5(client: TestClient, session: Session, fakes: Fakes) -> None:
    mini_decision, h5_decision = add_decision(session), add_decision(session)
    mini = client.post(
        pay_url(mini_decision),
        json={
            "channel": "alipay",
            "client": "miniprogram",
            "party_name": PARTY,
            "buyer_open_id": "074a-buyer",
        },
    )
    assert mini.status_code == 200, mini.text
    trade = fakes.alipay.trade(mini.json()["out_trade_no"])
    assert mini.json()["alipay"] == {"trade_no": trade.trade_no, "pay_url": None}
    assert mini.json()["wechat"] is None
    assert (trade.total_amount, trade.buyer_open_id) == ("230.00", "074a-buyer")

    h5 = client.post(pay_url(h5_decision), json={"channel": "alipay", "client": "h5", "party_name": PARTY})
    assert h5.status_code == 200, h5.text
    url = h5.json()["alipay"]["pay_url"]
    assert url.startswith(fakes.alipay.gateway + "?")
    params = dict(parse_qsl(urlsplit(url).query))
    assert fakes.alipay.verify_request(params)
    biz = json.loads(params["biz_content"])
    assert (biz["out_trade_no"], biz["total_amount"], biz["product_code"]) == (
        h5.json()["out_trade_no"],
        "230.00",
        "QUICK_WAP_WAY",
    )
    assert biz["time_expire"] == datetime.fromisoformat(h5.json()["expires_at"]).strftime("%Y-%m-%d %H:%M:%S")


def test_a_wrong_name_is_an_unknown_fine_and_counts_toward_the_lookup_limit(
    client: TestClient, session: Session
) -> None:
    decision = add_decision(session)
    wrong = client.post(pay_url(decision), json=wechat_body(party_name="李四"))
    unknown = client.post("/api/v1/fines/NO-SUCH-1/payments", json=wechat_body())
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json() == unknown.json()
    assert wrong.json()["code"] == "fine_not_found"
    counted = session.exec(
        select(func.count()).select_from(FineLookup).where(col(FineLookup.client_ip) == "testclient")
    ).one()
    assert counted == 2
    for _ in range(8):  # the same per-minute limit as the lookup (10)
        client.get("/api/v1/fines/lookup", params={"decision_no": decision.decision_no, "party_name": PARTY})
    limited = client.post(pay_url(decision), json=wechat_body())
    assert limited.status_code == 429
    assert limited.json()["code"] == "fine_lookup_rate_limited"
    assert orders_of(session, decision) == []


@pytest.mark.parametrize(
    ("status", "code"), [(FineStatus.PAID, "fine_already_paid"), (FineStatus.CANCELLED, "fine_not_payable")]
)
def test_paid_or_cancelled_fines_get_no_order(
    client: TestClient, session: Session, status: FineStatus, code: str
) -> None:
    decision = add_decision(session, status=status)
    response = client.post(pay_url(decision), json=wechat_body())
    assert response.status_code == 409
    assert response.json()["code"] == code
    assert orders_of(session, decision) == []


def test_who_pays(client: TestClient, session: Session, settings: Settings) -> None:
    decision = add_decision(session)
    anonymous = client.post(pay_url(decision), json=wechat_body(payer_openid=None))
    assert (anonymous.status_code, anonymous.json()["code"]) == (422, "payer_required")
    _, no_openid_token = add_citizen(session, settings, openid="")
    without = client.post(
        pay_url(decision),
        json=wechat_body(payer_openid=None),
        headers={"Authorization": f"Bearer {no_openid_token}"},
    )
    assert (without.status_code, without.json()["code"]) == (422, "payer_required")
    h5 = client.post(pay_url(decision), json=wechat_body(client="h5"))
    assert (h5.status_code, h5.json()["code"]) == (422, "client_not_supported")
    no_buyer = client.post(
        pay_url(decision), json={"channel": "alipay", "client": "miniprogram", "party_name": PARTY}
    )
    assert (no_buyer.status_code, no_buyer.json()["code"]) == (422, "payer_required")
    bad_token = client.post(
        pay_url(decision), json=wechat_body(), headers={"Authorization": "Bearer zc1.forged"}
    )
    assert bad_token.status_code == 401
    assert orders_of(session, decision) == []

    citizen, token = add_citizen(session, settings)
    signed_in = client.post(
        pay_url(decision), json=wechat_body(payer_openid=None), headers={"Authorization": f"Bearer {token}"}
    )
    assert signed_in.status_code == 200, signed_in.text
    [order] = orders_of(session, decision)
    assert (order.citizen_id, order.payer_ref) == (citizen.id, citizen.openid)


def test_one_open_order_per_fine_and_channel(
    client: TestClient, session: Session, fakes: Fakes, settings: Settings
) -> None:
    decision = add_decision(session)
    first = client.post(pay_url(decision), json=wechat_body()).json()
    again = client.post(pay_url(decision), json=wechat_body()).json()
    assert again["out_trade_no"] == first["out_trade_no"]
    assert again["wechat"]["package"] == first["wechat"]["package"]
    assert again["wechat"]["nonceStr"] != first["wechat"]["nonceStr"]  # a fresh paySign each time
    other_channel = client.post(
        pay_url(decision),
        json={"channel": "alipay", "client": "miniprogram", "party_name": PARTY, "buyer_open_id": "b-1"},
    ).json()
    assert other_channel["out_trade_no"] != first["out_trade_no"]
    assert [o.status for o in orders_of(session, decision)] == [PaymentOrderStatus.PENDING] * 2

    # Another payer: the open order is closed (here and, by a job, at WeChat Pay) and replaced.
    replaced = client.post(pay_url(decision), json=wechat_body(payer_openid="o-payer-2")).json()
    assert replaced["out_trade_no"] != first["out_trade_no"]
    old, _, new = orders_of(session, decision)
    assert (old.out_trade_no, old.status) == (first["out_trade_no"], PaymentOrderStatus.CLOSED)
    assert old.closed_at is not None
    assert (new.out_trade_no, new.status) == (replaced["out_trade_no"], PaymentOrderStatus.PENDING)
    assert ("workers.jobs.payments.close_at_provider", {"order_id": old.id}) in queued(settings)

    # An order about to expire is not handed out again either.
    new.expires_at = utcnow() + timedelta(seconds=30)
    session.add(new)
    session.flush()
    fresh = client.post(pay_url(decision), json=wechat_body(payer_openid="o-payer-2")).json()
    assert fresh["out_trade_no"] != replaced["out_trade_no"]
    wechat_orders = [o for o in orders_of(session, decision) if o.channel is PaymentChannel.WECHAT]
    assert [o.status for o in wechat_orders] == [
        PaymentOrderStatus.CLOSED,
        PaymentOrderStatus.CLOSED,
        PaymentOrderStatus.PENDING,
    ]


def test_idempotency_key(client: TestClient, session: Session) -> None:
    decision, other = add_decision(session), add_decision(session)
    headers = {"Idempotency-Key": "4f7c1c56-retry-1"}
    first = client.post(pay_url(decision), json=wechat_body(), headers=headers)
    retry = client.post(pay_url(decision), json=wechat_body(), headers=headers)
    assert first.status_code == retry.status_code == 200
    assert retry.json()["out_trade_no"] == first.json()["out_trade_no"]
    assert len(orders_of(session, decision)) == 1
    alipay = {"channel": "alipay", "client": "miniprogram", "party_name": PARTY, "buyer_open_id": "b-1"}
    for url, body in [
        (pay_url(other), wechat_body()),  # another decision
        (pay_url(decision), wechat_body(payer_openid="o-someone-else")),  # another payer: never their paySign
        (pay_url(decision), alipay),  # another channel
        (pay_url(decision), {"channel": "alipay", "client": "h5", "party_name": PARTY}),
    ]:
        reused = client.post(url, json=body, headers=headers)
        assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused"), body
    [order] = orders_of(session, decision)
    assert (order.payer_ref, order.status) == ("o-payer-1", PaymentOrderStatus.PENDING)
    bad = client.post(pay_url(decision), json=wechat_body(), headers={"Idempotency-Key": "a b"})
    assert bad.status_code == 422


def test_provider_down_keeps_the_order_closed_and_closes_it_there(
    session: Session, settings: Settings
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = settings.model_copy(
        update={"wechatpay": settings.wechatpay.model_copy(update={"api_base": f"http://127.0.0.1:{port}"})}
    )
    decision = add_decision(session)
    headers = {"Idempotency-Key": "down-then-up"}
    with client_for(session, down) as client:
        response = client.post(pay_url(decision), json=wechat_body(), headers=headers)
    assert response.status_code == 503
    assert response.json()["code"] == "provider_unavailable"
    assert "微信支付" in response.json()["message"]
    [failed] = orders_of(session, decision)
    assert (failed.status, failed.prepay_ref, failed.idempotency_key) == (PaymentOrderStatus.CLOSED, "", None)
    assert failed.closed_at is not None
    # the provider may have created it before the connection failed: closed there by the job
    assert queued(settings) == [("workers.jobs.payments.close_at_provider", {"order_id": failed.id})]

    # A retry with the same key once the provider is back creates the order anew.
    with client_for(session, settings) as client:
        again = client.post(pay_url(decision), json=wechat_body(), headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["out_trade_no"] != failed.out_trade_no
    assert [o.status for o in orders_of(session, decision)] == [
        PaymentOrderStatus.CLOSED,
        PaymentOrderStatus.PENDING,
    ]


def in_flight_order(
    session: Session, decision: PenaltyDecision, *, payer: str, age: timedelta
) -> PaymentOrder:
    """A pending order inserted by a request whose provider call has not returned (no prepay_ref)."""
    assert decision.id is not None
    created = utcnow() - age
    order = PaymentOrder(
        out_trade_no=f"FPFLIGHT{secrets.token_hex(8).upper()}",
        decision_id=decision.id,
        channel=PaymentChannel.WECHAT,
        client=PaymentClient.MINIPROGRAM,
        amount_fen=23000,
        fine_fen=20000,
        late_fee_fen=3000,
        payer_ref=payer,
        expires_at=(created + timedelta(minutes=30)).replace(microsecond=0),
        idempotency_key="flight-key",
        created_at=created,
        updated_at=created,
    )
    session.add(order)
    session.flush()
    return order


def test_a_provider_call_in_flight_answers_payment_in_progress(client: TestClient, session: Session) -> None:
    decision = add_decision(session)
    flying = in_flight_order(session, decision, payer="o-payer-1", age=timedelta(seconds=5))
    for headers in ({}, {"Idempotency-Key": "flight-key"}):
        response = client.post(pay_url(decision), json=wechat_body(), headers=headers)
        assert response.status_code == 409, response.text
        assert (response.json()["code"], response.json()["details"]) == (
            "payment_in_progress",
            {"retryable": True},
        )
    assert [o.out_trade_no for o in orders_of(session, decision)] == [flying.out_trade_no]

    # Another payer replaces it (as any other payer's order).
    other = client.post(pay_url(decision), json=wechat_body(payer_openid="o-payer-2"))
    assert other.status_code == 200, other.text
    assert orders_of(session, decision)[0].status is PaymentOrderStatus.CLOSED


def test_an_order_stuck_in_flight_is_replaced(
    client: TestClient, session: Session, settings: Settings
) -> None:
    """Its request died between the two units of work: after a while it does not block the payer."""
    decision = add_decision(session)
    stuck = in_flight_order(session, decision, payer="o-payer-1", age=timedelta(minutes=10))
    response = client.post(pay_url(decision), json=wechat_body(), headers={"Idempotency-Key": "flight-key"})
    assert response.status_code == 200, response.text
    old, new = orders_of(session, decision)
    assert (old.id, old.status) == (stuck.id, PaymentOrderStatus.CLOSED)
    assert (new.out_trade_no, new.status) == (response.json()["out_trade_no"], PaymentOrderStatus.PENDING)
    assert new.prepay_ref
    assert ("workers.jobs.payments.close_at_provider", {"order_id": old.id}) in queued(settings)


@pytest.mark.parametrize(
    "raw",
    [
        '{"channel": "wechat", "client": "miniprogram", "party_name": "\\ud800", "payer_openid": "o-1"}',
        '{"channel": "wechat", "client": "miniprogram", "party_name": "张三", "payer_openid": "o-\\udfff"}',
        '{"channel": "alipay", "client": "miniprogram", "party_name": "张三", "buyer_open_id": "b-\\udfff"}',
    ],
)
def test_lone_surrogates_are_refused_not_a_server_error(
    client: TestClient, session: Session, raw: str
) -> None:
    decision = add_decision(session)
    response = client.post(
        pay_url(decision), content=raw.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert orders_of(session, decision) == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/fines/%00BAD/payments", wechat_body()),
        ("/api/v1/fines/{no}/payments", wechat_body(party_name="张\u0000三")),
        ("/api/v1/fines/{no}/payments", wechat_body(payer_openid="o-\u0000")),
        (
            "/api/v1/fines/{no}/payments",
            {"channel": "alipay", "client": "miniprogram", "party_name": PARTY, "buyer_open_id": "b\u0000"},
        ),
    ],
)
def test_control_characters_are_refused_not_a_server_error(
    client: TestClient, session: Session, path: str, body: dict[str, object]
) -> None:
    decision = add_decision(session)
    response = client.post(path.format(no=decision.decision_no), json=body)  # NUL as \\u0000 in JSON
    assert response.status_code == 422, response.text
    assert orders_of(session, decision) == []


def test_an_unexpected_integrity_error_is_not_payment_in_progress(session: Session) -> None:
    """Only ``uq_payment_order_open`` means a racing request; any other constraint is another error."""
    decision = add_decision(session)
    assert decision.id is not None

    def violation(**values: object) -> IntegrityError:
        fields: dict[str, object] = {
            "out_trade_no": f"FPIE{secrets.token_hex(8).upper()}",
            "decision_id": decision.id,
            "channel": PaymentChannel.WECHAT,
            "client": PaymentClient.MINIPROGRAM,
            "amount_fen": 23000,
            "fine_fen": 20000,
            "late_fee_fen": 3000,
            "expires_at": utcnow() + timedelta(minutes=30),
        } | values
        try:
            with session.begin_nested():
                session.add(PaymentOrder(**fields))
                session.flush()
        except IntegrityError as exc:
            return exc
        raise AssertionError("no constraint failed")

    existing = PaymentOrder(
        out_trade_no=f"FPIE{secrets.token_hex(8).upper()}",
        decision_id=decision.id,
        channel=PaymentChannel.WECHAT,
        client=PaymentClient.MINIPROGRAM,
        amount_fen=23000,
        fine_fen=20000,
        late_fee_fen=3000,
        expires_at=utcnow() + timedelta(minutes=30),
    )
    session.add(existing)
    session.flush()
    assert repository.is_open_order_conflict(violation())
    assert not repository.is_open_order_conflict(
        violation(out_trade_no=existing.out_trade_no, status=PaymentOrderStatus.CLOSED)
    )
    assert not repository.is_open_order_conflict(
        violation(channel=PaymentChannel.ALIPAY, citizen_id=2**31 - 1)
    )


def test_payment_status(client: TestClient, session: Session) -> None:
    decision = add_decision(session)
    created = client.post(pay_url(decision), json=wechat_body()).json()
    response = client.get(f"/api/v1/payments/{created['out_trade_no']}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "out_trade_no": created["out_trade_no"],
        "channel": "wechat",
        "status": "pending",
        "amount_fen": 23000,
        "amount_yuan": "230.00",
        "fine_fen": 20000,
        "late_fee_fen": 3000,
        "expires_at": created["expires_at"],
        "paid_at": None,
        "receipt_no": None,
    }
    missing = client.get("/api/v1/payments/FP00000000000000000000000000000A")
    assert (missing.status_code, missing.json()["code"]) == (404, "payment_not_found")
    assert client.get("/api/v1/payments/not-a-trade-no!").status_code in (404, 422)


def test_notify_route_exists(client: TestClient) -> None:
    assert client.post(WECHAT_NOTIFY, content=b"{}").status_code == 400
