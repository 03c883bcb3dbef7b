"""What each role sees and may do in the app (AppTest, local mode: the OS account is given the
role; the real sign-in through an identity provider is in test_browser.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from woundtrack.record.access import local_identity
from woundtrack.record.store import Store

APP = str(Path(__file__).resolve().parent.parent / "app.py")
BOSS = "boss@clinic.org"
EVERY_PAGE = {
    "healing",
    "upload",
    "review",
    "compare",
    "timeline",
    "export",
    "measure",
    "research",
    "admin",
    "models",
}


def _as(app_db: str, role: str | None) -> AppTest:
    """The app on the seeded database, the OS account having ``role`` (None: not a user)."""
    store = Store(app_db, actor=BOSS)
    store.add_user(BOSS, "admin")
    if role is not None:
        store.add_user(local_identity(), role)
    store.close()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return at


def _pages(at: AppTest) -> set[str]:
    """The pages the navigation offers (AppTest lists them when asked for one it lacks)."""
    with pytest.raises(ValueError, match="Known pages") as refused:
        at.switch_page("app_pages/shared.py")  # a file, never a page
    known = str(refused.value).split("Known pages")[1]
    return set(re.findall(r"app_pages/(\w+)\.py", known))


@pytest.mark.parametrize(
    ("role", "pages"),
    [
        ("nurse", EVERY_PAGE - {"admin", "models"}),
        ("clinician", EVERY_PAGE - {"admin", "models"}),
        ("admin", EVERY_PAGE),
        ("researcher", {"research"}),
    ],
)
def test_each_role_gets_its_pages(app_db, role, pages):
    at = _as(app_db, role)
    assert not at.exception, [e.value for e in at.exception]
    assert _pages(at) == pages


def test_a_researcher_sees_no_patient(app_db):
    at = _as(app_db, "researcher")
    shown = " ".join(str(e.value) for e in [*at.markdown, *at.caption, *at.title, *at.info])
    assert "pseudonymised" in shown and "DEMO-001" not in shown
    assert not at.get("selectbox") and not at.get("image") and not at.get("dataframe")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    [table] = at.dataframe
    assert set(table.value["subject"]) == {table.value["subject"][0]}
    assert "DEMO-001" not in table.value.to_csv() and "file_name" not in table.value


def test_someone_who_is_not_a_user_sees_nothing(app_db):
    at = _as(app_db, None)
    assert not at.exception
    [error] = at.error
    assert "is not a user of this woundtrack database" in error.value
    shown = " ".join(str(e.value) for e in [*at.markdown, *at.caption, *at.title, *at.info])
    assert "DEMO-001" not in shown
    assert not at.get("selectbox") and not at.get("dataframe")


def test_a_nurse_reviews_but_does_not_correct_or_edit_treatments(app_db):
    at = _as(app_db, "nurse")
    at.switch_page("app_pages/review.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("a clinician or an admin accepts corrections" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == "review_accept"]
    assert at.button(key="review_rename").disabled
    at.switch_page("app_pages/timeline.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("a clinician or an admin edits it" in i.value for i in at.info)
    assert not [b for b in at.button if b.label == "Save timeline"]


def test_a_clinician_may_save_the_timeline_and_it_is_audited(app_db):
    at = _as(app_db, "clinician")
    at.switch_page("app_pages/timeline.py").run()
    [save] = [b for b in at.button if b.label == "Save timeline"]
    save.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Saved 5 treatment event(s)" in s.value for s in at.success)
    entries = Store(app_db, actor=BOSS).audit_entries()
    me = local_identity()
    last_user_change = max(e.id for e in entries if e.action == "user_add")
    assert [(e.actor, e.action) for e in entries if e.id > last_user_change] == [
        (me, "sign_in"),
        (me, "view"),
        (me, "treatments_replace"),
    ]


def test_the_admin_page_lists_users_and_checks_the_audit_trail(app_db):
    at = _as(app_db, "admin")
    at.switch_page("app_pages/admin.py").run()
    assert not at.exception, [e.value for e in at.exception]
    [users, trail] = at.dataframe
    assert sorted(users.value["user"]) == sorted([BOSS, local_identity()])
    assert any(s.value.startswith("Intact:") for s in at.success)
    assert "sign_in" in set(trail.value["did"])


def test_local_mode_refuses_to_answer_on_a_network_address(app_db):
    from streamlit import config

    config.set_option("server.address", "0.0.0.0")
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    [error] = at.error
    assert "answering on 0.0.0.0" in error.value and "--server.address localhost" in error.value
    shown = " ".join(str(e.value) for e in [*at.markdown, *at.caption, *at.title, *at.info])
    assert "DEMO-001" not in shown and not at.get("selectbox")
