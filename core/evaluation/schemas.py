"""What an evaluation returns: rows with their indicators, score, rank and changes; hot spots."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.evaluation.dimensions import DimensionSpec
from core.evaluation.indicators import INDICATORS, Indicator, Number
from core.evaluation.periods import Period


@dataclass
class Row:
    key: str
    name: str
    values: dict[str, Number | None]
    rank: int | None = None
    previous: Number | None = None  # the headline indicator in the month-on-month period
    year_ago: Number | None = None  # … and in the year-on-year period

    def headline(self, key: str) -> Number | None:
        return self.values.get(key)

    def change(self, key: str, before: Number | None) -> float | None:
        now = self.values.get(key)
        return None if now is None or before is None else float(now) - float(before)


@dataclass
class Evaluation:
    spec: DimensionSpec
    period: Period
    previous_period: Period
    year_ago_period: Period
    rows: list[Row]
    summary: dict[str, Number | None] = field(default_factory=dict)

    @property
    def columns(self) -> list[Indicator]:
        keys = list(self.spec.columns) + (["score"] if self.spec.scored else [])
        return [INDICATORS[key] for key in keys]

    @property
    def headline(self) -> Indicator:
        return INDICATORS[self.spec.headline]

    def mom(self, row: Row) -> float | None:
        return row.change(self.spec.headline, row.previous)

    def yoy(self, row: Row) -> float | None:
        return row.change(self.spec.headline, row.year_ago)


@dataclass
class Ranked:
    code: str
    name: str
    count: int


@dataclass
class HotSpots:
    period: Period
    categories: list[Ranked]
    grids: list[Ranked]
    streets: list[Ranked]
    heat: list[list[int]]  # 7 rows (Monday first) × 24 local hours

    @property
    def heat_max(self) -> int:
        return max((max(row) for row in self.heat), default=0)
