"""The console's case page: what it shows to whom, its action forms, stale forms, audit, photos, phone."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session, col, select

from core.cases.service import ActionInput, perform
from core.cases.workflow import Action
from core.models import (
    AuditEntry,
    Case,
    CaseStatus,
    ReplyTemplate,
    RequestKind,
    StaffRole,
    Upload,
    UploadStatus,
)
from core.settings import get_settings
from core.uploads.storage import LocalStorage
from tests.admin.conftest import console_for, sign_in
from tests.fixtures.cases import City, MakeCase

VERSION = re.compile(r'name="version" value="(\d+)"')


def audit_entries(session: Session, case_no: str, action: str) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(
        col(AuditEntry.target_kind) == "case",
        col(AuditEntry.target_id) == case_no,
        col(AuditEntry.action) == action,
    )
    return list(session.exec(stmt).all())


def form_version(page: str) -> str:
    match = VERSION.search(page)
    assert match, page[:500]
    return match.group(1)


def act(client: TestClient, csrf: str, case: Case, action: str, **fields: str) -> object:
    data = {"csrf_token": csrf, "version": str(case.version), **fields}
    return client.post(f"/cases/{case.case_no}/actions/{action}", data=data)


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


# ---------------------------------------------------------------- the page


def test_page_shows_the_case_with_masked_phone_history_deadlines_and_calls(
    console: TestClient, city: City, make_case: MakeCase
) -> None:
    case = make_case(CaseStatus.PENDING)
    case.reporter_phone = "13800138000"
    city.session.add(case)
    city.session.flush()
    sign_in(console, city.staff[StaffRole.OPERATOR])

    page = console.get(f"/cases/{case.case_no}")

    assert page.status_code == 200
    text = page.text
    assert case.description in text
    assert "待受理" in text
    assert "138****8000" in text
    assert "13800138000" not in text
    assert "显示完整号码" in text
    assert "暂无来电记录" in text
    assert "关注人数" in text
    assert 'id="case-map"' in text
    assert "vendor/leaflet-1.9.4/leaflet.js" in text
    assert f'name="version" value="{case.version}"' in text
    # Exactly this operator's actions on a pending case.
    shown = set(re.findall(r'<details class="action" data-action="([a-z_]+)"', text))
    assert shown == {"accept", "send_verify", "register", "void", "merge"}


def test_register_form_offers_the_conditions_with_their_time_limits(
    console: TestClient, city: City, make_case: MakeCase
) -> None:
    case = make_case(CaseStatus.ACCEPTED)
    sign_in(console, city.staff[StaffRole.OPERATOR])
    text = console.get(f"/cases/{case.case_no}").text
    assert f'name="register_standard_id" value="{city.manhole_urgent.id}"' in text
    assert "紧急工作时" in text
    assert "工作日" in text


def test_unknown_case_is_404_and_another_departments_case_is_403(
    console: TestClient, city: City, make_case: MakeCase
) -> None:
    case = make_case(CaseStatus.DISPATCHED)
    case.department_id = city.sanitation.id
    city.session.add(case)
    city.session.flush()
    sign_in(console, city.staff[StaffRole.HANDLER])  # of the municipal department

    assert console.get("/cases/NOPE0000001").status_code == 404
    refused = console.get(f"/cases/{case.case_no}")
    assert refused.status_code == 403
    assert "无权查看该案件" in refused.text
    assert console.get(f"/cases/{case.case_no}/photos/x/display").status_code == 403


def test_page_needs_sign_in(console: TestClient, city: City, make_case: MakeCase) -> None:
    case = make_case(CaseStatus.PENDING)
    answer = console.get(f"/cases/{case.case_no}")
    assert answer.status_code == 303
    assert "/login" in answer.headers["location"]


# ---------------------------------------------------------------- actions


def test_register_then_dispatch_with_the_routed_department_preselected(
    console: TestClient, city: City, make_case: MakeCase, session: Session
) -> None:
    case = make_case(CaseStatus.PENDING)
    csrf = sign_in(console, city.staff[StaffRole.OPERATOR])

    answer = act(console, csrf, case, "register", register_standard_id=str(city.manhole_urgent.id), note="")
    assert answer.status_code == 303  # type: ignore[attr-defined]
    assert answer.headers["location"].endswith(f"/cases/{case.case_no}?done=register")  # type: ignore[attr-defined]
    session.refresh(case)
    assert case.status is CaseStatus.REGISTERED
    [entry] = audit_entries(session, case.case_no, "register")
    assert entry.staff_id == city.staff[StaffRole.OPERATOR].id
    assert '"via": "console"' in entry.detail
    assert "已完成“立案”" in console.get(f"/cases/{case.case_no}?done=register").text

    console.cookies.clear()
    csrf = sign_in(console, city.staff[StaffRole.DISPATCHER])
    page = console.get(f"/cases/{case.case_no}").text
    assert re.search(r'<option value="M01" selected>', page), "the routed department is pre-selected"
    answer = act(console, csrf, case, "dispatch", department="M01", note="请尽快处理")
    assert answer.status_code == 303  # type: ignore[attr-defined]
    session.refresh(case)
    assert case.status is CaseStatus.DISPATCHED
    assert case.department_id == city.municipal.id
    assert len(audit_entries(session, case.case_no, "dispatch")) == 1


def test_a_stale_form_gets_a_conflict_message_and_the_current_state(
    console: TestClient, city: City, make_case: MakeCase, session: Session
) -> None:
    case = make_case(CaseStatus.REGISTERED)
    csrf = sign_in(console, city.staff[StaffRole.DISPATCHER])
    stale_version = form_version(console.get(f"/cases/{case.case_no}").text)
    # Someone else acts first.
    perform(
        session,
        get_settings(),
        case_no=case.case_no,
        actor=city.staff[StaffRole.SHIFT_LEAD],
        action=Action.DISPATCH,
        data=ActionInput(department_code="S01"),
    )

    answer = console.post(
        f"/cases/{case.case_no}/actions/dispatch",
        data={"csrf_token": csrf, "version": stale_version, "department": "M01"},
    )

    assert answer.status_code == 409
    assert "该案件已被他人处理或更新" in answer.text
    assert "处置中" in answer.text  # the page shows the current state
    assert '<details class="action" data-action="dispatch"' not in answer.text
    session.refresh(case)
    assert case.department_id == city.sanitation.id
    assert audit_entries(session, case.case_no, "dispatch") == []


def test_a_stale_version_in_the_same_state_is_a_conflict(
    console: TestClient, city: City, make_case: MakeCase, session: Session
) -> None:
    case = make_case(CaseStatus.DISPATCHED)
    csrf = sign_in(console, city.staff[StaffRole.SHIFT_LEAD])
    stale = case.version
    perform(
        session,
        get_settings(),
        case_no=case.case_no,
        actor=city.staff[StaffRole.LEADER],
        action=Action.URGE,
        data=ActionInput(note="抓紧"),
    )
    answer = console.post(
        f"/cases/{case.case_no}/actions/urge", data={"csrf_token": csrf, "version": str(stale), "note": "快"}
    )
    assert answer.status_code == 409
    assert "案件已被他人更新" in answer.text
    session.refresh(case)
    assert case.urge_count == 1


def test_invalid_input_rerenders_with_422_and_keeps_the_text(
    console: TestClient, city: City, make_case: MakeCase, session: Session
) -> None:
    case = make_case(CaseStatus.DISPATCHED)
    csrf = sign_in(console, city.staff[StaffRole.HANDLER])

    missing_reason = act(console, csrf, case, "return", reason="  ")
    assert missing_reason.status_code == 422  # type: ignore[attr-defined]
    assert "必须填写原因" in missing_reason.text  # type: ignore[attr-defined]

    no_photo = act(console, csrf, case, "handle", note="已更换井盖")
    assert no_photo.status_code == 422  # type: ignore[attr-defined]
    assert "必须上传处置后照片" in no_photo.text  # type: ignore[attr-defined]
    assert "已更换井盖" in no_photo.text  # type: ignore[attr-defined]

    no_version = console.post(f"/cases/{case.case_no}/actions/urge", data={"csrf_token": csrf})
    assert no_version.status_code == 422
    session.refresh(case)
    assert case.status is CaseStatus.DISPATCHED


def test_an_action_the_role_may_not_take_is_a_403_page(
    console: TestClient, city: City, make_case: MakeCase, session: Session
) -> None:
    case = make_case(CaseStatus.REGISTERED)
    csrf = sign_in(console, city.staff[StaffRole.OPERATOR])
    answer = act(console, csrf, case, "dispatch", department="M01")
    assert answer.status_code == 403  # type: ignore[attr-defined]
    assert "没有权限执行“派遣”" in answer.text  # type: ignore[attr-defined]
    assert audit_entries(session, case.case_no, "dispatch") == []


def test_a_handler_returns_and_the_dispatcher_merges(
    console: TestClient, city: City, make_case: MakeCase, session: Session
) -> None:
    case = make_case(CaseStatus.DISPATCHED)
    csrf = sign_in(console, city.staff[StaffRole.HANDLER])
    assert act(console, csrf, case, "return", reason="不属于本部门").status_code == 303  # type: ignore[attr-defined]
    session.refresh(case)
    assert case.status is CaseStatus.REGISTERED

    target = make_case(CaseStatus.REGISTERED)
    console.cookies.clear()
    csrf = sign_in(console, city.staff[StaffRole.OPERATOR])
    unknown = act(console, csrf, case, "merge", target_case_no="NOPE000099")
    assert unknown.status_code == 422  # type: ignore[attr-defined]
    assert "不存在" in unknown.text  # type: ignore[attr-defined]
    assert act(console, csrf, case, "merge", target_case_no=target.case_no).status_code == 303  # type: ignore[attr-defined]
    session.refresh(case)
    assert case.status is CaseStatus.MERGED


def test_extension_request_and_approval(
    console: TestClient, city: City, make_case: MakeCase, session: Session
) -> None:
    case = make_case(CaseStatus.DISPATCHED)
    csrf = sign_in(console, city.staff[StaffRole.HANDLER])
    answer = act(console, csrf, case, "request_extension", amount="1.5", reason="材料未到")
    assert answer.status_code == 303  # type: ignore[attr-defined]

    console.cookies.clear()
    csrf = sign_in(console, city.staff[StaffRole.DISPATCHER])
    session.refresh(case)
    page = console.get(f"/cases/{case.case_no}").text
    assert "申请原因：材料未到" in page
    assert 'data-action="approve_extension"' in page
    assert 'data-action="reject_extension"' in page
    assert act(console, csrf, case, "approve_extension", note="同意").status_code == 303  # type: ignore[attr-defined]
    assert len(audit_entries(session, case.case_no, "approve_extension")) == 1


# ---------------------------------------------------------------- photos: handle with upload, serve, lightbox


@pytest.fixture
def photo_console(session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("ZHCG_STORAGE__LOCAL_DIR", str(tmp_path / "photos"))
    get_settings.cache_clear()
    with console_for(session, get_settings()) as client:
        yield client
    get_settings.cache_clear()


def test_handle_uploads_photos_and_the_page_serves_their_display_copies(
    photo_console: TestClient, city: City, make_case: MakeCase, session: Session
) -> None:
    case = make_case(CaseStatus.DISPATCHED)
    template = ReplyTemplate(title="已修复", body="您反映的问题已处理完毕，感谢支持。")
    session.add(template)
    session.flush()
    csrf = sign_in(photo_console, city.staff[StaffRole.HANDLER])
    page = photo_console.get(f"/cases/{case.case_no}").text
    assert 'data-reply-template="handle-reply"' in page
    assert "感谢支持" in page

    answer = photo_console.post(
        f"/cases/{case.case_no}/actions/handle",
        data={"csrf_token": csrf, "version": str(case.version), "note": "已更换", "reply": "已修复"},
        files=[("photos", ("after.jpg", jpeg(), "image/jpeg"))],
    )

    assert answer.status_code == 303, answer.text
    session.refresh(case)
    assert case.status in {CaseStatus.HANDLED, CaseStatus.CHECKING}
    assert case.reply == "已修复"
    [upload] = session.exec(
        select(Upload).where(col(Upload.owner_id) == city.staff[StaffRole.HANDLER].id)
    ).all()
    # The derive job runs after commit in production; here the test makes the copies itself.
    storage = LocalStorage(get_settings().storage.local_dir)
    storage.put(f"display/{upload.id}.jpg", b"\xff\xd8display", "image/jpeg")
    upload.display_key, upload.status = f"display/{upload.id}.jpg", UploadStatus.READY
    session.add(upload)
    session.flush()

    page = photo_console.get(f"/cases/{case.case_no}").text
    assert "处置照片" in page
    assert "data-lightbox" in page
    photo = photo_console.get(f"/cases/{case.case_no}/photos/{upload.id}/display")
    assert photo.status_code == 200
    assert photo.content == b"\xff\xd8display"
    other = make_case(CaseStatus.DISPATCHED)
    assert photo_console.get(f"/cases/{other.case_no}/photos/{upload.id}/display").status_code == 404
    assert photo_console.get(f"/cases/{case.case_no}/photos/{upload.id}/original").status_code == 404


# ---------------------------------------------------------------- the reporter's phone


def test_showing_the_full_phone_is_audited_and_limited_to_roles_that_need_it(
    console: TestClient, city: City, make_case: MakeCase, session: Session
) -> None:
    case = make_case(CaseStatus.DISPATCHED)
    case.reporter_phone = "13800138000"
    session.add(case)
    session.flush()

    csrf = sign_in(console, city.staff[StaffRole.DISPATCHER])
    shown = console.post(f"/cases/{case.case_no}/phone", headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert shown.status_code == 200
    assert "13800138000" in shown.text
    [entry] = audit_entries(session, case.case_no, "view_phone")
    assert entry.staff_id == city.staff[StaffRole.DISPATCHER].id
    assert "13800138000" not in entry.detail

    console.cookies.clear()
    csrf = sign_in(console, city.staff[StaffRole.HANDLER])
    assert "显示完整号码" not in console.get(f"/cases/{case.case_no}").text
    refused = console.post(f"/cases/{case.case_no}/phone", headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 403
    assert len(audit_entries(session, case.case_no, "view_phone")) == 1


def test_decisions_are_offered_only_for_a_pending_request(
    console: TestClient, city: City, make_case: MakeCase
) -> None:
    quiet = make_case(CaseStatus.DISPATCHED)
    asked = make_case(CaseStatus.DISPATCHED, requests=(RequestKind.SUSPENSION,))
    sign_in(console, city.staff[StaffRole.DISPATCHER])
    shown = re.compile(r'<details class="action" data-action="([a-z_]+)"')
    assert set(shown.findall(console.get(f"/cases/{quiet.case_no}").text)) == set()
    assert set(shown.findall(console.get(f"/cases/{asked.case_no}").text)) == {
        "approve_suspension",
        "reject_suspension",
    }


# ---------------------------------------------------------------- the staff API audits the same way


def test_staff_api_actions_write_the_same_audit_entries(
    city: City, make_case: MakeCase, session: Session
) -> None:
    from api.deps import get_session as api_session
    from api.main import create_app as create_api

    app = create_api(get_settings())

    def _session() -> Iterator[Session]:
        yield session

    app.dependency_overrides[api_session] = _session
    case = make_case(CaseStatus.REGISTERED)
    dispatcher = city.staff[StaffRole.DISPATCHER]
    with TestClient(app) as api:
        answer = api.post(
            f"/api/v1/staff/cases/{case.case_no}/actions/dispatch",
            json={"department": "M01", "version": case.version},
            headers=city.headers(dispatcher),
        )
    assert answer.status_code == 200, answer.text
    [entry] = audit_entries(session, case.case_no, "dispatch")
    assert entry.staff_id == dispatcher.id
    assert '"via": "api"' in entry.detail
