"""The demo series (12 weekly phantom photos, the wound shrinking from 15 to under 1 cm²) measured
against the exact areas it was rendered from (``sample_images/demo_truth.csv``).

Prints, per week, the relative error of the wound and of each tissue and erythema, so that a late,
small wound is seen to measure as well as a large early one.

Run: python benchmarks/demo_series.py [--tissue-model T.onnx | --colour-tissues]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
from pathlib import Path

from woundtrack.image.pipeline import analyze, make_segmenter

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
FIELDS = ("wound", "eschar", "slough", "granulation", "erythema")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tissue-model", type=Path, help="another tissue ONNX file")
    parser.add_argument("--colour-tissues", action="store_true", help="the colour rules only")
    args = parser.parse_args()
    segmenter = make_segmenter(tissue_model_path=args.tissue_model)
    if args.colour_tissues:
        segmenter = dataclasses.replace(segmenter, tissue_model_path=None)
    print(f"segmenter {segmenter.name} v{segmenter.version}")
    print(f"{'photo':18s} {'true cm2':>8s} " + " ".join(f"{f:>12s}" for f in FIELDS))
    with open(SAMPLES / "demo_truth.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    worst = dict.fromkeys(FIELDS, 0.0)
    for row in rows:
        totals = analyze(SAMPLES / row["file"], segmenter=segmenter).totals
        cells = []
        for field in FIELDS:
            truth = float(row[f"{field}_area_cm2"])
            got = getattr(totals, f"{field}_area_cm2")
            if truth < 0.1 or got is None:  # a tissue (nearly) gone: no relative error
                cells.append(f"{'-':>12s}")
                continue
            error_pct = 100 * (got / truth - 1)
            worst[field] = max(worst[field], abs(error_pct))
            cells.append(f"{error_pct:+11.1f}%")
        print(f"{row['file']:18s} {float(row['wound_area_cm2']):8.2f} " + " ".join(cells))
    print(f"{'largest |error|':27s} " + " ".join(f"{worst[f]:11.1f}%" for f in FIELDS))


if __name__ == "__main__":
    main()
