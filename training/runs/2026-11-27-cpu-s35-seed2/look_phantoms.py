"""Where a phantom wound bed was missed: the share of each true tissue the segmenter called wound.

Run from a clone's root with the model under test at woundtrack/weights/wound_bed.onnx:
    PYTHONPATH=. python training/runs/2026-11-27-cpu-s35-seed2/look_phantoms.py
"""

import sys

sys.path.insert(0, "tests")

from test_segmentation import BASE, bed, run  # noqa: E402

from woundtrack.models import ESCHAR, GRANULATION, SLOUGH  # noqa: E402
from woundtrack.synthetic.phantom import PhantomSpec, render_phantom  # noqa: E402

TISSUES = {"granulation": GRANULATION, "slough": SLOUGH, "eschar": ESCHAR}
PHANTOMS = {
    "dark skin 0.95": PhantomSpec(seed=21, skin_tone=0.95, tilt_deg=15.0, **BASE),
    "light skin 0.05": PhantomSpec(seed=21, skin_tone=0.05, tilt_deg=15.0, **BASE),
    "3 lesions": PhantomSpec(seed=28, n_lesions=3, wound_radius_mm=10.0, **BASE),
}

for name, spec in PHANTOMS.items():
    ph, _, labels, _ = run(render_phantom(spec), "learned")
    truth_px, found = bed(ph.labels), bed(labels)
    share = {
        tissue: round(float((found & (ph.labels == v)).sum() / max(1, (ph.labels == v).sum())), 3)
        for tissue, v in TISSUES.items()
    }
    print(
        f"{name}: truth {int(truth_px.sum())} px, found {int(found.sum())}, "
        f"false positives {int((found & ~truth_px).sum())}; found per tissue {share}"
    )
