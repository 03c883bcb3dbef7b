"""Tests of woundtrack.image.io on synthetic files made in tmp_path (never real patient photos)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PIL import Image, PngImagePlugin

import woundtrack.image.location as wloc
from woundtrack.errors import ImageError
from woundtrack.image.io import (
    MAX_MEGAPIXELS,
    read_photo,
    write_labels_png,
    write_rgb,
)
from woundtrack.image.location import strip_location

pillow_heif.register_heif_opener()

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL, FOCAL_35MM = 36867, 36881, 41989
ORIENTATION = 274
SECRET = "WT-SECRET-DATUM"

# Six well-separated colours in a 2x3 grid of 16-px blocks: no rotation or mirror maps it onto
# itself, and JPEG/HEIC compression cannot move a block centre to another colour.
COLOURS = np.array(
    [[(230, 30, 30), (30, 200, 30), (30, 30, 230)], [(240, 240, 40), (30, 220, 220), (20, 20, 20)]],
    dtype=np.uint8,
)
BLOCK = 16


def upright() -> np.ndarray:
    """(32, 48, 3) RGB: what a person should see."""
    return np.repeat(np.repeat(COLOURS, BLOCK, axis=0), BLOCK, axis=1)


def block_colours(image: np.ndarray) -> np.ndarray:
    """Colour at the centre of each 16-px block, as the nearest entry of COLOURS' index."""
    centres = image[BLOCK // 2 :: BLOCK, BLOCK // 2 :: BLOCK].astype(int)
    palette = COLOURS.reshape(-1, 3).astype(int)
    distance = ((centres[:, :, None, :] - palette[None, None, :, :]) ** 2).sum(axis=-1)
    return distance.argmin(axis=-1)


# What a viewer shows for stored pixels ``a`` under each EXIF orientation, written from the tag's
# definition (where row 0 / column 0 of the stored image go), not from Pillow's table.
DISPLAYED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # row 0 top, column 0 right
    3: lambda a: a[::-1, ::-1],  # row 0 bottom, column 0 right
    4: lambda a: a[::-1, :],  # row 0 bottom, column 0 left
    5: lambda a: a.transpose(1, 0, 2),  # row 0 left, column 0 top
    6: lambda a: np.rot90(a, -1),  # row 0 right, column 0 top
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # row 0 right, column 0 bottom
    8: lambda a: np.rot90(a, 1),  # row 0 left, column 0 bottom
}
STORED = {**DISPLAYED, 6: DISPLAYED[8], 8: DISPLAYED[6]}  # the inverse of each


