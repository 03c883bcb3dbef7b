"""Healing analytics against series with known answers (exact exponentials, linear series)."""

from __future__ import annotations

import dataclasses
import math
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from woundtrack.analysis.healing import (
    CLOSED_BELOW_CM2,
    AreaPoint,
    ClosureProjection,
    HealingInputError,
    Phase,
    exponential_fit,
    gilman_rate_cm_per_week,
    healed_on,
    healing_metrics,
    par_at_week4,
    pct_area_reduction,
    pct_change_per_week,
    phase_rates,
    phases_from_courses,
    prepare_series,
    project_closure,
)
from woundtrack.errors import WoundtrackError

BASE = date(2024, 1, 1)


def day(n: int) -> date:
    return BASE + timedelta(days=n)


def visit(days: int, area_cm2: float, perimeter_cm: float | None = None) -> AreaPoint:
    return AreaPoint(taken_on=day(days), wound_area_cm2=area_cm2, perimeter_cm=perimeter_cm)


def exp_series(k_per_week: float, weeks: range, a0_cm2: float = 10.0) -> list[AreaPoint]:
    return [visit(7 * w, a0_cm2 * math.exp(-k_per_week * w)) for w in weeks]


# --- exact exponential: A = 10 e^{-0.2 t}, weekly, weeks 0..10 --------------------------------


def test_exact_exponential_fit_recovers_rate_a0_and_tight_ci():
    fit = exponential_fit(exp_series(0.2, range(11)))
    assert fit is not None
    assert fit.rate_per_week == pytest.approx(0.2, rel=1e-12)
    assert fit.a0_cm2 == pytest.approx(10.0, rel=1e-12)
    assert fit.r_squared == pytest.approx(1.0, abs=1e-12)
    assert fit.n_visits == 11 and fit.origin_on == BASE
    low, high = fit.rate_ci_per_week
    assert low <= 0.2 <= high and high - low < 1e-9


def test_exact_exponential_metrics_and_analytic_closure_date():
    points = exp_series(0.2, range(11))
    metrics = healing_metrics(points)
    assert metrics.n_visits == 11
    assert metrics.baseline_on == BASE and metrics.latest_on == day(70)
    assert metrics.pct_area_reduction == pytest.approx(100 * (1 - math.exp(-2.0)))
    assert metrics.par_week4_pct == pytest.approx(100 * (1 - math.exp(-0.8)))  # visit on day 28
    assert metrics.exp_rate_per_week == pytest.approx(0.2)
    assert metrics.exp_a0_cm2 == exponential_fit(points).a0_cm2 == pytest.approx(10.0)
    assert metrics.pct_change_per_week == pytest.approx(100 * (math.exp(-0.2) - 1))
    assert metrics.half_life_days == pytest.approx(7 * math.log(2) / 0.2)
    assert metrics.healed_on is None and not metrics.closed_at_last_visit
    assert metrics.gilman_cm_per_week is None  # no perimeters given
    # A0 e^{-k t} = 0.1  =>  t = ln(100) / 0.2 weeks = 161.18 days
    expected = BASE + timedelta(days=round(7 * math.log(10.0 / CLOSED_BELOW_CM2) / 0.2))
    closure = metrics.closure
    assert closure.refused_reason is None and not closure.refused
    assert closure.projected_on == expected == day(161)
    assert expected - timedelta(days=1) <= closure.earliest_on <= expected
    assert expected <= closure.latest_on <= expected + timedelta(days=1)


def test_closure_threshold_is_a_parameter():
    points = exp_series(0.2, range(11))
    closure = project_closure(points, closed_below_cm2=1.0)
    assert closure.projected_on == BASE + timedelta(days=round(7 * math.log(10.0) / 0.2))


def test_pct_change_per_week():
    assert pct_change_per_week(math.log(2)) == pytest.approx(-50.0)
    assert pct_change_per_week(0.0) == 0.0
    assert pct_change_per_week(-math.log(2)) == pytest.approx(100.0)


# --- Gilman ------------------------------------------------------------------------------------


def test_gilman_linear_series_with_known_perimeters():
    # Area 10 -> 4 cm² over 6 weeks, perimeter 12 -> 8 cm: 6 / 10 / 6 = 0.1 cm/week.
    points = [visit(7 * w, 10.0 - w, 12.0 - 2 * w / 3) for w in range(7)]
    assert gilman_rate_cm_per_week(points) == pytest.approx(0.1)
    assert healing_metrics(points).gilman_cm_per_week == pytest.approx(0.1)


def test_gilman_negative_when_growing_and_none_without_perimeters():
    assert gilman_rate_cm_per_week([visit(0, 4.0, 8.0), visit(14, 6.0, 12.0)]) == pytest.approx(
        -2.0 / 10.0 / 2.0
    )
    assert gilman_rate_cm_per_week([visit(0, 4.0, 8.0), visit(14, 3.0)]) is None
    assert gilman_rate_cm_per_week([visit(0, 4.0), visit(14, 3.0, 7.0)]) is None
    assert gilman_rate_cm_per_week([visit(0, 4.0, 8.0)]) is None
    assert gilman_rate_cm_per_week([visit(0, 0.0, 0.0), visit(7, 0.0, 0.0)]) is None


# --- PAR at week 4 -----------------------------------------------------------------------------


def test_par_exact_day_28_visit():
    points = [visit(0, 10.0), visit(14, 8.0), visit(28, 4.0), visit(42, 2.0)]
    assert par_at_week4(points) == pytest.approx(60.0)


