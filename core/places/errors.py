"""Errors of the places service, with stable codes."""

from __future__ import annotations

from core.errors import Forbidden, Invalid, NotFound, Unauthorized


class PlaceNotFound(NotFound):
    def __init__(self, code: str) -> None:
        super().__init__("place_not_found", f"设施“{code}”不存在", place=code)


class InvalidApiKey(Unauthorized):
    def __init__(self) -> None:
        super().__init__("invalid_api_key", "接口密钥无效或缺失")


class NotYourPlace(Forbidden):
    def __init__(self, code: str) -> None:
        super().__init__("place_not_operated", f"停车场“{code}”不由该运营方管理", place=code)


class InvalidAvailability(Invalid):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_availability", message)


class InvalidPlaceQuery(Invalid):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_coordinates", message)
