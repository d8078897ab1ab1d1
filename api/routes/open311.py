"""Open311 GeoReport v2 under ``/open311/v2`` (``docs/open311.md``).

Every resource answers as ``.json`` or ``.xml`` (the suffix of the path), shaped exactly as the
specification shows, errors included: a list of ``{code, description}`` (``<errors><error>``), with the
HTTP status as ``code``. Errors never take the problem shape of the rest of the API: the route class
renders every ``DomainError`` and request-validation error of these routes itself, and the last route
of the router answers every other path (404) and method (405) under the prefix. The body is read here
(bounded; a photo in ``media`` up to the upload limit) and handed to ``core.open311``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.routing import Match

from api.deps import SessionDep, SettingsDep
from core.errors import DomainError, ErrorKind
from core.open311 import filing, service
from core.open311.errors import (
    BadParameter,
    MediaFieldRefused,
    RequestTooLarge,
    ResourceNotFound,
    UnsupportedFormat,
)
from core.open311.inputs import api_key, clean, comma_list, positive_int, posted_request, w3c
from core.open311.schemas import Fields, RequestQuery
from core.open311.xml import document
from core.uploads.errors import UploadTooLarge

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this interface last changed; the discovery's changeset is the later of this and the last change
# of the services (categories and their conditions).
INTERFACE_CHANGED = datetime.fromisoformat("2026-11-21T00:00:00+08:00")
FORMATS = {"json": "application/json", "xml": "text/xml"}
JSON_TYPE = "application/json; charset=utf-8"  # as the specification shows it (XML gets its charset)
MAX_BODY = 64 * 1024  # a form without a photo; with one, the photo limit plus this much
MAX_FIELDS = 64
MEDIA_FIELD = "media"
STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 400,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.UNAUTHORIZED: 403,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.RATE_LIMITED: 429,
}
STATUS_BY_CODE = {"request_too_large": 413, "upload_too_large": 413}
FORMAT_DOC = "json 或 xml"
RESPONSES: dict[int | str, dict[str, Any]] = {
    "default": {
        "description": "GeoReport v2 文档或错误列表（errors）",
        "content": {"application/json": {}, "text/xml": {}},
    }
}
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _format_of(request: Request) -> str:
    """The format an error is answered in: the path's ``{fmt}``, else its suffix; JSON otherwise."""
    fmt = request.path_params.get("fmt")
    if not isinstance(fmt, str):
        last = request.url.path.rsplit("/", 1)[-1]
        fmt = last.rsplit(".", 1)[-1] if "." in last else "json"
    return fmt if fmt in FORMATS else "json"


def error_response(request: Request, status: int, description: str) -> Response:
    body: list[Fields] = [{"code": status, "description": description}]
    if _format_of(request) == "xml":
        return Response(document("errors", body, item="error"), status_code=status, media_type="text/xml")
    return JSONResponse(body, status_code=status, media_type=JSON_TYPE)


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

# No length bound here: any suffix other than json/xml is the specification's 404 (unsupported_format).
Fmt = Annotated[str, Path(description=FORMAT_DOC)]


def answer(fmt: str, body: Fields | Sequence[Fields], *, root: str, item: str | None = None) -> Response:
    if fmt not in FORMATS:
        raise UnsupportedFormat(fmt)
    if fmt == "xml":
        return Response(document(root, body, item=item), media_type="text/xml")
    return JSONResponse(body, media_type=JSON_TYPE)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UnsupportedFormat(fmt)


# --- the body of POST requests ----------------------------------------------------------------------


@dataclass(frozen=True)
class PostedForm:
    """The form's text fields, and the bytes of the photo sent in ``media`` (multipart only)."""

    pairs: list[tuple[str, str]]
    media: bytes | None = None


async def _bounded(request: Request, limit: int, too_large: DomainError) -> AsyncGenerator[bytes, None]:
    """The body, refused (``too_large``) from its declared length or as soon as it passes ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise too_large
        yield chunk


async def _media(part: UploadFile, limit: int) -> bytes | None:
    data = await part.read(limit + 1)
    if not data and not part.filename:
        return None  # an empty file input (a browser form without a chosen file)
    if len(data) > limit:
        raise UploadTooLarge(limit)
    return data


async def _multipart(request: Request, photo_limit: int) -> PostedForm:
    """Text fields (each at most 64 KiB) and at most one file, the photo in ``media``."""
    body = _bounded(request, photo_limit + MAX_BODY, UploadTooLarge(photo_limit))
    parser = MultiPartParser(
        request.headers, body, max_files=2, max_fields=MAX_FIELDS, max_part_size=MAX_BODY
    )
    try:
        form = await parser.parse()
    except MultiPartException:
        raise BadParameter("body", "multipart 表单格式不正确") from None
    try:
        files = [(name, value) for name, value in form.multi_items() if isinstance(value, UploadFile)]
        if any(name != MEDIA_FIELD for name, _ in files):
            raise MediaFieldRefused(f"照片只能通过 {MEDIA_FIELD} 字段上传")
        if len(files) > 1:
            raise MediaFieldRefused("每个服务请求只能上传一张照片")
        media = await _media(files[0][1], photo_limit) if files else None
        pairs = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
        return PostedForm(pairs=pairs, media=media)
    finally:
        await form.close()


async def posted_form(request: Request, settings: SettingsDep) -> PostedForm:
    """A form-encoded body (at most 64 KiB) or a multipart one, which may carry the photo."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        return await _multipart(request, settings.storage.max_upload_bytes)
    body = b"".join([chunk async for chunk in _bounded(request, MAX_BODY, RequestTooLarge(MAX_BODY))])
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadParameter("body", "必须是 UTF-8 编码") from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise BadParameter("body", "表单格式不正确") from None
    return PostedForm(pairs=pairs)


