"""Signing in to the console in a real browser: the form, the workbench, CSRF on a tampered form."""

from __future__ import annotations

from playwright.sync_api import expect

from core.models import StaffRole
from tests.browser.conftest import NewContext, screenshot, sign_in
from tests.fixtures.cases import City


def test_sign_in_shows_the_workbench_and_sign_out_ends_it(new_context: NewContext, live_city: City) -> None:
    context = new_context()
    page = context.new_page()
    page.goto("/admin/")
    expect(page).to_have_url("/admin/login?next=/admin/")
    screenshot(page, "login")
    page.close()

    page = sign_in(context, live_city.staff[StaffRole.ADMIN])
    expect(page.get_by_role("heading", name="工作台")).to_be_visible()
    expect(page.locator(".who")).to_contain_text(live_city.staff[StaffRole.ADMIN].display_name)
    screenshot(page, "workbench")
    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url("/admin/login")
    page.goto("/admin/")
    expect(page.get_by_role("heading", name="工作人员登录")).to_be_visible()


def test_wrong_password_is_shown_in_chinese(new_context: NewContext, live_city: City) -> None:
    page = new_context().new_page()
    page.goto("/admin/login")
    page.get_by_label("用户名").fill(live_city.staff[StaffRole.OPERATOR].username)
    page.get_by_label("密码").fill("wrong-password-1")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码错误")


def test_a_form_without_its_csrf_token_is_refused(new_context: NewContext, live_city: City) -> None:
    page = sign_in(new_context(), live_city.staff[StaffRole.OPERATOR])
    page.goto("/admin/password")
    page.locator('#main input[name="csrf_token"]').evaluate("element => element.remove()")
    page.get_by_label("当前密码").fill("x")
    page.get_by_label("新密码", exact=True).fill("whatever-123")
    page.get_by_label("再次输入新密码").fill("whatever-123")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("heading", name="页面已过期或来源不明，请刷新页面后重试")).to_be_visible()
