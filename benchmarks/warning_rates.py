"""How often the calibration warnings fire, and how often their photos are really off (issue 25).

On N seeded random phantoms (as ``phantom_accuracy.py``: tilt 0-35°, blur, noise, JPEG...), the
*true* label map is measured through the photo's own sticker calibration (so only the
calibration's error is seen), twice: as the pipeline calibrates (corners refined on the sticker's
pattern where that works), and with the refinement switched off (the four detected corners only,
what a photo gets when its pattern cannot be aligned). It prints:

- how often the refinement fails, and the area errors with and without it;
- the corner error (px) that makes ``area_uncertainty_pct`` an honest ~95 % bound for corner-only
  calibrations: the 95th percentile of |error| / (uncertainty at 1 px), the figure behind
  ``calibration.CORNERS_ONLY_SIGMA_PX``;
- for the warning rule (``pipeline.AREA_UNCERTAINTY_WARN_PCT``): how many photos are warned about,
  how many of those are really off by more than the threshold, and how many photos off by more
  than it get no warning.

Run: python benchmarks/warning_rates.py [N] [--size 1600x1200]
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import numpy as np

from woundtrack.image import calibration as cal
from woundtrack.image.measure import measure
from woundtrack.image.pipeline import AREA_UNCERTAINTY_WARN_PCT
from woundtrack.synthetic.phantom import random_spec, render_phantom


def _area_error_pct(ph, calibration) -> float:
    _, totals = measure(ph.labels, calibration)
    return (totals.wound_area_cm2 * 100 / ph.truth.wound_area_mm2 - 1) * 100


def _centre_px(labels: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(np.isin(labels, (1, 2, 3)))
    return float(xs.mean()), float(ys.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=40)
    parser.add_argument("--size", default="1600x1200")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    rows = []
    for i in range(args.n):
        spec = random_spec(rng, width_px=width, height_px=height, seed=args.seed + i)
        ph = render_phantom(spec)
        refined, _ = cal.calibrate(ph.image, marker_mm=spec.marker_mm)
        with mock.patch.object(cal, "refine_homography", return_value=None):
            corners, _ = cal.calibrate(ph.image, marker_mm=spec.marker_mm)
        if not refined.calibrated or not corners.calibrated:
            continue
        x, y = _centre_px(ph.labels)
        rows.append(
            {
                "refined": refined.quality != "corners only",
                "quality": refined.quality,
                "err": _area_error_pct(ph, refined),
                "err_corners": _area_error_pct(ph, corners),
                "u_at_1px": cal.area_uncertainty_pct(corners, x, y, corner_sigma_px=1.0),
                "u_pipeline": cal.area_uncertainty_pct(refined, x, y),
            }
        )
    n = len(rows)
    err = np.array([abs(r["err"]) for r in rows])
    err_c = np.array([abs(r["err_corners"]) for r in rows])
    u1 = np.array([r["u_at_1px"] for r in rows])
    failed = sum(not r["refined"] for r in rows)
    sigma = float(np.percentile(err_c / u1, 95))
    print(
        f"{n} calibrated random phantoms at {width}x{height}, seed {args.seed} "
        f"({time.perf_counter() - start:.0f} s)"
    )
    print(f"refinement failed on {failed} of {n}")
    print(f"{'calibration':24s} {'median |err|':>13s} {'p90':>7s} {'max':>7s}")
    for name, e in (("as the pipeline does", err), ("corners only", err_c)):
        print(f"{name:24s} {np.median(e):12.2f}% {np.percentile(e, 90):6.2f}% {e.max():6.2f}%")
    print(f"corner error making the uncertainty a 95 % bound for corners only: {sigma:.2f} px")

    limit = AREA_UNCERTAINTY_WARN_PCT
    print(f"warning rule: uncertainty > {limit:.0f} %")
    for name, e, u in (
        ("as the pipeline does", err, np.array([r["u_pipeline"] for r in rows])),
        ("corners only", err_c, u1 * cal.CORNERS_ONLY_SIGMA_PX),
    ):
        warned = u > limit
        off = e > limit
        print(
            f"  {name:22s} warned {warned.sum():3d} of {n}; of those really off > {limit:.0f} %: "
            f"{(warned & off).sum()}, off by more than the ±% the warning states: "
            f"{(warned & (e > u)).sum()}; off > {limit:.0f} % without a warning: "
            f"{(~warned & off).sum()}"
        )
    print(
        "  the old rule (any photo whose pattern cannot be aligned is warned about): "
        f"{n} of {n} corner-only photos warned, {int((err_c > limit).sum())} really off > "
        f"{limit:.0f} %"
    )


if __name__ == "__main__":
    main()
