"""Maps errors to JSON problems: ``{"code": ..., "message": ...}`` (message in Chinese).

Only known error types are mapped; anything else is a bug and stays a 500 (logged by the server).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.db import is_unavailable
from core.errors import DomainError, ErrorKind
from core.kit.request_id import HEADER, current_request_id

log = logging.getLogger("zhcg.api")

STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.RATE_LIMITED: 429,
}

# Codes whose status says more than their kind's: the photo disk is full (507 Insufficient Storage,
# a server-side condition the client cannot fix by changing its request).
STATUS_BY_CODE: dict[str, int] = {"storage_full": 507}

DATABASE_RETRY_AFTER_S = 5

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

# The other problems a route may answer, documented per route with ``problem_responses(...)`` (the
# OpenAPI document lists every status a route can give; tests/api/test_openapi_fuzz.py holds it to that).
PROBLEM_DESCRIPTIONS: dict[int, str] = {
    400: "请求体无法解析（bad_request，如非 UTF-8 的 JSON）",
    401: "未登录或登录已失效（code 说明原因）",
    403: "没有权限执行此操作（code 说明原因）",
    404: "资源不存在或无权查看（code 说明原因）",
    409: "与当前状态冲突（code 说明原因）",
    429: "请求过于频繁（code 说明原因，见 Retry-After）",
    507: "照片存储空间已满（storage_full），稍后再试",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these problem statuses (the Problem schema, a generic text)."""
    return {status: {"model": Problem, "description": PROBLEM_DESCRIPTIONS[status]} for status in statuses}


# A route that reads a JSON body, and one that needs a signed-in caller.
BODY_RESPONSES = problem_responses(400)
AUTH_RESPONSES = problem_responses(401, 403)

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def json_problems(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """The same problem entries for a route whose own answer is not JSON (PDF, HTML, plain text).

    FastAPI documents a ``model`` under the route's media type; problems are always JSON, so they are
    spelled out as ``application/json`` content instead (Problem is in the document's components,
    registered by the routes that use it as a model)."""
    return {
        status: {
            "description": entry["description"],
            "content": {"application/json": {"schema": PROBLEM_REF}},
        }
        for status, entry in responses.items()
    }


def problem(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, **extra}, status_code=status)


async def domain_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    extra = {"details": exc.details} if exc.details else {}
    status = STATUS_BY_CODE.get(exc.code) or STATUS_BY_KIND[exc.kind]
    response = problem(status, exc.code, exc.message, **extra)
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


async def database_error_handler(_: Request, exc: Exception) -> JSONResponse:
    """The database cannot be reached (down, restarting, connection lost): a 503 the client may retry,
    logged as one line. Any other database error is a bug: raised on, to be answered and logged with
    its traceback as a 500 by ``internal_error_handler``."""
    assert isinstance(exc, DBAPIError)
    if not is_unavailable(exc):
        raise exc
    log.warning("database unavailable: %s: %s", type(exc.orig).__name__, str(exc.orig).strip()[:300])
    response = problem(503, "database_unavailable", "数据库暂时不可用，请稍后再试")
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    return response


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
    app.add_exception_handler(DBAPIError, database_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
