"""The public lookup of a penalty decision (罚款查询)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import SessionDep
from api.errors import PROBLEM_RESPONSES, problem_responses
from core.kit.clock import utcnow
from payments.fines import service as fines_service
from payments.fines.errors import FineNotFound
from payments.fines.schemas import FineOut

router = APIRouter(prefix="/api/v1/fines", tags=["fines"], responses=PROBLEM_RESPONSES)


@router.get(
    "/lookup",
    response_model=FineOut,
    summary="按决定书编号和当事人姓名查询罚款",
    responses=problem_responses(404, 429),
)
def lookup_fine(
    request: Request,
    response: Response,
    session: SessionDep,
    decision_no: Annotated[str, Query(min_length=1, max_length=64, description="决定书编号")],
    party_name: Annotated[str, Query(min_length=1, max_length=128, description="当事人姓名或名称")],
) -> FineOut:
    try:
        fine = fines_service.lookup(
            session,
            decision_no=decision_no,
            party_name=party_name,
            client_ip=request.client.host if request.client else "",
            now=utcnow(),
        )
    except FineNotFound:
        session.commit()  # the failed lookup still counts toward the limit
        raise
    response.headers["Cache-Control"] = "no-store"
    return fine
