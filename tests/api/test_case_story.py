"""The end-to-end story over HTTP: a citizen reports, staff take the case through verify, register,
dispatch, handle, a failed check, rework, a passed check and close; the citizen follows and rates it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from core.models import StaffRole
from tests.fixtures.cases import City


def staff_act(client: TestClient, city: City, role: StaffRole, case_no: str, action: str, **body: Any) -> Any:
    response = client.post(
        f"/api/v1/staff/cases/{case_no}/actions/{action}", json=body, headers=city.headers(city.staff[role])
    )
    assert response.status_code == 200, response.text
    return response.json()


def queue(client: TestClient, city: City, role: StaffRole, name: str) -> list[str]:
    response = client.get(
        "/api/v1/staff/cases", params={"queue": name}, headers=city.headers(city.staff[role])
    )
    assert response.status_code == 200, response.text
    return [item["case_no"] for item in response.json()["items"]]


def test_report_to_rating(client: TestClient, city: City) -> None:
    citizen, stranger = city.citizen(), city.citizen()
    lng, lat = city.point(1, 0)
    body = {
        "category": "BJ0101",
        "description": "人行道井盖缺失，夜里很危险",
        "lng": lng,
        "lat": lat,
        "coord": "wgs84",
        "address": "劳动北路 88 号",
        "upload_ids": [city.upload(citizen)],
    }
    headers = {**city.headers(citizen), "Idempotency-Key": "mini-20261121-0001"}
    created = client.post("/api/v1/reports", json=body, headers=headers)
    assert created.status_code == 201, created.text
    case_no = created.json()["case_no"]
    retried = client.post("/api/v1/reports", json=body, headers=headers)
    assert retried.status_code == 200
    assert retried.json()["case_no"] == case_no

    assert client.get(f"/api/v1/reports/{case_no}", headers=city.headers(stranger)).status_code == 404
    mine = client.get("/api/v1/reports/mine", headers=city.headers(citizen)).json()
    assert [item["case_no"] for item in mine["items"]] == [case_no]

    assert case_no in queue(client, city, StaffRole.OPERATOR, "to-register")
    staff_act(client, city, StaffRole.OPERATOR, case_no, "send_verify")
    assert case_no in queue(client, city, StaffRole.SUPERVISOR, "to-verify")
    staff_act(client, city, StaffRole.SUPERVISOR, case_no, "verify", passed=True)
    detail = client.get(
        f"/api/v1/staff/cases/{case_no}", headers=city.headers(city.staff[StaffRole.OPERATOR])
    )
    assert "register" in detail.json()["allowed_actions"]
    staff_act(
        client, city, StaffRole.OPERATOR, case_no, "register", register_standard_id=city.manhole_loose.id
    )
    view = client.get(
        f"/api/v1/staff/cases/{case_no}", headers=city.headers(city.staff[StaffRole.DISPATCHER])
    )
    assert view.json()["suggested_department"]["code"] == city.municipal.code
    staff_act(client, city, StaffRole.DISPATCHER, case_no, "dispatch")
    assert case_no in queue(client, city, StaffRole.HANDLER, "to-handle")
    handler = city.staff[StaffRole.HANDLER]
    staff_act(
        client,
        city,
        StaffRole.HANDLER,
        case_no,
        "handle",
        upload_ids=[city.upload(handler)],
        reply="已补装井盖",
    )
    assert case_no in queue(client, city, StaffRole.SUPERVISOR, "to-check")
    staff_act(client, city, StaffRole.SUPERVISOR, case_no, "check", passed=False, reason="井盖未固定")
    staff_act(
        client, city, StaffRole.HANDLER, case_no, "handle", upload_ids=[city.upload(handler)], reply="已固定"
    )
    closed = staff_act(client, city, StaffRole.SUPERVISOR, case_no, "check", passed=True)
    assert closed["status"] == "closed"
    assert [entry["action"] for entry in closed["history"]][-2:] == ["send_check", "check"]

    seen = client.get(f"/api/v1/reports/{case_no}", headers=city.headers(citizen))
    assert seen.status_code == 200
    timeline = seen.json()
    assert timeline["status"] == "已办结"
    steps = [entry["step"] for entry in timeline["timeline"]]
    assert steps[0] == "已提交"
    assert steps[-1] == "已办结"
    assert timeline["can_rate"] is True
    assert len(timeline["handling_photos"]) == 2
    text = seen.text
    for member in city.staff.values():  # never staff names or phones
        assert member.display_name not in text
    assert (citizen.phone or "") not in text

    assert (
        client.post(
            f"/api/v1/reports/{case_no}/rating", json={"stars": 5}, headers=city.headers(stranger)
        ).status_code
        == 404
    )
    rated = client.post(
        f"/api/v1/reports/{case_no}/rating",
        json={"stars": 5, "comment": "处理及时"},
        headers=city.headers(citizen),
    )
    assert rated.status_code == 200
    assert rated.json()["rating"] == 5
    again = client.post(f"/api/v1/reports/{case_no}/rating", json={"stars": 1}, headers=city.headers(citizen))
    assert again.status_code == 409
    assert again.json()["code"] == "already_rated"


def test_illegal_moves_and_bad_input_are_clear_problems(client: TestClient, city: City) -> None:
    citizen = city.citizen()
    lng, lat = city.point()
    created = client.post(
        "/api/v1/reports",
        headers=city.headers(citizen),
        json={
            "category": "SJ0102",
            "description": "路边垃圾堆积多日",
            "lng": lng,
            "lat": lat,
            "coord": "wgs84",
        },
    )
    case_no = created.json()["case_no"]
    dispatcher = city.headers(city.staff[StaffRole.DISPATCHER])
    illegal = client.post(f"/api/v1/staff/cases/{case_no}/actions/dispatch", json={}, headers=dispatcher)
    assert illegal.status_code == 409
    assert illegal.json()["code"] == "illegal_transition"
    assert "待受理" in illegal.json()["message"]
    forbidden = client.post(f"/api/v1/staff/cases/{case_no}/actions/accept", json={}, headers=dispatcher)
    assert forbidden.status_code == 403
    unknown = client.post(f"/api/v1/staff/cases/{case_no}/actions/teleport", json={}, headers=dispatcher)
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "invalid_request"
    missing = client.get("/api/v1/staff/cases/20000101WX0001", headers=dispatcher)
    assert missing.status_code == 404
    assert missing.json()["code"] == "case_not_found"
    as_citizen = client.get("/api/v1/staff/cases", headers=city.headers(citizen))
    assert as_citizen.status_code == 403
    assert client.get("/api/v1/reports/mine").status_code == 401
    bad = client.post(
        "/api/v1/reports",
        headers=city.headers(citizen),
        json={"category": "SJ0102", "description": "短", "lng": lng, "lat": lat, "coord": "wgs84"},
    )
    assert bad.json()["code"] == "description_too_short"
    outside = client.post(
        "/api/v1/reports",
        headers=city.headers(citizen),
        json={"category": "SJ0102", "description": "路边垃圾堆积多日", "lng": 116.4, "lat": 39.9},
    )
    assert outside.json()["code"] == "outside_service_area"
    bad_key = client.post(
        "/api/v1/reports",
        headers={**city.headers(citizen), "Idempotency-Key": "x"},
        json={"category": "SJ0102", "description": "路边垃圾堆积多日", "lng": lng, "lat": lat},
    )
    assert bad_key.status_code == 422


def test_categories_tree(client: TestClient, city: City) -> None:
    tree = client.get("/api/v1/categories").json()
    minor = next(child for major in tree for child in major["children"] if child["code"] == "BJ0101")
    assert minor["hints"]


def test_times_leave_the_api_in_beijing_time(client: TestClient, city: City) -> None:
    citizen = city.citizen()
    lng, lat = city.point()
    created = client.post(
        "/api/v1/reports",
        headers=city.headers(citizen),
        json={
            "category": "SJ0102",
            "description": "路边垃圾堆积多日",
            "lng": lng,
            "lat": lat,
            "coord": "wgs84",
        },
    )
    assert created.json()["reported_at"].endswith("+08:00")
    assert created.json()["timeline"][0]["at"].endswith("+08:00")


def test_supervisor_reports_go_straight_to_registration(client: TestClient, city: City) -> None:
    supervisor = city.staff[StaffRole.SUPERVISOR]
    lng, lat = city.point(0, 1)
    body = {"category": "BJ0101", "description": "巡查发现井盖破损", "lng": lng, "lat": lat, "coord": "wgs84"}
    without_photo = client.post("/api/v1/staff/reports", json=body, headers=city.headers(supervisor))
    assert without_photo.status_code == 422
    assert without_photo.json()["code"] == "photos_required"
    created = client.post(
        "/api/v1/staff/reports",
        json={**body, "upload_ids": [city.upload(supervisor)]},
        headers=city.headers(supervisor),
    )
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["status"] == "accepted"
    assert case["channel"] == "supervisor"
    assert case["case_no"][8:10] == "JD"
    assert case["case_no"] in queue(client, city, StaffRole.OPERATOR, "to-register")
    not_supervisor = client.post(
        "/api/v1/staff/reports",
        json={**body, "upload_ids": []},
        headers=city.headers(city.staff[StaffRole.OPERATOR]),
    )
    assert not_supervisor.status_code in {403, 422}


def test_off_duty_supervisors_get_no_tasks(client: TestClient, city: City) -> None:
    supervisor = city.staff[StaffRole.SUPERVISOR]
    off = client.put("/api/v1/staff/me/duty", json={"on_duty": False}, headers=city.headers(supervisor))
    assert off.status_code == 200
    citizen = city.citizen()
    lng, lat = city.point()
    created = client.post(
        "/api/v1/reports",
        headers=city.headers(citizen),
        json={
            "category": "SJ0102",
            "description": "路边垃圾堆积多日",
            "lng": lng,
            "lat": lat,
            "coord": "wgs84",
        },
    )
    case_no = created.json()["case_no"]
    refused = client.post(
        f"/api/v1/staff/cases/{case_no}/actions/send_verify",
        json={},
        headers=city.headers(city.staff[StaffRole.OPERATOR]),
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "no_supervisor_on_duty"
    on = client.put(
        "/api/v1/staff/me/duty",
        json={"on_duty": True, "lng": 114.91, "lat": 27.80},
        headers=city.headers(supervisor),
    )
    assert on.status_code == 200
    staff_act(client, city, StaffRole.OPERATOR, case_no, "send_verify")


def test_control_characters_and_huge_numbers_are_refused_not_500(client: TestClient, city: City) -> None:
    citizen = city.citizen()
    operator = city.headers(city.staff[StaffRole.OPERATOR])
    lng, lat = city.point()
    report = {
        "category": "SJ0102",
        "description": "路边垃圾\x00堆积多日",
        "lng": lng,
        "lat": lat,
        "coord": "wgs84",
    }
    probes = [
        client.post("/api/v1/reports", json=report, headers=city.headers(citizen)),
        client.post(
            "/api/v1/reports",
            json={**report, "description": "路边垃圾堆积多日", "upload_ids": ["a\x00b"]},
            headers=city.headers(citizen),
        ),
        client.get("/api/v1/reports/2026%001121WX0001", headers=city.headers(citizen)),
        client.get("/api/v1/staff/cases/2026%001121WX0001", headers=operator),
        client.post(
            "/api/v1/staff/cases/20261121WX0001/actions/void", json={"reason": "x\x00"}, headers=operator
        ),
        client.post(
            "/api/v1/staff/cases/20261121WX0001/actions/send_verify",
            json={"supervisor_id": 2**40},
            headers=operator,
        ),
        client.post(
            "/api/v1/staff/cases/20261121WX0001/actions/register",
            json={"register_standard_id": 2**70},
            headers=operator,
        ),
        client.post("/api/v1/staff/auth/login", json={"username": "ad\x00min", "password": "x"}),
        client.get("/api/v1/uploads/ab%00cd", headers=city.headers(citizen)),
    ]
    for response in probes:
        assert response.status_code == 422, (response.request.url, response.text)
        assert response.json()["code"] == "invalid_request"


def test_listing_a_queue_does_not_query_per_case(client: TestClient, city: City, session: object) -> None:
    from sqlalchemy import event
    from sqlmodel import Session

    from tests.fixtures.cases import make_case_in

    assert isinstance(session, Session)
    for index in range(20):
        make_case_in(city, index % 2)
    statements: list[str] = []
    connection = session.connection()

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(connection, "before_cursor_execute", count)
    try:
        response = client.get(
            "/api/v1/staff/cases",
            params={"limit": 50},
            headers=city.headers(city.staff[StaffRole.SHIFT_LEAD]),
        )
    finally:
        event.remove(connection, "before_cursor_execute", count)
    assert response.status_code == 200
    assert response.json()["total"] >= 20
    assert len(statements) <= 12, statements
