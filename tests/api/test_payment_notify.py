"""POST /api/v1/payments/notify/wechat and /notify/alipay: the fakes pay and send signed notifications;
verified ones settle the order once, duplicates are acknowledged and change nothing, and forged,
tampered, stale or mismatched ones are refused, stored, flagged and change nothing."""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from api.deps import get_session
from api.main import create_app
from core.db import build_engine, get_engine, session_scope
from core.kit.clock import SHANGHAI, to_local, utcnow
from core.migrate import upgrade
from core.models import (
    FineStatus,
    NotificationVerdict,
    OutboxMessage,
    PaymentChannel,
    PaymentClient,
    PaymentNotification,
    PaymentOrder,
    PaymentOrderStatus,
    PenaltyDecision,
)
from core.settings import Settings
from payments import gateways
from payments.orders import notify, settle
from payments.sandbox.alipay import rsa2_sign, sign_content
from payments.sandbox.wechatpay import SignedNotification
from tests.conftest import TEST_BACKEND, database_url, drop_database
from tests.payments.orders.support import (
    ALIPAY_NOTIFY,
    PARTY,
    WECHAT_NOTIFY,
    Fakes,
    add_citizen,
    add_decision,
    queued,
    queued_names,
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


def new_order(client: TestClient, decision: PenaltyDecision, body: dict[str, Any], token: str = "") -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post(
        f"/api/v1/fines/{decision.decision_no}/payments", json={"party_name": PARTY, **body}, headers=headers
    )
    assert response.status_code == 200, response.text
    return str(response.json()["out_trade_no"])


def wechat_order(client: TestClient, decision: PenaltyDecision, token: str = "") -> str:
    body = {"channel": "wechat", "client": "miniprogram"}
    return new_order(client, decision, body if token else {**body, "payer_openid": "o-payer"}, token)


def alipay_order(client: TestClient, decision: PenaltyDecision) -> str:
    return new_order(client, decision, {"channel": "alipay", "client": "miniprogram", "buyer_open_id": "b-1"})


def post_wechat(client: TestClient, sent: SignedNotification) -> httpx.Response:
    return client.post(WECHAT_NOTIFY, content=sent.body, headers=sent.headers)


def post_alipay(client: TestClient, form: dict[str, str]) -> httpx.Response:
    return client.post(ALIPAY_NOTIFY, data=form)


def load(session: Session, out_trade_no: str) -> tuple[PaymentOrder, PenaltyDecision]:
    session.expire_all()
    order = session.exec(select(PaymentOrder).where(col(PaymentOrder.out_trade_no) == out_trade_no)).one()
    decision = session.get(PenaltyDecision, order.decision_id)
    assert decision is not None
    return order, decision


def notifications(session: Session, out_trade_no: str) -> list[PaymentNotification]:
    session.expire_all()
    return list(
        session.exec(
            select(PaymentNotification)
            .where(col(PaymentNotification.out_trade_no) == out_trade_no)
            .order_by(col(PaymentNotification.id))
        ).all()
    )


def assert_unpaid(session: Session, out_trade_no: str) -> None:
    order, decision = load(session, out_trade_no)
    assert (order.status, order.provider_txn_id, order.receipt_no) == (PaymentOrderStatus.PENDING, None, None)
    assert decision.status is FineStatus.UNPAID


# -- happy paths ------------------------------------------------------------------------------------


def test_wechat_payment_settles_the_fine(
    client: TestClient, session: Session, fakes: Fakes, settings: Settings
) -> None:
    decision = add_decision(session)
    citizen, token = add_citizen(session, settings)
    out_trade_no = wechat_order(client, decision, token)
    sent = fakes.wechat.pay(out_trade_no)

    answer = post_wechat(client, sent)
    assert answer.status_code == 204, answer.text

    order, decision = load(session, out_trade_no)
    transaction_id = fakes.wechat.order(out_trade_no).transaction_id
    assert (order.status, order.provider_txn_id, order.paid_amount_fen) == (
        PaymentOrderStatus.PAID,
        transaction_id,
        23000,
    )
    assert order.receipt_no is not None
    assert order.receipt_no.startswith("ZF")
    assert order.paid_at is not None
    assert decision.status is FineStatus.PAID
    [row] = notifications(session, out_trade_no)
    assert (row.channel, row.verdict, row.flagged, row.dedupe_key) == (
        PaymentChannel.WECHAT,
        NotificationVerdict.APPLIED,
        False,
        f"wechat:{sent.notification_id}",
    )
    assert row.body == sent.body.decode()  # the resource stays encrypted
    assert json.loads(row.headers)["wechatpay-signature"] == sent.headers["Wechatpay-Signature"]
    assert row.client_ip == "testclient"

    [message] = session.exec(select(OutboxMessage).where(col(OutboxMessage.citizen_id) == citizen.id)).all()
    assert message.event == "fine_paid"
    assert json.loads(message.payload) == {
        "decision_no": decision.decision_no,
        "amount_fen": 23000,
        "receipt_no": order.receipt_no,
    }
    assert ("workers.jobs.payments.receipt", {"order_id": order.id}) in queued(settings)
    assert "notify.deliver" in queued_names(settings, "notify")

    status = client.get(f"/api/v1/payments/{out_trade_no}").json()
    assert (status["status"], status["receipt_no"]) == ("paid", order.receipt_no)
    again = client.post(
        f"/api/v1/fines/{decision.decision_no}/payments",
        json={"party_name": PARTY, "channel": "alipay", "client": "h5"},
    )
    assert (again.status_code, again.json()["code"]) == (409, "fine_already_paid")


def test_alipay_payment_settles_the_fine(
    client: TestClient, session: Session, fakes: Fakes, settings: Settings
) -> None:
    decision = add_decision(session)
    out_trade_no = alipay_order(client, decision)
    form = fakes.alipay.pay(out_trade_no)

    answer = post_alipay(client, form)
    assert (answer.status_code, answer.text) == (200, "success")
    order, decision = load(session, out_trade_no)
    assert (order.status, order.provider_txn_id, order.paid_amount_fen) == (
        PaymentOrderStatus.PAID,
        fakes.alipay.trade(out_trade_no).trade_no,
        23000,
    )
    assert decision.status is FineStatus.PAID
    [row] = notifications(session, out_trade_no)
    assert (row.verdict, row.dedupe_key) == (NotificationVerdict.APPLIED, f"alipay:{form['notify_id']}")
    assert "notify_id=" in row.body
    assert queued_names(settings) == ["payments.receipt"]
    assert queued_names(settings, "notify") == []  # paid anonymously: nobody to tell

    # TRADE_FINISHED follows TRADE_SUCCESS for the same trade: acknowledged, nothing changes.
    finished = fakes.alipay.notification(out_trade_no, trade_status="TRADE_FINISHED")
    assert post_alipay(client, finished).text == "success"
    assert [(n.verdict, n.reason) for n in notifications(session, out_trade_no)] == [
        (NotificationVerdict.APPLIED, ""),
        (NotificationVerdict.IGNORED, "already_applied"),
    ]
    assert queued_names(settings) == ["payments.receipt"]


def test_alipay_h5_payment(client: TestClient, session: Session, fakes: Fakes) -> None:
    decision = add_decision(session)
    response = client.post(
        f"/api/v1/fines/{decision.decision_no}/payments",
        json={"party_name": PARTY, "channel": "alipay", "client": "h5"},
    )
    out_trade_no = response.json()["out_trade_no"]
    cashier = httpx.get(response.json()["alipay"]["pay_url"], timeout=5)  # opening it creates the trade
    assert cashier.status_code < 400
    assert post_alipay(client, fakes.alipay.pay(out_trade_no)).text == "success"
    assert load(session, out_trade_no)[0].status is PaymentOrderStatus.PAID


def test_not_yet_paid_states_are_acknowledged_and_ignored(
    client: TestClient, session: Session, fakes: Fakes
) -> None:
    decision = add_decision(session)
    out_trade_no = alipay_order(client, decision)
    waiting = fakes.alipay.notification(out_trade_no)  # WAIT_BUYER_PAY
    assert post_alipay(client, waiting).text == "success"
    [row] = notifications(session, out_trade_no)
    assert (row.verdict, row.reason, row.flagged) == (
        NotificationVerdict.IGNORED,
        "state_wait_buyer_pay",
        False,
    )
    assert_unpaid(session, out_trade_no)


# -- duplicates and replays ---------------------------------------------------------------------------


def test_the_same_notification_fifty_times_pays_once(
    client: TestClient, session: Session, fakes: Fakes, settings: Settings
) -> None:
    """Sequential here (one test transaction); ``test_fifty_at_once_on_a_live_server`` below sends them
    at the same time to a live server on PostgreSQL."""
    decision = add_decision(session)
    out_trade_no = wechat_order(client, decision)
    sent = fakes.wechat.pay(out_trade_no)
    statuses = [post_wechat(client, sent).status_code for _ in range(50)]
    assert statuses == [204] * 50
    [row] = notifications(session, out_trade_no)
    assert row.verdict is NotificationVerdict.APPLIED
    assert load(session, out_trade_no)[0].status is PaymentOrderStatus.PAID
    assert queued_names(settings).count("payments.receipt") == 1


def test_a_replayed_notification_changes_nothing(
    client: TestClient, session: Session, fakes: Fakes, settings: Settings
) -> None:
    decision = add_decision(session)
    out_trade_no = wechat_order(client, decision)
    sent = fakes.wechat.pay(out_trade_no)
    assert post_wechat(client, sent).status_code == 204
    paid, _ = load(session, out_trade_no)
    receipt_no, paid_at = paid.receipt_no, paid.paid_at

    # The same bytes again (inside the time window): a duplicate, acknowledged, not stored again.
    assert post_wechat(client, sent).status_code == 204
    # A new notification of the same payment (WeChat retries with a new id): applied already.
    assert post_wechat(client, fakes.wechat.notification(out_trade_no)).status_code == 204
    # An old one (outside the ±5 min window): refused.
    stale = fakes.wechat.notification(out_trade_no, timestamp=int(time.time()) - 600)
    assert post_wechat(client, stale).status_code == 400
    assert [(n.verdict, n.reason) for n in notifications(session, out_trade_no)] == [
        (NotificationVerdict.APPLIED, ""),
        (NotificationVerdict.IGNORED, "already_applied"),
    ]
    [refused] = notifications(session, "")  # not decrypted: which order it names is not known
    assert (refused.verdict, refused.reason, refused.flagged) == (
        NotificationVerdict.REFUSED,
        "timestamp_expired",
        True,
    )
    order, _ = load(session, out_trade_no)
    assert (order.receipt_no, order.paid_at) == (receipt_no, paid_at)
    assert queued_names(settings).count("payments.receipt") == 1


# -- refused ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        ({"amount_fen": 1}, "amount_mismatch"),
        ({"wrong_key": True}, "signature_invalid"),
        ({"tamper": True}, "signature_invalid"),
        ({"signtest": True}, "signature_probe"),
        ({"stale": True}, "timestamp_expired"),
        ({"wrong_apiv3_key": True}, "decrypt_failed"),
    ],
)
def test_bad_wechat_notifications_are_refused_and_flagged(
    client: TestClient,
    session: Session,
    fakes: Fakes,
    settings: Settings,
    variant: dict[str, Any],
    reason: str,
) -> None:
    decision = add_decision(session)
    out_trade_no = wechat_order(client, decision)
    fakes.wechat.pay(out_trade_no)
    if variant.pop("stale", False):
        variant["timestamp"] = int(time.time()) - 6 * 60
    bad = fakes.wechat.notification(out_trade_no, **variant)

    answer = post_wechat(client, bad)
    assert answer.status_code == 400
    assert answer.json()["code"] == "FAIL"
    assert_unpaid(session, out_trade_no)
    [row] = (
        notifications(session, "") if reason != "amount_mismatch" else notifications(session, out_trade_no)
    )
    assert (row.verdict, row.reason, row.flagged, row.dedupe_key) == (
        NotificationVerdict.REFUSED,
        reason,
        True,
        None,
    )
    assert row.body == bad.body.decode()
    assert queued(settings) == []

    # The real notification still gets through afterwards (a refused one never shadows it).
    assert post_wechat(client, fakes.wechat.notification(out_trade_no)).status_code == 204
    assert load(session, out_trade_no)[0].status is PaymentOrderStatus.PAID


