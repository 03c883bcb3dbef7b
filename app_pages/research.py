"""App page (researchers): pseudonymised figures only. No photo and no patient code reaches it."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from app_pages.shared import escape_markdown, get_store, require
from woundtrack.errors import WoundtrackError

require("pseudonymised_export")

st.title("Research")
st.write(
    "Every patient's measurements, pseudonymised: each patient is a subject (`S-…`, the same in "
    "every export of this database), dates are shifted by a per-patient offset (the intervals "
    "between visits are kept, and `day` counts from the first visit), and there is no photo, "
    "file name, patient code or person's name. Cohort figures (healing time by treatment) are "
    "not built yet."
)
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
