"""The 12345 work-order exchange: the platform transfers orders here (docs/exchange-12345.md).

Not a citizen or staff endpoint: the caller is the 12345 platform, authenticated by the HMAC signature
of each request (``core.exchange.signing``), not by a bearer token.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.deps import SessionDep, SettingsDep
from api.errors import Problem
from core.errors import Invalid
from core.exchange import signing
from core.exchange.errors import ExchangeNotConfigured
from core.exchange.intake import receive_order
from core.exchange.schemas import OrderAnswer, OrderIn

MAX_BODY_BYTES = 64 * 1024

router = APIRouter(
    prefix="/api/v1/exchange/12345",
    tags=["12345"],
    responses={
        401: {"model": Problem, "description": "signature_invalid / timestamp_expired / nonce_reused"},
        409: {"model": Problem, "description": "order_conflict：同一工单号的内容不同"},
        422: {"model": Problem, "description": "invalid_request：请求体不正确"},
        503: {"model": Problem, "description": "exchange_unavailable：对接尚未配置"},
    },
)


async def raw_body(request: Request) -> bytes:
    """The exact bytes that were signed."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise Invalid("invalid_request", f"请求体不能超过 {MAX_BODY_BYTES // 1024} KB")
    return body


def _headers(request: Request) -> dict[str, str]:
    names = (signing.HEADER_APP_ID, signing.HEADER_TIMESTAMP, signing.HEADER_NONCE, signing.HEADER_SIGNATURE)
    return {name: request.headers.get(name, "") for name in names}


_ORDER_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": OrderIn.model_json_schema()}},
    }
}


@router.post(
    "/orders",
    response_model=OrderAnswer,
    summary="接收 12345 转办工单（签名请求，按工单号幂等）",
    openapi_extra=_ORDER_SCHEMA,
)
def receive(
    request: Request,
    body: Annotated[bytes, Depends(raw_body)],
    session: SessionDep,
    settings: SettingsDep,
) -> OrderAnswer:
    config = settings.gov12345
    secret = config.secret.get_secret_value()
    if not (config.app_id and secret):
        raise ExchangeNotConfigured("ZHCG_GOV12345__APP_ID / SECRET")
    nonce = signing.verify(
        _headers(request),
        body,
        app_id=config.app_id,
        secret=secret,
        window_s=config.timestamp_window_s,
        now_s=time.time(),
    )
    signing.claim_nonce(signing.nonce_store(session, settings), nonce)
    try:
        order = OrderIn.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {**error, "loc": ("body", *error["loc"])}
                for error in exc.errors(include_url=False, include_context=False)
            ]
        ) from None
    received = receive_order(session, settings, order=order)
    return OrderAnswer(case_no=received.case_no)
