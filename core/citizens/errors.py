"""Citizen login errors with stable codes."""

from __future__ import annotations

from core.errors import Conflict, Forbidden, Invalid, RateLimited, Unauthorized, Unavailable


class InvalidPhone(Invalid):
    def __init__(self) -> None:
        super().__init__("invalid_phone", "请输入正确的 11 位手机号码")


class SmsRateLimited(RateLimited):
    def __init__(self, retry_after: int, reason: str) -> None:
        super().__init__(
            "sms_rate_limited",
            f"验证码发送过于频繁，请 {format_wait(retry_after)}后再试",
            retry_after=retry_after,
            reason=reason,
        )


class SmsUnavailable(Unavailable):
    def __init__(self) -> None:
        super().__init__("sms_unavailable", "短信服务暂时不可用，请稍后再试")


class SmsRecipientRefused(Invalid):
    """The gateway refused the number (e.g. not a mobile in service)."""

    def __init__(self) -> None:
        super().__init__("invalid_phone", "该号码无法接收短信，请确认手机号码是否正确")


class CodeRejected(Unauthorized):
    """A login code was not accepted.

    The try may have been counted on the code row (``SmsCode.attempts``) before this is raised: the
    entry point must commit its unit of work before answering, or the count would be rolled back and
    the attempt limit would not hold.
    """


class CodeInvalid(CodeRejected):
    def __init__(self, remaining_attempts: int | None = None) -> None:
        details = {} if remaining_attempts is None else {"remaining_attempts": remaining_attempts}
        super().__init__("sms_code_invalid", "验证码错误或已失效，请重新输入", **details)


class CodeExpired(CodeRejected):
    def __init__(self) -> None:
        super().__init__("sms_code_expired", "验证码已过期，请重新获取")


class CodeAttemptsExceeded(CodeRejected):
    def __init__(self) -> None:
        super().__init__("sms_code_attempts_exceeded", "验证码输错次数过多，请重新获取")


class CitizenDisabled(Forbidden):
    def __init__(self) -> None:
        super().__init__("account_disabled", "该账号已停用")


class WechatCodeInvalid(Unauthorized):
    """The ``wx.login()`` code was wrong or already used (40029 / 40163)."""

    def __init__(self) -> None:
        super().__init__("wechat_code_invalid", "登录凭证无效或已使用，请重新登录")


class WechatRateLimited(RateLimited):
    def __init__(self, retry_after: int = 60) -> None:
        super().__init__(
            "wechat_rate_limited", "微信登录过于频繁，请稍后再试", retry_after=retry_after, reason="wechat"
        )


class WechatUserBlocked(Forbidden):
    def __init__(self) -> None:
        super().__init__("wechat_user_blocked", "该微信账号存在风险，暂时无法登录")


class WechatUnavailable(Unavailable):
    def __init__(self) -> None:
        super().__init__("wechat_unavailable", "微信服务暂时不可用，请稍后重试", retry_after=5)


class WechatNotConfigured(Unavailable):
    def __init__(self) -> None:
        super().__init__("wechat_not_configured", "暂未开通微信登录，请使用手机号登录")


class PhoneTaken(Conflict):
    """The phone is already bound to another WeChat account (never merged silently)."""

    def __init__(self) -> None:
        super().__init__("phone_taken", "该手机号已绑定其他微信账号")


class PhoneAlreadyBound(Conflict):
    def __init__(self) -> None:
        super().__init__("phone_already_bound", "该账号已绑定其他手机号")


def format_wait(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} 秒"
    minutes = -(-seconds // 60)
    return f"{minutes} 分钟"
