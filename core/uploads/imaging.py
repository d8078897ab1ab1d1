"""Untrusted image bytes → a verdict, the EXIF facts a client may offer, and clean derivatives.

- The format is sniffed from the bytes (never the file name or the client's content type) and the
  decoder of that one format is used, so a PDF renamed ``.jpg`` never reaches a decoder.
- The declared size is checked against ``max_pixels`` before any pixel is decoded (decompression
  bombs), and Pillow's own bomb guard is set to the same limit with its warning turned into an error.
- The whole image is decoded once on upload (``load()``), so truncated or corrupt files are refused
  at once rather than failing later in the job.
- Derivatives are made from pixels only: auto-oriented (EXIF orientation), converted to sRGB, saved as
  new JPEGs without EXIF, ICC profile, XMP or comments.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import pillow_heif
from PIL import ExifTags, Image, ImageCms, ImageOps

from core.kit.clock import SHANGHAI
from core.uploads.errors import UploadCorrupt, UploadEmpty, UploadNotImage, UploadTooManyPixels

log = logging.getLogger("zhcg.uploads")

pillow_heif.register_heif_opener()


class ImageFormat(StrEnum):
    """Accepted formats; the value is the Pillow plugin that may decode it."""

    JPEG = "JPEG"
    PNG = "PNG"
    WEBP = "WEBP"
    HEIC = "HEIF"

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self]


_CONTENT_TYPES = {
    ImageFormat.JPEG: "image/jpeg",
    ImageFormat.PNG: "image/png",
    ImageFormat.WEBP: "image/webp",
    ImageFormat.HEIC: "image/heic",
}

# ISO-BMFF brands of HEIF images coded with HEVC (iPhone and most Android "HEIC" photos) and the
# generic HEIF brands; AVIF shares the container and is not accepted.
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})

ORIENTATION_SWAPS_AXES = frozenset({5, 6, 7, 8})
JPEG_QUALITY = 85
THUMB_QUALITY = 80


def sniff(data: bytes) -> ImageFormat | None:
    """The accepted format these bytes are, by their magic numbers; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageFormat.PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageFormat.WEBP
    if len(data) >= 16 and data[4:8] == b"ftyp":
        box_size = int.from_bytes(data[:4], "big")
        end = min(box_size, len(data), 4096) if box_size >= 16 else 16
        brands = {data[8:12]} | {data[i : i + 4] for i in range(16, end - 3, 4)}
        if brands & _HEIC_BRANDS or (brands & _HEIF_BRANDS and not brands & _AVIF_BRANDS):
            return ImageFormat.HEIC
    return None


@dataclass(frozen=True)
class ExifFacts:
    """What the camera recorded: WGS-84 position and the local time the photo was taken."""

    lng: float | None
    lat: float | None
    taken_at: datetime | None  # aware: the EXIF offset when recorded, else Asia/Shanghai


@dataclass(frozen=True)
class Inspection:
    format: ImageFormat
    width: int  # as displayed, i.e. after the EXIF orientation
    height: int
    exif: ExifFacts | None

    @property
    def content_type(self) -> str:
        return self.format.content_type


@dataclass(frozen=True)
class Derivatives:
    display: bytes
    display_size: tuple[int, int]
    thumb: bytes
    thumb_size: tuple[int, int]


def inspect(data: bytes, *, max_pixels: int) -> Inspection:
    """Validate an uploaded file completely (raises an ``Upload*`` error) and read its EXIF facts."""
    with _decoded(data, max_pixels=max_pixels) as (image_format, image):
        width, height = image.size
        exif = _exif(image)
        if exif is None:
            return Inspection(format=image_format, width=width, height=height, exif=None)
        if exif.get(ExifTags.Base.Orientation) in ORIENTATION_SWAPS_AXES:
            width, height = height, width
        return Inspection(format=image_format, width=width, height=height, exif=_exif_facts(exif))


def derive(data: bytes, *, max_pixels: int, display_max_px: int, thumb_px: int) -> Derivatives:
    """The display copy (long side ≤ ``display_max_px``) and the thumbnail (≤ ``thumb_px``): upright,
    sRGB, JPEG, without any metadata."""
    with _decoded(data, max_pixels=max_pixels, draft_px=display_max_px) as (_, image):
        upright = _clean_rgb(image)
    display = _fit(upright, display_max_px)
    thumb = _fit(display, thumb_px)
    return Derivatives(
        display=_jpeg(display, JPEG_QUALITY),
        display_size=display.size,
        thumb=_jpeg(thumb, THUMB_QUALITY),
        thumb_size=thumb.size,
    )


@contextmanager
def _decoded(
    data: bytes, *, max_pixels: int, draft_px: int | None = None
) -> Iterator[tuple[ImageFormat, Image.Image]]:
    if not data:
        raise UploadEmpty()
    image_format = sniff(data)
    if image_format is None:
        raise UploadNotImage()
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's own guard: a warning above, an error above twice
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[image_format.value])
            if image.width * image.height > max_pixels:
                raise UploadTooManyPixels(max_pixels)
            if draft_px is not None and image_format is ImageFormat.JPEG:
                image.draft("RGB", (draft_px, draft_px))  # decode JPEG at a reduced scale: faster
            image.load()  # the full decode: truncated and corrupt data fail here
    except UploadTooManyPixels:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UploadTooManyPixels(max_pixels) from exc
    except Exception as exc:
        # Decoders of hostile input fail with a zoo of exception types (OSError, SyntaxError,
        # ValueError, EOFError, struct.error, zlib.error, RuntimeError from libheif…); whichever it is,
        # the file cannot be decoded. The type is logged so a decoder bug remains visible.
        log.info("undecodable %s upload: %s: %s", image_format.value, type(exc).__name__, exc)
        raise UploadCorrupt() from exc
    try:
        yield image_format, image
    finally:
        image.close()


