"""Payment order errors with stable codes (the API maps them to problems)."""

from __future__ import annotations

from core.errors import Conflict, Invalid, NotFound, Unavailable


class FineAlreadyPaid(Conflict):
    def __init__(self) -> None:
        super().__init__("fine_already_paid", "该罚款已缴纳，无需重复缴纳")


class FineNotPayable(Conflict):
    def __init__(self, status: str) -> None:
        super().__init__("fine_not_payable", "该决定书当前不可缴款", status=status)


class PayerRequired(Invalid):
    """WeChat JSAPI needs the payer's openid; the Alipay mini-program needs the buyer's open id."""

    def __init__(self, channel: str) -> None:
        message = (
            "缺少付款人微信 openid，请在小程序内登录后支付" if channel == "wechat" else "缺少支付宝买家 ID"
        )
        super().__init__("payer_required", message, channel=channel)


class ClientNotSupported(Invalid):
    def __init__(self, channel: str, client: str) -> None:
        super().__init__("client_not_supported", "该支付渠道不支持此客户端", channel=channel, client=client)


class IdempotencyKeyReused(Invalid):
    """The key was used for another decision, channel, client or payer."""

    def __init__(self) -> None:
        super().__init__(
            "idempotency_key_reused", "Idempotency-Key 已用于其他缴款请求，请为新的请求使用新的值"
        )


class PaymentInProgress(Conflict):
    """Another request is creating an order for the same decision and channel right now (or its
    provider call is in flight): retry."""

    def __init__(self) -> None:
        super().__init__("payment_in_progress", "正在为该决定书创建支付订单，请稍后重试", retryable=True)


class PaymentUnavailable(Unavailable):
    """The provider could not place the order; the order is kept closed (and closed at the provider)."""

    def __init__(self, channel: str, reason: str) -> None:
        name = "微信支付" if channel == "wechat" else "支付宝"
        super().__init__(
            "provider_unavailable", f"{name}暂时无法下单，请稍后再试", channel=channel, reason=reason
        )


class PaymentNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("payment_not_found", "未找到该支付订单")
