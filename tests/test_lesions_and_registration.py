"""Lesion identities across visits (lesion_matching.py) and registration of a follow-up photo
(registration.py).

The phantoms photograph the same lesions (fixed ``lesion_seed``) again from another pose, with the
sticker stuck elsewhere and another light (``seed``); ``n_lesions`` keeps a prefix of the same
lesions, so 3 -> 2 is a lesion that healed and 2 -> 3 one that appeared. The truth of where each
photo's plane frame (its sticker's) lies in the scene comes from the truth marker corners.
"""

from __future__ import annotations

import dataclasses
import math
import re

import cv2
import numpy as np
import pytest

from woundtrack.errors import CalibrationError
from woundtrack.image import calibration as cal
from woundtrack.image.lesion_matching import (
    LesionPosition,
    area_ratio_gate,
    constellation_transform,
    fit_rigid,
    lesion_positions,
    match_lesions,
    positions_of,
)
from woundtrack.image.measure import measure
from woundtrack.image.pipeline import analyze_image
from woundtrack.image.registration import (
    Registration,
    rectify,
    register,
    warp_labels_to_baseline,
    warp_to_baseline,
)
from woundtrack.models import Calibration, PhotoInfo
from woundtrack.synthetic.phantom import PhantomSpec

SMALL = {"width_px": 800, "height_px": 600, "wound_radius_mm": 8.0, "lesion_seed": 5}
BASELINE = {"seed": 1}
# Another visit: other tilt, roll and light, the sticker elsewhere and turned.
FOLLOW_UP = {
    "seed": 2,
    "tilt_deg": 25.0,
    "tilt_azimuth_deg": 70.0,
    "roll_deg": 100.0,
    "colour_temperature_k": 4000.0,
}


def _spec(n_lesions: int, pose: dict) -> PhantomSpec:
    return PhantomSpec(n_lesions=n_lesions, **SMALL, **pose)


@pytest.fixture(scope="module")
def visit(phantom):
    """``visit(n_lesions, pose)``: (phantom, analysis) of a rendered visit, analysed once and
    shared between this module's tests."""
    analyses: dict = {}

    def _visit(n_lesions: int, pose: dict):
        spec = _spec(n_lesions, pose)
        if spec not in analyses:
            ph = phantom(spec)
            info = PhotoInfo(
                file=f"visit_{spec.seed}_{n_lesions}.jpg",
                sha256="0" * 64,
                format="JPEG",
                width_px=spec.width_px,
                height_px=spec.height_px,
            )
            analyses[spec] = (ph, analyze_image(ph.image, info))
        return analyses[spec]

    return _visit


def _truth_index(analysis, ph) -> dict[str, int | None]:
    """Truth lesion of each measured lesion (None for extra fragments of a split segmentation)."""
    centres = np.array(ph.truth.lesion_centres_px)
    out: dict[str, int | None] = {}
    for m in analysis.lesions:  # largest first, so a lesion's main part is seen first
        d = np.linalg.norm(centres - np.array(m.centroid_px), axis=1)
        t = int(d.argmin()) if d.min() < 15 else None
        out[str(m.index)] = None if t in out.values() else t
    return out


def _known(analysis, ph) -> list[LesionPosition]:
    """A visit's lesions keyed by their truth label ("L1".. ; "F<index>" for fragments)."""
    truth = _truth_index(analysis, ph)
    return [
        dataclasses.replace(
            p, key=f"L{truth[p.key] + 1}" if truth[p.key] is not None else f"F{p.key}"
        )
        for p in lesion_positions(analysis)
    ]


def _expected(analysis, ph) -> dict[str, str]:
    """New key -> the label it must get, for the main part of every truth lesion."""
    return {k: f"L{t + 1}" for k, t in _truth_index(analysis, ph).items() if t is not None}


def _world_to_plane(ph) -> np.ndarray:
    """Rigid map from the phantom's scene mm to the photo's plane mm (its sticker frame)."""
    s = ph.truth.marker_mm
    src = np.array(ph.truth.marker_corners_mm)
    dst = np.array([[0, 0], [s, 0], [s, s], [0, s]], dtype=np.float64)
    affine, _ = cv2.estimateAffinePartial2D(src, dst)
    return np.vstack([affine, [0, 0, 1]])


def _truth_centroids_mm(ph) -> np.ndarray:
    """Area centroids of the truth outlines in scene mm (the phantom's lesion centres are the
    outlines' polar centres, which lobes pull away from the centroid)."""
    out = []
    for outline in ph.truth.lesion_outlines_mm:
        m = cv2.moments(np.array(outline, np.float32))
        out.append((m["m10"] / m["m00"], m["m01"] / m["m00"]))
    return np.array(out)


def _apply(h: np.ndarray, pts) -> np.ndarray:
    return cv2.perspectiveTransform(np.asarray(pts, np.float64).reshape(-1, 1, 2), h).reshape(-1, 2)


def _pos(key, x, y, area_cm2=1.0, *, px=None, calibrated=True) -> LesionPosition:
    return LesionPosition(
        key=key,
        centre_mm=(float(x), float(y)) if calibrated else None,
        centre_px=px if px is not None else (float(x) * 3, float(y) * 3),
        area_cm2=float(area_cm2) if calibrated else None,
        area_px=int(round(area_cm2 * 900)),
    )


def _rigid(angle_deg: float, tx: float, ty: float, scale: float = 1.0) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array(
        [
            [scale * math.cos(a), -scale * math.sin(a), tx],
            [scale * math.sin(a), scale * math.cos(a), ty],
            [0, 0, 1.0],
        ]
    )


