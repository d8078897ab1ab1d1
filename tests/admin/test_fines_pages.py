"""Fines pages: leaders and admins list, filter, export, open, create, cancel and defer penalty decisions;
other roles are refused; every action needs the CSRF token and is audited; bad input is a readable
Chinese message on the page, never a 500."""

from __future__ import annotations

import secrets
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.kit.clock import to_local, utcnow
from core.models import (
    AuditEntry,
    FineStatus,
    PaymentChannel,
    PaymentClient,
    PaymentOrder,
    PaymentOrderStatus,
    PenaltyDecision,
    StaffRole,
)
from core.settings import get_settings
from tests.admin.conftest import console_for, sign_in
from tests.admin.test_evaluation import sheet_rows
from tests.fixtures.cases import City, MakeCase


def today() -> date:
    return to_local(utcnow()).date()


def add_decision(session: Session, **values: object) -> PenaltyDecision:
    served = today() - timedelta(days=20)  # 5 overdue days today
    fields: dict[str, object] = {
        "decision_no": f"城管罚决字〔2026〕第{secrets.randbelow(10**6):06d}号",
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


def add_order(
    session: Session, decision: PenaltyDecision, status: PaymentOrderStatus = PaymentOrderStatus.PENDING
) -> PaymentOrder:
    assert decision.id is not None
    now = utcnow()
    paid = status in (PaymentOrderStatus.PAID, PaymentOrderStatus.NEEDS_REFUND)
    order = PaymentOrder(
        out_trade_no=f"T{secrets.token_hex(8).upper()}",
        decision_id=decision.id,
        channel=PaymentChannel.WECHAT,
        client=PaymentClient.MINIPROGRAM,
        status=status,
        amount_fen=decision.amount_fen,
        fine_fen=decision.amount_fen,
        late_fee_fen=0,
        expires_at=now + timedelta(minutes=30),
        provider_txn_id=f"4200{secrets.token_hex(8)}" if paid else None,
        paid_at=now if paid else None,
        paid_amount_fen=decision.amount_fen if paid else None,
    )
    session.add(order)
    session.flush()
    return order


def audit_entries(session: Session, action: str) -> list[AuditEntry]:
    return list(session.exec(select(AuditEntry).where(col(AuditEntry.action) == action)).all())


def new_form(csrf: str, **values: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "decision_no": "城管罚决字〔2026〕第0777号",
        "party_name": "李四",
        "party_id": "360102199001011234",
        "phone": "13900139000",
        "case_no": "",
        "amount_yuan": "200.50",
        "decided_on": "2026-03-01",
        "served_on": "2026-03-02",
        "due_on": "",
    } | values


# --------------------------------------------------------------------------- access


@pytest.mark.parametrize(
    "role", [StaffRole.OPERATOR, StaffRole.DISPATCHER, StaffRole.HANDLER, StaffRole.SUPERVISOR]
)
def test_other_roles_are_refused(console: TestClient, session: Session, city: City, role: StaffRole) -> None:
    decision = add_decision(session)
    csrf = sign_in(console, city.staff[role])
    for path in ("/fines", "/fines/new", f"/fines/{decision.id}", "/fines/export"):
        answer = console.get(path)
        assert answer.status_code == 403, path
        assert "无权" in answer.text
    assert console.post("/fines/new", data=new_form(csrf)).status_code == 403
    assert (
        console.post(f"/fines/{decision.id}/cancel", data={"csrf_token": csrf, "reason": "x"}).status_code
        == 403
    )
    assert console.post(f"/fines/{decision.id}/phone", data={"csrf_token": csrf}).status_code == 403
    assert session.get(PenaltyDecision, decision.id).status is FineStatus.UNPAID  # type: ignore[union-attr]
    home = console.get("/").text
    assert 'data-key="f"' not in home


def test_signed_out_is_sent_to_sign_in(console: TestClient) -> None:
    answer = console.get("/fines")
    assert answer.status_code == 303
    assert "/login" in answer.headers["location"]


# --------------------------------------------------------------------------- list, filters, export


@pytest.mark.parametrize("role", [StaffRole.LEADER, StaffRole.ADMIN])
def test_list_filters_and_nav(console: TestClient, session: Session, city: City, role: StaffRole) -> None:
    overdue = add_decision(session, party_name="王五")
    fresh = add_decision(
        session, party_name="赵六", decided_on=today(), served_on=today(), due_on=today() + timedelta(days=15)
    )
    paid = add_decision(session, party_name="钱七", status=FineStatus.PAID)
    sign_in(console, city.staff[role])
    page = console.get("/fines")
    assert page.status_code == 200
    assert 'data-key="f"' in page.text  # in the navigation
    for decision in (overdue, fresh, paid):
        assert decision.decision_no in page.text
    assert "逾期 5 天" in page.text
    assert "230.00" in page.text  # 200 + 5 days × 3 %

    only_overdue = console.get("/fines", params={"overdue": "1"}).text
    assert overdue.decision_no in only_overdue
    assert fresh.decision_no not in only_overdue
    assert paid.decision_no not in only_overdue  # paid: no late fee accrues

    by_name = console.get("/fines", params={"q": "赵六"}).text
    assert fresh.decision_no in by_name
    assert overdue.decision_no not in by_name
    by_number = console.get("/fines", params={"q": overdue.decision_no[-8:]}).text
    assert overdue.decision_no in by_number

    by_status = console.get("/fines", params={"status": "paid"}).text
    assert paid.decision_no in by_status
    assert fresh.decision_no not in by_status

    by_date = console.get("/fines", params={"since": today().isoformat(), "until": today().isoformat()}).text
    assert fresh.decision_no in by_date
    assert overdue.decision_no not in by_date


def test_percent_and_underscore_are_searched_literally(
    console: TestClient, session: Session, city: City
) -> None:
    add_decision(session, party_name="孙八")
    sign_in(console, city.staff[StaffRole.LEADER])
    page = console.get("/fines", params={"q": "%"})
    assert page.status_code == 200
    assert "没有符合条件的决定书" in page.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "2026-13-01"}, "起始日期格式不正确"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "起始日期不能晚于截止日期"),
        ({"status": "bogus"}, "请选择正确的状态"),
        ({"page": "0"}, "页码不正确"),
        ({"page": "abc"}, "页码不正确"),
        ({"q": "x" * 65}, "搜索内容过长"),
        ({"q": "a\x00b"}, "控制字符"),
    ],
)
def test_bad_filters_are_explained(
    console: TestClient, city: City, params: dict[str, str], message: str
) -> None:
    sign_in(console, city.staff[StaffRole.LEADER])
    answer = console.get("/fines", params=params)
    assert answer.status_code == 422
    assert message in answer.text
    assert console.get("/fines/export", params=params).status_code == 422


