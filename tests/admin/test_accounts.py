"""Staff accounts in the console: only administrators, create with a one-time temporary password,
edit, reset, disable (ends sessions and bearer tokens), grids, lock-out protection, CSV export/import."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.auth.service import NotAuthenticated, principal_for
from core.models import AuditEntry, StaffRole, StaffSession, StaffUser
from core.settings import get_settings
from tests.admin.conftest import console_for, sign_in
from tests.fixtures.cases import City

PASSWORD_CELL = re.compile(r"data-password>([^<]+)<")


def _audit(session: Session, action: str) -> list[AuditEntry]:
    return list(session.exec(select(AuditEntry).where(col(AuditEntry.action) == action)).all())


def _create(console: TestClient, csrf: str, **fields: str) -> tuple[int, str]:
    response = console.post("/accounts/new", data={"csrf_token": csrf, **fields})
    assert response.status_code == 200, response.text
    match = PASSWORD_CELL.search(response.text)
    return response.status_code, match.group(1) if match else ""


def test_only_admins_see_accounts(console: TestClient, city: City) -> None:
    sign_in(console, city.staff[StaffRole.LEADER])
    response = console.get("/accounts")
    assert response.status_code == 403
    assert "无权" in response.text
    assert console.post("/accounts/new", data={"csrf_token": "x"}).status_code == 403


def test_list_filters_by_role_and_text(console: TestClient, city: City) -> None:
    admin = city.staff[StaffRole.ADMIN]
    sign_in(console, admin)
    page = console.get("/accounts")
    assert page.status_code == 200
    assert "账号管理" in page.text
    for user in city.staff.values():
        assert user.username in page.text
    handler = city.staff[StaffRole.HANDLER]
    only_handlers = console.get("/accounts", params={"role": "handler"})
    assert handler.username in only_handlers.text
    assert admin.username not in only_handlers.text
    by_text = console.get("/accounts", params={"q": handler.username.upper()})
    assert handler.username in by_text.text
    assert city.staff[StaffRole.OPERATOR].username not in by_text.text
    disabled = console.get("/accounts", params={"active": "0"})
    assert handler.username not in disabled.text


def test_admin_creates_a_handler_who_must_change_the_password(
    console: TestClient, city: City, session: Session
) -> None:
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    missing = console.post(
        "/accounts/new",
        data={"csrf_token": csrf, "username": "wangwu", "display_name": "王五", "role": "handler"},
    )
    assert missing.status_code == 422
    assert "处置人员必须属于一个专业部门" in missing.text
    assert 'value="wangwu"' in missing.text  # the form keeps what was typed

    _, temporary = _create(
        console,
        csrf,
        username="wangwu",
        display_name="王五",
        role="handler",
        department=str(city.municipal.id),
        phone="13900001111",
    )
    assert temporary
    account = session.exec(select(StaffUser).where(col(StaffUser.username) == "wangwu")).one()
    assert account.must_change_password
    assert account.department_id == city.municipal.id
    entry = _audit(session, "account_created")[-1]
    assert entry.target_id == str(account.id)
    assert temporary not in entry.detail

    taken = console.post(
        "/accounts/new",
        data={"csrf_token": csrf, "username": "wangwu", "display_name": "x", "role": "operator"},
    )
    assert taken.status_code == 409
    assert "已存在" in taken.text

    with console_for(session, get_settings()) as other:
        sign_in(other, "wangwu", temporary)
        assert other.get("/").headers["location"].endswith("/password")


def test_admin_sets_a_weak_temporary_password_and_sees_the_rule(console: TestClient, city: City) -> None:
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    response = console.post(
        "/accounts/new",
        data={
            "csrf_token": csrf,
            "username": "zhaoliu",
            "display_name": "赵六",
            "role": "operator",
            "password": "onlyletters",
        },
    )
    assert response.status_code == 422
    assert "密码须同时包含字母和数字" in response.text
    assert "不能包含用户名" in response.text  # the rule is shown next to the field


def test_edit_changes_fields_and_audits_their_names(
    console: TestClient, city: City, session: Session
) -> None:
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    operator = city.staff[StaffRole.OPERATOR]
    response = console.post(
        f"/accounts/{operator.id}",
        data={
            "csrf_token": csrf,
            "display_name": "受理员乙",
            "role": "dispatcher",
            "department": "",
            "area": str(city.community.id),
            "phone": "0790-1234567",
        },
    )
    assert response.status_code == 303, response.text
    session.refresh(operator)
    assert (operator.display_name, operator.role, operator.area_id) == (
        "受理员乙",
        StaffRole.DISPATCHER,
        city.community.id,
    )
    detail = _audit(session, "account_updated")[-1].detail
    for name in ("display_name", "role", "area_id", "phone"):
        assert name in detail
    assert "1234567" not in detail  # the phone number itself stays out of the audit log
    page = console.get(response.headers["location"])
    assert "已保存" in page.text

    bad_phone = console.post(
        f"/accounts/{operator.id}",
        data={"csrf_token": csrf, "display_name": "x", "role": "dispatcher", "phone": "12"},
    )
    assert bad_phone.status_code == 422
    assert "电话号码格式不正确" in bad_phone.text


def test_reset_password_forces_a_change_and_ends_sessions(
    console: TestClient, city: City, session: Session
) -> None:
    target = city.staff[StaffRole.DISPATCHER]
    with console_for(session, get_settings()) as other:
        sign_in(other, target)
        csrf = sign_in(console, city.staff[StaffRole.ADMIN])
        version = target.token_version
        response = console.post(f"/accounts/{target.id}/password", data={"csrf_token": csrf})
        assert response.status_code == 200
        match = PASSWORD_CELL.search(response.text)
        assert match
        session.refresh(target)
        assert target.must_change_password
        assert target.token_version == version + 1
        assert other.get("/").status_code == 303  # signed out
        assert "/login" in other.get("/").headers["location"]
        entry = _audit(session, "password_reset")[-1]
        assert match.group(1) not in entry.detail

    mismatch = console.post(
        f"/accounts/{target.id}/password",
        data={"csrf_token": csrf, "password": "Temp-pass-123", "confirm": "Temp-pass-124"},
    )
    assert mismatch.status_code == 422
    assert "两次输入的密码不一致" in mismatch.text


def test_disable_ends_sessions_and_bearer_tokens(console: TestClient, city: City, session: Session) -> None:
    target = city.staff[StaffRole.SHIFT_LEAD]
    token = city.token(target)
    with console_for(session, get_settings()) as other:
        sign_in(other, target)
        csrf = sign_in(console, city.staff[StaffRole.ADMIN])
        response = console.post(f"/accounts/{target.id}/disable", data={"csrf_token": csrf})
        assert response.status_code == 303
        session.refresh(target)
        assert not target.active
        assert "/login" in other.get("/").headers["location"]
    live = session.exec(
        select(StaffSession).where(
            col(StaffSession.staff_id) == target.id, col(StaffSession.revoked_at).is_(None)
        )
    ).all()
    assert not live
    with pytest.raises(NotAuthenticated):
        principal_for(session, get_settings(), token)
    assert _audit(session, "account_disabled")

    enabled = console.post(f"/accounts/{target.id}/enable", data={"csrf_token": csrf})
    assert enabled.status_code == 303
    session.refresh(target)
    assert target.active
    assert _audit(session, "account_enabled")


def test_admin_cannot_disable_or_demote_themselves(console: TestClient, city: City, session: Session) -> None:
    admin = city.staff[StaffRole.ADMIN]
    csrf = sign_in(console, admin)
    refused = console.post(f"/accounts/{admin.id}/disable", data={"csrf_token": csrf})
    assert refused.status_code == 403
    assert "不能停用自己的账号" in refused.text
    demoted = console.post(
        f"/accounts/{admin.id}", data={"csrf_token": csrf, "display_name": "管理员", "role": "operator"}
    )
    assert demoted.status_code == 403
    assert "不能降低自己的账号" in demoted.text
    session.refresh(admin)
    assert admin.active
    assert admin.role is StaffRole.ADMIN


def test_supervisor_grids_assign_and_unassign(console: TestClient, city: City, session: Session) -> None:
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    supervisor = city.staff_member(StaffRole.SUPERVISOR, name="监督员乙")
    grid = city.factory.responsibility_grid(city.community, "02")
    page = console.get(f"/accounts/{supervisor.id}")
    assert "尚未分配责任网格" in page.text
    assert grid.code in page.text
    response = console.post(
        f"/accounts/{supervisor.id}/grids", data={"csrf_token": csrf, "grid": [str(grid.id)]}
    )
    assert response.status_code == 303
    page = console.get(f"/accounts/{supervisor.id}")
    assert f'name="grid" value="{grid.id}"' in page.text
    assert _audit(session, "grids_assigned")
    response = console.post(
        f"/accounts/{supervisor.id}/grids/remove", data={"csrf_token": csrf, "grid": [str(grid.id)]}
    )
    assert response.status_code == 303
    assert "尚未分配责任网格" in console.get(f"/accounts/{supervisor.id}").text
    assert _audit(session, "grids_unassigned")


def test_export_has_no_password_hashes(console: TestClient, city: City, session: Session) -> None:
    sign_in(console, city.staff[StaffRole.ADMIN])
    response = console.get("/accounts/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    handler = next(row for row in rows if row["username"] == city.staff[StaffRole.HANDLER].username)
    assert handler["department_code"] == city.municipal.code
    assert "argon2" not in text
    assert "password" not in text.splitlines()[0]
    assert _audit(session, "accounts_exported")


def test_import_is_all_or_nothing_and_prints_passwords_once(
    console: TestClient, city: City, session: Session
) -> None:
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    bad = (
        "username,display_name,role,department_code,area_code,phone\n"
        f"imp-one,导入甲,handler,{city.municipal.code},,\n"
        "imp-two,导入乙,handler,,,\n"
        "x,导入丙,nobody,,999,abc\n"
    )
    response = console.post(
        "/accounts/import",
        data={"csrf_token": csrf},
        files={"file": ("accounts.csv", bad.encode(), "text/csv")},
    )
    assert response.status_code == 422
    for problem in ("处置人员必须填写所属部门", "不是角色", "区域“999”不存在", "格式不正确"):
        assert problem in response.text
    assert session.exec(select(StaffUser).where(col(StaffUser.username) == "imp-one")).first() is None

    good = (
        "\ufeffusername,display_name,role,department_code,area_code,phone\n"
        f"imp-one,导入甲,handler,{city.municipal.code},,\n"
        f"imp-two,导入乙,监督员,,{city.community.code},13900002222\n"
    )
    response = console.post(
        "/accounts/import",
        data={"csrf_token": csrf},
        files={"file": ("accounts.csv", good.encode(), "text/csv")},
    )
    assert response.status_code == 200, response.text
    passwords = PASSWORD_CELL.findall(response.text)
    assert len(passwords) == 2
    two = session.exec(select(StaffUser).where(col(StaffUser.username) == "imp-two")).one()
    assert two.role is StaffRole.SUPERVISOR
    assert two.area_id == city.community.id
    assert two.must_change_password
    assert len(_audit(session, "account_created")) >= 2
    assert _audit(session, "accounts_imported")


def test_import_refuses_a_wrong_file_type(console: TestClient, city: City) -> None:
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    response = console.post(
        "/accounts/import",
        data={"csrf_token": csrf},
        files={"file": ("accounts.xlsx", b"PK\x03\x04", "application/octet-stream")},
    )
    assert response.status_code == 415
    assert "文件类型不对" in response.text