# --------------------------------------------------------------------------------------------
# Lesion positions and matching on phantoms


def test_lesion_positions_carry_the_measurements_onto_the_plane(visit):
    ph, a = visit(3, FOLLOW_UP)
    positions = lesion_positions(a)
    assert [p.key for p in positions] == [str(m.index) for m in a.lesions]
    for pos, m in zip(positions, a.lesions, strict=True):
        assert pos.centre_px == m.centroid_px and pos.area_px == m.wound_area_px
        assert pos.area_cm2 == m.wound_area_cm2
        expected = cal.to_plane_mm(a.calibration, np.array([m.centroid_px]))[0]
        assert pos.centre_mm == pytest.approx(tuple(expected), abs=1e-9)


def test_plane_centroids_of_exact_label_maps_are_the_truth(visit):
    # On the truth label map (25 degrees off square) the mapped pixel centroid is within a few
    # tenths of a mm of the true area centroid on the plane: the perspective term is negligible.
    ph, a = visit(3, FOLLOW_UP)
    lesions, _ = measure(np.ascontiguousarray(ph.labels), a.calibration)
    got = np.array([p.centre_mm for p in positions_of(lesions, a.calibration)])
    truth = _apply(_world_to_plane(ph), _truth_centroids_mm(ph))
    nearest = np.linalg.norm(got[:, None] - truth[None], axis=2).min(axis=1)
    assert len(got) == 3 and np.all(nearest < 0.4)


def test_positions_of_an_uncalibrated_photo_have_pixels_only(visit):
    ph, _ = visit(2, BASELINE)
    lesions, _ = measure(np.ascontiguousarray(ph.labels), Calibration(method="none"))
    positions = positions_of(lesions, Calibration(method="none"))
    assert len(positions) == 2
    assert all(p.centre_mm is None and p.area_cm2 is None and p.area_px > 0 for p in positions)
    assert positions_of([], Calibration(method="none")) == []


@pytest.mark.parametrize("n_lesions", [1, 2, 3])
def test_same_lesions_photographed_again_keep_their_identities(n_lesions, visit):
    ph0, a0 = visit(n_lesions, BASELINE)
    ph1, a1 = visit(n_lesions, FOLLOW_UP)
    new = lesion_positions(a1)
    got = match_lesions(_known(a0, ph0), new)
    expected = _expected(a1, ph1)
    assert len(expected) == n_lesions
    assert {k: got[k] for k in expected} == expected
    # Any order of either list gives the same answer.
    shuffled = match_lesions(_known(a0, ph0)[::-1], new[1:] + new[:1])
    assert shuffled == got


def test_a_healed_lesion_is_simply_not_matched(visit):
    ph0, a0 = visit(3, BASELINE)
    ph1, a1 = visit(2, FOLLOW_UP)
    got = match_lesions(_known(a0, ph0), lesion_positions(a1))
    expected = _expected(a1, ph1)
    assert {k: got[k] for k in expected} == expected == {"1": "L1", "2": "L2"}
    assert "L3" not in got.values()


def test_a_new_lesion_gets_no_identity(visit):
    ph0, a0 = visit(2, BASELINE)
    ph1, a1 = visit(3, FOLLOW_UP)
    got = match_lesions(_known(a0, ph0), lesion_positions(a1))
    truth = _truth_index(a1, ph1)
    for key, t in truth.items():
        if t in (0, 1):
            assert got[key] == f"L{t + 1}"
        elif t == 2:
            assert got[key] is None


# --------------------------------------------------------------------------------------------
# Matching: properties on synthetic constellations