def test_pages(session: Session, city: City) -> None:
    for number in range(12):
        add_decision(
            session, decision_no=f"分页测试第{number:03d}号", decided_on=today() - timedelta(days=number)
        )
    settings = get_settings()
    small = settings.model_copy(update={"console": settings.console.model_copy(update={"page_size": 10})})
    with console_for(session, small) as client:
        sign_in(client, city.staff[StaffRole.LEADER])
        first = client.get("/fines", params={"q": "分页测试"}).text
        assert "第 1 / 2 页" in first
        assert "分页测试第000号" in first
        assert "分页测试第011号" not in first
        assert "page=2" in first
        second = client.get("/fines", params={"q": "分页测试", "page": "2"}).text
        assert "分页测试第011号" in second
        assert "分页测试第000号" not in second
        far = client.get("/fines", params={"q": "分页测试", "page": "99"})
        assert far.status_code == 200
        assert "没有符合条件的决定书" in far.text


def test_export(console: TestClient, session: Session, city: City) -> None:
    decision = add_decision(
        session, party_name="周九", phone="13812345678", party_id_masked="360102199001011234"
    )
    add_decision(session, party_name="吴十", status=FineStatus.CANCELLED)
    user = city.staff[StaffRole.LEADER]
    sign_in(console, user)
    answer = console.get("/fines/export", params={"status": "unpaid", "q": "周九"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    rows = sheet_rows(answer.content)
    assert rows[0][:3] == ["决定书编号", "当事人", "身份证号（脱敏）"]
    assert len(rows) == 2
    row = rows[1]  # (empty cells are not in the file)
    assert row[:4] == [decision.decision_no, "周九", "3601**********1234", "138****5678"]
    assert "360102199001011234" not in row  # an unmasked stored number is masked on the way out
    assert [row[5], row[9], row[10], row[11], row[12]] == ["200.00", "未缴", "5", "30.00", "230.00"]
    entries = audit_entries(session, "fines_exported")
    assert len(entries) == 1
    assert entries[0].staff_id == user.id
    assert '"rows": 1' in entries[0].detail


# --------------------------------------------------------------------------- detail


def test_detail_page(console: TestClient, session: Session, city: City, make_case: MakeCase) -> None:
    case = make_case()
    decision = add_decision(session, case_id=case.id)
    pending = add_order(session, decision)
    sign_in(console, city.staff[StaffRole.LEADER])
    page = console.get(f"/fines/{decision.id}")
    assert page.status_code == 200
    text = page.text
    assert decision.decision_no in text
    assert "3601**********1234" in text
    assert "138****8000" in text
    assert "13800138000" not in text
    assert case.case_no in text
    assert "30.00 元" in text  # the late fee today
    assert "230.00 元" in text
    assert pending.out_trade_no in text
    assert "待支付" in text
    assert 'name="csrf_token"' in text
    assert console.get("/fines/999999999").status_code == 404
    assert console.get("/fines/99999999999999999999").status_code == 404  # beyond the column type
    assert console.get("/fines/abc").status_code == 404


def test_phone_reveal_is_audited(console: TestClient, session: Session, city: City) -> None:
    decision = add_decision(session)
    user = city.staff[StaffRole.ADMIN]
    csrf = sign_in(console, user)
    assert console.post(f"/fines/{decision.id}/phone").status_code == 403  # no CSRF token
    assert audit_entries(session, "view_phone") == []
    answer = console.post(f"/fines/{decision.id}/phone", headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert answer.status_code == 200
    assert "13800138000" in answer.text
    [entry] = audit_entries(session, "view_phone")
    assert (entry.staff_id, entry.target_kind, entry.target_id) == (user.id, "fine", decision.decision_no)
    assert "13800138000" not in entry.detail


# --------------------------------------------------------------------------- create


def test_create(console: TestClient, session: Session, city: City, make_case: MakeCase) -> None:
    case = make_case()
    user = city.staff[StaffRole.LEADER]
    csrf = sign_in(console, user)
    form = console.get("/fines/new")
    assert form.status_code == 200
    assert f'value="{today().isoformat()}"' in form.text
    answer = console.post("/fines/new", data=new_form(csrf, case_no=case.case_no))
    assert answer.status_code == 303, answer.text
    decision = session.exec(
        select(PenaltyDecision).where(col(PenaltyDecision.decision_no) == "城管罚决字〔2026〕第0777号")
    ).one()
    assert answer.headers["location"] == f"/fines/{decision.id}?done=created"
    assert decision.amount_fen == 20050
    assert decision.party_id_masked == "3601**********1234"  # the full number is never stored
    assert decision.due_on == date(2026, 3, 17)  # served + 15 days
    assert decision.case_id == case.id
    assert decision.status is FineStatus.UNPAID
    [entry] = audit_entries(session, "fine_created")
    assert (entry.staff_id, entry.target_id) == (user.id, decision.decision_no)
    page = console.get(answer.headers["location"])
    assert "处罚决定书已登记" in page.text


def test_create_with_explicit_due_date(console: TestClient, session: Session, city: City) -> None:
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    answer = console.post(
        "/fines/new", data=new_form(csrf, due_on="2026-04-30", amount_yuan="１，０００．００")
    )
    assert answer.status_code == 303, answer.text
    decision = session.exec(
        select(PenaltyDecision).where(col(PenaltyDecision.decision_no) == "城管罚决字〔2026〕第0777号")
    ).one()
    assert (decision.due_on, decision.amount_fen) == (date(2026, 4, 30), 100000)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"decision_no": " "}, "请填写决定书编号"),
        ({"decision_no": "x" * 65}, "决定书编号过长"),
        ({"party_name": ""}, "请填写当事人"),
        ({"amount_yuan": ""}, "请填写罚款金额"),
        ({"amount_yuan": "abc"}, "罚款金额格式不正确"),
        ({"amount_yuan": "12.345"}, "罚款金额格式不正确"),
        ({"amount_yuan": "-5"}, "罚款金额格式不正确"),
        ({"amount_yuan": "1e3"}, "罚款金额格式不正确"),
        ({"amount_yuan": "0.00"}, "罚款金额必须大于 0"),
        ({"amount_yuan": "9999999999"}, "罚款金额超出合理范围"),
        ({"decided_on": ""}, "请填写决定日期"),
        ({"decided_on": "2026-02-30"}, "决定日期格式不正确"),
        ({"served_on": "2026-02-01"}, "送达日期不能早于决定日期"),
        ({"due_on": "2026-03-01"}, "缴款期限不能早于送达日期"),
        ({"due_on": "1900-01-01"}, "缴款期限超出合理范围"),
        ({"phone": "138abc"}, "联系电话格式不正确"),
        ({"party_id": "36010219900101ABCD"}, "身份证号只能包含"),
        ({"case_no": "NOSUCHCASE"}, "未找到案件"),
        ({"party_name": "张\x00三"}, "控制字符"),
    ],
)
def test_create_refuses_bad_input(
    console: TestClient, session: Session, city: City, values: dict[str, str], message: str
) -> None:
    csrf = sign_in(console, city.staff[StaffRole.LEADER])
    answer = console.post("/fines/new", data=new_form(csrf, **values))
    assert answer.status_code == 422, answer.text[:300]
    assert message in answer.text
    assert 'name="decision_no"' in answer.text  # the form again
    assert "360102199001011234" not in answer.text  # a typed full ID number is not echoed back
    assert session.exec(select(PenaltyDecision)).first() is None
    assert audit_entries(session, "fine_created") == []


