"""The case queues in a real browser: search, switch queue, next page, back, and the counts refreshing.

Each test works in its own new community with a dispatcher whose area is that community, so cases of
other browser tests (same live database) never show up in its queues.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, col, select

from core.kit.clock import utcnow
from core.models import AdminArea, Case, CaseStatus, Channel, StaffRole, StaffUser
from core.staff.passwords import hash_password
from tests.browser.conftest import NewContext, screenshot, sign_in
from tests.fixtures.cases import PASSWORD, City
from tests.fixtures.factories import Factory


@dataclass
class Desk:
    dispatcher: StaffUser
    community: str
    token: str  # in every description: unique to this test


def _new_community(session: Session) -> AdminArea:
    factory = Factory(session)
    while True:
        street, community = f"{secrets.randbelow(900) + 100}", f"{secrets.randbelow(900) + 100}"
        code = f"360502{street}{community}"
        if session.exec(select(AdminArea).where(col(AdminArea.code) == code)).first() is None:
            return factory.area_tree(street=street, community=community)


def add_case(session: Session, city: City, desk: Desk, label: str, **fields: object) -> Case:
    lng, lat = city.point()
    case = Case(
        case_no=f"Q{secrets.token_hex(6).upper()}",
        channel=Channel.HOTLINE,
        status=CaseStatus.REGISTERED,
        category_id=city.manhole.id,
        description=f"队列测试 {desk.token} {label}",
        address=f"队列路 {label} 号",
        lng=lng,
        lat=lat,
        unit_grid_code=f"{desk.community}001",
        community_code=desk.community,
        street_code=desk.community[:9],
        district_code=desk.community[:6],
        dispatch_due_at=utcnow() + timedelta(days=2),
    )
    for name, value in fields.items():
        setattr(case, name, value)
    session.add(case)
    return case


@pytest.fixture
def desk(live_session: Session, live_city: City) -> Desk:
    community = _new_community(live_session)
    dispatcher = StaffUser(
        username=f"queue-{secrets.token_hex(4)}",
        display_name="队列派遣员",
        role=StaffRole.DISPATCHER,
        password_hash=hash_password(PASSWORD),
        area_id=community.id,
    )
    live_session.add(dispatcher)
    desk = Desk(dispatcher=dispatcher, community=community.code, token=secrets.token_hex(4).upper())
    now = utcnow()
    for index in range(53):
        add_case(live_session, live_city, desk, f"{index:02d}", overdue=index < 2)
    # Deadlines in colour: one passed (red), one due within the hour (orange).
    add_case(live_session, live_city, desk, "late", dispatch_due_at=now - timedelta(hours=3))
    add_case(live_session, live_city, desk, "soon", dispatch_due_at=now + timedelta(minutes=40))
    live_session.commit()
    return desk


def rows(page: Page) -> object:
    return page.locator("[data-rows] tr[data-href]")


def count(page: Page, queue: str) -> object:
    return page.locator(f'#queue-tabs [data-count="{queue}"]')


def test_search_switch_queue_next_page_and_back(new_context: NewContext, live_city: City, desk: Desk) -> None:
    page = sign_in(new_context(), desk.dispatcher)
    page.goto("/admin/cases")
    expect(page.get_by_role("heading", name="案件队列")).to_be_visible()
    expect(page.locator("#queue-tabs a.current")).to_contain_text("待派遣")
    expect(count(page, "to-dispatch")).to_have_text("55")
    expect(count(page, "due-soon")).to_have_text("1")
    expect(rows(page)).to_have_count(50)
    expect(rows(page).nth(0).locator("td.deadline")).to_have_class(re.compile("overdue"))
    expect(rows(page).nth(1).locator("td.deadline")).to_have_class(re.compile("soon"))
    screenshot(page, "queues")

    # "/" focuses the search; typing a label finds that case (description or address contains).
    page.keyboard.press("/")
    expect(page.locator("[data-search]")).to_be_focused()
    page.keyboard.type(f"{desk.token} 07")
    page.keyboard.press("Enter")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("队列路 07 号")
    expect(page).to_have_url(re.compile(r"/admin/cases\?queue=to-dispatch&q=[^&]+07"))
    expect(page.locator(".queue-summary")).to_contain_text("以下为筛选结果")

    # Back: the whole queue again, and the form shows what the URL says.
    page.go_back()
    expect(rows(page)).to_have_count(50)
    expect(page.locator("[data-search]")).to_have_value("")

    # The next page holds the rest; the previous page goes back.
    page.get_by_role("link", name="下一页").click()
    expect(rows(page)).to_have_count(5)
    expect(page).to_have_url(re.compile(r"after=\d+\.\d+"))
    page.get_by_role("link", name="上一页").click()
    expect(rows(page)).to_have_count(50)
    expect(page).to_have_url(re.compile(r"before=\d+\.\d+"))

    # Another queue: the overdue ones (and the tab says so).
    page.locator('#queue-tabs a[data-queue="overdue"]').click()
    expect(page).to_have_url(re.compile(r"queue=overdue"))
    expect(page.locator("#queue-tabs a.current")).to_contain_text("已超期")
    expect(rows(page)).to_have_count(2)

    # j / Enter open the selected case's page.
    page.keyboard.press("j")
    expect(rows(page).first).to_have_class(re.compile("selected"))
    href = rows(page).first.get_attribute("data-href")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(href or "?")))


def test_counts_refresh_without_reloading(
    new_context: NewContext, live_city: City, live_session: Session, desk: Desk
) -> None:
    page = sign_in(new_context(), desk.dispatcher)
    page.clock.install()
    page.goto("/admin/cases?queue=to-dispatch")
    expect(count(page, "to-dispatch")).to_have_text("55")
    page.locator("[data-search]").fill("还没有提交的内容")  # a reload would lose it

    add_case(live_session, live_city, desk, "new")
    live_session.commit()
    page.clock.fast_forward("01:00")  # past settings.console.counts_refresh_s
    expect(count(page, "to-dispatch")).to_have_text("56")
    expect(page.locator("[data-search]")).to_have_value("还没有提交的内容")
