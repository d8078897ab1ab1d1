"""The console's hotline: page roles, the screen-pop stream, the call's disposition, service levels."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.calls import notify
from core.cases.console import linked_calls
from core.db import build_engine, session_scope
from core.kit.clock import utcnow
from core.migrate import upgrade
from core.models import (
    AuditEntry,
    Call,
    CallDirection,
    CallDisposition,
    CallOutcome,
    CallState,
    Case,
    CaseStatus,
    Channel,
    StaffRole,
    StaffUser,
)
from core.settings import Settings, get_settings
from core.staff import sessions
from tests.admin.conftest import console_for, sign_in
from tests.conftest import database_url, drop_database
from tests.fixtures.cases import City, MakeCase, build_city
from tests.fixtures.factories import Factory


def connected_call(
    session: Session, agent: StaffUser | None, *, number: str = "", line: str = "12319", ended: bool = False
) -> Call:
    now = utcnow()
    call = Call(
        linkedid=f"t-{secrets.token_hex(8)}",
        direction=CallDirection.INBOUND,
        line=line,
        caller_number=number or f"139{secrets.randbelow(10**8):08d}",
        queue="hotline",
        agent_interface=agent.agent_interface if agent else "",
        agent_staff_id=agent.id if agent else None,
        state=CallState.ENDED if ended else CallState.CONNECTED,
        outcome=CallOutcome.ANSWERED if ended else None,
        started_at=now - timedelta(seconds=20),
        queued_at=now - timedelta(seconds=15),
        answered_at=now - timedelta(seconds=10),
        ended_at=now if ended else None,
        hold_s=5,
    )
    session.add(call)
    session.flush()
    return call


def agent(city: City, role: StaffRole = StaffRole.OPERATOR) -> StaffUser:
    user = city.staff_member(role)
    user.agent_interface = f"PJSIP/{secrets.randbelow(9000) + 1000}"
    city.session.flush()
    return user


def audits(session: Session, action: str, call: Call) -> list[AuditEntry]:
    statement = select(AuditEntry).where(
        col(AuditEntry.action) == action, col(AuditEntry.target_id) == str(call.id)
    )
    return list(session.exec(statement).all())


HX = {"HX-Request": "true"}


# --- roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (StaffRole.OPERATOR, 200),
        (StaffRole.SHIFT_LEAD, 200),
        (StaffRole.ADMIN, 200),
        (StaffRole.DISPATCHER, 403),
        (StaffRole.LEADER, 403),
        (StaffRole.HANDLER, 403),
    ],
)
def test_hotline_page_roles(console: TestClient, city: City, role: StaffRole, status: int) -> None:
    sign_in(console, city.staff[role])
    page = console.get("/hotline")
    assert page.status_code == status
    if status == 200:
        assert 'data-events="' in page.text
        assert "/hotline/events" in page.text
        assert "hotline.js" in page.text
        assert "还没有设置坐席分机" in page.text  # the city's accounts have no interface
    else:
        assert "无权" in page.text


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (StaffRole.SHIFT_LEAD, 200),
        (StaffRole.LEADER, 200),
        (StaffRole.ADMIN, 200),
        (StaffRole.OPERATOR, 403),
        (StaffRole.DISPATCHER, 403),
    ],
)
def test_service_level_page_roles(console: TestClient, city: City, role: StaffRole, status: int) -> None:
    sign_in(console, city.staff[role])
    assert console.get("/hotline/service-levels").status_code == status


def test_events_need_a_signed_in_agent(console: TestClient, city: City) -> None:
    assert console.get("/hotline/events").status_code == 303  # to the sign-in page
    sign_in(console, city.staff[StaffRole.DISPATCHER])
    assert console.get("/hotline/events").status_code == 403


# --- the pop -------------------------------------------------------------------------------------


def test_pop_shows_the_full_number_and_the_callers_history(
    console: TestClient, session: Session, city: City, make_case: MakeCase
) -> None:
    operator = agent(city)
    number = f"137{secrets.randbelow(10**8):08d}"
    earlier_case = make_case(CaseStatus.DISPATCHED)
    earlier_case.reporter_phone = number
    session.flush()
    earlier = connected_call(session, operator, number=number, ended=True)
    earlier.started_at -= timedelta(days=3)
    earlier.disposition, earlier.case_id = CallDisposition.CASE, earlier_case.id
    call = connected_call(session, operator, number=number)
    sign_in(console, operator)
    pop = console.get(f"/hotline/calls/{call.id}", headers=HX)
    assert pop.status_code == 200
    assert "<html" not in pop.text  # a fragment
    assert number in pop.text
    assert earlier_case.case_no in pop.text
    assert "历史来电（1）" in pop.text
    assert "已立单" in pop.text
    assert 'name="category"' in pop.text
    assert "保存工单" in pop.text
    page = console.get(f"/hotline/calls/{call.id}")
    assert "<html" in page.text
    assert number in page.text


def test_an_operator_cannot_open_another_agents_call(
    console: TestClient, session: Session, city: City
) -> None:
    call = connected_call(session, agent(city))
    sign_in(console, agent(city))
    assert console.get(f"/hotline/calls/{call.id}").status_code == 403
    assert console.get("/hotline/calls/999999999").status_code == 404


# --- dispositions --------------------------------------------------------------------------------


def test_work_order_creates_a_hotline_case_linked_to_the_call(
    console: TestClient, session: Session, city: City
) -> None:
    operator = agent(city)
    call = connected_call(session, operator)
    csrf = sign_in(console, operator)
    lng, lat = city.point()
    form = {
        "csrf_token": csrf,
        "category": city.manhole.code,
        "description": "井盖破损，行人容易踩空",
        "address": "测试路 1 号",
        "lng": str(lng),
        "lat": str(lat),
        "reporter_name": "王先生",
    }
    missing = console.post(f"/hotline/calls/{call.id}/case", data={**form, "category": ""}, headers=HX)
    assert missing.status_code == 422
    assert "请选择案件类别" in missing.text
    short = console.post(f"/hotline/calls/{call.id}/case", data={**form, "description": "坏"})
    assert short.status_code == 422
    assert "问题描述至少" in short.text
    session.refresh(call)
    assert call.disposition is CallDisposition.NONE

    answer = console.post(f"/hotline/calls/{call.id}/case", data=form, headers=HX)
    assert answer.status_code == 200, answer.text
    assert "已立单" in answer.text
    session.refresh(call)
    assert call.disposition is CallDisposition.CASE
    case = session.get(Case, call.case_id)
    assert case is not None
    assert case.channel is Channel.HOTLINE
    assert case.status is CaseStatus.PENDING
    assert case.reporter_phone == call.caller_number
    assert case.reporter_name == "王先生"
    assert not case.is_public
    assert case.case_no in answer.text
    entries = audits(session, "hotline_case", call)
    assert len(entries) == 1
    assert case.case_no in entries[0].detail
    # The case page's "关联来电" lists the call (number masked).
    rows = linked_calls(session, case)
    assert len(rows) == 1
    assert rows[0].caller == f"{call.caller_number[:3]}****{call.caller_number[-4:]}"
    assert "已立单" in rows[0].summary
    # Handled once: a second submission (another tab) conflicts.
    again = console.post(f"/hotline/calls/{call.id}/case", data=form, headers=HX)
    assert again.status_code == 409
    assert "已经处理过" in again.text


def test_work_order_without_htmx_redirects_to_the_call(
    console: TestClient, session: Session, city: City
) -> None:
    operator = agent(city)
    call = connected_call(session, operator)
    csrf = sign_in(console, operator)
    lng, lat = city.point()
    data = {"csrf_token": csrf, "category": city.rubbish.code, "description": "路边有一堆垃圾"}
    answer = console.post(f"/hotline/calls/{call.id}/case", data={**data, "lng": str(lng), "lat": str(lat)})
    assert answer.status_code == 303
    case = session.get(Case, call.case_id)
    assert case is not None
    assert answer.headers["location"].endswith(f"/hotline/calls/{call.id}?done=case&case={case.case_no}")
    page = console.get(answer.headers["location"])
    assert "已立单" in page.text
    assert "该来电已处理" in page.text


def test_enquiry_closes_the_call_with_a_note(console: TestClient, session: Session, city: City) -> None:
    operator = agent(city)
    call = connected_call(session, operator, ended=True)
    csrf = sign_in(console, operator)
    empty = console.post(
        f"/hotline/calls/{call.id}/enquiry", data={"csrf_token": csrf, "note": " "}, headers=HX
    )
    assert empty.status_code == 422
    assert "请填写咨询内容" in empty.text
    answer = console.post(
        f"/hotline/calls/{call.id}/enquiry", data={"csrf_token": csrf, "note": "咨询垃圾清运时间"}, headers=HX
    )
    assert answer.status_code == 200
    assert "按咨询办结" in answer.text
    session.refresh(call)
    assert (call.disposition, call.note, call.case_id) == (CallDisposition.ENQUIRY, "咨询垃圾清运时间", None)
    assert len(audits(session, "hotline_enquiry", call)) == 1
    no_csrf = console.post(f"/hotline/calls/{call.id}/enquiry", data={"note": "x"})
    assert no_csrf.status_code == 403


def test_link_to_an_existing_case(
    console: TestClient, session: Session, city: City, make_case: MakeCase
) -> None:
    operator = agent(city)
    case = make_case(CaseStatus.DISPATCHED)
    call = connected_call(session, operator)
    csrf = sign_in(console, operator)
    unknown = console.post(
        f"/hotline/calls/{call.id}/link", data={"csrf_token": csrf, "case_no": "NOPE"}, headers=HX
    )
    assert unknown.status_code == 404
    answer = console.post(
        f"/hotline/calls/{call.id}/link",
        data={"csrf_token": csrf, "case_no": case.case_no, "note": "询问进度"},
        headers=HX,
    )
    assert answer.status_code == 200
    assert case.case_no in answer.text
    session.refresh(call)
    assert (call.disposition, call.case_id) == (CallDisposition.LINKED, case.id)
    assert len(audits(session, "hotline_link", call)) == 1
    assert [row.summary.endswith("询问进度") for row in linked_calls(session, case)] == [True]


def test_a_shift_lead_may_handle_any_call_an_operator_only_theirs(
    console: TestClient, session: Session, city: City
) -> None:
    call = connected_call(session, agent(city))
    csrf = sign_in(console, agent(city))
    refused = console.post(f"/hotline/calls/{call.id}/enquiry", data={"csrf_token": csrf, "note": "咨询"})
    assert refused.status_code == 403
    with console_for(session, get_settings()) as lead:
        csrf = sign_in(lead, city.staff[StaffRole.SHIFT_LEAD])
        done = lead.post(f"/hotline/calls/{call.id}/enquiry", data={"csrf_token": csrf, "note": "咨询"})
    assert done.status_code == 303


# --- service levels ------------------------------------------------------------------------------


def test_service_level_page_and_export(console: TestClient, session: Session, city: City) -> None:
    operator = agent(city)
    connected_call(session, operator, line="12345", ended=True)
    csrf = sign_in(console, city.staff[StaffRole.SHIFT_LEAD])
    assert csrf
    today = utcnow() + timedelta(hours=8)
    page = console.get("/hotline/service-levels", params={"by": "line", "start": f"{today:%Y-%m-%d}"})
    assert page.status_code == 200
    assert "12345" in page.text
    assert "合计" in page.text
    assert "导出 Excel" in page.text
    by_agent = console.get("/hotline/service-levels", params={"by": "agent"})
    assert operator.display_name in by_agent.text
    bad = console.get("/hotline/service-levels", params={"start": "2026-13-01"})
    assert bad.status_code == 422
    assert "格式不正确" in bad.text
    backwards = console.get("/hotline/service-levels", params={"start": "2026-03-02", "end": "2026-03-01"})
    assert backwards.status_code == 422
    export = console.get("/hotline/service-levels", params={"by": "day", "export": "xlsx"})
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert export.content[:2] == b"PK"
    entries = session.exec(select(AuditEntry).where(col(AuditEntry.action) == "hotline_levels_export")).all()
    assert len(entries) == 1


# --- the event stream on committed data (the database-polling path) ----------------------------


@pytest.fixture(scope="module")
def stream_db() -> Iterator[tuple[Engine, Settings]]:
    """A database of its own, committed: the stream reads it from the server's own sessions."""
    url = database_url("hotline_sse")
    engine = build_engine(url)
    upgrade(engine)
    base = get_settings()
    settings = base.model_copy(update={"db": base.db.model_copy(update={"url": url})})
    assert not settings.redis.url
    yield engine, settings
    engine.dispose()
    from core.db import dispose_engines

    dispose_engines()
    drop_database(url)


