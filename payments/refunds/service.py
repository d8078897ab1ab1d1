"""Refunds: requested by staff, sent by the job ``payments.refund``, finished by the provider's answer,
its notification or the poll.

One refund per payment, always of the full amount received. Asking again for the same order answers
the existing refund (a double click never refunds twice); two requests racing on the same order meet
the unique ``order_id`` and the loser gets ``refund_exists``.

States: REQUESTED (recorded) → PROCESSING (accepted by the provider) → SUCCEEDED | FAILED. A
SUCCEEDED refund turns the order REFUNDED and tells the citizen who paid (outbox event
``fine_refunded``, written in the same transaction). The provider's word that money went back wins over
an earlier failure (an ABNORMAL WeChat refund that staff redirect at the merchant platform ends in
REFUND.SUCCESS).

A FAILED refund may be retried by staff (``retry_refund``): back to REQUESTED under a **new**
``out_refund_no`` (the provider closed or refused the old one), the old number and failure kept in
``failure`` ("上次失败：…", for staff) and in the audit log. A WeChat ABNORMAL refund is not retried: WeChat
still holds it (staff redirect it at the merchant platform, and it ends in REFUND.SUCCESS under its own
number). The provider caps what is refunded of one payment at what was paid, so a retry can never refund
twice; and an answer about a number the refund no longer carries is ignored unless it says the money went
back.

Every number of a refund stays findable: a retry keeps the first number as its base and appends the
attempt (``RF…`` → ``RF…_2`` → ``RF…_3``), so ``is_earlier_number`` recognises a late answer about any
earlier attempt — a WeChat REFUND.SUCCESS for it still counts (``payments.refunds.notifications``) — while
a number that was never ours (a refund made by hand at the merchant platform) stays unknown.

The decision's status is left to staff: refunding does not reopen or cancel the fine (cancelling a
revoked decision is a separate console action), so a decision may stay PAID with its payment REFUNDED
until staff cancel it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.errors import Conflict
from core.jobs import enqueue
from core.kit.clock import to_local
from core.models import PaymentChannel, PaymentOrder, PaymentOrderStatus, PaymentRefund, RefundStatus
from core.notify import outbox
from payments.orders.repository import decision_by_id
from payments.refunds import repository
from payments.refunds.errors import NotRefundable, OrderNotFound, RefundExists, RefundNotFound

REFUNDABLE = (PaymentOrderStatus.PAID, PaymentOrderStatus.NEEDS_REFUND)
UNFINISHED = (RefundStatus.REQUESTED, RefundStatus.PROCESSING)
FINE_REFUNDED_EVENT = "fine_refunded"
RETRIED_PREFIX = "上次失败："
# Between a refund's base number and its attempt (both providers accept "_" in a refund number).
ATTEMPT_SEPARATOR = "_"
# A WeChat refund in ABNORMAL is still held by WeChat (see the module docstring): not retried here.
NOT_RETRIED_FAILURES = ("wechat:ABNORMAL",)
MAX_FAILURE = 256
INT32_MAX = 2**31 - 1  # ids come from typed URLs; PostgreSQL refuses an integer beyond its column


class RefundAbnormal(Conflict):
    """The failed refund is still open at WeChat Pay (ABNORMAL): a new refund would be refused there."""

    def __init__(self, order_id: int) -> None:
        super().__init__(
            "refund_abnormal",
            "该退款在微信支付处于“退款异常”状态（如原支付银行卡已注销），请在微信支付商户平台处理，不能重新发起",
            order_id=order_id,
        )


def retryable(refund: PaymentRefund) -> bool:
    """Whether staff may send this refund again (``retry_refund``)."""
    return refund.status is RefundStatus.FAILED and not refund.failure.startswith(NOT_RETRIED_FAILURES)


def new_out_refund_no(now: datetime) -> str:
    """A refund's first number (26 characters: digits and capitals, as both providers accept)."""
    return f"RF{to_local(now):%Y%m%d%H%M%S}{secrets.token_hex(5).upper()}"


