"""Alipay adapter against the local fake gateway (payments/sandbox/alipay.py)."""

from __future__ import annotations

import csv
import io
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from core.kit.clock import SHANGHAI
from core.settings import get_settings
from payments.alipay import NOTIFY_ANSWER, AlipayClient, TradeStatus, bill_details_text
from payments.providers import ProviderError, SignatureInvalid, fen_to_yuan, provider_time, yuan_to_fen
from payments.sandbox.alipay import FakeAlipay, new_rsa_key, running_fake_alipay


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAlipay]:
    with running_fake_alipay() as running:
        yield running


@pytest.fixture
def client(fake: FakeAlipay) -> AlipayClient:
    return AlipayClient(
        fake.settings_for(get_settings(), notify_url="https://zhcg.example/pay/alipay").alipay
    )


def _mini_order(client: AlipayClient, amount_fen: int = 20000) -> tuple[str, str]:
    out_trade_no = f"FINE{time.time_ns()}"
    trade_no = client.create_mini_order(
        out_trade_no=out_trade_no, subject="城管罚款", amount_fen=amount_fen, buyer_open_id="074a-open-id"
    )
    return out_trade_no, trade_no


def test_mini_program_order_query_and_close(client: AlipayClient, fake: FakeAlipay) -> None:
    out_trade_no, trade_no = _mini_order(client, 20010)
    trade = fake.trade(out_trade_no)
    assert trade.trade_no == trade_no
    assert trade.total_amount == "200.10"
    assert trade.buyer_open_id == "074a-open-id"
    assert trade.notify_url == "https://zhcg.example/pay/alipay"

    queried = client.query_order(out_trade_no)
    assert queried.trade_status is TradeStatus.WAIT_BUYER_PAY
    assert queried.total_amount == 20010
    client.close_order(out_trade_no)
    assert client.query_order(out_trade_no).trade_status is TradeStatus.TRADE_CLOSED

    paid_no, _ = _mini_order(client, 10)
    fake.pay(paid_no)
    assert client.query_order(paid_no).trade_status.paid
    with pytest.raises(ProviderError) as refused:
        client.close_order(paid_no)
    assert refused.value.details["provider_sub_code"] == "ACQ.TRADE_STATUS_ERROR"
    with pytest.raises(ProviderError) as missing:
        client.query_order("NO-SUCH-TRADE")
    assert missing.value.details["provider_sub_code"] == "ACQ.TRADE_NOT_EXIST"


def test_wrong_app_key_is_refused_by_the_gateway(client: AlipayClient, tmp_path: Path) -> None:
    other = new_rsa_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / "other_key.pem"
    path.write_bytes(other)
    wrong = AlipayClient(client.settings.model_copy(update={"private_key_path": path}))
    with pytest.raises(ProviderError) as caught:
        wrong.query_order("ANY")
    assert caught.value.details["provider_sub_code"] == "isv.invalid-signature"


def test_reply_signed_with_another_key_is_refused(
    client: AlipayClient, fake: FakeAlipay, tmp_path: Path
) -> None:
    # Our side trusts the wrong Alipay public key: every reply fails verification.
    path = tmp_path / "other_alipay_public_key.pem"
    key = serialization.load_pem_private_key(fake.app_private_key_path.read_bytes(), password=None)
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    wrong = AlipayClient(client.settings.model_copy(update={"alipay_public_key_path": path}))
    with pytest.raises(SignatureInvalid) as caught:
        _mini_order(wrong)
    assert caught.value.code == "reply_signature_invalid"


def test_wap_pay_url_is_signed_and_opens_the_cashier(client: AlipayClient, fake: FakeAlipay) -> None:
    out_trade_no = f"FINE{time.time_ns()}"
    url = client.wap_pay_url(
        out_trade_no=out_trade_no,
        subject="城管罚款",
        amount_fen=10,
        return_url="https://zhcg.example/h5/paid",
    )
    assert url.startswith(fake.gateway + "?")
    params = dict(parse_qsl(urlsplit(url).query))
    assert params["method"] == "alipay.trade.wap.pay"
    assert fake.verify_request(params)
    assert '"total_amount":"0.10"' in params["biz_content"]
    opened = httpx.get(url)
    assert opened.status_code == 302  # the trade exists now; the browser goes on to the cashier
    assert opened.headers["location"].startswith("/sandbox/cashier?out_trade_no=")
    page = httpx.get(url, follow_redirects=True)
    assert page.status_code == 200
    assert "支付宝收银台 0.10" in page.text
    assert "确认支付（模拟）" in page.text
    fake.pay(out_trade_no)
    assert client.query_order(out_trade_no).total_amount == 10


