"""Creating a payment order for a penalty decision, and reading its status.

- The caller proves they know the decision like the public lookup does (number and party name, the
  same ``fine_not_found`` for both mistakes, counted in the same per-address limit): the lookup is
  counted before anything else, so the endpoint commits also when an error is raised.
- The decision row is locked (``SELECT … FOR UPDATE``) before its status is checked — the same lock
  order as settlement (decision, then orders): an order is never created for a decision being paid.
- The amount is frozen at creation: the fine plus the late fee of the local day of ``now``.
- One open order per decision and channel. A pending order that is still valid, for the same amount,
  payer and client, is answered again (with fresh client parameters); otherwise it is closed here and
  at its provider (job ``payments.close_at_provider``) and a new one is created. Two requests racing
  meet the partial unique index ``uq_payment_order_open``: the loser answers ``payment_in_progress``.
- The provider is never called inside a transaction (its timeouts are 10–15 s; SQLite has one write
  lock, PostgreSQL would hold row and advisory locks). Two units of work around the call, both owned by
  the endpoint: ``start_order`` inserts the order pending with an empty ``prepay_ref`` and returns a
  ``Placement`` (commit); ``place_at_provider`` calls the provider with no transaction open;
  ``finish_order`` stores the ``prepay_ref``, or closes the order here and (job) at its provider and
  raises ``provider_unavailable`` (commit). Meanwhile a request of the same payer finds the order in
  flight (pending, no ``prepay_ref``) and answers ``payment_in_progress`` (retryable); an order stuck in
  flight longer than ``IN_FLIGHT_MAX`` (a crashed request) is superseded like an expired one.
- An ``Idempotency-Key`` makes a retried request answer the order it created the first time — only for
  the same decision, channel, client and payer (anything else is ``idempotency_key_reused``: a paySign
  is never handed to another payer). A failed attempt does not keep its key.

Services never commit; the endpoint owns the units of work.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.jobs import enqueue
from core.kit.clock import to_local
from core.models import (
    Citizen,
    FineStatus,
    PaymentChannel,
    PaymentClient,
    PaymentOrder,
    PaymentOrderStatus,
    PenaltyDecision,
)
from core.settings import Settings
from payments import gateways
from payments.fines import service as fines_service
from payments.fines.errors import FineNotFound
from payments.fines.fees import yuan
from payments.orders import repository, settle
from payments.orders.errors import (
    ClientNotSupported,
    FineAlreadyPaid,
    FineNotPayable,
    IdempotencyKeyReused,
    PayerRequired,
    PaymentInProgress,
    PaymentNotFound,
    PaymentUnavailable,
)
from payments.orders.schemas import AlipayParams, PaymentOrderOut, PaymentStatusOut, WechatPayParams
from payments.providers import ProviderError, SignatureInvalid

log = logging.getLogger("zhcg.payments.orders")

PAYABLE = (FineStatus.UNPAID, FineStatus.DEFERRED)
# A pending order is answered again only while the payer still has this long to pay it.
REUSE_MIN_LEFT = timedelta(seconds=60)
# An order inserted but not placed at its provider after this long belongs to a request that died.
IN_FLIGHT_MAX = timedelta(minutes=2)
NOTIFY_PATHS = {
    PaymentChannel.WECHAT: "/api/v1/payments/notify/wechat",
    PaymentChannel.ALIPAY: "/api/v1/payments/notify/alipay",
}


@dataclass(frozen=True)
class PaymentRequest:
    decision_no: str
    party_name: str
    channel: PaymentChannel
    client: PaymentClient
    payer_openid: str | None = None
    buyer_open_id: str | None = None
    idempotency_key: str | None = None


def new_out_trade_no(now: datetime) -> str:
    """``FP`` + local yyyymmddHHMMSS + 64 random bits in hex: 32 characters of [0-9A-Z]."""
    return f"FP{to_local(now):%Y%m%d%H%M%S}{secrets.token_hex(8).upper()}"


def notify_url(settings: Settings, channel: PaymentChannel) -> str:
    configured = (
        settings.wechatpay.notify_url if channel is PaymentChannel.WECHAT else settings.alipay.notify_url
    )
    return configured or settings.app.base_url.rstrip("/") + NOTIFY_PATHS[channel]


def _description(decision: PenaltyDecision) -> str:
    return f"罚款缴纳 {decision.decision_no}"[:127]


def _payer(request: PaymentRequest, citizen: Citizen | None) -> str:
    if request.channel is PaymentChannel.WECHAT:
        if request.client is not PaymentClient.MINIPROGRAM:
            raise ClientNotSupported(request.channel.value, request.client.value)
        openid = request.payer_openid or (citizen.openid if citizen is not None else None)
        if not openid:
            raise PayerRequired(request.channel.value)
        return openid
    if request.client is PaymentClient.MINIPROGRAM:
        if not request.buyer_open_id:
            raise PayerRequired(request.channel.value)
        return request.buyer_open_id
    return ""


def _client_params(
    order: PaymentOrder, decision: PenaltyDecision, *, settings: Settings, now: datetime
) -> tuple[WechatPayParams | None, AlipayParams | None]:
    """What the payer's client needs to pay a pending order (derived locally, no provider call)."""
    if order.status is not PaymentOrderStatus.PENDING:
        return None, None
    if order.channel is PaymentChannel.WECHAT:
        params = gateways.wechatpay_client(settings).jsapi_params(order.prepay_ref, now=now.timestamp())
        return WechatPayParams(**params.as_dict()), None
    if order.client is PaymentClient.MINIPROGRAM:
        return None, AlipayParams(trade_no=order.prepay_ref)
    url = gateways.alipay_client(settings).wap_pay_url(
        out_trade_no=order.out_trade_no,
        subject=_description(decision),
        amount_fen=order.amount_fen,
        time_expire=order.expires_at,
        notify_url=notify_url(settings, PaymentChannel.ALIPAY),
    )
    return None, AlipayParams(pay_url=url)


