"""Master data pages: admins and leaders view, only admins import/change; uploads are all-or-nothing with
every error shown; exports download in the import format; rewards, redemptions and calendar overrides."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.models import (
    AuditEntry,
    CalendarDay,
    CalendarYear,
    Department,
    Redemption,
    RedemptionStatus,
    RewardItem,
    StaffRole,
)
from core.models.rewards import RewardItemKind
from core.rewards import service as rewards
from tests.admin.conftest import sign_in
from tests.fixtures.cases import City

PAGES = (
    "/masterdata",
    "/masterdata/categories",
    "/masterdata/departments",
    "/masterdata/routing",
    "/masterdata/grids",
    "/masterdata/places",
    "/masterdata/rewards",
    "/masterdata/redemptions",
    "/masterdata/calendar",
)


def _audit(session: Session, action: str) -> list[AuditEntry]:
    return list(session.exec(select(AuditEntry).where(col(AuditEntry.action) == action)).all())


@pytest.mark.parametrize("role", [StaffRole.ADMIN, StaffRole.LEADER])
def test_admins_and_leaders_see_every_tab(console: TestClient, city: City, role: StaffRole) -> None:
    sign_in(console, city.staff[role])
    for path in PAGES:
        response = console.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert "主数据" in response.text
    categories = console.get("/masterdata/categories").text
    assert city.manhole.name in categories
    assert "紧急工作时" in categories
    grids = console.get("/masterdata/grids").text
    assert city.community.name in grids
    assert city.staff[StaffRole.SUPERVISOR].display_name in grids
    overview = console.get("/masterdata").text
    assert ('type="file"' in overview) is (role is StaffRole.ADMIN)


@pytest.mark.parametrize("role", [StaffRole.OPERATOR, StaffRole.DISPATCHER, StaffRole.HANDLER])
def test_other_roles_are_refused(console: TestClient, city: City, role: StaffRole) -> None:
    sign_in(console, city.staff[role])
    assert console.get("/masterdata").status_code == 403
    assert console.get("/masterdata/export/departments").status_code == 403


def test_leader_cannot_import(console: TestClient, city: City) -> None:
    csrf = sign_in(console, city.staff[StaffRole.LEADER])
    response = console.post(
        "/masterdata/import",
        data={"csrf_token": csrf, "kind": "departments"},
        files={"file": ("departments.csv", b"code,name\n", "text/csv")},
    )
    assert response.status_code == 403


DEPARTMENTS = "code,name,kind,parent_code,contact_name,contact_phone\n"


def test_import_shows_every_error_and_writes_nothing(
    console: TestClient, city: City, session: Session
) -> None:
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    bad = DEPARTMENTS + "NEW1,新部门,municipal,,,\nBAD 2,,nokind,,,\nNEW3,部门三,street,MISSING,,\n"
    response = console.post(
        "/masterdata/import",
        data={"csrf_token": csrf, "kind": "departments"},
        files={"file": ("departments.csv", bad.encode(), "text/csv")},
    )
    assert response.status_code == 422
    assert "未写入任何数据" in response.text
    for text in ("第 3 行", "code", "kind", "第 4 行", "上级部门“MISSING”不存在"):
        assert text in response.text
    assert session.exec(select(Department).where(col(Department.code) == "NEW1")).first() is None
    assert _audit(session, "masterdata_import_failed")


def test_import_shows_counts_and_audits_the_file(console: TestClient, city: City, session: Session) -> None:
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    exported = console.get("/masterdata/export/departments")
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == 'attachment; filename="departments.csv"'
    text = exported.text + "NEW1,新部门,municipal,,张三,0790-1111111\n"
    response = console.post(
        "/masterdata/import",
        data={"csrf_token": csrf, "kind": "departments"},
        files={"file": ("departments.csv", text.encode(), "text/csv")},
    )
    assert response.status_code == 200, response.text
    assert "data-created>1<" in response.text
    assert "data-updated>0<" in response.text
    existing = session.exec(select(Department)).all()
    assert f"data-unchanged>{len(existing) - 1}<" in response.text
    entry = _audit(session, "masterdata_import")[-1]
    assert '"kind": "departments"' in entry.detail
    assert '"file": "departments.csv"' in entry.detail
    assert '"sha256": "' in entry.detail
    assert _audit(session, "masterdata_exported")


def test_export_then_import_changes_nothing_through_the_console(console: TestClient, city: City) -> None:
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    for kind, name in (("categories", "categories.csv"), ("routing", "routing.csv"), ("areas", "areas.csv")):
        exported = console.get(f"/masterdata/export/{kind}")
        assert exported.status_code == 200
        response = console.post(
            "/masterdata/import",
            data={"csrf_token": csrf, "kind": kind},
            files={"file": (name, exported.content, "text/csv")},
        )
        assert response.status_code == 200, response.text
        assert "data-created>0<" in response.text
        assert "data-updated>0<" in response.text


def test_unit_grids_export_is_geojson(console: TestClient, city: City) -> None:
    sign_in(console, city.staff[StaffRole.LEADER])
    response = console.get("/masterdata/export/unit-grids")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    assert response.json()["type"] == "FeatureCollection"
    assert console.get("/masterdata/export/nothing").status_code == 404


def test_wrong_file_type_and_missing_file(console: TestClient, city: City) -> None:
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    wrong = console.post(
        "/masterdata/import",
        data={"csrf_token": csrf, "kind": "unit-grids"},
        files={"file": ("grids.csv", b"code\n", "text/csv")},
    )
    assert wrong.status_code == 415
    assert "文件类型不对" in wrong.text
    assert ".geojson" in wrong.text
    missing = console.post("/masterdata/import", data={"csrf_token": csrf, "kind": "places"})
    assert missing.status_code == 422
    assert "请选择要上传的文件" in missing.text
    unknown = console.post(
        "/masterdata/import",
        data={"csrf_token": csrf, "kind": "secrets"},
        files={"file": ("x.csv", b"a\n", "text/csv")},
    )
    assert unknown.status_code == 422


def test_reward_items_add_edit_and_stock(console: TestClient, city: City, session: Session) -> None:
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    added = console.post(
        "/masterdata/rewards",
        data={
            "csrf_token": csrf,
            "code": "T-HF5",
            "name": "5元话费",
            "kind": "phone_credit",
            "points_cost": "50",
            "stock": "3",
            "active": "1",
        },
    )
    assert added.status_code == 303, added.text
    item = session.exec(select(RewardItem).where(col(RewardItem.code) == "T-HF5")).one()
    assert (item.points_cost, item.stock, item.active) == (50, 3, True)
    edited = console.post(
        f"/masterdata/rewards/{item.id}",
        data={"csrf_token": csrf, "name": "5元话费券", "kind": "coupon", "points_cost": "60"},
    )
    assert edited.status_code == 303
    session.refresh(item)
    assert (item.name, item.kind, item.points_cost, item.active) == (
        "5元话费券",
        RewardItemKind.COUPON,
        60,
        False,
    )
    assert (
        console.post(
            f"/masterdata/rewards/{item.id}/stock", data={"csrf_token": csrf, "delta": "+7"}
        ).status_code
        == 303
    )
    session.refresh(item)
    assert item.stock == 10
    too_many = console.post(f"/masterdata/rewards/{item.id}/stock", data={"csrf_token": csrf, "delta": "-11"})
    assert too_many.status_code == 409
    assert "库存不足" in too_many.text
    for action in ("reward_item_created", "reward_item_updated", "reward_stock_adjusted"):
        assert _audit(session, action), action


def test_leader_sees_rewards_but_cannot_change_them(console: TestClient, city: City) -> None:
    csrf = sign_in(console, city.staff[StaffRole.LEADER])
    page = console.get("/masterdata/rewards")
    assert page.status_code == 200
    assert "添加商品" not in page.text
    refused = console.post(
        "/masterdata/rewards",
        data={
            "csrf_token": csrf,
            "code": "X",
            "name": "x",
            "kind": "coupon",
            "points_cost": "1",
            "stock": "1",
        },
    )
    assert refused.status_code == 403


def _pending_redemption(session: Session, city: City) -> Redemption:
    from core.models.rewards import RewardEntry, RewardReason

    item = RewardItem(code="T-R1", name="测试券", kind=RewardItemKind.COUPON, points_cost=10, stock=5)
    session.add(item)
    citizen = city.citizen()
    assert citizen.id is not None
    session.add(RewardEntry(citizen_id=citizen.id, points=100, reason=RewardReason.FIRST_REPORT_BONUS))
    session.flush()
    redemption, _ = rewards.redeem(session, citizen=citizen, item_code="T-R1", idempotency_key="k1")
    return redemption


def test_redemptions_fulfil_and_refund(console: TestClient, city: City, session: Session) -> None:
    first = _pending_redemption(session, city)
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    page = console.get("/masterdata/redemptions")
    assert "测试券" in page.text
    assert "****" in page.text  # the citizen's phone is masked
    done = console.post(f"/masterdata/redemptions/{first.id}/fulfil", data={"csrf_token": csrf})
    assert done.status_code == 303
    session.refresh(first)
    assert first.status is RedemptionStatus.FULFILLED
    again = console.post(f"/masterdata/redemptions/{first.id}/refund", data={"csrf_token": csrf})
    assert again.status_code == 409
    assert "该兑换已处理" in again.text
    assert _audit(session, "redemption_fulfilled")


def test_calendar_overrides(console: TestClient, city: City, session: Session) -> None:
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    page = console.get("/masterdata/calendar", params={"year": "2031"})
    assert "2031 年没有录入日期" in page.text
    bad = console.post(
        "/masterdata/calendar/days", data={"csrf_token": csrf, "day": "2031-13-01", "is_workday": "0"}
    )
    assert bad.status_code == 422
    assert "请填写正确的日期" in bad.text
    added = console.post(
        "/masterdata/calendar/days",
        data={"csrf_token": csrf, "day": "2031-01-01", "is_workday": "0", "name": "元旦"},
    )
    assert added.status_code == 303
    assert session.get(CalendarDay, date(2031, 1, 1)) is not None
    page = console.get(added.headers["location"])
    assert "元旦" in page.text
    marked = console.post(
        "/masterdata/calendar/years/2031", data={"csrf_token": csrf, "entered": "1", "source": "通知"}
    )
    assert marked.status_code == 303
    assert session.get(CalendarYear, 2031) is not None
    removed = console.post("/masterdata/calendar/days/2031-01-01/remove", data={"csrf_token": csrf})
    assert removed.status_code == 303
    assert session.get(CalendarDay, date(2031, 1, 1)) is None
    for action in ("calendar_day_set", "calendar_year_marked", "calendar_day_removed"):
        assert _audit(session, action), action


def test_leader_cannot_change_the_calendar(console: TestClient, city: City) -> None:
    csrf = sign_in(console, city.staff[StaffRole.LEADER])
    response = console.post(
        "/masterdata/calendar/days", data={"csrf_token": csrf, "day": "2031-01-01", "is_workday": "0"}
    )
    assert response.status_code == 403
