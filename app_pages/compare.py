"""App page: two visits of a patient side by side, on one scale and orientation, with the changes.

Both photos are put on the earlier visit's skin plane (``registration.register``: image features,
else the lesion constellation, else the stickers alone), shown as top views of the same size with
the same overlay colours, and every figure of every lesion is tabled for both visits with its
change. Photos without a calibration sticker cannot be registered and are shown as taken. UI only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from app_pages.shared import (
    current_analysis,
    escape_markdown,
    labels_of,
    legend_html,
    name_tags,
    patient_picker,
    photo,
    require,
    series,
    visits,
)
from woundtrack.errors import WoundtrackError
from woundtrack.image.editing import TopViews, draw_scale_bar, lesion_changes, registered_pair
from woundtrack.image.overlay import (
    close_up_view,
    enlarged,
    moved_tags,
    render_overlay,
    warped_tags,
)
from woundtrack.image.pipeline import outline_unsure
from woundtrack.image.registration import Registration, register
from woundtrack.models import Calibration

require("view_patients")

#: Unregistered close-ups are shown at this height (pixels) each, so they sit level.
_UNREGISTERED_HEIGHT_PX = 600
#: Registered top views are drawn at least this big (long side): a small wound's view (a few
#: hundred pixels at the photo's own detail) stretched by the browser blurred its outline and key.
_MIN_DISPLAY_SIDE_PX = 600


# ---------------------------------------------------------------------------- cached reads
@st.cache_data(show_spinner="Registering the two photos on the skin plane…", max_entries=8)
def _registered(
    visit_a: dict[str, Any], analysis_a: int, visit_b: dict[str, Any], analysis_b: int
) -> tuple[Registration, TopViews]:
    image_a = photo(visit_a["photo_sha256"], visit_a["file_name"])
    image_b = photo(visit_b["photo_sha256"], visit_b["file_name"])
    labels_a, labels_b = labels_of(analysis_a), labels_of(analysis_b)
    cal_a = current_analysis(visit_a["visit_id"]).calibration
    cal_b = current_analysis(visit_b["visit_id"]).calibration
    reg = register(image_a, cal_a, image_b, cal_b, baseline_labels=labels_a, follow_labels=labels_b)
    return reg, registered_pair(image_a, labels_a, cal_a, image_b, labels_b, reg)


# ---------------------------------------------------------------------------- helpers
def _when(visit: dict[str, Any]) -> str:
    return visit["taken_on"].isoformat() if visit["taken_on"] else "date unknown"


def _visit_label(visit: dict[str, Any], lesions_of: dict[int, list[str]]) -> str:
    """Its day, file and lesions: which wound a visit shows, where a patient has several."""
    lesions = ", ".join(lesions_of.get(visit["visit_id"], [])) or "no lesion"
    return " · ".join([_when(visit), visit["file_name"], lesions])


def _area_line(rows: list[Any]) -> str:
    areas = [r.wound_area_cm2 for r in rows]
    if rows and all(a is not None for a in areas):
        return f"wound {sum(areas):.2f} cm2 in {len(rows)} lesion(s)"
    return f"{len(rows)} lesion(s), no cm2 (not calibrated)" if rows else "no wound outlined"


def _same_height(image: np.ndarray, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    size = (max(1, round(w * height / h)), height)
    return np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))


def _number(value: float | None, *, share: bool, signed: bool = False) -> str:
    """A figure as shown in the table: cm and cm² to 0.01, shares of the bed to 0.1 point."""
    if value is None:
        return "–"
    text = f"{value:{'+' if signed else ''}.{1 if share else 2}f}"
    return f"{text} points" if share and signed else text


def _method_text(reg: Registration) -> tuple[str, str]:
    """(kind of message, text) saying what the registration rests on."""
    turn = f"the later photo turned {reg.rotation_deg:+.0f}° to match"
    if reg.method == "features":
        return "success", (
            f"Registered by **image features** of the skin and wounds: {reg.n_inliers} matching "
            f"points agree to {reg.residual_mm:.2f} mm (residual); {turn}."
        )
    if reg.method == "lesions":
        return "info", (
            f"Registered by the **lesion constellation**: {reg.n_inliers} lesions matched, "
            f"residual {reg.residual_mm:.1f} mm; {turn}. Too little skin texture matched to use "
            "image features."
        )
    if reg.method == "lesion-centre":
        return "info", (
            "Registered by the **wound's centre** (one wound in each photo): the later photo is "
            "moved so that the wound centres coincide; its rotation is the stickers', so it is "
            "right only if the sticker was stuck the same way round both times."
        )
    return "warning", (
        "Registered by the **stickers only** (sticker-only): the skin and lesions could not be "
        "matched, so the two views line up only if the sticker was stuck in the same place both "
        "times. Scale is right; position and orientation may be off."
    )


# ---------------------------------------------------------------------------- page
st.title("Compare visits")
st.caption("Two visits side by side, put on one scale and orientation, with every figure's change.")

patient = patient_picker()
if patient is None:
    st.stop()
opacity = st.sidebar.slider("Outline fill opacity", 0.0, 1.0, 0.35, 0.05, key="compare_opacity")

try:
    patient_visits = visits(patient)
    rows = series(patient)
except WoundtrackError as exc:
    st.error(escape_markdown(exc))
    st.stop()
if len(patient_visits) < 2:
    st.info(
        f"{escape_markdown(patient)} has {len(patient_visits)} visit(s): comparing needs two. "
        "Add photos on Upload."
    )
    st.stop()

by_id = {v["visit_id"]: v for v in patient_visits}
lesions_of: dict[int, list[str]] = {}
for r in rows:
    lesions_of.setdefault(r.visit_id, []).append(r.lesion)
sites = {r.lesion: r.body_site for r in rows}
known = sorted(sites)
if len(known) > 1:
    # A patient's wounds photographed one per photo: compare one wound's visits, not two wounds'
    latest = next((lesions_of[v][0] for v in reversed(by_id) if lesions_of.get(v)), known[0])
    if (  # first opened, another patient, or the lesion chosen was renamed or removed since
        st.session_state.get("compare_lesion_of") != patient
        or st.session_state.get("compare_lesion") not in [*known, None]
    ):
        st.session_state.compare_lesion, st.session_state.compare_lesion_of = latest, patient
    lesion = st.selectbox(
        "Lesion",
        [*known, None],
        format_func=lambda k: (
            "every visit" if k is None else " · ".join(filter(None, [k, sites[k]]))
        ),
        key="compare_lesion",
        help="The visits that show this lesion; every visit of the patient when none is chosen.",
    )
    if lesion is not None:
        by_id = {v: visit for v, visit in by_id.items() if lesion in lesions_of.get(v, [])}
        if len(by_id) < 2:
            st.info(
                f"{escape_markdown(lesion)} is in {len(by_id)} visit(s): comparing needs two. "
                "Choose another lesion, or every visit."
            )
            st.stop()
order = list(by_id)  # oldest first
for key, default in (("compare_a", order[-2]), ("compare_b", order[-1])):
    if st.session_state.get(key) not in by_id:
        st.session_state[key] = default
baseline_vs_latest = st.toggle(
    "Baseline vs latest", key="compare_baseline", help="The first visit against the latest one."
)
if baseline_vs_latest:
    st.session_state.compare_a, st.session_state.compare_b = order[0], order[-1]
col_a, col_b = st.columns(2)
pick_a = col_a.selectbox(
    "Earlier visit",
    order,
    format_func=lambda v: _visit_label(by_id[v], lesions_of),
    key="compare_a",
    disabled=baseline_vs_latest,
)
pick_b = col_b.selectbox(
    "Later visit",
    order,
    format_func=lambda v: _visit_label(by_id[v], lesions_of),
    key="compare_b",
    disabled=baseline_vs_latest,
)
if pick_a == pick_b:
    st.warning("Both sides show the same visit: choose two different visits.")
    st.stop()
# The earlier visit is always on the left and is the one the later is registered onto.
first, second = sorted((pick_a, pick_b), key=order.index)
visit_a, visit_b = by_id[first], by_id[second]
if (pick_a, pick_b) != (first, second):
    st.caption("The earlier of the two visits is shown on the left.")

try:
    info_a, info_b = current_analysis(first), current_analysis(second)
    analysis_a, record_a = info_a.analysis_id, info_a.record
    analysis_b, record_b = info_b.analysis_id, info_b.record
    cal_a: Calibration = Calibration.from_record(record_a)
    cal_b: Calibration = Calibration.from_record(record_b)
except (WoundtrackError, TypeError, ValueError) as exc:
    st.error(f"The record of these visits cannot be read: {escape_markdown(exc)}")
    st.stop()
rows_a = [r for r in rows if r.analysis_id == analysis_a]
rows_b = [r for r in rows if r.analysis_id == analysis_b]

days = (
    (visit_b["taken_on"] - visit_a["taken_on"]).days
    if visit_a["taken_on"] and visit_b["taken_on"]
    else None
)
m1, m2, m3 = st.columns(3)
m1.metric("Days between", "unknown" if days is None else f"{days} days")
total_a = sum(r.wound_area_cm2 for r in rows_a) if cal_a.calibrated else None
total_b = sum(r.wound_area_cm2 for r in rows_b) if cal_b.calibrated else None
if total_a is not None and total_b is not None:
    m2.metric("Wound area, earlier", f"{total_a:.2f} cm²")
    m3.metric(
        "Wound area, later",
        f"{total_b:.2f} cm²",
        delta=f"{total_b - total_a:+.2f} cm²"
        + (f" ({100 * (total_b - total_a) / total_a:+.0f} %)" if total_a else ""),
        delta_color="inverse",
    )
if days is None:
    st.caption("A photo has no capture date, so the days between cannot be given.")
unsure = [  # the shown wounds' outlines (a doubt is None once corrected)
    escape_markdown(visit["file_name"])
    for visit, shown in ((visit_a, rows_a), (visit_b, rows_b))
    if any(outline_unsure(r.outline_doubt) for r in shown)
]
if unsure:
    st.warning(
        f"The network was unsure of the automatic outline of {' and '.join(unsure)}: a change "
        "in area may be the outline's, not the wound's. Check it on Review & correct."
    )

lines_a = [f"{_when(visit_a)}  {visit_a['file_name']}", _area_line(rows_a)]
lines_b = [f"{_when(visit_b)}  {visit_b['file_name']}", _area_line(rows_b)]
registered = None
if cal_a.calibrated and cal_b.calibrated:
    try:
        registered = _registered(visit_a, analysis_a, visit_b, analysis_b)
    except (WoundtrackError, ValueError) as exc:
        st.error(
            f"The two photos could not be registered ({escape_markdown(exc)}); they are shown "
            "as taken."
        )
else:
    missing = [
        escape_markdown(v["file_name"])
        for v, c in ((visit_a, cal_a), (visit_b, cal_b))
        if not c.calibrated
    ]
    st.warning(
        f"{' and '.join(missing)} {'has' if len(missing) == 1 else 'have'} no calibration "
        "sticker, so the two photos cannot be put on one scale and orientation (registered) and "
        "no cm² can be compared. They are shown as taken, side by side: do not compare sizes by "
        "eye."
    )

if registered is not None:
    kind, text = _method_text(registered[0])
    getattr(st, kind)(text)
left, right = st.columns(2)
if registered is not None:
    _, views = registered
    mm_per_px = views.mm_per_px
    for column, top, lab, visit, role, record, shown_rows, to_top in (
        (
            left,
            views.baseline_top,
            views.baseline_top_labels,
            visit_a,
            "earlier",
            record_a,
            rows_a,
            views.baseline_to_top,
        ),
        (
            right,
            views.follow_top,
            views.follow_top_labels,
            visit_b,
            "later",
            record_b,
            rows_b,
            views.follow_to_top,
        ),
    ):
        # several lesions: each one's name beside it, where its photo lands in the view
        tags = warped_tags(name_tags(record, shown_rows), to_top)
        top, lab, grow = enlarged(top, lab, min_side_px=_MIN_DISPLAY_SIDE_PX)
        # the colour key is given once below both views, so it hides no skin
        drawn = render_overlay(
            top, lab, opacity=opacity, legend=False, tags=moved_tags(tags, 0, 0, grow)
        )
        shown = draw_scale_bar(drawn, mm_per_px=mm_per_px / grow, length_mm=10)
        column.image(
            shown,
            output_format="JPEG",
            caption=f"{escape_markdown(_visit_label(visit, lesions_of))} ({role}): top view of "
            f"the skin, detail {mm_per_px:.2f} mm per pixel",
            width="stretch",
        )
    st.markdown(legend_html(), unsafe_allow_html=True)
    st.caption(
        "Both views show the same patch of skin on the earlier photo's plane, square-on, at the "
        "same scale (white bar: 1 cm). Black: outside the photo. White line: edge of the wound "
        "bed."
    )
else:
    for column, visit, analysis_id, record, lines, shown_rows in (
        (left, visit_a, analysis_a, record_a, lines_a, rows_a),
        (right, visit_b, analysis_b, record_b, lines_b, rows_b),
    ):
        try:
            image = photo(visit["photo_sha256"], visit["file_name"])
            labels = labels_of(analysis_id)
        except WoundtrackError as exc:
            column.error(escape_markdown(exc))
            continue
        # several lesions: each one's name beside it, as the table below names them
        tags = name_tags(record, shown_rows) if labels.shape == image.shape[:2] else []
        close_up = close_up_view(image, labels, legend_lines=lines, opacity=opacity, tags=tags)
        column.image(
            _same_height(close_up, _UNREGISTERED_HEIGHT_PX),
            output_format="JPEG",
            caption=f"{escape_markdown(_visit_label(visit, lesions_of))}: close-up as taken "
            "(not registered)",
            width="stretch",
        )

st.subheader("Each lesion at both visits")
# Sizes of an uncalibrated photo are unknown: those rows are left out when neither visit has
# them. Tissue shares do not depend on scale and are always compared.
changes = [c for c in lesion_changes(rows_a, rows_b) if (c["before"], c["after"]) != (None, None)]
if not changes:
    st.info("Neither visit has an outlined wound.")
else:
    before_col, after_col = f"earlier ({_when(visit_a)})", f"later ({_when(visit_b)})"
    table = pd.DataFrame(
        [
            {
                "lesion": c["lesion"],
                "figure": f"{c['figure']} ({c['unit']})",
                before_col: _number(c["before"], share=c["unit"] == "%"),
                after_col: _number(c["after"], share=c["unit"] == "%"),
                "change": _number(c["change"], share=c["unit"] == "%", signed=True),
                "change %": "–" if c["change_pct"] is None else f"{c['change_pct']:+.0f} %",
            }
            for c in changes
        ]
    )
    right = st.column_config.TextColumn(alignment="right")
    st.dataframe(
        table,
        hide_index=True,
        height=38 + 35 * len(table),
        column_config={before_col: right, after_col: right, "change": right, "change %": right},
    )
    notes = [
        "Change % is relative to the earlier visit; shares of the wound bed change in percentage "
        "points. –: not known, or (change % of a share) not meaningful."
    ]
    if not (cal_a.calibrated and cal_b.calibrated):
        notes.append("Sizes are not compared: a photo without the sticker has no cm or cm².")
    new = sorted({r.lesion for r in rows_b} - {r.lesion for r in rows_a})
    gone = sorted({r.lesion for r in rows_a} - {r.lesion for r in rows_b})
    if new:
        notes.append(f"Only at the later visit: {escape_markdown(', '.join(new))}.")
    if gone:
        notes.append(
            "Only at the earlier visit (healed, or out of the photo): "
            f"{escape_markdown(', '.join(gone))}."
        )
    if days is not None:
        notes.append(f"The visits are {days} days ({days / 7:.1f} weeks) apart.")
    st.caption(" ".join(notes))
