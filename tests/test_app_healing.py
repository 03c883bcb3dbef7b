"""The Healing and Export pages through AppTest, on a fresh database seeded with the demo patient.

The first run of the app seeds the demo patient (12 photos, a few seconds), so the tests of this
module share one database; the cached store is cleared before and after, so that other modules
get their own.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import use_demo_database
from woundtrack.record.ingest import import_photo
from woundtrack.record.store import Store
from woundtrack.synthetic.phantom import PhantomSpec, write_phantom

APP = str(Path(__file__).resolve().parent.parent / "app.py")


NO_STICKER = "CUA-900"  # a patient whose only photo has no calibration sticker
FAR_DATES = "CUA-901"  # visits stored with dates at the end of the calendar (issue 30, row 4)
SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database seeded by the app's first start with the demo patient, plus NO_STICKER."""
    folder = tmp_path_factory.mktemp("healing_app")
    with pytest.MonkeyPatch.context() as mp:
        url = use_demo_database(mp, folder)
        started()  # seeds DEMO-001
        photo = folder / "no_sticker.jpg"
        spec = PhantomSpec(seed=2, with_sticker=False, width_px=800, height_px=600)
        write_phantom(spec, photo)
        store = Store(url)
        import_photo(store, photo.read_bytes(), name=photo.name, patient=NO_STICKER)
        for week in range(4):
            name = f"demo_week{week:02d}.jpg"
            when = datetime(2026, 3, 2, 12) + timedelta(weeks=week)
            import_photo(
                store, (SAMPLES / name).read_bytes(), name=name, patient=FAR_DATES, taken_at=when
            )
        store.close()
        _move_visits_to_the_end_of_the_calendar(Path(url.removeprefix("sqlite:///")), FAR_DATES)
        st.cache_data.clear()
        yield url
        st.cache_resource.clear()
        st.cache_data.clear()


def _move_visits_to_the_end_of_the_calendar(path: Path, patient: str) -> None:
    """Date the patient's visits 9999-12-10 ... 9999-12-31, as a camera whose clock was never set
    did before capture dates were checked: a stored value the pages must survive."""
    with sqlite3.connect(path) as con:
        ids = [
            visit_id
            for (visit_id,) in con.execute(
                "SELECT v.id FROM visits v JOIN patients p ON p.id = v.patient_id "
                "WHERE p.code = ? ORDER BY v.taken_on",
                (patient,),
            )
        ]
        for n, visit_id in enumerate(ids):
            day = date.max - timedelta(weeks=len(ids) - 1 - n)
            con.execute(
                "UPDATE visits SET taken_at = ?, taken_on = ? WHERE id = ?",
                (f"{day.isoformat()}T12:00:00", day.isoformat(), visit_id),
            )


def started() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()  # the Healing page is the default one
    assert not at.exception, [e.value for e in at.exception]
    return at


def on_page(page: str, patient: str) -> AppTest:
    at = started()
    if page != "app_pages/healing.py":
        at.switch_page(page).run()
    # Chosen after switching: the sidebar choice does not survive a page switch (see report).
    at.sidebar.selectbox(key="patient").set_value(patient).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def plotly_spec(at: AppTest) -> dict:
    [chart] = at.get("plotly_chart")
    return json.loads(chart.proto.spec)


