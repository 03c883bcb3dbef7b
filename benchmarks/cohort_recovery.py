"""Does ``woundtrack cohort`` recover a synthetic cohort's known truth?

    python benchmarks/cohort_recovery.py [--seeds 50] [--patients 200] [--confounded | --late]

For each seed, a cohort from ``woundtrack.synthetic.cohort.synthetic_cohort`` (its docstring
states the model: Weibull times to closure with proportional hazards, hazard ratio 2 for sodium
thiosulfate; exponential shrinking of log-normal first areas; weekly visits; censoring at 12-40
weeks) is analysed with ``--by sodium_thiosulfate``. Printed per figure: the truth, the mean
estimate, and how often the 95 % interval held the truth (coverage; about 95 % is right, far less
means a biased estimate or too narrow an interval). Also the seconds per analysis.

``--confounded``: cohorts where a proximal lesion heals at 0.4 times the rate of a distal one and
80 % of the treated patients' lesions are proximal against 20 % of the others'
(``proximal_p=(0.8, 0.2)``); analysed with ``adjust_for_distribution``: the unadjusted hazard
ratio against the adjusted one (the truth is 2 at the same distribution) and proximal's own.

``--late``: ``late_treatment_cohort`` (300 patients): a treatment that does nothing (hazard
ratio 1), started at week 4-24 and only on a wound still open then; the hazard ratio of "ever
treated" against the landmark analysis at week 12 (``landmark_weeks=12``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from woundtrack.analysis.cohort import cohort_analysis  # noqa: E402
from woundtrack.synthetic.cohort import late_treatment_cohort, synthetic_cohort  # noqa: E402


def inside(ci, value) -> bool:
    low, high = ci
    return low is not None and low <= value and (high is None or value <= high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--confounded", action="store_true", help="see the docstring")
    parser.add_argument("--late", action="store_true", help="see the docstring")
    options = parser.parse_args()
    if options.confounded:
        return confounded(options.seeds, options.patients)
    if options.late:
        return late(options.seeds)
    rows: dict[str, list[tuple[float, bool]]] = {}
    truth = None
    seconds = []
    for seed in range(options.seeds):
        measurements, timeline, truth = synthetic_cohort(n_patients=options.patients, seed=seed)
        start = time.perf_counter()
        result = cohort_analysis(measurements, timeline, by="sodium_thiosulfate")
        seconds.append(time.perf_counter() - start)
        for group in ("with", "without"):
            g = result.groups[group]
            rows.setdefault(f"median weeks, {group}", []).append(
                (g.median_weeks_to_closure, inside(g.median_ci, truth.median_weeks[group]))
            )
            rows.setdefault(f"ln-area slope /week, {group}", []).append(
                (
                    g.log_area_slope_per_week,
                    inside(g.slope_ci, truth.log_area_slope_per_week[group]),
                )
            )
        rows.setdefault("hazard ratio", []).append(
            (result.hazard_ratio, inside(result.hazard_ratio_ci, truth.hazard_ratio))
        )
    true_values = {
        **{f"median weeks, {g}": truth.median_weeks[g] for g in ("with", "without")},
        **{
            f"ln-area slope /week, {g}": truth.log_area_slope_per_week[g]
            for g in ("with", "without")
        },
        "hazard ratio": truth.hazard_ratio,
    }
    print(
        f"{options.seeds} synthetic cohorts of {options.patients} patients "
        f"({np.mean(seconds):.2f} s per analysis)"
    )
    print_table("figure", rows, true_values, average=np.mean, digits=3)


def print_table(
    what: str,
    rows: dict[str, list[tuple[float | None, bool]]],
    truths: dict[str, float],
    *,
    average=np.median,
    digits: int = 2,
) -> None:
    """One row per figure: its truth, the average estimate over the cohorts, and in how many
    the 95 % interval held the truth."""
    label = "mean" if average is np.mean else "median"
    print(f"| {what} | truth | {label} estimate | 95 % interval holds the truth |")
    print("|---|---|---|---|")
    for name, values in rows.items():
        estimate = average([v for v, _ in values if v is not None])
        covered = sum(ok for _, ok in values)
        print(
            f"| {name} | {truths[name]:.{digits}f} | {estimate:.{digits}f} | "
            f"{covered}/{len(values)} ({100 * covered / len(values):.0f} %) |"
        )


def confounded(seeds: int, patients: int) -> None:
    proximal_hr = 0.4
    rows: dict[str, list[tuple[float, bool]]] = {}
    truths = {}
    seconds = []
    for seed in range(seeds):
        measurements, timeline, truth = synthetic_cohort(
            n_patients=patients,
            proximal_p=(0.8, 0.2),
            proximal_hazard_ratio=proximal_hr,
            seed=seed,
        )
        start = time.perf_counter()
        result = cohort_analysis(
            measurements, timeline, by="sodium_thiosulfate", adjust_for_distribution=True
        )
        seconds.append(time.perf_counter() - start)
        a = result.adjusted
        for name, value, ci, true in (
            ("hazard ratio, unadjusted", result.hazard_ratio, result.hazard_ratio_ci, 2.0),
            ("hazard ratio, adjusted for distribution", a.hazard_ratio, a.hazard_ratio_ci, 2.0),
            (
                "proximal against distal",
                a.proximal_hazard_ratio,
                a.proximal_hazard_ratio_ci,
                proximal_hr,
            ),
        ):
            rows.setdefault(name, []).append((value, inside(ci, true)))
            truths[name] = true
    print(
        f"{seeds} confounded synthetic cohorts of {patients} patients "
        f"({np.mean(seconds):.2f} s per analysis, both models)"
    )
    print_table("figure", rows, truths)


def late(seeds: int) -> None:
    rows: dict[str, list[tuple[float, bool]]] = {}
    for seed in range(seeds):
        measurements, timeline = late_treatment_cohort(seed=seed)
        for name, landmark in (("ever treated", None), ("landmark at week 12", 12.0)):
            result = cohort_analysis(
                measurements, timeline, by="hyperbaric_oxygen", landmark_weeks=landmark
            )
            covered = inside(result.hazard_ratio_ci, 1.0)
            rows.setdefault(name, []).append((result.hazard_ratio, covered))
    print(f"{seeds} synthetic cohorts of 300 patients, a late treatment that does nothing")
    print_table("hazard ratio", rows, dict.fromkeys(rows, 1.0))


if __name__ == "__main__":
    main()
