"""A leader registers a penalty decision in the browser, opens it from the list, shows the party's full
phone number (audited) and cancels the decision (confirm dialog); the database says what the pages said.
Screenshots of the fines list, the decision page and the payments page."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Dialog, expect
from sqlmodel import Session, col, select

from core.models import AuditEntry, FineStatus, PenaltyDecision, StaffRole
from tests.browser.conftest import NewContext, screenshot, sign_in
from tests.fixtures.cases import City


def test_leader_creates_opens_and_cancels_a_decision(
    new_context: NewContext, live_city: City, live_session: Session
) -> None:
    decision_no = f"城管罚决字〔2026〕第B{secrets.token_hex(3).upper()}号"
    page = sign_in(new_context(), live_city.staff[StaffRole.LEADER])
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="罚款").click()
    expect(page.get_by_role("heading", name="罚款决定书")).to_be_visible()

    page.get_by_role("link", name="登记决定书").click()
    page.get_by_label("决定书编号").fill(decision_no)
    page.get_by_label("当事人").fill("浏览器当事人")
    page.get_by_label("身份证号").fill("360102199001011234")
    page.get_by_label("联系电话").fill("13900001111")
    page.get_by_label("罚款金额（元）").fill("abc")
    page.get_by_label("决定日期").fill("2026-03-01")
    page.get_by_label("送达日期").fill("2026-03-02")
    page.get_by_role("button", name="登记").click()
    expect(page.get_by_role("alert")).to_contain_text("罚款金额格式不正确")  # the form again, as typed
    expect(page.get_by_label("决定书编号")).to_have_value(decision_no)
    page.get_by_label("罚款金额（元）").fill("500.50")
    page.get_by_role("button", name="登记").click()
    expect(page.locator(".alert.success")).to_contain_text("处罚决定书已登记")
    expect(page.locator("#amount")).to_have_text("500.50 元")
    expect(page.get_by_text("3601**********1234")).to_be_visible()

    page.goto("/admin/fines?q=" + decision_no)
    row = page.locator("[data-rows] tr", has_text=decision_no)
    expect(row).to_contain_text("浏览器当事人")
    expect(row).to_contain_text("500.50")
    screenshot(page, "fines")
    row.get_by_role("link", name=decision_no).click()
    expect(page).to_have_url(re.compile(r"/admin/fines/\d+$"))
    expect(page.locator("#party-phone")).to_contain_text("139****1111")
    page.get_by_role("button", name="显示完整号码").click()
    expect(page.locator("#party-phone")).to_contain_text("13900001111")
    screenshot(page, "fine")

    dialogs: list[str] = []

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.get_by_label("撤销原因").fill("行政复议决定撤销")
    page.get_by_role("button", name="撤销").click()
    expect(page.locator(".alert.success")).to_contain_text("处罚决定书已撤销")
    expect(page.get_by_text("撤销原因：行政复议决定撤销")).to_be_visible()
    assert dialogs
    assert "确定撤销" in dialogs[0]

    decision = live_session.exec(
        select(PenaltyDecision).where(col(PenaltyDecision.decision_no) == decision_no)
    ).one()
    assert decision.status is FineStatus.CANCELLED
    assert decision.amount_fen == 50050
    assert decision.party_id_masked == "3601**********1234"
    actions = set(
        live_session.exec(
            select(AuditEntry.action).where(
                col(AuditEntry.target_kind) == "fine", col(AuditEntry.target_id) == decision_no
            )
        ).all()
    )
    assert actions == {"fine_created", "view_phone", "fine_cancelled"}

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="支付对账").click()
    expect(page.get_by_role("heading", name="支付与对账")).to_be_visible()
    screenshot(page, "payments")
