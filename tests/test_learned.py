"""learned.py: the shipped model, a wound found at any photo size, provenance, and the pure helpers.
What both segmenters must do on phantoms (eschar, slough, sticker, drape, several lesions) is in
test_segmentation.py."""

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from woundtrack.image import learned
from woundtrack.image.calibration import calibrate
from woundtrack.image.measure import measure
from woundtrack.image.pipeline import analyze_image, make_segmenter
from woundtrack.image.segmentation import ClassicalSegmenter
from woundtrack.models import ERYTHEMA, ESCHAR, GRANULATION, SLOUGH, Calibration
from woundtrack.synthetic.phantom import Phantom, PhantomSpec

BASE = dict(noise_sigma=2.0, jpeg_quality=90, light_gradient=0.3, blur_sigma_px=0.5)
SEGMENTER = learned.LearnedSegmenter()


def run(ph: Phantom, image=None):
    """Calibrate, segment and measure the phantom ``ph`` (or ``image`` in its place): (ph,
    calibration, labels, totals)."""
    image = ph.image if image is None else image
    calibration, _ = calibrate(image, focal_35mm=ph.spec.focal_35mm)
    labels = SEGMENTER(image, calibration)
    _, totals = measure(labels, calibration)
    return ph, calibration, labels, totals


def bed(labels):
    return (labels >= GRANULATION) & (labels <= ESCHAR)


def dice(a, b):
    return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def test_the_shipped_model_is_in_the_package_and_says_its_version():
    path = learned.default_model_path()
    assert path.is_file() and path.stat().st_size < 20e6
    assert (path.parent / "MODEL_CARD.md").is_file()
    session = learned.load_model(str(path))
    assert learned.model_version(session) != "unknown"
    assert SEGMENTER.version.startswith(f"{learned.model_version(session)}+tissue-")
    assert make_segmenter().name == SEGMENTER.name == "unet-lite0"


@pytest.mark.parametrize("shape", [(512, 512), (300, 500), (97, 61)])
def test_network_logits_keep_the_aspect_at_any_size(shape):
    image = np.full((*shape, 3), 180, np.uint8)
    session = learned.load_model(str(learned.default_model_path()))
    logits = learned.network_logits(image, session, 256)
    scale = 256 / max(shape)
    assert logits.shape == (round(shape[0] * scale), round(shape[1] * scale))
    assert logits.dtype == np.float32


def test_plain_skin_has_no_wound():
    rng = np.random.default_rng(3)
    skin = np.clip(rng.normal((205, 160, 135), 4, (600, 800, 3)), 0, 255).astype(np.uint8)
    labels = SEGMENTER(skin, calibrate(skin)[0])
    assert not bed(labels).any()


def test_erythema_is_still_found_around_the_wound(phantom):
    spec = PhantomSpec(seed=26, skin_tone=0.3, erythema_width_mm=7.0, **BASE)
    ph, _, labels, totals = run(phantom(spec))
    assert totals.erythema_area_cm2 * 100 == pytest.approx(ph.truth.erythema_area_mm2, rel=0.2)
    assert dice(labels == ERYTHEMA, ph.labels == ERYTHEMA) > 0.7


def test_a_small_wound_in_a_large_photo_is_measured_at_full_resolution(phantom):
    """3000x2250 px, a 6 mm wound: about 1 % of the first pass's width, found and measured."""
    spec = PhantomSpec(seed=31, width_px=3000, height_px=2250, wound_radius_mm=6.0, **BASE)
    ph, _, labels, totals = run(phantom(spec))
    assert dice(bed(labels), bed(ph.labels)) > 0.85
    assert totals.wound_area_cm2 * 100 == pytest.approx(ph.truth.wound_area_mm2, rel=0.10)


def test_provenance_names_the_learned_model(phantom):
    ph = phantom(PhantomSpec(seed=21, **BASE))
    info = __import__("woundtrack.image.io", fromlist=["PhotoInfo"]).PhotoInfo(
        file="p.png", sha256="0" * 64, format="PNG", width_px=1600, height_px=1200
    )
    record = analyze_image(ph.image, info).to_record()
    assert record["provenance"]["segmenter"] == "unet-lite0"
    assert record["provenance"]["model_version"] == SEGMENTER.version
    assert record["provenance"]["params"]["roi_long_side_px"] == SEGMENTER.params.roi_long_side_px
    classical = analyze_image(ph.image, info, segmenter=ClassicalSegmenter()).to_record()
    assert classical["provenance"]["segmenter"] == "classical-lab"