def encode(image: Image.Image | np.ndarray, fmt: str, **options: object) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    if isinstance(options.get("exif"), Image.Exif):
        # Bytes, not the Exif object: Pillow's PNG and TIFF writers silently drop an Exif whose
        # IFD0 is empty (it only has sub-IFDs), because such an object is falsy.
        options["exif"] = options["exif"].tobytes()
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def exif_with(
    *,
    taken: str | None = None,
    offset: str | None = None,
    focal: int | None = None,
    orientation: int | None = None,
    gps: bool = False,
) -> Image.Exif:
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    sub = exif.get_ifd(EXIF_IFD)
    if taken is not None:
        sub[DATETIME_ORIGINAL] = taken
    if offset is not None:
        sub[OFFSET_TIME_ORIGINAL] = offset
    if focal is not None:
        sub[FOCAL_35MM] = focal
    if gps:
        location = exif.get_ifd(GPS_IFD)
        location[1] = "N"
        location[2] = (52.0, 31.0, 12.5)
        location[3] = "E"
        location[4] = (13.0, 24.0, 1.25)
        location[18] = SECRET  # GPSMapDatum: a string we can look for in the bytes
    return exif


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def png_with_size(width: int, height: int) -> bytes:
    """A tiny real PNG whose IHDR claims another size (CRC fixed), so nothing big is allocated."""
    data = bytearray(encode(Image.new("RGB", (4, 4)), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


# ------------------------------------------------------------------------------------ formats


@pytest.mark.parametrize(
    ("fmt", "suffix", "options", "tolerance"),
    [
        ("JPEG", ".jpg", {"quality": 95}, 12),
        ("PNG", ".png", {}, 0),
        ("WEBP", ".webp", {"lossless": True}, 0),
        ("TIFF", ".tif", {}, 0),
        ("HEIF", ".heic", {"quality": 95}, 16),
        ("GIF", ".gif", {}, 0),
    ],
)
def test_reads_each_format(tmp_path, fmt, suffix, options, tolerance):
    expected = upright()
    data = encode(expected, fmt, **options)
    path = write(tmp_path, f"IMG_0412{suffix}", data)
    image, info = read_photo(path)
    assert image.dtype == np.uint8 and image.shape == (32, 48, 3)
    assert image.flags.c_contiguous
    # Lossy codecs smear block edges (chroma subsampling); compare the 8x8 block interiors.
    inner = (slice(None), slice(None))
    if tolerance:
        rows = np.arange(32) % BLOCK
        cols = np.arange(48) % BLOCK
        inner = np.ix_((rows >= 4) & (rows < 12), (cols >= 4) & (cols < 12))
    assert np.abs(image[inner].astype(int) - expected[inner]).max() <= tolerance
    assert info.file == f"IMG_0412{suffix}"
    assert info.format == fmt
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert (info.width_px, info.height_px) == (48, 32)


def test_path_given_as_str_and_bytes_with_name(tmp_path):
    data = encode(upright(), "PNG")
    path = write(tmp_path, "wound.png", data)
    from_str, info_str = read_photo(str(path))
    from_bytes, info_bytes = read_photo(data, name=r"C:\Users\nurse\Ward 3\wound.png")
    assert np.array_equal(from_str, from_bytes)
    assert info_str.file == info_bytes.file == "wound.png"
    assert info_str.sha256 == info_bytes.sha256
    assert read_photo(bytearray(data))[1].file == "photo"


def test_extension_that_lies_is_read_by_content_with_a_warning(tmp_path):
    path = write(tmp_path, "wound.jpg", encode(upright(), "PNG"))
    image, info = read_photo(path)
    assert np.array_equal(image, upright())
    assert info.format == "PNG"
    assert any(
        re.search(r"wound\.jpg: the file is a PNG image although its extension says JPEG", w)
        for w in info.warnings
    )


def test_matching_extension_gives_no_format_warning(tmp_path):
    _, info = read_photo(
        write(
            tmp_path,
            "a.JPEG",
            encode(upright(), "JPEG", exif=exif_with(taken="2024:05:06 07:08:09")),
        )
    )
    assert info.warnings == ()


# -------------------------------------------------------------------------------- orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_exif_orientation_gives_displayed_pixels(tmp_path, orientation):
    stored = np.ascontiguousarray(STORED[orientation](upright()))
    assert np.array_equal(DISPLAYED[orientation](stored), upright())  # the table is consistent
    data = encode(stored, "JPEG", quality=95, exif=exif_with(orientation=orientation))
    image, info = read_photo(write(tmp_path, f"o{orientation}.jpg", data))
    assert image.shape == (32, 48, 3)
    assert (info.width_px, info.height_px) == (48, 32)
    assert image.flags.c_contiguous
    assert np.array_equal(block_colours(image), np.arange(6).reshape(2, 3))


def test_png_exif_orientation_is_applied_too(tmp_path):
    stored = np.ascontiguousarray(STORED[6](upright()))
    data = encode(stored, "PNG", exif=exif_with(orientation=6))
    image, _ = read_photo(write(tmp_path, "o6.png", data))
    assert np.array_equal(image, upright())


def test_heic_is_not_rotated_twice(tmp_path):
    # pillow_heif stores the EXIF orientation as a HEIF rotation on save; libheif applies it on
    # read while the stored EXIF tag still says 6. One rotation is right, two would be wrong.
    stored = np.ascontiguousarray(STORED[6](upright()))
    data = encode(stored, "HEIF", quality=95, exif=exif_with(orientation=6))
    assert b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06" in data  # the file's EXIF still says 6
    image, info = read_photo(write(tmp_path, "IMG_0001.HEIC", data))
    assert info.format == "HEIF"
    assert image.shape == (32, 48, 3)
    assert np.array_equal(block_colours(image), np.arange(6).reshape(2, 3))


def test_heic_exif_orientation_is_ignored_even_when_a_reader_reports_it(monkeypatch):
    # pillow_heif 1.x reports orientation 1 after applying the HEIF rotation; an older or other
    # reader may pass the file's 6 through. woundtrack must not rotate a second time either way.
    real_getexif = Image.Image.getexif

    def getexif_keeping_orientation(self):  # noqa: ANN001
        exif = real_getexif(self)
        if self.format == "HEIF":
            exif[ORIENTATION] = self.info.get("original_orientation", 1)
        return exif

    monkeypatch.setattr(Image.Image, "getexif", getexif_keeping_orientation)
    stored = np.ascontiguousarray(STORED[6](upright()))
    data = encode(stored, "HEIF", quality=95, exif=exif_with(orientation=6))
    with Image.open(io.BytesIO(data)) as img:
        assert img.getexif()[ORIENTATION] == 6
    image, _ = read_photo(data, name="IMG_0001.HEIC")
    assert np.array_equal(block_colours(image), np.arange(6).reshape(2, 3))


# ------------------------------------------------------------------------------- capture time


def test_capture_time_with_offset_is_timezone_aware(tmp_path):
    exif = exif_with(taken="2024:05:06 07:08:09", offset="+02:00", focal=26)
    exif.get_ifd(EXIF_IFD)[0x9291] = "25"  # SubSecTimeOriginal: 0.25 s
    _, info = read_photo(write(tmp_path, "a.jpg", encode(upright(), "JPEG", exif=exif)))
    assert info.taken_at == datetime(
        2024, 5, 6, 7, 8, 9, 250000, tzinfo=timezone(timedelta(hours=2))
    )
    assert info.taken_at.utcoffset() == timedelta(hours=2)
    assert info.focal_length_35mm == 26.0
    assert info.warnings == ()


def test_capture_time_with_negative_offset(tmp_path):
    exif = exif_with(taken="2023:12:31 23:59:58", offset="-05:30")
    _, info = read_photo(encode(upright(), "JPEG", exif=exif), name="a.jpg")
    assert info.taken_at == datetime(
        2023, 12, 31, 23, 59, 58, tzinfo=timezone(-timedelta(hours=5, minutes=30))
    )


def test_capture_time_without_offset_is_naive(tmp_path):
    exif = exif_with(taken="2024:05:06 07:08:09")
    _, info = read_photo(encode(upright(), "JPEG", exif=exif), name="a.jpg")
    assert info.taken_at == datetime(2024, 5, 6, 7, 8, 9)
    assert info.taken_at.tzinfo is None
    assert info.focal_length_35mm is None


def test_capture_time_in_heic(tmp_path):
    exif = exif_with(taken="2024:05:06 07:08:09", offset="+01:00", focal=24)
    data = encode(upright(), "HEIF", exif=exif)
    _, info = read_photo(data, name="IMG_0412.HEIC")
    assert info.taken_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=1)))
    assert info.focal_length_35mm == 24.0