def _constellation(rng, n):
    """n lesions at least 12 mm apart, with areas that differ by at least 30 % from each other."""
    while True:
        xy = rng.uniform(-40, 40, size=(n, 2))
        d = np.linalg.norm(xy[:, None] - xy[None], axis=2) + np.eye(n) * 1e3
        if d.min() >= 12:
            break
    areas = 0.3 * 1.35 ** rng.permutation(n) * rng.uniform(1.0, 1.05, n)
    return xy, areas


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_constellation_is_recovered_under_any_rigid_motion(n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        xy, areas = _constellation(rng, n)
        known = [_pos(f"L{i + 1}", *xy[i], areas[i]) for i in range(n)]
        motion = _rigid(rng.uniform(-180, 180), *rng.uniform(-80, 80, 2))
        moved = _apply(motion, xy) + rng.normal(0, 0.5, (n, 2))
        grown = areas * rng.uniform(0.8, 1.2, n)
        order = rng.permutation(n)
        new = [_pos(str(k), *moved[i], grown[i]) for k, i in enumerate(order)]
        got = match_lesions(known, new)
        assert got == {str(k): f"L{i + 1}" for k, i in enumerate(order)}
        # The other way round gives the inverse map (rigid motions keep every distance).
        back = match_lesions(new, known)
        assert back == {v: k for k, v in got.items()}
        # Moving the new photo's frame again changes nothing.
        again = [
            dataclasses.replace(p, centre_mm=tuple(_apply(_rigid(77, 5, -9), [p.centre_mm])[0]))
            for p in new
        ]
        assert match_lesions(known, again) == got


def test_inputs_are_left_alone_and_the_answer_is_repeatable():
    known = [_pos("L1", 0, 0, 2.0), _pos("L2", 30, 5, 0.8), _pos("L3", 10, 35, 1.2)]
    new = [_pos("a", 50, 50, 1.9), _pos("b", 50, 80, 0.9), _pos("c", 15, 60, 1.3)]
    before = (list(known), list(new))
    first = match_lesions(known, new)
    assert match_lesions(known, new) == first
    assert (known, new) == before
    assert list(first) == ["a", "b", "c"]


def test_healed_and_new_lesions_in_one_visit():
    known = [_pos("L1", 0, 0, 2.0), _pos("L2", 30, 5, 0.8), _pos("L3", 10, 35, 1.2)]
    motion = _rigid(40, 20, -10)
    kept = _apply(motion, [[0, 0], [10, 35]])
    new = [
        _pos("1", *kept[0], 1.8),
        _pos("2", *kept[1], 1.0),
        _pos("3", *_apply(motion, [[-45, -40]])[0], 0.5),  # appeared, far from the healed L2
    ]
    assert match_lesions(known, new) == {"1": "L1", "2": "L3", "3": None}


def test_two_lesions_are_told_apart_by_size():
    known = [_pos("L1", 0, 0, 2.0), _pos("L2", 30, 0, 0.5)]
    # A half turn swaps them geometrically; only the sizes say which is which.
    new = [_pos("1", 100, 50, 0.6), _pos("2", 70, 50, 1.7)]
    assert match_lesions(known, new) == {"1": "L2", "2": "L1"}


def test_a_transform_from_registration_resolves_equal_twins():
    known = [_pos("L1", 0, 0, 1.0), _pos("L2", 30, 0, 1.0)]
    for angle in (0.0, 180.0):
        motion = _rigid(angle, 40, 10)
        moved = _apply(motion, [[0, 0], [30, 0]])
        new = [_pos("1", *moved[0], 1.0), _pos("2", *moved[1], 1.0)]
        assert match_lesions(known, new, new_to_known=np.linalg.inv(motion)) == {
            "1": "L1",
            "2": "L2",
        }
    # A transform that puts them nowhere near: nothing matches.
    far = _rigid(0, 500, 0)
    assert match_lesions(known, new, new_to_known=far) == {"1": None, "2": None}


def test_single_lesions_match_by_plausible_size_only():
    known = [_pos("L1", 0, 0, 2.0)]
    assert match_lesions(known, [_pos("1", 300, -80, 1.5)]) == {"1": "L1"}
    assert match_lesions(known, [_pos("1", 0, 0, 0.3)]) == {"1": None}  # 6.7x smaller
    assert match_lesions(known, [_pos("1", 0, 0, 0.3)], max_area_ratio=10) == {"1": "L1"}
    several = [_pos("L1", 0, 0, 2.0), _pos("L2", 30, 0, 0.5), _pos("L3", 0, 30, 1.0)]
    assert match_lesions(several, [_pos("1", 200, 200, 0.55)]) == {"1": "L2"}
    assert match_lesions(
        [_pos("L2", 30, 0, 0.5)], [_pos("1", 0, 0, 1.9), _pos("2", 9, 9, 0.6)]
    ) == {
        "1": None,
        "2": "L2",
    }


def test_lesions_beyond_the_gate_after_alignment_are_new():
    known = [_pos("L1", 0, 0, 2.0), _pos("L2", 30, 0, 0.8), _pos("L3", 0, 30, 1.2)]
    new = [_pos("1", 0, 0, 2.0), _pos("2", 30, 0, 0.8), _pos("3", 0, 40, 1.2)]
    assert match_lesions(known, new) == {"1": "L1", "2": "L2", "3": "L3"}  # 10 mm off
    assert match_lesions(known, new, max_distance_mm=5) == {"1": "L1", "2": "L2", "3": None}


def test_uncalibrated_photos_match_on_pixels_with_a_similarity():
    rng = np.random.default_rng(3)
    xy, areas = _constellation(rng, 3)
    px = xy * 4 + 400
    known = [_pos(f"L{i + 1}", 0, 0, px=tuple(px[i]), calibrated=False) for i in range(3)]
    known = [
        dataclasses.replace(p, area_px=int(a * 1e4)) for p, a in zip(known, areas, strict=True)
    ]
    zoom = _rigid(-35, 120, 60, scale=0.6)  # the next photo from farther away, turned
    moved = _apply(zoom, px) + rng.normal(0, 1.0, (3, 2))
    new = [
        LesionPosition(
            key=str(i),
            centre_mm=None,
            centre_px=tuple(moved[i]),
            area_cm2=None,
            area_px=int(areas[i] * 1e4 * 0.36),
        )
        for i in (2, 0, 1)
    ]
    assert match_lesions(known, new, image_size_px=(800, 600)) == {"2": "L3", "0": "L1", "1": "L2"}
    assert match_lesions(known, new) == {"2": "L3", "0": "L1", "1": "L2"}
    # A photo with plane positions among uncalibrated ones: pixels are used for all.
    mixed = [dataclasses.replace(known[0], centre_mm=(0.0, 0.0), area_cm2=1.0), *known[1:]]
    assert match_lesions(mixed, new, image_size_px=(800, 600)) == {"2": "L3", "0": "L1", "1": "L2"}


def test_empty_sides():
    known = [_pos("L1", 0, 0)]
    assert match_lesions([], [_pos("1", 0, 0), _pos("2", 9, 9)]) == {"1": None, "2": None}
    assert match_lesions(known, []) == {}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"known": [_pos("L1", 0, 0), _pos("L1", 5, 5)]}, "known lesions repeat the key"),
        ({"new": [_pos("1", 0, 0), _pos("1", 5, 5)]}, "new lesions repeat the key"),
        ({"max_distance_mm": 0}, "max_distance_mm must be a positive number"),
        ({"max_distance_mm": float("nan")}, "max_distance_mm must be a positive number"),
        ({"max_distance_frac": -1}, "max_distance_frac must be a positive number"),
        ({"max_area_ratio": 1.0}, "max_area_ratio must be a number > 1"),
        ({"new_to_known": np.eye(2)}, "new_to_known must be a finite 3x3 matrix"),
    ],
)
def test_match_lesions_rejects_bad_arguments(kwargs, match):
    args = {"known": [_pos("L1", 0, 0)], "new": [_pos("1", 0, 0)], **kwargs}
    with pytest.raises(ValueError, match=match):
        match_lesions(args.pop("known"), args.pop("new"), **args)


