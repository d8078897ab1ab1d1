"""Errors of the evaluation."""

from __future__ import annotations

from core.errors import Invalid


class InvalidPeriod(Invalid):
    def __init__(self, message: str) -> None:
        super().__init__("evaluation_period_invalid", message)


class UnknownDimension(Invalid):
    def __init__(self, value: str) -> None:
        super().__init__("evaluation_dimension_unknown", f"未知的评价维度：{value}")
