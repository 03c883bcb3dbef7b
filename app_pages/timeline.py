"""App page: a patient's treatment timeline as an editable table (add, edit, remove events).

Courses (an end date, sessions or a frequency) are drawn as bands on the healing chart, single
events (a debridement, a parathyroidectomy) as markers. UI only: ``timeline`` validates,
``Store.replace_treatments`` saves.
"""

from __future__ import annotations

import io
import math
import re
from datetime import date, datetime

import numpy as np
import pandas as pd
import streamlit as st

from app_pages.shared import (
    after_write,
    allowed,
    escape_markdown,
    get_store,
    patient_picker,
    require,
    treatments,
)
from woundtrack.analysis.timeline import session_notes
from woundtrack.analysis.timeline_csv import read_timeline_csv, write_timeline_csv
from woundtrack.errors import WoundtrackError
from woundtrack.models import (
    KNOWN_KINDS,
    TreatmentEvent,
    normalise_kind,
    shown_text,
    treatment_value_problems,
)

require("view_patients")

COLUMNS = ["kind", "start_on", "end_on", "dose", "frequency", "sessions", "notes"]
_WHOLE_NUMBER = re.compile(r"\s*[+-]?\d+\s*")


def _frame(events: list[TreatmentEvent]) -> pd.DataFrame:
    rows = [{c: getattr(e, c) for c in COLUMNS} for e in events]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for c in ("start_on", "end_on"):
        # Plain dates, not pandas timestamps: those end in 2262, and a date stored by an earlier
        # version (9999-12-31) must still show, to be corrected.
        frame[c] = pd.Series([getattr(e, c) for e in events], dtype=object)
    # Float, not Int64: an integer column makes Streamlit cut a typed 2.7 to 2 before this page
    # sees it (issue 30); as a float it arrives as typed and is refused with a message.
    frame["sessions"] = frame["sessions"].astype("Float64")
    return frame


def _empty(value: object) -> bool:
    if isinstance(value, str):
        return value.strip() == ""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _text(value: object) -> str:
    return "" if _empty(value) else str(value)


def _day(value: object, column: str, found: list[tuple[str, str]]) -> date | None:
    """A date cell as a date (``None`` when empty); a problem is added to ``found``."""
    if _empty(value):
        return None
    if isinstance(value, datetime):  # pd.Timestamp too
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        text = shown_text(str(value))
        found.append((column, f"{text} is not a date; write it as YYYY-MM-DD, e.g. 2026-03-02"))
        return None


def _sessions(value: object, found: list[tuple[str, str]]) -> int | None:
    """The sessions cell as a whole number: 2.7 is refused, never cut to 2 (issue 30)."""
    if _empty(value):
        return None
    number: int | None = None
    if isinstance(value, bool | np.bool_):
        pass
    elif isinstance(value, int | np.integer):
        number = int(value)
    elif isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value):
        number = int(value)
    else:
        try:
            as_float = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            as_float = math.nan
        if math.isfinite(as_float) and as_float.is_integer():
            number = int(as_float)
    if number is None:
        found.append(
            (
                "sessions",
                f"{shown_text(str(value))} is not a whole number; write the number of sessions, "
                f"e.g. 36, or leave it empty",
            )
        )
    return number


def _events(frame: pd.DataFrame) -> tuple[list[TreatmentEvent], list[str]]:
    """Events from the edited table, and a message per problem: ``row <n>, <column>: ...``.

    Rows count from 1 as shown. The values are checked as the timeline CSV checks them
    (``treatment_value_problems``), so that nothing is changed silently: a fraction of a
    session is refused, not cut, and a date outside the clinical range is named.
    """
    events, problems = [], []
    for n, row in enumerate(frame.to_dict("records"), start=1):
        if all(_empty(row.get(c)) for c in COLUMNS):
            continue  # an empty new row
        found: list[tuple[str, str]] = []
        kind = normalise_kind(_text(row["kind"]))
        start = _day(row["start_on"], "start_on", found)
        if start is None and not found:
            found.append(("start_on", "empty; give the first day, e.g. 2026-03-02"))
        end = _day(row["end_on"], "end_on", found)
        sessions = _sessions(row["sessions"], found)
        found += treatment_value_problems(kind, start, end, sessions)
        if not found and start is not None:
            try:
                events.append(
                    TreatmentEvent(
                        kind=kind,
                        start_on=start,
                        end_on=end,
                        dose=_text(row["dose"]),
                        frequency=_text(row["frequency"]),
                        sessions=sessions,
                        notes=_text(row["notes"]),
                    )
                )
            except (WoundtrackError, TypeError, ValueError) as exc:
                problems.append(f"row {n}: {exc}")
        problems += [f"row {n}, {column}: {text}" for column, text in found]
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

try:
    current = treatments(patient)
except WoundtrackError as exc:
    st.error(escape_markdown(exc))
    st.stop()
may_edit = allowed("edit_treatments")
if not may_edit:
    st.info("Your role can read the timeline; a clinician or an admin edits it.")
edited = st.data_editor(
    _frame(current),
    num_rows="dynamic" if may_edit else "fixed",
    disabled=not may_edit,
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
        # No step or minimum: the browser would round or clamp what was typed; the page refuses
        # anything but a whole number from 1 with a message instead.
        "sessions": st.column_config.NumberColumn("sessions", help="whole number, 1 or more"),
        "notes": st.column_config.TextColumn("notes"),
    },
    hide_index=True,
    width="stretch",
    key=f"timeline_editor_{patient}",
)

saved = None
if may_edit and st.button("Save timeline", type="primary"):
    events, problems = _events(edited)
    if problems:
        for problem in problems:
            st.error(escape_markdown(problem))
        st.warning("Nothing was saved; correct the rows above and save again.")
    else:
        try:
            get_store().replace_treatments(patient, events, based_on=current)
        except WoundtrackError as exc:
            st.error(escape_markdown(exc))
        else:
            after_write()
            st.success(f"Saved {len(events)} treatment event(s) for {escape_markdown(patient)}.")
            saved = events
# A likely typo in the timeline as stored (dates that cannot hold a course's sessions): said,
# never changed.
for note in session_notes(current if saved is None else saved):
    st.info(escape_markdown(note))

with st.expander("Import or export as CSV"):
    st.download_button(
        "Download timeline (CSV)",
        data=write_timeline_csv(current),
        file_name=f"{patient}-timeline.csv",
        mime="text/csv",
    )
    upload = (
        st.file_uploader("Add events from a CSV file", type=["csv"], key="timeline_csv")
        if may_edit
        else None
    )
    if upload is not None and st.button("Add events from this file"):
        try:
            events = read_timeline_csv(io.BytesIO(upload.getvalue()), name=upload.name)
            added = get_store().add_treatments(patient, events)
        except WoundtrackError as exc:
            st.error(escape_markdown(exc))
        else:
            after_write()
            st.success(f"{added} event(s) added; {len(events) - added} were already there.")
