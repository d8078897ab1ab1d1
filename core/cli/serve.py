"""The composition root of ``zhcg serve``: the public API with the staff console mounted at /admin.

The entry points are loaded by name (as uvicorn and RQ do), so ``core`` keeps importing nothing
above it; a deployment may as well serve ``api.main:create_app`` and ``admin.main:create_app``
as two processes behind a reverse proxy.
"""

from __future__ import annotations

import importlib
from typing import Any

API_FACTORY = "api.main:create_app"
ADMIN_FACTORY = "admin.main:create_app"


def load_factory(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def build_site() -> Any:
    api = load_factory(API_FACTORY)()
    api.mount("/admin", load_factory(ADMIN_FACTORY)())
    return api
