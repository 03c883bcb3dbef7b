"""One real-browser test of the main flow: upload a sample photo, see the overlay and the numbers,
open the healing chart. Playwright drives Debian's Chromium (``.ci/run`` installs both); the
screenshots are saved under ``test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the browser test: .ci/run installs chromium")
        pytest.skip("no Chromium here (apt-get install chromium)")
    pytest.importorskip("playwright")
    port = _free_port()
    # No database configured: the app opens (and on first start seeds) the demo database of the
    # user data folder, here a fresh one.
    env = {k: v for k, v in os.environ.items() if k != "WOUNDTRACK_DB"}
    env["XDG_DATA_HOME"] = str(tmp_path)
    proc = subprocess.Popen(
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
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.slow
def test_upload_see_overlay_and_numbers_then_the_healing_chart(app_url):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # First start: the database is created and the demo patient seeded (~10 s).
        page.goto(f"{app_url}/measure", timeout=120_000)
        page.wait_for_selector("text=Upload a photo", timeout=120_000)
        page.set_input_files("input[type=file]", str(ROOT / "sample_images" / "demo_week02.jpg"))
        page.wait_for_selector("text=Lesions", timeout=60_000)
        page.wait_for_selector("text=Wound area", timeout=10_000)
        assert page.locator("text=cm²").count() > 0
        # The close-up and the whole overlay (images arrive after the text of the page).
        page.wait_for_function("document.querySelectorAll('img').length >= 2", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "measure.png"), full_page=True)

        page.goto(f"{app_url}/", timeout=60_000)  # the healing page is the default
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        assert page.locator("text=DEMO-001").count() > 0
        page.screenshot(path=str(ARTIFACTS / "healing.png"), full_page=True)
        assert page.locator("text=Traceback").count() == 0
        # .streamlit/config.toml's toolbarMode: no "Deploy" (to Streamlit's cloud) for a clinic
        assert page.locator('[data-testid="stAppDeployButton"]').count() == 0
        browser.close()
