"""Reports: a patient's stored series and timeline -> healing figures per lesion, ready for JSON.

Owns how the longitudinal figures are put together for people and programs (the ``healing``
command, the app). Pure functions: stored rows in, plain dictionaries out.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def healing_summary(
    rows: Sequence[SeriesRow], events: Sequence[TreatmentEvent], *, today: date | None = None
) -> dict[str, Any]:
    """Healing figures per lesion (the ``woundtrack healing --json`` document).

    Each lesion has ``baseline_area_cm2``, ``latest_area_cm2``, ``pct_area_reduction``,
    ``par_week4_pct``, ``gilman_cm_per_week``, ``exp_rate_per_week``, ``half_life_days``,
    ``projected_closure_on`` (``projected``, ``earliest``, ``latest`` or ``refused_reason``),
    ``healed_on`` and ``phases`` (rate before / during / after each treatment course).
    """
    phases = phases_from_courses(treatment_courses(events))
    lesions: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    points = area_points(rows)
    for lesion in sorted({r.lesion for r in rows}):
        series = points.get(lesion, [])
        if not series:
            skipped[lesion] = "no calibrated visit with a date: no cm² series to analyse"
            continue
        lesions[lesion] = _lesion_figures(healing_metrics(series, phases=phases, today=today))
    return {
        "patient": rows[0].patient if rows else None,
        "lesions": lesions,
        "skipped": skipped,
        "note": "PAR at week 4 >= 50 % predicts healing of diabetic foot ulcers (Sheehan 2003); "
        "it is shown as a figure, not a verdict, and is unproven for calciphylaxis.",
    }


def _lesion_figures(m: HealingMetrics) -> dict[str, Any]:
    closure = m.closure
    return to_jsonable(
        {
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
    )
