"""Seconds per photo for `woundtrack measure`, beside the time to merely decode the same file.

Writes a 2 MP (1600x1200) and a 12 MP (4000x3000) phantom JPEG, then times, best of N runs:
decode only (``io.read_photo``) and the whole measurement (``pipeline.analyze``: decode,
calibration, segmentation, measurement). Target: a 12 MP photo in <= 1.0 s on 2 cores.

Run: python benchmarks/measure_speed.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from woundtrack.image.io import read_photo
from woundtrack.image.pipeline import analyze
from woundtrack.synthetic.phantom import PhantomSpec, write_phantom


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"cores available: {len(os.sched_getaffinity(0))}")
    print(f"{'photo':>22s} {'decode s':>9s} {'measure s':>10s} {'wound cm2':>10s}")
    with tempfile.TemporaryDirectory() as tmp:
        for width, height in ((1600, 1200), (4000, 3000)):
            path = Path(tmp) / f"phantom_{width}x{height}.jpg"
            spec = PhantomSpec(
                seed=5,
                width_px=width,
                height_px=height,
                tilt_deg=20.0,
                roll_deg=30.0,
                eschar_fraction=0.5,
                jpeg_quality=90,
            )
            truth = write_phantom(spec, path).truth
            analyze(path)  # warm-up: imports, caches
            decode_s = best_of(args.repeat, lambda p=path: read_photo(p))
            result = analyze(path)
            measure_s = best_of(args.repeat, lambda p=path: analyze(p))
            label = f"{width}x{height} ({width * height / 1e6:.0f} MP)"
            print(
                f"{label:>22s} {decode_s:9.3f} {measure_s:10.3f} "
                f"{result.totals.wound_area_cm2:10.2f}"
                f"  (truth {truth.wound_area_mm2 / 100:.2f})"
            )


if __name__ == "__main__":
    main()