def test_notification_verified(client: AlipayClient, fake: FakeAlipay) -> None:
    out_trade_no, trade_no = _mini_order(client, 10000)
    form = fake.pay(out_trade_no)
    notification = client.parse_notification(form)
    assert notification.out_trade_no == out_trade_no
    assert notification.trade_no == trade_no
    assert notification.trade_status is TradeStatus.TRADE_SUCCESS
    assert notification.paid
    assert notification.total_amount == 10000
    assert notification.app_id == fake.app_id
    assert notification.seller_id == fake.seller_id
    assert notification.buyer_open_id == "074a-open-id"
    finished = client.parse_notification(fake.notification(out_trade_no, trade_status="TRADE_FINISHED"))
    assert finished.paid  # one order may be notified twice
    # A wrong amount is still genuine: the caller compares it with the order.
    assert client.parse_notification(fake.notification(out_trade_no, total_amount="0.1")).total_amount == 10


@pytest.mark.parametrize(
    ("variant", "code"),
    [({"tamper": True}, "signature_invalid"), ({"wrong_key": True}, "signature_invalid")],
)
def test_bad_notifications_are_refused(
    client: AlipayClient, fake: FakeAlipay, variant: dict[str, bool], code: str
) -> None:
    out_trade_no, _ = _mini_order(client)
    fake.pay(out_trade_no)
    with pytest.raises(SignatureInvalid) as caught:
        client.parse_notification(fake.notification(out_trade_no, **variant))
    assert caught.value.code == code


def test_notification_without_sign_or_with_other_sign_type(client: AlipayClient, fake: FakeAlipay) -> None:
    out_trade_no, _ = _mini_order(client)
    form = fake.pay(out_trade_no)
    with pytest.raises(SignatureInvalid):
        client.parse_notification({k: v for k, v in form.items() if k != "sign"})
    with pytest.raises(SignatureInvalid) as rsa1:
        client.parse_notification({**form, "sign_type": "RSA"})
    assert rsa1.value.code == "unsupported_algorithm"
    with pytest.raises(SignatureInvalid):
        client.parse_notification({**form, "sign": "not base64!"})


@pytest.mark.parametrize(
    ("yuan", "fen"),
    [("0.10", 10), ("0.1", 10), ("100.00", 10000), ("100", 10000), ("0.01", 1), ("12345.67", 1234567)],
)
def test_amounts_parse_to_fen_exactly(yuan: str, fen: int) -> None:
    assert yuan_to_fen(yuan) == fen


@pytest.mark.parametrize("yuan", ["0.001", "abc", "", "-1.00", "NaN", "Infinity"])
def test_bad_amounts_are_refused(yuan: str) -> None:
    with pytest.raises(ValueError, match=r"yuan|fen"):
        yuan_to_fen(yuan)


def test_fen_to_yuan() -> None:
    assert [fen_to_yuan(f) for f in (1, 10, 100, 20010)] == ["0.01", "0.10", "1.00", "200.10"]
    with pytest.raises(ValueError, match="fen"):
        fen_to_yuan(0)


def test_notify_answer_is_the_literal_success() -> None:
    assert NOTIFY_ANSWER == "success"


# -- refunds -------------------------------------------------------------------------------------


