"""App page: review a visit's outline, correct it by drawing, accept the correction, rename lesions.

The close-up is a Plotly figure of the photo whose data coordinates are the photo's pixel
coordinates; its lasso (``st.plotly_chart(on_select="rerun", selection_mode="lasso")``) returns
the drawn polygon, which ``woundtrack.image.editing`` paints into the label map. Drawn areas wait in
``st.session_state.review_drawn`` (photo pixels) until the person chooses a tissue and presses
Apply; applied edits stay in ``st.session_state.review_edits`` (per analysis) until accepted.
UI only; every figure comes from the library (``measure``, ``Store.correct``).
"""

from __future__ import annotations

import base64
import dataclasses
import io
from datetime import date
from typing import Any

import cv2
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from app_pages.shared import (
    after_write,
    allowed,
    current_analysis,
    escape_markdown,
    get_store,
    identity,
    labels_of,
    legend_html,
    lesion_sizes,
    patient_picker,
    photo,
    require,
    series,
    visits,
)
from woundtrack.errors import WoundtrackError
from woundtrack.image.editing import Edit, apply_edits, lasso_polygons
from woundtrack.image.io import EARLIEST_CAPTURE_ON, capture_date_problem
from woundtrack.image.lesion_matching import match_lesions, positions_of
from woundtrack.image.measure import measure
from woundtrack.image.overlay import (
    STICKER_COLOUR,
    Tag,
    enlarged,
    legend_lines,
    lesion_box_px,
    lesion_tags,
    moved_tags,
    render_overlay,
)
from woundtrack.image.pipeline import OUTLINE_DOUBT_WARNING, outline_unsure
from woundtrack.models import (
    BACKGROUND,
    ERYTHEMA,
    ESCHAR,
    GRANULATION,
    SLOUGH,
    Calibration,
    LesionMeasurement,
)
from woundtrack.present.tissue_note import tissue_note
from woundtrack.record.ingest import correct

require("view_patients")

#: What the tool picker offers.
TOOLS = {
    GRANULATION: "Granulation",
    SLOUGH: "Slough",
    ESCHAR: "Eschar",
    ERYTHEMA: "Erythema",
    BACKGROUND: "Erase (back to skin)",
}
#: The drawing close-up is sent to the browser at most this many pixels a side (a small one is
#: ``enlarged`` to at least ``overlay.CLOSE_UP_MIN_SIDE_PX``).
_DISPLAY_MAX_SIDE_PX = 1200
_CHART_WIDTH_PX = 520

# Session state, initialised here (pages share one session).
st.session_state.setdefault("review_edits", {})  # analysis id -> list[Edit], applied, not saved
st.session_state.setdefault("review_drawn", [])  # polygons (photo px) drawn, not yet applied
st.session_state.setdefault("review_chart_rev", 0)  # a new chart (no lasso left) after each edit
st.session_state.setdefault("review_flash", None)  # (kind, message) shown once after a rerun


# ---------------------------------------------------------------------------- cached reads
# ---------------------------------------------------------------------------- helpers
def _visit_label(visit: dict[str, Any], corrected_by: dict[int, str | None]) -> str:
    when = visit["taken_on"].isoformat() if visit["taken_on"] else "date unknown"
    text = f"{when} · {visit['file_name']}"
    if visit["visit_id"] in corrected_by:
        text += f" · corrected by {corrected_by[visit['visit_id']]}"
    return text


def _lesion_table(
    lesions: list[LesionMeasurement],
    names: dict[int, str],
    calibrated: bool,
    outline_by: str,
    doubts: dict[int, float | None] | None = None,
) -> pd.DataFrame:
    """One row per lesion; ``doubts`` (by lesion index): the network's doubt about each
    automatic outline, said where it is worth a warning."""
    rows = []
    for m in lesions:
        row: dict[str, Any] = {"lesion": names.get(m.index, f"#{m.index}")}
        row |= lesion_sizes(m, calibrated)
        row["eschar %"] = round(m.eschar_pct, 1)
        row["slough %"] = round(m.slough_pct, 1)
        row["granulation %"] = round(m.granulation_pct, 1)
        doubt = (doubts or {}).get(m.index)
        unsure = (
            f"; the network was unsure of it ({100 * doubt:.0f} %)" if outline_unsure(doubt) else ""
        )
        row["outline"] = outline_by + unsure
        rows.append(row)
    return pd.DataFrame(rows)


