"""Both segmenters on phantoms (the classical colour rules of segmentation.py and the learned one):
the wound bed includes eschar and slough, never the sticker or a black drape. Then the colour stage
that both share (``tissue_colours``, ``label_wound``) and its mask helpers, on drawn images."""

import numpy as np
import pytest

from woundtrack.image.calibration import apply_white_balance, calibrate, sticker_mask
from woundtrack.image.learned import LearnedSegmenter
from woundtrack.image.measure import measure
from woundtrack.image.segmentation import (
    ClassicalSegmenter,
    SegmentationParams,
    connected_to,
    fill_holes,
    label_wound,
    segment,
    skin_like,
    tissue_colours,
    working_mm_per_px,
)
from woundtrack.models import ERYTHEMA, ESCHAR, GRANULATION, SLOUGH, Calibration
from woundtrack.synthetic.phantom import Phantom, PhantomSpec

BASE = dict(noise_sigma=2.0, jpeg_quality=90, light_gradient=0.3, blur_sigma_px=0.5)


SEGMENTERS = {"classical": ClassicalSegmenter(), "learned": LearnedSegmenter()}
# Relative-area tolerances. The learned bed comes from a network trained on real photos, not on
# these phantoms; its tissues come from the same colour rules as the classical one.
TOL = {
    "classical": {"wound": 0.06, "eschar_wound": 0.05, "eschar": 0.08},
    "learned": {"wound": 0.08, "eschar_wound": 0.08, "eschar": 0.10},
}


@pytest.fixture(params=list(SEGMENTERS))
def which(request) -> str:
    return request.param


def run(ph: Phantom, which: str = "classical", image=None):
    """Calibrate, segment and measure the phantom ``ph`` (or ``image`` in its place): (ph,
    calibration, labels, totals)."""
    image = ph.image if image is None else image
    calibration, _ = calibrate(image, focal_35mm=ph.spec.focal_35mm)
    labels = SEGMENTERS[which](image, calibration)
    _, totals = measure(labels, calibration)
    return ph, calibration, labels, totals


def bed(labels):
    return (labels >= 1) & (labels <= 3)


def dice(a, b):
    return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


@pytest.mark.parametrize("tone", [0.05, 0.5, 0.95])
def test_wound_bed_matches_truth_on_light_medium_and_dark_skin(tone, which, phantom):
    spec = PhantomSpec(seed=21, skin_tone=tone, tilt_deg=15.0, **BASE)
    ph, _, labels, totals = run(phantom(spec), which)
    assert dice(bed(labels), bed(ph.labels)) > 0.9
    assert totals.wound_area_cm2 * 100 == pytest.approx(
        ph.truth.wound_area_mm2, rel=TOL[which]["wound"]
    )


def test_an_all_eschar_wound_is_a_wound(which, phantom):
    """Calciphylaxis is mostly black eschar: leaving it out would shrink the wound."""
    spec = PhantomSpec(seed=22, eschar_fraction=0.95, slough_fraction=0.0, **BASE)
    ph, _, labels, totals = run(phantom(spec), which)
    assert totals.wound_area_cm2 * 100 == pytest.approx(
        ph.truth.wound_area_mm2, rel=TOL[which]["eschar_wound"]
    )
    assert totals.eschar_area_cm2 * 100 == pytest.approx(
        ph.truth.eschar_area_mm2, rel=TOL[which]["eschar"]
    )
    assert np.count_nonzero(labels == ESCHAR) > 0.85 * np.count_nonzero(bed(labels))


def test_a_slough_covered_wound_is_a_wound(which, phantom):
    spec = PhantomSpec(seed=23, eschar_fraction=0.0, slough_fraction=0.8, **BASE)
    ph, _, labels, totals = run(phantom(spec), which)
    assert totals.wound_area_cm2 * 100 == pytest.approx(
        ph.truth.wound_area_mm2, rel=TOL[which]["wound"]
    )
    assert totals.slough_area_cm2 * 100 == pytest.approx(ph.truth.slough_area_mm2, rel=0.15)
    assert np.count_nonzero(labels == SLOUGH) > 0.6 * np.count_nonzero(bed(labels))


@pytest.mark.parametrize("tilt", [0.0, 30.0])
def test_the_sticker_is_never_wound(tilt, which, phantom):
    spec = PhantomSpec(seed=24, tilt_deg=tilt, eschar_fraction=0.6, **BASE)
    _, calibration, labels, _ = run(phantom(spec), which)
    assert calibration.calibrated
    assert not labels[sticker_mask(calibration, labels.shape, margin_mm=0.0)].any()