def test_match_lesions_rejects_a_bad_image_size_for_pixels():
    known = [_pos("L1", 0, 0, calibrated=False)]
    with pytest.raises(ValueError, match="image_size_px must be the known photo's"):
        match_lesions(known, [_pos("1", 0, 0, calibrated=False)], image_size_px=(0, 600))


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"key": ""}, "key must be a non-empty string"),
        ({"centre_px": (1.0, float("inf"))}, "centre_px must be two finite numbers"),
        ({"centre_mm": (1.0,)}, "centre_mm must be two finite numbers"),
        ({"area_cm2": -1.0}, "area_cm2 must be None or a finite number >= 0"),
        ({"area_px": 2.5}, "area_px must be an int"),
        ({"area_px": -3}, "area_px must be >= 0"),
    ],
)
def test_lesion_position_validates(fields, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(_pos("L1", 0, 0), **fields)


# --------------------------------------------------------------------------------------------
# Rectification and registration


def test_rectify_shows_the_sticker_square_at_the_requested_scale(visit):
    ph, a = visit(3, FOLLOW_UP)  # 25 degrees off square
    image = ph.image.copy()
    top, m = rectify(image, a.calibration, mm_per_px=0.2, labels=a.labels)
    assert np.array_equal(image, ph.image)  # the input is not modified
    assert top.dtype == np.uint8 and top.ndim == 3
    # The sticker comes out square, 20 mm at 0.2 mm per pixel = 100 px a side.
    corners = _apply(m, ph.truth.marker_corners_px)
    sides = np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1)
    assert sides == pytest.approx([100.0] * 4, abs=0.5)
    diagonals = np.linalg.norm(corners[:2] - corners[2:], axis=1)
    assert diagonals == pytest.approx([100.0 * math.sqrt(2)] * 2, abs=0.7)
    markers = cal.detect_markers(top)
    assert markers and markers[0][0] == ph.truth.marker_id  # and readable there
    # The map takes photo pixels to plane mm / 0.2 mm, offset by the extent's corner.
    plane = cal.to_plane_mm(a.calibration, np.array(ph.truth.lesion_centres_px))
    rect = _apply(m, ph.truth.lesion_centres_px)
    offset = plane / 0.2 - rect
    assert np.ptp(offset, axis=0) == pytest.approx([0, 0], abs=1e-6)
    # The default region with labels holds every wound and the sticker.
    assert np.all((rect > 0) & (rect < np.array(top.shape[1::-1])))


def test_rectify_with_an_explicit_extent_and_the_whole_photo(visit):
    _, a = visit(1, BASELINE)
    ph, _ = visit(1, BASELINE)
    top, m = rectify(ph.image, a.calibration, mm_per_px=0.5, extent_mm=(-10, -10, 40, 20))
    assert top.shape == (60, 100, 3)
    assert _apply(m, _apply(np.linalg.inv(cal.homography(a.calibration)), [[-10, -10]])) == (
        pytest.approx(np.zeros((1, 2)), abs=1e-6)
    )
    whole, m_whole = rectify(ph.image, a.calibration, mm_per_px=0.5)
    corners = _apply(m_whole, [[0, 0], [799, 0], [799, 599], [0, 599]])
    assert corners.min() > -1 and np.all(corners.max(axis=0) < np.array(whole.shape[1::-1]) + 1)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"calibration": Calibration(method="none")}, CalibrationError, "cannot be rectified"),
        ({"image": np.zeros((10, 10), np.uint8)}, ValueError, r"image must be an \(H, W, 3\)"),
        ({"image": np.zeros((10, 10, 3), np.float32)}, ValueError, "image must be uint8"),
        ({"mm_per_px": 0.0}, ValueError, "mm_per_px must be a positive number"),
        ({"labels": np.zeros((5, 5), np.uint8)}, ValueError, "labels .* do not match the image"),
        ({"extent_mm": (0, 0, 1)}, ValueError, "extent_mm must be four finite numbers"),
        ({"extent_mm": (0, 0, 0, 10)}, ValueError, "is empty"),
        ({"extent_mm": (0, 0, 1000, 10)}, ValueError, "over the 4096 limit"),
    ],
)
def test_rectify_rejects_bad_input(kwargs, error, match):
    args = {
        "image": np.zeros((100, 100, 3), np.uint8),
        "calibration": cal.manual_calibration(0.2),
        **kwargs,
    }
    with pytest.raises(error, match=match):
        rectify(args.pop("image"), args.pop("calibration"), **args)


def _expected_plane_motion(ph0, ph1) -> np.ndarray:
    return _world_to_plane(ph0) @ np.linalg.inv(_world_to_plane(ph1))


def _centre_errors_mm(reg: Registration, ph0, a0, ph1, n: int) -> np.ndarray:
    """Distance on the baseline plane between each truth centre of the follow-up, warped, and
    the same lesion's truth centre in the baseline."""
    warped = _apply(reg.matrix, ph1.truth.lesion_centres_px[:n])
    on_plane = cal.to_plane_mm(a0.calibration, warped)
    return np.linalg.norm(
        on_plane - _apply(_world_to_plane(ph0), ph0.truth.lesion_centres_mm[:n]), axis=1
    )


