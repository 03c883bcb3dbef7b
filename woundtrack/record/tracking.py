"""Lesions across visits: stable identities, and a follow-up photo registered onto the baseline.

Owns what links one visit's photo to another's. The calibration sticker is re-stuck somewhere else
at every dressing change, and each photo's plane coordinates are millimetres in its sticker's own
frame, so the planes of two visits differ by an unknown rotation and translation (scale 1: both
are millimetres). Lesions are therefore matched on their constellation, never on absolute
positions: every pairing hypothesis gives a rigid transform, the lesions are assigned one-to-one
under it (Hungarian method) with a cost of aligned distance plus a mild size-change term, and the
hypothesis that explains the most lesions most tightly wins. Photos are registered by rectifying
both onto the skin plane at one scale, where the remaining motion is rigid, and estimating it from
SIFT features of skin and wound with the stickers masked out (they moved); from the lesion
constellation when features are too few; from the stickers alone (identity on the plane) otherwise.
Pure functions, no I/O.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from woundtrack.errors import CalibrationError
from woundtrack.image import calibration as cal
from woundtrack.image.measure import measure
from woundtrack.models import Calibration, LesionMeasurement

if TYPE_CHECKING:
    from woundtrack.image.pipeline import Analysis

log = logging.getLogger(__name__)

RegistrationMethod = Literal["features", "lesions", "lesion-centre", "sticker-only"]

#: Weight of the size-change term, as a share of the distance gate per unit of |ln(area ratio)|:
#: with the default 25 mm gate a doubling of area costs as much as 3.5 mm of misalignment. Mild on
#: purpose, since wounds do change size between visits; it mainly breaks the ties that geometry
#: cannot (two lesions: both pairings are equally rigid).
SIZE_WEIGHT_OF_GATE = 0.2
#: Hypotheses are ranked by how many lesions they put within this share of the gate (7.5 mm by
#: default: segmentation and healing move a centroid by a few mm), then by how closely; the gate
#: itself then decides which pairs under the winning transform are matched.
INLIER_SHARE_OF_GATE = 0.3
#: Areas that changed by more than this factor are not the same lesion (a week's healing or
#: worsening stays well within it); raise it for visits months apart.
DEFAULT_MAX_AREA_RATIO = 5.0
#: Uncalibrated photos: the distance gate as a share of the known photo's diagonal.
DEFAULT_MAX_DISTANCE_FRAC = 0.05
#: Uncalibrated and no image size given: the reference length is this many times the square root
#: of the largest known lesion's pixel area (a wound photo frames a wound at a fraction of its
#: width), so that the default gate is about one wound diameter.
_REFERENCE_SIDES_PER_WOUND = 20.0
#: Pair hypotheses are drawn from at most this many of the largest lesions on each side (8 gives
#: 56 x 28 hypotheses); every lesion still takes part in the assignment under each hypothesis.
_MAX_HYPOTHESIS_LESIONS = 8
#: Re-fit the transform on the assigned pairs and re-assign, at most this often per hypothesis.
_REFINE_ITERATIONS = 3
#: Uncalibrated photos of one limb differ in zoom, but not by more than this factor.
_MAX_SIMILARITY_SCALE = 8.0

#: Feature registration: fewer RANSAC inliers than this and the lesions are used instead.
MIN_FEATURE_INLIERS = 12
#: The rectified planes share one scale, so a feature fit whose scale is off by more than this
#: (5 %) has locked onto something other than the skin and is rejected.
MAX_FEATURE_SCALE_ERROR = 0.05
#: RANSAC inlier threshold on the plane (mm): a few rectified pixels, above the homography's own
#: error away from the sticker (a few tenths of a mm on phantoms).
_RANSAC_THRESHOLD_MM = 1.0
#: Lowe's ratio test for SIFT matches.
_LOWE_RATIO = 0.75
_MAX_FEATURES = 6000
#: Margin of skin kept around the wounds and the sticker in the default rectified extent.
_ROI_MARGIN_MM = 20.0
#: Features are sought on rectified images of at most this many pixels a side (the scale is
#: coarsened beyond it): SIFT on a 3000 px square takes seconds and gains nothing for a rigid fit.
_FEATURE_MAX_SIDE_PX = 1600
#: The sticker is masked out of the feature search with this margin (mm) around its white zone.
_STICKER_MASK_MARGIN_MM = 3.0
#: A rectified image is at most this many pixels on a side (0.8 m at 0.2 mm per pixel).
MAX_RECTIFIED_SIDE_PX = 4096


# --------------------------------------------------------------------------------------------
# Lesion identities


@dataclass(frozen=True, slots=True, kw_only=True)
class LesionPosition:
    """Where one lesion of one photo lies, for matching across visits.

    ``key`` is the caller's identifier: a lesion's label (``"L1"``) for lesions already known, or
    ``str(index)`` of the new photo's ``LesionMeasurement``. ``centre_mm`` is the wound bed's
    centroid on the rectified skin plane (millimetres in that photo's sticker frame; ``None`` when
    the photo is not calibrated), ``centre_px`` the same point in the photo. ``area_cm2`` is the
    wound bed area on the plane (``None`` when uncalibrated), ``area_px`` its pixel count.
    """

    key: str
    centre_mm: tuple[float, float] | None
    centre_px: tuple[float, float]
    area_cm2: float | None
    area_px: int

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"LesionPosition.key must be a non-empty string, got {self.key!r}")
        points = {"centre_px": self.centre_px, "centre_mm": self.centre_mm}
        for name, value in points.items():
            if value is None and name == "centre_mm":
                continue
            if value is None or len(value) != 2 or not all(math.isfinite(v) for v in value):
                raise ValueError(
                    f"LesionPosition.{name} must be two finite numbers (x, y), got {value!r}"
                )
        if self.area_cm2 is not None and not (math.isfinite(self.area_cm2) and self.area_cm2 >= 0):
            raise ValueError(
                f"LesionPosition.area_cm2 must be None or a finite number >= 0, got "
                f"{self.area_cm2!r}"
            )
        if isinstance(self.area_px, bool) or not isinstance(self.area_px, int | np.integer):
            raise ValueError(f"LesionPosition.area_px must be an int, got {self.area_px!r}")
        if self.area_px < 0:
            raise ValueError(f"LesionPosition.area_px must be >= 0, got {self.area_px!r}")

    @property
    def calibrated(self) -> bool:
        """True when the plane position and area are known."""
        return self.centre_mm is not None and self.area_cm2 is not None


def lesion_positions(analysis: Analysis) -> list[LesionPosition]:
    """The positions of an analysed photo's lesions, keyed ``str(index)``.

    Parameters
    ----------
    analysis : Analysis
        From :func:`woundtrack.analyze`.

    Returns
    -------
    list of LesionPosition
        In the order of ``analysis.lesions`` (largest first). Each centroid is mapped through the
        photo's homography when it is calibrated; the image of the pixel centroid differs from the
        centroid on the plane by a perspective term of order ``R² tan(tilt) / distance``, under
        0.2 mm for a 15 mm wound photographed 30° off square at 30 cm.

    Examples
    --------
    >>> positions = lesion_positions(woundtrack.analyze("week03.jpg"))  # doctest: +SKIP
    >>> [p.key for p in positions]  # doctest: +SKIP
    ['1', '2']
    """
    return positions_of(analysis.lesions, analysis.calibration)


def positions_of(
    lesions: Sequence[LesionMeasurement], calibration: Calibration
) -> list[LesionPosition]:
    """:func:`lesion_positions` for measurements and their calibration (see there)."""
    if not lesions:
        return []
    centres_px = np.array([m.centroid_px for m in lesions], dtype=np.float64)
    centres_mm = cal.to_plane_mm(calibration, centres_px) if calibration.calibrated else None
    out = []
    for i, m in enumerate(lesions):
        out.append(
            LesionPosition(
                key=str(m.index),
                centre_mm=None
                if centres_mm is None
                else (float(centres_mm[i, 0]), float(centres_mm[i, 1])),
                centre_px=(float(m.centroid_px[0]), float(m.centroid_px[1])),
                area_cm2=m.wound_area_cm2 if calibration.calibrated else None,
                area_px=int(m.wound_area_px),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class _Assignment:
    """The best constellation hypothesis: index pairs (new, known) and the map new -> known."""

    pairs: tuple[tuple[int, int], ...]
    transform: np.ndarray  # (3, 3) new frame -> known frame
    score: float
    residual: float | None  # RMS aligned distance of the pairs, in the frame's unit


def match_lesions(
    known: Sequence[LesionPosition],
    new: Sequence[LesionPosition],
    *,
    max_distance_mm: float = 25.0,
    max_area_ratio: float = DEFAULT_MAX_AREA_RATIO,
    image_size_px: tuple[int, int] | None = None,
    max_distance_frac: float = DEFAULT_MAX_DISTANCE_FRAC,
    new_to_known: np.ndarray | Sequence[Sequence[float]] | None = None,
) -> dict[str, str | None]:
    """Give each lesion of a new photo the identity of a known lesion, or none (a new lesion).

    The sticker moves between visits, so the new photo's plane differs from the known one by an
    unknown rotation and translation. Every hypothesis "new lesions i, j are known lesions a, b"
    fixes that rigid transform; under it all lesions are assigned one-to-one (Hungarian method,
    :func:`scipy.optimize.linear_sum_assignment`) at a cost of aligned distance plus
    ``SIZE_WEIGHT_OF_GATE * max_distance_mm * |ln(area ratio)|``; pairs farther apart than
    ``max_distance_mm`` after alignment, or whose areas differ by more than ``max_area_ratio``,
    are not matched. Hypotheses are ranked by consensus: each pair's cost is capped at
    ``INLIER_SHARE_OF_GATE * max_distance_mm``, so that the transform putting the most lesions
    closely on top of each other wins over one putting all of them loosely near another; it is
    re-fitted to its inliers, and under it every pair within the gate is matched.

    With a single lesion on either side no rotation can be told, so the pair with the most
    similar area is matched, if within ``max_area_ratio``. When any position lacks plane
    coordinates, pixel positions are used instead with a similarity transform (uncalibrated photos
    differ in zoom too), areas are compared after that transform's scale, and the gate is
    ``max_distance_frac`` of the known photo's diagonal.

    Parameters
    ----------
    known : sequence of LesionPosition
        Lesions with identities, all in one photo's frame (e.g. the previous visit's photo, keyed
        by lesion label).
    new : sequence of LesionPosition
        The new photo's lesions (keys e.g. ``str(index)``).
    max_distance_mm : float
        Largest distance (mm) between matched centres after alignment.
    max_area_ratio : float
        Largest factor by which a lesion's area may change between the two photos (> 1).
    image_size_px : (int, int), optional
        Width and height of the known photo, for the pixel gate of uncalibrated photos. Without
        it the reference length is 20 times the square root of the largest known pixel area.
    max_distance_frac : float
        Pixel gate of uncalibrated photos, as a share of the reference length.
    new_to_known : (3, 3) array-like, optional
        A transform from the new frame to the known one (plane mm, or pixels when uncalibrated)
        found some other way, e.g. ``Registration.follow_to_baseline_plane`` of a registration by
        features. The constellation search is skipped and only the assignment is made.

    Returns
    -------
    dict
        Every new key, in the order given, mapped to a known key or ``None`` (a new lesion).
        Known lesions that are not matched (healed, or out of the photo) do not appear.

    Raises
    ------
    ValueError
        If keys repeat within ``known`` or within ``new``, or a limit is not a positive number.

    Notes
    -----
    Sizes are compared relative to the change common to all lesions (total area new / known), as
    a patient's lesions tend to heal or worsen together.

    Limits. Two lesions alone fit any rigid transform both ways round (a half turn swaps them), so
    their identities rest on their relative sizes; two lesions of equal size are a coin toss unless
    ``new_to_known`` comes from a registration by features. With few lesions, one that healed
    and one that appeared at a similar distance can be taken for each other. A lesion that split
    keeps its identity in the part that fits best (usually the larger); the other parts are new.
    Lesions that merged are matched to one of the originals; the other looks healed. Known
    positions must all come from one photo (one frame).

    Examples
    --------
    >>> known = [LesionPosition(key="L1", centre_mm=(0.0, 0.0), centre_px=(10.0, 10.0),
    ...                         area_cm2=2.0, area_px=800),
    ...          LesionPosition(key="L2", centre_mm=(30.0, 0.0), centre_px=(90.0, 10.0),
    ...                         area_cm2=0.5, area_px=200)]
    >>> new = [LesionPosition(key="1", centre_mm=(5.0, 40.0), centre_px=(40.0, 130.0),
    ...                       area_cm2=1.8, area_px=700),
    ...        LesionPosition(key="2", centre_mm=(5.0, 70.0), centre_px=(40.0, 210.0),
    ...                       area_cm2=0.6, area_px=240)]
    >>> match_lesions(known, new)
    {'1': 'L1', '2': 'L2'}
    """
    _check_positive("max_distance_mm", max_distance_mm)
    _check_positive("max_distance_frac", max_distance_frac)
    if not (math.isfinite(max_area_ratio) and max_area_ratio > 1.0):
        raise ValueError(
            f"max_area_ratio must be a number > 1 (e.g. 5 for a fivefold change), got "
            f"{max_area_ratio!r}"
        )
    for name, group in (("known", known), ("new", new)):
        keys = [p.key for p in group]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(
                f"{name} lesions repeat the key(s) {', '.join(map(repr, repeated))}; each lesion "
                "needs its own key"
            )
    result: dict[str, str | None] = {p.key: None for p in new}
    if not known or not new:
        return result
    # A canonical order (by key) makes the answer independent of the order given.
    known_s = sorted(known, key=lambda p: p.key)
    new_s = sorted(new, key=lambda p: p.key)
    on_plane = all(p.calibrated for p in (*known_s, *new_s))
    if on_plane:
        k_xy = np.array([p.centre_mm for p in known_s], dtype=np.float64)
        n_xy = np.array([p.centre_mm for p in new_s], dtype=np.float64)
        k_area = np.array([p.area_cm2 for p in known_s], dtype=np.float64)
        n_area = np.array([p.area_cm2 for p in new_s], dtype=np.float64)
        gate = float(max_distance_mm)
    else:
        k_xy = np.array([p.centre_px for p in known_s], dtype=np.float64)
        n_xy = np.array([p.centre_px for p in new_s], dtype=np.float64)
        k_area = np.array([p.area_px for p in known_s], dtype=np.float64)
        n_area = np.array([p.area_px for p in new_s], dtype=np.float64)
        if image_size_px is not None:
            if len(image_size_px) != 2 or min(image_size_px) <= 0:
                raise ValueError(
                    f"image_size_px must be the known photo's (width, height) in pixels, got "
                    f"{image_size_px!r}"
                )
            reference = math.hypot(*image_size_px)
        else:
            reference = _REFERENCE_SIDES_PER_WOUND * math.sqrt(max(float(k_area.max()), 1.0))
        gate = max_distance_frac * reference
    fixed = None if new_to_known is None else _as_matrix(new_to_known, "new_to_known")
    best = _assign(
        k_xy,
        k_area,
        n_xy,
        n_area,
        gate=gate,
        max_log_ratio=math.log(max_area_ratio),
        similarity=not on_plane,
        fixed=fixed,
    )
    for i, a in best.pairs:
        result[new_s[i].key] = known_s[a].key
    return result


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def _as_matrix(value: np.ndarray | Sequence[Sequence[float]], name: str) -> np.ndarray:
    matrix = np.asarray(value, dtype=np.float64)
    if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
        raise ValueError(f"{name} must be a finite 3x3 matrix, got shape {matrix.shape}")
    return matrix


def _common_log_change(k_area: np.ndarray, n_area: np.ndarray, scale):
    """ln of how much the lesions changed in size together (total new / total known area).

    A patient's lesions tend to heal or worsen together, so identity is judged by each lesion's
    size relative to that common change: two lesions that both halved keep their identities, while
    the raw size change would score both pairings the same.
    """
    return np.log(n_area.sum() * np.asarray(scale, dtype=np.float64) ** 2 / k_area.sum())


def _assign(
    k_xy: np.ndarray,
    k_area: np.ndarray,
    n_xy: np.ndarray,
    n_area: np.ndarray,
    *,
    gate: float,
    max_log_ratio: float,
    similarity: bool,
    fixed: np.ndarray | None = None,
) -> _Assignment:
    """Best one-to-one assignment of new to known points over all constellation hypotheses.

    Hypotheses are ranked by consensus (MSAC, Torr & Zisserman 2000): the assignment cost of each
    pair capped at ``INLIER_SHARE_OF_GATE * gate``, so that a transform which puts most lesions
    right on top of each other beats one that puts every lesion loosely near some other. The
    final assignment under the winner then admits anything within the gate.
    """
    m, n = len(k_xy), len(n_xy)
    weight = SIZE_WEIGHT_OF_GATE * gate
    inlier = INLIER_SHARE_OF_GATE * gate
    k_area = np.maximum(k_area, 1e-12)
    n_area = np.maximum(n_area, 1e-12)
    pairs_max = min(m, n)

    # Capped costs (ties beyond the cap broken towards the closer pair, and towards any pair
    # within the gate rather than one outside it).
    tie = 1e-3
    outside = inlier + tie * 2.0 * (gate + weight * max_log_ratio)

    def costs(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scale = math.sqrt(abs(np.linalg.det(t[:2, :2])))
        dist = np.linalg.norm(_apply(t, n_xy)[:, None, :] - k_xy[None, :, :], axis=2)
        log_ratio = np.log(n_area[:, None] * scale**2 / k_area[None, :])
        ok = (dist <= gate) & (np.abs(log_ratio) <= max_log_ratio)
        cost = dist + weight * np.abs(log_ratio - _common_log_change(k_area, n_area, scale))
        return dist, np.where(ok, np.minimum(cost, inlier) + tie * cost, outside), ok

    def consensus(t: np.ndarray) -> tuple[float, list[tuple[int, int]]]:
        _, capped, _ = costs(t)
        rows, cols = linear_sum_assignment(capped)
        inliers = [
            (int(i), int(a)) for i, a in zip(rows, cols, strict=True) if capped[i, a] < inlier
        ]
        return float(capped[rows, cols].sum()), inliers

    def final(t: np.ndarray) -> _Assignment:
        dist, capped, ok = costs(t)
        rows, cols = linear_sum_assignment(capped)
        pairs = tuple((int(i), int(a)) for i, a in zip(rows, cols, strict=True) if ok[i, a])
        residual = float(np.sqrt(np.mean([dist[p] ** 2 for p in pairs]))) if pairs else None
        return _Assignment(
            pairs=pairs, transform=t, score=float(capped[rows, cols].sum()), residual=residual
        )

    if fixed is not None:
        return final(fixed)

    # One lesion in common, matched on size alone: with a single lesion on a side nothing else
    # can be known (for pixels this assumes a similar camera distance, i.e. scale 1).
    log_ratio = np.abs(np.log(n_area[:, None] / k_area[None, :]))
    i, a = divmod(int(np.argmin(log_ratio)), m)  # the first of equals, in canonical order
    single: tuple[int, int] | None = None
    best_score = outside * pairs_max  # nothing matched
    if log_ratio[i, a] <= max_log_ratio:
        single = (i, a)
        size_cost = weight * float(log_ratio[i, a])
        best_score = min(size_cost, inlier) + tie * size_cost + outside * (pairs_max - 1)
    best_transform: np.ndarray | None = None

    hypotheses = (
        _pair_hypotheses(k_xy, n_xy, gate=gate, k_area=k_area, n_area=n_area, similarity=similarity)
        if pairs_max >= 2
        else np.zeros((0, 3, 3))
    )
    if len(hypotheses):
        # Branch and bound: each lesion's cheapest capped cost bounds a hypothesis' score from
        # below; hypotheses are tried in order of that bound until none can win.
        scale = np.sqrt(np.abs(np.linalg.det(hypotheses[:, :2, :2])))
        aligned = np.einsum("hij,nj->hni", hypotheses[:, :2, :2], n_xy) + hypotheses[:, None, :2, 2]
        dist = np.linalg.norm(aligned[:, :, None, :] - k_xy[None, None, :, :], axis=3)
        ratio = np.log(n_area[None, :, None] * scale[:, None, None] ** 2 / k_area[None])
        ok = (dist <= gate) & (np.abs(ratio) <= max_log_ratio)
        common = _common_log_change(k_area, n_area, scale)[:, None, None]
        cost = dist + weight * np.abs(ratio - common)
        capped = np.where(ok, np.minimum(cost, inlier) + tie * cost, outside)
        bound = np.maximum(
            np.sort(capped.min(axis=2), axis=1)[:, :pairs_max].sum(axis=1),
            np.sort(capped.min(axis=1), axis=1)[:, :pairs_max].sum(axis=1),
        )
        seen: set[tuple[tuple[int, int], ...]] = set()
        for h in np.argsort(bound, kind="stable"):
            if bound[h] >= best_score + inlier:  # re-fitting can gain up to about one inlier
                break
            t = hypotheses[h]
            score, inliers = consensus(t)
            # Re-fit on the inliers and re-assign while that helps.
            for _ in range(_REFINE_ITERATIONS):
                key = tuple(inliers)
                if len(inliers) < 2 or key in seen:
                    break
                seen.add(key)
                refit = _fit(
                    n_xy[[p[0] for p in inliers]],
                    k_xy[[p[1] for p in inliers]],
                    similarity=similarity,
                )
                if refit is None:
                    break
                refit_score, refit_inliers = consensus(refit)
                if refit_score >= score - 1e-12:
                    break
                t, score, inliers = refit, refit_score, refit_inliers
            if score < best_score - 1e-9 and len(inliers) >= 2:
                best_score, best_transform = score, t

    if best_transform is not None:
        best = final(best_transform)
    elif single is not None:
        t = np.eye(3)
        t[:2, 2] = k_xy[single[1]] - n_xy[single[0]]
        best = _Assignment(pairs=(single,), transform=t, score=best_score, residual=0.0)
    else:
        best = _Assignment(pairs=(), transform=np.eye(3), score=best_score, residual=None)
    log.debug("constellation: %d pairs, consensus score %.3f", len(best.pairs), best_score)
    return best


def _pair_hypotheses(
    k_xy: np.ndarray,
    n_xy: np.ndarray,
    *,
    gate: float,
    k_area: np.ndarray,
    n_area: np.ndarray,
    similarity: bool,
) -> np.ndarray:
    """(H, 3, 3) maps new -> known, one per hypothesis "new i, j are known a, b".

    Drawn from the largest lesions of each side (``_MAX_HYPOTHESIS_LESIONS``); ordered new pairs
    against unordered known pairs cover both ways round. Two points fix a rigid map (or a
    similarity) exactly in closed form: the rotation turns one segment onto the other, the
    translation brings the midpoints together (the least-squares fit for two points).
    """
    top_k = sorted(np.argsort(-k_area, kind="stable")[:_MAX_HYPOTHESIS_LESIONS].tolist())
    top_n = sorted(np.argsort(-n_area, kind="stable")[:_MAX_HYPOTHESIS_LESIONS].tolist())
    quads = np.array(
        [
            (i, j, a, b)
            for i, j in itertools.permutations(top_n, 2)
            for a, b in itertools.combinations(top_k, 2)
        ],
        dtype=np.int64,
    ).reshape(-1, 4)
    v_new = n_xy[quads[:, 1]] - n_xy[quads[:, 0]]
    v_known = k_xy[quads[:, 3]] - k_xy[quads[:, 2]]
    d_new, d_known = np.linalg.norm(v_new, axis=1), np.linalg.norm(v_known, axis=1)
    if similarity:
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = d_known / d_new
        keep = (d_new > 0) & (scale >= 1 / _MAX_SIMILARITY_SCALE) & (scale <= _MAX_SIMILARITY_SCALE)
    else:
        scale = np.ones(len(quads))
        keep = np.abs(d_new - d_known) <= 2 * gate  # else each pair sits over the gate/2 off
    quads, v_new, v_known, scale = quads[keep], v_new[keep], v_known[keep], scale[keep]
    angle = np.arctan2(v_known[:, 1], v_known[:, 0]) - np.arctan2(v_new[:, 1], v_new[:, 0])
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    maps = np.zeros((len(quads), 3, 3))
    maps[:, 0, 0], maps[:, 0, 1], maps[:, 1, 0], maps[:, 1, 1] = c, -s, s, c
    maps[:, 2, 2] = 1.0
    mid_new = (n_xy[quads[:, 0]] + n_xy[quads[:, 1]]) / 2
    mid_known = (k_xy[quads[:, 2]] + k_xy[quads[:, 3]]) / 2
    maps[:, :2, 2] = mid_known - np.einsum("hij,hj->hi", maps[:, :2, :2], mid_new)
    return maps


def _apply(t: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Apply a 3x3 affine map to (N, 2) points."""
    return xy @ t[:2, :2].T + t[:2, 2]


