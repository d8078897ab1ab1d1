"""The console's Chinese error pages for domain errors (full page, or a fragment for htmx)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from admin.templating import render
from core.errors import DomainError, ErrorKind

STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.RATE_LIMITED: 429,
}


def error_page(request: Request, exc: DomainError) -> HTMLResponse:
    template = "fragments/error.html" if request.headers.get("HX-Request") else "error.html"
    return render(
        request, template, {"message": exc.message, "code": exc.code}, status_code=STATUS_BY_KIND[exc.kind]
    )
