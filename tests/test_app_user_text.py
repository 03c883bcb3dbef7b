"""User text on the app's pages (issue 30): shown as text, never run as Markdown (row 8); lesion
labels checked where they enter, and one stored before they were never breaks a page (row 5).

A file name or a corrector's name such as ``![t](http://127.0.0.1:8765/t.png)`` was rendered as
Markdown: the browser fetched the remote image. Every element that renders Markdown (messages,
captions, ``st.write``, image captions, button labels) must receive such text escaped.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest

from app_pages.shared import escape_markdown
from woundtrack.record import db
from woundtrack.record.ingest import correct, import_photo, stored_labels
from woundtrack.record.store import Store

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
SAMPLES = ROOT / "sample_images"
IMAGE = "![t](http://127.0.0.1:8765/t.png)"
EVIL_FILE = f"{IMAGE} **bold** <b>x</b> $x$.jpg"
EVIL_BY = f"{IMAGE} **bold**"
PATIENT = "CUA-400"
#: AppTest's names of the elements whose text Streamlit renders as Markdown.
MARKDOWN_ELEMENTS = ("markdown", "caption", "info", "warning", "error", "success", "exception")


def shown_markdown(at: AppTest) -> list[str]:
    """Every Markdown text of the page: messages, captions, image captions, button labels."""
    out = [e.value for kind in MARKDOWN_ELEMENTS for e in at.get(kind)]
    out += [c for image in at.get("image") for c in image.captions]
    out += [b.proto.label for kind in ("button", "download_button") for b in at.get(kind)]
    return out


def assert_no_markdown_from_users(texts: list[str]) -> None:
    for text in texts:
        assert "![" not in text and "](http" not in text, text  # no image or link syntax
        assert "**bold**" not in text and "<b>" not in text and "$x$" not in text, text


@pytest.fixture
def evil_patient(app_db):
    """Two visits whose file names are Markdown, the second corrected by a Markdown 'name'."""
    store = Store(app_db)
    for week, suffix in (("02", ""), ("03", " 2")):
        data = (SAMPLES / f"demo_week{week}.jpg").read_bytes()
        import_photo(store, data, name=EVIL_FILE.replace(".jpg", f"{suffix}.jpg"), patient=PATIENT)
    visit = store.visits(PATIENT)[-1]["visit_id"]
    labels = stored_labels(store, store.current_analysis(visit).analysis_id).copy()
    labels[5:25, 5:25] = 3
    correct(store, visit, labels, by=EVIL_BY)
    store.close()
    st.cache_data.clear()
    return app_db


def test_escape_markdown_shows_text_as_typed():
    assert escape_markdown(EVIL_BY) == r"\!\[t\]\(http://127.0.0.1:8765/t.png\) \*\*bold\*\*"
    assert escape_markdown("a_b `c` ~d~ |e| \\ & {f} #g +h") == (
        r"a\_b \`c\` \~d\~ \|e\| \\ \& \{f\} \#g \+h"
    )
    assert escape_markdown("- a") == r"\- a" and escape_markdown("12. x.jpg") == r"12\. x.jpg"
    assert escape_markdown("CUA-100 notes.jpg") == "CUA-100 notes.jpg"  # mid-text: plain
    assert escape_markdown("two\nlines") == "two lines"


@pytest.mark.parametrize(
    "page",
    [
        "app_pages/healing.py",
        "app_pages/review.py",
        "app_pages/compare.py",
        "app_pages/export.py",
    ],
)
def test_record_pages_show_file_names_and_names_as_text(evil_patient, page):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    if page != "app_pages/healing.py":
        at.switch_page(page).run()
    at.sidebar.selectbox(key="patient").set_value(PATIENT).run()
    if page == "app_pages/export.py":  # the report, with the photos' names, when asked for
        at.button(key="report_prepare").click().run()
    assert not at.exception, [e.value for e in at.exception]
    texts = shown_markdown(at)
    assert_no_markdown_from_users(texts)
    if page in ("app_pages/review.py", "app_pages/compare.py"):
        # The names reach the page, escaped (the test is not passing on an empty page).
        assert any(r"\!\[t\]\(http://127.0.0.1:8765/t.png\)" in t for t in texts), texts


def test_upload_and_measure_pages_show_upload_names_as_text(app_db):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("app_pages/upload.py").run()
    at.selectbox(key="upload_patient").set_value("+ new patient…").run()
    at.text_input(key="new_patient").input(PATIENT).run()
    good = (SAMPLES / "demo_week02.jpg").read_bytes()
    files = [(EVIL_FILE, good, "image/jpeg"), (f"bad {EVIL_FILE}", b"not a photo", "image/jpeg")]
    at.file_uploader[0].set_value(files).run()
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    texts = shown_markdown(at)
    assert any("1 photo(s) imported" in t for t in texts), texts
    assert any(r"\*\*bold\*\*" in t for t in texts), texts
    assert_no_markdown_from_users(texts)

    at.switch_page("app_pages/measure.py").run()
    at.file_uploader[0].set_value((EVIL_FILE, good, "image/jpeg")).run()
    assert not at.exception, [e.value for e in at.exception]
    texts = shown_markdown(at)
    assert any(r"\!\[t\]" in t for t in texts), texts  # the image caption names the photo
    assert_no_markdown_from_users(texts)
    at.file_uploader[0].set_value((EVIL_FILE, b"not a photo", "image/jpeg")).run()
    [error] = at.error
    assert r"\$x\$.jpg: expected a JPEG" in error.value  # the base name, escaped
    assert_no_markdown_from_users(shown_markdown(at))


def test_upload_page_refuses_a_bad_lesion_label(app_db):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("app_pages/upload.py").run()
    at.selectbox(key="upload_patient").set_value("+ new patient…").run()
    at.text_input(key="new_patient").input("CUA-401").run()
    [lesion] = [t for t in at.text_input if t.label.startswith("Lesion label")]
    lesion.input("=HYPERLINK(1)").run()
    good = (SAMPLES / "demo_week02.jpg").read_bytes()
    at.file_uploader[0].set_value([("w.jpg", good, "image/jpeg")]).run()
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [
        r"lesion label '=HYPERLINK\(1\)' has '=', '\(', '\)'; use letters, digits, spaces, '.', "
        r"'-', '\_' or '\#', starting with a letter or digit \(e.g. L1 or 'left heel'\)"
    ]
    store = Store(app_db)
    assert "CUA-401" not in store.patients()
    store.close()


@pytest.mark.parametrize(
    "page",
    ["app_pages/healing.py", "app_pages/review.py", "app_pages/compare.py", "app_pages/export.py"],
)
def test_a_lesion_label_stored_empty_never_breaks_a_page(evil_patient, page):
    # Written before labels were checked: `import --lesion " "` stored an empty label.
    store = Store(evil_patient)
    with store.engine.begin() as c:
        c.execute(sa.update(db.Lesion).where(db.Lesion.label == "L1").values(label=""))
    store.close()
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    if page != "app_pages/healing.py":
        at.switch_page(page).run()
    at.sidebar.selectbox(key="patient").set_value(PATIENT).run()
    if page == "app_pages/export.py":
        at.button(key="report_prepare").click().run()
        assert at.get("iframe"), "the report is missing"
    assert not at.exception, [e.value for e in at.exception]
    if page == "app_pages/review.py":  # an unsaved drawing names lesions against the stored ones
        at.session_state["review_drawn"] = [[(5.0, 5.0), (45.0, 5.0), (45.0, 45.0), (5.0, 45.0)]]
        at.run()
        at.button(key="review_apply").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.dataframe, "the lesion tables are missing"
