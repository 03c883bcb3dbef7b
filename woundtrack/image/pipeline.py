"""The whole measurement of one photo: read -> calibrate -> segment -> measure, with provenance.

Owns the order of the stages and what is recorded beside each result (photo hash, calibration,
segmenter and its version, parameters, woundtrack version), so that every number shown to a
clinician can be traced back. The ``Analysis`` it returns is frozen; its label map is read-only.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from woundtrack import __version__
from woundtrack.errors import ModelError
from woundtrack.image import calibration as cal
from woundtrack.image import io
from woundtrack.image.learned import lesion_doubts
from woundtrack.image.measure import measure
from woundtrack.image.segmentation import ClassicalSegmenter, Segmenter
from woundtrack.models import (
    AREA_NAMES,
    WOUND_BED_LABELS,
    Calibration,
    LesionMeasurement,
    PhotoInfo,
    Provenance,
    Totals,
    to_jsonable,
)

#: Above this estimated area uncertainty (%), the photo gets a warning.
AREA_UNCERTAINTY_WARN_PCT = 3.0
#: Above this ``learned.outline_doubt`` (the network's unsure border band as a share of the
#: wound), the photo gets a warning. On 238 held-out FUSeg photos and copies of them taken as
#: another clinic would, it warned about 36, 31 of them off by more than a quarter of their
#: area (of the 65 that were); none of the demo series (``benchmarks/outline_doubt.py``).
OUTLINE_DOUBT_WARN = 0.3
#: How that warning starts, for the wound of a photo or one lesion of several ("... of the
#: wound's outline", "... of lesion 2's outline"): a person's corrected outline drops it
#: (``record.ingest.correct``).
OUTLINE_DOUBT_WARNING = "the network is unsure of "


def outline_unsure(doubt: float | None) -> bool:
    """Whether an ``outline_doubt`` is one to warn about (None: no doubt recorded)."""
    return doubt is not None and doubt > OUTLINE_DOUBT_WARN


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysis:
    """Everything measured on one photo.

    ``labels`` is the (H, W) uint8 label map in the displayed photo's pixels (read-only), kept
    alongside the figures; it is left out of ``to_record()``.
    """

    photo: PhotoInfo
    calibration: Calibration
    lesions: tuple[LesionMeasurement, ...]
    totals: Totals
    mm_per_px: float | None
    area_uncertainty_pct: float | None
    warnings: tuple[str, ...]
    provenance: Provenance
    labels: np.ndarray = field(repr=False, compare=False)
    #: ``learned.outline_doubt`` of the wound-bed network (None: another segmenter, no wound,
    #: or a person's outline)
    outline_doubt: float | None = None

    def __post_init__(self) -> None:
        if self.labels.shape != (self.photo.height_px, self.photo.width_px):
            raise ValueError(
                f"label map {self.labels.shape} does not match the photo "
                f"{self.photo.height_px}x{self.photo.width_px}"
            )

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready record of the CLI contract (one line of ``woundtrack measure --json``)."""
        record: dict[str, Any] = {
            "file": self.photo.file,
            "ok": True,
            "error": None,
            "sha256": self.photo.sha256,
            "taken_at": to_jsonable(self.photo.taken_at),
            "width_px": self.photo.width_px,
            "height_px": self.photo.height_px,
            "calibrated": self.calibration.calibrated,
            "calibration_method": self.calibration.method,
            "mm_per_px": self.mm_per_px,
            "tilt_deg": self.calibration.tilt_deg,
            "area_uncertainty_pct": self.area_uncertainty_pct,
            "outline_doubt": self.outline_doubt,
        }
        record.update(totals_fields(self.totals))
        record["lesions"] = [to_jsonable(m) for m in self.lesions]
        record["warnings"] = list(self.warnings)
        record["calibration"] = {
            k: v for k, v in to_jsonable(self.calibration).items() if k != "method"
        }
        record["provenance"] = to_jsonable(self.provenance)
        return record


def totals_fields(totals: Totals) -> dict[str, Any]:
    """The record's ``*_area_cm2`` then ``*_area_px`` fields, from a photo's totals."""
    fields: dict[str, Any] = {f"{n}_area_cm2": getattr(totals, f"{n}_area_cm2") for n in AREA_NAMES}
    fields.update({f"{n}_area_px": getattr(totals, f"{n}_area_px") for n in AREA_NAMES})
    return fields


#: The record's top-level fields after ``file, ok, error`` and before the areas, in order.
RECORD_FIELDS = (
    "sha256",
    "taken_at",
    "width_px",
    "height_px",
    "calibrated",
    "calibration_method",
    "mm_per_px",
    "tilt_deg",
    "area_uncertainty_pct",
    "outline_doubt",
)


