"""GET /api/v1/fines/lookup: both number and name must match, a wrong name is answered exactly like
an unknown number, amounts in fen and yuan, and lookups are limited per client address."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from core.kit.clock import to_local, utcnow
from core.models import FineStatus, PenaltyDecision

URL = "/api/v1/fines/lookup"


def add_decision(session: Session, **values: object) -> PenaltyDecision:
    today = to_local(utcnow()).date()
    served = today - timedelta(days=20)  # 5 overdue days today
    fields: dict[str, object] = {
        "decision_no": "渝城管罚决字〔2026〕第0001号",
        "party_name": "张三",
        "party_id_masked": "3601**********1234",
        "phone": "13800138000",
        "amount_fen": 20000,
        "decided_on": served,
        "served_on": served,
        "due_on": served + timedelta(days=15),
    } | values
    decision = PenaltyDecision(**fields)  # type: ignore[arg-type]
    session.add(decision)
    session.flush()
    return decision


def test_number_and_name_match(client: TestClient, session: Session) -> None:
    add_decision(session)
    response = client.get(URL, params={"decision_no": "渝城管罚决字〔2026〕第0001号", "party_name": " 张三 "})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "unpaid"
    assert (body["amount_fen"], body["amount_yuan"]) == (20000, "200.00")
    assert (body["late_days"], body["late_fee_fen"], body["late_fee_yuan"]) == (5, 3000, "30.00")
    assert (body["total_fen"], body["total_yuan"]) == (23000, "230.00")
    assert "party_id_masked" not in body
    assert "phone" not in body
    assert response.headers["cache-control"] == "no-store"


def test_a_wrong_name_is_answered_like_an_unknown_number(client: TestClient, session: Session) -> None:
    add_decision(session)
    wrong_name = client.get(URL, params={"decision_no": "渝城管罚决字〔2026〕第0001号", "party_name": "李四"})
    no_such = client.get(URL, params={"decision_no": "渝城管罚决字〔2026〕第9999号", "party_name": "张三"})
    assert wrong_name.status_code == no_such.status_code == 404
    assert wrong_name.json() == no_such.json()
    assert wrong_name.json()["code"] == "fine_not_found"
    assert wrong_name.json()["message"] == "未找到该决定书，请核对决定书编号和当事人姓名"


def test_deferred_and_cancelled_decisions(client: TestClient, session: Session) -> None:
    today = to_local(utcnow()).date()
    add_decision(session, status=FineStatus.DEFERRED, deferral_until=today + timedelta(days=30))
    add_decision(session, decision_no="C-1", status=FineStatus.CANCELLED)
    deferred = client.get(
        URL, params={"decision_no": "渝城管罚决字〔2026〕第0001号", "party_name": "张三"}
    ).json()
    assert (deferred["status"], deferred["late_fee_fen"], deferred["total_fen"]) == ("deferred", 0, 20000)
    assert deferred["deferral_until"] == (today + timedelta(days=30)).isoformat()
    cancelled = client.get(URL, params={"decision_no": "C-1", "party_name": "张三"}).json()
    assert (cancelled["status"], cancelled["late_fee_fen"], cancelled["total_fen"]) == (
        "cancelled",
        None,
        None,
    )


def test_bad_parameters_are_422_problems(client: TestClient) -> None:
    missing = client.get(URL, params={"decision_no": "A-1"})
    assert missing.status_code == 422
    assert missing.json()["code"] == "invalid_request"
    too_long = client.get(URL, params={"decision_no": "A" * 65, "party_name": "张三"})
    assert too_long.status_code == 422
    empty = client.get(URL, params={"decision_no": "", "party_name": "张三"})
    assert empty.status_code == 422


def test_lookups_are_limited_per_client_address_also_when_they_fail(
    client: TestClient, session: Session
) -> None:
    add_decision(session)
    for _ in range(10):
        assert client.get(URL, params={"decision_no": "X", "party_name": "张三"}).status_code == 404
    limited = client.get(URL, params={"decision_no": "渝城管罚决字〔2026〕第0001号", "party_name": "张三"})
    assert limited.status_code == 429
    assert limited.json()["code"] == "fine_lookup_rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
