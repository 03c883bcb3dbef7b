"""App page: measure one photo (nothing stored) and see the outline and the numbers.

UI only; everything it shows is computed by the library (``woundtrack.image.pipeline``).
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app_pages.shared import (
    active_model,
    base_store,
    escape_markdown,
    lesion_sizes,
    require,
    warning_text,
)
from woundtrack import __version__
from woundtrack.errors import WoundtrackError
from woundtrack.image.calibration import NO_STICKER_WARNING
from woundtrack.image.io import read_photo
from woundtrack.image.overlay import legend_lines, lesion_tags, overlay_views
from woundtrack.image.pipeline import Analysis, analyze_image, outline_unsure
from woundtrack.image.segmentation import ERYTHEMA_MEANING
from woundtrack.present.tissue_note import tissue_note
from woundtrack.record import clinic_models

require("upload")


@st.cache_data(show_spinner=False, max_entries=32)
def _measure(data: bytes, name: str, marker_mm: float, mm_per_px: float | None, model: str):
    """Decode and analyse once per photo, settings and model (Streamlit hashes the bytes)."""
    image, info = read_photo(data, name=name)
    segmenter = clinic_models.segmenter_for(base_store(), model)
    return image, analyze_image(
        image, info, marker_mm=marker_mm, mm_per_px=mm_per_px, segmenter=segmenter
    )


def _lesion_table(analysis: Analysis) -> pd.DataFrame:
    calibrated = analysis.calibration.calibrated
    rows = []
    for m in analysis.lesions:
        row = {"lesion": m.index}
        if m.outline_doubt is not None:  # the learned segmenter's
            unsure = outline_unsure(m.outline_doubt)
            row["outline"] = f"unsure ({100 * m.outline_doubt:.0f} %)" if unsure else "sure"
        row |= lesion_sizes(m, calibrated)
        if calibrated:
            row["perimeter (cm)"] = None if m.perimeter_cm is None else round(m.perimeter_cm, 1)
        else:
            row["perimeter (px)"] = round(m.perimeter_px)
        row["eschar %"] = round(m.eschar_pct, 1)
        row["slough %"] = round(m.slough_pct, 1)
        row["granulation %"] = round(m.granulation_pct, 1)
        rows.append(row)
    return pd.DataFrame(rows)


st.title("Measure one photo")
st.caption(f"Calibrated wound measurements from dressing-change photos · version {__version__}")

with st.sidebar:
    marker_mm = st.number_input(
        "Sticker black square (mm)", min_value=1.0, max_value=200.0, value=20.0, step=0.5
    )
    use_manual = st.checkbox("Photo has a ruler but no sticker")
    mm_per_px = st.number_input(
        "Manual scale (mm per pixel)",
        min_value=0.001,
        value=0.1,
        step=0.01,
        format="%.4f",
        disabled=not use_manual,
    )
    opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.35, 0.05)

uploaded = st.file_uploader(
    "Wound photo with the calibration sticker beside the wound",
    type=["jpg", "jpeg", "png", "webp", "tif", "tiff", "heic", "heif"],
)
if uploaded is None:
    st.info(
        "Upload a photo (JPEG, PNG, WebP, TIFF or HEIC). Print stickers with `woundtrack sticker`."
    )
    st.stop()

data = uploaded.getvalue()
try:
    with st.spinner(f"Measuring {escape_markdown(uploaded.name)}…"):
        image, analysis = _measure(
            data,
            uploaded.name,
            float(marker_mm),
            float(mm_per_px) if use_manual else None,
            active_model(),
        )
except WoundtrackError as exc:
    st.error(escape_markdown(exc))
    st.stop()

totals = analysis.totals
if not analysis.calibration.calibrated:
    st.error(
        "NOT CALIBRATED — no sticker found. Areas are in pixels only; no cm² can be given. "
        "Retake the photo with the sticker beside the wound, or, for a photo with a ruler, tick "
        "'Photo has a ruler but no sticker' in the sidebar and give its scale."
    )
# (label, area, what it is): the help a clinician reads before trusting the figure
shown = (
    (
        "Wound area",
        "wound",
        "The wound bed (granulation, slough and eschar together), on the skin's plane: the "
        "sticker corrects the camera's angle. Without a sticker, pixels only.",
    ),
    ("Eschar", "eschar", "Black, brown or grey-black necrotic tissue in the bed."),
    ("Slough", "slough", "Yellow, white or grey fibrin in the bed."),
    ("Granulation", "granulation", "Red granulation tissue in the bed."),
    ("Erythema", "erythema", ERYTHEMA_MEANING),
)
for col, (label, name, what) in zip(st.columns(len(shown)), shown, strict=True):
    area_cm2 = getattr(totals, f"{name}_area_cm2")
    if area_cm2 is not None:
        col.metric(label, f"{area_cm2:.2f} cm²", help=what)
    else:
        col.metric(label, f"{getattr(totals, f'{name}_area_px')} px", help=what)

note = tissue_note(analysis.provenance.model_version)
if note:
    st.caption(escape_markdown(note))

for warning in analysis.warnings:
    if warning != NO_STICKER_WARNING:  # said above, in red
        st.warning(warning_text(uploaded.name, warning))

close_up_view, whole_view = overlay_views(
    image,
    analysis.labels,
    calibration=analysis.calibration,
    legend_lines=legend_lines(totals, analysis.calibration),
    opacity=opacity,
    tags=lesion_tags(analysis.lesions),  # several lesions: their numbers, as the table's
)
close_up, whole = st.columns(2)
close_up.image(close_up_view, caption="Close-up of the wound(s)", width="stretch")
whole.image(
    whole_view,
    caption=f"{escape_markdown(uploaded.name)}: wound bed outlined in white",
    width="stretch",
)

st.subheader("Lesions")
st.dataframe(_lesion_table(analysis), hide_index=True)
st.subheader("Traceability")
cal = analysis.calibration
st.markdown(
    f"- photo sha256 `{analysis.photo.sha256[:16]}…`\n"
    f"- taken at: {analysis.photo.taken_at or 'unknown (no EXIF date)'}\n"
    f"- calibration: {cal.method}"
    + (
        f", sticker id {cal.marker_id}, {cal.marker_mm:g} mm, tilt {cal.tilt_deg:.0f}°"
        if cal.method == "aruco"
        else ""
    )
    + (f", {analysis.mm_per_px:.3f} mm/px at the wound" if analysis.mm_per_px else "")
    + (
        f", areas ±{analysis.area_uncertainty_pct:.1f} % (estimate)"
        if analysis.area_uncertainty_pct
        else ""
    )
    + f"\n- segmenter: {analysis.provenance.segmenter} v{analysis.provenance.model_version}"
    f" (model {escape_markdown(analysis.provenance.model_name)})"
    f"\n- woundtrack {analysis.provenance.woundtrack_version}"
    "; outline not corrected by a person"
)
st.download_button(
    "Download measurements (JSON)",
    data=json.dumps(analysis.to_record(), indent=2),
    file_name=f"{uploaded.name}.json",
    mime="application/json",
)