def _fit(src: np.ndarray, dst: np.ndarray, *, similarity: bool) -> np.ndarray | None:
    """Least-squares rigid (or similarity) map src -> dst, a proper rotation (Umeyama 1991).

    Returns None when the points are degenerate (all coincident) or the similarity's scale is
    implausible.
    """
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s_c, d_c = src - mu_s, dst - mu_d
    var_s = float((s_c**2).sum() / len(src))
    cov = d_c.T @ s_c / len(src)
    u, sig, vt = np.linalg.svd(cov)
    # The skin is seen from the front in both photos: no reflection.
    e = np.diag([1.0, math.copysign(1.0, np.linalg.det(u @ vt))])
    rot = u @ e @ vt
    scale = 1.0
    if similarity:
        if var_s <= 1e-18:
            return None
        scale = float(np.trace(np.diag(sig) @ e) / var_s)
        if not 1 / _MAX_SIMILARITY_SCALE <= scale <= _MAX_SIMILARITY_SCALE:
            return None
    t = np.eye(3)
    t[:2, :2] = scale * rot
    t[:2, 2] = mu_d - scale * rot @ mu_s
    return t


# --------------------------------------------------------------------------------------------
# Rectification and registration


@dataclass(frozen=True, slots=True, kw_only=True)
class Registration:
    """How a follow-up photo lies over the baseline photo.

    ``follow_to_baseline`` maps follow-photo pixels ``(x, y, 1)`` to baseline-photo pixels
    (row-major 3x3, a homography: both photos see the same skin plane); use it with
    :func:`warp_to_baseline`. ``follow_to_baseline_plane`` is the rigid motion from the follow
    photo's plane millimetres (its sticker frame) to the baseline's. ``method`` says what it rests
    on: ``"features"`` (SIFT on skin and wounds; ``n_inliers`` RANSAC inliers, ``residual_mm`` their
    RMS distance on the plane), ``"lesions"`` (the wound centroids; ``n_inliers`` matched lesions,
    ``residual_mm`` their RMS distance), ``"lesion-centre"`` (one wound on each side: its centre
    moved onto the baseline's, rotation as the stickers'; ``n_inliers`` 1) or ``"sticker-only"``
    (identity on the plane: right only
    if the sticker was put back in the same place; ``n_inliers`` 0, ``residual_mm`` None).
    ``rotation_deg`` is the plane rotation, counter-clockwise in the plane's x-y axes.
    """

    follow_to_baseline: tuple[tuple[float, float, float], ...]
    follow_to_baseline_plane: tuple[tuple[float, float, float], ...]
    method: RegistrationMethod
    n_inliers: int
    residual_mm: float | None
    rotation_deg: float

    def __post_init__(self) -> None:
        if self.method not in ("features", "lesions", "lesion-centre", "sticker-only"):
            raise ValueError(
                "Registration.method must be features, lesions, lesion-centre or sticker-only, "
                f"got {self.method!r}"
            )
        for name in ("follow_to_baseline", "follow_to_baseline_plane"):
            value = getattr(self, name)
            if len(value) != 3 or any(len(row) != 3 for row in value):
                raise ValueError(f"Registration.{name} must be 3x3")
            if not all(math.isfinite(v) for row in value for v in row):
                raise ValueError(f"Registration.{name} must hold finite numbers")
        if self.n_inliers < 0:
            raise ValueError(f"Registration.n_inliers must be >= 0, got {self.n_inliers!r}")
        if self.residual_mm is not None and not (
            math.isfinite(self.residual_mm) and self.residual_mm >= 0
        ):
            raise ValueError(
                f"Registration.residual_mm must be None or a finite number >= 0, got "
                f"{self.residual_mm!r}"
            )
        if not math.isfinite(self.rotation_deg):
            raise ValueError(f"Registration.rotation_deg must be finite, got {self.rotation_deg!r}")

    @property
    def matrix(self) -> np.ndarray:
        """``follow_to_baseline`` as a (3, 3) float64 array."""
        return np.array(self.follow_to_baseline, dtype=np.float64)

    @property
    def plane_matrix(self) -> np.ndarray:
        """``follow_to_baseline_plane`` as a (3, 3) float64 array."""
        return np.array(self.follow_to_baseline_plane, dtype=np.float64)


