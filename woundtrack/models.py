"""Frozen dataclasses that cross module boundaries.

They hold validated values only, no logic beyond checks and plain conversions to JSON-ready
dictionaries. Units are a suffix of every field name (``_px``, ``_mm``, ``_cm2``, ``_deg``,
``_pct``);
instants end in ``_at``. Images and label maps travel as bare arrays beside these objects.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from dataclasses import InitVar, dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from woundtrack.errors import TimelineError

#: Label values of a segmentation label map (uint8, one per pixel of the displayed photo).
BACKGROUND = 0
GRANULATION = 1
SLOUGH = 2
ESCHAR = 3
ERYTHEMA = 4
WOUND_BED_LABELS = (GRANULATION, SLOUGH, ESCHAR)


@dataclass(frozen=True, slots=True, kw_only=True)
class Tissue:
    """One tissue of the label map: its name, label value and the colour the overlay draws it in.

    Colours are Okabe-Ito (readable with the common colour vision deficiencies); eschar is drawn
    in blue, not black, so that it shows on a black wound.
    """

    name: str
    label: int
    colour_rgb: tuple[int, int, int]
    in_wound_bed: bool

    @property
    def area_cm2_field(self) -> str:
        return f"{self.name}_area_cm2"

    @property
    def area_px_field(self) -> str:
        return f"{self.name}_area_px"

    @property
    def pct_field(self) -> str:
        """The share of the wound bed (only tissues of the bed have one)."""
        return f"{self.name}_pct"


#: The one table of tissues every module reads: label values, names, colours, field names.
TISSUES = (
    Tissue(name="granulation", label=GRANULATION, colour_rgb=(213, 94, 0), in_wound_bed=True),
    Tissue(name="slough", label=SLOUGH, colour_rgb=(240, 228, 66), in_wound_bed=True),
    Tissue(name="eschar", label=ESCHAR, colour_rgb=(0, 114, 178), in_wound_bed=True),
    Tissue(name="erythema", label=ERYTHEMA, colour_rgb=(204, 121, 167), in_wound_bed=False),
)
BED_TISSUES = tuple(t for t in TISSUES if t.in_wound_bed)
#: Names of the areas a record gives, in its order: the wound bed, then each tissue.
AREA_NAMES = ("wound", *(t.name for t in TISSUES))
LABEL_NAMES = {BACKGROUND: "skin/background", **{t.label: t.name for t in TISSUES}}

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

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Calibration:
        """The calibration stored in an analysis record (``Analysis.to_record``'s JSON form)."""
        fields = dict(record.get("calibration") or {})
        fields["method"] = record.get("calibration_method", "none")

        def tup(v: Any) -> Any:
            return tuple(tup(x) for x in v) if isinstance(v, list) else v

        return cls(**{k: tup(v) for k, v in fields.items()})


@dataclass(frozen=True, slots=True, kw_only=True)
class LesionMeasurement:
    """One connected wound bed and the erythema nearest to it.

    Areas in pixels are counts in the displayed photo; cm² fields are ``None`` when the photo is
    not calibrated. Tissue percentages are shares of the wound bed area (on the rectified plane when
    calibrated, in pixels otherwise). ``erythema_reach_cm`` is how far the lesion's erythema
    reaches from the wound's edge at its furthest, on the skin plane (0 without erythema; the
    segmenter looks for erythema up to 2.5 cm out); ``erythema_reach_px`` the same in pixels.
    ``outline_doubt`` is the wound-bed network's doubt about this lesion's outline
    (``image.learned.lesion_doubts``; None: another segmenter, or a person's outline).
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
    erythema_reach_cm: float | None = None
    erythema_reach_px: float = 0.0
    outline_doubt: float | None = None

    def __post_init__(self) -> None:
        _check_non_negative(
            self,
            *(f"{name}_area_px" for name in AREA_NAMES),
            *(f"{name}_area_cm2" for name in AREA_NAMES),
            "perimeter_cm",
            "length_cm",
            "width_cm",
            "perimeter_px",
            "length_px",
            "width_px",
            "erythema_reach_cm",
            "erythema_reach_px",
            "outline_doubt",
        )
        for name in (t.pct_field for t in BED_TISSUES):
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
    model_name: str | None = None  # the clinic's name for the network: "shipped" or its own
    model_sha256: str | None = None  # the network file's hash; None for the colour rules
    corrected: bool = False
    corrected_by: str | None = None
    analysed_at: datetime | None = None


# -- the longitudinal record's values ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesRow:
    """One lesion at one visit, from the visit's current analysis (corrected if a person did)."""

    patient: str
    lesion: str
    lesion_index: int
    body_site: str
    visit_id: int
    analysis_id: int
    taken_at: str | None
    taken_on: date | None
    photo_sha256: str
    file_name: str
    calibrated: bool
    wound_area_cm2: float | None
    eschar_area_cm2: float | None
    slough_area_cm2: float | None
    granulation_area_cm2: float | None
    erythema_area_cm2: float | None
    perimeter_cm: float | None
    length_cm: float | None
    width_cm: float | None
    erythema_reach_cm: float | None = None  # None: uncalibrated, or measured before 2026-12-07
    #: the wound-bed network's doubt about its outline (``image.learned.outline_doubt``); None:
    #: a person's outline, the classical segmenter, or measured before 2026-12-07
    outline_doubt: float | None = None
    eschar_pct: float
    slough_pct: float
    granulation_pct: float
    corrected: bool
    corrected_by: str | None
    segmenter: str
    model_version: str
    woundtrack_version: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalysisInfo:
    """A visit's current analysis (its newest correction, else the automatic one)."""

    analysis_id: int
    visit_id: int
    kind: str
    corrected_by: str | None
    segmenter: str
    model_version: str
    record: dict[str, Any]
    n_analyses: int
    photo_sha256: str = ""
    created_at: datetime | None = None  # when it was measured, or the correction accepted

    @property
    def calibration(self) -> Calibration:
        """The calibration the analysis was measured with (see ``Calibration.from_record``)."""
        return Calibration.from_record(self.record)


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


# -- treatments ------------------------------------------------------------------------------

KNOWN_KINDS = (
    "debridement",
    "hyperbaric_oxygen",
    "sodium_thiosulfate",
    "parathyroidectomy",
    "cinacalcet",
    "antibiotics",
    "dressing_change",
)

#: Longest ``kind`` accepted: it is a chart label; details belong in ``notes``.
MAX_KIND_CHARS = 60
#: First day a treatment may be dated: no living patient's wound care began earlier, and a year
#: typed short (``0026``, ``1026``) is a slip to catch, not a date to chart.
EARLIEST_TREATMENT_ON = date(1900, 1, 1)
#: Latest treatment date, in years after today: a planned course (a booked hyperbaric oxygen
#: series, a scheduled surgery) may lie ahead, but not by decades (``2062`` for ``2026``). Both
#: ends also keep every date far from ``date.min`` / ``date.max``, whose arithmetic overflows.
MAX_TREATMENT_YEARS_AHEAD = 5
_TREATMENT_RANGE_FIX = (
    f"check the year: a treatment is dated from {EARLIEST_TREATMENT_ON.isoformat()} to "
    f"{MAX_TREATMENT_YEARS_AHEAD} years from today"
)


def latest_treatment_on(today: date | None = None) -> date:
    """The last day a treatment may be dated: ``MAX_TREATMENT_YEARS_AHEAD`` years after
    ``today`` (default: the local date), 29 February becoming 28 February."""
    today = date.today() if today is None else today
    year = today.year + MAX_TREATMENT_YEARS_AHEAD
    try:
        return today.replace(year=year)
    except ValueError:  # 29 February, and the year five on is not a leap year
        return today.replace(year=year, day=28)


KIND_LABELS = {
    "debridement": "Debridement",
    "hyperbaric_oxygen": "Hyperbaric oxygen",
    "sodium_thiosulfate": "Sodium thiosulfate",
    "parathyroidectomy": "Parathyroidectomy",
    "cinacalcet": "Cinacalcet",
    "antibiotics": "Antibiotics",
    "dressing_change": "Dressing change",
}

# Only exact synonyms, abbreviations, spellings and brand names: a qualified name such as
# "surgical debridement" or "subtotal parathyroidectomy" is kept as typed, so no detail is lost.
_KIND_SYNONYMS = {
    "debridement": "debridement",
    "hyperbaric oxygen": "hyperbaric_oxygen",
    "hyperbaric oxygen therapy": "hyperbaric_oxygen",
    "hyperbaric oxygen treatment": "hyperbaric_oxygen",
    "hyperbaric": "hyperbaric_oxygen",
    "hbot": "hyperbaric_oxygen",
    "hbo": "hyperbaric_oxygen",
    "hbo2": "hyperbaric_oxygen",
    "hbo2t": "hyperbaric_oxygen",
    "sodium thiosulfate": "sodium_thiosulfate",
    "sodium thiosulphate": "sodium_thiosulfate",
    "thiosulfate": "sodium_thiosulfate",
    "thiosulphate": "sodium_thiosulfate",
    "sts": "sodium_thiosulfate",
    "parathyroidectomy": "parathyroidectomy",
    "ptx": "parathyroidectomy",
    "cinacalcet": "cinacalcet",
    "sensipar": "cinacalcet",
    "mimpara": "cinacalcet",
    "antibiotics": "antibiotics",
    "antibiotic": "antibiotics",
    "abx": "antibiotics",
    "dressing change": "dressing_change",
    "dressing changes": "dressing_change",
    "dressing": "dressing_change",
    "dressings": "dressing_change",
}


def normalise_kind(text: str) -> str:
    """The canonical kind for a treatment name as a person writes it.

    Case, accents, spaces, hyphens and underscores are ignored, and common abbreviations,
    British spellings and brand names are understood. A name that is not one of the known kinds
    is returned as typed, less surrounding whitespace.

    Parameters
    ----------
    text : str
        Treatment name, e.g. ``"Hyperbaric Oxygen"``, ``"HBOT"`` or ``"Wound VAC"``.

    Returns
    -------
    str
        A value of ``KNOWN_KINDS``, or ``text.strip()``.

    Raises
    ------
    TypeError
        If ``text`` is not a string.

    Examples
    --------
    >>> normalise_kind("HBOT"), normalise_kind("sodium thiosulphate"), normalise_kind(" PTX ")
    ('hyperbaric_oxygen', 'sodium_thiosulfate', 'parathyroidectomy')
    >>> normalise_kind("Wound VAC ")
    'Wound VAC'
    """
    if not isinstance(text, str):
        raise TypeError(f"normalise_kind: expected a str, got {type(text).__name__}")
    trimmed = text.strip()
    return _KIND_SYNONYMS.get(_kind_key(trimmed), trimmed)


def _kind_key(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[\s_\-]+", " ", plain.casefold()).strip(" .")


@dataclass(frozen=True, slots=True, kw_only=True)
class TreatmentEvent:
    """One treatment: a single event on ``start_on``, or a course from ``start_on``.

    A course has an ``end_on`` (its last day, inclusive), a number of ``sessions`` or a
    ``frequency``; a course without ``end_on`` is still going on. Anything else is a point event
    (a surgery, one debridement).

    ``kind`` is put through ``normalise_kind`` (``"HBOT"`` becomes ``"hyperbaric_oxygen"``); it
    and the text fields are stripped of surrounding whitespace, and line breaks in them are
    written ``"\\n"``, so that an event survives a CSV round trip unchanged.

    Dates lie from ``EARLIEST_TREATMENT_ON`` (1900-01-01) to ``MAX_TREATMENT_YEARS_AHEAD`` (5)
    years after today (:func:`latest_treatment_on`). ``stored=True`` (not a field) is for an
    event read back from the record: an out-of-range date saved by an earlier version is then
    kept, so that the timeline still loads and can be corrected; every other check applies.

    Raises
    ------
    TimelineError
        If ``kind`` is empty, longer than ``MAX_KIND_CHARS`` or spans lines, a date is outside
        the range above, ``end_on`` is before ``start_on``, or ``sessions`` is below 1.
    TypeError
        If a field has the wrong type (``start_on`` must be a ``date``, not a ``datetime``).
    """

    kind: str
    start_on: date
    end_on: date | None = None
    dose: str = ""
    frequency: str = ""
    sessions: int | None = None
    notes: str = ""
    stored: InitVar[bool] = False

    def __post_init__(self, stored: bool) -> None:
        for name in ("kind", "dose", "frequency", "notes"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(
                    f"TreatmentEvent.{name}: expected a str, got {type(value).__name__} {value!r}"
                )
            object.__setattr__(self, name, _clean_text(value))
        object.__setattr__(self, "kind", normalise_kind(self.kind))
        _check_date_type("start_on", self.start_on, optional=False)
        _check_date_type("end_on", self.end_on, optional=True)
        if self.sessions is not None and (
            isinstance(self.sessions, bool) or not isinstance(self.sessions, int)
        ):
            raise TypeError(
                f"TreatmentEvent.sessions: expected an int or None, got "
                f"{type(self.sessions).__name__} {self.sessions!r}"
            )
        problems = treatment_value_problems(
            self.kind, self.start_on, self.end_on, self.sessions, date_range=not stored
        )
        if problems:
            lines = tuple(f"TreatmentEvent {column}: {text}" for column, text in problems)
            raise TimelineError("\n".join(lines), lines)

    @property
    def is_course(self) -> bool:
        """True for a course (``end_on``, ``sessions`` or ``frequency`` given), else a point."""
        return self.end_on is not None or self.sessions is not None or self.frequency != ""

    @property
    def label(self) -> str:
        """Human label for charts and tables.

        The kind (``"Hyperbaric oxygen"`` for a known kind, as typed otherwise), then the dose,
        the frequency after a comma and the number of sessions in brackets, e.g.
        ``"Hyperbaric oxygen (36 sessions)"`` or
        ``"Sodium thiosulfate 25 g IV, 3 per week after dialysis"``. Notes are left out.
        """
        text = KIND_LABELS.get(self.kind, self.kind)
        if self.dose:
            text += f" {self.dose}"
        if self.frequency:
            text += f", {self.frequency}"
        if self.sessions is not None:
            text += f" ({self.sessions} session{'' if self.sessions == 1 else 's'})"
        return text


def _clean_text(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def _check_date_type(name: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, datetime):
        raise TypeError(
            f"TreatmentEvent.{name}: expected a date, got the datetime {value!r}; pass its .date()"
        )
    if not isinstance(value, date):
        raise TypeError(
            f"TreatmentEvent.{name}: expected a datetime.date"
            f"{' or None' if optional else ''}, got {type(value).__name__} {value!r}; "
            f"pass e.g. date(2026, 3, 2)"
        )


def treatment_value_problems(
    kind: str,
    start_on: date | None,
    end_on: date | None,
    sessions: int | None,
    *,
    date_range: bool = True,
) -> list[tuple[str, str]]:
    """(column, problem) pairs for values of the right types; shared by ``TreatmentEvent``, the
    timeline CSV reader (``woundtrack.analysis.timeline_csv``) and the app's Treatments editor.
    ``date_range=False`` leaves out the check of the dates' range (for stored events)."""
    problems: list[tuple[str, str]] = []
    if date_range:
        latest = latest_treatment_on()
        for column, day in (("start_on", start_on), ("end_on", end_on)):
            if day is None:
                continue
            if day < EARLIEST_TREATMENT_ON:
                where = f"is before {EARLIEST_TREATMENT_ON.isoformat()}"
            elif day > latest:
                where = (
                    f"is more than {MAX_TREATMENT_YEARS_AHEAD} years ahead "
                    f"(after {latest.isoformat()})"
                )
            else:
                continue
            problems.append((column, f"{day.isoformat()} {where}; {_TREATMENT_RANGE_FIX}"))
    if not kind:
        problems.append(("kind", "empty; name the treatment, e.g. debridement"))
    elif "\n" in kind:
        problems.append(
            ("kind", f"{shown_text(kind)} spans lines; keep the kind on one line, details in notes")
        )
    elif len(kind) > MAX_KIND_CHARS:
        problems.append(
            (
                "kind",
                f"{shown_text(kind)} is {len(kind)} characters, over the limit of "
                f"{MAX_KIND_CHARS}; keep the kind short and put details in notes",
            )
        )
    if start_on is not None and end_on is not None and end_on < start_on:
        problems.append(
            (
                "end_on",
                f"{end_on.isoformat()} is before start_on {start_on.isoformat()}; end_on is the "
                f"last day of the course, on or after start_on",
            )
        )
    if sessions is not None and sessions < 1:
        problems.append(
            (
                "sessions",
                f"{sessions} is not a number of sessions; write 1 or more, or leave it empty",
            )
        )
    return problems


def shown_text(value: str, limit: int = 40) -> str:
    """A value as a message shows it: on one line, cut to ``limit`` characters."""
    one_line = value.replace("\n", "\\n")
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
