"""Accuracy on random phantoms: calibration alone, and the whole pipeline, against exact truth.

Prints, over N seeded random phantoms (tilt 0-35°, any roll, skin tone, light, colour cast, blur,
noise, JPEG, EXIF rotation), the relative area error of:
- calibration alone: the *true* label map measured through the photo's own sticker calibration;
- the pipeline: wound, eschar, slough, granulation and erythema areas from the segmented photo
  (tissues only where they are at least 10 % of the wound bed; erythema rings >= 2 mm wide).

With ``--measured-colours`` the phantoms' granulation and slough are painted in the median
colours of real, specialist-labelled wounds (``phantom.TISSUE_COLOURS``): duller than the
phantoms' own, a check of how much a segmenter leans on strong colour.

Run: python benchmarks/phantom_accuracy.py [N] [--size 1600x1200] [--model M.onnx]
     [--tissue-model T.onnx | --colour-tissues] [--measured-colours] [-v]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from woundtrack.image.pipeline import make_segmenter
from woundtrack.synthetic.accuracy import MEASURES, phantom_errors, summarise
from woundtrack.synthetic.phantom import random_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=40)
    parser.add_argument("--size", default="1600x1200")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--model", help="another wound-bed ONNX file for the learned segmenter")
    parser.add_argument("--tissue-model", help="another tissue ONNX file")
    parser.add_argument(
        "--colour-tissues", action="store_true", help="split the bed by colour, no tissue network"
    )
    parser.add_argument(
        "--measured-colours",
        action="store_true",
        help="granulation and slough in the colours measured on real labelled wounds",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    segmenter = make_segmenter(model_path=args.model, tissue_model_path=args.tissue_model)
    if args.colour_tissues:
        segmenter = dataclasses.replace(segmenter, tissue_model_path=None)
    errors, tones = [], []
    for i in range(args.n):
        spec = random_spec(
            rng,
            width_px=width,
            height_px=height,
            seed=args.seed + i,
            tissue_colours="measured" if args.measured_colours else "vivid",
        )
        errors.append(phantom_errors(spec, segmenter=segmenter))
        tones.append(spec.skin_tone)
        if args.verbose:
            print(
                f"{i:3d} tilt {spec.tilt_deg:4.1f} tone {spec.skin_tone:.2f} "
                f"K {spec.colour_temperature_k:5.0f} blur {spec.blur_sigma_px:.1f} "
                + " ".join(f"{k[:4]} {errors[-1][k] * 100:+6.1f}%" for k in MEASURES)
            )
    print(
        f"{args.n} random phantoms at {width}x{height}, seed {args.seed} "
        f"({time.perf_counter() - start:.0f} s), segmenter {segmenter.name} v{segmenter.version}"
    )
    print(f"{'measure':12s} {'n':>3s} {'median |err|':>13s} {'p90 |err|':>10s} {'max |err|':>10s}")
    for name, s in summarise(errors).items():
        print(
            f"{name:12s} {s['n']:3.0f} {s['median_pct']:12.2f}% "
            f"{s['p90_pct']:9.2f}% {s['max_pct']:9.2f}%"
        )
    print("median |err| by skin tone (phantom skin_tone: 0 lightest, 1 darkest)")
    strata = [("light <1/3", 0.0, 1 / 3), ("medium", 1 / 3, 2 / 3), ("dark >=2/3", 2 / 3, 1.01)]
    print(f"{'stratum':12s} {'n':>3s} " + " ".join(f"{m:>12s}" for m in MEASURES))
    for label, low, high in strata:
        part = [e for e, t in zip(errors, tones, strict=True) if low <= t < high]
        summary = summarise(part) if part else {}
        cells = [
            f"{summary[m]['median_pct']:11.2f}%" if m in summary else f"{'-':>12s}"
            for m in MEASURES
        ]
        print(f"{label:12s} {len(part):3d} " + " ".join(cells))


if __name__ == "__main__":
    main()
