"""overlay.py: what a screen shows of a measured photo."""

import numpy as np
import pytest

from woundtrack.image.calibration import calibrate
from woundtrack.image.measure import measure
from woundtrack.image.overlay import (
    CLOSE_UP_MIN_SIDE_PX,
    PALETTE,
    Tag,
    close_up_view,
    legend_box_px,
    lesion_box_px,
    lesion_tags,
    overlay_views,
    render_overlay,
    render_overlay_with_legend_band,
    warped_tags,
)
from woundtrack.models import Calibration
from woundtrack.synthetic.phantom import PhantomSpec, render_phantom


@pytest.fixture(scope="module")
def big():
    ph = render_phantom(PhantomSpec(seed=3, width_px=3200, height_px=2400))
    calibration, _ = calibrate(ph.image)
    return ph, calibration


def test_views_keep_the_wound_at_full_resolution_and_shrink_the_whole_photo(big):
    ph, calibration = big
    close_up, whole = overlay_views(ph.image, ph.labels, calibration=calibration, max_side_px=1600)
    y0, y1, x0, x1 = lesion_box_px(ph.labels)
    band = close_up.shape[0] - (y1 - y0)  # the colour key's band above the close-up
    assert close_up.shape[1:] == (x1 - x0, 3) and band > 0
    assert legend_box_px(close_up.shape)[1] < band  # the key hides none of the photo
    corner = ph.labels[y0 : y0 + 40, x0 : x0 + 40] == 0  # skin in the close-up's corner
    assert corner.all()
    assert np.array_equal(close_up[band : band + 40, :40], ph.image[y0 : y0 + 40, x0 : x0 + 40])
    assert whole.shape == (1200, 1600, 3)
    assert ph.labels[y0:y1, x0:x1].any() and not np.shares_memory(whole, ph.image)