def test_wechat_notification_for_another_app_or_an_unknown_order(
    session: Session, client: TestClient, fakes: Fakes, settings: Settings
) -> None:
    decision = add_decision(session)
    out_trade_no = wechat_order(client, decision)
    sent = fakes.wechat.pay(out_trade_no)
    other_app = settings.model_copy(
        update={"wechatpay": settings.wechatpay.model_copy(update={"app_id": "wx0000000000000000"})}
    )
    with client_for(session, other_app) as wrong_app_client:
        assert post_wechat(wrong_app_client, sent).status_code == 400
    [row] = notifications(session, "")
    assert (row.verdict, row.reason, row.flagged) == (NotificationVerdict.REFUSED, "bad_notification", True)
    assert_unpaid(session, out_trade_no)

    # Signed by WeChat Pay, but for an order we never made.
    stranger = f"FPX{secrets.token_hex(8).upper()}"
    gateways.wechatpay_client(settings).create_jsapi_order(
        out_trade_no=stranger,
        description="罚款缴纳",
        amount_fen=100,
        openid="o-x",
        time_expire=load(session, out_trade_no)[0].expires_at,
    )
    assert post_wechat(client, fakes.wechat.pay(stranger)).status_code == 400
    [unknown] = notifications(session, stranger)
    assert (unknown.verdict, unknown.reason, unknown.dedupe_key) == (
        NotificationVerdict.REFUSED,
        "unknown_order",
        None,
    )


