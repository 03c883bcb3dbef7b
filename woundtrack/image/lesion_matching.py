"""Lesion identity across visits: which lesion of a new photo is which known lesion.

The calibration sticker is re-stuck somewhere else at every dressing change, and each photo's
plane coordinates are millimetres in its sticker's own frame, so the planes of two visits differ by
an unknown rotation and translation (scale 1: both are millimetres). Lesions are therefore matched
on their constellation, never on absolute positions: every pairing hypothesis gives a rigid
transform, the lesions are assigned one-to-one under it (Hungarian method) with a cost of aligned
distance plus a mild size-change term, and the hypothesis that explains the most lesions most
tightly wins. Pure functions, no I/O; the record (``woundtrack.record``) files the labels.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment
from skimage.transform import EuclideanTransform, SimilarityTransform

from woundtrack.image import calibration as cal
from woundtrack.models import Calibration, LesionMeasurement

if TYPE_CHECKING:
    from woundtrack.image.pipeline import Analysis

log = logging.getLogger(__name__)

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
#: worsening stays well within it); ``area_ratio_gate`` widens it for visits weeks apart.
DEFAULT_MAX_AREA_RATIO = 5.0
#: For photos more than a week apart the gate widens by this factor per further week: a wound may
#: halve every week (faster than a chronic wound heals). Without it the demo's wound, 8.3 cm² at
#: week 2 and 0.92 cm² at week 9 (visits missed in hospital), became a new lesion.
AREA_RATIO_PER_WEEK_APART = 2.0
#: A debridement between the two photos widens the gate to at least this factor: cutting away an
#: eschar can make a wound many times larger overnight (1 cm² of eschar excised to 30 cm², say).
AFTER_DEBRIDEMENT_AREA_RATIO = 100.0
#: ... up to this factor (the gate stops mattering long before; a float power must not overflow).
_LARGEST_AREA_RATIO = 1e4
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
    """The best constellation hypothesis: index pairs (new, known) and the map new -> known.

    ``transform`` and ``residual`` are None when no map was found (fewer than two pairs).
    """

    pairs: tuple[tuple[int, int], ...]
    transform: np.ndarray | None  # (3, 3) new frame -> known frame
    residual: float | None  # RMS aligned distance of the pairs, in the frame's unit


def area_ratio_gate(days_apart: int | None, *, debrided: bool = False) -> float:
    """The largest factor by which a lesion's area may change between two photos taken
    ``days_apart`` days apart (either order) and still be matched as the same lesion.

    ``DEFAULT_MAX_AREA_RATIO`` within a week, and ``AREA_RATIO_PER_WEEK_APART`` times more for
    every further week; the default when a date is unknown (``None``). ``debrided``: a
    debridement was done between the photos, so the gate is at least
    ``AFTER_DEBRIDEMENT_AREA_RATIO``.

    >>> area_ratio_gate(7), area_ratio_gate(14), area_ratio_gate(None)
    (5.0, 10.0, 5.0)
    >>> area_ratio_gate(7, debrided=True)
    100.0
    """
    gate = DEFAULT_MAX_AREA_RATIO
    if days_apart is not None:
        weeks_beyond_one = max(0.0, abs(days_apart) / 7 - 1)
        widest = math.log(_LARGEST_AREA_RATIO / DEFAULT_MAX_AREA_RATIO, AREA_RATIO_PER_WEEK_APART)
        gate *= AREA_RATIO_PER_WEEK_APART ** min(weeks_beyond_one, widest)
    return max(gate, AFTER_DEBRIDEMENT_AREA_RATIO) if debrided else gate


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
        Largest factor by which a lesion's area may change between the two photos (> 1);
        ``area_ratio_gate`` gives it for photos some days apart.
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
        dist = np.linalg.norm(apply_affine(t, n_xy)[:, None, :] - k_xy[None, :, :], axis=2)
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
        return _Assignment(pairs=pairs, transform=t, residual=residual)

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
                refit = fit_rigid(
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
    else:  # one pair at most: no map
        best = _Assignment(pairs=() if single is None else (single,), transform=None, residual=None)
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


def apply_affine(t: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Apply a 3x3 affine map to (N, 2) points."""
    return xy @ t[:2, :2].T + t[:2, 2]


def fit_rigid(src: np.ndarray, dst: np.ndarray, *, similarity: bool) -> np.ndarray | None:
    """Least-squares rigid (or similarity) map src -> dst, a proper rotation (Umeyama 1991).

    The map is ``skimage.transform.EuclideanTransform.from_estimate`` (``SimilarityTransform``
    when ``similarity``): Umeyama's closed form, which turns a reflection into the nearest proper
    rotation (the skin is seen from the front in both photos).

    Parameters
    ----------
    src, dst : (N, 2) ndarray
        Corresponding points; the map takes ``src`` onto ``dst``.
    similarity : bool
        Also fit one scale factor (uncalibrated photos); else the scale is 1.

    Returns
    -------
    (3, 3) ndarray or None
        The homogeneous map. ``None`` for a similarity whose ``src`` points all coincide (no
        scale can be fitted) or whose scale lies outside ``[1/8, 8]``
        (``_MAX_SIMILARITY_SCALE``). A rigid map always exists: when every ``src`` or every
        ``dst`` point coincides (scikit-image declines to estimate) it is the translation of the
        centroids.
    """
    if similarity:
        if float(src.var(axis=0).sum()) <= 1e-18:
            return None
        fitted = SimilarityTransform.from_estimate(src, dst)
        if not fitted or not 1 / _MAX_SIMILARITY_SCALE <= fitted.scale <= _MAX_SIMILARITY_SCALE:
            return None
        return fitted.params
    fitted = EuclideanTransform.from_estimate(src, dst)
    if fitted:
        return fitted.params
    t = np.eye(3)
    t[:2, 2] = dst.mean(axis=0) - src.mean(axis=0)
    return t


def constellation_transform(
    known: Sequence[LesionPosition], new: Sequence[LesionPosition], *, max_distance_mm: float
) -> tuple[np.ndarray, int, float | None] | None:
    """The rigid plane map new -> known that best explains the calibrated lesions' constellation.

    Returns ``(transform (3, 3), number of matched pairs, RMS aligned distance in mm)``, or None
    when fewer than two pairs match (two points fix a rigid map; one does not).
    """
    best = _assign(
        np.array([p.centre_mm for p in known]),
        np.array([p.area_cm2 for p in known]),
        np.array([p.centre_mm for p in new]),
        np.array([p.area_cm2 for p in new]),
        gate=max_distance_mm,
        max_log_ratio=math.log(DEFAULT_MAX_AREA_RATIO),
        similarity=False,
    )
    if best.transform is None or len(best.pairs) < 2:
        return None
    return best.transform, len(best.pairs), best.residual


__all__ = [
    "AREA_RATIO_PER_WEEK_APART",
    "DEFAULT_MAX_AREA_RATIO",
    "INLIER_SHARE_OF_GATE",
    "SIZE_WEIGHT_OF_GATE",
    "LesionPosition",
    "apply_affine",
    "area_ratio_gate",
    "constellation_transform",
    "fit_rigid",
    "lesion_positions",
    "match_lesions",
    "positions_of",
]