def _exif(image: Image.Image) -> Image.Exif | None:
    try:
        exif = image.getexif()
    except Exception as exc:  # malformed EXIF must not refuse an otherwise good photo
        log.info("unreadable EXIF: %s: %s", type(exc).__name__, exc)
        return None
    return exif


def _exif_facts(exif: Image.Exif) -> ExifFacts | None:
    try:
        lng, lat = _gps(exif.get_ifd(ExifTags.IFD.GPSInfo))
        taken_at = _taken_at(exif)
    except Exception as exc:  # a bad value in one tag is the camera's problem, not the upload's
        log.info("unreadable EXIF values: %s: %s", type(exc).__name__, exc)
        return None
    if lng is None and taken_at is None:
        return None
    return ExifFacts(lng=lng, lat=lat, taken_at=taken_at)


def _gps(gps: dict[int, Any]) -> tuple[float | None, float | None]:
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "S")
    lng = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "W")
    if lat is None or lng is None or not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None, None
    if lat == 0 and lng == 0:  # "null island": a camera without a fix
        return None, None
    return round(lng, 7), round(lat, 7)


def _degrees(value: Any, ref: Any, negative_ref: str) -> float | None:
    if isinstance(value, tuple | list) and 1 <= len(value) <= 3:
        parts = [float(part) for part in value]
    elif isinstance(value, int | float):
        parts = [float(value)]
    else:
        return None
    if not all(math.isfinite(part) and part >= 0 for part in parts):
        return None
    degrees = sum(part / 60.0**i for i, part in enumerate(parts))
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    if isinstance(ref, str) and ref.strip("\x00 ").upper() == negative_ref:
        degrees = -degrees
    return degrees


# (date tag, its IFD, offset tag): DateTimeOriginal first, then DateTimeDigitized, then DateTime.
_TIME_TAGS = (
    (ExifTags.Base.DateTimeOriginal, ExifTags.IFD.Exif, ExifTags.Base.OffsetTimeOriginal),
    (ExifTags.Base.DateTimeDigitized, ExifTags.IFD.Exif, ExifTags.Base.OffsetTimeDigitized),
    (ExifTags.Base.DateTime, None, ExifTags.Base.OffsetTime),
)


def _taken_at(exif: Image.Exif) -> datetime | None:
    exif_ifd = exif.get_ifd(ExifTags.IFD.Exif)
    for date_tag, ifd, offset_tag in _TIME_TAGS:
        raw = (exif_ifd if ifd is not None else exif).get(date_tag)
        moment = _exif_datetime(raw)
        if moment is None:
            continue
        offset = _exif_offset(exif_ifd.get(offset_tag))
        return moment.replace(tzinfo=offset or SHANGHAI)
    return None


def _exif_datetime(raw: Any) -> datetime | None:
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    if not isinstance(raw, str):
        return None
    text = raw.strip("\x00 ")[:19]
    try:
        # EXIF time is a local wall-clock time without a zone; the zone is attached by the caller.
        return datetime.strptime(text, "%Y:%m:%d %H:%M:%S")  # noqa: DTZ007
    except ValueError:
        return None


def _exif_offset(raw: Any) -> timezone | None:
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    if not isinstance(raw, str):
        return None
    text = raw.strip("\x00 ")
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        hours, minutes = int(text[1:3]), int(text[4:6])
    except ValueError:
        return None
    if hours > 14 or minutes >= 60:
        return None
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


_SRGB = ImageCms.createProfile("sRGB")


def _clean_rgb(image: Image.Image) -> Image.Image:
    """Upright RGB pixels in sRGB; the returned image carries no metadata at all."""
    upright = ImageOps.exif_transpose(image)
    icc = image.info.get("icc_profile")
    if upright.mode in {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}:
        # 16-bit or float grey: scale to 8 bits instead of clipping to white.
        upright = upright.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if upright.mode in {"RGBA", "LA", "PA"} or (upright.mode == "P" and "transparency" in upright.info):
        rgba = upright.convert("RGBA")
        flattened = Image.new("RGB", rgba.size, (255, 255, 255))
        flattened.paste(rgba, mask=rgba.getchannel("A"))
        upright = flattened
    elif upright.mode != "RGB":
        upright = upright.convert("RGB")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(upright, source, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
            log.info("ignored an unusable ICC profile: %s", exc)
        else:
            if converted is not None:
                upright = converted
    # Copy the pixels into a new image: nothing of the original's info (EXIF, XMP, ICC) comes along.
    clean = Image.new("RGB", upright.size)
    clean.paste(upright)
    return clean


def _fit(image: Image.Image, max_px: int) -> Image.Image:
    if max(image.size) <= max_px:
        return image
    scale = max_px / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()