def failure_record(file: str, error: str) -> dict[str, Any]:
    """The JSON record of a photo that could not be measured (same keys, ``ok`` false)."""
    record: dict[str, Any] = {"file": file, "ok": False, "error": error}
    for key in RECORD_FIELDS:
        record[key] = None
    for name in AREA_NAMES:
        record[f"{name}_area_cm2"] = None
    for name in AREA_NAMES:
        record[f"{name}_area_px"] = None
    record["lesions"] = []
    record["warnings"] = []
    record["calibration"] = None
    record["provenance"] = None
    return record


SEGMENTERS = ("learned", "classical")


def make_segmenter(
    name: str = "learned",
    *,
    model_path: str | os.PathLike[str] | None = None,
    model_name: str | None = None,
    tissue_model_path: str | os.PathLike[str] | None = None,
) -> Segmenter:
    """The segmenter called ``name``: ``"learned"`` (the default, the shipped network, or the
    network at ``model_path``, called ``model_name``; its tissues from the shipped tissue network,
    or the one at ``tissue_model_path``) or ``"classical"`` (colour rules only, for comparison).

    Raises
    ------
    ValueError
        If ``name`` is not one of ``SEGMENTERS``.
    """
    if name == "classical":
        return ClassicalSegmenter()
    if name == "learned":
        from woundtrack.image.learned import TISSUE_LABELS_NAME, LearnedSegmenter, check_model

        chosen = {}
        if tissue_model_path is not None:
            path = Path(tissue_model_path)
            check_model(_model_bytes(path), name=str(path), labels=TISSUE_LABELS_NAME)
            chosen["tissue_model_path"] = str(path)
        if model_path is None:
            return LearnedSegmenter(**chosen)
        path = Path(model_path)
        check_model(_model_bytes(path), name=str(path))
        return LearnedSegmenter(model_path=str(path), model_name=model_name or path.stem, **chosen)
    raise ValueError(f"unknown segmenter {name!r}; choose one of {', '.join(SEGMENTERS)}")


def _model_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(
            f"cannot read the model {path}: {exc.strerror}; give the .onnx file's path"
        ) from None


def analyze(
    photo: str | os.PathLike[str] | bytes,
    *,
    marker_mm: float = cal.DEFAULT_MARKER_MM,
    mm_per_px: float | None = None,
    segmenter: Segmenter | None = None,
    name: str | None = None,
) -> Analysis:
    """Measure one wound photo.

    Parameters
    ----------
    photo : path or bytes
        A JPEG, PNG, WebP, TIFF or HEIC file.
    marker_mm : float
        Outer side of the calibration sticker's black square, in millimetres.
    mm_per_px : float, optional
        A manual scale (a ruler in the photo) used when no sticker is found; no perspective
        correction is possible with it.
    segmenter : Segmenter, optional
        Defaults to the learned segmenter (``make_segmenter()``).
    name : str, optional
        File name to report when ``photo`` is bytes.

    Returns
    -------
    Analysis

    Raises
    ------
    woundtrack.errors.ImageError
        If the file cannot or must not be read.
    woundtrack.errors.CalibrationError
        If ``marker_mm`` or ``mm_per_px`` is not a positive number.

    Examples
    --------
    >>> a = analyze("sample_images/demo_week00.jpg")  # doctest: +SKIP
    >>> a.totals.wound_area_cm2  # doctest: +SKIP
    12.7
    """
    image, info = io.read_photo(photo, name=name)
    return analyze_image(image, info, marker_mm=marker_mm, mm_per_px=mm_per_px, segmenter=segmenter)


