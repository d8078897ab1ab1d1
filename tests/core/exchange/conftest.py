"""Exchange tests: a city (tests/fixtures/cases.py), a running fake 12345 platform and settings that
point at it, and a helper that receives an order the way the endpoint does."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from core.cases.service import ActionInput, get_case, perform
from core.cases.workflow import Action
from core.exchange.intake import receive_order
from core.exchange.schemas import OrderIn
from core.models import Case, StaffRole
from core.settings import Settings, get_settings
from tests.fixtures.cases import City
from tests.fixtures.fake_12345 import Fake12345, running_fake_12345


@pytest.fixture
def fake() -> Iterator[Fake12345]:
    with running_fake_12345() as server:
        yield server


@pytest.fixture
def exchange_settings(city: City, fake: Fake12345) -> Settings:
    lng, lat = city.point(1, 1)
    return fake.settings_for(get_settings(), default_category="BJ0101", default_lng=lng, default_lat=lat)


def receive(city: City, settings: Settings, **changes: object) -> Case:
    lng, lat = city.point()
    data: dict[str, object] = {
        "order_no": f"GD{time.time_ns()}",
        "title": "井盖缺失",
        "description": "幸福路口井盖缺失，夜里很危险",
        "lng": lng,
        "lat": lat,
        "caller_name": "李四",
        "caller_phone": "13700001111",
    }
    data.update(changes)
    received = receive_order(city.session, settings, order=OrderIn.model_validate(data))
    return get_case(city.session, received.case_no)


def act(city: City, case: Case, role: StaffRole, action: Action, **data: object) -> Case:
    return perform(
        city.session,
        city.settings,
        case_no=case.case_no,
        actor=city.staff[role],
        action=action,
        data=ActionInput(**data),  # type: ignore[arg-type]
    )
