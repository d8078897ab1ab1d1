"""Errors of the 12345 exchange, with the stable codes of its protocol (docs/exchange-12345.md)."""

from __future__ import annotations

from core.errors import Conflict, Unauthorized, Unavailable


class SignatureInvalid(Unauthorized):
    def __init__(self) -> None:
        super().__init__("signature_invalid", "签名校验失败")


class TimestampExpired(Unauthorized):
    def __init__(self) -> None:
        super().__init__("timestamp_expired", "请求时间戳超出允许的时间范围")


class NonceReused(Unauthorized):
    def __init__(self) -> None:
        super().__init__("nonce_reused", "请求随机串已使用过")


class OrderConflict(Conflict):
    def __init__(self, order_no: str) -> None:
        super().__init__("order_conflict", f"工单 {order_no} 已接收，且内容与本次请求不同", order_no=order_no)


class ExchangeNotConfigured(Unavailable):
    def __init__(self, what: str) -> None:
        super().__init__("exchange_unavailable", f"12345 工单对接尚未配置（{what}）")
