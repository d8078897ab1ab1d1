"""The dimensions of an evaluation (评价维度): who or what a row is, and which indicators it shows.

- areas: district (区县), street (街道), community (社区) and responsibility grid (责任网格) — by the case's
  ``district_code``/``street_code``/``community_code``/``responsibility_grid_code``;
- department (专业部门): by the event's ``department_id`` (who was dispatched, who handled, who was
  returned from), and for deadlines by the case's current ``department_id``;
- positions (岗位: operator, shift lead, dispatcher) and supervisors (监督员): by the acting staff member
  of the events (``actor_id`` with that ``actor_role``); a supervisor's reports by
  ``case.reporter_staff_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Dimension(StrEnum):
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"
    DEPARTMENT = "department"
    OPERATOR = "operator"
    SHIFT_LEAD = "shift_lead"
    DISPATCHER = "dispatcher"
    SUPERVISOR = "supervisor"


class Group(StrEnum):
    AREA = "area"
    DEPARTMENT = "department"
    POSITION = "position"
    SUPERVISOR = "supervisor"


AREA_COLUMNS = (
    "reports",
    "supervisor_reports",
    "supervisor_report_rate",
    "registered",
    "due_close",
    "closed",
    "ontime_closed",
    "close_rate",
    "ontime_close_rate",
    "overdue_cases",
)
DEPARTMENT_COLUMNS = (
    "dispatched",
    "returned",
    "return_rate",
    "due_handle",
    "handled",
    "ontime_handled",
    "handle_rate",
    "ontime_handle_rate",
    "reworked",
    "rework_rate",
    "avg_handle_hours",
    "overdue_cases",
)


@dataclass(frozen=True)
class DimensionSpec:
    dimension: Dimension
    label: str  # the dimension's name
    row_label: str  # the first column's header
    group: Group
    columns: tuple[str, ...]
    headline: str  # ranked and compared (环比/同比) on this indicator
    scored: bool = False


SPECS: dict[Dimension, DimensionSpec] = {
    spec.dimension: spec
    for spec in (
        DimensionSpec(Dimension.DISTRICT, "区县", "区县", Group.AREA, AREA_COLUMNS, "score", True),
        DimensionSpec(Dimension.STREET, "街道", "街道", Group.AREA, AREA_COLUMNS, "score", True),
        DimensionSpec(Dimension.COMMUNITY, "社区", "社区", Group.AREA, AREA_COLUMNS, "score", True),
        DimensionSpec(Dimension.GRID, "责任网格", "责任网格", Group.AREA, AREA_COLUMNS, "score", True),
        DimensionSpec(
            Dimension.DEPARTMENT, "专业部门", "部门", Group.DEPARTMENT, DEPARTMENT_COLUMNS, "score", True
        ),
        DimensionSpec(
            Dimension.OPERATOR,
            "受理员",
            "受理员",
            Group.POSITION,
            (
                "actions",
                "accepted",
                "sent_verify",
                "registered",
                "ontime_registered",
                "ontime_register_rate",
                "voided",
                "merged",
                "sent_check",
            ),
            "actions",
        ),
        DimensionSpec(
            Dimension.SHIFT_LEAD,
            "值班长",
            "值班长",
            Group.POSITION,
            (
                "actions",
                "accepted",
                "registered",
                "ontime_register_rate",
                "voided",
                "dispatched",
                "returned",
                "accurate_dispatch_rate",
                "decisions",
                "urges",
            ),
            "actions",
        ),
        DimensionSpec(
            Dimension.DISPATCHER,
            "派遣员",
            "派遣员",
            Group.POSITION,
            ("actions", "dispatched", "returned", "accurate_dispatch_rate", "decisions", "sent_check"),
            "actions",
        ),
        DimensionSpec(
            Dimension.SUPERVISOR,
            "监督员",
            "监督员",
            Group.SUPERVISOR,
            ("reports", "valid_reports", "valid_report_rate", "verified", "checked", "actions"),
            "reports",
        ),
    )
}

# The raw counts each derived column needs (the queries compute only what a dimension shows).
NEEDS: dict[str, tuple[str, ...]] = {
    "supervisor_report_rate": ("reports", "supervisor_reports"),
    "valid_report_rate": ("reports", "valid_reports"),
    "ontime_register_rate": ("registered", "ontime_registered"),
    "due_close": ("closed", "due_not_closed"),
    "close_rate": ("closed", "due_not_closed"),
    "ontime_close_rate": ("ontime_closed", "closed", "due_not_closed"),
    "return_rate": ("returned", "dispatched"),
    "accurate_dispatch_rate": ("returned", "dispatched"),
    "due_handle": ("handled", "due_not_handled"),
    "handle_rate": ("handled", "due_not_handled"),
    "ontime_handle_rate": ("ontime_handled", "handled", "due_not_handled"),
    "rework_rate": ("reworked", "handled"),
    "avg_handle_hours": ("handle_hours_n",),
    "score": (),
}


def raw_needed(spec: DimensionSpec) -> frozenset[str]:
    needed: set[str] = set()
    for column in spec.columns:
        needed.update(NEEDS.get(column, (column,)))
    return frozenset(needed)
