"""Accuracy on random phantoms (tilt 0-35°, any roll, skin tone, light, cast, blur, noise, JPEG,
EXIF rotation), held to the figures the README publishes for these 16 phantoms.

The README's "Measured" table gives the 90th percentile and the largest |area error| of these 16
phantoms (seed 7), rounded up to the next whole per cent; a change that makes any of them worse
fails here. (Its 60-phantom figures, ``python benchmarks/phantom_accuracy.py 60``, are another
seed: with 12-16 measurable phantoms a 90th percentile is the second largest error, so the two
sets differ, slough's most: 22.8 % here, 16.4 % on the 60.) Medians are held to the targets of the
issues that set them (calibration alone 0.5 %, wound area 3 %, eschar 8 %, erythema 15 %).
"""

import numpy as np
import pytest

from woundtrack.synthetic.accuracy import phantom_errors, summarise
from woundtrack.synthetic.phantom import random_spec

N_PHANTOMS = 16

#: (90th percentile, max) of |relative area error| in % on these 16 phantoms, as the README's
#: "Measured" table gives them (learned segmenter).
#: The tissue network (issue 24) made eschar (5 / 9 % by the colour rules), slough (23 / 25 %) and
#: granulation (26 / 29 %) less steady here, for far better tissues on real photos (MODEL_CARD.md).
#: Magnifying a large photo's small wound up to its own pixels (2026-12-07) lowered the wound's
#: maximum (21 -> 14 %), granulation's (48 -> 37 %) and erythema's (63 -> 40 %); slough's p90 moved
#: from 23.97 to 24.14 % (one phantom -24.2 -> -24.5 %). Erythema no paler than the skin ring
#: (2026-12-07, for pale rims called erythema on real dark-skin photos) moved erythema's p90 from
#: 6.92 to 7.60 % (the darkest phantom's -7.4 -> -8.4 %; on the 60 phantoms its p90 fell 14.0 ->
#: 13.2 %).
README_PCT = {
    "wound": (9.0, 14.0),
    "eschar": (7.0, 10.0),
    "slough": (25.0, 25.0),
    "granulation": (36.0, 37.0),
    "erythema": (8.0, 40.0),
}


@pytest.fixture(scope="module")
def summary():
    rng = np.random.default_rng(7)
    errors = [
        phantom_errors(random_spec(rng, width_px=1600, height_px=1200, seed=500 + i))
        for i in range(N_PHANTOMS)
    ]
    return summarise(errors)


@pytest.mark.slow
def test_calibration_alone(summary):
    s = summary["calibration"]
    assert s["n"] >= N_PHANTOMS - 1  # the sticker is found in (nearly) every photo
    assert s["median_pct"] <= 0.5
    # Within 1 % on the typical photo (test_calibration.py checks that at 0-35° tilt); a small
    # sticker far from the wound extrapolates worse (2.8 % at a 78 px sticker among these 16),
    # which the record's area_uncertainty_pct and a warning flag.
    assert s["p90_pct"] <= 1.5
    assert s["max_pct"] <= 3.0


@pytest.mark.slow
@pytest.mark.parametrize("measure", list(README_PCT))
def test_no_figure_worse_than_the_readme_says(summary, measure):
    s = summary[measure]
    assert s["n"] >= 8
    p90, worst = README_PCT[measure]
    assert s["p90_pct"] <= p90
    assert s["max_pct"] <= worst


@pytest.mark.slow
@pytest.mark.parametrize(
    ("measure", "target"), [("wound", 3.0), ("eschar", 8.0), ("erythema", 15.0)]
)
def test_median_targets(summary, measure, target):
    assert summary[measure]["median_pct"] <= target