def analyze_image(
    image: np.ndarray,
    info: PhotoInfo,
    *,
    marker_mm: float = cal.DEFAULT_MARKER_MM,
    mm_per_px: float | None = None,
    segmenter: Segmenter | None = None,
) -> Analysis:
    """Measure an already decoded photo (RGB uint8, as displayed); see ``analyze``."""
    segmenter = segmenter or make_segmenter()
    warnings = list(info.warnings)
    calibration, cal_warnings = cal.calibrate(
        image, marker_mm=marker_mm, focal_35mm=info.focal_length_35mm
    )
    if calibration.method == "none" and mm_per_px is not None:
        calibration = cal.manual_calibration(mm_per_px)
        warnings.append(
            f"no sticker found: using the manual scale of {mm_per_px:g} mm per pixel, which "
            "assumes the photo was taken square-on (no tilt correction)"
        )
    else:
        if calibration.method == "aruco" and mm_per_px is not None:
            warnings.append("the sticker was found, so the manual scale was ignored")
        warnings.extend(cal_warnings)
    if calibration.method == "aruco" and calibration.white_balance_gains is None:
        warnings.append("the sticker's white border could not be read; colours were not balanced")

    found = None
    if hasattr(segmenter, "segment_with_doubt"):  # the learned segmenter
        found = segmenter.segment_with_doubt(image, calibration)
        labels, doubt = found.labels, found.outline_doubt
    else:
        labels, doubt = segmenter(image, calibration), None
    labels.setflags(write=False)
    lesions, totals = measure(labels, calibration)
    if found is not None:
        lesions = [
            dataclasses.replace(m, outline_doubt=d)
            for m, d in zip(lesions, lesion_doubts(found, lesions), strict=True)
        ]
    if not lesions:
        warnings.append(
            "no wound found in this photo; check that the wound is in view and in focus"
        )
    warnings.extend(_outline_doubt_warnings(lesions))
    uncertainty = _area_uncertainty(calibration, lesions, image.shape)
    if uncertainty is not None and uncertainty > AREA_UNCERTAINTY_WARN_PCT:
        if calibration.quality == "corners only":
            warnings.append(
                "the sticker's pattern could not be aligned precisely, so the scale rests on its "
                f"four corners: areas may be off by about ±{uncertainty:.0f} %; retake the photo "
                "in focus with the sticker flat and close to the wound"
            )
        else:
            warnings.append(
                "the sticker is small or far from the wound: areas may be off by about "
                f"±{uncertainty:.0f} %; "
                "stick it closer to the wound or hold the phone closer"
            )
    warnings.extend(_erythema_at_band_edge(lesions, calibration, image.shape, segmenter))
    if _wound_touches_edge(labels):
        warnings.append(
            "a wound touches the edge of the photo, so part of it may be outside the picture; "
            "retake with the whole wound and a margin of skin in view"
        )
    provenance = Provenance(
        photo_sha256=info.sha256,
        woundtrack_version=__version__,
        segmenter=segmenter.name,
        model_version=segmenter.version,
        calibration_method=calibration.method,
        calibration_quality=calibration.quality,
        params=_params_of(segmenter),
        model_name=getattr(segmenter, "model_name", None),
        model_sha256=getattr(segmenter, "model_sha256", None),
        analysed_at=datetime.now(UTC),
    )
    return Analysis(
        photo=info,
        calibration=calibration,
        lesions=tuple(lesions),
        totals=totals,
        mm_per_px=_mm_per_px_at_wound(calibration, lesions, image.shape),
        area_uncertainty_pct=uncertainty,
        warnings=tuple(warnings),
        provenance=provenance,
        labels=labels,
        outline_doubt=doubt if lesions else None,
    )


def made_by(record: dict[str, Any], segmenter: Segmenter) -> bool:
    """Whether the analysis ``record`` (``Analysis.to_record``) was made by this woundtrack
    version with ``segmenter``: the same segmenter, model version and file hash, and parameters.
    Only then may it stand in for measuring the photo again (``restore_analysis``)."""
    made = record.get("provenance") or {}
    now = {
        "woundtrack_version": __version__,
        "segmenter": segmenter.name,
        "model_version": segmenter.version,
        "model_sha256": getattr(segmenter, "model_sha256", None),
        "params": _params_of(segmenter),
        "corrected": False,
    }
    return all(made.get(key) == value for key, value in now.items())


def restore_analysis(info: PhotoInfo, record: dict[str, Any], labels: np.ndarray) -> Analysis:
    """The ``Analysis`` of the photo ``info`` rebuilt from its stored JSON ``record`` and label
    map, without measuring again: lesions and totals are measured from ``labels`` with the
    record's calibration, and must be the record's figures.

    Raises
    ------
    ValueError
        The record is of another photo, or its figures are not its label map's.
    """
    made = dict(record["provenance"])
    if made.get("photo_sha256") != info.sha256 or record.get("sha256") != info.sha256:
        raise ValueError(f"the stored analysis is not of {info.file} (another photo's hash)")
    calibration = Calibration.from_record(record)
    lesions, totals = measure(labels, calibration)
    if not _same_figures(totals_fields(totals), record):
        raise ValueError(f"the stored figures of {info.file} are not those of its label map")
    # the doubts come from the network's logits, which are not stored: the record's; a record
    # made before they were per lesion gives each lesion the photo's (None before it had one)
    photo_doubt = record.get("outline_doubt")
    stored = record.get("lesions") or []
    if len(stored) == len(lesions):
        lesions = [
            dataclasses.replace(m, outline_doubt=s.get("outline_doubt", photo_doubt))
            for m, s in zip(lesions, stored, strict=True)
        ]
    if made.get("analysed_at"):
        made["analysed_at"] = datetime.fromisoformat(made["analysed_at"])
    labels = labels.copy()
    labels.setflags(write=False)
    return Analysis(
        photo=info,
        calibration=calibration,
        lesions=tuple(lesions),
        totals=totals,
        mm_per_px=record["mm_per_px"],
        area_uncertainty_pct=record["area_uncertainty_pct"],
        warnings=tuple(record["warnings"]),
        provenance=Provenance(**made),
        labels=labels,
        outline_doubt=photo_doubt,
    )


