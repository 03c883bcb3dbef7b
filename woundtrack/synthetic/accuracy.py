"""Relative area errors on synthetic phantoms, the truth that tests and benchmarks measure against.

Owns how phantom accuracy figures are computed, so that ``tests/test_accuracy.py``,
``benchmarks/phantom_accuracy.py`` and the closing notes of issues report the same thing. Pure
functions apart from rendering the phantom.
"""

from __future__ import annotations

import math

import numpy as np

from woundtrack.image.calibration import calibrate
from woundtrack.image.measure import measure
from woundtrack.image.pipeline import make_segmenter
from woundtrack.image.segmentation import Segmenter
from woundtrack.synthetic.phantom import PhantomSpec, PhantomTruth, render_phantom

MEASURES = ("calibration", "wound", "eschar", "slough", "granulation", "erythema")


def measurable(name: str, spec: PhantomSpec, truth: PhantomTruth) -> bool:
    """Whether a relative error of ``name`` means something on this phantom.

    A tissue must be at least 10 % of the wound bed (and 20 mm²), an erythema ring at least 2 mm
    wide: a 0.2 mm ring missed is -100 %, and clinically nothing.
    """
    if name in ("calibration", "wound"):
        return True
    if name == "erythema":
        return spec.erythema_width_mm >= 2.0
    area_mm2 = getattr(truth, f"{name}_area_mm2")
    return area_mm2 >= max(20.0, 0.1 * truth.wound_area_mm2)


def phantom_errors(spec: PhantomSpec, *, segmenter: Segmenter | None = None) -> dict[str, float]:
    """Relative area errors (measured / true - 1) on one phantom; NaN where not measurable.

    ``calibration`` is the error of the *true* label map measured through the photo's own
    sticker calibration (the calibration alone); the others come from the segmented photo.
    """
    segmenter = segmenter or make_segmenter()
    ph = render_phantom(spec)
    calibration, _ = calibrate(ph.image, marker_mm=spec.marker_mm, focal_35mm=spec.focal_35mm)
    errors = dict.fromkeys(MEASURES, math.nan)
    if not calibration.calibrated:
        return errors
    truth = ph.truth
    _, true_totals = measure(ph.labels, calibration)
    errors["calibration"] = true_totals.wound_area_cm2 * 100 / truth.wound_area_mm2 - 1
    _, totals = measure(segmenter(ph.image, calibration), calibration)
    for name in MEASURES[1:]:
        if measurable(name, spec, truth):
            true_mm2 = getattr(truth, f"{name}_area_mm2")
            errors[name] = getattr(totals, f"{name}_area_cm2") * 100 / true_mm2 - 1
    return errors


def summarise(errors: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Median, 90th percentile and maximum of |error| (in %) and the count, per measure."""
    out = {}
    for name in MEASURES:
        values = np.array([e[name] for e in errors], dtype=float)
        values = np.abs(values[np.isfinite(values)]) * 100
        if len(values):
            out[name] = {
                "n": float(len(values)),
                "median_pct": float(np.median(values)),
                "p90_pct": float(np.percentile(values, 90)),
                "max_pct": float(values.max()),
            }
    return out


# --------------------------------------------------------------------------------------------
# Dice on annotated masks (e.g. the FUSeg foot-ulcer set)
# --------------------------------------------------------------------------------------------

#: Photo suffixes ``woundtrack evaluate`` pairs with a mask (lower case).