def test_missing_capture_time_gives_none_and_a_warning(tmp_path):
    path = write(tmp_path, "IMG_0412.jpg", encode(upright(), "JPEG"))
    _, info = read_photo(path)
    assert info.taken_at is None
    assert len(info.warnings) == 1
    assert re.search(r"^IMG_0412\.jpg: the capture time is unknown .* by hand", info.warnings[0])


@pytest.mark.parametrize("raw", ["0000:00:00 00:00:00", "garbage", "2024:13:45 07:08:09", "    "])
def test_unparseable_capture_time_gives_none_and_a_warning(raw):
    exif = exif_with(taken=raw, offset="+02:00")
    _, info = read_photo(encode(upright(), "JPEG", exif=exif), name="a.jpg")
    assert info.taken_at is None
    assert any(re.search(r"capture time is unknown.*by hand", w) for w in info.warnings)


def _exif_day(day: date) -> str:
    return f"{day:%Y:%m:%d} 12:00:00"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (
            "9999:12:31 23:59:59",
            r"9999-12-31 is after \d{4}-\d\d-\d\d \(tomorrow\): a camera clock set wrong",
        ),
        (
            "0001:01:01 00:00:00",
            r"0001-01-01 is before 1990-01-01, older than any digital photo: a camera clock "
            r"that was never set",
        ),
        ("1989:12:31 23:59:59", r"1989-12-31 is before 1990-01-01, .*"),
        ("in two days", r"\d{4}-\d\d-\d\d is after .*"),
    ],
)
def test_capture_time_outside_the_plausible_range_gives_none_and_a_warning(raw, why):
    if raw == "in two days":  # from the day the test runs, not the day it was collected
        raw = _exif_day(date.today() + timedelta(days=2))
    # Issue 30, row 4: such a date overflowed the healing analytics and broke the app's pages.
    exif = exif_with(taken=raw, offset="+02:00")
    _, info = read_photo(encode(upright(), "JPEG", exif=exif), name="a.jpg")
    assert info.taken_at is None
    [warning] = info.warnings
    assert re.fullmatch(
        rf"a\.jpg: the capture time is unknown \(EXIF DateTimeOriginal is '{raw}': {why}\); "
        r"enter the date the photo was taken by hand \(the app's Upload page, or import "
        r"--taken-on; a stored photo's on the Review page\)",
        warning,
    ), warning


@pytest.mark.parametrize("day", [date(1990, 1, 1), "tomorrow"])
def test_capture_time_range_ends_are_kept(day):
    if day == "tomorrow":  # from the day the test runs: a run may cross midnight after collecting
        day = date.today() + timedelta(days=1)
    exif = exif_with(taken=_exif_day(day))  # tomorrow: a camera in a time zone ahead of ours
    _, info = read_photo(encode(upright(), "JPEG", exif=exif), name="a.jpg")
    assert info.taken_at == datetime.combine(day, datetime.min.time()).replace(hour=12)
    assert info.warnings == ()


def test_file_mtime_is_never_used(tmp_path):
    path = write(tmp_path, "a.png", encode(upright(), "PNG"))
    _, info = read_photo(path)
    assert info.taken_at is None


def test_unreadable_offset_keeps_local_time_with_a_warning():
    exif = exif_with(taken="2024:05:06 07:08:09", offset="CET")
    _, info = read_photo(encode(upright(), "JPEG", exif=exif), name="a.jpg")
    assert info.taken_at == datetime(2024, 5, 6, 7, 8, 9)
    assert any(re.search(r"OffsetTimeOriginal 'CET' is not a UTC offset", w) for w in info.warnings)


# ---------------------------------------------------------------------------------- modes


def read_png(image: Image.Image, **options: object) -> np.ndarray:
    return read_photo(encode(image, "PNG", **options), name="m.png")[0]


def test_greyscale_becomes_rgb():
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    image = read_png(Image.fromarray(grey))
    assert image.shape == (16, 16, 3)
    assert all(np.array_equal(image[:, :, c], grey) for c in range(3))


def test_16bit_is_scaled_not_clipped():
    values = np.array([[0, 257, 1000, 32896], [40000, 65278, 65535, 128]], dtype=np.uint16)
    source = Image.fromarray(values)
    assert source.mode == "I;16"
    image = read_png(source)
    assert np.array_equal(image[:, :, 0], np.rint(values / 257).astype(np.uint8))
    assert image[0, 2, 0] == 4  # 1000 / 257, where clipping would give 255


def test_32bit_integer_tiff_is_scaled():
    values = np.array([[0, 65535], [257 * 10, 257 * 200]], dtype=np.int32)
    source = Image.fromarray(values)
    assert source.mode == "I"
    image, _ = read_photo(encode(source, "TIFF"), name="i.tif")
    assert image[:, :, 1].tolist() == [[0, 255], [10, 200]]


