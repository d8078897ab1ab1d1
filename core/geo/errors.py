"""Geo errors with stable codes."""

from __future__ import annotations

from core.errors import Invalid, Unavailable


class OutsideServiceArea(Invalid):
    def __init__(self, lng: float, lat: float) -> None:
        super().__init__(
            "outside_service_area", "该位置不在城市管理服务范围内，请确认定位是否正确", lng=lng, lat=lat
        )


class InvalidCoordinates(Invalid):
    def __init__(self, problem: str) -> None:
        super().__init__("invalid_coordinates", f"坐标不正确：{problem}")


class UnknownCategory(Invalid):
    def __init__(self, code: str) -> None:
        super().__init__("unknown_category", f"案件小类“{code}”不存在", category=code)


class GridsNotLoaded(Unavailable):
    def __init__(self) -> None:
        super().__init__("grids_not_loaded", "单元网格数据尚未导入，暂时无法定位")
