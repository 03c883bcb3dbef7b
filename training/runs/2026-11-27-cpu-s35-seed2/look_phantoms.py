# Where a phantom wound bed was missed: the share of each true tissue the segmenter called wound.
# Run from a clone with the model under test at woundtrack/weights/wound_bed.onnx.
import sys, numpy as np
sys.path.insert(0, "tests")
from test_segmentation import run, BASE, bed
from woundtrack.phantom import PhantomSpec
for name, spec in [("dark 0.95", PhantomSpec(seed=21, skin_tone=0.95, tilt_deg=15.0, **BASE)),
                   ("light 0.05", PhantomSpec(seed=21, skin_tone=0.05, tilt_deg=15.0, **BASE)),
                   ("3 lesions", PhantomSpec(seed=28, n_lesions=3, wound_radius_mm=10.0, **BASE))]:
    ph, cal, labels, totals = run(spec, "learned")
    t, p = bed(ph.labels), bed(labels)
    out = {k: round(float(((ph.labels == v) & p).sum() / max(1, (ph.labels == v).sum())), 3) for k, v in (("gran",1),("slough",2),("eschar",3))}
    print(name, "truth px", int(t.sum()), "pred px", int(p.sum()), "false+", int((p & ~t).sum()), "found per tissue", out,
          "pred on erythema", int((p & (ph.labels==4)).sum()))
