"""Fuzz the photo reader and the location stripper: damaged photos must be refused, never crash.

Hypothesis draws damage to real photo files (JPEG, progressive JPEG, PNG, WebP, TIFF made from
the demo photos): bytes overwritten, a run of bytes cut out or repeated, the file cut short, and
each result goes through ``io.read_photo`` and ``location.strip_location``. Anything but a
``WoundtrackError`` (a one-line message to the user) is a finding; so is a file that takes more
than ``--max-seconds`` or raises the process's peak memory past ``--max-mb``. Prints the counts
and each finding with the seed that reproduces it.

Run: python benchmarks/fuzz_reader.py [--examples 300] [--max-seconds 10] [--max-mb 1024]
"""

from __future__ import annotations

import argparse
import io
import resource
import time
import traceback
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from woundtrack.errors import WoundtrackError
from woundtrack.image.io import read_photo
from woundtrack.image.location import strip_location

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"


def seed_files() -> dict[str, bytes]:
    """Small photos of each format the reader takes, made from one demo photo."""
    photo = Image.open(SAMPLES / "demo_week03.jpg").convert("RGB").resize((320, 240))
    out: dict[str, bytes] = {"jpeg": (SAMPLES / "demo_week03.jpg").read_bytes()}
    for name, fmt, options in (
        ("progressive.jpg", "JPEG", {"progressive": True, "quality": 85}),
        ("png", "PNG", {}),
        ("webp", "WEBP", {"quality": 80}),
        ("tiff", "TIFF", {"compression": "tiff_deflate"}),
    ):
        buffer = io.BytesIO()
        photo.save(buffer, format=fmt, **options)
        out[name] = buffer.getvalue()
    return out


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300, help="damaged files per format")
    parser.add_argument("--max-seconds", type=float, default=10.0)
    parser.add_argument("--max-mb", type=float, default=1024.0)
    args = parser.parse_args()
    seeds = seed_files()
    counts = {"read": 0, "refused": 0}
    findings: list[str] = []
    slowest = 0.0

    damage = st.lists(
        st.one_of(
            st.tuples(st.just("set"), st.floats(0, 1), st.binary(min_size=1, max_size=8)),
            st.tuples(st.just("cut"), st.floats(0, 1), st.integers(1, 4096)),
            st.tuples(st.just("repeat"), st.floats(0, 1), st.integers(1, 4096)),
            st.tuples(st.just("end"), st.floats(0, 1), st.just(0)),
        ),
        min_size=1,
        max_size=4,
    )

    def damaged(data: bytes, steps) -> bytes:
        buf = bytearray(data)
        for kind, where, what in steps:
            at = int(where * max(len(buf) - 1, 0))
            if kind == "set":
                buf[at : at + len(what)] = what
            elif kind == "cut":
                del buf[at : at + what]
            elif kind == "repeat":
                buf[at:at] = buf[at : at + what]
            else:
                del buf[at:]
        return bytes(buf)

    def fuzz(name: str, original: bytes):
        @settings(
            max_examples=args.examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(steps=damage)
        def one(steps):
            nonlocal slowest
            data = damaged(original, steps)
            for stage, call in (
                ("read_photo", lambda: read_photo(data, name=f"fuzz.{name}")),
                ("strip_location", lambda: strip_location(data, name=f"fuzz.{name}")),
            ):
                start = time.perf_counter()
                try:
                    call()
                    counts["read"] += 1
                except WoundtrackError:
                    counts["refused"] += 1
                except Exception:  # noqa: BLE001 - every other exception is a finding
                    last = traceback.format_exc().strip().splitlines()[-1]
                    findings.append(f"{name} {stage} {steps!r}: {last}")
                took = time.perf_counter() - start
                slowest = max(slowest, took)
                if took > args.max_seconds:
                    findings.append(f"{name} {stage} {steps!r}: {took:.1f} s")
                if peak_mb() > args.max_mb:
                    findings.append(f"{name} {stage} {steps!r}: peak memory {peak_mb():.0f} MB")

        return one

    for name, original in seeds.items():
        fuzz(name, original)()

    print(
        f"{sum(counts.values())} calls on {args.examples} damaged files per format "
        f"({', '.join(seeds)}): {counts['read']} read, {counts['refused']} refused with a "
        f"message, {len(findings)} findings; slowest call {slowest:.2f} s, peak memory "
        f"{peak_mb():.0f} MB"
    )
    for line in findings[:50]:
        print("  " + line)


if __name__ == "__main__":
    main()
