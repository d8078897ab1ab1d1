"""Why an Open311 call is refused. Codes are ours (snake_case); the Open311 answer carries the HTTP
status as its ``code`` and ``"<our code>: <Chinese message>"`` as its ``description``."""

from __future__ import annotations

from core.errors import Forbidden, Invalid, NotFound, RateLimited


class InvalidApiKey(Forbidden):
    def __init__(self) -> None:
        super().__init__("invalid_api_key", "api_key 无效、已停用或缺失")


class UnsupportedFormat(NotFound):
    def __init__(self, fmt: str) -> None:
        super().__init__(
            "unsupported_format", f"不支持的格式“{fmt[:16]}”，请使用 json 或 xml", format=fmt[:16]
        )


class ServiceNotFound(NotFound):
    def __init__(self, code: str) -> None:
        super().__init__("service_not_found", f"服务类型“{code[:32]}”不存在或已停用", service_code=code[:32])


class RequestNotFound(NotFound):
    def __init__(self, request_id: str) -> None:
        super().__init__(
            "service_request_not_found",
            f"服务请求“{request_id[:32]}”不存在",
            service_request_id=request_id[:32],
        )


class TokenNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("token_not_found", "token 不存在")


class BadParameter(Invalid):
    def __init__(self, name: str, message: str) -> None:
        super().__init__("invalid_parameter", f"参数 {name} 不正确：{message}", parameter=name)


class MissingParameter(Invalid):
    def __init__(self, name: str) -> None:
        super().__init__("missing_parameter", f"缺少必填参数 {name}", parameter=name)


class ResourceNotFound(NotFound):
    """A path under ``/open311/v2`` that names no resource."""

    def __init__(self) -> None:
        super().__init__("not_found", "请求的资源不存在，可用资源见 discovery、services、requests、tokens")


class LocationRequired(Invalid):
    def __init__(self) -> None:
        super().__init__(
            "location_required", "请提供位置：lat 和 long（WGS-84 坐标），或 address_string（地址）"
        )


class AddressNotLocated(Invalid):
    """An address alone that names no community of the city unambiguously (a case needs a point)."""

    def __init__(self) -> None:
        super().__init__(
            "address_not_located",
            "无法根据 address_string 确定位置：请提供 lat 和 long（WGS-84 坐标），"
            "或在地址中写明所在社区的全称（如“南门社区”）",
        )


class MediaUrlRefused(Invalid):
    def __init__(self) -> None:
        super().__init__("media_url_refused", "media_url 必须是不超过 1024 个字符的 https 地址")


class MediaFieldRefused(Invalid):
    """A file part other than the one photo in ``media``."""

    def __init__(self, message: str) -> None:
        super().__init__("media_refused", message)


class RequestTooLarge(Invalid):
    """413 semantics (mapped to 413 by the Open311 router)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__("request_too_large", f"请求内容不能超过 {max_bytes // 1024} KB", max_bytes=max_bytes)


class ClientRateLimited(RateLimited):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "open311_rate_limited", "该客户端提交得太频繁了，请稍后再试", retry_after=max(1, retry_after)
        )


class ClientNotFound(NotFound):
    def __init__(self, client_id: int) -> None:
        super().__init__("open311_client_not_found", f"Open311 客户端 #{client_id} 不存在", client=client_id)


class InvalidClientName(Invalid):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_open311_client_name", message)


class ClientNameTaken(Invalid):
    def __init__(self, name: str, client_id: int) -> None:
        super().__init__(
            "open311_client_name_taken", f"Open311 客户端“{name}”已存在（#{client_id}）", client=client_id
        )


class InvalidRateLimit(Invalid):
    def __init__(self) -> None:
        super().__init__("invalid_open311_rate_limit", "每小时请求上限应为 1 到 100000 之间的整数")
