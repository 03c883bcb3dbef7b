"""calibration.py against phantoms photographed at known tilt: areas within 1 % of the truth."""

import math

import cv2
import numpy as np
import pytest

from woundtrack.errors import CalibrationError
from woundtrack.image.calibration import (
    apply_white_balance,
    area_uncertainty_pct,
    calibrate,
    manual_calibration,
    marker_centre_px,
    mm_per_px_at,
    pixel_area_mm2,
    sticker_mask,
)
from woundtrack.image.measure import measure
from woundtrack.models import Calibration
from woundtrack.synthetic.phantom import Phantom, PhantomSpec, render_phantom

SHARP = dict(blur_sigma_px=0.0, noise_sigma=1.0, jpeg_quality=92, light_gradient=0.2)


def calibration_error(ph: Phantom) -> float:
    """Relative error of the true wound area measured through the photo's own calibration."""
    spec = ph.spec
    calibration, _ = calibrate(ph.image, marker_mm=spec.marker_mm, focal_35mm=spec.focal_35mm)
    _, totals = measure(np.ascontiguousarray(ph.labels), calibration)
    return totals.wound_area_cm2 * 100 / ph.truth.wound_area_mm2 - 1


@pytest.mark.parametrize("tilt", [0.0, 10.0, 20.0, 30.0, 35.0])
@pytest.mark.parametrize("roll", [0.0, 47.0])
def test_true_area_through_calibration_is_within_one_percent(tilt, roll, phantom):
    spec = PhantomSpec(seed=11, tilt_deg=tilt, roll_deg=roll, tilt_azimuth_deg=30.0, **SHARP)
    assert abs(calibration_error(phantom(spec))) < 0.01


@pytest.mark.parametrize("blur", [0.8, 1.5])
def test_blur_does_not_shrink_the_sticker(blur, phantom):
    # Optical blur is linear in light; a blurred black square looks smaller in sRGB. The
    # refinement works in linear light, so blur must not bias the area.
    spec = PhantomSpec(seed=12, tilt_deg=20.0, roll_deg=10.0, blur_sigma_px=blur, jpeg_quality=90)
    assert abs(calibration_error(phantom(spec))) < 0.01


def test_a_single_sticker_scale_would_be_wrong_at_tilt(phantom):
    """Why the homography matters: the sticker's own px->mm scale misjudges the wound."""
    spec = PhantomSpec(seed=13, tilt_deg=30.0, tilt_azimuth_deg=0.0, **SHARP)
    ph = phantom(spec)
    calibration, _ = calibrate(ph.image, focal_35mm=spec.focal_35mm)
    single_scale_mm2_per_px = spec.marker_mm**2 / calibration.marker_side_px**2
    naive_mm2 = np.count_nonzero((ph.labels >= 1) & (ph.labels <= 3)) * single_scale_mm2_per_px
    assert abs(naive_mm2 / ph.truth.wound_area_mm2 - 1) > 0.05
    assert abs(calibration_error(ph)) < 0.01


@pytest.mark.parametrize("tilt", [0.0, 20.0, 35.0])
def test_tilt_and_scale_at_the_wound_are_reported(tilt, phantom):
    spec = PhantomSpec(seed=14, tilt_deg=tilt, roll_deg=-30.0, **SHARP)
    ph = phantom(spec)
    calibration, warnings = calibrate(ph.image, focal_35mm=spec.focal_35mm)
    assert calibration.method == "aruco" and calibration.quality == "good" and warnings == []
    assert calibration.tilt_deg == pytest.approx(tilt, abs=2.0)
    x, y = ph.truth.lesion_centres_px[0]
    assert mm_per_px_at(calibration, x, y) == pytest.approx(ph.truth.mm_per_px_at_wound, rel=0.005)
    assert calibration.marker_id == spec.marker_id
    corners = np.asarray(calibration.marker_corners_px)
    assert np.abs(corners - np.asarray(ph.truth.marker_corners_px)).max() < 0.3


def test_other_marker_size(phantom):
    spec = PhantomSpec(seed=15, marker_mm=15.0, tilt_deg=15.0, **SHARP)
    ph = phantom(spec)
    calibration, _ = calibrate(ph.image, marker_mm=15.0, focal_35mm=spec.focal_35mm)
    _, totals = measure(np.ascontiguousarray(ph.labels), calibration)
    assert totals.wound_area_cm2 * 100 == pytest.approx(ph.truth.wound_area_mm2, rel=0.01)
    # The wrong size on the command line scales areas by the square of the ratio.
    wrong, _ = calibrate(ph.image, marker_mm=20.0, focal_35mm=spec.focal_35mm)
    _, wrong_totals = measure(np.ascontiguousarray(ph.labels), wrong)
    assert wrong_totals.wound_area_cm2 / totals.wound_area_cm2 == pytest.approx(
        (20 / 15) ** 2, rel=1e-3
    )


