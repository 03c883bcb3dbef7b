"""The app's record pages through AppTest: first start seeds the demo, upload, treatments."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app_pages.shared import escape_markdown
from tests.conftest import use_demo_database
from woundtrack.record.ingest import import_photo
from woundtrack.record.store import Store
from woundtrack.synthetic.phantom import PhantomSpec, write_phantom

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
SAMPLES = ROOT / "sample_images"


@pytest.fixture
def db_url(tmp_path, monkeypatch):
    """No database configured: the app must create and seed the demo database on first start."""
    yield use_demo_database(monkeypatch, tmp_path)
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def app(app_db):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception
    return at


def test_first_start_creates_the_database_and_seeds_the_demo_patient(db_url):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception
    store = Store(db_url)
    assert store.patients() == ["DEMO-001"]
    assert len(store.visits("DEMO-001")) == len(list(SAMPLES.glob("demo_week*.jpg")))
    assert len(store.treatments("DEMO-001")) == 5
    store.close()


def test_a_clinic_database_is_never_given_the_demo_patient(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    monkeypatch.setenv("WOUNDTRACK_DB", url)
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception
    assert Store(url).patients() == []
    assert not any("Demo database" in i.value for i in at.sidebar.info)
    st.cache_resource.clear()


def _upload(at: AppTest, *paths: Path) -> None:
    files = [(p.name, p.read_bytes(), "image/jpeg") for p in paths]
    at.file_uploader[0].set_value(files).run()


def _measured_before_import(app: AppTest, patient: str, *paths: Path) -> AppTest:
    """The Upload page for a new ``patient`` with ``paths`` chosen, once each is measured (the
    page measures ahead of Import); nothing is stored yet."""
    at = app.switch_page("app_pages/upload.py").run()
    at.selectbox(key="upload_patient").set_value("+ new patient…").run()
    at.text_input(key="new_patient").input(patient).run()
    _upload(at, *paths)
    for job in at.session_state["upload_ahead"].values():
        job.result(timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_upload_page_imports_photos_for_a_new_patient(app, app_db, tmp_path):
    at = app.switch_page("app_pages/upload.py").run()
    assert not at.exception
    at.selectbox(key="upload_patient").set_value("+ new patient…").run()
    at.text_input(key="new_patient").input("CUA-100").run()
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    _upload(at, SAMPLES / "demo_week02.jpg", SAMPLES / "demo_week03.jpg", bad)
    assert not at.exception
    assert any("notes.jpg" in e.value for e in at.error)  # the bad one is named...
    at.button[0].click().run()  # ...and the others go through
    assert not at.exception
    assert any("2 photo(s) imported for CUA-100" in s.value for s in at.success)
    store = Store(app_db)
    assert len(store.visits("CUA-100")) == 2
    store.close()


def test_photos_of_two_wounds_in_one_upload_each_take_their_own_body_site(app, app_db, tmp_path):
    """A dressing round photographs every wound, then uploads them at once: a photo's row may
    name its own body site (else the Body site above), and each wound stays its own lesion."""
    shin = tmp_path / "shin.jpg"
    when = datetime(2026, 4, 13, 13)  # demo week 6's day
    write_phantom(PhantomSpec(seed=61, lesion_seed=99, wound_radius_mm=11, taken_at=when), shin)
    at = app.switch_page("app_pages/upload.py").run()
    at.selectbox(key="upload_patient").set_value("+ new patient…").run()
    at.text_input(key="new_patient").input("CUA-103").run()
    [site] = [t for t in at.text_input if t.label == "Body site"]
    site.input("left calf").run()
    _upload(at, SAMPLES / "demo_week06.jpg", shin, SAMPLES / "demo_week07.jpg")
    at.session_state["upload_dates"] = {
        "edited_rows": {1: {"body site": " right  shin"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("3 photo(s) imported for CUA-103" in s.value for s in at.success)
    store = Store(app_db)
    filed = sorted((r.file_name, r.lesion, r.body_site) for r in store.series("CUA-103"))
    store.close()
    assert filed == [
        ("demo_week06.jpg", "L1", "left calf"),
        ("demo_week07.jpg", "L1", "left calf"),
        ("shin.jpg", "L2", "right shin"),
    ]
    # the next round: the page shows the sites given before, spelt as they were
    at.run()  # the patient list now holds CUA-103
    at.selectbox(key="upload_patient").set_value("CUA-103").run()
    assert "CUA-103's lesions: L1 at left calf; L2 at right shin" in [c.value for c in at.caption]


def test_a_body_site_too_long_is_refused_naming_the_photo(app, app_db):
    at = app.switch_page("app_pages/upload.py").run()
    at.selectbox(key="upload_patient").set_value("+ new patient…").run()
    at.text_input(key="new_patient").input("CUA-104").run()
    [site] = [t for t in at.text_input if t.label == "Body site"]
    site.input("x" * 81).run()
    _upload(at, SAMPLES / "demo_week08.jpg")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    [error] = [e.value for e in at.error]
    assert error.startswith("demo\\_week08.jpg: body site") and "at most 80 characters" in error
    store = Store(app_db)
    assert "CUA-104" not in store.patients()
    store.close()


def test_chosen_photos_are_measured_while_the_dates_are_checked_and_import_files_them(
    app, app_db, monkeypatch
):
    """Issue 29: measuring starts when the photos are chosen; Import only files the results
    (nothing measured, decoded or drawn again: a photo with one lesion is not registered)."""
    from woundtrack.record import ingest

    at = app.switch_page("app_pages/upload.py").run()
    at.selectbox(key="upload_patient").set_value("+ new patient…").run()
    at.text_input(key="new_patient").input("CUA-102").run()
    _upload(at, SAMPLES / "demo_week06.jpg", SAMPLES / "demo_week07.jpg")
    jobs = at.session_state["upload_ahead"]
    assert len(jobs) == 2  # started before Import is pressed
    results = [job.result(timeout=120) for job in jobs.values()]

    def no_measuring(*args, **kwargs):
        raise AssertionError("Import measured a photo again")

    def no_decoding(*args, **kwargs):
        raise AssertionError("Import decoded a photo again")

    def no_drawing(*args, **kwargs):
        raise AssertionError("Import drew an overlay again")

    from woundtrack.present import printable

    assert all(thumbnail[:2] == b"\xff\xd8" for _, thumbnail in results)  # JPEGs, ahead
    monkeypatch.setattr(ingest, "analyze_image", no_measuring)
    monkeypatch.setattr(ingest, "restore_analysis", no_measuring)
    monkeypatch.setattr(ingest, "_read_clean", no_decoding)
    monkeypatch.setattr(printable, "overlay_thumbnail_jpeg", no_drawing)
    at.button[0].click().run()
    assert not at.exception
    assert any("2 photo(s) imported for CUA-102" in s.value for s in at.success)
    assert len(at.get("image")) == 2  # the overlays drawn ahead are the ones shown
    store = Store(app_db)
    filed = [store.current_analysis(v["visit_id"]) for v in store.visits("CUA-102")]
    store.close()
    ahead = sorted(p.analysis.totals.wound_area_cm2 for p, _ in results)
    assert sorted(a.record["wound_area_cm2"] for a in filed) == ahead


def test_after_import_a_photo_of_two_lesions_names_each_on_its_overlay(
    app, app_db, tmp_path, monkeypatch
):
    """The lines beside the overlay name the lesions (given at import): the overlay is drawn
    again with each name beside its lesion."""
    from woundtrack.present import printable

    path = tmp_path / "two.jpg"
    spec = PhantomSpec(
        seed=100,
        lesion_seed=7,
        n_lesions=2,
        layout_radius_mm=14.0,
        width_px=800,
        height_px=600,
        wound_fill_frac=0.35,
        wound_radius_mm=14.0,
        taken_at=datetime(2026, 3, 2, 9, 30),
    )
    write_phantom(spec, path)
    drawn = []

    def recorded(image, labels, **kwargs):
        drawn.append(kwargs.get("tags", ()))
        return real(image, labels, **kwargs)

    real = printable.overlay_thumbnail_jpeg
    at = _measured_before_import(app, "CUA-107", path)
    monkeypatch.setattr(printable, "overlay_thumbnail_jpeg", recorded)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    store = Store(app_db)
    names = sorted(r.lesion for r in store.series("CUA-107"))
    store.close()
    assert names == ["L1", "L2"]
    assert [sorted(t.text for t in tags) for tags in drawn] == [names]
    shown = " ".join(m.value for m in at.markdown)
    assert "**L1**: " in shown and "**L2**: " in shown


def test_after_import_each_photo_shows_its_overlay_and_areas_and_opens_for_correction(app, app_db):
    """Issue 29: the nurse sees whether the measurement is right while the patient is there."""
    at = app.switch_page("app_pages/upload.py").run()
    at.selectbox(key="upload_patient").set_value("+ new patient…").run()
    at.text_input(key="new_patient").input("CUA-101").run()
    _upload(at, SAMPLES / "demo_week04.jpg", SAMPLES / "demo_week05.jpg")
    at.button[0].click().run()
    assert not at.exception
    store = Store(app_db)
    rows = store.series("CUA-101")
    visits = [v["visit_id"] for v in store.visits("CUA-101")]
    store.close()
    shown = " ".join(m.value for m in at.markdown)
    for row in rows:  # the stored figures, as stored, on the page
        assert f"**{row.lesion}**: {row.wound_area_cm2:.2f} cm²" in shown
        assert f"eschar {row.eschar_pct:.0f} %" in shown
    assert len(at.get("image")) == 2  # one overlay thumbnail per photo
    correct = [b for b in at.button if b.label == "Correct this outline"]
    assert len(correct) == 2
    correct[1].click().run()
    assert not at.exception
    assert at.session_state["review_visit"] == visits[1]
    assert at.selectbox(key="review_visit").value == visits[1]


def test_before_import_each_photo_says_whether_its_sticker_and_wound_were_found(
    app, app_db, tmp_path
):
    """A photo without a sticker is said while the nurse can still retake it: before Import,
    as soon as it is measured (nothing stored yet)."""
    no_sticker = tmp_path / "no_sticker.jpg"
    write_phantom(PhantomSpec(seed=4, width_px=800, height_px=600, with_sticker=False), no_sticker)
    at = _measured_before_import(app, "CUA-105", SAMPLES / "demo_week04.jpg", no_sticker)
    undated, warning = [w.value for w in at.warning]
    assert undated == (
        "no\\_sticker.jpg: no capture date; enter the date it was taken in the table above "
        "before Import."
    )
    assert warning.startswith("no\\_sticker.jpg: NO calibration sticker found")
    assert "retake it with the sticker" in warning
    [measured] = [c.value for c in at.caption if c.value.startswith("demo\\_week04.jpg:")]
    assert measured.startswith("demo\\_week04.jpg: sticker found; 1 lesion, ")
    assert measured.endswith(" cm² of wound bed \\(measured, not yet stored\\).")
    store = Store(app_db)
    assert "CUA-105" not in store.patients()  # said before anything is stored
    store.close()
    # After Import each photo's outcome is said once, below: the lines above make way.
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("1 photo(s) imported for CUA-105" in s.value for s in at.success)  # 1 undated
    assert not [w for w in at.warning if "NO calibration sticker" in w.value]
    assert not [w for w in at.warning if "before Import" in w.value]
    assert not [c for c in at.caption if "not yet stored" in c.value]
    assert any(e.value.startswith("no\\_sticker.jpg: no capture date") for e in at.error)


def test_upload_refuses_a_name_for_a_patient_code(app):
    at = app.switch_page("app_pages/upload.py").run()
    at.selectbox(key="upload_patient").set_value("+ new patient…").run()
    at.text_input(key="new_patient").input("Jane Doe").run()
    _upload(at, SAMPLES / "demo_week02.jpg")
    at.button[0].click().run()
    assert not at.exception
    assert any("pseudonymous" in e.value for e in at.error)


def test_treatments_page_shows_and_saves_the_timeline(app, app_db):
    at = app.switch_page("app_pages/timeline.py").run()
    assert not at.exception
    editor = at.data_editor[0] if hasattr(at, "data_editor") and len(at.data_editor) else None
    assert editor is not None
    at.button[0].click().run()  # save unchanged: the same five events
    assert not at.exception
    assert any("Saved 5 treatment event(s)" in s.value for s in at.success)
    store = Store(app_db)
    assert len(store.treatments("DEMO-001")) == 5
    store.close()


def _edit_and_save(at: AppTest, key: str, edited_rows: dict) -> AppTest:
    """Edit cells of the keyed data editor (as a person would), then press the page's button."""
    at.session_state[key] = {"edited_rows": edited_rows, "added_rows": [], "deleted_rows": []}
    at.run()
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_treatments_editor_refuses_a_fraction_of_a_session(app, app_db):
    # Issue 30, row 14: sessions 2.7 was saved as 2 without a message.
    at = app.switch_page("app_pages/timeline.py").run()
    table = at.data_editor[0].value
    hbot = int(table.index[table["kind"] == "hyperbaric_oxygen"][0])
    key = "timeline_editor_DEMO-001"
    at = _edit_and_save(at, key, {hbot: {"sessions": 2.7}})
    assert [e.value for e in at.error] == [
        escape_markdown(
            f"row {hbot + 1}, sessions: 2.7 is not a whole number; write the number of sessions, "
            "e.g. 36, or leave it empty"
        )
    ]
    assert any("Nothing was saved" in w.value for w in at.warning)
    assert not at.success
    assert at.session_state[key]["edited_rows"] == {hbot: {"sessions": 2.7}}  # still on screen
    store = Store(app_db)
    assert [e.sessions for e in store.treatments("DEMO-001") if e.kind == "hyperbaric_oxygen"] == [
        36
    ]
    store.close()


