"""The reply templates page: administrators only; add, edit, deactivate, each audited; 422 on bad input."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.models import AuditEntry, CaseStatus, ReplyTemplate, StaffRole
from tests.admin.conftest import sign_in
from tests.fixtures.cases import City, MakeCase


def templates(session: Session) -> list[ReplyTemplate]:
    return list(session.exec(select(ReplyTemplate).order_by(col(ReplyTemplate.id))).all())


def audited(session: Session, action: str) -> int:
    return len(session.exec(select(AuditEntry).where(col(AuditEntry.action) == action)).all())


def test_only_administrators_see_the_page(console: TestClient, city: City) -> None:
    csrf = sign_in(console, city.staff[StaffRole.DISPATCHER])
    assert console.get("/reply-templates").status_code == 403
    refused = console.post("/reply-templates", data={"csrf_token": csrf, "title": "x", "body": "y"})
    assert refused.status_code == 403


def test_add_edit_and_deactivate(console: TestClient, city: City, session: Session) -> None:
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    assert "还没有模板" in console.get("/reply-templates").text

    added = console.post(
        "/reply-templates",
        data={"csrf_token": csrf, "title": "已处理", "body": "您反映的问题已处理。", "category_id": ""},
    )
    assert added.status_code == 303
    assert added.headers["location"].endswith("/reply-templates?done=added")
    [template] = templates(session)
    assert template.title == "已处理"
    assert template.category_id is None
    assert template.active
    assert "模板已添加" in console.get("/reply-templates?done=added").text

    edit_page = console.get(f"/reply-templates?edit={template.id}")
    assert "编辑模板" in edit_page.text
    assert "您反映的问题已处理。" in edit_page.text
    saved = console.post(
        f"/reply-templates/{template.id}",
        data={
            "csrf_token": csrf,
            "title": "井盖已更换",
            "body": "井盖已更换。",
            "category_id": str(city.manhole.id),
        },
    )
    assert saved.status_code == 303
    session.refresh(template)
    assert template.title == "井盖已更换"
    assert template.category_id == city.manhole.id

    off = console.post(f"/reply-templates/{template.id}/active", data={"csrf_token": csrf, "active": "0"})
    assert off.status_code == 303
    session.refresh(template)
    assert not template.active
    assert "已停用" in console.get("/reply-templates").text

    assert audited(session, "reply_template_added") == 1
    assert audited(session, "reply_template_saved") == 1
    assert audited(session, "reply_template_deactivated") == 1


def test_bad_input_rerenders_with_422(console: TestClient, city: City, session: Session) -> None:
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    answer = console.post("/reply-templates", data={"csrf_token": csrf, "title": "只有标题", "body": " "})
    assert answer.status_code == 422
    assert "请填写答复内容" in answer.text
    assert "只有标题" in answer.text
    assert templates(session) == []
    assert console.get("/reply-templates?edit=987654").status_code == 404
    assert console.get("/reply-templates?edit=abc").status_code == 404


def test_deactivated_and_other_category_templates_are_not_offered_on_a_case(
    console: TestClient, city: City, session: Session, make_case: MakeCase
) -> None:
    session.add(ReplyTemplate(title="通用模板", body="通用答复"))
    session.add(ReplyTemplate(title="垃圾模板", body="垃圾答复", category_id=city.rubbish.id))
    session.add(ReplyTemplate(title="停用模板", body="停用答复", active=False))
    session.flush()
    case = make_case(CaseStatus.PENDING)  # a manhole case
    sign_in(console, city.staff[StaffRole.OPERATOR])
    page = console.get(f"/cases/{case.case_no}").text
    assert 'data-reply-template="void-reason"' in page
    assert "通用模板" in page
    assert "垃圾模板" not in page
    assert "停用模板" not in page