def test_no_sticker_means_no_scale_and_a_warning(phantom):
    ph = phantom(PhantomSpec(seed=16, with_sticker=False, **SHARP))
    calibration, warnings = calibrate(ph.image)
    assert calibration.method == "none" and not calibration.calibrated
    assert calibration.homography is None
    assert len(warnings) == 1 and "no calibration sticker" in warnings[0]
    _, totals = measure(np.ascontiguousarray(ph.labels), calibration)
    assert totals.wound_area_cm2 is None and totals.wound_area_px > 0


@pytest.mark.parametrize("kelvin", [3000.0, 8000.0])
def test_white_balance_makes_the_sticker_white_neutral(kelvin, phantom):
    spec = PhantomSpec(seed=17, colour_temperature_k=kelvin, **SHARP)
    ph = phantom(spec)
    calibration, _ = calibrate(ph.image)
    before = _quiet_zone_median(ph.image, calibration)
    assert before.max() - before.min() > 15  # the cast is there
    balanced = apply_white_balance(ph.image, calibration.white_balance_gains)
    after = _quiet_zone_median(balanced, calibration)
    assert after.max() - after.min() <= 3
    assert after.mean() == pytest.approx(235, abs=4)
    assert not np.shares_memory(balanced, ph.image)


def _quiet_zone_median(image, calibration):
    """Median RGB of the white border: inside the sticker, outside the grown black square."""
    zone = sticker_mask(calibration, image.shape, margin_mm=-1.5)
    marker = np.zeros(zone.shape, np.uint8)
    corners = np.asarray(calibration.marker_corners_px)
    centre = corners.mean(axis=0)
    cv2.fillPoly(marker, [np.round(centre + (corners - centre) * 1.15).astype(np.int32)], 1)
    return np.median(image[zone & (marker == 0)], axis=0)


def test_sticker_mask_covers_marker_and_quiet_zone_only(phantom):
    spec = PhantomSpec(seed=18, tilt_deg=25.0, **SHARP)
    ph = phantom(spec)
    calibration, _ = calibrate(ph.image)
    mask = sticker_mask(calibration, ph.image.shape)
    corners = np.round(np.asarray(calibration.marker_corners_px)).astype(np.int32)
    inside = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(inside, [corners], 1)
    assert mask[inside > 0].all()
    assert not mask[(ph.labels >= 1)].any()
    # Marker (20 mm) plus quiet zone (2 x 5 mm) plus 1.5 mm margin: ~33 mm square on the plane.
    ys, xs = np.nonzero(mask)
    plane_mm2 = pixel_area_mm2(calibration, xs, ys).sum()
    assert plane_mm2 == pytest.approx(33.0**2, rel=0.15)


def test_manual_scale():
    calibration = manual_calibration(0.25)
    assert calibration.method == "manual" and calibration.calibrated
    assert mm_per_px_at(calibration, 10, 10) == pytest.approx(0.25)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_manual_scale_must_be_positive(bad):
    with pytest.raises(CalibrationError, match="mm-per-px"):
        manual_calibration(bad)


@pytest.mark.parametrize("bad", [0.0, -20.0, math.nan])
def test_marker_size_must_be_positive(bad):
    with pytest.raises(CalibrationError, match="marker size"):
        calibrate(np.zeros((50, 50, 3), np.uint8), marker_mm=bad)


def _square_on_sticker() -> Calibration:
    """A 20 mm sticker seen square-on as the 200 px square (100, 100)-(300, 300): 0.1 mm/px."""
    corners = ((100.0, 100.0), (300.0, 100.0), (300.0, 300.0), (100.0, 300.0))
    h = ((0.1, 0.0, -10.0), (0.0, 0.1, -10.0), (0.0, 0.0, 1.0))
    return Calibration(
        method="aruco", homography=h, marker_mm=20.0, marker_corners_px=corners, quality="test"
    )


def _area_scale_spread_pct(x: float, y: float, sigma: float, samples: int = 4000) -> float:
    """2 SD (%) of the area scale at (x, y) when the corners carry N(0, sigma) px noise."""
    rng = np.random.default_rng(12345)
    corners = np.array(_square_on_sticker().marker_corners_px, dtype=np.float32)
    plane = np.array([[0, 0], [20, 0], [20, 20], [0, 20]], dtype=np.float32)
    scales = []
    for _ in range(samples):
        noisy = (corners + rng.normal(0.0, sigma, corners.shape)).astype(np.float32)
        h = cv2.getPerspectiveTransform(noisy, plane)
        w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
        scales.append(abs(np.linalg.det(h)) / abs(w) ** 3)
    scales = np.array(scales) / 0.01  # 0.01 mm² per px without noise
    return float(2.0 * scales.std() * 100.0)


