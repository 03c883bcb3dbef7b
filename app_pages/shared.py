"""What the app's pages share: the database, who is signed in and their role, the chosen patient,
cached reads, and ``escape_markdown`` for every piece of user text a page shows.

UI glue only; every figure comes from the ``woundtrack`` library.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from woundtrack.image.io import read_photo
from woundtrack.image.overlay import PALETTE, STICKER_COLOUR, Tag
from woundtrack.models import LABEL_NAMES, AnalysisInfo, LesionMeasurement
from woundtrack.record import access, db
from woundtrack.record.demo import demo_db_url, seed_demo
from woundtrack.record.ingest import stored_labels
from woundtrack.record.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
#: Characters that start Markdown (or Streamlit's LaTeX ``$``, HTML ``<``, entities ``&``)
#: anywhere in a line.
_MARKDOWN_INLINE = re.compile(r"([\\`*_{}\[\]()#+!|<>~$&])")
#: What starts a list at the beginning of the text: ``-``, or a number before ``.``.
_LIST_START = re.compile(r"^(\s*)(?:-|(\d+)\.)")


def escape_markdown(text: object) -> str:
    r"""``text`` escaped so that Streamlit shows it as typed, never as Markdown.

    For every piece of user text a page shows in anything that renders Markdown
    (``st.markdown``, ``st.write``, ``st.caption``, ``st.info``/``warning``/``error``/``success``,
    image captions, spinner and progress texts, widget and button labels): patient codes, lesion
    labels, body sites, file names, who corrected an outline, treatment text, and error messages,
    which name such things. Streamlit has no escape of its own. Every character that starts
    inline Markdown, HTML, LaTeX (``$``) or an entity (``&``) gets a backslash, so an upload
    named ``![t](http://host/t.png)`` is shown as those characters and nothing is fetched; so
    does a ``-`` or ``1.`` at the start (a list). Line breaks become spaces.

    Examples
    --------
    >>> print(escape_markdown("![t](http://x/t.png) **bold**"))
    \!\[t\]\(http://x/t.png\) \*\*bold\*\*
    """
    one_line = re.sub(r"\s*[\r\n]+\s*", " ", str(text))
    escaped = _MARKDOWN_INLINE.sub(r"\\\1", one_line)
    return _LIST_START.sub(lambda m: f"{m[1]}{m[2]}\\." if m[2] else f"{m[1]}\\-", escaped)


def warning_text(file: str, warning: str) -> str:
    """A photo's warning as a page shows it, escaped: "file: what", the file named once (the
    photo reader's notes already start with it, the measurement's do not)."""
    prefix = f"{file}: "
    return escape_markdown(warning if warning.startswith(prefix) else prefix + warning)


def name_tags(record: dict[str, Any], rows: list) -> list[Tag]:
    """The lesions of a stored photo of several, each tagged on its overlay with its name ("L2",
    from the photo's ``SeriesRow``s) at its box in the analysis ``record`` (as measured, not
    measured again), as the page's text names them; none for one lesion."""
    if len(rows) < 2:
        return []
    names = {r.lesion_index: r.lesion for r in rows}
    return [
        Tag(names.get(m["index"], f"#{m['index']}"), tuple(float(v) for v in m["bbox_px"]))
        for m in record.get("lesions") or []
    ]


def lesion_sizes(m: LesionMeasurement, calibrated: bool) -> dict[str, object]:
    """A lesion's sizes as a table row shows them: cm² (to 0.01, 1 mm²) and cm when the photo is
    calibrated, pixels when it is not (never an empty cm² column beside a photo without one); the
    erythema's reach from the wound's edge beside its area."""
    if not calibrated:
        return {
            "wound area (px)": m.wound_area_px,
            "eschar (px)": m.eschar_area_px,
            "erythema (px)": m.erythema_area_px,
            "erythema reach (px)": round(m.erythema_reach_px),
            "length × width (px)": f"{m.length_px:.0f} × {m.width_px:.0f}",
        }

    def cm2(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {
        "wound area (cm²)": cm2(m.wound_area_cm2),
        "eschar (cm²)": cm2(m.eschar_area_cm2),
        "erythema (cm²)": cm2(m.erythema_area_cm2),
        "erythema reach (cm)": None
        if m.erythema_reach_cm is None
        else round(m.erythema_reach_cm, 1),
        "length × width (cm)": None
        if m.length_cm is None
        else f"{m.length_cm:.1f} × {m.width_cm:.1f}",
    }


def legend_html() -> str:
    """The overlay's colour key with its exact colours (swatches, not emoji: fonts vary), for
    ``st.markdown(..., unsafe_allow_html=True)`` beside pictures drawn without their key."""
    entries = [(LABEL_NAMES[k], c) for k, c in PALETTE.items()]
    entries += [("sticker", STICKER_COLOUR), ("edge of the wound bed", (255, 255, 255))]
    return " &nbsp; ".join(
        f'<span style="display:inline-block;width:0.9em;height:0.9em;background:rgb{c};'
        f'border:1px solid #555;vertical-align:middle"></span> {name}'
        for name, c in entries
    )


def demo_mode() -> bool:
    """True when no database is configured (no ``$WOUNDTRACK_DB``): the app then opens the
    separate demo database, seeded with the synthetic patient DEMO-001; a clinic's database is
    never seeded."""
    return not os.environ.get(db.DB_ENV, "").strip()


@st.cache_resource(show_spinner="Opening the database…")
def base_store() -> Store:
    """One store per app process: ``$WOUNDTRACK_DB``, else the demo database (seeded with the
    demo patient when empty).

    The app writes (uploads, corrections, treatments), so it may create a new database; only the
    user data folder (woundtrack's own) is created by itself. A database that is not
    woundtrack's, or a ``$WOUNDTRACK_DB`` in a folder that does not exist, is a ``StoreError``
    that ``app.py`` shows as one line."""
    if not demo_mode():
        return Store(create=True)
    store = Store(demo_db_url(), create=True, actor="os:woundtrack-demo")
    seed_demo(store, SAMPLES)
    return store


def identity() -> str:
    """Who is signed in (set by ``app.py`` before any page runs)."""
    return st.session_state["identity"]


def role() -> str:
    return st.session_state["role"]


def allowed(permission: str) -> bool:
    """Whether the signed-in person's role has ``permission`` (see ``woundtrack.record.access``)."""
    return access.can(role(), permission)


def require(permission: str) -> None:
    """Stop the page, saying why, unless the signed-in role has ``permission``."""
    if not allowed(permission):
        st.error(f"Your role ({role()}) cannot use this page. Ask an administrator if you need it.")
        st.stop()


def get_store() -> Store:
    """The store, acting as the signed-in person: every write is checked against their role
    and recorded in the audit trail under their name."""
    return base_store().as_actor(identity())


@st.cache_data(show_spinner=False)
def active_model() -> str:
    """The name of the model that measures new photos (cleared by ``after_write``)."""
    return base_store().active_model()


def after_write() -> None:
    """Forget cached reads after anything was written."""
    st.cache_data.clear()


@st.cache_data(show_spinner=False)
def series(patient: str):
    return get_store().series(patient)


@st.cache_data(show_spinner=False)
def treatments(patient: str):
    return get_store().treatments(patient)


@st.cache_data(show_spinner=False)
def patients() -> list[str]:
    return get_store().patients()


@st.cache_data(show_spinner=False)
def visits(patient: str) -> list[dict]:
    return get_store().visits(patient)


@st.cache_data(show_spinner="Loading the photo…", max_entries=16)
def photo(sha256: str, name: str) -> np.ndarray:
    image, _ = read_photo(get_store().photo_bytes(sha256), name=name)
    return image


@st.cache_data(show_spinner=False, max_entries=32)
def labels_of(analysis_id: int) -> np.ndarray:
    return stored_labels(get_store(), analysis_id)


@st.cache_data(show_spinner=False)
def current_analysis(visit_id: int) -> AnalysisInfo:
    """The visit's current analysis (newest correction, else the automatic one)."""
    return get_store().current_analysis(visit_id)


def _remember_patient() -> None:
    st.session_state.chosen_patient = st.session_state.patient


def patient_picker() -> str | None:
    """The patient chosen in the sidebar, kept across pages.

    Each page draws its own selectbox, and Streamlit forgets a widget's value when a page
    without it runs; so the choice is also kept under a plain key, ``chosen_patient``.
    """
    codes = patients()
    if not codes:
        st.sidebar.info("No patient yet: import photos on the Upload page.")
        return None
    chosen = st.session_state.get("chosen_patient")
    if chosen not in codes:
        chosen = codes[0]
    st.session_state.chosen_patient = chosen
    st.session_state.patient = chosen
    picked = st.sidebar.selectbox("Patient", codes, key="patient", on_change=_remember_patient)
    _record_view(picked)
    return picked


def _record_view(patient: str | None) -> None:
    """A view of a patient goes into the audit trail once per sign-in and patient."""
    seen = st.session_state.setdefault("viewed_patients", set())
    if patient is None or patient in seen:
        return
    problem = get_store().record_event(
        "view", patient=patient, permission="view_patients", reading=True
    )
    if problem:
        st.sidebar.warning(escape_markdown(problem))
    seen.add(patient)