def test_bad_images_are_refused():
    with pytest.raises(ValueError, match="uint8 RGB"):
        SEGMENTER(np.zeros((10, 10), np.uint8), calibrate(np.zeros((10, 10, 3), np.uint8))[0])


def test_unknown_segmenter_names_are_refused():
    with pytest.raises(ValueError, match="choose one of learned, classical"):
        make_segmenter("magic")


def test_the_learned_segmenter_uses_only_the_public_colour_stage_of_segmentation():
    """What the two segmenters share is segmentation's public surface, not its privates."""
    tree = ast.parse(Path(learned.__file__).read_text(encoding="utf-8"))
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "seg"
    }
    assert used and not {name for name in used if name.startswith("_")}
    assert {"tissue_colours", "label_wound"} <= used


# --- the pure helpers -----------------------------------------------------------------------


def disc(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def test_grow_by_colour_moves_the_border_outward_within_the_band_only():
    wound = disc((100, 100), (50, 50), 20)
    rim = disc((100, 100), (50, 50), 24) & ~wound  # a 4 px slough rim the network left out
    far = disc((100, 100), (50, 90), 5)  # tissue-coloured but not touching the wound
    grown = learned.grow_by_colour(wound, rim | far, band_px=6)
    assert np.array_equal(grown, rim)
    narrow = learned.grow_by_colour(wound, rim | far, band_px=2)
    assert narrow.any() and not (narrow & ~disc((100, 100), (50, 50), 22.5)).any()
    assert not learned.grow_by_colour(wound, rim, band_px=0).any()


def test_clean_wound_bed_drops_specks_and_the_sticker_and_fills_holes():
    wound = disc((100, 100), (50, 50), 20) & ~disc((100, 100), (50, 50), 5)
    wound[5:7, 5:7] = True  # a 4 px speck
    sticker = np.zeros_like(wound)
    sticker[45:55, 60:80] = True
    clean = learned.clean_wound_bed(wound, sticker, min_area_px=10)
    assert clean[50, 50]  # the hole inside a closed border is wound
    assert not clean[5:7, 5:7].any()
    assert not (clean & sticker).any()


def test_with_full_resolution_bed_makes_the_bed_exactly_the_wound():
    labels = np.zeros((40, 40), np.uint8)
    labels[10:20, 10:20] = ESCHAR
    labels[20:30, 10:20] = ERYTHEMA
    wound = np.zeros((40, 40), bool)
    wound[12:24, 10:20] = True  # 2 rows of eschar lost, 4 rows gained over the erythema
    box = (slice(0, 40), slice(0, 40))
    out = learned._with_full_resolution_bed(labels, wound, box)
    assert np.array_equal(bed(out), wound)
    assert (out[20:24, 10:20] == ESCHAR).all()  # gaps take the neighbouring tissue
    assert (out[24:30, 10:20] == ERYTHEMA).all()
    assert labels[10, 10] == ESCHAR  # the input is not modified


class _Meta:
    def __init__(self, meta):
        self.custom_metadata_map = meta


class _Session:
    def __init__(self, meta):
        self._meta = _Meta(meta)

    def get_modelmeta(self):
        return self._meta


def test_a_model_trained_at_a_smaller_scale_is_run_at_that_scale():
    """The whole-photo passes scale with the model's woundtrack_network_long_side_px (over 512),
    to a multiple of 32; without it the sizes are LearnedParams' own. The region's pass keeps
    its size and its largest magnification of the photo."""
    base = learned.LearnedParams()
    assert learned.params_for_model(_Session({})) == base
    small = learned.params_for_model(_Session({"woundtrack_network_long_side_px": "320"}))
    assert (small.network_long_side_px, small.search_long_side_px) == (320, 480)
    assert small.roi_long_side_px == base.roi_long_side_px == 384
    # the cap is relative to the first pass: 2.5 x 512 px = 4.0 x 320 px of the same photo
    assert small.roi_max_zoom * 320 == pytest.approx(base.roi_max_zoom * 512)
    assert small.roi_min_zoom == base.roi_min_zoom and small.roi_margin == base.roi_margin
    assert small.tissue == base.tissue
    odd = learned.scaled_params(base, 300)  # 512 -> 300 rounds to 288
    assert odd.network_long_side_px == 288
    assert odd.roi_max_zoom * 288 == pytest.approx(base.roi_max_zoom * 512)
    assert learned.scaled_params(base, 1024).network_long_side_px == 1024


class _DiscNetwork(_Session):
    """A stand-in network that finds, in the whole photo, a wound disc of ``radius_px`` at
    ``centre_yx`` (photo pixels), and nothing in a region; it records the (height, width) of
    every input it is run on."""

    def __init__(self, meta, photo_width_px, centre_yx, radius_px):
        super().__init__(meta)
        self.photo_width_px, self.centre_yx, self.radius_px = photo_width_px, centre_yx, radius_px
        self.inputs = []

    def get_inputs(self):
        return [type("Input", (), {"name": "input"})()]

    def run(self, _outputs, feeds):
        _, _, ih, iw = feeds["input"].shape
        out = np.full((1, 1, ih, iw), -4.0, np.float32)
        if not self.inputs:  # the first pass: the whole photo, padded to a multiple of 32
            yy, xx = np.mgrid[0:ih, 0:iw]
            s = iw / self.photo_width_px
            cy, cx = self.centre_yx
            out[0, 0][(yy - cy * s) ** 2 + (xx - cx * s) ** 2 <= (self.radius_px * s) ** 2] = 4.0
        self.inputs.append((ih, iw))
        return [out]


def test_the_region_pass_magnifies_a_small_wound_as_much_for_a_smaller_scale_model():
    """A small wound in a 1600 px photo: the region's pass of a model run at 320 px is as large
    (384 px) and covers the same box as one run at 512, so its border is not drawn at a
    coarser scale than the shipped model's."""
    image = np.zeros((1200, 1600, 3), np.uint8)
    seen = {}
    for meta in ({}, {"woundtrack_network_long_side_px": "320"}):
        net = _DiscNetwork(meta, 1600, (600, 800), 60)
        params = learned.params_for_model(net)
        box = learned.wound_bed_logits(image, net, params).box
        seen[params.network_long_side_px] = (net.inputs, [b.stop - b.start for b in box])
    (first_512, *region_512), box_512 = seen[512]
    (first_320, *region_320), box_320 = seen[320]
    assert max(first_512) == 512 and max(first_320) == 320
    assert region_512 and region_320, "both ran the region's pass"
    assert box_320 == pytest.approx(box_512, abs=8)
    assert max(region_320[0]) == max(region_512[0]) == 384


def test_a_large_photo_s_small_wound_is_magnified_up_to_its_own_pixels_not_beyond():
    """The region's pass magnifies at most roi_max_zoom (2.5x) over the first pass, except up to
    one network pixel per photo pixel where the photo has the pixels: a 60 px wound in a 1600 px
    photo is seen at 1.0 (a 384 px box), not 0.8 (480 px). The tissue network keeps the 480 px
    region (its context); a 512 px photo (FUSeg's) is run exactly as before."""

    def sides(shape, centre_yx, radius_px, **change):
        """The box's two sides, then the tissue box's; rounding adds up to one pixel."""
        net = _DiscNetwork({}, shape[1], centre_yx, radius_px)
        params = dataclasses.replace(learned.params_for_model(net), **change)
        found = learned.wound_bed_logits(np.zeros((*shape, 3), np.uint8), net, params)
        return [b.stop - b.start for b in (*found.box, *found.tissue_box)]

    assert sides((1200, 1600), (600, 800), 30) == pytest.approx([384, 384, 480, 480], abs=1)
    old_rule = sides((1200, 1600), (600, 800), 30, roi_full_resolution=0.0)
    assert old_rule == pytest.approx([480] * 4, abs=1)
    # a 512 px photo: 2.5x its first pass is more than its own pixels, so nothing changes
    fuseg = sides((512, 512), (256, 256), 20)
    assert fuseg == sides((512, 512), (256, 256), 20, roi_full_resolution=0.0)
    assert fuseg == pytest.approx([154] * 4, abs=1)
    # a wound large enough that its margin decides: the same box either way
    large = sides((1200, 1600), (600, 800), 200)  # 400 px across, twice that with its margin
    assert large[:2] == large[2:] and large[0] == pytest.approx(800, abs=10)


def test_the_segmenter_takes_its_pass_sizes_from_its_model_unless_given():
    session = learned.load_model(SEGMENTER.model_path)
    assert SEGMENTER.params == learned.params_for_model(session)
    given = learned.LearnedParams(network_long_side_px=256)
    assert learned.LearnedSegmenter(params=given).params is given


@pytest.mark.parametrize("calibrated", [True, False])
def test_colours_read_only_around_the_wound_give_the_labels_of_the_whole_photo(
    phantom, monkeypatch, calibrated
):
    """``colour_region`` bounds what ``segment_learned`` reads of the colours; reading every
    pixel instead must not change a single label (with and without a sticker's scale)."""
    ph = phantom(PhantomSpec(seed=44, erythema_width_mm=6.0, **BASE))
    calibration = calibrate(ph.image)[0] if calibrated else None
    session = learned.load_model(SEGMENTER.model_path)
    region = learned.segment_learned(
        ph.image, session, calibration=calibration, params=SEGMENTER.params
    )
    h, w = ph.image.shape[:2]
    box = learned.colour_region(bed(region), 0.0, None, SEGMENTER.params.tissue)
    assert 0 < (box[0].stop - box[0].start) * (box[1].stop - box[1].start) < h * w  # a part
    monkeypatch.setattr(learned, "colour_region", lambda *a: (slice(None), slice(None)))
    whole = learned.segment_learned(
        ph.image, session, calibration=calibration, params=SEGMENTER.params
    )
    assert (region == ERYTHEMA).any()
    assert np.array_equal(region, whole)


def test_a_network_is_loaded_once_however_its_session_is_asked_for():
    path = str(learned.default_model_path())
    assert learned.load_model(path) is learned.load_model(path, None)
    assert learned.load_model(path, 1) is learned.load_model(path, threads=1)
    assert learned.load_model(path, 1) is not learned.load_model(path)


def test_outline_doubt_is_the_unsure_band_over_the_wound() -> None:
    logits = np.full((10, 10), -5.0, np.float32)
    logits[2:8, 2:8] = 5.0  # 36 px the network is sure are wound
    logits[1, 1:9] = 1.0  # 8 px wound, unsure
    logits[0, :] = -1.0  # 10 px not wound, unsure
    logits[9, :] = -2.0  # 10 px at the band's open end: sure enough they are not
    assert learned.outline_doubt(logits) == pytest.approx((8 + 10) / (36 + 8))
    assert learned.outline_doubt(np.full((4, 4), -1.0, np.float32)) is None  # no wound
    assert learned.outline_doubt(np.full((0, 0), -1.0, np.float32)) is None  # nothing found


def _two_lesions() -> tuple[np.ndarray, np.ndarray]:
    """A crisp 400 px wound and a 100 px one the network half sees (labels, logits)."""
    labels = np.zeros((60, 100), np.uint8)
    labels[10:30, 10:30] = GRANULATION
    labels[40:50, 70:80] = SLOUGH
    logits = np.full(labels.shape, -5.0, np.float32)
    logits[10:30, 10:30] = 5.0  # sure: no unsure pixel
    logits[38:52, 68:82] = -1.0  # a 2 px unsure ring round the small one: 96 px
    logits[40:50, 70:80] = 1.0  # and unsure of the small one itself: 100 px
    return labels, logits


def test_each_lesion_has_the_doubt_of_its_own_border() -> None:
    labels, logits = _two_lesions()
    lesions, _ = measure(labels, Calibration(method="none"))
    photo = learned.outline_doubt(logits)
    assert photo == pytest.approx(196 / 500)
    found = learned.LearnedLabels(labels, photo, logits, (slice(0, 60), slice(0, 100)))
    assert learned.lesion_doubts(found, lesions) == pytest.approx([0.0, 196 / 100])
    # the logits of a region of the photo only (as the segmenter gives them)
    box = (slice(5, 58), slice(5, 90))
    region = learned.LearnedLabels(labels, photo, logits[box], box)
    assert learned.lesion_doubts(region, lesions) == pytest.approx([0.0, 196 / 100])
    # one lesion: the photo's doubt; no logits (another segmenter): the photo's for each
    one = labels.copy()
    one[40:50, 70:80] = 0
    [alone], _ = measure(one, Calibration(method="none"))
    assert learned.lesion_doubts(found._replace(labels=one), [alone]) == [photo]
    assert learned.lesion_doubts(learned.LearnedLabels(labels, 0.5), lesions) == [0.5, 0.5]
    assert learned.lesion_doubts(found, []) == []


def test_the_segmenter_says_how_unsure_it_is_of_the_outline(phantom) -> None:
    """A crisp phantom leaves a thin unsure band; a dull wound on dark skin, which the network
    half sees (its area comes out small), a wide one."""
    crisp = phantom(PhantomSpec(seed=1))
    calibration = calibrate(crisp.image)[0]
    labels, doubt, *_ = SEGMENTER.segment_with_doubt(crisp.image, calibration)
    assert np.array_equal(labels, SEGMENTER(crisp.image, calibration))
    assert doubt < 0.15
    dull = phantom(
        PhantomSpec(
            seed=4,
            tissue_colours="measured",
            skin_tone=0.8,
            eschar_fraction=0.0,
            slough_fraction=0.3,
        )
    )
    labels, doubt, *_ = SEGMENTER.segment_with_doubt(dull.image, calibrate(dull.image)[0])
    assert bed(labels).sum() < 0.85 * bed(dull.labels).sum()
    assert doubt > 0.4
