"""woundtrack's Streamlit app: the pages a wound-care team uses every day.

UI only. Run: ``streamlit run app.py`` (database: ``$WOUNDTRACK_DB``, else an SQLite file in the
user data folder, created and seeded with the demo patient on first start).
"""

from __future__ import annotations

import streamlit as st

from app_pages.shared import escape_markdown, get_store
from woundtrack.errors import WoundtrackError

st.set_page_config(page_title="woundtrack", layout="wide")

try:
    get_store()
except WoundtrackError as exc:
    st.error(escape_markdown(exc))
    st.stop()

pages = st.navigation(
    [
        st.Page(
            "app_pages/healing.py", title="Healing", icon=":material/show_chart:", default=True
        ),
        st.Page("app_pages/upload.py", title="Upload", icon=":material/upload:"),
        st.Page("app_pages/review.py", title="Review & correct", icon=":material/edit:"),
        st.Page("app_pages/compare.py", title="Compare visits", icon=":material/compare:"),
        st.Page("app_pages/timeline.py", title="Treatments", icon=":material/medication:"),
        st.Page("app_pages/export.py", title="Export & report", icon=":material/print:"),
        st.Page("app_pages/measure.py", title="Measure one photo", icon=":material/straighten:"),
    ]
)
pages.run()