def test_healing_page_shows_the_figures_and_the_chart(db_url: str) -> None:
    at = on_page("app_pages/healing.py", "DEMO-001")
    assert not at.error
    shown = {m.label: m.value for m in at.metric}
    assert list(shown) == [
        "Area now",
        "Area reduction",
        "PAR week 4",
        "Rate",
        "Half-life",
        "Projected closure",
    ]
    assert shown["Area now"].endswith(" cm²")
    assert shown["PAR week 4"].endswith(" %") and shown["Rate"].endswith(" %/week")
    assert shown["Projected closure"][:4] == "2026"  # the demo wound heals steadily
    deltas = {m.label: m.delta for m in at.metric}
    assert deltas["Projected closure"].startswith("95 % interval 2026-")
    assert deltas["Area now"].startswith("-")  # smaller than at baseline: a green arrow down
    # The demo (spring 2026) is read as of its last visit, and says so.
    assert any("Demo: the figures are as of the demo's last visit" in c.value for c in at.caption)
    spec = plotly_spec(at)
    names = [t.get("name") for t in spec["data"]]
    assert names[:5] == ["Eschar", "Slough", "Granulation", "Wound area", "Erythema"]
    assert "Exponential fit" in names
    assert spec["layout"]["hovermode"] == "x unified"
    assert any("Hyperbaric oxygen" in (s.get("name") or "") for s in spec["layout"]["shapes"])
    [phases] = at.dataframe
    assert "During sodium thiosulfate" in list(phases.value["Phase"])
    assert any("diabetic foot ulcers" in c.value for c in at.caption)
    assert at.selectbox(key="healing_lesion").value == "L1"
    # under the chart: the erythema at the last visit beside the first (escaped Markdown)
    [line] = [c for c in at.caption if "Periwound erythema" in c.value]
    erythema = line.value
    assert "on 2026-05-18: 0.29 cm², reaching 0.1 cm" in erythema and "first visit" in erythema
    assert "red all over" in line.proto.help  # what the figure cannot see, one click away
    assert "Erythema reach" in names  # the demo's visits carry it: drawn on its own axis
    # how far the stacked tissues can be trusted: the tissue network's agreement, said once
    notes = [c.value for c in at.caption if "Tissue shares come from" in c.value]
    assert len(notes) == 1 and "found 50% of their slough" in notes[0]


def test_healing_page_warns_when_a_series_was_measured_by_two_model_versions(
    db_url: str,
) -> None:
    """A clinic model brought into use after week 1: the page says which version measured which
    visits, beside the chart, and offers to measure them again with the model in use; then one
    version measured them all (the old analysis stays stored)."""
    store = Store(db_url)
    for week in range(3):
        name = f"demo_week{week:02d}.jpg"
        import_photo(store, (SAMPLES / name).read_bytes(), name=name, patient="CUA-902")
    last = max(r.analysis_id for r in store.series("CUA-902"))
    store.close()
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as con:
        con.execute(
            "UPDATE analyses SET model_version = 'clinic-2', "
            "record = json_set(record, '$.provenance.model_version', 'clinic-2') WHERE id = ?",
            (last,),
        )
    st.cache_data.clear()
    at = on_page("app_pages/healing.py", "CUA-902")
    [warning] = [w.value.replace("\\", "") for w in at.warning if "model versions" in w.value]
    assert (
        "measured by 2 model versions" in warning and "clinic-2 (1 visit, 16 Mar 2026)" in warning
    )
    at.button(key="healing_measure_again").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [done] = [s.value.replace("\\", "") for s in at.success]
    assert done.startswith("1 visit(s) measured again with the model shipped") and (
        "2 measured by it already" in done
    )
    assert not [w.value for w in at.warning if "model versions" in w.value]
    store = Store(db_url)
    assert {r.model_version for r in store.series("CUA-902")} != {"clinic-2"}
    assert store.current_analysis(store.visits("CUA-902")[2]["visit_id"]).analysis_id > last
    store.close()
    at.switch_page("app_pages/review.py").run()
    at.sidebar.selectbox(key="patient").set_value("CUA-902").run()
    changes = [m.value.replace("\\", "") for m in at.markdown]
    assert any("measured a visit again (clinic-2 → 2026-" in c for c in changes), changes
    at = on_page("app_pages/healing.py", "DEMO-001")  # one version: no such warning
    assert not [w.value for w in at.warning if "model versions" in w.value]
    assert not [b for b in at.button if b.key == "healing_measure_again"]


def test_healing_page_says_plainly_when_no_visit_is_calibrated(db_url: str) -> None:
    at = on_page("app_pages/healing.py", NO_STICKER)
    assert any("no calibrated visit" in e.value for e in at.error), [e.value for e in at.error]
    assert not at.metric and not at.get("plotly_chart")


