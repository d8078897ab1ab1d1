"""The evaluation page: who may open it, dimension and period switching, numbers, xlsx exports."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from admin.export import content_disposition, xlsx_bytes
from core.evaluation.periods import Period
from core.kit.sqltypes import UTCDateTime
from core.models import AuditEntry, CaseStatus, Channel, StaffRole
from tests.admin.conftest import sign_in
from tests.core.evaluation.scenario import World, build_world, local
from tests.fixtures.cases import City

MARCH = {"period": "custom", "start": "2021-03-01", "end": "2021-03-31"}
NS = {"x": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


@pytest.fixture
def world(city: City) -> World:
    world = build_world(city)
    one, two = world.communities
    for community, channel, day in [
        (one, Channel.SUPERVISOR, 2),
        (one, Channel.MINIPROGRAM, 3),
        (two, Channel.MINIPROGRAM, 4),
    ]:
        case = world.case(
            local(2021, 3, day, 9),
            community=community,
            channel=channel,
            status=CaseStatus.REGISTERED,
            registered_at=local(2021, 3, day, 10),
        )
        world.event(
            case, "register", local(2021, 3, day, 10), actor=world.operators[0], to=CaseStatus.REGISTERED
        )
    world.case(local(2021, 2, 28, 23, 59), community=one)  # February locally: not in March
    return world


def sheet_rows(content: bytes) -> list[list[str]]:
    """The first sheet's cells as text, read from the xlsx zip (no spreadsheet library needed)."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = archive.namelist()
        shared: list[str] = []
        if "xl/sharedStrings.xml" in names:
            root = ElementTree.fromstring(archive.read("xl/sharedStrings.xml"))
            shared = [
                "".join(t.text or "" for t in si.iter(f"{{{NS['x']}}}t")) for si in root.findall("x:si", NS)
            ]
        sheet = ElementTree.fromstring(archive.read("xl/worksheets/sheet1.xml"))
    rows: list[list[str]] = []
    for row in sheet.iter(f"{{{NS['x']}}}row"):
        cells: list[str] = []
        for cell in row.findall("x:c", NS):
            value = cell.find("x:v", NS)
            inline = cell.find("x:is/x:t", NS)
            if cell.get("t") == "s" and value is not None:
                cells.append(shared[int(value.text or "0")])
            elif inline is not None:
                cells.append(inline.text or "")
            else:
                cells.append(value.text if value is not None and value.text else "")
        rows.append(cells)
    return rows


def march_reports(session: Session, street: str | None = None) -> int:
    period = Period(date(2021, 3, 1), date(2021, 4, 1))
    sql = 'SELECT COUNT(*) FROM "case" WHERE created_at >= :s AND created_at < :e'
    params: dict[str, object] = {"s": period.start_at, "e": period.end_at}
    if street:
        sql += " AND street_code = :street"
        params["street"] = street
    stmt = sa.text(sql).bindparams(
        sa.bindparam("s", type_=UTCDateTime()), sa.bindparam("e", type_=UTCDateTime())
    )
    return int(session.execute(stmt, params).scalar_one())


@pytest.mark.parametrize(
    "role", [StaffRole.LEADER, StaffRole.SHIFT_LEAD, StaffRole.DISPATCHER, StaffRole.ADMIN]
)
def test_allowed_roles_open_the_page(console: TestClient, world: World, role: StaffRole) -> None:
    sign_in(console, world.city.staff[role])
    page = console.get("/evaluation")
    assert page.status_code == 200, page.text
    assert "<h1>综合评价</h1>" in page.text
    assert 'id="hot-spots"' in page.text  # loaded after the table
    assert "综合评价</a>" in page.text  # the navigation item
    spots = console.get("/evaluation/hot-spots", headers={"HX-Request": "true"})
    assert spots.status_code == 200, spots.text
    assert 'id="evaluation-data"' in spots.text
    assert 'id="heatmap"' in spots.text
    tiles = console.get("/evaluation/summary", headers={"HX-Request": "true"})
    assert tiles.status_code == 200, tiles.text
    assert 'data-indicator="reports"' in tiles.text


def test_hot_spots_refuse_bad_periods_and_other_roles(console: TestClient, world: World) -> None:
    sign_in(console, world.city.staff[StaffRole.LEADER])
    bad = console.get("/evaluation/hot-spots?period=custom&start=2021-13-01", headers={"HX-Request": "true"})
    assert bad.status_code == 422
    console.cookies.clear()
    sign_in(console, world.city.staff[StaffRole.OPERATOR])
    assert console.get("/evaluation/hot-spots").status_code == 403


@pytest.mark.parametrize("role", [StaffRole.OPERATOR, StaffRole.HANDLER, StaffRole.SUPERVISOR])
def test_other_roles_are_refused_with_a_chinese_403(
    console: TestClient, world: World, role: StaffRole
) -> None:
    sign_in(console, world.city.staff[role])
    for path in ("/evaluation", "/evaluation/export"):
        answer = console.get(path)
        assert answer.status_code == 403
        assert "无权访问" in answer.text


def test_signed_out_visitors_go_to_the_sign_in_page(console: TestClient) -> None:
    answer = console.get("/evaluation")
    assert answer.status_code == 303
    assert "/login" in answer.headers["location"]