def test_float_tiff_is_scaled():
    values = np.array([[0.0, 1.0], [0.5, 0.25]], dtype=np.float32)
    image, _ = read_photo(encode(Image.fromarray(values), "TIFF"), name="f.tif")
    assert image[:, :, 2].tolist() == [[0, 255], [128, 64]]


def test_float_tiff_out_of_range_is_stretched_with_a_warning():
    values = np.array([[-10.0, 10.0], [0.0, 5.0]], dtype=np.float32)
    image, info = read_photo(encode(Image.fromarray(values), "TIFF"), name="f.tif")
    assert image[:, :, 0].tolist() == [[0, 255], [128, 191]]
    assert any("stretched to 0..255" in w for w in info.warnings)


def test_palette_becomes_rgb():
    palette_image = Image.fromarray(upright()).convert("P", palette=Image.Palette.ADAPTIVE)
    assert palette_image.mode == "P"
    assert np.array_equal(read_png(palette_image), upright())


def test_palette_with_transparency_is_composited_on_white():
    palette_image = Image.new("P", (4, 2))
    palette_image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette_image.putpixel((0, 0), 1)
    image = read_png(palette_image, transparency=0)
    assert image[0, 0].tolist() == [0, 0, 255]
    assert image[1, 3].tolist() == [255, 255, 255]


def test_rgba_is_composited_on_white():
    rgba = np.array(
        [[(255, 0, 0, 255), (255, 0, 0, 0)], [(0, 0, 0, 128), (0, 100, 200, 51)]], dtype=np.uint8
    )
    image = read_png(Image.fromarray(rgba))
    assert image[0, 0].tolist() == [255, 0, 0]
    assert image[0, 1].tolist() == [255, 255, 255]
    assert image[1, 0].tolist() == [127, 127, 127]  # 255 * (255 - 128) / 255
    assert image[1, 1].tolist() == [204, 224, 244]  # c * 0.2 + 255 * 0.8


def test_la_is_composited_on_white():
    la = Image.merge("LA", (Image.new("L", (2, 1), 0), Image.frombytes("L", (2, 1), b"\xff\x00")))
    image = read_png(la)
    assert image.tolist() == [[[0, 0, 0], [255, 255, 255]]]


def test_cmyk_becomes_rgb():
    cmyk = Image.new("CMYK", (4, 2), (0, 0, 0, 0))
    cmyk.paste((0, 0, 0, 255), (0, 0, 2, 2))
    for fmt in ("JPEG", "TIFF"):
        image, _ = read_photo(encode(cmyk, fmt), name=f"c.{fmt.lower()}")
        assert image.shape == (2, 4, 3)
        assert image[0, 0].max() <= 5 and image[0, 3].min() >= 250


def test_colour_mode_pillow_cannot_convert_is_refused(monkeypatch):
    def refuse(self, mode=None, *args, **kwargs):  # noqa: ANN001
        raise ValueError(f"conversion from {self.mode} to {mode} not supported")

    monkeypatch.setattr(Image.Image, "convert", refuse)
    with pytest.raises(
        ImageError,
        match=r"^c\.jpg: the colour mode CMYK cannot be converted to RGB \(conversion from CMYK",
    ):
        read_photo(encode(Image.new("CMYK", (4, 2)), "JPEG"), name="c.jpg")


def test_one_bit_becomes_rgb():
    bits = Image.new("1", (9, 3), 0)
    bits.putpixel((8, 2), 1)
    image = read_png(bits)
    assert image.shape == (3, 9, 3)
    assert image[2, 8].tolist() == [255, 255, 255] and image[0, 0].tolist() == [0, 0, 0]


# ------------------------------------------------------------------------------- animations


@pytest.mark.parametrize(
    ("fmt", "suffix", "options"),
    [
        ("GIF", ".gif", {}),
        ("WEBP", ".webp", {"lossless": True}),
        ("PNG", ".png", {}),
        ("TIFF", ".tif", {}),
    ],
)
def test_animated_gives_first_frame_and_a_warning(fmt, suffix, options):
    frames = [Image.new("RGB", (20, 10), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], **options)
    image, info = read_photo(data, name=f"anim{suffix}")
    assert np.all(image == (255, 0, 0))
    assert any(
        re.search(rf"anim\{suffix}: the {fmt} file holds 2 frames or images; only the first", w)
        for w in info.warnings
    )


def test_phone_jpeg_with_extra_images_is_not_called_animated():
    frames = [Image.fromarray(upright()), Image.new("RGB", (8, 8))]
    data = encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    image, info = read_photo(data, name="IMG_1.jpg")
    assert info.format == "JPEG"
    assert not any("frames" in w for w in info.warnings)
    assert np.array_equal(block_colours(image), np.arange(6).reshape(2, 3))


# --------------------------------------------------------------------------------- refusals


def test_header_over_the_limit_is_refused_before_decoding(tmp_path):
    path = write(tmp_path, "IMG_0412.png", png_with_size(10000, 6000))
    with pytest.raises(
        ImageError,
        match=r"^IMG_0412\.png: 10000x6000 pixels \(60 MP\) is over the 50 MP limit; resize the "
        r"photo before upload$",
    ):
        read_photo(path)


def test_over_pillow_bomb_warning_size_is_refused():
    with pytest.raises(ImageError, match=r"12000x9000 pixels \(108 MP\) is over the 50 MP limit"):
        read_photo(png_with_size(12000, 9000), name="big.png")


