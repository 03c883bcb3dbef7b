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

from app_pages.shared import SAMPLES, escape_markdown, get_store, require
from woundtrack.errors import WoundtrackError
from woundtrack.models import normalise_kind

require("pseudonymised_export")

NO_SPLIT = "(all lesions together)"
DEMO_COHORT = SAMPLES / "demo_cohort"

st.title("Research")
st.write(
    "Every patient's measurements, pseudonymised: each patient is a subject (`S-…`, the same in "
    "every export of this database), dates are shifted by a per-patient offset (the intervals "
    "between visits are kept, and `day` counts from the first visit), the body site is only its "
    "coded region, side and distribution (proximal / distal), and there is no photo, file name, "
    "patient code, person's name or other text as typed."
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
RECORD, FILES, DEMO = "this record", "uploaded files", "the synthetic demo cohort"
sources = [RECORD, FILES, *([DEMO] if (DEMO_COHORT / "measurements.csv").exists() else [])]
source = st.radio("Cohort from", sources, horizontal=True, key="cohort_source")
if source == FILES:
    left, right = st.columns(2)
    upload_m = left.file_uploader(
        "Measurements (export CSV or Parquet: patient, lesion, taken_at, wound_area_cm2)",
        type=["csv", "parquet"],
        key="cohort_measurements",
    )
    upload_t = right.file_uploader(
        "Treatments (the treatment CSV with a patient column)",
        type=["csv", "parquet"],
        key="cohort_timeline",
    )
if source == DEMO:
    st.caption(
        "120 simulated patients (no photo, no real person; `scripts/make_demo_cohort.py`): "
        "closure times drawn with a true hazard ratio of 2 for sodium thiosulfate, true medians "
        "15 and 19 weeks; `reference.csv` beside them holds simulated ruler areas for the "
        "agreement below."
    )
if st.button("Analyse the cohort", key="cohort_load"):
    from woundtrack.analysis.tables import read_table, table_from_bytes
    from woundtrack.record.research import research_tables

    try:
        if source == RECORD:
            found = research_tables(get_store())
        elif source == DEMO:
            found = (
                read_table(DEMO_COHORT / "measurements.csv", what="measurements"),
                read_table(DEMO_COHORT / "timeline.csv", what="timeline"),
            )
        elif upload_m is None:
            raise WoundtrackError("choose the measurements file first")
        else:
            found = (
                table_from_bytes(upload_m.getvalue(), name=upload_m.name, what="measurements"),
                None
                if upload_t is None
                else table_from_bytes(upload_t.getvalue(), name=upload_t.name, what="timeline"),
            )
    except WoundtrackError as exc:
        st.error(escape_markdown(exc))
    else:
        st.session_state["cohort_tables"] = found
        st.session_state.pop("cohort_results", None)
tables = st.session_state.get("cohort_tables")
if tables is not None:
    from woundtrack.analysis.cohort import BY_DISTRIBUTION, cohort_analysis
    from woundtrack.present.research import (
        cohort_report_html,
        cohort_table,
        comparison_sentence,
        kaplan_meier_figure,
        model_versions,
        slope_figure,
    )

    measurements, timeline = tables
    kinds = (
        []
        if timeline is None or "kind" not in timeline
        else sorted({normalise_kind(str(k)) for k in timeline["kind"].dropna()})
    )
    by = st.selectbox(
        "Compare lesions",
        [NO_SPLIT, *kinds, BY_DISTRIBUTION],
        key="cohort_by",
        format_func=lambda option: (
            option
            if option == NO_SPLIT
            else "proximal against distal lesions (their body sites)"
            if option == BY_DISTRIBUTION
            else f"with and without {option}"
        ),
    )
    treatment = by not in (NO_SPLIT, BY_DISTRIBUTION)  # what only a treatment's split takes
    adjust = treatment and st.checkbox(
        "Also adjust the hazard ratio for each lesion's distribution (proximal / distal)",
        key="cohort_adjust",
        help="Proximal calciphylaxis (thighs, buttocks, trunk) heals worse than distal (below the "
        "knee or elbow). A second Cox model takes the lesion's distribution as a covariate, on "
        "the lesions whose body site says which.",
    )
    landmark = (
        st.number_input(
            "Landmark (weeks after each lesion's first visit; 0: none)",
            min_value=0.0,
            max_value=104.0,
            value=0.0,
            step=1.0,
            key="cohort_landmark",
            help="A treatment often starts weeks after the first visit, and only on a wound "
            "still open then: counted as 'with' from the start, it is credited with healing "
            "that came before it (immortal-time bias). With a landmark, only lesions still "
            "open then count, 'with' are those whose treatment had started by then, and times "
            "count from it.",
        )
        if treatment
        else 0.0
    )
    try:
        # computed once per table and choice of options: other widgets of the page, or going
        # back to options chosen before, rerun it without waiting
        done = st.session_state.setdefault("cohort_results", {})
        options = (by, adjust, landmark)
        if options in done:
            result = done[options]
        else:
            result = cohort_analysis(
                measurements,
                timeline,
                by=None if by == NO_SPLIT else by,
                adjust_for_distribution=adjust,
                landmark_weeks=landmark or None,
                measurements_name="the measurements",
                timeline_name="the treatments",
            )
            done[options] = result
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
            data=cohort_report_html(
                result,
                sources={"cohort from": source},
                model_versions=model_versions(measurements),
            ),
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
