"""Sign-in through a real OpenID Connect provider, in a real browser, as each role.

A local identity provider (``oidc-provider-mock``) with one account per role; the app configured
as a clinic would configure it (``.streamlit/secrets.toml`` ``[auth]``); Playwright drives
Debian's Chromium through the provider's login form and back. Screenshots go to
``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_browser import ARGS, ARTIFACTS, CHROMIUM, ROOT, _free_port
from woundtrack.record.store import Store

ACCOUNTS = {
    "admin": "admin@clinic.org",
    "nurse": "nurse@clinic.org",
    "clinician": "clinician@clinic.org",
    "researcher": "researcher@clinic.org",
    "stranger": "stranger@elsewhere.org",  # signs in at the provider, but is no woundtrack user
}
PAGES = {"Healing", "Upload", "Review & correct", "Compare visits", "Treatments"}
PAGES |= {"Export & report", "Measure one photo", "Research"}
EXPECTED_PAGES = {
    "admin": PAGES | {"Users & audit", "Clinic model"},
    "nurse": PAGES,
    "clinician": PAGES,
    "researcher": set(),  # one page only (Research): Streamlit shows no navigation
}


def _wait_for_port(port: int, seconds: float = 60) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"nothing answers on port {port}")


@pytest.fixture
def signed_in_app(tmp_path, seeded_db_file):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the browser test: .ci/run installs chromium")
        pytest.skip("no Chromium here (apt-get install chromium)")
    pytest.importorskip("playwright")
    if (
        shutil.which("oidc-provider-mock") is None
        and not (Path(sys.executable).parent / "oidc-provider-mock").exists()
    ):
        pytest.skip("oidc-provider-mock is not installed (pip install -e '.[dev]')")
    # The clinic's record: the demo patient and a team.
    db_file = tmp_path / "clinic.db"
    shutil.copyfile(seeded_db_file, db_file)
    url = f"sqlite:///{db_file}"
    store = Store(url, actor=ACCOUNTS["admin"])
    for role in ("admin", "nurse", "clinician", "researcher"):
        store.add_user(ACCOUNTS[role], role)
    store.close()

    idp_port, app_port = _free_port(), _free_port()
    claims = [
        json.dumps({"sub": role, "email": email, "name": role.title()})
        for role, email in ACCOUNTS.items()
    ]
    provider = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "oidc-provider-mock"),
            "--port",
            str(idp_port),
            *[arg for c in claims for arg in ("--user-claims", c)],
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # The app's folder as a clinic sets it up: secrets.toml with [auth] beside the config.
    site = tmp_path / "site"
    (site / ".streamlit").mkdir(parents=True)
    (site / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "http://localhost:{app_port}/oauth2callback"\n'
        'cookie_secret = "a-long-random-secret-for-the-test-only"\n'
        'client_id = "woundtrack"\n'
        'client_secret = "test-secret"\n'
        f'server_metadata_url = "http://localhost:{idp_port}/.well-known/openid-configuration"\n'
    )
    app = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.headless",
            "true",
            "--server.address",
            "localhost",
            "--server.port",
            str(app_port),
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",  # as the shipped .streamlit/config.toml says
            "none",
        ],
        cwd=site,
        env={**os.environ, "WOUNDTRACK_DB": url, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(idp_port)
        _wait_for_port(app_port)
        yield f"http://localhost:{app_port}", url
    finally:
        for proc in (app, provider):
            proc.terminate()
            proc.wait(timeout=20)


def _sign_in(browser, app_url: str, who: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(app_url, timeout=120_000)
    page.get_by_role("button", name="Sign in").click(timeout=120_000)
    page.get_by_placeholder("sub").fill(who, timeout=30_000)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{app_url}/**", timeout=60_000)
    return page


def _nav_pages(page, expect_any: bool) -> set[str]:
    page.get_by_text("Signed in as").wait_for(timeout=60_000)
    nav = page.locator('[data-testid="stSidebarNav"] a')
    if not expect_any:
        return set() if nav.count() == 0 else {"?"}
    nav.first.wait_for(timeout=60_000)
    return {t.strip().splitlines()[-1] for t in nav.all_inner_texts()}  # after the icon's name


@pytest.mark.slow
def test_each_role_signs_in_and_sees_what_it_may(signed_in_app):
    from playwright.sync_api import sync_playwright

    app_url, db_url = signed_in_app
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        # Before sign-in: a sign-in button, and nothing of any patient.
        page = browser.new_page()
        page.goto(app_url, timeout=120_000)
        page.get_by_role("button", name="Sign in").wait_for(timeout=120_000)
        assert "DEMO-001" not in page.content()
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0
        page.screenshot(path=str(ARTIFACTS / "signin-before.png"))

        for role, expected in EXPECTED_PAGES.items():
            page = _sign_in(browser, app_url, role)
            assert _nav_pages(page, bool(expected)) == expected, role
            page.get_by_text(f"Signed in as {ACCOUNTS[role]} ({role})").wait_for(timeout=30_000)
            if role == "researcher":
                page.get_by_text("Prepare the pseudonymised export").wait_for(timeout=30_000)
                assert "DEMO-001" not in page.content()
            else:
                page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
                assert page.get_by_text("DEMO-001").count() > 0
            page.screenshot(path=str(ARTIFACTS / f"signin-{role}.png"), full_page=True)
            page.context.close()

        page = _sign_in(browser, app_url, "stranger")
        page.get_by_text("is not a user of this woundtrack database").wait_for(timeout=60_000)
        assert "DEMO-001" not in page.content()
        page.screenshot(path=str(ARTIFACTS / "signin-stranger.png"))
        browser.close()

    # Every sign-in is in the audit trail, under the provider's e-mail, and the chain holds.
    admin = Store(db_url, actor=ACCOUNTS["admin"])
    signed = [e.actor for e in admin.audit_entries() if e.action == "sign_in"]
    assert signed == [ACCOUNTS[r] for r in EXPECTED_PAGES]
    assert admin.verify_audit().ok
