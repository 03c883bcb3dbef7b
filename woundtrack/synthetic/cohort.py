"""A synthetic cohort with a known truth, for testing and benchmarking the cohort analysis.

The model (every figure below is a parameter of :func:`synthetic_cohort`):

- ``n_patients`` patients, half of them treated (a ``sodium_thiosulfate`` course in their
  timeline); each has one lesion, or two with probability ``second_lesion_p``;
- a lesion's first area ``A0`` is log-normal: ``ln A0 ~ Normal(ln_area0_mean, ln_area0_sd)``;
- its time to closure ``T`` (weeks) is Weibull with shape ``shape`` and scale ``scale_weeks``
  without the treatment, ``scale_weeks * hazard_ratio ** (-1 / shape)`` with it: with a common
  shape, Weibull times have proportional hazards, so the true hazard ratio of healing is exactly
  ``hazard_ratio``;
- between visits the area shrinks exponentially from ``A0`` to the closure threshold at ``T``:
  ``area(t) = A0 * exp(-k t)`` with ``k = ln(A0 / closed_below_cm2) / T``; from ``T`` on the
  wound is closed (area 0). Each open visit's area has multiplicative noise
  (``ln`` noise ``Normal(0, noise_sd)``);
- with ``proximal_p = (treated, untreated)``, each lesion is proximal with that probability (else
  distal; a ``distribution`` column), and a proximal lesion's scale is multiplied by
  ``proximal_hazard_ratio ** (-1 / shape)``: the true hazard ratio of the treatment *at the same
  distribution* is still ``hazard_ratio``, while the groups differ in their share of proximal
  lesions (confounding: the unadjusted comparison is biased). The other draws are unchanged, so
  a cohort without ``proximal_p`` is the same as before it existed;
- weekly visits from week 0 until the closure is confirmed (two closed visits) or the patient
  leaves follow-up at a week drawn uniformly from ``follow_up_weeks`` (censoring).

The truth (:class:`CohortTruth`): with weekly visits the closure is seen at the first visit at or
after ``T``, so the true median time to closure is ``ceil(scale * ln(2) ** (1 / shape))``
weeks (the defaults put both groups' continuous medians, 14.8 and 18.6 weeks, mid-way between
weekly visits, so that the weekly truth, 15 and 19, is not decided by a hair); the mean slope of
ln(area) per week is ``-E[ln(A0 / threshold)] * E[1 / T]``, with
``E[1 / T] = Gamma(1 - 1 / shape) / scale`` (shape > 1). With ``proximal_p`` the medians and
slopes of the truth are those of distal lesions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

__all__ = ["CohortTruth", "late_treatment_cohort", "synthetic_cohort"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CohortTruth:
    """The generating model's true figures per group (``with`` / ``without``)."""

    median_weeks: dict[str, float]
    log_area_slope_per_week: dict[str, float]
    hazard_ratio: float


