"""Write the demo series' analyses that ship beside its photos (``sample_images/demo_results/``).

The app's first start files these instead of measuring the twelve photos
(``woundtrack.record.demo``), but only while they were made by the same woundtrack version,
network and parameters. Run this after changing the segmenter (``tests/test_demo.py`` says when
the shipped ones are out of date)::

    python scripts/demo_results.py
"""

from __future__ import annotations

from pathlib import Path

from woundtrack.image.pipeline import make_segmenter
from woundtrack.record.demo import write_demo_results

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"

if __name__ == "__main__":
    for path in write_demo_results(SAMPLES, make_segmenter()):
        print(path.relative_to(SAMPLES.parent), f"{path.stat().st_size / 1024:.0f} KB")