def test_register_by_features_aligns_the_lesions(visit):
    ph0, a0 = visit(3, BASELINE)
    ph1, a1 = visit(3, FOLLOW_UP)
    reg = register(
        ph0.image,
        a0.calibration,
        ph1.image,
        a1.calibration,
        baseline_labels=a0.labels,
        follow_labels=a1.labels,
    )
    assert reg.method == "features" and reg.n_inliers >= 20
    assert reg.residual_mm < 1.0
    expected = _expected_plane_motion(ph0, ph1)
    assert reg.rotation_deg == pytest.approx(
        math.degrees(math.atan2(expected[1, 0], expected[0, 0])), abs=1.0
    )
    assert np.all(_centre_errors_mm(reg, ph0, a0, ph1, 3) < 2.0)
    # The plane motion is rigid, and consistent with the photo-to-photo map.
    rot = reg.plane_matrix[:2, :2]
    assert rot @ rot.T == pytest.approx(np.eye(2), abs=1e-9)
    h0, h1 = cal.homography(a0.calibration), cal.homography(a1.calibration)
    composed = np.linalg.inv(h0) @ reg.plane_matrix @ h1
    assert composed / composed[2, 2] == pytest.approx(reg.matrix, rel=1e-9, abs=1e-9)
    # The lesion identities with this transform agree with the constellation's.
    known, new = _known(a0, ph0), lesion_positions(a1)
    assert match_lesions(known, new, new_to_known=reg.plane_matrix) == match_lesions(known, new)


def test_register_without_labels_searches_the_whole_photo(visit):
    ph0, a0 = visit(2, BASELINE)
    ph1, a1 = visit(2, FOLLOW_UP)
    reg = register(ph0.image, a0.calibration, ph1.image, a1.calibration)
    assert reg.method == "features"
    assert np.all(_centre_errors_mm(reg, ph0, a0, ph1, 2) < 2.0)


def test_register_falls_back_to_the_lesion_constellation(visit):
    ph0, a0 = visit(3, BASELINE)
    ph1, a1 = visit(3, FOLLOW_UP)
    reg = register(
        ph0.image,
        a0.calibration,
        ph1.image,
        a1.calibration,
        baseline_labels=a0.labels,
        follow_labels=a1.labels,
        min_inliers=10**6,
    )
    assert reg.method == "lesions" and reg.n_inliers >= 3
    assert reg.residual_mm < 2.0
    assert np.all(_centre_errors_mm(reg, ph0, a0, ph1, 3) < 2.0)


def test_a_feature_fit_at_the_wrong_scale_is_rejected(visit):
    ph0, a0 = visit(3, BASELINE)
    ph1, a1 = visit(3, FOLLOW_UP)
    # A follow-up calibration 10 % off in scale (say a misprinted sticker): the planes no longer
    # agree in scale, so features would need a scale of 1.1 and are refused.
    h = np.diag([1.1, 1.1, 1.0]) @ cal.homography(a1.calibration)
    wrong = dataclasses.replace(a1.calibration, homography=tuple(map(tuple, h)))
    reg = register(
        ph0.image,
        a0.calibration,
        ph1.image,
        wrong,
        baseline_labels=a0.labels,
        follow_labels=a1.labels,
    )
    assert reg.method == "lesions"


def test_register_with_nothing_to_go_on_trusts_the_stickers(visit):
    ph0, a0 = visit(1, BASELINE)
    ph1, a1 = visit(1, FOLLOW_UP)
    reg = register(ph0.image, a0.calibration, ph1.image, a1.calibration, min_inliers=10**6)
    assert reg.method == "sticker-only"
    assert reg.n_inliers == 0 and reg.residual_mm is None and reg.rotation_deg == 0.0
    h0, h1 = cal.homography(a0.calibration), cal.homography(a1.calibration)
    expected = np.linalg.inv(h0) @ h1
    assert reg.matrix == pytest.approx(expected / expected[2, 2], rel=1e-9, abs=1e-9)


def test_register_a_single_lesion_puts_its_centre_on_the_earlier_one(visit):
    ph0, a0 = visit(1, BASELINE)
    ph1, a1 = visit(1, FOLLOW_UP)
    reg = register(
        ph0.image,
        a0.calibration,
        ph1.image,
        a1.calibration,
        baseline_labels=a0.labels,
        follow_labels=a1.labels,
        min_inliers=10**6,
    )
    assert reg.method == "lesion-centre" and reg.rotation_deg == 0.0
    centre0 = np.array(a0.lesions[0].centroid_px)
    centre1 = np.array(a1.lesions[0].centroid_px)
    moved = cv2.perspectiveTransform(centre1.reshape(1, 1, 2), np.asarray(reg.matrix)).ravel()
    assert np.hypot(*(moved - centre0)) < 1.0  # pixels


