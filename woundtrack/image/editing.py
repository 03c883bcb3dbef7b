"""A person's review of an outline: drawn corrections to a label map, and two visits side by side.

Owns what a clinician's drawing means for the label map. A correction is a polygon in photo pixel
coordinates (x to the right, y down, pixel ``(row, col)`` centred on ``(x=col, y=row)``, as
``plotly`` shows an image and as ``cv2``/scikit-image address it) and a label: the pixels whose
centres lie inside the polygon or on its edge take that label (1-4 to add a tissue, 0 to erase
back to skin); everything else is left as it was. The rule is the classic scan-line one, so a
square from ``(1.5, 1.5)`` to ``(4.5, 4.5)`` covers exactly the 3 x 3 pixels centred at 2, 3, 4,
whatever the photo, and the result does not depend on how the polygon's vertices are ordered.
Also here: what the compare page shows of two visits, namely both photos on one top view of the
skin plane (through a ``registration.Registration``) with a scale bar, and each lesion's figures
with their change. Pure functions, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import cv2
import numpy as np

from woundtrack.errors import CalibrationError
from woundtrack.image.registration import Registration, rectify, warp_labels_to_baseline
from woundtrack.models import BACKGROUND, ERYTHEMA, LABEL_NAMES, Calibration

#: Label values a correction may paint (0 erases back to skin).
PAINTABLE = tuple(range(BACKGROUND, ERYTHEMA + 1))
#: Twice the signed area (px²) below which a polygon is taken as a line or a point: a lasso that
#: was only a click, or points all on one line.
_MIN_DOUBLE_AREA_PX2 = 1e-6
#: Tolerance (px) within which a pixel centre counts as on a slanted edge: float rounding only.
_ON_EDGE_TOL_PX = 1e-9


@dataclass(frozen=True, slots=True, kw_only=True)
class Edit:
    """One drawn correction: paint ``value`` into ``polygon_px`` (photo pixel coordinates).

    ``value`` is 0 (erase back to skin) or a tissue label 1-4 (granulation, slough, eschar,
    erythema). ``polygon_px`` is a sequence of ``(x, y)`` vertices; the polygon closes itself.
    """

    polygon_px: tuple[tuple[float, float], ...]
    value: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "polygon_px", tuple(map(tuple, check_polygon(self.polygon_px))))
        _check_value(self.value)

    @property
    def action(self) -> str:
        """What the edit does, in words (``"erase"`` or ``"add slough"``)."""
        return "erase" if self.value == BACKGROUND else f"add {LABEL_NAMES[self.value]}"


def check_polygon(polygon_px: Iterable[Sequence[float]]) -> np.ndarray:
    """Validate a polygon and return it as an ``(N, 2)`` float64 array of ``(x, y)``.

    A repeated closing vertex (the first point again at the end, as a lasso returns it) is
    dropped.

    Raises
    ------
    ValueError
        If it is not a list of ``(x, y)`` pairs of finite numbers, has fewer than three distinct
        vertices, or encloses no area (all its points on one line).
    """
    try:
        points = np.asarray(list(polygon_px), dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            "a polygon must be a list of (x, y) pixel coordinates; got something else"
        ) from None
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(
            f"a polygon must be a list of (x, y) pixel coordinates, got an array of shape "
            f"{points.shape}"
        )
    if not np.isfinite(points).all():
        raise ValueError("a polygon's coordinates must be finite numbers; got NaN or infinity")
    if len(points) > 1 and np.array_equal(points[0], points[-1]):
        points = points[:-1]
    if len(np.unique(points, axis=0)) < 3:
        raise ValueError(
            f"a polygon needs at least 3 distinct corners, got {len(np.unique(points, axis=0))}; "
            "draw round the area instead of clicking once"
        )
    x, y = points[:, 0], points[:, 1]
    double_area = abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    if double_area < _MIN_DOUBLE_AREA_PX2:
        raise ValueError(
            "the polygon encloses no area (its corners lie on one line); draw round the area"
        )
    return points


def rasterise_polygon(polygon_px: Iterable[Sequence[float]], shape: tuple[int, ...]) -> np.ndarray:
    """The pixels of an image covered by a polygon.

    Parameters
    ----------
    polygon_px : sequence of (x, y)
        Vertices in pixel coordinates (pixel ``(row, col)`` is centred on ``x=col, y=row``); the
        polygon closes itself and may reach outside the image.
    shape : tuple
        The image's shape; only ``(height, width)`` is used.

    Returns
    -------
    (H, W) ndarray of bool
        True where the pixel's centre lies inside the polygon or on its edge; parts of the
        polygon outside the image are clipped away.

    Raises
    ------
    ValueError
        If the polygon is degenerate (see :func:`check_polygon`) or ``shape`` does not start with
        a positive height and width.

    Examples
    --------
    >>> int(rasterise_polygon([(1.5, 1.5), (4.5, 1.5), (4.5, 4.5), (1.5, 4.5)], (8, 8)).sum())
    9
    """
    points = check_polygon(polygon_px)
    if len(shape) < 2 or int(shape[0]) < 1 or int(shape[1]) < 1:
        raise ValueError(f"shape must start with a positive (height, width), got {shape!r}")
    height, width = int(shape[0]), int(shape[1])
    mask = np.zeros((height, width), dtype=bool)
    x1, y1 = points[:, 0], points[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    row_lo = max(0, math.ceil(float(y1.min())))
    row_hi = min(height - 1, math.floor(float(y1.max())))
    slanted = y1 != y2
    for row in range(row_lo, row_hi + 1):
        # Interior: even-odd crossings, each edge half-open in y so a vertex on the scan line
        # counts once.
        crossing = slanted & ((y1 <= row) != (y2 <= row))
        xs = _x_at(row, x1[crossing], y1[crossing], x2[crossing], y2[crossing])
        xs.sort()
        for left, right in zip(xs[0::2], xs[1::2], strict=True):
            _fill(mask[row], left, right)
        # Edge: a centre exactly on a slanted edge, and horizontal edges along the line.
        touching = slanted & (np.minimum(y1, y2) <= row) & (row <= np.maximum(y1, y2))
        for x in _x_at(row, x1[touching], y1[touching], x2[touching], y2[touching]):
            if abs(x - round(x)) <= _ON_EDGE_TOL_PX and 0 <= round(x) < width:
                mask[row, round(x)] = True
        flat = ~slanted & (y1 == row)
        for a, b in zip(x1[flat], x2[flat], strict=True):
            _fill(mask[row], min(a, b), max(a, b))
    return mask


def _x_at(row: float, x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray) -> np.ndarray:
    return x1 + (row - y1) * (x2 - x1) / (y2 - y1)


def _fill(line: np.ndarray, left: float, right: float) -> None:
    """Set the pixels of one row whose centres lie in ``[left, right]``, clipped to the row."""
    first = max(0, math.ceil(left - _ON_EDGE_TOL_PX))
    last = min(len(line) - 1, math.floor(right + _ON_EDGE_TOL_PX))
    if first <= last:
        line[first : last + 1] = True


def apply_polygon(
    labels: np.ndarray, polygon_px: Iterable[Sequence[float]], *, value: int
) -> np.ndarray:
    """Paint one label into a polygon of a label map.

    Parameters
    ----------
    labels : (H, W) ndarray of uint8
        0 skin, 1 granulation, 2 slough, 3 eschar, 4 erythema; not modified.
    polygon_px : sequence of (x, y)
        In the label map's pixel coordinates (see :func:`rasterise_polygon`).
    value : int
        0 erases back to skin; 1-4 adds that tissue, over whatever was there.

    Returns
    -------
    (H, W) ndarray of uint8
        A new label map.

    Raises
    ------
    ValueError
        If ``labels`` is not a 2-D uint8 map, ``value`` is not 0-4, or the polygon is degenerate.

    Examples
    --------
    >>> out = apply_polygon(np.zeros((6, 6), np.uint8), [(1, 1), (3, 1), (3, 3)], value=2)
    >>> int((out == 2).sum())
    6
    """
    _check_labels(labels)
    _check_value(value)
    out = labels.copy()
    out[rasterise_polygon(polygon_px, labels.shape)] = value
    return out


def apply_edits(labels: np.ndarray, edits: Iterable[Edit]) -> np.ndarray:
    """Apply corrections in order (a later one paints over an earlier one); a new label map.

    Raises
    ------
    ValueError
        As :func:`apply_polygon`.
    """
    _check_labels(labels)
    out = labels.copy()
    for edit in edits:
        out[rasterise_polygon(edit.polygon_px, labels.shape)] = edit.value
    return out


def lasso_polygons(selection: Mapping[str, Any] | None) -> list[tuple[tuple[float, float], ...]]:
    """The polygons of a Plotly lasso selection, as Streamlit returns it from ``st.plotly_chart``.

    ``selection`` is the chart's event (``{"selection": {"lasso": [{"x": [...], "y": [...]}]}}``)
    or its ``"selection"`` part. Lassos with fewer than three points (a click) are left out.

    Returns
    -------
    list of tuple of (x, y)
        In the chart's data coordinates, one polygon per lasso; empty when nothing was drawn.
    """
    if not selection:
        return []
    inner = selection.get("selection", selection)
    if not isinstance(inner, Mapping):
        return []
    out = []
    for lasso in inner.get("lasso") or []:
        xs, ys = lasso.get("x") or [], lasso.get("y") or []
        if len(xs) != len(ys) or len(xs) < 3:
            continue
        try:
            out.append(tuple((float(x), float(y)) for x, y in zip(xs, ys, strict=True)))
        except (TypeError, ValueError):
            continue
    return out


#: Figures compared between two visits: (field, what a person reads, unit, is a share of the bed).
COMPARED_FIGURES = (
    ("wound_area_cm2", "wound area", "cm²", False),
    ("eschar_area_cm2", "eschar", "cm²", False),
    ("slough_area_cm2", "slough", "cm²", False),
    ("granulation_area_cm2", "granulation", "cm²", False),
    ("erythema_area_cm2", "erythema", "cm²", False),
    ("erythema_reach_cm", "erythema reach", "cm", False),
    ("length_cm", "length", "cm", False),
    ("width_cm", "width", "cm", False),
    ("perimeter_cm", "perimeter", "cm", False),
    ("eschar_pct", "eschar share of bed", "%", True),
    ("slough_pct", "slough share of bed", "%", True),
    ("granulation_pct", "granulation share of bed", "%", True),
)


def lesion_changes(before: Sequence[Any], after: Sequence[Any]) -> list[dict[str, Any]]:
    """Each lesion's figures at two visits and how they changed.

    Parameters
    ----------
    before, after : sequence of objects with a ``lesion`` label and the fields of
        ``COMPARED_FIGURES`` (e.g. ``woundtrack.record.store.SeriesRow`` of one visit each)

    Returns
    -------
    list of dict
        One row per lesion and figure, lesions in label order: ``lesion``, ``figure``, ``unit``,
        ``before``, ``after``, ``change`` (after - before) and ``change_pct`` (relative to
        before; ``None`` for shares of the bed, whose change is already in percentage points, and
        when before is 0). A lesion seen at one visit only has ``None`` on the other side;
        ``None`` wherever a figure is unknown (an uncalibrated photo has no cm²).

    Examples
    --------
    >>> from types import SimpleNamespace as Row
    >>> figs = {f: 1.0 for f, *_ in COMPARED_FIGURES}
    >>> rows = lesion_changes([Row(lesion="L1", **figs)], [Row(lesion="L1", **{**figs,
    ...     "wound_area_cm2": 0.5})])
    >>> rows[0]["change"], rows[0]["change_pct"]
    (-0.5, -50.0)
    """
    first = {r.lesion: r for r in before}
    second = {r.lesion: r for r in after}
    rows = []
    for lesion in sorted(first.keys() | second.keys(), key=_label_order):
        a, b = first.get(lesion), second.get(lesion)
        for name, figure, unit, share in COMPARED_FIGURES:
            va = None if a is None else getattr(a, name)
            vb = None if b is None else getattr(b, name)
            change = None if va is None or vb is None else vb - va
            pct = None
            if change is not None and not share and va != 0:
                pct = 100.0 * change / va
            rows.append(
                {
                    "lesion": lesion,
                    "figure": figure,
                    "unit": unit,
                    "before": va,
                    "after": vb,
                    "change": change,
                    "change_pct": pct,
                }
            )
    return rows


class TopViews(NamedTuple):
    """``registered_pair``'s two visits on one top view of the baseline's skin plane."""

    baseline_top: np.ndarray  # (h, w, 3) uint8 RGB
    baseline_top_labels: np.ndarray  # (h, w) uint8
    follow_top: np.ndarray
    follow_top_labels: np.ndarray
    mm_per_px: float
    #: 3x3 homographies from each photo's pixels (x, y, 1) to the top view's
    baseline_to_top: np.ndarray
    follow_to_top: np.ndarray


def registered_pair(
    baseline_image: np.ndarray,
    baseline_labels: np.ndarray,
    baseline_cal: Calibration,
    follow_image: np.ndarray,
    follow_labels: np.ndarray,
    registration: Registration,
    *,
    mm_per_px: float | None = None,
    max_side_px: int = 1200,
) -> TopViews:
    """Two visits' photos and label maps on one top view of the baseline's skin plane.

    The baseline photo is rectified (:func:`woundtrack.image.registration.rectify`) over the wounds
    and erythema of both visits, with skin around them (half their extent, at least 15 mm; the whole
    photo when neither has any); the follow-up is resampled onto the same grid through the
    registration, so both show the same skin at the same scale and orientation, pixel for pixel.

    Parameters
    ----------
    baseline_image, follow_image : (H, W, 3) ndarray of uint8, RGB, as displayed
    baseline_labels, follow_labels : (H, W) ndarray of uint8, each matching its photo
    baseline_cal : Calibration
        The baseline photo's, with a homography.
    registration : Registration
        From :func:`woundtrack.image.registration.register` of the follow-up onto the baseline.
    mm_per_px : float, optional
        Finest scale of the top view (mm per pixel); coarsened so that no side exceeds
        ``max_side_px``. By default the baseline photo's own scale at its wounds: every pixel of
        detail the photo has there, and no empty magnification.
    max_side_px : int
        Longest side of the top view, in pixels.

    Returns
    -------
    TopViews
        ``baseline_top``, ``baseline_top_labels``, ``follow_top``, ``follow_top_labels``: RGB
        ``(h, w, 3)`` uint8 images (black where a photo does not reach) and their ``(h, w)``
        uint8 label maps, all of one size; ``mm_per_px``, the scale used; ``baseline_to_top``
        and ``follow_to_top``, where each photo's pixels land (e.g. to name its lesions there).

    Raises
    ------
    woundtrack.errors.CalibrationError
        If the baseline photo has no calibration.
    ValueError
        If a label map does not match its photo, or ``mm_per_px``/``max_side_px`` is not positive.
    """
    for name, lab, img in (
        ("baseline_labels", baseline_labels, baseline_image),
        ("follow_labels", follow_labels, follow_image),
    ):
        _check_labels(lab)
        if lab.shape != img.shape[:2]:
            raise ValueError(f"{name} {lab.shape} do not match the photo {img.shape[:2]}")
    if not baseline_cal.calibrated:
        raise CalibrationError(
            "the earlier photo has no calibration sticker or manual scale, so the two visits "
            "cannot be put on its skin plane; compare them as taken"
        )
    if mm_per_px is None:
        mm_per_px = _photo_mm_per_px(baseline_labels, baseline_cal)
    if not (math.isfinite(mm_per_px) and mm_per_px > 0) or max_side_px < 1:
        raise ValueError(
            f"mm_per_px and max_side_px must be positive, got {mm_per_px!r} and {max_side_px!r}"
        )
    union = np.maximum(
        baseline_labels,
        warp_labels_to_baseline(follow_labels, registration, baseline_image.shape),
    )
    extent = _wounds_extent_mm(union, baseline_cal)
    if extent is not None:
        longest_mm = max(extent[2] - extent[0], extent[3] - extent[1])
        mm_per_px = max(mm_per_px, longest_mm / max_side_px)
        top, to_top = rectify(baseline_image, baseline_cal, mm_per_px=mm_per_px, extent_mm=extent)
    else:
        top, to_top = rectify(baseline_image, baseline_cal, mm_per_px=mm_per_px)
        side = max(top.shape[:2])
        if side > max_side_px:
            mm_per_px *= side / max_side_px
            top, to_top = rectify(baseline_image, baseline_cal, mm_per_px=mm_per_px)
    size = (top.shape[1], top.shape[0])
    top_labels = cv2.warpPerspective(
        baseline_labels, to_top, size, flags=cv2.INTER_NEAREST, borderValue=0
    )
    follow_to_top = to_top @ registration.matrix
    # As rectify does: halve a finer photo first, or its texture aliases on the coarse grid.
    source, source_to_follow = follow_image, np.eye(3)
    ys, xs = np.nonzero(follow_labels)
    cx, cy = (
        (float(xs.mean()), float(ys.mean()))
        if len(xs)
        else (follow_image.shape[1] / 2, follow_image.shape[0] / 2)
    )
    follow_mm_per_px = _local_scale(follow_to_top, cx, cy) * mm_per_px
    while follow_mm_per_px * 2 <= mm_per_px and min(source.shape[:2]) >= 64:
        source = cv2.pyrDown(source)
        source_to_follow = source_to_follow @ np.diag([2.0, 2.0, 1.0])
        follow_mm_per_px *= 2
    follow_top = cv2.warpPerspective(
        source, follow_to_top @ source_to_follow, size, flags=cv2.INTER_LINEAR, borderValue=0
    )
    follow_top_labels = cv2.warpPerspective(
        follow_labels, follow_to_top, size, flags=cv2.INTER_NEAREST, borderValue=0
    )
    return TopViews(
        top, top_labels, follow_top, follow_top_labels, float(mm_per_px), to_top, follow_to_top
    )


#: Skin shown around the wounds of a top view: this share of their extent, at least
#: ``_MIN_MARGIN_MM`` (enough to see the wound edge and some skin texture around it).
_MARGIN_SHARE = 0.5
_MIN_MARGIN_MM = 15.0
#: Labelled pixels mapped to the plane for the extent: a regular subsample of at most this many.
_MAX_EXTENT_POINTS = 20000


def _wounds_extent_mm(
    labels: np.ndarray, calibration: Calibration
) -> tuple[float, float, float, float] | None:
    """The plane rectangle (mm) around every labelled pixel, with skin around; None if none."""
    ys, xs = np.nonzero(labels)
    if len(xs) == 0:
        return None
    step = max(1, len(xs) // _MAX_EXTENT_POINTS)
    points = np.column_stack([xs[::step], ys[::step]]).astype(np.float64)
    h = np.asarray(calibration.homography, dtype=np.float64)
    plane = cv2.perspectiveTransform(points.reshape(-1, 1, 2), h).reshape(-1, 2)
    lo, hi = plane.min(axis=0), plane.max(axis=0)
    margin = max(_MIN_MARGIN_MM, _MARGIN_SHARE * float(np.max(hi - lo)))
    return (
        float(lo[0] - margin),
        float(lo[1] - margin),
        float(hi[0] + margin),
        float(hi[1] + margin),
    )


def _photo_mm_per_px(labels: np.ndarray, calibration: Calibration) -> float:
    """Millimetres of skin per photo pixel at the labelled pixels' centre (the photo's centre
    when none), through the calibration's homography."""
    ys, xs = np.nonzero(labels)
    cx, cy = (
        (float(xs.mean()), float(ys.mean()))
        if len(xs)
        else (labels.shape[1] / 2, labels.shape[0] / 2)
    )
    return _local_scale(np.asarray(calibration.homography, dtype=np.float64), cx, cy)


