"""A "new clinic" for the fine-tune: FUSeg photos the shipped model never saw, photographed
differently, then `woundtrack finetune` on half of them and `woundtrack evaluate --model` on the
other half and on the rest of FUSeg's held-out photos.

The clinic is made from the 200 FUSeg photos held out of the shipped model's training
(``training/runs/2026-11-26-a/recipe.json``): 40 of them (seeded) become clinic photos, each
on darker skin (the skin around the wound scaled to R 0.55 / G 0.42 / B 0.33, feathered at the
wound's edge), placed small on a 1600x1200 frame of green surgical drape, under cool, dim light
(gain R 0.85 / G 1.0 / B 1.12, gamma 1.35), with sensor noise, a soft lens and JPEG quality 70;
the masks go through the same geometry. 20 are given to `finetune` (which holds 5 of them back
for its own check), the other 20 are scored. The remaining 160 held-out FUSeg photos, untouched,
are the public check; replay comes from FUSeg's 610 training photos.

Run: python benchmarks/clinic_finetune.py --fuseg ../shared/data/fuseg-train --work /tmp/clinic
     [--minutes 18] [--seed 0]      (needs the train extra)
Prints one table: wound-bed Dice (pixels pooled) of the shipped and the tuned model, and the time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
N_CLINIC, N_TUNE = 40, 20


def clinic_photo(image: np.ndarray, mask: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """One FUSeg close-up as the new clinic would photograph it (see the module)."""
    wound = cv2.GaussianBlur((mask > 127).astype(np.float32), (0, 0), 3.0)[..., None]
    skin = image.astype(np.float32) * np.array([0.55, 0.42, 0.33])  # dark brown skin
    image = np.clip(wound * image * 0.9 + (1 - wound) * skin, 0, 255).astype(np.uint8)
    h, w = 1200, 1600
    yy, xx = np.mgrid[0:h, 0:w]
    drape = np.stack(
        [40 + 8 * np.sin(xx / 7.0), 110 + 10 * np.sin(yy / 9.0), 95 + 6 * np.cos(xx / 11.0)],
        axis=2,
    ).astype(np.float32)
    scale = rng.uniform(1.2, 1.8)
    size = int(512 * scale)
    photo = cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)
    truth = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
    y0, x0 = rng.integers(0, h - size), rng.integers(0, w - size)
    canvas = drape + rng.normal(0, 6, drape.shape)
    canvas[y0 : y0 + size, x0 : x0 + size] = photo
    out_mask = np.zeros((h, w), np.uint8)
    out_mask[y0 : y0 + size, x0 : x0 + size] = truth
    light = canvas * np.array([0.85, 1.0, 1.12])  # cool, fluorescent light
    light = 255 * (np.clip(light, 0, 255) / 255) ** 1.35
    light = cv2.GaussianBlur(light, (0, 0), 1.6) + rng.normal(0, 4, light.shape)
    return np.clip(light, 0, 255).astype(np.uint8), out_mask


def make_clinic(fuseg: Path, work: Path, seed: int) -> None:
    recipe = json.loads((ROOT / "training/runs/2026-11-26-a/recipe.json").read_text())
    held = sorted(recipe["validation"])
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(held, N_CLINIC, replace=False).tolist())
    groups = {"tune": chosen[:N_TUNE], "test": chosen[N_TUNE:]}
    groups["public"] = [n for n in held if n not in chosen]
    train = [p.stem for p in sorted((fuseg / "images").iterdir()) if p.stem not in held]
    for group, names in groups.items():
        for sub in ("images", "masks"):
            (work / group / sub).mkdir(parents=True, exist_ok=True)
        for name in names:
            image = cv2.cvtColor(
                cv2.imread(str(fuseg / "images" / f"{name}.webp")), cv2.COLOR_BGR2RGB
            )
            mask = cv2.imread(str(fuseg / "masks" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
            if group != "public":
                image, mask = clinic_photo(image, (mask > 127).astype(np.uint8) * 255, rng)
            cv2.imwrite(
                str(work / group / "images" / f"{name}.jpg"),
                cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 70 if group != "public" else 95],
            )
            cv2.imwrite(str(work / group / "masks" / f"{name}.png"), mask)
    for sub in ("images", "masks"):
        (work / "replay" / sub).mkdir(parents=True, exist_ok=True)
        for name in train:
            src = fuseg / sub / (f"{name}.webp" if sub == "images" else f"{name}.png")
            dst = work / "replay" / sub / src.name
            if not dst.exists():
                os.symlink(src.resolve(), dst)


def evaluate(work: Path, group: str, model: Path | None) -> float:
    cmd = [
        sys.executable,
        "-m",
        "woundtrack.cli",
        "evaluate",
        "--images",
        str(work / group / "images"),
        "--masks",
        str(work / group / "masks"),
        "--json",
    ]
    if model is not None:
        cmd += ["--model", str(model)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["data_based_dice"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuseg", type=Path, default=ROOT.parent / "shared/data/fuseg-train")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=18.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, help="score this tuned model; no new fine-tune")
    args = parser.parse_args()
    if not (args.work / "tune").exists():
        make_clinic(args.fuseg, args.work, args.seed)
    model = args.model or args.work / f"clinic-{args.seed}.onnx"
    tune_s = None
    if args.model is None:
        start = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "woundtrack.cli",
                "finetune",
                "--images",
                str(args.work / "tune/images"),
                "--masks",
                str(args.work / "tune/masks"),
                "--replay",
                str(args.work / "replay"),
                "--out",
                str(model),
                "--minutes",
                str(args.minutes),
                "--seed",
                str(args.seed),
            ],
            check=True,
        )
        tune_s = time.monotonic() - start
    rows = [
        (g, evaluate(args.work, g, None), evaluate(args.work, g, model)) for g in ("test", "public")
    ]
    print(
        f"cores: {len(os.sched_getaffinity(0))}; fine-tune wall time: "
        + (f"{tune_s / 60:.1f} min" if tune_s else "not run")
    )
    print("| photos | shipped Dice | tuned Dice | gain |\n|---|---|---|---|")
    for group, before, after in rows:
        label = {
            "test": f"new clinic, {N_CLINIC - N_TUNE} not tuned on",
            "public": "FUSeg held-out, 160",
        }[group]
        print(f"| {label} | {before:.3f} | {after:.3f} | {after - before:+.3f} |")


if __name__ == "__main__":
    main()
