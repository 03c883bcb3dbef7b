"""How well the "unsure of the outline" warning picks out photos whose wound area is off.

``learned.outline_doubt`` is the share of the wound that the wound-bed network is unsure of along
its border (logit within ±2); ``pipeline`` warns above ``OUTLINE_DOUBT_WARN``. Over photos with
a known wound, this prints for each set how many photos are warned, how many are off by more
than a quarter of their true area (pixels; the learned segmenter's whole bed), how many of those
the warning catches, and Spearman's rho between the doubt and each photo's Dice:

- FUSeg's 200 held-out photos (never trained on);
- 40 of them (every fifth) as another clinic would take them: darker skin, on a drape, in cool
  dim light, small in a 1600x1200 frame (``clinic_finetune.clinic_photo``);
- the demo series (12 phantoms; none should be warned);
- ``--phantoms N`` random phantoms (seed 2026, as ``phantom_accuracy.py``);
- every lesion of the photos above where the segmenter finds several, with its own doubt
  (``learned.lesion_doubts``) against the true wound nearest to it.

Run: python benchmarks/outline_doubt.py --data ../shared/data/fuseg-train [--phantoms 60]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from scipy.stats import spearmanr

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # clinic_finetune; training/, for the fixed split
from clinic_finetune import clinic_photo  # noqa: E402

from training.data import list_pairs, split  # noqa: E402
from woundtrack.image.calibration import calibrate  # noqa: E402
from woundtrack.image.io import read_photo  # noqa: E402
from woundtrack.image.learned import lesion_doubts  # noqa: E402
from woundtrack.image.measure import measure, nearest_lesion  # noqa: E402
from woundtrack.image.pipeline import OUTLINE_DOUBT_WARN, make_segmenter  # noqa: E402
from woundtrack.models import ESCHAR, GRANULATION, Calibration  # noqa: E402
from woundtrack.synthetic.phantom import random_spec, render_phantom  # noqa: E402

OFF = 0.25  # "off": the area more than this share away from the truth


#: (doubt, relative area error, Dice) of each lesion of the photos with several, all sets
LESIONS: list[tuple[float, float, float]] = []
#: photos with several lesions, and those of them warned about a lesion but not as a whole
SEVERAL = {"photos": 0, "warned for a lesion only": 0}


def _row(doubt: float | None, bed: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    error = abs(int(bed.sum()) - int(truth.sum())) / max(int(truth.sum()), 1)
    dice = 2 * (bed & truth).sum() / max(int(bed.sum() + truth.sum()), 1)
    return (0.0 if doubt is None else doubt), error, dice


def score(segmenter, image: np.ndarray, truth: np.ndarray, calibration: Calibration):
    """(doubt, relative area error, Dice) of one photo, or None when it has no true wound.
    A photo where the segmenter finds several lesions adds each lesion's row to ``LESIONS``:
    its doubt (``learned.lesion_doubts``) against the true wound nearest to it."""
    if not truth.any():
        return None
    found = segmenter.segment_with_doubt(image, calibration)
    labels = found.labels
    bed = (labels >= GRANULATION) & (labels <= ESCHAR)
    lesions, _ = measure(labels, calibration)
    if len(lesions) > 1:
        whole = (slice(0, labels.shape[0]), slice(0, labels.shape[1]))
        owner = nearest_lesion(labels, lesions, whole)
        doubts = lesion_doubts(found, lesions)
        for m, doubt in zip(lesions, doubts, strict=True):
            LESIONS.append(_row(doubt, bed & (owner == m.index), truth & (owner == m.index)))
        SEVERAL["photos"] += 1
        any_lesion = any(d is not None and d > OUTLINE_DOUBT_WARN for d in doubts)
        whole_photo = found.outline_doubt is not None and found.outline_doubt > OUTLINE_DOUBT_WARN
        SEVERAL["warned for a lesion only"] += any_lesion and not whole_photo
    return _row(found.outline_doubt, bed, truth)


def report(name: str, rows: list[tuple[float, float, float]]) -> None:
    doubt, error, dice = (np.array(v) for v in zip(*rows, strict=True))
    warned, off = doubt > OUTLINE_DOUBT_WARN, error > OFF
    rho = spearmanr(doubt, dice)[0] if len(rows) > 2 else float("nan")
    print(
        f"{name:34s} {len(rows):6d} {warned.sum():7d} {off.sum():5d} {(warned & off).sum():7d} "
        f"{(warned & ~off).sum():7d}   {np.median(doubt):6.2f}   {rho:+.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="FUSeg's training split")
    parser.add_argument("--phantoms", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    segmenter = make_segmenter()
    _, held_out = split(list_pairs(args.data))
    fuseg, clinic = [], []
    rng = np.random.default_rng(0)
    none = Calibration(method="none")
    for i, (image_path, mask_path) in enumerate(held_out):
        image = cv2.cvtColor(cv2.imread(str(image_path)), cv2.COLOR_BGR2RGB)
        mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        fuseg.append(score(segmenter, image, mask > 127, none))
        if i % 5 == 0:
            photo, truth = clinic_photo(image, mask, rng)
            clinic.append(score(segmenter, photo, truth > 127, none))
    demo = []
    samples = HERE.parent / "sample_images"
    for path in sorted(samples.glob("demo_week*.jpg")):
        image, info = read_photo(path)
        labels, doubt, *_ = segmenter.segment_with_doubt(image, calibrate(image)[0])
        demo.append(doubt or 0.0)
    phantoms = []
    rng = np.random.default_rng(2026)
    for i in range(args.phantoms):
        spec = random_spec(rng, width_px=1600, height_px=1200, seed=2026 + i)
        phantom = render_phantom(spec)
        truth = (phantom.labels >= GRANULATION) & (phantom.labels <= ESCHAR)
        image = phantom.image
        phantoms.append(score(segmenter, image, truth, calibrate(image)[0]))

    print(f"segmenter {segmenter.name} v{segmenter.version}; warned: doubt > {OUTLINE_DOUBT_WARN}")
    print(f"off: area more than {OFF:.0%} from the truth; rho: Spearman, doubt against Dice")
    print(
        f"{'set':34s} {'photos':>6s} {'warned':>7s} {'off':>5s} {'caught':>7s} "
        f"{'needless':>7s}   median doubt   rho"
    )
    report("FUSeg held-out", [r for r in fuseg if r])
    report("same, as another clinic (every 5th)", [r for r in clinic if r])
    report("both", [r for r in fuseg + clinic if r])
    if phantoms:
        report(f"random phantoms (seed 2026, {args.phantoms})", [r for r in phantoms if r])
    if LESIONS:
        report("lesions of photos with several", LESIONS)
        print(
            f"photos with several lesions: {SEVERAL['photos']}, warned about a lesion but not "
            f"as a whole: {SEVERAL['warned for a lesion only']} (each lesion against the true "
            "wound nearest to it)"
        )
    print(
        f"demo series: doubt {min(demo):.2f}-{max(demo):.2f}, "
        f"{sum(d > OUTLINE_DOUBT_WARN for d in demo)} of {len(demo)} warned"
    )
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