def _likely_names(
    new: list[LesionMeasurement],
    old: list[LesionMeasurement],
    names: dict[int, str],
    calibration: Calibration,
) -> dict[int, str]:
    """Name each re-measured lesion as saving will: matched to the stored lesions of the same
    photo as ``Store.correct`` matches them (``match_lesions`` with no alignment), with a '?'
    until saved; a lesion that matches none is ``new #index``."""
    known = [
        dataclasses.replace(p, key=names[int(p.key)])
        for p in positions_of(old, calibration)
        if names.get(int(p.key))  # a label stored empty (before labels were checked) is no key
    ]
    found = positions_of(new, calibration)
    matches = match_lesions(known, found, new_to_known=np.eye(3)) if known else {}
    return {
        m.index: f"{matches[str(m.index)]}?" if matches.get(str(m.index)) else f"new #{m.index}"
        for m in new
    }


def _close_up(
    image: np.ndarray,
    labels: np.ndarray,
    box: tuple[int, int, int, int],
    calibration: Calibration,
    opacity: float,
    tags: list[Tag],
) -> np.ndarray:
    """The overlay of the box, enlarged when small, without the colour key (shown beside it)."""
    y0, y1, x0, x1 = box
    crop, crop_labels, grow = enlarged(image[y0:y1, x0:x1], labels[y0:y1, x0:x1])
    out = render_overlay(
        crop, crop_labels, opacity=opacity, legend=False, tags=moved_tags(tags, x0, y0, grow)
    )
    if calibration.marker_corners_px is not None:
        corners = (np.asarray(calibration.marker_corners_px) - (x0 - 0.5, y0 - 0.5)) * grow - 0.5
        cv2.polylines(
            out,
            [np.round(corners * 4).astype(np.int32)],
            True,
            STICKER_COLOUR,
            max(2, round(max(out.shape[:2]) / 600)) + 1,
            cv2.LINE_AA,
            shift=2,
        )
    return out


