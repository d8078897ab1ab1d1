"""The composition root of ``zhcg serve``: the public API with the staff console mounted at /admin.

The entry points are loaded by name (as uvicorn and RQ do), so ``core`` keeps importing nothing
above it; a deployment may as well serve ``api.main:create_app`` and ``admin.main:create_app``
as two processes behind a reverse proxy.

With ``ZHCG_PAYMENTS__SANDBOX=true`` (development only: settings refuse it elsewhere) the process also
starts the local fake payment gateways (``payments.sandbox.runner``, loaded by name for the same reason)
and points the process-wide settings at them before the apps are built.

Without Redis, periodic jobs (payment polling, overdue marking, sweeps) run in a thread of this
process (``workers.cron:start_embedded``); with Redis, ``python -m workers cron`` enqueues them.
"""

from __future__ import annotations

import importlib
from typing import Any

from core.settings import Environment, Settings, get_settings

API_FACTORY = "api.main:create_app"
ADMIN_FACTORY = "admin.main:create_app"
SANDBOX_INSTALLER = "payments.sandbox.runner:install"
EMBEDDED_CRON = "workers.cron:start_embedded"


def load_factory(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def start_payment_sandbox(settings: Settings) -> None:
    """Start the fake payment gateways when the setting asks for it (never in production)."""
    if not settings.payments.sandbox:
        return
    if settings.environment is Environment.PRODUCTION:
        raise RuntimeError("ZHCG_PAYMENTS__SANDBOX must not be set in production")
    sandbox = load_factory(SANDBOX_INSTALLER)(settings)
    print("\n".join(sandbox.describe()), flush=True)


def build_site() -> Any:
    settings = get_settings()
    start_payment_sandbox(settings)
    load_factory(EMBEDDED_CRON)(settings)  # periodic jobs inline when there is no Redis (make run)
    api = load_factory(API_FACTORY)()
    api.mount("/admin", load_factory(ADMIN_FACTORY)())
    return api
