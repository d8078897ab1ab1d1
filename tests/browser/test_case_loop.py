"""A case through the loop in a real browser: the dispatcher dispatches, the department handles, the
supervisor checks and closes; a stale form shows the conflict; another department's case is a 403."""

from __future__ import annotations

import io
import re
import secrets

from PIL import Image
from playwright.sync_api import BrowserContext, Page, expect
from sqlmodel import Session, col, select

from core.models import AuditEntry, Case, CaseStatus, Channel, ReplyTemplate, StaffRole, StaffUser
from tests.browser.conftest import NewContext, screenshot, sign_in
from tests.fixtures.cases import City


def seed_case(session: Session, city: City, status: CaseStatus, *, department_id: int | None = None) -> str:
    """A committed manhole case in the city's first grid cell, with a reporter phone (unique number)."""
    lng, lat = city.point()
    community = city.community.code
    case = Case(
        case_no=f"B{secrets.token_hex(6).upper()}",
        channel=Channel.HOTLINE,
        status=status,
        reporter_phone="13800138000",
        category_id=city.manhole.id,
        register_standard_id=city.manhole_loose.id if status is not CaseStatus.PENDING else None,
        description=f"浏览器测试：井盖缺失 {secrets.token_hex(2)}",
        address="测试路 1 号",
        lng=lng,
        lat=lat,
        unit_grid_code=f"{community}001",
        community_code=community,
        street_code=community[:9],
        district_code=community[:6],
        responsibility_grid_code=f"{community}01",
        department_id=department_id,
        handle_limit_kind=city.manhole_loose.time_limit_kind,
        handle_limit_amount=city.manhole_loose.time_limit_amount,
    )
    session.add(case)
    session.commit()
    return case.case_no


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (30, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def open_case(context: BrowserContext, user: StaffUser, case_no: str) -> Page:
    page = sign_in(context, user)
    page.goto(f"/admin/cases/{case_no}")
    expect(page.get_by_role("heading", name=re.compile(f"案件 {case_no}"))).to_be_visible()
    return page


def open_action(page: Page, action: str) -> None:
    details = page.locator(f'details.action[data-action="{action}"]')
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    expect(details.locator("form")).to_be_visible()


def current_status(session: Session, case_no: str) -> CaseStatus:
    session.expire_all()
    return session.exec(select(Case).where(col(Case.case_no) == case_no)).one().status


def test_dispatch_handle_check_close(new_context: NewContext, live_city: City, live_session: Session) -> None:
    case_no = seed_case(live_session, live_city, CaseStatus.REGISTERED)
    template = ReplyTemplate(
        title=f"井盖模板{secrets.token_hex(2)}",
        body="您反映的井盖问题已处理。",
        category_id=live_city.manhole.id,
    )
    live_session.add(template)
    live_session.commit()
    dispatcher = open_case(new_context(), live_city.staff[StaffRole.DISPATCHER], case_no)
    handler_context = new_context()

    # The map draws the case point and its unit grid (no tile server configured).
    expect(dispatcher.locator("#case-map")).to_have_attribute("data-ready", "1")
    expect(dispatcher.locator("#case-map path")).to_have_count(2)

    # The dispatcher: the routed department is pre-selected.
    open_action(dispatcher, "dispatch")
    department = dispatcher.locator('details[data-action="dispatch"] select[name="department"]')
    expect(department).to_have_value(live_city.municipal.code)
    dispatcher.get_by_role("button", name="确认派遣").click()
    expect(dispatcher.get_by_role("status").filter(has_text="已完成“派遣”")).to_be_visible()
    expect(dispatcher.locator(".case-head .badge").first).to_have_text("处置中")

    # The department's handler reports it fixed, with an after-photo and a reply to the citizen.
    handler = open_case(handler_context, live_city.staff[StaffRole.HANDLER], case_no)
    open_action(handler, "handle")
    form = handler.locator('details[data-action="handle"] form')
    form.locator('input[name="photos"]').set_input_files(
        files=[{"name": "after.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}]
    )
    form.get_by_label("处置说明").fill("已更换新井盖")
    # A reply template fills the reply, which stays editable.
    form.locator("select[data-reply-template]").select_option(label=template.title)
    expect(form.get_by_label("给市民的答复")).to_have_value("您反映的井盖问题已处理。")
    form.get_by_label("给市民的答复").fill("井盖已更换，感谢您的反映。")
    screenshot(handler, "case-handle-form")
    form.get_by_role("button", name="确认处置反馈").click()
    expect(handler.get_by_role("status").filter(has_text="已完成“处置反馈”")).to_be_visible()
    expect(handler.locator("ol.timeline")).to_contain_text("已更换新井盖")

    # Handled → the system sends it to the on-duty supervisor (the workflow: checking is theirs).
    supervisor = open_case(new_context(), live_city.staff[StaffRole.SUPERVISOR], case_no)
    expect(supervisor.locator(".case-head .badge").first).to_have_text("核查中")
    # The after-photo's display copy (made by the job after commit) opens in the lightbox.
    photo = supervisor.locator("a[data-lightbox]").first
    expect(photo).to_be_visible()
    photo.click()
    lightbox = supervisor.locator("#lightbox")
    expect(lightbox).to_be_visible()
    expect(lightbox.locator("figcaption")).to_contain_text("处置照片")
    supervisor.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()

    open_action(supervisor, "check")
    form = supervisor.locator('details[data-action="check"] form')
    form.get_by_label("通过（结案）").check()
    form.get_by_role("button", name="确认核查反馈").click()
    expect(supervisor.get_by_role("status").filter(has_text="已完成“核查反馈”")).to_be_visible()

    dispatcher.reload()
    expect(dispatcher.locator(".case-head .badge").first).to_have_text("已结案")
    expect(dispatcher.locator("ol.timeline li")).to_have_count(4)  # dispatch, handle, send_check, check
    expect(dispatcher.locator("#h-calls + p")).to_have_text("暂无来电记录")
    # The full phone number for a dispatcher, via htmx, audited.
    expect(dispatcher.locator("#reporter-phone")).to_contain_text("138****8000")
    dispatcher.get_by_role("button", name="显示完整号码").click()
    expect(dispatcher.locator("#reporter-phone")).to_contain_text("13800138000")
    screenshot(dispatcher, "case-page")

    # On a phone the page is one column with the actions first.
    dispatcher.set_viewport_size({"width": 390, "height": 844})
    actions_box = dispatcher.locator("section.actions").bounding_box()
    description_box = dispatcher.locator("section[aria-labelledby=h-desc]").bounding_box()
    assert actions_box is not None
    assert description_box is not None
    assert actions_box["y"] < description_box["y"]
    assert actions_box["width"] > 300
    screenshot(dispatcher, "case-page-phone")

    assert current_status(live_session, case_no) is CaseStatus.CLOSED
    entries = live_session.exec(select(AuditEntry).where(col(AuditEntry.target_id) == case_no)).all()
    actions = {entry.action for entry in entries}
    assert {"dispatch", "handle", "check", "view_phone"} <= actions


def test_a_stale_form_shows_the_conflict(
    new_context: NewContext, live_city: City, live_session: Session
) -> None:
    case_no = seed_case(live_session, live_city, CaseStatus.REGISTERED)
    first = open_case(new_context(), live_city.staff[StaffRole.DISPATCHER], case_no)
    second = open_case(new_context(), live_city.staff[StaffRole.SHIFT_LEAD], case_no)
    open_action(first, "dispatch")
    open_action(second, "dispatch")

    first.get_by_role("button", name="确认派遣").click()
    expect(first.get_by_role("status").filter(has_text="已完成“派遣”")).to_be_visible()

    second.locator('details[data-action="dispatch"] form').get_by_label("派遣说明").fill("我也来派")
    second.get_by_role("button", name="确认派遣").click()
    alert = second.get_by_role("alert")
    expect(alert).to_contain_text("“派遣”未执行：该案件已被他人处理或更新")
    expect(alert).to_contain_text("案件当前状态为“处置中”")
    expect(second.locator(".case-head .badge").first).to_have_text("处置中")
    expect(second).to_have_url(re.compile(f"/admin/cases/{case_no}$"))
    screenshot(second, "case-conflict")


def test_another_departments_case_is_forbidden(
    new_context: NewContext, live_city: City, live_session: Session
) -> None:
    case_no = seed_case(live_session, live_city, CaseStatus.DISPATCHED, department_id=live_city.sanitation.id)
    page = sign_in(new_context(), live_city.staff[StaffRole.HANDLER])  # a municipal handler
    response = page.goto(f"/admin/cases/{case_no}")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name=re.compile("无权查看该案件"))).to_be_visible()