def test_refund_is_synchronous_and_keyed_on_the_request_number(
    client: AlipayClient, fake: FakeAlipay
) -> None:
    out_trade_no, trade_no = _mini_order(client, 20010)
    fake.pay(out_trade_no)
    request_no = f"RF{time.time_ns()}"
    assert not client.query_refund(out_trade_no, request_no).refunded  # nothing yet

    refund = client.refund(
        out_trade_no=out_trade_no, out_request_no=request_no, amount_fen=20010, reason="决定撤销"
    )
    assert refund.fund_change
    assert refund.trade_no == trade_no
    assert refund.refunded_total_fen == 20010
    assert refund.gmt_refund_pay is not None
    assert fake.refund(out_trade_no, request_no).refund_amount == "200.10"
    assert fake.refund(out_trade_no, request_no).reason == "决定撤销"

    again = client.refund(
        out_trade_no=out_trade_no, out_request_no=request_no, amount_fen=20010, reason="决定撤销"
    )
    assert not again.fund_change  # a retry moves no money
    assert again.refunded_total_fen == 20010
    queried = client.query_refund(out_trade_no, request_no)
    assert queried.refunded
    assert queried.refund_fen == 20010
    assert queried.gmt_refund_pay is not None
    assert client.query_order(out_trade_no).trade_status is TradeStatus.TRADE_CLOSED  # fully refunded

    with pytest.raises(ProviderError) as more:
        client.refund(
            out_trade_no=out_trade_no, out_request_no=f"RF{time.time_ns()}", amount_fen=1, reason=""
        )
    assert more.value.details["provider_sub_code"] == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"


def test_refund_refusals(client: AlipayClient, fake: FakeAlipay) -> None:
    unpaid, _ = _mini_order(client, 100)
    with pytest.raises(ProviderError) as not_paid:
        client.refund(out_trade_no=unpaid, out_request_no="RF-1", amount_fen=100, reason="")
    assert not_paid.value.details["provider_sub_code"] == "ACQ.TRADE_STATUS_ERROR"
    with pytest.raises(ProviderError) as missing:
        client.refund(out_trade_no="NO-SUCH", out_request_no="RF-1", amount_fen=100, reason="")
    assert missing.value.details["provider_sub_code"] == "ACQ.TRADE_NOT_EXIST"
    fake.pay(unpaid)
    fake.state.refund_refusal = "ACQ.SELLER_BALANCE_NOT_ENOUGH"
    try:
        with pytest.raises(ProviderError) as poor:
            client.refund(out_trade_no=unpaid, out_request_no="RF-1", amount_fen=100, reason="")
    finally:
        fake.state.refund_refusal = None
    assert poor.value.code == "provider_refused"
    assert poor.value.details["provider_sub_code"] == "ACQ.SELLER_BALANCE_NOT_ENOUGH"


# -- bills ---------------------------------------------------------------------------------------


def test_bill_zip_holds_the_gbk_details_of_the_day() -> None:
    with running_fake_alipay() as own:  # a fresh merchant: the bill holds only this test's rows
        client = AlipayClient(own.settings_for(get_settings(), notify_url="https://zhcg.example/ali").alipay)
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
        paid, paid_trade_no = _mini_order(client, 20010)
        own.pay(paid)
        refunded, _ = _mini_order(client, 300)
        own.pay(refunded)
        client.refund(out_trade_no=refunded, out_request_no="RF-BILL-1", amount_fen=300, reason="撤销")
        stray = own.add_bill_trade(amount_fen=999)
        own.bill_amount(paid, 20000)
        _mini_order(client, 500)  # unpaid: not in the bill

        archive = client.bill(today)
        with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
            raw_names = [info.filename for info in bundle.infolist()]
            assert all(
                info.flag_bits & 0x800 == 0 for info in bundle.infolist()
            )  # names in GBK, no UTF-8 flag
        assert any(name.encode("cp437").decode("gbk").endswith("_业务明细.csv") for name in raw_names)
        text = bill_details_text(archive)
        lines = text.splitlines()
        assert lines[:-1] == own.bill_text(today).splitlines()[:-1]  # all but the export time
        assert lines[0] == "#支付宝业务明细查询"
        header = next(i for i, line in enumerate(lines) if line.startswith("支付宝交易号,"))
        body = [line for line in lines[header + 1 :] if not line.startswith("#")]
        rows = [
            dict(zip(lines[header].split(","), (f.strip() for f in r), strict=True)) for r in csv.reader(body)
        ]
        assert len(rows) == 4  # two payments, one refund, one stray trade
        by_key = {(row["商户订单号"], row["业务类型"]): row for row in rows}
        assert by_key[(paid, "交易")]["支付宝交易号"] == paid_trade_no
        assert by_key[(paid, "交易")]["商家实收（元）"] == "200.00"  # billed with the changed amount
        assert by_key[(refunded, "退款")]["商家实收（元）"] == "-3.00"
        assert by_key[(refunded, "退款")]["退款批次号/请求号"] == "RF-BILL-1"
        assert by_key[(stray.out_trade_no, "交易")]["订单金额（元）"] == "9.99"
        assert lines[-1].startswith("#导出时间")
        assert "\t," in body[0]  # trade numbers end with a tab, as Alipay writes them

        empty = bill_details_text(client.bill(today - timedelta(days=1)))
        assert [line for line in empty.splitlines() if not line.startswith("#")] == [lines[header]]
        with pytest.raises(ProviderError) as future:
            client.bill(today + timedelta(days=2))
        assert future.value.details["provider_sub_code"] == "isp.bill_not_exist"