def test_street_numbers_equal_sql_counts(console: TestClient, world: World, session: Session) -> None:
    sign_in(console, world.city.staff[StaffRole.LEADER])
    page = console.get("/evaluation", params={"dimension": "street", **MARCH})
    assert page.status_code == 200
    html = page.text
    assert "2021年3月" in html  # a custom period of one whole month is named as the month
    for community in world.communities:
        street = community.code[:9]
        row = re.search(rf'<tr data-key="{street}">(.*?)</tr>', html, re.S)
        assert row, street
        reports = re.search(r'data-column="reports">(\d+)<', row.group(1))
        assert reports
        assert int(reports.group(1)) == march_reports(session, street)
    tiles = console.get("/evaluation/summary", params=MARCH, headers={"HX-Request": "true"}).text
    total = re.search(r'data-indicator="reports">.*?stat-value">(\d+)<', tiles, re.S)
    assert total
    assert int(total.group(1)) == march_reports(session) == 3
    assert "监督举报率" in html
    assert "得分" in html


def test_switching_dimension(console: TestClient, world: World) -> None:
    sign_in(console, world.city.staff[StaffRole.ADMIN])
    operators = console.get("/evaluation", params={"dimension": "operator", **MARCH})
    assert operators.status_code == 200
    assert world.operators[0].display_name in operators.text
    assert "办件总数" in operators.text
    departments = console.get("/evaluation", params={"dimension": "department", **MARCH})
    assert "处置率" in departments.text
    assert "按期处置率" in departments.text
    supervisors = console.get("/evaluation", params={"dimension": "supervisor", "period": "last_month"})
    assert supervisors.status_code == 200
    assert "有效上报率" in supervisors.text


def test_an_empty_period_shows_dashes(console: TestClient, world: World) -> None:
    sign_in(console, world.city.staff[StaffRole.LEADER])
    page = console.get(
        "/evaluation",
        params={"dimension": "street", "period": "custom", "start": "2011-03-01", "end": "2011-03-31"},
    )
    assert page.status_code == 200
    assert 'data-column="close_rate">—<' in page.text
    assert 'data-column="score">—<' in page.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": "custom", "start": "2021-03-05", "end": "2021-03-01"}, "结束日期不能早于开始日期"),
        ({"period": "custom", "start": "2021-13-05", "end": "2021-03-01"}, "开始日期格式不正确"),
        ({"period": "custom"}, "请填写开始日期和结束日期"),
        ({"period": "yesterday"}, "未知的评价时段"),
        ({"dimension": "planet"}, "未知的评价维度"),
    ],
)
def test_bad_filters_are_a_422_with_a_chinese_message(
    console: TestClient, world: World, params: dict[str, str], message: str
) -> None:
    sign_in(console, world.city.staff[StaffRole.LEADER])
    page = console.get("/evaluation", params=params)
    assert page.status_code == 422
    assert message in page.text


def test_export_of_the_main_table_is_an_audited_xlsx(
    console: TestClient, world: World, session: Session
) -> None:
    leader = world.city.staff[StaffRole.LEADER]
    sign_in(console, leader)
    answer = console.get("/evaluation/export", params={"dimension": "street", "table": "main", **MARCH})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment; ")
    assert "filename*=UTF-8''" + quote("综合评价_街道_2021年3月.xlsx", safe="") in disposition
    rows = sheet_rows(answer.content)
    assert rows[0][:3] == ["排名", "街道", "上报数"]
    assert "结案率（%）" in rows[0]
    assert "得分" in rows[0]
    assert {row[1] for row in rows[1:]} == {"测试街道001", "测试街道002"}
    reports = sorted(int(row[2]) for row in rows[1:])
    assert reports == sorted(march_reports(session, community.code[:9]) for community in world.communities)
    entry = session.exec(
        select(AuditEntry).where(AuditEntry.action == "evaluation.export", AuditEntry.staff_id == leader.id)
    ).first()
    assert entry is not None
    assert entry.target_id == "main"


@pytest.mark.parametrize(
    ("table", "header"),
    [("categories", "小类名称"), ("streets", "街道名称"), ("grids", "单元网格编码"), ("heatmap", "星期")],
)
def test_export_of_hot_spot_tables(console: TestClient, world: World, table: str, header: str) -> None:
    sign_in(console, world.city.staff[StaffRole.DISPATCHER])
    answer = console.get("/evaluation/export", params={"table": table, **MARCH})
    assert answer.status_code == 200
    rows = sheet_rows(answer.content)
    assert header in rows[0]
    if table == "heatmap":
        assert [row[0] for row in rows[1:]] == ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]
        assert sum(int(row[-1]) for row in rows[1:]) == 3
    else:
        assert sum(int(row[-1]) for row in rows[1:]) == 3


def test_unknown_export_table_is_refused(console: TestClient, world: World) -> None:
    sign_in(console, world.city.staff[StaffRole.LEADER])
    assert console.get("/evaluation/export", params={"table": "secrets"}).status_code == 422


def test_xlsx_helper_writes_text_never_formulas_and_a_safe_file_name() -> None:
    rows = sheet_rows(xlsx_bytes(["名称", "数量"], [["=cmd|' /C calc'!A0", 3], [None, 2.5]]))
    assert rows == [["名称", "数量"], ["=cmd|' /C calc'!A0", "3"], ["2.5"]]
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes(["a"], [["=1+1"]]))) as archive:
        assert "<f>" not in archive.read("xl/worksheets/sheet1.xml").decode()
    header = content_disposition("高发问题_2021年3月.xlsx")
    assert header.startswith('attachment; filename="')
    assert header.encode("latin-1")  # HTTP headers must be Latin-1
    assert "filename*=UTF-8''%E9%AB%98%E5%8F%91" in header
