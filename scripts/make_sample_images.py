"""Write the synthetic demo series: twelve weekly photos of one healing calciphylaxis-like wound.

The photos are phantoms (``woundtrack.synthetic.phantom``), not patient images: the same wound
(fixed ``lesion_seed``) shrinks from a mean radius of ~22 mm to ~4 mm, its eschar share falls
from 70 % to 5 %, slough rises and falls again, and the erythema ring narrows from 8 mm to 1 mm,
while each week's photo is taken at another tilt, roll, light and white balance, as a nurse's
phone would.
The truth areas go to ``demo_truth.csv`` beside the photos.

Example::

    python scripts/make_sample_images.py            # writes sample_images/ in the repository
    python scripts/make_sample_images.py --out /tmp/demo
"""

from __future__ import annotations

import argparse
import csv
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from woundtrack.synthetic.phantom import PhantomSpec, write_phantom

WEEKS = 12
FIRST_VISIT_AT = datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=1)))
LESION_SEED = 20260302  # the patient's wound: outline and tissue layout stay the same
README = """# Sample images (synthetic)

`demo_week00.jpg` … `demo_week11.jpg` are **synthetic phantoms, not photos of a patient**. They
were rendered by `scripts/make_sample_images.py` with `woundtrack.synthetic.phantom`: a flat patch
of skin (tone 0.45) with one calciphylaxis-like wound and the ArUco calibration sticker
(DICT_4X4_50, id 7, 20 mm black square with a 5 mm white quiet zone), photographed weekly from
2026-03-02 09:30 +01:00 at a tilt of 5–25°, varying roll, uneven light and colour casts,
1600×1200, JPEG quality 85. Some files store rotated pixels with an EXIF Orientation tag (as
phones do); they display upright.

The wound heals over the twelve weeks: mean radius ~22 mm → ~4 mm, eschar 70 % → 5 % of the
bed, slough rising and then falling, erythema ring 8 mm → 1 mm.

`demo_truth.csv` holds the exact areas (cm², on the skin plane) that each photo was rendered
from, so measurements can be compared with the truth. Re-create everything with
`python scripts/make_sample_images.py`.
"""


def week_spec(week: int, rng: np.random.Generator) -> PhantomSpec:
    """The phantom of one weekly visit; ``rng`` varies only how the photo is taken."""
    progress = week / (WEEKS - 1)
    radius_mm = 22.0 * (4.0 / 22.0) ** progress  # exponential shrinkage, 22 mm -> 4 mm
    eschar = 0.05 + 0.65 * (1.0 - progress) ** 1.5
    slough = 0.08 + 0.32 * math.sin(math.pi * progress)
    return PhantomSpec(
        seed=1000 + week,
        lesion_seed=LESION_SEED,
        width_px=1600,
        height_px=1200,
        skin_tone=0.45,
        wound_radius_mm=radius_mm,
        n_lesions=1,
        eschar_fraction=eschar,
        slough_fraction=slough,
        erythema_width_mm=8.0 - 7.0 * progress,
        tilt_deg=float(rng.uniform(5.0, 25.0)),
        tilt_azimuth_deg=float(rng.uniform(0.0, 360.0)),
        roll_deg=float(rng.uniform(-35.0, 35.0)),
        focal_35mm=26.0,
        wound_fill_frac=float(rng.uniform(0.3, 0.4)),
        light_gradient=float(rng.uniform(0.1, 0.5)),
        colour_temperature_k=float(rng.uniform(3800.0, 7000.0)),
        blur_sigma_px=float(rng.uniform(0.0, 0.8)),
        noise_sigma=float(rng.uniform(1.0, 2.5)),
        jpeg_quality=85,
        exif_orientation=int(rng.choice([1, 1, 1, 6, 6, 3, 8])),
        taken_at=FIRST_VISIT_AT + timedelta(weeks=week),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_out = Path(__file__).resolve().parent.parent / "sample_images"
    parser.add_argument("--out", type=Path, default=default_out, help="output folder")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    rows = []
    for week in range(WEEKS):
        spec = week_spec(week, rng)
        name = f"demo_week{week:02d}.jpg"
        truth = write_phantom(spec, out / name).truth
        assert spec.taken_at is not None
        rows.append(
            {
                "file": name,
                "taken_at": spec.taken_at.isoformat(),
                # 1 cm² = 100 mm²
                "wound_area_cm2": round(truth.wound_area_mm2 / 100.0, 4),
                "eschar_area_cm2": round(truth.eschar_area_mm2 / 100.0, 4),
                "slough_area_cm2": round(truth.slough_area_mm2 / 100.0, 4),
                "granulation_area_cm2": round(truth.granulation_area_mm2 / 100.0, 4),
                "erythema_area_cm2": round(truth.erythema_area_mm2 / 100.0, 4),
            }
        )
        print(f"{name}: wound {rows[-1]['wound_area_cm2']:.2f} cm²")
    with open(out / "demo_truth.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / "README.md").write_text(README, encoding="utf-8")
    total_mb = sum(p.stat().st_size for p in out.glob("demo_week*.jpg")) / 1e6
    print(f"wrote {len(rows)} photos ({total_mb:.1f} MB), demo_truth.csv and README.md to {out}")


if __name__ == "__main__":
    main()