def order_out(
    order: PaymentOrder, decision: PenaltyDecision, *, settings: Settings, now: datetime
) -> PaymentOrderOut:
    wechat, alipay = _client_params(order, decision, settings=settings, now=now)
    return PaymentOrderOut(
        out_trade_no=order.out_trade_no,
        channel=order.channel,
        client=order.client,
        status=order.status,
        amount_fen=order.amount_fen,
        amount_yuan=yuan(order.amount_fen),
        fine_fen=order.fine_fen,
        late_fee_fen=order.late_fee_fen,
        expires_at=order.expires_at,
        wechat=wechat,
        alipay=alipay,
    )


@dataclass(frozen=True)
class Placement:
    """A pending order committed without its provider reference, to be placed at the provider with no
    transaction open (plain values: nothing here touches the session)."""

    out_trade_no: str
    channel: PaymentChannel
    client: PaymentClient
    amount_fen: int
    payer_ref: str
    expires_at: datetime
    description: str


@dataclass(frozen=True)
class Placed:
    """What the provider answered: its prepay reference, or the error code when it failed."""

    placement: Placement
    prepay_ref: str = ""
    failure: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.failure)


def needs_provider_call(channel: PaymentChannel, client: PaymentClient) -> bool:
    """Alipay H5 needs none: the signed wap URL is the order, Alipay creates it when it is opened."""
    return channel is PaymentChannel.WECHAT or client is PaymentClient.MINIPROGRAM


def _in_flight(order: PaymentOrder) -> bool:
    """Pending, inserted, and not yet placed at its provider (``finish_order`` has not run)."""
    return (
        order.status is PaymentOrderStatus.PENDING
        and not order.prepay_ref
        and needs_provider_call(order.channel, order.client)
    )