def _local_scale(matrix: np.ndarray, x: float, y: float) -> float:
    """Length of one source pixel at ``(x, y)`` after ``matrix``, in target pixels (mean axis)."""
    pts = np.array([[[x, y]], [[x + 1.0, y]], [[x, y + 1.0]]], dtype=np.float64)
    out = cv2.perspectiveTransform(pts, matrix).reshape(3, 2)
    return float((np.linalg.norm(out[1] - out[0]) + np.linalg.norm(out[2] - out[0])) / 2)


def draw_scale_bar(image: np.ndarray, *, mm_per_px: float, length_mm: float = 10.0) -> np.ndarray:
    """A copy of a top view with a white ``length_mm`` bar and its length in its bottom-left
    corner.

    Raises
    ------
    ValueError
        If ``image`` is not (H, W, 3) uint8 or a length is not positive.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.dtype != np.uint8:
        raise ValueError("image must be an (H, W, 3) uint8 RGB array")
    if not (mm_per_px > 0 and length_mm > 0):
        raise ValueError(
            f"mm_per_px and length_mm must be positive, got {mm_per_px!r} and {length_mm!r}"
        )
    out = image.copy()
    h, w = out.shape[:2]
    bar_px = round(length_mm / mm_per_px)
    scale = max(0.4, max(h, w) / 1000)  # legible when the view is shown ~500 px wide
    thick = max(2, round(4 * scale))
    x0, y0 = round(20 * scale), h - round(20 * scale)
    label = f"{length_mm:g} mm"
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), _ = cv2.getTextSize(label, font, scale, max(1, round(2 * scale)))
    pad = round(8 * scale)
    box = out[
        max(0, y0 - th - 3 * pad - thick) : min(h, y0 + pad),
        max(0, x0 - pad) : min(w, x0 + max(bar_px, tw) + pad),
    ]
    box[:] = (box * 0.4).astype(np.uint8)
    cv2.line(out, (x0, y0), (x0 + bar_px, y0), (255, 255, 255), thick)
    cv2.putText(
        out,
        label,
        (x0, y0 - thick - pad),
        font,
        scale,
        (255, 255, 255),
        max(1, round(2 * scale)),
        cv2.LINE_AA,
    )
    return out


def _label_order(label: str) -> tuple[int, int, str]:
    """L2 before L10; other labels after the numbered ones, alphabetically."""
    if label[:1] == "L" and label[1:].isdigit():
        return (0, int(label[1:]), label)
    return (1, 0, label)


def _check_labels(labels: np.ndarray) -> None:
    if not isinstance(labels, np.ndarray) or labels.ndim != 2 or labels.dtype != np.uint8:
        found = (
            f"{labels.shape} {labels.dtype}"
            if isinstance(labels, np.ndarray)
            else type(labels).__name__
        )
        raise ValueError(f"labels must be an (H, W) uint8 label map, got {found}")


def _check_value(value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value not in PAINTABLE:
        raise ValueError(
            f"value must be 0 (erase to skin) or a tissue label 1-4 "
            f"({', '.join(f'{k} {LABEL_NAMES[k]}' for k in PAINTABLE[1:])}), got {value!r}"
        )


__all__ = [
    "COMPARED_FIGURES",
    "PAINTABLE",
    "Edit",
    "apply_edits",
    "apply_polygon",
    "check_polygon",
    "draw_scale_bar",
    "lasso_polygons",
    "lesion_changes",
    "rasterise_polygon",
    "registered_pair",
]
