"""How fast the app's pages are in a real browser; prints one table (what, seconds, target).

1. Fresh start: the app on an empty user data folder (no ``WOUNDTRACK_DB``: the demo database is
   created and DEMO-001 seeded); seconds from the server's port accepting connections to the
   Healing page (``/``) showing its chart.
2. On that warm server, every page of the navigation the local (not signed-in) user gets:
   opened 3 times by its address (a new browser session each time; the median of the 2nd and
   3rd), and reached 3 times from another page by its sidebar link, as a person switches pages
   (the median).
3. A second server on a temporary database with a 50-visit patient (as ``app_speed.py`` builds
   it): the Healing page, both ways.
4. On that server, the Upload page: 10 distinct 2 MP photos (the demo photos plus trailing
   bytes) chosen at once and imported; seconds from choosing the files to the overlay and
   figures of all 10 shown; then 10 more, Import pressed after 5 s on the dates (the photos
   are measured meanwhile), seconds from pressing Import.

"Drawn" means: the page's title shown, its chart or photos there when it has them, Streamlit
no longer running the script, every image loaded, and nothing in the page changed for 0.5 s;
the time counted is that of the last change (or image load), not the end of the quiet wait.

Run: python benchmarks/app_pages.py [--skip-fresh] [--skip-big]
(needs /usr/bin/chromium and the playwright package; takes a few minutes). The figures depend
on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

# benchmarks/app_speed.py: the 50-visit patient, `streamlit run`, Chromium's flags
from app_speed import ARGS, ROOT, build_database, start_app

TIMEOUT_MS = 180_000
QUIET_MS = 500
# Page-specific things a drawn page shows (by navigation title); other pages: the title only.
MUST_SHOW = {
    "Healing": ".js-plotly-plot",
    "Review & correct": '[data-testid="stMain"] img',
    "Compare visits": '[data-testid="stMain"] img',
}
TARGETS = {"Healing": 1.5}
OTHER_PAGE_TARGET = 2.0

# Before any page script: remember when the page content (main area, header with the status
# widget) last changed or an image finished loading.
WATCH_CHANGES = """
window.__lastChange = Date.now();
new MutationObserver((mutations) => {
  for (const m of mutations) {
    const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
    if (el && el.closest('[data-testid="stMain"], [data-testid="stHeader"]')) {
      window.__lastChange = Date.now();
      return;
    }
  }
}).observe(document, {childList: true, subtree: true, characterData: true});
document.addEventListener("load", (e) => {
  if (e.target.tagName === "IMG") window.__lastChange = Date.now();
}, true);
"""
SETTLED = """
(quietMs) => {
  const busy = document.querySelector('[data-testid="stStatusWidget"]');
  if (busy && busy.checkVisibility()) return false;
  if (!document.querySelector('[data-testid="stMain"] h1')) return false;
  const images = [...document.querySelectorAll('[data-testid="stMain"] img')];
  if (!images.every((img) => img.complete)) return false;
  return Date.now() - window.__lastChange > quietMs;
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for_port(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the app did not open port {port} within {timeout_s:.0f} s")


def wait_until_drawn(page, started: float, must_show: str | None = None) -> float:
    """Seconds from ``started`` (``time.time()``) to the page's last change once it is drawn."""
    if must_show:
        page.wait_for_selector(must_show, timeout=TIMEOUT_MS)
    page.wait_for_function(SETTLED, arg=QUIET_MS, timeout=TIMEOUT_MS, polling=50)
    if page.locator("text=Traceback").count():
        raise RuntimeError(f"{page.url} shows a Python traceback")
    return page.evaluate("window.__lastChange") / 1000 - started


def open_page(page, url: str, must_show: str | None = None) -> float:
    started = time.time()
    page.goto(url, timeout=TIMEOUT_MS)
    return wait_until_drawn(page, started, must_show)


def warm_seconds(page, url: str, must_show: str | None, label: str) -> float:
    """Open ``url`` three times by its address (a new browser session each time); the median of
    the 2nd and 3rd opening."""
    times = [open_page(page, url, must_show) for _ in range(3)]
    print(f"  {label}, by address: " + ", ".join(f"{t:.2f}" for t in times) + " s")
    return statistics.median(times[1:])


def click_page(page, path: str, must_show: str | None) -> float:
    """Seconds from clicking the page's link in the sidebar (as a person switches pages, in the
    same session) to the page drawn."""
    started = time.time()
    page.locator(f'[data-testid="stSidebarNavLink"][href$="{path}"]').click()
    page.wait_for_url(f"**{path}", timeout=TIMEOUT_MS)
    return wait_until_drawn(page, started, must_show)


def switch_seconds(page, path: str, other: str, must_show: str | None, label: str) -> float:
    """The median of three switches to the page from ``other`` by the sidebar."""
    times = []
    for _ in range(3):
        click_page(page, other, None)
        times.append(click_page(page, path, must_show))
    print(f"  {label}, from the sidebar: " + ", ".join(f"{t:.2f}" for t in times) + " s")
    return statistics.median(times)


def navigation(page) -> list[tuple[str, str]]:
    """(title, path) of each page in the sidebar navigation."""
    links = page.eval_on_selector_all(
        '[data-testid="stSidebarNavLink"]',
        "els => els.map((e) => [e.innerText, e.getAttribute('href')])",
    )
    # innerText is the icon's name, a line break, then the title.
    return [(text.strip().splitlines()[-1], urlparse(href).path or "/") for text, href in links]


def fresh_start_and_pages(browser, tmp: Path) -> list[tuple[str, float, float]]:
    env = {k: v for k, v in os.environ.items() if k != "WOUNDTRACK_DB"}
    env["XDG_DATA_HOME"] = str(tmp / "data")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.add_init_script(WATCH_CHANGES)
    rows = []
    proc = start_app(port, env)
    try:
        wait_for_port(port)
        started = time.time()
        print("fresh start: port open, opening the Healing page (the demo is seeded now)")
        page.goto(base + "/", timeout=TIMEOUT_MS)
        seconds = wait_until_drawn(page, started, MUST_SHOW["Healing"])
        print(f"  fresh start to first chart: {seconds:.2f} s")
        rows.append(("fresh start, first chart", seconds, 10.0))
        pages = navigation(page)
        print(f"pages in the navigation: {', '.join(title for title, _ in pages)}")
        for n, (title, path) in enumerate(pages):
            target = TARGETS.get(title, OTHER_PAGE_TARGET)
            seconds = warm_seconds(page, base + path, MUST_SHOW.get(title), title)
            rows.append((f"{title} page, opened by address", seconds, target))
            other = pages[1 if n == 0 else 0][1]
            seconds = switch_seconds(page, path, other, MUST_SHOW.get(title), title)
            rows.append((f"{title} page, from the sidebar", seconds, target))
    finally:
        stop_app(proc)
        page.close()
    return rows


def write_upload_photos(folder: Path, count: int = 10, tag: str = "upload") -> list[Path]:
    """``count`` distinct 2 MP photos: the demo photos with bytes of their own at the end."""
    folder.mkdir()
    weeks = sorted((ROOT / "sample_images").glob("demo_week*.jpg"))
    paths = []
    for n in range(count):
        path = folder / f"{tag}{n:02d}.jpg"
        path.write_bytes(weeks[n % len(weeks)].read_bytes() + f"{tag} {n}".encode())
        paths.append(path)
    return paths


def import_photos(page, base: str, photos: list[Path], pause_s: float = 0.0) -> float:
    """Choose the photos on the Upload page and import them into the first patient (AAA-050);
    seconds from choosing the files to the results of all of them shown. With ``pause_s``, the
    nurse looks at the dates that long before pressing Import, and the seconds are counted from
    pressing it."""
    open_page(page, base + "/upload")
    started = time.time()
    page.set_input_files("input[type=file]", [str(p) for p in photos])
    button = page.get_by_role("button", name="Import")
    button.wait_for(timeout=TIMEOUT_MS)
    wait_until_drawn(page, started)  # capture dates read, the table of dates shown
    print(f"  files chosen to Import button ready: {time.time() - started:.2f} s")
    if pause_s:
        time.sleep(pause_s)
        started = time.time()
    button.click()
    page.wait_for_selector(f"text={len(photos)} photo(s) imported", timeout=TIMEOUT_MS)
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=\"stMain\"] img').length >= n",
        arg=len(photos),
        timeout=TIMEOUT_MS,
    )
    seconds = wait_until_drawn(page, started)
    shown = page.get_by_role("button", name="Correct this outline").count()
    if shown != len(photos):
        raise RuntimeError(f"{shown} of {len(photos)} photos shown after the import")
    return seconds


def big_patient_and_upload(browser, tmp: Path) -> list[tuple[str, float, float]]:
    url = f"sqlite:///{tmp / 'bench.db'}"
    t0 = time.perf_counter()
    build_database(url)
    print(f"database with a 50-visit patient built in {time.perf_counter() - t0:.0f} s")
    photos = write_upload_photos(tmp / "uploads")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.add_init_script(WATCH_CHANGES)
    rows = []
    proc = start_app(port, {**os.environ, "WOUNDTRACK_DB": url})
    try:
        wait_for_port(port)
        seconds = warm_seconds(page, base + "/", MUST_SHOW["Healing"], "Healing, 50 visits")
        rows.append(("Healing page, 50-visit patient, opened by address", seconds, 1.5))
        seconds = switch_seconds(page, "/", "/upload", MUST_SHOW["Healing"], "Healing, 50 visits")
        rows.append(("Healing page, 50-visit patient, from the sidebar", seconds, 1.5))
        print(f"importing {len(photos)} photos on the Upload page")
        seconds = import_photos(page, base, photos)
        print(f"  files chosen to all {len(photos)} results shown: {seconds:.2f} s")
        rows.append((f"Upload page, import {len(photos)} weekly 2 MP photos", seconds, 6.0))
        others = write_upload_photos(tmp / "uploads-2", tag="later")
        seconds = import_photos(page, base, others, pause_s=5.0)
        print(f"  dates looked at for 5 s, Import pressed to all results shown: {seconds:.2f} s")
        rows.append(("same, Import pressed after 5 s on the dates: to results", seconds, 6.0))
    finally:
        stop_app(proc)
        page.close()
    return rows


def print_table(rows: list[tuple[str, float, float]]) -> None:
    width = max(len(what) for what, _, _ in rows)
    print(f"\n{'what':<{width}}  seconds  target")
    for what, seconds, target in rows:
        verdict = "" if seconds <= target else "  over target"
        print(f"{what:<{width}}  {seconds:7.2f}  {target:6.1f}{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-fresh", action="store_true", help="skip parts 1 and 2")
    parser.add_argument("--skip-big", action="store_true", help="skip parts 3 and 4")
    options = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        try:
            if not options.skip_fresh:
                rows += fresh_start_and_pages(browser, Path(tmp))
            if not options.skip_big:
                rows += big_patient_and_upload(browser, Path(tmp))
        finally:
            browser.close()
    print_table(rows)


if __name__ == "__main__":
    main()
