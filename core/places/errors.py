"""Errors of the places service, with stable codes."""

from __future__ import annotations

from core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized


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


class OperatorNotFound(NotFound):
    def __init__(self, operator_id: int) -> None:
        super().__init__("operator_not_found", f"停车场运营方 #{operator_id} 不存在", operator=operator_id)


class InvalidOperatorName(Invalid):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_operator_name", message)


class OperatorNameTaken(Conflict):
    def __init__(self, name: str, operator_id: int) -> None:
        super().__init__(
            "operator_name_taken",
            f"已有名为“{name}”的停车场运营方（#{operator_id}）",
            name=name,
            operator=operator_id,
        )


class LotsRefused(Invalid):
    """Some of the given codes cannot get (or lose) an operator; ``details`` lists them by reason."""

    def __init__(self, action: str, *, unknown: list[str], not_parking: list[str]) -> None:
        reasons = []
        if unknown:
            reasons.append(f"设施编码不存在：{'、'.join(unknown)}")
        if not_parking:
            reasons.append(f"不是停车场：{'、'.join(not_parking)}")
        super().__init__(
            "lots_refused",
            f"以下编码不能{action}，未做任何修改。{'；'.join(reasons)}",
            unknown=unknown,
            not_parking=not_parking,
        )


class NoLotCodes(Invalid):
    def __init__(self) -> None:
        super().__init__("lot_codes_missing", "请至少给出一个停车场编码")