def test_par_interpolates_between_day_21_and_35():
    # A28 = 8 + (6 - 8) * 7 / 14 = 7  =>  PAR 30 %
    assert par_at_week4([visit(0, 10.0), visit(21, 8.0), visit(35, 6.0)]) == pytest.approx(30.0)


def test_par_interpolation_weights_the_nearer_visit_more():
    # Day 28 is 7 days after day 21 and 14 before day 42, so day 21 weighs 2/3 and day 42 1/3:
    # A28 = 8 * 2/3 + 2 * 1/3 = 6 cm², PAR = 100 * (10 - 6) / 10 = 40 %. The weights swapped give
    # 8 * 1/3 + 2 * 2/3 = 4 cm² and 60 %, across the 50 % that clinicians read (issue 30).
    assert par_at_week4([visit(0, 10.0), visit(21, 8.0), visit(42, 2.0)]) == pytest.approx(40.0)


def test_par_uses_nearest_visit_within_7_days_when_not_bracketed():
    # Day 10 is 18 days from day 28 (too far to interpolate); day 33 is 5 days away.
    assert par_at_week4([visit(0, 10.0), visit(10, 9.0), visit(33, 5.0)]) == pytest.approx(50.0)
    assert par_at_week4([visit(0, 10.0), visit(22, 7.5)]) == pytest.approx(25.0)


def test_par_none_when_no_visit_near_day_28():
    assert par_at_week4([visit(0, 10.0), visit(14, 8.0), visit(50, 3.0)]) is None
    assert par_at_week4([visit(0, 10.0), visit(36, 3.0)]) is None
    assert par_at_week4([visit(0, 10.0)]) is None
    assert healing_metrics([visit(0, 10.0), visit(50, 3.0)]).par_week4_pct is None


def test_par_can_be_negative_when_the_wound_grew():
    assert par_at_week4([visit(0, 4.0), visit(28, 5.0)]) == pytest.approx(-25.0)


def test_pct_area_reduction():
    assert pct_area_reduction(10.0, 4.0) == pytest.approx(60.0)
    assert pct_area_reduction(10.0, 0.0) == 100.0
    assert pct_area_reduction(10.0, 12.5) == pytest.approx(-25.0)


# --- healed_on -----------------------------------------------------------------------------


def _with_closure_at(weeks_closed: set[int], n_weeks: int) -> list[AreaPoint]:
    return [visit(7 * w, 0.05 if w in weeks_closed else 5.0 - 0.5 * w) for w in range(n_weeks)]


def test_healed_on_needs_confirmation_at_the_next_visit():
    points = _with_closure_at({8, 9}, 10)
    assert healed_on(points) == day(56)
    metrics = healing_metrics(points)
    assert metrics.healed_on == day(56) and not metrics.closed_at_last_visit
    assert metrics.reopened_on is None
    assert metrics.closure.refused and "already healed" in metrics.closure.refused_reason
    assert metrics.closure.projected_on is None


def test_closed_only_at_last_visit_is_not_healed_yet():
    points = _with_closure_at({9}, 10)
    assert healed_on(points) is None
    metrics = healing_metrics(points)
    assert metrics.healed_on is None and metrics.closed_at_last_visit
    assert "awaiting confirmation" in metrics.closure.refused_reason


def test_single_closed_visit_then_open_is_not_healing():
    points = _with_closure_at({4, 7, 8}, 10)
    assert healed_on(points) == day(49)


def test_reopened_wound_is_reported_and_not_projected():
    points = _with_closure_at({4, 5}, 10)
    metrics = healing_metrics(points)
    assert metrics.healed_on == day(28) and metrics.reopened_on == day(42)
    assert "reopened on 2024-02-12" in metrics.closure.refused_reason


def test_closure_threshold_changes_healed_on():
    points = [visit(0, 3.0), visit(7, 0.4), visit(14, 0.3), visit(21, 0.0)]
    assert healed_on(points) is None
    assert healed_on(points, closed_below_cm2=0.5) == day(7)


# --- refusals ------------------------------------------------------------------------------


def test_refuses_with_three_visits():
    closure = project_closure(exp_series(0.2, range(3)))
    assert closure.refused and "at least 4" in closure.refused_reason
    assert (closure.projected_on, closure.earliest_on, closure.latest_on) == (None, None, None)


def test_refuses_growing_wound():
    closure = project_closure(exp_series(-0.1, range(8)))
    assert closure.refused and "not shrinking" in closure.refused_reason


def test_refuses_when_ci_of_rate_includes_zero():
    rng = np.random.default_rng(1)
    points = [visit(7 * w, 5.0 * math.exp(rng.normal(0.0, 0.2))) for w in range(5)]
    fit = exponential_fit(points)
    assert fit.rate_per_week > 0 and fit.rate_ci_per_week[0] < 0
    closure = project_closure(points)
    assert closure.refused and "not distinguishable from no change" in closure.refused_reason


def test_refuses_noisy_series():
    rng = np.random.default_rng(2)
    weeks = np.arange(20)
    areas = 10.0 * np.exp(-0.05 * weeks + rng.normal(0.0, 0.35, weeks.size))
    points = [visit(7 * int(w), float(a)) for w, a in zip(weeks, areas, strict=True)]
    fit = exponential_fit(points)
    assert fit.rate_ci_per_week[0] > 0  # clearly shrinking ...
    assert fit.r_squared < 0.6  # ... but noisy
    closure = project_closure(points)
    assert closure.refused and "too noisy" in closure.refused_reason


def test_refuses_already_healed():
    points = exp_series(0.2, range(6)) + [visit(42, 0.0), visit(49, 0.0)]
    closure = project_closure(points)
    assert closure.refused and "already healed (closed on 2024-02-12)" in closure.refused_reason


