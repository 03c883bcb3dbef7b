"""How the whole segmenter splits real wound beds into tissues, on photos no network trained on.

Prints, for the learned segmenter as shipped (or with ``--tissue-model``, or ``--colour-tissues``
for the colour rules alone):

1. **Specialists' labels**: the 22 held-out FUSeg photos with DFUTissue slough / granulation /
   callus labels (``training.data.tissue_split``; 15 of them also held out from the wound-bed
   network), scored as ``woundtrack evaluate --tissue-masks`` scores them.
2. **Colour classes of real beds**: on the 200 held-out FUSeg photos, of the true wound bed's
   clearly red pixels (L* > 35, a* > 25, after no correction) the share called eschar, and of
   its black pixels (L* < 30, chroma < 20) the share called eschar (the issue's two measures of
   other clinics' photos, here on FUSeg's).
3. **Painted tissue**: the held-out photos with part of the wound repainted as eschar or slough
   (``training.data.repainted_validation``; ``plain`` is a painter training never used): the
   share of painted pixels called that tissue, and called wound bed.

With ``--trained-on``, also the 64 labelled photos the tissue network trained on, scored the
same way: optimistic for the network, but not for the colour checks around it (a rule that
turns the network's granulation into eschar shows there as on any photo).

With ``--clinic``, also every labelled photo re-photographed as ``clinic_finetune.py``'s "new
clinic" would (darker skin, small on a green drape, cool dim light, JPEG quality 70), its tissue
labels through the same geometry: the tissue figures on photos unlike FUSeg's, held-out and
trained-on apart.

With ``--ceiling``, first: the best tissue figures any tissue split could reach on the 22
photos, every bed pixel given its specialists' label (slough where they say slough, else
granulation), inside the segmenter's bed and inside FUSeg's own wound mask. The specialists'
outlines (DFUTissue) and FUSeg's differ, so even a perfect split does not reach Dice 1.

Run: python benchmarks/tissue_split.py --data DATA/fuseg-train [--tissue-model T.onnx |
     --colour-tissues] [--painted 100] [--ceiling] [--trained-on] [--clinic]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # training/, for the fixed split
from training import data  # noqa: E402
from woundtrack import cli  # noqa: E402
from woundtrack.image.calibration import calibrate  # noqa: E402
from woundtrack.image.pipeline import make_segmenter  # noqa: E402
from woundtrack.models import ESCHAR, GRANULATION, SLOUGH  # noqa: E402


def _f(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _tissue_figures(rows) -> str:
    s = cli._tissue_summary(rows)
    share = s["slough_share"]
    s = {
        k: {kk: _f(vv, 3) for kk, vv in v.items()} if isinstance(v, dict) else v
        for k, v in s.items()
    }
    share = {k: _f(v, 2) for k, v in share.items()}
    return (
        f"slough Dice {s['slough']['dice']} (precision {s['slough']['precision']}, "
        f"recall {s['slough']['recall']}), granulation Dice {s['granulation']['dice']}, "
        f"bed Dice {s['bed']['dice']}; granulation called eschar "
        f"{_f(s['granulation_called_eschar_pct'], 2)} %, slough called granulation "
        f"{_f(s['slough_called_granulation_pct'], 1)} %, callus called bed "
        f"{_f(s['callus_called_bed_pct'], 1)} %, callus called erythema "
        f"{_f(s['callus_called_erythema_pct'], 1)} %; per-photo slough share MAE "
        f"{share['mean_abs_error_pct']} points, r {share['pearson_r']}"
    )


def _labels(segmenter, image):
    calibration, _ = calibrate(image)
    return segmenter(image, calibration)


def _dice(pred: np.ndarray, truth: np.ndarray) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) in pixels."""
    return (
        int(np.count_nonzero(pred & truth)),
        int(np.count_nonzero(pred & ~truth)),
        int(np.count_nonzero(~pred & truth)),
    )


def clinic_rows(stems, pair_of, tissue_dir: Path, segmenter, folder: Path) -> list[dict]:
    """``cli._tissue_row`` of each photo re-photographed by ``clinic_finetune.clinic_photo``
    (seed 0, in ``stems`` order), its tissue labels taken through the same geometry."""
    from clinic_finetune import clinic_photo  # beside this file

    rng = np.random.default_rng(0)
    rows = []
    for stem in stems:
        image, mask = data.load_pair(*pair_of[stem])
        truth = np.asarray(cv2.imread(str(tissue_dir / f"{stem}.png"), cv2.IMREAD_UNCHANGED))
        same_draws = copy.deepcopy(rng)  # the labels go where the photo goes
        photo, _ = clinic_photo(image, mask.astype(np.uint8) * 255, rng)
        _, labels = clinic_photo(image, truth, same_draws)  # outside the photo: 0, not wound
        cv2.imwrite(
            str(folder / f"{stem}.jpg"),
            cv2.cvtColor(photo, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, 70],
        )
        cv2.imwrite(str(folder / f"{stem}.png"), labels)
        rows.append(cli._tissue_row(folder / f"{stem}.jpg", folder / f"{stem}.png", segmenter))
    return rows


