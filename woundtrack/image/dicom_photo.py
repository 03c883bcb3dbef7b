"""Reading DICOM photos: the DICOM counterpart of ``woundtrack.image.io.read_photo``.

A photo may come from another system as a DICOM file (a VL Photographic Image, a Secondary
Capture, any 8-bit colour or grey image). ``read_dicom_photo`` decodes its first frame with pydicom
into the same RGB ``uint8 (H, W, 3)`` array and ``PhotoInfo`` a JPEG gives, the capture time taken
from the DICOM dates; ``dicom_to_png`` keeps only the pixels, as a lossless PNG without the DICOM
header, so that a stored photo carries no patient name or id. Every way a DICOM file cannot be
used as a photo (no pixel data, a compression that cannot be decoded here, pixel data cut short,
too many pixels) becomes an ``ImageError`` that says what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import re
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone, tzinfo

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder
from pydicom.uid import UID
from pydicom.valuerep import DA, DT, TM

from woundtrack.errors import ImageError
from woundtrack.image.io import MAX_MEGAPIXELS, base_name, capture_date_problem, is_dicom
from woundtrack.models import PhotoInfo

logger = logging.getLogger(__name__)

_EXPORT_PHOTO = "export the photo itself (VL Photographic Image)"
_EXPORT_AGAIN = "export it from the PACS again"
_CONVERT = "convert it to uncompressed or JPEG baseline, e.g. with `gdcmconv --raw`"
_BY_HAND = "enter the date the photo was taken by hand"
# SOP classes that hold pixel data which is not a picture of anything.
_NOT_PHOTOS = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
        "1.2.840.10008.5.1.4.1.1.66.7",  # Label Map Segmentation
        "1.2.840.10008.5.1.4.1.1.30",  # Parametric Map
        "1.2.840.10008.5.1.4.1.1.481.2",  # RT Dose
    }
)
_PHOTOMETRICS = ("RGB", "MONOCHROME1", "MONOCHROME2")


def read_dicom_photo(
    data: bytes, *, name: str, max_megapixels: float = MAX_MEGAPIXELS
) -> tuple[np.ndarray, PhotoInfo]:
    """Read the photo in a DICOM file as RGB pixels, with its metadata.

    Parameters
    ----------
    data : bytes
        The DICOM file's bytes (PS3.10, with the ``DICM`` preamble).
    name : str
        Name to report for the file (directories are dropped).
    max_megapixels : float
        Largest image accepted, in millions of pixels, checked on Rows x Columns before any pixel
        is decoded.

    Returns
    -------
    image : (H, W, 3) ndarray of uint8, RGB
        C-contiguous; YBR colour is converted to RGB, grey repeated over the three channels
        (MONOCHROME1 inverted, so that white is 255). Only the first frame of a multi-frame file.
    info : PhotoInfo
        ``format="DICOM"``, ``sha256`` of ``data``, the size, ``taken_at`` from
        AcquisitionDateTime, else ContentDate/ContentTime, else StudyDate/StudyTime (naive unless
        the file states a UTC offset; ``None`` when absent or not believable) and ``warnings``.

    Raises
    ------
    ImageError
        ``data`` is not a DICOM file, holds no photo (a structured report, a Segmentation), is
        compressed in a way that cannot be decoded here, is damaged or cut short, is not an 8-bit
        colour or grey image, or is larger than ``max_megapixels``.

    Examples
    --------
    >>> data = Path("IM0001.dcm").read_bytes()  # doctest: +SKIP
    >>> image, info = read_dicom_photo(data, name="IM0001.dcm")  # doctest: +SKIP
    >>> image.shape, info.format  # doctest: +SKIP
    ((3024, 4032, 3), 'DICOM')
    """
    label = base_name(name) or "photo"
    ds = _parse(data, label)
    _check_is_photo(ds, label)
    _check_size(ds, label, max_megapixels)
    image = _first_frame_rgb(ds, label)
    taken_at, notes = _time_and_notes(ds, label)
    info = PhotoInfo(
        file=label,
        sha256=hashlib.sha256(data).hexdigest(),
        format="DICOM",
        width_px=int(image.shape[1]),
        height_px=int(image.shape[0]),
        taken_at=taken_at,
        warnings=tuple(notes),
    )
    return image, info


def dicom_capture_time(data: bytes, *, name: str) -> tuple[datetime | None, tuple[str, ...]]:
    """The capture time and the notes of :func:`read_dicom_photo`, without decoding pixels
    (the importer stores the photo as a PNG, which has no DICOM dates)."""
    label = base_name(name) or "photo"
    return _time_and_notes(_parse(data, label), label)


def _time_and_notes(ds: Dataset, label: str) -> tuple[datetime | None, tuple[str, ...]]:
    notes: list[str] = []
    frames = _number_of_frames(ds)
    if frames > 1:
        notes.append(f"{label}: the DICOM file holds {frames} frames; only the first was read")
    with _pydicom_warnings(label):  # values are checked (and warned about) when first read
        taken_at, time_notes = _capture_time(ds, label)
    return taken_at, (*notes, *time_notes)


def dicom_to_png(data: bytes, *, name: str) -> bytes:
    """The photo in a DICOM file as a lossless PNG that keeps nothing of the DICOM header.

    The pixels are those of :func:`read_dicom_photo` (first frame, RGB); no name, id, date or
    other attribute of the DICOM file is written into the PNG, so that a photo imported from
    another system is stored without the patient's identifiers.

    Raises
    ------
    ImageError
        As :func:`read_dicom_photo`.

    Examples
    --------
    >>> png = dicom_to_png(Path("IM0001.dcm").read_bytes(), name="IM0001.dcm")  # doctest: +SKIP
    """
    image, _ = read_dicom_photo(data, name=name)
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# Parsing and checks


@contextlib.contextmanager
def _pydicom_warnings(label: str) -> Iterator[None]:
    """Keep pydicom's warnings (odd values, non-conformant files) out of the console; log them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        logger.debug("%s: pydicom warned: %s", label, warning.message)


