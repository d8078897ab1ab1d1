"""Test photos made on the fly with Pillow (and hand-crafted hostile files)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import ExifTags, Image

# Stored 200 × 100: left half red, right half blue. With orientation 6 (rotate 90° clockwise to show)
# it is displayed 100 × 200, red on top.
STORED_SIZE = (200, 100)
LNG, LAT = 114.9170333, 27.8181667  # 114°55'01.32" E, 27°49'05.40" N


def picture(size: tuple[int, int] = STORED_SIZE, mode: str = "RGB") -> Image.Image:
    image = Image.new("RGB", size, (255, 0, 0))
    image.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    return image.convert(mode) if mode != "RGB" else image


def exif_bytes(
    *,
    orientation: int | None = 6,
    gps: tuple[float, float] | None = (LNG, LAT),
    taken: str | None = "2026:05:01 10:20:30",
    offset: str | None = "+08:00",
) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "ZHCG Test Camera"
    if gps is not None:
        lng, lat = gps
        exif[ExifTags.IFD.GPSInfo] = {
            ExifTags.GPS.GPSLatitudeRef: "N" if lat >= 0 else "S",
            ExifTags.GPS.GPSLatitude: _dms(abs(lat)),
            ExifTags.GPS.GPSLongitudeRef: "E" if lng >= 0 else "W",
            ExifTags.GPS.GPSLongitude: _dms(abs(lng)),
        }
    if taken is not None:
        fields: dict[int, str] = {ExifTags.Base.DateTimeOriginal: taken}
        if offset is not None:
            fields[ExifTags.Base.OffsetTimeOriginal] = offset
        exif[ExifTags.IFD.Exif] = fields
    return exif.tobytes()


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 4)
    return (float(degrees), float(minutes), seconds)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    if fmt in {"HEIF", "HEIC"}:
        import pillow_heif

        pillow_heif.register_heif_opener()
        fmt = "HEIF"
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def jpeg(size: tuple[int, int] = STORED_SIZE, **exif_options: object) -> bytes:
    """A JPEG; with EXIF (orientation 6, GPS, time) unless ``exif=False``."""
    if exif_options.pop("exif", True) is False:
        return encode(picture(size), "JPEG", quality=90)
    return encode(picture(size), "JPEG", quality=90, exif=exif_bytes(**exif_options))  # type: ignore[arg-type]


def png(size: tuple[int, int] = STORED_SIZE, mode: str = "RGB") -> bytes:
    return encode(picture(size, mode), "PNG")


def webp(size: tuple[int, int] = STORED_SIZE) -> bytes:
    return encode(picture(size), "WEBP", quality=90)


def heic(size: tuple[int, int] = STORED_SIZE) -> bytes:
    return encode(picture(size), "HEIF", quality=90, exif=exif_bytes(orientation=None))


def pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


def truncated_jpeg() -> bytes:
    whole = encode(picture((640, 480)), "JPEG", quality=95)
    return whole[: len(whole) // 2]


def truncated_png() -> bytes:
    whole = encode(Image.effect_noise((256, 256), 64).convert("RGB"), "PNG")
    return whole[: len(whole) // 2]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb_header(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny valid-looking PNG whose header declares ``width × height`` pixels (10 gigapixels)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\x00" + b"\x00" * 3 * 16
    idat = zlib.compress(row * 16, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def png_compressed_bomb(width: int = 7_000, height: int = 6_000) -> bytes:
    """A real, fully decodable 1-bit PNG of 42 megapixels that is only a few kilobytes."""
    return encode(Image.new("1", (width, height), 1), "PNG", optimize=True)
