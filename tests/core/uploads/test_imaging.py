"""Untrusted bytes → verdict, EXIF facts and clean derivatives."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image

from core.kit.clock import SHANGHAI
from core.uploads import imaging
from core.uploads.errors import UploadCorrupt, UploadEmpty, UploadNotImage, UploadTooManyPixels
from core.uploads.imaging import ImageFormat
from tests.core.uploads import photos

MAX_PIXELS = 40_000_000


def inspect(data: bytes, max_pixels: int = MAX_PIXELS) -> imaging.Inspection:
    return imaging.inspect(data, max_pixels=max_pixels)


@pytest.mark.parametrize(
    ("make", "fmt", "content_type"),
    [
        (lambda: photos.jpeg(exif=False), ImageFormat.JPEG, "image/jpeg"),
        (photos.png, ImageFormat.PNG, "image/png"),
        (photos.webp, ImageFormat.WEBP, "image/webp"),
        (photos.heic, ImageFormat.HEIC, "image/heic"),
    ],
    ids=["jpeg", "png", "webp", "heic"],
)
def test_accepted_formats_are_recognised_by_content(
    make: object, fmt: ImageFormat, content_type: str
) -> None:
    data = make()  # type: ignore[operator]
    assert imaging.sniff(data) is fmt
    result = inspect(data)
    assert (result.format, result.content_type) == (fmt, content_type)
    assert (result.width, result.height) == photos.STORED_SIZE


def test_exif_gps_time_and_orientation_are_read() -> None:
    result = inspect(photos.jpeg())
    assert (result.width, result.height) == (100, 200)  # orientation 6: displayed upright
    assert result.exif is not None
    assert result.exif.lng == pytest.approx(photos.LNG, abs=1e-6)
    assert result.exif.lat == pytest.approx(photos.LAT, abs=1e-6)
    assert result.exif.taken_at == datetime(2026, 5, 1, 10, 20, 30, tzinfo=timezone(timedelta(hours=8)))
    assert result.exif.taken_at.isoformat() == "2026-05-01T10:20:30+08:00"


def test_exif_time_keeps_its_own_offset_and_defaults_to_beijing_time() -> None:
    abroad = inspect(photos.jpeg(offset="-05:00")).exif
    assert abroad is not None
    assert abroad.taken_at is not None
    assert abroad.taken_at.isoformat() == "2026-05-01T10:20:30-05:00"
    local = inspect(photos.jpeg(offset=None)).exif
    assert local is not None
    assert local.taken_at is not None
    assert local.taken_at.tzinfo is SHANGHAI
    assert local.taken_at.isoformat() == "2026-05-01T10:20:30+08:00"


def test_southern_and_western_coordinates_are_negative() -> None:
    facts = inspect(photos.jpeg(gps=(-70.25, -33.5))).exif
    assert facts is not None
    assert (facts.lng, facts.lat) == pytest.approx((-70.25, -33.5), abs=1e-6)


def test_photo_without_position_or_time_has_no_exif_facts() -> None:
    assert inspect(photos.jpeg(exif=False)).exif is None
    assert inspect(photos.jpeg(gps=None, taken=None)).exif is None
    assert inspect(photos.jpeg(gps=(0.0, 0.0), taken=None)).exif is None  # no GPS fix


def test_unparseable_exif_time_is_ignored_not_refused() -> None:
    facts = inspect(photos.jpeg(taken="    :  :     :  :  ")).exif
    assert facts is not None
    assert facts.taken_at is None
    assert facts.lng is not None


def test_heic_exif_is_read() -> None:
    facts = inspect(photos.heic()).exif
    assert facts is not None
    assert facts.lat == pytest.approx(photos.LAT, abs=1e-6)


def test_pdf_renamed_as_jpeg_is_not_an_image() -> None:
    with pytest.raises(UploadNotImage) as caught:
        inspect(photos.pdf())
    assert caught.value.code == "upload_not_image"


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        b"BM" + b"\x00" * 64,
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    ],
    ids=["gif", "bmp", "avif", "svg"],
)
def test_other_formats_are_refused(data: bytes) -> None:
    with pytest.raises(UploadNotImage):
        inspect(data)


def test_empty_file_is_refused() -> None:
    with pytest.raises(UploadEmpty):
        inspect(b"")


@pytest.mark.parametrize(
    "data",
    [
        photos.truncated_jpeg(),
        photos.truncated_png(),
        photos.jpeg(exif=False)[:200],
        b"\xff\xd8\xff\xe0" + b"\x00" * 100,
        photos.webp()[:60],
        photos.heic()[:300],
        b"\x89PNG\r\n\x1a\n" + b"garbage" * 10,
    ],
    ids=["jpeg-half", "png-half", "jpeg-header-only", "jpeg-zeros", "webp-cut", "heic-cut", "png-garbage"],
)
def test_truncated_or_corrupt_files_are_refused(data: bytes) -> None:
    with pytest.raises(UploadCorrupt) as caught:
        inspect(data)
    assert caught.value.code == "upload_corrupt"


def test_png_declaring_ten_gigapixels_is_refused_before_decoding() -> None:
    data = photos.png_bomb_header()
    assert len(data) < 200
    with pytest.raises(UploadTooManyPixels) as caught:
        inspect(data)
    assert caught.value.code == "upload_too_many_pixels"
    assert caught.value.details == {"max_pixels": MAX_PIXELS}


def test_highly_compressed_image_over_the_pixel_limit_is_refused() -> None:
    data = photos.png_compressed_bomb()  # 42 MP in a few kB
    assert len(data) < 100_000
    with pytest.raises(UploadTooManyPixels):
        inspect(data)


def test_pixel_limit_is_the_configured_one() -> None:
    with pytest.raises(UploadTooManyPixels):
        inspect(photos.png((300, 300)), max_pixels=300 * 300 - 1)
    assert inspect(photos.png((300, 300)), max_pixels=300 * 300).width == 300


def open_jpeg(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image


def assert_no_metadata(image: Image.Image) -> None:
    assert dict(image.getexif()) == {}
    assert not {"exif", "icc_profile", "xmp", "comment", "photoshop"} & set(image.info)
    assert not any(marker for marker, _ in getattr(image, "applist", []) if marker != "APP0")


def test_derivatives_are_upright_small_and_without_metadata() -> None:
    out = imaging.derive(photos.jpeg(), max_pixels=MAX_PIXELS, display_max_px=2048, thumb_px=320)
    display = open_jpeg(out.display)
    assert display.size == out.display_size == (100, 200)
    assert_no_metadata(display)
    red, blue = display.getpixel((50, 20)), display.getpixel((50, 180))
    assert isinstance(red, tuple)
    assert isinstance(blue, tuple)
    assert red[0] > 200
    assert red[2] < 60
    assert blue[2] > 200
    assert blue[0] < 60
    thumb = open_jpeg(out.thumb)
    assert thumb.size == out.thumb_size == (100, 200)  # already smaller than the thumbnail size
    assert_no_metadata(thumb)


def test_large_photo_is_scaled_to_the_display_and_thumbnail_sizes() -> None:
    out = imaging.derive(
        photos.jpeg((3000, 1200), orientation=8), max_pixels=MAX_PIXELS, display_max_px=2048, thumb_px=320
    )
    assert open_jpeg(out.display).size == (819, 2048)
    assert open_jpeg(out.thumb).size == (128, 320)


@pytest.mark.parametrize(
    "data",
    [
        photos.png(mode="RGBA"),
        photos.png(mode="LA"),
        photos.png(mode="P"),
        photos.png(mode="I;16"),
        photos.heic(),
    ],
    ids=["rgba", "la", "palette", "16-bit-grey", "heic"],
)
def test_every_mode_becomes_an_rgb_jpeg(data: bytes) -> None:
    out = imaging.derive(data, max_pixels=MAX_PIXELS, display_max_px=64, thumb_px=16)
    display = open_jpeg(out.display)
    assert display.mode == "RGB"
    assert max(display.size) == 64
    assert_no_metadata(display)


def test_icc_profile_is_applied_then_dropped() -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = photos.encode(photos.picture(), "JPEG", icc_profile=icc)
    out = imaging.derive(data, max_pixels=MAX_PIXELS, display_max_px=2048, thumb_px=320)
    display = open_jpeg(out.display)
    assert "icc_profile" not in display.info
    pixel = display.getpixel((10, 10))
    assert isinstance(pixel, tuple)
    assert pixel[0] > 200
