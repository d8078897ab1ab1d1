"""The workbench: what needs attention (calendar warnings, master data state)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from admin.deps import SessionDep, SettingsDep, StaffDep
from admin.templating import render
from core.calendar.service import warnings_for
from core.kit.clock import to_local, utcnow
from core.masterdata.overview import master_data_counts

router = APIRouter()


@router.get("/", response_class=HTMLResponse, name="home")
def home(request: Request, session: SessionDep, settings: SettingsDep, user: StaffDep) -> HTMLResponse:
    today = to_local(utcnow()).date()
    return render(
        request,
        "home.html",
        {
            "counts": master_data_counts(session),
            "calendar_warnings": warnings_for(session, today=today, settings=settings),
        },
    )
