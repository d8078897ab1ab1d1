"""The console side of penalty decisions: the list and its filters, one decision with its payments and
refunds, and the staff actions (create, cancel 撤销, approve a deferral or instalment plan 暂缓/分期).

Services take the session first and never commit; every check runs before anything changes, so a
refused action leaves the unit of work untouched. Money is integer fen: the amount is typed in yuan
with at most two decimals and converted exactly (``payments.providers.yuan_to_fen``).

Cancelling or deferring a decision closes its pending payment orders (here and, by the job
``payments.close_at_provider``, at the provider): their frozen amount is no longer what is owed. A
payment that still arrives for a closed order becomes ``needs_refund`` (``payments.orders.settle``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.audit import service as audit
from core.errors import Conflict, Invalid, NotFound
from core.jobs import enqueue
from core.kit.clock import to_local
from core.kit.text import CONTROL_CHARACTERS, INT32_MAX
from core.models import (
    AuditEntry,
    Case,
    FineStatus,
    PaymentOrder,
    PaymentOrderStatus,
    PaymentRefund,
    PenaltyDecision,
    StaffUser,
)
from core.models.fines import PAYMENT_DAYS
from payments.fines.schemas import FineOut
from payments.fines.service import fine_out
from payments.providers import yuan_to_fen

FINE_STATUS_LABELS: dict[FineStatus, str] = {
    FineStatus.UNPAID: "未缴",
    FineStatus.PAID: "已缴",
    FineStatus.CANCELLED: "已撤销",
    FineStatus.DEFERRED: "暂缓/分期",
}
PAYABLE = (FineStatus.UNPAID, FineStatus.DEFERRED)
AUDIT_TARGET = "fine"  # audit entries of a decision: target_kind "fine", target_id its decision number
CANCELLED_ACTION = "fine_cancelled"

MAX_AMOUNT_FEN = 100_000_000_00  # 1 亿元: far above any fine, far below BIGINT
AMOUNT = re.compile(r"^\d{1,10}(\.\d{1,2})?$", re.ASCII)
PHONE = re.compile(r"^[0-9+\-]{3,20}$")
ID_NUMBER = re.compile(r"^[0-9Xx*]{4,32}$")
CASE_NO = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
MAX_REASON = 256


# --------------------------------------------------------------------------- errors


class FineFormInvalid(Invalid):
    """A field of a console form; ``details["field"]`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__("fine_form_invalid", message, field=field_name)


class DecisionNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("fine_not_found", "未找到该处罚决定书")


class DecisionNoTaken(Conflict):
    def __init__(self, decision_no: str) -> None:
        super().__init__(
            "decision_no_taken", f"决定书编号“{decision_no}”已存在，请核对编号", field="decision_no"
        )


class FinePaid(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "fine_paid",
            "该决定书已缴款，不能撤销或暂缓。如需撤销，请先在其支付记录上办理退款，退款完成后再撤销。",
        )


class FineCancelled(Conflict):
    def __init__(self) -> None:
        super().__init__("fine_cancelled", "该决定书已撤销")


# --------------------------------------------------------------------------- input helpers


def clean_text(value: str, *, field_name: str, label: str, max_length: int, required: bool = True) -> str:
    text = value.strip()
    if required and not text:
        raise FineFormInvalid(field_name, f"请填写{label}")
    if len(text) > max_length:
        raise FineFormInvalid(field_name, f"{label}过长（最多 {max_length} 个字符）")
    if CONTROL_CHARACTERS.search(text):
        raise FineFormInvalid(field_name, f"{label}含有不可见的控制字符")
    return text


def required_day(value: str, *, field_name: str, label: str) -> date:
    day = parse_day(value, field_name=field_name, label=label)
    if day is None:
        raise FineFormInvalid(field_name, f"请填写{label}")
    return day


def parse_day(value: str, *, field_name: str, label: str) -> date | None:
    """An ISO date (what ``<input type="date">`` sends); None when empty."""
    text = value.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise FineFormInvalid(field_name, f"{label}格式不正确，请按“年-月-日”填写") from None
    if not 2000 <= day.year <= 2100:
        raise FineFormInvalid(field_name, f"{label}超出合理范围")
    return day


def parse_amount(value: str) -> int:
    """Yuan with at most two decimals → fen (exact); a Chinese message otherwise."""
    # Full-width digits and points from a Chinese input method count as typed (２００．５０ → 200.50).
    text = unicodedata.normalize("NFKC", value).strip().replace(",", "")
    if not text:
        raise FineFormInvalid("amount_yuan", "请填写罚款金额")
    if not AMOUNT.match(text):
        raise FineFormInvalid(
            "amount_yuan", "罚款金额格式不正确：请填写以元为单位、最多两位小数的金额，如 200 或 200.50"
        )
    fen = yuan_to_fen(text)  # cannot fail after the pattern: digits with at most two decimals
    if fen <= 0:
        raise FineFormInvalid("amount_yuan", "罚款金额必须大于 0")
    if fen > MAX_AMOUNT_FEN:
        raise FineFormInvalid("amount_yuan", "罚款金额超出合理范围，请核对")
    return fen


def mask_id_number(value: str) -> str:
    """``360102199001011234`` → ``3601**********1234``; an already masked number stays as it is."""
    if not value or "*" in value:
        return value
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(phone: str) -> str:
    """``13800138000`` → ``138****8000``; short numbers keep only their last two digits."""
    if not phone:
        return ""
    if len(phone) >= 7:
        return f"{phone[:3]}****{phone[-4:]}"
    return "*" * max(len(phone) - 2, 0) + phone[-2:]


# --------------------------------------------------------------------------- list


@dataclass(frozen=True)
class DecisionFilter:
    status: FineStatus | None = None
    text: str = ""  # part of the decision number or the party's name
    decided_from: date | None = None
    decided_to: date | None = None  # inclusive
    overdue: bool = False  # a late fee accrues today
    today: date | None = None  # local date the overdue filter is judged on


def _filtered(where: DecisionFilter) -> SelectOfScalar[PenaltyDecision]:
    stmt = select(PenaltyDecision)
    if where.status is not None:
        stmt = stmt.where(col(PenaltyDecision.status) == where.status)
    if where.text:
        stmt = stmt.where(
            sa.or_(
                col(PenaltyDecision.decision_no).contains(where.text, autoescape=True),
                col(PenaltyDecision.party_name).contains(where.text, autoescape=True),
            )
        )
    if where.decided_from is not None:
        stmt = stmt.where(col(PenaltyDecision.decided_on) >= where.decided_from)
    if where.decided_to is not None:
        stmt = stmt.where(col(PenaltyDecision.decided_on) <= where.decided_to)
    if where.overdue and where.today is not None:
        stmt = stmt.where(
            col(PenaltyDecision.status).in_(PAYABLE),
            col(PenaltyDecision.due_on) < where.today,
            sa.or_(
                col(PenaltyDecision.deferral_until).is_(None),
                col(PenaltyDecision.deferral_until) < where.today,
            ),
        )
    return stmt


def _ordered(stmt: SelectOfScalar[PenaltyDecision]) -> SelectOfScalar[PenaltyDecision]:
    return stmt.order_by(col(PenaltyDecision.decided_on).desc(), col(PenaltyDecision.id).desc())


def search(
    session: Session, where: DecisionFilter, *, offset: int = 0, limit: int = 50
) -> list[PenaltyDecision]:
    """Newest decision first; offset pagination (the list is filtered to a few pages in practice)."""
    return list(session.exec(_ordered(_filtered(where)).offset(offset).limit(limit)).all())


def count(session: Session, where: DecisionFilter) -> int:
    subquery = _filtered(where).subquery()
    return int(session.execute(sa.select(sa.func.count()).select_from(subquery)).scalar_one())


def iterate(session: Session, where: DecisionFilter, *, batch: int = 1000) -> Iterator[PenaltyDecision]:
    """Every matching decision in list order, read in batches (for exports)."""
    offset = 0
    while True:
        rows = search(session, where, offset=offset, limit=batch)
        yield from rows
        if len(rows) < batch:
            return
        offset += batch


def case_numbers(session: Session, case_ids: set[int]) -> dict[int, str]:
    if not case_ids:
        return {}
    rows = session.exec(select(Case.id, Case.case_no).where(col(Case.id).in_(case_ids))).all()
    return {case_id: case_no for case_id, case_no in rows if case_id is not None}


# --------------------------------------------------------------------------- one decision


@dataclass
class DecisionDetail:
    decision: PenaltyDecision
    fine: FineOut  # today's late fee and total
    case_no: str
    orders: list[PaymentOrder] = field(default_factory=list)
    refunds: list[PaymentRefund] = field(default_factory=list)
    history: list[AuditEntry] = field(default_factory=list)

    @property
    def refund_by_order(self) -> dict[int, PaymentRefund]:
        return {refund.order_id: refund for refund in self.refunds}

    @property
    def cancel_reason(self) -> str:
        """Why the decision was cancelled (kept in the audit entry of the cancellation)."""
        for entry in self.history:
            if entry.action == CANCELLED_ACTION:
                try:
                    detail = json.loads(entry.detail)
                except ValueError:
                    return ""
                return str(detail.get("reason", "")) if isinstance(detail, dict) else ""
        return ""


def get_decision(session: Session, decision_id: int) -> PenaltyDecision:
    if not 0 < decision_id <= INT32_MAX:  # a typed URL; PostgreSQL refuses a bigger integer
        raise DecisionNotFound()
    decision = session.get(PenaltyDecision, decision_id)
    if decision is None:
        raise DecisionNotFound()
    return decision


def _lock_decision(session: Session, decision_id: int) -> PenaltyDecision:
    if not 0 < decision_id <= INT32_MAX:
        raise DecisionNotFound()
    decision = session.exec(
        select(PenaltyDecision)
        .where(col(PenaltyDecision.id) == decision_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if decision is None:
        raise DecisionNotFound()
    return decision


def detail(session: Session, decision: PenaltyDecision, *, now: datetime) -> DecisionDetail:
    assert decision.id is not None
    orders = list(
        session.exec(
            select(PaymentOrder)
            .where(col(PaymentOrder.decision_id) == decision.id)
            .order_by(col(PaymentOrder.created_at).desc(), col(PaymentOrder.id).desc())
        ).all()
    )
    order_ids = [order.id for order in orders if order.id is not None]
    refunds = (
        list(
            session.exec(
                select(PaymentRefund)
                .where(col(PaymentRefund.order_id).in_(order_ids))
                .order_by(col(PaymentRefund.id).desc())
            ).all()
        )
        if order_ids
        else []
    )
    history = list(
        session.exec(
            select(AuditEntry)
            .where(
                col(AuditEntry.target_kind) == AUDIT_TARGET,
                col(AuditEntry.target_id) == decision.decision_no[:64],
            )
            .order_by(col(AuditEntry.id).desc())
            .limit(100)
        ).all()
    )
    case_no = case_numbers(session, {decision.case_id}).get(decision.case_id, "") if decision.case_id else ""
    return DecisionDetail(
        decision=decision,
        fine=fine_out(decision, now=now),
        case_no=case_no,
        orders=orders,
        refunds=refunds,
        history=history,
    )


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class NewDecision:
    """The create form as typed (strings); validated by ``create_decision``."""

    decision_no: str = ""
    party_name: str = ""
    party_id: str = ""
    phone: str = ""
    case_no: str = ""
    amount_yuan: str = ""
    decided_on: str = ""
    served_on: str = ""
    due_on: str = ""  # empty: served_on + 15 days


def create_decision(session: Session, *, data: NewDecision, now: datetime) -> PenaltyDecision:
    decision_no = clean_text(data.decision_no, field_name="decision_no", label="决定书编号", max_length=64)
    party_name = clean_text(data.party_name, field_name="party_name", label="当事人", max_length=128)
    party_id = clean_text(
        data.party_id.replace(" ", ""), field_name="party_id", label="身份证号", max_length=32, required=False
    )
    if party_id and not ID_NUMBER.match(party_id):
        raise FineFormInvalid(
            "party_id", "身份证号只能包含数字、X 和 *（可填写完整号码，系统只保存脱敏后的号码）"
        )
    phone = clean_text(
        data.phone.replace(" ", ""), field_name="phone", label="联系电话", max_length=20, required=False
    )
    if phone and not PHONE.match(phone):
        raise FineFormInvalid("phone", "联系电话格式不正确，只能包含数字和“-”")
    amount_fen = parse_amount(data.amount_yuan)
    decided_on = required_day(data.decided_on, field_name="decided_on", label="决定日期")
    served_on = required_day(data.served_on, field_name="served_on", label="送达日期")
    if served_on < decided_on:
        raise FineFormInvalid("served_on", "送达日期不能早于决定日期")
    due_on = parse_day(data.due_on, field_name="due_on", label="缴款期限")
    if due_on is None:
        due_on = served_on + timedelta(days=PAYMENT_DAYS)
    if due_on < served_on:
        raise FineFormInvalid("due_on", "缴款期限不能早于送达日期")
    case_id: int | None = None
    case_no = data.case_no.strip()
    if case_no:
        found = (
            session.exec(select(Case.id).where(col(Case.case_no) == case_no)).first()
            if CASE_NO.match(case_no)
            else None
        )
        if found is None:
            raise FineFormInvalid("case_no", f"未找到案件“{case_no[:32]}”，请核对案件编号（可不填）")
        case_id = found
    existing = session.exec(
        select(PenaltyDecision.id).where(col(PenaltyDecision.decision_no) == decision_no)
    ).first()
    if existing is not None:
        raise DecisionNoTaken(decision_no)
    decision = PenaltyDecision(
        decision_no=decision_no,
        party_name=party_name,
        party_id_masked=mask_id_number(party_id),
        phone=phone,
        case_id=case_id,
        amount_fen=amount_fen,
        decided_on=decided_on,
        served_on=served_on,
        due_on=due_on,
        status=FineStatus.UNPAID,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(decision)
            session.flush()
    except IntegrityError:
        # Another request created the same number between the check and the insert.
        raise DecisionNoTaken(decision_no) from None
    return decision


def _close_open_orders(session: Session, decision: PenaltyDecision, now: datetime) -> list[str]:
    """Pending orders of the decision, closed here and (by a job after commit) at the provider."""
    orders = session.exec(
        select(PaymentOrder)
        .where(
            col(PaymentOrder.decision_id) == decision.id,
            col(PaymentOrder.status) == PaymentOrderStatus.PENDING,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    for order in orders:
        order.status = PaymentOrderStatus.CLOSED
        order.closed_at = now
        order.updated_at = now
        session.add(order)
        enqueue(session, "payments.close_at_provider", order_id=order.id)
    session.flush()
    return [order.out_trade_no for order in orders]


@dataclass(frozen=True)
class ActionResult:
    decision: PenaltyDecision
    closed_orders: list[str]  # out_trade_no of the pending orders closed with the action
    reason: str = ""  # the cleaned reason or note, for the audit entry


def cancel_decision(session: Session, *, decision_id: int, reason: str, now: datetime) -> ActionResult:
    """撤销: refused for a paid decision (refund first) and for one already cancelled."""
    text = clean_text(reason, field_name="reason", label="撤销原因", max_length=MAX_REASON)
    decision = _lock_decision(session, decision_id)
    if decision.status is FineStatus.PAID:
        raise FinePaid()
    if decision.status is FineStatus.CANCELLED:
        raise FineCancelled()
    closed = _close_open_orders(session, decision, now)
    decision.status = FineStatus.CANCELLED
    decision.updated_at = now
    session.add(decision)
    session.flush()
    return ActionResult(decision, closed, text)


@dataclass(frozen=True)
class DeferralInput:
    start: str = ""  # empty: from the first overdue day
    until: str = ""
    note: str = ""


def approve_deferral(
    session: Session, *, decision_id: int, data: DeferralInput, now: datetime
) -> ActionResult:
    """暂缓/分期: the late fee does not accrue from ``start`` (or the first overdue day) through ``until``.
    Approving again replaces the window."""
    start = parse_day(data.start, field_name="deferral_from", label="暂缓起始日期")
    until = required_day(data.until, field_name="deferral_until", label="暂缓截止日期")
    note = clean_text(data.note, field_name="note", label="说明", max_length=MAX_REASON)
    decision = _lock_decision(session, decision_id)
    if decision.status is FineStatus.PAID:
        raise FinePaid()
    if decision.status is FineStatus.CANCELLED:
        raise FineCancelled()
    if start is not None and start > until:
        raise FineFormInvalid("deferral_from", "暂缓起始日期不能晚于截止日期")
    if until <= decision.due_on:
        raise FineFormInvalid(
            "deferral_until",
            f"暂缓截止日期应晚于缴款期限（{decision.due_on.isoformat()}），否则不影响加处罚款",
        )
    if start is not None and start < decision.served_on:
        raise FineFormInvalid("deferral_from", "暂缓起始日期不能早于送达日期")
    closed = _close_open_orders(session, decision, now)
    decision.deferral_from = start
    decision.deferral_until = until
    decision.instalment_note = note
    decision.status = FineStatus.DEFERRED
    decision.updated_at = now
    session.add(decision)
    session.flush()
    return ActionResult(decision, closed, note)


def record_action(
    session: Session,
    *,
    actor: StaffUser,
    action: str,
    decision: PenaltyDecision,
    client_ip: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """One audit entry per staff action on a decision (target ``fine`` / its decision number)."""
    return audit.record(
        session,
        actor=actor,
        action=action,
        target_kind=AUDIT_TARGET,
        target_id=decision.decision_no,
        detail=detail or {},
        client_ip=client_ip,
    )


def local_today(now: datetime) -> date:
    return to_local(now).date()
