"""Seconds per photo for `woundtrack measure`, beside the time to merely decode the same file, and
where the time goes.

Writes 2 MP (1600x1200) and 12 MP (4000x3000) phantom JPEGs (five of each, different wounds and
angles), then prints:
1. per size: the JPEG decode alone (libjpeg-turbo into an array), ``io.read_photo`` (decode plus
   hash, EXIF and checks), one photo measured (``pipeline.analyze``, best of ``--repeat``), and
   the mean per photo inside a batch (the five measured one after another in one process; the
   best of three such passes), with the batch figure over the decode, and the same five measured
   side by side, one per core, as ``woundtrack measure *.jpg`` does (``image.side_by_side``);
2. per stage, for one 12 MP photo (cProfile, cumulative seconds of the stage's function);
3. the command line: ``woundtrack measure`` of one 12 MP photo, start-up included (best of 3),
   and ``woundtrack import`` of 100 distinct 2 MP photos into a new SQLite file, one after
   another (``--workers 0``) and side by side (the default).

Targets (issue 29, 2 cores): 12 MP inside a batch <= 0.5 s and <= 5x its decode; one 12 MP photo
from the command line <= 1.5 s; 100 photos imported from the command line <= 25 s.

Run: python benchmarks/measure_speed.py [--repeat 5] [--no-import]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import simplejpeg

from woundtrack.image.io import read_photo
from woundtrack.image.pipeline import analyze, make_segmenter
from woundtrack.image.side_by_side import in_order, one_thread, worker_count
from woundtrack.synthetic.phantom import PhantomSpec, write_phantom

ROOT = Path(__file__).resolve().parent.parent
SIZES = ((1600, 1200), (4000, 3000))
BATCH = 5
# (stage, function name as cProfile reports it, its module's file name)
STAGES = (
    ("read: decode, hash, EXIF", "read_photo", "io.py"),
    ("calibration (sticker)", "calibrate", "calibration.py"),
    ("network (all passes)", "network_logits", "learned.py"),
    ("tissue colours", "tissue_colours", "segmentation.py"),
    ("bed cleaning (full res.)", "clean_wound_bed", "learned.py"),
    ("erythema and labels", "label_wound", "segmentation.py"),
    ("measuring (cm², outline)", "measure", "measure.py"),
    ("whole measurement", "analyze", "pipeline.py"),
)


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def write_photos(folder: Path, width: int, height: int) -> list[Path]:
    paths = []
    for seed in range(BATCH):
        path = folder / f"phantom_{width}x{height}_{seed}.jpg"
        spec = PhantomSpec(
            seed=5 + seed,
            width_px=width,
            height_px=height,
            tilt_deg=10.0 + 5 * seed,
            roll_deg=30.0 * seed,
            eschar_fraction=0.5,
            jpeg_quality=90,
        )
        write_phantom(spec, path)
        paths.append(path)
    return paths


def speed_table(photos: dict[tuple[int, int], list[Path]], repeat: int) -> None:
    segmenter = make_segmenter()
    workers = worker_count(BATCH)
    beside = one_thread(segmenter)
    print(f"side by side: {workers} photos at once, the networks on one thread each")
    print(
        f"{'photo':>18s} {'JPEG decode s':>14s} {'read_photo s':>13s} {'one photo s':>12s} "
        f"{'in a batch s':>13s} {'batch / decode':>15s} {'side by side s':>15s} "
        f"{'side / decode':>15s}"
    )
    for (width, height), paths in photos.items():
        first = paths[0]
        data = first.read_bytes()
        analyze(first, segmenter=segmenter)  # warm-up: imports, caches
        decode_s = best_of(repeat, lambda d=data: simplejpeg.decode_jpeg(d, colorspace="RGB"))
        read_s = best_of(repeat, lambda p=first: read_photo(p))
        one_s = best_of(repeat, lambda p=first: analyze(p, segmenter=segmenter))

        def batch(paths=paths) -> None:
            for path in paths:
                analyze(path, segmenter=segmenter)

        def side_by_side(paths=paths) -> None:  # as `woundtrack measure *.jpg` does it
            for _, result in in_order(
                lambda p: analyze(p, segmenter=beside), paths, workers=workers
            ):
                assert not isinstance(result, Exception), result

        batch_s = best_of(3, batch) / len(paths)  # the best of three passes over the five
        beside_s = best_of(3, side_by_side) / len(paths)
        label = f"{width}x{height} ({width * height / 1e6:.0f} MP)"
        print(
            f"{label:>18s} {decode_s:14.3f} {read_s:13.3f} {one_s:12.3f} {batch_s:13.3f} "
            f"{batch_s / decode_s:14.1f}x {beside_s:15.3f} {beside_s / decode_s:14.1f}x"
        )


def stage_table(photo: Path) -> None:
    segmenter = make_segmenter()
    analyze(photo, segmenter=segmenter)
    profile = cProfile.Profile()
    runs = 3
    profile.enable()
    for _ in range(runs):
        analyze(photo, segmenter=segmenter)
    profile.disable()
    stats = pstats.Stats(profile).stats  # (file, line, name) -> (cc, nc, tottime, cumtime, ...)
    print(f"\nwhere the time of one 12 MP photo goes (cProfile, mean of {runs}):")
    for stage, name, file in STAGES:
        seconds = sum(v[3] for k, v in stats.items() if k[2] == name and k[0].endswith(file))
        print(f"  {stage:26s} {1000 * seconds / runs:7.0f} ms")


def command_line(photo: Path, folder: Path, with_import: bool) -> None:
    env = {**os.environ, "WOUNDTRACK_DB": f"sqlite:///{folder / 'cli.db'}"}
    command = [sys.executable, "-m", "woundtrack.cli", "measure", str(photo)]

    def run() -> None:
        subprocess.run(command, check=True, capture_output=True, env=env)

    print(f"\nwoundtrack measure, one 12 MP photo, start-up included: {best_of(3, run):.2f} s")
    if not with_import:
        return
    weeks = sorted((ROOT / "sample_images").glob("demo_week*.jpg"))
    uploads = folder / "import"
    uploads.mkdir()
    for n in range(100):  # distinct files: the demo series with bytes of their own at the end
        (uploads / f"p{n:03d}.jpg").write_bytes(weeks[n % len(weeks)].read_bytes() + b"%d" % n)
    files = sorted(str(p) for p in uploads.glob("*.jpg"))
    for workers, how in (("0", "one after another"), (None, "side by side (the default)")):
        (folder / "cli.db").unlink(missing_ok=True)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "woundtrack.cli", "import", *files, "--patient", "BEN-100"]
            + ([] if workers is None else ["--workers", workers]),
            check=True,
            capture_output=True,
            env=env,
        )
        seconds = time.perf_counter() - start
        print(
            f"import, 100 distinct 2 MP photos, {how}: {seconds:.1f} s "
            f"({10 * seconds:.0f} ms/photo)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-import", action="store_true", help="skip the 100-photo import")
    args = parser.parse_args()
    print(f"cores available: {len(os.sched_getaffinity(0))}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        photos = {(w, h): write_photos(folder, w, h) for w, h in SIZES}
        speed_table(photos, args.repeat)
        big = photos[SIZES[-1]][0]
        stage_table(big)
        command_line(big, folder, not args.no_import)


if __name__ == "__main__":
    main()