def test_treatments_page_says_when_a_courses_dates_cannot_hold_its_sessions(app, app_db):
    """The demo's 36 sessions at five a week fit their 7 weeks: no note. Saved with the end
    date mistyped as 22 June (14 weeks), the timeline is saved as given and a note says so."""
    at = app.switch_page("app_pages/timeline.py").run()
    assert not [i.value for i in at.info if "sessions at" in i.value]
    table = at.data_editor[0].value
    hbot = int(table.index[table["kind"] == "hyperbaric_oxygen"][0])
    at = _edit_and_save(at, "timeline_editor_DEMO-001", {hbot: {"end_on": "2026-06-22"}})
    assert any("Saved 5 treatment event(s)" in s.value for s in at.success)
    [note] = [i.value for i in at.info if "sessions at" in i.value]
    assert note == escape_markdown(
        "Hyperbaric oxygen from 2026-03-16: 36 sessions at 5 per week take about 7 weeks, but "
        "its dates run 14 weeks (to 2026-06-22); check its end date and its number of sessions"
    )


def test_before_import_a_photo_already_in_the_record_is_said_and_not_measured(
    app, app_db, tmp_path
):
    """The nurse sees at once which chosen photos the record already holds (the visit they
    are in), before pressing Import; only the others are measured ahead."""
    new = tmp_path / "new.jpg"
    write_phantom(PhantomSpec(seed=5, width_px=800, height_px=600), new)
    store = Store(app_db)
    [taken_at] = [
        v["taken_at"] for v in store.visits("DEMO-001") if v["file_name"] == "demo_week02.jpg"
    ]
    store.close()
    at = app.switch_page("app_pages/upload.py").run()  # DEMO-001, the patient chosen
    _upload(at, SAMPLES / "demo_week02.jpg", new)
    assert not at.exception, [e.value for e in at.exception]
    assert [i.value for i in at.info] == [
        f"{escape_markdown('demo_week02.jpg')}: already in DEMO-001's record (the visit of "
        f"{str(taken_at)[:10]}); Import will not store it again."
    ]
    [(file_id, _, _)] = at.session_state["upload_ahead"]  # the new photo's job alone
    assert file_id == at.file_uploader[0].value[1].file_id


