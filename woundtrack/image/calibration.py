"""Calibration: from the ArUco sticker in a photo to millimetres on the skin plane.

Owns everything that turns pixels into physical units. The sticker's four corners, refined to
sub-pixel accuracy, give the plane homography (image px -> plane mm); every area and length is then
measured on that rectified plane, because a single px->mm scale is wrong as soon as the phone is
tilted (sticker and wound lie at different depths). The pixel area of a point on the plane is the
Jacobian determinant of the homography there, ``|det H| / w(x, y)**3``. The white quiet zone around
the marker doubles as a white reference for white balance. Pure functions, no I/O.
"""

from __future__ import annotations

import functools
import logging
import math

import cv2
import numpy as np

from woundtrack.errors import CalibrationError
from woundtrack.models import Calibration

log = logging.getLogger(__name__)

DEFAULT_MARKER_MM = 20.0
ARUCO_DICTIONARY_NAME = "DICT_4X4_50"
ARUCO_DICTIONARY = getattr(cv2.aruco, ARUCO_DICTIONARY_NAME)
#: White margin on every side of the marker, as a fraction of the marker side (see sticker.py).
QUIET_ZONE_FRACTION = 0.25
#: Phone main cameras are ~24-28 mm equivalent; used for the tilt figure only, never for areas.
DEFAULT_FOCAL_35MM = 26.0
#: Detection runs on a copy no larger than this (long side), corners are refined at full size.
DETECT_LONG_SIDE_PX = 1600
#: A marker smaller than this (side in px) gives corners too coarse for a 1 % area.
MIN_RELIABLE_SIDE_PX = 40.0
#: Diagonal of a 36x24 mm frame, which 35 mm-equivalent focal lengths refer to.
_FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)


#: The warning of a photo with no sticker found (``calibrate``).
NO_STICKER_WARNING = (
    "no calibration sticker found: areas are in pixels only and every cm² value is empty; "
    "retake the photo with the whole sticker visible and flat beside the wound, or give "
    "a manual scale (mm per pixel) for a photo taken with a ruler"
)


def _detector() -> cv2.aruco.ArucoDetector:
    params = cv2.aruco.DetectorParameters()
    # Without sub-pixel refinement corner noise alone moves a sticker-derived area by several %.
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    params.cornerRefinementWinSize = 5
    params.cornerRefinementMaxIterations = 50
    params.cornerRefinementMinAccuracy = 0.01
    dictionary = cv2.aruco.getPredefinedDictionary(ARUCO_DICTIONARY)
    return cv2.aruco.ArucoDetector(dictionary, params)


