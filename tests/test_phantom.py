"""Tests of the phantom generator: its truth must be exact, since everything is judged by it."""

from __future__ import annotations

import dataclasses
import functools
import math
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from woundtrack.models import ERYTHEMA, ESCHAR, GRANULATION, SLOUGH
from woundtrack.synthetic.phantom import (
    QUIET_ZONE_FRACTION,
    Phantom,
    PhantomSpec,
    PhantomTruth,
    random_spec,
    render_phantom,
    write_phantom,
)

SMALL = {"width_px": 640, "height_px": 480}
# The truth does not depend on the image size, so truth-only tests render tiny photos.
TINY = {"width_px": 160, "height_px": 120}


@functools.lru_cache(maxsize=32)
def rendered(spec: PhantomSpec) -> Phantom:
    return render_phantom(spec)


def shoelace_mm2(outline: tuple[tuple[float, float], ...]) -> float:
    pts = np.array(outline)
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def project(hom: np.ndarray, pts_mm: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(np.asarray(pts_mm, np.float64)[None], hom)[0]


# --- truth ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n_lesions", [1, 3])
def test_truth_areas_are_consistent_and_fractions_follow_the_spec(n_lesions: int) -> None:
    spec = PhantomSpec(
        seed=11, n_lesions=n_lesions, eschar_fraction=0.55, slough_fraction=0.25, **TINY
    )
    t = rendered(spec).truth
    assert t.wound_area_mm2 == pytest.approx(
        t.granulation_area_mm2 + t.slough_area_mm2 + t.eschar_area_mm2, rel=1e-12
    )
    assert len(t.lesion_areas_mm2) == n_lesions
    assert sum(t.lesion_areas_mm2) == pytest.approx(t.wound_area_mm2, rel=1e-12)
    assert sum(t.lesion_erythema_areas_mm2) == pytest.approx(t.erythema_area_mm2, rel=1e-12)
    for i in range(n_lesions):
        bed = t.lesion_areas_mm2[i]
        assert t.lesion_eschar_areas_mm2[i] / bed == pytest.approx(0.55, abs=0.005)
        assert t.lesion_slough_areas_mm2[i] / bed == pytest.approx(0.25, abs=0.005)
        assert t.lesion_granulation_areas_mm2[i] / bed == pytest.approx(0.20, abs=0.005)
    assert t.marker_area_mm2 == pytest.approx(20.0**2)
    # Later lesions are 50..90 % of the first one's radius.
    for area in t.lesion_areas_mm2[1:]:
        assert 0.15 * t.lesion_areas_mm2[0] < area < 0.95 * t.lesion_areas_mm2[0]


@pytest.mark.parametrize("radius_mm", [3.0, 15.0, 30.0])
def test_single_lesion_area_matches_its_polygon(radius_mm: float) -> None:
    t = rendered(PhantomSpec(seed=5, wound_radius_mm=radius_mm, **TINY)).truth
    polygon_mm2 = shoelace_mm2(t.lesion_outlines_mm[0])
    assert t.wound_area_mm2 == pytest.approx(polygon_mm2, rel=0.005)
    # The mean radius is the requested one, so the area is pi R^2 (1 + sum a_k^2 / 2).
    assert math.pi * radius_mm**2 <= polygon_mm2 < 1.15 * math.pi * radius_mm**2


def test_erythema_is_a_ring_of_the_requested_width() -> None:
    t = rendered(PhantomSpec(seed=2, erythema_width_mm=6.0, **TINY)).truth
    outline = np.array(t.lesion_outlines_mm[0])
    perimeter = float(np.sum(np.linalg.norm(np.roll(outline, -1, axis=0) - outline, axis=1)))
    # A true offset of a closed curve by w adds w * perimeter + pi w^2 (for a star-shaped,
    # mostly convex outline: within a few per cent).
    assert t.erythema_area_mm2 == pytest.approx(6.0 * perimeter + math.pi * 36.0, rel=0.04)
    none = rendered(PhantomSpec(seed=2, erythema_width_mm=0.0, **TINY))
    assert none.truth.erythema_area_mm2 == 0.0
    assert not np.any(none.labels == ERYTHEMA)


def test_same_lesion_seed_keeps_the_wound_and_changes_the_photo() -> None:
    a = rendered(PhantomSpec(seed=1, lesion_seed=9, **TINY))
    b = rendered(PhantomSpec(seed=2, lesion_seed=9, tilt_deg=20.0, **TINY))
    assert a.truth.lesion_areas_mm2 == b.truth.lesion_areas_mm2
    assert a.truth.eschar_area_mm2 == b.truth.eschar_area_mm2
    assert a.truth.erythema_area_mm2 == b.truth.erythema_area_mm2
    assert a.truth.marker_corners_mm != b.truth.marker_corners_mm
    c = rendered(PhantomSpec(seed=1, lesion_seed=10, **TINY))
    assert c.truth.wound_area_mm2 != a.truth.wound_area_mm2


# --- camera and sticker -----------------------------------------------------------------------


def detect_marker(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    detector = cv2.aruco.ArucoDetector(
        cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), params
    )
    corners, ids, _ = detector.detectMarkers(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
    assert ids is not None, "no marker detected"
    return corners[0][0].astype(np.float64), ids.ravel()


@pytest.mark.parametrize(
    ("tilt_deg", "azimuth_deg", "roll_deg"), [(0.0, 0.0, 0.0), (35.0, 120.0, -40.0)]
)
def test_sticker_is_detected_where_the_truth_says(
    tilt_deg: float, azimuth_deg: float, roll_deg: float
) -> None:
    p = rendered(
        PhantomSpec(seed=3, tilt_deg=tilt_deg, tilt_azimuth_deg=azimuth_deg, roll_deg=roll_deg)
    )
    corners, ids = detect_marker(p.image)
    assert ids.tolist() == [7]
    truth_px = project(p.truth.homography, np.array(p.truth.marker_corners_mm))
    np.testing.assert_allclose(truth_px, np.array(p.truth.marker_corners_px), atol=1e-9)
    assert np.max(np.linalg.norm(corners - truth_px, axis=1)) < 1.0
    # The marker's plane corners are a square of marker_mm.
    mm = np.array(p.truth.marker_corners_mm)
    sides = np.linalg.norm(np.roll(mm, -1, axis=0) - mm, axis=1)
    np.testing.assert_allclose(sides, 20.0, rtol=1e-12)


def test_tilt_is_the_angle_between_optical_axis_and_plane_normal() -> None:
    p = rendered(PhantomSpec(seed=3, tilt_deg=35.0, tilt_azimuth_deg=120.0, roll_deg=-40.0))
    h = p.truth.homography
    f = p.truth.focal_px
    k = np.array([[f, 0, (1600 - 1) / 2], [0, f, (1200 - 1) / 2], [0, 0, 1]])
    m = np.linalg.inv(k) @ h
    r1, r2 = m[:, 0] / np.linalg.norm(m[:, 0]), m[:, 1] / np.linalg.norm(m[:, 1])
    assert np.dot(r1, r2) == pytest.approx(0.0, abs=1e-9)
    normal = np.cross(r1, r2)
    assert math.degrees(math.acos(abs(normal[2]))) == pytest.approx(35.0, abs=1e-6)
    assert p.truth.focal_px == pytest.approx(26.0 / math.hypot(36.0, 24.0) * math.hypot(1600, 1200))


@pytest.mark.parametrize("n_lesions", [1, 3])
def test_sticker_lies_on_skin_away_from_wound_and_erythema(n_lesions: int) -> None:
    p = rendered(PhantomSpec(seed=8, n_lesions=n_lesions, tilt_deg=25.0, **SMALL))
    t = p.truth
    # The paper square, grown by 7 mm on the plane, holds no wound or erythema label.
    corners = np.array(t.marker_corners_mm)
    centre = corners.mean(axis=0)
    grow = (20.0 / 2 + QUIET_ZONE_FRACTION * 20.0 + 7.0) / (20.0 / 2)
    region = project(t.homography, centre + (corners - centre) * grow)
    mask = np.zeros(p.labels.shape, np.uint8)
    cv2.fillPoly(mask, [np.round(region * 16).astype(np.int32)], 1, shift=4)
    assert mask.sum() > 0
    assert not np.any(p.labels[mask.astype(bool)])


def test_scene_spans_about_the_requested_share_and_stays_inside() -> None:
    for fill in (0.25, 0.5):
        p = rendered(PhantomSpec(seed=4, wound_fill_frac=fill, tilt_deg=20.0, **SMALL))
        ys, xs = np.nonzero(p.labels)
        paper = project(p.truth.homography, np.array(p.truth.marker_corners_mm))
        xs = np.concatenate([xs, paper[:, 0]])
        ys = np.concatenate([ys, paper[:, 1]])
        extent = max(np.ptp(xs), np.ptp(ys)) / 640
        assert 0.6 * fill < extent < 1.1 * fill
        assert xs.min() > 0 and ys.min() > 0 and xs.max() < 639 and ys.max() < 479


@pytest.mark.parametrize("roll_deg", [0.0, 45.0])
def test_image_is_skin_everywhere_no_void(roll_deg: float) -> None:
    p = rendered(
        PhantomSpec(
            seed=6,
            tilt_deg=35.0,
            roll_deg=roll_deg,
            tilt_azimuth_deg=30.0,
            light_gradient=0.6,
            focal_35mm=24.0,
            **SMALL,
        )
    )
    grey = cv2.cvtColor(p.image, cv2.COLOR_RGB2GRAY)
    border = np.concatenate(
        [grey[:3].ravel(), grey[-3:].ravel(), grey[:, :3].ravel(), grey[:, -3:].ravel()]
    )
    assert border.min() > 60  # skin tone 0.3 is ~170 grey; a void would be 0
    assert np.percentile(grey, 1) > 60


def test_horizon_in_view_is_refused() -> None:
    with pytest.raises(ValueError, match="horizon of the skin plane"):
        render_phantom(PhantomSpec(tilt_deg=65.0, focal_35mm=13.0, **SMALL))


# --- label map ------------------------------------------------------------------------------


def test_label_map_areas_match_truth_at_tilt_0() -> None:
    p = rendered(
        PhantomSpec(
            seed=7,
            wound_fill_frac=0.4,
            eschar_fraction=0.3,
            slough_fraction=0.3,
            width_px=1200,
            height_px=900,
        )
    )
    t = p.truth
    mm2_per_px = t.mm_per_px_at_wound**2  # constant over the image at tilt 0
    for label, truth in (
        (GRANULATION, t.granulation_area_mm2),
        (SLOUGH, t.slough_area_mm2),
        (ESCHAR, t.eschar_area_mm2),
        (ERYTHEMA, t.erythema_area_mm2),
    ):
        measured = np.count_nonzero(p.labels == label) * mm2_per_px
        assert measured == pytest.approx(truth, rel=0.02), label
    wound = np.count_nonzero((p.labels >= GRANULATION) & (p.labels <= ESCHAR)) * mm2_per_px
    assert wound == pytest.approx(t.wound_area_mm2, rel=0.01)


def test_label_map_areas_match_truth_when_tilted() -> None:
    p = rendered(
        PhantomSpec(
            seed=7,
            tilt_deg=30.0,
            tilt_azimuth_deg=200.0,
            roll_deg=15.0,
            wound_fill_frac=0.4,
            width_px=1200,
            height_px=900,
        )
    )
    h = p.truth.homography
    ys, xs = np.nonzero((p.labels >= GRANULATION) & (p.labels <= ESCHAR))
    inv = np.linalg.inv(h)
    w = inv[2, 0] * xs + inv[2, 1] * ys + inv[2, 2]
    # Plane area of each pixel: det of the image -> plane Jacobian = det(H^-1) / w^3.
    area = np.sum(np.abs(np.linalg.det(inv) / w**3))
    assert area == pytest.approx(p.truth.wound_area_mm2, rel=0.02)
    # mm_per_px_at_wound agrees with the Jacobian at the wound centre.
    cx, cy = p.truth.lesion_centres_px[0]
    wc = inv[2, 0] * cx + inv[2, 1] * cy + inv[2, 2]
    assert math.sqrt(abs(np.linalg.det(inv) / wc**3)) == pytest.approx(
        p.truth.mm_per_px_at_wound, rel=1e-9
    )


# --- colour ---------------------------------------------------------------------------------


def mean_lab(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return lab[mask].mean(axis=0)


@pytest.mark.parametrize("skin_tone", [0.0, 1.0])
def test_colours_are_plausible(skin_tone: float) -> None:
    p = rendered(
        PhantomSpec(
            seed=1,
            skin_tone=skin_tone,
            light_gradient=0.0,
            noise_sigma=0.0,
            jpeg_quality=None,
            **SMALL,
        )
    )
    ery = p.labels == ERYTHEMA
    near = cv2.dilate((p.labels > 0).astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    skin = near & (p.labels == 0)
    d_lab = mean_lab(p.image, ery) - mean_lab(p.image, skin)
    assert 12.0 <= d_lab[1] <= 20.0  # clearly redder
    assert abs(d_lab[0]) <= 10.0  # about as light
    eschar = mean_lab(p.image, p.labels == ESCHAR)
    assert eschar[0] < 25 and math.hypot(eschar[1], eschar[2]) < 20  # dark, low saturation
    gran = mean_lab(p.image, p.labels == GRANULATION)
    assert gran[1] > 35  # red
    slough = mean_lab(p.image, p.labels == SLOUGH)
    assert slough[0] > 65 and slough[2] > 20  # light and yellow
    skin_l = mean_lab(p.image, skin)[0]
    assert (skin_l > 75) if skin_tone == 0.0 else (skin_l < 35)


def test_colour_temperature_tints_the_white_paper() -> None:
    def paper_rb(kelvin: float) -> float:
        p = rendered(PhantomSpec(seed=1, colour_temperature_k=kelvin, light_gradient=0.0, **SMALL))
        corners = np.array(p.truth.marker_corners_mm)
        c = corners.mean(axis=0)
        # A point in the quiet zone, between the marker's edge and the paper's.
        quiet = project(p.truth.homography, (c + (corners - c) * 1.25)[None, 0])[0]
        x, y = np.round(quiet).astype(int)
        patch = p.image[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).astype(float).mean(axis=0)
        return patch[0] / patch[2]

    warm, neutral, cold = paper_rb(3000.0), paper_rb(5500.0), paper_rb(8000.0)
    assert warm > 1.3 * neutral and cold < 0.93 * neutral
    assert neutral == pytest.approx(1.02, abs=0.04)  # slightly warm paper white


def test_light_gradient_sets_the_illumination_ratio() -> None:
    flat = rendered(PhantomSpec(seed=12, light_gradient=0.0, noise_sigma=0.0, **SMALL))
    lit = rendered(PhantomSpec(seed=12, light_gradient=0.5, noise_sigma=0.0, **SMALL))
    corners = np.array(flat.truth.marker_corners_mm)
    centre = corners.mean(axis=0)
    paper = project(flat.truth.homography, centre + (corners - centre) * 1.8)
    bare = (flat.labels == 0).astype(np.uint8)
    cv2.fillPoly(bare, [np.round(paper * 16).astype(np.int32)], 0, shift=4)
    skin = cv2.erode(bare, np.ones((9, 9), np.uint8)).astype(bool)
    # Skin texture is the same in both, so the per-pixel ratio is the light field.
    ratio = (lit.image[..., 1].astype(float) + 0.5) / (flat.image[..., 1].astype(float) + 0.5)
    weight = cv2.blur(skin.astype(float), (31, 31))
    smooth = cv2.blur(np.where(skin, ratio, 0), (31, 31)) / np.maximum(weight, 1e-6)
    inner = smooth[40:-40, 40:-40][weight[40:-40, 40:-40] > 0.9]
    # sRGB encoding compresses a linear ratio of 1.5 to about 1.5 ** (1 / 2.2) = 1.2.
    assert 1.12 < inner.max() / inner.min() < 1.3


# --- determinism ------------------------------------------------------------------------------


def test_same_spec_same_phantom_and_seed_changes_it() -> None:
    spec = PhantomSpec(seed=21, tilt_deg=10.0, **TINY)
    a = render_phantom(spec)
    b = render_phantom(spec)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    assert a.truth == b.truth
    c = rendered(PhantomSpec(seed=22, tilt_deg=10.0, **TINY))
    assert not np.array_equal(a.image, c.image)
    assert a.truth.wound_area_mm2 != c.truth.wound_area_mm2
    # Changing only the noise level keeps the scene (independent random streams).
    d = rendered(PhantomSpec(seed=21, tilt_deg=10.0, noise_sigma=0.0, **TINY))
    assert np.array_equal(a.labels, d.labels) and a.truth == d.truth


def test_image_and_labels_have_the_documented_types() -> None:
    p = rendered(PhantomSpec(seed=1, **SMALL))
    assert p.image.shape == (480, 640, 3) and p.image.dtype == np.uint8
    assert p.labels.shape == (480, 640) and p.labels.dtype == np.uint8
    assert set(np.unique(p.labels)) <= {0, 1, 2, 3, 4}
    portrait = rendered(PhantomSpec(seed=1, width_px=480, height_px=640))
    assert portrait.image.shape == (640, 480, 3)


# --- files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", [1, 3, 6, 8, 5])
@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_written_file_displays_as_the_image(tmp_path, orientation: int, suffix: str) -> None:
    taken = datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    spec = PhantomSpec(
        seed=4,
        exif_orientation=orientation,
        taken_at=taken,
        width_px=320,
        height_px=240,
        wound_fill_frac=0.5,
        focal_35mm=26.4,
    )
    path = tmp_path / f"ph{suffix}"
    phantom = write_phantom(spec, path)
    with Image.open(path) as img:
        stored_size = img.size
        exif = img.getexif()
        shown = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    assert stored_size == ((240, 320) if orientation in (5, 6, 7, 8) else (320, 240))
    assert np.array_equal(shown, phantom.image)  # JPEG too: the file holds the same bytes
    assert exif[0x0112] == orientation
    sub = exif.get_ifd(0x8769)
    assert sub[0x9003] == "2026:03:02 09:30:00"
    assert sub[0x9011] == "+01:00"
    assert sub[0xA405] == 26


def test_naive_time_and_uncompressed_jpeg(tmp_path) -> None:
    spec = PhantomSpec(
        seed=4,
        jpeg_quality=None,
        taken_at=datetime(2026, 3, 9, 9, 30),
        width_px=320,
        height_px=240,
        exif_orientation=6,
    )
    phantom = write_phantom(spec, tmp_path / "ph.JPEG")
    with Image.open(tmp_path / "ph.JPEG") as img:
        sub = img.getexif().get_ifd(0x8769)
        shown = np.asarray(ImageOps.exif_transpose(img).convert("RGB")).astype(int)
    assert sub[0x9003] == "2026:03:09 09:30:00" and 0x9011 not in sub
    assert np.mean(np.abs(shown - phantom.image)) < 3.0  # written at quality 95


def test_write_refuses_other_formats(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"ph\.tif: cannot write a phantom as '\.tif'"):
        write_phantom(PhantomSpec(**SMALL), tmp_path / "ph.tif")


# --- random_spec ----------------------------------------------------------------------------


def test_random_spec_covers_the_ranges() -> None:
    rng = np.random.default_rng(0)
    specs = [random_spec(rng) for _ in range(400)]

    def values(name: str) -> np.ndarray:
        return np.array([getattr(s, name) for s in specs], dtype=float)

    for name, lo, hi in (
        ("tilt_deg", 0.0, 35.0),
        ("roll_deg", -180.0, 180.0),
        ("tilt_azimuth_deg", 0.0, 360.0),
        ("skin_tone", 0.0, 1.0),
        ("colour_temperature_k", 3000.0, 8000.0),
        ("blur_sigma_px", 0.0, 1.5),
        ("jpeg_quality", 70.0, 95.0),
        ("light_gradient", 0.0, 0.6),
    ):
        v = values(name)
        assert v.min() >= lo and v.max() <= hi, name
        span = hi - lo
        assert v.min() < lo + 0.05 * span and v.max() > hi - 0.05 * span, name
    assert set(values("exif_orientation")) == {1, 3, 6, 8}
    assert set(values("n_lesions")) == {1, 2, 3}
    assert np.all(values("eschar_fraction") + values("slough_fraction") <= 1.0)
    assert len({s.seed for s in specs}) == len(specs)
    assert {(s.width_px, s.height_px) for s in specs} == {(1600, 1200), (1200, 1600)}


def test_random_spec_overrides_and_reproducibility() -> None:
    a = random_spec(np.random.default_rng(3), tilt_deg=0.0, jpeg_quality=None)
    b = random_spec(np.random.default_rng(3), tilt_deg=0.0, jpeg_quality=None)
    assert a == b and a.tilt_deg == 0.0 and a.jpeg_quality is None
    with pytest.raises(TypeError, match="random_spec: tilt is not a PhantomSpec field"):
        random_spec(np.random.default_rng(3), tilt=3.0)


def test_random_specs_render_with_a_detectable_sticker() -> None:
    rng = np.random.default_rng(42)
    for _ in range(1):
        spec = random_spec(rng, width_px=960, height_px=720, blur_sigma_px=0.5)
        p = render_phantom(spec)
        _, ids = detect_marker(p.image)
        assert ids.tolist() == [spec.marker_id]


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("seed", -1, r"seed must be an int >= 0"),
        ("seed", 1.5, r"seed must be an int"),
        ("lesion_seed", -2, r"lesion_seed must be None or an int >= 0"),
        ("width_px", 10, r"width_px must be between 64 and 12000"),
        ("height_px", True, r"height_px must be an int"),
        ("tilt_deg", float("nan"), r"tilt_deg must be a finite number"),
        ("tilt_deg", 80.0, r"tilt_deg must be in \[0, 70\]"),
        ("focal_35mm", 2.0, r"focal_35mm must be in \[8, 300\]"),
        ("skin_tone", 1.5, r"skin_tone must be in \[0, 1\]"),
        ("wound_radius_mm", 61.0, r"wound_radius_mm must be in \[0.5, 60\]"),
        ("n_lesions", 4, r"n_lesions must be 1, 2 or 3"),
        ("eschar_fraction", -0.1, r"eschar_fraction must be in \[0, 1\]"),
        ("slough_fraction", 0.7, r"eschar_fraction \+ slough_fraction must be <= 1"),
        ("erythema_width_mm", -1.0, r"erythema_width_mm must be in \[0, 30\]"),
        ("marker_mm", 0.0, r"marker_mm must be in \[2, 200\]"),
        ("marker_id", 50, r"marker_id must be in \[0, 49\]"),
        ("wound_fill_frac", 1.0, r"wound_fill_frac must be in \[0.02, 0.9\]"),
        ("light_gradient", -0.1, r"light_gradient must be in \[0, 3\]"),
        ("colour_temperature_k", 1000.0, r"colour_temperature_k must be in \[1500, 15000\]"),
        ("blur_sigma_px", -1.0, r"blur_sigma_px must be in \[0, 20\]"),
        ("noise_sigma", 99.0, r"noise_sigma must be in \[0, 50\]"),
        ("jpeg_quality", 0, r"jpeg_quality must be None or an int in \[1, 100\]"),
        ("exif_orientation", 9, r"exif_orientation must be an EXIF orientation 1..8"),
        ("taken_at", "2026-03-02", r"taken_at must be None or a datetime"),
    ],
)
def test_spec_validation(field: str, value: object, match: str) -> None:
    kwargs = {field: value}
    if field == "slough_fraction":
        kwargs["eschar_fraction"] = 0.5
    with pytest.raises(ValueError, match=f"PhantomSpec.{match}"):
        PhantomSpec(**kwargs)


def test_truth_validation() -> None:
    good = rendered(
        PhantomSpec(seed=11, n_lesions=1, eschar_fraction=0.55, slough_fraction=0.25, **TINY)
    ).truth
    fields = {name: getattr(good, name) for name in good.__slots__}
    with pytest.raises(ValueError, match=r"PhantomTruth.wound_area_mm2 must be a finite number"):
        PhantomTruth(**{**fields, "wound_area_mm2": -1.0})
    with pytest.raises(ValueError, match=r"PhantomTruth.plane_to_image must be 3x3"):
        PhantomTruth(**{**fields, "plane_to_image": ((1.0, 0.0), (0.0, 1.0))})
    with pytest.raises(ValueError, match=r"PhantomTruth.lesion_centres_px must have one entry"):
        PhantomTruth(**{**fields, "lesion_centres_px": ()})


def test_measured_tissue_colours_are_as_dull_as_real_wounds():
    """``tissue_colours="measured"`` paints granulation and slough near the medians measured on
    the specialist-labelled FUSeg photos (granulation L* 38, chroma 36; slough L* 57, hue 49°),
    where the phantoms' own granulation is far more saturated; nothing else changes."""

    def medians(colours: str, label: int) -> tuple[float, float, float]:
        spec = PhantomSpec(
            seed=3, width_px=800, height_px=600, light_gradient=0.0, tissue_colours=colours
        )
        p = render_phantom(spec)
        lab = cv2.cvtColor(p.image.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[p.labels == label]
        lightness, a, b = np.median(lab, axis=0)
        return float(lightness), float(np.hypot(a, b)), math.degrees(math.atan2(b, a))

    vivid, measured = medians("vivid", GRANULATION), medians("measured", GRANULATION)
    assert measured[0] == pytest.approx(38, abs=6) and measured[1] == pytest.approx(36, abs=6)
    assert vivid[1] > measured[1] + 10  # the phantoms' own granulation: far more saturated
    lightness, _, hue = medians("measured", SLOUGH)
    assert lightness == pytest.approx(57, abs=7) and hue == pytest.approx(49, abs=10)
    same = PhantomSpec(seed=3, width_px=320, height_px=240, tissue_colours="measured")
    np.testing.assert_array_equal(  # only the tissues' colours differ, not where they lie
        render_phantom(same).labels,
        render_phantom(dataclasses.replace(same, tissue_colours="vivid")).labels,
    )
    with pytest.raises(ValueError, match="tissue_colours must be one of"):
        PhantomSpec(tissue_colours="pastel")
