"""``woundtrack batch`` on many 2 MP photos: one process against Dask, and a worker killed.

    python benchmarks/batch_speed.py [--photos 1000] [--kill-photos 200]

Writes ``--photos`` distinct 2 MP JPEGs (the demo series, each with bytes of its own appended)
and a manifest of 50 patients, then runs the command line four times, each into a new results
folder, and prints photos per second and the peak memory of the whole process tree (the command
and every worker, resident set sampled every 0.2 s):

1. ``--workers 0``: one process, no Dask (the network uses every core);
2. ``--workers 2``: a LocalCluster of two one-thread worker processes;
3. ``--scheduler``: a scheduler and two one-thread workers started beforehand with Dask's own
   ``dask scheduler`` / ``dask worker`` commands;
4. ``--workers 2`` on ``--kill-photos`` photos, one worker process killed (SIGKILL) a third of
   the way through: every photo must still have its row.

Issue 27's aim: LocalCluster >= 1.7x the photos per second of one process on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
WOUNDTRACK = [sys.executable, "-m", "woundtrack.cli"]


def write_photos(folder: Path, n: int) -> Path:
    weeks = sorted((ROOT / "sample_images").glob("demo_week*.jpg"))
    lines = ["patient,photo"]
    for i in range(n):
        path = folder / f"p{i:04d}.jpg"
        path.write_bytes(weeks[i % len(weeks)].read_bytes() + b"%d" % i)
        lines.append(f"B-{i % 50:02d},{path.name}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


class PeakMemory:
    """Peak summed resident memory of a process and all its descendants."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak_bytes = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.done.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                total = sum(p.memory_info().rss for p in procs if p.is_running())
            except psutil.Error:
                total = 0
            self.peak_bytes = max(self.peak_bytes, total)
            time.sleep(0.2)

    def stop(self) -> float:
        self.done.set()
        self.thread.join()
        return self.peak_bytes / 2**20


def run(args: list[str], *, extra_memory_pids=(), kill_after_s: float | None = None) -> dict:
    start = time.perf_counter()
    process = subprocess.Popen(
        [*WOUNDTRACK, *args, "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    memory = PeakMemory(process.pid)
    others = [PeakMemory(pid) for pid in extra_memory_pids]
    killed = None
    if kill_after_s is not None:
        time.sleep(kill_after_s)
        workers = [
            p
            for p in psutil.Process(process.pid).children(recursive=True)
            if "dask worker" in " ".join(p.cmdline())  # its process title; not the resource tracker
        ]
        if workers:
            killed = workers[-1].pid
            os.kill(killed, signal.SIGKILL)
    out, err = process.communicate()
    seconds = time.perf_counter() - start
    peak = memory.stop() + sum(m.stop() for m in others)
    return {
        "status": process.returncode,
        "seconds": seconds,
        "peak_mib": peak,
        "out": out.strip(),
        "err": err.strip()[-400:],
        "killed": killed,
    }


def start_cluster(folder: Path) -> tuple[str, list[subprocess.Popen]]:
    scheduler_file = folder / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--scheduler-file",
                str(scheduler_file),
                "--no-dashboard",
            ],
            **quiet,
        )
    ]
    while not scheduler_file.exists():
        time.sleep(0.1)
    address = json.loads(scheduler_file.read_text())["address"]
    for _ in range(2):
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                ],
                **quiet,
            )
        )
    time.sleep(3)
    return address, processes


def rows_of(results: Path) -> tuple[int, int]:
    sys.path.insert(0, str(ROOT))
    from woundtrack.record.batch import read_results

    frame = read_results(results)
    return len(frame), int(frame["ok"].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--kill-photos", type=int, default=200)
    parser.add_argument(
        "--kill-only",
        type=float,
        metavar="PHOTOS_PER_S",
        help="only the killed-worker run (one process's speed given, for when to kill)",
    )
    options = parser.parse_args()
    if options.kill_only:
        with tempfile.TemporaryDirectory(prefix="wt-batch-") as tmp:
            kill_run(Path(tmp), options.kill_photos, options.kill_only)
        return
    with tempfile.TemporaryDirectory(prefix="wt-batch-") as tmp:
        folder = Path(tmp)
        manifest = write_photos(folder, options.photos)
        print(f"{options.photos} photos of 1600x1200 px, {os.cpu_count()} cores")
        print("| run | seconds | photos/s | peak memory (MiB) | rows (ok) |")
        print("|---|---|---|---|---|")
        base = None
        for label, extra in (
            ("one process (--workers 0)", ["--workers", "0"]),
            ("LocalCluster (--workers 2)", ["--workers", "2"]),
        ):
            out = folder / f"{extra[1]}.parquet"
            r = run(["batch", str(manifest), "--out", str(out), *extra])
            n, ok = rows_of(out)
            speed = ok / r["seconds"]
            base = base or speed
            print(
                f"| {label} | {r['seconds']:.1f} | {speed:.2f} ({speed / base:.2f}x) | "
                f"{r['peak_mib']:.0f} | {n} ({ok}) |",
                flush=True,
            )
        address, cluster = start_cluster(folder)
        try:
            out = folder / "scheduler.parquet"
            r = run(
                ["batch", str(manifest), "--out", str(out), "--scheduler", address],
                extra_memory_pids=[p.pid for p in cluster],
            )
            n, ok = rows_of(out)
            speed = ok / r["seconds"]
            print(
                f"| dask scheduler + 2 dask workers (--scheduler) | {r['seconds']:.1f} | "
                f"{speed:.2f} ({speed / base:.2f}x) | {r['peak_mib']:.0f} (all processes) | "
                f"{n} ({ok}) |",
                flush=True,
            )
        finally:
            for p in cluster:
                p.terminate()
        kill_run(folder, options.kill_photos, base)


def kill_run(folder: Path, photos: int, photos_per_s: float) -> None:
    small = folder / "kill"
    small.mkdir()
    manifest = write_photos(small, photos)
    out = small / "killed.parquet"
    r = run(
        ["batch", str(manifest), "--out", str(out), "--workers", "2"],
        kill_after_s=5 + photos / photos_per_s / 3,
    )
    n, ok = rows_of(out)
    print(
        f"| LocalCluster, a worker killed (pid {r['killed']}) | {r['seconds']:.1f} | "
        f"{ok / r['seconds']:.2f} | {r['peak_mib']:.0f} | {n} ({ok}) of {photos} |"
    )
    if n != photos or ok != photos:
        print(f"LOST PHOTOS: {r['err']}")


if __name__ == "__main__":
    main()
