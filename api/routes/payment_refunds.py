"""WeChat Pay's refund notifications: ``POST /api/v1/payments/notify/wechat/refund``.

The answer is what WeChat Pay expects: 204 (no body) when the notification was taken (applied, ignored,
a duplicate), otherwise 400 (refused: unverifiable or not matching our books) or 503 (WeChat Pay not
configured) with ``{"code": "FAIL", "message": …}``, and WeChat Pay retries. The request is the unit of
work: a refused notification is still stored (and flagged) when we answer 400.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from api.deps import SessionDep, SettingsDep
from api.routes.payments import WECHAT_FAIL
from core.kit.clock import utcnow
from payments.gateways import wechatpay_client
from payments.providers import ProviderError
from payments.refunds.notifications import receive_wechat_refund

router = APIRouter(prefix="/api/v1/payments/notify", tags=["payments"])


async def raw_body(request: Request) -> bytes:
    """The body exactly as sent: the signature covers these bytes."""
    return await request.body()


def _fail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": "FAIL", "message": message}, status_code=status)


@router.post(
    "/wechat/refund",
    status_code=204,
    summary="微信支付退款结果通知",
    responses={
        204: {"description": "已接收（已处理、忽略或重复）"},
        400: {"description": '{"code": "FAIL"}：验签或核对失败，微信将重试', **WECHAT_FAIL},
        503: {"description": '{"code": "FAIL"}：未配置微信支付', **WECHAT_FAIL},
    },
)
def wechat_refund_notify(
    request: Request, body: Annotated[bytes, Depends(raw_body)], session: SessionDep, settings: SettingsDep
) -> Response:
    try:
        client = wechatpay_client(settings)
    except ProviderError as exc:
        return _fail(503, exc.message)
    answer = receive_wechat_refund(
        session,
        client=client,
        headers=dict(request.headers.items()),
        body=body,
        client_ip=request.client.host if request.client else "",
        now=utcnow(),
    )
    if not answer.accepted:
        return _fail(400, f"通知未通过校验（{answer.reason}）")
    return Response(status_code=204)