def place_at_provider(placement: Placement, *, settings: Settings) -> Placed:
    """Create the order at its provider. Call it with no transaction open; never raises for the
    provider's failures (``finish_order`` records them)."""
    url = notify_url(settings, placement.channel)
    try:
        if placement.channel is PaymentChannel.WECHAT:
            ref = gateways.wechatpay_client(settings).create_jsapi_order(
                out_trade_no=placement.out_trade_no,
                description=placement.description,
                amount_fen=placement.amount_fen,
                openid=placement.payer_ref,
                time_expire=placement.expires_at,
                notify_url=url,
            )
        else:
            ref = gateways.alipay_client(settings).create_mini_order(
                out_trade_no=placement.out_trade_no,
                subject=placement.description,
                amount_fen=placement.amount_fen,
                buyer_open_id=placement.payer_ref,
                time_expire=placement.expires_at,
                notify_url=url,
            )
    except (ProviderError, SignatureInvalid) as exc:
        log.warning(
            "payment order %s not placed at %s: %s", placement.out_trade_no, placement.channel, exc.code
        )
        return Placed(placement, failure=exc.code or "provider_error")
    if not ref:
        log.warning(
            "payment order %s: %s answered no prepay reference", placement.out_trade_no, placement.channel
        )
        return Placed(placement, failure="provider_bad_reply")
    return Placed(placement, prepay_ref=ref)


def _supersede(session: Session, order: PaymentOrder, *, now: datetime) -> None:
    order.status = PaymentOrderStatus.CLOSED
    order.closed_at = now
    session.add(order)
    session.flush()
    enqueue(session, "payments.close_at_provider", order_id=order.id)