def _parse(data: bytes, label: str) -> Dataset:
    if not is_dicom(data):
        raise ImageError(
            f"{label}: expected a DICOM file (with 'DICM' at byte 128), found none; export the "
            "image from the PACS as a DICOM file, or upload the photo itself as JPEG or PNG"
        )
    try:
        with _pydicom_warnings(label):
            ds = pydicom.dcmread(io.BytesIO(data))
            ds.get("PixelData")  # read now: a value cut short must fail here
    except Exception as exc:  # noqa: BLE001 - every parser failure becomes one message
        raise ImageError(
            f"{label}: the DICOM file is damaged or truncated ({_first_line(exc)}); {_EXPORT_AGAIN}"
        ) from None
    return ds


def _sop_class_name(ds: Dataset) -> str:
    uid = UID(str(ds.get("SOPClassUID", "")))
    if not uid:
        return "file"
    return re.sub(r"\s+Storage$", "", uid.name) if uid.is_valid else str(uid)


def _check_is_photo(ds: Dataset, label: str) -> None:
    if "PixelData" not in ds or str(ds.get("SOPClassUID", "")) in _NOT_PHOTOS:
        raise ImageError(
            f"{label}: is a DICOM {_sop_class_name(ds)} without a photo; {_EXPORT_PHOTO}"
        )
    bits = ds.get("BitsAllocated")
    signed = ds.get("PixelRepresentation", 0)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if bits != 8 or signed != 0 or photometric.startswith(("PALETTE", "ARGB", "CMYK", "HSV")):
        raise ImageError(
            f"{label}: the DICOM {_sop_class_name(ds)} holds {bits}-bit "
            f"{'signed ' if signed else ''}{photometric or 'unknown'} pixels, not an 8-bit colour "
            f"or grey photo; {_EXPORT_PHOTO}"
        )


def _check_size(ds: Dataset, label: str, max_megapixels: float) -> None:
    rows, columns = ds.get("Rows"), ds.get("Columns")
    if not isinstance(rows, int) or not isinstance(columns, int) or rows < 1 or columns < 1:
        raise ImageError(
            f"{label}: the DICOM file states no image size (Rows {rows!r}, Columns {columns!r}); "
            f"{_EXPORT_AGAIN}"
        )
    if rows * columns > max_megapixels * 1e6:
        raise ImageError(
            f"{label}: {columns}x{rows} pixels ({rows * columns / 1e6:.3g} MP) is over the "
            f"{max_megapixels:g} MP limit; resize the photo before upload"
        )


def _number_of_frames(ds: Dataset) -> int:
    try:
        return max(int(ds.get("NumberOfFrames") or 1), 1)
    except (TypeError, ValueError):
        return 1


# --------------------------------------------------------------------------------------------
# Pixels


def _first_frame_rgb(ds: Dataset, label: str) -> np.ndarray:
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is None:
        raise ImageError(
            f"{label}: the DICOM file states no transfer syntax, so its pixels cannot be "
            f"decoded; {_EXPORT_AGAIN}"
        )
    syntax = UID(str(syntax))
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        decoder = None
    if decoder is None or not decoder.is_available:
        raise ImageError(
            f"{label}: the DICOM pixel data is compressed as {syntax.name or syntax}, which "
            f"cannot be decoded here; {_CONVERT}"
        )
    try:
        with _pydicom_warnings(label):
            pixels, meta = decoder.as_array(ds, index=0, as_rgb=True)
    except Exception as exc:  # noqa: BLE001 - every decoder failure becomes one message
        raise _pixel_error(exc, label) from None
    return _as_rgb(pixels, str(meta.get("photometric_interpretation", "")), label)


