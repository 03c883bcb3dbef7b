"""Reading and writing image files: the only module that touches them.

``read_photo`` turns a JPEG, PNG, WebP, TIFF or HEIC/HEIF file (a path or its bytes) into an RGB
``uint8 (H, W, 3)`` array in the orientation a person sees, plus a ``PhotoInfo`` with the file's
sha256, format, displayed size, EXIF capture time and 35 mm focal length. Pillow is the single
reader (with ``pillow_heif`` registered for HEIC; a JPEG's scan data is also checked whole with
libjpeg-turbo through ``simplejpeg``, whose warnings Pillow would drop); every way a file can be
unreadable or unsafe to decode (too many pixels, empty, truncated, not an image, missing) becomes
an ``ImageError`` whose message says what to do. ``write_labels_png`` and ``write_rgb`` write
label maps and RGB images into new files (never over a file already there), while ``open_image``
is the one guarded way to open a file with Pillow (also used by ``woundtrack.image.location``,
which removes GPS data before a photo is stored).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
import math
import os
import re
import secrets
import struct
import warnings
from collections.abc import Iterator
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path

import numpy as np
import pillow_heif
import simplejpeg
from PIL import Image, ImageFile

from woundtrack.errors import ImageError
from woundtrack.models import LABEL_NAMES, PhotoInfo

pillow_heif.register_heif_opener()
# Pillow's default already; set explicitly because a truncated photo filled with grey would be
# measured as if it were real skin.
ImageFile.LOAD_TRUNCATED_IMAGES = False

logger = logging.getLogger(__name__)

MAX_MEGAPIXELS: float = 50.0

# Formats Pillow may try. Restricting the list keeps Pillow away from readers that are of no use
# for photos and have a history of problems (EPS calls Ghostscript, for one). MPO is not listed:
# Pillow's JPEG reader returns an MPO image itself when the file carries extra images.
_ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "HEIF", "GIF", "BMP")
# MPO is how Pillow names a JPEG that carries extra images (most phone JPEGs).
_FORMAT_ALIASES = {"MPO": "JPEG"}
_EXTENSION_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".jfif": "JPEG",
    ".png": "PNG",
    ".apng": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".heic": "HEIF",
    ".heif": "HEIF",
    ".hif": "HEIF",
    ".gif": "GIF",
    ".bmp": "BMP",
}
_EXPECTED = "a JPEG, PNG, WebP, TIFF or HEIC photo"
_RECOPY = "copy the photo again from the phone"

_TAG_ORIENTATION = 0x0112
_TAG_EXIF_IFD = 0x8769
_TAG_DATETIME_ORIGINAL = 0x9003
_TAG_OFFSET_TIME_ORIGINAL = 0x9011
_TAG_SUBSEC_TIME_ORIGINAL = 0x9291
_TAG_FOCAL_35MM = 0xA405

# EXIF orientation -> the transpose that shows the stored pixels upright (EXIF 2.32, tag 274).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_photo(
    source: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    max_megapixels: float = MAX_MEGAPIXELS,
) -> tuple[np.ndarray, PhotoInfo]:
    """Read a photo as RGB pixels in the orientation a person sees, with its metadata.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        Path of a JPEG, PNG, WebP, TIFF, HEIC/HEIF (also GIF or BMP) file, or the file's bytes.
        A DICOM file is read by ``woundtrack.image.dicom_photo.read_dicom_photo`` (first frame,
        ``format="DICOM"``, the capture time from its DICOM dates).
    name : str, optional
        Name to report for the photo (directories are dropped). Defaults to the file's name, or
        ``"photo"`` for bytes.
    max_megapixels : float
        Largest photo accepted, in millions of pixels. It is checked on the size stated in the
        file's header, before any pixel is decoded. Pillow's own decompression-bomb limit
        (about 179 MP by default) applies on top of it.

    Returns
    -------
    image : (H, W, 3) ndarray of uint8, RGB
        C-contiguous, EXIF orientation applied (HEIF files are upright as decoded). Greyscale,
        palette, 16-bit, CMYK and 1-bit photos are converted; transparency is composited on white.
    info : PhotoInfo
        ``file`` (name only), ``sha256`` of the exact bytes, ``format`` (``"JPEG"``, ``"PNG"``,
        ``"WEBP"``, ``"TIFF"``, ``"HEIF"``, ...), displayed ``width_px``/``height_px``,
        ``taken_at`` from EXIF DateTimeOriginal (timezone-aware when OffsetTimeOriginal is given,
        naive otherwise, ``None`` when absent or invalid), ``focal_length_35mm`` from EXIF
        FocalLengthIn35mmFilm, and ``warnings``: sentences for a person (unknown capture time,
        first frame of an animation, an extension that does not match the content).

    Raises
    ------
    ImageError
        The file is missing, a directory, empty, truncated, damaged, not an image, or larger than
        ``max_megapixels``. A JPEG whose scan data stops early counts as truncated even when an
        end marker follows the cut (libjpeg would fill the rest with grey).
    ValueError
        ``max_megapixels`` is not a positive number.

    Examples
    --------
    >>> image, info = read_photo("IMG_0412.HEIC")  # doctest: +SKIP
    >>> image.shape, info.format, info.taken_at  # doctest: +SKIP
    ((4032, 3024, 3), 'HEIF', datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=...))
    """
    if not (isinstance(max_megapixels, int | float) and max_megapixels > 0):
        raise ValueError(f"max_megapixels must be a positive number, got {max_megapixels!r}")
    label, data = _read_source(source, name)
    if not data:
        raise ImageError(f"{label}: the file is empty (0 bytes); {_RECOPY}")
    if is_dicom(data):
        # Imported here: dicom_photo uses this module's limits and names, and pydicom takes a
        # sixth of a second to import, which a JPEG need not wait for.
        from woundtrack.image.dicom_photo import read_dicom_photo

        return read_dicom_photo(data, name=label, max_megapixels=max_megapixels)
    sha256 = hashlib.sha256(data).hexdigest()
    notes: list[str] = []
    with open_image(data, label, max_megapixels) as img:
        fmt = _FORMAT_ALIASES.get(img.format or "", img.format or "unknown")
        claimed = _EXTENSION_FORMATS.get(Path(label).suffix.lower())
        if claimed is not None and claimed != fmt:
            notes.append(
                f"{label}: the file is a {fmt} image although its extension says {claimed}; "
                f"it was read as {fmt}"
            )
        frames = getattr(img, "n_frames", 1)
        if frames > 1 and img.format != "MPO":
            notes.append(
                f"{label}: the {fmt} file holds {frames} frames or images; only the first was read"
            )
        # A colour JPEG (nearly every phone photo) is decoded once, by libjpeg-turbo, straight
        # into an array, its warnings checked in the same pass; anything else goes through Pillow.
        pixels = _decode_colour_jpeg(data, label) if fmt == "JPEG" and img.mode == "RGB" else None
        if pixels is None:
            decode_pixels(img, label, fmt)
            if fmt == "JPEG":
                _check_jpeg_scan_data(data, label)
        exif, exif_note = _exif(img, label)
        if exif_note:
            notes.append(exif_note)
        taken_at, time_notes = _capture_time(exif, label)
        notes.extend(time_notes)
        focal_length_35mm = _focal_length_35mm(exif)
        # libheif applies the HEIF rotation/mirror boxes itself; the EXIF tag must then be ignored.
        orientation = exif.get(_TAG_ORIENTATION, 1) if fmt != "HEIF" else 1
        if pixels is not None:
            image = np.ascontiguousarray(upright(pixels, orientation))
        else:
            rgb = _to_rgb(img, label, notes)
            if orientation in _ORIENTATION_TRANSPOSE:
                rgb = rgb.transpose(_ORIENTATION_TRANSPOSE[orientation])
            image = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    info = PhotoInfo(
        file=label,
        sha256=sha256,
        format=fmt,
        width_px=int(image.shape[1]),
        height_px=int(image.shape[0]),
        taken_at=taken_at,
        focal_length_35mm=focal_length_35mm,
        warnings=tuple(notes),
    )
    return image, info


#: DICOM PS3.10 7.1: a 128-byte preamble, then ``DICM``.
_DICOM_MAGIC_AT = 128
_DICOM_MAGIC = b"DICM"


def is_dicom(data: bytes) -> bool:
    """Whether ``data`` is a DICOM file (PS3.10: ``DICM`` after a 128-byte preamble)."""
    return bytes(data[_DICOM_MAGIC_AT : _DICOM_MAGIC_AT + 4]) == _DICOM_MAGIC


def base_name(name: str) -> str:
    # Phone and browser uploads can carry Windows paths; directories may name the patient.
    return re.split(r"[\\/]", name)[-1] or name


def _read_source(source: str | os.PathLike[str] | bytes, name: str | None) -> tuple[str, bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        return base_name(name) if name else "photo", bytes(source)
    if not isinstance(source, str | os.PathLike):
        raise TypeError(f"source must be a path or bytes, got {type(source).__name__}")
    path = Path(source)
    label = base_name(name) if name else path.name or str(path)
    if path.is_dir():
        raise ImageError(f"{label}: expected a photo file, found a folder; choose a file")
    if path.exists() and not path.is_file():
        # A pipe or device (/dev/zero) would block or never end.
        raise ImageError(f"{label}: expected a photo file, found a device or pipe; choose a file")
    try:
        return label, path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{label}: no such file; check the path and name") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ImageError(
            f"{label}: the file cannot be read ({reason}); check that it exists and that you may "
            "read it"
        ) from None


def open_image(data: bytes, label: str, max_megapixels: float) -> Image.Image:
    """Open (header only) and check the stated size before anything is decoded."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and _riff_truncated(data):
        raise _truncated(label)
    try:
        # The size is checked below against max_megapixels; Pillow's bomb warning adds nothing.
        with pillow_warnings(label, Image.DecompressionBombWarning):
            img = Image.open(io.BytesIO(data), formats=_ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)) / 1e6:.0f} MP" if found else "the stated size"
        raise ImageError(
            f"{label}: {size} is over the {min(max_megapixels, _pillow_limit_mp()):g} MP limit; "
            "resize the photo before upload"
        ) from None
    except Exception as exc:  # noqa: BLE001 - every reader failure becomes one message
        found = _sniff(data)
        if found in _ALLOWED_FORMATS:
            if "cannot identify" in str(exc):
                raise ImageError(
                    f"{label}: the file starts like a {found} image but its header cannot be read "
                    f"(damaged or truncated); {_RECOPY}"
                ) from None
            raise _decode_error(exc, label, found) from None
        raise ImageError(
            f"{label}: expected {_EXPECTED}, found {found}; save or export the photo as "
            "JPEG or HEIC and try again"
        ) from None
    width, height = img.size
    if width * height > max_megapixels * 1e6:
        img.close()
        raise ImageError(
            f"{label}: {width}x{height} pixels ({width * height / 1e6:.3g} MP) is over the "
            f"{max_megapixels:g} MP limit; resize the photo before upload"
        )
    return img