def test_warped_follow_up_lies_over_the_baseline(visit):
    ph0, a0 = visit(3, BASELINE)
    ph1, a1 = visit(3, FOLLOW_UP)
    reg = register(
        ph0.image,
        a0.calibration,
        ph1.image,
        a1.calibration,
        baseline_labels=a0.labels,
        follow_labels=a1.labels,
    )
    image = warp_to_baseline(ph1.image, reg, ph0.image.shape)
    assert image.shape == ph0.image.shape and image.dtype == np.uint8
    labels = warp_labels_to_baseline(ph1.labels, reg, ph0.image.shape)
    assert labels.shape == ph0.labels.shape and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= set(np.unique(ph1.labels))  # nearest: never blended
    bed0 = (ph0.labels >= 1) & (ph0.labels <= 3)
    bed1 = (labels >= 1) & (labels <= 3)
    assert 2 * np.count_nonzero(bed0 & bed1) / (bed0.sum() + bed1.sum()) > 0.9


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"follow_cal": Calibration(method="none")}, CalibrationError, "follow-up photo has no"),
        ({"baseline_cal": Calibration(method="none")}, CalibrationError, "baseline photo has no"),
        ({"follow_image": np.zeros((4, 4), np.uint8)}, ValueError, "follow_image must be an"),
        ({"baseline_labels": np.zeros((4, 4), np.uint8)}, ValueError, "baseline_labels"),
        ({"follow_labels": np.zeros((4, 4), np.uint8)}, ValueError, "follow_labels"),
        ({"min_inliers": 2}, ValueError, "min_inliers must be an int >= 3"),
    ],
)
def test_register_rejects_bad_input(kwargs, error, match):
    image = np.zeros((50, 60, 3), np.uint8)
    args = {
        "baseline_image": image,
        "baseline_cal": cal.manual_calibration(0.2),
        "follow_image": image,
        "follow_cal": cal.manual_calibration(0.2),
        **kwargs,
    }
    positional = [
        args.pop(k) for k in ("baseline_image", "baseline_cal", "follow_image", "follow_cal")
    ]
    with pytest.raises(error, match=match):
        register(*positional, **args)


def test_featureless_photos_with_a_manual_scale_register_by_sticker_only():
    image = np.full((50, 60, 3), 128, np.uint8)
    reg = register(image, cal.manual_calibration(0.2), image, cal.manual_calibration(0.4))
    assert reg.method == "sticker-only"
    assert reg.matrix == pytest.approx(np.diag([2.0, 2.0, 1.0]))  # follow px are twice as large


def _identity_registration(**fields) -> Registration:
    eye = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    base = {
        "follow_to_baseline": eye,
        "follow_to_baseline_plane": eye,
        "method": "features",
        "n_inliers": 10,
        "residual_mm": 0.3,
        "rotation_deg": 0.0,
    }
    return Registration(**{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"method": "magic"}, "method must be features, lesions, lesion-centre or sticker-only"),
        ({"follow_to_baseline": ((1.0, 0.0), (0.0, 1.0))}, "follow_to_baseline must be 3x3"),
        (
            {"follow_to_baseline_plane": ((1.0, 0, 0), (0, float("nan"), 0), (0, 0, 1.0))},
            "follow_to_baseline_plane must hold finite numbers",
        ),
        ({"n_inliers": -1}, "n_inliers must be >= 0"),
        ({"residual_mm": -0.1}, "residual_mm must be None or a finite number >= 0"),
        ({"rotation_deg": float("inf")}, "rotation_deg must be finite"),
    ],
)
def test_registration_validates(fields, match):
    with pytest.raises(ValueError, match=match):
        _identity_registration(**fields)


def test_warp_moves_pixels_and_rejects_a_bad_shape():
    shift = ((1.0, 0.0, 5.0), (0.0, 1.0, -2.0), (0.0, 0.0, 1.0))
    reg = _identity_registration(follow_to_baseline=shift)
    labels = np.zeros((20, 30), np.uint8)
    labels[10, 10] = 3
    out = warp_labels_to_baseline(labels, reg, (25, 40, 3))
    assert out.shape == (25, 40) and out[8, 15] == 3 and out.sum() == 3
    assert labels.sum() == 3  # the input is not modified
    with pytest.raises(ValueError, match="baseline_shape must start with"):
        warp_to_baseline(np.zeros((20, 30, 3), np.uint8), reg, (0, 40))


def test_two_lesions_that_both_shrink_keep_their_identities() -> None:
    """Two lesions fit a half turn either way; their sizes relative to the common change decide."""
    from woundtrack.image.lesion_matching import LesionPosition, match_lesions

    def pos(key, xy, area):
        return LesionPosition(
            key=key, centre_mm=xy, centre_px=xy, area_cm2=area, area_px=int(area * 1000)
        )

    known = [pos("L1", (0.0, 0.0), 3.9), pos("L2", (0.0, 40.0), 2.4)]
    # Both lesions about halved; the sticker moved (a rotation and a shift of the plane frame).
    new = [pos("1", (60.0, 10.0), 1.9), pos("2", (60.0 + 40.0 * 0.6, 10.0 + 40.0 * 0.8), 1.1)]
    assert match_lesions(known, new) == {"1": "L1", "2": "L2"}
    swapped = [pos("1", new[1].centre_mm, 1.1), pos("2", new[0].centre_mm, 1.9)]
    assert match_lesions(known, swapped) == {"1": "L2", "2": "L1"}