def test_refuses_projection_more_than_two_years_ahead():
    # k = 0.02/week: ln(100) / 0.02 = 230 weeks, about 4.4 years.
    closure = project_closure(exp_series(0.02, range(10)))
    assert closure.refused and "more than 2 years ahead" in closure.refused_reason
    # A rate barely above 0 (tight CI) must not overflow the date arithmetic.
    closure = project_closure(exp_series(1e-6, range(10)))
    assert closure.refused and "more than 2 years ahead" in closure.refused_reason


def test_refuses_projection_that_has_passed_without_a_visit():
    points = exp_series(0.2, range(6))
    assert not project_closure(points, today=day(100)).refused
    closure = project_closure(points, today=day(400))
    assert closure.refused and "has passed" in closure.refused_reason


def test_refuses_when_fitted_curve_closed_before_the_last_open_visit():
    # Fast early shrinking then a plateau: the fitted line hits 0.1 cm² before the last visit,
    # which measured 0.18 cm².
    points = [visit(7 * w, a) for w, a in enumerate([10.0, 1.0, 0.3, 0.25, 0.2, 0.18])]
    closure = project_closure(points)
    assert closure.refused and "the fit does not describe this wound" in closure.refused_reason


def test_interval_is_ordered_and_never_before_the_day_after_the_last_visit():
    seen_clamped = False
    for seed in range(20):
        rng = np.random.default_rng(seed)
        points = [visit(7 * w, 3.0 * math.exp(-0.4 * w + rng.normal(0.0, 0.3))) for w in range(5)]
        closure = project_closure(points)
        if closure.refused:
            continue
        assert day(28) < closure.earliest_on <= closure.projected_on <= closure.latest_on
        seen_clamped |= closure.earliest_on == day(29)
    assert seen_clamped  # seed 14: the fastest rate in the CI would close before the last visit


def test_horizon_counts_from_today():
    points = exp_series(0.2, range(6))  # projected on day 161
    assert not project_closure(points, today=day(35)).refused
    assert healing_metrics(points, today=day(150)).closure.projected_on == day(161)


def test_closure_projection_is_all_or_nothing():
    with pytest.raises(ValueError, match="needs all three dates"):
        ClosureProjection(projected_on=BASE, earliest_on=None, latest_on=None, refused_reason=None)
    with pytest.raises(ValueError, match="must not carry dates"):
        ClosureProjection(projected_on=BASE, earliest_on=None, latest_on=None, refused_reason="x")


# --- phases --------------------------------------------------------------------------------


def _two_rate_series() -> list[AreaPoint]:
    """k = 0.05/week for weeks 0..5, then 0.3/week from week 6 (treatment start, day 42)."""
    points = []
    for w in range(13):
        log_area = math.log(10.0) - 0.05 * min(w, 6) - 0.3 * max(w - 6, 0)
        area = math.exp(log_area)
        points.append(visit(7 * w, area, perimeter_cm=2 * math.sqrt(math.pi * area)))
    return points


def test_phase_rates_recover_rate_change_at_treatment_start():
    points = _two_rate_series()
    phases = phases_from_courses([("sodium_thiosulfate", day(42), None)])
    before, during = healing_metrics(points, phases=phases).phases
    assert before.label == "before sodium_thiosulfate" and before.n_visits == 6
    assert during.label == "during sodium_thiosulfate" and during.n_visits == 7
    assert before.exp_rate_per_week == pytest.approx(0.05, rel=0.01)
    assert during.exp_rate_per_week == pytest.approx(0.3, rel=0.01)
    assert during.pct_change_per_week == pytest.approx(100 * (math.exp(-0.3) - 1), rel=0.01)
    assert before.exp_rate_ci_per_week[0] <= 0.05 <= before.exp_rate_ci_per_week[1]
    # Gilman over the first and last visit of each phase (circular wounds).
    first, last = points[6], points[12]
    expected = (
        (first.wound_area_cm2 - last.wound_area_cm2)
        / ((first.perimeter_cm + last.perimeter_cm) / 2)
        / 6.0
    )
    assert during.gilman_cm_per_week == pytest.approx(expected)


def test_phase_with_too_few_or_no_visits():
    points = _two_rate_series()
    rates = phase_rates(
        points,
        [
            Phase(label="one visit", start_on=day(40), end_on=day(44)),
            Phase(label="none", start_on=day(200), end_on=None),
            Phase(label="all", start_on=None, end_on=None),
        ],
    )
    assert [r.n_visits for r in rates] == [1, 0, 13]
    assert rates[0].exp_rate_per_week is None and rates[0].gilman_cm_per_week is None
    assert rates[1].exp_rate_per_week is None and rates[1].pct_change_per_week is None
    assert rates[2].exp_rate_per_week is not None


def test_phases_from_courses():
    phases = phases_from_courses(
        [("sodium_thiosulfate", day(10), day(20)), ("hyperbaric_oxygen", day(30), None)]
    )
    assert phases == [
        Phase(label="before sodium_thiosulfate", start_on=None, end_on=day(9)),
        Phase(label="during sodium_thiosulfate", start_on=day(10), end_on=day(20)),
        Phase(label="after sodium_thiosulfate", start_on=day(21), end_on=None),
        Phase(label="before hyperbaric_oxygen", start_on=None, end_on=day(29)),
        Phase(label="during hyperbaric_oxygen", start_on=day(30), end_on=None),
    ]
    assert phases[1].contains(day(10)) and phases[1].contains(day(20))
    assert not phases[1].contains(day(21)) and not phases[0].contains(day(10))