def _attempt(out_refund_no: str) -> tuple[str, int]:
    """(base number, attempt): ``RF…`` is attempt 1, ``RF…_3`` attempt 3."""
    base, separator, attempt = out_refund_no.rpartition(ATTEMPT_SEPARATOR)
    if separator and base and attempt.isdigit() and int(attempt) >= 2:
        return base, int(attempt)
    return out_refund_no, 1


def next_out_refund_no(out_refund_no: str) -> str:
    """The number of the next attempt of a refund: the same base, the attempt counted up."""
    base, attempt = _attempt(out_refund_no)
    return f"{base}{ATTEMPT_SEPARATOR}{attempt + 1}"


def is_earlier_number(refund: PaymentRefund, out_refund_no: str) -> bool:
    """Whether ``out_refund_no`` is one this refund carried before a retry (not its current one)."""
    base, attempt = _attempt(out_refund_no)
    current_base, current_attempt = _attempt(refund.out_refund_no)
    return base == current_base and attempt < current_attempt


def request_refund(
    session: Session, *, order_id: int, reason: str, staff_id: int | None, now: datetime
) -> PaymentRefund:
    """Record a refund of the order's full paid amount and enqueue ``payments.refund``."""
    order = repository.lock_order(session, order_id)
    if order is None:
        raise OrderNotFound()
    existing = repository.refund_of_order(session, order_id)
    if existing is not None:
        return existing
    if order.status not in REFUNDABLE or not order.paid_amount_fen:
        raise NotRefundable(order.status.value)
    refund = PaymentRefund(
        out_refund_no=new_out_refund_no(now),
        order_id=order_id,
        amount_fen=order.paid_amount_fen,
        reason=reason.strip()[:256],
        requested_by=staff_id,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(refund)
            session.flush()
    except IntegrityError as exc:
        raise RefundExists() from exc
    enqueue(session, "payments.refund", refund_id=refund.id)
    return refund


@dataclass(frozen=True)
class Retried:
    """What ``retry_refund`` did: ``retried`` False when the refund was not FAILED (answered as it is)."""

    refund: PaymentRefund
    retried: bool
    previous_out_refund_no: str = ""
    previous_failure: str = ""


def retry_refund(session: Session, *, refund_id: int, staff_id: int | None, now: datetime) -> Retried:
    """Send a FAILED refund again under a new ``out_refund_no`` and enqueue ``payments.refund``.

    Idempotent: a refund that is no longer FAILED (a double click, or the provider's late success) is
    answered as it is, with no new number and no job.
    """
    refund = repository.lock_refund(session, refund_id) if 0 < refund_id <= INT32_MAX else None
    if refund is None:
        raise RefundNotFound()
    if refund.status is not RefundStatus.FAILED:
        return Retried(refund, retried=False)
    if not retryable(refund):
        raise RefundAbnormal(refund.order_id)
    previous_no, previous_failure = refund.out_refund_no, refund.failure
    refund.out_refund_no = next_out_refund_no(previous_no)
    refund.status = RefundStatus.REQUESTED
    refund.failure = f"{RETRIED_PREFIX}{previous_no} {previous_failure}".strip()[:MAX_FAILURE]
    refund.provider_refund_id = ""  # the provider's id of the old number
    refund.finished_at = None
    if staff_id is not None:
        refund.requested_by = staff_id
    refund.updated_at = now
    session.add(refund)
    session.flush()
    enqueue(session, "payments.refund", refund_id=refund.id)
    return Retried(
        refund, retried=True, previous_out_refund_no=previous_no, previous_failure=previous_failure
    )


@dataclass(frozen=True)
class RefundCall:
    """What the provider needs to refund one payment (read in one transaction, sent outside any)."""

    refund_id: int
    channel: PaymentChannel
    out_trade_no: str
    out_refund_no: str
    amount_fen: int
    total_fen: int  # what the order was paid
    reason: str


@dataclass(frozen=True)
class RefundOutcome:
    """The provider's word on a refund."""

    status: RefundStatus  # PROCESSING, SUCCEEDED or FAILED (REQUESTED: nothing known yet)
    provider_refund_id: str = ""
    failure: str = ""
    finished_at: datetime | None = None
    # The refund number the provider answered about ("" when not told). An answer about an earlier
    # number (the refund was retried meanwhile) only counts when it says the money went back.
    out_refund_no: str = ""


def refund_call(session: Session, refund_id: int) -> RefundCall | None:
    """The call to make for an unfinished refund; None when it is finished (nothing to send)."""
    refund = repository.get_refund(session, refund_id)
    if refund is None:
        raise RefundNotFound()
    if refund.status not in UNFINISHED:
        return None
    order = repository.get_order(session, refund.order_id)
    if order is None:  # the foreign key makes this impossible
        raise OrderNotFound()
    return RefundCall(
        refund_id=refund_id,
        channel=order.channel,
        out_trade_no=order.out_trade_no,
        out_refund_no=refund.out_refund_no,
        amount_fen=refund.amount_fen,
        total_fen=order.paid_amount_fen or order.amount_fen,
        reason=refund.reason,
    )


def apply_outcome(session: Session, refund_id: int, outcome: RefundOutcome, *, now: datetime) -> bool:
    """Apply the provider's word to the refund (locked) and its order; True when something changed."""
    refund = repository.lock_refund(session, refund_id)
    if refund is None:
        raise RefundNotFound()
    return _apply(session, refund, outcome, now=now)


def _apply(session: Session, refund: PaymentRefund, outcome: RefundOutcome, *, now: datetime) -> bool:
    stale = bool(outcome.out_refund_no) and outcome.out_refund_no != refund.out_refund_no
    if stale and outcome.status is not RefundStatus.SUCCEEDED:
        return False  # about a number this refund no longer carries: its new attempt decides
    changed = False
    if outcome.provider_refund_id and not refund.provider_refund_id:
        refund.provider_refund_id = outcome.provider_refund_id[:64]
        changed = True
    if outcome.status is RefundStatus.SUCCEEDED and refund.status is not RefundStatus.SUCCEEDED:
        order = repository.lock_order(session, refund.order_id)
        if order is None:
            raise OrderNotFound()
        refund.status = RefundStatus.SUCCEEDED
        refund.failure = ""
        refund.finished_at = outcome.finished_at or now
        order.status = PaymentOrderStatus.REFUNDED
        order.updated_at = now
        session.add(order)
        _tell_citizen(session, order, refund)
        changed = True
    elif outcome.status is RefundStatus.FAILED and refund.status in UNFINISHED:
        refund.status = RefundStatus.FAILED
        refund.failure = outcome.failure[:256]
        refund.finished_at = outcome.finished_at or now
        changed = True
    elif outcome.status is RefundStatus.PROCESSING and refund.status is RefundStatus.REQUESTED:
        refund.status = RefundStatus.PROCESSING
        changed = True
    refund.updated_at = now  # also when unchanged: the poll waits again before asking about it
    session.add(refund)
    session.flush()
    return changed


def _tell_citizen(session: Session, order: PaymentOrder, refund: PaymentRefund) -> None:
    """The citizen who paid (when known) is told the money went back: an outbox message, sent after commit."""
    if order.citizen_id is None:
        return
    decision = decision_by_id(session, order.decision_id)
    if decision is None:  # the foreign key makes this impossible
        return
    outbox.record_standalone(
        session,
        event=FINE_REFUNDED_EVENT,
        citizen_id=order.citizen_id,
        payload={"decision_no": decision.decision_no, "amount_fen": refund.amount_fen},
    )
