"""``POST /api/v1/payments/notify/wechat/refund`` against notifications signed by the local fake WeChat Pay:
verified ones are applied once (duplicates acknowledged); unverifiable ones, and genuine ones that do not
match our refund, are stored without a dedupe key, flagged, change nothing and are answered with WeChat
Pay's failure format (it retries)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from api.deps import get_session
from api.main import create_app
from core.kit.clock import utcnow
from core.models import (
    NotificationVerdict,
    PaymentChannel,
    PaymentNotification,
    PaymentOrder,
    PaymentOrderStatus,
    PaymentRefund,
    RefundStatus,
)
from core.settings import Settings, get_settings
from payments.gateways import wechatpay_client
from payments.refunds import provider, service
from payments.refunds.notifications import MAX_BODY_BYTES, storable
from payments.sandbox.wechatpay import FakeWechatPay, SignedNotification, running_fake_wechatpay
from tests.payments.refunds.conftest import pay_at_provider, record_order

URL = "/api/v1/payments/notify/wechat/refund"


@pytest.fixture(scope="module")
def wechat() -> Iterator[FakeWechatPay]:
    with running_fake_wechatpay() as fake:
        yield fake


@pytest.fixture
def settings(wechat: FakeWechatPay) -> Settings:
    return wechat.settings_for(
        get_settings(), notify_url="https://zhcg.example/api/v1/payments/notify/wechat"
    )


@pytest.fixture
def client(session: Session, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)

    def _session() -> Iterator[Session]:
        yield session
        session.commit()

    app.dependency_overrides[get_session] = _session
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _processing(
    session: Session, settings: Settings, wechat: FakeWechatPay, amount_fen: int = 20000
) -> PaymentRefund:
    """A paid order whose refund WeChat Pay accepted (PROCESSING)."""
    out_trade_no, txn_id = pay_at_provider(settings, PaymentChannel.WECHAT, wechat, None, amount_fen)
    order = record_order(session, PaymentChannel.WECHAT, out_trade_no, txn_id, amount_fen)
    assert order.id is not None
    refund = service.request_refund(
        session, order_id=order.id, reason="决定撤销", staff_id=None, now=utcnow()
    )
    assert refund.id is not None
    call = service.refund_call(session, refund.id)
    assert call is not None
    service.apply_outcome(session, refund.id, provider.send(settings, call), now=utcnow())
    assert refund.status is RefundStatus.PROCESSING
    return refund


def _post(client: TestClient, sent: SignedNotification) -> tuple[int, dict[str, str] | None]:
    answer = client.post(URL, content=sent.body, headers=sent.headers)
    return answer.status_code, (answer.json() if answer.content else None)


def _stored(session: Session, out_trade_no: str) -> list[PaymentNotification]:
    query = select(PaymentNotification).where(col(PaymentNotification.out_trade_no) == out_trade_no)
    return list(session.exec(query.order_by(col(PaymentNotification.id))).all())


def _order(session: Session, refund: PaymentRefund) -> PaymentOrder:
    return session.get_one(PaymentOrder, refund.order_id)


def test_success_is_applied_once(
    client: TestClient, session: Session, settings: Settings, wechat: FakeWechatPay
) -> None:
    refund = _processing(session, settings, wechat)
    sent = wechat.finish_refund(refund.out_refund_no, send=False)
    assert _post(client, sent) == (204, None)
    session.refresh(refund)
    assert refund.status is RefundStatus.SUCCEEDED
    assert refund.finished_at is not None
    order = _order(session, refund)
    assert order.status is PaymentOrderStatus.REFUNDED
    for _ in range(3):  # WeChat Pay retries, or a replay inside the window: acknowledged, nothing more
        assert _post(client, sent) == (204, None)
    stored = _stored(session, order.out_trade_no)
    assert [(n.dedupe_key, n.verdict, n.flagged) for n in stored] == [
        (sent.notification_id, NotificationVerdict.APPLIED, False)
    ]
    assert "wechatpay-signature" in stored[0].headers
    assert stored[0].body == sent.body.decode()  # the resource stays encrypted


@pytest.mark.parametrize("status", ["ABNORMAL", "CLOSED"])
def test_abnormal_or_closed_fails_the_refund(
    client: TestClient, session: Session, settings: Settings, wechat: FakeWechatPay, status: str
) -> None:
    refund = _processing(session, settings, wechat)
    assert _post(client, wechat.finish_refund(refund.out_refund_no, status=status, send=False)) == (204, None)
    session.refresh(refund)
    assert (refund.status, refund.failure) == (RefundStatus.FAILED, f"wechat:{status}")
    assert _order(session, refund).status is PaymentOrderStatus.PAID


@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        ({"tamper": True}, "signature_invalid"),
        ({"wrong_key": True}, "signature_invalid"),
        ({"signtest": True}, "signature_probe"),
        ({"timestamp": int(time.time()) - 3600}, "timestamp_expired"),
        ({"wrong_apiv3_key": True}, "decrypt_failed"),
    ],
)
def test_unverifiable_notifications_are_refused_stored_and_flagged(
    client: TestClient,
    session: Session,
    settings: Settings,
    wechat: FakeWechatPay,
    variant: dict[str, object],
    reason: str,
) -> None:
    refund = _processing(session, settings, wechat)
    wechat.finish_refund(refund.out_refund_no, send=False)
    status, body = _post(client, wechat.refund_notification(refund.out_refund_no, **variant))  # type: ignore[arg-type]
    assert status == 400
    assert body is not None
    assert body["code"] == "FAIL"
    assert body["message"]
    session.refresh(refund)
    assert refund.status is RefundStatus.PROCESSING  # nothing applied
    refused = session.exec(
        select(PaymentNotification).where(
            col(PaymentNotification.reason) == reason, col(PaymentNotification.dedupe_key).is_(None)
        )
    ).all()
    assert refused
    assert all(n.flagged and n.verdict is NotificationVerdict.REFUSED for n in refused)


def test_genuine_but_mismatched_notifications_are_refused_and_flagged(
    client: TestClient, session: Session, settings: Settings, wechat: FakeWechatPay
) -> None:
    refund = _processing(session, settings, wechat, 20000)
    wechat.finish_refund(refund.out_refund_no, send=False)
    wrong_amount = wechat.refund_notification(refund.out_refund_no, amount_fen=100)
    assert _post(client, wrong_amount) == (
        400,
        {"code": "FAIL", "message": "通知未通过校验（amount_mismatch）"},
    )
    session.refresh(refund)
    assert refund.status is RefundStatus.PROCESSING
    order = _order(session, refund)
    assert [(n.dedupe_key, n.verdict, n.reason, n.flagged) for n in _stored(session, order.out_trade_no)] == [
        (None, NotificationVerdict.REFUSED, "amount_mismatch", True)
    ]
    # The genuine notification is not shadowed by the refused one.
    assert _post(client, wechat.refund_notification(refund.out_refund_no)) == (204, None)
    session.refresh(refund)
    assert refund.status is RefundStatus.SUCCEEDED

    # A refund WeChat Pay knows but we do not (made by hand at the merchant platform).
    out_trade_no, _ = pay_at_provider(settings, PaymentChannel.WECHAT, wechat, None, 300)
    by_hand = f"RFHAND{secrets.token_hex(4)}"
    wechatpay_client(settings).refund(
        out_trade_no=out_trade_no, out_refund_no=by_hand, amount_fen=300, total_fen=300, reason="手工退款"
    )
    wechat.finish_refund(by_hand, send=False)
    assert _post(client, wechat.refund_notification(by_hand))[0] == 400
    assert [(n.verdict, n.reason, n.flagged) for n in _stored(session, out_trade_no)] == [
        (NotificationVerdict.REFUSED, "unknown_refund", True)
    ]


def test_not_configured_answers_503_in_wechat_format(session: Session) -> None:
    app = create_app(get_settings())  # WeChat Pay not configured

    def _session() -> Iterator[Session]:
        yield session

    app.dependency_overrides[get_session] = _session
    with TestClient(app, raise_server_exceptions=False) as api:
        answer = api.post(URL, content=b"{}", headers={"Content-Type": "application/json"})
    assert answer.status_code == 503
    assert answer.json()["code"] == "FAIL"


def test_payment_notifications_are_not_refund_notifications(
    client: TestClient, session: Session, settings: Settings, wechat: FakeWechatPay
) -> None:
    refund = _processing(session, settings, wechat)
    payment = wechat.notification(_order(session, refund).out_trade_no)
    assert _post(client, payment)[0] == 400


# -- what cannot even be read ----------------------------------------------------------------------


def _refused_rows(session: Session, reason: str) -> list[PaymentNotification]:
    query = select(PaymentNotification).where(
        col(PaymentNotification.reason) == reason, col(PaymentNotification.channel) == PaymentChannel.WECHAT
    )
    return list(session.exec(query.order_by(col(PaymentNotification.id))).all())


@pytest.mark.parametrize("path", [URL, "/api/v1/payments/notify/wechat"])
def test_a_body_that_is_not_utf8_is_refused_not_a_500(
    client: TestClient, session: Session, settings: Settings, wechat: FakeWechatPay, path: str
) -> None:
    refund = _processing(session, settings, wechat)
    sent = wechat.finish_refund(refund.out_refund_no, send=False)
    garbage = b'{"id": "\xff\xfe", "resource": "\xc3("}'
    answer = client.post(path, content=garbage, headers=sent.headers)
    assert answer.status_code == 400
    assert answer.json()["code"] == "FAIL"
    # The refund endpoint stores it as the adapter refused it; the payment endpoint (payments.orders.notify)
    # may refuse it before asking the adapter.
    [stored] = _refused_rows(session, "bad_notification") or _refused_rows(session, "bad_encoding")
    assert (stored.verdict, stored.flagged, stored.dedupe_key) == (NotificationVerdict.REFUSED, True, None)
    assert '"id"' in stored.body
    session.refresh(refund)
    assert refund.status is RefundStatus.PROCESSING


def test_nul_bytes_and_bad_utf8_are_stored_escaped(
    client: TestClient, session: Session, settings: Settings, wechat: FakeWechatPay
) -> None:
    refund = _processing(session, settings, wechat)
    sent = wechat.finish_refund(refund.out_refund_no, send=False)
    body = sent.body.replace(b'"resource"', b'"re\x00source"', 1)  # valid UTF-8 with a NUL: not WeChat's
    assert _post(client, SignedNotification(sent.headers, body, sent.notification_id))[0] == 400
    [stored] = _refused_rows(session, "signature_invalid")
    assert "\x00" not in stored.body
    assert '"re\\x00source"' in stored.body
    assert stored.flagged
    assert storable(b"a\x00b\xffc") == "a\\x00b\\xffc"
    assert storable("中文".encode()) == "中文"


def test_an_oversized_body_is_refused_and_stored_capped(
    client: TestClient, session: Session, settings: Settings, wechat: FakeWechatPay
) -> None:
    refund = _processing(session, settings, wechat)
    sent = wechat.finish_refund(refund.out_refund_no, send=False)
    huge = sent.body + b" " * MAX_BODY_BYTES
    assert _post(client, SignedNotification(sent.headers, huge, sent.notification_id))[0] == 400
    [stored] = _refused_rows(session, "too_large")
    assert len(stored.body.encode()) == MAX_BODY_BYTES
    session.refresh(refund)
    assert refund.status is RefundStatus.PROCESSING
    # The genuine notification still passes.
    assert _post(client, sent) == (204, None)


# -- a refund retried under a new number -------------------------------------------------------------


def test_a_late_success_for_the_number_before_a_retry_still_counts(
    client: TestClient, session: Session, settings: Settings, wechat: FakeWechatPay
) -> None:
    refund = _processing(session, settings, wechat)
    assert refund.id is not None
    first_no = refund.out_refund_no
    assert _post(client, wechat.finish_refund(first_no, status="CLOSED", send=False)) == (204, None)
    session.refresh(refund)
    assert (refund.status, refund.failure) == (RefundStatus.FAILED, "wechat:CLOSED")
    service.retry_refund(session, refund_id=refund.id, staff_id=None, now=utcnow())
    assert refund.out_refund_no == f"{first_no}_2"
    order = _order(session, refund)

    # Anything but success about the earlier number is acknowledged and changes nothing …
    assert _post(client, wechat.refund_notification(first_no, status="CLOSED")) == (204, None)
    session.refresh(refund)
    assert (refund.status, refund.out_refund_no) == (RefundStatus.REQUESTED, f"{first_no}_2")
    # … its success is applied: the money went back.
    late = wechat.refund_notification(first_no, status="SUCCESS")
    assert _post(client, late) == (204, None)
    session.refresh(refund)
    assert refund.status is RefundStatus.SUCCEEDED
    assert _order(session, refund).status is PaymentOrderStatus.REFUNDED
    stored = _stored(session, order.out_trade_no)
    assert [(n.verdict, n.reason, n.flagged) for n in stored] == [
        (NotificationVerdict.APPLIED, "", False),  # REFUND.CLOSED of the first number
        (NotificationVerdict.IGNORED, "earlier_attempt", False),
        (NotificationVerdict.APPLIED, "", False),
    ]