def test_a_photo_already_stored_is_one_message(app, app_db):
    # Issue 25: a duplicate was reported three times, once as "lesions no wound found".
    at = app.switch_page("app_pages/upload.py").run()
    _upload(at, SAMPLES / "demo_week02.jpg")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    said = [e.value for e in [*at.info, *at.success, *at.warning, *at.error, *at.markdown]]
    name = escape_markdown("demo_week02.jpg")
    about = [t for t in said if name in t]
    assert about == [f"{name}: already stored for DEMO-001; not imported again."]
    assert not any("no wound found" in t for t in said)


def test_a_new_treatment_row_with_an_empty_required_cell_is_named_not_dropped(app, app_db):
    # Issue 25: such a row was dropped on Save while the page said "Saved 1 treatment event(s)".
    at = app.switch_page("app_pages/timeline.py").run()
    key = "timeline_editor_DEMO-001"
    added = [{"kind": "cinacalcet", "dose": "30 mg"}]  # no start date
    at.session_state[key] = {"edited_rows": {}, "added_rows": added, "deleted_rows": []}
    at.run()
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [
        escape_markdown("row 6, start_on: empty; give the first day, e.g. 2026-03-02")
    ]
    assert any("Nothing was saved" in w.value for w in at.warning) and not at.success
    assert at.session_state[key]["added_rows"] == added  # the typing is still on screen
    store = Store(app_db)
    assert len(store.treatments("DEMO-001")) == 5
    store.close()