def test_decompression_bomb_error_becomes_image_error():
    with pytest.raises(ImageError, match=r"^IMG_0412\.HEIC: 315 MP is over the 50 MP limit"):
        read_photo(png_with_size(21000, 15000), name="IMG_0412.HEIC")


def test_real_one_bit_png_over_the_limit_is_refused(tmp_path):
    path = tmp_path / "bits.png"
    Image.new("1", (10000, 5100)).save(path)
    assert path.stat().st_size < 20_000
    with pytest.raises(ImageError, match=r"10000x5100 pixels \(51 MP\) is over the 50 MP limit"):
        read_photo(path)


def test_max_megapixels_parameter():
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    assert read_photo(data, max_megapixels=0.01)[0].shape == (100, 100, 3)
    with pytest.raises(
        ImageError, match=r"100x100 pixels \(0\.01 MP\) is over the 0\.005 MP limit"
    ):
        read_photo(data, max_megapixels=0.005)
    assert MAX_MEGAPIXELS == 50.0


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "50"])
def test_max_megapixels_must_be_positive(bad):
    with pytest.raises(ValueError, match="max_megapixels must be a positive number"):
        read_photo(b"x", max_megapixels=bad)


def test_empty_file_is_refused(tmp_path):
    with pytest.raises(ImageError, match=r"^wound\.jpg: the file is empty \(0 bytes\); copy"):
        read_photo(write(tmp_path, "wound.jpg", b""))


@pytest.mark.parametrize(
    ("fmt", "options", "keep"),
    [
        ("JPEG", {"quality": 90}, 0.5),
        ("JPEG", {"quality": 90}, -2),  # only the end-of-image marker missing
        ("PNG", {}, 0.5),
        ("WEBP", {"quality": 90}, 0.6),
        ("TIFF", {}, 0.5),
        ("HEIF", {"quality": 90}, 0.6),
    ],
)
def test_truncated_file_is_refused(tmp_path, fmt, options, keep):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode(noise, fmt, **options)
    cut = int(len(data) * keep) if keep > 0 else len(data) + int(keep)
    path = write(tmp_path, "wound.jpg", data[:cut])
    with pytest.raises(
        ImageError,
        match=r"^wound\.jpg: the file is truncated \(the image data ends early\); copy the photo "
        r"again from the phone$",
    ):
        read_photo(path)


JPEG_KINDS = {
    "baseline": {"quality": 90},
    "progressive": {"quality": 90, "progressive": True},
    "restart markers": {"quality": 90, "restart_marker_blocks": 2},
    "4:4:4 optimised": {"quality": 95, "subsampling": 0, "optimize": True},
}


@pytest.mark.parametrize("kind", sorted(JPEG_KINDS))
@pytest.mark.parametrize(
    ("keep", "tail"),
    [
        (0.55, b"\xff\xd9"),  # the issue's file: cut at 55 %, the end marker appended
        (0.2, b"\xff\xd9"),
        (0.97, b"\xff\xd9"),
        (0.55, bytes(300) + b"\xff\xd9"),  # padding, then the end marker
        (0.55, b"\xff\xd9" + b"trailer" * 20),  # data after the end marker, as phones append
    ],
)
def test_jpeg_cut_short_is_refused_however_it_ends(kind, keep, tail):
    """Pillow fills missing scan data with grey once an end marker follows; libjpeg only warns."""
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode(noise, "JPEG", **JPEG_KINDS[kind])
    cut = data[: int(len(data) * keep)] + tail
    with Image.open(io.BytesIO(cut)) as img:
        img.load()  # what read_photo relied on: no error
    with pytest.raises(
        ImageError,
        match=r"^wound\.jpg: the file is truncated \(the image data ends early\); copy the photo "
        r"again from the phone$",
    ):
        read_photo(cut, name="wound.jpg")


def progressive_cmyk_grey_and_mpo() -> dict[str, bytes]:
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    frames = [Image.fromarray(noise), Image.fromarray(noise[::-1])]
    mpo = io.BytesIO()
    frames[0].save(mpo, format="MPO", save_all=True, append_images=frames[1:])
    baseline = encode(noise, "JPEG", quality=90)
    return {
        **{kind: encode(noise, "JPEG", **options) for kind, options in JPEG_KINDS.items()},
        "grey": encode(noise[:, :, 0], "JPEG"),
        "CMYK": encode(Image.fromarray(noise).convert("CMYK"), "JPEG"),
        "phone JPEG with a second image": mpo.getvalue(),
        "data after the end marker": baseline + b"\x00" * 64 + b"SEFT trailer",
        # libjpeg warns about these bytes ("extraneous bytes before marker"), but nothing is lost.
        "padding before the end marker": baseline[:-2] + b"\x00\x00\x00" + baseline[-2:],
    }


@pytest.mark.parametrize("kind", sorted(progressive_cmyk_grey_and_mpo()))
def test_whole_jpegs_of_every_kind_are_still_read(kind):
    data = progressive_cmyk_grey_and_mpo()[kind]
    image, info = read_photo(data, name="wound.jpg")
    assert image.shape == (64, 64, 3)
    assert info.format == "JPEG"


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).parents[1] / "sample_images").glob("*.jpg")), ids=str
)
def test_sample_images_are_read_whole(path):
    image, _ = read_photo(path)
    assert image.shape[2] == 3


def test_file_cut_inside_its_header_is_refused():
    data = encode(upright(), "JPEG")[:20]
    with pytest.raises(ImageError, match=r"starts like a JPEG image but its header cannot be read"):
        read_photo(data, name="wound.jpg")


