"""Outlined photos in memory (photo and wound-bed mask), read from folders, and scored.

No torch here: ``model compare`` and the app use it on any installation; the fine-tune
(``finetune``, torch) trains on the same ``Pair`` objects.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from woundtrack.errors import ImageError, WoundtrackError
from woundtrack.image.evaluation import mask_counts, pair_by_stem, predict_wound, score_dataset
from woundtrack.image.io import read_photo
from woundtrack.image.segmentation import Segmenter

#: Photos are kept in memory at most this long on their long side (a 12 MP photo is scaled).
WORK_LONG_SIDE_PX = 1600


@dataclass(frozen=True, slots=True)
class Pair:
    """One outlined photo: RGB uint8 at most ``WORK_LONG_SIDE_PX`` long, its wound-bed mask."""

    name: str
    image: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)


def load_pairs(images: Path, masks: Path) -> tuple[list[Pair], list[str]]:
    """The photos of ``images`` with the mask of the same stem in ``masks`` (wound > 127).

    Returns the pairs and one line per file that was left out (no mask, a mask of another size,
    a file that cannot be read), naming it and the fix. Raises ``FinetuneError`` if a folder is
    missing."""
    for flag, folder in (("--images", images), ("--masks", masks)):
        if not Path(folder).is_dir():
            raise WoundtrackError(f"{flag} {folder} is not a folder; give the folder of the files")
    found, problems = pair_by_stem(list(Path(images).iterdir()), list(Path(masks).iterdir()))
    pairs = []
    for image_path, mask_path in found:
        try:
            image, _ = read_photo(image_path)
            mask, _ = read_photo(mask_path)
        except ImageError as exc:
            problems.append(f"{exc} (left out)")
            continue
        if mask.shape != image.shape:
            problems.append(
                f"{image_path.name} is {image.shape[1]}x{image.shape[0]} px but its mask "
                f"{mask_path.name} is {mask.shape[1]}x{mask.shape[0]} px; draw the mask on the "
                "photo at its full size (left out)"
            )
            continue
        pairs.append(make_pair(image_path.stem, image, mask.max(axis=2) > 127))
    return pairs, problems


def make_pair(name: str, image: np.ndarray, mask: np.ndarray) -> Pair:
    """A ``Pair``, scaled down to ``WORK_LONG_SIDE_PX`` when longer."""
    h, w = mask.shape
    scale = WORK_LONG_SIDE_PX / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    return Pair(name, np.ascontiguousarray(image), mask.astype(bool))


def score_pairs(pairs: Sequence[Pair], model: str | os.PathLike[str] | Segmenter) -> dict | None:
    """The whole segmenter's scores (``evaluation.score_dataset``) on ``pairs``, with the network
    at the path ``model`` (or the segmenter ``model``); None for no pairs."""
    if not pairs:
        return None
    if isinstance(model, (str, os.PathLike)):
        from woundtrack.image.learned import LearnedSegmenter

        model = LearnedSegmenter(model_path=str(model))
    return score_dataset(score_rows(pairs, model))


def score_rows(pairs: Sequence[Pair], segmenter: Segmenter) -> list[tuple[int, int, int]]:
    """(tp, fp, fn) of each pair's predicted wound bed."""
    return [mask_counts(predict_wound(p.image, segmenter=segmenter), p.mask) for p in pairs]