def test_treatments_editor_refuses_dates_outside_the_clinical_range(app, app_db):
    # Issue 30, row 4: 9999-12-31 was saved, and the Healing and Export pages then failed.
    at = app.switch_page("app_pages/timeline.py").run()
    table = at.data_editor[0].value
    ptx = int(table.index[table["kind"] == "parathyroidectomy"][0])
    at = _edit_and_save(at, "timeline_editor_DEMO-001", {ptx: {"start_on": "0001-01-01"}})
    assert [e.value for e in at.error] == [
        escape_markdown(
            f"row {ptx + 1}, start_on: 0001-01-01 is before 1900-01-01; check the year: a "
            "treatment is dated from 1900-01-01 to 5 years from today"
        )
    ]
    assert not at.success
    store = Store(app_db)
    assert min(e.start_on for e in store.treatments("DEMO-001")).year == 2026
    store.close()


def test_upload_refuses_a_typed_capture_date_outside_the_plausible_range(app, app_db):
    at = app.switch_page("app_pages/upload.py").run()
    _upload(at, SAMPLES / "demo_week02.jpg")
    at = _edit_and_save(at, "upload_dates", {0: {"taken on": "9999-12-31"}})
    assert any(
        e.value.startswith(escape_markdown("demo_week02.jpg: the capture date 9999-12-31 is after"))
        for e in at.error
    ), [e.value for e in at.error]
    assert not at.success


