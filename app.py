"""woundtrack's Streamlit app: the pages a wound-care team uses every day.

UI only. Run: ``streamlit run app.py``. Database: ``$WOUNDTRACK_DB``; without it, a separate
demo database with the synthetic patient DEMO-001.

Sign-in: with an ``[auth]`` section in ``.streamlit/secrets.toml`` (OpenID Connect, Streamlit's
``st.login``), nothing runs before the person signs in with the clinic's identity provider, and
their role in the database decides which pages they get. Without it the app is in local mode: one
person on this computer, no sign-in, and it refuses to run unless it answers on localhost only.
"""

from __future__ import annotations

import streamlit as st

from app_pages.shared import active_model, base_store, demo_mode, escape_markdown
from woundtrack.errors import WoundtrackError
from woundtrack.record import access

st.set_page_config(page_title="woundtrack", layout="wide")

LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all (StreamlitSecretNotFoundError)
        return False


def _signed_in_identity() -> tuple[str, str]:
    """(identity, how) of the person using the app; stops the run until they have signed in."""
    if _oidc_configured():
        if not st.user.is_logged_in:
            st.title("woundtrack")
            st.write("Sign in with your clinic account to see patients.")
            if st.button("Sign in", type="primary"):
                st.login()
            st.stop()
        email = st.user.get("email")
        if not email:
            st.error(
                "Your identity provider did not send an e-mail address, which woundtrack needs "
                "to know your role. Ask your administrator to release the 'email' claim."
            )
            st.button("Sign out", on_click=st.logout)
            st.stop()
        return str(email), "oidc"
    address = st.get_option("server.address")
    if address not in LOOPBACK:
        st.error(
            "woundtrack has no sign-in configured, so it only runs for one person on this "
            f"computer, but it is answering on {address or 'every network address'}. Start it "
            "with `streamlit run app.py --server.address localhost`, or configure sign-in "
            "(README, *Sign-in and roles*) before serving it to a network."
        )
        st.stop()
    return access.local_identity(), "local"


try:
    store = base_store()
except WoundtrackError as exc:
    st.error(escape_markdown(exc))
    st.stop()

who, how = _signed_in_identity()
try:
    role = store.as_actor(who).role()
except WoundtrackError as exc:
    st.error(escape_markdown(exc))
    if how == "oidc":
        st.button("Sign out", on_click=st.logout)
    st.stop()
st.session_state.identity, st.session_state.role = who, role
if st.session_state.get("signed_in_as") != who:
    problem = store.as_actor(who).record_event(
        "sign_in", detail={"mode": how, "role": role}, reading=True
    )
    st.session_state.signed_in_as = who
    if problem:
        st.sidebar.warning(escape_markdown(problem))

with st.sidebar:
    if how == "oidc":
        st.caption(f"Signed in as {escape_markdown(who)} ({role})")
        st.button("Sign out", on_click=st.logout)
    else:
        st.caption(
            f"Local mode: no sign-in; {escape_markdown(who)} has every right. This app answers "
            "on this computer only (localhost)."
        )
    if access.can(role, "upload"):
        st.caption(f"New photos are measured with the model **{escape_markdown(active_model())}**.")
    if demo_mode():
        st.info(
            "Demo database: the synthetic patient DEMO-001 only. Set WOUNDTRACK_DB to open "
            "your clinic's record."
        )

PAGES = [
    # (file, title, icon, permission)
    ("app_pages/healing.py", "Healing", ":material/show_chart:", "view_patients"),
    ("app_pages/upload.py", "Upload", ":material/upload:", "upload"),
    ("app_pages/review.py", "Review & correct", ":material/edit:", "view_patients"),
    ("app_pages/compare.py", "Compare visits", ":material/compare:", "view_patients"),
    ("app_pages/timeline.py", "Treatments", ":material/medication:", "view_patients"),
    ("app_pages/export.py", "Export & report", ":material/print:", "export"),
    ("app_pages/measure.py", "Measure one photo", ":material/straighten:", "upload"),
    ("app_pages/research.py", "Research", ":material/query_stats:", "pseudonymised_export"),
    ("app_pages/admin.py", "Users & audit", ":material/admin_panel_settings:", "manage_users"),
    ("app_pages/models.py", "Clinic model", ":material/model_training:", "manage_models"),
]
visible = [
    st.Page(path, title=title, icon=icon)
    for path, title, icon, permission in PAGES
    if access.can(role, permission)
]
st.navigation(visible).run()