# --- merging and input errors -----------------------------------------------------------


def test_visits_are_sorted_and_same_date_visits_averaged():
    points = [visit(7, 6.0, 9.0), visit(0, 10.0), visit(7, 4.0), visit(0, 12.0, 14.0)]
    series = prepare_series(points)
    assert [p.taken_on for p in series] == [day(0), day(7)]
    assert series[0].wound_area_cm2 == 11.0 and series[0].perimeter_cm == 14.0
    assert series[1].wound_area_cm2 == 5.0 and series[1].perimeter_cm == 9.0
    assert healing_metrics(points).pct_area_reduction == pytest.approx(100 * 6 / 11)


def test_single_visit_metrics():
    metrics = healing_metrics([visit(0, 3.0, 7.0)])
    assert metrics.n_visits == 1 and metrics.pct_area_reduction == 0.0
    assert metrics.exp_rate_per_week is None and metrics.half_life_days is None
    assert metrics.exp_a0_cm2 is None
    assert metrics.gilman_cm_per_week is None and metrics.par_week4_pct is None
    assert metrics.closure.refused and "Only 1 visit" in metrics.closure.refused_reason


def test_metrics_are_frozen():
    metrics = healing_metrics(exp_series(0.2, range(5)))
    with pytest.raises(
        dataclasses.FrozenInstanceError, match=r"^cannot assign to field 'n_visits'$"
    ):
        metrics.n_visits = 3  # type: ignore[misc]


def test_empty_input_raises():
    for function in (healing_metrics, par_at_week4, gilman_rate_cm_per_week, exponential_fit):
        with pytest.raises(HealingInputError, match="no visits given"):
            function([])
    with pytest.raises(ValueError, match="no visits given"):
        project_closure([])
    with pytest.raises(WoundtrackError, match="no visits given"):
        healed_on([])


@pytest.mark.parametrize("bad", [-0.5, math.nan, math.inf, "3"])
def test_bad_area_raises_naming_the_date(bad):
    with pytest.raises(ValueError, match=r"visit of 2024-01-08: wound_area_cm2 must be a finite"):
        visit(7, bad)


def test_bad_optional_figure_raises_naming_the_date():
    with pytest.raises(ValueError, match=r"visit of 2024-01-01: perimeter_cm must be"):
        visit(0, 1.0, -2.0)


def test_datetime_instead_of_date_is_refused():
    with pytest.raises(ValueError, match=r"convert instants with `\.date\(\)`"):
        AreaPoint(taken_on=datetime(2024, 1, 1, 9, 30), wound_area_cm2=1.0)
    with pytest.raises(ValueError, match="Phase.start_on must be a datetime.date"):
        Phase(label="x", start_on="2024-01-01", end_on=None)  # type: ignore[arg-type]


def test_not_an_area_point_raises():
    with pytest.raises(ValueError, match="expected AreaPoint visits, got dict"):
        healing_metrics([{"taken_on": BASE, "wound_area_cm2": 1.0}])  # type: ignore[list-item]


def test_zero_baseline_raises():
    with pytest.raises(ValueError, match="baseline area is 0 cm²"):
        healing_metrics([visit(0, 0.0), visit(7, 1.0)])
    with pytest.raises(ValueError, match="baseline area is 0 cm²"):
        pct_area_reduction(0.0, 1.0)


def test_bad_area_in_pct_area_reduction_raises():
    with pytest.raises(ValueError, match="area_cm2 must be a finite area"):
        pct_area_reduction(10.0, -1.0)


@pytest.mark.parametrize("bad", [0.0, -0.1, math.nan, True])
def test_bad_threshold_raises(bad):
    with pytest.raises(ValueError, match="closed_below_cm2 must be a finite number > 0"):
        healing_metrics([visit(0, 1.0)], closed_below_cm2=bad)


def test_today_before_last_visit_raises():
    with pytest.raises(ValueError, match=r"today \(2024-01-02\) is before the last visit"):
        project_closure(exp_series(0.2, range(5)), today=day(1))


def test_phase_errors():
    with pytest.raises(ValueError, match="end_on 2024-01-01 is before start_on 2024-01-11"):
        Phase(label="x", start_on=day(10), end_on=day(0))
    with pytest.raises(ValueError, match="Phase.label must be a non-empty string"):
        Phase(label=" ", start_on=None, end_on=None)
    with pytest.raises(ValueError, match="expected Phase values"):
        phase_rates([visit(0, 1.0)], [("x", None, None)])  # type: ignore[list-item]


def test_course_errors():
    with pytest.raises(ValueError, match="course 'x' ends .* before it starts"):
        phases_from_courses([("x", day(10), day(5))])
    with pytest.raises(ValueError, match=r"a \(label, start_on, end_on\) triple"):
        phases_from_courses([("x", day(10))])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="course 'x'.start_on must be a datetime.date"):
        phases_from_courses([("x", "2024-01-01", None)])  # type: ignore[list-item]


# --- dates at the ends of the calendar (issue 30, row 4) -----------------------------------------


def test_a_projection_past_the_last_calendar_date_is_refused_not_raised():
    # Stored visits dated in late 9999 (a camera's unset clock, saved before dates were checked):
    # the fit projects closure about 117 days after the first, past 9999-12-31.
    start = date(9999, 11, 12)
    points = [
        AreaPoint(taken_on=start + timedelta(weeks=w), wound_area_cm2=15 * math.exp(-0.3 * w))
        for w in range(8)
    ]
    closure = project_closure(points)
    assert closure.refused and closure.projected_on is None
    assert closure.refused_reason == (
        "The projected closure falls after 9999-12-31, the last date the calendar holds; "
        "check the visit dates (last visit 9999-12-31)."
    )
    metrics = healing_metrics(points)
    assert metrics.closure == closure
    assert metrics.exp_rate_per_week == pytest.approx(0.3)