@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        ({"total_amount": "0.01"}, "amount_mismatch"),
        ({"wrong_key": True}, "signature_invalid"),
        ({"tamper": True}, "signature_invalid"),
    ],
)
def test_bad_alipay_notifications_are_refused_and_flagged(
    client: TestClient,
    session: Session,
    fakes: Fakes,
    settings: Settings,
    variant: dict[str, Any],
    reason: str,
) -> None:
    decision = add_decision(session)
    out_trade_no = alipay_order(client, decision)
    fakes.alipay.pay(out_trade_no)
    answer = post_alipay(client, fakes.alipay.notification(out_trade_no, **variant))
    assert (answer.status_code, answer.text) == (400, "fail")
    assert_unpaid(session, out_trade_no)
    [row] = notifications(session, out_trade_no)
    assert (row.verdict, row.reason, row.flagged, row.dedupe_key) == (
        NotificationVerdict.REFUSED,
        reason,
        True,
        None,
    )
    assert queued(settings) == []


def test_alipay_notification_for_another_app_or_seller(
    session: Session, client: TestClient, fakes: Fakes, settings: Settings
) -> None:
    decision = add_decision(session)
    out_trade_no = alipay_order(client, decision)
    form = fakes.alipay.pay(out_trade_no)
    for field, value, reason in [
        ("app_id", "2021000000000000", "bad_notification"),
        ("seller_id", "2088000000000000", "seller_mismatch"),
    ]:
        other = settings.model_copy(update={"alipay": settings.alipay.model_copy(update={field: value})})
        with client_for(session, other) as other_client:
            assert post_alipay(other_client, form).text == "fail"
        assert notifications(session, out_trade_no)[-1].reason == reason
    assert_unpaid(session, out_trade_no)
    assert post_alipay(client, form).text == "success"  # the same notification, to the right merchant
    assert load(session, out_trade_no)[0].status is PaymentOrderStatus.PAID


