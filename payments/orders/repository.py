"""Every query of payment orders and provider notifications, including the row locks of settlement."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from core.models import (
    FineStatus,
    PaymentChannel,
    PaymentNotification,
    PaymentOrder,
    PaymentOrderStatus,
    PenaltyDecision,
)


def decision_by_id(session: Session, decision_id: int) -> PenaltyDecision | None:
    return session.get(PenaltyDecision, decision_id)


def decision_by_no(session: Session, decision_no: str) -> PenaltyDecision | None:
    return session.exec(
        select(PenaltyDecision).where(col(PenaltyDecision.decision_no) == decision_no)
    ).first()


def lock_decision_by_no(session: Session, decision_no: str) -> PenaltyDecision | None:
    """The decision, locked until the transaction ends (PostgreSQL; SQLite serialises writers) and read
    afresh. Every path that pays or creates orders for a decision locks it first, then order rows."""
    return session.exec(
        select(PenaltyDecision)
        .where(col(PenaltyDecision.decision_no) == decision_no)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def by_out_trade_no(session: Session, out_trade_no: str) -> PaymentOrder | None:
    return session.exec(select(PaymentOrder).where(col(PaymentOrder.out_trade_no) == out_trade_no)).first()


def by_idempotency_key(session: Session, key: str) -> PaymentOrder | None:
    """The newest order created with this key (``ix_payment_order_idempotency_key``)."""
    return session.exec(
        select(PaymentOrder)
        .where(col(PaymentOrder.idempotency_key) == key)
        .order_by(col(PaymentOrder.id).desc())
        .limit(1)
    ).first()


def open_order(session: Session, *, decision_id: int, channel: PaymentChannel) -> PaymentOrder | None:
    """The pending order of a decision and channel (at most one: ``uq_payment_order_open``)."""
    return session.exec(
        select(PaymentOrder).where(
            col(PaymentOrder.decision_id) == decision_id,
            col(PaymentOrder.channel) == channel,
            col(PaymentOrder.status) == PaymentOrderStatus.PENDING,
        )
    ).first()


OPEN_ORDER_INDEX = "uq_payment_order_open"
# SQLite names the columns of a violated unique index, not the index.
OPEN_ORDER_COLUMNS_SQLITE = "payment_order.decision_id, payment_order.channel"


def is_open_order_conflict(exc: IntegrityError) -> bool:
    """Whether ``exc`` is a violation of ``uq_payment_order_open`` (a second open order of a decision and
    channel) and not of any other constraint."""
    diag = getattr(exc.orig, "diag", None)  # psycopg
    if diag is not None:
        return getattr(diag, "constraint_name", None) == OPEN_ORDER_INDEX
    message = str(exc.orig)
    return "UNIQUE constraint failed" in message and message.rstrip().endswith(OPEN_ORDER_COLUMNS_SQLITE)


def add_order(session: Session, order: PaymentOrder) -> PaymentOrder:
    session.add(order)
    session.flush()
    return order


def add_notification(session: Session, notification: PaymentNotification) -> PaymentNotification:
    session.add(notification)
    session.flush()
    return notification


def lock_decision(session: Session, decision_id: int) -> PenaltyDecision:
    """The decision row, locked and read afresh (locking it again in one transaction is a no-op)."""
    return session.exec(
        select(PenaltyDecision)
        .where(col(PenaltyDecision.id) == decision_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def lock_order(session: Session, out_trade_no: str) -> PaymentOrder | None:
    """The order, locked after its decision, both read afresh (never a stale copy in the session).

    Two statements: the decision is found through the order's ``decision_id`` in a subquery (which
    ``FOR UPDATE`` does not lock; the id never changes) and locked, then the order row is locked. The
    locked decision stays in the session's identity map, where ``settle_paid`` takes it."""
    decision_of_order = (
        select(PaymentOrder.decision_id)
        .where(col(PaymentOrder.out_trade_no) == out_trade_no)
        .scalar_subquery()
    )
    decision = session.exec(
        select(PenaltyDecision)
        .where(col(PenaltyDecision.id) == decision_of_order)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if decision is None:
        return None
    _remember_locked(session, decision)
    query = (
        select(PaymentOrder)
        .where(col(PaymentOrder.out_trade_no) == out_trade_no)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(query).first()


# The decisions locked by ``lock_order`` in the session's current transaction: the identity map holds
# objects weakly, so without a reference here the locked copy would be gone by the time it is needed.
_LOCKED_DECISIONS = "zhcg_locked_decisions"


def _remember_locked(session: Session, decision: PenaltyDecision) -> None:
    transaction = session.get_transaction()
    memo: tuple[object, dict[int | None, PenaltyDecision]] | None = session.info.get(_LOCKED_DECISIONS)
    if memo is None or memo[0] is not transaction:
        memo = session.info[_LOCKED_DECISIONS] = (transaction, {})
    memo[1][decision.id] = decision


def locked_decision(session: Session, order: PaymentOrder) -> PenaltyDecision:
    """The order's decision as ``lock_order`` locked it in this transaction (no statement), or locked
    now when it was not (a caller that locked nothing yet)."""
    memo = session.info.get(_LOCKED_DECISIONS)
    if memo is not None and memo[0] is session.get_transaction():
        decision: PenaltyDecision | None = memo[1].get(order.decision_id)
        if decision is not None:
            return decision
    return lock_decision(session, order.decision_id)


# The two statements of settlement that run on every payment, built once as Core statements on the
# tables: the ORM's bulk UPDATE/INSERT paths (``update(PaymentOrder)``, ``insert(PaymentNotification)``)
# cost about a third of a notification's handler time in a profile, for statements that load nothing.
_ORDERS: Table = PaymentOrder.__table__  # type: ignore[attr-defined]
_NOTIFICATIONS: Table = PaymentNotification.__table__  # type: ignore[attr-defined]
_CLOSE_SIBLINGS = (
    update(_ORDERS)
    .where(
        _ORDERS.c.decision_id == bindparam("of_decision"),
        _ORDERS.c.status == bindparam("pending", type_=_ORDERS.c.status.type),
        _ORDERS.c.id != bindparam("paid_id"),
    )
    .values(status=bindparam("closed", type_=_ORDERS.c.status.type), closed_at=bindparam("closed_time"))
    .returning(_ORDERS.c.id)
)
_DECISIONS: Table = PenaltyDecision.__table__  # type: ignore[attr-defined]
_MARK_ORDER_PAID = (
    update(_ORDERS)
    .where(_ORDERS.c.id == bindparam("order_ref"))
    .values(
        status=bindparam("paid_status", type_=_ORDERS.c.status.type),
        provider_txn_id=bindparam("txn_id", type_=_ORDERS.c.provider_txn_id.type),
        paid_at=bindparam("paid_time", type_=_ORDERS.c.paid_at.type),
        paid_amount_fen=bindparam("paid_fen", type_=_ORDERS.c.paid_amount_fen.type),
        receipt_no=bindparam("receipt", type_=_ORDERS.c.receipt_no.type),
    )
)
_MARK_DECISION_PAID = (
    update(_DECISIONS)
    .where(_DECISIONS.c.id == bindparam("decision_ref"))
    .values(status=bindparam("fine_status", type_=_DECISIONS.c.status.type))
)
_INSERT_ONCE = {
    name: dialect_insert(_NOTIFICATIONS)
    .on_conflict_do_nothing(index_elements=[_NOTIFICATIONS.c.dedupe_key])
    .returning(_NOTIFICATIONS.c.id)
    for name, dialect_insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


def mark_paid(
    session: Session,
    order: PaymentOrder,
    decision: PenaltyDecision,
    *,
    provider_txn_id: str,
    paid_at: datetime,
    paid_fen: int,
    receipt_no: str,
) -> None:
    """The order paid and its decision with it: two prebuilt UPDATEs (a unique index that refuses them
    raises ``IntegrityError`` as a flush would), then the loaded objects hold the new values as
    committed state, so no flush writes them again."""
    connection = session.connection()
    connection.execute(
        _MARK_ORDER_PAID,
        {
            "order_ref": order.id,
            "paid_status": PaymentOrderStatus.PAID,
            "txn_id": provider_txn_id,
            "paid_time": paid_at,
            "paid_fen": paid_fen,
            "receipt": receipt_no,
        },
    )
    connection.execute(_MARK_DECISION_PAID, {"decision_ref": decision.id, "fine_status": FineStatus.PAID})
    paid = {
        "status": PaymentOrderStatus.PAID,
        "provider_txn_id": provider_txn_id,
        "paid_at": paid_at,
        "paid_amount_fen": paid_fen,
        "receipt_no": receipt_no,
    }
    for key, value in paid.items():
        set_committed_value(order, key, value)
    set_committed_value(decision, "status", FineStatus.PAID)


def close_pending_siblings(session: Session, paid: PaymentOrder) -> list[int]:
    """Close the decision's other pending orders in one statement; returns their ids. The caller holds
    the decision's lock, so no sibling can be created or paid meanwhile. A sibling already loaded in the
    session is expired, so it is read afresh if used."""
    rows = session.connection().execute(
        _CLOSE_SIBLINGS,
        {
            "of_decision": paid.decision_id,
            "pending": PaymentOrderStatus.PENDING,
            "paid_id": paid.id,
            "closed": PaymentOrderStatus.CLOSED,
            "closed_time": paid.paid_at,
        },
    )
    closed = [int(row_id) for row_id in rows.scalars()]
    for order_id in closed:
        loaded = session.identity_map.get(session.identity_key(PaymentOrder, order_id))
        if loaded is not None:
            session.expire(loaded)
    return closed


def add_notification_once(session: Session, notification: PaymentNotification) -> bool:
    """Insert a notification under its ``dedupe_key`` unless the key is taken (``ON CONFLICT DO
    NOTHING``, PostgreSQL and SQLite): False when it was, and nothing is inserted. A concurrent insert
    of the same key waits for the first transaction and then does nothing, like a unique violation
    without aborting the transaction — so no savepoint is needed around it."""
    connection = session.connection()
    values = notification.model_dump(exclude={"id"})
    inserted = connection.execute(_INSERT_ONCE[connection.dialect.name], values).scalar_one_or_none()
    if inserted is None:
        return False
    notification.id = int(inserted)
    return True