def test_a_black_background_is_not_eschar(which, phantom):
    ph = phantom(PhantomSpec(seed=25, **BASE))
    image = ph.image.copy()
    h, w = image.shape[:2]
    rng = np.random.default_rng(0)
    band = slice(0, w // 6)
    image[:, band] = np.clip(rng.normal(18, 4, image[:, band].shape), 0, 255).astype(np.uint8)
    assert not ph.labels[:, band].any()  # the drape covers skin only
    _, _, labels, _ = run(ph, which, image=image)
    assert not labels[:, band].any()
    assert dice(bed(labels), bed(ph.labels)) > 0.9


@pytest.mark.parametrize("tone", [0.1, 0.9])
def test_erythema_is_judged_against_the_patients_own_skin(tone, phantom):
    spec = PhantomSpec(seed=26, skin_tone=tone, erythema_width_mm=7.0, **BASE)
    ph, _, labels, totals = run(phantom(spec))
    assert totals.erythema_area_cm2 * 100 == pytest.approx(ph.truth.erythema_area_mm2, rel=0.15)
    assert dice(labels == ERYTHEMA, ph.labels == ERYTHEMA) > 0.75


def test_no_erythema_is_found_where_there_is_none(phantom):
    ph, _, labels, totals = run(phantom(PhantomSpec(seed=27, erythema_width_mm=0.0, **BASE)))
    assert totals.erythema_area_cm2 * 100 < 0.1 * ph.truth.wound_area_mm2


def test_several_lesions_are_found_separately(which, phantom):
    spec = PhantomSpec(seed=28, n_lesions=3, wound_radius_mm=10.0, **BASE)
    ph, calibration, labels, _ = run(phantom(spec), which)
    lesions, _ = measure(labels, calibration)
    assert len(lesions) == 3
    got = sorted(m.wound_area_cm2 * 100 for m in lesions)
    want = sorted(ph.truth.lesion_areas_mm2)
    assert np.allclose(got, want, rtol=0.12)


def test_without_calibration_segmentation_still_works(which, phantom):
    ph = phantom(PhantomSpec(seed=29, with_sticker=False, **BASE))
    labels = SEGMENTERS[which](ph.image, calibrate(ph.image)[0])
    assert dice(bed(labels), bed(ph.labels)) > 0.85


def test_segmenter_object_and_input_untouched(phantom):
    ph = phantom(PhantomSpec(seed=21, skin_tone=0.5, tilt_deg=15.0, **BASE))
    calibration, _ = calibrate(ph.image)
    segmenter = ClassicalSegmenter()
    labels = segmenter(ph.image, calibration)  # the phantom image is read-only: no in-place edits
    assert labels.dtype == np.uint8 and labels.shape == ph.image.shape[:2]
    assert set(np.unique(labels)) <= {0, 1, 2, 3, 4}
    assert segmenter.name and segmenter.version


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
        np.zeros((10, 10, 3), np.float32),
    ],
)
def test_bad_images_are_refused(image):
    with pytest.raises(ValueError, match="uint8 RGB"):
        segment(image)


# --- the shared colour stage ------------------------------------------------------------------
SKIN = (205, 160, 135)


