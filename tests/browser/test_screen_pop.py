"""The hotline screen-pop in a real browser: an operator with a phone interface opens 热线来电; a call
connected to that phone (committed as the bridge would) pops up live (server-sent events, the
database-polling path); the operator saves the prefilled work order and the call is linked to the case."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from playwright.sync_api import expect
from sqlmodel import Session

from core.kit.clock import utcnow
from core.models import (
    Call,
    CallDirection,
    CallDisposition,
    CallState,
    Case,
    Channel,
    StaffRole,
    StaffUser,
)
from core.staff.passwords import hash_password
from tests.browser.conftest import NewContext, screenshot, sign_in
from tests.fixtures.cases import PASSWORD, City


def test_screen_pop_and_work_order(new_context: NewContext, live_city: City, live_session: Session) -> None:
    tag = secrets.token_hex(3)
    operator = StaffUser(
        username=f"hotline-{tag}",
        display_name="话务员丙",
        role=StaffRole.OPERATOR,
        password_hash=hash_password(PASSWORD),
        agent_interface=f"PJSIP/9{secrets.randbelow(10**6):06d}",
    )
    live_session.add(operator)
    live_session.commit()

    page = sign_in(new_context(), operator)
    page.goto("/admin/hotline")
    expect(page.get_by_role("heading", name="热线来电")).to_be_visible()
    expect(page.locator("#hotline-status")).to_have_attribute("data-state", "open")

    number = f"135{secrets.randbelow(10**8):08d}"
    now = utcnow()
    call = Call(
        linkedid=f"browser-{tag}",
        direction=CallDirection.INBOUND,
        line="12319",
        caller_number=number,
        queue="hotline",
        agent_interface=operator.agent_interface,
        agent_staff_id=operator.id,
        state=CallState.CONNECTED,
        started_at=now - timedelta(seconds=12),
        queued_at=now - timedelta(seconds=10),
        answered_at=now,
        hold_s=10,
    )
    live_session.add(call)
    live_session.commit()

    pop = page.locator(f'article.pop[data-call-id="{call.id}"]')
    expect(pop).to_be_visible()
    expect(pop.locator("[data-caller]")).to_have_text(number)
    expect(pop.get_by_label("来电号码")).to_have_value(number)
    expect(pop.get_by_label("来电线路")).to_have_value("12319")
    expect(pop.get_by_text("该号码没有历史案件。")).to_be_visible()

    lng, lat = live_city.point()
    form = pop.get_by_role("form", name="受理工单")
    form.get_by_label("联系人").fill("李女士")
    form.get_by_label("案件类别").select_option(live_city.manhole.code or "")
    form.get_by_label("问题描述").fill(f"来电反映井盖缺失 {tag}")
    form.get_by_label("地址").fill("测试路 1 号")
    form.get_by_label("经度").fill(str(lng))
    form.get_by_label("纬度").fill(str(lat))
    screenshot(page, "screen-pop")
    form.get_by_role("button", name="保存工单").click()

    done = page.locator(f'article.pop-done[data-call-id="{call.id}"]')
    expect(done).to_contain_text("已立单")
    case_link = done.get_by_role("link", name=re.compile(r"RX\d{4}$"))
    expect(case_link).to_be_visible()

    live_session.expire_all()
    saved = live_session.get(Call, call.id)
    assert saved is not None
    assert saved.disposition is CallDisposition.CASE
    case = live_session.get(Case, saved.case_id)
    assert case is not None
    assert case.channel is Channel.HOTLINE
    assert case.reporter_phone == number
    assert case.case_no in (case_link.text_content() or "")
