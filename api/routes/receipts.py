"""Electronic payment receipts (电子缴款凭证) and the citizen's payment history (我的缴费记录)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from api.deps import CitizenDep, SessionDep, SettingsDep
from api.errors import AUTH_RESPONSES, PROBLEM_RESPONSES, Problem, json_problems
from core.auth.service import NotAuthenticated, principal_for
from core.models import Citizen
from core.settings import Settings
from payments.receipts import service as receipts
from payments.receipts.document import Receipt
from payments.receipts.html import render_html
from payments.receipts.pdf import render_pdf
from payments.receipts.schemas import PaymentHistoryPage

router = APIRouter(prefix="/api/v1", tags=["receipts"], responses=PROBLEM_RESPONSES)

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "receipt_not_found：订单不存在、未支付，或无权查看（同一答复）"},
    401: {"model": Problem, "description": "携带了无效的登录凭证"},
}
# Not constrained here: a malformed number gets the same 404 as an unknown one (the service checks it).
OutTradeNo = Annotated[str, Path(description="支付订单号（1–32 位字母或数字）")]
PartyQuery = Annotated[
    str | None, Query(min_length=1, max_length=128, description="当事人姓名或名称（未登录时必填）")
]
PartyHeader = Annotated[
    str | None,
    Header(
        alias="X-Party-Name",
        max_length=1024,
        description="当事人姓名，UTF-8 百分号编码（可代替 party_name 查询参数，避免姓名出现在地址中）",
    ),
]


def _citizen_id(request: Request, session: Session, settings: Settings) -> int | None:
    """The calling citizen when a bearer token is sent (an invalid token is a 401, not anonymous)."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated()
    principal = principal_for(session, settings, token.strip())
    return principal.id if isinstance(principal, Citizen) else None


def _receipt(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    out_trade_no: OutTradeNo,
    party_name: PartyQuery = None,
    x_party_name: PartyHeader = None,
) -> Receipt:
    """The receipt both routes show (a dependency: its parameters are the routes' parameters)."""
    name = party_name if party_name is not None else (unquote(x_party_name) if x_party_name else None)
    return receipts.receipt_for(
        session,
        out_trade_no=out_trade_no,
        settings=settings,
        citizen_id=_citizen_id(request, session, settings),
        party_name=name,
    )


ReceiptDep = Annotated[Receipt, Depends(_receipt)]


@router.get(
    "/payments/{out_trade_no}/receipt.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "电子缴款凭证（PDF）"}, **NOT_FOUND},
    summary="下载电子缴款凭证（PDF）",
)
def receipt_pdf(receipt: ReceiptDep) -> Response:
    return Response(
        content=render_pdf(receipt),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{receipt.filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/payments/{out_trade_no}/receipt.html",
    response_class=HTMLResponse,
    responses={
        200: {"content": {"text/html": {}}, "description": "可打印的电子缴款凭证"},
        **json_problems({**PROBLEM_RESPONSES, **NOT_FOUND}),
    },
    summary="查看可打印的电子缴款凭证",
)
def receipt_html(receipt: ReceiptDep) -> HTMLResponse:
    return HTMLResponse(render_html(receipt), headers={"Cache-Control": "no-store"})


@router.get(
    "/me/payments",
    response_model=PaymentHistoryPage,
    responses=AUTH_RESPONSES,
    summary="我的缴费记录（新的在前）",
)
def my_payments(
    response: Response,
    session: SessionDep,
    citizen: CitizenDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> PaymentHistoryPage:
    assert citizen.id is not None
    response.headers["Cache-Control"] = "no-store"
    return receipts.history(session, citizen_id=citizen.id, limit=limit, offset=offset)
