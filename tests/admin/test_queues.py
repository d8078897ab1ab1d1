"""The console's case queues: tabs and counts per role, rows within scope, filters and sort orders in
the query string, keyset pages, the counts fragment, and Chinese 4xx pages for anything malformed."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from core.kit.clock import utcnow
from core.models import CaseStatus, RequestKind, StaffRole
from core.models.cases import CaseFollower
from core.settings import get_settings
from tests.admin.conftest import console_for, sign_in
from tests.fixtures.cases import City, MakeCase

ROW = re.compile(r'<tr data-href="[^"]*/cases/([^"/]+)"')
COUNT = re.compile(r'data-count="([a-z-]+)">([^<]+)<')
HTMX = {"HX-Request": "true", "HX-Target": "queue-results"}


def case_nos(text: str) -> list[str]:
    body = text.split("<tbody data-rows>", 1)[1].split("</tbody>", 1)[0]
    return ROW.findall(body)


def counts(text: str) -> dict[str, str]:
    return dict(COUNT.findall(text))


def link(text: str, rel: str) -> str | None:
    match = re.search(
        rf'<a href="([^"]+)" hx-get="[^"]+" hx-target="#queue-results" hx-push-url="true" rel="{rel}"', text
    )
    return html.unescape(match.group(1)) if match else None


def as_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def signed_in(console: TestClient, city: City, role: StaffRole) -> TestClient:
    sign_in(console, city.staff[role])
    return console


@pytest.fixture
def work(session: Session, city: City, make_case: MakeCase) -> dict[str, str]:
    """One case in each state that has a queue, plus one in another department."""
    made = {
        "pending": make_case(CaseStatus.PENDING),
        "accepted": make_case(CaseStatus.ACCEPTED),
        "verifying": make_case(CaseStatus.VERIFYING),
        "registered": make_case(CaseStatus.REGISTERED),
        "dispatched": make_case(CaseStatus.DISPATCHED),
        "requested": make_case(CaseStatus.DISPATCHED, requests=(RequestKind.EXTENSION,)),
        "handled": make_case(CaseStatus.HANDLED),
        "checking": make_case(CaseStatus.CHECKING),
        "closed": make_case(CaseStatus.CLOSED),
        "elsewhere": make_case(CaseStatus.DISPATCHED),
    }
    made["elsewhere"].department_id = city.sanitation.id
    made["registered"].overdue = True
    made["dispatched"].overdue = True
    made["closed"].overdue = True
    session.add_all(made.values())
    session.flush()
    return {name: case.case_no for name, case in made.items()}


def test_unauthenticated_requests_go_to_the_sign_in_page(console: TestClient) -> None:
    page = console.get("/cases?queue=to-dispatch")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/cases%3Fqueue%3Dto-dispatch"
    fragment = console.get("/queue-counts?queue=to-dispatch", headers={"HX-Request": "true"})
    assert fragment.status_code == 204
    assert fragment.headers["HX-Redirect"].startswith("/login")


def test_supervisors_have_no_queue_page(console: TestClient, city: City) -> None:
    signed_in(console, city, StaffRole.SUPERVISOR)
    assert console.get("/cases").status_code == 403
    assert console.get("/queue-counts").status_code == 403
    assert "案件队列" not in console.get("/").text  # nor a nav item


@pytest.mark.parametrize(
    ("role", "tabs"),
    [
        (StaffRole.OPERATOR, ["to-register", "to-check", "due-soon", "overdue", "all"]),
        (StaffRole.DISPATCHER, ["to-dispatch", "to-approve", "to-check", "due-soon", "overdue", "all"]),
        (StaffRole.HANDLER, ["to-handle", "due-soon", "overdue", "all"]),
        (StaffRole.LEADER, ["due-soon", "overdue", "all"]),
        (StaffRole.ADMIN, ["all"]),
    ],
)
def test_each_role_sees_only_its_tabs(
    console: TestClient, city: City, role: StaffRole, tabs: list[str]
) -> None:
    signed_in(console, city, role)
    page = console.get("/cases")
    assert page.status_code == 200
    assert list(counts(page.text)) == tabs
    assert f'data-queue="{tabs[0]}"\n       aria-current="page"' in page.text  # the first is open
    missing = {"to-register", "to-dispatch", "to-handle", "to-approve"} - set(tabs)
    for queue in missing:
        refused = console.get(f"/cases?queue={queue}")
        assert refused.status_code == 403
        assert "您的角色没有" in refused.text


@pytest.mark.parametrize(
    ("role", "queue", "expected"),
    [
        (StaffRole.OPERATOR, "to-register", {"pending", "accepted"}),
        (StaffRole.OPERATOR, "to-check", {"handled"}),
        (StaffRole.OPERATOR, "overdue", set()),
        (StaffRole.DISPATCHER, "to-dispatch", {"registered"}),
        (StaffRole.DISPATCHER, "to-approve", {"requested"}),
        (StaffRole.DISPATCHER, "to-check", {"handled"}),
        (StaffRole.DISPATCHER, "overdue", {"registered"}),
        (StaffRole.SHIFT_LEAD, "to-register", {"pending", "accepted"}),
        (StaffRole.SHIFT_LEAD, "to-dispatch", {"registered"}),
        (StaffRole.SHIFT_LEAD, "overdue", {"registered", "dispatched"}),
        (StaffRole.HANDLER, "to-handle", {"dispatched", "requested"}),
        (StaffRole.HANDLER, "overdue", {"dispatched"}),
        (StaffRole.LEADER, "overdue", {"registered", "dispatched"}),
    ],
)
def test_queue_rows_and_counts_per_role(
    console: TestClient, city: City, work: dict[str, str], role: StaffRole, queue: str, expected: set[str]
) -> None:
    signed_in(console, city, role)
    page = console.get(f"/cases?queue={queue}")
    assert page.status_code == 200, page.text
    assert set(case_nos(page.text)) == {work[name] for name in expected}
    assert counts(page.text)[queue] == str(len(expected))
    fragment = console.get(f"/queue-counts?queue={queue}")
    assert fragment.status_code == 200
    assert counts(fragment.text)[queue] == str(len(expected))


def test_a_handler_sees_only_their_departments_cases(
    console: TestClient, city: City, work: dict[str, str]
) -> None:
    signed_in(console, city, StaffRole.HANDLER)
    every = console.get("/cases?queue=all")
    assert work["elsewhere"] not in case_nos(every.text)
    assert set(case_nos(every.text)) == {
        work["dispatched"],
        work["requested"],
        work["handled"],
        work["checking"],
        work["closed"],
    }
    assert console.get(f"/cases?queue=all&q={work['elsewhere']}").status_code == 200
    assert case_nos(console.get(f"/cases?queue=all&q={work['elsewhere']}").text) == []


def test_rows_show_the_case_and_link_to_its_page(
    console: TestClient, session: Session, city: City, make_case: MakeCase
) -> None:
    now = utcnow()
    soon, overdue, calm = (make_case(CaseStatus.DISPATCHED) for _ in range(3))
    soon.handle_due_at = now + timedelta(minutes=30)
    overdue.handle_due_at = now - timedelta(hours=2)
    calm.handle_due_at = now + timedelta(days=30)
    soon.address = "仙来西大道 8 号"
    citizen = city.citizen()
    assert soon.id is not None
    assert citizen.id is not None
    session.add(CaseFollower(case_id=soon.id, citizen_id=citizen.id))
    session.add_all([soon, overdue, calm])
    session.flush()
    signed_in(console, city, StaffRole.HANDLER)
    page = console.get("/cases?queue=to-handle").text
    assert case_nos(page) == [overdue.case_no, soon.case_no, calm.case_no]  # most urgent first
    assert f'<a href="/cases/{soon.case_no}">{soon.case_no}</a>' in page
    row = page.split(f'data-href="/cases/{soon.case_no}"', 1)[1].split("</tr>", 1)[0]
    assert "上水井盖" in row
    assert "仙来西大道 8 号" in row
    assert "处置中" in row
    assert city.municipal.name in row
    assert 'class="time deadline soon"' in row
    assert re.search(r"剩余 (29|30)分钟", row)
    assert '<td class="num">1</td>' in row
    late = page.split(f'data-href="/cases/{overdue.case_no}"', 1)[1].split("</tr>", 1)[0]
    assert 'class="time deadline overdue"' in late
    assert "超期 " in late
    later = page.split(f'data-href="/cases/{calm.case_no}"', 1)[1].split("</tr>", 1)[0]
    assert 'class="time deadline "' in later
    assert counts(page)["due-soon"] == "1"


def test_filters_and_sort_in_the_query_string(
    console: TestClient, session: Session, city: City, make_case: MakeCase
) -> None:
    manhole, rubbish = make_case(CaseStatus.REGISTERED), make_case(CaseStatus.REGISTERED)
    rubbish.category_id = city.rubbish.id
    rubbish.description = "垃圾满溢"
    rubbish.created_at = manhole.created_at + timedelta(minutes=5)
    session.add(rubbish)
    session.flush()
    signed_in(console, city, StaffRole.DISPATCHER)
    assert case_nos(console.get("/cases?queue=to-dispatch&category=SJ0102").text) == [rubbish.case_no]
    assert case_nos(console.get("/cases?queue=to-dispatch&q=垃圾").text) == [rubbish.case_no]
    assert case_nos(console.get(f"/cases?queue=to-dispatch&q={manhole.case_no}").text) == [manhole.case_no]
    assert case_nos(console.get("/cases?queue=to-dispatch&channel=hotline").text) == []
    newest = console.get("/cases?queue=to-dispatch&sort=reported&dir=desc").text
    assert case_nos(newest) == [rubbish.case_no, manhole.case_no]
    oldest = console.get("/cases?queue=to-dispatch&sort=reported&dir=asc").text
    assert case_nos(oldest) == [manhole.case_no, rubbish.case_no]

    # The page says back what the URL said: the form, the tabs' links and the counts fragment's URL.
    page = console.get(
        f"/cases?queue=to-dispatch&category=SJ0102&area={city.community.code}&q=垃圾&sort=status&dir=desc"
    ).text
    assert '<option value="SJ0102" selected>' in page
    assert f'<option value="{city.community.code}" selected>' in page
    assert 'value="垃圾" data-search' in page
    assert '<option value="status" selected>' in page
    assert '<option value="desc" selected>' in page
    assert "以下为筛选结果" in page
    tab = re.search(r'<a href="([^"]+)" data-queue="overdue"', page)
    assert tab is not None
    assert parse_qs(urlsplit(html.unescape(tab.group(1))).query) == {
        "queue": ["overdue"],
        "category": ["SJ0102"],
        "area": [city.community.code],
        "q": ["垃圾"],
    }


def test_htmx_updates_get_the_results_and_a_canonical_url(
    console: TestClient, city: City, work: dict[str, str]
) -> None:
    signed_in(console, city, StaffRole.DISPATCHER)
    fragment = console.get("/cases?queue=to-dispatch&q=&category=&channel=&dir=desc", headers=HTMX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert case_nos(fragment.text) == [work["registered"]]
    assert 'id="queue-tabs"' in fragment.text
    assert 'hx-swap-oob="true"' in fragment.text
    assert fragment.headers["HX-Push-Url"] == "/cases?queue=to-dispatch&sort=deadline&dir=desc"
    # A history restore (back/forward without a cached copy) needs the whole page.
    restore = console.get("/cases?queue=to-dispatch", headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text


def test_counts_fragment_polls_itself(console: TestClient, city: City, work: dict[str, str]) -> None:
    signed_in(console, city, StaffRole.DISPATCHER)
    fragment = console.get("/queue-counts?queue=to-approve&area=" + city.community.code)
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<nav id="queue-tabs"')
    assert f'hx-trigger="every {get_settings().console.counts_refresh_s}s"' in fragment.text
    assert f'hx-get="/queue-counts?queue=to-approve&amp;area={city.community.code}"' in fragment.text
    assert counts(fragment.text) == {
        "to-dispatch": "1",
        "to-approve": "1",
        "to-check": "1",
        "due-soon": "0",
        "overdue": "1",
        "all": "10",  # every case it may view (no area: the whole city)
    }


@pytest.fixture
def small_pages(session: Session) -> Iterator[TestClient]:
    settings = get_settings().model_copy(deep=True)
    settings.console.page_size = 10
    with console_for(session, settings) as client:
        yield client


def test_next_and_previous_pages_cover_every_case_once(
    small_pages: TestClient, session: Session, city: City, make_case: MakeCase
) -> None:
    cases = [make_case(CaseStatus.REGISTERED) for _ in range(23)]
    same = utcnow() + timedelta(hours=3)
    for index, case in enumerate(cases):
        case.dispatch_due_at = same if index % 2 else same + timedelta(minutes=index)  # many ties
        session.add(case)
    session.flush()
    signed_in(small_pages, city, StaffRole.DISPATCHER)
    seen: list[list[str]] = []
    url: str | None = "/cases?queue=to-dispatch"
    text = ""
    while url:
        page = small_pages.get(url, headers=HTMX if seen else {})
        assert page.status_code == 200
        text = page.text
        seen.append(case_nos(text))
        assert (link(text, "prev") is None) == (len(seen) == 1)
        url = link(text, "next")
        if url:
            assert "after=" in url
            url = as_path(url)
    assert [len(rows) for rows in seen] == [10, 10, 3]
    flat = [no for rows in seen for no in rows]
    assert sorted(flat) == sorted(case.case_no for case in cases)
    assert len(set(flat)) == 23
    # And back again from the last page, through the same pages.
    back = [seen[-1]]
    while previous := link(text, "prev"):
        assert "before=" in previous
        text = small_pages.get(as_path(previous), headers=HTMX).text
        back.insert(0, case_nos(text))
    assert back == seen


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("queue=nope", "队列不存在"),
        ("queue=to-dispatch&category=BJ%2001", "案件类别代码格式不正确"),
        ("queue=to-dispatch&category=XX99", "案件类别“XX99”不存在"),
        ("queue=to-dispatch&area=12", "区域代码格式不正确"),
        ("queue=to-dispatch&area=999999999", "不存在"),
        ("queue=to-dispatch&department=NOPE", "部门“NOPE”不存在"),
        ("queue=to-dispatch&channel=fax", "上报渠道不正确"),
        ("queue=to-dispatch&from=2026-02-30", "开始日期格式不正确"),
        ("queue=to-dispatch&from=2026-03-02&to=2026-03-01", "开始日期不能晚于结束日期"),
        ("queue=to-dispatch&sort=priority", "排序方式不正确"),
        ("queue=to-dispatch&dir=up", "排序方向不正确"),
        ("queue=to-dispatch&after=abc", "翻页参数无效"),
        ("queue=to-dispatch&after=1.2&before=1.2", "翻页参数无效"),
        ("queue=to-dispatch&sort=status&before=99.1", "翻页参数无效"),
    ],
)
def test_bad_filter_values_are_a_422_in_chinese(
    console: TestClient, city: City, query: str, message: str
) -> None:
    signed_in(console, city, StaffRole.DISPATCHER)
    page = console.get(f"/cases?{query}")
    assert page.status_code == 422
    assert message in page.text
    fragment = console.get(f"/cases?{query}", headers=HTMX)
    assert fragment.status_code == 422
    assert 'class="alert error"' in fragment.text
    assert message in fragment.text
    if "after" not in query and "before" not in query:
        assert console.get(f"/queue-counts?{query}").status_code in {422, 200}
