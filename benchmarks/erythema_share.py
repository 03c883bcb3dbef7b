"""How much of each real photo is called periwound erythema, on the 200 held-out FUSeg photos.

These photos have no sticker and no erythema labels, so this measures no accuracy: it counts
photos where erythema covers an implausible share of the frame (a whole foot or the background
painted as erythema). Most of these wounds show little periwound redness. The same figures are
then given by the skin around the wound (ITA° groups, ``evaluation.periwound_ita_deg`` on the
true mask), with the share of photos where any erythema is drawn (over 0.1 % of the frame):
redness is harder to see on dark skin, for a camera as for an eye.

Run: python benchmarks/erythema_share.py --data DATA/fuseg-train
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # training/, for the fixed split
from training.data import list_pairs, split  # noqa: E402
from woundtrack.image.evaluation import (  # noqa: E402
    ITA_GROUPS,
    UNKNOWN_TONE,
    periwound_ita_deg,
    skin_tone_group,
)
from woundtrack.image.io import read_photo  # noqa: E402
from woundtrack.image.pipeline import analyze_image  # noqa: E402
from woundtrack.models import ERYTHEMA  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="the FUSeg training folder (images/, masks/)"
    )
    args = parser.parse_args()
    _, held_out = split(list_pairs(args.data))
    start = time.perf_counter()
    shares, tones = [], []
    for image_path, mask_path in held_out:
        image, info = read_photo(image_path)
        labels = analyze_image(image, info).labels
        shares.append(100.0 * float(np.mean(labels == ERYTHEMA)))
        truth = read_photo(mask_path)[0].max(axis=2) > 127
        tones.append(skin_tone_group(periwound_ita_deg(image, truth)))
    shares = np.array(shares)
    print(f"{len(shares)} held-out photos ({time.perf_counter() - start:.0f} s)")
    print(
        f"erythema share of the photo: median {np.median(shares):.2f} %, "
        f"90th pct {np.percentile(shares, 90):.2f} %, max {shares.max():.2f} %"
    )
    for limit in (10, 20):
        print(f"photos with erythema over {limit} % of the frame: {int((shares > limit).sum())}")
    print("by the skin around the wound (ITA°):")
    for group in [name for name, _ in ITA_GROUPS] + [UNKNOWN_TONE]:
        part = shares[np.array(tones) == group]
        if len(part):
            print(
                f"  {group:12s} {len(part):3d} photos: median {np.median(part):.2f} %, "
                f"max {part.max():.2f} %, any erythema drawn in {int((part > 0.1).sum())}"
            )


if __name__ == "__main__":
    main()