def test_damaged_image_data_is_refused():
    data = bytearray(encode(upright(), "PNG"))
    data[data.find(b"IDAT") + 12] ^= 0xFF
    with pytest.raises(
        ImageError, match=r"^wound\.png: the PNG image data is damaged \(.+\); copy"
    ):
        read_photo(bytes(data), name="wound.png")


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"Patient notes: wound looks better.\n" * 5, "text"),
        # 512 bytes are sniffed; this cut falls inside the two bytes of the "ö".
        (("Notes 2024: " + "Befund: Wunde heilt gut, Rötung geringer.\n" * 20).encode(), "text"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "a PDF document"),
        (b"PK\x03\x04" + bytes(60), r"a ZIP archive \(such as a Word or Excel file\)"),
        (b"\x00\x00\x00\x18ftypmp42" + bytes(40), "a video or other ISO media file"),
        (bytes(range(256)) * 4, "data in an unknown format"),
    ],
)
def test_not_an_image_is_refused(tmp_path, content, found):
    with pytest.raises(
        ImageError,
        match=rf"^wound\.jpg: expected a JPEG, PNG, WebP, TIFF or HEIC photo, found {found}; "
        r"save or export the photo as JPEG or HEIC and try again$",
    ):
        read_photo(write(tmp_path, "wound.jpg", content))


def test_formats_pillow_could_read_but_photos_never_use_are_refused():
    data = encode(upright(), "PCX")
    with pytest.raises(ImageError, match="found data in an unknown format"):
        read_photo(data, name="x.pcx")


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ImageError, match=r"^IMG_9\.jpg: no such file; check the path") as caught:
        read_photo(tmp_path / "IMG_9.jpg")
    assert str(tmp_path) not in str(caught.value)  # folders may name a patient


def test_directory_is_refused(tmp_path):
    folder = tmp_path / "photos.jpg"
    folder.mkdir()
    with pytest.raises(
        ImageError, match=r"^photos\.jpg: expected a photo file, found a folder; choose"
    ) as caught:
        read_photo(folder)
    assert str(tmp_path) not in str(caught.value)


def test_pipe_is_refused_without_blocking(tmp_path):
    pipe = tmp_path / "photo.jpg"
    os.mkfifo(pipe)
    with pytest.raises(
        ImageError, match=r"^photo\.jpg: expected a photo file, found a device or pipe"
    ):
        read_photo(pipe)


def test_unreadable_file_is_refused(tmp_path, monkeypatch):
    path = write(tmp_path, "a.jpg", b"data")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(ImageError, match=r"^a\.jpg: the file cannot be read \(Permission denied\)"):
        read_photo(path)


def test_source_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="source must be a path or bytes, got int"):
        read_photo(12)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "GIF", "HEIF"])
def test_corrupted_files_raise_only_image_error(fmt):
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    clean = encode(noise, fmt)
    for trial in range(25):
        data = bytearray(clean)
        for _ in range(4):
            data[rng.integers(0, len(data))] = rng.integers(0, 256)
        if trial % 3 == 0:
            data = data[: rng.integers(1, len(data))]
        try:
            image, _ = read_photo(bytes(data), name="f")
        except ImageError:
            continue
        assert image.dtype == np.uint8 and image.ndim == 3


# ---------------------------------------------------------------------------------- writing


def test_write_labels_png_round_trip(tmp_path):
    labels = np.random.default_rng(3).integers(0, 5, (17, 23), dtype=np.uint8)
    path = tmp_path / "labels.png"
    write_labels_png(path, labels)
    with Image.open(path) as saved:
        assert saved.format == "PNG" and saved.mode == "L"
        assert np.array_equal(np.asarray(saved), labels)
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (np.zeros((4, 4), np.int64), r"labels must be a \(H, W\) uint8 array, got shape \(4, 4\)"),
        (np.zeros((4, 4, 1), np.uint8), r"got shape \(4, 4, 1\) and dtype uint8"),
        (np.full((2, 2), 7, np.uint8), r"labels holds values \[7\] that are not labels"),
    ],
)
def test_write_labels_png_rejects_bad_input(tmp_path, labels, match):
    with pytest.raises(ValueError, match=match):
        write_labels_png(tmp_path / "l.png", labels)


def test_write_rgb_png_and_jpeg(tmp_path):
    write_rgb(tmp_path / "a.png", upright())
    write_rgb(tmp_path / "b.JPG", upright())
    png, _ = read_photo(tmp_path / "a.png")
    jpeg, info = read_photo(tmp_path / "b.JPG")
    assert np.array_equal(png, upright())
    assert info.format == "JPEG"
    assert np.array_equal(block_colours(jpeg), np.arange(6).reshape(2, 3))
    with Image.open(tmp_path / "b.JPG") as saved:
        # Pillow's quality=92 quantisation table starts with 3 for the luminance DC term.
        assert saved.quantization[0][0] == 3


def test_write_rgb_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"image must be a \(H, W, 3\) uint8 RGB array"):
        write_rgb(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match=r"a\.bmp: expected a \.png, \.jpg or \.jpeg suffix"):
        write_rgb(tmp_path / "a.bmp", upright())


