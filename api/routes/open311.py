"""Open311 GeoReport v2 under ``/open311/v2`` (``docs/open311.md``).

Every resource answers as ``.json`` or ``.xml`` (the suffix of the path), shaped exactly as the
specification shows, errors included: a list of ``{code, description}`` (``<errors><error>``), with the
HTTP status as ``code``. Errors never take the problem shape of the rest of the API: the route class
renders every ``DomainError`` and request-validation error of these routes itself. Inputs are read
here (bounded, no control characters) and handed to ``core.open311.service``.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncGenerator, Callable, Coroutine, Sequence
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.deps import SessionDep, SettingsDep
from core.errors import DomainError, ErrorKind
from core.kit.text import CONTROL_CHARACTERS
from core.open311 import service
from core.open311.errors import (
    BadParameter,
    MediaUploadUnsupported,
    RequestTooLarge,
    UnsupportedFormat,
)
from core.open311.schemas import (
    MAX_DESCRIPTION_CHARS,
    MAX_MEDIA_URL,
    MAX_TEXT_FIELD,
    Fields,
    PostedRequest,
    RequestQuery,
)
from core.open311.xml import document

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-21T00:00:00+08:00"  # when this interface last changed (discovery)
FORMATS = {"json": "application/json", "xml": "text/xml"}
MAX_BODY = 64 * 1024
MAX_FIELDS = 64
STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 400,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.UNAUTHORIZED: 403,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.RATE_LIMITED: 429,
}
STATUS_BY_CODE = {"request_too_large": 413}
UNENCODED_PLUS = re.compile(r" (\d{2}:?\d{2})$")
MIN_YEAR, MAX_YEAR = 2000, 2100  # far outside any case; keeps date arithmetic from overflowing
ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_.-]{1,64})\](\[\])?$")
FORMAT_DOC = "json 或 xml"
RESPONSES: dict[int | str, dict[str, Any]] = {
    "default": {
        "description": "GeoReport v2 文档或错误列表（errors）",
        "content": {"application/json": {}, "text/xml": {}},
    }
}


def _format_of(request: Request) -> str:
    fmt = str(request.path_params.get("fmt", "json"))
    return fmt if fmt in FORMATS else "json"


def error_response(request: Request, status: int, description: str) -> Response:
    body: list[Fields] = [{"code": status, "description": description}]
    if _format_of(request) == "xml":
        return Response(document("errors", body, item="error"), status_code=status, media_type="text/xml")
    return JSONResponse(body, status_code=status)


def _domain_error(request: Request, exc: DomainError) -> Response:
    status = STATUS_BY_CODE.get(exc.code, STATUS_BY_KIND[exc.kind])
    response = error_response(request, status, f"{exc.code}: {exc.message}")
    retry_after = exc.details.get("retry_after")
    if exc.kind is ErrorKind.RATE_LIMITED and isinstance(retry_after, int):
        response.headers["Retry-After"] = str(retry_after)
    return response


def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    names = [str(error.get("loc", ("", ""))[-1]) for error in exc.errors()]
    return error_response(request, 400, f"invalid_parameter: 参数不正确：{'、'.join(names)}")


class Open311Route(APIRoute):
    """Renders this router's refusals as Open311 errors, in the format the path asked for."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def open311_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except DomainError as exc:
                return _domain_error(request, exc)
            except RequestValidationError as exc:
                return _validation_error(request, exc)

        return open311_handler


router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route, responses=RESPONSES)

Fmt = Annotated[str, Path(description=FORMAT_DOC, max_length=8)]


def answer(fmt: str, body: Fields | Sequence[Fields], *, root: str, item: str | None = None) -> Response:
    if fmt not in FORMATS:
        raise UnsupportedFormat(fmt)
    if fmt == "xml":
        return Response(document(root, body, item=item), media_type="text/xml")
    return JSONResponse(body)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UnsupportedFormat(fmt)


# --- input ------------------------------------------------------------------------------------------


def _clean(name: str, value: str, max_length: int = MAX_TEXT_FIELD) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise BadParameter(name, "含有不可见的控制字符")
    if len(value) > max_length:
        raise BadParameter(name, f"不能超过 {max_length} 个字符")
    return value.strip()


