"""Scoring a segmenter against annotated masks: Dice, precision and recall, per photo and pooled.

Wound-bed masks give the bed's figures; tissue annotations (slough, granulation, callus, eschar)
give per-tissue figures, a confusion matrix and per-photo tissue shares. Owns how these figures
are computed, so that ``woundtrack evaluate``, the training scripts and the
closing notes of issues report the same thing. Area errors on synthetic phantoms are
``woundtrack.synthetic.accuracy``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy import stats

from woundtrack.image.calibration import calibrate
from woundtrack.image.segmentation import Segmenter
from woundtrack.models import ERYTHEMA, ESCHAR, GRANULATION, LABEL_NAMES, SLOUGH, WOUND_BED_LABELS

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


#: Skin-tone groups by the individual typology angle, ITA° = arctan((L* - 50) / b*) (Chardon et
#: al., Int J Cosmet Sci 1991; the six groups of Del Bino & Bernerd, Br J Dermatol 2013): each
#: name with the lowest angle it takes, lightest first.
ITA_GROUPS = (
    ("very light", 55.0),
    ("light", 41.0),
    ("intermediate", 28.0),
    ("tan", 10.0),
    ("brown", -30.0),
    ("dark", -math.inf),
)
#: A photo whose skin ring could not be read (too few pixels, or no yellow in it at all).
UNKNOWN_TONE = "unknown"
#: The periwound ring whose skin is read: from this share of the photo's long side beyond the
#: annotated wound (clear of its margin and erythema) to the second share.
SKIN_RING_SHARES = (0.02, 0.05)
_MIN_RING_PX = 100


def periwound_ita_deg(image: np.ndarray, wound: np.ndarray) -> float | None:
    """The ITA° of the skin around an annotated wound, from the photo's own colours.

    The median L* and b* (CIELAB, the photo taken as sRGB) of the pixels in a ring around
    ``wound`` (``SKIN_RING_SHARES`` of the long side beyond it), black padding left out. The
    photo's light and white balance are not corrected, so this is a rough stratum of the
    photographed skin for reporting scores by skin tone, not a measured skin type.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8, RGB
    wound : (H, W) ndarray of bool, the annotated wound

    Returns
    -------
    float or None
        Degrees (higher is lighter); None when the ring holds fewer than 100 usable pixels (no
        wound, or a wound filling the photo) or its median b* is not positive (no skin hue).

    Examples
    --------
    >>> tan = np.full((200, 200, 3), (180, 130, 100), np.uint8)
    >>> wound = np.zeros((200, 200), bool); wound[90:110, 90:110] = True
    >>> ita = periwound_ita_deg(tan, wound)  # L* 58.6, b* 23.8
    >>> round(ita), skin_tone_group(ita)
    (20, 'tan')
    """
    if wound.shape != image.shape[:2]:
        raise ValueError(f"wound {wound.shape} does not match the photo {image.shape[:2]}")
    if not wound.any():
        return None
    long_side = max(wound.shape)
    distance = cv2.distanceTransform((~wound).astype(np.uint8), cv2.DIST_L2, 5)
    inner, outer = (share * long_side for share in SKIN_RING_SHARES)
    ring = image[(distance > inner) & (distance <= outer)]  # only the ring's pixels converted
    if len(ring) < _MIN_RING_PX:
        return None
    lab = cv2.cvtColor(ring[None].astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[0]
    lab = lab[lab[:, 0] > 5.0]  # black padding left out
    if len(lab) < _MIN_RING_PX:
        return None
    lightness, b = float(np.median(lab[:, 0])), float(np.median(lab[:, 2]))
    if b <= 0:
        return None
    return math.degrees(math.atan((lightness - 50.0) / b))


def skin_tone_group(ita_deg: float | None) -> str:
    """The ``ITA_GROUPS`` name of an angle (``UNKNOWN_TONE`` for None)."""
    if ita_deg is None:
        return UNKNOWN_TONE
    return next(name for name, lowest in ITA_GROUPS if ita_deg > lowest)


def score_by_skin_tone(rows: Iterable[tuple[str, int, int, int]]) -> dict[str, dict]:
    """``score_dataset`` of each skin-tone group, lightest first (``unknown`` last), from rows of
    ``(group, tp, fp, fn)``; groups without a photo are left out."""
    rows = list(rows)
    order = [name for name, _ in ITA_GROUPS] + [UNKNOWN_TONE]
    return {
        group: score_dataset(r[1:] for r in rows if r[0] == group)
        for group in order
        if any(r[0] == group for r in rows)
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
    """The wound-bed mask of :func:`predict_labels` (same parameters): (H, W) bool, granulation,
    slough or eschar; periwound erythema is not wound."""
    return np.isin(
        predict_labels(image, segmenter=segmenter, focal_35mm=focal_35mm), WOUND_BED_LABELS
    )


# -- tissues --------------------------------------------------------------------------------------

#: Values of a tissue annotation (``--tissue-masks``), as the DFUTissue labels and the FUSeg
#: tissue folder write them, with eschar added: 0 annotated but not wound (skin, background),
#: 1 slough (fibrin), 2 granulation, 3 callus (hard skin: not wound bed), 4 eschar (necrosis);
#: 255 not annotated (ignored).
TRUTH_CLASSES = ("not wound", "slough", "granulation", "callus", "eschar")
TRUTH_NOT_WOUND, TRUTH_SLOUGH, TRUTH_GRANULATION, TRUTH_CALLUS, TRUTH_ESCHAR = range(5)
TRUTH_UNKNOWN = 255
#: The predicted label map's classes, in label-value order (``woundtrack.models``).
PREDICTED_CLASSES = tuple(LABEL_NAMES[v] for v in sorted(LABEL_NAMES))
#: Each scored tissue: its value in the annotation and in the predicted label map.
SCORED_TISSUES = {
    "slough": (TRUTH_SLOUGH, SLOUGH),
    "granulation": (TRUTH_GRANULATION, GRANULATION),
    "eschar": (TRUTH_ESCHAR, ESCHAR),
}
_TRUTH_BED = (TRUTH_SLOUGH, TRUTH_GRANULATION, TRUTH_ESCHAR)


def tissue_confusion(labels: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Pixel counts of the predicted labels against a tissue annotation.

    Parameters
    ----------
    labels : (H, W) ndarray of uint8
        A predicted label map (0 skin/background, 1 granulation, 2 slough, 3 eschar,
        4 erythema).
    truth : (H, W) ndarray of uint8
        The annotation (see ``TRUTH_CLASSES``); 255 = not annotated, left out.

    Returns
    -------
    (5, 5) ndarray of int64
        ``confusion[t, p]``: annotated pixels of true class ``t`` (``TRUTH_CLASSES``) predicted
        as label ``p`` (``PREDICTED_CLASSES``).

    Raises
    ------
    ValueError
        If the shapes differ, or ``truth`` holds a value other than 0-4 and 255.

    Examples
    --------
    >>> truth = np.array([[2, 2, 1, 255]], dtype=np.uint8)
    >>> labels = np.array([[1, 3, 2, 0]], dtype=np.uint8)
    >>> tissue_confusion(labels, truth)[TRUTH_GRANULATION].tolist()
    [0, 1, 0, 1, 0]
    """
    if labels.shape != truth.shape:
        raise ValueError(
            f"label map {labels.shape} and tissue annotation {truth.shape} differ in size; "
            "annotate the photo at its full size, as displayed"
        )
    known = truth != TRUTH_UNKNOWN
    bad = np.setdiff1d(np.unique(truth[known]), np.arange(len(TRUTH_CLASSES)))
    if bad.size:
        raise ValueError(
            f"the tissue annotation holds the value(s) {bad.tolist()}; use 0 not wound, 1 slough, "
            "2 granulation, 3 callus, 4 eschar and 255 not annotated"
        )
    if labels.size and int(labels.max()) >= len(PREDICTED_CLASSES):
        raise ValueError(f"label map values must be 0-4, got {int(labels.max())}")
    pairs = truth[known].astype(np.int64) * len(PREDICTED_CLASSES) + labels[known]
    counts = np.bincount(pairs, minlength=len(TRUTH_CLASSES) * len(PREDICTED_CLASSES))
    return counts.reshape(len(TRUTH_CLASSES), len(PREDICTED_CLASSES))