def test_the_chosen_patient_is_kept_across_pages(app, app_db):
    store = Store(app_db)
    import_photo(store, (SAMPLES / "demo_week05.jpg").read_bytes(), name="x.jpg", patient="CUA-200")
    store.close()
    st.cache_data.clear()
    at = app.run()
    at.sidebar.selectbox(key="patient").set_value("DEMO-001").run()
    at = at.switch_page("app_pages/timeline.py").run()
    assert at.sidebar.selectbox(key="patient").value == "DEMO-001"
    at.sidebar.selectbox(key="patient").set_value("CUA-200").run()
    at = at.switch_page("app_pages/healing.py").run()
    assert not at.exception
    assert at.sidebar.selectbox(key="patient").value == "CUA-200"


def test_before_import_a_photo_whose_outline_the_network_is_unsure_of_is_said(
    app, app_db, tmp_path
):
    """A dull wound on dark skin, which the network half sees, is said before Import, while
    the photo can still be retaken, and again beside its areas once imported."""
    dull = tmp_path / "dull.jpg"
    spec = PhantomSpec(
        seed=4,
        tissue_colours="measured",
        skin_tone=0.8,
        eschar_fraction=0.0,
        slough_fraction=0.3,
        taken_at=datetime(2026, 3, 2, 9),
    )
    write_phantom(spec, dull)
    at = _measured_before_import(app, "CUA-106", dull, SAMPLES / "demo_week04.jpg")
    [warning] = [w.value for w in at.warning]
    assert warning.startswith("dull.jpg: sticker found; 1 lesion")
    assert "The network is unsure of this outline" in warning and "retak" in warning
    assert [c.value for c in at.caption if c.value.startswith("demo\\_week04.jpg: sticker found")]
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    lines = [m.value for m in at.markdown if m.value.startswith("**L")]
    assert len(lines) == 2  # one lesion in each photo
    unsure = [line for line in lines if "the network is unsure of this outline" in line]
    assert len(unsure) == 1
