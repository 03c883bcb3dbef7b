"""Reports: a patient's stored series and timeline -> healing figures per lesion.

Owns how the longitudinal figures are put together for people and programs (the ``healing``
command, the app, the printable report). Pure functions: stored rows in, a typed
:class:`HealingSummary` out (each lesion's :class:`~woundtrack.analysis.healing.HealingMetrics`);
:func:`healing_summary_json` turns it into the ``woundtrack healing --json`` document, only where
JSON is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from woundtrack.analysis.healing import (
    AreaPoint,
    HealingMetrics,
    healing_metrics,
    phases_from_courses,
)
from woundtrack.models import SeriesRow, TreatmentEvent, to_jsonable

#: Routine care, not a treatment whose effect on healing is compared.
_NOT_A_PHASE = {"dressing_change"}


def area_points(rows: Sequence[SeriesRow]) -> dict[str, list[AreaPoint]]:
    """Calibrated visits with a known date, per lesion (uncalibrated ones have no cm² to use)."""
    out: dict[str, list[AreaPoint]] = {}
    for r in rows:
        if r.wound_area_cm2 is None or r.taken_on is None:
            continue
        out.setdefault(r.lesion, []).append(
            AreaPoint(
                taken_on=r.taken_on,
                wound_area_cm2=r.wound_area_cm2,
                perimeter_cm=r.perimeter_cm,
                eschar_area_cm2=r.eschar_area_cm2,
                slough_area_cm2=r.slough_area_cm2,
                granulation_area_cm2=r.granulation_area_cm2,
                erythema_area_cm2=r.erythema_area_cm2,
            )
        )
    return out


def treatment_courses(events: Sequence[TreatmentEvent]) -> list[tuple[str, date, date | None]]:
    """(kind, start, end) of every course to compare healing before, during and after."""
    return [
        (e.kind, e.start_on, e.end_on) for e in events if e.is_course and e.kind not in _NOT_A_PHASE
    ]


#: Shown with every summary: what PAR at week 4 does and does not say.
PAR_NOTE = (
    "PAR at week 4 >= 50 % predicts healing of diabetic foot ulcers (Sheehan 2003); "
    "it is shown as a figure, not a verdict, and is unproven for calciphylaxis."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class HealingSummary:
    """Healing figures of one patient's lesions, as computed by :func:`healing_summary`.

    ``patient`` is the patient's code (``None`` when there was no row); ``lesions`` maps each
    lesion label with at least one calibrated, dated visit to its figures, in label order;
    ``skipped`` maps every other lesion label to a sentence saying why it has no figures;
    ``note`` is the caveat shown with the figures (:data:`PAR_NOTE`).
    """

    patient: str | None
    lesions: dict[str, HealingMetrics]
    skipped: dict[str, str]
    note: str


def healing_summary(
    rows: Sequence[SeriesRow], events: Sequence[TreatmentEvent], *, today: date | None = None
) -> HealingSummary:
    """Healing figures per lesion: :func:`~woundtrack.analysis.healing.healing_metrics` of each.

    Each lesion's calibrated, dated visits (:func:`area_points`) are analysed with the phases
    before, during and after each treatment course (:func:`treatment_courses`; routine dressing
    changes are not a phase). A lesion without such a visit is listed in ``skipped`` with the
    reason. ``today`` is the date the closure projection is made on: a projected closure that has
    passed without a visit since is not projected (it says so). Left out, each lesion's figures
    are as of its own last visit; a lesion photographed after ``today`` (a camera's clock ahead)
    counts from its last visit. Write it as JSON with :func:`healing_summary_json`.
    """
    phases = phases_from_courses(treatment_courses(events))
    lesions: dict[str, HealingMetrics] = {}
    skipped: dict[str, str] = {}
    points = area_points(rows)
    for lesion in sorted({r.lesion for r in rows}):
        series = points.get(lesion, [])
        if not series:
            skipped[lesion] = "no calibrated visit with a date: no cm² series to analyse"
            continue
        as_of = None if today is None else max(today, max(p.taken_on for p in series))
        lesions[lesion] = healing_metrics(series, phases=phases, today=as_of)
    return HealingSummary(
        patient=rows[0].patient if rows else None,
        lesions=lesions,
        skipped=skipped,
        note=PAR_NOTE,
    )


def healing_summary_json(summary: HealingSummary) -> dict[str, Any]:
    """The ``woundtrack healing --json`` document of a :class:`HealingSummary`.

    Top level: ``patient``, ``lesions``, ``skipped`` and ``note``. Each lesion has ``n_visits``,
    ``baseline_on``, ``baseline_area_cm2``, ``latest_on``, ``latest_area_cm2``,
    ``pct_area_reduction``, ``par_week4_pct``, ``gilman_cm_per_week``, ``exp_rate_per_week``,
    ``exp_rate_ci_per_week``, ``exp_r_squared``, ``pct_change_per_week``, ``half_life_days``,
    ``projected_closure_on`` (``projected``, ``earliest``, ``latest`` and ``refused_reason``),
    ``healed_on``, ``closed_at_last_visit``, ``reopened_on``, ``closed_below_cm2`` and ``phases``
    (rate before / during / after each treatment course). Dates are ISO text, tuples lists, and
    a non-finite number ``null``: the result goes straight to ``json.dumps``.
    """
    return to_jsonable(
        {
            "patient": summary.patient,
            "lesions": {lesion: _lesion_json(m) for lesion, m in summary.lesions.items()},
            "skipped": dict(summary.skipped),
            "note": summary.note,
        }
    )


def _lesion_json(m: HealingMetrics) -> dict[str, Any]:
    closure = m.closure
    return {
        "n_visits": m.n_visits,
        "baseline_on": m.baseline_on,
        "baseline_area_cm2": m.baseline_area_cm2,
        "latest_on": m.latest_on,
        "latest_area_cm2": m.latest_area_cm2,
        "pct_area_reduction": m.pct_area_reduction,
        "par_week4_pct": m.par_week4_pct,
        "gilman_cm_per_week": m.gilman_cm_per_week,
        "exp_rate_per_week": m.exp_rate_per_week,
        "exp_rate_ci_per_week": m.exp_rate_ci_per_week,
        "exp_r_squared": m.exp_r_squared,
        "pct_change_per_week": m.pct_change_per_week,
        "half_life_days": m.half_life_days,
        "projected_closure_on": {
            "projected": closure.projected_on,
            "earliest": closure.earliest_on,
            "latest": closure.latest_on,
            "refused_reason": closure.refused_reason,
        },
        "healed_on": m.healed_on,
        "closed_at_last_visit": m.closed_at_last_visit,
        "reopened_on": m.reopened_on,
        "closed_below_cm2": m.closed_below_cm2,
        "phases": [
            {
                "label": p.label,
                "start_on": p.start_on,
                "end_on": p.end_on,
                "n_visits": p.n_visits,
                "exp_rate_per_week": p.exp_rate_per_week,
                "pct_change_per_week": p.pct_change_per_week,
                "gilman_cm_per_week": p.gilman_cm_per_week,
            }
            for p in m.phases
        ],
    }
