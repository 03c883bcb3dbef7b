"""measure.py on drawn label maps with analytic answers."""

import math

import cv2
import numpy as np
import pytest

from woundtrack.image.calibration import manual_calibration
from woundtrack.image.measure import measure, nearest_lesion
from woundtrack.models import ERYTHEMA, ESCHAR, GRANULATION, SLOUGH, Calibration

NONE = Calibration(method="none")


def _disc(shape, centre, radius, value, labels=None):
    labels = np.zeros(shape, np.uint8) if labels is None else labels
    cv2.circle(labels, centre, radius, int(value), -1, lineType=cv2.LINE_8)
    return labels


def test_disc_area_perimeter_and_axes_with_manual_scale():
    labels = _disc((800, 800), (400, 400), 200, GRANULATION)
    cal = manual_calibration(0.1)  # 0.1 mm per px: r = 20 mm
    lesions, totals = measure(labels, cal)
    assert len(lesions) == 1
    m = lesions[0]
    assert m.wound_area_cm2 == pytest.approx(math.pi * 2.0**2, rel=0.005)
    assert totals.wound_area_cm2 == pytest.approx(m.wound_area_cm2)
    assert m.perimeter_cm == pytest.approx(2 * math.pi * 2.0, rel=0.02)
    assert m.length_cm == pytest.approx(4.0, rel=0.01)
    assert m.width_cm == pytest.approx(4.0, rel=0.01)
    assert m.granulation_pct == pytest.approx(100.0)


def test_rotated_rectangle_length_and_width():
    labels = np.zeros((900, 900), np.uint8)
    box = cv2.boxPoints(((450, 450), (500, 200), 30.0))  # 50 x 20 mm at 0.1 mm/px
    cv2.fillPoly(labels, [np.round(box).astype(np.int32)], GRANULATION)
    (m,), _ = measure(labels, manual_calibration(0.1))
    # The longest axis of a rectangle is its diagonal; the width is measured across it.
    diagonal = math.hypot(5.0, 2.0)
    assert m.length_cm == pytest.approx(diagonal, rel=0.01)
    assert m.width_cm == pytest.approx(2 * 5.0 * 2.0 / diagonal, rel=0.02)
    # fillPoly paints the boundary pixels too: ~half a pixel too much all round (~1 %).
    assert m.wound_area_cm2 == pytest.approx(10.0, rel=0.015)


def test_tissue_shares_and_erythema_go_to_the_nearest_lesion():
    labels = _disc((600, 1200), (300, 300), 150, ERYTHEMA)
    _disc(labels.shape, (300, 300), 100, GRANULATION, labels)
    _disc(labels.shape, (300, 300), 50, ESCHAR, labels)
    _disc(labels.shape, (900, 300), 60, SLOUGH, labels)
    lesions, totals = measure(labels, manual_calibration(0.1))
    assert [m.index for m in lesions] == [1, 2]
    big, small = lesions
    assert big.wound_area_px > small.wound_area_px
    assert big.eschar_pct == pytest.approx(25.0, abs=0.5)
    assert big.erythema_area_px == np.count_nonzero(labels == ERYTHEMA)
    assert small.slough_pct == pytest.approx(100.0)
    assert small.erythema_area_px == 0
    assert totals.erythema_area_cm2 == pytest.approx(math.pi * (1.5**2 - 1.0**2), rel=0.01)
    assert totals.wound_area_px == big.wound_area_px + small.wound_area_px


def test_each_pixel_goes_to_the_lesion_whose_bed_is_nearest():
    labels = np.zeros((100, 200), np.uint8)
    labels[40:60, 150:170] = SLOUGH  # 400 px: lesion 2
    labels[20:80, 20:80] = GRANULATION  # 3,600 px: lesion 1 (measure numbers the largest first)
    labels[15:20, 20:80] = ERYTHEMA
    lesions, _ = measure(labels, NONE)
    owner = nearest_lesion(labels, lesions, (slice(0, 100), slice(0, 200)))
    assert owner.shape == labels.shape and owner.dtype == np.int32
    assert owner[50, 50] == owner[0, 0] == owner[50, 110] == 1  # inside, a corner, nearer to 1
    assert owner[50, 160] == owner[99, 199] == owner[50, 120] == 2
    # a box: only its pixels, their nearest bed may lie outside it
    part = nearest_lesion(labels, lesions, (slice(45, 55), slice(100, 130)))
    assert np.array_equal(part, owner[45:55, 100:130])
    assert set(np.unique(part)) == {1, 2}
    assert not nearest_lesion(labels, [], (slice(0, 10), slice(0, 10))).any()