def ceiling(segmenter, stems, pair_of, tissue_dir) -> str:
    """The tissue Dice of a perfect split inside the segmenter's bed and inside the true mask."""
    counts = {(bed, t): np.zeros(3, np.int64) for bed in ("drawn", "true") for t in (1, 2)}
    for stem in stems:
        image, mask = data.load_pair(*pair_of[stem])
        truth = np.asarray(cv2.imread(str(tissue_dir / f"{stem}.png"), cv2.IMREAD_UNCHANGED))
        labels = _labels(segmenter, image)
        drawn = (labels >= GRANULATION) & (labels <= ESCHAR)
        annotated = truth != 255
        for bed_name, bed in (("drawn", drawn), ("true", mask)):
            split = {1: bed & (truth == 1), 2: bed & (truth != 1)}  # slough, else granulation
            for t in (1, 2):
                counts[bed_name, t] += _dice(split[t] & annotated, (truth == t) & annotated)

    def d(c) -> str:
        return f"{2 * c[0] / max(1, 2 * c[0] + c[1] + c[2]):.3f}"

    return (
        f"a perfect split inside the segmenter's bed: slough Dice {d(counts['drawn', 1])}, "
        f"granulation {d(counts['drawn', 2])}; inside FUSeg's wound mask: slough "
        f"{d(counts['true', 1])}, granulation {d(counts['true', 2])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the FUSeg training folder")
    parser.add_argument("--tissue-model", type=Path, help="another tissue ONNX file")
    parser.add_argument("--colour-tissues", action="store_true", help="the colour rules only")
    parser.add_argument("--painted", type=int, default=100, help="photos per painted set")
    parser.add_argument(
        "--ceiling", action="store_true", help="first, the best figures any tissue split can reach"
    )
    parser.add_argument(
        "--trained-on", action="store_true", help="also the photos the tissue network trained on"
    )
    parser.add_argument(
        "--clinic", action="store_true", help="also the labelled photos as another clinic's"
    )
    args = parser.parse_args()
    segmenter = make_segmenter(tissue_model_path=args.tissue_model)
    if args.colour_tissues:
        segmenter = dataclasses.replace(segmenter, tissue_model_path=None)
    print(f"segmenter {segmenter.name} v{segmenter.version}")
    start = time.perf_counter()

    pairs = data.list_pairs(args.data)
    _, bed_val = data.split(pairs)
    bed_val_stems = {p[0].stem for p in bed_val}
    stems = sorted(p.stem for p in (args.data / "tissue").glob("*.png"))
    tissue_train, tissue_val = data.tissue_split(stems, bed_val_stems)
    pair_of = {p[0].stem: p for p in pairs}  # stem -> (photo, wound mask)

    def scored(stem: str) -> dict:
        return cli._tissue_row(pair_of[stem][0], args.data / "tissue" / f"{stem}.png", segmenter)

    if args.ceiling:
        print(f"0. ceiling, {len(tissue_val)} held-out photos: ", end="", flush=True)
        print(ceiling(segmenter, tissue_val, pair_of, args.data / "tissue"))
    rows = {stem: scored(stem) for stem in tissue_val}
    print(f"1. specialists' labels, {len(rows)} held-out photos: {_tissue_figures(rows.values())}")
    never = [rows[s] for s in tissue_val if s in bed_val_stems]
    print(f"   the {len(never)} that neither network saw: {_tissue_figures(never)}")
    if args.trained_on:
        trained = [scored(stem) for stem in tissue_train]
        print(f"   the {len(trained)} it trained on: {_tissue_figures(trained)}")
    if args.clinic:
        with tempfile.TemporaryDirectory() as folder:
            for name, group in (("held-out", tissue_val), ("trained-on", tissue_train)):
                clinic = clinic_rows(group, pair_of, args.data / "tissue", segmenter, Path(folder))
                print(
                    f"   the {len(clinic)} {name} photos as a new clinic's: "
                    f"{_tissue_figures(clinic)}"
                )

    red_px = red_eschar = black_px = black_eschar = 0
    for image_path, mask_path in bed_val:
        image, mask = data.load_pair(image_path, mask_path)
        labels = _labels(segmenter, image)
        lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
        lum, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
        red = mask & (lum > 35) & (a > 25)
        black = mask & (lum < 30) & (np.hypot(a, b) < 20)
        red_px += int(red.sum())
        red_eschar += int((labels[red] == ESCHAR).sum())
        black_px += int(black.sum())
        black_eschar += int((labels[black] == ESCHAR).sum())
    print(
        f"2. {len(bed_val)} held-out photos, true bed: clearly red pixels called eschar "
        f"{100 * red_eschar / max(1, red_px):.2f} % of {red_px}; black pixels called eschar "
        f"{100 * black_eschar / max(1, black_px):.1f} % of {black_px}"
    )

    for style in ("trained", "plain"):
        found = {"eschar": [0, 0, 0], "slough": [0, 0, 0]}  # painted px, as that tissue, as bed
        for _, image, _, painted, kind in data.repainted_validation(
            bed_val[: args.painted], style=style
        ):
            labels = _labels(segmenter, image)[painted]
            value = ESCHAR if kind == "eschar" else SLOUGH
            found[kind][0] += labels.size
            found[kind][1] += int((labels == value).sum())
            found[kind][2] += int(((labels >= GRANULATION) & (labels <= ESCHAR)).sum())
        print(
            f"3. painted ({style} painter, {args.painted} photos): "
            + "; ".join(
                f"{kind} called {kind} {100 * n / max(1, total):.1f} %, called bed "
                f"{100 * bed / max(1, total):.1f} %"
                for kind, (total, n, bed) in found.items()
            )
        )
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