def detect_markers(image: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Find every DICT_4X4_50 marker, largest first.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8, RGB

    Returns
    -------
    list of (marker_id, corners)
        ``corners`` is a (4, 2) float64 array of displayed-image pixel coordinates in the marker's
        own order (top-left, top-right, bottom-right, bottom-left), refined at full resolution.
    """
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    height, width = grey.shape
    scale = min(1.0, DETECT_LONG_SIDE_PX / max(height, width))
    detector = _detector()
    found = _detect(detector, grey, scale)
    if not found and scale < 1.0:
        found = _detect(detector, grey, 1.0)
    found.sort(key=lambda item: -abs(_polygon_area(item[1])))
    return found


def _detect(detector: cv2.aruco.ArucoDetector, grey: np.ndarray, scale: float):
    small = grey
    if scale < 1.0:
        small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    corners, ids, _rejected = detector.detectMarkers(small)
    if ids is None:
        return []
    out = []
    for marker_corners, marker_id in zip(corners, ids.ravel(), strict=True):
        pts = marker_corners.reshape(4, 2).astype(np.float64)
        if scale < 1.0:
            # Map back to full-size pixel centres, then refine on the full-size image.
            pts = (pts + 0.5) / scale - 0.5
            side = math.sqrt(abs(_polygon_area(pts)))
            win = int(max(3, min(15, round(side / 12))))
            refined = cv2.cornerSubPix(
                grey,
                pts.astype(np.float32).reshape(-1, 1, 2),
                (win, win),
                (-1, -1),
                (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 60, 0.005),
            )
            pts = refined.reshape(4, 2).astype(np.float64)
        out.append((int(marker_id), pts))
    return out


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def calibrate(
    image: np.ndarray,
    *,
    marker_mm: float = DEFAULT_MARKER_MM,
    focal_35mm: float | None = None,
) -> tuple[Calibration, list[str]]:
    """Calibrate a photo from its ArUco sticker.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8, RGB, as displayed
    marker_mm : float
        Outer side of the sticker's black square in millimetres.
    focal_35mm : float, optional
        35 mm-equivalent focal length from EXIF; only used to report the tilt.

    Returns
    -------
    calibration : Calibration
        ``method="aruco"`` with the plane homography, or ``method="none"`` when no sticker is found.
    warnings : list of str
        Plain sentences for the user (no sticker, several stickers). Whether a small sticker or
        one whose pattern could not be aligned puts the areas at risk depends on where the wound
        is; ``area_uncertainty_pct`` says, and the pipeline warns only then.

    Raises
    ------
    CalibrationError
        If ``marker_mm`` is not a positive number.
    """
    if not (math.isfinite(marker_mm) and marker_mm > 0):
        raise CalibrationError(
            f"marker size {marker_mm!r} mm is not a positive length; give the printed black "
            "square's side, e.g. --marker-mm 20"
        )
    warnings: list[str] = []
    markers = detect_markers(image)
    if not markers:
        warnings.append(NO_STICKER_WARNING)
        return Calibration(method="none", quality="no sticker found"), warnings
    if len(markers) > 1:
        ids = ", ".join(str(m[0]) for m in markers)
        warnings.append(
            f"{len(markers)} stickers found (ids {ids}); the largest (id {markers[0][0]}) is used"
        )
    marker_id, corners = markers[0]
    side_px = math.sqrt(abs(_polygon_area(corners)))
    h_img_to_plane = _homography_from_corners(corners, marker_mm)
    refined = refine_homography(image, h_img_to_plane, marker_id=marker_id, marker_mm=marker_mm)
    # No warning here when the pattern cannot be aligned: whether the areas are at risk depends
    # on where the wound is (area_uncertainty_pct, quality "corners only"), and the pipeline
    # warns only when they are.
    if refined is not None:
        h_img_to_plane = refined
        corners = to_plane_corners_px(h_img_to_plane, marker_mm)
    height, width = image.shape[:2]
    focal_px, focal_source = _focal_px(width, height, focal_35mm)
    tilt = tilt_deg(h_img_to_plane, focal_px=focal_px, width_px=width, height_px=height)
    quality = "good" if refined is not None else "corners only"
    if side_px < MIN_RELIABLE_SIDE_PX:
        quality = "sticker small"  # warned about by the pipeline when the areas are at risk
    gains = white_balance_gains(image, h_img_to_plane, marker_mm=marker_mm)
    calibration = Calibration(
        method="aruco",
        homography=_as_tuple(h_img_to_plane),
        marker_mm=float(marker_mm),
        marker_id=marker_id,
        marker_corners_px=tuple((float(x), float(y)) for x, y in corners),
        marker_side_px=side_px,
        tilt_deg=tilt,
        focal_px=focal_px,
        focal_source=focal_source,
        white_balance_gains=gains,
        quality=quality,
    )
    return calibration, warnings


def _plane_corners_mm(marker_mm: float) -> np.ndarray:
    return np.array([[0.0, 0.0], [marker_mm, 0.0], [marker_mm, marker_mm], [0.0, marker_mm]])


def _homography_from_corners(corners_px: np.ndarray, marker_mm: float) -> np.ndarray:
    h = cv2.getPerspectiveTransform(
        corners_px.astype(np.float32), _plane_corners_mm(marker_mm).astype(np.float32)
    ).astype(np.float64)
    return h / h[2, 2]


def to_plane_corners_px(h_img_to_plane: np.ndarray, marker_mm: float) -> np.ndarray:
    """The marker's four corners in image pixels, from an image->plane homography."""
    pts = _plane_corners_mm(marker_mm).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(pts, np.linalg.inv(h_img_to_plane)).reshape(4, 2)


#: sRGB code value -> linear light (IEC 61966-2-1).
_SRGB_TO_LINEAR = np.array(
    [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in np.arange(256) / 255],
    dtype=np.float32,
)
#: Refinement may move a corner this far (px) from the detector's estimate, no further.
_MAX_REFINE_SHIFT_PX = 3.0


def refine_homography(
    image: np.ndarray, h_img_to_plane: np.ndarray, *, marker_id: int, marker_mm: float
) -> np.ndarray | None:
    """Refine the sticker homography by aligning the whole printed pattern (ECC) to the photo.

    Four detected corners locate the plane only to a few tenths of a pixel, and that error is
    magnified on the way from the small sticker to the wound (7 % in area was seen at 0° tilt).
    Every edge of the marker's cells and of its black border carries information, so the rendered
    sticker (marker plus the inner part of its white quiet zone) is aligned to the photo with the
    enhanced correlation coefficient (Evangelidis & Psarakis 2008), which is also indifferent to
    brightness and contrast. Returns None when the alignment fails or drifts implausibly.
    """
    corners0 = to_plane_corners_px(h_img_to_plane, marker_mm)
    side_px = math.sqrt(abs(_polygon_area(corners0)))
    # Work in a crop around the sticker, in linear light: optical blur mixes light linearly, so
    # only there is a blurred black edge symmetric (in sRGB the black square looks smaller).
    height, width = image.shape[:2]
    x0, y0 = np.floor(corners0.min(axis=0) - side_px).astype(int).clip(0)
    x1, y1 = np.ceil(corners0.max(axis=0) + side_px).astype(int)
    x1, y1 = min(int(x1), width), min(int(y1), height)
    crop = _SRGB_TO_LINEAR[image[y0:y1, x0:x1, 1]]
    template, template_to_plane = _sticker_template(
        marker_id, marker_mm, px_per_mm=side_px / marker_mm
    )
    shift_to_crop = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], dtype=np.float64)
    warp = shift_to_crop @ np.linalg.inv(h_img_to_plane) @ template_to_plane  # template -> crop px
    warp = (warp / warp[2, 2]).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 200, 1e-7)
    blur = 3
    try:
        _, warp = cv2.findTransformECC(
            template, crop, warp, cv2.MOTION_HOMOGRAPHY, criteria, None, blur
        )
    except cv2.error as exc:
        log.debug("ECC refinement failed: %s", exc)
        return None
    h_refined = template_to_plane @ np.linalg.inv(
        np.linalg.inv(shift_to_crop) @ warp.astype(np.float64)
    )
    h_refined /= h_refined[2, 2]
    shift = np.abs(to_plane_corners_px(h_refined, marker_mm) - corners0).max()
    if not np.isfinite(shift) or shift > _MAX_REFINE_SHIFT_PX:
        log.debug("ECC refinement moved a corner by %.1f px; rejected", shift)
        return None
    return h_refined