def test_pairs_of_lesions_that_heal_together_keep_their_identities_on_200_random_visits() -> None:
    """Two lesions fit a rigid motion either way round (a half turn), so only their sizes can
    tell them apart; when both shrink together (a healing patient), each lesion's size relative
    to that common change must decide, not the raw size change (which prefers the swap once the
    shrinkage is strong). Random pairs, sizes, shrinkage 0.3-0.8, plane motion and noise."""
    from woundtrack.image.lesion_matching import LesionPosition, match_lesions

    def pos(key, xy, area):
        return LesionPosition(
            key=key,
            centre_mm=(float(xy[0]), float(xy[1])),
            centre_px=(0.0, 0.0),
            area_cm2=float(area),
            area_px=int(area * 1000),
        )

    rng = np.random.default_rng(20261203)
    wrong = 0
    for _ in range(200):
        a, b = rng.uniform(-40, 40, 2), rng.uniform(-40, 40, 2)
        while np.hypot(*(a - b)) < 15:  # separate wounds
            b = rng.uniform(-40, 40, 2)
        area_a = rng.uniform(1.0, 6.0)
        area_b = area_a / rng.uniform(1.6, 3.0)  # clearly smaller
        shrink = rng.uniform(0.3, 0.8)
        turn = rng.uniform(0, 2 * np.pi)
        rot = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
        shift = rng.uniform(-60, 60, 2)
        moved = [rot @ p + shift + rng.normal(0, 1.0, 2) for p in (a, b)]
        known = [pos("L1", a, area_a), pos("L2", b, area_b)]
        new = [
            pos("1", moved[0], area_a * shrink * rng.uniform(0.9, 1.1)),
            pos("2", moved[1], area_b * shrink * rng.uniform(0.9, 1.1)),
        ]
        wrong += match_lesions(known, new) != {"1": "L1", "2": "L2"}
    assert wrong <= 2, f"{wrong} of 200 visits swapped or lost a lesion"


# --------------------------------------------------------------------------------------------
# Matching: limits and costs worked by hand (gaps found by mutation testing)

IDENTITY = np.eye(3)


def test_lesion_position_accepts_zero_areas():
    p = dataclasses.replace(_pos("L1", 0, 0), area_cm2=0.0, area_px=0)
    assert (p.area_cm2, p.area_px) == (0.0, 0)


def test_repeated_keys_are_named_in_the_message():
    known = [_pos("L1", 0, 0), _pos("L2", 9, 0), _pos("L1", 5, 5), _pos("L2", 0, 9)]
    expected = "known lesions repeat the key(s) 'L1', 'L2'; each lesion needs its own key"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        match_lesions(known, [_pos("1", 0, 0)])


def test_the_default_gate_is_25_mm_inclusive_and_the_area_limit_5x_inclusive():
    # The transform is given, so only the gates decide. L2 is far away and never a candidate.
    known = [_pos("L1", 0, 0, 1.0), _pos("L2", 200, 0, 1.0)]

    def one(x, area):
        return match_lesions(known, [_pos("1", x, 0, area)], new_to_known=IDENTITY)["1"]

    assert one(25.0, 1.0) == "L1"  # exactly on the gate
    assert one(25.5, 1.0) is None
    assert one(0.0, 5.0) == "L1"  # exactly five times larger
    assert one(0.0, 5.1) is None


def test_the_area_limit_widens_for_visits_weeks_apart():
    # within a week the default; twice as wide for every further week, either way round
    assert area_ratio_gate(None) == area_ratio_gate(0) == area_ratio_gate(7) == 5.0
    assert area_ratio_gate(21) == area_ratio_gate(-21) == pytest.approx(20.0)
    assert area_ratio_gate(10) == pytest.approx(5.0 * 2 ** (3 / 7))
    assert area_ratio_gate(365 * 80) == pytest.approx(1e4)  # capped, no overflow
    # a debridement between the photos: at least 100x, never narrower than without it
    assert area_ratio_gate(7, debrided=True) == area_ratio_gate(None, debrided=True) == 100.0
    assert area_ratio_gate(365, debrided=True) == area_ratio_gate(365)
    # the demo wound: 8.3 cm² at week 2, 0.92 cm² at week 9 (9x smaller), one lesion
    known, new = [_pos("L1", 0, 0, 8.3)], [_pos("1", 40, 10, 0.92)]
    assert match_lesions(known, new, max_area_ratio=area_ratio_gate(7)) == {"1": None}
    assert match_lesions(known, new, max_area_ratio=area_ratio_gate(49)) == {"1": "L1"}


def test_an_area_limit_just_above_one_is_allowed():
    known = [_pos("L1", 0, 0, 1.0)]
    assert match_lesions(known, [_pos("1", 0, 0, 1.4)], max_area_ratio=1.5) == {"1": "L1"}
    assert match_lesions(known, [_pos("1", 0, 0, 1.6)], max_area_ratio=1.5) == {"1": None}


def test_a_one_pixel_wide_known_photo_is_a_valid_size():
    known = [_pos("L1", 0, 0, calibrated=False, px=(0.0, 0.0))]
    new = [_pos("1", 0, 0, calibrated=False, px=(0.0, 0.0))]
    assert match_lesions(known, new, image_size_px=(1, 1)) == {"1": "L1"}


def test_a_fourfold_size_swap_outweighs_four_mm_of_misalignment():
    # Two lesions 4 mm apart. By position alone new 1 is L1 and new 2 is L2 (1 mm off each;
    # swapped, 3 mm off each). Their sizes are swapped fourfold and the common change is nil, so
    # the size term costs 0.2 * 25 mm * 2 * ln 4 = 13.9 mm on the positional pairing against
    # 0 on the swapped one: 2 + 13.9 > 6 + 0, the sizes win.
    known = [_pos("L1", 0, 0, 4.0), _pos("L2", 4, 0, 1.0)]
    new = [_pos("1", 1, 0, 1.0), _pos("2", 3, 0, 4.0)]
    assert match_lesions(known, new, new_to_known=IDENTITY) == {"1": "L2", "2": "L1"}


def test_a_pair_at_the_edge_of_both_gates_is_matched_rather_than_dropped():
    # New 1 is 24.9 mm from L1 (gate 25) and 4.9 times its area (limit 5); L2 is large and far.
    # Its cost is high (24.9 mm + 0.2 * 25 * |ln 4.9 - ln(4.9 / 51)| = 44.6 mm), but any pair
    # within both gates must beat leaving the lesion unmatched.
    known = [_pos("L1", 0, 0, 1.0), _pos("L2", 300, 0, 50.0)]
    new = [_pos("1", 24.9, 0, 4.9)]
    assert match_lesions(known, new, new_to_known=IDENTITY) == {"1": "L1"}


