"""The Review page's undoable edits through AppTest (local mode: every right)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from woundtrack.record.store import Store

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _review(app_db: str) -> AppTest:
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("app_pages/review.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_visit_is_removed_and_brought_back_from_the_review_page(app_db):
    at = _review(app_db)
    visits = Store(app_db).visits("DEMO-001")
    last = visits[-1]
    assert at.selectbox(key="review_visit").value == last["visit_id"]
    at.button(key="review_remove_visit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("is out of every figure" in s.value for s in at.success)
    assert at.selectbox(key="review_visit").value != last["visit_id"]
    assert len(Store(app_db).visits("DEMO-001")) == len(visits) - 1
    [undo] = [b for b in at.button if b.key and b.key.startswith("review_undo_edit_")]
    undo.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.value.startswith("Undone: ") and "removed a visit" in s.value for s in at.success)
    assert len(Store(app_db).visits("DEMO-001")) == len(visits)


def test_a_capture_date_is_fixed_and_a_wrong_one_refused(app_db):
    at = _review(app_db)
    visit_id = at.selectbox(key="review_visit").value
    at.date_input(key=f"review_day_{visit_id}").set_value(date(2026, 6, 2)).run()
    at.button(key="review_day_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [row] = [v for v in Store(app_db).visits("DEMO-001") if v["visit_id"] == visit_id]
    assert row["taken_on"] == date(2026, 6, 2)
    at.date_input(key=f"review_day_{visit_id}").set_value(date(2030, 1, 1)).run()
    at.button(key="review_day_save").click().run()
    assert any("is after" in e.value and "nothing was saved" in e.value for e in at.error)
    [row] = [v for v in Store(app_db).visits("DEMO-001") if v["visit_id"] == visit_id]
    assert row["taken_on"] == date(2026, 6, 2)
