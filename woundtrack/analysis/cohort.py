"""Cohort analysis: time to closure and healing rate across many patients' lesions.

The figures a study reports, from measurements and treatment timelines of many patients:

- **time to closure** per group, by Kaplan–Meier (lifelines): a lesion is *healed* on the date
  ``healing.healed_on`` gives (area at or below ``closed_below_cm2`` at two consecutive visits; the
  same definition as each lesion's healing figures), its time is the weeks from its first visit to
  that date; a lesion not yet healed is *censored* at its last visit. The median and its 95 %
  interval are lifelines' (``median_survival_times`` of the KM confidence band);
- **healing rate** per group: the slope of ln(wound area) per week from a linear mixed-effects
  model with a random intercept and a random slope per lesion (statsmodels ``MixedLM``,
  ``ln_area ~ weeks``, ``re_formula="~weeks"``, REML), fitted on the visits whose wound is open
  (area above ``closed_below_cm2``: ln 0 is undefined); a slope of -0.1 means the area shrinks by
  about 10 % a week;
- between the two groups of ``--by KIND``: the log-rank test's p-value (lifelines) and the Cox
  proportional-hazards ratio of healing, ``with`` against ``without`` (``proximal`` against
  ``distal`` with ``--by distribution``: the lesions split by where they are), with its 95 %
  interval (lifelines ``CoxPHFitter``, errors robust by patient: ``cluster_col``, since a
  patient's lesions are not independent). A hazard ratio above 1 means faster closure with the
  treatment (or proximal).

With ``adjust_for_distribution`` the hazard ratio is also given adjusted for where each lesion is
(a second Cox model with the lesion's calciphylaxis distribution, proximal or distal, as a
covariate, on the lesions whose site says which): proximal lesions heal worse, so a treatment
given more often to them looks worse than it is. The measurements' ``distribution`` column (the
research export's) is read, or their ``body_site`` coded (``woundtrack.body_sites``).

Groups: ``with`` holds the lesions of patients whose timeline has any event of that kind (at any
time; with ``landmark_weeks``, by that time after the lesion's first visit),
``without`` the others. Nothing here is hand-written statistics: every estimate, interval and
test is the library's. Inputs and outputs are pandas tables and plain values; no database, no
images.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from woundtrack.analysis.healing import (
    CI_LEVEL,
    CLOSED_BELOW_CM2,
    DAYS_PER_WEEK,
    AreaPoint,
    healed_on,
    prepare_series,
)
from woundtrack.body_sites import code_site
from woundtrack.errors import WoundtrackError
from woundtrack.models import normalise_kind

__all__ = [
    "ALL",
    "BY_DISTRIBUTION",
    "DISTAL",
    "PROXIMAL",
    "AdjustedFigures",
    "MEASUREMENT_COLUMNS",
    "TIMELINE_COLUMNS",
    "WITH",
    "WITHOUT",
    "CohortError",
    "CohortResult",
    "GroupFigures",
    "cohort_analysis",
    "lesion_table",
    "open_visit_table",
    "visit_table",
]

#: Group names: ``with`` / ``without`` the ``--by`` treatment; ``all`` when no ``--by`` is given.
WITH, WITHOUT, ALL = "with", "without", "all"
#: ``by`` this splits the lesions by where they are instead: ``proximal`` against ``distal``.
BY_DISTRIBUTION = "distribution"
PROXIMAL, DISTAL = "proximal", "distal"
#: Columns the measurements must have (the export CSV's; ``subject`` stands for ``patient`` and
#: ``taken_on_shifted`` for ``taken_at`` in a pseudonymised export). ``lesion`` may be left out:
#: each patient's rows are then one lesion, with a note.
MEASUREMENT_COLUMNS = ("patient", "lesion", "taken_at", "wound_area_cm2")
#: Columns of a cohort timeline: the treatment CSV's ``kind, start_on`` (``end_on`` and the
#: others optional) with the patient's code.
TIMELINE_COLUMNS = ("patient", "kind", "start_on")
#: Column names of a pseudonymised research export (``export --research``) read as their
#: counterparts: its subjects are the patients, its shifted dates the dates.
_ALIASES = {
    "subject": "patient",
    "taken_on_shifted": "taken_at",
    "taken_on": "taken_at",
    "start_on_shifted": "start_on",
    "end_on_shifted": "end_on",
}
#: A mixed model needs at least this many lesions with two or more open visits.
MIN_MODEL_LESIONS = 3


class CohortError(WoundtrackError, ValueError):
    """The measurements or timeline cannot be analysed (a missing column, no usable lesion)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupFigures:
    """One group's figures. ``None`` with a ``notes`` entry where a figure cannot be given."""

    name: str
    n_patients: int
    n_lesions: int
    n_healed: int
    median_weeks_to_closure: float | None
    median_ci: tuple[float | None, float | None] | None
    log_area_slope_per_week: float | None
    slope_ci: tuple[float, float] | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AdjustedFigures:
    """The Cox model of healing on the treatment and the lesion's distribution together."""

    hazard_ratio: float | None  # with against without, at the same distribution
    hazard_ratio_ci: tuple[float, float] | None
    proximal_hazard_ratio: float | None  # proximal against distal lesions, treatment held equal
    proximal_hazard_ratio_ci: tuple[float, float] | None
    n_lesions: int  # lesions with a distal or proximal site (the model's)
    n_proximal: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CohortResult:
    """The cohort's figures: per group, and between ``with`` and ``without`` when ``by`` is set."""

    by: str | None
    groups: dict[str, GroupFigures]
    logrank_p: float | None
    hazard_ratio: float | None
    hazard_ratio_ci: tuple[float, float] | None
    n_patients: int
    #: with ``adjust_for_distribution``: the hazard ratio adjusted for the lesions' distribution,
    #: proximal against distal's own, and the lesions that model read (a site saying which)
    adjusted: AdjustedFigures | None = None
    #: a landmark analysis at this many weeks (times count from it), or None
    landmark_weeks: float | None = None
    closed_below_cm2: float
    notes: tuple[str, ...]
    lesions: pd.DataFrame = field(repr=False, compare=False)
    open_visits: pd.DataFrame = field(repr=False, compare=False)
    survival: dict[str, pd.DataFrame] = field(repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The JSON object ``woundtrack cohort --json`` prints (keys as the issue names them)."""
        import lifelines
        import statsmodels

        from woundtrack import __version__

        return {
            "by": self.by,
            "groups": {
                name: {
                    "n_patients": g.n_patients,
                    "n_lesions": g.n_lesions,
                    "n_healed": g.n_healed,
                    "median_weeks_to_closure": g.median_weeks_to_closure,
                    "median_ci": _listed(g.median_ci),
                    "log_area_slope_per_week": g.log_area_slope_per_week,
                    "slope_ci": _listed(g.slope_ci),
                    "notes": list(g.notes),
                }
                for name, g in self.groups.items()
            },
            "logrank_p": self.logrank_p,
            "hazard_ratio": self.hazard_ratio,
            "hazard_ratio_ci": _listed(self.hazard_ratio_ci),
            "adjusted_for_distribution": None
            if self.adjusted is None
            else {
                "hazard_ratio": self.adjusted.hazard_ratio,
                "hazard_ratio_ci": _listed(self.adjusted.hazard_ratio_ci),
                "proximal_hazard_ratio": self.adjusted.proximal_hazard_ratio,
                "proximal_hazard_ratio_ci": _listed(self.adjusted.proximal_hazard_ratio_ci),
                "n_lesions": self.adjusted.n_lesions,
                "n_proximal": self.adjusted.n_proximal,
            },
            "n_patients": self.n_patients,
            "n_lesions": int(len(self.lesions)),
            "notes": list(self.notes),
            "options": {
                "by": self.by,
                "closed_below_cm2": self.closed_below_cm2,
                "landmark_weeks": self.landmark_weeks,
                "ci_level": CI_LEVEL,
                "closure": "area <= closed_below_cm2 at two consecutive visits (healing.healed_on)",
                "group_rule": "proximal / distal: the lesion's body site (distal: below the knee "
                "or elbow)"
                if self.by == BY_DISTRIBUTION
                else "with: the patient's timeline has an event of that kind",
                **(
                    {}
                    if self.adjusted is None
                    else {
                        "adjusted_model": "CoxPHFitter on with + proximal, lesions with a "
                        "distal or proximal site, errors robust by patient"
                    }
                ),
                "slope_model": "statsmodels MixedLM ln_area ~ weeks, random intercept and slope "
                "per lesion, REML, open visits only",
            },
            "versions": {
                "woundtrack": __version__,
                "lifelines": lifelines.__version__,
                "statsmodels": statsmodels.__version__,
            },
        }


def _listed(interval: tuple[float, float] | None) -> list[float] | None:
    return list(interval) if interval else None


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _renamed(frame: pd.DataFrame, required: tuple[str, ...], what: str) -> pd.DataFrame:
    frame = frame.rename(columns=lambda c: str(c).strip().lower())
    frame = frame.rename(columns={a: c for a, c in _ALIASES.items() if c not in frame.columns})
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise CohortError(
            f"{what}: no column {', '.join(missing)} (found {', '.join(map(str, frame.columns))});"
            f" it needs {', '.join(required)}"
        )
    return frame


def _day(value: Any) -> date | None:
    """The calendar day of a ``taken_at`` / ``start_on`` cell: ISO 8601 text (``2026-03-02``,
    ``2026-03-02T09:30:00+01:00``) or a date / timestamp value. Anything else is no date:
    ``06/01/2025`` is June in one country and January in another, and a number such as
    ``20260302`` would be read by pandas as nanoseconds of 1970."""
    if isinstance(value, pd.Timestamp):
        return None if value is pd.NaT else value.date()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.strip()).date()
    except ValueError:
        return None


def visit_table(
    measurements: pd.DataFrame,
    *,
    name: str = "measurements",
    area_column: str = "wound_area_cm2",
    no_area: str = "without a calibrated wound_area_cm2 left out (photos without a sticker have "
    "no area in cm²)",
) -> tuple[pd.DataFrame, list[str]]:
    """The usable visits: ``patient, lesion, taken_on, wound_area_cm2, distribution``, and a note
    per row left out (no date; no area, said as ``no_area``), naming the file and the row.
    ``area_column`` is the column read as ``wound_area_cm2`` (a reference's ``area_cm2``).
    ``distribution`` is ``distal``, ``proximal`` or empty: the ``distribution`` column, else the
    ``body_site`` column coded, else empty."""
    if area_column != "wound_area_cm2":
        measurements = measurements.rename(columns={area_column: "wound_area_cm2"})
    required = tuple(c for c in MEASUREMENT_COLUMNS if c != "lesion")
    frame = _renamed(measurements, required, name)
    notes: list[str] = []
    if "lesion" not in frame.columns:
        frame = frame.assign(lesion="")
        notes.append(f"{name}: no lesion column; each patient's rows are taken as one lesion")
    if "manifest_taken_at" in frame.columns:  # batch results: the manifest's date overrides EXIF
        frame["taken_at"] = frame["manifest_taken_at"].fillna(frame["taken_at"])
    days = frame["taken_at"].map(_day)
    area = pd.to_numeric(frame["wound_area_cm2"], errors="coerce")
    no_day = days.isna()
    missing_area = area.isna() | (area < 0)
    if no_day.any():
        notes.append(
            f"{name}: {int(no_day.sum())} rows without a readable taken_at date left out "
            f"(first: row {int(np.flatnonzero(no_day.to_numpy())[0]) + 2}); write dates as "
            "YYYY-MM-DD"
        )
    if (missing_area & ~no_day).any():
        notes.append(f"{name}: {int((missing_area & ~no_day).sum())} rows {no_area}")
    keep = ~no_day & ~missing_area
    visits = pd.DataFrame(
        {
            "patient": frame.loc[keep, "patient"].astype(str).str.strip(),
            "lesion": frame.loc[keep, "lesion"].fillna("").astype(str).str.strip(),
            "taken_on": days[keep],
            "wound_area_cm2": area[keep].astype(float),
            "distribution": _distribution(frame)[keep],
        }
    )
    return visits.reset_index(drop=True), notes


def _distribution(frame: pd.DataFrame) -> pd.Series:
    """Each row's ``distal`` / ``proximal`` / empty, from the ``distribution`` column or the
    ``body_site`` column coded."""
    if "distribution" in frame.columns:
        text = frame["distribution"].fillna("").astype(str).str.strip().str.casefold()
        return text.where(text.isin((DISTAL, PROXIMAL)), "")
    if "body_site" in frame.columns:
        sites = frame["body_site"].fillna("").astype(str)
        return sites.map(lambda site: code_site(site).distribution)
    return pd.Series("", index=frame.index)


def _first_starts(
    timeline: pd.DataFrame | None, by: str, patients: set[str], name: str
) -> tuple[dict[str, date | None], list[str]]:
    """Each treated patient's first day of the ``by`` treatment (None where no start date can
    be read), and notes."""
    notes: list[str] = []
    if timeline is None:
        raise CohortError(f"--by {by} needs a timeline (the treatments of each patient)")
    frame = _renamed(timeline, TIMELINE_COLUMNS, name)
    frame = frame.assign(
        patient=frame["patient"].astype(str).str.strip(),
        kind=frame["kind"].fillna("").astype(str).map(normalise_kind),
    )
    unknown = sorted(set(frame["patient"]) - patients)
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        notes.append(
            f"{name}: {len(unknown)} patients have treatments but no measurements ({shown}); "
            "their treatments are ignored. Check the patient codes match the measurements'"
        )
    kind = normalise_kind(by)
    events = frame[(frame["kind"] == kind) & frame["patient"].isin(patients)]
    starts: dict[str, date | None] = {}
    for patient, day in zip(events["patient"], events["start_on"].map(_day), strict=True):
        known = starts.get(patient)
        starts[patient] = day if known is None else min(known, day) if day else known
    if not (frame["kind"] == kind).any():
        kinds = ", ".join(sorted(set(frame["kind"]))[:10])
        notes.append(
            f"{name}: no event of kind {kind!r}; every lesion is in 'without' (kinds found: "
            f"{kinds})"
        )
    return starts, notes


def _landmarked(
    lesions: pd.DataFrame,
    visits: pd.DataFrame,
    starts: dict[str, date | None],
    landmark_weeks: float,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The lesions and visits of a landmark analysis at ``landmark_weeks``: only the lesions
    still open and followed at the landmark; ``with`` those whose patient started the treatment
    by then; times, first days and visits counted from the landmark."""
    landmark = pd.to_timedelta(landmark_weeks * DAYS_PER_WEEK, unit="D")
    at_risk = lesions[lesions["weeks"] > landmark_weeks].copy()
    gone = len(lesions) - len(at_risk)
    notes = [
        f"landmark at week {landmark_weeks:g}: times, medians and slopes count from it; "
        f"{_lesions(gone)} healed or left follow-up by then {'is' if gone == 1 else 'are'} "
        "left out"
    ]
    day = pd.to_datetime(at_risk["first_on"]) + landmark
    start = pd.to_datetime(at_risk["patient"].map(starts))
    treated = start.notna() & (start <= day)
    late = int((at_risk["patient"].isin(starts) & ~treated).sum())
    if late:
        notes.append(
            f"{_lesions(late)} whose treatment started after the landmark (or on no readable "
            "day) are in 'without', as a landmark analysis counts them"
        )
    at_risk["group"] = np.where(treated, WITH, WITHOUT)
    at_risk["weeks"] = at_risk["weeks"] - landmark_weeks
    at_risk["first_on"] = day.dt.date
    kept = visits.merge(at_risk[["patient", "lesion", "first_on"]], on=["patient", "lesion"])
    kept = kept[pd.to_datetime(kept["taken_on"]) >= pd.to_datetime(kept["first_on"])]
    return at_risk, kept.drop(columns="first_on"), notes


def lesion_table(
    visits: pd.DataFrame, *, closed_below_cm2: float = CLOSED_BELOW_CM2
) -> pd.DataFrame:
    """One row per lesion: ``patient, lesion, n_visits, first_on, last_on, healed_on, healed,
    weeks`` (to closure when healed, else to the last visit: censored), ``distribution`` (its
    visits' most common distal / proximal; empty when none says, or as many say each)."""
    rows = []
    if "distribution" not in visits.columns:
        visits = visits.assign(distribution="")
    for (patient, lesion), group in visits.groupby(["patient", "lesion"], sort=True):
        points = [
            AreaPoint(taken_on=d, wound_area_cm2=a)
            for d, a in zip(group["taken_on"], group["wound_area_cm2"], strict=True)
        ]
        series = prepare_series(points)
        first, last = series[0].taken_on, series[-1].taken_on
        healed = healed_on(series, closed_below_cm2=closed_below_cm2)
        end = healed or last
        rows.append(
            {
                "patient": patient,
                "lesion": lesion,
                "n_visits": len(series),
                "first_on": first,
                "last_on": last,
                "healed_on": healed,
                "healed": healed is not None,
                "weeks": (end - first).days / DAYS_PER_WEEK,
                "distribution": _most_common(group["distribution"]),
            }
        )
    columns = ["patient", "lesion", "n_visits", "first_on", "last_on", "healed_on", "healed"]
    return pd.DataFrame(rows, columns=[*columns, "weeks", "distribution"])


def _most_common(values: pd.Series) -> str:
    counts = values[values != ""].value_counts()
    if counts.empty or (len(counts) > 1 and counts.iloc[0] == counts.iloc[1]):
        return ""
    return str(counts.index[0])


# --------------------------------------------------------------------------------------------
# Estimates (every one from lifelines or statsmodels)
# --------------------------------------------------------------------------------------------


def _lesions(n: int) -> str:
    return f"{n} lesion" if n == 1 else f"{n} lesions"


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _kaplan_meier(lesions: pd.DataFrame, label: str):
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    kmf = KaplanMeierFitter(alpha=1 - CI_LEVEL, label=label)
    kmf.fit(lesions["weeks"], event_observed=lesions["healed"])
    median = _finite(kmf.median_survival_time_)
    low, high = median_survival_times(kmf.confidence_interval_).iloc[0]
    curve = pd.concat([kmf.survival_function_, kmf.confidence_interval_], axis=1)
    curve.columns = ["open", "open_low", "open_high"]
    curve.index.name = "weeks"
    return median, (_finite(low), _finite(high)), curve.reset_index()


def open_visit_table(
    visits: pd.DataFrame, lesions: pd.DataFrame, *, closed_below_cm2: float = CLOSED_BELOW_CM2
) -> pd.DataFrame:
    """The visits the healing-rate model reads: one per lesion and day (the mean of a day's
    areas), wound open (area above ``closed_below_cm2``), with ``weeks`` since the lesion's
    first visit, ``ln_area`` and the lesion's ``group``."""
    merged = visits.merge(
        lesions[["patient", "lesion", "first_on", "group"]], on=["patient", "lesion"]
    )
    merged = merged.groupby(["patient", "lesion", "taken_on"], as_index=False).agg(
        wound_area_cm2=("wound_area_cm2", "mean"),
        first_on=("first_on", "first"),
        group=("group", "first"),
    )
    open_ = merged[merged["wound_area_cm2"] > closed_below_cm2].copy()
    open_["weeks"] = (
        pd.to_datetime(open_["taken_on"]) - pd.to_datetime(open_["first_on"])
    ).dt.days / DAYS_PER_WEEK
    open_["ln_area"] = np.log(open_["wound_area_cm2"].astype(float))
    return open_.reset_index(drop=True)


def _mixed_slope(open_: pd.DataFrame) -> tuple[float | None, tuple[float, float] | None, list]:
    import statsmodels.formula.api as smf

    open_ = open_.assign(lesion_id=open_["patient"] + "\x1f" + open_["lesion"])
    counts = open_.groupby("lesion_id")["weeks"].transform("size")
    open_ = open_[counts >= 2]
    n = open_["lesion_id"].nunique()
    if n < MIN_MODEL_LESIONS:
        return (
            None,
            None,
            [
                f"slope not estimated: {_lesions(n)} with two or more open visits; the mixed "
                f"model needs {MIN_MODEL_LESIONS}"
            ],
        )
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = smf.mixedlm("ln_area ~ weeks", open_, groups="lesion_id", re_formula="~weeks")
        try:
            fit = model.fit(reml=True)
        except (np.linalg.LinAlgError, ValueError) as exc:
            return None, None, [f"slope not estimated: the mixed model failed ({exc})"]
    if any("converge" in str(w.message).lower() for w in caught) or not fit.converged:
        notes.append("the mixed model reported a convergence warning; read its slope with care")
    low, high = fit.conf_int(alpha=1 - CI_LEVEL).loc["weeks"]
    return float(fit.params["weeks"]), (float(low), float(high)), notes


def _group(
    name: str, lesions: pd.DataFrame, open_visits: pd.DataFrame
) -> tuple[GroupFigures, pd.DataFrame | None]:
    if lesions.empty:
        return (
            GroupFigures(
                name=name,
                n_patients=0,
                n_lesions=0,
                n_healed=0,
                median_weeks_to_closure=None,
                median_ci=None,
                log_area_slope_per_week=None,
                slope_ci=None,
                notes=(f"group {name!r} has no lesion: no figure for it",),
            ),
            None,
        )
    notes: list[str] = []
    median, ci, curve = _kaplan_meier(lesions, name)
    if median is None:
        notes.append(
            f"median time to closure not reached: fewer than half of the {_lesions(len(lesions))} "
            "healed within their follow-up"
        )
    slope, slope_ci, slope_notes = _mixed_slope(open_visits[open_visits["group"] == name])
    return (
        GroupFigures(
            name=name,
            n_patients=int(lesions["patient"].nunique()),
            n_lesions=int(len(lesions)),
            n_healed=int(lesions["healed"].sum()),
            median_weeks_to_closure=median,
            median_ci=ci,
            log_area_slope_per_week=slope,
            slope_ci=slope_ci,
            notes=tuple(notes + slope_notes),
        ),
        curve,
    )


def _fit_cox(lesions: pd.DataFrame, **covariates: pd.Series):
    """lifelines' Cox model of the lesions' healing (``weeks``, ``healed``) on ``covariates``
    (boolean columns), with errors robust by patient: a patient's lesions are not independent
    (``cluster_col``). Raises lifelines' ``ConvergenceError``."""
    from lifelines import CoxPHFitter

    data = pd.DataFrame(
        {
            "weeks": lesions["weeks"],
            "healed": lesions["healed"].astype(int),
            **{name: column.astype(int) for name, column in covariates.items()},
            "patient": lesions["patient"],
        }
    )
    cph = CoxPHFitter(alpha=1 - CI_LEVEL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cph.fit(data, duration_col="weeks", event_col="healed", cluster_col="patient")
    return cph


def _compare(
    lesions: pd.DataFrame, first: str, second: str
) -> tuple[float | None, float | None, tuple | None, list]:
    """The log-rank p-value and the Cox hazard ratio of healing, group ``first`` against group
    ``second`` (errors robust by patient)."""
    from lifelines.exceptions import ConvergenceError
    from lifelines.statistics import logrank_test

    lesions = lesions[lesions["group"].isin((first, second))]
    in_first = lesions["group"] == first
    a, b = lesions[in_first], lesions[~in_first]
    test = logrank_test(a["weeks"], b["weeks"], a["healed"], b["healed"])
    p = _finite(test.p_value)
    notes: list[str] = []
    try:
        cph = _fit_cox(lesions, first=in_first)
    except ConvergenceError as exc:
        return p, None, None, [f"hazard ratio not estimated: the Cox model failed ({exc})"]
    if not (a["healed"].any() and b["healed"].any()):
        notes.append("one group has no healed lesion: the hazard ratio is not meaningful")
        return p, None, None, notes
    return p, *_ratio(cph, "first"), notes


def _ratio(cph, name: str) -> tuple[float | None, tuple[float, float]]:
    """A fitted Cox model's hazard ratio of the covariate ``name`` and its 95 % interval."""
    low, high = np.exp(cph.confidence_intervals_.loc[name])
    return _finite(cph.hazard_ratios_[name]), (float(low), float(high))


def _adjusted(lesions: pd.DataFrame) -> tuple[AdjustedFigures | None, list[str]]:
    """The Cox model of healing on ``with`` and ``proximal`` together, on the lesions whose
    distribution is known (errors robust by patient, as the unadjusted one)."""
    from lifelines.exceptions import ConvergenceError

    known = lesions[lesions["distribution"].isin((DISTAL, PROXIMAL))]
    unknown = len(lesions) - len(known)
    notes = []
    if unknown:
        notes.append(
            f"{_lesions(unknown)} without a distal or proximal body site left out of the "
            "hazard ratio adjusted for distribution"
        )
    proximal = known["distribution"] == PROXIMAL
    treated = known["group"] == WITH
    if not (proximal.any() and (~proximal).any() and treated.any() and (~treated).any()):
        cells = {
            (t, p): int(((treated == t) & (proximal == p)).sum()) for t in (0, 1) for p in (0, 1)
        }
        return None, [
            *notes,
            "no hazard ratio adjusted for distribution: it needs distal and proximal lesions "
            "and lesions with and without the treatment among those with a known site (with: "
            f"{cells[1, 0]} distal, {cells[1, 1]} proximal; without: {cells[0, 0]} distal, "
            f"{cells[0, 1]} proximal)",
        ]
    try:
        cph = _fit_cox(known, **{WITH: treated, "proximal": proximal})
    except ConvergenceError as exc:
        return None, [*notes, f"adjusted hazard ratio not estimated: the Cox model failed ({exc})"]
    hazard_ratio, hazard_ratio_ci = _ratio(cph, WITH)
    proximal_ratio, proximal_ratio_ci = _ratio(cph, "proximal")
    return (
        AdjustedFigures(
            hazard_ratio=hazard_ratio,
            hazard_ratio_ci=hazard_ratio_ci,
            proximal_hazard_ratio=proximal_ratio,
            proximal_hazard_ratio_ci=proximal_ratio_ci,
            n_lesions=int(len(known)),
            n_proximal=int(proximal.sum()),
        ),
        notes,
    )


def cohort_analysis(
    measurements: pd.DataFrame,
    timeline: pd.DataFrame | None = None,
    *,
    by: str | None = None,
    adjust_for_distribution: bool = False,
    landmark_weeks: float | None = None,
    closed_below_cm2: float = CLOSED_BELOW_CM2,
    measurements_name: str = "measurements",
    timeline_name: str = "timeline",
) -> CohortResult:
    """Time to closure and healing rate, per group, and the comparison between groups.

    Parameters
    ----------
    measurements : DataFrame
        One row per lesion per visit: ``patient, lesion, taken_at, wound_area_cm2`` (the export
        CSV's columns; other columns are ignored). Rows without a date or a calibrated area are
        left out, with a note.
    timeline : DataFrame, optional
        Treatments: ``patient, kind, start_on`` (the treatment CSV with a patient column);
        needed with ``by``.
    by : str, optional
        A treatment kind (``sodium_thiosulfate``, ``HBOT``, ...): lesions are split into
        ``with`` and ``without`` it; or ``distribution``: into ``proximal`` and ``distal``
        lesions (by the ``distribution`` or ``body_site`` column; a lesion whose site says
        neither is in no group, with a note). Without it, one group ``all``.
    adjust_for_distribution : bool
        With ``by``: also the hazard ratio adjusted for the lesions' distribution (proximal or
        distal; see the module's docstring), in ``CohortResult.adjusted``.
    landmark_weeks : float, optional
        With a treatment ``by``: a landmark analysis. Only the lesions still open and followed
        this many weeks after their first visit count; ``with`` are those whose patient had
        started the treatment by then, and every time, median and slope counts from the
        landmark. A treatment started late is then never credited with healing that came
        before it (immortal-time bias).

    Raises
    ------
    CohortError
        A required column is missing, or no lesion has a usable visit.
    """
    visits, notes = visit_table(measurements, name=measurements_name)
    if visits.empty:
        raise CohortError(
            f"{measurements_name}: no row with a date and a calibrated wound_area_cm2; nothing to "
            "analyse"
        )
    lesions = lesion_table(visits, closed_below_cm2=closed_below_cm2)
    patients = set(lesions["patient"])
    by_distribution = by is not None and by.strip().casefold() == BY_DISTRIBUTION
    if by is None:
        lesions["group"] = ALL
        names = [ALL]
    elif by_distribution:
        lesions["group"] = lesions["distribution"]  # empty: in neither group
        names = [PROXIMAL, DISTAL]
        unknown = int((lesions["group"] == "").sum())
        if unknown:
            notes.append(
                f"{_lesions(unknown)} without a distal or proximal body site (the "
                "distribution or body_site column) are in neither group"
            )
    else:
        starts, timeline_notes = _first_starts(timeline, by, patients, timeline_name)
        notes.extend(timeline_notes)
        lesions["group"] = np.where(lesions["patient"].isin(starts), WITH, WITHOUT)
        names = [WITH, WITHOUT]
        if landmark_weeks is not None:
            lesions, visits, landmark_notes = _landmarked(lesions, visits, starts, landmark_weeks)
            notes.extend(landmark_notes)
    if by is None or by_distribution:  # what only a treatment's comparison takes
        if landmark_weeks is not None:
            notes.append("a landmark needs a treatment to compare (--by KIND); none was applied")
            landmark_weeks = None
        if adjust_for_distribution:
            notes.append(
                "the adjustment for distribution needs a treatment to compare (--by KIND)"
                if by is None
                else "the lesions are split by distribution already: nothing to adjust for"
            )
            adjust_for_distribution = False
    open_visits = open_visit_table(visits, lesions, closed_below_cm2=closed_below_cm2)
    groups: dict[str, GroupFigures] = {}
    survival: dict[str, pd.DataFrame] = {}
    for name in names:
        figures, curve = _group(name, lesions[lesions["group"] == name], open_visits)
        groups[name] = figures
        if curve is not None:
            survival[name] = curve
    logrank_p = hazard_ratio = hazard_ratio_ci = adjusted = None
    if by is not None:
        first, second = names
        if groups[first].n_lesions and groups[second].n_lesions:
            logrank_p, hazard_ratio, hazard_ratio_ci, compare_notes = _compare(
                lesions, first, second
            )
            notes.extend(compare_notes)
            if adjust_for_distribution:
                adjusted, adjusted_notes = _adjusted(lesions)
                notes.extend(adjusted_notes)
        else:
            empty = first if not groups[first].n_lesions else second
            notes.append(
                f"group {empty!r} is empty: no log-rank test or hazard ratio between groups"
            )
    return CohortResult(
        by=None if by is None else BY_DISTRIBUTION if by_distribution else normalise_kind(by),
        groups=groups,
        logrank_p=logrank_p,
        hazard_ratio=hazard_ratio,
        hazard_ratio_ci=hazard_ratio_ci,
        adjusted=adjusted,
        landmark_weeks=landmark_weeks,
        n_patients=len(patients),
        closed_below_cm2=closed_below_cm2,
        notes=tuple(notes),
        lesions=lesions,
        open_visits=open_visits,
        survival=survival,
    )
