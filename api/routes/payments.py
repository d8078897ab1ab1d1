"""Paying a fine online: create a payment order, read its status, and the providers' notifications."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from api.deps import SessionDep, SettingsDep
from api.errors import BODY_RESPONSES, PROBLEM_RESPONSES, Problem, json_problems, problem_responses
from core.auth.service import NotAuthenticated, principal_for
from core.errors import DomainError, Forbidden
from core.kit.clock import utcnow
from core.models import Citizen
from payments import gateways
from payments.alipay import NOTIFY_ANSWER
from payments.orders import notify
from payments.orders import service as orders_service
from payments.orders.schemas import PayerText, PaymentIn, PaymentOrderOut, PaymentStatusOut

router = APIRouter(tags=["payments"], responses=PROBLEM_RESPONSES)

# The providers' notifications are answered in their own formats (WeChat Pay: 204 or a JSON
# ``{"code": "FAIL", ...}``; Alipay: the plain text ``success`` or ``fail``); a provider that is not
# configured here is a 503 problem.
WECHAT_FAIL: dict[str, Any] = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string", "enum": ["FAIL"]}, "message": {"type": "string"}},
            }
        }
    }
}
NOT_CONFIGURED: dict[int | str, dict[str, Any]] = {
    503: {"model": Problem, "description": "未配置该支付渠道（provider_not_configured）"}
}

IDEMPOTENCY_KEY = r"^[!-~]{1,128}$"
OUT_TRADE_NO = Annotated[str, Path(pattern=r"^[0-9A-Za-z]{1,32}$", description="支付订单号")]


async def _raw_body(request: Request) -> bytes:
    """The exact bytes received (signatures cover them); read here so the handlers can stay
    synchronous and run in the thread pool, off the event loop."""
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _optional_citizen(request: Request, session: SessionDep, settings: SettingsDep) -> Citizen | None:
    """The signed-in citizen when a bearer token is sent; anonymous otherwise (a bad token is a 401)."""
    header = request.headers.get("authorization", "")
    if not header.strip():
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated()
    principal = principal_for(session, settings, token.strip())
    if not isinstance(principal, Citizen):
        raise Forbidden("citizen_only", "该接口仅供市民使用")
    return principal


@router.post(
    "/api/v1/fines/{decision_no}/payments",
    response_model=PaymentOrderOut,
    summary="为罚款决定书创建支付订单（微信支付 / 支付宝）",
    responses={
        **BODY_RESPONSES,
        **problem_responses(401, 403),
        404: {"model": Problem, "description": "决定书不存在或当事人不符（fine_not_found）"},
        409: {
            "model": Problem,
            "description": "已缴纳、不可缴款或正在创建订单（payment_in_progress，可重试）",
        },
        429: {"model": Problem, "description": "查询过于频繁"},
    },
)
def create_payment(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    decision_no: Annotated[PayerText, Path(min_length=1, max_length=64, description="决定书编号")],
    body: PaymentIn,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY, description="重试时保持不变（可见 ASCII）"),
    ] = None,
) -> PaymentOrderOut:
    """Two units of work around the provider call, none open during it (see ``orders_service``)."""
    citizen = _optional_citizen(request, session, settings)
    payment_request = orders_service.PaymentRequest(
        decision_no=decision_no,
        party_name=body.party_name,
        channel=body.channel,
        client=body.client,
        payer_openid=body.payer_openid,
        buyer_open_id=body.buyer_open_id,
        idempotency_key=idempotency_key,
    )
    try:
        started = orders_service.start_order(
            session,
            request=payment_request,
            citizen=citizen,
            client_ip=_client_ip(request),
            now=utcnow(),
            settings=settings,
        )
    except DomainError:
        # The lookup was counted toward the rate limit and must stay counted; anything else the
        # service did before raising was rolled back to its savepoint.
        session.commit()
        raise
    session.commit()  # the new order (or the answer) is committed; no transaction stays open
    if isinstance(started, orders_service.Placement):
        placed = orders_service.place_at_provider(started, settings=settings)
        try:
            started = orders_service.finish_order(session, placed=placed, now=utcnow(), settings=settings)
        except DomainError:
            session.commit()  # the failed order is kept closed and its close job queued
            raise
    response.headers["Cache-Control"] = "no-store"
    return started


@router.get(
    "/api/v1/payments/{out_trade_no}",
    response_model=PaymentStatusOut,
    summary="查询支付订单状态",
    responses={404: {"model": Problem, "description": "订单不存在（payment_not_found）"}},
)
def payment_status(response: Response, session: SessionDep, out_trade_no: OUT_TRADE_NO) -> PaymentStatusOut:
    status = orders_service.order_status(session, out_trade_no=out_trade_no)
    response.headers["Cache-Control"] = "no-store"
    return status


@router.post(
    "/api/v1/payments/notify/wechat",
    summary="微信支付结果通知",
    status_code=204,
    responses={
        204: {"description": "已接收"},
        400: {"description": '{"code": "FAIL"}：验签或核对失败，微信将重试', **WECHAT_FAIL},
        **NOT_CONFIGURED,
    },
)
def wechat_notify(request: Request, session: SessionDep, settings: SettingsDep, body: RawBody) -> Response:
    client = gateways.wechatpay_client(settings)
    result = notify.handle_wechat(
        session,
        client=client,
        headers=dict(request.headers),
        body=body,
        client_ip=_client_ip(request),
        now=utcnow(),
    )
    if result.accepted:
        return Response(status_code=204)
    return JSONResponse({"code": "FAIL", "message": f"通知未通过校验（{result.reason}）"}, status_code=400)


@router.post(
    "/api/v1/payments/notify/alipay",
    summary="支付宝异步通知",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "success：已接收",
            "content": {"text/plain": {"schema": {"type": "string", "enum": [NOTIFY_ANSWER]}}},
        },
        400: {
            "description": "fail：验签或核对失败，支付宝将重试",
            "content": {"text/plain": {"schema": {"type": "string", "enum": ["fail"]}}},
        },
        **json_problems({**PROBLEM_RESPONSES, **NOT_CONFIGURED}),
    },
)
def alipay_notify(
    request: Request, session: SessionDep, settings: SettingsDep, body: RawBody
) -> PlainTextResponse:
    # application/x-www-form-urlencoded in UTF-8 (charset=utf-8 is part of the signed form)
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    client = gateways.alipay_client(settings)
    result = notify.handle_alipay(
        session, client=client, form=form, raw_body=body, client_ip=_client_ip(request), now=utcnow()
    )
    if result.accepted:
        return PlainTextResponse(NOTIFY_ANSWER)
    return PlainTextResponse("fail", status_code=400)
