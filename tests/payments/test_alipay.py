"""Alipay adapter against the local fake gateway (payments/sandbox/alipay.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from core.settings import get_settings
from payments.alipay import NOTIFY_ANSWER, AlipayClient, TradeStatus
from payments.providers import ProviderError, SignatureInvalid, fen_to_yuan, yuan_to_fen
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
    page = httpx.get(url)
    assert page.status_code == 200
    assert "支付宝收银台 0.10" in page.text
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
