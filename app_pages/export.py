"""Export page: the measurements as CSV, a FHIR bundle and DICOM files for the clinic's systems,
and the printable healing report as one HTML file.

UI only: the CSV comes from ``Store.export_csv``, FHIR and DICOM from
``woundtrack.record.exchange``, the report from ``woundtrack.present.printable``.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import numpy as np
import streamlit as st

from app_pages.shared import (
    demo_mode,
    escape_markdown,
    get_store,
    name_tags,
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
from woundtrack.record.exchange import dicom_zip, fhir_bundle
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
            record = store.current_analysis(visit["visit_id"]).record if len(found) > 1 else {}
            tags = name_tags(record, found) if labels.shape == image.shape[:2] else []
            jpeg = overlay_thumbnail_jpeg(image, labels, tags=tags)
        except (WoundtrackError, ValueError) as exc:
            problems.append(f"{visit['file_name']} ({day}) is not in the report: {exc}")
            continue
        caption = f"{day} · {visit['file_name']} · {areas or 'no wound found'}"
        photos.append((caption, jpeg))
    return photos, problems


@st.cache_data(show_spinner="Building the report…")
def report_html(patient: str, day: date) -> str:
    """The printable report of ``patient``, built on ``day`` (a key of the cache: a report
    cached yesterday is not shown today with yesterday's projections)."""
    rows, events = series(patient), treatments(patient)
    generated_at = datetime.now(UTC).astimezone()
    as_of = None if demo_mode() else day  # as the Healing page reads it
    return patient_report_html(
        patient=patient,
        rows=rows,
        events=events,
        summary=healing_summary(rows, events, today=as_of),
        photos=overlay_photos(patient)[0],
        generated_at=generated_at,
    )


def _record_export(patient: str, fmt: str) -> None:
    """The audit trail's line for a download (a read-only database: said, not fatal)."""
    problem = get_store().record_event(
        "export", patient=patient, detail={"format": fmt}, permission="export", reading=True
    )
    if problem:
        st.warning(escape_markdown(problem))


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

st.subheader("For the clinic's record and PACS (FHIR, DICOM)")
st.caption(
    "FHIR: one R4 Bundle (JSON) with the patient's pseudonymous code, a LOINC-coded wound "
    "assessment per visit and lesion, and the treatments. DICOM: each photo as a VL "
    "Photographic Image and its tissue map as a DICOM Segmentation, in one ZIP. Built when you "
    "ask, not on opening the page."
)
with_photos = st.checkbox(
    "Put the photos in the FHIR bundle (needed to import the visits into another woundtrack)",
    key="fhir_with_photos",
)
fhir_col, dicom_col = st.columns(2)
fhir_key, dicom_key = f"fhir:{patient}:{with_photos}", f"dicom:{patient}"
if fhir_col.button("Prepare the FHIR bundle", icon=":material/healing:"):
    try:
        bundle = fhir_bundle(get_store(), patient, with_photos=with_photos)
        st.session_state[fhir_key] = json.dumps(bundle, ensure_ascii=False, indent=1)
    except WoundtrackError as exc:
        fhir_col.error(f"The FHIR bundle could not be built: {escape_markdown(exc)}")
if dicom_col.button("Prepare the DICOM files", icon=":material/radiology:"):
    try:
        st.session_state[dicom_key] = dicom_zip(get_store(), patient)
    except WoundtrackError as exc:
        dicom_col.error(f"The DICOM files could not be written: {escape_markdown(exc)}")
downloads = (
    (fhir_col, fhir_key, "fhir", "FHIR JSON", "fhir.json", "application/fhir+json"),
    (dicom_col, dicom_key, "dicom", "DICOM ZIP", "dicom.zip", "application/zip"),
)
for column, state_key, fmt, what, suffix, mime in downloads:
    if state_key in st.session_state:
        column.download_button(
            f"Download {escape_markdown(patient)} ({what})",
            st.session_state[state_key],
            file_name=f"woundtrack-{patient}-{suffix}",
            mime=mime,
            icon=":material/download:",
            on_click=_record_export,
            args=(patient, fmt),
            key=f"{fmt}_download",
        )

st.subheader("Printable healing report")
st.caption(
    "One HTML file that opens offline: healing figures, charts and phase tables per lesion, the "
    "photos with their tissue outlines, the treatment timeline and every measurement. Open it "
    "and print from your browser (Ctrl+P, or ⌘P on a Mac); each section starts on a new page. "
    "Built when you ask (it draws every photo), not on opening the page."
)
# Only that it was asked for is remembered: the report itself is read from report_html's
# cache, which every write clears, so a report shown is never older than the record.
asked = st.session_state.setdefault("reports_asked", set())
if patient not in asked:
    st.button(
        "Prepare the report",
        icon=":material/print:",
        type="primary",
        key="report_prepare",
        on_click=asked.add,  # before the page runs again: the button then makes way
        args=(patient,),
    )
    st.stop()
try:
    report = report_html(patient, date.today())
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