def _drawing_figure(
    close_up: np.ndarray, box: tuple[int, int, int, int], revision: str
) -> go.Figure:
    """The close-up of ``box`` as a Plotly image whose data coordinates are photo pixels."""
    y0, y1, x0, x1 = box
    h, w = close_up.shape[:2]
    shrink = max(1.0, max(h, w) / _DISPLAY_MAX_SIDE_PX)
    shown = Image.fromarray(close_up)
    if shrink > 1.0:
        shown = shown.resize((max(1, round(w / shrink)), max(1, round(h / shrink))), Image.LANCZOS)
    buf = io.BytesIO()
    shown.save(buf, format="JPEG", quality=90)
    dx, dy = (x1 - x0) / shown.width, (y1 - y0) / shown.height
    fig = go.Figure(
        go.Image(
            source="data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii"),
            # Display pixel j covers photo x from x0 - 0.5 + j * dx: its centre is here.
            x0=x0 - 0.5 + dx / 2,
            y0=y0 - 0.5 + dy / 2,
            dx=dx,
            dy=dy,
            hoverinfo="skip",
        )
    )
    # Plotly offers its lasso button only for a selectable trace, and an image is not one: four
    # invisible points at the corners make the lasso available again after zooming.
    fig.add_trace(
        go.Scatter(
            x=[x0, x1 - 1, x1 - 1, x0],
            y=[y0, y0, y1 - 1, y1 - 1],
            mode="markers",
            marker=dict(opacity=0),
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.update_layout(
        dragmode="lasso",
        margin=dict(l=0, r=0, t=0, b=0),
        # The page column is about 520 px wide: fit the picture's shape, within bounds.
        height=int(np.clip(_CHART_WIDTH_PX * h / w, 360, 640)),
        uirevision=revision,
        newselection=dict(line=dict(color="white", width=2, dash="dot")),
    )
    fig.update_xaxes(visible=False, range=[x0 - 0.5, x1 - 0.5])
    fig.update_yaxes(visible=False, range=[y1 - 0.5, y0 - 0.5], scaleanchor="x")
    return fig


def _for_display(image: np.ndarray, max_side_px: int) -> np.ndarray:
    """The image shrunk to at most ``max_side_px`` a side: the browser shows it smaller anyway,
    and encoding and sending a full-size photo on every rerun is slow."""
    shrink = max(image.shape[:2]) / max_side_px
    if shrink <= 1:
        return image
    size = (max(1, round(image.shape[1] / shrink)), max(1, round(image.shape[0] / shrink)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


_CHANGE_WORDS = {
    "correct": "corrected the outline",
    "withdraw_correction": "withdrew a correction",
    "assign_lesion": "renamed a lesion",
    "remove_visit": "removed a visit",
    "remove_lesion": "removed a lesion",
    "set_capture_date": "fixed a capture date",
    "set_body_site": "set a lesion's body site",
    "measure_again": "measured a visit again",
    "replace_treatments": "edited the treatments",
    "undo": "undid",
}


def _change_text(change: dict[str, Any]) -> str:
    """One line for an edit: when, who, what, and whether it was undone."""
    what = _CHANGE_WORDS.get(change["kind"], change["kind"])
    if change["kind"] == "assign_lesion":
        what += f" ({change['before']['label']} → {change['after']['label']})"
    elif change["kind"] == "measure_again":
        what += f" ({change['before']['model_version']} → {change['after']['model_version']})"
    elif change["kind"] == "set_body_site":
        before = change["before"]["body_site"] or "none"
        what += f" ({change['before']['label']}: {before} → {change['after']['body_site']})"
    elif change["kind"] == "set_capture_date":
        what += f" ({change['before']['taken_on']} → {change['after']['taken_on']})"
    elif change["kind"] == "remove_lesion":
        what += f" ({change['before']['label']})"
    elif change["kind"] == "remove_visit":
        what += f" ({change['before']['file_name']})"
    elif change["kind"] == "undo":
        what += f" change #{change['undo_of']}"
    text = f"#{change['edit_id']} {change['at']:%Y-%m-%d %H:%M} UTC · {change['by']} {what}"
    return text + (" · undone" if change["undone_by"] is not None else "")


def _changed(write, message: str) -> None:
    """Make one undoable change, then show ``message`` after the rerun (or the error now)."""
    try:
        write()
    except WoundtrackError as exc:
        st.error(escape_markdown(exc))
        return
    after_write()
    _flash("success", message + ". It can be undone under Changes and undo.")
    st.rerun()


def _flash(kind: str, message: str) -> None:
    st.session_state.review_flash = (kind, message)


# Button callbacks run before the page, so the chart is drawn with the edit already applied.
def _apply(analysis_id: int, value: int) -> None:
    drawn = st.session_state.review_drawn
    if not drawn:
        _flash("warning", "Nothing is drawn yet: draw round an area on the close-up first.")
        return
    try:
        new = [Edit(polygon_px=tuple(map(tuple, p)), value=value) for p in drawn]
    except (TypeError, ValueError) as exc:
        _flash("warning", f"That outline cannot be used: {escape_markdown(exc)}.")
    else:
        st.session_state.review_edits.setdefault(analysis_id, []).extend(new)
    st.session_state.review_drawn = []
    st.session_state.review_chart_rev += 1


def _undo(analysis_id: int) -> None:
    edits = st.session_state.review_edits.get(analysis_id, [])
    if edits:
        edits.pop()
    st.session_state.review_drawn = []
    st.session_state.review_chart_rev += 1


def _discard(analysis_id: int) -> None:
    st.session_state.review_edits.pop(analysis_id, None)
    st.session_state.review_drawn = []
    st.session_state.review_chart_rev += 1


# ---------------------------------------------------------------------------- page
st.title("Review & correct")
st.caption(
    "Check the automatic outline of a visit's photo, correct it by drawing, and accept it. "
    "The automatic outline is always kept in the record beside a correction."
)

patient = patient_picker()
if patient is None:
    st.stop()
opacity = st.sidebar.slider("Outline fill opacity", 0.0, 1.0, 0.35, 0.05, key="review_opacity")

try:
    patient_visits = visits(patient)
    rows = series(patient)
except WoundtrackError as exc:
    st.error(escape_markdown(exc))
    st.stop()
if not patient_visits:
    st.info(f"{escape_markdown(patient)} has no photo yet: add one on the Upload page.")
    st.stop()

by_id = {v["visit_id"]: v for v in patient_visits}
corrected_by = {r.visit_id: r.corrected_by for r in rows if r.corrected}
if st.session_state.get("review_visit") not in by_id:
    # A widget's state is dropped when its options' labels change (a visit's label says who
    # corrected it), so the choice is also kept under a key of its own.
    kept = st.session_state.get("review_visit_kept")
    st.session_state.review_visit = kept if kept in by_id else patient_visits[-1]["visit_id"]
visit_id = st.selectbox(
    "Visit (date · photo)",
    list(by_id),
    format_func=lambda v: _visit_label(by_id[v], corrected_by),
    key="review_visit",
)
st.session_state.review_visit_kept = visit_id
visit = by_id[visit_id]

try:
    current = current_analysis(visit_id)
    image = photo(visit["photo_sha256"], visit["file_name"])
    stored = labels_of(current.analysis_id)
    calibration: Calibration = Calibration.from_record(current.record)
except (WoundtrackError, TypeError, ValueError) as exc:
    st.error(escape_markdown(f"{visit['file_name']}: cannot be shown for review: {exc}"))
    st.stop()
if stored.shape != image.shape[:2]:
    st.error(
        f"{escape_markdown(visit['file_name'])}: the stored outline ({stored.shape[1]}×"
        f"{stored.shape[0]}) does not fit the photo ({image.shape[1]}×{image.shape[0]}); "
        "re-import the photo"
    )
    st.stop()

analysis_id = current.analysis_id
edits: list[Edit] = st.session_state.review_edits.get(analysis_id, [])
working = apply_edits(stored, edits)
changed = bool(edits) and not np.array_equal(working, stored)
stored_lesions, _ = measure(stored, calibration)
lesions, totals = measure(working, calibration)
names = {r.lesion_index: r.lesion for r in rows if r.analysis_id == analysis_id}
outline_by = (
    f"corrected by {current.corrected_by}"
    if current.kind == "corrected"
    else f"automatic ({current.segmenter} v{current.model_version}, model "
    f"{current.record['provenance'].get('model_name') or 'shipped'})"
)

flash = st.session_state.review_flash
if flash:
    st.session_state.review_flash = None
    getattr(st, flash[0])(flash[1])

if current.kind == "corrected":
    st.info(
        f"This outline was corrected by **{escape_markdown(current.corrected_by)}**. The "
        "automatic outline "
        f"is kept in the record ({current.n_analyses} outlines stored for this photo)."
    )
if not calibration.calibrated:
    st.warning(
        "This photo has no calibration sticker: figures are in pixels only, and no cm² can be "
        "given. Corrections are still recorded."
    )
for warning in current.record.get("warnings", ()):
    if warning.startswith(OUTLINE_DOUBT_WARNING):  # said at import; this is where to act on it
        st.warning(escape_markdown(warning[0].upper() + warning[1:]))

# ---- the outline: drawing close-up and whole photo
# several lesions: "#2 L3", as the rename tools and the warnings name them (none while edits
# are pending: the drawn lesions are not yet the stored ones)
tags = (
    []
    if changed
    else lesion_tags(lesions, [f"#{m.index} {names.get(m.index, '')}".strip() for m in lesions])
)
overlay = render_overlay(
    image,
    working,
    calibration=calibration,
    legend_lines=legend_lines(totals, calibration),
    opacity=opacity,
    tags=tags,
)
# The chart's lasso arrives in its widget state before the page runs: read it first, so the
# tools (drawn before the chart, in the right-hand column) know what is drawn.
whole = bool(st.session_state.get("review_whole", False))
chart_key = f"review_chart_{analysis_id}_{st.session_state.review_chart_rev}_{int(whole)}"
drawn = lasso_polygons(st.session_state.get(chart_key))
if drawn:
    st.session_state.review_drawn = [list(p) for p in drawn]
n_drawn = len(st.session_state.review_drawn)

left, right = st.columns([3, 2], gap="medium")
with right:
    st.markdown("#### Correct the outline")
    st.markdown(
        "1. **Draw** round an area on the picture: hold the mouse button (or a finger) down, go "
        "round the area, let go.\n"
        "2. **Choose** what the area is and press **Apply**. Repeat for other areas."
    )
    value = st.radio(
        "The drawn area is",
        list(TOOLS),
        format_func=TOOLS.get,
        horizontal=True,
        key="review_tool",
    )
    st.button(
        f"Apply: {TOOLS[value].lower()}" + (f" ({n_drawn} areas)" if n_drawn > 1 else ""),
        type="primary",
        disabled=not n_drawn,
        on_click=_apply,
        args=(analysis_id, value),
        key="review_apply",
        help="Paints the area drawn on the picture with the chosen tissue.",
        width="stretch",
    )
    if n_drawn:
        st.caption(f"Drawn, not applied yet: {n_drawn} area{'s' if n_drawn > 1 else ''}.")
    else:
        st.caption("Nothing drawn yet.")
    undo_col, discard_col = st.columns(2)
    undo_col.button(
        "Undo last change",
        disabled=not edits,
        on_click=_undo,
        args=(analysis_id,),
        key="review_undo",
        width="stretch",
    )
    discard_col.button(
        "Discard all changes",
        disabled=not edits,
        on_click=_discard,
        args=(analysis_id,),
        key="review_discard",
        width="stretch",
    )
    if edits:
        st.caption(
            "Your changes, not saved yet: "
            + "; ".join(f"{i}. {e.action}" for i, e in enumerate(edits, start=1))
            + ". 3. Check the figures below, then **Accept correction**."
        )
    st.toggle(
        "Draw on the whole photo",
        key="review_whole",
        help="The picture on the left is a close-up of the outlined wounds with skin around "
        "them. Switch this on if a wound was missed outside it.",
    )
    st.image(
        _for_display(overlay, _DISPLAY_MAX_SIDE_PX),
        caption=f"{escape_markdown(visit['file_name'])}: the whole photo",
        width="stretch",
        output_format="JPEG",
    )
with left:
    union = ((stored > 0) | (working > 0)).astype(np.uint8)
    box = (0, image.shape[0], 0, image.shape[1]) if whole else lesion_box_px(union)
    st.plotly_chart(
        _drawing_figure(_close_up(image, working, box, calibration, opacity, tags), box, chart_key),
        key=chart_key,
        on_select="rerun",
        selection_mode="lasso",
        width="stretch",
        config={
            "displaylogo": False,
            "modeBarButtonsToRemove": ["select2d", "autoScale2d", "toImage"],
        },
    )
    st.markdown(legend_html(), unsafe_allow_html=True)
    st.caption(
        "Zoom and move with the magnifier and hand buttons at the top right of the picture; "
        "press the lasso button there to draw again."
        + (" **Showing your changes (not saved yet).**" if changed else "")
    )

# ---- the figures
st.subheader("Measurements")
calibrated = calibration.calibrated
if changed:
    now = sum((m.wound_area_cm2 or 0.0) for m in stored_lesions)
    after = totals.wound_area_cm2
    if calibrated and after is not None:
        st.metric(
            "Total wound area after your changes",
            f"{after:.2f} cm²",
            delta=f"{after - now:+.2f} cm² from the stored outline",
            delta_color="off",
        )
    st.markdown("**After your changes (not saved yet)**")
    table = _lesion_table(
        lesions,
        _likely_names(lesions, stored_lesions, names, calibration),
        calibrated,
        "your correction",
    )
    if table.empty:
        st.warning("No wound bed is left: the visit would be recorded with no lesion.")
    else:
        st.dataframe(table, hide_index=True)
    st.markdown("**Stored outline**")
doubts = {r.lesion_index: r.outline_doubt for r in rows if r.analysis_id == analysis_id}
stored_table = _lesion_table(stored_lesions, names, calibrated, outline_by, doubts)
if stored_table.empty:
    st.info("No wound was outlined in this photo. Draw round it to add one.")
else:
    st.dataframe(stored_table, hide_index=True)
    # the network's tissue shares: how far they can be trusted (a person's outline is their own)
    note = tissue_note(current.model_version) if current.kind != "corrected" else None
    if note:
        st.caption(escape_markdown(note))
if changed:
    st.caption("A '?' after a name: lesion names are matched again when the correction is saved.")

# ---- accepting
may_correct = allowed("correct")
by = identity()
st.subheader("Accept the correction")
if not may_correct:
    st.info("Your role can review outlines; a clinician or an admin accepts corrections.")
else:
    st.caption(f"Recorded as corrected by {escape_markdown(by)}, the person signed in.")
if may_correct and st.button(
    "Accept correction", type="primary", disabled=not edits, key="review_accept"
):
    if not changed:
        st.warning("Your changes leave the outline as it was, so there is nothing to save.")
    else:
        try:
            new_id = correct(get_store(), visit_id, working, by=by)
        except WoundtrackError as exc:
            st.error(escape_markdown(exc))
        else:
            after_write()
            st.session_state.review_edits.pop(analysis_id, None)
            st.session_state.review_drawn = []
            st.session_state.review_chart_rev += 1
            # The store files the corrected lesions again: say under which names.
            filed = sorted(
                (r.lesion_index, r.lesion) for r in series(patient) if r.analysis_id == new_id
            )
            _flash(
                "success",
                f"Correction by {escape_markdown(by)} saved for "
                f"{escape_markdown(visit['file_name'])}; the figures below are measured from it. "
                "The automatic outline is kept in the record too."
                + (
                    " Lesions are filed as "
                    + ", ".join(f"#{i} {escape_markdown(name)}" for i, name in filed)
                    + ": check the names under Lesion names."
                    if filed
                    else ""
                ),
            )
            st.rerun()
if not edits:
    st.caption("Apply at least one change to accept a correction.")

# ---- lesion identities
st.subheader("Lesion names")
visit_rows = sorted((r for r in rows if r.analysis_id == analysis_id), key=lambda r: r.lesion_index)
if not visit_rows:
    st.caption("This visit has no lesion to name.")
else:
    st.caption(
        "Lesions are matched across visits automatically. If a lesion of this photo was filed "
        "under the wrong name, give it the right one (a known lesion or a new name). The change "
        "is recorded with your name."
    )
    known = sorted({r.lesion for r in rows})
    NEW = "a new name…"
    c1, c2, c3 = st.columns([2, 2, 1])
    lesion_index = c1.selectbox(
        "Lesion of this photo",
        [r.lesion_index for r in visit_rows],
        format_func=lambda i: next(
            f"#{r.lesion_index}: now {r.lesion}"
            + (f", {r.wound_area_cm2:.2f} cm²" if r.wound_area_cm2 is not None else "")
            for r in visit_rows
            if r.lesion_index == i
        ),
        key="review_lesion_index",
    )
    target = c2.selectbox("Should be", [*known, NEW], key="review_lesion_target")
    if target == NEW:
        target = c2.text_input("New lesion name (e.g. L3)", key="review_lesion_new").strip()
    c3.write("")
    if c3.button("Rename lesion", key="review_rename", disabled=not may_correct):
        before = next(r.lesion for r in visit_rows if r.lesion_index == lesion_index)
        if not target:
            st.error("Give the lesion's new name.")
        elif target == before:
            st.warning(f"Lesion #{lesion_index} is already {escape_markdown(before)}.")
        else:
            try:
                get_store().assign_lesion(analysis_id, lesion_index, target, by=by)
            except WoundtrackError as exc:
                st.error(escape_markdown(exc))
            else:
                after_write()
                _flash(
                    "success",
                    f"Lesion #{lesion_index} of {escape_markdown(visit['file_name'])} is now "
                    f"{escape_markdown(target)} (was {escape_markdown(before)}); recorded as "
                    f"changed by {escape_markdown(by)}.",
                )
                st.rerun()
    # where the chosen lesion is: later photos given that site are matched against it
    chosen = next(r for r in visit_rows if r.lesion_index == lesion_index)
    s1, s2 = st.columns([4, 1])
    new_site = s1.text_input(
        f"Body site of {chosen.lesion}",
        value=chosen.body_site,
        key=f"review_site_{chosen.lesion}",
        help="Photos imported with this body site are matched only against the lesions there.",
    )
    s2.write("")
    if s2.button("Set body site", key="review_set_site", disabled=not may_correct):
        _changed(
            lambda: get_store().set_body_site(patient, chosen.lesion, new_site),
            f"{escape_markdown(chosen.lesion)} is at {escape_markdown(new_site) or 'no site'}",
        )

# ---- the visit itself: its date, or take it out; lesions drawn by mistake
if may_correct:
    st.subheader("Fix or remove")
    c1, c2, c3 = st.columns(3)
    new_day = c1.date_input(
        "Day the photo was taken",
        value=visit["taken_on"] or date.today(),
        min_value=EARLIEST_CAPTURE_ON,
        key=f"review_day_{visit_id}",
    )
    if c1.button("Save the date", key="review_day_save"):
        problem = capture_date_problem(new_day)
        if problem:
            st.error(escape_markdown(f"{visit['file_name']}: {problem}; nothing was saved"))
        else:
            _changed(lambda: get_store().set_capture_date(visit_id, new_day), "Date saved")
    if current.kind == "corrected" and c2.button("Withdraw this correction", key="review_withdraw"):
        _changed(
            lambda: get_store().withdraw_correction(current.analysis_id),
            "Correction withdrawn: the outline before it is current again",
        )
    if c3.button("Remove this visit from every figure", key="review_remove_visit"):
        _changed(
            lambda: get_store().remove_visit(visit_id),
            f"{escape_markdown(visit['file_name'])} is out of every figure",
        )
    known_lesions = sorted({r.lesion for r in rows})
    if known_lesions:
        c1, c2 = st.columns([2, 1])
        gone = c1.selectbox(
            "Remove a lesion (e.g. one drawn by mistake) from every figure",
            known_lesions,
            key="review_remove_lesion",
        )
        c2.write("")
        if c2.button("Remove lesion", key="review_remove_lesion_button"):
            _changed(
                lambda: get_store().remove_lesion(patient, gone),
                f"Lesion {escape_markdown(gone)} is out of every figure",
            )

# ---- history: every change to this patient's figures, each undoable
st.subheader("Changes and undo")
try:
    changes = get_store().edits(patient)
except WoundtrackError as exc:
    st.error(escape_markdown(exc))
    changes = []
if not changes:
    st.caption("No change has been made to this patient's figures yet.")
for change in changes[:30]:
    c1, c2 = st.columns([5, 1])
    c1.write(escape_markdown(_change_text(change)))
    if change["kind"] == "undo" or change["undone_by"] is not None or not may_correct:
        continue
    if c2.button("Undo", key=f"review_undo_edit_{change['edit_id']}"):
        _changed(
            lambda change=change: get_store().undo(change["edit_id"]),
            f"Undone: {escape_markdown(_change_text(change))}",
        )
