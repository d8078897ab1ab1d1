"""The console map in Chromium with no tile server: our grids as polygons and a seeded case as a
marker whose popup links to the case."""

from __future__ import annotations

import secrets

from playwright.sync_api import expect
from sqlmodel import Session

from core.models import Case, CaseStatus, Channel, StaffRole
from tests.browser.conftest import NewContext, screenshot, sign_in
from tests.fixtures.cases import City
from tests.fixtures.factories import CELL_LAT, CELL_LNG, ORIGIN


def _seed_case(session: Session, city: City) -> Case:
    # Somewhere in cell (1, 1), away from the other tests' cases at the first cell's centre.
    offset = secrets.randbelow(600) / 1000 + 0.2
    lng, lat = ORIGIN[0] + CELL_LNG * (1 + offset), ORIGIN[1] + CELL_LAT * (1 + offset)
    code = city.community.code
    case = Case(
        case_no=f"MAP{secrets.token_hex(4).upper()}",
        channel=Channel.WEB,
        status=CaseStatus.PENDING,
        category_id=city.manhole.id,
        description="地图测试：井盖缺失",
        lng=lng,
        lat=lat,
        unit_grid_code=f"{code}004",
        community_code=code,
        street_code=code[:9],
        district_code=code[:6],
    )
    session.add(case)
    session.commit()
    return case


def test_map_shows_grids_and_case_markers_without_tiles(
    new_context: NewContext, live_city: City, live_session: Session
) -> None:
    case = _seed_case(live_session, live_city)
    page = sign_in(new_context(), live_city.staff[StaffRole.SHIFT_LEAD])
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("pageerror", lambda error: failed.append(str(error)))

    page.goto(f"/admin/map?center={case.lng},{case.lat}&zoom=18")
    expect(page.get_by_role("link", name="地图")).to_have_attribute("aria-current", "page")
    expect(page.locator("#map.leaflet-container")).to_be_visible()
    # Unit grids at zoom 18: SVG paths of the GeoJSON layer.
    expect(page.locator("path.leaflet-interactive").first).to_be_attached()
    assert page.locator("path.leaflet-interactive").count() >= 4
    marker = page.locator(f'.leaflet-marker-icon[title^="{case.case_no}"]')
    expect(marker).to_be_visible()
    expect(marker).to_have_class(
        "leaflet-marker-icon case-marker stage-pending leaflet-zoom-animated leaflet-interactive"
    )

    marker.click()
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text("上水井盖")
    expect(popup).to_contain_text("待受理")
    expect(popup.locator("a.case-link")).to_have_attribute("href", f"/admin/cases/{case.case_no}")
    expect(page.locator("#map-status")).to_contain_text("件案件")
    page.wait_for_function("() => getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'")
    screenshot(page, "map")

    # Filtering the stages away removes the marker; no request failed and no script error.
    page.locator('input[name="status"][value="pending"]').uncheck()
    expect(marker).to_have_count(0)
    assert failed == []


def test_map_zoomed_out_shows_outlines(new_context: NewContext, live_city: City) -> None:
    page = sign_in(new_context(), live_city.staff[StaffRole.LEADER])
    lng, lat = ORIGIN[0] + CELL_LNG, ORIGIN[1] + CELL_LAT
    page.goto(f"/admin/map?center={lng},{lat}&zoom=12")
    expect(page.locator("path.leaflet-interactive").first).to_be_attached()
    expect(page.locator("#map-status")).to_contain_text("放大到 17 级显示单元网格")