def test_a_visit_on_the_last_calendar_date_gives_figures():
    points = [visit(0, 10.0)] + [
        AreaPoint(taken_on=date.max - timedelta(weeks=4 - w), wound_area_cm2=8.0 - w)
        for w in range(5)
    ]
    metrics = healing_metrics(points)
    assert metrics.latest_on == date.max and metrics.closure.refused
    first = [AreaPoint(taken_on=date.min, wound_area_cm2=5.0), visit(0, 4.0)]
    assert healing_metrics(first).baseline_on == date.min


def test_courses_at_the_ends_of_the_calendar_have_no_phase_beyond_them():
    phases = phases_from_courses([("legacy", date.min, date.max), ("x", day(10), date.max)])
    assert phases == [
        Phase(label="during legacy", start_on=date.min, end_on=date.max),
        Phase(label="before x", start_on=None, end_on=day(9)),
        Phase(label="during x", start_on=day(10), end_on=date.max),
    ]
    rates = healing_metrics(exp_series(0.2, range(6)), phases=phases).phases
    assert [r.n_visits for r in rates] == [6, 2, 4]


# --- properties against an independent computation (hypothesis) ---------------------------------

_AREA_CM2 = st.floats(min_value=0.2, max_value=50.0, allow_nan=False, allow_infinity=False)


@st.composite
def _series(draw: st.DrawFn, *, min_visits: int = 2) -> tuple[list[int], list[float]]:
    """Visit days (distinct, from 0) and open-wound areas (all above the closure threshold)."""
    later = draw(st.lists(st.integers(1, 120), min_size=min_visits - 1, max_size=11, unique=True))
    days = [0, *sorted(later)]
    return days, [draw(_AREA_CM2) for _ in days]


@settings(max_examples=300, deadline=None)
@given(_AREA_CM2, st.floats(min_value=0.0, max_value=100.0))
def test_pct_area_reduction_undoes_to_the_area(baseline_cm2: float, area_cm2: float) -> None:
    par = pct_area_reduction(baseline_cm2, area_cm2)
    assert baseline_cm2 * (1 - par / 100) == pytest.approx(area_cm2, rel=1e-9, abs=1e-12)
    assert (par > 0) == (area_cm2 < baseline_cm2) and (par < 0) == (area_cm2 > baseline_cm2)
    if area_cm2 == 0:
        assert par == 100.0  # exactly: a closed wound


@settings(max_examples=300, deadline=None)
@given(_series())
def test_par_at_week4_matches_numpy_interpolation(series: tuple[list[int], list[float]]) -> None:
    days, areas = series
    points = [visit(d, a) for d, a in zip(days, areas, strict=True)]
    before = [d for d in days[1:] if d <= 28]
    after = [d for d in days[1:] if d >= 28]
    if before and after and 28 - before[-1] <= 14 and after[0] - 28 <= 14:
        area28 = float(np.interp(28.0, days, areas))  # linear between the visits around day 28
    else:
        nearest = min(days[1:], key=lambda d: (abs(d - 28), d))
        area28 = areas[days.index(nearest)] if abs(nearest - 28) <= 7 else None
    expected = None if area28 is None else 100.0 * (areas[0] - area28) / areas[0]
    got = par_at_week4(points)
    assert (got is None) == (expected is None)
    if expected is not None:
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(_series(min_visits=3))
def test_exponential_fit_matches_numpy_polyfit(series: tuple[list[int], list[float]]) -> None:
    days, areas = series
    fit = exponential_fit([visit(d, a) for d, a in zip(days, areas, strict=True)])
    weeks = np.array(days) / 7.0
    log_area = np.log(areas)
    (slope, intercept), cov = np.polyfit(weeks, log_area, 1, cov=True)
    assert fit is not None and fit.n_visits == len(days)
    assert fit.rate_per_week == pytest.approx(-slope, rel=1e-7, abs=1e-9)
    assert fit.a0_cm2 == pytest.approx(math.exp(intercept), rel=1e-7)
    constant = np.ptp(log_area) == 0
    r_squared = 0.0 if constant else np.corrcoef(weeks, log_area)[0, 1] ** 2
    assert fit.r_squared == pytest.approx(r_squared, abs=1e-9)
    # ~95 % interval: k ± t(0.975, n - 2) SE, SE from polyfit's covariance (residuals / (n - 2)).
    half_width = stats.t.ppf(0.975, len(days) - 2) * math.sqrt(cov[0, 0])
    low, high = fit.rate_ci_per_week
    assert low == pytest.approx(-slope - half_width, rel=1e-6, abs=1e-9)
    assert high == pytest.approx(-slope + half_width, rel=1e-6, abs=1e-9)
    projection = project_closure([visit(d, a) for d, a in zip(days, areas, strict=True)])
    if not projection.refused:
        # Closure where a0 e^(-k t) = 0.1 cm²: t = ln(a0 / 0.1) / k weeks after the first visit.
        closure_days = math.log(math.exp(intercept) / CLOSED_BELOW_CM2) / -slope * 7
        assert abs((projection.projected_on - BASE).days - closure_days) <= 0.5 + 1e-6


# --- issue 30 mutation run: figures and boundaries no other test pinned ---------------------------
# Expected values are worked out here from the definitions (plain sums, no call into healing.py).


