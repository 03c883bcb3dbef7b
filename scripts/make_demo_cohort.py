"""Write the synthetic demo cohort: ``sample_images/demo_cohort/`` (no patient, no photo).

    python scripts/make_demo_cohort.py

``measurements.csv`` (the export CSV's ``patient, lesion, taken_at, wound_area_cm2``),
``timeline.csv`` (the treatment CSV with a ``patient`` column) and ``reference.csv`` (manual
areas for a tenth of the visits, as a ruler would give them: 8 % larger plus 0.1 cm², with a
noise of 6 %), from ``woundtrack.synthetic.cohort.synthetic_cohort(n_patients=120, seed=27)``:
the model and its true figures are in that module's docstring.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from woundtrack.synthetic.cohort import synthetic_cohort

OUT = Path(__file__).resolve().parent.parent / "sample_images" / "demo_cohort"


def main() -> None:
    measurements, timeline, truth = synthetic_cohort(n_patients=120, seed=27)
    OUT.mkdir(parents=True, exist_ok=True)
    measurements.to_csv(OUT / "measurements.csv", index=False)
    timeline.to_csv(OUT / "timeline.csv", index=False)
    rng = np.random.default_rng(27)
    reference = measurements[measurements["wound_area_cm2"] > 0].sample(frac=0.1, random_state=27)
    area = reference["wound_area_cm2"] * 1.08 + 0.1
    reference = reference.assign(area_cm2=(area * rng.normal(1.0, 0.06, len(reference))).round(3))[
        ["patient", "lesion", "taken_at", "area_cm2"]
    ]
    reference.sort_values(["patient", "taken_at"]).to_csv(OUT / "reference.csv", index=False)
    print(f"wrote {OUT}: {len(measurements)} measurements, truth {truth}")


if __name__ == "__main__":
    main()
