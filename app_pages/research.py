"""App page (researchers): what this role may see. No photo and no patient code reaches it."""

from __future__ import annotations

import streamlit as st

from app_pages.shared import require

require("pseudonymised_export")

st.title("Research")
st.write(
    "Researchers see pseudonymised cohort figures only: no photos, no patient codes, and dates "
    "shifted per patient. Cohort figures (healing time across patients, by treatment) are not "
    "in this version of woundtrack yet; until then, ask a clinician for an export."
)
