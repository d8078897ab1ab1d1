"""POST requests: an Open311 service request becomes a case of channel Open311, once per request."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.models import Case, CaseEvent, CaseStatus, Channel
from core.models.open311 import Open311Client, Open311Token
from core.open311 import service
from tests.fixtures.cases import City
from tests.open311.conftest import children, error_of, xml_of


def form(city: City, api_key: str, /, **changes: Any) -> dict[str, Any]:
    lng, lat = city.point(1, 0)
    data: dict[str, Any] = {
        "api_key": api_key,
        "service_code": "BJ0101",
        "lat": str(lat),
        "long": str(lng),
        "address_string": "幸福路 12 号",
        "description": "人行道上的井盖缺失，晚上很危险",
        "first_name": "小明",
        "last_name": "王",
        "email": "wang@example.cn",
        "phone": "13912345678",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def case_of(session: Session, case_no: str) -> Case:
    return session.exec(select(Case).where(col(Case.case_no) == case_no)).one()


def test_post_json_creates_a_pending_open311_case(
    client: TestClient, session: Session, city: City, api_client: tuple[Open311Client, str]
) -> None:
    client_row, key = api_client
    response = client.post("/open311/v2/requests.json", data=form(city, key, **{"attribute[standard]": "2"}))
    assert response.status_code == 201, response.text
    (answer,) = response.json()
    # A realtime service: the request id and, as the specification says, no token.
    assert list(answer) == ["service_request_id", "service_notice", "account_id"]
    assert answer["account_id"] is None
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    case = case_of(session, answer["service_request_id"])
    assert case.channel is Channel.OPEN311
    assert "KF" in case.case_no
    assert case.status is CaseStatus.PENDING
    assert case.is_public
    assert case.reporter_name == "王小明"
    assert case.reporter_phone == "13912345678"
    assert case.address == "幸福路 12 号"
    assert case.unit_grid_code.endswith("002")
    token = session.exec(select(Open311Token).where(col(Open311Token.case_id) == case.id)).one()
    assert token.client_id == client_row.id
    assert token.email == "wang@example.cn"
    (event,) = session.exec(select(CaseEvent).where(col(CaseEvent.case_id) == case.id)).all()
    assert event.action == "report"
    assert "测试客户端" in event.note
    assert "现场情况：测试立案条件" in event.note


def test_post_xml_answer_shape(client: TestClient, city: City, api_key: str) -> None:
    response = client.post("/open311/v2/requests.xml", data=form(city, api_key))
    assert response.status_code == 201
    root = xml_of(response)
    assert root.tag == "service_requests"
    assert children(root) == ["request"]
    assert children(root[0]) == ["service_request_id", "service_notice", "account_id"]
    assert root[0].findtext("account_id") in (None, "")


def test_post_without_description_gets_one(
    client: TestClient, session: Session, city: City, api_key: str
) -> None:
    response = client.post("/open311/v2/requests.json", data=form(city, api_key, description=None))
    assert response.status_code == 201
    assert "上水井盖" in case_of(session, response.json()[0]["service_request_id"]).description


def test_media_url_is_kept_as_a_reference_and_shown_back(
    client: TestClient, session: Session, city: City, api_key: str
) -> None:
    url = "https://img.example.cn/p/1.jpg"
    response = client.post("/open311/v2/requests.json", data=form(city, api_key, media_url=url))
    assert response.status_code == 201
    case_no = response.json()[0]["service_request_id"]
    assert client.get(f"/open311/v2/requests/{case_no}.json").json()[0]["media_url"] == url


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("key", [None, "", "not-a-key"])
def test_bad_api_key_is_403(client: TestClient, city: City, api_key: str, fmt: str, key: str | None) -> None:
    response = client.post(f"/open311/v2/requests.{fmt}", data=form(city, api_key, api_key=key))
    assert response.status_code == 403
    code, description = error_of(response, fmt)
    assert code == 403
    assert description.startswith("invalid_api_key")


def test_disabled_client_is_refused(
    client: TestClient, session: Session, city: City, api_client: tuple[Open311Client, str]
) -> None:
    client_row, key = api_client
    assert client_row.id is not None
    service.set_enabled(session, client_id=client_row.id, enabled=False)
    assert client.post("/open311/v2/requests.json", data=form(city, key)).status_code == 403


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"service_code": None}, "missing_parameter"),
        ({"lat": None, "long": None, "address_string": None}, "location_required"),
        ({"lat": None, "long": None}, "address_not_located"),  # no community named in the address
        ({"long": None}, "invalid_parameter"),
        ({"lat": ""}, "invalid_parameter"),
        ({"lat": "abc"}, "invalid_parameter"),
        ({"lat": "nan"}, "invalid_parameter"),
        ({"lat": "95"}, "invalid_coordinates"),
        ({"lat": "0", "long": "0"}, "outside_service_area"),
        ({"description": "坏了"}, "description_too_short"),
        ({"description": "长" * 1001}, "description_too_long"),
        ({"description": "井盖\x00缺失很危险"}, "invalid_parameter"),
        ({"media_url": "http://img.example.cn/1.jpg"}, "media_url_refused"),
        ({"media_url": "file:///etc/passwd"}, "media_url_refused"),
        ({"attribute[standard]": "9"}, "invalid_parameter"),
    ],
)
def test_bad_input_is_400_and_writes_nothing(
    client: TestClient,
    session: Session,
    city: City,
    api_key: str,
    changes: dict[str, Any],
    expected: str,
) -> None:
    before = len(session.exec(select(Case.id)).all())
    response = client.post("/open311/v2/requests.json", data=form(city, api_key, **changes))
    assert response.status_code == 400, response.text
    code, description = error_of(response, "json")
    assert code == 400
    assert description.startswith(expected)
    assert len(session.exec(select(Case.id)).all()) == before
    assert session.exec(select(Open311Token)).all() == []


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("code", ["XX9999", "SJ0199"])
def test_an_unknown_or_retired_service_is_404_as_the_specification_says(
    client: TestClient, session: Session, city: City, api_key: str, fmt: str, code: str
) -> None:
    retired = city.factory.category("SJ0199", "已停用类别")
    retired.active = False
    session.add(retired)
    session.flush()
    response = client.post(f"/open311/v2/requests.{fmt}", data=form(city, api_key, service_code=code))
    assert response.status_code == 404
    assert error_of(response, fmt) == (404, f"service_not_found: 服务类型“{code}”不存在或已停用")
    assert session.exec(select(Open311Token)).all() == []


def test_an_oversized_body_is_413(client: TestClient, city: City, api_key: str) -> None:
    response = client.post("/open311/v2/requests.json", data=form(city, api_key, description="长" * 30_000))
    assert response.status_code == 413
    assert error_of(response, "json")[0] == 413


def test_multipart_fields_without_files_are_accepted(client: TestClient, city: City, api_key: str) -> None:
    fields = {key: (None, value) for key, value in form(city, api_key).items()}
    response = client.post("/open311/v2/requests.json", files=fields)
    assert response.status_code == 201, response.text


def test_posts_are_limited_per_client_and_hour(client: TestClient, session: Session, city: City) -> None:
    _, key = service.add_client(session, name="限速客户端", requests_per_hour=2)
    for _ in range(2):
        assert client.post("/open311/v2/requests.json", data=form(city, key)).status_code == 201
    response = client.post("/open311/v2/requests.xml", data=form(city, key))
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert error_of(response, "xml")[1].startswith("open311_rate_limited")
    # Another client is not affected.
    _, other = service.add_client(session, name="另一客户端", requests_per_hour=2)
    assert client.post("/open311/v2/requests.json", data=form(city, other)).status_code == 201


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_token_lookup(client: TestClient, session: Session, city: City, api_key: str, fmt: str) -> None:
    """Tokens are not handed out (our services are realtime), but each request's token still answers."""
    filed = client.post("/open311/v2/requests.json", data=form(city, api_key)).json()[0]
    case = case_of(session, filed["service_request_id"])
    row = session.exec(select(Open311Token).where(col(Open311Token.case_id) == case.id)).one()
    answer = {"service_request_id": case.case_no, "token": row.token}
    response = client.get(f"/open311/v2/tokens/{answer['token']}.{fmt}")
    assert response.status_code == 200
    if fmt == "json":
        assert response.json() == [
            {"service_request_id": answer["service_request_id"], "token": answer["token"]}
        ]
    else:
        root = xml_of(response)
        assert root.tag == "service_requests"
        assert children(root) == ["request"]
        assert children(root[0]) == ["service_request_id", "token"]
        assert root[0].findtext("service_request_id") == answer["service_request_id"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_token_is_404(client: TestClient, fmt: str) -> None:
    response = client.get(f"/open311/v2/tokens/nope.{fmt}")
    assert response.status_code == 404
    assert error_of(response, fmt)[1].startswith("token_not_found")
