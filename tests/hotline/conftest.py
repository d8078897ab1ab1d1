"""The bridge against the fake AMI, writing to its own database.

The bridge applies events on its own database thread and commits, so the rolled-back test session
cannot see them: these tests use one database per run (``database_url("hotline")``: a SQLite file or
a PostgreSQL database, as the rest of the suite), migrated once, emptied of calls before each test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import select

from core.db import build_engine, session_scope
from core.migrate import upgrade
from core.models import Call, CallTask, StaffRole, StaffUser
from core.settings import Settings, get_settings
from hotline.bridge import Bridge
from tests.conftest import database_url, drop_database
from tests.fixtures.fake_ami import FakeAmi, running_fake_ami

T = TypeVar("T")
AGENTS = {"PJSIP/8001": "agent-8001", "PJSIP/8002": "agent-8002"}
# Short intervals: a half-open socket is noticed within 2 s, reconnects come within 0.2 s. The ping
# timeout stays generous: on a loaded machine a short one declares a live connection dead, and the
# tests that count logins and connections would see a spurious reconnect.
FAST = {"ping_interval_s": 0.2, "ping_timeout_s": 1.5, "reconnect_min_s": 0.05, "reconnect_max_s": 0.2}
TIMEOUT_S = 20.0


@pytest.fixture(scope="session")
def hotline_engine() -> Iterator[Engine]:
    url = database_url("hotline")
    engine = build_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        for interface, username in AGENTS.items():
            session.add(
                StaffUser(
                    username=username,
                    display_name=f"坐席{interface[-4:]}",
                    role=StaffRole.OPERATOR,
                    password_hash="x",
                    agent_interface=interface,
                )
            )
    yield engine
    engine.dispose()
    drop_database(url)


@pytest.fixture
def engine_(hotline_engine: Engine) -> Engine:
    """The hotline database with no calls left from an earlier test."""
    with session_scope(hotline_engine) as session:
        session.execute(sa.delete(CallTask))
        session.execute(sa.delete(Call))
    return hotline_engine


@pytest.fixture
def fake_ami() -> Iterator[FakeAmi]:
    with running_fake_ami() as fake:
        yield fake


@pytest.fixture
def ami_settings(fake_ami: FakeAmi) -> Settings:
    return fake_ami.settings_for(get_settings(), **FAST)


def staff_id(engine: Engine, interface: str) -> int | None:
    with session_scope(engine) as session:
        return session.exec(select(StaffUser.id).where(StaffUser.agent_interface == interface)).first()


def run(coroutine: Awaitable[T], timeout: float = TIMEOUT_S) -> T:
    """Run a test scenario on a fresh event loop; never longer than ``timeout``."""

    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


async def eventually(check: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll ``check`` (run in a thread: it may query the database) until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def with_bridge(settings: Settings, engine: Engine, body: Callable[[Bridge], Awaitable[Any]]) -> Bridge:
    """Run the bridge while ``body`` runs, then stop it and wait for it to finish."""
    bridge = Bridge(settings, engine=engine)
    task = asyncio.create_task(bridge.run())
    try:
        await body(bridge)
    finally:
        bridge.stop()
        await asyncio.wait_for(task, 10)
    return bridge


async def ready(bridge: Bridge, logins: int = 1) -> None:
    """Until the bridge has logged in ``logins`` times and applied the resync of the last one."""
    await eventually(lambda: bridge.status.logins >= logins and bridge.status.resyncs >= logins)
    await asyncio.wait_for(bridge.drained(), 5)


def load_call(engine: Engine, linkedid: str) -> Call | None:
    with session_scope(engine) as session:
        return session.exec(select(Call).where(Call.linkedid == linkedid)).first()


def load_tasks(engine: Engine, call_id: int | None) -> list[CallTask]:
    with session_scope(engine) as session:
        return list(session.exec(select(CallTask).where(CallTask.call_id == call_id)).all())