@contextlib.contextmanager
def pillow_warnings(label: str, *ignored: type[Warning]) -> Iterator[list[warnings.WarningMessage]]:
    """Keep Pillow's warnings (corrupt EXIF, odd tags) out of the user's console; log them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for category in ignored:
            warnings.simplefilter("ignore", category)
        yield caught
    for warning in caught:
        logger.debug("%s: Pillow warned: %s", label, warning.message)


def _pillow_limit_mp() -> float:
    limit = Image.MAX_IMAGE_PIXELS
    return math.inf if limit is None else 2 * limit / 1e6


def _riff_truncated(data: bytes) -> bool:
    return len(data) >= 12 and struct.unpack("<I", data[4:8])[0] + 8 > len(data)


def _truncated(label: str) -> ImageError:
    return ImageError(f"{label}: the file is truncated (the image data ends early); {_RECOPY}")


def _decode_error(exc: BaseException, label: str, fmt: str) -> ImageError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, EOFError) or re.search(r"truncat|end of (file|data)|ends early", text, re.I):
        return _truncated(label)
    return ImageError(
        f"{label}: the {fmt} image data is damaged ({text}); {_RECOPY} or export it again"
    )


def decode_pixels(img: Image.Image, label: str, fmt: str) -> None:
    # With LOAD_TRUNCATED_IMAGES off, a short file raises here rather than being filled in.
    try:
        with pillow_warnings(label):
            img.load()
    except Exception as exc:  # noqa: BLE001 - every decoder failure becomes one message
        raise _decode_error(exc, label, fmt) from None


# libjpeg's warnings (jerror.h) that mean scan data is missing or wrong. libjpeg fills what it
# could not decode with grey and carries on; Pillow discards the warnings, so a file cut short
# with an end marker (FFD9) after the cut decodes "whole". Other warnings (extraneous bytes before
# a marker, an odd ICC or JFIF thumbnail) lose nothing.
_JPEG_TRUNCATED = re.compile(
    r"premature end of (data segment|JPEG file)|found marker 0xd9 instead of RST", re.I
)
_JPEG_DAMAGED = re.compile(r"bad (Huffman|arithmetic) code|found marker 0x.. instead of RST", re.I)
_JPEG_SKIPPED = re.compile(r"(\d+) extraneous bytes before marker 0xd9", re.I)


def _decode_colour_jpeg(data: bytes, label: str) -> np.ndarray | None:
    """The (H, W, 3) RGB pixels of a colour JPEG as stored (before EXIF orientation), decoded by
    libjpeg-turbo with its warnings raised; ``None`` when it cannot be read this way or libjpeg
    only warned of something harmless: Pillow and ``_check_jpeg_scan_data`` then decide.

    The pixels are the ones Pillow decodes (the same library, the same default decoding).

    Raises
    ------
    ImageError
        The scan data stops early or is damaged.
    """
    try:
        return simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
    except Exception as exc:  # noqa: BLE001 - only the warnings below refuse a file
        text = _refuse_lost_scan_data(exc, label)
    logger.debug("%s: read by Pillow instead (libjpeg-turbo said: %s)", label, text)
    return None


def _refuse_lost_scan_data(exc: Exception, label: str) -> str:
    """libjpeg's warning ``exc`` as text, raised as an ``ImageError`` when it means scan data
    missing (``_JPEG_TRUNCATED``) or broken (``_JPEG_DAMAGED``)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if _JPEG_TRUNCATED.search(text):
        raise _truncated(label)
    if _JPEG_DAMAGED.search(text):
        raise ImageError(
            f"{label}: the JPEG image data is damaged ({text}); {_RECOPY} or export it again"
        )
    return text


def upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """``pixels`` as a person sees them, for an EXIF orientation 1-8 (a view: no copy).

    The same turns and mirrors as ``_ORIENTATION_TRANSPOSE`` applies with Pillow."""
    turned = {
        2: lambda a: a[:, ::-1],  # mirrored left-right
        3: lambda a: a[::-1, ::-1],  # upside down
        4: lambda a: a[::-1],  # mirrored top-bottom
        5: lambda a: a.swapaxes(0, 1),  # transposed
        6: lambda a: np.rot90(a, -1),  # turned a quarter clockwise
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],  # transversed
        8: lambda a: np.rot90(a, 1),  # turned a quarter anticlockwise
    }.get(orientation)
    return pixels if turned is None else turned(pixels)


def _check_jpeg_scan_data(data: bytes, label: str) -> None:
    """Refuse a JPEG whose scan data stops early or breaks, even though it decodes in Pillow.

    simplejpeg decodes the file again with libjpeg-turbo, its warnings raised (``strict``), at
    1/8 scale and in grey: the entropy-coded data is still read to the end, but this costs about
    a third of a full decode and almost no memory. Only the first warning is seen; when it is
    bytes skipped before the end marker (padding, harmless in itself), the check is repeated
    without them, so that a scan cut short, padded and ended is still found.
    """
    for _ in range(3):
        try:
            simplejpeg.decode_jpeg(
                data, colorspace="GRAY", min_height=1, min_width=1, min_factor=8, strict=True
            )
            return
        except Exception as exc:  # noqa: BLE001 - only the warnings above refuse a file
            text = _refuse_lost_scan_data(exc, label)
        logger.debug("%s: libjpeg warned: %s", label, text)
        skipped = _JPEG_SKIPPED.search(text)
        end = data.find(b"\xff\xd9", data.find(b"\xff\xda"))  # scan data never holds FFD9
        if skipped is None or not 0 < int(skipped.group(1)) <= end:
            return
        data = data[: end - int(skipped.group(1))] + data[end:]