def test_marker_centre_and_area_uncertainty_of_a_square_on_sticker():
    cal = _square_on_sticker()
    assert marker_centre_px(cal) == (200.0, 200.0)
    assert marker_centre_px(manual_calibration(0.1)) is None
    assert area_uncertainty_pct(manual_calibration(0.1), 200, 200) is None
    assert area_uncertainty_pct(cal, 200, 200, corner_sigma_px=0.0) == pytest.approx(0.0, abs=1e-9)
    near = area_uncertainty_pct(cal, 200, 200, corner_sigma_px=0.5)
    far = area_uncertainty_pct(cal, 1000, 200, corner_sigma_px=0.5)
    # 64 seeded samples against an independent 4000-sample estimate: within ~20 %
    assert near == pytest.approx(_area_scale_spread_pct(200, 200, 0.5), rel=0.2)
    assert far == pytest.approx(_area_scale_spread_pct(1000, 200, 0.5), rel=0.2)
    assert far > 5 * near  # extrapolated 4 sticker widths away
    assert area_uncertainty_pct(cal, 200, 200) < near  # default corner SD is far below 0.5 px


def test_corners_found_on_a_downscaled_large_photo_are_refined_at_full_size():
    """Large photos are searched at 1600 px and the corners mapped back and refined on the full
    image: they must land within half a pixel of the true corners, since a photo whose pattern
    cannot be aligned rests on them alone (found by mutation testing: nothing checked them)."""
    from woundtrack.image.calibration import detect_markers

    ph = render_phantom(
        PhantomSpec(seed=5, width_px=3000, height_px=2250, tilt_deg=20.0, roll_deg=30.0)
    )
    [(marker_id, corners)] = detect_markers(ph.image)
    assert marker_id == 7
    assert np.abs(corners - np.array(ph.truth.marker_corners_px)).max() < 0.45


def _rotation(tilt_deg: float, azimuth_deg: float) -> np.ndarray:
    a, t = np.radians(azimuth_deg), np.radians(tilt_deg)
    axis = np.array([np.cos(a), np.sin(a), 0.0])  # tilt about an axis in the image plane
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k  # Rodrigues


@pytest.mark.parametrize(
    ("tilt", "azimuth"), [(0.0, 0.0), (30.0, 0.0), (22.5, 65.0), (55.0, 200.0)]
)
def test_tilt_of_an_exact_pinhole_homography(tilt, azimuth):
    """A plane turned by ``tilt`` about an axis in the image plane, seen by a pinhole camera
    K [r1 r2 t] with the principal point at the centre ((w - 1) / 2, (h - 1) / 2): the tilt comes
    back exactly, whatever the homography's scale."""
    from woundtrack.image.calibration import tilt_deg

    width, height, focal = 4000, 3000, 3100.0
    k = np.array([[focal, 0, (width - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1]])
    r = _rotation(tilt, azimuth)
    plane_to_img = k @ np.column_stack([r[:, 0], r[:, 1], [12.0, -30.0, 300.0]])
    h_img_to_plane = np.linalg.inv(plane_to_img) * 7.3  # any scale
    got = tilt_deg(h_img_to_plane, focal_px=focal, width_px=width, height_px=height)
    assert got == pytest.approx(tilt, abs=1e-6)


def test_manual_calibration_is_a_pure_scale():
    from woundtrack.image.calibration import manual_calibration

    c = manual_calibration(0.125)
    assert c.method == "manual" and c.quality == "manual scale, no perspective"
    assert c.homography == ((0.125, 0.0, 0.0), (0.0, 0.125, 0.0), (0.0, 0.0, 1.0))
    with pytest.raises(CalibrationError) as refused:
        manual_calibration(-1.0)
    assert str(refused.value) == (
        "--mm-per-px -1.0 is not a positive scale; measure a ruler in the photo, "
        "e.g. 10 mm over 85 px gives --mm-per-px 0.1176"
    )


@pytest.mark.parametrize(
    ("focal_35mm", "source"),
    [
        (26.0, "exif"),
        (5.0, "exif"),
        (300.0, "exif"),
        (4.9, "assumed 26 mm equivalent"),
        (300.5, "assumed 26 mm equivalent"),
        (None, "assumed 26 mm equivalent"),
    ],
)
def test_the_focal_length_is_taken_from_exif_only_when_plausible(phantom, focal_35mm, source):
    from woundtrack.image.calibration import calibrate

    ph = phantom(PhantomSpec(seed=2, width_px=800, height_px=600))
    c, _ = calibrate(ph.image, focal_35mm=focal_35mm)
    assert c.focal_source == source
    used = focal_35mm if source == "exif" else 26.0
    assert c.focal_px == pytest.approx(used / math.hypot(36.0, 24.0) * math.hypot(800, 600))


def test_area_uncertainty_is_the_same_every_time(phantom):
    from woundtrack.image.calibration import area_uncertainty_pct, calibrate

    ph = phantom(PhantomSpec(seed=2, width_px=800, height_px=600))
    c, _ = calibrate(ph.image)
    first = area_uncertainty_pct(c, 400.0, 300.0)
    assert first > 0 and area_uncertainty_pct(c, 400.0, 300.0) == first  # seeded Monte Carlo