def test_write_into_a_missing_folder_is_an_image_error(tmp_path):
    with pytest.raises(ImageError, match=r"^a\.png: the image cannot be written") as caught:
        write_rgb(tmp_path / "missing" / "a.png", upright())
    assert str(tmp_path) not in str(
        caught.value
    )  # the file's name only: folders may name a patient
    with pytest.raises(ImageError, match=r"^l\.png: the image cannot be written"):
        write_labels_png(tmp_path / "missing" / "l.png", np.zeros((2, 2), np.uint8))


@pytest.mark.parametrize("write", ["rgb", "labels"])
def test_write_never_replaces_a_file_that_is_there(tmp_path, write):
    target = tmp_path / ("a.jpg" if write == "rgb" else "a.png")
    target.write_bytes(b"another photo")
    with pytest.raises(ImageError, match=r"^a\.(jpg|png): a file of that name is already in the "):
        if write == "rgb":
            write_rgb(target, upright())
        else:
            write_labels_png(target, np.zeros((2, 2), np.uint8))
    assert target.read_bytes() == b"another photo"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left


def test_write_never_follows_a_planted_symlink(tmp_path):
    outside, folder = tmp_path / "outside", tmp_path / "out"
    outside.mkdir()
    folder.mkdir()
    # At the old predictable temporary name, and at the target itself (dangling).
    (folder / ".a.png.tmp").symlink_to(outside / "via-temporary.png")
    (folder / "b.png").symlink_to(outside / "via-target.png")
    write_rgb(folder / "a.png", upright())
    with pytest.raises(ImageError, match=r"^b\.png: a file of that name is already in the "):
        write_rgb(folder / "b.png", upright())
    assert list(outside.iterdir()) == []
    assert np.array_equal(read_photo(folder / "a.png")[0], upright())
    assert sorted(p.name for p in folder.iterdir()) == [".a.png.tmp", "a.png", "b.png"]


# -------------------------------------------------------------------------- strip_location


def gps_of(data: bytes) -> dict:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return dict(img.getexif().get_ifd(GPS_IFD))


def pixels_of(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("JPEG", {"quality": 90}),
        ("PNG", {}),
        ("WEBP", {"quality": 80}),
        ("TIFF", {}),
        ("HEIF", {"quality": 80}),
    ],
)
def test_strip_location_removes_gps_and_keeps_pixels_and_date(fmt, options):
    exif = exif_with(taken="2024:05:06 07:08:09", offset="+02:00", focal=26, gps=True)
    noise = np.random.default_rng(5).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    original = encode(noise, fmt, exif=exif, **options)
    assert gps_of(original)[2] == (52.0, 31.0, 12.5)
    assert SECRET.encode() in original

    cleaned = strip_location(original)

    assert gps_of(cleaned) == {}
    assert SECRET.encode() not in cleaned
    assert len(cleaned) == len(original)  # edited in place: nothing moved
    assert np.array_equal(pixels_of(cleaned), pixels_of(original))
    _, info = read_photo(cleaned, name=f"x.{fmt.lower()}")
    assert info.taken_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    assert info.focal_length_35mm == 26.0


def test_strip_location_leaves_jpeg_scan_data_byte_for_byte():
    exif = exif_with(taken="2024:05:06 07:08:09", orientation=6, gps=True)
    original = encode(upright(), "JPEG", quality=90, exif=exif)
    cleaned = strip_location(original)
    start = original.index(b"\xff\xdb")  # everything from the quantisation tables on
    assert cleaned[start:] == original[start:]
    with Image.open(io.BytesIO(cleaned)) as img:
        assert img.getexif()[ORIENTATION] == 6


def test_strip_location_cleans_every_image_of_a_phone_jpeg():
    frames = [Image.fromarray(upright()), Image.fromarray(upright()[::-1])]
    data = encode(
        frames[0], "MPO", save_all=True, append_images=frames[1:], exif=exif_with(gps=True)
    )
    assert data.count(SECRET.encode()) == 2  # Pillow writes the EXIF into both images
    cleaned = strip_location(data)
    assert SECRET.encode() not in cleaned
    assert np.array_equal(pixels_of(cleaned), pixels_of(data))
    assert np.array_equal(second_frame(cleaned), second_frame(data))


def second_frame(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "MPO"
        img.seek(1)
        return np.asarray(img)


XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    'xmlns:xmp="http://ns.adobe.com/xap/1.0/" exif:GPSLatitude="52,31.2N" xmp:Rating="3">'
    "<exif:GPSLongitude>13,24.0E</exif:GPSLongitude><exif:GPSAltitude/>"
    "<xmp:Label>keep me</xmp:Label></rdf:Description></rdf:RDF></x:xmpmeta>"
    '<?xpacket end="w"?>'
)


def with_xmp(fmt: str) -> bytes:
    if fmt == "TIFF":
        return encode(upright(), fmt, tiffinfo={700: XMP.encode()})
    if fmt == "PNG":  # compressed iTXt, the harder case
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP, zip=True)
        return encode(upright(), fmt, pnginfo=info)
    return encode(upright(), fmt, xmp=XMP.encode(), **({"lossless": True} if fmt == "WEBP" else {}))