def test_duplicate_decision_no_is_readable(console: TestClient, session: Session, city: City) -> None:
    existing = add_decision(session)
    csrf = sign_in(console, city.staff[StaffRole.LEADER])
    answer = console.post("/fines/new", data=new_form(csrf, decision_no=f" {existing.decision_no} "))
    assert answer.status_code == 409
    assert f"决定书编号“{existing.decision_no}”已存在" in answer.text
    assert len(session.exec(select(PenaltyDecision)).all()) == 1


def test_create_needs_csrf(console: TestClient, session: Session, city: City) -> None:
    csrf = sign_in(console, city.staff[StaffRole.LEADER])
    form = new_form(csrf)
    del form["csrf_token"]
    assert console.post("/fines/new", data=form).status_code == 403
    assert console.post("/fines/new", data=new_form("forged")).status_code == 403
    assert session.exec(select(PenaltyDecision)).first() is None


# --------------------------------------------------------------------------- cancel


def test_cancel_closes_pending_orders(console: TestClient, session: Session, city: City) -> None:
    decision = add_decision(session)
    pending = add_order(session, decision)
    user = city.staff[StaffRole.LEADER]
    csrf = sign_in(console, user)
    assert console.post(f"/fines/{decision.id}/cancel", data={"reason": "复议撤销"}).status_code == 403
    empty = console.post(f"/fines/{decision.id}/cancel", data={"csrf_token": csrf, "reason": "  "})
    assert empty.status_code == 422
    assert "请填写撤销原因" in empty.text
    answer = console.post(
        f"/fines/{decision.id}/cancel", data={"csrf_token": csrf, "reason": "行政复议决定撤销"}
    )
    assert answer.status_code == 303
    session.refresh(decision)
    session.refresh(pending)
    assert decision.status is FineStatus.CANCELLED
    assert pending.status is PaymentOrderStatus.CLOSED
    assert pending.closed_at is not None
    [entry] = audit_entries(session, "fine_cancelled")
    assert entry.staff_id == user.id
    assert "行政复议决定撤销" in entry.detail
    assert pending.out_trade_no in entry.detail
    page = console.get(answer.headers["location"]).text
    assert "处罚决定书已撤销" in page
    assert "撤销原因：行政复议决定撤销" in page
    again = console.post(f"/fines/{decision.id}/cancel", data={"csrf_token": csrf, "reason": "再次"})
    assert again.status_code == 409
    assert "该决定书已撤销" in again.text


