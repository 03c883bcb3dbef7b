"""Tests of the healing chart, the phase table and the headline figures
(``woundtrack.present.charts``).

Rows are built as ``SeriesRow`` values (no database, no image work): a wound shrinking by a
known exponential, against the demo treatment timeline of ``sample_images``.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date, timedelta
from pathlib import Path

import plotly.graph_objects as go
import pytest

from woundtrack.analysis.report import healing_summary, healing_summary_json
from woundtrack.analysis.timeline_csv import read_timeline_csv
from woundtrack.image.overlay import PALETTE
from woundtrack.models import ERYTHEMA, ESCHAR, GRANULATION, SLOUGH, SeriesRow, TreatmentEvent
from woundtrack.present.charts import (
    erythema_text,
    headline_figures,
    healing_figure,
    model_version_note,
    phase_table,
    phase_table_shown,
)

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
BASE = date(2026, 3, 2)
TODAY = date(2026, 5, 20)
RATE_PER_WEEK = 0.3


def row(
    week: int,
    *,
    area_cm2: float | None = None,
    lesion: str = "L1",
    body_site: str = "left calf",
    corrected: bool = False,
) -> SeriesRow:
    """One calibrated visit ``week`` weeks after BASE: 15 cm² shrinking at RATE_PER_WEEK (or
    ``area_cm2``), split 50/20/30 into eschar/slough/granulation, erythema 80 % of the wound."""
    wound = 15.0 * math.exp(-RATE_PER_WEEK * week) if area_cm2 is None else area_cm2

    def part(share: float) -> float:
        return wound * share

    return SeriesRow(
        patient="CUA-007",
        lesion=lesion,
        lesion_index=1,
        body_site=body_site,
        visit_id=100 + week,
        analysis_id=200 + week,
        taken_at=None,
        taken_on=BASE + timedelta(weeks=week),
        photo_sha256=f"{week:02d}" * 32,
        file_name=f"week{week:02d}.jpg",
        calibrated=True,
        wound_area_cm2=wound,
        eschar_area_cm2=part(0.5),
        slough_area_cm2=part(0.2),
        granulation_area_cm2=part(0.3),
        erythema_area_cm2=part(0.8),
        perimeter_cm=2 * math.sqrt(math.pi * wound),
        length_cm=None,
        width_cm=None,
        eschar_pct=50.0,
        slough_pct=20.0,
        granulation_pct=30.0,
        corrected=corrected,
        corrected_by="AB" if corrected else None,
        segmenter="classical-lab",
        model_version="1",
        woundtrack_version="0.1.0",
    )


def uncalibrated(week: int) -> SeriesRow:
    calibrated = row(week)
    fields = {f: getattr(calibrated, f) for f in calibrated.__slots__}
    for name in (
        "wound_area_cm2",
        "eschar_area_cm2",
        "slough_area_cm2",
        "granulation_area_cm2",
        "erythema_area_cm2",
        "perimeter_cm",
    ):
        fields[name] = None
    fields["calibrated"] = False
    return SeriesRow(**fields)


@pytest.fixture(scope="module")
def events() -> list[TreatmentEvent]:
    return read_timeline_csv(SAMPLES / "demo_timeline.csv")


@pytest.fixture(scope="module")
def rows() -> list[SeriesRow]:
    return [row(w, corrected=w == 3) for w in range(8)]


def by_name(fig: go.Figure) -> dict[str, go.Scatter]:
    return {t.name: t for t in fig.data}


def test_tissues_are_stacked_inside_the_wound_area_in_order(rows, events) -> None:
    fig = healing_figure(rows, events, lesion="L1", today=TODAY)
    names = [t.name for t in fig.data]
    assert names[:5] == ["Eschar", "Slough", "Granulation", "Wound area", "Erythema"]
    stacked = fig.data[:3]
    assert {t.stackgroup for t in stacked} == {"tissue"}
    assert fig.data[3].stackgroup is None and fig.data[4].stackgroup is None
    for trace, label in zip(stacked, (ESCHAR, SLOUGH, GRANULATION), strict=True):
        assert trace.line.color == "rgb({}, {}, {})".format(*PALETTE[label])
    # The stacked tissues add up to the wound bed, drawn on top as the total.
    total = [sum(t.y[i] for t in stacked) for i in range(len(rows))]
    assert total == pytest.approx(list(fig.data[3].y))
    assert list(fig.data[3].x) == [r.taken_on for r in rows]
    erythema = fig.data[4]
    assert erythema.line.dash == "dash" and erythema.yaxis == "y2"
    assert erythema.line.color == "rgb({}, {}, {})".format(*PALETTE[ERYTHEMA])
    assert fig.layout.hovermode == "x unified"
    assert fig.layout.yaxis.title.text == "Wound area (cm²)"
    assert fig.layout.yaxis2.title.text == "Erythema (cm²)"
    assert fig.layout.xaxis.matches == "x2" or fig.layout.xaxis2.matches == "x"  # one time axis
    assert "CUA-007" in fig.layout.title.text and "left calf" in fig.layout.title.text


def test_hover_shows_every_area_corrected_and_file(rows, events) -> None:
    fig = healing_figure(rows, events, lesion="L1", today=TODAY)
    wound = by_name(fig)["Wound area"]
    assert "%{y:.2f} cm²" in wound.hovertemplate
    week3 = list(wound.customdata[3])
    assert week3[0] == "3.0"
    assert week3[1] == f"{rows[3].eschar_area_cm2:.2f} cm²"
    assert week3[5] == "yes (AB)" and week3[6] == "week03.jpg"
    assert list(wound.customdata[0])[5] == "no"
    assert week3[7] == "1" and "model %{customdata[7]}" in wound.hovertemplate
    assert all(t.hoverinfo == "skip" for t in fig.data[:3])  # one hover line per visit


def test_the_erythema_reach_is_drawn_on_its_own_axis_for_the_visits_that_have_it(events) -> None:
    reaches = {2: 1.8, 3: 1.2, 4: 0.6, 5: 0.0}  # weeks 0-1 measured before the reach was recorded
    rows = [dataclasses.replace(row(w), erythema_reach_cm=reaches.get(w)) for w in range(6)]
    rows[5] = dataclasses.replace(rows[5], erythema_area_cm2=0.0)
    fig = healing_figure(rows, events, lesion="L1", today=TODAY)
    reach = by_name(fig)["Erythema reach"]
    assert list(reach.x) == [BASE + timedelta(weeks=w) for w in (2, 3, 4, 5)]
    assert list(reach.y) == [1.8, 1.2, 0.6, 0.0]
    assert reach.yaxis == "y3" and fig.layout.yaxis3.overlaying == "y2"  # row 2's right axis
    assert fig.layout.yaxis3.title.text == "reach (cm)"
    hover = list(by_name(fig)["Erythema"].customdata)  # said once, on the erythema's line
    assert hover[:2] == ["", ""] and hover[2] == ", reaching 1.8 cm from the edge"
    assert hover[5] == ""  # no erythema: no reach to speak of
    assert reach.hoverinfo == "skip"
    none_recorded = healing_figure([row(w) for w in range(4)], events, lesion="L1", today=TODAY)
    assert "Erythema reach" not in by_name(none_recorded)


def test_the_erythema_line_gives_the_last_visit_beside_the_first() -> None:
    rows = [row(w) for w in range(4)]
    rows[0] = dataclasses.replace(rows[0], erythema_reach_cm=None)  # measured before the reach
    rows[3] = dataclasses.replace(rows[3], erythema_reach_cm=0.44)
    text = erythema_text(rows, "L1")
    last, first = rows[3], rows[0]
    assert text == (
        f"Periwound erythema on 2026-03-23: {last.erythema_area_cm2:.2f} cm², reaching 0.4 cm "
        f"from the edge (first visit, 2026-03-02: {first.erythema_area_cm2:.2f} cm²)."
    )
    cleared = [rows[0], dataclasses.replace(rows[3], erythema_area_cm2=0.0)]
    assert erythema_text(cleared, "L1").startswith("Periwound erythema on 2026-03-23: none (")
    assert erythema_text(rows[:1], "L1").endswith("cm².")  # one visit: no comparison
    assert erythema_text([uncalibrated(1)], "L1") is None
    assert erythema_text(rows, "L2") is None


def test_a_series_measured_by_two_model_versions_is_said_so(rows) -> None:
    assert model_version_note(rows, "L1") is None  # one version
    switched = [
        dataclasses.replace(r, model_version="clinic-2")
        if r.taken_on >= BASE + timedelta(weeks=5)
        else r
        for r in rows
    ]
    other = dataclasses.replace(row(6, lesion="L2"), model_version="other")  # not L1's
    note = model_version_note([*switched, other], "L1")
    assert note is not None and note.startswith("The visits of L1 were measured by 2 model ")
    assert "1 (5 visits, 2–30 Mar 2026); clinic-2 (3 visits, 6–20 Apr 2026)" in note
    assert "Review page" in note


def test_a_series_measured_by_two_woundtrack_releases_is_said_so(rows) -> None:
    """The same network, but a release that measures differently (0.2: a black patch can be
    vetoed as eschar); a patch release (0.1.1) measures as its minor release does."""
    patched = [
        dataclasses.replace(r, woundtrack_version="0.1.1") if r.taken_on.day % 2 else r
        for r in rows
    ]
    assert model_version_note(patched, "L1") is None
    upgraded = [
        dataclasses.replace(r, woundtrack_version="0.2.0")
        if r.taken_on >= BASE + timedelta(weeks=6)
        else r
        for r in rows
    ]
    note = model_version_note(upgraded, "L1")
    assert note is not None
    assert note.startswith("The visits of L1 were measured by 2 versions of woundtrack or ")
    assert (
        "1 with woundtrack 0.1 (6 visits, 2 Mar – 6 Apr 2026); "
        "1 with woundtrack 0.2 (2 visits, 13–20 Apr 2026)" in note
    )


def test_courses_are_bands_and_point_events_are_lines(rows, events) -> None:
    fig = healing_figure(rows, events, lesion="L1", today=TODAY)
    legend = [s for s in fig.layout.shapes if s.showlegend]
    assert [s.name.split(" (")[0] for s in legend] == ["Hyperbaric oxygen", "Sodium thiosulfate"]
    assert legend[0].x0 == date(2026, 3, 16) and legend[0].x1 == date(2026, 5, 5)
    bands = [s for s in fig.layout.shapes if s.type == "rect" and s.y0 == 0 and s.y1 == 1]
    assert len(bands) == 2  # routine dressing changes are not drawn
    assert bands[0].fillcolor != bands[1].fillcolor
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert sorted(s.x0 for s in lines) == [date(2026, 3, 2), date(2026, 3, 10)]
    texts = [a.text for a in fig.layout.annotations]
    assert "Debridement" in texts and "Parathyroidectomy" in texts
    assert any(t.startswith("Sodium thiosulfate · 30 Mar 2026") for t in texts)
    assert not any("Dressing" in t for t in texts)


def test_an_ongoing_course_runs_to_today(rows) -> None:
    sts = TreatmentEvent(kind="STS", start_on=date(2026, 4, 1), frequency="3 per week")
    fig = healing_figure(rows, [sts], lesion="L1", today=TODAY)
    [lane] = [s for s in fig.layout.shapes if s.showlegend]
    assert lane.x1 == TODAY + timedelta(days=1)


def test_projection_is_drawn_when_the_summary_projects(rows, events) -> None:
    # Expected figures by hand, not from the code under test: A = 15 e^(-0.3 t) (t in weeks from
    # 2 March 2026) falls to 0.1 cm² at t = ln(150) / 0.3 = 16.70 weeks = 116.9 days, so the
    # closure is projected on 27 June 2026 (day 117). The fit is exact, so the 95 % interval of
    # the rate is a point: the interval runs from day 116 (rounded down) to day 117 (rounded up).
    projected, earliest, latest = date(2026, 6, 27), date(2026, 6, 26), date(2026, 6, 27)
    summary = healing_summary(rows, events).lesions["L1"]
    fig = healing_figure(rows, events, lesion="L1", summary=summary, today=TODAY)
    traces = by_name(fig)
    fit = traces["Exponential fit"]
    assert fit.x[0] == BASE and fit.x[-1] == projected
    assert fit.y[0] == pytest.approx(15.0)
    assert fit.y[-1] == pytest.approx(15.0 * math.exp(-0.3 * 117 / 7))  # 0.0995 cm² on day 117
    assert traces["95 % interval of the fit"].fill == "toself"
    closure = traces["Projected closure"]
    assert list(closure.x) == [earliest, projected, latest]
    texts = " ".join(a.text for a in fig.layout.annotations)
    assert "PAR week 4: <b>70 %</b>" in texts  # the visit on day 28: 100 (1 - e^(-1.2)) = 69.9
    assert "Projected closure <b>27 Jun 2026</b><br>95 % interval 26–27 Jun 2026" in texts
    assert "−25.9 % per week" in texts  # 100 (exp(-0.3) - 1)
    assert "Projected closure" in texts
    assert date.fromisoformat(str(fig.layout.xaxis.range[1])[:10]) > latest  # in view


def test_the_fitted_curve_is_the_one_the_metrics_carry(rows, events) -> None:
    metrics = healing_summary(rows, events).lesions["L1"]
    k, a0_cm2 = metrics.exp_rate_per_week, metrics.exp_a0_cm2
    fit = by_name(healing_figure(rows, events, lesion="L1", summary=metrics, today=TODAY))[
        "Exponential fit"
    ]
    expected = [a0_cm2 * math.exp(-k * (d - BASE).days / 7) for d in fit.x]
    assert list(fit.y) == pytest.approx(expected, rel=1e-12)
    # Drawn from the figures given, not refitted to the rows.
    doubled = dataclasses.replace(metrics, exp_a0_cm2=2 * a0_cm2)
    fig = healing_figure(rows, events, lesion="L1", summary=doubled, today=TODAY)
    assert list(by_name(fig)["Exponential fit"].y) == pytest.approx([2 * y for y in expected])


def test_no_projection_without_a_summary_or_when_it_is_refused(rows, events) -> None:
    plain = healing_figure(rows, events, lesion="L1", today=TODAY)
    assert "Exponential fit" not in by_name(plain)
    three = rows[:3]  # fewer than 4 open visits: the summary refuses to project
    summary = healing_summary(three, events).lesions["L1"]
    assert summary.closure.refused_reason
    fig = healing_figure(three, events, lesion="L1", summary=summary, today=TODAY)
    assert not {"Exponential fit", "Projected closure"} & set(by_name(fig))
    assert not any("PAR week 4" in a.text for a in fig.layout.annotations)  # no visit near day 28


def test_uncalibrated_visits_are_left_out_and_said_so(rows, events) -> None:
    mixed = [*rows[:4], uncalibrated(4), uncalibrated(5), *rows[6:]]
    fig = healing_figure(mixed, events, lesion="L1", today=TODAY)
    wound = by_name(fig)["Wound area"]
    assert BASE + timedelta(weeks=4) not in list(wound.x)
    assert len(wound.x) == len(rows) - 2
    assert "2 visits not shown" in fig.layout.title.text


def test_only_the_lesion_asked_for_is_drawn(rows, events) -> None:
    other = [row(w, area_cm2=3.0, lesion="L2", body_site="right shin") for w in range(3)]
    fig = healing_figure([*rows, *other], events, lesion="L2", today=TODAY)
    assert list(by_name(fig)["Wound area"].y) == [3.0, 3.0, 3.0]
    assert "right shin" in fig.layout.title.text


def test_a_lesion_without_calibrated_visits_gives_a_message(events) -> None:
    fig = healing_figure([uncalibrated(0), uncalibrated(1)], events, lesion="L1", today=TODAY)
    assert list(by_name(fig)["Wound area"].x) == []
    assert any("No calibrated visit of lesion L1" in a.text for a in fig.layout.annotations)


def test_unknown_lesion_is_refused(rows, events) -> None:
    with pytest.raises(ValueError, match=r"lesion 'L9' has no visit .*lesions: L1"):
        healing_figure(rows, events, lesion="L9")


def test_user_text_is_escaped_in_the_chart(events) -> None:
    rows = [row(w, body_site="<b>calf</b>") for w in range(3)]
    fig = healing_figure(rows, events, lesion="L1", today=TODAY)
    assert "&lt;b&gt;calf&lt;/b&gt;" in fig.layout.title.text


def test_phase_table_rows_are_rounded_and_named(rows, events) -> None:
    summary = healing_summary(rows, events).lesions["L1"]
    table = phase_table(summary)
    # The visits end on 2026-04-20, before either course ends: no "after" phase is listed yet.
    assert [r["Phase"] for r in table] == [
        "Before hyperbaric oxygen",
        "During hyperbaric oxygen",
        "Before sodium thiosulfate",
        "During sodium thiosulfate",
    ]
    during = table[3]
    assert set(during) == {
        "Phase",
        "Dates",
        "Visits",
        "Area change (%/week)",
        "Gilman (cm/week)",
    }
    assert during["Dates"] == "2026-03-30 – 2026-06-22"
    assert during["Visits"] == 4
    assert during["Area change (%/week)"] == pytest.approx(-25.9, abs=0.05)
    assert during["Gilman (cm/week)"] == round(during["Gilman (cm/week)"], 2)
    assert table[0]["Dates"] == "until 2026-03-15"
    # as the app and the report show it: a true minus sign
    shown = phase_table_shown(summary)
    assert shown[3]["Area change (%/week)"] == f"{during['Area change (%/week)']:+.1f}".replace(
        "-", "\u2212"
    )
    assert [r["Phase"] for r in shown] == [r["Phase"] for r in table]


def test_a_phase_without_visits_is_listed_with_a_dash_unless_it_begins_after_the_last_visit(
    rows,
) -> None:
    # A 3-day course between two weekly visits: no visit during it, but visits after it.
    short = [TreatmentEvent(kind="antibiotics", start_on=date(2026, 3, 3), end_on=date(2026, 3, 5))]
    # A course that ends after the last visit (2026-04-20): its "after" phase has not begun.
    later = [TreatmentEvent(kind="cinacalcet", start_on=date(2026, 3, 3), end_on=date(2026, 6, 1))]
    table = phase_table_shown(healing_summary(rows, short).lesions["L1"])
    assert [r["Phase"] for r in table] == [
        "Before antibiotics",
        "During antibiotics",
        "After antibiotics",
    ]
    assert table[1]["Visits"] == 0
    assert table[1]["Area change (%/week)"] == table[1]["Gilman (cm/week)"] == "—"
    table = phase_table_shown(healing_summary(rows, later).lesions["L1"])
    assert [r["Phase"] for r in table] == ["Before cinacalcet", "During cinacalcet"]


def test_summary_json_gives_the_reopening_and_the_closure_threshold(events) -> None:
    areas = [6.0, 3.0, 0.05, 0.0, 1.2, 1.0]  # healed in week 2, reopened in week 4
    summary = healing_summary([row(w, area_cm2=a) for w, a in enumerate(areas)], events)
    metrics = summary.lesions["L1"]
    assert metrics.reopened_on == BASE + timedelta(weeks=4)
    doc = healing_summary_json(summary)
    l1 = doc["lesions"]["L1"]
    assert l1["healed_on"] == (BASE + timedelta(weeks=2)).isoformat()
    assert l1["reopened_on"] == (BASE + timedelta(weeks=4)).isoformat()
    assert l1["closed_below_cm2"] == metrics.closed_below_cm2 == 0.1
    assert "reopened on" in l1["projected_closure_on"]["refused_reason"]
    assert doc["patient"] == "CUA-007" and doc["note"] == summary.note


def test_headline_figures_give_the_refusal_reason(rows, events) -> None:
    projected = dict(
        (n, (v, d)) for n, v, d in headline_figures(healing_summary(rows, events).lesions["L1"])
    )
    assert projected["PAR at week 4"][0] == "70 %"  # 100 (1 - exp(-1.2))
    assert projected["Rate"][0] == "−25.9 %/week"
    assert projected["Projected closure"][1].startswith("95 % interval")
    refused = dict(
        (n, (v, d)) for n, v, d in headline_figures(healing_summary(rows[:3], events).lesions["L1"])
    )
    assert refused["Projected closure"][0] == "not projected"
    assert "at least 4" in refused["Projected closure"][1]


# Issue 30, row 4: dates stored before they were checked (an unset camera clock, a typo in a
# timeline) lie at the very ends of the calendar, where date arithmetic overflows.
LEGACY_EVENTS = [
    TreatmentEvent(kind="STS", start_on=date(1, 1, 1), end_on=date(9999, 12, 31), stored=True),
    TreatmentEvent(kind="HBOT", start_on=date(9999, 12, 31), frequency="daily", stored=True),
    TreatmentEvent(kind="PTX", start_on=date(1, 1, 1), stored=True),
]


@pytest.mark.parametrize(
    "days",
    [
        [date.max - timedelta(days=21 - 7 * w) for w in range(4)],  # PAR's day 28 is past 9999
        [date.min + timedelta(weeks=w) for w in range(6)],
        [date(9999, 11, 12) + timedelta(weeks=w) for w in range(8)],  # closure past 9999
    ],
    ids=["to-9999-12-31", "from-0001-01-01", "closure-past-9999"],
)
def test_dates_at_the_ends_of_the_calendar_never_break_the_chart(days: list[date]) -> None:
    rows = [dataclasses.replace(row(w), taken_on=d) for w, d in enumerate(days)]
    for events in ([], LEGACY_EVENTS):
        metrics = healing_summary(rows, events).lesions["L1"]
        fig = healing_figure(rows, events, lesion="L1", summary=metrics, today=TODAY)
        first, last = (date.fromisoformat(str(x)[:10]) for x in fig.layout.xaxis.range)
        assert first <= days[0] and last >= days[-1]
        assert fig.to_json()  # what the app and the report send to the browser
        assert headline_figures(metrics) and phase_table(metrics) is not None
        assert metrics.closure.refused == (days[0].year == 9999)  # no date past 9999-12-31


def test_a_summary_made_today_says_when_a_projected_closure_passed_unseen(rows, events) -> None:
    """Made on a day after the projected closure, with no visit since, the summary projects
    nothing and says why (a clinician opening an old record is not shown a past date as a
    forecast); a lesion photographed after ``today`` (a camera's clock ahead) never raises."""
    as_of_last_visit = healing_summary(rows, events).lesions["L1"].closure
    projected_on = as_of_last_visit.projected_on
    assert projected_on is not None
    assert healing_summary(rows, events, today=projected_on).lesions["L1"].closure == (
        as_of_last_visit
    )
    later = healing_summary(rows, events, today=projected_on + timedelta(days=1))
    closure = later.lesions["L1"].closure
    assert closure.projected_on is None
    last_visit = max(r.taken_on for r in rows)
    assert closure.refused_reason == (
        f"The projected closure date ({projected_on.isoformat()}) has passed without a visit "
        f"since {last_visit.isoformat()}; measure the wound again."
    )
    before_the_last_visit = healing_summary(rows, events, today=last_visit - timedelta(days=3))
    assert before_the_last_visit.lesions["L1"].closure == as_of_last_visit


def test_a_visit_whose_outline_the_network_was_unsure_of_is_ringed_and_said_in_its_hover(
    events,
) -> None:
    doubts = {1: 0.12, 2: 0.46, 4: 0.31}  # week 2 and 4 above the warning's 0.3
    rows = [dataclasses.replace(row(w), outline_doubt=doubts.get(w)) for w in range(6)]
    fig = healing_figure(rows, events, lesion="L1", today=TODAY)
    ring = by_name(fig)["Outline uncertain (not corrected)"]
    assert list(ring.x) == [BASE + timedelta(weeks=w) for w in (2, 4)]
    assert list(ring.y) == [rows[2].wound_area_cm2, rows[4].wound_area_cm2]
    hover = [list(h)[8] for h in by_name(fig)["Wound area"].customdata]
    assert "outline uncertain" in hover[2] and "46 %" in hover[2] and "31 %" in hover[4]
    assert hover[0] == hover[1] == hover[3] == hover[5] == ""
    calm = healing_figure(rows[:2], events, lesion="L1", today=TODAY)
    assert "Outline uncertain (not corrected)" not in by_name(calm)