def test_erythema_reach_is_its_furthest_pixel_from_the_wound_edge():
    # Wound: a disc of radius 100 px; erythema: a ring to 130 px all round, and one tongue that
    # runs out to 180 px on the right. 0.1 mm per px: the tongue reaches 8 mm, the ring 3 mm.
    labels = _disc((600, 1200), (300, 300), 130, ERYTHEMA)
    cv2.rectangle(labels, (400, 290), (480, 310), ERYTHEMA, -1)
    _disc(labels.shape, (300, 300), 100, GRANULATION, labels)
    _disc(labels.shape, (900, 300), 60, SLOUGH, labels)  # a second wound with no erythema
    big, small = measure(labels, manual_calibration(0.1))[0]
    assert big.erythema_reach_px == pytest.approx(80.0, abs=1.5)
    assert big.erythema_reach_cm == pytest.approx(0.8, abs=0.015)
    assert small.erythema_reach_px == 0.0 and small.erythema_reach_cm == 0.0
    # Without the tongue, the ring's width.
    ring = _disc((600, 1200), (300, 300), 130, ERYTHEMA)
    _disc(ring.shape, (300, 300), 100, GRANULATION, ring)
    (m,), _ = measure(ring, manual_calibration(0.1))
    assert m.erythema_reach_cm == pytest.approx(0.3, abs=0.015)
    # Uncalibrated: pixels only.
    (m,), _ = measure(ring, NONE)
    assert m.erythema_reach_cm is None
    assert m.erythema_reach_px == pytest.approx(30.0, abs=1.5)


def test_uncalibrated_gives_pixels_and_no_cm2():
    labels = _disc((400, 400), (200, 200), 100, GRANULATION)
    (m,), totals = measure(labels, NONE)
    assert m.wound_area_px == np.count_nonzero(labels)
    for value in (
        m.wound_area_cm2,
        m.perimeter_cm,
        m.length_cm,
        totals.wound_area_cm2,
        totals.eschar_area_cm2,
    ):
        assert value is None
    assert m.length_px == pytest.approx(201, abs=1.5)


def test_homography_weights_each_pixel_by_its_area_on_the_plane():
    # A plane homography that compresses the right side: x_mm = x / (1 + x/1000) style.
    h = ((0.1, 0.0, 0.0), (0.0, 0.1, 0.0), (0.0005, 0.0, 1.0))
    cal = Calibration(method="aruco", homography=h, marker_mm=20.0, quality="test")
    labels = np.zeros((400, 1000), np.uint8)
    labels[100:300, 200:800] = GRANULATION
    (m,), _ = measure(labels, cal)
    # Analytic: area = ∫∫ |det H| / w^3 dx dy with w = 1 + 0.0005 x over the pixel centres' cells.
    det = 0.1 * 0.1
    xs = np.arange(200, 800)
    expected_mm2 = 200 * np.sum(det / (1 + 0.0005 * xs) ** 3)
    assert m.wound_area_cm2 == pytest.approx(expected_mm2 / 100, rel=1e-6)


def test_empty_label_map_has_no_lesions():
    lesions, totals = measure(np.zeros((50, 50), np.uint8), manual_calibration(0.2))
    assert lesions == []
    assert totals.wound_area_cm2 == 0.0 and totals.wound_area_px == 0


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (np.zeros((5, 5, 3), np.uint8), "label map"),
        (np.zeros((5, 5), np.int32), "label map"),
        (np.full((5, 5), 9, np.uint8), "value 9"),
    ],
)
def test_bad_label_maps_are_refused(labels, match):
    with pytest.raises(ValueError, match=match):
        measure(labels, NONE)


def _blocks() -> np.ndarray:
    """Two lesions of axis-aligned blocks, every figure countable by hand.

    A: rows 10-39, cols 20-79 (30 x 60 = 1800 px): eschar rows 10-19 x cols 20-39 (200 px),
    slough rows 30-39 x cols 60-79 (200 px), granulation the other 1400 px; erythema rows 5-9
    x cols 20-79 (300 px) above it. B: slough rows 60-69 x cols 150-169 (200 px), erythema rows
    60-69 x cols 170-174 (50 px) on its right, the right-most labelled column of the image.
    """
    labels = np.zeros((100, 200), np.uint8)
    labels[10:40, 20:80] = GRANULATION
    labels[10:20, 20:40] = ESCHAR
    labels[30:40, 60:80] = SLOUGH
    labels[5:10, 20:80] = ERYTHEMA
    labels[60:70, 150:170] = SLOUGH
    labels[60:70, 170:175] = ERYTHEMA
    return labels


