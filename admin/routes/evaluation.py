"""Console pages: 综合评价 — indicators, scores and ranks per dimension and period; hot spots; exports.

Open to leaders, shift leads, dispatchers and admins; what they see is limited to their area by
``core.cases.access`` (inside ``core.evaluation.service``). Exports are audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from admin.deps import SessionDep, SettingsDep, client_ip, require
from admin.export import Cell, xlsx_response
from admin.templating import render
from core.audit.service import record
from core.errors import Invalid
from core.evaluation import service
from core.evaluation.dimensions import SPECS, Dimension
from core.evaluation.errors import InvalidPeriod, UnknownDimension
from core.evaluation.indicators import INDICATORS, Indicator, Kind, Number, display
from core.evaluation.periods import Period, Preset, resolve
from core.evaluation.schemas import Evaluation, HotSpots
from core.kit.clock import to_local, utcnow
from core.models import StaffRole, StaffUser

router = APIRouter()

Viewer = Annotated[
    StaffUser,
    Depends(require(StaffRole.LEADER, StaffRole.SHIFT_LEAD, StaffRole.DISPATCHER, StaffRole.ADMIN)),
]
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
SUMMARY = (
    "reports",
    "registered",
    "closed",
    "close_rate",
    "ontime_close_rate",
    "handle_rate",
    "ontime_handle_rate",
    "overdue_cases",
    "avg_handle_hours",
)
TABLES = {
    "main": "评价",
    "categories": "高发问题",
    "grids": "高发网格",
    "streets": "高发街道",
    "heatmap": "高发时段",
}


@dataclass(frozen=True)
class Query_:
    """The page's filter, as given (kept to re-fill the form and to build links)."""

    dimension: str
    period: str
    start: str
    end: str

    def params(self, **changes: str) -> dict[str, str]:
        values = {"dimension": self.dimension, "period": self.period, "start": self.start, "end": self.end}
        values.update(changes)
        return {key: value for key, value in values.items() if value}


def _date(value: str, label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidPeriod(f"{label}格式不正确，应为 年-月-日") from None


def _period(query: Query_) -> Period:
    try:
        preset = Preset(query.period)
    except ValueError:
        raise InvalidPeriod("未知的评价时段") from None
    today = to_local(utcnow()).date()
    return resolve(
        preset, today=today, start=_date(query.start, "开始日期"), last=_date(query.end, "结束日期")
    )


def _query(dimension: str, period: str, start: str, end: str) -> Query_:
    return Query_(
        dimension=dimension or Dimension.STREET.value,
        period=period or Preset.THIS_MONTH.value,
        start=start.strip(),
        end=end.strip(),
    )


QDimension = Annotated[str, Query(max_length=20)]
QPeriod = Annotated[str, Query(max_length=20)]
QDate = Annotated[str, Query(max_length=10)]


def query_params(
    dimension: QDimension = "", period: QPeriod = "", start: QDate = "", end: QDate = ""
) -> Query_:
    """The page's choices from the query string (shared by the page, its fragments and the exports)."""
    return _query(dimension, period, start, end)


QueryDep = Annotated[Query_, Depends(query_params)]


def _change(value: float | None, kind: Kind) -> dict[str, str]:
    if value is None:
        return {"text": "—", "class": "flat", "title": "无可比数据"}
    if kind is Kind.RATE:
        text = f"{abs(value) * 100:.1f} 个百分点"
    elif kind is Kind.COUNT:
        text = f"{abs(value):.0f}"
    else:
        text = f"{abs(value):.1f}"
    if round(value, 6) > 0:
        return {"text": f"▲ {text}", "class": "up", "title": "上升"}
    if round(value, 6) < 0:
        return {"text": f"▼ {text}", "class": "down", "title": "下降"}
    return {"text": "持平", "class": "flat", "title": "持平"}


def _chart_data(spots: HotSpots) -> dict[str, Any]:
    return {
        "categories": {
            "labels": [r.name for r in spots.categories],
            "counts": [r.count for r in spots.categories],
        },
        "streets": {"labels": [r.name for r in spots.streets], "counts": [r.count for r in spots.streets]},
        "weekdays": {"labels": list(WEEKDAYS), "counts": [sum(row) for row in spots.heat]},
    }


def _heat_style(count: int, top: int) -> str:
    if not count or not top:
        return ""
    alpha = 0.12 + 0.88 * count / top
    colour = "#fff" if alpha > 0.55 else "#1f2933"
    return f"background: rgba(198, 40, 40, {alpha:.2f}); color: {colour}"


@router.get("/evaluation", response_class=HTMLResponse, name="evaluation")
def evaluation_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: Viewer,
    query: QueryDep,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "query": query,
        "dimensions": list(SPECS.values()),
        "presets": list(Preset),
        "tables": TABLES,
    }
    try:
        chosen = service.parse_dimension(query.dimension)
        when = _period(query)
    except (InvalidPeriod, UnknownDimension) as error:
        return render(request, "evaluation/index.html", {**context, "error": error.message}, status_code=422)
    result = service.evaluate(
        session, settings, viewer=user, dimension=chosen, period=when, with_summary=False
    )
    context.update(result=result, display=display, change=_change, indicators=INDICATORS)
    return render(request, "evaluation/index.html", context)