def xmp_of(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        if img.format == "PNG":
            return img.info["XML:com.adobe.xmp"].encode()
    return data


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_strip_location_blanks_gps_in_xmp(fmt):
    original = with_xmp(fmt)
    assert b"GPSLatitude" in xmp_of(original)
    cleaned = strip_location(original)
    assert b"GPS" not in xmp_of(cleaned)
    assert b"GPS" not in cleaned
    packet = re.search(rb"<x:xmpmeta.*</x:xmpmeta>", xmp_of(cleaned), re.S).group(0)
    rdf, xap = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}", "{http://ns.adobe.com/xap/1.0/}"
    description = ET.fromstring(packet).find(f".//{rdf}Description")
    assert description.get(f"{xap}Rating") == "3"
    assert description.find(f"{xap}Label").text == "keep me"
    assert np.array_equal(pixels_of(cleaned), pixels_of(original))


def test_strip_location_without_gps_returns_the_same_bytes():
    original = encode(upright(), "JPEG", exif=exif_with(taken="2024:05:06 07:08:09"))
    assert strip_location(original) == original
    gif = encode(upright(), "GIF")
    assert strip_location(gif) == gif


def test_strip_location_refuses_what_is_not_a_photo():
    with pytest.raises(
        ImageError, match="expected a JPEG, PNG, WebP, TIFF or HEIC photo, found text"
    ):
        strip_location(b"hello, this is not a photo\n")
    with pytest.raises(ImageError, match=r"^photo: the file is empty"):
        strip_location(b"")


@pytest.mark.parametrize(
    ("fmt", "mode", "options"),
    [
        ("PNG", "RGBA", {}),
        ("PNG", "I;16", {}),
        ("WEBP", "RGB", {"quality": 80}),
        ("TIFF", "RGB", {}),
        ("HEIF", "RGB", {"quality": 80}),
    ],
)
def test_strip_location_falls_back_to_lossless_reencoding(monkeypatch, fmt, mode, options):
    rng = np.random.default_rng(9)
    if mode == "I;16":
        source = Image.fromarray(rng.integers(0, 65536, (20, 30), dtype=np.uint16))
    else:
        source = Image.fromarray(rng.integers(0, 256, (20, 30, len(mode)), dtype=np.uint8))
    exif = exif_with(taken="2024:05:06 07:08:09", gps=True)
    original = encode(source, fmt, exif=exif, **options)
    # A layout the in-place editor does not understand: simulated by switching it off.
    monkeypatch.setattr(wloc, "_strip_tiff", lambda buffer, base, end: False)
    cleaned = strip_location(original)
    assert gps_of(cleaned) == {}
    assert SECRET.encode() not in cleaned
    with Image.open(io.BytesIO(cleaned)) as a, Image.open(io.BytesIO(original)) as b:
        assert a.format == b.format == fmt
        assert a.mode == b.mode
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert read_photo(cleaned, name="a")[1].taken_at == datetime(2024, 5, 6, 7, 8, 9)


def test_strip_location_reports_a_failing_reencode(monkeypatch):
    monkeypatch.setattr(wloc, "_strip_png", lambda buffer: buffer)

    def failing_save(self, fp, format=None, **options):  # noqa: A002, ANN001
        raise RuntimeError("Error setting from dictionary")

    original = encode(upright(), "PNG", exif=exif_with(gps=True))
    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(
        ImageError, match=r"could not be removed \(re-encoding failed: Error setting"
    ):
        strip_location(original)


def test_strip_location_refuses_to_reencode_a_jpeg(monkeypatch):
    monkeypatch.setattr(wloc, "_strip_jpeg", lambda buffer: None)
    original = encode(upright(), "JPEG", exif=exif_with(gps=True))
    with pytest.raises(
        ImageError, match=r"^photo: the JPEG file's GPS data could not be removed without re-enc"
    ):
        strip_location(original)


def test_strip_location_refuses_a_multi_frame_fallback(monkeypatch):
    monkeypatch.setattr(wloc, "_strip_tiff", lambda buffer, base, end: False)
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    data = encode(
        frames[0], "TIFF", save_all=True, append_images=frames[1:], exif=exif_with(gps=True)
    )
    with pytest.raises(
        ImageError, match=r"could not be removed in place and the file holds several"
    ):
        strip_location(data)


def test_strip_location_refuses_a_fallback_that_changes_pixels(monkeypatch):
    monkeypatch.setattr(wloc, "_strip_webp", lambda buffer: None)
    real_save = Image.Image.save

    def lossy_save(self, fp, format=None, **options):  # noqa: A002, ANN001
        options.update(lossless=False, quality=10)  # an encoder that is not really lossless
        return real_save(self, fp, format, **options)

    noise = np.random.default_rng(2).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    original = encode(noise, "WEBP", lossless=True, exif=exif_with(gps=True))
    monkeypatch.setattr(Image.Image, "save", lossy_save)
    with pytest.raises(ImageError, match=r"could not be removed without changing its pixels"):
        strip_location(original)


def test_strip_location_refuses_unreadable_exif(monkeypatch):
    def broken(self):  # noqa: ANN001
        raise SyntaxError("not a TIFF file")

    monkeypatch.setattr(Image.Image, "getexif", broken)
    with pytest.raises(ImageError, match=r"EXIF metadata is damaged \(not a TIFF file\), so its"):
        strip_location(encode(upright(), "JPEG"))


def test_read_photo_survives_unreadable_exif(monkeypatch):
    def broken(self):  # noqa: ANN001
        raise SyntaxError("not a TIFF file")

    monkeypatch.setattr(Image.Image, "getexif", broken)
    image, info = read_photo(encode(upright(), "PNG"), name="a.png")
    assert np.array_equal(image, upright())
    assert info.taken_at is None
    assert any("EXIF metadata is damaged and was ignored" in w for w in info.warnings)
