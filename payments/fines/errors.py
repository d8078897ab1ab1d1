"""Fine lookup errors with stable codes."""

from __future__ import annotations

from core.errors import NotFound, RateLimited


class FineNotFound(NotFound):
    """The one answer for "no such decision" and "wrong name": the lookup cannot enumerate numbers."""

    def __init__(self) -> None:
        super().__init__("fine_not_found", "未找到该决定书，请核对决定书编号和当事人姓名")


class FineLookupRateLimited(RateLimited):
    def __init__(self, retry_after: int, reason: str) -> None:
        super().__init__(
            "fine_lookup_rate_limited",
            "查询过于频繁，请稍后再试",
            retry_after=retry_after,
            reason=reason,
        )
