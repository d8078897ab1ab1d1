"""Citizens' reward points and the catalogue; staff fulfil or refund redemptions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response
from pydantic import BaseModel, Field

from api.deps import CitizenDep, SessionDep, StaffDep
from api.errors import AUTH_RESPONSES, BODY_RESPONSES, PROBLEM_RESPONSES, problem_responses
from api.routes.reports import IDEMPOTENCY_KEY_PATTERN, Page
from core.kit.text import CODE_PATTERN, INT32_MAX
from core.models.rewards import Redemption, RewardEntry, RewardReason
from core.rewards import repository
from core.rewards import service as rewards
from core.rewards.schemas import Balance, CatalogueItem, LedgerLine, RedemptionView

router = APIRouter(prefix="/api/v1/rewards", tags=["rewards"], responses=PROBLEM_RESPONSES)
staff_router = APIRouter(
    prefix="/api/v1/staff/redemptions",
    tags=["staff"],
    responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES, **problem_responses(404, 409)},
)

REASON_LABELS = {
    RewardReason.REPORT_REGISTERED: "上报问题被立案",
    RewardReason.FIRST_REPORT_BONUS: "首报奖励",
    RewardReason.REGISTRATION_VOIDED: "案件作废或合并，积分收回",
    RewardReason.REDEMPTION: "兑换",
    RewardReason.REDEMPTION_REFUNDED: "兑换退回",
}


class RedeemBody(BaseModel):
    item: str = Field(pattern=CODE_PATTERN, description="商品编码")


def _line(entry: RewardEntry) -> LedgerLine:
    return LedgerLine(
        points=entry.points,
        reason=entry.reason.value,
        reason_label=REASON_LABELS[entry.reason],
        note=entry.note,
        at=entry.created_at,
    )


def _view(session: SessionDep, redemption: Redemption) -> RedemptionView:
    assert redemption.id is not None
    item = repository.item(session, redemption.item_id)
    return RedemptionView(
        id=redemption.id,
        item=item.name if item else "",
        points=redemption.points,
        status=redemption.status.value,
        at=redemption.created_at,
    )


@router.get("/balance", response_model=Balance, summary="积分余额", responses=AUTH_RESPONSES)
def balance(session: SessionDep, citizen: CitizenDep) -> Balance:
    assert citizen.id is not None
    return Balance(balance=repository.balance(session, citizen.id))


@router.get("/ledger", response_model=Page[LedgerLine], summary="积分明细", responses=AUTH_RESPONSES)
def ledger(
    session: SessionDep,
    citizen: CitizenDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Page[LedgerLine]:
    assert citizen.id is not None
    entries, total = repository.ledger(session, citizen.id, limit=limit, offset=offset)
    return Page(items=[_line(entry) for entry in entries], total=total)


@router.get("/items", response_model=list[CatalogueItem], summary="兑换商品")
def items(session: SessionDep) -> list[CatalogueItem]:
    return [
        CatalogueItem(
            code=i.code, name=i.name, kind=i.kind.value, points_cost=i.points_cost, in_stock=i.stock > 0
        )
        for i in rewards.catalogue(session)
    ]


@router.post(
    "/redemptions",
    response_model=RedemptionView,
    status_code=201,
    summary="兑换",
    responses={
        200: {"model": RedemptionView, "description": "同一 Idempotency-Key 的重试：已有的兑换"},
        **BODY_RESPONSES,
        **AUTH_RESPONSES,
        **problem_responses(404, 409),
    },
)
def redeem(
    body: RedeemBody,
    response: Response,
    session: SessionDep,
    citizen: CitizenDep,
    idempotency_key: Annotated[str, Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN)],
) -> RedemptionView:
    redemption, created = rewards.redeem(
        session, citizen=citizen, item_code=body.item, idempotency_key=idempotency_key
    )
    if not created:
        response.status_code = 200
    return _view(session, redemption)


@router.get("/redemptions", response_model=list[RedemptionView], summary="我的兑换", responses=AUTH_RESPONSES)
def my_redemptions(session: SessionDep, citizen: CitizenDep) -> list[RedemptionView]:
    assert citizen.id is not None
    return [_view(session, r) for r in repository.redemptions_of(session, citizen.id)]


RedemptionId = Annotated[int, Path(ge=1, le=INT32_MAX)]


@staff_router.post("/{redemption_id}/fulfil", response_model=RedemptionView, summary="兑换已发放")
def fulfil(redemption_id: RedemptionId, session: SessionDep, staff: StaffDep) -> RedemptionView:
    return _view(session, rewards.fulfil(session, staff=staff, redemption_id=redemption_id))


@staff_router.post("/{redemption_id}/refund", response_model=RedemptionView, summary="退回兑换积分")
def refund(redemption_id: RedemptionId, session: SessionDep, staff: StaffDep) -> RedemptionView:
    return _view(session, rewards.refund(session, staff=staff, redemption_id=redemption_id))