def _sticker_template(
    marker_id: int, marker_mm: float, *, px_per_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Anti-aliased marker plus the inner 90 % of its quiet zone, and its px->mm map."""
    oversample = 8
    cell_mm = marker_mm / 6
    cell_hi = max(4, round(cell_mm * px_per_mm)) * oversample  # whole template pixels per cell
    pad_hi = (
        max(1, round(0.9 * QUIET_ZONE_FRACTION * marker_mm / cell_mm * cell_hi / oversample))
        * oversample
    )
    template = _template_pixels(marker_id, cell_hi, pad_hi, oversample)
    mm_per_template_px = cell_mm * oversample / cell_hi
    pad_mm = pad_hi / oversample * mm_per_template_px
    # Template pixel centres sit at integer coordinates u: plane x = u * mm + mm / 2 - pad.
    template_to_plane = np.array(
        [
            [mm_per_template_px, 0, mm_per_template_px / 2 - pad_mm],
            [0, mm_per_template_px, mm_per_template_px / 2 - pad_mm],
            [0, 0, 1],
        ],
        dtype=np.float64,
    )
    return template, template_to_plane


@functools.lru_cache(maxsize=16)
def _template_pixels(marker_id: int, cell_hi: int, pad_hi: int, oversample: int) -> np.ndarray:
    """The rendered sticker (float32 0-1, read-only), ``cell_hi`` / ``pad_hi`` pixels per cell /
    quiet zone at ``oversample`` times the template's resolution; cached: a round of photos
    taken at one distance needs the same one each time."""
    bits = cv2.aruco.generateImageMarker(
        cv2.aruco.getPredefinedDictionary(ARUCO_DICTIONARY), marker_id, 6
    )
    big = np.full((6 * cell_hi + 2 * pad_hi,) * 2, 255, np.uint8)
    big[pad_hi : pad_hi + 6 * cell_hi, pad_hi : pad_hi + 6 * cell_hi] = np.kron(
        bits, np.ones((cell_hi, cell_hi), np.uint8)
    )
    template = cv2.resize(
        big.astype(np.float32) / 255,
        None,
        fx=1 / oversample,
        fy=1 / oversample,
        interpolation=cv2.INTER_AREA,
    )
    template.setflags(write=False)
    return template


def manual_calibration(mm_per_px: float) -> Calibration:
    """A calibration from a user-given scale (a ruler in the photo): no perspective correction.

    Raises
    ------
    CalibrationError
        If ``mm_per_px`` is not a positive number.
    """
    if not (math.isfinite(mm_per_px) and mm_per_px > 0):
        raise CalibrationError(
            f"--mm-per-px {mm_per_px!r} is not a positive scale; measure a ruler in the photo, "
            "e.g. 10 mm over 85 px gives --mm-per-px 0.1176"
        )
    h = ((mm_per_px, 0.0, 0.0), (0.0, mm_per_px, 0.0), (0.0, 0.0, 1.0))
    return Calibration(method="manual", homography=h, quality="manual scale, no perspective")


def _as_tuple(matrix: np.ndarray) -> tuple[tuple[float, float, float], ...]:
    return tuple(tuple(float(v) for v in row) for row in matrix)  # type: ignore[return-value]


def _focal_px(width: int, height: int, focal_35mm: float | None) -> tuple[float, str]:
    source = "exif"
    if focal_35mm is None or not (5.0 <= focal_35mm <= 300.0):
        focal_35mm, source = DEFAULT_FOCAL_35MM, "assumed 26 mm equivalent"
    return focal_35mm / _FULL_FRAME_DIAGONAL_MM * math.hypot(width, height), source


def tilt_deg(
    h_img_to_plane: np.ndarray, *, focal_px: float, width_px: int, height_px: int
) -> float:
    """Angle between the camera's optical axis and the skin plane's normal, in degrees.

    From the plane->image homography ``K [r1 r2 t]`` with a pinhole ``K`` (principal point at the
    centre): the plane normal is ``r1 x r2``.
    """
    k = np.array(
        [[focal_px, 0, (width_px - 1) / 2], [0, focal_px, (height_px - 1) / 2], [0, 0, 1]], float
    )
    m = np.linalg.inv(k) @ np.linalg.inv(h_img_to_plane)  # columns: scale * (r1, r2, t)
    normal = np.cross(m[:, 0], m[:, 1])
    normal /= np.linalg.norm(normal)
    return float(np.degrees(np.arccos(min(1.0, abs(normal[2])))))


def homography(calibration: Calibration) -> np.ndarray:
    """The image px -> plane mm homography as a (3, 3) float64 array.

    Raises
    ------
    CalibrationError
        If the calibration has no scale (``method="none"``).
    """
    if calibration.homography is None:
        raise CalibrationError("this photo has no calibration; areas exist in pixels only")
    return np.asarray(calibration.homography, dtype=np.float64)


def to_plane_mm(calibration: Calibration, points_px: np.ndarray) -> np.ndarray:
    """Map (N, 2) displayed-image pixel coordinates to (N, 2) millimetres on the skin plane."""
    pts = np.asarray(points_px, dtype=np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(pts, homography(calibration)).reshape(-1, 2)


def pixel_area_mm2(calibration: Calibration, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Area on the skin plane (mm²) covered by the pixels at ``(xs, ys)``.

    For a homography the local area scale is ``|det H| / w**3`` with ``w = h31 x + h32 y + h33``.
    """
    h = homography(calibration)
    w = h[2, 0] * np.asarray(xs, np.float64) + h[2, 1] * np.asarray(ys, np.float64) + h[2, 2]
    return np.abs(np.linalg.det(h) / w**3)


def mm_per_px_at(calibration: Calibration, x_px: float, y_px: float) -> float:
    """Length of one pixel on the skin plane (mm) around ``(x_px, y_px)``: sqrt of its area."""
    return float(math.sqrt(pixel_area_mm2(calibration, np.array([x_px]), np.array([y_px]))[0]))


def marker_centre_px(calibration: Calibration) -> tuple[float, float] | None:
    """Centre of the sticker's black square in image pixels, or None without a sticker."""
    if calibration.marker_corners_px is None:
        return None
    c = np.mean(np.asarray(calibration.marker_corners_px), axis=0)
    return float(c[0]), float(c[1])


def sticker_mask(
    calibration: Calibration,
    shape: tuple[int, int],
    *,
    margin_mm: float = 1.5,
    scale: float = 1.0,
) -> np.ndarray:
    """Boolean mask of the sticker (marker and its white quiet zone), grown by ``margin_mm``.

    ``shape`` is that of the photo resized by ``scale`` (1 = the photo itself). Returns an
    all-False mask when there is no sticker.
    """
    mask = np.zeros(shape[:2], dtype=np.uint8)
    if calibration.method != "aruco" or calibration.marker_mm is None:
        return mask.astype(bool)
    outline = sticker_outline_px(calibration, margin_mm=margin_mm) * scale
    cv2.fillPoly(mask, [np.round(outline * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def sticker_outline_px(calibration: Calibration, *, margin_mm: float = 0.0) -> np.ndarray:
    """(4, 2) image-px outline of the sticker (marker + quiet zone) grown by ``margin_mm``."""
    s = float(calibration.marker_mm or 0.0)
    pad_mm = QUIET_ZONE_FRACTION * s + margin_mm
    square = np.array(
        [
            [-pad_mm, -pad_mm],
            [s + pad_mm, -pad_mm],
            [s + pad_mm, s + pad_mm],
            [-pad_mm, s + pad_mm],
        ],
        dtype=np.float64,
    )
    h_inv = np.linalg.inv(homography(calibration))
    return cv2.perspectiveTransform(square.reshape(-1, 1, 2), h_inv).reshape(-1, 2)


def white_balance_gains(
    image: np.ndarray, h_img_to_plane: np.ndarray, *, marker_mm: float
) -> tuple[float, float, float] | None:
    """Per-channel gains that turn the sticker's white quiet zone neutral white (~235).

    Samples the middle of the quiet zone on the plane (away from the black square and the skin),
    so a warm or cold colour cast and the exposure are undone the same way for every photo.
    Returns None when too few white pixels are seen (e.g. the quiet zone is covered).
    """
    height, width = image.shape[:2]
    q = QUIET_ZONE_FRACTION * marker_mm
    h_inv = np.linalg.inv(h_img_to_plane)
    outer = np.array(
        [[-q, -q], [marker_mm + q, -q], [marker_mm + q, marker_mm + q], [-q, marker_mm + q]]
    )
    outer_px = cv2.perspectiveTransform(outer.reshape(-1, 1, 2), h_inv).reshape(-1, 2)
    x0, y0 = np.floor(outer_px.min(axis=0)).astype(int)
    x1, y1 = np.ceil(outer_px.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width - 1), min(y1, height - 1)
    if x1 <= x0 or y1 <= y0:
        return None
    ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
    plane = cv2.perspectiveTransform(
        np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64).reshape(-1, 1, 2),
        h_img_to_plane,
    ).reshape(-1, 2)
    # Distance outside the black square, in mm (Chebyshev: the zone is a square ring).
    d = (
        np.maximum(np.abs(plane[:, 0] - marker_mm / 2), np.abs(plane[:, 1] - marker_mm / 2))
        - marker_mm / 2
    )
    ring = (d > 0.25 * q) & (d < 0.75 * q)
    if ring.sum() < 20:
        return None
    pixels = image[y0 : y1 + 1, x0 : x1 + 1].reshape(-1, 3)[ring].astype(np.float64)
    white = np.median(pixels, axis=0)
    if white.min() < 20:
        return None
    gains = np.clip(235.0 / white, 0.4, 4.0)
    return float(gains[0]), float(gains[1]), float(gains[2])


def apply_white_balance(image: np.ndarray, gains: tuple[float, float, float] | None) -> np.ndarray:
    """A new RGB uint8 image with per-channel ``gains`` applied (the input is not modified)."""
    if gains is None:
        return image.copy()
    lut = np.stack(
        [np.clip(np.arange(256) * g + 0.5, 0, 255).astype(np.uint8) for g in gains], axis=0
    )
    out = np.empty_like(image)
    for c in range(3):
        out[..., c] = cv2.LUT(image[..., c], lut[c])
    return out


#: Effective independent error of the refined sticker corners (px). Chosen so that the figure
#: below matches the area errors measured on 16 random 2 MP phantoms (median |error| 0.29 %);
#: a rough guide to which photos to distrust, not a confidence interval.
CORNER_SIGMA_PX = 0.03
#: The same for the four detected corners alone (the sticker's pattern could not be aligned:
#: blur, glare, a curled sticker): the 95th percentile of |area error| / (uncertainty at 1 px) on
#: 40 random 1600x1200 phantoms with the refinement switched off (benchmarks/warning_rates.py).
CORNERS_ONLY_SIGMA_PX = 0.16


def area_uncertainty_pct(
    calibration: Calibration,
    x_px: float,
    y_px: float,
    *,
    corner_sigma_px: float | None = None,
    samples: int = 64,
) -> float | None:
    """Expected relative error (%, ~95 % level) of areas measured around ``(x_px, y_px)``.

    The sticker's corners are known to about ``corner_sigma_px`` (default ``CORNER_SIGMA_PX``
    for corners refined on the sticker's pattern, ``CORNERS_ONLY_SIGMA_PX`` when the calibration
    is "corners only"); the homography extrapolates that error from the small sticker to the
    wound, more so the farther and the smaller the sticker. Propagated by Monte Carlo (seeded,
    so the same photo gives the same figure). None when the calibration has no sticker.
    """
    if calibration.method != "aruco" or calibration.marker_corners_px is None:
        return None
    if corner_sigma_px is None:
        corners_only = calibration.quality == "corners only"
        corner_sigma_px = CORNERS_ONLY_SIGMA_PX if corners_only else CORNER_SIGMA_PX
    marker_mm = float(calibration.marker_mm or DEFAULT_MARKER_MM)
    corners = np.asarray(calibration.marker_corners_px, dtype=np.float64)
    rng = np.random.default_rng(0)
    base = pixel_area_mm2(calibration, np.array([x_px]), np.array([y_px]))[0]
    ratios = []
    for _ in range(samples):
        noisy = corners + rng.normal(0.0, corner_sigma_px, corners.shape)
        h = _homography_from_corners(noisy, marker_mm)
        w = h[2, 0] * x_px + h[2, 1] * y_px + h[2, 2]
        ratios.append(abs(np.linalg.det(h) / w**3) / base)
    return float(2.0 * np.std(ratios) * 100.0)