def test_export_page_offers_the_csv_files_and_the_report(db_url: str) -> None:
    at = on_page("app_pages/export.py", "DEMO-001")
    assert not at.error
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download DEMO-001 (CSV)", "Download all patients (CSV)"]
    assert not at.get("iframe")  # the report is built when asked, not on opening the page
    at = prepare_report(at)
    assert not at.error
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == [
        "Download DEMO-001 (CSV)",
        "Download all patients (CSV)",
        "Download the report of DEMO-001 (HTML)",
    ]
    assert not [b for b in at.button if b.label == "Prepare the report"]
    assert any("Ctrl+P" in c.value for c in at.caption)
    [preview] = at.get("iframe")
    assert "Wound healing report · DEMO-001" in preview.proto.srcdoc
    assert preview.proto.srcdoc.count('src="data:image/jpeg;base64,') == 12  # one per visit


def test_export_page_builds_the_fhir_bundle_and_dicom_zip_when_asked(db_url: str) -> None:
    import io
    import zipfile

    import pydicom
    from fhir.resources.R4B.bundle import Bundle

    at = on_page("app_pages/export.py", "DEMO-001")
    [fhir_button] = [b for b in at.button if b.label == "Prepare the FHIR bundle"]
    fhir_button.click().run(timeout=120)
    [dicom_button] = [b for b in at.button if b.label == "Prepare the DICOM files"]
    dicom_button.click().run(timeout=120)
    assert not at.error
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download DEMO-001 (FHIR JSON)" in labels and "Download DEMO-001 (DICOM ZIP)" in labels
    bundle = json.loads(at.session_state["fhir:DEMO-001:False"])
    Bundle.model_validate(bundle)
    observations = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert len(observations) == 12  # one lesion, twelve weekly visits
    with zipfile.ZipFile(io.BytesIO(at.session_state["dicom:DEMO-001"])) as archive:
        names = archive.namelist()
        assert len(names) == 24  # a photo and a segmentation per visit
        first = pydicom.dcmread(io.BytesIO(archive.read(sorted(names)[0])))
    assert first.PatientID == "DEMO-001" and first.Modality == "XC"


def prepare_report(at):
    [prepare] = [b for b in at.button if b.label == "Prepare the report"]
    return prepare.click().run(timeout=120)


def test_export_page_reports_a_patient_without_calibrated_visits(db_url: str) -> None:
    at = prepare_report(on_page("app_pages/export.py", NO_STICKER))
    assert not at.error
    assert len(at.get("download_button")) == 3
    [preview] = at.get("iframe")
    assert "No calibrated visit" in preview.proto.srcdoc


@pytest.mark.parametrize("page", ["app_pages/healing.py", "app_pages/export.py"])
def test_visits_dated_at_the_end_of_the_calendar_never_break_a_page(db_url: str, page: str) -> None:
    # Issue 30, row 4: an OverflowError broke the Healing and Export pages of such a patient.
    at = on_page(page, FAR_DATES)  # no exception
    if page == "app_pages/export.py":
        at = prepare_report(at)
        assert at.get("iframe")
    assert not at.error, [e.value for e in at.error]
    if page == "app_pages/healing.py":
        assert len(at.get("plotly_chart")) == 1
        assert {m.label for m in at.metric} >= {"Area now", "PAR week 4"}
    else:
        [preview] = at.get("iframe")
        assert "9999-12-31" in preview.proto.srcdoc


def test_a_clinics_record_is_read_as_of_today(app_db: str) -> None:
    """The same record opened as a clinic's (``$WOUNDTRACK_DB``), after the projected closure:
    its latest photo is labelled by its date, not "now", and the closure that passed unseen is
    said, not shown as a forecast; the chart has no projection."""
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert date.today() > date(2026, 7, 1)  # this test's premise: the demo's June closure passed
    shown = {m.label: m.value for m in at.metric}
    assert "Area now" not in shown and shown["Area on 2026-05-18"].endswith(" cm²")
    assert shown["Projected closure"] == "—"
    [note] = [i.value for i in at.info if "No closure date projected" in i.value]
    assert "has passed without a visit since 2026-05-18; measure the wound again." in note
    assert not any("Demo:" in c.value for c in at.caption)
    names = [t.get("name") for t in plotly_spec(at)["data"]]
    assert "Projected closure" not in names