def test_a_second_transaction_for_a_paid_order_is_refused(
    client: TestClient, session: Session, fakes: Fakes
) -> None:
    decision = add_decision(session)
    out_trade_no = alipay_order(client, decision)
    assert post_alipay(client, fakes.alipay.pay(out_trade_no)).text == "success"
    with fakes.alipay.state.lock:  # the gateway reports another trade for the same order
        trade = fakes.alipay.state.trades[out_trade_no]
        fakes.alipay.state.trades[out_trade_no] = replace(trade, trade_no=trade.trade_no[:-4] + "9999")
    answer = post_alipay(client, fakes.alipay.notification(out_trade_no))
    assert answer.text == "fail"
    assert notifications(session, out_trade_no)[-1].reason == "transaction_mismatch"
    order, _ = load(session, out_trade_no)
    assert order.provider_txn_id == trade.trade_no


def test_a_provider_transaction_already_used_by_another_order_is_refused_and_nothing_applied(
    client: TestClient, session: Session, fakes: Fakes, settings: Settings
) -> None:
    """A last-guard constraint (``provider_txn_id`` is unique) failing during the settlement: the
    settlement is undone, the notification stored refused, and no receipt job is queued for it."""
    first = wechat_order(client, add_decision(session))
    assert post_wechat(client, fakes.wechat.pay(first)).status_code == 204
    second = wechat_order(client, add_decision(session))
    fakes.wechat.pay(second)
    used = fakes.wechat.order(first).transaction_id
    with fakes.wechat.state.lock:  # the gateway reports the first payment's transaction id again
        fakes.wechat.state.orders[second].transaction_id = used
    answer = post_wechat(client, fakes.wechat.notification(second))
    assert answer.status_code == 400
    [row] = notifications(session, second)
    assert (row.verdict, row.reason, row.flagged, row.dedupe_key) == (
        NotificationVerdict.REFUSED,
        "conflict",
        True,
        None,
    )
    assert_unpaid(session, second)
    second_order, _ = load(session, second)
    assert ("workers.jobs.payments.receipt", {"order_id": second_order.id}) not in queued(settings)