def test_blocks_give_exact_pixel_figures_shares_and_outline():
    (a, b), totals = measure(_blocks(), NONE)
    assert (a.wound_area_px, a.granulation_area_px) == (1800, 1400)
    assert (a.eschar_area_px, a.slough_area_px, a.erythema_area_px) == (200, 200, 300)
    assert (b.wound_area_px, b.slough_area_px, b.erythema_area_px) == (200, 200, 50)
    assert totals.wound_area_px == 2000 and totals.erythema_area_px == 350
    assert a.eschar_pct == pytest.approx(100 * 200 / 1800)
    assert a.slough_pct == pytest.approx(100 * 200 / 1800)
    assert a.granulation_pct == pytest.approx(100 * 1400 / 1800)
    assert b.slough_pct == pytest.approx(100.0) and b.eschar_pct == 0.0
    # bounding box and centroid of the wound bed (erythema left out)
    assert a.bbox_px == (20, 10, 60, 30) and b.bbox_px == (150, 60, 20, 10)
    assert a.centroid_px == pytest.approx((49.5, 24.5))
    assert b.centroid_px == pytest.approx((159.5, 64.5))
    # outline through boundary pixel centres: a 59 x 29 px rectangle; Feret diameters between
    # pixel centres get one pixel added (half a pixel at each end)
    assert a.perimeter_px == pytest.approx(2 * (59 + 29))
    diagonal = math.hypot(59, 29)
    assert a.length_px == pytest.approx(diagonal + 1)
    assert a.width_px == pytest.approx(2 * 59 * 29 / diagonal + 1)
    # no scale: every cm² and cm figure is None, not 0
    for field in ("granulation", "slough", "eschar", "erythema", "wound"):
        assert getattr(a, f"{field}_area_cm2") is None


def test_blocks_with_a_manual_scale():
    (a, b), totals = measure(_blocks(), manual_calibration(0.5))  # a pixel is 0.25 mm²
    assert a.wound_area_cm2 == pytest.approx(1800 * 0.25 / 100)
    assert a.eschar_area_cm2 == pytest.approx(200 * 0.25 / 100)
    assert a.erythema_area_cm2 == pytest.approx(300 * 0.25 / 100)
    assert totals.wound_area_cm2 == pytest.approx(2000 * 0.25 / 100)
    assert a.eschar_pct == pytest.approx(100 * 200 / 1800)
    assert a.granulation_pct == pytest.approx(100 * 1400 / 1800)
    assert b.slough_pct == pytest.approx(100.0) and b.granulation_pct == 0.0
    diagonal = math.hypot(59, 29)
    assert a.perimeter_cm == pytest.approx(2 * (59 + 29) * 0.5 / 10)
    assert a.length_cm == pytest.approx((diagonal + 1) * 0.5 / 10)
    assert a.width_cm == pytest.approx((2 * 59 * 29 / diagonal + 1) * 0.5 / 10)


def test_lesions_of_one_and_three_pixels():
    labels = np.zeros((20, 20), np.uint8)
    labels[5, 5] = GRANULATION
    labels[12, 10:13] = ESCHAR
    line, dot = measure(labels, NONE)[0]
    assert (dot.wound_area_px, dot.length_px, dot.width_px) == (1, 1.0, 1.0)
    assert dot.perimeter_px == 0.0
    assert line.wound_area_px == 3 and line.eschar_pct == pytest.approx(100.0)
    assert (line.length_px, line.width_px) == (pytest.approx(3.0), pytest.approx(1.0))


def test_homography_perimeter_of_a_rectangle_is_that_of_its_mapped_corners():
    # Straight lines stay straight under a homography: the outline is the 4 mapped corners
    # (pixel centres (200, 100) to (799, 299)), with x_mm = 0.1 x / w, y_mm = 0.1 y / w.
    h = ((0.1, 0.0, 0.0), (0.0, 0.1, 0.0), (0.0005, 0.0, 1.0))
    cal = Calibration(method="aruco", homography=h, marker_mm=20.0, quality="test")
    labels = np.zeros((400, 1000), np.uint8)
    labels[100:300, 200:800] = GRANULATION
    (m,), _ = measure(labels, cal)

    def plane(x: float, y: float) -> tuple[float, float]:
        w = 1 + 0.0005 * x
        return 0.1 * x / w, 0.1 * y / w

    corners = [plane(200, 100), plane(799, 100), plane(799, 299), plane(200, 299)]
    sides = [math.dist(corners[i], corners[(i + 1) % 4]) for i in range(4)]
    assert m.perimeter_cm == pytest.approx(sum(sides) / 10, rel=1e-9)