def drawn_wound() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 400 px image of skin with a red wound of radius 60 holding an eschar and a slough patch,
    a reddened ring out to radius 90, and a dark sticker; (image, wound, sticker)."""
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(SKIN, 3, (400, 400, 3)), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:400, :400]
    r = np.hypot(yy - 200, xx - 200)
    image[r <= 90] = (215, 135, 120)  # erythema
    image[r <= 60] = (180, 50, 50)  # granulation
    image[170:200, 170:200] = (40, 30, 25)  # eschar
    image[210:240, 210:240] = (235, 215, 110)  # slough
    sticker = np.zeros((400, 400), bool)
    sticker[10:50, 10:50] = True
    image[sticker] = (40, 30, 25)  # as dark as eschar
    return image, r <= 60, sticker


def test_tissue_colours_classify_every_pixel_against_the_skin_and_never_the_sticker():
    image, wound, sticker = drawn_wound()
    p = SegmentationParams()
    lab, tissue = tissue_colours(image, sticker, p)
    assert lab.shape == (400, 400, 3) and lab.dtype == np.float32
    assert tissue.shape == (400, 400) and tissue.dtype == np.uint8
    assert tissue[185, 185] == ESCHAR and tissue[225, 225] == SLOUGH
    assert tissue[200, 150] == GRANULATION
    assert tissue[200, 125] == 0  # reddened skin is not granulation
    assert not tissue[sticker].any() and tissue[5, 5] == 0
    # A wound bed already known is left out of the skin reference, but classified.
    _, known = tissue_colours(image, sticker, p, not_skin=wound)
    assert known[185, 185] == ESCHAR and known[225, 225] == SLOUGH
    # White balance is applied first.
    gains = (1.1, 1.0, 0.85)
    balanced = tissue_colours(apply_white_balance(image, gains), sticker, p)
    with_gains = tissue_colours(image, sticker, p, white_balance_gains=gains)
    assert all(np.array_equal(a, b) for a, b in zip(balanced, with_gains, strict=True))


def test_label_wound_fills_the_bed_and_finds_the_erythema_around_it():
    image, wound, sticker = drawn_wound()
    p = SegmentationParams()
    lab, tissue = tissue_colours(image, sticker, p, not_skin=wound)
    tissue[145:160, 190:210] = 0  # a gap in the bed: takes its neighbour's tissue
    labels = label_wound(tissue, wound, lab, sticker=sticker, mm_per_px=None, params=p)
    assert labels.dtype == np.uint8 and labels.shape == wound.shape
    assert set(np.unique(labels[wound])) == {GRANULATION, SLOUGH, ESCHAR}
    assert labels[150, 200] == GRANULATION
    assert labels[200, 125] == ERYTHEMA and labels[200, 30] == 0
    assert not labels[sticker].any()
    # Outside the bed there is no tissue, only erythema.
    assert set(np.unique(labels[~wound])) == {0, ERYTHEMA}
    # No erythema where the skin around the wound is not redder than the skin further out.
    plain = image.copy()
    plain[~wound & ~sticker] = SKIN
    lab, tissue = tissue_colours(plain, sticker, p, not_skin=wound)
    labels = label_wound(tissue, wound, lab, sticker=sticker, mm_per_px=None, params=p)
    assert not (labels == ERYTHEMA).any()


def test_working_mm_per_px_is_none_without_a_calibration():
    assert working_mm_per_px(Calibration(method="none"), (600, 800), 0.5) is None


def test_fill_holes_fills_only_what_the_border_cannot_reach():
    ring = np.zeros((30, 30), bool)
    ring[5:15, 5:15] = True
    ring[8:12, 8:12] = False  # a hole
    cup = np.zeros((30, 30), bool)
    cup[15:25, 18:28] = True
    cup[15:22, 21:25] = False  # open at the top: not a hole
    filled = fill_holes(ring | cup)
    assert filled[8:12, 8:12].all()
    assert not filled[15:22, 21:25].any()
    assert np.count_nonzero(filled & ~(ring | cup)) == 16  # the hole alone


def test_connected_to_keeps_whole_the_parts_a_seed_touches():
    mask = np.zeros((20, 20), bool)
    mask[2:6, 2:6] = True
    mask[10:15, 10:15] = True
    seed = np.zeros_like(mask)
    seed[12, 12] = True
    kept = connected_to(mask, seed)
    assert kept[10:15, 10:15].all() and kept.sum() == 25
    assert not connected_to(mask, np.zeros_like(mask)).any()
    assert not connected_to(np.zeros_like(mask), seed).any()


def test_erythema_is_never_judged_against_padding_or_a_glove():
    """Plain skin round the wound, then the black padding of a cropped photo and a blue glove
    where the ring of skin further out should be: no erythema (all of the skin would be, if the
    padding and glove stood for the patient's skin), and neither is ever erythema itself."""
    rng = np.random.default_rng(1)
    image = np.clip(rng.normal(SKIN, 3, (400, 400, 3)), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:400, :400]
    r = np.hypot(yy - 200, xx - 200)
    image[r <= 60] = (180, 50, 50)  # granulation
    outside = r > 95
    image[outside & (yy >= 200)] = 0  # zero padding
    image[outside & (yy < 200)] = (70, 60, 200)  # a blue-purple glove
    wound, sticker = r <= 60, np.zeros((400, 400), bool)
    p = SegmentationParams()
    lab, tissue = tissue_colours(image, sticker, p, not_skin=wound)
    assert not skin_like(lab, p)[outside].any()
    assert skin_like(lab, p)[(r > 65) & (r < 90)].mean() > 0.99
    labels = label_wound(tissue, wound, lab, sticker=sticker, mm_per_px=None, params=p)
    assert not (labels == ERYTHEMA).any()


@pytest.mark.parametrize(
    ("rim_rgb", "erythema"),
    [((220, 160, 160), False), ((125, 55, 50), True)],
    ids=["pale pink rim", "dusky red rim"],
)
def test_a_pale_rim_on_dark_skin_is_not_erythema_a_red_one_is(rim_rgb, erythema):
    """Dark skin round a wound with a rim redder (a*) than the skin further out: pale and pink
    (macerated, callus or new epithelium, as on FUSeg photo 0285) it is not erythema, which
    darkens skin and never makes it paler; dusky red it is."""
    rng = np.random.default_rng(2)
    image = np.clip(rng.normal((95, 65, 50), 3, (400, 400, 3)), 0, 255).astype(np.uint8)
    r = np.hypot(*(np.mgrid[:400, :400] - 200))
    image[r <= 60] = (180, 50, 50)  # granulation
    rim = (r > 62) & (r <= 80)
    image[rim] = rim_rgb
    wound, sticker = r <= 60, np.zeros((400, 400), bool)
    p = SegmentationParams()
    lab, tissue = tissue_colours(image, sticker, p, not_skin=wound)
    labels = label_wound(tissue, wound, lab, sticker=sticker, mm_per_px=None, params=p)
    found = labels == ERYTHEMA
    if erythema:
        assert found[rim].mean() > 0.9 and not found[r > 85].any()
    else:
        assert not found.any()
