"""Scoring a segmenter against annotated masks: Dice, precision and recall, per photo and pooled.

Owns how these figures are computed, so that ``woundtrack evaluate``, the training scripts and the
closing notes of issues report the same thing. Area errors on synthetic phantoms are
``woundtrack.synthetic.accuracy``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from woundtrack.image.calibration import calibrate
from woundtrack.image.segmentation import Segmenter
from woundtrack.models import WOUND_BED_LABELS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".heic", ".heif")
#: Mask suffixes: any image file ``io.read_photo`` reads.
MASK_SUFFIXES = IMAGE_SUFFIXES + (".gif", ".bmp")


def mask_counts(pred: np.ndarray, truth: np.ndarray) -> tuple[int, int, int]:
    """Pixel counts of a predicted wound mask against the true one.

    Parameters
    ----------
    pred : (H, W) ndarray of bool
        Predicted wound pixels.
    truth : (H, W) ndarray of bool
        Annotated wound pixels, the same shape as ``pred``.

    Returns
    -------
    tp, fp, fn : int
        Pixels in both masks, in ``pred`` only, and in ``truth`` only.

    Raises
    ------
    ValueError
        If either mask is not a bool array, or their shapes differ.

    Examples
    --------
    >>> mask_counts(np.array([True, True, False]), np.array([True, False, True]))
    (1, 1, 1)
    """
    for name, mask in (("pred", pred), ("truth", truth)):
        if not isinstance(mask, np.ndarray) or mask.dtype != bool:
            found = mask.dtype if isinstance(mask, np.ndarray) else type(mask).__name__
            raise ValueError(
                f"{name} must be a bool array, found {found}; pass a mask such as labels > 0"
            )
    if pred.shape != truth.shape:
        raise ValueError(
            f"pred has shape {pred.shape} but truth has shape {truth.shape}; the masks must "
            "cover the same pixels"
        )
    tp = int(np.count_nonzero(pred & truth))
    return tp, int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(truth)) - tp


def mask_scores(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Dice, precision and recall from pixel counts.

    A ratio that would be 0/0 takes the value the Dice has: 1.0 when both masks are empty (a
    photo without a wound, rightly left empty, is a perfect score), 0.0 otherwise (nothing
    predicted where there is a wound has precision 0; a prediction where there is no wound has
    recall 0). So no score is ever NaN.

    Parameters
    ----------
    tp, fp, fn : int
        True-positive, false-positive and false-negative pixel counts, each >= 0.

    Returns
    -------
    dict
        ``dice`` = 2 tp / (2 tp + fp + fn), ``precision`` = tp / (tp + fp) and
        ``recall`` = tp / (tp + fn), each in [0, 1].

    Raises
    ------
    ValueError
        If a count is negative.

    Examples
    --------
    >>> mask_scores(3, 1, 2)
    {'dice': 0.6666666666666666, 'precision': 0.75, 'recall': 0.6}
    >>> mask_scores(0, 0, 0)
    {'dice': 1.0, 'precision': 1.0, 'recall': 1.0}
    """
    if min(tp, fp, fn) < 0:
        raise ValueError(f"pixel counts must be >= 0, got tp={tp}, fp={fp}, fn={fn}")
    dice = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return {
        "dice": dice,
        "precision": tp / (tp + fp) if tp + fp else dice,
        "recall": tp / (tp + fn) if tp + fn else dice,
    }


def score_dataset(rows: Iterable[tuple[int, int, int]]) -> dict[str, float | int]:
    """Scores of a whole annotated set from its per-image pixel counts.

    Parameters
    ----------
    rows : iterable of (tp, fp, fn)
        One ``mask_counts`` result per image.

    Returns
    -------
    dict
        ``n_images``; ``data_based_dice``: the Dice of the pixels pooled over all images, as the
        FUSeg challenge ranks its leaderboard (large wounds weigh more); ``mean_image_dice``: the
        mean of the per-image Dice (every photo weighs the same, and an empty one counts 1.0 when
        rightly left empty); ``precision`` and ``recall`` of the pooled pixels.

    Raises
    ------
    ValueError
        If ``rows`` is empty, or a count is negative.

    Examples
    --------
    >>> score_dataset([(90, 10, 0), (0, 0, 10)])["data_based_dice"]
    0.9
    """
    rows = list(rows)
    if not rows:
        raise ValueError("no images to score; give at least one (tp, fp, fn) row")
    tp, fp, fn = (sum(row[i] for row in rows) for i in range(3))
    pooled = mask_scores(tp, fp, fn)
    return {
        "n_images": len(rows),
        "data_based_dice": pooled["dice"],
        "mean_image_dice": float(np.mean([mask_scores(*row)["dice"] for row in rows])),
        "precision": pooled["precision"],
        "recall": pooled["recall"],
    }


def pair_by_stem(
    images: Sequence[Path], masks: Sequence[Path]
) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Pair each photo with the mask of the same file stem (``ulcer_12.jpg`` ↔ ``ulcer_12.png``).

    Only names the files; nothing is read. Files of other types and hidden files are left out.

    Parameters
    ----------
    images, masks : sequence of Path
        The files of the photo folder and of the mask folder.

    Returns
    -------
    pairs : list of (image, mask)
        Sorted by stem.
    problems : list of str
        One line per file that cannot be paired, naming it and the fix: a photo without a mask,
        a mask without a photo, two files of one folder with the same stem.
    """
    problems: list[str] = []

    def by_stem(paths: Sequence[Path], suffixes: tuple[str, ...]) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for path in sorted(paths):
            if path.suffix.lower() not in suffixes or path.name.startswith("."):
                continue
            if path.stem in found:
                problems.append(
                    f"{path.name}: skipped, as {found[path.stem].name} in {path.parent} has the "
                    "same stem; rename or remove one of them"
                )
                continue
            found[path.stem] = path
        return found

    photos, truths = by_stem(images, IMAGE_SUFFIXES), by_stem(masks, MASK_SUFFIXES)
    for stem in sorted(photos.keys() - truths.keys()):
        photo = photos[stem]
        problems.append(f"{photo.name}: no mask named {stem}.* found; add its mask or remove it")
    for stem in sorted(truths.keys() - photos.keys()):
        mask = truths[stem]
        problems.append(
            f"{mask.name}: a mask without a photo named {stem}.*; add the photo or remove the mask"
        )
    pairs = [(photos[s], truths[s]) for s in sorted(photos.keys() & truths.keys())]
    return pairs, problems


def predict_wound(
    image: np.ndarray, *, segmenter: Segmenter, focal_35mm: float | None = None
) -> np.ndarray:
    """The wound-bed mask a segmenter predicts on a photo, calibrated as ``analyze`` does.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8, RGB, as displayed
    segmenter : Segmenter
    focal_35mm : float, optional
        35 mm-equivalent focal length from EXIF (only used to report the tilt).

    Returns
    -------
    (H, W) ndarray of bool
        Granulation, slough or eschar; periwound erythema is not wound.
    """
    calibration, _ = calibrate(image, focal_35mm=focal_35mm)
    return np.isin(segmenter(image, calibration), WOUND_BED_LABELS)