def _ols(t: list[float], y: list[float]) -> tuple[float, float, float]:
    """Slope, intercept and SE(slope) of y on t by the textbook sums."""
    n = len(t)
    tm, ym = sum(t) / n, sum(y) / n
    sxx = sum((a - tm) ** 2 for a in t)
    slope = sum((a - tm) * (b - ym) for a, b in zip(t, y, strict=True)) / sxx
    intercept = ym - slope * tm
    ssr = sum((b - intercept - slope * a) ** 2 for a, b in zip(t, y, strict=True))
    return slope, intercept, math.sqrt(ssr / (n - 2) / sxx) if n > 2 else math.nan


def _designed(k: float, e: float, ln_end: float = math.log(0.1)) -> list[AreaPoint]:
    """Weekly visits, weeks 0..3: ln A = ln_end + k (3 - t) + e * (1, -1, -1, 1).

    The residual pattern sums to 0 and is orthogonal to t, so the least-squares line is exactly
    ln_end + k (3 - t): it reaches ln_end at week 3, and SE(k) = e sqrt(4 / 2 / 5).
    """
    residual = (1, -1, -1, 1)
    return [visit(7 * w, math.exp(ln_end + k * (3 - w) + e * residual[w])) for w in range(4)]


def test_area_point_refuses_a_missing_wound_area_date_and_any_later_bad_figure():
    with pytest.raises(HealingInputError, match="wound_area_cm2 must be a finite number"):
        AreaPoint(taken_on=BASE, wound_area_cm2=None)  # type: ignore[arg-type]
    with pytest.raises(HealingInputError, match="taken_on must be a datetime.date"):
        AreaPoint(taken_on=None, wound_area_cm2=1.0)  # type: ignore[arg-type]
    # a missing optional figure must not stop the check of the ones after it
    with pytest.raises(HealingInputError, match="eschar_area_cm2 must be a finite number"):
        AreaPoint(taken_on=BASE, wound_area_cm2=1.0, perimeter_cm=None, eschar_area_cm2=-1.0)
    with pytest.raises(HealingInputError, match="erythema_area_cm2 must be a finite number"):
        AreaPoint(taken_on=BASE, wound_area_cm2=1.0, erythema_area_cm2=math.nan)


def test_visits_on_one_date_keep_the_mean_of_every_tissue_area():
    first = AreaPoint(
        taken_on=BASE,
        wound_area_cm2=4.0,
        eschar_area_cm2=1.0,
        slough_area_cm2=2.0,
        granulation_area_cm2=1.0,
        erythema_area_cm2=6.0,
    )
    second = AreaPoint(
        taken_on=BASE,
        wound_area_cm2=6.0,
        eschar_area_cm2=3.0,
        slough_area_cm2=None,
        granulation_area_cm2=2.0,
        erythema_area_cm2=8.0,
    )
    (merged,) = prepare_series([first, second])
    assert merged.wound_area_cm2 == 5.0
    assert merged.eschar_area_cm2 == 2.0
    assert merged.slough_area_cm2 == 2.0  # the mean of the visits that have it
    assert merged.granulation_area_cm2 == 1.5
    assert merged.erythema_area_cm2 == 7.0


def test_a_one_day_phase_or_course_is_allowed_and_end_on_is_checked():
    one_day = Phase(label="single dose", start_on=day(3), end_on=day(3))
    assert one_day.contains(day(3)) and not one_day.contains(day(4))
    labels = [p.label for p in phases_from_courses([("iloprost", day(3), day(3))])]
    assert labels == ["before iloprost", "during iloprost", "after iloprost"]
    with pytest.raises(HealingInputError, match=r"Phase.end_on must be a datetime.date"):
        Phase(label="x", start_on=None, end_on="2024-01-05")  # type: ignore[arg-type]
    with pytest.raises(HealingInputError, match=r"course 'x'.end_on must be a datetime.date"):
        phases_from_courses([("x", day(0), "2024-01-05")])  # type: ignore[list-item]


def test_par_interpolates_when_the_visit_before_is_exactly_two_weeks_early():
    # days 0 / 14 / 35, areas 10 / 8 / 4: day 28 lies 2/3 of the way from 8 to 4 -> 5.333 cm²
    par = par_at_week4([visit(0, 10.0), visit(14, 8.0), visit(35, 4.0)])
    assert par == pytest.approx(100 * (10 - (8 - 4 * 14 / 21)) / 10)  # 46.67 %, not 60 %


def test_gilman_rate_of_a_small_wound_with_a_perimeter_under_one_cm():
    # 0.04 -> 0.01 cm² over 2 weeks, perimeters 0.8 and 0.4 cm: 0.03 / 0.6 / 2 = 0.025 cm/week
    rate = gilman_rate_cm_per_week([visit(0, 0.04, 0.8), visit(14, 0.01, 0.4)])
    assert rate == pytest.approx(0.025)


def test_exponential_fit_with_two_open_visits_and_its_visit_window():
    fit = exponential_fit([visit(0, 8.0), visit(14, 2.0)])
    assert fit is not None
    assert fit.rate_per_week == pytest.approx(math.log(4.0) / 2.0)  # ln(8/2) over 2 weeks
    assert fit.rate_se_per_week is None and fit.rate_ci_per_week is None
    assert fit.n_visits == 2
    # a visit exactly at the threshold is closed: left out of the fit
    fit = exponential_fit([visit(0, 10.0), visit(7, 5.0), visit(14, 2.5), visit(21, 0.1)])
    assert fit is not None and fit.n_visits == 3
    assert (fit.first_on, fit.last_on) == (day(0), day(14))
    assert fit.rate_per_week == pytest.approx(math.log(2.0))