def tissue_scores(confusion: np.ndarray) -> dict[str, Any]:
    """Per-tissue figures from a (pooled) tissue confusion matrix.

    Parameters
    ----------
    confusion : (5, 5) ndarray of int
        ``tissue_confusion`` of one photo, or the sum over many (pixels pooled).

    Returns
    -------
    dict
        For ``slough``, ``granulation``, ``eschar`` and the wound ``bed`` (all three): ``dice``,
        ``precision``, ``recall`` (``mask_scores``; ``None`` when no pixel of the tissue is
        annotated: a set without eschar labels cannot score eschar), ``truth_px`` and
        ``predicted_px`` (annotated pixels only);
        ``granulation_called_eschar_pct`` (of true granulation), ``slough_called_granulation_pct``
        (of true slough), ``callus_called_bed_pct`` and ``callus_called_erythema_pct`` (of true
        callus), and ``confusion`` as nested lists with its ``truth_classes`` and
        ``predicted_classes``.

    Examples
    --------
    >>> c = np.zeros((5, 5), dtype=int)
    >>> c[TRUTH_GRANULATION, GRANULATION], c[TRUTH_GRANULATION, ESCHAR] = 98, 2
    >>> tissue_scores(c)["granulation_called_eschar_pct"]
    2.0
    """
    c = np.asarray(confusion, dtype=np.int64)
    out: dict[str, Any] = {}
    bed_labels = list(WOUND_BED_LABELS)
    groups = {name: ([t], [p]) for name, (t, p) in SCORED_TISSUES.items()}
    groups["bed"] = (list(_TRUTH_BED), bed_labels)
    for name, (truth_rows, predicted_cols) in groups.items():
        truth_px = int(c[truth_rows].sum())
        predicted_px = int(c[:, predicted_cols].sum())
        tp = int(c[np.ix_(truth_rows, predicted_cols)].sum())
        scores: dict[str, Any] = {"dice": None, "precision": None, "recall": None}
        if truth_px:  # a set that never annotates a tissue (eschar in DFUTissue) cannot score it
            scores = mask_scores(tp, predicted_px - tp, truth_px - tp)
        out[name] = {**scores, "truth_px": truth_px, "predicted_px": predicted_px}

    def share(row: int, cols: list[int]) -> float | None:
        total = int(c[row].sum())
        return 100.0 * int(c[row, cols].sum()) / total if total else None

    out["granulation_called_eschar_pct"] = share(TRUTH_GRANULATION, [ESCHAR])
    out["slough_called_granulation_pct"] = share(TRUTH_SLOUGH, [GRANULATION])
    out["callus_called_bed_pct"] = share(TRUTH_CALLUS, bed_labels)
    out["callus_called_erythema_pct"] = share(TRUTH_CALLUS, [ERYTHEMA])
    out["confusion"] = c.tolist()
    out["truth_classes"] = list(TRUTH_CLASSES)
    out["predicted_classes"] = list(PREDICTED_CLASSES)
    return out


