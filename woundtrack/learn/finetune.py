"""A short fine-tune of the wound-bed network on a clinic's own outlined photos, on its CPU.

The run, in order (``finetune``):

1. The clinic's photos are split once (seeded): most are tuned on, a share (``holdout_share``) is
   **held back** and only scored. The whole segmenter (network, border, colour growth) is scored
   on them with the base model first: the figure to beat.
2. Training starts from the base model's weights (``onnx_net.OnnxNet``). Every batch mixes
   clinic crops with **replayed public photos** (``replay_share``), so what the base learned
   there is kept; an L2 pull towards the base weights (``anchor``) does the same when no public
   photos are at hand. Crops are taken at the two scales the segmenter runs the network at: the
   whole photo at 512 px on its long side, and the wound's region magnified as its second pass
   does. Rotations by quarter turns, flips, and mild light changes. Loss: BCE + soft Dice, as
   the base was trained (``training/train.py``).
3. It stops when the time budget is spent (``minutes``, for the whole run) or after
   ``max_steps`` steps, then scores the held back photos (and held-back public ones) again with
   the tuned model.

The tuned model is the base ONNX graph with new weights (``OnnxNet.tuned_model``), with a model
card in its metadata (``woundtrack_card``, JSON) and beside it as Markdown (``card_markdown``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import onnx
import torch
import torch.nn.functional as F

from woundtrack import __version__
from woundtrack.errors import WoundtrackError
from woundtrack.image.learned import CARD_KEY, LABELS_KEY, WOUND_BED_LABELS_NAME, check_model
from woundtrack.learn.onnx_net import OnnxNet
from woundtrack.learn.pairs import Pair, score_pairs


class FinetuneError(WoundtrackError):
    """The fine-tune cannot run with what it was given; the message says what to change."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FinetuneParams:
    """How the fine-tune runs; written into the model card."""

    minutes: float = 18.0  # the whole run, loading and scoring included
    max_steps: int | None = None  # stop after this many steps even with time left (repeatable)
    crop_px: int = 320  # square training crops
    batch: int = 4
    lr: float = 1e-4  # AdamW: warm-up over warmup_steps, then cosine to 0 over the expected steps
    warmup_steps: int = 20
    weight_decay: float = 0.0
    anchor: float = 1e-3  # L2 pull towards the base weights (sum of squares)
    replay_share: float = 0.5  # share of each batch from the public photos, when given
    holdout_share: float = 0.25  # share of the clinic's photos held back for the check
    replay_holdout: int = 20  # public photos held back to check nothing was forgotten
    seed: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class FinetuneResult:
    model: onnx.ModelProto = field(repr=False)
    card: dict


Progress = Callable[[float, str], None]


# -- data ----------------------------------------------------------------------------------------


def split_pairs(
    pairs: Sequence[Pair], holdout_share: float, seed: int
) -> tuple[list[Pair], list[Pair]]:
    """(tuned on, held back): a seeded draw of ``holdout_share`` of the photos (at least one when
    there are 4 or more; none below), each list in name order."""
    n_held = round(len(pairs) * holdout_share) if len(pairs) >= 4 else 0
    if len(pairs) >= 4:
        n_held = max(1, n_held)
    order = np.random.default_rng(seed).permutation(len(pairs))
    held = set(order[:n_held].tolist())
    ordered = sorted(range(len(pairs)), key=lambda i: pairs[i].name)
    return [pairs[i] for i in ordered if i not in held], [pairs[i] for i in ordered if i in held]