def test_exponential_fit_standard_error_by_hand():
    areas = [10.0, 6.0, 4.5, 2.0, 1.5]
    points = [visit(7 * w, a) for w, a in enumerate(areas)]
    slope, intercept, se = _ols([0.0, 1.0, 2.0, 3.0, 4.0], [math.log(a) for a in areas])
    fit = exponential_fit(points)
    assert fit is not None
    assert fit.rate_per_week == pytest.approx(-slope, rel=1e-12)
    assert fit.a0_cm2 == pytest.approx(math.exp(intercept), rel=1e-12)
    assert fit.rate_se_per_week == pytest.approx(se, rel=1e-9)
    half = stats.t.ppf(0.975, 3) * se
    assert fit.rate_ci_per_week == pytest.approx((-slope - half, -slope + half), rel=1e-9)


def test_closure_exactly_at_the_threshold_counts_as_closed():
    # 0.1 cm² is "closed" (at or below the threshold): two such visits in a row confirm healing
    points = [visit(0, 2.0), visit(7, 0.1), visit(14, 0.1), visit(21, 0.5)]
    assert healed_on(points) == day(7)
    metrics = healing_metrics(points)
    assert metrics.healed_on == day(7) and metrics.reopened_on == day(21)
    # closed at the last visit only, at exactly 0.1
    metrics = healing_metrics([visit(0, 2.0), visit(7, 1.0), visit(14, 0.1)])
    assert metrics.closed_at_last_visit and metrics.healed_on is None
    # closed at exactly 0.1 and then at 0.05: confirmed, not awaiting confirmation
    metrics = healing_metrics([visit(0, 2.0), visit(7, 0.1), visit(14, 0.05)])
    assert metrics.healed_on == day(7) and not metrics.closed_at_last_visit
    # two visits, both closed: confirmed, not awaiting confirmation
    metrics = healing_metrics([visit(0, 0.05), visit(7, 0.0)])
    assert metrics.healed_on == day(0) and not metrics.closed_at_last_visit
    # a visit at exactly 0.1 in the middle is not an open visit: only 3 open ones
    projection = project_closure([visit(0, 8.0), visit(7, 4.0), visit(14, 0.1), visit(21, 1.0)])
    assert projection.refused_reason is not None
    assert projection.refused_reason.startswith("Only 3 visit(s) with an open wound")


def test_a_custom_closure_threshold_reaches_every_figure():
    # at 0.5 cm² the 0.3 cm² visit of day 21 is closed: the fit uses weeks 0, 1, 2, 4 only,
    # where A = 16 * 2^-t exactly (with it, at 0.1 cm², the rate would be 0.88 per week)
    points = [visit(0, 16.0), visit(7, 8.0), visit(14, 4.0), visit(21, 0.3), visit(28, 1.0)]
    all_visits = [Phase(label="all", start_on=None, end_on=None)]
    metrics = healing_metrics(points, closed_below_cm2=0.5, phases=all_visits)
    assert metrics.closed_below_cm2 == 0.5
    assert metrics.exp_rate_per_week == pytest.approx(math.log(2.0))
    assert metrics.exp_r_squared == pytest.approx(1.0)
    assert metrics.phases[0].exp_rate_per_week == pytest.approx(math.log(2.0))
    # closure: 16 * 2^-t = 0.5 at t = 5 weeks = day 35
    assert metrics.closure.projected_on == day(35)
    assert project_closure(points, closed_below_cm2=0.5).projected_on == day(35)


def test_healing_metrics_reports_baseline_latest_and_fit_figures():
    areas = [10.0, 6.0, 4.5, 2.0, 1.5]
    slope, _, se = _ols([0.0, 1.0, 2.0, 3.0, 4.0], [math.log(a) for a in areas])
    metrics = healing_metrics([visit(7 * w, a) for w, a in enumerate(areas)])
    assert metrics.baseline_area_cm2 == 10.0 and metrics.latest_area_cm2 == 1.5
    assert metrics.pct_area_reduction == pytest.approx(85.0)
    half = stats.t.ppf(0.975, 3) * se
    assert metrics.exp_rate_ci_per_week == pytest.approx((-slope - half, -slope + half))
    t = [0.0, 1.0, 2.0, 3.0, 4.0]
    y = [math.log(a) for a in areas]
    tm, ym = sum(t) / 5, sum(y) / 5
    r = sum((a - tm) * (b - ym) for a, b in zip(t, y, strict=True)) / math.sqrt(
        sum((a - tm) ** 2 for a in t) * sum((b - ym) ** 2 for b in y)
    )
    assert metrics.exp_r_squared == pytest.approx(r * r)


def test_constant_areas_are_not_shrinking_and_have_no_half_life():
    points = [visit(7 * w, 5.0) for w in range(5)]
    metrics = healing_metrics(points)
    assert metrics.exp_rate_per_week == 0.0
    assert metrics.half_life_days is None
    assert metrics.closure.refused_reason is not None
    assert metrics.closure.refused_reason.startswith("The wound is not shrinking")


def test_phase_rates_keep_the_phase_dates():
    phase = Phase(label="during x", start_on=day(7), end_on=day(21))
    (rate,) = phase_rates([visit(0, 9.0), visit(7, 8.0), visit(14, 4.0), visit(21, 2.0)], [phase])
    assert (rate.start_on, rate.end_on, rate.n_visits) == (day(7), day(21), 3)
    assert rate.exp_rate_per_week == pytest.approx(math.log(2.0))