def _same_figures(measured: dict[str, Any], record: dict[str, Any]) -> bool:
    """Whether ``measured`` (``totals_fields``) are the figures in ``record``: pixel counts
    exactly, areas in cm² to 1e-9 of their size (a sum of floats may differ in its last bit
    between numpy builds and CPUs, as it did for the demo's week 4)."""
    for key, value in measured.items():
        stored = record.get(key)
        if isinstance(value, float) and isinstance(stored, float):
            if not math.isclose(value, stored, rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif value != stored:
            return False
    return True


def _outline_doubt_warnings(lesions: list[LesionMeasurement]) -> list[str]:
    """One warning per lesion whose outline the network is unsure of (``outline_unsure``)."""
    warnings = []
    for m in lesions:
        if not outline_unsure(m.outline_doubt):
            continue
        which = "the wound" if len(lesions) == 1 else f"lesion {m.index}"
        whose = "the wound's" if len(lesions) == 1 else f"lesion {m.index}'s"
        of = "" if len(lesions) == 1 else f" (of {len(lesions)}, largest first)"
        warnings.append(
            f"{OUTLINE_DOUBT_WARNING}{whose} outline{of}: along its border it is unsure of an area "
            f"{100 * m.outline_doubt:.0f} % the size of {which} (this warning starts at "
            f"{100 * OUTLINE_DOUBT_WARN:.0f} %), so the areas may be well off; check the outline "
            "on the overlay and correct it if it is wrong (the app's Review & correct page)"
        )
    return warnings


def _mm_per_px_at_wound(
    calibration: Calibration, lesions: list[LesionMeasurement], shape: tuple[int, ...]
) -> float | None:
    """Scale at the largest wound's centre (at the sticker, or the photo's centre, when none)."""
    if not calibration.calibrated:
        return None
    if lesions:
        x, y = lesions[0].centroid_px
    else:
        x, y = cal.marker_centre_px(calibration) or (shape[1] / 2, shape[0] / 2)
    return cal.mm_per_px_at(calibration, x, y)


def _area_uncertainty(
    calibration: Calibration, lesions: list[LesionMeasurement], shape: tuple[int, ...]
) -> float | None:
    if calibration.method != "aruco" or not lesions:
        return None
    return cal.area_uncertainty_pct(calibration, *lesions[0].centroid_px)


#: A lesion's erythema reaching this share of the band it is looked for in reaches its edge.
ERYTHEMA_BAND_EDGE_SHARE = 0.9


def _erythema_at_band_edge(
    lesions: list[LesionMeasurement],
    calibration: Calibration,
    shape: tuple[int, ...],
    segmenter: Segmenter,
) -> list[str]:
    """A warning per lesion whose erythema reaches the edge of the band that the segmenter looks
    for it in (``erythema_max_reach_mm`` from the wound, at the photo centre's scale): the
    redness may go on beyond it, so its reach and area are then floors, not measurements."""
    params = getattr(segmenter, "params", None)
    limit_mm = getattr(getattr(params, "tissue", params), "erythema_max_reach_mm", None)
    if limit_mm is None or not calibration.calibrated:
        return []
    band_px = limit_mm / cal.mm_per_px_at(calibration, shape[1] / 2, shape[0] / 2)
    return [
        f"lesion {m.index}: its erythema reaches the edge of the band it is looked for in "
        f"(about {limit_mm / 10:g} cm from the wound; {m.erythema_reach_cm:.1f} cm measured), "
        "so it may reach further and its area and reach are then understated; look at the photo"
        for m in lesions
        if m.erythema_reach_cm is not None
        and m.erythema_reach_px >= ERYTHEMA_BAND_EDGE_SHARE * band_px
    ]


def _wound_touches_edge(labels: np.ndarray) -> bool:
    edges = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    return bool(np.isin(edges, WOUND_BED_LABELS).any())


def _params_of(segmenter: Segmenter) -> dict[str, Any]:
    params = getattr(segmenter, "params", None)
    if params is not None and dataclasses.is_dataclass(params):
        return to_jsonable(params)
    return {}
