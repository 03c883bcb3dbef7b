"""Accuracy on random phantoms: calibration alone, and the whole pipeline, against exact truth.

Prints, over N seeded random phantoms (tilt 0-35°, any roll, skin tone, light, colour cast, blur,
noise, JPEG, EXIF rotation), the relative error of:
- calibration alone: the *truth* label map measured through the photo's own sticker calibration;
- the pipeline: wound, eschar, slough, granulation and erythema areas from the segmented photo.

Run: python benchmarks/phantom_accuracy.py [N] [--size 1600x1200]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from woundtrack.calibration import calibrate
from woundtrack.measure import measure
from woundtrack.phantom import random_spec, render_phantom
from woundtrack.segmentation import segment


def evaluate(n: int, width: int, height: int, seed: int = 2026, verbose: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    errors: dict[str, list[float]] = {k: [] for k in
                                      ("calibration", "wound", "eschar", "slough", "granulation", "erythema")}  # fmt: skip
    for i in range(n):
        spec = random_spec(rng, width_px=width, height_px=height, seed=seed + i)
        ph = render_phantom(spec)
        calibration, _ = calibrate(ph.image, marker_mm=spec.marker_mm, focal_35mm=spec.focal_35mm)
        if not calibration.calibrated:
            print(f"phantom {i}: sticker not found ({spec})", file=sys.stderr)
            for k in errors:
                errors[k].append(float("nan"))
            continue
        t = ph.truth
        _, truth_totals = measure(ph.labels, calibration)
        errors["calibration"].append(truth_totals.wound_area_cm2 * 100 / t.wound_area_mm2 - 1)
        _, totals = measure(segment(ph.image, calibration=calibration), calibration)
        for name in ("wound", "eschar", "slough", "granulation", "erythema"):
            true_mm2 = getattr(t, f"{name}_area_mm2")
            got_mm2 = getattr(totals, f"{name}_area_cm2") * 100
            errors[name].append(got_mm2 / true_mm2 - 1 if true_mm2 > 1 else float("nan"))
        if verbose:
            print(f"{i:3d} tilt {spec.tilt_deg:4.1f} tone {spec.skin_tone:.2f} K {spec.colour_temperature_k:5.0f} "
                  f"blur {spec.blur_sigma_px:.1f} light {spec.light_gradient:.2f} "
                  + " ".join(f"{k[:4]} {errors[k][-1] * 100:+6.1f}%" for k in errors))  # fmt: skip
    return {k: np.asarray(v) for k, v in errors.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=40)
    parser.add_argument("--size", default="1600x1200")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    start = time.perf_counter()
    errors = evaluate(args.n, width, height, verbose=args.verbose)
    print(f"{args.n} random phantoms at {width}x{height} ({time.perf_counter() - start:.0f} s)")
    print(f"{'measure':12s} {'median |err|':>13s} {'p90 |err|':>10s} {'max |err|':>10s} {'median err':>11s}")
    for name, err in errors.items():
        ok = err[np.isfinite(err)]
        if not len(ok):
            continue
        a = np.abs(ok) * 100
        print(f"{name:12s} {np.median(a):12.2f}% {np.percentile(a, 90):9.2f}% {a.max():9.2f}% "
              f"{np.median(ok) * 100:+10.2f}%")  # fmt: skip


if __name__ == "__main__":
    main()