def test_stream_pops_connected_calls_and_ends_with_the_session(stream_db: tuple[Engine, Settings]) -> None:
    engine, settings = stream_db
    with session_scope(engine) as session:
        city = build_city(session, Factory(session))
        operator = agent(city)
        other = agent(city)
        before = connected_call(session, operator)  # already talking when the page opens
        foreign = connected_call(session, other)  # another agent's call: never in this stream
    from admin.main import create_app

    client = TestClient(create_app(settings), follow_redirects=False)
    with client:
        sign_in(client, operator)
        body: list[str] = []

        def read() -> None:
            body.append(client.get("/hotline/events").text)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(1.0)
        with session_scope(engine) as session:
            fresh = connected_call(session, operator)  # connected while the stream is open
        time.sleep(3.0)
        with session_scope(engine) as session:
            assert operator.id is not None
            sessions.revoke_all(session, operator.id)  # signed out everywhere: the stream must end
        reader.join(timeout=30)
        assert not reader.is_alive(), "the stream did not end with the session"
    text = body[0]
    assert text.startswith("retry: 3000")
    assert f"id: {before.id}\nevent: call\n" in text
    assert f"id: {fresh.id}\nevent: call\n" in text
    assert f"/hotline/calls/{fresh.id}" in text
    assert f"id: {foreign.id}\n" not in text
    assert text.count(f"id: {before.id}\n") == 1  # each call once
    assert text.rstrip().endswith('"登录已失效，请重新登录"}')


