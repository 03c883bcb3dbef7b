"""Frozen dataclasses that cross module boundaries.

They hold validated values only, no logic beyond checks and plain conversions to JSON-ready
dictionaries. Units are a suffix of every field name (``_px``, ``_mm``, ``_cm2``, ``_deg``,
``_pct``);
instants end in ``_at``. Images and label maps travel as bare arrays beside these objects.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

#: Label values of a segmentation label map (uint8, one per pixel of the displayed photo).
BACKGROUND = 0
GRANULATION = 1
SLOUGH = 2
ESCHAR = 3
ERYTHEMA = 4
LABEL_NAMES = {
    BACKGROUND: "skin/background",
    GRANULATION: "granulation",
    SLOUGH: "slough",
    ESCHAR: "eschar",
    ERYTHEMA: "erythema",
}
WOUND_BED_LABELS = (GRANULATION, SLOUGH, ESCHAR)

CalibrationMethod = Literal["aruco", "manual", "none"]


def _check_non_negative(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is not None and (not math.isfinite(value) or value < 0):
            raise ValueError(
                f"{type(obj).__name__}.{name} must be a finite number >= 0, got {value!r}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class PhotoInfo:
    """What was read from a photo file besides its pixels.

    ``width_px`` and ``height_px`` are those of the photo as a person sees it (EXIF orientation
    applied). ``taken_at`` comes from EXIF DateTimeOriginal; it is timezone-aware when the file
    states an offset, naive (local time of the camera) when it does not, and ``None`` when the file
    has no capture time.
    """

    file: str
    sha256: str
    format: str
    width_px: int
    height_px: int
    taken_at: datetime | None = None
    focal_length_35mm: float | None = None
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.width_px <= 0 or self.height_px <= 0:
            raise ValueError(
                f"PhotoInfo size must be positive, got {self.width_px}x{self.height_px}"
            )
        if len(self.sha256) != 64:
            raise ValueError(f"PhotoInfo.sha256 must be 64 hex digits, got {self.sha256!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Calibration:
    """How image pixels map to millimetres on the skin plane.

    ``homography`` maps displayed-image pixel coordinates ``(x, y, 1)`` to plane coordinates in
    millimetres (row-major 3x3). ``method`` is ``"aruco"`` (from the sticker, full perspective),
    ``"manual"`` (a user-given ``mm_per_px``, no perspective) or ``"none"`` (no scale: pixels only,
    ``homography`` is ``None``).
    """

    method: CalibrationMethod
    homography: tuple[tuple[float, float, float], ...] | None = None
    marker_mm: float | None = None
    marker_id: int | None = None
    marker_corners_px: tuple[tuple[float, float], ...] | None = None
    marker_side_px: float | None = None
    tilt_deg: float | None = None
    focal_px: float | None = None
    focal_source: str | None = None
    white_balance_gains: tuple[float, float, float] | None = None
    quality: str = ""

    def __post_init__(self) -> None:
        if self.method not in ("aruco", "manual", "none"):
            raise ValueError(
                f"Calibration.method must be aruco, manual or none, got {self.method!r}"
            )
        if self.method == "none" and self.homography is not None:
            raise ValueError("Calibration.method 'none' cannot carry a homography")
        if self.method != "none" and self.homography is None:
            raise ValueError(f"Calibration.method {self.method!r} needs a homography")
        if self.homography is not None and (
            len(self.homography) != 3 or any(len(row) != 3 for row in self.homography)
        ):
            raise ValueError("Calibration.homography must be 3x3")
        _check_non_negative(self, "marker_mm", "marker_side_px", "tilt_deg", "focal_px")

    @property
    def calibrated(self) -> bool:
        """True when areas in cm² can be given."""
        return self.method != "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class LesionMeasurement:
    """One connected wound bed and the erythema nearest to it.

    Areas in pixels are counts in the displayed photo; cm² fields are ``None`` when the photo is
    not calibrated. Tissue percentages are shares of the wound bed area (on the rectified plane when
    calibrated, in pixels otherwise).
    """

    index: int
    centroid_px: tuple[float, float]
    bbox_px: tuple[int, int, int, int]
    wound_area_px: int
    granulation_area_px: int
    slough_area_px: int
    eschar_area_px: int
    erythema_area_px: int
    wound_area_cm2: float | None
    granulation_area_cm2: float | None
    slough_area_cm2: float | None
    eschar_area_cm2: float | None
    erythema_area_cm2: float | None
    perimeter_cm: float | None
    length_cm: float | None
    width_cm: float | None
    perimeter_px: float
    length_px: float
    width_px: float
    granulation_pct: float
    slough_pct: float
    eschar_pct: float

    def __post_init__(self) -> None:
        _check_non_negative(
            self,
            "wound_area_px",
            "granulation_area_px",
            "slough_area_px",
            "eschar_area_px",
            "erythema_area_px",
            "wound_area_cm2",
            "granulation_area_cm2",
            "slough_area_cm2",
            "eschar_area_cm2",
            "erythema_area_cm2",
            "perimeter_cm",
            "length_cm",
            "width_cm",
            "perimeter_px",
            "length_px",
            "width_px",
        )
        for name in ("granulation_pct", "slough_pct", "eschar_pct"):
            value = getattr(self, name)
            if not 0.0 <= value <= 100.0:
                raise ValueError(f"LesionMeasurement.{name} must lie in [0, 100], got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Totals:
    """Sums over all lesions of one photo (cm² fields ``None`` when uncalibrated)."""

    wound_area_px: int
    granulation_area_px: int
    slough_area_px: int
    eschar_area_px: int
    erythema_area_px: int
    wound_area_cm2: float | None
    granulation_area_cm2: float | None
    slough_area_cm2: float | None
    eschar_area_cm2: float | None
    erythema_area_cm2: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Provenance:
    """Where a measurement came from, stored with every number shown to a clinician."""

    photo_sha256: str
    woundtrack_version: str
    segmenter: str
    model_version: str
    calibration_method: CalibrationMethod
    calibration_quality: str
    params: dict[str, Any] = field(default_factory=dict)
    corrected: bool = False
    corrected_by: str | None = None
    analysed_at: datetime | None = None


def to_jsonable(value: Any) -> Any:
    """Plain JSON-ready form of a dataclass, tuple, datetime or number (NaN becomes None)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, float):
        return None if not math.isfinite(value) else value
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return to_jsonable(value.item())
    return value
