"""Hotline cases in the bridge's own database (committed: the bridge and its FastAGI server read them
on their own thread). Only what a case row needs: a category, the codes as plain text."""

from __future__ import annotations

import itertools
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import select

from core.db import session_scope
from core.kit.clock import utcnow
from core.models import Case, CaseEvent, CaseStatus, Category, CategoryKind, CategoryLevel, Channel
from core.models.calls import CallTask

CATEGORY_CODE = "BJ0199"
_sequence = itertools.count(secrets.randbelow(5000) + 1)


def _category_id(engine: Engine) -> int:
    with session_scope(engine) as session:
        found = session.exec(select(Category.id).where(Category.code == CATEGORY_CODE)).first()
        if found is not None:
            return found
        major = Category(code="BJ01", kind=CategoryKind.COMPONENT, level=CategoryLevel.MAJOR, name="测试大类")
        session.add(major)
        session.flush()
        minor = Category(
            code=CATEGORY_CODE,
            kind=CategoryKind.COMPONENT,
            level=CategoryLevel.MINOR,
            parent_id=major.id,
            name="热线测试类别",
        )
        session.add(minor)
        session.flush()
        assert minor.id is not None
        return minor.id


def clear_cases(engine: Engine) -> None:
    """No case left from an earlier test (the follow-up scan would find them)."""
    with session_scope(engine) as session:
        session.execute(sa.delete(CallTask))
        session.execute(sa.delete(CaseEvent))
        session.execute(sa.delete(Case))


def hotline_case(
    engine: Engine,
    *,
    status: CaseStatus = CaseStatus.CLOSED,
    phone: str = "13700137000",
    channel: Channel = Channel.HOTLINE,
    case_no: str | None = None,
    closed_at: datetime | None = None,
) -> Case:
    category_id = _category_id(engine)
    with session_scope(engine) as session:
        case = Case(
            case_no=case_no or f"20261121RX{next(_sequence):04d}",
            channel=channel,
            status=status,
            reporter_phone=phone,
            category_id=category_id,
            description="热线反映：路灯不亮",
            lng=114.93,
            lat=27.81,
            unit_grid_code="360502001001001",
            community_code="360502001001",
            street_code="360502001",
            district_code="360502",
            closed_at=(closed_at or utcnow()) if status is CaseStatus.CLOSED else None,
        )
        session.add(case)
        session.flush()
        return case
