"""Tests of woundtrack.image.editing: drawn corrections to a label map, and two visits side by side.

Polygons use pixel-centre coordinates (pixel (row, col) is centred on x=col, y=row), so every
answer here is an exact set of pixels.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from skimage.draw import polygon as sk_polygon

from woundtrack.errors import CalibrationError
from woundtrack.image.editing import (
    COMPARED_FIGURES,
    Edit,
    apply_edits,
    apply_polygon,
    check_polygon,
    draw_scale_bar,
    lasso_polygons,
    lesion_changes,
    rasterise_polygon,
    registered_pair,
)
from woundtrack.image.registration import Registration
from woundtrack.models import ERYTHEMA, ESCHAR, GRANULATION, SLOUGH, Calibration

SQUARE = [(1.5, 1.5), (4.5, 1.5), (4.5, 4.5), (1.5, 4.5)]  # centres 2, 3, 4 on both axes


def labels_with_wound() -> np.ndarray:
    labels = np.zeros((10, 12), np.uint8)
    labels[3:7, 4:9] = ESCHAR
    labels[2, 2] = ERYTHEMA
    return labels


# ---------------------------------------------------------------------------- rasterising
def test_square_covers_exactly_the_pixels_whose_centres_are_inside() -> None:
    mask = rasterise_polygon(SQUARE, (8, 9))
    expected = np.zeros((8, 9), bool)
    expected[2:5, 2:5] = True
    np.testing.assert_array_equal(mask, expected)


def test_centres_on_the_edge_are_covered() -> None:
    mask = rasterise_polygon([(2, 2), (5, 2), (5, 5), (2, 5)], (8, 8))
    expected = np.zeros((8, 8), bool)
    expected[2:6, 2:6] = True
    np.testing.assert_array_equal(mask, expected)


def test_triangle_and_vertex_order_do_not_matter() -> None:
    tri = [(1, 1), (3, 1), (3, 3)]
    mask = rasterise_polygon(tri, (6, 6))
    assert sorted(zip(*np.nonzero(mask), strict=True)) == [
        (1, 1),
        (1, 2),
        (1, 3),
        (2, 2),
        (2, 3),
        (3, 3),
    ]
    np.testing.assert_array_equal(rasterise_polygon(tri[::-1], (6, 6)), mask)
    np.testing.assert_array_equal(rasterise_polygon([*tri, tri[0]], (6, 6)), mask)


def test_concave_polygon_leaves_its_notch_out() -> None:
    # A U shape: columns 1-5, rows 1-5, with the notch x in (2.5, 3.5), y < 3.5 cut out.
    u = [(0.5, 0.5), (2.5, 0.5), (2.5, 3.5), (3.5, 3.5), (3.5, 0.5), (5.5, 0.5), (5.5, 5.5)]
    u.append((0.5, 5.5))
    mask = rasterise_polygon(u, (7, 7))
    expected = np.zeros((7, 7), bool)
    expected[1:6, 1:6] = True
    expected[1:4, 3] = False
    np.testing.assert_array_equal(mask, expected)


def test_interior_agrees_with_scikit_image_on_random_polygons() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        n = int(rng.integers(3, 12))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = rng.uniform(5, 30, n)
        # Non-integer vertices keep pixel centres off the edges, where the rules may differ.
        xs = 32 + radii * np.cos(angles) + 0.3
        ys = 28 + radii * np.sin(angles) + 0.2
        ours = rasterise_polygon(list(zip(xs, ys, strict=True)), (56, 70))
        theirs = np.zeros((56, 70), bool)
        rr, cc = sk_polygon(ys, xs, (56, 70))
        theirs[rr, cc] = True
        assert np.count_nonzero(ours ^ theirs) <= 2  # scikit-image rounds a few edge centres


def test_polygon_partly_outside_the_image_is_clipped() -> None:
    mask = rasterise_polygon([(-5.5, -5.5), (2.5, -5.5), (2.5, 1.5), (-5.5, 1.5)], (4, 6))
    expected = np.zeros((4, 6), bool)
    expected[0:2, 0:3] = True
    np.testing.assert_array_equal(mask, expected)
    beyond = rasterise_polygon([(100, 100), (120, 100), (120, 130)], (4, 6))
    assert not beyond.any()


def test_a_polygon_between_pixel_centres_covers_nothing() -> None:
    assert not rasterise_polygon([(1.1, 1.1), (1.9, 1.1), (1.9, 1.9)], (4, 4)).any()


@pytest.mark.parametrize(
    ("polygon", "match"),
    [
        ([(1, 1), (2, 2)], "at least 3 distinct corners"),
        ([(1, 1), (1, 1), (1, 1), (1, 1)], "at least 3 distinct corners"),
        ([(0, 0), (1, 1), (3, 3), (0, 0)], "encloses no area"),
        ([(0, 0), (1, float("nan")), (3, 0)], "finite numbers"),
        ([(0, 0, 1), (1, 1, 1), (3, 0, 1)], r"shape \(3, 3\)"),
        ([("a", 1), (2, 2), (3, 1)], "list of \\(x, y\\) pixel coordinates"),
        ([], r"shape \(0,\)"),
    ],
)
def test_degenerate_polygons_are_refused(polygon: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_polygon(polygon)
    with pytest.raises(ValueError, match=match):
        apply_polygon(np.zeros((5, 5), np.uint8), polygon, value=GRANULATION)


def test_bad_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="positive \\(height, width\\)"):
        rasterise_polygon(SQUARE, (0, 5))


# ---------------------------------------------------------------------------- painting
def test_adding_a_tissue_paints_exactly_the_square_and_leaves_the_input_alone() -> None:
    labels = labels_with_wound()
    before = labels.copy()
    out = apply_polygon(labels, SQUARE, value=SLOUGH)
    np.testing.assert_array_equal(labels, before)
    assert out is not labels and out.dtype == np.uint8
    changed = out != labels
    expected = np.zeros_like(changed)
    expected[2:5, 2:5] = True
    expected &= labels != SLOUGH
    np.testing.assert_array_equal(changed, expected)
    assert np.all(out[2:5, 2:5] == SLOUGH)


def test_erasing_sets_the_square_back_to_skin() -> None:
    labels = labels_with_wound()
    out = apply_polygon(labels, [(3.5, 2.5), (6.5, 2.5), (6.5, 7.5), (3.5, 7.5)], value=0)
    assert np.all(out[3:8, 4:7] == 0)
    assert np.count_nonzero(out == ESCHAR) == np.count_nonzero(labels == ESCHAR) - 4 * 3
    assert out[2, 2] == ERYTHEMA  # outside the polygon: untouched


@pytest.mark.parametrize("value", [5, -1, 255, 1.0, True, "2"])
def test_values_other_than_skin_or_a_tissue_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="value must be 0 \\(erase to skin\\) or a tissue"):
        apply_polygon(np.zeros((5, 5), np.uint8), SQUARE, value=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "labels", [np.zeros((5, 5), np.int32), np.zeros((5, 5, 1), np.uint8), [[0, 0], [0, 0]]]
)
def test_label_maps_must_be_2d_uint8(labels: object) -> None:
    with pytest.raises(ValueError, match="labels must be an \\(H, W\\) uint8 label map"):
        apply_polygon(labels, SQUARE, value=1)  # type: ignore[arg-type]


def test_edits_apply_in_order_and_describe_themselves() -> None:
    labels = np.zeros((8, 8), np.uint8)
    add = Edit(polygon_px=[(0.5, 0.5), (5.5, 0.5), (5.5, 5.5), (0.5, 5.5)], value=GRANULATION)
    erase = Edit(polygon_px=SQUARE, value=0)
    out = apply_edits(labels, [add, erase])
    assert np.count_nonzero(out == GRANULATION) == 25 - 9
    assert apply_edits(labels, [erase, add]).max() == GRANULATION
    assert np.count_nonzero(apply_edits(labels, [erase, add])) == 25
    assert (add.action, erase.action) == ("add granulation", "erase")
    assert add.polygon_px[0] == (0.5, 0.5) and isinstance(add.polygon_px, tuple)
    assert not labels.any()


def test_an_edit_validates_its_polygon_and_value() -> None:
    with pytest.raises(ValueError, match="at least 3 distinct corners"):
        Edit(polygon_px=[(0, 0), (1, 1)], value=1)
    with pytest.raises(ValueError, match="value must be 0"):
        Edit(polygon_px=SQUARE, value=9)


# ---------------------------------------------------------------------------- lasso events
def test_lasso_polygons_from_a_streamlit_plotly_event() -> None:
    event = {
        "selection": {
            "points": [],
            "box": [],
            "lasso": [
                {"xref": "x", "yref": "y", "x": [1.0, 5.0, 5.0], "y": [2.0, 2.0, 6.0]},
                {"x": [1, 2], "y": [1, 2]},  # a click, not a lasso
                {"x": [1, 2, 3], "y": [1, 2]},  # malformed
            ],
        }
    }
    assert lasso_polygons(event) == [((1.0, 2.0), (5.0, 2.0), (5.0, 6.0))]
    assert lasso_polygons(event["selection"]) == lasso_polygons(event)
    assert lasso_polygons(None) == [] and lasso_polygons({}) == []
    assert lasso_polygons({"selection": {"lasso": []}}) == []


# ---------------------------------------------------------------------------- comparing
def row(lesion: str, **figures: float | None) -> SimpleNamespace:
    values: dict[str, float | None] = {name: 1.0 for name, *_ in COMPARED_FIGURES}
    values.update(figures)
    return SimpleNamespace(lesion=lesion, **values)


def test_lesion_changes_absolute_and_relative() -> None:
    before = [row("L1", wound_area_cm2=4.0, eschar_pct=60.0), row("L2", wound_area_cm2=0.0)]
    after = [row("L1", wound_area_cm2=3.0, eschar_pct=45.0), row("L2", wound_area_cm2=0.5)]
    out = {(r["lesion"], r["figure"]): r for r in lesion_changes(before, after)}
    assert len(out) == 2 * len(COMPARED_FIGURES)
    area = out[("L1", "wound area")]
    assert (area["before"], area["after"], area["change"]) == (4.0, 3.0, -1.0)
    assert area["change_pct"] == pytest.approx(-25.0) and area["unit"] == "cm²"
    share = out[("L1", "eschar share of bed")]
    assert share["change"] == -15.0 and share["change_pct"] is None  # already in points
    assert out[("L2", "wound area")]["change_pct"] is None  # from 0: no relative change


def test_lesion_changes_for_lesions_seen_once_and_uncalibrated_visits() -> None:
    before = [row("L10"), row("L2", wound_area_cm2=None)]
    after = [row("L2"), row("L3")]
    rows = lesion_changes(before, after)
    assert [r["lesion"] for r in rows[:: len(COMPARED_FIGURES)]] == ["L2", "L3", "L10"]
    by = {(r["lesion"], r["figure"]): r for r in rows}
    assert by[("L2", "wound area")]["change"] is None
    assert by[("L3", "wound area")]["before"] is None and by[("L3", "wound area")]["after"] == 1
    assert by[("L10", "length")]["after"] is None and by[("L10", "length")]["change"] is None
    assert lesion_changes([], []) == []


# ---------------------------------------------------------------------------- top views
def plane_calibration(mm_per_px: float, *, angle_deg: float = 0.0, shift=(0.0, 0.0)):
    """A square-on photo: plane mm = R(angle) (px * mm_per_px) + shift."""
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    h = np.array(
        [
            [c * mm_per_px, -s * mm_per_px, shift[0]],
            [s * mm_per_px, c * mm_per_px, shift[1]],
            [0.0, 0.0, 1.0],
        ]
    )
    return Calibration(method="manual", homography=tuple(map(tuple, h)), quality="test")


def test_registered_pair_puts_both_visits_on_one_grid() -> None:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)
    base_labels = np.zeros((200, 300), np.uint8)
    base_labels[80:120, 100:160] = ESCHAR
    follow = base[:, ::-1].copy()  # the follow-up photo is the same skin, mirrored in x
    follow_labels = base_labels[:, ::-1].copy()
    mirror = np.array([[-1.0, 0.0, 299.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    reg = Registration(
        follow_to_baseline=tuple(map(tuple, mirror)),
        follow_to_baseline_plane=tuple(map(tuple, np.eye(3))),
        method="sticker-only",
        n_inliers=0,
        residual_mm=None,
        rotation_deg=0.0,
    )
    cal = plane_calibration(0.5)
    views = registered_pair(base, base_labels, cal, follow, follow_labels, reg, mm_per_px=0.5)
    top_a, lab_a, top_b, lab_b, scale = views[:5]
    assert scale == 0.5
    # where each photo's pixels land: the eschar block's corner pixels, in both views
    for to_top, lab, corners in (
        (views.baseline_to_top, lab_a, [[100.0, 80.0], [159.0, 119.0]]),
        (views.follow_to_top, lab_b, [[199.0, 80.0], [140.0, 119.0]]),  # mirrored in x
    ):
        mapped = cv2.perspectiveTransform(np.array([corners]), to_top)[0]
        (x0, y0), (x1, y1) = mapped.round().astype(int)
        assert (x0, y0, x1, y1) == (30, 30, 89, 69)  # the block's corners in the view
        assert lab[y0, x0] == lab[y1, x1] == ESCHAR
        assert lab[y0 - 1, x0 - 1] == lab[y1 + 1, x1 + 1] == 0
    assert top_a.shape == top_b.shape and lab_a.shape == lab_b.shape == top_a.shape[:2]
    # Pixel centres 100-159 x 80-119 at 0.5 mm span 29.5 x 19.5 mm; 15 mm of skin each side.
    assert lab_a.shape == (round((19.5 + 30) / 0.5), round((29.5 + 30) / 0.5))
    np.testing.assert_array_equal(lab_a, lab_b)
    assert np.count_nonzero(lab_a == ESCHAR) == 60 * 40
    inside = lab_a == ESCHAR
    assert np.abs(top_a[inside].astype(int) - top_b[inside].astype(int)).mean() < 1.0
    small = registered_pair(
        base, base_labels, cal, follow, follow_labels, reg, mm_per_px=0.5, max_side_px=30
    )
    assert max(small[0].shape[:2]) <= 30 and small[4] > 0.5
    # By default the view keeps the photo's own detail at the wound: 0.25 mm per photo pixel
    # here (not a fixed 0.2 mm, which would magnify nothing, nor a coarser one losing detail).
    fine = plane_calibration(0.25, angle_deg=30.0)
    own = registered_pair(base, base_labels, fine, follow, follow_labels, reg).mm_per_px
    assert own == pytest.approx(0.25)


def test_registered_pair_refuses_mismatched_labels_and_uncalibrated_photos() -> None:
    image = np.zeros((20, 30, 3), np.uint8)
    labels = np.zeros((20, 30), np.uint8)
    reg = Registration(
        follow_to_baseline=tuple(map(tuple, np.eye(3))),
        follow_to_baseline_plane=tuple(map(tuple, np.eye(3))),
        method="sticker-only",
        n_inliers=0,
        residual_mm=None,
        rotation_deg=0.0,
    )
    cal = plane_calibration(0.5)
    with pytest.raises(ValueError, match="follow_labels \\(20, 29\\) do not match the photo"):
        registered_pair(image, labels, cal, image, labels[:, 1:], reg)
    with pytest.raises(ValueError, match="mm_per_px and max_side_px must be positive"):
        registered_pair(image, labels, cal, image, labels, reg, mm_per_px=0.0)
    with pytest.raises(CalibrationError, match="cannot be put on its skin plane"):
        registered_pair(image, labels, Calibration(method="none"), image, labels, reg)
    wound = labels.copy()
    wound[5:10, 5:10] = ESCHAR  # with a wound, too (a TypeError before it was checked first)
    with pytest.raises(CalibrationError, match="cannot be put on its skin plane"):
        registered_pair(image, wound, Calibration(method="none"), image, wound, reg)


def test_scale_bar_is_drawn_on_a_copy() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    out = draw_scale_bar(image, mm_per_px=0.2, length_mm=10)
    assert not image.any()
    white = np.all(out == 255, axis=2)
    rows = np.nonzero(white.sum(axis=1) >= 50)[0]
    assert rows.size and white[rows[-1]].sum() == pytest.approx(51, abs=2)  # 10 mm = 50 px
    with pytest.raises(ValueError, match="must be positive"):
        draw_scale_bar(image, mm_per_px=0, length_mm=10)
    with pytest.raises(ValueError, match="\\(H, W, 3\\) uint8"):
        draw_scale_bar(image[..., 0], mm_per_px=0.2)
