"""Healing analytics: wound areas over time -> PAR, Gilman rate, exponential fit, projection.

Owns every longitudinal figure shown about one lesion: the percentage area reduction (overall and
at week 4), Gilman's linear healing rate, the exponential healing rate with its ~95 % confidence
interval and half-life, a projected closure date (or a plain sentence saying why none is given),
the confirmed healing date, and healing rates compared between treatment phases. Every function
is pure: the visits come in as :class:`AreaPoint` values, the figures go out as frozen dataclasses,
nothing reads the clock (pass ``today``), the files or the database. Figures are shown, never
turned into a verdict: deciding what a PAR or a rate means for a patient is the clinician's.

Conventions used throughout: time is measured from the first visit of the series given
("baseline"), in days between visit dates, and in weeks as ``days / 7``; visits on the same date
are merged into one (the mean of each figure); a wound counts as closed at a visit when its area is
at or below ``closed_below_cm2`` (default :data:`CLOSED_BELOW_CM2`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from scipy import stats

from woundtrack.errors import WoundtrackError

__all__ = [
    "CI_LEVEL",
    "CLOSED_BELOW_CM2",
    "DAYS_PER_WEEK",
    "MAX_PROJECTION_DAYS",
    "MIN_PROJECTION_R_SQUARED",
    "MIN_PROJECTION_VISITS",
    "PAR_BRACKET_DAYS",
    "PAR_NEAREST_DAYS",
    "PAR_TARGET_DAYS",
    "AreaPoint",
    "ClosureProjection",
    "ExpFit",
    "HealingInputError",
    "HealingMetrics",
    "Phase",
    "PhaseRate",
    "exponential_fit",
    "gilman_rate_cm_per_week",
    "healed_on",
    "healing_metrics",
    "par_at_week4",
    "pct_area_reduction",
    "pct_change_per_week",
    "phase_rates",
    "phases_from_courses",
    "prepare_series",
    "project_closure",
]

#: A visit whose wound area is at or below this (cm²) counts as closed. 0.1 cm² is about a
#: 3.5 mm disc: below what photo planimetry resolves reliably on a healed scar.
CLOSED_BELOW_CM2 = 0.1
#: Weeks are calendar weeks: ``weeks = days / DAYS_PER_WEEK``.
DAYS_PER_WEEK = 7.0
#: Two-sided level of every confidence interval given here.
CI_LEVEL = 0.95
#: PAR "at week 4" is taken at this many days after baseline (Sheehan et al. 2003).
PAR_TARGET_DAYS = 28
#: Two visits bracketing day 28 are interpolated when both lie within this many days of it.
PAR_BRACKET_DAYS = 14
#: Otherwise the visit nearest to day 28 is used when it lies within this many days of it.
PAR_NEAREST_DAYS = 7
#: A closure projection needs at least this many visits with an open wound.
MIN_PROJECTION_VISITS = 4
#: A closure projection needs the exponential fit to explain at least this share of the variance
#: of ln(area).
MIN_PROJECTION_R_SQUARED = 0.6
#: No closure date is projected further than this many days (2 years) ahead.
MAX_PROJECTION_DAYS = 730


class HealingInputError(WoundtrackError, ValueError):
    """Visits or phases that cannot be analysed as given (empty, negative area, bad dates).

    A ``ValueError`` as well, so callers that catch ``ValueError`` keep working; a
    ``WoundtrackError``, so the CLI and the app show its message without a traceback.
    """


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _check_date(owner: str, name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    # datetime is a subclass of date; comparing the two raises a TypeError deep inside, so a
    # datetime is refused here with the fix.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise HealingInputError(
            f"{owner}.{name} must be a datetime.date, got {value!r}; convert instants with "
            f"`.date()` (in the patient's local time zone) before building the {owner}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AreaPoint:
    """One visit of one lesion: its date and the areas measured on that date.

    ``wound_area_cm2`` is the wound bed (granulation + slough + eschar); the tissue areas are
    optional and kept for display, the healing figures here use the wound area and perimeter only.
    Every figure must be a finite number >= 0 (or ``None`` where optional).
    """

    taken_on: date
    wound_area_cm2: float
    perimeter_cm: float | None = None
    eschar_area_cm2: float | None = None
    slough_area_cm2: float | None = None
    granulation_area_cm2: float | None = None
    erythema_area_cm2: float | None = None

    def __post_init__(self) -> None:
        _check_date("AreaPoint", "taken_on", self.taken_on)
        for name in (
            "wound_area_cm2",
            "perimeter_cm",
            "eschar_area_cm2",
            "slough_area_cm2",
            "granulation_area_cm2",
            "erythema_area_cm2",
        ):
            value = getattr(self, name)
            if value is None and name != "wound_area_cm2":
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float | np.integer | np.floating)
                or not math.isfinite(value)
                or value < 0
            ):
                raise HealingInputError(
                    f"visit of {self.taken_on.isoformat()}: {name} must be a finite number >= 0, "
                    f"got {value!r}; correct or remove the measurement of that visit"
                )


@dataclass(frozen=True, slots=True, kw_only=True)
class Phase:
    """A time window to compare healing in, built by the caller from treatment courses.

    Visits with ``start_on <= taken_on <= end_on`` belong to the phase (both ends included);
    ``None`` leaves that end open. See :func:`phases_from_courses`.
    """

    label: str
    start_on: date | None
    end_on: date | None

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label.strip():
            raise HealingInputError(
                f"Phase.label must be a non-empty string, got {self.label!r}; name the phase "
                f"(e.g. 'during sodium_thiosulfate')"
            )
        _check_date("Phase", "start_on", self.start_on, optional=True)
        _check_date("Phase", "end_on", self.end_on, optional=True)
        if self.start_on is not None and self.end_on is not None and self.end_on < self.start_on:
            raise HealingInputError(
                f"phase {self.label!r}: end_on {self.end_on.isoformat()} is before start_on "
                f"{self.start_on.isoformat()}; swap them or correct the course dates"
            )

    def contains(self, day: date) -> bool:
        """True when ``day`` lies in the phase (both ends included, ``None`` ends open)."""
        return (self.start_on is None or self.start_on <= day) and (
            self.end_on is None or day <= self.end_on
        )


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpFit:
    """Least-squares fit of ``A(t) = a0_cm2 * exp(-rate_per_week * t)``, t in weeks.

    ``t`` counts weeks from ``origin_on`` (the first visit of the series given, whether or not
    that visit was used). ``rate_per_week`` is k: positive when the wound shrinks.
    ``rate_ci_per_week`` and ``rate_se_per_week`` are ``None`` with only 2 visits (no degrees of
    freedom left for the error). ``r_squared`` is that of the straight line on ln(area); 0.0 when
    every used area is the same (nothing to explain; ``scipy.stats.linregress`` reports ``nan``).
    """

    rate_per_week: float
    rate_se_per_week: float | None
    rate_ci_per_week: tuple[float, float] | None
    a0_cm2: float
    origin_on: date
    r_squared: float
    n_visits: int
    first_on: date
    last_on: date


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseRate:
    """Healing rates within one :class:`Phase`.

    ``n_visits`` counts the (date-merged) visits in the phase. ``exp_rate_per_week`` is k of the
    exponential fit over the phase's visits with an open wound (``None`` with fewer than 2);
    ``pct_change_per_week`` is ``100 * (exp(-k) - 1)``, negative when shrinking.
    ``gilman_cm_per_week`` uses the first and last visits of the phase.
    """

    label: str
    start_on: date | None
    end_on: date | None
    n_visits: int
    exp_rate_per_week: float | None
    exp_rate_ci_per_week: tuple[float, float] | None
    pct_change_per_week: float | None
    gilman_cm_per_week: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClosureProjection:
    """When the fitted exponential reaches the closure threshold, with a ~95 % interval.

    Either the three dates are given and ``refused_reason`` is ``None``, or every date is
    ``None`` and ``refused_reason`` says in a plain sentence why no projection is given.
    """

    projected_on: date | None
    earliest_on: date | None
    latest_on: date | None
    refused_reason: str | None

    def __post_init__(self) -> None:
        dates = (self.projected_on, self.earliest_on, self.latest_on)
        if self.refused_reason is None and any(d is None for d in dates):
            raise ValueError("ClosureProjection without a refused_reason needs all three dates")
        if self.refused_reason is not None and any(d is not None for d in dates):
            raise ValueError("a refused ClosureProjection must not carry dates")

    @property
    def refused(self) -> bool:
        """True when no projection is given (see ``refused_reason``)."""
        return self.refused_reason is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class HealingMetrics:
    """Every healing figure of one lesion's series, as computed by :func:`healing_metrics`.

    ``n_visits`` counts visit dates (visits on one date merged). ``closed_at_last_visit`` is True
    when the last visit is at or below the threshold but there is no later visit to confirm it
    (``healed_on`` is then ``None``; show "closed at last visit, awaiting confirmation").
    ``reopened_on`` is the first open visit after ``healed_on`` (a recurrence), else ``None``.
    ``exp_a0_cm2`` is the fitted area at ``baseline_on`` (A0 of the exponential fit, whose t
    counts weeks from ``baseline_on``), so that the fitted curve can be drawn without refitting;
    ``None`` when there is no fit, like ``exp_rate_per_week``.
    """

    n_visits: int
    baseline_on: date
    baseline_area_cm2: float
    latest_on: date
    latest_area_cm2: float
    pct_area_reduction: float
    par_week4_pct: float | None
    gilman_cm_per_week: float | None
    exp_rate_per_week: float | None
    exp_rate_ci_per_week: tuple[float, float] | None
    exp_r_squared: float | None
    exp_a0_cm2: float | None
    pct_change_per_week: float | None
    half_life_days: float | None
    closure: ClosureProjection
    healed_on: date | None
    closed_at_last_visit: bool
    reopened_on: date | None
    closed_below_cm2: float
    phases: tuple[PhaseRate, ...]


# --------------------------------------------------------------------------------------------
# Series preparation
# --------------------------------------------------------------------------------------------


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def prepare_series(points: Sequence[AreaPoint]) -> tuple[AreaPoint, ...]:
    """Sort visits by date and merge visits on one date into one.

    Every public function of this module calls this first, so callers may pass visits in any
    order. Visits on the same date (two photos of one dressing change) become one visit whose
    figures are the mean of theirs; an optional figure is the mean of the visits that have it, and
    ``None`` when none has.

    Parameters
    ----------
    points : sequence of AreaPoint
        Visits of one lesion, in any order.

    Returns
    -------
    tuple of AreaPoint
        One per date, oldest first.

    Raises
    ------
    HealingInputError
        When ``points`` is empty or holds something that is not an :class:`AreaPoint`.

    Examples
    --------
    >>> series = prepare_series([
    ...     AreaPoint(taken_on=date(2024, 5, 8), wound_area_cm2=4.0),
    ...     AreaPoint(taken_on=date(2024, 5, 1), wound_area_cm2=5.0),
    ...     AreaPoint(taken_on=date(2024, 5, 8), wound_area_cm2=3.0),
    ... ])
    >>> [(p.taken_on.isoformat(), p.wound_area_cm2) for p in series]
    [('2024-05-01', 5.0), ('2024-05-08', 3.5)]
    """
    points = tuple(points)
    if not points:
        raise HealingInputError(
            "no visits given: healing figures need at least one measured visit of the lesion; "
            "measure a photo of it first"
        )
    for point in points:
        if not isinstance(point, AreaPoint):
            raise HealingInputError(
                f"expected AreaPoint visits, got {type(point).__name__} ({point!r}); build an "
                f"AreaPoint(taken_on=..., wound_area_cm2=...) for each visit"
            )
    by_date: dict[date, list[AreaPoint]] = {}
    for point in points:
        by_date.setdefault(point.taken_on, []).append(point)
    merged = []
    for day in sorted(by_date):
        group = by_date[day]
        if len(group) == 1:
            merged.append(group[0])
            continue
        merged.append(
            AreaPoint(
                taken_on=day,
                wound_area_cm2=float(np.mean([p.wound_area_cm2 for p in group])),
                perimeter_cm=_mean_or_none([p.perimeter_cm for p in group]),
                eschar_area_cm2=_mean_or_none([p.eschar_area_cm2 for p in group]),
                slough_area_cm2=_mean_or_none([p.slough_area_cm2 for p in group]),
                granulation_area_cm2=_mean_or_none([p.granulation_area_cm2 for p in group]),
                erythema_area_cm2=_mean_or_none([p.erythema_area_cm2 for p in group]),
            )
        )
    return tuple(merged)


def _check_threshold(closed_below_cm2: float) -> float:
    if (
        isinstance(closed_below_cm2, bool)
        or not isinstance(closed_below_cm2, int | float | np.integer | np.floating)
        or not math.isfinite(closed_below_cm2)
        or closed_below_cm2 <= 0
    ):
        raise HealingInputError(
            f"closed_below_cm2 must be a finite number > 0, got {closed_below_cm2!r}; use the "
            f"default {CLOSED_BELOW_CM2} cm² unless your protocol defines closure otherwise"
        )
    return float(closed_below_cm2)


def _days(start: date, end: date) -> int:
    return (end - start).days


def _plus_days(day: date, days: int) -> date | None:
    """``day`` plus ``days`` days, or ``None`` past the ends of the calendar (``date.min``,
    ``date.max``), where ``datetime.date`` arithmetic raises ``OverflowError``."""
    if not _days(day, date.min) <= days <= _days(day, date.max):
        return None
    return day + timedelta(days=days)


# --------------------------------------------------------------------------------------------
# Single figures
# --------------------------------------------------------------------------------------------


def pct_area_reduction(baseline_cm2: float, area_cm2: float) -> float:
    """Percentage area reduction (PAR) from a baseline area.

    ``PAR = 100 * (A0 - A) / A0``: 100 when closed, 0 when unchanged, negative when the wound
    grew (it is not clipped).

    Parameters
    ----------
    baseline_cm2 : float
        Wound area at baseline, cm², > 0.
    area_cm2 : float
        Wound area at the later visit, cm², >= 0.

    Returns
    -------
    float
        Percentage (of the baseline area).

    Raises
    ------
    HealingInputError
        When an area is negative or not finite, or the baseline area is 0.

    Examples
    --------
    >>> pct_area_reduction(10.0, 4.0)
    60.0
    >>> pct_area_reduction(10.0, 12.5)
    -25.0
    """
    for name, value in (("baseline_cm2", baseline_cm2), ("area_cm2", area_cm2)):
        if not math.isfinite(value) or value < 0:
            raise HealingInputError(
                f"{name} must be a finite area >= 0 cm², got {value!r}; correct the measurement"
            )
    if baseline_cm2 == 0:
        raise HealingInputError(
            "baseline area is 0 cm², so a percentage reduction is undefined; start the series at "
            "the first visit where the wound is open"
        )
    # Divided before scaling: a closed wound (area 0) is exactly 100 %, not 100.00000000000001.
    return (baseline_cm2 - area_cm2) / baseline_cm2 * 100.0


def par_at_week4(points: Sequence[AreaPoint]) -> float | None:
    """PAR at week 4: the percentage area reduction 28 days after baseline.

    Baseline is the first visit. The area at day 28 is, in order of preference: the visit on
    day 28; the linear interpolation between the last visit before and the first visit after
    day 28 when both lie within :data:`PAR_BRACKET_DAYS` (14) days of it; the visit nearest to
    day 28 when it lies within :data:`PAR_NEAREST_DAYS` (7) days of it. Otherwise there is no
    week-4 figure (``None``): it is never extrapolated.

    Sheehan et al., Diabetes Care 2003;26:1879-1882, found that diabetic foot ulcers reducing
    less than about 50 % in area by week 4 were unlikely to heal by week 12. The figure is given
    as a number only, never turned into a prediction or a verdict: the study was of DFUs under
    standard care, and calciphylaxis or other wounds may behave differently.

    Parameters
    ----------
    points : sequence of AreaPoint
        Visits of one lesion, any order (see :func:`prepare_series`).

    Returns
    -------
    float or None
        PAR in percent (negative when the wound grew), or ``None`` when no visit lies close
        enough to day 28.

    Raises
    ------
    HealingInputError
        When there are no visits, or the baseline area is 0.

    Examples
    --------
    >>> base = date(2024, 5, 1)
    >>> par_at_week4([
    ...     AreaPoint(taken_on=base, wound_area_cm2=10.0),
    ...     AreaPoint(taken_on=base + timedelta(days=21), wound_area_cm2=8.0),
    ...     AreaPoint(taken_on=base + timedelta(days=35), wound_area_cm2=6.0),
    ... ])
    30.0
    """
    series = prepare_series(points)
    baseline = series[0]
    later = [(_days(baseline.taken_on, p.taken_on), p.wound_area_cm2) for p in series[1:]]
    if not later:
        return None
    target = PAR_TARGET_DAYS
    exact = [area for day, area in later if day == target]
    if exact:
        return pct_area_reduction(baseline.wound_area_cm2, exact[0])
    before = [(day, area) for day, area in later if day < target]
    after = [(day, area) for day, area in later if day > target]
    if before and after:
        (d0, a0), (d1, a1) = before[-1], after[0]
        if target - d0 <= PAR_BRACKET_DAYS and d1 - target <= PAR_BRACKET_DAYS:
            area_day28_cm2 = a0 + (a1 - a0) * (target - d0) / (d1 - d0)
            return pct_area_reduction(baseline.wound_area_cm2, area_day28_cm2)
    day, area = min(later, key=lambda item: abs(item[0] - target))
    if abs(day - target) <= PAR_NEAREST_DAYS:
        return pct_area_reduction(baseline.wound_area_cm2, area)
    return None


def gilman_rate_cm_per_week(points: Sequence[AreaPoint]) -> float | None:
    """Gilman's linear healing rate: how fast the edge advances, cm per week.

    ``(A0 - A_last) / ((P0 + P_last) / 2) / weeks`` between the first and last visits (Gilman,
    "Parameter for measurement of wound closure", Wounds 1990). Dividing the area change by the
    mean perimeter makes wounds of different sizes comparable: it is the mean distance the edge
    moved towards the centre. Positive when healing, negative when the wound grew.

    Parameters
    ----------
    points : sequence of AreaPoint
        Visits of one lesion, any order (see :func:`prepare_series`).

    Returns
    -------
    float or None
        cm per week, or ``None`` with a single visit, when the first or last visit has no
        perimeter, or when both perimeters are 0.

    Raises
    ------
    HealingInputError
        When there are no visits.

    Examples
    --------
    >>> base = date(2024, 5, 1)
    >>> rate = gilman_rate_cm_per_week([
    ...     AreaPoint(taken_on=base, wound_area_cm2=10.0, perimeter_cm=12.0),
    ...     AreaPoint(taken_on=base + timedelta(weeks=6), wound_area_cm2=4.0, perimeter_cm=8.0),
    ... ])
    >>> round(rate, 6)  # 6 cm² / 10 cm / 6 weeks
    0.1
    """
    series = prepare_series(points)
    first, last = series[0], series[-1]
    if len(series) < 2 or first.perimeter_cm is None or last.perimeter_cm is None:
        return None
    mean_perimeter_cm = (first.perimeter_cm + last.perimeter_cm) / 2.0
    if mean_perimeter_cm <= 0:
        return None
    weeks = _days(first.taken_on, last.taken_on) / DAYS_PER_WEEK
    return (first.wound_area_cm2 - last.wound_area_cm2) / mean_perimeter_cm / weeks


def pct_change_per_week(rate_per_week: float) -> float:
    """Weekly percentage area change of an exponential rate k: ``100 * (exp(-k) - 1)``.

    Examples
    --------
    >>> round(pct_change_per_week(math.log(2)), 6)
    -50.0
    """
    return 100.0 * math.expm1(-rate_per_week)


def exponential_fit(
    points: Sequence[AreaPoint], *, closed_below_cm2: float = CLOSED_BELOW_CM2
) -> ExpFit | None:
    """Fit ``A(t) = A0 * exp(-k t)`` to the visits with an open wound.

    Ordinary least squares of ``ln A`` on ``t`` (weeks since the first visit given), over the
    visits whose area is above ``closed_below_cm2`` (ln 0 is undefined, and a closed wound has
    left the exponential phase), by ``scipy.stats.linregress``: ``k`` is minus its slope, ``A0``
    is ``exp`` of its intercept and ``r_squared`` is its ``rvalue`` squared (0.0 when every used
    area is the same, where linregress reports ``nan``). ``SE(slope)`` is
    ``sqrt(SSR / (n - 2) / Sxx)`` from the residuals of that line, the same quantity as
    linregress's ``stderr``, which computes it as ``sqrt((1 - r²) Syy / Sxx / (n - 2))`` and so
    loses every digit to cancellation when the fit is near exact. The ~95 % confidence interval
    of ``k`` is ``k ± t(0.975, n-2) * SE(slope)`` with Student's t distribution
    (``scipy.stats.t``).
    Exponential healing with a constant k per week is a model that fits many chronic wounds over
    a few months (e.g. Cukjati et al., Med Biol Eng Comput 2001;39:263); check ``r_squared``.

    Parameters
    ----------
    points : sequence of AreaPoint
        Visits of one lesion, any order (see :func:`prepare_series`).
    closed_below_cm2 : float, optional
        Visits at or below this area (cm²) are left out of the fit.

    Returns
    -------
    ExpFit or None
        The fit, or ``None`` when fewer than 2 visits have an open wound.

    Raises
    ------
    HealingInputError
        When there are no visits or the threshold is not a positive number.

    Examples
    --------
    >>> base = date(2024, 5, 1)
    >>> fit = exponential_fit([
    ...     AreaPoint(taken_on=base + timedelta(weeks=w), wound_area_cm2=10 * math.exp(-0.2 * w))
    ...     for w in range(5)
    ... ])
    >>> round(fit.rate_per_week, 6), round(fit.a0_cm2, 6), round(fit.r_squared, 6)
    (0.2, 10.0, 1.0)
    """
    threshold_cm2 = _check_threshold(closed_below_cm2)
    series = prepare_series(points)
    origin_on = series[0].taken_on
    used = [p for p in series if p.wound_area_cm2 > threshold_cm2]
    if len(used) < 2:
        return None
    t_weeks = np.array([_days(origin_on, p.taken_on) / DAYS_PER_WEEK for p in used])
    log_area = np.log([p.wound_area_cm2 for p in used])
    n = len(used)
    line = stats.linregress(t_weeks, log_area)
    slope, intercept, r_value = float(line.slope), float(line.intercept), float(line.rvalue)
    r_squared = 0.0 if math.isnan(r_value) else r_value**2  # nan: constant ln(area)
    rate = -slope
    se: float | None = None
    ci: tuple[float, float] | None = None
    if n > 2:
        # Not line.stderr: its (1 - r²) cancels to noise when the fit is near exact.
        ssr = float(np.sum((log_area - (intercept + slope * t_weeks)) ** 2))
        sxx = float(np.sum((t_weeks - t_weeks.mean()) ** 2))
        se = math.sqrt(ssr / (n - 2) / sxx)
        half_width = float(stats.t.ppf(0.5 + CI_LEVEL / 2.0, n - 2)) * se
        ci = (rate - half_width, rate + half_width)
    return ExpFit(
        rate_per_week=rate,
        rate_se_per_week=se,
        rate_ci_per_week=ci,
        a0_cm2=math.exp(intercept),
        origin_on=origin_on,
        r_squared=r_squared,
        n_visits=n,
        first_on=used[0].taken_on,
        last_on=used[-1].taken_on,
    )


def _closure_runs(
    series: Sequence[AreaPoint], threshold_cm2: float
) -> tuple[date | None, date | None]:
    """First confirmed closure date and the first open visit after it."""
    closed = [p.wound_area_cm2 <= threshold_cm2 for p in series]
    for i in range(len(series) - 1):
        if closed[i] and closed[i + 1]:
            reopened = next(
                (series[j].taken_on for j in range(i + 2, len(series)) if not closed[j]), None
            )
            return series[i].taken_on, reopened
    return None, None


def _awaiting_confirmation(series: Sequence[AreaPoint], threshold_cm2: float) -> bool:
    """True when the last visit is closed and no other visit confirms that closure."""
    last_closed = series[-1].wound_area_cm2 <= threshold_cm2
    previous_closed = len(series) > 1 and series[-2].wound_area_cm2 <= threshold_cm2
    return last_closed and not previous_closed


def healed_on(
    points: Sequence[AreaPoint], *, closed_below_cm2: float = CLOSED_BELOW_CM2
) -> date | None:
    """The date the wound healed: the first closed visit confirmed closed at the next visit.

    A visit counts as closed when its area is at or below ``closed_below_cm2``. Healing needs
    confirmation at the following visit (closure seen at two consecutive visits, as
    wound-healing trials commonly require of "complete closure"), so a wound closed only at its
    last visit is *not* healed yet: this returns ``None`` and the caller may show "closed at
    last visit, awaiting confirmation". A wound that later reopens keeps this date; see
    ``HealingMetrics.reopened_on`` for the recurrence.

    Parameters
    ----------
    points : sequence of AreaPoint
        Visits of one lesion, any order (see :func:`prepare_series`).
    closed_below_cm2 : float, optional
        Closure threshold, cm².

    Returns
    -------
    datetime.date or None
        Date of the first visit of the first confirmed closure, else ``None``.

    Raises
    ------
    HealingInputError
        When there are no visits or the threshold is not a positive number.

    Examples
    --------
    >>> base = date(2024, 5, 1)
    >>> areas = [3.0, 1.0, 0.0, 0.0]
    >>> healed_on([
    ...     AreaPoint(taken_on=base + timedelta(weeks=w), wound_area_cm2=a)
    ...     for w, a in enumerate(areas)
    ... ])
    datetime.date(2024, 5, 15)
    """
    threshold_cm2 = _check_threshold(closed_below_cm2)
    return _closure_runs(prepare_series(points), threshold_cm2)[0]


def _refused(reason: str) -> ClosureProjection:
    return ClosureProjection(
        projected_on=None, earliest_on=None, latest_on=None, refused_reason=reason
    )


def project_closure(
    points: Sequence[AreaPoint],
    *,
    closed_below_cm2: float = CLOSED_BELOW_CM2,
    today: date | None = None,
) -> ClosureProjection:
    """Project the date the fitted exponential falls to the closure threshold.

    Solves ``A0 * exp(-k t) = closed_below_cm2`` for t with the fit of
    :func:`exponential_fit`; the ~95 % interval keeps A0 and takes k at the ends of its
    confidence interval (the faster k gives ``earliest_on``, the slower ``latest_on``). Dates are
    rounded to the nearest day (earliest down, latest up); ``earliest_on`` is never before the
    day after the last visit, when the wound was still seen open.

    No projection is given (every date ``None``, ``refused_reason`` saying why in a sentence)
    when: the wound has healed or was closed at its last visit; it reopened after healing (a new
    episode needs its own series); fewer than :data:`MIN_PROJECTION_VISITS` (4) visits have an
    open wound; the fit says the wound is not shrinking (k <= 0); the confidence interval of k
    reaches 0 or below (shrinking not distinguishable from no change, so the latest date would be
    infinite); the fit explains less than :data:`MIN_PROJECTION_R_SQUARED` (60 %) of the
    variance of ln(area) (too noisy); the projected date is not after the last visit or has
    already passed (``today``), or it lies more than :data:`MAX_PROJECTION_DAYS` (2 years) ahead
    or after 9999-12-31 (visits stored with a camera's unset date): never an ``OverflowError``.
    The projection is a property of the fitted curve, not a prognosis: it assumes the current
    rate holds.

    Parameters
    ----------
    points : sequence of AreaPoint
        Visits of one lesion, any order (see :func:`prepare_series`).
    closed_below_cm2 : float, optional
        Closure threshold, cm².
    today : datetime.date, optional
        The date the projection is made on; the 2-year horizon counts from it. Defaults to the
        last visit's date (this function never reads the clock).

    Returns
    -------
    ClosureProjection

    Raises
    ------
    HealingInputError
        When there are no visits, the threshold is not a positive number, or ``today`` is before
        the last visit.

    Examples
    --------
    >>> base = date(2024, 5, 1)
    >>> projection = project_closure([
    ...     AreaPoint(taken_on=base + timedelta(weeks=w), wound_area_cm2=10 * math.exp(-0.2 * w))
    ...     for w in range(6)
    ... ])
    >>> projection.projected_on  # ln(10 / 0.1) / 0.2 weeks = 161.2 days after baseline
    datetime.date(2024, 10, 9)
    """
    threshold_cm2 = _check_threshold(closed_below_cm2)
    series = prepare_series(points)
    last = series[-1]
    if today is not None:
        _check_date("project_closure", "today", today)
        if today < last.taken_on:
            raise HealingInputError(
                f"today ({today.isoformat()}) is before the last visit "
                f"({last.taken_on.isoformat()}); pass the date the projection is made on"
            )
    reference_on = today if today is not None else last.taken_on

    healed, reopened = _closure_runs(series, threshold_cm2)
    if healed is not None and reopened is not None:
        return _refused(
            f"The wound closed on {healed.isoformat()} and reopened on {reopened.isoformat()}; "
            f"project the new episode from its own visits, starting at the reopening."
        )
    if healed is not None:
        return _refused(f"The wound has already healed (closed on {healed.isoformat()}).")
    if _awaiting_confirmation(series, threshold_cm2):
        return _refused(
            f"The wound was closed at the last visit ({last.taken_on.isoformat()}), awaiting "
            f"confirmation at the next visit; no closure date is projected."
        )

    n_open = sum(p.wound_area_cm2 > threshold_cm2 for p in series)
    fit = exponential_fit(series, closed_below_cm2=threshold_cm2)
    if fit is None or n_open < MIN_PROJECTION_VISITS:
        return _refused(
            f"Only {n_open} visit(s) with an open wound; a closure projection needs at least "
            f"{MIN_PROJECTION_VISITS}."
        )
    assert fit.rate_ci_per_week is not None  # n >= 4 leaves degrees of freedom
    k_low, k_high = fit.rate_ci_per_week
    change_pct = pct_change_per_week(fit.rate_per_week)
    if fit.rate_per_week <= 0:
        return _refused(
            f"The wound is not shrinking (fitted area change {change_pct:+.1f} % per week); "
            f"no closure date can be projected."
        )
    if k_low <= 0:
        return _refused(
            f"The shrinking trend ({change_pct:+.1f} % per week) is not distinguishable from no "
            f"change (its {CI_LEVEL:.0%} interval includes 0); more visits are needed before a "
            f"closure date can be projected."
        )
    if fit.r_squared < MIN_PROJECTION_R_SQUARED:
        return _refused(
            f"The areas are too noisy for a projection: the exponential fit explains "
            f"{fit.r_squared:.0%} of their variation (at least {MIN_PROJECTION_R_SQUARED:.0%} "
            f"needed)."
        )

    log_ratio = math.log(fit.a0_cm2 / threshold_cm2)
    projected_days = log_ratio / fit.rate_per_week * DAYS_PER_WEEK
    earliest_days = log_ratio / k_high * DAYS_PER_WEEK
    latest_days = log_ratio / k_low * DAYS_PER_WEEK
    origin = fit.origin_on
    # Compared in days before any date is built: a rate near 0 would overflow datetime.date.
    beyond_horizon = projected_days - _days(origin, reference_on) > MAX_PROJECTION_DAYS + 1
    projected_on = None if beyond_horizon else _plus_days(origin, round(projected_days))
    if beyond_horizon or (
        projected_on is not None and _days(reference_on, projected_on) > MAX_PROJECTION_DAYS
    ):
        return _refused(
            f"The projected closure lies more than 2 years ahead (at "
            f"{change_pct:+.1f} % per week); it is not extrapolated that far."
        )
    if projected_on is None:  # visits stored with dates at the end of the calendar
        return _refused(
            f"The projected closure falls after {date.max.isoformat()}, the last date the "
            f"calendar holds; check the visit dates (last visit {last.taken_on.isoformat()})."
        )
    if projected_on <= last.taken_on:
        return _refused(
            f"The fitted curve reaches {threshold_cm2:g} cm² on {projected_on.isoformat()}, but "
            f"the wound was still open ({last.wound_area_cm2:.2f} cm²) on "
            f"{last.taken_on.isoformat()}; the fit does not describe this wound."
        )
    if projected_on < reference_on:
        return _refused(
            f"The projected closure date ({projected_on.isoformat()}) has passed without a visit "
            f"since {last.taken_on.isoformat()}; measure the wound again."
        )
    max_days = _days(origin, date.max)
    if latest_days > max_days:
        return _refused(
            f"The slowest rate in the {CI_LEVEL:.0%} interval ({k_low:.2g} per week) is too "
            f"close to 0 to bound the closure date; more visits are needed."
        )
    earliest_on = max(
        origin + timedelta(days=math.floor(earliest_days)), last.taken_on + timedelta(days=1)
    )
    latest_on = origin + timedelta(days=math.ceil(latest_days))
    return ClosureProjection(
        projected_on=projected_on,
        earliest_on=min(earliest_on, projected_on),
        latest_on=max(latest_on, projected_on),
        refused_reason=None,
    )


# --------------------------------------------------------------------------------------------
# Phases
# --------------------------------------------------------------------------------------------


def phases_from_courses(courses: Sequence[tuple[str, date, date | None]]) -> list[Phase]:
    """Before / during / after phases of each treatment course.

    For each course ``(label, start_on, end_on)``: ``"before <label>"`` from an open start to the
    day before ``start_on``; ``"during <label>"`` from ``start_on`` to ``end_on`` (open when
    ``end_on`` is ``None``, the course still running); and, when ``end_on`` is given,
    ``"after <label>"`` from the day after ``end_on`` onwards. A visit on the start date counts
    as "during" (it is the baseline of the treatment), one on the end date as "during" too.
    Overlapping courses give overlapping phases; each is analysed on its own. A course that
    starts on ``date.min`` or ends on ``date.max`` (stored before dates were checked) has no
    phase before or after it: no day lies there.

    Parameters
    ----------
    courses : sequence of (str, datetime.date, datetime.date or None)
        Treatment courses: label, first day, last day (``None`` while ongoing).

    Returns
    -------
    list of Phase
        Three phases per course (two when it has no end, or lies at an end of the calendar), in
        the order of ``courses``.

    Raises
    ------
    HealingInputError
        When a course is not a (label, start, end) triple, a date is not a date, or a course
        ends before it starts.

    Examples
    --------
    >>> [p.label for p in phases_from_courses([("sodium_thiosulfate", date(2024, 5, 1), None)])]
    ['before sodium_thiosulfate', 'during sodium_thiosulfate']
    """
    phases: list[Phase] = []
    one_day = timedelta(days=1)
    for course in courses:
        if not isinstance(course, tuple | list) or len(course) != 3:
            raise HealingInputError(
                f"each course must be a (label, start_on, end_on) triple, got {course!r}"
            )
        label, start_on, end_on = course
        _check_date(f"course {label!r}", "start_on", start_on)
        _check_date(f"course {label!r}", "end_on", end_on, optional=True)
        if end_on is not None and end_on < start_on:
            raise HealingInputError(
                f"course {label!r} ends ({end_on.isoformat()}) before it starts "
                f"({start_on.isoformat()}); correct the course dates"
            )
        if start_on > date.min:
            phases.append(Phase(label=f"before {label}", start_on=None, end_on=start_on - one_day))
        phases.append(Phase(label=f"during {label}", start_on=start_on, end_on=end_on))
        if end_on is not None and end_on < date.max:
            phases.append(Phase(label=f"after {label}", start_on=end_on + one_day, end_on=None))
    return phases


def phase_rates(
    points: Sequence[AreaPoint],
    phases: Sequence[Phase],
    *,
    closed_below_cm2: float = CLOSED_BELOW_CM2,
) -> tuple[PhaseRate, ...]:
    """Healing rates within each phase, to compare healing before, during and after treatment.

    For each phase, the (date-merged) visits with ``start_on <= taken_on <= end_on`` are
    analysed alone: the exponential rate k over those with an open wound (at least 2 needed, see
    :func:`exponential_fit`) and Gilman's rate between the first and last visit in the phase
    (see :func:`gilman_rate_cm_per_week`). The change between the last visit of one phase and the
    first of the next belongs to neither. A phase with no visits gives ``n_visits=0`` and ``None``
    rates.

    Parameters
    ----------
    points : sequence of AreaPoint
        Visits of one lesion, any order (see :func:`prepare_series`).
    phases : sequence of Phase
        The windows to analyse, e.g. from :func:`phases_from_courses`.
    closed_below_cm2 : float, optional
        Visits at or below this area (cm²) are left out of the exponential fit.

    Returns
    -------
    tuple of PhaseRate
        One per phase, in the order given.

    Raises
    ------
    HealingInputError
        When there are no visits, a phase is not a :class:`Phase`, or the threshold is not a
        positive number.
    """
    threshold_cm2 = _check_threshold(closed_below_cm2)
    series = prepare_series(points)
    rates = []
    for phase in phases:
        if not isinstance(phase, Phase):
            raise HealingInputError(
                f"expected Phase values, got {type(phase).__name__} ({phase!r}); build them with "
                f"Phase(label=..., start_on=..., end_on=...) or phases_from_courses()"
            )
        inside = [p for p in series if phase.contains(p.taken_on)]
        fit = exponential_fit(inside, closed_below_cm2=threshold_cm2) if inside else None
        rates.append(
            PhaseRate(
                label=phase.label,
                start_on=phase.start_on,
                end_on=phase.end_on,
                n_visits=len(inside),
                exp_rate_per_week=None if fit is None else fit.rate_per_week,
                exp_rate_ci_per_week=None if fit is None else fit.rate_ci_per_week,
                pct_change_per_week=None if fit is None else pct_change_per_week(fit.rate_per_week),
                gilman_cm_per_week=gilman_rate_cm_per_week(inside) if inside else None,
            )
        )
    return tuple(rates)


# --------------------------------------------------------------------------------------------
# Everything at once
# --------------------------------------------------------------------------------------------


def healing_metrics(
    points: Sequence[AreaPoint],
    *,
    phases: Sequence[Phase] = (),
    closed_below_cm2: float = CLOSED_BELOW_CM2,
    today: date | None = None,
) -> HealingMetrics:
    """Every healing figure of one lesion's visits.

    Baseline is the first visit (by date); the latest is the last. ``pct_area_reduction`` is
    :func:`pct_area_reduction` from baseline to the latest visit; ``par_week4_pct`` is
    :func:`par_at_week4` (Sheehan et al. 2003; a figure, not a verdict);
    ``gilman_cm_per_week`` is :func:`gilman_rate_cm_per_week` (Gilman 1990) over the whole
    series; the exponential figures come from :func:`exponential_fit` over every open visit
    (``half_life_days = 7 * ln 2 / k``, only when k > 0); ``closure`` is
    :func:`project_closure` (with its refusals); ``healed_on`` is :func:`healed_on` (closure
    confirmed at the next visit); ``phases`` is :func:`phase_rates`.

    When a treatment changed the healing rate, the whole-series exponential figures (and the
    projection built on them) average over both regimes; compare ``phases`` to see the change.

    Parameters
    ----------
    points : sequence of AreaPoint
        Visits of one lesion, any order; visits on one date are merged (their mean).
    phases : sequence of Phase, optional
        Windows to compare healing rates in.
    closed_below_cm2 : float, optional
        Closure threshold, cm² (default :data:`CLOSED_BELOW_CM2`).
    today : datetime.date, optional
        Date the projection is made on (default: the last visit's date).

    Returns
    -------
    HealingMetrics

    Raises
    ------
    HealingInputError
        When there are no visits, the baseline area is 0, the threshold is not a positive number,
        a phase is not a :class:`Phase`, or ``today`` is before the last visit.

    Examples
    --------
    >>> base = date(2024, 5, 1)
    >>> metrics = healing_metrics([
    ...     AreaPoint(taken_on=base + timedelta(weeks=w), wound_area_cm2=10 * math.exp(-0.2 * w))
    ...     for w in range(6)
    ... ])
    >>> round(metrics.exp_rate_per_week, 6), round(metrics.half_life_days, 2)
    (0.2, 24.26)
    """
    threshold_cm2 = _check_threshold(closed_below_cm2)
    series = prepare_series(points)
    baseline, latest = series[0], series[-1]
    fit = exponential_fit(series, closed_below_cm2=threshold_cm2)
    rate = None if fit is None else fit.rate_per_week
    healed, reopened = _closure_runs(series, threshold_cm2)
    return HealingMetrics(
        n_visits=len(series),
        baseline_on=baseline.taken_on,
        baseline_area_cm2=baseline.wound_area_cm2,
        latest_on=latest.taken_on,
        latest_area_cm2=latest.wound_area_cm2,
        pct_area_reduction=pct_area_reduction(baseline.wound_area_cm2, latest.wound_area_cm2),
        par_week4_pct=par_at_week4(series),
        gilman_cm_per_week=gilman_rate_cm_per_week(series),
        exp_rate_per_week=rate,
        exp_rate_ci_per_week=None if fit is None else fit.rate_ci_per_week,
        exp_r_squared=None if fit is None else fit.r_squared,
        exp_a0_cm2=None if fit is None else fit.a0_cm2,
        pct_change_per_week=None if rate is None else pct_change_per_week(rate),
        half_life_days=(
            math.log(2.0) / rate * DAYS_PER_WEEK if rate is not None and rate > 0 else None
        ),
        closure=project_closure(series, closed_below_cm2=threshold_cm2, today=today),
        healed_on=healed,
        closed_at_last_visit=_awaiting_confirmation(series, threshold_cm2),
        reopened_on=reopened,
        closed_below_cm2=threshold_cm2,
        phases=phase_rates(series, phases, closed_below_cm2=threshold_cm2),
    )
