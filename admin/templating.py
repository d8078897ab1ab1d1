"""Rendering console pages: the templates, the navigation by role and what every page knows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse
from starlette.routing import NoMatchFound

from core.kit.clock import to_local

if TYPE_CHECKING:
    from admin.deps import ConsoleUser
from core.models import StaffRole

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
TEMPLATES.env.filters["local"] = lambda value, fmt="%Y-%m-%d %H:%M": (
    to_local(value).strftime(fmt) if value else ""
)


@dataclass(frozen=True)
class NavItem:
    route: str  # the route name, for url_for
    label: str
    roles: frozenset[StaffRole] | None = None  # None: everyone
    key: str = ""  # keyboard shortcut after "g"


ALL_BUT_SUPERVISOR = frozenset(StaffRole) - {StaffRole.SUPERVISOR}
NAV: tuple[NavItem, ...] = (
    NavItem("home", "工作台", key="h"),
    NavItem("queues", "案件队列", ALL_BUT_SUPERVISOR, key="q"),
    NavItem(
        "hotline", "热线来电", frozenset({StaffRole.OPERATOR, StaffRole.SHIFT_LEAD, StaffRole.ADMIN}), key="t"
    ),
    NavItem("map", "地图", key="m"),
    NavItem(
        "evaluation",
        "综合评价",
        frozenset({StaffRole.LEADER, StaffRole.SHIFT_LEAD, StaffRole.DISPATCHER, StaffRole.ADMIN}),
        key="e",
    ),
    NavItem("masterdata", "主数据", frozenset({StaffRole.ADMIN, StaffRole.LEADER}), key="d"),
    # Fines and payments: leaders and administrators until an enforcement/finance role exists.
    NavItem("fines", "罚款", frozenset({StaffRole.ADMIN, StaffRole.LEADER}), key="f"),
    NavItem("payments", "支付对账", frozenset({StaffRole.ADMIN, StaffRole.LEADER}), key="p"),
    NavItem("accounts", "账号管理", frozenset({StaffRole.ADMIN}), key="a"),
    NavItem("audit", "审计日志", frozenset({StaffRole.ADMIN}), key="l"),
)


def nav_for(request: Request, user: ConsoleUser | None) -> list[NavItem]:
    if user is None:
        return []
    allowed = [item for item in NAV if item.roles is None or user.role in item.roles]
    return [item for item in allowed if _exists(request, item.route)]


def _exists(request: Request, route: str) -> bool:
    """Whether the console has this page (sections arrive one by one)."""
    try:
        request.url_for(route)
    except NoMatchFound:
        return False
    return True


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    user: ConsoleUser | None = getattr(request.state, "user", None)
    settings = request.app.state.settings
    base = {
        "user": user,
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "nav": nav_for(request, user),
        "app_name": settings.app.name,
        "console": settings.console,
    }
    return TEMPLATES.TemplateResponse(request, template, {**base, **(context or {})}, status_code=status_code)