def test_a_replaced_order_paid_before_its_expiry_is_applied(
    client: TestClient, session: Session, fakes: Fakes, settings: Settings
) -> None:
    """The payer paid an order that had been replaced meanwhile (closed here, not yet at WeChat Pay),
    within the time it was given: applied, and the replacement is closed as a sibling."""
    decision = add_decision(session)
    first = wechat_order(client, decision)
    second = new_order(
        client, decision, {"channel": "wechat", "client": "miniprogram", "payer_openid": "o-other-payer"}
    )
    assert load(session, first)[0].status is PaymentOrderStatus.CLOSED
    assert post_wechat(client, fakes.wechat.pay(first)).status_code == 204
    order, decision = load(session, first)
    assert (order.status, decision.status) == (PaymentOrderStatus.PAID, FineStatus.PAID)
    [row] = notifications(session, first)
    assert (row.verdict, row.reason) == (NotificationVerdict.APPLIED, "")
    assert load(session, second)[0].status is PaymentOrderStatus.CLOSED
    assert "payments.receipt" in queued_names(settings)


def test_money_for_a_replaced_order_paid_after_its_expiry_is_kept_for_a_refund(
    client: TestClient, session: Session, fakes: Fakes, settings: Settings
) -> None:
    decision = add_decision(session)
    first = alipay_order(client, decision)
    second = new_order(
        client, decision, {"channel": "alipay", "client": "miniprogram", "buyer_open_id": "b-2"}
    )
    fakes.alipay.pay(first)
    expired = load(session, first)[0].expires_at + timedelta(seconds=1)
    with fakes.alipay.state.lock:  # Alipay reports it paid one second after the order expired
        fakes.alipay.state.trades[first].gmt_payment = f"{to_local(expired):%Y-%m-%d %H:%M:%S}"
    assert post_alipay(client, fakes.alipay.notification(first)).text == "success"
    order, decision = load(session, first)
    assert (order.status, order.paid_at) == (PaymentOrderStatus.NEEDS_REFUND, expired)
    assert decision.status is FineStatus.UNPAID
    [row] = notifications(session, first)
    assert (row.verdict, row.reason) == (NotificationVerdict.APPLIED, "needs_refund_order_closed")
    assert load(session, second)[0].status is PaymentOrderStatus.PENDING
    assert "payments.receipt" not in queued_names(settings)


def test_alipay_paid_time_is_beijing_time(client: TestClient, session: Session, fakes: Fakes) -> None:
    decision = add_decision(session)
    out_trade_no = alipay_order(client, decision)
    fakes.alipay.pay(out_trade_no)
    with fakes.alipay.state.lock:
        fakes.alipay.state.trades[out_trade_no].gmt_payment = "2026-11-21 08:00:05"
    assert post_alipay(client, fakes.alipay.notification(out_trade_no)).text == "success"
    order, _ = load(session, out_trade_no)
    assert order.paid_at == datetime(2026, 11, 21, 0, 0, 5, tzinfo=UTC)