def rectify(
    image: np.ndarray,
    calibration: Calibration,
    *,
    mm_per_px: float = 0.2,
    extent_mm: tuple[float, float, float, float] | None = None,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top view of the skin plane: the photo resampled at one scale, square-on.

    Rectified pixel ``(u, v)`` (centres at integer coordinates) shows the plane point
    ``(x_min + u * mm_per_px, y_min + v * mm_per_px)`` in millimetres of the sticker's frame.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8, RGB, as displayed
    calibration : Calibration
        With a homography (``"aruco"`` or ``"manual"``).
    mm_per_px : float
        Side of one rectified pixel on the plane (mm).
    extent_mm : (x_min, y_min, x_max, y_max), optional
        The plane rectangle to show (mm). By default: the wounds, erythema and sticker with 20 mm
        of skin around them when ``labels`` are given, else the whole photo's footprint on the
        plane; either way at most ``MAX_RECTIFIED_SIDE_PX`` pixels a side, centred on the plane
        point under the middle of the region.
    labels : (H, W) ndarray of uint8, optional
        The photo's label map, for the default extent.

    Returns
    -------
    rectified : (h, w, 3) ndarray of uint8, RGB
        Black where the photo does not reach.
    image_to_rectified : (3, 3) ndarray of float64
        Homography from photo pixels to rectified pixels.

    Raises
    ------
    CalibrationError
        If the photo has no calibration (no scale to rectify to).
    ValueError
        If ``image`` is not (H, W, 3) uint8, ``labels`` do not match it, ``mm_per_px`` is not
        positive, or ``extent_mm`` is empty or larger than ``MAX_RECTIFIED_SIDE_PX`` pixels a
        side.

    Examples
    --------
    >>> top, m = rectify(image, analysis.calibration, mm_per_px=0.1)  # doctest: +SKIP
    """
    _check_image(image, "image")
    _check_positive("mm_per_px", mm_per_px)
    if not calibration.calibrated:
        raise CalibrationError(
            "this photo has no calibration sticker or manual scale, so it cannot be rectified "
            "onto the skin plane; retake it with the sticker in view"
        )
    h = cal.homography(calibration)
    if labels is not None and labels.shape != image.shape[:2]:
        raise ValueError(f"labels {labels.shape} do not match the image {image.shape[:2]}")
    if extent_mm is None:
        extent_mm = _default_extent(image.shape, calibration, labels, mm_per_px)
    elif len(extent_mm) != 4 or not all(math.isfinite(v) for v in extent_mm):
        raise ValueError(f"extent_mm must be four finite numbers, got {extent_mm!r}")
    x0, y0, x1, y1 = (float(v) for v in extent_mm)
    width = math.ceil((x1 - x0) / mm_per_px)
    height = math.ceil((y1 - y0) / mm_per_px)
    if width < 1 or height < 1:
        raise ValueError(
            f"extent_mm {extent_mm!r} is empty; give (x_min, y_min, x_max, y_max) with "
            "x_max > x_min and y_max > y_min"
        )
    if max(width, height) > MAX_RECTIFIED_SIDE_PX:
        raise ValueError(
            f"extent_mm {extent_mm!r} at {mm_per_px:g} mm per pixel is {width}x{height} pixels, "
            f"over the {MAX_RECTIFIED_SIDE_PX} limit; show a smaller region or raise mm_per_px"
        )
    plane_to_rect = _plane_to_rect(x0, y0, mm_per_px)
    image_to_rect = plane_to_rect @ h
    # Resampling a finer photo straight onto a coarse grid aliases skin texture into false
    # features: halve the photo (Gaussian pyramid) while it stays finer than the output.
    source = image
    source_to_image = np.eye(3)
    centre = np.array([[(x0 + x1) / 2, (y0 + y1) / 2]])
    cx, cy = cv2.perspectiveTransform(centre.reshape(-1, 1, 2), np.linalg.inv(h)).reshape(2)
    photo_mm_per_px = cal.mm_per_px_at(calibration, float(cx), float(cy))
    while photo_mm_per_px * 2 <= mm_per_px and min(source.shape[:2]) >= 64:
        source = cv2.pyrDown(source)
        source_to_image = source_to_image @ np.diag([2.0, 2.0, 1.0])
        photo_mm_per_px *= 2
    rectified = cv2.warpPerspective(
        source,
        image_to_rect @ source_to_image,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    return rectified, image_to_rect


def _check_image(image: np.ndarray, name: str) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise ValueError(f"{name} must be an (H, W, 3) RGB array, got shape {shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got {image.dtype}")


def _plane_to_rect(x0: float, y0: float, mm_per_px: float) -> np.ndarray:
    s = 1.0 / mm_per_px
    return np.array([[s, 0.0, -x0 * s], [0.0, s, -y0 * s], [0.0, 0.0, 1.0]])


def _default_extent(
    shape: tuple[int, ...],
    calibration: Calibration,
    labels: np.ndarray | None,
    mm_per_px: float,
) -> tuple[float, float, float, float]:
    h = cal.homography(calibration)
    height, width = shape[:2]
    points_px: list[np.ndarray] = []
    margin = 0.0
    if labels is not None and np.any(labels):
        ys, xs = np.nonzero(labels)
        # The outline of what is labelled is enough: its plane image's bounding box is the same.
        points_px.append(
            np.array(
                [
                    [xs.min(), ys.min()],
                    [xs.max(), ys.min()],
                    [xs.max(), ys.max()],
                    [xs.min(), ys.max()],
                ],
                dtype=np.float64,
            )
        )
        if calibration.method == "aruco" and calibration.marker_mm is not None:
            points_px.append(cal.sticker_outline_px(calibration))
        margin = _ROI_MARGIN_MM
    if not points_px:
        points_px.append(
            np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], float)
        )
    pts = np.vstack(points_px)
    # Points beyond the plane's horizon (w <= 0) have no plane image; keep those in front.
    w = pts @ h[2, :2] + h[2, 2]
    pts = pts[w > 1e-9]
    plane = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), h).reshape(-1, 2)
    lo, hi = plane.min(axis=0) - margin, plane.max(axis=0) + margin
    # Clip to the size limit around the plane point under the middle of the region.
    centre_px = pts.mean(axis=0, keepdims=True)
    centre = cv2.perspectiveTransform(centre_px.reshape(-1, 1, 2), h).reshape(2)
    half = 0.5 * (MAX_RECTIFIED_SIDE_PX - 1) * mm_per_px
    lo = np.maximum(lo, centre - half)
    hi = np.minimum(hi, centre + half)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def register(
    baseline_image: np.ndarray,
    baseline_cal: Calibration,
    follow_image: np.ndarray,
    follow_cal: Calibration,
    *,
    baseline_labels: np.ndarray | None = None,
    follow_labels: np.ndarray | None = None,
    mm_per_px: float = 0.2,
    min_inliers: int = MIN_FEATURE_INLIERS,
    max_distance_mm: float = 25.0,
) -> Registration:
    """Register a follow-up photo onto the baseline photo, for display at one scale and angle.

    Both photos are rectified onto the skin plane through their own homographies (one mm scale),
    so what remains between them is a rotation and a translation, since the sticker was put
    elsewhere. It is estimated, in order of preference, from:

    1. SIFT features of the rectified photos, stickers masked out, matched with Lowe's ratio
       test, fitted by RANSAC (``cv2.estimateAffinePartial2D``) and refitted rigidly to the
       inliers; rejected when fewer than ``min_inliers`` agree or the fitted scale is off by more
       than ``MAX_FEATURE_SCALE_ERROR``;
    2. the lesion constellation of the two label maps (see :func:`match_lesions`), when at least
       two lesions match;
    3. the stickers alone: identity on the plane.

    Parameters
    ----------
    baseline_image, follow_image : (H, W, 3) ndarray of uint8, RGB, as displayed
    baseline_cal, follow_cal : Calibration
        Each photo's calibration, with a homography.
    baseline_labels, follow_labels : (H, W) ndarray of uint8, optional
        Label maps: they narrow the feature search to the wounds' surroundings (faster, and away
        from the photo's far edges) and allow the lesion fallback.
    mm_per_px : float
        Scale of the rectified planes on which features are sought.
    min_inliers : int
        Fewest RANSAC inliers for a registration by features.
    max_distance_mm : float
        Gate of the lesion fallback (see :func:`match_lesions`).

    Returns
    -------
    Registration

    Raises
    ------
    CalibrationError
        If either photo has no calibration.
    ValueError
        If an image is not (H, W, 3) uint8 or a label map does not match its photo.

    Examples
    --------
    >>> reg = register(img0, a0.calibration, img1, a1.calibration,
    ...                baseline_labels=a0.labels, follow_labels=a1.labels)  # doctest: +SKIP
    >>> side_by_side = warp_to_baseline(img1, reg, img0.shape)  # doctest: +SKIP
    """
    for name, calibration in (("baseline", baseline_cal), ("follow-up", follow_cal)):
        if not calibration.calibrated:
            raise CalibrationError(
                f"the {name} photo has no calibration sticker or manual scale, so it cannot be "
                "registered on the skin plane; retake it with the sticker in view"
            )
    _check_image(baseline_image, "baseline_image")
    _check_image(follow_image, "follow_image")
    for name, lab, img in (
        ("baseline_labels", baseline_labels, baseline_image),
        ("follow_labels", follow_labels, follow_image),
    ):
        if lab is not None and lab.shape != img.shape[:2]:
            raise ValueError(f"{name} {lab.shape} do not match the photo {img.shape[:2]}")
    if isinstance(min_inliers, bool) or not isinstance(min_inliers, int) or min_inliers < 3:
        raise ValueError(f"min_inliers must be an int >= 3, got {min_inliers!r}")
    h_base = cal.homography(baseline_cal)
    h_follow = cal.homography(follow_cal)

    plane: np.ndarray | None = None
    method: RegistrationMethod = "sticker-only"
    n_inliers, residual = 0, None
    found = _by_features(
        baseline_image,
        baseline_cal,
        baseline_labels,
        follow_image,
        follow_cal,
        follow_labels,
        mm_per_px=mm_per_px,
        min_inliers=min_inliers,
    )
    if found is not None:
        plane, n_inliers, residual = found
        method = "features"
    elif baseline_labels is not None and follow_labels is not None:
        known = positions_of(measure(baseline_labels, baseline_cal)[0], baseline_cal)
        new = positions_of(measure(follow_labels, follow_cal)[0], follow_cal)
        if len(known) >= 2 and len(new) >= 2:
            best = _assign(
                np.array([p.centre_mm for p in known]),
                np.array([p.area_cm2 for p in known]),
                np.array([p.centre_mm for p in new]),
                np.array([p.area_cm2 for p in new]),
                gate=max_distance_mm,
                max_log_ratio=math.log(DEFAULT_MAX_AREA_RATIO),
                similarity=False,
            )
            if len(best.pairs) >= 2:
                plane, method = best.transform, "lesions"
                n_inliers, residual = len(best.pairs), best.residual
        elif len(known) == 1 and len(new) == 1:
            # One wound each: put its centre on the earlier one's (the sticker moved); the
            # rotation stays the stickers', which nothing else here can tell.
            plane = np.eye(3)
            plane[:2, 2] = np.subtract(known[0].centre_mm, new[0].centre_mm)
            method, n_inliers, residual = "lesion-centre", 1, 0.0
    if plane is None:
        plane = np.eye(3)
    follow_to_baseline = np.linalg.inv(h_base) @ plane @ h_follow
    follow_to_baseline /= follow_to_baseline[2, 2]
    rotation = math.degrees(math.atan2(plane[1, 0], plane[0, 0]))
    log.debug("registration by %s: %d inliers, rotation %.1f deg", method, n_inliers, rotation)
    return Registration(
        follow_to_baseline=_as_tuple(follow_to_baseline),
        follow_to_baseline_plane=_as_tuple(plane),
        method=method,
        n_inliers=int(n_inliers),
        residual_mm=None if residual is None else float(residual),
        rotation_deg=float(rotation),
    )


def _by_features(
    baseline_image: np.ndarray,
    baseline_cal: Calibration,
    baseline_labels: np.ndarray | None,
    follow_image: np.ndarray,
    follow_cal: Calibration,
    follow_labels: np.ndarray | None,
    *,
    mm_per_px: float,
    min_inliers: int,
) -> tuple[np.ndarray, int, float] | None:
    """Rigid plane map follow mm -> baseline mm from SIFT on the rectified photos, or None."""
    photos = (
        (baseline_image, baseline_cal, baseline_labels),
        (follow_image, follow_cal, follow_labels),
    )
    extents = [_default_extent(img.shape, c, lab, mm_per_px) for img, c, lab in photos]
    longest_mm = max(max(x1 - x0, y1 - y0) for x0, y0, x1, y1 in extents)
    scale_mm = max(mm_per_px, longest_mm / _FEATURE_MAX_SIDE_PX)
    sift = cv2.SIFT_create(nfeatures=_MAX_FEATURES)
    found = []
    for (image, calibration, _labels), extent in zip(photos, extents, strict=True):
        rect, image_to_rect = rectify(image, calibration, mm_per_px=scale_mm, extent_mm=extent)
        mask = _feature_mask(image.shape, calibration, image_to_rect, rect.shape)
        grey = cv2.cvtColor(rect, cv2.COLOR_RGB2GRAY)
        keypoints, descriptors = sift.detectAndCompute(grey, mask)
        if descriptors is None or len(keypoints) < min_inliers:
            log.debug("features: only %d keypoints", len(keypoints))
            return None
        rect_to_plane = np.linalg.inv(image_to_rect @ np.linalg.inv(cal.homography(calibration)))
        xy = np.array([k.pt for k in keypoints], dtype=np.float64)
        found.append((_apply(rect_to_plane, xy), descriptors))
    (base_mm, base_desc), (follow_mm, follow_desc) = found
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    pairs = [
        best
        for best, second in (
            m for m in matcher.knnMatch(follow_desc, base_desc, k=2) if len(m) == 2
        )
        if best.distance < _LOWE_RATIO * second.distance
    ]
    if len(pairs) < min_inliers:
        log.debug("features: only %d matches pass the ratio test", len(pairs))
        return None
    src = follow_mm[[p.queryIdx for p in pairs]]
    dst = base_mm[[p.trainIdx for p in pairs]]
    affine, inliers = cv2.estimateAffinePartial2D(
        src.astype(np.float32),
        dst.astype(np.float32),
        method=cv2.RANSAC,
        ransacReprojThreshold=max(_RANSAC_THRESHOLD_MM, 3 * scale_mm),
        maxIters=5000,
        confidence=0.999,
    )
    if affine is None or inliers is None:
        return None
    keep = inliers.ravel().astype(bool)
    scale = math.hypot(affine[0, 0], affine[1, 0])
    if keep.sum() < min_inliers or abs(scale - 1.0) > MAX_FEATURE_SCALE_ERROR:
        log.debug("features: %d inliers, scale %.3f: rejected", keep.sum(), scale)
        return None
    plane = _fit(src[keep], dst[keep], similarity=False)
    assert plane is not None  # a rigid fit always exists
    residual = float(np.sqrt(np.mean(np.sum((_apply(plane, src[keep]) - dst[keep]) ** 2, 1))))
    return plane, int(keep.sum()), residual


def _feature_mask(
    image_shape: tuple[int, ...],
    calibration: Calibration,
    image_to_rect: np.ndarray,
    rect_shape: tuple[int, ...],
) -> np.ndarray:
    """uint8 mask of the rectified photo where features may be sought (255) or not (0)."""
    height, width = rect_shape[:2]
    inside = cv2.warpPerspective(
        np.full(image_shape[:2], 255, np.uint8),
        image_to_rect,
        (width, height),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    # The photo's edge is a strong false feature: keep clear of it.
    mask = cv2.erode(inside, np.ones((9, 9), np.uint8))
    if calibration.method == "aruco" and calibration.marker_mm is not None:
        outline = cal.sticker_outline_px(calibration, margin_mm=_STICKER_MASK_MARGIN_MM)
        outline_rect = cv2.perspectiveTransform(outline.reshape(-1, 1, 2), image_to_rect)
        cv2.fillPoly(mask, [np.round(outline_rect.reshape(-1, 2)).astype(np.int32)], 0)
    return mask


def warp_to_baseline(
    follow_image: np.ndarray, registration: Registration, baseline_shape: tuple[int, ...]
) -> np.ndarray:
    """The follow-up photo resampled onto the baseline photo's pixels (bilinear).

    Parameters
    ----------
    follow_image : (H, W, 3) or (H, W) ndarray
    registration : Registration
    baseline_shape : tuple
        The baseline photo's shape; only its first two entries (height, width) are used.

    Returns
    -------
    ndarray
        Of the baseline's height and width, the follow image's dtype and channels; black where
        the follow-up photo does not reach.

    Raises
    ------
    ValueError
        If ``baseline_shape`` does not start with a positive height and width.
    """
    return _warp(follow_image, registration, baseline_shape, cv2.INTER_LINEAR)


def warp_labels_to_baseline(
    follow_labels: np.ndarray, registration: Registration, baseline_shape: tuple[int, ...]
) -> np.ndarray:
    """The follow-up label map resampled onto the baseline photo's pixels (nearest label).

    As :func:`warp_to_baseline`; labels are never blended, and 0 (skin/background) fills where
    the follow-up photo does not reach.
    """
    return _warp(follow_labels, registration, baseline_shape, cv2.INTER_NEAREST)


def _warp(
    image: np.ndarray, registration: Registration, baseline_shape: tuple[int, ...], flags: int
) -> np.ndarray:
    if len(baseline_shape) < 2 or min(baseline_shape[:2]) < 1:
        raise ValueError(
            f"baseline_shape must start with the baseline photo's (height, width), got "
            f"{baseline_shape!r}"
        )
    height, width = int(baseline_shape[0]), int(baseline_shape[1])
    return cv2.warpPerspective(
        image,
        registration.matrix,
        (width, height),
        flags=flags,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def _as_tuple(matrix: np.ndarray) -> tuple[tuple[float, float, float], ...]:
    return tuple(tuple(float(v) for v in row) for row in matrix)  # type: ignore[return-value]


__all__ = [
    "DEFAULT_MAX_AREA_RATIO",
    "INLIER_SHARE_OF_GATE",
    "MAX_FEATURE_SCALE_ERROR",
    "MAX_RECTIFIED_SIDE_PX",
    "MIN_FEATURE_INLIERS",
    "SIZE_WEIGHT_OF_GATE",
    "LesionPosition",
    "Registration",
    "lesion_positions",
    "match_lesions",
    "positions_of",
    "rectify",
    "register",
    "warp_labels_to_baseline",
    "warp_to_baseline",
]