@router.get("/evaluation/summary", response_class=HTMLResponse, name="evaluation_summary")
def summary_fragment(
    request: Request,
    session: SessionDep,
    user: Viewer,
    query: QueryDep,
) -> HTMLResponse:
    """The whole city's tiles for the period, loaded by the page beside its table (htmx)."""
    try:
        when = _period(query)
    except InvalidPeriod as error:
        return render(request, "fragments/error.html", {"message": error.message}, status_code=422)
    values = service.summary(session, viewer=user, period=when)
    context: dict[str, Any] = {
        "summary": [(key, values.get(key)) for key in SUMMARY],
        "indicators": INDICATORS,
        "display": display,
    }
    return render(request, "evaluation/summary.html", context)


@router.get("/evaluation/hot-spots", response_class=HTMLResponse, name="evaluation_hot_spots")
def hot_spots_fragment(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: Viewer,
    query: QueryDep,
) -> HTMLResponse:
    """高发问题/区域/时段 of the same period, loaded by the page after its table (htmx)."""
    try:
        when = _period(query)
    except InvalidPeriod as error:
        return render(request, "fragments/error.html", {"message": error.message}, status_code=422)
    spots = service.hot_spots(session, settings, viewer=user, period=when)
    top = spots.heat_max
    context: dict[str, Any] = {
        "query": query,
        "spots": spots,
        "weekdays": WEEKDAYS,
        "heat_style": lambda count: _heat_style(count, top),
        "chart_data": _chart_data(spots),
    }
    return render(request, "evaluation/hot_spots.html", context)


def _cell(value: Number | None, kind: Kind) -> Cell:
    if value is None:
        return "—"
    if kind is Kind.RATE:
        return round(float(value) * 100, 2)
    if kind in (Kind.HOURS, Kind.SCORE):
        return round(float(value), 2)
    return int(value)


def _header(indicator: Indicator) -> str:
    return f"{indicator.label}（%）" if indicator.kind is Kind.RATE else indicator.label


def _main_table(result: Evaluation) -> tuple[list[str], list[list[Cell]]]:
    headline = result.headline
    headers = ["排名", result.spec.row_label, *(_header(c) for c in result.columns)]
    headers += [f"{headline.label}环比变化", f"{headline.label}同比变化"]
    rows: list[list[Cell]] = []
    for row in result.rows:
        mom, yoy = result.mom(row), result.yoy(row)
        rows.append(
            [
                row.rank if row.rank is not None else "—",
                row.name,
                *(_cell(row.values.get(c.key), c.kind) for c in result.columns),
                _cell(mom, headline.kind if headline.kind is not Kind.COUNT else Kind.HOURS),
                _cell(yoy, headline.kind if headline.kind is not Kind.COUNT else Kind.HOURS),
            ]
        )
    return headers, rows


def _hot_table(spots: HotSpots, table: str) -> tuple[list[str], list[list[Cell]]]:
    if table == "categories":
        return ["排名", "小类编码", "小类名称", "上报数"], [
            [i, r.code, r.name, r.count] for i, r in enumerate(spots.categories, start=1)
        ]
    if table == "grids":
        return ["排名", "单元网格编码", "上报数"], [
            [i, r.code, r.count] for i, r in enumerate(spots.grids, start=1)
        ]
    if table == "streets":
        return ["排名", "街道编码", "街道名称", "上报数"], [
            [i, r.code, r.name, r.count] for i, r in enumerate(spots.streets, start=1)
        ]
    headers = ["星期", *(f"{hour}时" for hour in range(24)), "合计"]
    return headers, [[WEEKDAYS[i], *row, sum(row)] for i, row in enumerate(spots.heat)]


@router.get("/evaluation/export", name="evaluation_export")
def evaluation_export(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: Viewer,
    query: QueryDep,
    table: Annotated[str, Query(max_length=20)] = "main",
) -> Response:
    if table not in TABLES:
        raise Invalid("evaluation_table_unknown", "未知的导出表格")
    chosen = service.parse_dimension(query.dimension)
    when = _period(query)
    if table == "main":
        result = service.evaluate(session, settings, viewer=user, dimension=chosen, period=when)
        headers, rows = _main_table(result)
        title = f"综合评价_{result.spec.label}_{when.label}"
    else:
        spots = service.hot_spots(session, settings, viewer=user, period=when)
        headers, rows = _hot_table(spots, table)
        title = f"{TABLES[table]}_{when.label}"
    record(
        session,
        actor=user,
        action="evaluation.export",
        target_kind="evaluation",
        target_id=table,
        detail={
            "dimension": chosen.value,
            "start": when.start.isoformat(),
            "end": when.end.isoformat(),
            "rows": len(rows),
        },
        client_ip=client_ip(request),
    )
    filename = title.replace(" ", "") + ".xlsx"
    return xlsx_response(filename, headers, rows, sheet=TABLES[table])