def test_a_small_wounds_close_up_is_enlarged_so_its_key_band_stays_small():
    image = np.full((480, 640, 3), 128, np.uint8)
    labels = np.zeros((480, 640), np.uint8)
    labels[200:230, 300:320] = 1  # 30 x 20 px of granulation
    close_up = close_up_view(image, labels)
    y0, y1, x0, x1 = lesion_box_px(labels)
    grow = -(-CLOSE_UP_MIN_SIDE_PX // max(y1 - y0, x1 - x0))
    band = close_up.shape[0] - grow * (y1 - y0)
    assert grow > 1 and grow * max(y1 - y0, x1 - x0) >= CLOSE_UP_MIN_SIDE_PX
    assert close_up.shape[1] == grow * (x1 - x0)
    assert 0 < band < close_up.shape[0] / 3
    assert tuple(close_up[band + grow * 215 - grow * y0, grow * 310 - grow * x0]) != (128,) * 3


def test_overlay_paints_each_tissue_in_its_colour():
    image = np.full((600, 800, 3), 128, np.uint8)
    labels = np.zeros((600, 800), np.uint8)
    labels[300:400, 300:400] = 3  # eschar
    labels[450:550, 600:700] = 2  # slough
    out = render_overlay(image, labels, opacity=1.0)
    assert tuple(out[350, 350]) == PALETTE[3]
    assert tuple(out[500, 650]) == PALETTE[2]
    assert tuple(out[550, 100]) == (128, 128, 128)  # skin untouched
    with pytest.raises(ValueError, match="do not match"):
        render_overlay(image, labels[:50])


@pytest.mark.parametrize(("shape", "lines"), [((600, 800), []), ((2400, 3200), ["a", "b"])])
def test_the_legend_is_drawn_in_its_box_and_nowhere_else(shape, lines):
    image = np.full((*shape, 3), 128, np.uint8)
    out = render_overlay(image, np.zeros(shape, np.uint8), legend_lines=lines)
    ys, xs = np.nonzero((out != image).any(axis=2))
    y0, y1, x0, x1 = legend_box_px(shape, len(lines))
    assert (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1) == (y0, y1, x0, x1)
    assert legend_box_px(shape, len(lines) + 1)[1] > y1  # a row per line
    # Without its key (a page that shows the key beside the picture): nothing drawn at all.
    np.testing.assert_array_equal(
        render_overlay(image, np.zeros(shape, np.uint8), legend=False), image
    )


def test_the_legend_band_holds_the_legend_above_the_photo():
    image = np.full((600, 800, 3), 128, np.uint8)
    labels = np.zeros((600, 800), np.uint8)
    labels[300:400, 300:400] = 3
    lines = ["wound 1.00 cm2"]
    banded, band = render_overlay_with_legend_band(image, labels, legend_lines=lines, opacity=1.0)
    assert banded.shape == (600 + band, 800, 3)
    assert legend_box_px(banded.shape, len(lines))[1] < band  # the legend hides no photo
    assert tuple(banded[band + 350, 350]) == PALETTE[3]
    assert (banded[band : band + 200, :400] == 128).all()  # the photo's corner is untouched
    assert not banded[band - 4 : band].any()  # black below the legend


def _changed(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the pixels where two pictures differ."""
    ys, xs = np.nonzero((a != b).any(axis=2))
    return ys.min(), ys.max() + 1, xs.min(), xs.max() + 1


def test_each_lesion_of_several_is_tagged_beside_its_box_in_every_view():
    """The numbers the warnings and the lesion table give, drawn just outside each lesion's
    top-right corner, in the whole photo, its shrunk view and the enlarged close-up."""
    image = np.full((1200, 1600, 3), 128, np.uint8)
    labels = np.zeros((1200, 1600), np.uint8)
    labels[500:700, 300:500] = 1  # lesion 1: 200 x 200 px
    labels[600:640, 1000:1040] = 2  # lesion 2: 40 x 40 px
    lesions, _ = measure(labels, Calibration(method="none"))
    tags = lesion_tags(lesions)
    assert [t.text for t in tags] == ["1", "2"]
    assert [t.text for t in lesion_tags(lesions, ["L3", "L1"])] == ["L3", "L1"]
    assert lesion_tags(lesions[:1]) == []  # one lesion: nothing to match
    plain = render_overlay(image, labels, legend=False)
    tagged = render_overlay(image, labels, legend=False, tags=tags[1:])
    y0, y1, x0, x1 = _changed(plain, tagged)
    assert 1040 <= x0 < 1060 and y1 <= 600  # right of lesion 2's box, above its top
    assert np.array_equal(plain[600:640, 1000:1040], tagged[600:640, 1000:1040])  # hides none
    close_up, whole = overlay_views(image, labels, max_side_px=800, tags=tags[1:])
    plain_close_up, plain_whole = overlay_views(image, labels, max_side_px=800)
    y0, y1, x0, x1 = _changed(plain_whole, whole)
    assert 520 <= x0 < 535 and y1 <= 300  # the same place at half size
    by0, by1, bx0, bx1 = lesion_box_px(labels)
    y0, y1, x0, x1 = _changed(plain_close_up, close_up)
    assert 1040 - bx0 <= x0 < 1060 - bx0  # the close-up is cut at the box, not enlarged here
    # a tag at the picture's edge stays inside it
    edge = render_overlay(
        image, labels, legend=False, tags=[tags[1]._replace(box_px=(1590, 0, 10, 10))]
    )
    y0, y1, x0, x1 = _changed(plain, edge)
    assert y0 >= 0 and x1 <= 1600 and x0 > 1500


def test_tags_follow_a_photo_warped_into_another_view():
    """A registered top view: each tag's box is the box round its corners' new places."""
    tag = Tag("L2", (10.0, 20.0, 30.0, 40.0))
    scale_and_shift = np.array([[2.0, 0.0, 5.0], [0.0, 2.0, -3.0], [0.0, 0.0, 1.0]])
    [moved] = warped_tags([tag], scale_and_shift)
    assert moved.text == "L2"
    assert moved.box_px == pytest.approx((25.0, 37.0, 60.0, 80.0))
    turned = np.array([[0.0, -1.0, 100.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # 90° about
    [moved] = warped_tags([tag], turned)
    assert moved.box_px == pytest.approx((40.0, 10.0, 40.0, 30.0))  # w and h swap
