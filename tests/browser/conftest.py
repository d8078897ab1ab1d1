"""The console in a real headless Chromium (Debian's, driven by Playwright through executable_path).

One database per run (``database_url("browser")``: a SQLite file or a PostgreSQL database, as the
rest of the suite), migrated and seeded with the test city by committed sessions; the real site
(``zhcg serve``'s composition: API with the console at /admin) runs in a uvicorn subprocess against it.
Tests build their own cases and read results back through ``live_session``. Screenshots of the main
pages are saved under ``var/test-artifacts/screenshots/<backend>/``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy import Engine
from sqlmodel import Session

from core.db import build_engine, session_scope
from core.migrate import upgrade
from core.models import StaffUser
from tests.conftest import TEST_BACKEND, TMP_ROOT, database_url, drop_database
from tests.fixtures.cases import PASSWORD, City, build_city
from tests.fixtures.factories import Factory

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("ZHCG_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "screenshots" / TEST_BACKEND
TIMEOUT_MS = 15_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def live_url() -> Iterator[str]:
    url = database_url("browser")
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def live_engine(live_url: str) -> Iterator[Engine]:
    engine = build_engine(live_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def live_city(live_engine: Engine) -> City:
    """The test city, committed for the server process to see (staff passwords: ``PASSWORD``)."""
    with session_scope(live_engine) as session:
        city = build_city(session, Factory(session))
    return city


@pytest.fixture(scope="session")
def server(live_url: str, live_engine: Engine, live_city: City) -> Iterator[str]:
    """The site's base URL (the console is under /admin)."""
    port = _free_port()
    env = {
        **os.environ,
        "ZHCG_DB__URL": live_url,
        "ZHCG_STORAGE__LOCAL_DIR": str(TMP_ROOT / "browser-photos"),
        "ZHCG_APP__BASE_URL": f"http://127.0.0.1:{port}",
    }
    env.pop("ZHCG_REDIS__URL", None)  # jobs run inline after commit, as with make run
    env["ZHCG_REDIS__EMBEDDED_CRON"] = "false"  # no periodic job changes what a test is looking at
    TMP_ROOT.mkdir(parents=True, exist_ok=True)
    log = (TMP_ROOT / "browser-server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "core.cli.serve:build_site",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError((TMP_ROOT / "browser-server.log").read_text()[-3000:])
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module. Not per session: Playwright's sync API keeps an event loop running
    in this thread while it is open, and later tests that call ``asyncio.run`` (the hotline bridge)
    would find it."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


NewContext = Callable[[], BrowserContext]


@pytest.fixture
def new_context(browser: Browser, server: str) -> Iterator[NewContext]:
    """Independent browser contexts (two people at two desks); closed after the test."""
    contexts: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context(
            base_url=server, locale="zh-CN", viewport={"width": 1440, "height": 900}
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def live_session(live_engine: Engine) -> Iterator[Session]:
    """A session on the live database; what a test writes here is committed at its end (or by hand)."""
    with session_scope(live_engine) as session:
        yield session


def sign_in(context: BrowserContext, user: StaffUser, password: str = PASSWORD) -> Page:
    page = context.new_page()
    page.goto("/admin/login")
    page.get_by_label("用户名").fill(user.username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/admin/(?!login)"))
    return page


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
