"""POST /api/v1/exchange/12345/orders: signed orders from the (fake) 12345 platform become cases."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from api.deps import get_session
from api.main import create_app
from core.geo.coords import wgs84_to_gcj02
from core.models import (
    ActorKind,
    Case,
    CaseEvent,
    CaseStatus,
    Channel,
    ExchangeNonce,
    ExchangeOrder,
    Priority,
)
from core.settings import Settings, get_settings
from tests.fixtures.cases import City
from tests.fixtures.fake_12345 import Fake12345, running_fake_12345

PHONE = "13912345678"


@pytest.fixture
def fake() -> Iterator[Fake12345]:
    with running_fake_12345() as server:
        yield server


@pytest.fixture
def exchange_settings(city: City, fake: Fake12345) -> Settings:
    lng, lat = city.point(1, 1)
    return fake.settings_for(
        get_settings(),
        category_map={"市容环境-暴露垃圾": "SJ0102"},
        category_keywords={"井盖": "BJ0101"},
        default_category="SJ0102",
        default_lng=lng,
        default_lat=lat,
    )


def client_for(session: Session, settings: Settings) -> TestClient:
    app = create_app(settings)

    def _session() -> Iterator[Session]:
        yield session
        session.commit()

    app.dependency_overrides[get_session] = _session
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(session: Session, exchange_settings: Settings) -> Iterator[TestClient]:
    with client_for(session, exchange_settings) as test_client:
        yield test_client


def an_order(city: City, **changes: Any) -> dict[str, Any]:
    lng, lat = city.point()
    order: dict[str, Any] = {
        "order_no": f"GD{time.time_ns()}",
        "title": "小区门口垃圾堆积",
        "description": "幸福路 12 号小区门口垃圾堆了三天没人清理，气味很大",
        "category": "市容环境-暴露垃圾",
        "address": "幸福路 12 号",
        "lng": lng,
        "lat": lat,
        "coord": "wgs84",
        "caller_name": "张三",
        "caller_phone": PHONE,
        "deadline": "2026-11-25T18:00:00+08:00",
        "urgency": "normal",
    }
    order.update(changes)
    return order


def case_of(session: Session, case_no: str) -> Case:
    return session.exec(select(Case).where(col(Case.case_no) == case_no)).one()


def test_a_signed_order_becomes_a_pending_12345_case_with_the_caller_as_reporter(
    client: TestClient, fake: Fake12345, city: City, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    order = an_order(city)
    with caplog.at_level(logging.DEBUG):
        response = fake.send_order(client, order)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["code"] == "OK"
    case = case_of(session, answer["case_no"])
    assert "ZW" in case.case_no
    assert (case.channel, case.status, case.category_id) == (
        Channel.GOV12345,
        CaseStatus.PENDING,
        city.rubbish.id,
    )
    assert (case.reporter_name, case.reporter_phone, case.reporter_citizen_id) == ("张三", PHONE, None)
    assert not case.is_public
    assert case.description.startswith("小区门口垃圾堆积：")
    assert case.address == "幸福路 12 号"
    [event] = session.exec(select(CaseEvent).where(col(CaseEvent.case_id) == case.id)).all()
    assert (event.action, event.actor_kind, event.to_status) == (
        "report",
        ActorKind.SYSTEM,
        CaseStatus.PENDING,
    )
    assert order["order_no"] in event.note
    assert "2026-11-25 18:00" in event.note
    stored = session.exec(select(ExchangeOrder).where(col(ExchangeOrder.case_id) == case.id)).one()
    assert stored.order_no == order["order_no"]
    assert stored.due_at is not None
    assert stored.due_at.isoformat() == "2026-11-25T10:00:00+00:00"
    assert not stored.location_flagged
    # The caller's name and phone never reach the log.
    assert PHONE not in caplog.text
    assert "张三" not in caplog.text


def test_a_repeated_order_answers_the_first_case(
    client: TestClient, fake: Fake12345, city: City, session: Session
) -> None:
    order = an_order(city)
    first = fake.send_order(client, order)
    # Same content, other formatting and key order, a fresh nonce: the same answer.
    reordered = dict(reversed(list(order.items())))
    again = fake.send_order(client, reordered)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    count = session.exec(select(ExchangeOrder).where(col(ExchangeOrder.order_no) == order["order_no"])).all()
    assert len(count) == 1


def test_the_same_order_number_with_another_content_is_a_conflict(
    client: TestClient, fake: Fake12345, city: City
) -> None:
    order = an_order(city)
    assert fake.send_order(client, order).status_code == 200
    response = fake.send_order(client, {**order, "description": "另一件事情：路灯不亮了很久"})
    assert response.status_code == 409
    assert response.json()["code"] == "order_conflict"


@pytest.mark.parametrize(
    "forgery",
    [
        {"secret": "not-the-shared-secret"},
        {"app_id": "someone-else"},
        {"nonce": "bad nonce!"},
    ],
)
def test_a_badly_signed_order_is_refused(
    client: TestClient, fake: Fake12345, city: City, session: Session, forgery: dict[str, Any]
) -> None:
    response = fake.send_order(client, an_order(city), **forgery)
    assert response.status_code == 401
    assert response.json()["code"] == "signature_invalid"
    assert session.exec(select(ExchangeOrder)).all() == []


def test_missing_headers_and_a_changed_body_are_refused(
    client: TestClient, fake: Fake12345, city: City
) -> None:
    body, headers = fake.order_request(an_order(city))
    response = client.post(
        "/api/v1/exchange/12345/orders", content=body, headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, response.json()["code"]) == (401, "signature_invalid")
    tampered = body.replace("三天".encode(), "五天".encode())
    response = client.post("/api/v1/exchange/12345/orders", content=tampered, headers=headers)
    assert (response.status_code, response.json()["code"]) == (401, "signature_invalid")


# A few seconds beyond the 300 s window: the test's clock and the server's are read at different moments.
@pytest.mark.parametrize("skew", [-305, 305, -86400])
def test_a_timestamp_outside_the_window_is_refused(
    client: TestClient, fake: Fake12345, city: City, skew: int
) -> None:
    response = fake.send_order(client, an_order(city), timestamp=int(time.time()) + skew)
    assert response.status_code == 401
    assert response.json()["code"] == "timestamp_expired"


def test_a_timestamp_inside_the_window_is_accepted(client: TestClient, fake: Fake12345, city: City) -> None:
    response = fake.send_order(client, an_order(city), timestamp=int(time.time()) - 250)
    assert response.status_code == 200, response.text


def test_a_nonce_is_not_accepted_twice(
    client: TestClient, fake: Fake12345, city: City, session: Session
) -> None:
    body, headers = fake.order_request(an_order(city))
    first = client.post("/api/v1/exchange/12345/orders", content=body, headers=headers)
    assert first.status_code == 200
    replay = client.post("/api/v1/exchange/12345/orders", content=body, headers=headers)
    assert (replay.status_code, replay.json()["code"]) == (401, "nonce_reused")
    # Another order with the same nonce is a replay too.
    response = fake.send_order(client, an_order(city), nonce=headers["X-Gov-Nonce"])
    assert (response.status_code, response.json()["code"]) == (401, "nonce_reused")
    assert session.get(ExchangeNonce, headers["X-Gov-Nonce"]) is not None


@pytest.mark.parametrize(
    ("raw", "changes", "field"),
    [
        (b"{not json", {}, ""),
        (b"[]", {}, ""),
        (None, {"order_no": "bad no!"}, "order_no"),
        (None, {"description": "短"}, "description"),
        (None, {"lng": "east"}, "lng"),
        (None, {"coord": "bd09"}, "coord"),
        (None, {"deadline": "2026-11-25T18:00:00"}, "deadline"),
        (None, {"urgency": "very"}, "urgency"),
        (None, {"surprise": 1}, "surprise"),
        (None, {"title": "标题\x00"}, "title"),
    ],
)
def test_bad_bodies_are_invalid_request_problems(
    client: TestClient,
    fake: Fake12345,
    city: City,
    session: Session,
    raw: bytes | None,
    changes: dict[str, Any],
    field: str,
) -> None:
    response = fake.send_order(client, an_order(city, **changes), raw=raw)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "invalid_request"
    if field:
        assert field in [error["field"] for error in problem["errors"]]
    assert session.exec(select(ExchangeOrder)).all() == []


def test_a_missing_field_is_named(client: TestClient, fake: Fake12345, city: City) -> None:
    order = an_order(city)
    del order["title"]
    problem = fake.send_order(client, order).json()
    assert problem["code"] == "invalid_request"
    assert problem["errors"][0]["field"] == "title"
    assert problem["errors"][0]["message"] == "缺少必填项"


def test_categories_by_map_keyword_name_and_default(
    client: TestClient, fake: Fake12345, city: City, session: Session
) -> None:
    def category_of(**changes: Any) -> int:
        response = fake.send_order(client, an_order(city, **changes))
        assert response.status_code == 200, response.text
        return case_of(session, response.json()["case_no"]).category_id

    assert category_of(category="市容环境-暴露垃圾") == city.rubbish.id  # the mapping table
    assert category_of(category="其他", title="人行道井盖松动") == city.manhole.id  # a keyword
    assert category_of(category="上水井盖", title="诉求") == city.manhole.id  # our own category name
    assert category_of(category="噪音扰民", title="广场舞太吵") == city.rubbish.id  # the default


def test_positions_gcj02_and_the_flagged_default(
    client: TestClient, fake: Fake12345, city: City, session: Session, exchange_settings: Settings
) -> None:
    lng, lat = city.point()
    gcj_lng, gcj_lat = wgs84_to_gcj02(lng, lat)
    response = fake.send_order(client, an_order(city, lng=gcj_lng, lat=gcj_lat, coord="gcj02"))
    case = case_of(session, response.json()["case_no"])
    assert (case.lng, case.lat) == pytest.approx((lng, lat), abs=1e-6)

    for changes in ({"lng": None, "lat": None}, {"lng": 100.0, "lat": 30.0}):
        response = fake.send_order(client, an_order(city, **changes))
        assert response.status_code == 200, response.text
        case = case_of(session, response.json()["case_no"])
        expected = (exchange_settings.gov12345.default_lng, exchange_settings.gov12345.default_lat)
        assert (case.lng, case.lat) == pytest.approx(expected, abs=1e-6)
        order = session.exec(select(ExchangeOrder).where(col(ExchangeOrder.case_id) == case.id)).one()
        assert order.location_flagged
        event = session.exec(select(CaseEvent).where(col(CaseEvent.case_id) == case.id)).one()
        assert "默认位置" in event.note


def test_urgency_sets_the_priority(client: TestClient, fake: Fake12345, city: City, session: Session) -> None:
    response = fake.send_order(client, an_order(city, urgency="urgent"))
    assert case_of(session, response.json()["case_no"]).priority is Priority.URGENT


def test_without_configuration_the_endpoint_is_unavailable(
    session: Session, fake: Fake12345, city: City
) -> None:
    with client_for(session, get_settings()) as plain:
        response = fake.send_order(plain, an_order(city))
    assert response.status_code == 503
    assert response.json()["code"] == "exchange_unavailable"


def test_without_a_default_category_an_unknown_hint_is_unavailable_not_a_500(
    session: Session, fake: Fake12345, city: City, exchange_settings: Settings
) -> None:
    group = exchange_settings.gov12345.model_copy(update={"default_category": "", "category_map": {}})
    with client_for(session, exchange_settings.model_copy(update={"gov12345": group})) as test_client:
        response = fake.send_order(test_client, an_order(city, category="噪音", title="广场舞太吵"))
    assert response.status_code == 503
    assert response.json()["code"] == "exchange_unavailable"