def _sniff(data: bytes) -> str:
    """Name what a file most likely is, for error messages."""
    head = data[:32]
    known = {
        b"\xff\xd8\xff": "JPEG",
        b"\x89PNG\r\n\x1a\n": "PNG",
        b"II*\x00": "TIFF",
        b"MM\x00*": "TIFF",
        b"GIF8": "GIF",
        b"BM": "BMP",
    }
    for magic, fmt in known.items():
        if head.startswith(magic):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"):
            return "HEIF"
        if brand in (b"avif", b"avis"):
            return "an AVIF image (not supported)"
        return "a video or other ISO media file"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive (such as a Word or Excel file)"
    sample = data[:512]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sample may end inside a multi-byte character; only an earlier error means binary.
        text = sample[: exc.start].decode("utf-8") if exc.start >= len(sample) - 3 else ""
    if text and sum(ch.isprintable() or ch in "\r\n\t" for ch in text) >= 0.95 * len(text):
        return "text"
    return "data in an unknown format"


def _exif(img: Image.Image, label: str) -> tuple[Image.Exif | dict[int, object], str | None]:
    try:
        with pillow_warnings(label):
            return img.getexif(), None
    except Exception as exc:  # noqa: BLE001 - damaged metadata must not block the pixels
        logger.debug("%s: EXIF unreadable: %s", label, exc)
        return {}, (
            f"{label}: the EXIF metadata is damaged and was ignored; the orientation may be wrong "
            "and the capture time is unknown"
        )