def test_closure_projection_with_exactly_four_open_visits():
    # A = 10 e^{-0.5 t}: reaches 0.1 cm² at ln(100) / 0.5 weeks = 64.47 days -> day 64
    projection = project_closure(exp_series(0.5, range(4)))
    assert not projection.refused
    assert projection.projected_on == day(round(math.log(100.0) / 0.5 * 7))


def test_closure_interval_ends_by_hand():
    # the fitted line reaches 0.1 cm² at week 6 (42 days); k = 0.6, SE = e sqrt(0.4)
    k, e = 0.6, 0.05
    points = _designed(k, e, ln_end=math.log(0.1) + 3 * k)
    half = stats.t.ppf(0.975, 2) * e * math.sqrt(0.4)
    ln_ratio = math.log(0.1) + 6 * k - math.log(0.1)  # ln(A0 / 0.1) with A0 at week 0
    latest_days = ln_ratio / (k - half) * 7
    earliest_days = ln_ratio / (k + half) * 7
    assert latest_days % 1 > 1e-6 and earliest_days % 1 > 1e-6
    projection = project_closure(points)
    assert not projection.refused
    assert projection.projected_on == day(42)
    assert projection.latest_on == day(math.ceil(latest_days))
    assert projection.latest_on > day(42)
    assert projection.earliest_on == max(day(math.floor(earliest_days)), day(22))


def test_closure_projection_on_the_last_visit_is_refused():
    # the line reaches 0.1 cm² at week 3, the day of the last visit, where 0.11 cm² was still open
    projection = project_closure(_designed(1.5, 0.1))
    assert projection.refused_reason is not None
    assert "does not describe this wound" in projection.refused_reason


def test_closure_today_and_the_two_year_horizon():
    points = exp_series(0.5, range(5))
    projected = day(round(math.log(100.0) / 0.5 * 7))
    # projected for today itself: still a projection, not "has passed"
    assert project_closure(points, today=projected).projected_on == projected
    metrics = healing_metrics(points, today=projected + timedelta(days=1))
    assert metrics.closure.refused_reason is not None
    assert "has passed" in metrics.closure.refused_reason
    # a long series: the horizon counts from today (the last visit), not from the first visit
    k = 0.5 * math.log(100.0) * 7 / 500.0  # closure at day 500 when visits span 400 days
    slow = [visit(100 * i, 10.0 * math.exp(-k * 100 * i / 7)) for i in range(5)]
    projection = project_closure(slow)
    assert not projection.refused and projection.projected_on == day(round(math.log(100.0) / k * 7))
    # exactly 730 days after the last visit is inside the horizon, 731 is not
    last_week = 3
    for ahead, refused in ((730, False), (731, True)):
        closing_day = 7 * last_week + ahead - 0.4
        k = math.log(100.0) * 7 / closing_day
        projection = project_closure(exp_series(k, range(last_week + 1)))
        assert projection.refused is refused, ahead
        if not refused:
            assert projection.projected_on == day(7 * last_week + ahead)


def test_a_rate_interval_barely_above_zero_is_refused_with_its_reason():
    # k - t(0.975, 2) SE just above 0: the slowest rate would put the latest date past 9999
    k = 0.5
    e = k / (stats.t.ppf(0.975, 2) * math.sqrt(0.4)) * (1 - 1e-9)
    projection = project_closure(_designed(k, e, ln_end=math.log(0.1) + 3 * k))
    assert projection.refused_reason is not None
    assert "too close to 0 to bound the closure date" in projection.refused_reason


def _message(call) -> str:
    with pytest.raises((HealingInputError, ValueError)) as caught:
        call()
    return str(caught.value)


def _not_a_date(owner: str, name: str, value: object) -> str:
    return (
        f"{owner}.{name} must be a datetime.date, got {value!r}; convert instants with `.date()` "
        f"(in the patient's local time zone) before building the {owner}"
    )


def test_refusals_are_whole_sentences_naming_the_field_and_the_fix():
    assert _message(lambda: prepare_series([])) == (
        "no visits given: healing figures need at least one measured visit of the lesion; "
        "measure a photo of it first"
    )
    assert _message(lambda: pct_area_reduction(-1.0, 1.0)) == (
        "baseline_cm2 must be a finite area >= 0 cm², got -1.0; correct the measurement"
    )
    assert _message(lambda: pct_area_reduction(0.0, 1.0)) == (
        "baseline area is 0 cm², so a percentage reduction is undefined; start the series at "
        "the first visit where the wound is open"
    )
    text = "2024-01-05"
    assert _message(lambda: AreaPoint(taken_on=text, wound_area_cm2=1.0)) == _not_a_date(
        "AreaPoint", "taken_on", text
    )
    assert _message(lambda: Phase(label="x", start_on=None, end_on=text)) == _not_a_date(
        "Phase", "end_on", text
    )
    assert _message(lambda: project_closure([visit(0, 1.0)], today=text)) == _not_a_date(
        "project_closure", "today", text
    )
    assert _message(lambda: phases_from_courses([("x", day(0), text)])) == _not_a_date(
        "course 'x'", "end_on", text
    )
    assert _message(lambda: phase_rates([visit(0, 1.0)], ["x"])) == (
        "expected Phase values, got str ('x'); build them with "
        "Phase(label=..., start_on=..., end_on=...) or phases_from_courses()"
    )
    no_dates = dict(earliest_on=None, latest_on=None)
    assert _message(
        lambda: ClosureProjection(projected_on=day(1), refused_reason=None, **no_dates)
    ) == ("ClosureProjection without a refused_reason needs all three dates")
    assert _message(
        lambda: ClosureProjection(projected_on=day(1), refused_reason="r", **no_dates)
    ) == ("a refused ClosureProjection must not carry dates")
