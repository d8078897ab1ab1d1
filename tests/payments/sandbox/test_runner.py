"""The demo's payment sandbox: both fake gateways start on free local ports, the settings point the
production adapters at them (keys written to the key dir, notifications to our own notify URLs), the
adapters' calls are answered, and it is refused in production."""

from __future__ import annotations

import stat
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from core.cli.serve import start_payment_sandbox
from core.kit.clock import utcnow
from core.settings import Environment, Settings, get_settings
from payments.alipay import AlipayClient, TradeStatus
from payments.sandbox.runner import Sandbox, SandboxForbidden, install, start_sandbox
from payments.wechatpay import TradeState, WechatPayClient


class Receiver(ThreadingHTTPServer):
    """Stands in for our notify endpoints: records what the gateways POST and acknowledges it."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.received: list[tuple[str, bytes]] = []

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append((self.path, body))
        answer = b"success" if self.path.endswith("/alipay") else b""
        self.send_response(200 if answer else 204)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def sandbox(tmp_path: Path, receiver: Receiver) -> Iterator[Sandbox]:
    running = start_sandbox(get_settings(), key_dir=tmp_path / "keys", notify_base=receiver.base)
    try:
        yield running
    finally:
        running.close()


def test_notifications_go_to_the_app_by_default(tmp_path: Path) -> None:
    running = start_sandbox(get_settings(), key_dir=tmp_path)
    try:
        base = get_settings().app.base_url.rstrip("/")
        assert running.settings.wechatpay.notify_url == f"{base}/api/v1/payments/notify/wechat"
        assert running.settings.alipay.notify_url == f"{base}/api/v1/payments/notify/alipay"
    finally:
        running.close()


def test_settings_point_at_the_fakes(sandbox: Sandbox, receiver: Receiver, tmp_path: Path) -> None:
    settings = sandbox.settings
    base = receiver.base
    assert settings.wechatpay.api_base == sandbox.wechatpay.api_base
    assert settings.wechatpay.api_base.startswith("http://127.0.0.1:")
    assert settings.wechatpay.notify_url == f"{base}/api/v1/payments/notify/wechat"  # the receiver
    assert settings.alipay.gateway == sandbox.alipay.gateway
    assert settings.alipay.notify_url == f"{base}/api/v1/payments/notify/alipay"
    assert settings.alipay.seller_id == sandbox.alipay.seller_id
    keys = [
        settings.wechatpay.private_key_path,
        settings.wechatpay.public_key_path,
        settings.alipay.private_key_path,
        settings.alipay.alipay_public_key_path,
    ]
    for key in keys:
        assert key is not None
        assert key.parent == tmp_path / "keys"
        assert key.read_text().startswith("-----BEGIN")
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert get_settings().alipay.gateway != sandbox.alipay.gateway  # the process settings are untouched
    assert any("支付沙箱" in line for line in sandbox.describe())


def test_alipay_h5_through_the_cashier_to_a_signed_notification(sandbox: Sandbox, receiver: Receiver) -> None:
    client = AlipayClient(sandbox.settings.alipay)
    pay_url = client.wap_pay_url(out_trade_no="SBX0001", subject="罚款 DEMO-2026-001", amount_fen=20_000)
    assert pay_url.startswith(sandbox.alipay.gateway)

    cashier = httpx.get(pay_url, timeout=10, follow_redirects=True)  # the H5 page opens the cashier
    assert cashier.status_code == 200
    assert "20000" not in cashier.text
    assert "200.00" in cashier.text
    assert client.query_order("SBX0001").trade_status is TradeStatus.WAIT_BUYER_PAY

    paid = httpx.post(str(cashier.url), data={"out_trade_no": "SBX0001"}, timeout=30)
    assert paid.status_code == 200
    assert "支付成功" in paid.text
    trade = client.query_order("SBX0001")
    assert (trade.trade_status, trade.total_amount) == (TradeStatus.TRADE_SUCCESS, 20_000)
    [(path, body)] = receiver.received
    assert path == "/api/v1/payments/notify/alipay"
    form = dict(parse_qsl(body.decode()))
    assert (form["out_trade_no"], form["trade_status"], form["total_amount"]) == (
        "SBX0001",
        "TRADE_SUCCESS",
        "200.00",
    )
    assert client.parse_notification(form).out_trade_no == "SBX0001"  # signed with the sandbox's key


def test_the_wechatpay_gateway_answers_the_adapter(sandbox: Sandbox, receiver: Receiver) -> None:
    client = WechatPayClient(sandbox.settings.wechatpay)
    prepay_id = client.create_jsapi_order(
        out_trade_no="SBX0002",
        description="罚款 DEMO-2026-001",
        amount_fen=20_000,
        openid="o-demo-openid",
        time_expire=utcnow() + timedelta(minutes=30),
    )
    assert prepay_id
    assert client.query_order("SBX0002").trade_state is TradeState.NOTPAY
    cashier = f"{sandbox.wechatpay.cashier_url}?out_trade_no=SBX0002"
    assert "200.00" in httpx.get(cashier, timeout=10).text
    paid = httpx.post(sandbox.wechatpay.cashier_url, data={"out_trade_no": "SBX0002"}, timeout=30)
    assert "支付成功" in paid.text
    assert client.query_order("SBX0002").trade_state is TradeState.SUCCESS
    assert [path for path, _ in receiver.received] == ["/api/v1/payments/notify/wechat"]


def test_closing_stops_both_gateways(tmp_path: Path) -> None:
    running = start_sandbox(get_settings(), key_dir=tmp_path)
    urls = [running.wechatpay.api_base, running.alipay.gateway]
    running.close()
    running.close()  # idempotent
    for url in urls:
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=10)


def test_install_points_the_given_settings_at_the_fakes(tmp_path: Path) -> None:
    settings = get_settings().model_copy(deep=True)
    running = install(settings, key_dir=tmp_path)
    try:
        assert settings.alipay.gateway == running.alipay.gateway
        assert settings.wechatpay.api_base == running.wechatpay.api_base
        assert settings.alipay.private_key_path == tmp_path / "alipay_app_private_key.pem"
    finally:
        running.close()


def production(settings: Settings) -> Settings:
    return settings.model_copy(update={"environment": Environment.PRODUCTION})


def test_refused_in_production(tmp_path: Path) -> None:
    with pytest.raises(SandboxForbidden):
        start_sandbox(production(get_settings()), key_dir=tmp_path)
    assert not tmp_path.joinpath("alipay_public_key.pem").exists()
    flagged = production(get_settings())
    flagged.payments = flagged.payments.model_copy(update={"sandbox": True})
    with pytest.raises(RuntimeError, match="production"):
        start_payment_sandbox(flagged)


def test_serve_starts_nothing_without_the_setting(capsys: pytest.CaptureFixture[str]) -> None:
    settings = get_settings().model_copy(deep=True)
    assert settings.payments.sandbox is False
    start_payment_sandbox(settings)
    assert settings.alipay == get_settings().alipay
    assert capsys.readouterr().out == ""
