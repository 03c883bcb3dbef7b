"""Healing page: one lesion's areas over time against the treatments, and its healing figures.

UI only: the figures come from ``woundtrack.analysis.report.healing_summary``, the chart and
the phase table from ``woundtrack.present.charts``.
"""

from __future__ import annotations

from datetime import date

import streamlit as st

from app_pages.shared import (
    active_model,
    after_write,
    allowed,
    demo_mode,
    escape_markdown,
    get_store,
    patient_picker,
    require,
    series,
    treatments,
)
from woundtrack.analysis.report import HealingSummary, healing_summary
from woundtrack.errors import WoundtrackError
from woundtrack.image.segmentation import ERYTHEMA_MEANING
from woundtrack.present.charts import (
    erythema_text,
    headline_figures,
    healing_figure,
    model_version_note,
    phase_table_shown,
)
from woundtrack.present.tissue_note import tissue_notes
from woundtrack.record.ingest import MeasuredAgain, measure_again

require("view_patients")


#: A lesion whose latest photo is older than this is shown as "Area on <date>", not "Area now".
LATEST_IS_NOW_DAYS = 14


@st.cache_data(show_spinner=False)
def summary_of(patient: str, as_of: date | None) -> HealingSummary:
    """Healing figures of every lesion of ``patient`` as of ``as_of`` (None: each lesion's last
    visit); cleared with the other reads on writes."""
    return healing_summary(series(patient), treatments(patient), today=as_of)


def _measured_again_text(done: MeasuredAgain, model: str) -> str:
    parts = [f"{len(done.measured)} visit(s) measured again with the model {model}"]
    if done.corrected:
        parts.append(f"{len(done.corrected)} kept as a person corrected them")
    if done.unchanged:
        parts.append(f"{len(done.unchanged)} measured by it already")
    return "; ".join(parts) + ". Each can be undone on the Review page (Changes and undo)."


st.title("Healing")
patient = patient_picker()
if patient is None:
    st.stop()
for kind, message in st.session_state.pop("healing_flash", []):
    getattr(st, kind)(message)

try:
    rows = series(patient)
    events = treatments(patient)
    # A clinic's record is read as of today: a projected closure that passed unseen is said, not
    # shown as a forecast. The demo is a record of spring 2026, read as of its last visit.
    today = date.today()
    as_of = None if demo_mode() else today
    summary = summary_of(patient, as_of)
except WoundtrackError as exc:
    st.error(escape_markdown(exc))
    st.stop()

lesions = summary.lesions
if not rows:
    st.error(
        f"{escape_markdown(patient)} has no measured visit yet: import a photo of the wound with "
        "the calibration sticker on the Upload page."
    )
    st.stop()
if not lesions:
    st.error(
        f"{escape_markdown(patient)} has no calibrated visit, so there is no area in cm² to follow "
        "over time. Photograph the wound with the calibration sticker flat on the skin beside it "
        "and import the new photo on the Upload page."
    )
    st.stop()

for lesion, reason in summary.skipped.items():
    st.warning(f"Lesion {escape_markdown(lesion)} is not shown: {reason}.")

labels = list(lesions)
sites = {r.lesion: r.body_site for r in rows}
lesion = st.selectbox(
    "Lesion",
    labels,
    format_func=lambda k: f"{k} · {sites[k]}" if sites.get(k) else k,
    key="healing_lesion",
)
metrics = lesions[lesion]
text = {name: (value, detail) for name, value, detail in headline_figures(metrics)}

latest, baseline = metrics.latest_area_cm2, metrics.baseline_area_cm2
top, bottom = st.columns(3), st.columns(3)
recent = as_of is None or (today - metrics.latest_on).days <= LATEST_IS_NOW_DAYS
top[0].metric(
    "Area now" if recent else f"Area on {metrics.latest_on.isoformat()}",
    f"{latest:.2f} cm²",
    delta=f"{latest - baseline:+.2f} cm²",  # an ASCII sign: Streamlit reads it for the arrow
    delta_color="inverse",  # a smaller wound is the good direction
    delta_description=f"vs baseline ({metrics.baseline_on.isoformat()})",
    help=f"Latest visit {metrics.latest_on.isoformat()}; baseline {baseline:.2f} cm² on "
    f"{metrics.baseline_on.isoformat()}.",
)
for col, name, label in (
    (top[1], "Area reduction", "Area reduction"),
    (top[2], "PAR at week 4", "PAR week 4"),
    (bottom[0], "Rate", "Rate"),
    (bottom[1], "Half-life", "Half-life"),
):
    value, detail = text[name]
    col.metric(label, value, help=detail)
closure = metrics.closure
healed = metrics.healed_on
if healed is not None:
    bottom[2].metric("Healed on", healed.isoformat(), help=text["Healed on"][1])
elif closure.projected_on is not None:
    bottom[2].metric(
        "Projected closure",
        closure.projected_on.isoformat(),
        delta=f"95 % interval {closure.earliest_on} – {closure.latest_on}",
        delta_color="off",
        delta_arrow="off",
        help=f"When the fitted exponential falls to {metrics.closed_below_cm2:g} cm², assuming "
        "the current rate holds.",
    )
else:
    bottom[2].metric("Projected closure", "—")
if healed is None and closure.refused_reason:
    st.info(f"No closure date projected: {closure.refused_reason}")
if as_of is None:
    st.caption(
        f"Demo: the figures are as of the demo's last visit ({metrics.latest_on.isoformat()}); "
        "a clinic's record is read as of today."
    )
if metrics.closed_at_last_visit:
    st.info("Closed at the last visit, awaiting confirmation at the next one.")

st.plotly_chart(
    healing_figure(rows, events, lesion=lesion, summary=metrics, today=date.today()),
    width="stretch",
    config={"displaylogo": False},
)
erythema = erythema_text(rows, lesion)
if erythema:
    st.caption(escape_markdown(erythema), help=ERYTHEMA_MEANING)
for note in tissue_notes(r.model_version for r in rows if r.lesion == lesion):
    st.caption(escape_markdown(note))
note = model_version_note(rows, lesion)
if note:
    st.warning(escape_markdown(note))
    model = active_model()
    if allowed("correct") and st.button(
        f"Measure {patient}'s visits again with the model in use ({model})",
        key="healing_measure_again",
        help="Each visit not measured by this model gets a new automatic analysis (the old one "
        "is kept); a person's correction is kept as it is.",
    ):
        bar = st.progress(0.0, text="Measuring the photos again…")
        done = measure_again(
            get_store(),
            patient,
            progress=lambda n, total: bar.progress(n / total, text=f"{n} of {total} visits"),
        )
        bar.empty()
        after_write()
        flash = [("success", escape_markdown(_measured_again_text(done, model)))]
        flash += [("error", escape_markdown(problem)) for problem in done.failed]
        st.session_state.healing_flash = flash
        st.rerun()
st.caption(
    "PAR ≥ 50 % at week 4 predicted healing of diabetic foot ulcers (Sheehan et al., Diabetes "
    "Care 2003). It is shown as a figure, not a verdict: it is unproven for calciphylaxis."
)

st.subheader("Healing rate by treatment phase")
table = phase_table_shown(metrics)  # "—" where a phase has too few visits for a rate
if table:
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(
        "Area change per week from an exponential fit to the visits inside each phase (negative "
        "= shrinking); Gilman's rate is how far the edge advanced, cm per week. Phases of "
        "overlapping courses overlap."
    )
else:
    st.caption("No treatment course recorded: add courses on the Treatments page to compare.")
