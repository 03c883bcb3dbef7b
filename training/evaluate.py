"""Score an ONNX wound-bed model on the held-out FUSeg split, plain and with tissue repainted.

    python -m training.evaluate --data ../shared/data/fuseg-train \
        --model woundtrack/weights/wound_bed.onnx

Prints, for the validation photos of ``data.split`` (never trained on):

- ``network``: the network alone, one pass on the photo resized to the model's first-pass size
  (``learned.params_for_model``: 512 unless the model says otherwise), scored at the mask's size;
- ``product``: ``woundtrack.image.learned.segment_learned`` (two passes, full-resolution border,
  holes filled, specks dropped), the wound bed being granulation + slough + eschar;
- ``repainted``: the same photos with tissue painted in, made with a fixed seed
  (``data.repainted_validation``): ``trained`` (part or all of each wound repainted as eschar or
  slough by the training painters), ``plain`` (a flat-colour painter training never used) and
  ``new-eschar`` (a new eschar with a red halo on the skin beside the wound) and ``pale-rim``
  (the wound's whole border painted as a pale margin, fibrin or macerated, by a painter training
  never used: issue 24's other-clinic photos, whose pale margins the network left out). Dice,
  and the share of painted pixels called wound (``painted_recall``, per tissue).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from woundtrack.image import evaluation, learned

from . import data


def _scores(rows):
    s = evaluation.score_dataset(rows)
    return {k: round(float(v), 4) for k, v in s.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--model", type=Path, default=learned.default_model_path())
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument(
        "--long-side-px",
        type=int,
        default=0,
        help="run every pass as if the model said this first-pass size (to choose the one to "
        "export with training.export --long-side-px); default: what the model says",
    )
    args = ap.parse_args(argv)
    session = learned.load_model(str(args.model))
    _, val_pairs = data.split(data.list_pairs(args.data))
    if args.limit:
        val_pairs = val_pairs[: args.limit]

    if args.long_side_px:
        params = learned.scaled_params(learned.LearnedParams(), args.long_side_px)
    else:
        params = learned.params_for_model(session)
    segmenter = learned.LearnedSegmenter(model_path=str(args.model), params=params)

    def product(image):
        return evaluation.predict_wound(image, segmenter=segmenter)

    net_rows, prod_rows, times = [], [], []
    for ip, mp in val_pairs:
        image, mask = data.load_pair(ip, mp)
        logits = learned.network_logits(image, session, params.network_long_side_px)
        logits = cv2.resize(logits, mask.shape[::-1], interpolation=cv2.INTER_LINEAR)
        net_rows.append(evaluation.mask_counts(logits > 0, mask))
        t = time.perf_counter()
        prod_rows.append(evaluation.mask_counts(product(image), mask))
        times.append(time.perf_counter() - t)
    repainted = {}
    for style in ("trained", "plain", "new-eschar", "pale-rim"):
        kinds = ("eschar", "slough", "pale")
        rows, hit, total = [], dict.fromkeys(kinds, 0), dict.fromkeys(kinds, 0)
        for _, image, mask, painted, kind in data.repainted_validation(val_pairs, style=style):
            pred = product(image)
            rows.append(evaluation.mask_counts(pred, mask))
            hit[kind] += int((pred & painted).sum())
            total[kind] += int(painted.sum())
        repainted[style] = {
            **_scores(rows),
            "painted_recall": round(sum(hit.values()) / max(1, sum(total.values())), 4),
            **{
                f"{kind}_recall": round(hit[kind] / total[kind], 4) for kind in kinds if total[kind]
            },
        }
    result = {
        "model": str(args.model),
        "model_version": learned.model_version(session),
        "n_photos": len(val_pairs),
        "pass_long_sides_px": [
            params.network_long_side_px,
            params.search_long_side_px,
            params.roi_long_side_px,
        ],
        "network": _scores(net_rows),
        "product": _scores(prod_rows),
        "repainted": repainted,
        "product_ms_per_photo_median": round(1000 * float(np.median(times)), 1),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
