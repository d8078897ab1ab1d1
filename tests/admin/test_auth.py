"""Signing in and out of the console: cookies, CSRF, lock-out, password changes, session expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.kit.clock import utcnow
from core.models import AuditEntry, StaffRole, StaffSession
from core.settings import Environment, get_settings
from core.staff.service import reset_password
from tests.admin.conftest import console_for, login_csrf, page_csrf, sign_in
from tests.fixtures.cases import PASSWORD, City


def audit_actions(session: Session) -> list[str]:
    return [entry.action for entry in session.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all()]


def test_pages_need_a_signed_in_user(console: TestClient) -> None:
    answer = console.get("/?tab=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/%3Ftab%3D1"
    htmx = console.get("/", headers={"HX-Request": "true"})
    assert (htmx.status_code, htmx.headers["HX-Redirect"]) == (204, "/login")


def test_sign_in_sets_a_protected_cookie_and_opens_the_next_page(
    console: TestClient, city: City, session: Session
) -> None:
    user = city.staff[StaffRole.DISPATCHER]
    answer = console.post(
        "/login",
        data={
            "username": user.username,
            "password": PASSWORD,
            "csrf_token": login_csrf(console),
            "next": "/password",
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/password"
    cookie = answer.headers["set-cookie"]
    assert "zhcg_console=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # development: plain http on 127.0.0.1
    page = console.get("/")
    assert page.status_code == 200
    assert user.display_name in page.text
    assert audit_actions(session) == ["login"]
    # The token is stored only hashed.
    stored = session.exec(select(StaffSession)).one()
    assert console.cookies.get("zhcg_console") not in stored.token_hash


def test_next_never_leaves_the_console(console: TestClient, city: City) -> None:
    user = city.staff[StaffRole.DISPATCHER]
    for target in ("https://evil.example/", "//evil.example/", "javascript:alert(1)"):
        console.cookies.clear()
        answer = console.post(
            "/login",
            data={
                "username": user.username,
                "password": PASSWORD,
                "csrf_token": login_csrf(console),
                "next": target,
            },
        )
        assert answer.headers["location"] == "/"


def test_wrong_password_is_refused_counted_and_audited(
    console: TestClient, city: City, session: Session
) -> None:
    user = city.staff[StaffRole.OPERATOR]
    answer = console.post(
        "/login",
        data={"username": user.username, "password": "wrong-1234", "csrf_token": login_csrf(console)},
    )
    assert answer.status_code == 401
    assert "用户名或密码错误" in answer.text
    assert "zhcg_console" not in console.cookies
    assert audit_actions(session) == ["login_failed"]


def test_repeated_failures_lock_the_account_out(console: TestClient, city: City) -> None:
    user = city.staff[StaffRole.OPERATOR]
    limit = get_settings().auth.staff_login_failures_per_username
    for _ in range(limit):
        console.post(
            "/login",
            data={"username": user.username, "password": "wrong-1234", "csrf_token": login_csrf(console)},
        )
    answer = console.post(
        "/login", data={"username": user.username, "password": PASSWORD, "csrf_token": login_csrf(console)}
    )
    assert answer.status_code == 429
    assert "登录失败次数过多" in answer.text


def test_forms_without_the_csrf_token_are_refused(console: TestClient, city: City) -> None:
    login_csrf(console)
    no_token = console.post("/login", data={"username": "x", "password": "y"})
    assert no_token.status_code == 403
    assert "页面已过期" in no_token.text
    sign_in(console, city.staff[StaffRole.OPERATOR])
    assert console.post("/logout").status_code == 403
    assert console.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert console.get("/").status_code == 200  # still signed in


def test_the_csrf_token_of_one_session_does_not_work_for_another(session: Session, city: City) -> None:
    with console_for(session, get_settings()) as first, console_for(session, get_settings()) as second:
        token = sign_in(first, city.staff[StaffRole.OPERATOR])
        sign_in(second, city.staff[StaffRole.DISPATCHER])
        assert second.post("/logout", data={"csrf_token": token}).status_code == 403
        assert second.post("/logout", headers={"X-CSRF-Token": page_csrf(second)}).status_code == 303


def test_logout_ends_the_session(console: TestClient, city: City, session: Session) -> None:
    token = sign_in(console, city.staff[StaffRole.OPERATOR])
    cookie = console.cookies.get("zhcg_console")
    answer = console.post("/logout", data={"csrf_token": token})
    assert answer.status_code == 303
    console.cookies.set("zhcg_console", cookie or "")
    assert console.get("/").status_code == 303  # the old cookie no longer works
    assert audit_actions(session) == ["login", "logout"]


def test_idle_and_expired_sessions_end(console: TestClient, city: City, session: Session) -> None:
    sign_in(console, city.staff[StaffRole.OPERATOR])
    row = session.exec(select(StaffSession)).one()
    row.last_seen_at = utcnow() - timedelta(seconds=get_settings().auth.console_session_idle_s + 1)
    session.flush()
    assert console.get("/").status_code == 303
    row.last_seen_at = utcnow()
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.flush()
    assert console.get("/").status_code == 303


def test_a_disabled_account_is_signed_out(console: TestClient, city: City, session: Session) -> None:
    user = city.staff[StaffRole.OPERATOR]
    sign_in(console, user)
    user.active = False
    session.flush()
    assert console.get("/").status_code == 303


def test_password_change(console: TestClient, city: City, session: Session) -> None:
    user = city.staff[StaffRole.OPERATOR]
    token = sign_in(console, user)
    with console_for(session, get_settings()) as other_device:
        sign_in(other_device, user)
        form = {
            "csrf_token": token,
            "current": PASSWORD,
            "new": "better-pass-77",
            "confirm": "better-pass-77",
        }
        mismatch = console.post("/password", data={**form, "confirm": "other-pass-77"})
        assert (mismatch.status_code, "不一致" in mismatch.text) == (422, True)
        weak = console.post("/password", data={**form, "new": "abcdefghij", "confirm": "abcdefghij"})
        assert (weak.status_code, "字母和数字" in weak.text) == (422, True)
        wrong = console.post("/password", data={**form, "current": "nope-1234"})
        assert (wrong.status_code, "当前密码不正确" in wrong.text) == (422, True)
        done = console.post("/password", data=form)
        assert done.status_code == 200
        assert "密码已修改" in done.text
        assert console.get("/").status_code == 200  # this device stays signed in …
        assert other_device.get("/").status_code == 303  # … the other one is signed out
    console.cookies.clear()
    sign_in(console, user, "better-pass-77")
    assert "password_changed" in audit_actions(session)


def test_a_reset_password_must_be_changed_first(console: TestClient, city: City, session: Session) -> None:
    user = city.staff[StaffRole.OPERATOR]
    reset_password(session, user, new="temporary-2026")
    answer = console.post(
        "/login",
        data={"username": user.username, "password": "temporary-2026", "csrf_token": login_csrf(console)},
    )
    assert answer.headers["location"] == "/password"
    assert console.get("/").headers["location"] == "/password"
    token = page_csrf(console)
    console.post(
        "/password",
        data={
            "csrf_token": token,
            "current": "temporary-2026",
            "new": "mine-own-2026",
            "confirm": "mine-own-2026",
        },
    )
    assert console.get("/").status_code == 200


def test_security_headers(console: TestClient) -> None:
    page = console.get("/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    static = console.get("/static/console.css")
    assert static.status_code == 200
    assert "cache-control" not in static.headers


@pytest.mark.parametrize(
    ("tile_url", "source"),
    [
        ("", None),
        ("https://t{s}.tianditu.gov.cn/vec_w/wmts?x={x}&y={y}&l={z}&tk=k", "https://*.tianditu.gov.cn"),
        ("https://tiles.example.cn/{z}/{x}/{y}.png", "https://tiles.example.cn"),
    ],
)
def test_the_tile_server_is_allowed_for_images(session: Session, tile_url: str, source: str | None) -> None:
    base = get_settings()
    settings = base.model_copy(update={"console": base.console.model_copy(update={"map_tile_url": tile_url})})
    with console_for(session, settings) as client:
        policy = client.get("/login").headers["content-security-policy"]
    img = next(part for part in policy.split(";") if "img-src" in part)
    assert (source in img) if source else img.strip() == "img-src 'self' data: blob:"


def test_cookies_are_secure_in_production(session: Session, city: City) -> None:
    base = get_settings()
    app_settings = base.app.model_copy(update={"secret_key": base.app.secret_key})
    settings = base.model_copy(update={"environment": Environment.PRODUCTION, "app": app_settings})
    with console_for(session, settings) as client:
        client.get("/login")
        assert "Secure" in client.get("/login").headers["set-cookie"]
