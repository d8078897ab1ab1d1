"""What the local payment-provider fakes share (``payments.sandbox.wechatpay``, ``payments.sandbox.alipay``):
RSA keys and SHA256-RSA signatures, amounts in yuan, the quiet HTTP handler plumbing, the sandbox
cashier (page and payment), and serving a fake on 127.0.0.1 from a daemon thread."""

from __future__ import annotations

import base64
import html
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SHANGHAI = ZoneInfo("Asia/Shanghai")
BILL_TOKEN_TTL_S = 300
FEE_RATE = Decimal("0.006")
HTML = "text/html; charset=utf-8"
CASHIER_PATH = "/sandbox/cashier"


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def rsa_sign(key: rsa.RSAPrivateKey, message: str) -> str:
    """SHA256 with RSA (PKCS#1 v1.5), base64: WeChat Pay's signature and Alipay's RSA2."""
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature), message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


# -- sandbox cashier --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CashierView:
    out_trade_no: str
    subject: str
    amount_yuan: str
    payable: bool


def cashier_html(title: str, view: CashierView | None) -> str:
    """The sandbox cashier page: order, amount, a button that pays (only in the demo)."""
    if view is None:
        return cashier_result("订单不存在")
    out_trade_no = html.escape(view.out_trade_no)
    button = (
        f'<form method="post" action="/sandbox/cashier"><input type="hidden" name="out_trade_no" '
        f'value="{out_trade_no}"><button type="submit">确认支付（模拟）</button></form>'
        if view.payable
        else "<p>该订单已支付或已关闭</p>"
    )
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width,initial-scale=1"><title>{title}（沙箱）</title></head><body>'
        f"<h1>{title}（沙箱）</h1><p>{html.escape(view.subject)}</p><p>订单号：{out_trade_no}</p>"
        f"<p>{title} {html.escape(view.amount_yuan)}</p><p>金额：¥{html.escape(view.amount_yuan)}</p>"
        f"{button}<p>本页面为本地模拟，不会产生真实扣款。</p></body></html>"
    )


def cashier_result(message: str) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>沙箱收银台</title></head>'
        f"<body><p>{html.escape(message)}</p></body></html>"
    )


# -- HTTP -------------------------------------------------------------------------------------------


class SandboxHandler(BaseHTTPRequestHandler):
    """Quiet request handling shared by the fakes, and their sandbox cashier: a subclass names the
    cashier (``cashier_title``) and answers ``cashier_view`` and ``cashier_settle``."""

    cashier_title = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    def _raw(self, status: int, data: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> str:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()

    def cashier_view(self, out_trade_no: str) -> CashierView | None:
        raise NotImplementedError

    def cashier_settle(self, out_trade_no: str) -> bool | None:
        """Pay the order and notify the merchant: whether the merchant acknowledged the notification;
        None when there is no such order or it cannot be paid."""
        raise NotImplementedError

    def _cashier_page(self, query: dict[str, str]) -> None:
        view = self.cashier_view(query.get("out_trade_no", ""))
        self._raw(200, cashier_html(self.cashier_title, view).encode(), HTML)

    def _cashier_pay(self, form: dict[str, str]) -> None:
        acknowledged = self.cashier_settle(form.get("out_trade_no", ""))
        if acknowledged is None:
            self._raw(409, cashier_result("该订单不存在或不可支付").encode(), HTML)
            return
        message = "支付成功" if acknowledged else "已支付，但商户未确认通知"
        self._raw(200, cashier_result(message).encode(), HTML)


@contextmanager
def serving(server: ThreadingHTTPServer, name: str) -> Iterator[Path]:
    """Serve ``server`` from a daemon thread named ``name``; yields a temporary directory for the key
    files the merchant would configure. The server is shut down on exit."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True)
    thread.start()
    try:
        with tempfile.TemporaryDirectory(prefix=f"{name}-") as key_dir:
            yield Path(key_dir)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