def test_provider_times_without_a_zone_are_beijing_time() -> None:
    now = utcnow()
    beijing = datetime(2026, 11, 21, 8, 0, 5, tzinfo=SHANGHAI)
    assert notify.provider_time("2026-11-21 08:00:05", now=now) == beijing
    assert notify.provider_time(datetime(2026, 11, 21, 8, 0, 5), now=now) == beijing
    assert notify.provider_time("2026-11-21T00:00:05+00:00", now=now) == beijing
    assert notify.provider_time(None, now=now) == now
    assert notify.provider_time("", now=now) == now
    assert notify.provider_time("yesterday", now=now) is None


def test_alipay_buyer_identifiers_are_redacted_in_the_stored_body(
    client: TestClient, session: Session, fakes: Fakes
) -> None:
    decision = add_decision(session)
    out_trade_no = alipay_order(client, decision)
    form = fakes.alipay.pay(out_trade_no)
    form = {k: v for k, v in form.items() if k not in ("sign", "sign_type")} | {
        "buyer_logon_id": "159****5620",
        "buyer_id": "2088102177846880",
        "buyer_open_id": "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5",
    }
    form["sign"] = rsa2_sign(fakes.alipay.state.alipay_key, sign_content(form, drop=("sign", "sign_type")))
    form["sign_type"] = "RSA2"
    assert post_alipay(client, form).text == "success"  # verified with the identifiers as sent
    assert load(session, out_trade_no)[0].status is PaymentOrderStatus.PAID
    [row] = notifications(session, out_trade_no)
    stored = dict(parse_qsl(row.body))
    assert (stored["buyer_logon_id"], stored["buyer_id"], stored["buyer_open_id"]) == (
        "15*******20",
        "20************80",
        "07" + "*" * 43 + "o5",
    )
    for value in ("159****5620", "2088102177846880", "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"):
        assert value not in row.body
    assert (stored["out_trade_no"], stored["sign"]) == (out_trade_no, form["sign"])


def latest_notification(session: Session) -> PaymentNotification:
    session.expire_all()
    return session.exec(select(PaymentNotification).order_by(col(PaymentNotification.id).desc())).first()  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("body", "reason", "stored"),
    [
        (b'{"id": "evt\x00", "resource": {}}', "", '{"id": "evt\\u0000", "resource": {}}'),
        (b'{"id": "\xff\xfe"}', "bad_encoding", '{"id": "\ufffd\ufffd"}'),
    ],
)
def test_wechat_bodies_with_nul_or_bad_utf8_are_stored_refused(
    client: TestClient, session: Session, fakes: Fakes, body: bytes, reason: str, stored: str
) -> None:
    signed = fakes.wechat.notification(wechat_order(client, add_decision(session)))
    answer = client.post(WECHAT_NOTIFY, content=body, headers=signed.headers)
    assert answer.status_code == 400
    row = latest_notification(session)
    assert (row.verdict, row.flagged, row.dedupe_key, row.body) == (
        NotificationVerdict.REFUSED,
        True,
        None,
        stored,
    )
    if reason:
        assert row.reason == reason


