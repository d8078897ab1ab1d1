"""The payment sandbox of the development demo: ``zhcg serve`` with ``ZHCG_PAYMENTS__SANDBOX=true``
starts the local fake WeChat Pay and Alipay gateways and points the app's channels at them, so a
newcomer can pay a demo fine end to end without a merchant account (docs/demo-payments.md).

- Each gateway is a real HTTP server on a free port of 127.0.0.1, serving from a background thread.
- The key pairs are generated at every start; what the merchant would configure (its private keys and
  the providers' public keys) is written to ``var/sandbox/`` and the settings point there.
- The providers send their notifications to ``{app.base_url}/api/v1/payments/notify/wechat|alipay``.
- Refused in production (``SandboxForbidden``); settings already refuse the flag outside development.
"""

from __future__ import annotations

import atexit
import os
import shutil
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import Forbidden
from core.settings import Environment, Settings
from payments.sandbox.alipay import FakeAlipay, running_fake_alipay
from payments.sandbox.wechatpay import FakeWechatPay, running_fake_wechatpay

DEFAULT_KEY_DIR = Path("var/sandbox")
WECHAT_NOTIFY_PATH = "/api/v1/payments/notify/wechat"
ALIPAY_NOTIFY_PATH = "/api/v1/payments/notify/alipay"


class SandboxForbidden(Forbidden):
    def __init__(self) -> None:
        super().__init__("sandbox_forbidden", "生产环境不允许启动模拟支付网关")


@dataclass
class Sandbox:
    """The running fake gateways and the settings that point at them."""

    wechatpay: FakeWechatPay
    alipay: FakeAlipay
    settings: Settings
    key_dir: Path
    _stack: ExitStack = field(repr=False)
    _closed: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def close(self) -> None:
        """Stop both gateways (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stack.close()

    def describe(self) -> list[str]:
        """What ``zhcg serve`` prints (Chinese, for the person running the demo)."""
        return [
            "支付沙箱已启动（模拟网关，仅供演示，不会产生真实扣款）：",
            f"  微信支付 API v3  {self.wechatpay.api_base}  通知 → {self.settings.wechatpay.notify_url}",
            f"  支付宝网关       {self.alipay.gateway}  通知 → {self.settings.alipay.notify_url}",
            f"  模拟收银台       {self.alipay.cashier_url}?out_trade_no=…（支付宝）",
            f"                   {self.wechatpay.cashier_url}?out_trade_no=…（微信支付）",
            f"  商户密钥目录     {self.key_dir}",
        ]


def _copy_key(source: Path, target: Path) -> Path:
    """Copy a key file into the key dir, readable by the owner only."""
    target.unlink(missing_ok=True)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out, source.open("rb") as data:
        shutil.copyfileobj(data, out)
    return target


def sandbox_settings(
    settings: Settings, *, wechatpay: FakeWechatPay, alipay: FakeAlipay, key_dir: Path, notify_base: str
) -> Settings:
    """A copy of ``settings`` whose channels are the fakes, with the keys copied into ``key_dir``."""
    key_dir.mkdir(parents=True, exist_ok=True)
    base = notify_base.rstrip("/")
    settings = wechatpay.settings_for(settings, notify_url=base + WECHAT_NOTIFY_PATH)
    settings = alipay.settings_for(settings, notify_url=base + ALIPAY_NOTIFY_PATH)
    group_wechat = settings.wechatpay.model_copy(
        update={
            "private_key_path": _copy_key(
                wechatpay.merchant_private_key_path, key_dir / "wechatpay_apiclient_key.pem"
            ),
            "public_key_path": _copy_key(
                wechatpay.platform_public_key_path, key_dir / "wechatpay_pub_key.pem"
            ),
        }
    )
    group_alipay = settings.alipay.model_copy(
        update={
            "private_key_path": _copy_key(
                alipay.app_private_key_path, key_dir / "alipay_app_private_key.pem"
            ),
            "alipay_public_key_path": _copy_key(
                alipay.alipay_public_key_path, key_dir / "alipay_public_key.pem"
            ),
            "seller_id": alipay.seller_id,
        }
    )
    return settings.model_copy(update={"wechatpay": group_wechat, "alipay": group_alipay})


def start_sandbox(
    settings: Settings, *, key_dir: Path = DEFAULT_KEY_DIR, notify_base: str | None = None
) -> Sandbox:
    """Start both fake gateways; the returned ``Sandbox.settings`` point the channels at them and the
    gateways notify ``notify_base`` (default: ``app.base_url``, where ``zhcg serve`` listens)."""
    if settings.environment is Environment.PRODUCTION:
        raise SandboxForbidden()
    stack = ExitStack()
    try:
        wechatpay = stack.enter_context(running_fake_wechatpay())
        alipay = stack.enter_context(running_fake_alipay())
        pointed = sandbox_settings(
            settings,
            wechatpay=wechatpay,
            alipay=alipay,
            key_dir=key_dir,
            notify_base=notify_base or settings.app.base_url,
        )
    except BaseException:
        stack.close()
        raise
    return Sandbox(wechatpay=wechatpay, alipay=alipay, settings=pointed, key_dir=key_dir, _stack=stack)


def install(settings: Settings, *, key_dir: Path = DEFAULT_KEY_DIR) -> Sandbox:
    """For ``zhcg serve``: start the sandbox for the life of the process and point ``settings`` — the
    process-wide instance, so requests, the console and inline jobs all see it — at the fakes."""
    sandbox = start_sandbox(settings, key_dir=key_dir)
    settings.wechatpay = sandbox.settings.wechatpay
    settings.alipay = sandbox.settings.alipay
    atexit.register(sandbox.close)
    return sandbox
