"""Prometheus metrics of this process plus the shared ones read on scrape (docs/operations.md).

Not in the OpenAPI document: it is for the monitoring system, not for clients. Allowed from the
addresses of ``ZHCG_METRICS__ALLOW`` (direct requests only) or with ``ZHCG_METRICS__TOKEN``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api.deps import SessionDep, SettingsDep
from core import metrics

router = APIRouter(tags=["operations"])


def allow_scrape(request: Request, settings: SettingsDep) -> None:
    metrics.check_scrape_allowed(
        settings,
        client_ip=request.client.host if request.client else None,
        authorization=request.headers.get("authorization"),
        forwarded=any(name in request.headers for name in metrics.FORWARDING_HEADERS),
    )


# The check runs before the session dependency opens a transaction.
ScrapeAllowed = Annotated[None, Depends(allow_scrape)]


@router.get("/metrics", include_in_schema=False)
def scrape(_: ScrapeAllowed, session: SessionDep, settings: SettingsDep) -> Response:
    return Response(metrics.render(session, settings), media_type=metrics.CONTENT_TYPE)
