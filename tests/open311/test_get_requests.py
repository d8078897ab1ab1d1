"""GET requests and requests/{id}: public cases of every channel, filtered and paged, never personal data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.kit.clock import SHANGHAI, utcnow
from core.models import Case, CaseStatus
from tests.fixtures.cases import City, MakeCase
from tests.open311.conftest import children, error_of, xml_of

REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]


def change(city: City, case: Case, **changes: Any) -> Case:
    for name, value in changes.items():
        setattr(case, name, value)
    city.session.add(case)
    city.session.flush()
    return case


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["service_request_id"] for item in response.json()]


def test_one_request_json(client: TestClient, city: City, make_case: MakeCase) -> None:
    case = change(
        city,
        make_case(CaseStatus.DISPATCHED),
        description="井盖丢失，联系 13912345678",
        address="幸福路 1 号",
        reporter_name="王小明",
        reporter_phone="13912345678",
    )
    response = client.get(f"/open311/v2/requests/{case.case_no}.json")
    assert response.status_code == 200
    (item,) = response.json()
    assert list(item) == REQUEST_FIELDS
    assert item["status"] == "open"
    assert item["status_notes"] == "处置中"
    assert item["service_code"] == "BJ0101"
    assert item["service_name"] == "上水井盖"
    assert item["agency_responsible"] == "测试部门M01"
    assert item["requested_datetime"].endswith("+08:00")
    assert item["updated_datetime"].endswith("+08:00")
    assert item["address"] == "幸福路 1 号"
    assert item["long"] == pytest.approx(case.lng, abs=1e-6)
    assert item["lat"] == pytest.approx(case.lat, abs=1e-6)
    assert item["media_url"] is None
    assert "13912345678" not in response.text
    assert "王小明" not in response.text
    assert "139****" in item["description"]


def test_one_request_xml(client: TestClient, city: City, make_case: MakeCase) -> None:
    case = change(city, make_case(CaseStatus.CLOSED), reply="井盖已更换", description="井盖\x01丢失")
    root = xml_of(client.get(f"/open311/v2/requests/{case.case_no}.xml"))
    assert root.tag == "service_requests"
    assert children(root) == ["request"]
    request = root[0]
    assert children(request) == REQUEST_FIELDS
    assert request.findtext("status") == "closed"
    assert request.findtext("status_notes") == "井盖已更换"
    assert request.findtext("description") == "井盖丢失"
    assert (request.findtext("requested_datetime") or "").endswith("+08:00")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_private_or_unknown_request_is_404(
    client: TestClient, city: City, make_case: MakeCase, fmt: str
) -> None:
    private = change(city, make_case(CaseStatus.PENDING), is_public=False)
    for case_no in (private.case_no, "NOPE"):
        response = client.get(f"/open311/v2/requests/{case_no}.{fmt}")
        assert response.status_code == 404
        code, description = error_of(response, fmt)
        assert code == 404
        assert description.startswith("service_request_not_found")


def test_status_mapping(client: TestClient, city: City, make_case: MakeCase) -> None:
    cases = {
        status: make_case(status) for status in (CaseStatus.PENDING, CaseStatus.SUSPENDED, CaseStatus.CLOSED)
    }
    voided = change(city, make_case(CaseStatus.VOIDED), reply="不属于城管职责")
    merged = make_case(CaseStatus.MERGED)
    open_ids = set(ids(client.get("/open311/v2/requests.json", params={"status": "open"})))
    closed_ids = set(ids(client.get("/open311/v2/requests.json", params={"status": "closed"})))
    both = set(ids(client.get("/open311/v2/requests.json", params={"status": "open,closed"})))
    assert open_ids == {cases[CaseStatus.PENDING].case_no, cases[CaseStatus.SUSPENDED].case_no}
    assert closed_ids == {cases[CaseStatus.CLOSED].case_no, voided.case_no, merged.case_no}
    assert both == open_ids | closed_ids
    notes = {
        item["service_request_id"]: item["status_notes"]
        for item in client.get("/open311/v2/requests.json").json()
    }
    assert notes[voided.case_no] == "不属于城管职责"
    assert notes[merged.case_no] == "已合并办理"


def test_list_xml_and_filters(client: TestClient, city: City, make_case: MakeCase) -> None:
    manhole = make_case(CaseStatus.PENDING)
    rubbish = change(city, make_case(CaseStatus.PENDING), category_id=city.rubbish.id)
    change(city, make_case(CaseStatus.PENDING), is_public=False)
    root = xml_of(client.get("/open311/v2/requests.xml"))
    assert root.tag == "service_requests"
    assert children(root) == ["request", "request"]
    assert [r.findtext("service_request_id") for r in root] == [rubbish.case_no, manhole.case_no]
    assert ids(client.get("/open311/v2/requests.json", params={"service_code": "SJ0102"})) == [
        rubbish.case_no
    ]
    assert ids(client.get("/open311/v2/requests.json", params={"service_code": "SJ0102,BJ0101"})) == [
        rubbish.case_no,
        manhole.case_no,
    ]
    by_ids = client.get(
        "/open311/v2/requests.json",
        params={"service_request_id": f"{manhole.case_no},{rubbish.case_no}", "service_code": "XX"},
    )
    assert set(ids(by_ids)) == {manhole.case_no, rubbish.case_no}  # other filters ignored with ids


def test_dates_default_to_the_last_90_days(client: TestClient, city: City, make_case: MakeCase) -> None:
    now = utcnow()
    recent = make_case(CaseStatus.PENDING)
    old = change(city, make_case(CaseStatus.PENDING), created_at=now - timedelta(days=100))
    assert ids(client.get("/open311/v2/requests.json")) == [recent.case_no]
    window = {
        "start_date": (now - timedelta(days=120)).isoformat(),
        "end_date": (now - timedelta(days=50)).isoformat(),
    }
    assert ids(client.get("/open311/v2/requests.json", params=window)) == [old.case_no]
    only_start = {"start_date": (now - timedelta(days=101)).isoformat()}
    # Only a start: the range is the 90 days after it.
    assert ids(client.get("/open311/v2/requests.json", params=only_start)) == [old.case_no]
    unencoded_plus = {
        "start_date": (now - timedelta(days=1)).astimezone(SHANGHAI).isoformat().replace("+", " ")
    }
    assert ids(client.get("/open311/v2/requests.json", params=unencoded_plus)) == [recent.case_no]
    in_zulu = {"start_date": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert ids(client.get("/open311/v2/requests.json", params=in_zulu)) == [recent.case_no]


def test_pagination(client: TestClient, city: City, make_case: MakeCase) -> None:
    now = utcnow()
    made = [
        change(city, make_case(CaseStatus.PENDING), created_at=now - timedelta(minutes=i)) for i in range(5)
    ]
    expected = [case.case_no for case in made]  # newest first
    page_1 = ids(client.get("/open311/v2/requests.json", params={"page_size": 2}))
    page_2 = ids(client.get("/open311/v2/requests.json", params={"page_size": 2, "page": 2}))
    page_3 = ids(client.get("/open311/v2/requests.json", params={"page_size": 2, "page": 3}))
    assert page_1 + page_2 + page_3 == expected
    assert ids(client.get("/open311/v2/requests.json", params={"page_size": 2, "page": 4})) == []


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    "params",
    [
        {"page_size": "0"},
        {"page_size": "101"},
        {"page": "0"},
        {"page": "x"},
        {"status": "pending"},
        {"start_date": "yesterday"},
        {"start_date": "2026-11-01T00:00:00"},  # no zone
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"},  # > 90 days
        {"start_date": "2026-11-02T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"},
        {"service_code": "BJ\x000101"},
        {"start_date": "9999-12-31T00:00:00Z"},
        {"end_date": "0001-01-01T00:00:00+14:00"},
    ],
)
def test_bad_filters_are_400(client: TestClient, city: City, fmt: str, params: dict[str, str]) -> None:
    response = client.get(f"/open311/v2/requests.{fmt}", params=params)
    assert response.status_code == 400, response.text
    assert error_of(response, fmt)[0] == 400


def test_status_notes_are_masked_like_public_views(
    client: TestClient, city: City, make_case: MakeCase
) -> None:
    case = change(city, make_case(CaseStatus.CLOSED), reply="已处理，如有问题请拨打 13912345678")
    (item,) = client.get(f"/open311/v2/requests/{case.case_no}.json").json()
    assert item["status_notes"] == "已处理，如有问题请拨打 139****"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_over_long_path_is_a_400_in_open311_shape(client: TestClient, fmt: str) -> None:
    response = client.get(f"/open311/v2/requests/{'A' * 80}.{fmt}")
    assert response.status_code == 400
    code, description = error_of(response, fmt)
    assert code == 400
    assert description.startswith("invalid_parameter")


def test_a_closed_request_was_updated_when_it_was_closed(
    client: TestClient, city: City, make_case: MakeCase
) -> None:
    """The specification: for closed requests, updated_datetime is the date the request was closed
    (a later change, such as the reporter's rating, does not move it)."""
    closed_at = utcnow().replace(microsecond=0) - timedelta(days=2)
    case = change(city, make_case(CaseStatus.CLOSED), closed_at=closed_at, updated_at=utcnow())
    (item,) = client.get(f"/open311/v2/requests/{case.case_no}.json").json()
    assert item["updated_datetime"] == closed_at.astimezone(SHANGHAI).isoformat()
    assert item["expected_datetime"] is None
    open_case = change(city, make_case(CaseStatus.DISPATCHED), updated_at=closed_at)
    (item,) = client.get(f"/open311/v2/requests/{open_case.case_no}.json").json()
    assert item["updated_datetime"] == closed_at.astimezone(SHANGHAI).isoformat()


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_content_types_carry_utf8(client: TestClient, city: City, fmt: str) -> None:
    expected = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}[fmt]
    assert client.get(f"/open311/v2/requests.{fmt}").headers["content-type"] == expected
    assert client.get(f"/open311/v2/requests/NOPE.{fmt}").headers["content-type"] == expected