def test_a_paid_decision_cannot_be_cancelled(console: TestClient, session: Session, city: City) -> None:
    decision = add_decision(session, status=FineStatus.PAID)
    paid = add_order(session, decision, PaymentOrderStatus.PAID)
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    page = console.get(f"/fines/{decision.id}").text
    assert "请先在下方支付记录中办理退款" in page
    assert f"/payments/orders/{paid.id}" in page
    answer = console.post(f"/fines/{decision.id}/cancel", data={"csrf_token": csrf, "reason": "撤销"})
    assert answer.status_code == 409
    assert "请先在其支付记录上办理退款" in answer.text
    session.refresh(decision)
    assert decision.status is FineStatus.PAID
    assert audit_entries(session, "fine_cancelled") == []


def test_cancel_unknown_decision(console: TestClient, city: City) -> None:
    csrf = sign_in(console, city.staff[StaffRole.LEADER])
    for decision_id in ("999999999", "99999999999999999999"):
        answer = console.post(f"/fines/{decision_id}/cancel", data={"csrf_token": csrf, "reason": "撤销"})
        assert answer.status_code == 404
        assert "未找到该处罚决定书" in answer.text
        deferral = console.post(
            f"/fines/{decision_id}/deferral",
            data={"csrf_token": csrf, "deferral_until": "2030-01-01", "note": "x"},
        )
        assert deferral.status_code == 404