def bed_shares(confusion: np.ndarray) -> dict[str, float | None]:
    """Slough and eschar as shares (%) of the wound bed, true and predicted, on one photo.

    Only annotated pixels count, so both shares cover the same part of the photo. A share is
    ``None`` when that bed is empty.

    Examples
    --------
    >>> c = np.zeros((5, 5), dtype=int)
    >>> c[TRUTH_SLOUGH, SLOUGH], c[TRUTH_GRANULATION, GRANULATION] = 25, 75
    >>> bed_shares(c)["truth_slough_pct"], bed_shares(c)["predicted_slough_pct"]
    (25.0, 25.0)
    """
    c = np.asarray(confusion, dtype=np.int64)
    truth_bed = int(c[list(_TRUTH_BED)].sum())
    predicted_bed = int(c[:, list(WOUND_BED_LABELS)].sum())
    out: dict[str, float | None] = {}
    for name, (t, p) in SCORED_TISSUES.items():
        if name == "granulation":
            continue
        out[f"truth_{name}_pct"] = 100.0 * int(c[t].sum()) / truth_bed if truth_bed else None
        out[f"predicted_{name}_pct"] = (
            100.0 * int(c[:, p].sum()) / predicted_bed if predicted_bed else None
        )
    return out


def share_agreement(shares: Sequence[dict[str, float | None]], tissue: str) -> dict[str, Any]:
    """How well per-photo shares of ``tissue`` (``bed_shares``) follow the truth.

    Returns ``n_photos`` (photos with both shares), ``mean_abs_error_pct`` (percentage points of
    the bed) and ``pearson_r`` (``None`` with fewer than 3 photos or a constant share).
    """
    pairs = [
        (s[f"truth_{tissue}_pct"], s[f"predicted_{tissue}_pct"])
        for s in shares
        if s[f"truth_{tissue}_pct"] is not None and s[f"predicted_{tissue}_pct"] is not None
    ]
    out: dict[str, Any] = {"n_photos": len(pairs), "mean_abs_error_pct": None, "pearson_r": None}
    if not pairs:
        return out
    truth, predicted = (np.array(v, dtype=np.float64) for v in zip(*pairs, strict=True))
    out["mean_abs_error_pct"] = float(np.mean(np.abs(predicted - truth)))
    if len(pairs) >= 3 and truth.std() > 0 and predicted.std() > 0:
        out["pearson_r"] = float(stats.pearsonr(truth, predicted).statistic)
    return out


def predict_labels(
    image: np.ndarray, *, segmenter: Segmenter, focal_35mm: float | None = None
) -> np.ndarray:
    """The label map a segmenter predicts on a photo, calibrated as ``analyze`` does.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8, RGB, as displayed
    segmenter : Segmenter
    focal_35mm : float, optional
        35 mm-equivalent focal length from EXIF (only used to report the tilt).

    Returns
    -------
    (H, W) ndarray of uint8
        0 skin/background, 1 granulation, 2 slough, 3 eschar, 4 erythema.
    """
    calibration, _ = calibrate(image, focal_35mm=focal_35mm)
    return segmenter(image, calibration)
