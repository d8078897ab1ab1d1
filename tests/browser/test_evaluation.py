"""综合评价 in a real browser: the charts are drawn, the numbers equal SQL counts on the live database,
dimension tabs switch, and the table downloads as xlsx."""

from __future__ import annotations

import secrets
from datetime import date, timedelta

import sqlalchemy as sa
from playwright.sync_api import expect
from sqlmodel import Session

from core.evaluation.periods import Period
from core.kit.sqltypes import UTCDateTime
from core.models import ActorKind, Case, CaseEvent, CaseStatus, Channel, StaffRole
from tests.browser.conftest import NewContext, screenshot, sign_in
from tests.core.evaluation.scenario import local
from tests.fixtures.cases import City

# A month of its own: other browser tests write cases "now".
YEAR, MONTH = 2014, 3
QUERY = f"dimension=street&period=custom&start={YEAR}-{MONTH:02d}-01&end={YEAR}-{MONTH:02d}-31"


def seed(session: Session, city: City) -> None:
    code = city.community.code
    operator = city.staff[StaffRole.OPERATOR]
    for day, hour, channel, registered in [
        (3, 9, Channel.SUPERVISOR, True),
        (3, 10, Channel.MINIPROGRAM, True),
        (4, 15, Channel.MINIPROGRAM, False),
        (10, 21, Channel.HOTLINE, True),
        (17, 9, Channel.MINIPROGRAM, False),
    ]:
        at = local(YEAR, MONTH, day, hour)
        case = Case(
            case_no=f"BE{secrets.token_hex(6)}",
            channel=channel,
            status=CaseStatus.REGISTERED if registered else CaseStatus.PENDING,
            category_id=city.manhole.id if day % 2 else city.rubbish.id,
            description="浏览器评价测试",
            lng=114.9,
            lat=27.8,
            unit_grid_code=f"{code}001",
            community_code=code,
            street_code=code[:9],
            district_code=code[:6],
            responsibility_grid_code=f"{code}01",
            registered_at=at + timedelta(hours=1) if registered else None,
            created_at=at,
            updated_at=at,
        )
        session.add(case)
        session.flush()
        assert case.id is not None
        if registered:
            session.add(
                CaseEvent(
                    case_id=case.id,
                    actor_kind=ActorKind.STAFF,
                    actor_id=operator.id,
                    actor_role=operator.role.value,
                    action="register",
                    to_status=CaseStatus.REGISTERED,
                    created_at=at + timedelta(hours=1),
                )
            )
    session.commit()


def sql_count(session: Session, sql: str) -> int:
    period = Period(date(YEAR, MONTH, 1), date(YEAR, MONTH + 1, 1))
    stmt = sa.text(sql).bindparams(
        sa.bindparam("s", type_=UTCDateTime()), sa.bindparam("e", type_=UTCDateTime())
    )
    return int(session.execute(stmt, {"s": period.start_at, "e": period.end_at}).scalar_one())


def test_evaluation_page_draws_charts_and_shows_the_database_numbers(
    new_context: NewContext, live_city: City, live_session: Session
) -> None:
    seed(live_session, live_city)
    reports = sql_count(
        live_session, 'SELECT COUNT(*) FROM "case" WHERE created_at >= :s AND created_at < :e'
    )
    registered = sql_count(
        live_session,
        "SELECT COUNT(DISTINCT case_id) FROM case_event WHERE action = 'register' "
        "AND created_at >= :s AND created_at < :e",
    )
    supervisor = sql_count(
        live_session,
        "SELECT COUNT(*) FROM \"case\" WHERE channel = 'supervisor' AND created_at >= :s AND created_at < :e",
    )
    assert (reports, registered, supervisor) == (5, 3, 1)

    context = new_context()
    page = sign_in(context, live_city.staff[StaffRole.LEADER])
    page.goto(f"/admin/evaluation?{QUERY}")
    expect(page.get_by_role("heading", name="综合评价", exact=True)).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-charts", "ready")
    for canvas in ("chart-categories", "chart-streets", "chart-weekdays"):
        expect(page.locator(f"canvas#{canvas}")).to_be_visible()
        assert page.evaluate(f"() => !!Chart.getChart('{canvas}')"), canvas
    assert page.evaluate("() => document.getElementById('chart-categories').width") > 0

    expect(page.locator('[data-indicator="reports"] .stat-value')).to_have_text(str(reports))
    expect(page.locator('[data-indicator="registered"] .stat-value')).to_have_text(str(registered))
    street_row = page.locator(f'#evaluation-table tr[data-key="{live_city.community.code[:9]}"]')
    expect(street_row.locator('td[data-column="reports"]')).to_have_text(str(reports))
    expect(street_row.locator('td[data-column="supervisor_reports"]')).to_have_text(str(supervisor))
    expect(street_row.locator('td[data-column="supervisor_report_rate"]')).to_have_text(
        f"{supervisor / reports * 100:.1f}%"
    )
    # Mondays 3 and 17 March at 09:00 local: two reports in the heat map's Monday row, 9 o'clock column.
    expect(page.locator("#heatmap tbody tr").nth(0).locator("td").nth(9)).to_have_text("2")
    screenshot(page, "evaluation")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="导出 Excel").click()
    download = download_info.value
    assert download.suggested_filename == f"综合评价_街道_{YEAR}年{MONTH}月.xlsx"

    page.get_by_role("navigation", name="评价维度").get_by_role("link", name="专业部门").click()
    expect(page.locator("#evaluation-table thead")).to_contain_text("按期处置率")
    expect(page.locator("#period-label")).to_have_text(f"{YEAR}年{MONTH}月")


def test_evaluation_is_refused_to_an_operator(new_context: NewContext, live_city: City) -> None:
    page = sign_in(new_context(), live_city.staff[StaffRole.OPERATOR])
    expect(page.locator(".mainnav")).not_to_contain_text("综合评价")
    response = page.goto("/admin/evaluation")
    assert response is not None
    assert response.status == 403
    expect(page.locator("#main")).to_contain_text("无权访问")