def _pixel_error(exc: BaseException, label: str) -> ImageError:
    text = _first_line(exc)
    if re.search(r"less than|shorter|truncat|end of (file|data)|insufficient", text, re.I):
        return ImageError(
            f"{label}: the DICOM pixel data is truncated (it ends early: {text}); {_EXPORT_AGAIN}"
        )
    return ImageError(f"{label}: the DICOM pixel data is damaged ({text}); {_EXPORT_AGAIN}")


def _as_rgb(pixels: np.ndarray, photometric: str, label: str) -> np.ndarray:
    if photometric not in _PHOTOMETRICS or pixels.dtype != np.uint8:
        raise ImageError(
            f"{label}: the DICOM pixels decode as {photometric or 'unknown'} {pixels.dtype}, not "
            f"8-bit RGB or grey; {_CONVERT}"
        )
    if photometric == "MONOCHROME1":  # 0 is white in MONOCHROME1 (PS3.3 C.7.6.3.1.2)
        pixels = 255 - pixels
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return np.ascontiguousarray(pixels, dtype=np.uint8)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------------------------
# Capture time

# Where the capture time is looked for, most specific first (PS3.3 C.7.6.1, C.7.2.1, C.7.10.1).
_TIME_SOURCES = (
    ("AcquisitionDateTime", None),
    ("ContentDate", "ContentTime"),
    ("StudyDate", "StudyTime"),
)


def _capture_time(ds: Dataset, label: str) -> tuple[datetime | None, list[str]]:
    zone = _utc_offset(str(ds.get("TimezoneOffsetFromUTC", "") or ""))
    for first, second in _TIME_SOURCES:
        raw = str(ds.get(first, "") or "").strip()
        if not raw:
            continue
        shown = f"{first} {raw[:26]!r}"
        if second is not None:
            time_text = str(ds.get(second, "") or "").strip()
            shown += f" {second} {time_text[:16]!r}" if time_text else ""
        try:
            taken_at = _dicom_datetime(raw, time_text if second else None)
        except ValueError:
            return None, [
                f"{label}: the capture time is unknown ({shown} is not a valid date); {_BY_HAND}"
            ]
        problem = capture_date_problem(taken_at.date())
        if problem is not None:
            return None, [f"{label}: the capture time is unknown ({shown}: {problem}); {_BY_HAND}"]
        if taken_at.tzinfo is None and zone is not None:
            taken_at = taken_at.replace(tzinfo=zone)
        return taken_at, []
    return None, [
        f"{label}: the capture time is unknown (the DICOM file has no acquisition, content or "
        f"study date); {_BY_HAND}"
    ]


# The DICOM forms (PS3.5 6.2), checked whole: pydicom alone takes "2025-07-04" for 2025.
_DT_FORM = re.compile(r"\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?")
_DA_FORM = re.compile(r"\d{8}")
_TM_FORM = re.compile(r"\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?")


def _dicom_datetime(first: str, time_text: str | None) -> datetime:
    """A DT value, or a DA value with its TM (midnight when the time is missing).

    Raises ValueError for a value that is not of the DICOM form or not a real date.
    """
    if time_text is None:
        if not _DT_FORM.fullmatch(first):
            raise ValueError(first)
        return datetime.fromisoformat(DT(first).isoformat())
    if not _DA_FORM.fullmatch(first) or (time_text and not _TM_FORM.fullmatch(time_text)):
        raise ValueError(first)
    day = DA(first)
    at = TM(time_text) if time_text else None
    return datetime(
        day.year,
        day.month,
        day.day,
        at.hour if at else 0,
        at.minute if at else 0,
        at.second if at else 0,
        at.microsecond if at else 0,
    )


def _utc_offset(text: str) -> tzinfo | None:
    """TimezoneOffsetFromUTC (``+HHMM`` / ``-HHMM``) as a fixed zone, or None."""
    found = re.fullmatch(r"\s*([+-])(\d{2})(\d{2})\s*", text)
    if found is None:
        return None
    minutes = int(found.group(2)) * 60 + int(found.group(3))
    if minutes > 14 * 60:
        return None
    sign = -1 if found.group(1) == "-" else 1
    return timezone(timedelta(minutes=sign * minutes))
