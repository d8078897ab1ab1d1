"""Scores (0–100) and ranking.

- **Area score** = weighted mean of 监督举报率, 立案数 normalised (立案数 ÷ the largest 立案数 among the
  rows compared in the same period; undefined when that largest is 0), 结案率 and 按期结案率, with the
  ``ZHCG_EVALUATION__AREA_WEIGHT_*`` weights (default 10/20/30/40).
- **Department score** = weighted mean of 处置率, 按期处置率, 1 − 返工率 and 1 − 回退率 with the
  ``ZHCG_EVALUATION__DEPARTMENT_WEIGHT_*`` weights (default 30/40/15/15).

A part that is undefined for a row (no denominator) is left out and the other weights are rescaled;
a row with no defined part — or with no activity at all — has no score ("—") and no rank.

Ranking is competition ranking ("1, 2, 2, 4"): equal values (compared rounded to 2 decimals, so that
float noise never splits a tie) share a rank; rows without a value come last, unranked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.evaluation.indicators import Number
from core.settings import EvaluationSettings

Values = Mapping[str, Number | None]


def weighted(parts: Sequence[tuple[float | None, float]]) -> float | None:
    defined = [(value, weight) for value, weight in parts if value is not None and weight > 0]
    total = sum(weight for _, weight in defined)
    if not defined or total <= 0:
        return None
    return 100 * sum(value * weight for value, weight in defined) / total


def _f(value: Number | None) -> float | None:
    return None if value is None else float(value)


def _complement(value: Number | None) -> float | None:
    return None if value is None else 1 - float(value)


def area_score(values: Values, *, max_registered: Number, weights: EvaluationSettings) -> float | None:
    if not (values.get("reports") or values.get("registered") or values.get("due_close")):
        return None
    registered = float(values.get("registered") or 0)
    return weighted(
        [
            (_f(values.get("supervisor_report_rate")), weights.area_weight_supervisor_report_rate),
            (registered / max_registered if max_registered else None, weights.area_weight_registered),
            (_f(values.get("close_rate")), weights.area_weight_close_rate),
            (_f(values.get("ontime_close_rate")), weights.area_weight_ontime_close_rate),
        ]
    )


def department_score(values: Values, *, weights: EvaluationSettings) -> float | None:
    return weighted(
        [
            (_f(values.get("handle_rate")), weights.department_weight_handle_rate),
            (_f(values.get("ontime_handle_rate")), weights.department_weight_ontime_handle_rate),
            (_complement(values.get("rework_rate")), weights.department_weight_rework_rate),
            (_complement(values.get("return_rate")), weights.department_weight_return_rate),
        ]
    )


def rank(values: Sequence[Number | None]) -> list[int | None]:
    """Competition ranks, highest first; None for missing values."""
    rounded = [None if value is None else round(float(value), 2) for value in values]
    present = sorted((value for value in rounded if value is not None), reverse=True)
    first_position: dict[float, int] = {}
    for position, value in enumerate(present, start=1):
        first_position.setdefault(value, position)
    return [None if value is None else first_position[value] for value in rounded]