def test_sandbox_cashier_pays_and_notifies(fake: FakeAlipay, client: AlipayClient) -> None:
    received: list[dict[str, str]] = []

    class Receiver(ThreadingHTTPServer):
        daemon_threads = True

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            received.append(dict(parse_qsl(body)))
            answer = NOTIFY_ANSWER.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    receiver = Receiver(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=receiver.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        notify = f"http://127.0.0.1:{receiver.server_address[1]}/notify"
        out_trade_no = f"FINE{time.time_ns()}"
        url = client.wap_pay_url(
            out_trade_no=out_trade_no, subject="城管罚款", amount_fen=5000, notify_url=notify
        )
        page = httpx.get(url, follow_redirects=True)
        assert "50.00" in page.text
        paid = httpx.post(fake.cashier_url, data={"out_trade_no": out_trade_no})
        assert paid.status_code == 200
        assert "支付成功" in paid.text
        assert client.parse_notification(received[0]).paid
        assert httpx.post(fake.cashier_url, data={"out_trade_no": out_trade_no}).status_code == 409
    finally:
        receiver.shutdown()
        receiver.server_close()
        thread.join(timeout=5)


def test_query_answers_when_the_buyer_paid(client: AlipayClient, fake: FakeAlipay) -> None:
    out_trade_no, _ = _mini_order(client, 20000)
    assert client.query_order(out_trade_no).send_pay_date is None  # not paid yet
    fake.pay(out_trade_no)
    with fake.state.lock:  # a payment just before midnight, Beijing time
        fake.state.trades[out_trade_no].gmt_payment = "2026-11-20 23:59:58"
    trade = client.query_order(out_trade_no)
    assert trade.trade_status.paid
    assert trade.send_pay_date == datetime(2026, 11, 20, 23, 59, 58, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert trade.send_pay_date is not None
    assert trade.send_pay_date.utcoffset() == timedelta(hours=8)
    assert trade.send_pay_date.astimezone(ZoneInfo("UTC")) == datetime(
        2026, 11, 20, 15, 59, 58, tzinfo=ZoneInfo("UTC")
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-05 23:59:58", datetime(2026, 3, 5, 23, 59, 58, tzinfo=SHANGHAI)),
        ("2026-03-05T23:59:58", datetime(2026, 3, 5, 23, 59, 58, tzinfo=SHANGHAI)),
        ("2026-03-05T23:59:58+08:00", datetime(2026, 3, 5, 15, 59, 58, tzinfo=UTC)),
        (" 2026-03-05T15:59:58Z ", datetime(2026, 3, 5, 15, 59, 58, tzinfo=UTC)),
    ],
)
def test_provider_times_are_zone_aware_and_zoneless_means_beijing(text: str, expected: datetime) -> None:
    parsed = provider_time(text)
    assert parsed.tzinfo is not None
    assert parsed == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01 00:00:00"])
def test_unreadable_provider_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"isoformat|month"):
        provider_time(text)