def _exif_value(exif: Image.Exif | dict[int, object], tag: int) -> object | None:
    """A tag from the Exif IFD, or from IFD0 where some writers put it."""
    sub: dict[int, object] = {}
    if isinstance(exif, Image.Exif):
        try:
            with pillow_warnings("EXIF"):
                sub = dict(exif.get_ifd(_TAG_EXIF_IFD))
        except Exception:  # noqa: BLE001 - a broken Exif IFD is treated as absent
            sub = {}
    value = sub.get(tag, exif.get(tag))
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        value = value.strip("\x00 ")
    return value


#: EXIF 2.32 writes DateTimeOriginal as ``YYYY:MM:DD HH:MM:SS``; some writers use ISO 8601's
#: ``-`` in the date or ``T`` before the time.
_EXIF_DATETIME_FORMATS = (
    "%Y:%m:%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y:%m:%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
)


def _exif_datetime(text: str) -> datetime | None:
    """An EXIF date-time as a naive datetime, or None if it is not one (or an impossible date)."""
    for layout in _EXIF_DATETIME_FORMATS:
        with contextlib.suppress(ValueError):
            return datetime.strptime(text.strip(), layout)
    return None


def _exif_offset(text: str) -> tzinfo | None:
    """An EXIF OffsetTime (``+02:00``) as a fixed time zone, or None if it is not one."""
    with contextlib.suppress(ValueError):
        return datetime.strptime(text.strip(), "%z").tzinfo
    return None


