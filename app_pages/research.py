"""App page (researchers): pseudonymised figures only. No photo and no patient code reaches it.

The cohort (Kaplan–Meier time to closure by treatment group, the healing-rate plot, the cohort
table and the HTML report) is computed from the record's pseudonymised tables; the agreement with
manual measures from two uploaded files. Every figure comes from ``woundtrack.analysis.cohort``,
``woundtrack.analysis.agreement`` and ``woundtrack.present.research``.
"""

from __future__ import annotations

import io
import json

import pandas as pd
import streamlit as st

from app_pages.shared import escape_markdown, get_store, require
from woundtrack.errors import WoundtrackError

require("pseudonymised_export")

NO_SPLIT = "(all lesions together)"

st.title("Research")
st.write(
    "Every patient's measurements, pseudonymised: each patient is a subject (`S-…`, the same in "
    "every export of this database), dates are shifted by a per-patient offset (the intervals "
    "between visits are kept, and `day` counts from the first visit), and there is no photo, "
    "file name, patient code or person's name."
)

# -- the pseudonymised export -------------------------------------------------------------------
if st.button("Prepare the pseudonymised export", type="primary"):
    try:
        text = get_store().pseudonymised_csv()
    except WoundtrackError as exc:
        st.error(escape_markdown(exc))
    else:
        frame = pd.read_csv(io.StringIO(text))
        st.caption(
            f"{frame['subject'].nunique()} subjects, "
            f"{frame.groupby(['subject', 'lesion']).ngroups} lesions, {len(frame)} measurements"
        )
        st.dataframe(frame.head(200), hide_index=True)
        st.download_button(
            "Download (CSV)",
            data=text,
            file_name="woundtrack-pseudonymised.csv",
            mime="text/csv",
        )
        st.caption(
            "For Parquet tables with their data dictionary: `woundtrack export --research --out "
            "DIR`."
        )

# -- the cohort ---------------------------------------------------------------------------------
st.header("Cohort: time to closure and healing rate")
st.caption(
    "Kaplan–Meier time to closure (closed at two consecutive visits; lesions not yet healed are "
    "censored at their last visit), the slope of ln(area) per week from a mixed-effects model "
    "(random intercept and slope per lesion), and between groups the log-rank test and the Cox "
    "hazard ratio of healing."
)
if st.button("Analyse the cohort", key="cohort_load"):
    try:
        rows, events = get_store().pseudonymised_tables()
    except WoundtrackError as exc:
        st.error(escape_markdown(exc))
    else:
        st.session_state["cohort_tables"] = (
            pd.DataFrame(rows, columns=["subject", "lesion", "taken_on_shifted", "wound_area_cm2"]),
            pd.DataFrame(events, columns=["subject", "kind", "start_on_shifted", "end_on_shifted"]),
        )
tables = st.session_state.get("cohort_tables")
if tables is not None:
    from woundtrack.analysis.cohort import cohort_analysis
    from woundtrack.present.research import (
        cohort_report_html,
        cohort_table,
        comparison_sentence,
        kaplan_meier_figure,
        slope_figure,
    )

    measurements, timeline = tables
    kinds = sorted(set(timeline["kind"]))
    by = st.selectbox("Compare lesions with and without", [NO_SPLIT, *kinds], key="cohort_by")
    try:
        result = cohort_analysis(
            measurements,
            timeline,
            by=None if by == NO_SPLIT else by,
            measurements_name="the record",
            timeline_name="the treatments",
        )
    except WoundtrackError as exc:
        st.error(escape_markdown(exc))
    else:
        st.dataframe(pd.DataFrame(cohort_table(result)), hide_index=True)
        if result.by is not None:
            st.write(comparison_sentence(result))
        for note in [*result.notes, *(n for g in result.groups.values() for n in g.notes)]:
            st.info(escape_markdown(note))
        st.plotly_chart(kaplan_meier_figure(result), width="stretch")
        st.plotly_chart(slope_figure(result), width="stretch")
        left, right = st.columns(2)
        left.download_button(
            "Download the report (HTML)",
            data=cohort_report_html(result, sources={"measurements": "the record"}),
            file_name="woundtrack-cohort.html",
            mime="text/html",
        )
        right.download_button(
            "Download the figures (JSON)",
            data=json.dumps(result.to_json(), indent=1),
            file_name="woundtrack-cohort.json",
            mime="application/json",
        )

# -- agreement with manual measures -------------------------------------------------------------
st.header("Agreement with manual measures")
st.caption(
    "ICC(2,1) and Bland–Altman of woundtrack's wound areas against areas measured by hand or "
    "another device. Give the measurements (the CSV of *Export & report* or `woundtrack export`) "
    "and the reference (CSV: patient, taken_at, area_cm2, and lesion where a patient has several)."
)
left, right = st.columns(2)
ours = left.file_uploader("woundtrack measurements", type=["csv", "parquet"], key="agree_ours")
theirs = right.file_uploader("Reference areas", type=["csv", "parquet"], key="agree_ref")
if ours is not None and theirs is not None:
    from woundtrack.analysis.agreement import agreement
    from woundtrack.analysis.tables import table_from_bytes
    from woundtrack.present.research import agreement_figure, agreement_sentence

    try:
        found = agreement(
            table_from_bytes(ours.getvalue(), name=ours.name, what="measurements"),
            table_from_bytes(theirs.getvalue(), name=theirs.name, what="reference"),
            measurements_name=ours.name,
            reference_name=theirs.name,
        )
    except WoundtrackError as exc:
        st.error(escape_markdown(exc))
    else:
        st.write(agreement_sentence(found))
        for note in found.notes:
            st.info(escape_markdown(note))
        st.plotly_chart(agreement_figure(found), width="stretch")