@pytest.mark.parametrize(
    ("body", "reason", "out_trade_no"),
    [
        (b"out_trade_no=FP%00X&total_amount=1.00&sign=abc&sign_type=RSA2", "", "FP\\u0000X"),
        (b"out_trade_no=FP\xffX&total_amount=1.00&sign=abc&sign_type=RSA2", "bad_encoding", "FP\ufffdX"),
    ],
)
def test_alipay_bodies_with_nul_or_bad_utf8_are_stored_refused(
    client: TestClient, session: Session, body: bytes, reason: str, out_trade_no: str
) -> None:
    answer = client.post(
        ALIPAY_NOTIFY, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (answer.status_code, answer.text) == (400, "fail")
    row = latest_notification(session)
    assert (row.verdict, row.flagged, row.dedupe_key, row.out_trade_no) == (
        NotificationVerdict.REFUSED,
        True,
        None,
        out_trade_no,
    )
    assert "\x00" not in row.body
    if reason:
        assert row.reason == reason


def test_bodies_over_64_kib_are_refused_and_stored_capped(client: TestClient, session: Session) -> None:
    body = ("out_trade_no=FP1&subject=" + "罚" * 30_000).encode()  # 30 000 characters, 90 000 bytes
    answer = client.post(
        ALIPAY_NOTIFY, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.text == "fail"
    row = latest_notification(session)
    assert (row.verdict, row.reason) == (NotificationVerdict.REFUSED, "too_large")
    assert len(row.body.encode()) <= 64 * 1024
    assert row.body.startswith("out_trade_no=FP1&subject=罚罚")


# -- a live server on PostgreSQL: real concurrency ----------------------------------------------------

live_only = pytest.mark.skipif(
    TEST_BACKEND != "postgresql",
    reason="concurrent writers: PostgreSQL (SQLite serialises writers; the sequential tests above cover it)",
)


@dataclass(frozen=True)
class Live:
    base: str
    engine: Engine
    settings: Settings


@pytest.fixture
def live(fakes: Fakes, rq_settings: Settings) -> Iterator[Live]:
    """The API served by uvicorn (in a thread, its own thread pool for requests) on a database of its own
    whose data is committed, so requests on separate connections really race."""
    url = database_url("paynotify")
    engine = build_engine(url)
    upgrade(engine)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    base = f"http://127.0.0.1:{port}"
    settings = fakes.settings(rq_settings, server=base)
    settings = settings.model_copy(update={"db": settings.db.model_copy(update={"url": url})})
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
    )
    thread = threading.Thread(target=server.run, name="live-api", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "the live server stopped"
            assert time.monotonic() < deadline, "the live server did not start"
            time.sleep(0.05)
        yield Live(base, engine, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        engine.dispose()
        get_engine(settings).dispose()
        drop_database(url)


def committed_decision(live: Live) -> PenaltyDecision:
    with session_scope(live.engine) as session:
        return add_decision(session)


def live_order(live: Live, decision: PenaltyDecision) -> str:
    response = httpx.post(
        f"{live.base}/api/v1/fines/{decision.decision_no}/payments",
        json={"party_name": PARTY, "channel": "wechat", "client": "miniprogram", "payer_openid": "o-live"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["out_trade_no"])


@live_only
def test_fifty_at_once_on_a_live_server(live: Live, fakes: Fakes) -> None:
    decision = committed_decision(live)
    out_trade_no = live_order(live, decision)
    sent = fakes.wechat.pay(out_trade_no)
    barrier = threading.Barrier(50, timeout=60)

    def send() -> int:
        barrier.wait()
        [status] = fakes.wechat.send(f"{live.base}{WECHAT_NOTIFY}", sent)
        return status

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(lambda _: send(), range(50)))
    assert statuses == [204] * 50

    with session_scope(live.engine) as session:
        rows = [(row.verdict, row.flagged) for row in notifications(session, out_trade_no)]
        order, paid = load(session, out_trade_no)
        assert rows == [(NotificationVerdict.APPLIED, False)]
        assert (order.status, paid.status) == (PaymentOrderStatus.PAID, FineStatus.PAID)
    assert queued_names(live.settings).count("payments.receipt") == 1


@live_only
def test_racing_order_requests_answer_payment_in_progress(live: Live) -> None:
    """Another transaction holds a new open order of the same decision and channel, not yet committed and
    not yet placed at the provider: the request waits (on the decision row, which the holder's insert
    key-share locks; without that lock the unique index ``uq_payment_order_open`` would stop it), then
    finds the order in flight and answers 409 ``payment_in_progress`` (not a 500)."""
    decision = committed_decision(live)
    assert decision.id is not None
    with Session(live.engine) as holder:
        holder.add(
            PaymentOrder(
                out_trade_no=f"FPHOLD{secrets.token_hex(8).upper()}",
                decision_id=decision.id,
                channel=PaymentChannel.WECHAT,
                client=PaymentClient.MINIPROGRAM,
                amount_fen=23000,
                fine_fen=20000,
                late_fee_fen=3000,
                payer_ref="o-2",
                expires_at=utcnow() + timedelta(minutes=30),
            )
        )
        holder.flush()
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(
                httpx.post,
                f"{live.base}/api/v1/fines/{decision.decision_no}/payments",
                json={
                    "party_name": PARTY,
                    "channel": "wechat",
                    "client": "miniprogram",
                    "payer_openid": "o-2",
                },
                timeout=60,
            )
            deadline = time.monotonic() + 30
            while not waiting_on_a_lock(live.engine):  # the request waits for the holder
                assert not pending.done(), pending.result().text
                assert time.monotonic() < deadline, "the request never waited"
                time.sleep(0.05)
            holder.commit()
            response = pending.result()
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "payment_in_progress"
    assert response.json()["details"] == {"retryable": True}


def waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        count = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()
    return int(count) > 0


@live_only
def test_an_order_requested_while_the_fine_is_being_paid_waits_and_is_refused(
    live: Live, fakes: Fakes
) -> None:
    """A settlement holds the decision's lock (decision first, then the order): a new order request for
    the same decision waits for it, then sees the decision paid — it never creates a second payable order."""
    decision = committed_decision(live)
    out_trade_no = live_order(live, decision)
    with Session(live.engine) as holder:
        order = settle.lock_order(holder, out_trade_no)
        assert order is not None
        applied = settle.settle_paid(
            holder, order, provider_txn_id=f"4200HOLD{secrets.token_hex(6)}", paid_fen=23000, paid_at=utcnow()
        )
        assert applied.outcome is settle.SettleOutcome.APPLIED
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(
                httpx.post,
                f"{live.base}/api/v1/fines/{decision.decision_no}/payments",
                json={
                    "party_name": PARTY,
                    "channel": "alipay",
                    "client": "miniprogram",
                    "buyer_open_id": "b-9",
                },
                timeout=60,
            )
            deadline = time.monotonic() + 30
            while not waiting_on_a_lock(live.engine):  # the request waits on the decision's row lock
                assert not pending.done(), pending.result().text
                assert time.monotonic() < deadline, "the request never waited on the decision"
                time.sleep(0.05)
            holder.commit()
            response = pending.result()
    assert (response.status_code, response.json()["code"]) == (409, "fine_already_paid")
    with session_scope(live.engine) as session:
        orders = session.exec(select(PaymentOrder).where(col(PaymentOrder.decision_id) == decision.id)).all()
        assert [o.status for o in orders] == [PaymentOrderStatus.PAID]


@live_only
def test_no_transaction_is_open_during_the_provider_call(live: Live, fakes: Fakes) -> None:
    """While WeChat Pay is asked to create the order, the request holds no transaction (and so no lock):
    the new order is committed pending with an empty prepay_ref, and another request of the same payer
    answers payment_in_progress at once instead of waiting."""
    decision = committed_decision(live)
    pool = ThreadPoolExecutor(max_workers=1)
    fakes.wechat.state.lock.acquire()  # the fake gateway cannot answer until released
    try:
        first = pool.submit(live_order, live, decision)
        deadline = time.monotonic() + 30
        while True:
            with session_scope(live.engine) as session:
                orders = session.exec(
                    select(PaymentOrder).where(col(PaymentOrder.decision_id) == decision.id)
                ).all()
            if orders:
                break
            assert not first.done(), first.result()
            assert time.monotonic() < deadline, "the order was never committed"
            time.sleep(0.02)
        assert [(o.status, o.prepay_ref) for o in orders] == [(PaymentOrderStatus.PENDING, "")]
        assert not in_transaction(live.engine)
        again = httpx.post(
            f"{live.base}/api/v1/fines/{decision.decision_no}/payments",
            json={
                "party_name": PARTY,
                "channel": "wechat",
                "client": "miniprogram",
                "payer_openid": "o-live",
            },
            timeout=30,
        )
        assert (again.status_code, again.json()["code"]) == (409, "payment_in_progress")
    finally:
        fakes.wechat.state.lock.release()
        pool.shutdown(wait=True)
    out_trade_no = first.result()
    with session_scope(live.engine) as session:
        order, _ = load(session, out_trade_no)
        assert (order.status, order.prepay_ref) == (
            PaymentOrderStatus.PENDING,
            fakes.wechat.order(out_trade_no).prepay_id,
        )


def in_transaction(engine: Engine) -> bool:
    """Whether another connection to the database sits in an open transaction."""
    with engine.connect() as connection:
        count = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
            )
        ).scalar_one()
    return int(count) > 0
