"""The app's speed in a real browser: upload-to-overlay for a 12 MP photo, and opening the
healing page of a patient with 50 visits.

Builds a temporary database holding one patient with 50 weekly visits (real imports of the demo
photos, each made distinct), writes three different 12 MP phantom photos, starts the app on
loopback and drives Debian's Chromium with Playwright:
- "Measure one photo": seconds from choosing the file to the overlay and the numbers shown;
- "Healing" (the default page): seconds from opening the page to the chart drawn.

Run: python benchmarks/app_speed.py   (needs /usr/bin/chromium and the playwright package)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from woundtrack.record.ingest import import_photo
from woundtrack.record.store import Store
from woundtrack.synthetic.phantom import PhantomSpec, write_phantom

ROOT = Path(__file__).resolve().parent.parent
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def start_app(port: int, env: dict[str, str]) -> subprocess.Popen:
    """``streamlit run app.py`` on loopback at ``port`` (stop it by its own PID)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def build_database(url: str) -> None:
    store = Store(url)
    weeks = sorted((ROOT / "sample_images").glob("demo_week*.jpg"))
    start = datetime(2025, 1, 6, 10, 0)
    for n in range(50):
        data = weeks[n % len(weeks)].read_bytes() + f"visit {n}".encode()
        import_photo(
            store,
            data,
            name=f"v{n:02d}.jpg",
            patient="AAA-050",
            lesion="L1",
            taken_at=start + timedelta(weeks=n),
        )
    store.close()


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        build_database(url)
        print(f"database with a 50-visit patient built in {time.perf_counter() - t0:.0f} s")
        photos = []
        for seed in range(3):
            path = Path(tmp) / f"phantom12mp_{seed}.jpg"
            write_phantom(
                PhantomSpec(seed=seed, width_px=4000, height_px=3000, tilt_deg=15.0), path
            )
            photos.append(path)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = start_app(port, {**os.environ, "WOUNDTRACK_DB": url})
        try:
            time.sleep(4)
            base = f"http://127.0.0.1:{port}"
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path="/usr/bin/chromium", headless=True, args=ARGS
                )
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                for label in ("first (cold)", "second", "third"):
                    start = time.perf_counter()
                    page.goto(base + "/", timeout=120_000)
                    page.wait_for_selector(".js-plotly-plot", timeout=120_000)
                    print(f"healing page, 50 visits, {label}: {time.perf_counter() - start:.2f} s")
                for photo in photos:
                    page.goto(base + "/measure", timeout=60_000)
                    page.wait_for_selector("text=Upload a photo", timeout=60_000)
                    start = time.perf_counter()
                    page.set_input_files("input[type=file]", str(photo))
                    page.wait_for_selector("text=Lesions", timeout=120_000)
                    page.wait_for_function("document.querySelectorAll('img').length >= 2")
                    seconds = time.perf_counter() - start
                    print(f"12 MP upload to overlay ({photo.name}): {seconds:.2f} s")
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=20)


if __name__ == "__main__":
    main()