def synthetic_cohort(
    *,
    n_patients: int = 200,
    hazard_ratio: float = 2.0,
    scale_weeks: float = 21.0,
    shape: float = 3.0,
    ln_area0_mean: float = math.log(4.0),
    ln_area0_sd: float = 0.5,
    noise_sd: float = 0.05,
    follow_up_weeks: tuple[int, int] = (12, 40),
    second_lesion_p: float = 0.2,
    closed_below_cm2: float = 0.1,
    start_on: date = date(2025, 1, 6),
    proximal_p: tuple[float, float] | None = None,
    proximal_hazard_ratio: float = 1.0,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, CohortTruth]:
    """``(measurements, timeline, truth)``: the measurements have the export CSV's columns
    ``patient, lesion, taken_at, wound_area_cm2`` (and ``distribution`` with ``proximal_p``);
    the timeline ``patient, kind, start_on, end_on``. Patients are ``P-0001``...; the first
    half are treated."""
    if shape <= 1:
        raise ValueError(f"shape must be above 1 (E[1/T] is infinite otherwise), got {shape}")
    rng = np.random.default_rng(seed)
    sites = np.random.default_rng([seed, 1])  # its own stream: the other draws stay the same
    rows, events = [], []
    for i in range(n_patients):
        patient = f"P-{i + 1:04d}"
        treated = i < n_patients // 2
        scale = scale_weeks * (hazard_ratio ** (-1 / shape) if treated else 1.0)
        first = start_on + timedelta(days=int(rng.integers(0, 365)))
        if treated:
            events.append(
                {
                    "patient": patient,
                    "kind": "sodium_thiosulfate",
                    "start_on": first.isoformat(),
                    "end_on": (first + timedelta(weeks=12)).isoformat(),
                }
            )
        leaves = int(rng.integers(follow_up_weeks[0], follow_up_weeks[1] + 1))
        for n in range(1 + int(rng.random() < second_lesion_p)):
            area0 = math.exp(rng.normal(ln_area0_mean, ln_area0_sd))
            proximal = proximal_p is not None and sites.random() < proximal_p[0 if treated else 1]
            site_scale = proximal_hazard_ratio ** (-1 / shape) if proximal else 1.0
            closes = scale * site_scale * rng.weibull(shape)
            rate = math.log(area0 / closed_below_cm2) / closes
            closed_visits = 0
            for week in range(leaves + 1):
                if week >= closes:
                    area = 0.0
                    closed_visits += 1
                else:
                    area = area0 * math.exp(-rate * week + rng.normal(0.0, noise_sd))
                row = {
                    "patient": patient,
                    "lesion": f"L{n + 1}",
                    "taken_at": (first + timedelta(weeks=week)).isoformat(),
                    "wound_area_cm2": round(area, 4),
                }
                if proximal_p is not None:
                    row["distribution"] = "proximal" if proximal else "distal"
                rows.append(row)
                if closed_visits == 2:
                    break
    mean_ln_ratio = ln_area0_mean - math.log(closed_below_cm2)
    truth = CohortTruth(
        median_weeks={
            g: float(math.ceil(s * math.log(2) ** (1 / shape)))
            for g, s in (
                ("with", scale_weeks * hazard_ratio ** (-1 / shape)),
                ("without", scale_weeks),
            )
        },
        log_area_slope_per_week={
            g: -mean_ln_ratio * math.gamma(1 - 1 / shape) / s
            for g, s in (
                ("with", scale_weeks * hazard_ratio ** (-1 / shape)),
                ("without", scale_weeks),
            )
        },
        hazard_ratio=hazard_ratio,
    )
    return pd.DataFrame(rows), pd.DataFrame(events), truth


def late_treatment_cohort(
    *,
    n_patients: int = 300,
    planned_p: float = 0.5,
    due_weeks: tuple[int, int] = (4, 24),
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(measurements, timeline)`` of a cohort where a treatment that does nothing (true hazard
    ratio 1) starts late, and only on a wound still open then: an immortal-time trap.

    The lesions are :func:`synthetic_cohort`'s with ``hazard_ratio=1`` (one per patient). A
    patient's treatment (``hyperbaric_oxygen``) is planned with probability ``planned_p`` for
    a week drawn from ``due_weeks``, and given only if the wound is open at that week's visit
    (a healed wound is not treated). "Ever treated" then holds the slow healers, and the
    treatment looks harmful; a landmark analysis does not credit it with what came before it.
    """
    measurements, _, _ = synthetic_cohort(
        n_patients=n_patients, hazard_ratio=1.0, second_lesion_p=0.0, seed=seed
    )
    rng = np.random.default_rng([seed, 2])
    events = []
    for patient, rows in measurements.groupby("patient", sort=True):
        days = pd.to_datetime(rows["taken_at"])
        due = days.min() + pd.Timedelta(weeks=int(rng.integers(due_weeks[0], due_weeks[1] + 1)))
        if rng.random() >= planned_p:
            continue
        seen = rows[days == due]
        if len(seen) and seen["wound_area_cm2"].iloc[0] > 0:  # open at the visit it was due
            events.append(
                {
                    "patient": patient,
                    "kind": "hyperbaric_oxygen",
                    "start_on": due.date().isoformat(),
                }
            )
    return measurements, pd.DataFrame(events, columns=["patient", "kind", "start_on"])
