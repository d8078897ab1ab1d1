"""Photo uploads: ``POST /api/v1/uploads`` (multipart, field ``file``) and the upload's status.

The request body is read here with a hard bound (the photo limit plus a little room for the multipart
envelope): an oversized body is refused as soon as it passes the bound, from its ``Content-Length``
before any byte is read, and no more than the limit plus one byte of the file is ever held in memory.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.errors import PROBLEM_RESPONSES, problem_responses
from core.cases.photos import Variant, photo_bytes
from core.kit.text import CODE_PATTERN
from core.uploads import service as uploads
from core.uploads.errors import UploadEmpty, UploadNoFile, UploadTooLarge
from core.uploads.schemas import UploadOut
from core.uploads.storage import storage_for

# Every route needs a signed-in citizen or staff member (any of them: no 403).
router = APIRouter(
    prefix="/api/v1/uploads", tags=["uploads"], responses={**PROBLEM_RESPONSES, **problem_responses(401)}
)

FIELD = "file"
ENVELOPE_BYTES = 64 * 1024  # multipart boundaries, part headers and a few small fields

MULTIPART_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FIELD],
                    "properties": {
                        FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "照片：JPEG、PNG、WebP 或 HEIC（按文件内容识别，与文件名无关）",
                        }
                    },
                }
            }
        },
    }
}


async def read_photo(request: Request, settings: SettingsDep, _principal: PrincipalDep) -> bytes:
    """The bytes of the ``file`` part, bounded. Depends on the principal so that an anonymous caller is
    refused before its body is read."""
    limit = settings.storage.max_upload_bytes
    body_limit = limit + ENVELOPE_BYTES
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise UploadNoFile()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > body_limit:
        raise UploadTooLarge(limit)

    async def bounded() -> AsyncGenerator[bytes, None]:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > body_limit:
                raise UploadTooLarge(limit)
            yield chunk

    parser = MultiPartParser(request.headers, bounded(), max_files=1, max_fields=8, max_part_size=4096)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise UploadNoFile() from exc
    try:
        part = form.get(FIELD)
        if not isinstance(part, UploadFile):
            raise UploadNoFile()
        data = await part.read(limit + 1)
    finally:
        await form.close()
    if not data:
        raise UploadEmpty()
    if len(data) > limit:
        raise UploadTooLarge(limit)
    return data


PhotoDep = Annotated[bytes, Depends(read_photo)]


@router.post(
    "",
    status_code=201,
    response_model=UploadOut,
    summary="上传照片",
    description=(
        "上传一张照片（multipart/form-data，字段 file）。原图私有保存，系统随后生成去除元数据、"
        "自动摆正的展示图和缩略图（status 由 pending 变为 ready）。返回照片自带的拍摄位置和时间，"
        "供客户端建议填写。错误码：upload_no_file、upload_empty、upload_too_large、upload_not_image、"
        "upload_corrupt、upload_too_many_pixels；存储空间已满时 507 storage_full。"
    ),
    openapi_extra=MULTIPART_BODY,
    responses=problem_responses(507),
)
def create_upload(
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep, photo: PhotoDep
) -> UploadOut:
    received = uploads.receive(
        session,
        storage=storage_for(settings.storage),
        limits=settings.storage,
        owner=principal,
        data=photo,
    )
    return UploadOut.of(received.upload, received.exif)


@router.get(
    "/{upload_id}", response_model=UploadOut, summary="查询照片处理状态", responses=problem_responses(404)
)
def get_upload(
    session: SessionDep,
    principal: PrincipalDep,
    upload_id: Annotated[str, Path(pattern=CODE_PATTERN, description="照片编号")],
) -> UploadOut:
    return UploadOut.of(uploads.get_for_owner(session, upload_id=upload_id, owner=principal))


@router.get(
    "/{upload_id}/{variant}",
    summary="查看照片（显示图或缩略图，已去除元数据）",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **problem_responses(404)},
)
def photo(
    upload_id: Annotated[str, Path(pattern=CODE_PATTERN, description="照片编号")],
    variant: Variant,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> Response:
    data = photo_bytes(
        session, storage_for(settings.storage), principal=principal, upload_id=upload_id, variant=variant
    )
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})