def training_crop(
    pair: Pair, rng: np.random.Generator, crop_px: int
) -> tuple[np.ndarray, np.ndarray]:
    """One augmented (crop_px, crop_px) crop of ``pair`` and its mask, at a scale the segmenter
    runs the network at: the whole photo at ~512 px on its long side, or (half the time, when
    there is a wound) the wound's region magnified as in the second pass."""
    image, mask = pair.image, pair.mask
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    if len(ys) and rng.random() < 0.5:
        side = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) * 2.0  # roi_margin 0.5
        scale = 384 / max(side, 1)
    else:
        scale = 512 / max(h, w)
    scale *= rng.uniform(0.8, 1.25)
    if len(ys) and rng.random() < 0.7:
        i = rng.integers(len(ys))
        cx, cy = float(xs[i]), float(ys[i])
    else:
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    m = cv2.getRotationMatrix2D((cx, cy), 90.0 * rng.integers(4), scale)
    m[0, 2] += crop_px / 2 - cx
    m[1, 2] += crop_px / 2 - cy
    img = cv2.warpAffine(
        image,
        m,
        (crop_px, crop_px),
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    msk = cv2.warpAffine(
        mask.astype(np.uint8),
        m,
        (crop_px, crop_px),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    if rng.random() < 0.5:
        img, msk = img[:, ::-1], msk[:, ::-1]
    if rng.random() < 0.8:  # light: contrast, brightness, a slight colour cast
        gain = rng.uniform(0.85, 1.15) * rng.uniform(0.95, 1.05, 3)
        img = np.clip(img.astype(np.float32) * gain + rng.uniform(-15, 15), 0, 255)
    return np.ascontiguousarray(img, dtype=np.uint8), np.ascontiguousarray(msk)


def _batch(pairs: Sequence[Pair], rng, crop_px: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    crops = [training_crop(pairs[rng.integers(len(pairs))], rng, crop_px) for _ in range(n)]
    x = np.stack([c[0] for c in crops]).astype(np.float32).transpose(0, 3, 1, 2) / 127.5 - 1.0
    y = np.stack([c[1] for c in crops]).astype(np.float32)[:, None]
    return torch.from_numpy(x), torch.from_numpy(y)


def _loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    inter = (p * target).sum(dim=(1, 2, 3))
    dice = 1 - (2 * inter + 1) / (p.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3)) + 1)
    return bce + dice.mean()


# -- the run -------------------------------------------------------------------------------------


def finetune(
    clinic: Sequence[Pair],
    *,
    base_path: str | os.PathLike[str],
    replay: Sequence[Pair] = (),
    params: FinetuneParams = FinetuneParams(),
    progress: Progress | None = None,
    source: str = "",
) -> FinetuneResult:
    """Fine-tune the model at ``base_path`` on the clinic's outlined photos.

    Parameters
    ----------
    clinic : sequence of Pair
        The clinic's photos and wound-bed masks (at least 4: some are held back).
    base_path : path
        The ONNX model to start from (the shipped one, or a clinic model tuned from it).
    replay : sequence of Pair
        Public outlined photos mixed into every batch (``params.replay_holdout`` of them are held
        back and scored instead).
    params : FinetuneParams
    progress : callable(fraction, message), optional
    source : str
        What the clinic photos are (e.g. "accepted corrections of database X"), for the card.

    Returns
    -------
    FinetuneResult
        The tuned ONNX model and its card (dict).

    Raises
    ------
    FinetuneError
        Fewer than 4 photos, no wound in any, or a base model that cannot be tuned.
    """
    started = time.monotonic()
    say = progress or (lambda fraction, message: None)
    if len(clinic) < 4:
        raise FinetuneError(
            f"{len(clinic)} outlined photo(s): fine-tuning needs at least 4 (some are held back "
            "to check the result); outline more photos first"
        )
    if not any(p.mask.any() for p in clinic):
        raise FinetuneError("no photo has a wound drawn in its mask; check the masks")
    base_bytes = Path(base_path).read_bytes()
    base_info = check_model(base_bytes, name=str(base_path))
    base = onnx.load_from_string(base_bytes)
    net = OnnxNet(base)
    tune, held = split_pairs(clinic, params.holdout_share, params.seed)
    replay = sorted(replay, key=lambda p: p.name)
    n_replay_held = min(params.replay_holdout, len(replay) // 4)
    replay_held, replay_tune = replay[:n_replay_held], replay[n_replay_held:]

    say(0.0, f"scoring the base model on {len(held)} held-back photo(s)")
    score_start = time.monotonic()
    before = score_pairs(held, base_path)
    replay_before = score_pairs(replay_held, base_path)
    score_s = time.monotonic() - score_start

    torch.manual_seed(params.seed)
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    rng = np.random.default_rng(params.seed)
    deadline = started + params.minutes * 60 - (score_s * 1.2 + 20)
    initial = [p.detach().clone() for p in net.parameters()]
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=params.lr / params.warmup_steps, weight_decay=params.weight_decay
    )
    n_replay = round(params.batch * params.replay_share) if replay_tune else 0
    net.train()
    steps, losses = 0, []
    train_start = time.monotonic()
    expected_steps = params.max_steps
    while time.monotonic() < deadline and steps != params.max_steps:
        x, y = _batch(tune, rng, params.crop_px, params.batch - n_replay)
        if n_replay:
            xr, yr = _batch(replay_tune, rng, params.crop_px, n_replay)
            x, y = torch.cat([x, xr]), torch.cat([y, yr])
        loss = _loss(net(x), y)
        if params.anchor:
            loss = loss + params.anchor * sum(
                ((p - p0) ** 2).sum() for p, p0 in zip(net.parameters(), initial, strict=True)
            )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += 1
        losses.append(loss.item())
        elapsed = time.monotonic() - train_start
        if expected_steps is None and steps == 3:
            expected_steps = max(4, int((deadline - train_start) / (elapsed / steps)))
        if steps < params.warmup_steps:
            lr = params.lr * (steps + 1) / params.warmup_steps
        elif expected_steps:  # cosine decay over the expected steps
            t = min(
                1.0, (steps - params.warmup_steps) / max(1, expected_steps - params.warmup_steps)
            )
            lr = params.lr * 0.5 * (1 + math.cos(math.pi * t))
        else:
            lr = params.lr
        for group in optimizer.param_groups:
            group["lr"] = lr
        done = elapsed / max(deadline - train_start, 1e-6)
        if params.max_steps:
            done = max(done, steps / params.max_steps)
        say(
            min(0.95, 0.05 + 0.9 * done),
            f"step {steps}: loss {np.mean(losses[-20:]):.3f}",
        )
    net.eval()
    train_minutes = (time.monotonic() - train_start) / 60

    weights_sha = hashlib.sha256(
        b"".join(p.detach().numpy().tobytes() for p in net.parameters())
    ).hexdigest()
    now = datetime.now(UTC)
    version = f"clinic-{now:%Y%m%d}-{weights_sha[:8]}"
    card: dict = {
        "model_version": version,
        "base_model_version": base_info.version,
        "base_sha256": hashlib.sha256(base_bytes).hexdigest(),
        "created_at": now.isoformat(timespec="seconds"),
        "woundtrack_version": __version__,
        "torch_version": torch.__version__,
        "source": source,
        "tuned_on": [p.name for p in tune],
        "held_back": [p.name for p in held],
        "replay_photos": len(replay_tune),
        "replay_held_back": len(replay_held),
        "steps": steps,
        "train_minutes": round(train_minutes, 2),
        "final_loss": round(float(np.mean(losses[-20:])), 4) if losses else None,
        "params": asdict(params),
        "held_back_before": before,
    }
    tuned = net.tuned_model(
        base,
        {
            "woundtrack_model_version": version,
            "woundtrack_base_model_version": base_info.version,
            LABELS_KEY: WOUND_BED_LABELS_NAME,
        },
    )
    say(0.96, f"scoring the tuned model on {len(held)} held-back photo(s)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tuned.onnx"
        path.write_bytes(tuned.SerializeToString())
        after = score_pairs(held, path)
        replay_after = score_pairs(replay_held, path)
    card.update(
        held_back_after=after,
        public_held_back_before=replay_before,
        public_held_back_after=replay_after,
        total_minutes=round((time.monotonic() - started) / 60, 2),
    )
    tuned.metadata_props.add(key=CARD_KEY, value=json.dumps(card))  # complete, after scoring
    say(1.0, "done")
    return FinetuneResult(model=tuned, card=card)


def card_markdown(card: dict) -> str:
    """The model card as Markdown (written beside the ONNX file)."""

    def dice(scores: dict | None) -> str:
        if not scores:
            return "–"
        return f"{scores['data_based_dice']:.3f} ({scores['n_images']} photos)"

    p = card["params"]
    source = f": {card['source']}" if card["source"] else ""
    lines = [
        f"# Model card: clinic model `{card['model_version']}`",
        "",
        "A fine-tune of woundtrack's wound-bed network on a clinic's own outlined photos "
        "(`woundtrack finetune`). It finds the wound bed only; the shipped tissue network splits "
        "the bed into tissues, as with the shipped model. It is measurement support: every "
        "outline is shown to a person.",
        "",
        "## Provenance",
        f"- Base model: `{card['base_model_version']}` (SHA-256 `{card['base_sha256'][:16]}…`)",
        f"- Made {card['created_at']} with woundtrack {card['woundtrack_version']}, "
        f"torch {card['torch_version']}",
        f"- Tuned on {len(card['tuned_on'])} clinic photo(s){source}",
        f"- Held back (scored, never tuned on): {', '.join(card['held_back']) or 'none'}",
        f"- Public photos replayed: {card['replay_photos']}; held back: {card['replay_held_back']}",
        f"- {card['steps']} steps in {card['train_minutes']} min "
        f"(whole run {card.get('total_minutes', '–')} min); crops {p['crop_px']} px, batch "
        f"{p['batch']}, lr {p['lr']}, replay share {p['replay_share']}, anchor {p['anchor']}, "
        f"seed {p['seed']}",
        "",
        "## Wound-bed Dice of the whole segmenter (pixels pooled)",
        "| photos | base model | this model |",
        "|---|---|---|",
        f"| clinic, held back | {dice(card['held_back_before'])} | "
        f"{dice(card.get('held_back_after'))} |",
        f"| public, held back | {dice(card.get('public_held_back_before'))} | "
        f"{dice(card.get('public_held_back_after'))} |",
        "",
        "Adopt it only where it scores better than the base on the clinic's photos "
        "(`woundtrack model compare`).",
    ]
    return "\n".join(lines) + "\n"
