"""App page: a patient's treatment timeline as an editable table (add, edit, remove events).

Courses (an end date, sessions or a frequency) are drawn as bands on the healing chart, single
events (a debridement, a parathyroidectomy) as markers. UI only: ``timeline`` validates,
``Store.replace_treatments`` saves.
"""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from app_pages.shared import after_write, escape_markdown, get_store, patient_picker, treatments
from woundtrack.analysis.timeline_csv import read_timeline_csv, write_timeline_csv
from woundtrack.errors import WoundtrackError
from woundtrack.models import KNOWN_KINDS, TreatmentEvent

COLUMNS = ["kind", "start_on", "end_on", "dose", "frequency", "sessions", "notes"]


def _frame(events: list[TreatmentEvent]) -> pd.DataFrame:
    rows = [{c: getattr(e, c) for c in COLUMNS} for e in events]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for c in ("start_on", "end_on"):
        frame[c] = pd.to_datetime(frame[c]).dt.date
    frame["sessions"] = frame["sessions"].astype("Int64")
    return frame


def _events(frame: pd.DataFrame) -> tuple[list[TreatmentEvent], list[str]]:
    """Events from the edited table, and a message per row that is not a valid event."""
    events, problems = [], []
    for n, row in enumerate(frame.to_dict("records"), start=1):
        if all(pd.isna(row.get(c)) or row.get(c) in ("", None) for c in COLUMNS):
            continue  # an empty new row
        try:
            start = row["start_on"]
            if start is None or pd.isna(start):
                raise WoundtrackError("start_on is empty; give the first day")
            end = row["end_on"]
            sessions = row["sessions"]
            events.append(
                TreatmentEvent(
                    kind=str(row["kind"] or ""),
                    start_on=pd.Timestamp(start).date(),
                    end_on=None if end is None or pd.isna(end) else pd.Timestamp(end).date(),
                    dose=str(row["dose"] or "") if not pd.isna(row["dose"]) else "",
                    frequency=str(row["frequency"] or "") if not pd.isna(row["frequency"]) else "",
                    sessions=None if sessions is None or pd.isna(sessions) else int(sessions),
                    notes=str(row["notes"] or "") if not pd.isna(row["notes"]) else "",
                )
            )
        except (WoundtrackError, TypeError, ValueError) as exc:
            problems.append(f"row {n}: {exc}")
    return events, problems


st.title("Treatments")
patient = patient_picker()
if patient is None:
    st.stop()
st.caption(
    f"Treatment timeline of {escape_markdown(patient)}. Known kinds: "
    f"{escape_markdown(', '.join(KNOWN_KINDS))}; any other short label is kept as typed. A row "
    "with an end date, sessions or a frequency is a course."
)

current = treatments(patient)
edited = st.data_editor(
    _frame(current),
    num_rows="dynamic",
    column_config={
        "kind": st.column_config.TextColumn(
            "kind", required=True, help="e.g. sodium_thiosulfate, HBOT"
        ),
        "start_on": st.column_config.DateColumn("start", format="YYYY-MM-DD", required=True),
        "end_on": st.column_config.DateColumn("end (courses)", format="YYYY-MM-DD"),
        "dose": st.column_config.TextColumn("dose", help="e.g. 25 g IV"),
        "frequency": st.column_config.TextColumn(
            "frequency", help="e.g. 3 per week after dialysis"
        ),
        "sessions": st.column_config.NumberColumn("sessions", min_value=1, step=1),
        "notes": st.column_config.TextColumn("notes"),
    },
    hide_index=True,
    width="stretch",
    key=f"timeline_editor_{patient}",
)

if st.button("Save timeline", type="primary"):
    events, problems = _events(edited)
    if problems:
        for problem in problems:
            st.error(escape_markdown(problem))
        st.warning("Nothing was saved; correct the rows above and save again.")
    else:
        try:
            get_store().replace_treatments(patient, events)
        except WoundtrackError as exc:
            st.error(escape_markdown(exc))
        else:
            after_write()
            st.success(f"Saved {len(events)} treatment event(s) for {escape_markdown(patient)}.")

with st.expander("Import or export as CSV"):
    st.download_button(
        "Download timeline (CSV)",
        data=write_timeline_csv(current),
        file_name=f"{patient}-timeline.csv",
        mime="text/csv",
    )
    upload = st.file_uploader("Add events from a CSV file", type=["csv"], key="timeline_csv")
    if upload is not None and st.button("Add events from this file"):
        try:
            events = read_timeline_csv(io.BytesIO(upload.getvalue()), name=upload.name)
            added = get_store().add_treatments(patient, events)
        except WoundtrackError as exc:
            st.error(escape_markdown(exc))
        else:
            after_write()
            st.success(f"{added} event(s) added; {len(events) - added} were already there.")