def _number(name: str, value: str) -> float | None:
    if not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        raise BadParameter(name, "应为数字") from None
    if not math.isfinite(number):
        raise BadParameter(name, "应为有限数字")
    return number


def _w3c(name: str, value: str | None) -> datetime | None:
    if value is None or not value.strip():
        return None
    text = UNENCODED_PLUS.sub(r"+\1", _clean(name, value, 64))  # "+08:00" unencoded arrives as " 08:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadParameter(name, "应为带时区的 W3C 日期时间，如 2026-11-21T08:00:00+08:00") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise BadParameter(name, "必须带时区（Z 或 ±HH:MM）")
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise BadParameter(name, f"年份应在 {MIN_YEAR}–{MAX_YEAR} 之间")
    return moment


def _list(name: str, value: str | None) -> list[str] | None:
    if value is None or not value.strip():
        return None
    items = [item.strip() for item in _clean(name, value, 2048).split(",") if item.strip()]
    if len(items) > 100:
        raise BadParameter(name, "最多 100 项")
    return items


def _int(name: str, value: str | None, default: int) -> int:
    if value is None or not value.strip():
        return default
    if not value.strip().isdigit() or len(value.strip()) > 9:
        raise BadParameter(name, "应为正整数")
    return int(value)


async def _bounded_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise RequestTooLarge(MAX_BODY)
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > MAX_BODY:
            raise RequestTooLarge(MAX_BODY)
        chunks.append(chunk)
    return b"".join(chunks)


async def _multipart(request: Request, body: bytes) -> list[tuple[str, str]]:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(
        request.headers, stream(), max_files=1, max_fields=MAX_FIELDS, max_part_size=MAX_BODY
    )
    try:
        form = await parser.parse()
    except MultiPartException:
        raise BadParameter("body", "multipart 表单格式不正确") from None
    try:
        if any(isinstance(value, UploadFile) for _, value in form.multi_items()):
            raise MediaUploadUnsupported()
        return [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
    finally:
        await form.close()


async def posted_form(request: Request) -> list[tuple[str, str]]:
    """The fields of a form-encoded (or multipart, without files) body, at most 64 KiB."""
    body = await _bounded_body(request)
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        return await _multipart(request, body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadParameter("body", "必须是 UTF-8 编码") from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise BadParameter("body", "表单格式不正确") from None
    return pairs


FormDep = Annotated[list[tuple[str, str]], Depends(posted_form)]


def _posted(pairs: list[tuple[str, str]]) -> PostedRequest:
    fields: dict[str, str] = {}
    attributes: dict[str, list[str]] = {}
    for key, value in pairs:
        matched = ATTRIBUTE.fullmatch(key)
        if matched:
            attributes.setdefault(matched.group(1), []).append(_clean(key, value))
        else:
            fields.setdefault(key, value)

    def text(name: str, max_length: int = MAX_TEXT_FIELD) -> str:
        return _clean(name, fields.get(name, ""), max_length)

    return PostedRequest(
        service_code=text("service_code", 64),
        lat=_number("lat", text("lat", 32)),
        long=_number("long", text("long", 32)),
        address_string=text("address_string"),
        description=text("description", MAX_DESCRIPTION_CHARS),
        attributes=attributes,
        media_url=text("media_url", MAX_MEDIA_URL),
        email=text("email"),
        first_name=text("first_name", 64),
        last_name=text("last_name", 64),
        phone=text("phone", 32),
    )


def _api_key(pairs: list[tuple[str, str]]) -> str | None:
    """The first ``api_key`` field; checked before anything else of the form is looked at."""
    key = next((value for name, value in pairs if name == "api_key"), "")
    return key.strip() or None


# --- resources --------------------------------------------------------------------------------------


@router.get("/discovery.{fmt}", summary="Open311 服务发现")
def discovery(fmt: Fmt, request: Request) -> Response:
    _check_format(fmt)
    url = str(request.base_url).rstrip("/") + router.prefix
    body: Fields = {
        "changeset": CHANGESET,
        "contact": "城市管理服务平台（数字城管），接入请联系城市管理指挥中心",
        "key_service": "提交服务请求需要 api_key，请向城市管理指挥中心申请",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": url,
                "changeset": CHANGESET,
                "type": "production",
                "formats": list(FORMATS.values()),
            }
        ],
    }
    return answer(fmt, body, root="discovery")


