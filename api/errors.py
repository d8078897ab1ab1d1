"""Maps errors to JSON problems: ``{"code": ..., "message": ...}`` (message in Chinese).

Only known error types are mapped; anything else is a bug and stays a 500 (logged by the server).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import DomainError, ErrorKind
from core.kit.request_id import HEADER, current_request_id

STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.RATE_LIMITED: 429,
}

HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "请求格式不正确"),
    401: ("unauthorized", "请先登录"),
    403: ("forbidden", "没有权限执行此操作"),
    404: ("not_found", "请求的资源不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    413: ("payload_too_large", "请求内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    429: ("too_many_requests", "请求过于频繁，请稍后再试"),
}

VALIDATION_MESSAGES: dict[str, str] = {
    "missing": "缺少必填项",
    "float_parsing": "应为数字",
    "int_parsing": "应为整数",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "enum": "取值不在允许范围内",
    "string_too_long": "内容过长",
    "string_too_short": "内容过短",
    "json_invalid": "不是合法的 JSON",
    "finite_number": "应为有限数字",
}


class FieldError(BaseModel):
    field: str
    message: str
    type: str | None = None


class Problem(BaseModel):
    """Every error answer: a stable machine code and a Chinese message for people."""

    code: str
    message: str
    details: dict[str, Any] | None = None
    errors: list[FieldError] | None = None


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": Problem, "description": "请求参数或业务校验不通过（code 说明原因）"},
    503: {"model": Problem, "description": "服务暂不可用"},
}


def problem(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, **extra}, status_code=status)


async def domain_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    extra = {"details": exc.details} if exc.details else {}
    response = problem(STATUS_BY_KIND[exc.kind], exc.code, exc.message, **extra)
    retry_after = exc.details.get("retry_after")
    if exc.kind is ErrorKind.RATE_LIMITED and isinstance(retry_after, int):
        response.headers["Retry-After"] = str(retry_after)
    return response


async def validation_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": ".".join(
                str(part) for part in error.get("loc", ()) if part not in {"query", "body", "path"}
            ),
            "message": VALIDATION_MESSAGES.get(str(error.get("type")), "取值不正确"),
            "type": error.get("type"),
        }
        for error in exc.errors()
    ]
    fields = "、".join(error["field"] for error in errors if error["field"])
    message = f"请求参数不正确：{fields}" if fields else "请求参数不正确"
    return problem(422, "invalid_request", message, errors=errors)


async def http_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, message = HTTP_CODES.get(exc.status_code, ("http_error", "请求无法处理"))
    return problem(exc.status_code, code, message)


async def internal_error_handler(_: Request, exc: Exception) -> JSONResponse:
    """Only shapes the answer of a bug as a JSON problem; Starlette still re-raises it, so it is
    logged with its traceback as the 500 it is (nothing is hidden as a 4xx). The answer is sent
    outside the access-log middleware, so it carries the request id itself (to find the traceback)."""
    response = problem(500, "internal_error", "服务器内部错误，请稍后再试")
    if (request_id := current_request_id()) is not None:
        response.headers[HEADER] = request_id
    return response


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, internal_error_handler)
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
