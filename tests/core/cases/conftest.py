"""Cases in any state, ready for every action (test data only: production code never sets status)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from core.kit.clock import utcnow
from core.models import Case, CasePause, CaseRequest, CaseStatus, Channel, RequestKind, StaffRole
from tests.fixtures.cases import City

_numbers = iter(range(1, 10**6))

MakeCase = Callable[..., Case]


@pytest.fixture
def make_case(city: City) -> MakeCase:
    def make(status: CaseStatus = CaseStatus.PENDING, *, requests: tuple[RequestKind, ...] = ()) -> Case:
        lng, lat = city.point()
        now = utcnow()
        reporter = city.citizen()
        handling = status in {
            CaseStatus.DISPATCHED,
            CaseStatus.SUSPENDED,
            CaseStatus.HANDLED,
            CaseStatus.CHECKING,
            CaseStatus.CLOSED,
        }
        case = Case(
            case_no=f"T{next(_numbers):08d}",
            channel=Channel.MINIPROGRAM,
            status=status,
            reporter_citizen_id=reporter.id,
            category_id=city.manhole.id,
            description="井盖缺失，很危险",
            lng=lng,
            lat=lat,
            unit_grid_code=f"{city.community.code}001",
            community_code=city.community.code,
            street_code=city.community.code[:9],
            district_code=city.community.code[:6],
            responsibility_grid_code=f"{city.community.code}01",
            register_standard_id=city.manhole_loose.id
            if status not in {CaseStatus.PENDING, CaseStatus.ACCEPTED, CaseStatus.VERIFYING}
            else None,
            department_id=city.municipal.id if handling else None,
            assigned_supervisor_id=city.staff[StaffRole.SUPERVISOR].id
            if status in {CaseStatus.VERIFYING, CaseStatus.CHECKING}
            else None,
            handle_limit_kind=city.manhole_loose.time_limit_kind if handling else None,
            handle_limit_amount=city.manhole_loose.time_limit_amount if handling else None,
            handle_started_at=now - timedelta(hours=1) if handling else None,
            closed_at=now if status is CaseStatus.CLOSED else None,
        )
        city.session.add(case)
        city.session.flush()
        assert case.id is not None
        if status is CaseStatus.SUSPENDED:
            city.session.add(CasePause(case_id=case.id, started_at=now - timedelta(minutes=5)))
        handler = city.staff[StaffRole.HANDLER]
        for kind in requests:
            city.session.add(
                CaseRequest(
                    case_id=case.id,
                    kind=kind,
                    reason="需要更多时间",
                    requested_by_id=handler.id,
                    amount=Decimal(1) if kind is RequestKind.EXTENSION else None,
                )
            )
        city.session.flush()
        return case

    return make
