"""What the API answers about an uploaded photo."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from core.kit.clock import to_local
from core.models import Upload, UploadStatus
from core.uploads.imaging import ExifFacts


class ExifOut(BaseModel):
    """Where and when the camera says the photo was taken, for the client to offer (never imposed)."""

    lng: float | None = Field(description="拍摄位置经度（WGS-84，取自照片 EXIF GPS）")
    lat: float | None = Field(description="拍摄位置纬度（WGS-84）")
    taken_at: datetime | None = Field(
        description="拍摄时间（ISO 8601，带照片记录的时区；照片未记录时区时按北京时间理解）"
    )


class UploadOut(BaseModel):
    id: str = Field(description="照片编号，提交上报时引用")
    content_type: str = Field(
        description="按文件内容识别的类型：image/jpeg、image/png、image/webp、image/heic"
    )
    width: int = Field(description="宽度（像素，按拍摄方向摆正后）")
    height: int = Field(description="高度（像素，按拍摄方向摆正后）")
    size_bytes: int
    status: UploadStatus = Field(description="pending 处理中、ready 可展示、failed 处理失败")
    exif: ExifOut | None = Field(description="照片自带的拍摄位置和时间；都没有时为 null")

    @classmethod
    def of(cls, upload: Upload, exif: ExifFacts | None = None) -> UploadOut:
        """``exif`` from the upload itself keeps the photo's own UTC offset; from the database the time
        is shown in Beijing time."""
        if exif is not None:
            facts: ExifOut | None = ExifOut(lng=exif.lng, lat=exif.lat, taken_at=exif.taken_at)
        elif upload.exif_lng is not None or upload.exif_taken_at is not None:
            taken_at = to_local(upload.exif_taken_at) if upload.exif_taken_at else None
            facts = ExifOut(lng=upload.exif_lng, lat=upload.exif_lat, taken_at=taken_at)
        else:
            facts = None
        return cls(
            id=upload.id,
            content_type=upload.content_type,
            width=upload.width,
            height=upload.height,
            size_bytes=upload.size_bytes,
            status=upload.status,
            exif=facts,
        )