# --------------------------------------------------------------------------- deferral


def test_deferral_stops_the_late_fee(console: TestClient, session: Session, city: City) -> None:
    decision = add_decision(session)  # 5 overdue days, 30.00 late fee today
    pending = add_order(session, decision)
    user = city.staff[StaffRole.LEADER]
    csrf = sign_in(console, user)
    form = {
        "csrf_token": csrf,
        "deferral_from": "",
        "deferral_until": (today() + timedelta(days=30)).isoformat(),
        "note": "经批准分三期缴纳",
    }
    answer = console.post(f"/fines/{decision.id}/deferral", data=form)
    assert answer.status_code == 303, answer.text[:300]
    session.refresh(decision)
    session.refresh(pending)
    assert decision.status is FineStatus.DEFERRED
    assert decision.deferral_until == today() + timedelta(days=30)
    assert decision.deferral_from is None
    assert decision.instalment_note == "经批准分三期缴纳"
    assert pending.status is PaymentOrderStatus.CLOSED  # its frozen amount included the late fee
    [entry] = audit_entries(session, "fine_deferral_approved")
    assert entry.staff_id == user.id
    page = console.get(answer.headers["location"]).text
    assert "已批准暂缓/分期缴纳" in page
    assert "0.00 元" in page  # no late fee inside the deferral
    assert "200.00 元" in page


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"deferral_until": ""}, "请填写暂缓截止日期"),
        ({"deferral_until": "soon"}, "暂缓截止日期格式不正确"),
        ({"note": ""}, "请填写说明"),
        ({"deferral_from": "2026-05-02", "deferral_until": "2026-05-01"}, "暂缓起始日期不能晚于截止日期"),
        ({"deferral_until": "2000-01-01"}, "暂缓截止日期应晚于缴款期限"),
    ],
)
def test_deferral_refuses_bad_input(
    console: TestClient, session: Session, city: City, values: dict[str, str], message: str
) -> None:
    decision = add_decision(session)
    csrf = sign_in(console, city.staff[StaffRole.LEADER])
    form = {
        "csrf_token": csrf,
        "deferral_from": "",
        "deferral_until": (today() + timedelta(days=30)).isoformat(),
        "note": "分期",
    } | values
    answer = console.post(f"/fines/{decision.id}/deferral", data=form)
    assert answer.status_code == 422, answer.text[:300]
    assert message in answer.text
    session.refresh(decision)
    assert decision.status is FineStatus.UNPAID
    assert audit_entries(session, "fine_deferral_approved") == []


@pytest.mark.parametrize("status", [FineStatus.PAID, FineStatus.CANCELLED])
def test_no_deferral_for_paid_or_cancelled(
    console: TestClient, session: Session, city: City, status: FineStatus
) -> None:
    decision = add_decision(session, status=status)
    csrf = sign_in(console, city.staff[StaffRole.LEADER])
    form = {"csrf_token": csrf, "deferral_until": (today() + timedelta(days=30)).isoformat(), "note": "分期"}
    answer = console.post(f"/fines/{decision.id}/deferral", data=form)
    assert answer.status_code == 409
    session.refresh(decision)
    assert decision.status is status
