"""overlay.py: what a screen shows of a measured photo."""

import numpy as np
import pytest

from woundtrack.image.calibration import calibrate
from woundtrack.image.overlay import PALETTE, lesion_box_px, overlay_views, render_overlay
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
    assert close_up.shape == (y1 - y0, x1 - x0, 3)
    assert whole.shape == (1200, 1600, 3)
    assert ph.labels[y0:y1, x0:x1].any() and not np.shares_memory(whole, ph.image)


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
