"""The Healing and Export pages through AppTest, on a fresh database seeded with the demo patient.

The first run of the app seeds the demo patient (12 photos, a few seconds), so the tests of this
module share one database; the cached store is cleared before and after, so that other modules
get their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from woundtrack.record.ingest import import_photo
from woundtrack.record.store import Store
from woundtrack.synthetic.phantom import PhantomSpec, write_phantom

APP = str(Path(__file__).resolve().parent.parent / "app.py")


NO_STICKER = "CUA-900"  # a patient whose only photo has no calibration sticker


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database seeded by the app's first start with the demo patient, plus NO_STICKER."""
    folder = tmp_path_factory.mktemp("healing_app")
    url = f"sqlite:///{folder / 'app.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WOUNDTRACK_DB", url)
        st.cache_resource.clear()
        st.cache_data.clear()
        started()  # seeds DEMO-001
        photo = folder / "no_sticker.jpg"
        spec = PhantomSpec(seed=2, with_sticker=False, width_px=800, height_px=600)
        write_phantom(spec, photo)
        store = Store(url)
        import_photo(store, photo.read_bytes(), name=photo.name, patient=NO_STICKER)
        store.close()
        st.cache_data.clear()
        yield url
        st.cache_resource.clear()
        st.cache_data.clear()


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


def test_healing_page_says_plainly_when_no_visit_is_calibrated(db_url: str) -> None:
    at = on_page("app_pages/healing.py", NO_STICKER)
    assert any("no calibrated visit" in e.value for e in at.error), [e.value for e in at.error]
    assert not at.metric and not at.get("plotly_chart")


def test_export_page_offers_the_csv_files_and_the_report(db_url: str) -> None:
    at = on_page("app_pages/export.py", "DEMO-001")
    assert not at.error
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == [
        "Download DEMO-001 (CSV)",
        "Download all patients (CSV)",
        "Download the report of DEMO-001 (HTML)",
    ]
    assert any("Ctrl+P" in c.value for c in at.caption)
    [preview] = at.get("iframe")
    assert "Wound healing report · DEMO-001" in preview.proto.srcdoc
    assert preview.proto.srcdoc.count('src="data:image/jpeg;base64,') == 12  # one per visit


def test_export_page_reports_a_patient_without_calibrated_visits(db_url: str) -> None:
    at = on_page("app_pages/export.py", NO_STICKER)
    assert not at.error
    assert len(at.get("download_button")) == 3
    [preview] = at.get("iframe")
    assert "No calibrated visit" in preview.proto.srcdoc