#: First capture date believed. The first consumer digital cameras are from 1990 (EXIF itself
#: from 1995), so an earlier date (0001-01-01, 1970-01-01, 1980-01-01) is a camera clock that was
#: never set; so is a date after tomorrow ("tomorrow": a camera in a time zone ahead of this
#: computer's may already be on the next day). Both ends keep dates far from the ends of the
#: calendar, where date arithmetic overflows.
EARLIEST_CAPTURE_ON = date(1990, 1, 1)


def capture_date_problem(day: date, *, today: date | None = None) -> str | None:
    """Why ``day`` cannot be the date a photo was taken, or ``None`` when it can be.

    A capture date lies from :data:`EARLIEST_CAPTURE_ON` (1990-01-01) to the day after ``today``
    (default: this computer's local date). Used for EXIF dates (an unbelievable one is dropped
    with a warning) and for dates a person types in the app.

    Examples
    --------
    >>> capture_date_problem(date(2026, 3, 2), today=date(2026, 5, 20)) is None
    True
    >>> capture_date_problem(date(9999, 12, 31), today=date(2026, 5, 20))
    '9999-12-31 is after 2026-05-21 (tomorrow): a camera clock set wrong'
    """
    latest = (date.today() if today is None else today) + timedelta(days=1)
    if day < EARLIEST_CAPTURE_ON:
        return (
            f"{day.isoformat()} is before {EARLIEST_CAPTURE_ON.isoformat()}, older than any "
            f"digital photo: a camera clock that was never set"
        )
    if day > latest:
        return (
            f"{day.isoformat()} is after {latest.isoformat()} (tomorrow): a camera clock set wrong"
        )
    return None


#: Every note of a photo whose capture time could not be read contains this (a person who
#: enters the date answers it).
UNKNOWN_CAPTURE_TIME = "the capture time is unknown"


def _capture_time(
    exif: Image.Exif | dict[int, object], label: str
) -> tuple[datetime | None, list[str]]:
    raw = _exif_value(exif, _TAG_DATETIME_ORIGINAL)
    by_hand = (
        "enter the date the photo was taken by hand (the app's Upload page, or import "
        "--taken-on; a stored photo's on the Review page)"
    )
    if raw is None or raw == "":
        return None, [
            f"{label}: {UNKNOWN_CAPTURE_TIME} (the photo has no EXIF DateTimeOriginal); {by_hand}"
        ]
    taken_at = _exif_datetime(str(raw))
    if taken_at is None:
        shown = repr(str(raw)[:40])
        return None, [
            f"{label}: {UNKNOWN_CAPTURE_TIME} (EXIF DateTimeOriginal is {shown}, not a "
            f"valid date); {by_hand}"
        ]
    # The camera's own (local) date: an unset clock says 0001-01-01 or 9999-12-31, which would
    # overflow the date arithmetic of the healing figures.
    problem = capture_date_problem(taken_at.date())
    if problem is not None:
        shown = repr(str(raw)[:40])
        return None, [
            f"{label}: {UNKNOWN_CAPTURE_TIME} (EXIF DateTimeOriginal is {shown}: {problem}); "
            f"{by_hand}"
        ]
    subsec = _exif_value(exif, _TAG_SUBSEC_TIME_ORIGINAL)
    if isinstance(subsec, str) and subsec.isdigit():
        taken_at = taken_at.replace(microsecond=int(subsec[:6].ljust(6, "0")))
    offset = _exif_value(exif, _TAG_OFFSET_TIME_ORIGINAL)
    if offset is None or offset == "":
        return taken_at, []
    zone = _exif_offset(str(offset))
    if zone is not None:
        return taken_at.replace(tzinfo=zone), []
    return taken_at, [
        f"{label}: EXIF OffsetTimeOriginal {str(offset)[:20]!r} is not a UTC offset like "
        "+02:00; the capture time is taken as the camera's local time, without a time zone"
    ]