FormDep = Annotated[PostedForm, Depends(posted_form)]
POST_FIELDS = (
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
POST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["api_key", "service_code"],
    "properties": {name: {"type": "string"} for name in POST_FIELDS},
}


# --- resources --------------------------------------------------------------------------------------


@router.get("/discovery.{fmt}", summary="Open311 服务发现")
def discovery(fmt: Fmt, request: Request, session: SessionDep) -> Response:
    _check_format(fmt)
    url = str(request.base_url).rstrip("/") + router.prefix
    changeset = service.changeset(session, interface_changed=INTERFACE_CHANGED)
    body: Fields = {
        "changeset": changeset,
        "contact": "城市管理服务平台（数字城管），接入请联系城市管理指挥中心",
        "key_service": "提交服务请求需要 api_key，请向城市管理指挥中心申请",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": url,
                "changeset": changeset,
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
    body = service.service_definition(session, service_code=clean("service_code", service_code, 64))
    return answer(fmt, body, root="service_definition")


@router.post(
    "/requests.{fmt}",
    summary="提交服务请求（表单编码；附照片时用 multipart，文件字段 media；api_key 必填）",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": POST_SCHEMA},
                "multipart/form-data": {
                    "schema": {
                        **POST_SCHEMA,
                        "properties": {
                            **POST_SCHEMA["properties"],
                            MEDIA_FIELD: {
                                "type": "string",
                                "format": "binary",
                                "description": "现场照片：JPEG、PNG、WebP 或 HEIC，一张",
                            },
                        },
                    }
                },
            },
        }
    },
)
def post_request(fmt: Fmt, form: FormDep, session: SessionDep, settings: SettingsDep) -> Response:
    _check_format(fmt)
    client = service.authenticate(session, api_key=api_key(form.pairs))
    data = posted_request(form.pairs)
    filed = filing.file_request(session, settings, client=client, data=data, media=form.media)
    response = answer(fmt, [filing.filed_answer(filed)], root="service_requests", item="request")
    response.status_code = 201
    return response


@router.get("/tokens/{token}.{fmt}", summary="由 token 查询服务请求编号")
def token(token: Annotated[str, Path(max_length=64)], fmt: Fmt, session: SessionDep) -> Response:
    _check_format(fmt)
    body = service.token_answer(session, token=clean("token", token, 64))
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
    statuses = comma_list("status", status)
    if statuses is not None and any(name not in {"open", "closed"} for name in statuses):
        raise BadParameter("status", "只能是 open 或 closed")
    query = RequestQuery(
        service_request_ids=comma_list("service_request_id", service_request_id),
        service_codes=comma_list("service_code", service_code),
        start_date=w3c("start_date", start_date),
        end_date=w3c("end_date", end_date),
        statuses=statuses,
        page=positive_int("page", page, 1),
        page_size=positive_int("page_size", page_size, 50),
    )
    body = service.search_requests(session, query=query)
    return answer(fmt, body, root="service_requests", item="request")


@router.get("/requests/{service_request_id}.{fmt}", summary="查询一个服务请求")
def request_detail(
    service_request_id: Annotated[str, Path(max_length=64)], fmt: Fmt, session: SessionDep
) -> Response:
    _check_format(fmt)
    body = service.get_request(
        session, service_request_id=clean("service_request_id", service_request_id, 64)
    )
    return answer(fmt, body, root="service_requests", item="request")


# --- everything else under the prefix: last, so every resource above is matched first ----------------


def _allowed_methods(request: Request) -> list[str]:
    """The methods of this router's resources whose path matches the request's (none: unknown path).
    The router is included without a further prefix, so its routes match the request's own path."""
    allowed: set[str] = set()
    for route in router.routes:
        if isinstance(route, APIRoute) and route.endpoint is not unmatched:
            match, _ = route.matches(request.scope)
            if match is Match.PARTIAL:
                allowed |= route.methods or set()
    return sorted(allowed)


@router.api_route("", methods=ALL_METHODS, include_in_schema=False)
@router.api_route("/{path:path}", methods=ALL_METHODS, include_in_schema=False)
def unmatched(request: Request) -> Response:
    """An unknown path (404) or a method the resource does not take (405, with ``Allow``), answered in
    Open311's error shape like every other refusal under the prefix."""
    allowed = _allowed_methods(request)
    if not allowed:
        raise ResourceNotFound()
    response = error_response(
        request,
        405,
        f"method_not_allowed: 该资源不支持 {request.method[:16]} 请求，请使用 {'、'.join(allowed)}",
    )
    response.headers["Allow"] = ", ".join(allowed)
    return response
