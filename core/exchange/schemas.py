"""The body of an inbound 12345 order, and the answer."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from core.kit.text import CleanStr

ORDER_NO_PATTERN = r"^[0-9A-Za-z_-]{4,64}$"


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise ValueError("时间须带时区，如 2026-11-21T18:00:00+08:00")
    return value.astimezone(UTC) if value is not None else None


class OrderIn(BaseModel):
    """A 12345 work order (工单) transferred to city management."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    order_no: str = Field(pattern=ORDER_NO_PATTERN, description="12345 工单编号")
    title: CleanStr = Field(min_length=1, max_length=200, description="工单标题")
    description: CleanStr = Field(min_length=5, max_length=2000, description="诉求内容")
    category: CleanStr = Field(default="", max_length=64, description="12345 的分类（用于映射案件小类）")
    address: CleanStr = Field(default="", max_length=256)
    lng: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    coord: Literal["wgs84", "gcj02"] = Field(default="wgs84", description="坐标系：wgs84 或 gcj02")
    caller_name: CleanStr = Field(default="", max_length=64, description="来电人姓名（不公开）")
    caller_phone: str = Field(default="", pattern=r"^[0-9+\-]{0,20}$", description="来电号码（不公开）")
    deadline: Annotated[datetime | None, AfterValidator(_aware)] = Field(
        default=None, description="12345 要求的办理时限（ISO 8601，带时区）"
    )
    urgency: Literal["normal", "urgent"] = "normal"

    def fingerprint(self) -> str:
        """SHA-256 of the order in canonical JSON: formatting and key order do not matter."""
        canonical = json.dumps(self.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


class OrderAnswer(BaseModel):
    code: Literal["OK"] = "OK"
    case_no: str