def _focal_length_35mm(exif: Image.Exif | dict[int, object]) -> float | None:
    value = _exif_value(exif, _TAG_FOCAL_35MM)
    try:
        focal = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    # 0 means "unknown" in EXIF.
    return focal if math.isfinite(focal) and focal > 0 else None


def _to_rgb(img: Image.Image, label: str, notes: list[str]) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB, transparency composited on white."""
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img
    if mode in ("I", "F") or mode.startswith("I;16"):
        grey = _scale_to_8bit(np.asarray(img), label, notes)
        return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.uint16)
        alpha = rgba[:, :, 3:4]
        # Rounded integer "over" compositing: colour * a + white * (1 - a), a in 0..255.
        rgb = (rgba[:, :, :3] * alpha + 255 * (255 - alpha) + 127) // 255
        return Image.fromarray(rgb.astype(np.uint8))
    try:
        return img.convert("RGB")
    except Exception as exc:  # noqa: BLE001 - an exotic mode Pillow cannot convert
        raise ImageError(
            f"{label}: the colour mode {mode} cannot be converted to RGB ({exc}); export the "
            "photo as an ordinary JPEG or PNG"
        ) from None


def _scale_to_8bit(values: np.ndarray, label: str, notes: list[str]) -> np.ndarray:
    """16-bit (or 32-bit integer / float) greyscale -> uint8 by scaling, never by clipping."""
    data = values.astype(np.float64)
    finite = data[np.isfinite(data)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if values.dtype.kind in "iu" and low >= 0 and high <= 65535:
        scaled = data / 257.0  # 65535 / 255: maps 0..65535 onto 0..255 exactly
    elif values.dtype.kind == "f" and low >= 0 and high <= 1:
        scaled = data * 255.0
    else:
        notes.append(
            f"{label}: the grey values span {low:g}..{high:g}, outside the 16-bit range; they "
            "were stretched to 0..255"
        )
        scaled = (data - low) / (high - low) * 255.0 if high > low else np.zeros_like(data)
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def write_labels_png(path: str | os.PathLike[str], labels: np.ndarray) -> None:
    """Write a label map as a single-channel 8-bit PNG, values unchanged.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file, which must not exist yet: nothing already there is replaced (see
        ``write_rgb``).
    labels : (H, W) ndarray of uint8
        Label map with values from :data:`woundtrack.models.LABEL_NAMES` (0..4).

    Raises
    ------
    ValueError
        ``labels`` is not a 2-D uint8 array of known label values.
    ImageError
        A file (or link) of that name is already there, or the file cannot be written.

    Examples
    --------
    >>> write_labels_png(tmp_path / "labels.png", labels)  # doctest: +SKIP
    """
    _save_exclusively(Image.fromarray(_checked_labels(labels)), Path(path), "PNG", {})


#: The label values are 0, 1, ... without a gap, so a map's maximum says whether it holds only
#: labels (0.1 ms for 2 MP; ``np.unique`` took 23 ms, at every photo's import).
_MAX_LABEL = max(LABEL_NAMES)
_LABELS_CONTIGUOUS = set(LABEL_NAMES) == set(range(_MAX_LABEL + 1))


def _checked_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(
            f"labels must be a (H, W) uint8 array, got shape {labels.shape} and dtype "
            f"{labels.dtype}"
        )
    unknown = []
    if not _LABELS_CONTIGUOUS or (labels.size and labels.max() > _MAX_LABEL):
        unknown = sorted(set(np.unique(labels).tolist()) - set(LABEL_NAMES))
    if unknown:
        raise ValueError(
            f"labels holds values {unknown[:5]} that are not labels; expected only "
            f"{sorted(LABEL_NAMES)}"
        )
    return np.ascontiguousarray(labels)


def encode_labels_png(labels: np.ndarray) -> bytes:
    """A label map as the bytes of a single-channel 8-bit PNG (for storing in a database)."""
    out = io.BytesIO()
    Image.fromarray(_checked_labels(labels)).save(out, format="PNG")
    return out.getvalue()


def decode_labels_png(data: bytes) -> np.ndarray:
    """The (H, W) uint8 label map stored by ``encode_labels_png``."""
    with Image.open(io.BytesIO(data)) as img:
        if img.mode != "L":
            raise ImageError(f"stored label map has mode {img.mode}, expected a grey (L) PNG")
        return np.array(img)


def write_rgb(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write an RGB image as PNG or JPEG (quality 92), chosen by the file suffix.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ending in ``.png``, ``.jpg`` or ``.jpeg``, which must not exist yet. Nothing
        already there is ever replaced, not even a link: the image is written to a temporary file
        of an unpredictable name created exclusively in the same folder, then hard-linked to
        ``path`` (which fails if anything took that name meanwhile), so a reader never sees a
        half-written file and a planted symlink is never followed.
    image : (H, W, 3) ndarray of uint8, RGB

    Raises
    ------
    ValueError
        ``image`` is not ``(H, W, 3)`` uint8, or the suffix is neither PNG nor JPEG.
    ImageError
        A file (or link) of that name is already there, or the file cannot be written.

    Examples
    --------
    >>> write_rgb(tmp_path / "overlay.jpg", overlay)  # doctest: +SKIP
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"image must be a (H, W, 3) uint8 RGB array, got shape {image.shape} and dtype "
            f"{image.dtype}"
        )
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        fmt, options = "PNG", {}
    elif suffix in (".jpg", ".jpeg"):
        fmt, options = "JPEG", {"quality": 92}
    else:
        raise ValueError(f"{path.name}: expected a .png, .jpg or .jpeg suffix, got {suffix!r}")
    _save_exclusively(Image.fromarray(np.ascontiguousarray(image)), path, fmt, options)


def _save_exclusively(img: Image.Image, path: Path, fmt: str, options: dict[str, object]) -> None:
    """Write ``img`` to ``path``, which must not exist: never replaces or follows anything there.

    The image goes to a temporary file of a random name created with ``O_CREAT | O_EXCL`` (so a
    link planted at a guessed name is refused, not followed) beside ``path``, then is hard-linked
    to ``path``; ``os.link`` fails if ``path`` exists, even as a dangling link, so there is no
    window between a check and the write. Where the file system has no hard links, the file is
    created at ``path`` itself with ``O_CREAT | O_EXCL``.
    """
    encoded = io.BytesIO()
    img.save(encoded, format=fmt, **options)
    data = encoded.getvalue()
    temporary = None
    try:
        temporary = _exclusive_temporary(path, data)
        try:
            os.link(temporary, path)  # fails if anything, even a dangling link, has the name
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
                raise
            _write_new_file(path, data)  # a file system without hard links (FAT, some shares)
    except FileExistsError:
        raise ImageError(
            f"{path.name}: a file of that name is already in the output folder and is never "
            "written over; move it away or choose another output folder"
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ImageError(
            f"{path.name}: the image cannot be written to the output folder ({reason}); check "
            "that the folder exists and that you may write to it"
        ) from None
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _exclusive_temporary(path: Path, data: bytes) -> str:
    """A new file of a random name beside ``path`` holding ``data``; returns its path."""
    for _ in range(100):
        candidate = os.path.join(path.parent, f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            _write_new_file(Path(candidate), data)
        except FileExistsError:
            continue
        return candidate
    raise OSError(errno.EAGAIN, "no free temporary name")


def _write_new_file(path: Path, data: bytes) -> None:
    """Create ``path`` (never an existing file or link: ``O_EXCL``) and write ``data`` to it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o666)  # the usual permissions, less the umask
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
