"""The provider adapters, built from settings once per configuration (building one reads key files).

An unconfigured channel raises ``ProviderError("provider_not_configured")`` (a 503 to the caller).
"""

from __future__ import annotations

import threading

from core.settings import Settings
from payments.alipay import AlipayClient
from payments.wechatpay import WechatPayClient

_lock = threading.Lock()
_wechat: dict[str, WechatPayClient] = {}
_alipay: dict[str, AlipayClient] = {}


def wechatpay_client(settings: Settings) -> WechatPayClient:
    group = settings.wechatpay
    key = group.model_dump_json() + group.apiv3_key.get_secret_value()
    with _lock:
        client = _wechat.get(key)
        if client is None:
            client = _wechat[key] = WechatPayClient(group)
        return client


def alipay_client(settings: Settings) -> AlipayClient:
    key = settings.alipay.model_dump_json()
    with _lock:
        client = _alipay.get(key)
        if client is None:
            client = _alipay[key] = AlipayClient(settings.alipay)
        return client
