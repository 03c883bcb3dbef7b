"""Measurements: label map + calibration -> per-lesion areas, perimeter, length and width.

Owns the arithmetic from pixels to clinical figures. Every area is summed pixel by pixel on the
rectified skin plane (each pixel weighted by the homography's local area scale, see
``calibration.pixel_area_mm2``), and every length is measured between points mapped onto that
plane, so a tilted photo gives the same figures as a square-on one. Length is the longest axis of
the wound (maximum Feret diameter) and width the longest extent perpendicular to it, as clinicians
measure with a ruler; the erythema's reach is its furthest pixel's distance from the nearest
pixel of the wound bed. Without calibration the same figures are given in pixels and every cm² or cm
field is ``None``. Pure functions, no I/O.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from woundtrack.image import calibration as cal
from woundtrack.models import (
    AREA_NAMES,
    BED_TISSUES,
    ERYTHEMA,
    ESCHAR,
    GRANULATION,
    TISSUES,
    Calibration,
    LesionMeasurement,
    Totals,
)

_MM2_PER_CM2 = 100.0
_MM_PER_CM = 10.0
_LABELS = tuple(t.label for t in TISSUES)


def measure(labels: np.ndarray, calibration: Calibration) -> tuple[list[LesionMeasurement], Totals]:
    """Measure every lesion (connected wound bed) of a label map.

    Parameters
    ----------
    labels : (H, W) ndarray of uint8
        0 skin/background, 1 granulation, 2 slough, 3 eschar, 4 erythema.
    calibration : Calibration
        ``method="none"`` gives pixel figures only.

    Returns
    -------
    lesions : list of LesionMeasurement
        Largest wound first; erythema is credited to the nearest lesion.
    totals : Totals
        Sums over all lesions.

    Raises
    ------
    ValueError
        If ``labels`` is not a 2-D uint8 array with values 0-4.
    """
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(
            f"measure expects an (H, W) uint8 label map, got {labels.shape} {labels.dtype}"
        )
    if labels.size and labels.max() > ERYTHEMA:
        raise ValueError(f"label map holds value {int(labels.max())}; only 0-4 are defined")
    # Everything happens in the box around the labelled pixels (a wound is small in a 12 MP
    # photo); coordinates are the photo's own again wherever they leave this function.
    left, top, box_w, box_h = cv2.boundingRect(labels)
    crop = labels[top : top + box_h, left : left + box_w]
    bed = ((crop >= GRANULATION) & (crop <= ESCHAR)).astype(np.uint8)
    if not bed.any():
        return [], _totals([], calibration.calibrated)

    count, components, stats, _ = cv2.connectedComponentsWithStats(bed, connectivity=8)
    ys, xs = np.nonzero(crop)
    values = crop[ys, xs]
    owner, nearest_x, nearest_y = _owner_lesion(crop, components, ys, xs)
    xs, ys = xs + left, ys + top
    nearest_x, nearest_y = nearest_x + left, nearest_y + top
    if calibration.calibrated:
        weight_mm2 = cal.pixel_area_mm2(calibration, xs, ys)
    else:
        weight_mm2 = None

    lesions = []
    for i in range(1, count):
        mine = owner == i
        area_px = {t: int(np.count_nonzero(mine & (values == t))) for t in _LABELS}
        if weight_mm2 is not None:
            area_cm2 = {
                t: float(weight_mm2[mine & (values == t)].sum()) / _MM2_PER_CM2 for t in _LABELS
            }
        else:
            area_cm2 = None
        x, y, w, h, _ = stats[i]
        lesion_mask = components[y : y + h, x : x + w] == i
        x, y = x + left, y + top
        outline_px = _outline(lesion_mask) + np.array([x, y], dtype=np.float64)
        shape_px = _shape_figures(outline_px)
        shape_mm = (
            _shape_figures(cal.to_plane_mm(calibration, outline_px))
            if weight_mm2 is not None
            else None
        )
        centroid = (
            float(xs[mine & (values != ERYTHEMA)].mean()),
            float(ys[mine & (values != ERYTHEMA)].mean()),
        )
        perimeter_cm = length_cm = width_cm = None
        if shape_mm is not None:
            # Feret diameters between pixel centres miss half a pixel at each end.
            pixel_mm = cal.mm_per_px_at(calibration, *centroid)
            perimeter_cm = shape_mm[0] / _MM_PER_CM
            length_cm = (shape_mm[1] + pixel_mm) / _MM_PER_CM
            width_cm = (shape_mm[2] + pixel_mm) / _MM_PER_CM
        # How far its erythema reaches: each erythema pixel against the nearest pixel of the bed.
        red = mine & (values == ERYTHEMA)
        reach_px, reach_cm = 0.0, (None if shape_mm is None else 0.0)
        if red.any():
            reach_px = float(np.hypot(xs[red] - nearest_x[red], ys[red] - nearest_y[red]).max())
            if shape_mm is not None:
                far = cal.to_plane_mm(calibration, np.column_stack([xs[red], ys[red]]))
                near = cal.to_plane_mm(
                    calibration, np.column_stack([nearest_x[red], nearest_y[red]])
                )
                reach_cm = float(np.hypot(*(far - near).T).max()) / _MM_PER_CM
        lesions.append(
            _lesion(
                centroid=centroid,
                bbox=(int(x), int(y), int(w), int(h)),
                area_px=area_px,
                area_cm2=area_cm2,
                perimeter_px=shape_px[0],
                length_px=shape_px[1] + 1.0,
                width_px=shape_px[2] + 1.0,
                perimeter_cm=perimeter_cm,
                length_cm=length_cm,
                width_cm=width_cm,
                erythema_reach_cm=reach_cm,
                erythema_reach_px=reach_px,
            )
        )
    lesions.sort(key=lambda m: -m.wound_area_px)
    lesions = [_with_index(m, n) for n, m in enumerate(lesions, start=1)]
    return lesions, _totals(lesions, calibration.calibrated)


def erythema_reach_text(erythema_area_cm2: float | None, erythema_reach_cm: float | None) -> str:
    """ ", reaching 1.2 cm from the edge", to follow an erythema's area where people read it;
    "" when there is no erythema or its reach is not known."""
    if not erythema_area_cm2 or erythema_reach_cm is None:
        return ""
    return f", reaching {erythema_reach_cm:.1f} cm from the edge"


def nearest_lesion(
    labels: np.ndarray, lesions: list[LesionMeasurement], box: tuple[slice, slice]
) -> np.ndarray:
    """For each pixel of ``labels[box]``, the ``index`` of the lesion whose wound bed is nearest
    (``lesions`` as ``measure`` gave them for ``labels``; 0 where there is none).

    Parameters
    ----------
    labels : (H, W) ndarray of uint8
        The label map ``lesions`` were measured on.
    lesions : list of LesionMeasurement
    box : (slice, slice)
        The part of the photo to answer for.

    Returns
    -------
    (h, w) ndarray of int32, ``labels[box]``'s shape.
    """
    (y0, y1), (x0, x1) = (box[0].start, box[0].stop), (box[1].start, box[1].stop)
    if not lesions or y1 <= y0 or x1 <= x0:
        return np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), np.int32)
    # work in the box around the beds and ``box`` together (a pixel's nearest bed may lie
    # outside ``box``), never the whole photo: a 12 MP photo's wounds are a small part of it
    left = min([x0] + [m.bbox_px[0] for m in lesions])
    top = min([y0] + [m.bbox_px[1] for m in lesions])
    right = max([x1] + [m.bbox_px[0] + m.bbox_px[2] for m in lesions])
    bottom = max([y1] + [m.bbox_px[1] + m.bbox_px[3] for m in lesions])
    crop = labels[top:bottom, left:right]
    crop = ((crop >= GRANULATION) & (crop <= ESCHAR)).view(np.uint8)
    count, components, stats, _ = cv2.connectedComponentsWithStats(crop, connectivity=8)
    # measure's lesion i is the component with its box and bed area
    index_of = {(tuple(m.bbox_px), m.wound_area_px): m.index for m in lesions}
    to_index = np.zeros(count, np.int32)
    for c in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[c])
        to_index[c] = index_of.get(((x + left, y + top, w, h), area), 0)
    _, voronoi = cv2.distanceTransformWithLabels(
        1 - crop, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    # each bed pixel is its own Voronoi seed, numbered in scan order
    seed_to_index = np.zeros(int(voronoi.max()) + 1, np.int32)
    seeds = crop > 0
    seed_to_index[voronoi[seeds]] = to_index[components[seeds]]
    return seed_to_index[voronoi[y0 - top : y1 - top, x0 - left : x1 - left]]


def _owner_lesion(
    labels: np.ndarray, components: np.ndarray, ys: np.ndarray, xs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each labelled pixel, the wound component it belongs to (erythema: the nearest wound),
    and the nearest pixel of that wound (x, y; a wound pixel is its own)."""
    owner = components[ys, xs].astype(np.int32)
    near_x, near_y = xs.copy(), ys.copy()
    erythema = owner == 0
    if not erythema.any():
        return owner, near_x, near_y
    # Nearest wound for erythema pixels, computed in the bounding box of everything labelled.
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    box = components[y0:y1, x0:x1]
    src = (box == 0).astype(np.uint8)
    _, voronoi = cv2.distanceTransformWithLabels(
        src, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    # Each wound pixel is its own Voronoi seed; map seed labels back to component ids and places.
    seeds = box > 0
    seed_y, seed_x = np.nonzero(seeds)
    seed_ids = voronoi[seed_y, seed_x]
    seed_to_component = np.zeros(int(voronoi.max()) + 1, dtype=np.int32)
    seed_to_component[seed_ids] = box[seed_y, seed_x]
    seed_to_x = np.zeros_like(seed_to_component)
    seed_to_y = np.zeros_like(seed_to_component)
    seed_to_x[seed_ids], seed_to_y[seed_ids] = seed_x + x0, seed_y + y0
    nearest = voronoi[ys[erythema] - y0, xs[erythema] - x0]
    owner[erythema] = seed_to_component[nearest]
    near_x[erythema], near_y[erythema] = seed_to_x[nearest], seed_to_y[nearest]
    return owner, near_x, near_y


def _outline(mask: np.ndarray) -> np.ndarray:
    """(N, 2) outer contour of a binary mask (largest part), through boundary pixel centres."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    # A staircase of pixel steps is ~5-8 % longer than the smooth border it samples.
    smooth = cv2.approxPolyDP(contour, 0.9, closed=True)
    if len(smooth) < 3:
        smooth = contour
    return smooth.reshape(-1, 2).astype(np.float64)


def _shape_figures(points: np.ndarray) -> tuple[float, float, float]:
    """Perimeter, length (max Feret) and width (extent perpendicular to it) of a closed outline."""
    perimeter = float(
        np.linalg.norm(np.diff(np.vstack([points, points[:1]]), axis=0), axis=1).sum()
    )
    hull = cv2.convexHull(points.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    if len(hull) < 2:
        return perimeter, 0.0, 0.0
    diff = hull[:, None, :] - hull[None, :, :]
    dist = np.hypot(diff[..., 0], diff[..., 1])
    i, j = np.unravel_index(int(np.argmax(dist)), dist.shape)
    length = float(dist[i, j])
    axis = (hull[j] - hull[i]) / (length or 1.0)
    across = hull @ np.array([-axis[1], axis[0]])
    return perimeter, length, float(across.max() - across.min())


def _lesion(
    *,
    centroid,
    bbox,
    area_px,
    area_cm2,
    perimeter_px,
    length_px,
    width_px,
    perimeter_cm,
    length_cm,
    width_cm,
    erythema_reach_cm,
    erythema_reach_px,
) -> LesionMeasurement:
    bed_px = sum(area_px[t.label] for t in BED_TISSUES)
    if area_cm2 is not None:
        bed = sum(area_cm2[t.label] for t in BED_TISSUES)
        shares = {t.label: 100.0 * area_cm2[t.label] / bed if bed > 0 else 0.0 for t in BED_TISSUES}
    else:
        bed = None
        shares = {
            t.label: 100.0 * area_px[t.label] / bed_px if bed_px else 0.0 for t in BED_TISSUES
        }
    cm2 = (lambda t: None) if area_cm2 is None else (lambda t: area_cm2[t])
    return LesionMeasurement(
        index=0,
        centroid_px=centroid,
        bbox_px=bbox,
        wound_area_px=bed_px,
        wound_area_cm2=bed,
        **{t.area_px_field: area_px[t.label] for t in TISSUES},
        **{t.area_cm2_field: cm2(t.label) for t in TISSUES},
        **{t.pct_field: min(100.0, shares[t.label]) for t in BED_TISSUES},
        perimeter_cm=perimeter_cm,
        length_cm=length_cm,
        width_cm=width_cm,
        perimeter_px=perimeter_px,
        length_px=length_px,
        width_px=width_px,
        erythema_reach_cm=erythema_reach_cm,
        erythema_reach_px=erythema_reach_px,
    )


def _with_index(m: LesionMeasurement, index: int) -> LesionMeasurement:
    return dataclasses.replace(m, index=index)


def _totals(lesions: list[LesionMeasurement], calibrated: bool) -> Totals:
    px = {n: sum(getattr(m, f"{n}_area_px") for m in lesions) for n in AREA_NAMES}
    cm2 = {
        n: (math.fsum(getattr(m, f"{n}_area_cm2") for m in lesions) if calibrated else None)
        for n in AREA_NAMES
    }
    return Totals(
        **{f"{n}_area_px": px[n] for n in AREA_NAMES},
        **{f"{n}_area_cm2": cm2[n] for n in AREA_NAMES},
    )