@router.get("/services.{fmt}", summary="服务类型列表（案件小类）")
def services(fmt: Fmt, session: SessionDep) -> Response:
    _check_format(fmt)
    return answer(fmt, service.services(session), root="services", item="service")


@router.get("/services/{service_code}.{fmt}", summary="服务类型定义（附加属性）")
def service_definition(
    service_code: Annotated[str, Path(max_length=64)], fmt: Fmt, session: SessionDep
) -> Response:
    _check_format(fmt)
    body = service.service_definition(session, service_code=_clean("service_code", service_code, 64))
    return answer(fmt, body, root="service_definition")


@router.post(
    "/requests.{fmt}",
    summary="提交服务请求（表单编码，api_key 必填）",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["api_key", "service_code"],
                        "properties": {
                            name: {"type": "string"}
                            for name in (
                                "api_key",
                                "service_code",
                                "lat",
                                "long",
                                "address_string",
                                "description",
                                "media_url",
                                "email",
                                "first_name",
                                "last_name",
                                "phone",
                            )
                        },
                    }
                }
            },
        }
    },
)
def post_request(fmt: Fmt, pairs: FormDep, session: SessionDep, settings: SettingsDep) -> Response:
    _check_format(fmt)
    client = service.authenticate(session, api_key=_api_key(pairs))
    data = _posted(pairs)
    filed = service.file_request(session, settings, client=client, data=data)
    response = answer(fmt, [service.filed_answer(filed)], root="service_requests", item="request")
    response.status_code = 201
    return response


@router.get("/tokens/{token}.{fmt}", summary="由 token 查询服务请求编号")
def token(token: Annotated[str, Path(max_length=64)], fmt: Fmt, session: SessionDep) -> Response:
    _check_format(fmt)
    body = service.token_answer(session, token=_clean("token", token, 64))
    return answer(fmt, [body], root="service_requests", item="request")


@router.get("/requests.{fmt}", summary="查询服务请求（公开案件）")
def requests(
    fmt: Fmt,
    session: SessionDep,
    service_request_id: Annotated[str | None, Query(max_length=2048, description="逗号分隔")] = None,
    service_code: Annotated[str | None, Query(max_length=2048, description="逗号分隔")] = None,
    start_date: Annotated[str | None, Query(max_length=64, description="W3C 日期时间")] = None,
    end_date: Annotated[str | None, Query(max_length=64, description="W3C 日期时间")] = None,
    status: Annotated[str | None, Query(max_length=32, description="open、closed，逗号分隔")] = None,
    page: Annotated[str | None, Query(max_length=9, description="页码，从 1 开始")] = None,
    page_size: Annotated[str | None, Query(max_length=9, description="每页条数，1–100，默认 50")] = None,
) -> Response:
    _check_format(fmt)
    statuses = _list("status", status)
    if statuses is not None and any(name not in {"open", "closed"} for name in statuses):
        raise BadParameter("status", "只能是 open 或 closed")
    query = RequestQuery(
        service_request_ids=_list("service_request_id", service_request_id),
        service_codes=_list("service_code", service_code),
        start_date=_w3c("start_date", start_date),
        end_date=_w3c("end_date", end_date),
        statuses=statuses,
        page=_int("page", page, 1),
        page_size=_int("page_size", page_size, 50),
    )
    body = service.search_requests(session, query=query)
    return answer(fmt, body, root="service_requests", item="request")


@router.get("/requests/{service_request_id}.{fmt}", summary="查询一个服务请求")
def request_detail(
    service_request_id: Annotated[str, Path(max_length=64)], fmt: Fmt, session: SessionDep
) -> Response:
    _check_format(fmt)
    body = service.get_request(
        session, service_request_id=_clean("service_request_id", service_request_id, 64)
    )
    return answer(fmt, body, root="service_requests", item="request")
