"""Export page: the measurements as CSV, and the printable healing report as one HTML file.

UI only: the CSV comes from ``Store.export_csv``, the report from
``woundtrack.present.printable.patient_report_html``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import streamlit as st

from app_pages.shared import (
    escape_markdown,
    get_store,
    patient_picker,
    patients,
    require,
    series,
    treatments,
)
from woundtrack.analysis.report import healing_summary
from woundtrack.errors import WoundtrackError
from woundtrack.image.io import read_photo
from woundtrack.present.printable import overlay_thumbnail_jpeg, patient_report_html
from woundtrack.record.ingest import stored_labels

require("export")


@st.cache_data(show_spinner=False)
def patient_csv(patient: str) -> str:
    return get_store().export_csv(patient)


@st.cache_data(show_spinner=False)
def all_patients_csv() -> str:
    """Every patient's rows under one header (``export_csv`` of each, headers dropped)."""
    parts = []
    for n, code in enumerate(patients()):
        text = get_store().export_csv(code)
        parts.append(text if n == 0 else text.split("\n", 1)[1])
    return "".join(parts)


@st.cache_data(show_spinner="Drawing the overlays…")
def overlay_photos(patient: str) -> tuple[list[tuple[str, bytes]], list[str]]:
    """(caption, JPEG) of each visit's photo with the tissue outlines of its current analysis,
    and a sentence for each photo that could not be drawn (the others are still shown)."""
    store = get_store()
    by_visit: dict[int, list] = {}
    for r in series(patient):
        by_visit.setdefault(r.visit_id, []).append(r)
    photos, problems = [], []
    for visit in store.visits(patient):
        found = by_visit.get(visit["visit_id"], [])
        day = visit["taken_on"].isoformat() if visit["taken_on"] else "undated"
        areas = ", ".join(
            f"{r.lesion} {r.wound_area_cm2:.2f} cm²"
            if r.wound_area_cm2 is not None
            else f"{r.lesion} (uncalibrated)"
            for r in found
        )
        try:
            image, _ = read_photo(store.photo_bytes(visit["photo_sha256"]), name=visit["file_name"])
            labels = (
                stored_labels(store, found[0].analysis_id)
                if found  # no lesion in this photo: shown as taken
                else np.zeros(image.shape[:2], dtype=np.uint8)
            )
            jpeg = overlay_thumbnail_jpeg(image, labels)
        except (WoundtrackError, ValueError) as exc:
            problems.append(f"{visit['file_name']} ({day}) is not in the report: {exc}")
            continue
        caption = f"{day} · {visit['file_name']} · {areas or 'no wound found'}"
        photos.append((caption, jpeg))
    return photos, problems


@st.cache_data(show_spinner="Building the report…")
def report_html(patient: str) -> str:
    rows, events = series(patient), treatments(patient)
    return patient_report_html(
        patient=patient,
        rows=rows,
        events=events,
        summary=healing_summary(rows, events),
        photos=overlay_photos(patient)[0],
        generated_at=datetime.now(UTC).astimezone(),
    )


st.title("Export & report")
patient = patient_picker()
if patient is None:
    st.stop()

st.subheader("Measurements (CSV)")
st.caption(
    "One row per lesion per visit, oldest first, with the provenance of every figure; empty "
    "cells are figures not known (e.g. cm² of an uncalibrated photo)."
)
left, right = st.columns(2)
try:
    left.download_button(
        f"Download {escape_markdown(patient)} (CSV)",
        patient_csv(patient),
        file_name=f"woundtrack-{patient}.csv",
        mime="text/csv",
        icon=":material/download:",
        key="csv_patient",
    )
    right.download_button(
        "Download all patients (CSV)",
        all_patients_csv(),
        file_name="woundtrack-all-patients.csv",
        mime="text/csv",
        icon=":material/download:",
        key="csv_all",
    )
except WoundtrackError as exc:
    st.error(escape_markdown(exc))
    st.stop()

st.subheader("Printable healing report")
st.caption(
    "One HTML file that opens offline: healing figures, charts and phase tables per lesion, the "
    "photos with their tissue outlines, the treatment timeline and every measurement. Open it "
    "and print from your browser (Ctrl+P, or ⌘P on a Mac); each section starts on a new page."
)
try:
    report = report_html(patient)
except WoundtrackError as exc:
    st.error(f"The report could not be built: {escape_markdown(exc)}")
    st.stop()
for problem in overlay_photos(patient)[1]:
    st.warning(escape_markdown(problem))
st.download_button(
    f"Download the report of {escape_markdown(patient)} (HTML)",
    report,
    file_name=f"woundtrack-report-{patient}.html",
    mime="text/html",
    icon=":material/print:",
    type="primary",
    key="report_html",
)
if st.toggle("Preview the report here", value=True, key="report_preview"):
    st.iframe(report, height=800)  # scrolls within its 800 px
