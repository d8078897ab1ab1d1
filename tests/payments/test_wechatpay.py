"""WeChat Pay v3 adapter against the local fake gateway (payments/sandbox/wechatpay.py)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from core.kit.clock import utcnow
from core.settings import get_settings
from payments.providers import ProviderError, SignatureInvalid
from payments.sandbox.wechatpay import FakeWechatPay, running_fake_wechatpay
from payments.wechatpay import TradeState, WechatNotification, WechatPayClient, WechatRefundStatus


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWechatPay]:
    with running_fake_wechatpay() as running:
        yield running


@pytest.fixture
def client(fake: FakeWechatPay) -> WechatPayClient:
    return WechatPayClient(
        fake.settings_for(get_settings(), notify_url="https://zhcg.example/pay/wx").wechatpay
    )


def _order(client: WechatPayClient, amount_fen: int = 20000) -> tuple[str, str]:
    out_trade_no = f"FINE{time.time_ns()}"
    prepay_id = client.create_jsapi_order(
        out_trade_no=out_trade_no,
        description="城管罚款",
        amount_fen=amount_fen,
        openid="o-citizen-1",
        time_expire=utcnow() + timedelta(minutes=30),
    )
    return out_trade_no, prepay_id


def test_order_gives_parameters_signed_with_the_merchant_key(
    client: WechatPayClient, fake: FakeWechatPay
) -> None:
    out_trade_no, prepay_id = _order(client, 20000)
    assert prepay_id.startswith("wx")
    assert fake.order(out_trade_no).request["amount"] == {"total": 20000, "currency": "CNY"}
    assert fake.order(out_trade_no).request["payer"] == {"openid": "o-citizen-1"}
    assert fake.order(out_trade_no).request["time_expire"].endswith("+08:00")

    params = client.jsapi_params(prepay_id).as_dict()
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["package"] == f"prepay_id={prepay_id}"
    assert params["signType"] == "RSA"
    message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    fake.merchant_public_key.verify(  # raises InvalidSignature if wrong
        base64.b64decode(params["paySign"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_same_order_again_same_prepay_id_other_parameters_refused(client: WechatPayClient) -> None:
    out_trade_no, expire = f"FINE{time.time_ns()}", utcnow() + timedelta(minutes=30)
    order = {"out_trade_no": out_trade_no, "description": "城管罚款", "openid": "o-1", "time_expire": expire}
    first = client.create_jsapi_order(amount_fen=100, **order)  # type: ignore[arg-type]
    assert client.create_jsapi_order(amount_fen=100, **order) == first  # type: ignore[arg-type]
    with pytest.raises(ProviderError) as used:
        client.create_jsapi_order(amount_fen=200, **order)  # type: ignore[arg-type]
    assert used.value.details["provider_code"] == "OUT_TRADE_NO_USED"


def test_query_close_and_paid_order(client: WechatPayClient, fake: FakeWechatPay) -> None:
    out_trade_no, _ = _order(client, 5000)
    order = client.query_order(out_trade_no)
    assert order.trade_state is TradeState.NOTPAY
    assert order.amount_total == 5000
    assert order.transaction_id is None

    client.close_order(out_trade_no)
    assert client.query_order(out_trade_no).trade_state is TradeState.CLOSED

    paid_no, _ = _order(client, 1)
    fake.pay(paid_no)
    paid = client.query_order(paid_no)
    assert paid.trade_state is TradeState.SUCCESS
    assert paid.amount_total == 1
    assert paid.transaction_id
    assert paid.success_time is not None
    assert paid.success_time.tzinfo is not None
    with pytest.raises(ProviderError) as refused:
        client.close_order(paid_no)
    assert refused.value.code == "provider_refused"
    assert refused.value.details["provider_code"] == "ORDERPAID"


def test_unknown_order_and_wrong_merchant_key_are_refused(
    client: WechatPayClient, fake: FakeWechatPay
) -> None:
    with pytest.raises(ProviderError) as missing:
        client.query_order("NO-SUCH-ORDER")
    assert missing.value.details["provider_code"] == "ORDER_NOT_EXIST"

    other = client.settings.model_copy(update={"cert_serial_no": "0" * 40})
    with pytest.raises(ProviderError) as unsigned:
        WechatPayClient(other).query_order("NO-SUCH-ORDER")
    assert unsigned.value.details["provider_code"] == "SIGN_ERROR"


def test_badly_signed_replies_are_refused(client: WechatPayClient, fake: FakeWechatPay) -> None:
    fake.state.sign_replies_badly = True
    try:
        with pytest.raises(SignatureInvalid) as caught:
            _order(client)
    finally:
        fake.state.sign_replies_badly = False
    assert caught.value.code == "reply_signature_invalid"


def test_notification_verified_and_decrypted(client: WechatPayClient, fake: FakeWechatPay) -> None:
    out_trade_no, _ = _order(client, 20000)
    sent = fake.pay(out_trade_no)
    notification = client.parse_notification(sent.headers, sent.body)
    assert notification.notification_id == sent.notification_id
    assert notification.event_type == "TRANSACTION.SUCCESS"
    assert notification.out_trade_no == out_trade_no
    assert notification.trade_state is TradeState.SUCCESS
    assert notification.amount_total == 20000
    assert notification.transaction.app_id == client.settings.app_id
    assert notification.transaction.mch_id == client.settings.mch_id
    assert notification.transaction_id == fake.order(out_trade_no).transaction_id
    # Header names in any case (Starlette lower-cases them).
    lowered = {key.lower(): value for key, value in sent.headers.items()}
    assert client.parse_notification(lowered, sent.body.decode()) == notification
    # A wrong amount is still a genuine notification: the caller compares it with the order.
    assert client.parse_notification(*_parts(fake.notification(out_trade_no, amount_fen=1))).amount_total == 1


def _parts(sent: Any) -> tuple[dict[str, str], bytes]:
    return sent.headers, sent.body


@pytest.mark.parametrize(
    ("variant", "code"),
    [
        ({"tamper": True}, "signature_invalid"),
        ({"wrong_key": True}, "signature_invalid"),
        ({"signtest": True}, "signature_probe"),
        ({"timestamp": int(time.time()) - 301}, "timestamp_expired"),
        ({"timestamp": int(time.time()) + 3600}, "timestamp_expired"),
        ({"wrong_apiv3_key": True}, "decrypt_failed"),
    ],
)
def test_bad_notifications_are_refused(
    client: WechatPayClient, fake: FakeWechatPay, variant: dict[str, Any], code: str
) -> None:
    out_trade_no, _ = _order(client)
    fake.pay(out_trade_no)
    sent = fake.notification(out_trade_no, **variant)
    with pytest.raises(SignatureInvalid) as caught:
        client.parse_notification(sent.headers, sent.body)
    assert caught.value.code == code
    assert caught.value.message  # Chinese, for the logs


def test_notification_from_another_serial_or_without_headers(
    client: WechatPayClient, fake: FakeWechatPay
) -> None:
    out_trade_no, _ = _order(client)
    sent = fake.pay(out_trade_no)
    with pytest.raises(SignatureInvalid) as serial:
        client.parse_notification({**sent.headers, "Wechatpay-Serial": "PUB_KEY_ID_OTHER"}, sent.body)
    assert serial.value.code == "unknown_serial"
    with pytest.raises(SignatureInvalid) as bare:
        client.parse_notification({"Wechatpay-Serial": client.settings.public_key_id}, sent.body)
    assert bare.value.code == "signature_invalid"


class _Receiver(ThreadingHTTPServer):
    """A minimal notify endpoint: 204 when the notification verifies, 401 otherwise."""

    daemon_threads = True

    def __init__(self, client: WechatPayClient) -> None:
        outer = self
        self.received: list[WechatNotification] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    outer.received.append(client.parse_notification(dict(self.headers.items()), body))
                    self.send_response(204)
                except SignatureInvalid:
                    self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(("127.0.0.1", 0), Handler)


def test_notifications_over_http_with_duplicates_and_replay(
    client: WechatPayClient, fake: FakeWechatPay
) -> None:
    receiver = _Receiver(client)
    thread = threading.Thread(target=receiver.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/pay/wx"
    try:
        out_trade_no, _ = _order(client)
        sent = fake.pay(out_trade_no)
        assert fake.send(url, sent, times=2) == [204, 204]  # duplicates: same notification id twice
        assert fake.send(url, sent) == [204]  # a replay inside the window verifies too: dedupe on the id
        assert {n.notification_id for n in receiver.received} == {sent.notification_id}
        assert fake.send(url, fake.notification(out_trade_no, tamper=True)) == [401]
    finally:
        receiver.shutdown()
        receiver.server_close()
        thread.join(timeout=5)


def test_amounts_must_be_positive_fen(client: WechatPayClient) -> None:
    for amount in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="fen"):
            client.create_jsapi_order(
                out_trade_no="FINE-BAD-AMOUNT",
                description="城管罚款",
                amount_fen=amount,  # type: ignore[arg-type]
                openid="o-citizen-1",
                time_expire=utcnow(),
            )


# -- refunds -------------------------------------------------------------------------------------


def _paid(client: WechatPayClient, fake: FakeWechatPay, amount_fen: int = 20000) -> str:
    out_trade_no, _ = _order(client, amount_fen)
    fake.pay(out_trade_no)
    return out_trade_no


def test_refund_is_processing_then_queried_and_keyed_on_out_refund_no(
    client: WechatPayClient, fake: FakeWechatPay
) -> None:
    out_trade_no = _paid(client, fake, 20000)
    out_refund_no = f"RF{time.time_ns()}"
    refund = client.refund(
        out_trade_no=out_trade_no,
        out_refund_no=out_refund_no,
        amount_fen=20000,
        total_fen=20000,
        reason="决定撤销",
    )
    assert refund.status is WechatRefundStatus.PROCESSING
    assert (refund.out_refund_no, refund.out_trade_no) == (out_refund_no, out_trade_no)
    assert (refund.refund_fen, refund.total_fen) == (20000, 20000)
    assert refund.refund_id
    sent = fake.refund(out_refund_no)
    assert sent.request["reason"] == "决定撤销"
    assert sent.notify_url == "https://zhcg.example/pay/wx/refund"  # the payment notify URL + /refund
    # Sending it again (a retried job) answers the same refund; nothing is refunded twice.
    again = client.refund(
        out_trade_no=out_trade_no,
        out_refund_no=out_refund_no,
        amount_fen=20000,
        total_fen=20000,
        reason="决定撤销",
    )
    assert again.refund_id == refund.refund_id
    assert len([r for r in fake.state.refunds.values() if r.out_trade_no == out_trade_no]) == 1

    fake.finish_refund(out_refund_no, send=False)
    done = client.query_refund(out_refund_no)
    assert done.status is WechatRefundStatus.SUCCESS
    assert done.success_time is not None
    assert done.success_time.tzinfo is not None
    assert client.query_order(out_trade_no).trade_state is TradeState.REFUND


def test_refund_refusals(client: WechatPayClient, fake: FakeWechatPay) -> None:
    unpaid, _ = _order(client, 100)
    with pytest.raises(ProviderError) as not_paid:
        client.refund(
            out_trade_no=unpaid, out_refund_no=f"RF{time.time_ns()}", amount_fen=100, total_fen=100, reason=""
        )
    assert not_paid.value.code == "provider_refused"
    assert not_paid.value.details["provider_code"] == "INVALID_REQUEST"
    with pytest.raises(ProviderError) as missing:
        client.refund(
            out_trade_no="NO-SUCH", out_refund_no=f"RF{time.time_ns()}", amount_fen=1, total_fen=1, reason=""
        )
    assert missing.value.details["provider_code"] == "RESOURCE_NOT_EXISTS"
    paid = _paid(client, fake, 300)
    with pytest.raises(ProviderError) as too_much:
        client.refund(
            out_trade_no=paid, out_refund_no=f"RF{time.time_ns()}", amount_fen=400, total_fen=300, reason=""
        )
    assert too_much.value.details["provider_code"] == "PARAM_ERROR"
    fake.state.refund_refusal = (403, "NOT_ENOUGH", "基本账户余额不足")
    try:
        with pytest.raises(ProviderError) as poor:
            client.refund(
                out_trade_no=paid,
                out_refund_no=f"RF{time.time_ns()}",
                amount_fen=300,
                total_fen=300,
                reason="",
            )
    finally:
        fake.state.refund_refusal = None
    assert poor.value.details["provider_code"] == "NOT_ENOUGH"
    with pytest.raises(ProviderError) as unknown:
        client.query_refund("RF-NO-SUCH")
    assert unknown.value.details["provider_code"] == "RESOURCE_NOT_EXISTS"


def _refund(client: WechatPayClient, fake: FakeWechatPay, amount_fen: int = 5000) -> str:
    out_trade_no = _paid(client, fake, amount_fen)
    out_refund_no = f"RF{time.time_ns()}"
    client.refund(
        out_trade_no=out_trade_no,
        out_refund_no=out_refund_no,
        amount_fen=amount_fen,
        total_fen=amount_fen,
        reason="退",
    )
    return out_refund_no


@pytest.mark.parametrize("status", ["SUCCESS", "ABNORMAL", "CLOSED"])
def test_refund_notification_verified_and_decrypted(
    client: WechatPayClient, fake: FakeWechatPay, status: str
) -> None:
    out_refund_no = _refund(client, fake)
    sent = fake.finish_refund(out_refund_no, status=status, send=False)
    notification = client.parse_refund_notification(sent.headers, sent.body)
    assert notification.notification_id == sent.notification_id
    assert notification.event_type == f"REFUND.{status}"
    assert notification.refund.status is WechatRefundStatus(status)
    assert notification.refund.out_refund_no == out_refund_no
    assert notification.refund.refund_fen == 5000
    assert (notification.refund.success_time is not None) is (status == "SUCCESS")
    # A payment notification is not a refund notification and the other way round.
    with pytest.raises(SignatureInvalid):
        client.parse_notification(sent.headers, sent.body)


@pytest.mark.parametrize(
    ("variant", "code"),
    [
        ({"tamper": True}, "signature_invalid"),
        ({"wrong_key": True}, "signature_invalid"),
        ({"signtest": True}, "signature_probe"),
        ({"timestamp": int(time.time()) - 301}, "timestamp_expired"),
        ({"wrong_apiv3_key": True}, "decrypt_failed"),
        ({"mch_id": "1900000000"}, "bad_notification"),
    ],
)
def test_bad_refund_notifications_are_refused(
    client: WechatPayClient, fake: FakeWechatPay, variant: dict[str, Any], code: str
) -> None:
    out_refund_no = _refund(client, fake)
    fake.finish_refund(out_refund_no, send=False)
    sent = fake.refund_notification(out_refund_no, **variant)
    with pytest.raises(SignatureInvalid) as caught:
        client.parse_refund_notification(sent.headers, sent.body)
    assert caught.value.code == code
    payment = fake.notification(fake.refund(out_refund_no).out_trade_no)
    with pytest.raises(SignatureInvalid) as not_refund:
        client.parse_refund_notification(payment.headers, payment.body)
    assert not_refund.value.code == "bad_notification"


# -- bills ---------------------------------------------------------------------------------------


def test_trade_bill_is_downloaded_hash_checked_and_lists_trades_and_refunds(
    client: WechatPayClient, fake: FakeWechatPay
) -> None:
    with running_fake_wechatpay() as own:  # a fresh merchant: the bill holds only this test's rows
        own_client = WechatPayClient(
            own.settings_for(get_settings(), notify_url="https://zhcg.example/wx").wechatpay
        )
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
        assert own_client.trade_bill(today) == ""  # no trade yet: WeChat Pay has no bill
        paid = _paid(own_client, own, 20010)
        refunded = _paid(own_client, own, 300)
        own_client.refund(
            out_trade_no=refunded, out_refund_no="RF-BILL-1", amount_fen=300, total_fen=300, reason="x"
        )
        own.finish_refund("RF-BILL-1", send=False)
        stray = own.add_bill_trade(amount_fen=999)
        own.bill_amount(paid, 20000)

        text = own_client.trade_bill(today)
        assert text == own.bill_text(today)
        lines = text.splitlines()
        assert lines[0].startswith("交易时间,公众账号ID,商户号,特约商户号")
        rows = [[field.removeprefix("`") for field in line.split(",")] for line in lines[1:5]]
        assert all(field.startswith("`") for field in lines[1].split(","))
        by_no = {(row[6], row[9]): row for row in rows}
        assert by_no[(paid, "SUCCESS")][12] == "200.00"  # billed with the changed amount
        assert by_no[(refunded, "REFUND")][15:17] == ["RF-BILL-1", "3.00"]
        assert by_no[(stray.out_trade_no, "SUCCESS")][12] == "9.99"
        assert len(rows) == 4  # two payments, one refund, one stray trade
        assert lines[5].startswith("总交易单数,")
        assert lines[6].split(",")[:3] == ["`4", "`212.99", "`3.00"]
        assert own_client.trade_bill(today - timedelta(days=1)) == ""

        own.state.corrupt_bill_download = True
        with pytest.raises(ProviderError) as corrupt:
            own_client.trade_bill(today)
        assert corrupt.value.code == "bill_hash_mismatch"


def test_sandbox_cashier_pays_and_notifies(client: WechatPayClient, fake: FakeWechatPay) -> None:
    receiver = _Receiver(client)
    thread = threading.Thread(target=receiver.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        out_trade_no = f"FINE{time.time_ns()}"
        client.create_jsapi_order(
            out_trade_no=out_trade_no,
            description="城管罚款",
            amount_fen=20000,
            openid="o-citizen-1",
            time_expire=utcnow() + timedelta(minutes=30),
            notify_url=f"http://127.0.0.1:{receiver.server_address[1]}/pay/wx",
        )
        page = httpx.get(fake.cashier_url, params={"out_trade_no": out_trade_no})
        assert page.status_code == 200
        assert "确认支付（模拟）" in page.text
        assert "200.00" in page.text
        paid = httpx.post(fake.cashier_url, data={"out_trade_no": out_trade_no})
        assert "支付成功" in paid.text
        assert [n.out_trade_no for n in receiver.received] == [out_trade_no]
        assert httpx.post(fake.cashier_url, data={"out_trade_no": out_trade_no}).status_code == 409
    finally:
        receiver.shutdown()
        receiver.server_close()
        thread.join(timeout=5)


def test_a_body_that_is_not_utf8_is_a_bad_notification(client: WechatPayClient, fake: FakeWechatPay) -> None:
    out_trade_no, _ = _order(client, 100)
    sent = fake.notification(out_trade_no)
    garbage = sent.body[:-2] + b"\xff\xfe"
    with pytest.raises(SignatureInvalid) as payment:
        client.parse_notification(sent.headers, garbage)
    with pytest.raises(SignatureInvalid) as refund:
        client.parse_refund_notification(sent.headers, garbage)
    assert payment.value.code == refund.value.code == "bad_notification"


def test_times_without_a_zone_are_beijing_time(client: WechatPayClient, fake: FakeWechatPay) -> None:
    out_trade_no, _ = _order(client, 100)
    fake.pay(out_trade_no)
    with fake.state.lock:
        fake.state.orders[out_trade_no].success_time = "2026-03-05T23:59:58"
    paid = client.query_order(out_trade_no)
    assert paid.success_time == datetime(2026, 3, 5, 23, 59, 58, tzinfo=ZoneInfo("Asia/Shanghai"))
    with fake.state.lock:
        fake.state.orders[out_trade_no].success_time = "2026-03-05T15:59:58+00:00"
    assert client.query_order(out_trade_no).success_time == paid.success_time  # an offset is kept
