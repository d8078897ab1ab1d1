"""The audit page: admins only, filters, newest first with keyset pages, CSV export (audited)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from admin.routes.audit import ACTION_LABELS, action_label
from core.audit import repository, service
from core.audit.repository import AuditFilter
from core.kit.clock import utcnow
from core.models import AuditEntry, StaffRole
from core.settings import get_settings
from tests.admin.conftest import console_for, sign_in
from tests.fixtures.cases import City


def _entries(
    session: Session, city: City, count: int, *, action: str = "test_action", kind: str = "case"
) -> list[AuditEntry]:
    actor = city.staff[StaffRole.OPERATOR]
    rows = [
        service.record(
            session, actor=actor, action=action, target_kind=kind, target_id=f"T{i:04d}", detail={"n": i}
        )
        for i in range(count)
    ]
    session.flush()
    return rows


def _logged(session: Session, action: str) -> list[AuditEntry]:
    return list(session.exec(select(AuditEntry).where(col(AuditEntry.action) == action)).all())


@pytest.mark.parametrize("role", [role for role in StaffRole if role is not StaffRole.ADMIN])
def test_only_admins_see_the_audit_log(console: TestClient, city: City, role: StaffRole) -> None:
    sign_in(console, city.staff[role])
    page = console.get("/audit")
    assert page.status_code == 403
    assert "无权访问" in page.text
    export = console.post("/audit/export", data={"csrf_token": "x"})
    assert export.status_code == 403


def test_the_page_lists_newest_first_with_chinese_labels(console: TestClient, city: City) -> None:
    admin = city.staff[StaffRole.ADMIN]
    sign_in(console, admin)
    _entries(city.session, city, 2, action="login")
    page = console.get("/audit")
    assert page.status_code == 200
    assert "审计日志" in page.text
    assert "登录" in page.text
    assert page.text.index("T0001") < page.text.index("T0000")
    # Looking at the page is not audited.
    before = len(_logged(city.session, "audit_export"))
    assert len(_logged(city.session, "audit_view")) == 0
    assert before == 0


def test_unknown_actions_fall_back_to_their_code() -> None:
    assert action_label("login_failed") == "登录失败"
    assert action_label("register") == "案件立案"
    assert action_label("something_new") == "something_new"
    assert ACTION_LABELS["audit_export"] == "导出审计日志"


def test_filters(console: TestClient, city: City) -> None:
    sign_in(console, city.staff[StaffRole.ADMIN])
    _entries(city.session, city, 3, action="view_phone", kind="citizen")
    _entries(city.session, city, 2, action="password_reset", kind="staff")
    page = console.get("/audit", params={"action": "password_reset"})
    assert page.status_code == 200
    assert page.text.count("<td>重置密码") == 2
    assert "查看完整电话号码 <span" not in page.text
    by_target = console.get("/audit", params={"target_kind": "citizen", "target_id": "T0002"})
    assert by_target.text.count("市民 T0002") == 1
    assert "T0001</td>" not in by_target.text
    by_user = console.get("/audit", params={"username": city.staff[StaffRole.OPERATOR].username})
    assert by_user.text.count("<td>查看完整电话号码") == 3
    nobody = console.get("/audit", params={"username": "no-such-user"})
    assert "没有符合条件的记录" in nobody.text


def test_date_range_is_in_local_days(session: Session, city: City) -> None:
    rows = _entries(session, city, 2)
    rows[0].at = utcnow() - timedelta(days=3)
    session.flush()
    from admin.routes.audit import parse_query

    today = (utcnow() + timedelta(hours=8)).date().isoformat()
    query = parse_query({"since": today, "until": today, "action": "test_action"})
    found = repository.search(session, query.where)
    assert [entry.id for entry in found] == [rows[1].id]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "2024-13-01"}, "起始日期格式不正确"),
        ({"since": "2024-05-02", "until": "2024-05-01"}, "起始日期不能晚于截止日期"),
        ({"username": "x" * 65}, "筛选条件过长"),
        ({"before": "abc"}, "翻页参数不正确"),
    ],
)
def test_bad_filters_are_a_422_page(
    console: TestClient, city: City, params: dict[str, str], message: str
) -> None:
    sign_in(console, city.staff[StaffRole.ADMIN])
    page = console.get("/audit", params=params)
    assert page.status_code == 422
    assert message in page.text


def test_keyset_pages(session: Session, city: City) -> None:
    settings = get_settings().model_copy(deep=True)
    settings.console.page_size = 10
    rows = _entries(session, city, 25, action="paging_test")
    ids = sorted((entry.id or 0 for entry in rows), reverse=True)
    with console_for(session, settings) as console:
        sign_in(console, city.staff[StaffRole.ADMIN])
        first = console.get("/audit", params={"action": "paging_test"})
        assert f"T{24:04d}" in first.text
        assert f"T{14:04d}" not in first.text
        assert "较早 →" in first.text
        assert "← 较新" not in first.text
        assert f'/audit?action=paging_test&amp;before={ids[9]}">较早 →' in first.text
        second = console.get("/audit", params={"action": "paging_test", "before": ids[9]})
        assert f"T{14:04d}" in second.text
        assert f"T{15:04d}" not in second.text
        assert f"T{4:04d}" not in second.text
        assert "较早 →" in second.text
        assert "← 较新" in second.text
        back = console.get("/audit", params={"action": "paging_test", "after": ids[10]})
        assert f"T{24:04d}" in back.text
        assert f"T{15:04d}" in back.text
        assert f"T{14:04d}" not in back.text
        last = console.get("/audit", params={"action": "paging_test", "before": ids[19]})
        assert "较早 →" not in last.text
        assert f"T{0:04d}" in last.text


def test_search_pages_both_ways(session: Session, city: City) -> None:
    rows = _entries(session, city, 7, action="repo_paging")
    where = AuditFilter(action="repo_paging")
    ids = [entry.id for entry in reversed(rows)]
    assert [e.id for e in repository.search(session, where, limit=3)] == ids[:3]
    assert [e.id for e in repository.search(session, where, before_id=ids[2], limit=3)] == ids[3:6]
    assert [e.id for e in repository.search(session, where, after_id=ids[5], limit=3)] == ids[2:5]
    assert repository.count(session, where) == 7
    assert [e.id for e in repository.iterate(session, where, batch=2)] == ids


def test_export_is_csv_with_bom_and_is_audited(console: TestClient, city: City) -> None:
    admin = city.staff[StaffRole.ADMIN]
    csrf = sign_in(console, admin)
    actor = city.staff[StaffRole.OPERATOR]
    service.record(
        city.session, actor=None, action="login_failed", username="=cmd|' /C calc'!A0", client_ip="10.0.0.9"
    )
    service.record(
        city.session,
        actor=actor,
        action="view_phone",
        target_kind="citizen",
        target_id="42",
        detail="查看电话",
    )
    city.session.flush()

    answer = console.post("/audit/export", data={"csrf_token": csrf, "action": "view_phone"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["时间", "账号", "账号ID", "操作"]
    assert rows[1][1] == actor.username
    assert rows[1][3] == "查看完整电话号码"
    assert rows[1][7] == "查看电话"
    assert len(rows) == 2

    (logged,) = _logged(city.session, "audit_export")
    assert logged.staff_id == admin.id
    assert '"action": "view_phone"' in logged.detail
    assert '"rows": 1' in logged.detail

    failed = console.post("/audit/export", data={"csrf_token": csrf, "action": "login_failed"})
    cells = list(csv.reader(io.StringIO(failed.content.decode("utf-8-sig"))))[1]
    assert cells[1].startswith("'=")  # no formula in Excel


def test_export_needs_the_csrf_token(console: TestClient, city: City) -> None:
    sign_in(console, city.staff[StaffRole.ADMIN])
    answer = console.post("/audit/export", data={"action": "login"})
    assert answer.status_code == 403
    assert _logged(city.session, "audit_export") == []


def test_export_with_a_bad_filter_is_a_422_page(console: TestClient, city: City) -> None:
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    answer = console.post("/audit/export", data={"csrf_token": csrf, "since": "yesterday"})
    assert answer.status_code == 422
    assert "起始日期格式不正确" in answer.text
    assert _logged(city.session, "audit_export") == []
