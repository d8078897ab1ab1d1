"""Creating a payment order for a penalty decision, and reading its status.

- The caller proves they know the decision like the public lookup does (number and party name, the
  same ``fine_not_found`` for both mistakes, counted in the same per-address limit): the lookup is
  counted before anything else, so the endpoint commits also when an error is raised.
- The amount is frozen at creation: the fine plus the late fee of the local day of ``now``.
- One open order per decision and channel. A pending order that is still valid, for the same amount,
  payer and client, is answered again (with fresh client parameters); otherwise it is closed here and
  at its provider (job ``payments.close_at_provider``) and a new one is created. Two requests racing
  meet the partial unique index ``uq_payment_order_open``: the loser answers ``payment_in_progress``.
- The provider is called after the row is inserted (flushed, inside a SAVEPOINT) and before commit; when
  it fails the savepoint is rolled back, so no order is kept, and ``provider_unavailable`` is raised.
- An ``Idempotency-Key`` makes a retried request answer the order it created the first time.

Services never commit; the endpoint owns the unit of work.
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
from payments.orders import repository
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


def _place_at_provider(order: PaymentOrder, decision: PenaltyDecision, *, settings: Settings) -> str:
    """Create the order at its provider; returns the prepay reference (empty for an H5 wap pay)."""
    url = notify_url(settings, order.channel)
    if order.channel is PaymentChannel.WECHAT:
        return gateways.wechatpay_client(settings).create_jsapi_order(
            out_trade_no=order.out_trade_no,
            description=_description(decision),
            amount_fen=order.amount_fen,
            openid=order.payer_ref,
            time_expire=order.expires_at,
            notify_url=url,
        )
    if order.client is PaymentClient.MINIPROGRAM:
        return gateways.alipay_client(settings).create_mini_order(
            out_trade_no=order.out_trade_no,
            subject=_description(decision),
            amount_fen=order.amount_fen,
            buyer_open_id=order.payer_ref,
            time_expire=order.expires_at,
            notify_url=url,
        )
    return ""  # alipay.trade.wap.pay: the signed URL is the order; Alipay creates it when it is opened


def _supersede(session: Session, order: PaymentOrder, *, now: datetime) -> None:
    order.status = PaymentOrderStatus.CLOSED
    order.closed_at = now
    session.add(order)
    session.flush()
    enqueue(session, "payments.close_at_provider", order_id=order.id)


def create_order(
    session: Session,
    *,
    request: PaymentRequest,
    citizen: Citizen | None,
    client_ip: str,
    now: datetime,
    settings: Settings,
) -> PaymentOrderOut:
    """The order to pay the decision with (see the module docstring). Raises ``FineNotFound``,
    ``FineAlreadyPaid``, ``FineNotPayable``, ``PayerRequired``, ``ClientNotSupported``,
    ``IdempotencyKeyReused``, ``PaymentInProgress``, ``PaymentUnavailable`` or the lookup's rate limit."""
    fine = fines_service.lookup(
        session,
        decision_no=request.decision_no,
        party_name=request.party_name,
        client_ip=client_ip,
        now=now,
    )
    decision = repository.decision_by_no(session, fine.decision_no)
    if decision is None or decision.id is None:  # deleted since the lookup: answer like the lookup
        raise FineNotFound()

    if request.idempotency_key:
        earlier = repository.by_idempotency_key(session, request.idempotency_key)
        if earlier is not None:
            if earlier.decision_id != decision.id or earlier.channel is not request.channel:
                raise IdempotencyKeyReused()
            return order_out(earlier, decision, settings=settings, now=now)

    if decision.status is FineStatus.PAID:
        raise FineAlreadyPaid()
    if decision.status not in PAYABLE or fine.total_fen is None or fine.late_fee_fen is None:
        raise FineNotPayable(decision.status.value)
    payer = _payer(request, citizen)
    citizen_id = citizen.id if citizen is not None else None

    existing = repository.open_order(session, decision_id=decision.id, channel=request.channel)
    if (
        existing is not None
        and existing.expires_at > now + REUSE_MIN_LEFT
        and existing.amount_fen == fine.total_fen
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
        amount_fen=fine.total_fen,
        fine_fen=decision.amount_fen,
        late_fee_fen=fine.late_fee_fen,
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
            if existing is not None:  # expired, or the amount, payer or client changed
                _supersede(session, existing, now=now)
            repository.add_order(session, order)
            order.prepay_ref = _place_at_provider(order, decision, settings=settings)
            session.add(order)
            session.flush()
    except IntegrityError as exc:
        raise PaymentInProgress() from exc
    except (ProviderError, SignatureInvalid) as exc:
        log.warning("payment order %s not placed at %s: %s", order.out_trade_no, request.channel, exc.code)
        raise PaymentUnavailable(request.channel.value, exc.code) from exc
    log.info("payment order %s created (%s)", order.out_trade_no, request.channel)
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
