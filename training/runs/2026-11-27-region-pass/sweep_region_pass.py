"""Wound area on three phantoms with the region's pass at other sizes and zoom caps.

Run from a clone's root, with the ONNX files to compare as arguments (comma-separated):
    PYTHONPATH=. python training/runs/2026-11-27-region-pass/sweep_region_pass.py a.onnx,b.onnx

Prints, per model and setting: the dark- and light-skin phantoms' bed Dice and area error, and
the three lesions' area errors (smallest first), against the phantoms' truth.
"""

import dataclasses
import sys

sys.path.insert(0, "tests")

from test_segmentation import BASE, bed, dice  # noqa: E402

from woundtrack.image import learned  # noqa: E402
from woundtrack.image.calibration import calibrate  # noqa: E402
from woundtrack.image.measure import measure  # noqa: E402
from woundtrack.synthetic.phantom import PhantomSpec, render_phantom  # noqa: E402

SPECS = {
    "dark": PhantomSpec(seed=21, skin_tone=0.95, tilt_deg=15.0, **BASE),
    "light": PhantomSpec(seed=21, skin_tone=0.05, tilt_deg=15.0, **BASE),
    "3 lesions": PhantomSpec(seed=28, n_lesions=3, wound_radius_mm=10.0, **BASE),
}
# (region's pass long side px, its zoom cap over the first pass)
SETTINGS = [(256, 2.5), (256, 3.0), (256, 4.0), (320, 2.5), (384, 2.5), (384, 3.0), (384, 4.0)]

phantoms = {name: render_phantom(spec) for name, spec in SPECS.items()}
calibrations = {name: calibrate(ph.image)[0] for name, ph in phantoms.items()}
for path in sys.argv[1].split(","):
    session = learned.load_model(path)
    for roi_px, cap in SETTINGS:
        params = dataclasses.replace(
            learned.params_for_model(session), roi_long_side_px=roi_px, roi_max_zoom=cap
        )
        out = []
        for name, ph in phantoms.items():
            labels = learned.segment_learned(
                ph.image, session, calibration=calibrations[name], params=params
            )
            lesions, totals = measure(labels, calibrations[name])
            if name == "3 lesions":
                got = sorted(m.wound_area_cm2 * 100 for m in lesions)
                want = sorted(ph.truth.lesion_areas_mm2)
                if len(got) != len(want):
                    out.append(f"{len(got)} lesions found")
                    continue
                errors = "/".join(
                    f"{100 * (g / w - 1):+.0f}" for g, w in zip(got, want, strict=True)
                )
                out.append(f"3 lesions {errors} %")
            else:
                error = 100 * (totals.wound_area_cm2 * 100 / ph.truth.wound_area_mm2 - 1)
                out.append(f"{name} Dice {dice(bed(labels), bed(ph.labels)):.3f} {error:+.1f} %")
        print(f"{path.split('/')[-1]} region {roi_px} px cap {cap}: " + " | ".join(out), flush=True)
