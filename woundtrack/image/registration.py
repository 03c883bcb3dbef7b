"""A follow-up photo registered onto the baseline photo, on the rectified skin plane.

Both photos are rectified onto the skin plane at one scale, where the remaining motion is rigid
(the sticker moved between visits), and that motion is estimated from SIFT features of skin and
wound with the stickers masked out; from the lesion constellation
(:mod:`woundtrack.image.lesion_matching`) when features are too few; from the stickers alone
(identity on the plane) otherwise. Pure functions, no I/O.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from woundtrack.errors import CalibrationError
from woundtrack.image import calibration as cal
from woundtrack.image.lesion_matching import (
    apply_affine,
    constellation_transform,
    fit_rigid,
    positions_of,
)
from woundtrack.image.measure import measure
from woundtrack.models import Calibration

log = logging.getLogger(__name__)

RegistrationMethod = Literal["features", "lesions", "lesion-centre", "sticker-only"]

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
        fit = None
        if len(known) >= 2 and len(new) >= 2:
            fit = constellation_transform(known, new, max_distance_mm=max_distance_mm)
        if fit is not None:
            plane, n_inliers, residual = fit
            method = "lesions"
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
        found.append((apply_affine(rect_to_plane, xy), descriptors))
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
    plane = fit_rigid(src[keep], dst[keep], similarity=False)
    assert plane is not None  # a rigid fit always exists
    residual = float(np.sqrt(np.mean(np.sum((apply_affine(plane, src[keep]) - dst[keep]) ** 2, 1))))
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


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def _as_tuple(matrix: np.ndarray) -> tuple[tuple[float, float, float], ...]:
    return tuple(tuple(float(v) for v in row) for row in matrix)  # type: ignore[return-value]


__all__ = [
    "MAX_FEATURE_SCALE_ERROR",
    "MAX_RECTIFIED_SIDE_PX",
    "MIN_FEATURE_INLIERS",
    "Registration",
    "rectify",
    "register",
    "warp_labels_to_baseline",
    "warp_to_baseline",
]
