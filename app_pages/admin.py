"""App page (admins): who may use woundtrack with which role, and the audit trail."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app_pages.shared import escape_markdown, get_store, require
from woundtrack.errors import WoundtrackError
from woundtrack.record.access import ROLES

require("manage_users")
store = get_store()

st.title("Users & audit")
st.subheader("Users")
users = store.users()
if users:
    st.dataframe(
        pd.DataFrame(
            [
                {"user": u.email, "role": u.role, "added by": u.added_by, "added": u.added_at}
                for u in users
            ]
        ),
        hide_index=True,
    )
else:
    st.warning(
        "No users yet: local mode, everyone who opens this database has every right. Add "
        "yourself as the first admin to end it."
    )
with st.form("add_user", clear_on_submit=True):
    c1, c2 = st.columns([3, 1])
    email = c1.text_input("E-mail address (as the identity provider sends it)")
    role = c2.selectbox("Role", ROLES, index=0)
    if st.form_submit_button("Add or change user"):
        try:
            info = store.add_user(email, role)
        except WoundtrackError as exc:
            st.error(escape_markdown(exc))
        else:
            st.success(f"{escape_markdown(info.email)} is now {info.role}.")
            st.rerun()
if users:
    c1, c2 = st.columns([3, 1])
    gone = c1.selectbox("Remove a user", [u.email for u in users], key="admin_remove")
    c2.write("")
    if c2.button("Remove", key="admin_remove_button"):
        try:
            store.remove_user(gone)
        except WoundtrackError as exc:
            st.error(escape_markdown(exc))
        else:
            st.success(f"{escape_markdown(gone)} removed (kept in the audit trail).")
            st.rerun()

st.subheader("Audit trail")
check = store.verify_audit()
if check.ok:
    st.success(
        f"Intact: {check.entries} entries, each chained to the one before. Newest hash "
        f"`{check.head_hash}` (keep it elsewhere to compare next time)."
    )
else:
    st.error(
        f"Broken at entry {check.first_bad_id}: {escape_markdown(check.problem)}. Someone changed "
        "the database outside woundtrack; restore a backup and find out who."
    )
entries = store.audit_entries()
st.dataframe(
    pd.DataFrame(
        [
            {
                "#": r.id,
                "when (UTC)": r.at[:19].replace("T", " "),
                "who": r.actor,
                "did": r.action,
                "patient": r.patient or "",
                "details": json.dumps(r.detail, ensure_ascii=False, sort_keys=True),
            }
            for r in reversed(entries[-500:])
        ],
        columns=["#", "when (UTC)", "who", "did", "patient", "details"],
    ),
    hide_index=True,
)
st.caption("The newest 500 entries; `woundtrack audit list` prints them all.")
