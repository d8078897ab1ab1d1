"""Payments pages: orders (filters, export), one order and its refund button, the needs-refund queue,
refused/flagged notifications (mark reviewed), refunds and reconciliation runs. Leaders and admins only;
actions need the CSRF token and are audited; bad input is a readable message, never a 500."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.jobs import pending_jobs
from core.kit.clock import to_local, utcnow
from core.models import (
    FineStatus,
    MismatchKind,
    NotificationVerdict,
    PaymentChannel,
    PaymentNotification,
    PaymentOrderStatus,
    PaymentRefund,
    ReconciliationItem,
    ReconciliationRun,
    RefundStatus,
    StaffRole,
)
from tests.admin.conftest import sign_in
from tests.admin.test_evaluation import sheet_rows
from tests.admin.test_fines_pages import add_decision, add_order, audit_entries
from tests.fixtures.cases import City

PAGES = (
    "/payments",
    "/payments/needs-refund",
    "/payments/notifications",
    "/payments/notifications?reviewed=1",
    "/payments/refunds",
    "/payments/reconciliation",
)


def add_notification(session: Session, **values: object) -> PaymentNotification:
    fields: dict[str, object] = {
        "channel": PaymentChannel.WECHAT,
        "out_trade_no": "T0001",
        "verdict": NotificationVerdict.REFUSED,
        "reason": "signature_invalid",
        "body": '{"id": "forged"}',
        "client_ip": "203.0.113.9",
        "flagged": True,
    } | values
    notification = PaymentNotification(**fields)  # type: ignore[arg-type]
    session.add(notification)
    session.flush()
    return notification


def add_refund(session: Session, order_id: int, **values: object) -> PaymentRefund:
    fields: dict[str, object] = {
        "out_refund_no": f"RF{order_id:08d}",
        "order_id": order_id,
        "amount_fen": 20000,
        "reason": "决定书撤销",
        "status": RefundStatus.PROCESSING,
    } | values
    refund = PaymentRefund(**fields)  # type: ignore[arg-type]
    session.add(refund)
    session.flush()
    return refund


# --------------------------------------------------------------------------- access


@pytest.mark.parametrize("role", [StaffRole.OPERATOR, StaffRole.SHIFT_LEAD, StaffRole.HANDLER])
def test_other_roles_are_refused(console: TestClient, session: Session, city: City, role: StaffRole) -> None:
    decision = add_decision(session, status=FineStatus.PAID)
    order = add_order(session, decision, PaymentOrderStatus.PAID)
    notification = add_notification(session)
    csrf = sign_in(console, city.staff[role])
    for path in (*PAGES, "/payments/export", f"/payments/orders/{order.id}"):
        assert console.get(path).status_code == 403, path
    refund = console.post(f"/payments/orders/{order.id}/refund", data={"csrf_token": csrf, "reason": "退"})
    assert refund.status_code == 403
    reviewed = console.post(f"/payments/notifications/{notification.id}/reviewed", data={"csrf_token": csrf})
    assert reviewed.status_code == 403
    assert session.exec(select(PaymentRefund)).first() is None
    session.refresh(notification)
    assert notification.reviewed_at is None


@pytest.mark.parametrize("role", [StaffRole.LEADER, StaffRole.ADMIN])
def test_every_tab_opens_empty_and_full(
    console: TestClient, session: Session, city: City, role: StaffRole
) -> None:
    sign_in(console, city.staff[role])
    for path in PAGES:
        answer = console.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        assert "支付与对账" in answer.text
    assert 'data-key="p"' in console.get("/payments").text


# --------------------------------------------------------------------------- orders


def test_orders_list_filters_and_export(console: TestClient, session: Session, city: City) -> None:
    first = add_decision(session, party_name="张三")
    second = add_decision(session, party_name="李四", status=FineStatus.PAID)
    pending = add_order(session, first)
    paid = add_order(session, second, PaymentOrderStatus.PAID)
    paid.channel = PaymentChannel.ALIPAY
    paid.receipt_no = "ZF2026030100000001"
    session.add(paid)
    session.flush()
    user = city.staff[StaffRole.LEADER]
    sign_in(console, user)
    page = console.get("/payments").text
    assert pending.out_trade_no in page
    assert paid.out_trade_no in page
    assert first.decision_no in page

    by_status = console.get("/payments", params={"status": "paid"}).text
    assert paid.out_trade_no in by_status
    assert pending.out_trade_no not in by_status
    by_channel = console.get("/payments", params={"channel": "wechat"}).text
    assert pending.out_trade_no in by_channel
    assert paid.out_trade_no not in by_channel
    by_receipt = console.get("/payments", params={"q": "ZF2026030100000001"}).text
    assert paid.out_trade_no in by_receipt
    assert pending.out_trade_no not in by_receipt
    by_decision = console.get("/payments", params={"q": first.decision_no}).text
    assert pending.out_trade_no in by_decision
    assert paid.out_trade_no not in by_decision
    today = to_local(utcnow()).date().isoformat()
    long_ago = console.get("/payments", params={"since": "2020-01-01", "until": "2020-01-31"}).text
    assert pending.out_trade_no not in long_ago
    assert "没有符合条件的订单" in long_ago
    recent = console.get("/payments", params={"since": "2020-01-01", "until": today}).text
    assert pending.out_trade_no in recent

    export = console.get("/payments/export", params={"status": "paid"})
    assert export.status_code == 200
    rows = sheet_rows(export.content)
    assert rows[0][:3] == ["订单号", "决定书编号", "当事人"]
    assert len(rows) == 2
    assert rows[1][:7] == [
        paid.out_trade_no,
        second.decision_no,
        "李四",
        "支付宝",
        "小程序",
        "已支付",
        "200.00",
    ]
    [entry] = audit_entries(session, "payments_exported")
    assert entry.staff_id == user.id


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "lost"}, "请选择正确的订单状态"),
        ({"channel": "paypal"}, "请选择正确的支付渠道"),
        ({"since": "yesterday"}, "起始日期格式不正确"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "起始日期不能晚于截止日期"),
        ({"page": "-1"}, "页码不正确"),
        ({"q": "\x01"}, "控制字符"),
    ],
)
def test_bad_order_filters(console: TestClient, city: City, params: dict[str, str], message: str) -> None:
    sign_in(console, city.staff[StaffRole.LEADER])
    for path in ("/payments", "/payments/export"):
        answer = console.get(path, params=params)
        assert answer.status_code == 422, path
        assert message in answer.text


def test_order_page(console: TestClient, session: Session, city: City) -> None:
    decision = add_decision(session)
    order = add_order(session, decision)
    add_notification(session, out_trade_no=order.out_trade_no, verdict=NotificationVerdict.REFUSED)
    sign_in(console, city.staff[StaffRole.LEADER])
    page = console.get(f"/payments/orders/{order.id}")
    assert page.status_code == 200
    assert order.out_trade_no in page.text
    assert decision.decision_no in page.text
    assert "已拒绝" in page.text
    assert "该订单未收到款项，无需退款" in page.text
    assert "申请退款" not in page.text
    assert console.get("/payments/orders/999999999").status_code == 404
    assert console.get("/payments/orders/99999999999999999999").status_code == 404


# --------------------------------------------------------------------------- refunds


@pytest.mark.parametrize("status", [PaymentOrderStatus.PAID, PaymentOrderStatus.NEEDS_REFUND])
def test_refund_request(
    console: TestClient, session: Session, city: City, status: PaymentOrderStatus
) -> None:
    decision = add_decision(
        session, status=FineStatus.PAID if status is PaymentOrderStatus.PAID else FineStatus.UNPAID
    )
    order = add_order(session, decision, status)
    user = city.staff[StaffRole.ADMIN]
    csrf = sign_in(console, user)
    page = console.get(f"/payments/orders/{order.id}").text
    assert "申请退款" in page
    url = f"/payments/orders/{order.id}/refund"
    assert console.post(url, data={"reason": "撤销"}).status_code == 403  # no CSRF token
    empty = console.post(url, data={"csrf_token": csrf, "reason": " "})
    assert empty.status_code == 422
    assert "请填写退款原因" in empty.text
    too_long = console.post(url, data={"csrf_token": csrf, "reason": "长" * 257})
    assert too_long.status_code == 422
    assert "退款原因过长" in too_long.text
    assert session.exec(select(PaymentRefund)).first() is None

    answer = console.post(url, data={"csrf_token": csrf, "reason": "行政复议撤销，全额退款"})
    assert answer.status_code == 303, answer.text[:300]
    refund = session.exec(select(PaymentRefund).where(col(PaymentRefund.order_id) == order.id)).one()
    assert refund.amount_fen == order.paid_amount_fen
    assert refund.requested_by == user.id
    assert refund.status is RefundStatus.REQUESTED
    [entry] = audit_entries(session, "refund_requested")
    assert (entry.staff_id, entry.target_kind, entry.target_id) == (user.id, "fine", decision.decision_no)
    after = console.get(answer.headers["location"]).text
    assert "退款申请已提交" in after
    assert refund.out_refund_no in after

    again = console.post(url, data={"csrf_token": csrf, "reason": "再退一次"})
    assert again.status_code == 422
    assert "不能重复申请" in again.text
    assert len(session.exec(select(PaymentRefund)).all()) == 1
    # The decision page shows the refund and its history entry.
    fine_page = console.get(f"/fines/{decision.id}").text
    assert refund.out_refund_no in fine_page
    assert "申请退款" in fine_page


def test_an_unpaid_order_cannot_be_refunded(console: TestClient, session: Session, city: City) -> None:
    order = add_order(session, add_decision(session))
    csrf = sign_in(console, city.staff[StaffRole.LEADER])
    answer = console.post(f"/payments/orders/{order.id}/refund", data={"csrf_token": csrf, "reason": "退款"})
    assert answer.status_code == 409
    assert "不能退款" in answer.text
    assert session.exec(select(PaymentRefund)).first() is None
    for missing_id in ("999999999", "99999999999999999999"):
        url = f"/payments/orders/{missing_id}/refund"
        assert console.post(url, data={"csrf_token": csrf, "reason": "退款"}).status_code == 404


def test_needs_refund_queue_and_refunds_list(console: TestClient, session: Session, city: City) -> None:
    waiting = add_order(session, add_decision(session), PaymentOrderStatus.NEEDS_REFUND)
    handled = add_order(session, add_decision(session), PaymentOrderStatus.NEEDS_REFUND)
    paid = add_order(session, add_decision(session, status=FineStatus.PAID), PaymentOrderStatus.PAID)
    assert handled.id is not None
    assert paid.id is not None
    add_refund(session, handled.id, status=RefundStatus.PROCESSING)
    add_refund(
        session, paid.id, status=RefundStatus.FAILED, failure="账户已注销", out_refund_no="RF-FAILED-1"
    )
    sign_in(console, city.staff[StaffRole.LEADER])
    queue = console.get("/payments/needs-refund").text
    assert waiting.out_trade_no in queue
    assert handled.out_trade_no in queue
    assert paid.out_trade_no not in queue
    assert "办理退款" in queue
    assert "退款中" in queue

    refunds = console.get("/payments/refunds").text
    assert handled.out_trade_no in refunds
    assert "账户已注销" in refunds
    failed = console.get("/payments/refunds", params={"status": "failed"}).text
    assert "RF-FAILED-1" in failed
    assert handled.out_trade_no not in failed
    bad = console.get("/payments/refunds", params={"status": "gone"})
    assert bad.status_code == 422
    assert "请选择正确的退款状态" in bad.text


# --------------------------------------------------------------------------- notifications


def test_flagged_notifications_and_mark_reviewed(console: TestClient, session: Session, city: City) -> None:
    refused = add_notification(session, reason="timestamp_expired", out_trade_no="T-REFUSED")
    flagged = add_notification(
        session, verdict=NotificationVerdict.APPLIED, reason="", flagged=True, out_trade_no="T-FLAGGED"
    )
    fine = add_notification(
        session, verdict=NotificationVerdict.APPLIED, reason="", flagged=False, out_trade_no="T-FINE"
    )
    user = city.staff[StaffRole.LEADER]
    csrf = sign_in(console, user)
    page = console.get("/payments/notifications").text
    assert "T-REFUSED" in page
    assert "timestamp_expired" in page
    assert "T-FLAGGED" in page
    assert "T-FINE" not in page
    assert fine.id is not None

    url = f"/payments/notifications/{refused.id}/reviewed"
    assert console.post(url).status_code == 403  # no CSRF token
    answer = console.post(url, data={"csrf_token": csrf})
    assert answer.status_code == 303
    session.refresh(refused)
    assert refused.reviewed_by == user.id
    assert refused.reviewed_at is not None
    first_review = refused.reviewed_at
    [entry] = audit_entries(session, "payment_notification_reviewed")
    assert entry.target_id == str(refused.id)
    assert "已标记为已复核" in console.get(answer.headers["location"]).text

    again = console.post(url, data={"csrf_token": csrf})  # a double click changes nothing
    assert again.status_code == 303
    session.refresh(refused)
    assert refused.reviewed_at == first_review
    assert len(audit_entries(session, "payment_notification_reviewed")) == 1

    open_list = console.get("/payments/notifications").text
    assert "T-REFUSED" not in open_list
    assert "T-FLAGGED" in open_list
    reviewed = console.get("/payments/notifications", params={"reviewed": "1"}).text
    assert "T-REFUSED" in reviewed
    assert "T-FLAGGED" not in reviewed
    assert flagged.id is not None
    for missing_id in ("999999999", "99999999999999999999"):
        missing = console.post(f"/payments/notifications/{missing_id}/reviewed", data={"csrf_token": csrf})
        assert missing.status_code == 404
    assert console.get("/payments/notifications", params={"page": "x"}).status_code == 422


# --------------------------------------------------------------------------- reconciliation


def test_reconciliation_runs_and_items(console: TestClient, session: Session, city: City) -> None:
    day = date(2026, 3, 1)
    good = ReconciliationRun(
        channel=PaymentChannel.WECHAT,
        bill_date=day,
        bill_count=3,
        bill_total_fen=60000,
        local_count=3,
        local_total_fen=60000,
    )
    bad = ReconciliationRun(
        channel=PaymentChannel.ALIPAY,
        bill_date=day,
        bill_count=2,
        bill_total_fen=40100,
        local_count=2,
        local_total_fen=40000,
        mismatch_count=2,
    )
    broken = ReconciliationRun(
        channel=PaymentChannel.WECHAT,
        bill_date=day - timedelta(days=1),
        error="账单下载失败：provider_unavailable",
    )
    session.add_all([good, bad, broken])
    session.flush()
    assert bad.id is not None
    session.add_all(
        [
            ReconciliationItem(
                run_id=bad.id,
                kind=MismatchKind.AMOUNT,
                out_trade_no="T-AMOUNT",
                local_fen=20000,
                bill_fen=20100,
                detail="账单金额多 1.00 元",
            ),
            ReconciliationItem(
                run_id=bad.id,
                kind=MismatchKind.MISSING_LOCALLY,
                out_trade_no="T-UNKNOWN",
                bill_fen=100,
            ),
        ]
    )
    session.flush()
    sign_in(console, city.staff[StaffRole.ADMIN])
    runs = console.get("/payments/reconciliation").text
    assert "2026-03-01" in runs
    assert "600.00" in runs
    assert "401.00" in runs
    assert "账单下载失败" in runs
    only_alipay = console.get("/payments/reconciliation", params={"channel": "alipay"}).text
    assert "401.00" in only_alipay
    assert "600.00" not in only_alipay
    bad_channel = console.get("/payments/reconciliation", params={"channel": "bank"})
    assert bad_channel.status_code == 422
    assert "请选择正确的支付渠道" in bad_channel.text

    items = console.get(f"/payments/reconciliation/{bad.id}").text
    assert "T-AMOUNT" in items
    assert "金额不一致" in items
    assert "200.00" in items
    assert "201.00" in items
    assert "T-UNKNOWN" in items
    assert "本地无此笔支付" in items
    assert "账实相符" in console.get(f"/payments/reconciliation/{good.id}").text
    assert "对账失败" in console.get(f"/payments/reconciliation/{broken.id}").text
    assert console.get("/payments/reconciliation/999999999").status_code == 404
    assert console.get("/payments/reconciliation/99999999999999999999").status_code == 404


# --------------------------------------------------------------------------- retrying a failed refund


def test_retry_a_failed_refund_from_the_order_page(console: TestClient, session: Session, city: City) -> None:
    decision = add_decision(session, status=FineStatus.PAID)
    order = add_order(session, decision, PaymentOrderStatus.PAID)
    assert order.id is not None
    refund = add_refund(
        session,
        order.id,
        status=RefundStatus.FAILED,
        failure="wechat:CLOSED",
        provider_refund_id="50300001",
        out_refund_no="RF-OLD-0001",
        finished_at=utcnow(),
    )
    user = city.staff[StaffRole.ADMIN]
    csrf = sign_in(console, user)
    page = console.get(f"/payments/orders/{order.id}").text
    assert "重新发起退款" in page
    url = f"/payments/refunds/{refund.id}/retry"
    assert console.post(url, data={}).status_code == 403  # no CSRF token
    assert refund.out_refund_no == "RF-OLD-0001"

    answer = console.post(url, data={"csrf_token": csrf})
    assert answer.status_code == 303, answer.text[:300]
    assert answer.headers["location"].endswith(f"/payments/orders/{order.id}?done=retry")
    session.refresh(refund)
    assert refund.status is RefundStatus.REQUESTED
    assert refund.out_refund_no != "RF-OLD-0001"
    assert refund.failure == "上次失败：RF-OLD-0001 wechat:CLOSED"
    assert (refund.finished_at, refund.provider_refund_id) == (None, "")
    assert refund.requested_by == user.id
    [entry] = audit_entries(session, "refund_retried")
    assert (entry.staff_id, entry.target_kind, entry.target_id) == (user.id, "fine", decision.decision_no)
    assert json.loads(entry.detail) == {
        "out_trade_no": order.out_trade_no,
        "out_refund_no": refund.out_refund_no,
        "previous_out_refund_no": "RF-OLD-0001",
        "previous_failure": "wechat:CLOSED",
        "amount_fen": 20000,
    }
    assert [dict(job.kwargs) for job in pending_jobs(session) if job.name == "payments.refund"] == [
        {"refund_id": refund.id}
    ]
    after = console.get(answer.headers["location"]).text
    assert "已重新发起退款" in after
    assert refund.out_refund_no in after
    assert "上次失败：RF-OLD-0001" in after
    assert "重新发起退款</button>" not in after  # requested again: nothing to retry

    # A double click: answered as it is, no new number, no second audit entry or job.
    number = refund.out_refund_no
    again = console.post(url, data={"csrf_token": csrf})
    assert again.status_code == 303
    assert again.headers["location"].endswith("?done=retry_skipped")
    session.refresh(refund)
    assert refund.out_refund_no == number
    assert len(audit_entries(session, "refund_retried")) == 1
    assert len([job for job in pending_jobs(session) if job.name == "payments.refund"]) == 1
    assert "未再次发起" in console.get(again.headers["location"]).text
    # The audit log names the action in Chinese.
    audit_page = console.get("/audit", params={"action": "refund_retried"})
    assert audit_page.status_code == 200
    assert '重新发起退款 <span class="hint">refund_retried</span>' in audit_page.text
    assert decision.decision_no in audit_page.text


def test_retry_from_the_refunds_list(console: TestClient, session: Session, city: City) -> None:
    failed = add_order(session, add_decision(session, status=FineStatus.PAID), PaymentOrderStatus.PAID)
    processing = add_order(session, add_decision(session, status=FineStatus.PAID), PaymentOrderStatus.PAID)
    assert failed.id is not None
    assert processing.id is not None
    refund = add_refund(
        session, failed.id, status=RefundStatus.FAILED, failure="alipay:ACQ.SELLER_BALANCE_NOT_ENOUGH"
    )
    add_refund(session, processing.id, status=RefundStatus.PROCESSING)
    csrf = sign_in(console, city.staff[StaffRole.LEADER])
    listing = console.get("/payments/refunds").text
    assert listing.count("重新发起退款</button>") == 1
    assert f"/payments/refunds/{refund.id}/retry" in listing

    answer = console.post(
        f"/payments/refunds/{refund.id}/retry", data={"csrf_token": csrf, "back": "refunds"}
    )
    assert answer.status_code == 303
    assert answer.headers["location"].endswith("/payments/refunds?done=retry")
    session.refresh(refund)
    assert refund.status is RefundStatus.REQUESTED
    after = console.get(answer.headers["location"]).text
    assert "已重新发起退款" in after
    assert "重新发起退款</button>" not in after


def test_a_wechat_abnormal_refund_is_not_retried_from_the_console(
    console: TestClient, session: Session, city: City
) -> None:
    order = add_order(session, add_decision(session, status=FineStatus.PAID), PaymentOrderStatus.PAID)
    assert order.id is not None
    refund = add_refund(
        session, order.id, status=RefundStatus.FAILED, failure="wechat:ABNORMAL", out_refund_no="RF-ABN-1"
    )
    csrf = sign_in(console, city.staff[StaffRole.ADMIN])
    page = console.get(f"/payments/orders/{order.id}").text
    assert "重新发起退款</button>" not in page
    assert "商户平台处理" in page
    assert "重新发起退款</button>" not in console.get("/payments/refunds").text

    answer = console.post(f"/payments/refunds/{refund.id}/retry", data={"csrf_token": csrf})
    assert answer.status_code == 409
    assert "不能重新发起" in answer.text
    session.refresh(refund)
    assert (refund.status, refund.out_refund_no) == (RefundStatus.FAILED, "RF-ABN-1")
    assert audit_entries(session, "refund_retried") == []
    for missing_id in ("999999999", "99999999999999999999"):
        missing = console.post(f"/payments/refunds/{missing_id}/retry", data={"csrf_token": csrf})
        assert missing.status_code == 404


@pytest.mark.parametrize("role", [StaffRole.OPERATOR, StaffRole.SHIFT_LEAD, StaffRole.HANDLER])
def test_other_roles_cannot_retry_a_refund(
    console: TestClient, session: Session, city: City, role: StaffRole
) -> None:
    order = add_order(session, add_decision(session, status=FineStatus.PAID), PaymentOrderStatus.PAID)
    assert order.id is not None
    refund = add_refund(session, order.id, status=RefundStatus.FAILED, failure="wechat:CLOSED")
    number = refund.out_refund_no
    csrf = sign_in(console, city.staff[role])
    assert console.post(f"/payments/refunds/{refund.id}/retry", data={"csrf_token": csrf}).status_code == 403
    session.refresh(refund)
    assert (refund.status, refund.out_refund_no) == (RefundStatus.FAILED, number)