def test_no_pair_within_the_area_limit_matches_nothing():
    known = [_pos("L1", 0, 0, 1.0), _pos("L2", 30, 0, 1.2)]
    new = [_pos("1", 0, 0, 10.0), _pos("2", 30, 0, 12.0)]  # tenfold: other wounds
    assert match_lesions(known, new) == {"1": None, "2": None}


def test_uncalibrated_closer_photo_compares_areas_after_the_zoom():
    # The next photo is taken 2.5 times closer: pixel distances x 2.5, pixel areas x 6.25. The
    # lesions also grew threefold, within the fivefold limit once the zoom is taken out (ln 3 =
    # 1.10 <= ln 5 = 1.61); on raw pixel areas (x 18.75) or with the zoom counted wrongly they
    # would not be the same lesions.
    xy = np.array([[0.0, 0.0], [60.0, 10.0], [20.0, 70.0]])
    area_px = np.array([900, 2000, 4000])
    known = [
        LesionPosition(
            key=f"L{i + 1}",
            centre_mm=None,
            centre_px=tuple(xy[i]),
            area_cm2=None,
            area_px=int(area_px[i]),
        )
        for i in range(3)
    ]
    zoom = _rigid(20, 300, 100, scale=2.5)
    moved = _apply(zoom, xy)
    new = [
        LesionPosition(
            key=str(i),
            centre_mm=None,
            centre_px=tuple(moved[i]),
            area_cm2=None,
            area_px=int(area_px[i] * 3 * 6.25),
        )
        for i in range(3)
    ]
    assert match_lesions(known, new, image_size_px=(800, 600)) == {"0": "L1", "1": "L2", "2": "L3"}


def _kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares proper rotation and translation src -> dst, by the SVD (Kabsch 1976)."""
    cs, cd = src.mean(axis=0), dst.mean(axis=0)
    u, _, vt = np.linalg.svd((src - cs).T @ (dst - cd))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, d]) @ u.T
    t = np.eye(3)
    t[:2, :2], t[:2, 2] = r, cd - r @ cs
    return t


def test_constellation_transform_is_the_least_squares_fit_of_the_matched_lesions():
    rng = np.random.default_rng(7)
    xy = np.array([[0.0, 0.0], [40.0, 5.0], [10.0, 45.0], [-30.0, 20.0]])
    areas = [2.0, 1.2, 0.8, 0.5]
    motion = _rigid(63, 25, -40)
    moved = _apply(motion, xy) + rng.normal(0, 1.5, (4, 2))  # segmentation noise
    known = [_pos(f"L{i}", *xy[i], areas[i]) for i in range(4)]
    new = [_pos(f"{i}", *moved[i], areas[i]) for i in range(4)]
    found = constellation_transform(known, new, max_distance_mm=25.0)
    assert found is not None
    transform, n_pairs, residual = found
    expected = _kabsch(moved, xy)
    assert n_pairs == 4
    np.testing.assert_allclose(transform, expected, atol=1e-9)
    rms = np.sqrt(np.mean(np.sum((_apply(expected, moved) - xy) ** 2, axis=1)))
    assert residual == pytest.approx(rms, rel=1e-9)
    assert 0.5 < rms < 3.0  # the noise is there: a two-point hypothesis alone would not be this


def test_constellation_transform_needs_two_pairs():
    known = [_pos("L1", 0, 0, 2.0), _pos("L2", 30, 0, 0.5)]
    motion = _rigid(90, 10, 10)
    moved = _apply(motion, [[0, 0], [30, 0]])
    new = [_pos("1", *moved[0], 2.0), _pos("2", *moved[1], 0.5)]
    found = constellation_transform(known, new, max_distance_mm=25.0)
    assert found is not None
    transform, n_pairs, residual = found
    assert n_pairs == 2 and residual == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(transform, np.linalg.inv(motion), atol=1e-9)
    assert constellation_transform(known[:1], new[:1], max_distance_mm=25.0) is None


def test_fit_rigid_of_coincident_points_is_the_translation_of_their_centroids():
    src = np.array([[1.0, 2.0], [1.0, 2.0]])
    dst = np.array([[5.0, 7.0], [5.0, 7.0]])
    expected = np.array([[1.0, 0.0, 4.0], [0.0, 1.0, 5.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(fit_rigid(src, dst, similarity=False), expected, atol=1e-12)
    assert fit_rigid(src, dst, similarity=True) is None  # no scale from one point


def test_fit_rigid_recovers_an_exact_motion():
    src = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 20.0]])
    motion = _rigid(30, -4, 9)
    np.testing.assert_allclose(
        fit_rigid(src, _apply(motion, src), similarity=False), motion, atol=1e-9
    )


@pytest.mark.parametrize(
    ("scale", "accepted"),
    [(2.0, True), (7.9, True), (8.1, False), (1 / 7.9, True), (1 / 8.1, False)],
)
def test_fit_rigid_similarity_scale_is_limited_to_one_eighth_to_eight(scale, accepted):
    # Points on a diagonal (each point's own x and y equal): a fit must still be found.
    src = np.array([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0]])
    motion = _rigid(-50, 30, 12, scale=scale)
    got = fit_rigid(src, _apply(motion, src), similarity=True)
    if accepted:
        np.testing.assert_allclose(got, motion, atol=1e-9)
    else:
        assert got is None
