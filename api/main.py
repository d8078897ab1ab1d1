"""The public JSON API (citizens, mini-program, field apps)."""

from __future__ import annotations

from fastapi import FastAPI

from api.docs import install_docs
from api.errors import install_error_handlers
from api.ratelimit import RateLimitMiddleware
from api.routes import (
    auth,
    exchange,
    fines,
    geo,
    health,
    metrics,
    nearby,
    open311,
    payment_refunds,
    payments,
    places,
    receipts,
    reports,
    rewards,
    staff_cases,
    subscriptions,
    uploads,
)
from core.db import get_engine
from core.jobs import configure_jobs
from core.kit.accesslog import AccessLogMiddleware
from core.logging import configure_logging
from core.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    configure_jobs(settings)
    app = FastAPI(
        title="智慧城管便民服务平台 API",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = get_engine(settings)
    if settings.ratelimit.enabled:
        # Added before the access log, which therefore wraps it: refusals are logged and timed too.
        app.add_middleware(RateLimitMiddleware, settings=settings)
    app.add_middleware(AccessLogMiddleware)
    install_error_handlers(app)
    install_docs(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    # Providers' payment notifications first: routes are matched in order and these are the hot path.
    app.include_router(payments.router)
    app.include_router(payment_refunds.router)
    app.include_router(auth.router)
    app.include_router(auth.staff_router)
    app.include_router(geo.router)
    app.include_router(places.router)
    app.include_router(uploads.router)
    app.include_router(nearby.router)  # before reports: /reports/nearby is not a case number
    app.include_router(reports.router)
    app.include_router(staff_cases.router)
    app.include_router(rewards.router)
    app.include_router(rewards.staff_router)
    app.include_router(subscriptions.router)
    app.include_router(exchange.router)
    app.include_router(fines.router)
    app.include_router(receipts.router)
    app.include_router(open311.router)
    return app
