"""Why a photo is refused, and why storage cannot be reached (codes are part of the public contract)."""

from __future__ import annotations

from core.errors import Invalid, NotFound, Unavailable

ACCEPTED_FORMATS = "JPEG、PNG、WebP 或 HEIC"


class UploadNoFile(Invalid):
    def __init__(self) -> None:
        super().__init__("upload_no_file", "请以 multipart/form-data 表单上传照片，文件字段名为 file")


class UploadEmpty(Invalid):
    def __init__(self) -> None:
        super().__init__("upload_empty", "上传的文件是空的，请重新选择照片")


class UploadTooLarge(Invalid):
    """413 semantics, answered as a 422 problem like every validation error."""

    def __init__(self, max_bytes: int) -> None:
        size = f"{max_bytes / (1024 * 1024):g} MB"
        super().__init__("upload_too_large", f"照片不能超过 {size}，请压缩后再上传", max_bytes=max_bytes)


class UploadNotImage(Invalid):
    def __init__(self) -> None:
        super().__init__("upload_not_image", f"文件不是支持的图片，请上传 {ACCEPTED_FORMATS} 格式的照片")


class UploadCorrupt(Invalid):
    def __init__(self) -> None:
        super().__init__("upload_corrupt", "照片文件已损坏或不完整，请重新拍摄或选择照片")


class UploadTooManyPixels(Invalid):
    def __init__(self, max_pixels: int) -> None:
        wan = f"{max_pixels / 10_000:g}"  # Chinese counts pixels in 万 (10 000): 4000 万像素
        super().__init__(
            "upload_too_many_pixels",
            f"照片像素过多（上限 {wan} 万像素），请缩小后再上传",
            max_pixels=max_pixels,
        )


class UploadNotFound(Invalid):
    """An upload id that does not exist or belongs to someone else (the two are not told apart)."""

    def __init__(self, upload_ids: list[str]) -> None:
        super().__init__("upload_not_found", "照片不存在或已失效，请重新上传", upload_ids=upload_ids)


class UploadFailed(Invalid):
    """The photo was accepted but its display copy could not be made: it cannot be attached."""

    def __init__(self, upload_ids: list[str]) -> None:
        super().__init__("upload_failed", "照片处理失败，请重新上传", upload_ids=upload_ids)


class UploadUnknown(NotFound):
    """``GET /uploads/{id}`` of an unknown upload or another person's (404, never 403)."""

    def __init__(self) -> None:
        super().__init__("upload_not_found", "照片不存在")


class StorageUnavailable(Unavailable):
    """The photo store did not answer as expected; jobs retry, requests answer 503."""

    def __init__(self, reason: str) -> None:
        super().__init__("storage_unavailable", "照片存储暂不可用，请稍后再试")
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


class StorageFull(StorageUnavailable):
    """The photo disk has no space left. An outage like any other for jobs (retried); the API answers
    507 ``storage_full``, so operators and clients can tell it from an unreachable store."""

    def __init__(self, reason: str) -> None:
        # Its own code and message: past StorageUnavailable's initialiser to the kind's.
        super(StorageUnavailable, self).__init__(
            "storage_full", "照片存储空间已满，暂时无法保存照片，请稍后再试"
        )
        self.reason = reason


class ObjectMissing(StorageUnavailable):
    def __init__(self, key: str) -> None:
        super().__init__(f"object {key!r} is missing")
        self.key = key
