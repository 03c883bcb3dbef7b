"""The Research page (AppTest): a researcher analyses the cohort and checks the agreement with
manual measures, and sees no patient code, photo or file name on the way."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit.testing.v1 import AppTest

from woundtrack.record.access import local_identity
from woundtrack.record.store import Store
from woundtrack.synthetic.cohort import synthetic_cohort

APP = str(Path(__file__).resolve().parent.parent / "app.py")
BOSS = "boss@clinic.org"


def _researcher(app_db: str) -> AppTest:
    store = Store(app_db, actor=BOSS)
    store.add_user(BOSS, "admin")
    store.add_user(local_identity(), "researcher")
    store.close()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return at


def _shown(at: AppTest) -> str:
    parts = [*at.markdown, *at.caption, *at.title, *at.info, *at.header]
    return " ".join(str(e.value) for e in parts)


def test_the_cohort_of_the_record_is_analysed_without_a_patient_code(app_db):
    at = _researcher(app_db)
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="cohort_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    # the demo record: one patient with one lesion and a sodium thiosulfate course
    by = at.selectbox(key="cohort_by")
    assert "with and without sodium_thiosulfate" in by.options
    [table] = at.dataframe
    assert list(table.value["lesions"]) == [1]
    by.set_value("sodium_thiosulfate").run()
    assert not at.exception, [e.value for e in at.exception]
    [table] = at.dataframe
    assert list(table.value["lesions"]) == [1, 0]  # with / without: 'without' is empty
    shown = _shown(at)
    assert "'without' is empty" in shown or "has no lesion" in shown
    assert "DEMO-001" not in shown and "demo_week" not in shown
    assert "DEMO-001" not in table.value.to_csv()
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # Kaplan-Meier and the slope plot


def test_agreement_from_two_uploaded_files(app_db, tmp_path):
    measurements, _, _ = synthetic_cohort(n_patients=12, second_lesion_p=0.0, seed=3)
    reference = measurements.rename(columns={"wound_area_cm2": "area_cm2"})
    reference["area_cm2"] = reference["area_cm2"] + 0.25  # the ruler reads 0.25 cm² more
    at = _researcher(app_db)
    at.file_uploader(key="agree_ours").upload(
        "ours.csv", measurements.to_csv(index=False).encode(), "text/csv"
    )
    at.file_uploader(key="agree_ref").upload(
        "ruler.csv", reference.to_csv(index=False).encode(), "text/csv"
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = _shown(at)
    assert f"{len(measurements)} pairs" in shown
    assert "bias -0.250 cm²" in shown
    assert len(at.get("plotly_chart")) == 1


def test_a_reference_without_its_columns_is_named(app_db):
    at = _researcher(app_db)
    ours = pd.DataFrame(
        {"patient": ["A"], "lesion": ["L1"], "taken_at": ["2026-01-05"], "wound_area_cm2": [1.0]}
    )
    at.file_uploader(key="agree_ours").upload(
        "ours.csv", ours.to_csv(index=False).encode(), "text/csv"
    )
    at.file_uploader(key="agree_ref").upload("ruler.csv", b"patient,day,cm2\nA,1,2\n", "text/csv")
    at.run()
    assert not at.exception
    [error] = at.error
    assert "ruler.csv" in error.value and "area\\_cm2" in error.value  # Markdown-escaped


def test_the_synthetic_demo_cohort_shows_the_treatment_effect(app_db):
    at = _researcher(app_db)
    at.radio(key="cohort_source").set_value("the synthetic demo cohort").run()
    at.button(key="cohort_load").click().run()
    at.selectbox(key="cohort_by").set_value("sodium_thiosulfate").run()
    assert not at.exception, [e.value for e in at.exception]
    [table] = at.dataframe
    assert list(table.value["patients"]) == [60, 60]
    medians = [float(m) for m in table.value["median weeks to closure"]]
    assert medians[0] < medians[1]  # simulated with a true hazard ratio of 2
    assert "hazard ratio of healing" in _shown(at)


def test_a_cohort_from_uploaded_files(app_db):
    # each lesion's distribution (proximal or distal) in a column, as the research export has it
    measurements, timeline, _ = synthetic_cohort(n_patients=30, seed=5, proximal_p=(0.5, 0.5))
    at = _researcher(app_db)
    at.radio(key="cohort_source").set_value("uploaded files").run()
    at.button(key="cohort_load").click().run()
    [error] = at.error  # no file chosen yet: said, nothing computed
    assert "measurements file" in error.value
    at.file_uploader(key="cohort_measurements").upload(
        "m.csv", measurements.to_csv(index=False).encode(), "text/csv"
    )
    at.file_uploader(key="cohort_timeline").upload(
        "t.csv", timeline.to_csv(index=False).encode(), "text/csv"
    )
    at.run()
    at.button(key="cohort_load").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="cohort_by").options == [
        "(all lesions together)",
        "with and without sodium_thiosulfate",
        "proximal against distal lesions (their body sites)",
    ]
    [table] = at.dataframe
    assert list(table.value["patients"]) == [30]
    assert not [c for c in at.checkbox if c.key == "cohort_adjust"]  # nothing to compare yet
    at.selectbox(key="cohort_by").set_value("sodium_thiosulfate").run()
    assert "Adjusted for the lesions' distribution" not in _shown(at)
    at.checkbox(key="cohort_adjust").check().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Adjusted for the lesions' distribution (" in _shown(at)
    at.number_input(key="cohort_landmark").set_value(4.0).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "(sodium_thiosulfate, landmark at week 4)" in _shown(at)
    # the lesions split by where they are: proximal against distal, nothing to adjust
    at.selectbox(key="cohort_by").set_value("distribution").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert not [c for c in at.checkbox if c.key == "cohort_adjust"]
    [table] = at.dataframe
    assert list(table.value["group"]) == ["proximal lesions", "distal lesions"]
    assert sum(table.value["lesions"]) == measurements.groupby(["patient", "lesion"]).ngroups
    assert "proximal against distal" in _shown(at)


def test_the_cohort_is_not_computed_again_when_another_widget_changes(app_db, monkeypatch):
    import woundtrack.analysis.cohort as cohort

    at = _researcher(app_db)
    at.radio(key="cohort_source").set_value("the synthetic demo cohort").run()
    at.button(key="cohort_load").click().run()
    calls = []
    real = cohort.cohort_analysis
    monkeypatch.setattr(cohort, "cohort_analysis", lambda *a, **k: calls.append(k) or real(*a, **k))
    ours = b"patient,lesion,taken_at,wound_area_cm2\nA,L1,2026-01-05,1.0\n"
    at.file_uploader(key="agree_ours").upload("ours.csv", ours, "text/csv")
    at.run()
    assert calls == [] and len(at.dataframe) == 1  # the table shown again, not recomputed
    at.selectbox(key="cohort_by").set_value("sodium_thiosulfate").run()
    assert [c["by"] for c in calls] == ["sodium_thiosulfate"]