# --- the Redis path ------------------------------------------------------------------------------


def test_redis_wakes_only_the_agent_of_the_call(redis_url: str, session: Session, city: City) -> None:
    base = get_settings()
    settings = base.model_copy(
        update={
            "redis": base.redis.model_copy(update={"url": redis_url, "queue_prefix": secrets.token_hex(4)})
        }
    )
    operator = agent(city)
    call = connected_call(session, operator)
    assert operator.id is not None

    async def scenario() -> tuple[bool, bool]:
        listener = await notify.listener(settings, operator.id or 0)
        assert isinstance(listener, notify.RedisListener)
        try:
            notify.publish(settings, [(1, (operator.id or 0) + 1)])  # someone else's call
            other = await listener.wait(0.5)
            notify.publish_after_commit(session, [call], settings=settings)
            session.commit()  # the test session's commit releases a savepoint: after_commit runs
            mine = await listener.wait(10)
            return other, mine
        finally:
            await listener.close()

    other, mine = asyncio.run(scenario())
    assert (other, mine) == (False, True)


def test_without_redis_the_stream_polls(city: City) -> None:
    listener = asyncio.run(notify.listener(get_settings(), 1))
    assert isinstance(listener, notify.PollListener)
    assert asyncio.run(listener.wait(10)) is True
