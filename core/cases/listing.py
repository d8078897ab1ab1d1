"""Case listings for the staff console: filters, sort orders, keyset pages and capped counts.

Every query of the console's case queues lives here. Pages are keyset pages: the next page starts
after the (sort key, id) of the last row shown, the previous page ends before the first one, so a page
costs the same at row 50 and at row 500,000 (no OFFSET, and no COUNT over the filtered result: queue
totals come from ``capped_counts``). Cursors are two integers, ``"<key>.<id>"``: datetimes travel as
microseconds since the epoch, the status as its place in the workflow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from core.errors import Invalid
from core.kit.clock import SHANGHAI
from core.kit.sqltypes import UTCDateTime
from core.models import AdminArea, AreaLevel, Case, CaseStatus, Category, CategoryLevel, Channel, Department
from core.models.cases import CaseFollower

K = TypeVar("K")

# The stage a case is in (its current deadline is that stage's), as the SLA job counts them.
STAGE_OF: dict[CaseStatus, str] = {
    CaseStatus.PENDING: "register",
    CaseStatus.VERIFYING: "register",
    CaseStatus.ACCEPTED: "register",
    CaseStatus.REGISTERED: "dispatch",
    CaseStatus.DISPATCHED: "handle",
    CaseStatus.HANDLED: "check",
    CaseStatus.CHECKING: "check",
}

# The workflow's order, for sorting by status.
STATUS_ORDER: tuple[CaseStatus, ...] = (
    CaseStatus.PENDING,
    CaseStatus.VERIFYING,
    CaseStatus.ACCEPTED,
    CaseStatus.REGISTERED,
    CaseStatus.DISPATCHED,
    CaseStatus.SUSPENDED,
    CaseStatus.HANDLED,
    CaseStatus.CHECKING,
    CaseStatus.CLOSED,
    CaseStatus.VOIDED,
    CaseStatus.MERGED,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
MAX_TEXT = 100
_MICRO = timedelta(microseconds=1)


def stage_deadlines() -> list[tuple[frozenset[CaseStatus], sa.ColumnElement[datetime]]]:
    """(statuses of a stage, the column with that stage's deadline), in workflow order."""
    columns: dict[str, Any] = {
        "register": col(Case.register_due_at),
        "dispatch": col(Case.dispatch_due_at),
        "handle": col(Case.handle_due_at),
        "check": col(Case.check_due_at),
    }
    return [
        (frozenset(status for status, of in STAGE_OF.items() if of == stage), column)
        for stage, column in columns.items()
    ]


def current_deadline() -> sa.ColumnElement[datetime]:
    """SQL: the deadline of the stage the case is in (NULL when suspended or finished)."""
    whens = [(col(Case.status).in_(sorted(statuses)), column) for statuses, column in stage_deadlines()]
    return sa.type_coerce(sa.case(*whens, else_=sa.null()), UTCDateTime)


def _status_rank() -> sa.ColumnElement[int]:
    return sa.case(
        *((col(Case.status) == status, rank) for rank, status in enumerate(STATUS_ORDER)),
        else_=len(STATUS_ORDER),
    )


# ---------------------------------------------------------------------------------------------------
# What the URL says


class Sort(StrEnum):
    REPORTED = "reported"
    DEADLINE = "deadline"
    STATUS = "status"

    @property
    def label(self) -> str:
        return {"reported": "上报时间", "deadline": "办理时限", "status": "状态"}[self.value]


class Direction(StrEnum):
    ASC = "asc"
    DESC = "desc"

    @property
    def label(self) -> str:
        return {"asc": "升序", "desc": "降序"}[self.value]


_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_AREA = re.compile(r"^\d{9}(\d{3})?$")
_CURSOR = re.compile(r"^(\d{1,19})\.(\d{1,19})$")


@dataclass(frozen=True)
class Criteria:
    """The filters and sort order of a listing, as codes (what a shared URL carries)."""

    category: str = ""  # a major or minor category code
    area: str = ""  # a street (9 digits) or community (12 digits) code
    department: str = ""
    channel: Channel | None = None
    reported_from: date | None = None  # local dates, both inclusive
    reported_to: date | None = None
    text: str = ""
    sort: Sort = Sort.DEADLINE
    direction: Direction = Direction.ASC

    @classmethod
    def parse(cls, params: Mapping[str, str], *, default_sort: tuple[Sort, Direction]) -> Criteria:
        """From query parameters; a malformed value is refused with a Chinese message (never ignored)."""

        def value(name: str) -> str:
            return (params.get(name) or "").strip()

        category, area, department = value("category"), value("area"), value("department")
        if category and not _CODE.match(category):
            raise Invalid("bad_category", "案件类别代码格式不正确")
        if area and not _AREA.match(area):
            raise Invalid("bad_area", "区域代码格式不正确（街道 9 位或社区 12 位数字）")
        if department and not _CODE.match(department):
            raise Invalid("bad_department", "部门代码格式不正确")
        channel = None
        if value("channel"):
            try:
                channel = Channel(value("channel"))
            except ValueError:
                raise Invalid("bad_channel", "上报渠道不正确") from None
        reported_from = _date(value("from"), "开始日期")
        reported_to = _date(value("to"), "结束日期")
        if reported_from and reported_to and reported_from > reported_to:
            raise Invalid("bad_date_range", "开始日期不能晚于结束日期")
        text = value("q")
        if len(text) > MAX_TEXT:
            raise Invalid("text_too_long", f"搜索内容不能超过 {MAX_TEXT} 个字")
        sort, direction = default_sort
        if value("sort"):
            try:
                sort = Sort(value("sort"))
            except ValueError:
                raise Invalid("bad_sort", "排序方式不正确") from None
        if value("dir"):
            try:
                direction = Direction(value("dir"))
            except ValueError:
                raise Invalid("bad_direction", "排序方向不正确（升序或降序）") from None
        return cls(
            category=category,
            area=area,
            department=department,
            channel=channel,
            reported_from=reported_from,
            reported_to=reported_to,
            text=text,
            sort=sort,
            direction=direction,
        )

    @property
    def filtered(self) -> bool:
        return bool(
            self.category
            or self.area
            or self.department
            or self.channel
            or self.reported_from
            or self.reported_to
            or self.text
        )

    def params(self) -> dict[str, str]:
        """The query parameters that say this again (only those that are set)."""
        pairs = {
            "category": self.category,
            "area": self.area,
            "department": self.department,
            "channel": self.channel.value if self.channel else "",
            "from": self.reported_from.isoformat() if self.reported_from else "",
            "to": self.reported_to.isoformat() if self.reported_to else "",
            "q": self.text,
            "sort": self.sort.value,
            "dir": self.direction.value,
        }
        return {name: text for name, text in pairs.items() if text}


def _date(text: str, label: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid("bad_date", f"{label}格式不正确（应为 年-月-日）") from None


@dataclass(frozen=True)
class Cursor:
    key: int
    id: int

    def encode(self) -> str:
        return f"{self.key}.{self.id}"

    @classmethod
    def parse(cls, text: str, sort: Sort) -> Cursor:
        match = _CURSOR.match(text.strip())
        limit = len(STATUS_ORDER) if sort is Sort.STATUS else _micros(FAR_FUTURE)
        if match is None or int(match.group(1)) > limit:
            raise Invalid("bad_cursor", "翻页参数无效，请回到第一页")
        return cls(int(match.group(1)), int(match.group(2)))


def _micros(value: datetime) -> int:
    return (value - EPOCH) // _MICRO


# ---------------------------------------------------------------------------------------------------
# Filters as SQL


def filter_conditions(session: Session, criteria: Criteria) -> list[sa.ColumnElement[bool]]:
    """The criteria's filters as conditions on ``case``; unknown codes are refused."""
    conditions: list[sa.ColumnElement[bool]] = []
    if criteria.category:
        category = session.exec(select(Category).where(col(Category.code) == criteria.category)).first()
        if category is None or category.id is None:
            raise Invalid("unknown_category", f"案件类别“{criteria.category}”不存在")
        if category.level is CategoryLevel.MAJOR:
            minors = select(Category.id).where(col(Category.parent_id) == category.id)
            ids = [minor for minor in session.exec(minors).all() if minor is not None]
            conditions.append(col(Case.category_id).in_(ids))
        else:
            conditions.append(col(Case.category_id) == category.id)
    if criteria.area:
        area = session.exec(select(AdminArea).where(col(AdminArea.code) == criteria.area)).first()
        if area is None or area.level not in (AreaLevel.STREET, AreaLevel.COMMUNITY):
            raise Invalid("unknown_area", f"街道或社区“{criteria.area}”不存在")
        column = Case.street_code if area.level is AreaLevel.STREET else Case.community_code
        conditions.append(col(column) == area.code)
    if criteria.department:
        department = session.exec(
            select(Department).where(col(Department.code) == criteria.department)
        ).first()
        if department is None:
            raise Invalid("unknown_department", f"部门“{criteria.department}”不存在")
        conditions.append(col(Case.department_id) == department.id)
    if criteria.channel is not None:
        conditions.append(col(Case.channel) == criteria.channel)
    if criteria.reported_from is not None:
        conditions.append(col(Case.created_at) >= _local_midnight(criteria.reported_from))
    if criteria.reported_to is not None:
        conditions.append(col(Case.created_at) < _local_midnight(criteria.reported_to + timedelta(days=1)))
    if criteria.text:
        conditions.append(
            sa.or_(
                col(Case.case_no) == criteria.text,
                col(Case.description).contains(criteria.text, autoescape=True),
                col(Case.address).contains(criteria.text, autoescape=True),
            )
        )
    return conditions


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)


# ---------------------------------------------------------------------------------------------------
# Sorting and keyset pages


def _sort_key(sort: Sort, direction: Direction) -> sa.ColumnElement[Any]:
    if sort is Sort.REPORTED:
        return cast(sa.ColumnElement[Any], col(Case.created_at))
    if sort is Sort.STATUS:
        return _status_rank()
    return deadline_key(direction)


def deadline_key(direction: Direction = Direction.ASC) -> sa.ColumnElement[datetime]:
    """The current deadline as a sort key: cases without one (suspended, finished) come last in both
    directions. The ascending form is what the expression index of the default sort covers."""
    missing = FAR_FUTURE if direction is Direction.ASC else EPOCH
    return sa.type_coerce(sa.func.coalesce(current_deadline(), sa.literal(missing, UTCDateTime)), UTCDateTime)


def _key_value(sort: Sort, value: Any) -> int:
    if sort is Sort.STATUS:
        return int(value)
    assert isinstance(value, datetime)
    return _micros(value)


def _key_bound(sort: Sort, cursor: Cursor) -> sa.ColumnElement[Any]:
    if sort is Sort.STATUS:
        return sa.literal(cursor.key, sa.Integer)
    return sa.literal(EPOCH + cursor.key * _MICRO, UTCDateTime)


@dataclass(frozen=True)
class Row:
    id: int
    case_no: str
    status: CaseStatus
    category: str
    major_category: str
    address: str
    description: str
    reported_at: datetime
    deadline: datetime | None
    overdue: bool
    department: str
    followers: int


@dataclass(frozen=True)
class Page:
    rows: list[Row] = field(default_factory=list)
    next: Cursor | None = None  # where the next page starts (None: this is the last)
    previous: Cursor | None = None  # where the previous page ends (None: this is the first)


def page(
    session: Session,
    conditions: Sequence[sa.ColumnElement[bool]],
    *,
    sort: Sort,
    direction: Direction,
    limit: int,
    after: Cursor | None = None,
    before: Cursor | None = None,
) -> Page:
    """One page of cases matching all ``conditions``, with their category, department and followers, in
    one query. ``after``: the page following that cursor; ``before``: the page preceding it."""
    if after is not None and before is not None:
        raise Invalid("bad_cursor", "翻页参数无效，请回到第一页")
    key = _sort_key(sort, direction)
    identity = col(Case.id)
    backwards = before is not None
    ascending = (direction is Direction.ASC) != backwards
    where = list(conditions)
    cursor = after or before
    if cursor is not None:
        row_key, bound = sa.tuple_(key, identity), sa.tuple_(_key_bound(sort, cursor), sa.literal(cursor.id))
        where.append(row_key > bound if ascending else row_key < bound)
    order = [key.asc(), identity.asc()] if ascending else [key.desc(), identity.desc()]

    major = aliased(Category)
    followers = (
        sa.select(sa.func.count())
        .select_from(CaseFollower)
        .where(col(CaseFollower.case_id) == col(Case.id))
        .correlate(Case)
        .scalar_subquery()
    )
    columns: list[Any] = [
        col(Case.id),
        col(Case.case_no),
        col(Case.status),
        col(Case.address),
        col(Case.description),
        col(Case.created_at),
        current_deadline().label("deadline"),
        col(Case.overdue),
        col(Category.name).label("category"),
        col(major.name).label("major_category"),
        col(Department.name).label("department"),
        followers.label("followers"),
        key.label("sort_key"),
    ]
    stmt = (
        sa.select(*columns)
        .select_from(Case)
        .join(Category, col(Category.id) == col(Case.category_id))
        .outerjoin(major, col(major.id) == col(Category.parent_id))
        .outerjoin(Department, col(Department.id) == col(Case.department_id))
        .where(*where)
        .order_by(*order)
        .limit(limit + 1)
    )
    found = list(session.execute(stmt).all())
    more = len(found) > limit
    found = found[:limit]
    if backwards:
        found.reverse()
    rows = [
        Row(
            id=r.id,
            case_no=r.case_no,
            status=r.status,
            category=r.category,
            major_category=r.major_category or "",
            address=r.address,
            description=r.description,
            reported_at=r.created_at,
            deadline=r.deadline,
            overdue=bool(r.overdue),
            department=r.department or "",
            followers=int(r.followers),
        )
        for r in found
    ]
    if not found:
        # Past either end (rows left the queue since the cursor was made): offer the way back only.
        return Page(rows=[], next=before, previous=after)
    first = Cursor(_key_value(sort, found[0].sort_key), found[0].id)
    last = Cursor(_key_value(sort, found[-1].sort_key), found[-1].id)
    if backwards:
        return Page(rows=rows, next=last, previous=first if more else None)
    return Page(rows=rows, next=last if more else None, previous=first if after is not None else None)


# ---------------------------------------------------------------------------------------------------
# Counts and the filters' choices


def capped_counts(
    session: Session, conditions: Mapping[K, sa.ColumnElement[bool]], *, cap: int
) -> dict[K, int]:
    """Rows matching each condition, counted up to ``cap + 1`` (so "more than cap" shows as cap+1), all in
    one query of one capped sub-select per condition."""
    if not conditions:
        return {}
    keys = list(conditions)
    columns = [
        sa.select(sa.func.count())
        .select_from(sa.select(col(Case.id)).where(conditions[k]).limit(cap + 1).subquery())
        .scalar_subquery()
        .label(f"n{index}")
        for index, k in enumerate(keys)
    ]
    values = session.execute(sa.select(*columns)).one()
    return {k: int(value) for k, value in zip(keys, values, strict=True)}


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    children: tuple[Choice, ...] = ()


def category_choices(session: Session) -> list[Choice]:
    """Active major categories, each with its active minor ones."""
    rows = session.exec(select(Category).where(col(Category.active)).order_by(col(Category.code))).all()
    minors: dict[int | None, list[Choice]] = {}
    for row in rows:
        if row.level is CategoryLevel.MINOR:
            minors.setdefault(row.parent_id, []).append(Choice(row.code, f"{row.name}（{row.code}）"))
    return [
        Choice(row.code, f"{row.name}（{row.code}）", tuple(minors.get(row.id, ())))
        for row in rows
        if row.level is CategoryLevel.MAJOR
    ]


def area_choices(session: Session, within: str | None) -> list[Choice]:
    """Streets with their communities (only those inside the area code ``within`` when given)."""
    stmt = select(AdminArea).where(col(AdminArea.level).in_([AreaLevel.STREET, AreaLevel.COMMUNITY]))
    if within:
        stmt = stmt.where(
            sa.or_(col(AdminArea.code).startswith(within, autoescape=True), col(AdminArea.code) == within[:9])
        )
    rows = session.exec(stmt.order_by(col(AdminArea.code))).all()
    communities: dict[str, list[Choice]] = {}
    for row in rows:
        if row.level is AreaLevel.COMMUNITY:
            communities.setdefault(row.code[:9], []).append(Choice(row.code, row.name))
    return [
        Choice(row.code, row.name, tuple(communities.get(row.code, ())))
        for row in rows
        if row.level is AreaLevel.STREET
    ]


def department_choices(session: Session) -> list[Choice]:
    stmt = select(Department).where(col(Department.active)).order_by(col(Department.code))
    return [Choice(row.code, row.name) for row in session.exec(stmt).all()]