def start_order(
    session: Session,
    *,
    request: PaymentRequest,
    citizen: Citizen | None,
    client_ip: str,
    now: datetime,
    settings: Settings,
) -> PaymentOrderOut | Placement:
    """Transaction 1 (see the module docstring): the answer when no provider call is needed (an order
    answered again, an idempotent retry, Alipay H5), or the ``Placement`` of a new pending order that the
    endpoint commits and then places. Raises ``FineNotFound``, ``FineAlreadyPaid``, ``FineNotPayable``,
    ``PayerRequired``, ``ClientNotSupported``, ``IdempotencyKeyReused``, ``PaymentInProgress`` or the
    lookup's rate limit."""
    fine = fines_service.lookup(
        session,
        decision_no=request.decision_no,
        party_name=request.party_name,
        client_ip=client_ip,
        now=now,
    )
    decision = repository.lock_decision_by_no(session, fine.decision_no)
    if decision is None or decision.id is None:  # deleted since the lookup: answer like the lookup
        raise FineNotFound()
    payer = _payer(request, citizen)

    if request.idempotency_key:
        earlier = repository.by_idempotency_key(session, request.idempotency_key)
        if earlier is not None:
            if (earlier.decision_id, earlier.channel, earlier.client, earlier.payer_ref) != (
                decision.id,
                request.channel,
                request.client,
                payer,
            ):
                raise IdempotencyKeyReused()
            if not _in_flight(earlier):
                return order_out(earlier, decision, settings=settings, now=now)
            if earlier.created_at > now - IN_FLIGHT_MAX:
                raise PaymentInProgress()
            # stuck in flight (its request died): superseded below like an expired order

    if decision.status is FineStatus.PAID:
        raise FineAlreadyPaid()
    current = fines_service.fine_out(decision, now=now)  # from the locked row, not the lookup's read
    if decision.status not in PAYABLE or current.total_fen is None or current.late_fee_fen is None:
        raise FineNotPayable(decision.status.value)
    citizen_id = citizen.id if citizen is not None else None

    existing = repository.open_order(session, decision_id=decision.id, channel=request.channel)
    if existing is not None and _in_flight(existing):
        if existing.payer_ref == payer and existing.created_at > now - IN_FLIGHT_MAX:
            raise PaymentInProgress()
    elif (
        existing is not None
        and existing.expires_at > now + REUSE_MIN_LEFT
        and existing.amount_fen == current.total_fen
        and existing.payer_ref == payer
        and existing.client is request.client
    ):
        if existing.citizen_id is None and citizen_id is not None:
            existing.citizen_id = citizen_id
        if existing.idempotency_key is None and request.idempotency_key:
            existing.idempotency_key = request.idempotency_key
        session.add(existing)
        session.flush()
        return order_out(existing, decision, settings=settings, now=now)

    order = PaymentOrder(
        out_trade_no=new_out_trade_no(now),
        decision_id=decision.id,
        channel=request.channel,
        client=request.client,
        amount_fen=current.total_fen,
        fine_fen=decision.amount_fen,
        late_fee_fen=current.late_fee_fen,
        citizen_id=citizen_id,
        payer_ref=payer,
        # whole seconds: the providers take the expiry to the second, so both sides agree exactly
        expires_at=(now + timedelta(seconds=settings.payments.order_ttl_s)).replace(microsecond=0),
        idempotency_key=request.idempotency_key or None,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            if existing is not None:  # expired, stuck, or the amount, payer or client changed
                _supersede(session, existing, now=now)
            repository.add_order(session, order)
    except IntegrityError as exc:
        if repository.is_open_order_conflict(exc):
            raise PaymentInProgress() from exc
        raise
    if not needs_provider_call(order.channel, order.client):
        log.info("payment order %s created (%s)", order.out_trade_no, order.channel)
        return order_out(order, decision, settings=settings, now=now)
    return Placement(
        out_trade_no=order.out_trade_no,
        channel=order.channel,
        client=order.client,
        amount_fen=order.amount_fen,
        payer_ref=order.payer_ref,
        expires_at=order.expires_at,
        description=_description(decision),
    )


def finish_order(session: Session, *, placed: Placed, now: datetime, settings: Settings) -> PaymentOrderOut:
    """Transaction 2 (see the module docstring), with the decision and the order locked
    (``settle.lock_order``). Raises ``PaymentUnavailable`` when the provider failed (the order is closed
    here, and at the provider by a job: it may have been created before a timeout; the endpoint commits
    that), and ``FineAlreadyPaid``, ``FineNotPayable`` or ``PaymentInProgress`` when the order was closed
    meanwhile (the decision paid, cancelled or deferred, or another payer's order replaced it)."""
    placement = placed.placement
    order = settle.lock_order(session, placement.out_trade_no)
    if order is None:  # never deleted; answer like a provider failure rather than a 500
        raise PaymentUnavailable(placement.channel.value, "order_missing")
    decision = settle.lock_decision(session, order.decision_id)
    if placed.failed:
        order.idempotency_key = None  # a failed attempt does not keep its key: a retry creates anew
        if order.status is PaymentOrderStatus.PENDING:
            order.status = PaymentOrderStatus.CLOSED
            order.closed_at = now
        session.add(order)
        session.flush()
        enqueue(session, "payments.close_at_provider", order_id=order.id)
        raise PaymentUnavailable(placement.channel.value, placed.failure)
    order.prepay_ref = placed.prepay_ref
    session.add(order)
    session.flush()
    if order.status is not PaymentOrderStatus.PENDING:
        # Closed while the provider call was in flight; its close job may have run before the provider
        # had the order: close it there again.
        enqueue(session, "payments.close_at_provider", order_id=order.id)
        if decision.status is FineStatus.PAID:
            raise FineAlreadyPaid()
        if decision.status not in PAYABLE:
            raise FineNotPayable(decision.status.value)
        raise PaymentInProgress()
    log.info("payment order %s created (%s)", order.out_trade_no, order.channel)
    return order_out(order, decision, settings=settings, now=now)


def order_status(session: Session, *, out_trade_no: str) -> PaymentStatusOut:
    order = repository.by_out_trade_no(session, out_trade_no)
    if order is None:
        raise PaymentNotFound()
    return PaymentStatusOut(
        out_trade_no=order.out_trade_no,
        channel=order.channel,
        status=order.status,
        amount_fen=order.amount_fen,
        amount_yuan=yuan(order.amount_fen),
        fine_fen=order.fine_fen,
        late_fee_fen=order.late_fee_fen,
        expires_at=order.expires_at,
        paid_at=order.paid_at,
        receipt_no=order.receipt_no,
    )
