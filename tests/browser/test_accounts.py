"""An administrator creates a handler account in the browser; the new account signs in elsewhere and
must change its temporary password first. Screenshots of the accounts and master data pages."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import expect

from core.models import StaffRole, StaffUser
from tests.browser.conftest import NewContext, screenshot, sign_in
from tests.fixtures.cases import City


def test_admin_creates_a_handler_who_must_change_the_password(
    new_context: NewContext, live_city: City
) -> None:
    admin = sign_in(new_context(), live_city.staff[StaffRole.ADMIN])
    admin.goto("/admin/accounts")
    expect(admin.get_by_role("heading", name="账号管理")).to_be_visible()
    screenshot(admin, "accounts")

    username = f"bt-{secrets.token_hex(3)}"
    admin.get_by_role("link", name="新建账号").click()
    admin.get_by_label("用户名").fill(username)
    admin.get_by_label("姓名").fill("浏览器处置员")
    admin.get_by_label("角色").select_option("handler")
    admin.get_by_label("所属部门（处置人员必填）").select_option(str(live_city.municipal.id))
    admin.get_by_role("button", name="创建账号").click()
    expect(admin.get_by_role("heading", name="已创建 1 个账号")).to_be_visible()
    temporary = admin.locator("[data-password]").inner_text().strip()
    assert re.fullmatch(r"[A-Za-z0-9]{12}", temporary)

    newcomer = sign_in(
        new_context(),
        StaffUser(username=username, display_name="", role=StaffRole.HANDLER, password_hash=""),
        temporary,
    )
    expect(newcomer).to_have_url(re.compile(r"/admin/password$"))
    expect(newcomer.get_by_role("alert")).to_contain_text("临时密码")
    newcomer.goto("/admin/")
    expect(newcomer).to_have_url(re.compile(r"/admin/password$"))  # nothing else until it is changed
    newcomer.get_by_label("当前密码").fill(temporary)
    newcomer.get_by_label("新密码", exact=True).fill("Handler-pass-2026")
    newcomer.get_by_label("再次输入新密码").fill("Handler-pass-2026")
    newcomer.get_by_role("button", name="保存").click()
    expect(newcomer.locator(".alert.success")).to_contain_text("密码已修改")
    newcomer.goto("/admin/")
    expect(newcomer.get_by_role("heading", name="工作台")).to_be_visible()

    admin.goto("/admin/accounts?q=" + username)
    expect(admin.locator("[data-rows]")).to_contain_text("浏览器处置员")
    expect(admin.locator("[data-rows]")).not_to_contain_text("待改密码")


def test_master_data_page(new_context: NewContext, live_city: City) -> None:
    page = sign_in(new_context(), live_city.staff[StaffRole.ADMIN])
    page.goto("/admin/masterdata")
    expect(page.get_by_role("heading", name="数据文件")).to_be_visible()
    expect(page.locator("#kind-departments")).to_contain_text("departments.csv")
    screenshot(page, "masterdata")
    page.get_by_role("link", name="案件类别").click()
    expect(page.locator("table.grid")).to_contain_text(live_city.manhole.name)
