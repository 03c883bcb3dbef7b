"""Charts: one lesion's wound areas over time, read against the treatment timeline.

Owns how the longitudinal record is drawn for a clinician: the wound area as its tissues stacked
(eschar, slough, granulation, in the Okabe-Ito colours of the overlay), the total area as a line
with a marker per visit, periwound erythema in its own row under the same time axis, treatment
courses as translucent bands and single procedures as marker lines, and, when the healing summary
projects a closure date, the exponential fit drawn forward with its interval. Also the phase table
(healing rate before, during and after each course) and the headline figures as text, so the app
and the printable report show the same numbers. Pure functions: stored rows and a lesion's
``HealingMetrics`` (an entry of ``report.healing_summary(...).lesions``) in, Plotly figures and
plain rows out; nothing reads the clock unless ``today`` is left out.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from woundtrack.analysis.healing import DAYS_PER_WEEK, PAR_TARGET_DAYS, HealingMetrics
from woundtrack.analysis.timeline import courses, markers
from woundtrack.image.measure import erythema_reach_text
from woundtrack.image.overlay import PALETTE
from woundtrack.image.pipeline import outline_unsure
from woundtrack.models import (
    ERYTHEMA,
    ESCHAR,
    GRANULATION,
    KIND_LABELS,
    SLOUGH,
    SeriesRow,
    TreatmentEvent,
)

__all__ = [
    "COURSE_COLOURS",
    "ROUTINE_KINDS",
    "erythema_text",
    "headline_figures",
    "healing_figure",
    "model_version_note",
    "phase_table",
    "phase_table_shown",
]

#: Routine care drawn on no chart: a band over the whole series would hide the treatments.
ROUTINE_KINDS = frozenset({"dressing_change"})

#: Band colours per course kind: the Okabe-Ito colours the tissues do not use, then greys.
COURSE_COLOURS = {
    "hyperbaric_oxygen": (86, 180, 233),  # sky blue
    "sodium_thiosulfate": (0, 158, 115),  # bluish green
    "cinacalcet": (230, 159, 0),  # orange
    "antibiotics": (120, 120, 120),  # grey
}
_OTHER_COURSE_COLOURS = ((160, 120, 60), (90, 90, 160), (150, 150, 150), (60, 120, 120))
_TOTAL_COLOUR = "rgb(40, 40, 40)"
_FIT_COLOUR = "rgb(90, 90, 90)"
_EVENT_COLOUR = "rgb(70, 70, 70)"
_BAND_OPACITY = 0.09
_TISSUES = (  # bottom to top of the stack
    ("Eschar", "eschar_area_cm2", ESCHAR),
    ("Slough", "slough_area_cm2", SLOUGH),
    ("Granulation", "granulation_area_cm2", GRANULATION),
)
_RANGE_PAD_DAYS = 5
_ROW_SPACING = 0.07
_ROW1_SHARE = 0.74 * (1 - _ROW_SPACING)  # of the plotting area's height
_LANE_HEIGHT = 0.04  # one course lane, share of the plotting area's height


def _rgb(colour: tuple[int, int, int], alpha: float | None = None) -> str:
    r, g, b = colour
    return f"rgb({r}, {g}, {b})" if alpha is None else f"rgba({r}, {g}, {b}, {alpha})"


def _darker(colour: tuple[int, int, int], factor: float = 0.6) -> tuple[int, int, int]:
    r, g, b = colour
    return (round(r * factor), round(g * factor), round(b * factor))


def _shifted(day: date, days: int) -> date:
    """``day`` moved by ``days`` days, held at ``date.min`` / ``date.max``: a date stored before
    dates were checked may lie at an end of the calendar, where date arithmetic overflows."""
    return date.fromordinal(
        min(max(day.toordinal() + days, date.min.toordinal()), date.max.toordinal())
    )


def _days_to_end(day: date) -> int:
    """Days from ``day`` to the last date the calendar holds (``date.max``)."""
    return date.max.toordinal() - day.toordinal()


def _short_date(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def _signed(value: float, digits: int = 1) -> str:
    """``+3.5`` or ``−27.0`` (a true minus sign, which reads better than a hyphen)."""
    return f"{value:+.{digits}f}".replace("-", "\u2212")


def _date_interval(first: date, last: date) -> str:
    """``"20–24 Jun 2026"``, ``"28 Jun – 3 Jul 2026"`` or with both years."""
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {last:%b %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"
    return f"{_short_date(first)} – {_short_date(last)}"


def _cm2(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} cm²"


def _kind_name(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def healing_figure(
    rows: Sequence[SeriesRow],
    events: Sequence[TreatmentEvent],
    *,
    lesion: str,
    summary: HealingMetrics | None = None,
    today: date | None = None,
) -> go.Figure:
    """The healing chart of one lesion: areas over time against the treatment timeline.

    Row 1 shows the wound area with its eschar, slough and granulation stacked inside it (they
    add up to the wound bed) and the total as a line with a marker per visit (hover: every area,
    whether a person corrected the visit, the photo's file name). Row 2, on the same time axis,
    shows periwound erythema, which surrounds the wound rather than being part of it: its area,
    and on a second axis how far it reaches from the wound's edge (visits that have it). Treatment
    courses are translucent bands across both rows (one colour and legend entry per kind), point
    events (debridement, parathyroidectomy) dotted vertical lines with their names. Routine
    dressing changes (``ROUTINE_KINDS``) are not drawn. When ``summary`` projects a closure date,
    its exponential fit (``exp_a0_cm2``, ``exp_rate_per_week``, from ``baseline_on``) is drawn
    forward to it, with the band between the fits at the ends of the rate's 95 % interval and
    the earliest-latest closure interval at the closure threshold; PAR at week 4 and the rate are
    annotated.

    Parameters
    ----------
    rows : sequence of SeriesRow
        The patient's series (``Store.series``); rows of other lesions are ignored. Visits
        without cm² (uncalibrated) or without a date are left out, and the title says how many.
    events : sequence of TreatmentEvent
        The patient's treatment timeline (``Store.treatments``).
    lesion : str
        Label of the lesion to chart, e.g. ``"L1"``.
    summary : HealingMetrics, optional
        The lesion's figures, ``report.healing_summary(rows, events).lesions[lesion]``; without
        them no fit, projection or PAR is drawn.
    today : datetime.date, optional
        Last day of courses still going on; defaults to ``date.today()``.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces, in order: the eschar, slough and granulation areas (``stackgroup="tissue"``),
        ``"Wound area"``, ``"Erythema"`` (row 2), ``"Erythema reach"`` (row 2, right axis;
        when a visit has it), then, when projected, ``"Exponential fit"``,
        ``"95 % interval of the fit"`` and ``"Projected closure"``. Course bands and event lines
        are layout shapes.

    Raises
    ------
    ValueError
        If no row belongs to ``lesion``.

    Examples
    --------
    >>> fig = healing_figure(store.series("CUA-007"), store.treatments("CUA-007"),
    ...                      lesion="L1")  # doctest: +SKIP
    >>> fig.write_html("L1.html")  # doctest: +SKIP
    """
    mine = [r for r in rows if r.lesion == lesion]
    if not mine:
        known = ", ".join(sorted({r.lesion for r in rows})) or "none"
        raise ValueError(
            f"lesion {lesion!r} has no visit in the rows given (lesions: {known}); pick one of them"
        )
    shown = sorted(
        (r for r in mine if r.wound_area_cm2 is not None and r.taken_on is not None),
        key=lambda r: (r.taken_on, r.visit_id),
    )
    left_out = len(mine) - len(shown)
    first = mine[0]
    site = f" ({first.body_site})" if first.body_site else ""

    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=_ROW_SPACING,
        row_heights=[0.74, 0.26],
        specs=[[{}], [{"secondary_y": True}]],
    )
    x = [r.taken_on for r in shown]
    for name, field, label in _TISSUES:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[getattr(r, field) for r in shown],
                name=name,
                mode="lines",
                stackgroup="tissue",
                line={"width": 0.5, "color": _rgb(PALETTE[label])},
                fillcolor=_rgb(PALETTE[label], 0.55),
                legendgroup="tissue",
                legendgrouptitle_text="Wound bed" if label == ESCHAR else None,
                hoverinfo="skip",
            ),
            row=1,
            col=1,
        )
    baseline_on = shown[0].taken_on if shown else None
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[r.wound_area_cm2 for r in shown],
            name="Wound area",
            mode="lines+markers",
            line={"width": 2.5, "color": _TOTAL_COLOUR},
            marker={"size": 7, "color": _TOTAL_COLOUR, "line": {"width": 1, "color": "white"}},
            customdata=[_hover_fields(r, baseline_on) for r in shown],
            hovertemplate=(
                "<b>wound %{y:.2f} cm²</b> (week %{customdata[0]})<br>"
                "eschar %{customdata[1]} · slough %{customdata[2]} · "
                "granulation %{customdata[3]}<br>"
                "erythema %{customdata[4]}<br>"
                "corrected: %{customdata[5]} · %{customdata[6]}<br>"
                "model %{customdata[7]}%{customdata[8]}<extra></extra>"
            ),
            legendgroup="total",
        ),
        row=1,
        col=1,
    )
    unsure = [r for r in shown if outline_unsure(r.outline_doubt)]
    if unsure:  # a ring round each visit whose automatic outline the network was unsure of
        fig.add_trace(
            go.Scatter(
                x=[r.taken_on for r in unsure],
                y=[r.wound_area_cm2 for r in unsure],
                name="Outline uncertain (not corrected)",
                mode="markers",
                marker={
                    "size": 15,
                    "symbol": "circle-open",
                    "color": _TOTAL_COLOUR,
                    "line": {"width": 2},
                },
                hoverinfo="skip",  # the wound's hover line says it
                legendgroup="total",
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[r.erythema_area_cm2 for r in shown],
            name="Erythema",
            mode="lines+markers",
            line={"width": 2, "dash": "dash", "color": _rgb(PALETTE[ERYTHEMA])},
            marker={"size": 6, "color": _rgb(PALETTE[ERYTHEMA])},
            customdata=[_reach_text(r) for r in shown],
            hovertemplate="erythema %{y:.2f} cm²%{customdata}<extra></extra>",
            legendgroup="erythema",
            legendgrouptitle_text="Periwound",
        ),
        row=2,
        col=1,
    )
    reached = [r for r in shown if r.erythema_reach_cm is not None]
    if reached:  # visits measured before woundtrack recorded the reach have none
        reach_colour = _rgb(_darker(PALETTE[ERYTHEMA]))
        fig.add_trace(
            go.Scatter(
                x=[r.taken_on for r in reached],
                y=[r.erythema_reach_cm for r in reached],
                name="Erythema reach",
                mode="lines+markers",
                line={"width": 1.5, "dash": "dot", "color": reach_colour},
                marker={"size": 6, "symbol": "diamond", "color": reach_colour},
                hoverinfo="skip",  # the erythema's hover line says it
                legendgroup="erythema",
            ),
            row=2,
            col=1,
            secondary_y=True,
        )
        fig.update_yaxes(
            title_text="reach (cm)",
            rangemode="tozero",
            showgrid=False,
            tickmode="auto",
            nticks=4,
            tickformat=".1f",
            row=2,
            col=1,
            secondary_y=True,
        )

    ends = list(x)
    if summary is not None and not summary.closure.refused and shown:
        ends.append(_add_projection(fig, shown, summary))
    if ends:
        x_range: tuple[date, date] | None = (
            _shifted(min(ends), -_RANGE_PAD_DAYS),
            _shifted(max(ends), _RANGE_PAD_DAYS),
        )
        fig.update_xaxes(range=list(x_range))
    else:
        x_range = None
    lanes = _add_treatments(fig, events, today=today, x_range=x_range)
    if shown:
        # Head room above the largest area for the course lanes, so they never hide a visit.
        top_cm2 = max(r.wound_area_cm2 for r in shown)
        lanes_share = lanes * _LANE_HEIGHT / _ROW1_SHARE
        axis_top_cm2 = top_cm2 * 1.04 / (1 - lanes_share - 0.02)
        fig.update_yaxes(range=[0, axis_top_cm2], row=1, col=1)
        if summary is not None:
            _annotate_par(fig, shown, summary, axis_top_cm2=axis_top_cm2)

    title = f"{html.escape(first.patient)} · lesion {html.escape(lesion)}{html.escape(site)}"
    subtitle = "Wound area by tissue, against treatments"
    if left_out:
        subtitle += (
            f" — {left_out} visit{'s' if left_out != 1 else ''} not shown "
            "(uncalibrated: no cm², or no date)"
        )
    layout: dict[str, Any] = {
        # A second line in a smaller font, not ``title.subtitle``: that needs plotly 5.23.
        "title": {
            "text": f'{title}<br><span style="font-size: 12px; color: #555">{subtitle}</span>',
            "x": 0.01,
            "xanchor": "left",
        },
        "template": "plotly_white",
        "height": 660,
        "hovermode": "x unified",
        "legend": {
            "orientation": "h",
            "yanchor": "top",
            "y": -0.13,
            "xanchor": "left",
            "x": 0,
            "groupclick": "toggleitem",
        },
        "margin": {"l": 70, "r": 30, "t": 80, "b": 40},
    }
    fig.update_layout(**layout)
    fig.update_yaxes(title_text="Wound area (cm²)", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(
        title_text="Erythema (cm²)", rangemode="tozero", row=2, col=1, secondary_y=False
    )
    fig.update_xaxes(type="date", hoverformat="%a %d %b %Y", showspikes=True, spikemode="across")
    # no axis title: the ticks are dates, and a title there ran into the legend below it
    if not shown:
        fig.add_annotation(
            text=f"No calibrated visit of lesion {html.escape(lesion)}: no cm² to chart",
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.6,
            showarrow=False,
            font={"size": 16},
        )
    return fig


def erythema_text(rows: Sequence[SeriesRow], lesion: str) -> str | None:
    """One line on ``lesion``'s periwound erythema at its last calibrated visit, beside its
    first: area and how far it reaches from the wound's edge, for the Healing page and the
    printable report. None when the lesion has no calibrated, dated visit."""
    shown = sorted(
        (
            r
            for r in rows
            if r.lesion == lesion and r.erythema_area_cm2 is not None and r.taken_on is not None
        ),
        key=lambda r: (r.taken_on, r.visit_id),
    )
    if not shown:
        return None

    def state(r: SeriesRow) -> str:
        if not r.erythema_area_cm2:
            return "none"
        return f"{r.erythema_area_cm2:.2f} cm²{_reach_text(r)}"

    last, first = shown[-1], shown[0]
    text = f"Periwound erythema on {last.taken_on.isoformat()}: {state(last)}"
    if first is not last:
        text += f" (first visit, {first.taken_on.isoformat()}: {state(first)})"
    return text + "."


def _reach_text(row: SeriesRow) -> str:
    return erythema_reach_text(row.erythema_area_cm2, row.erythema_reach_cm)


def _hover_fields(row: SeriesRow, baseline_on: date | None) -> list[str]:
    weeks = (row.taken_on - baseline_on).days / DAYS_PER_WEEK if baseline_on else 0.0
    return [
        f"{weeks:.1f}",
        _cm2(row.eschar_area_cm2),
        _cm2(row.slough_area_cm2),
        _cm2(row.granulation_area_cm2),
        _cm2(row.erythema_area_cm2),
        f"yes ({html.escape(row.corrected_by or 'unknown')})" if row.corrected else "no",
        html.escape(row.file_name),
        html.escape(row.model_version),
        (
            f"<br><b>outline uncertain</b>: the network was unsure of an area "
            f"{100 * row.outline_doubt:.0f} % the size of the wound; check it on Review"
            if outline_unsure(row.outline_doubt)
            else ""
        ),
    ]


def model_version_note(rows: Sequence[SeriesRow], lesion: str) -> str | None:
    """A warning for the Healing page when ``lesion``'s visits were measured by more than one
    model version (a clinic's model brought into use mid-series) or woundtrack release (its
    major.minor: a release that changes how photos are measured raises it, as 0.2 did for
    eschar): a step in the figures where the version changes may be the measuring's, not the
    wound's. None when one version measured all.

    Each version is named with its number of visits and their first and last days, in the order
    it was first used (stored measurements are measured again only when a person asks:
    ``ingest.measure_again``).
    """
    spans: dict[tuple[str, str], list[date]] = {}
    for r in sorted(
        (r for r in rows if r.lesion == lesion and r.taken_on is not None),
        key=lambda r: (r.taken_on, r.visit_id),
    ):
        release = ".".join(r.woundtrack_version.split(".")[:2])
        spans.setdefault((r.model_version, release), []).append(r.taken_on)
    if len(spans) < 2:
        return None
    one_release = len({release for _, release in spans}) == 1
    listed = "; ".join(
        (version if one_release else f"{version} with woundtrack {release}")
        + f" ({len(days)} visit{'s' if len(days) != 1 else ''}, "
        f"{_date_interval(days[0], days[-1]) if len(days) > 1 else _short_date(days[0])})"
        for (version, release), days in spans.items()
    )
    what = "model versions" if one_release else "versions of woundtrack or its model"
    return (
        f"The visits of {lesion} were measured by {len(spans)} {what}: {listed}. A step in "
        "the figures where the version changes may come from the measuring, not the wound: "
        "check those visits' outlines on the Review page."
    )


def _add_projection(fig: go.Figure, shown: Sequence[SeriesRow], metrics: HealingMetrics) -> date:
    """Draw the fit to the projected date, its interval and the closure interval; last date."""
    closure = metrics.closure
    projected_on, earliest_on, latest_on = (
        closure.projected_on,
        closure.earliest_on,
        closure.latest_on,
    )
    assert projected_on is not None and earliest_on is not None and latest_on is not None
    k, a0_cm2 = metrics.exp_rate_per_week, metrics.exp_a0_cm2
    if k is None or a0_cm2 is None:  # never with a projection: it is made from the fit
        return projected_on
    k_low, k_high = metrics.exp_rate_ci_per_week or (k, k)
    origin_on = metrics.baseline_on  # the fit's t counts weeks from the baseline visit
    threshold_cm2 = metrics.closed_below_cm2

    def area_cm2(day: date, rate: float) -> float:
        return a0_cm2 * math.exp(-rate * (day - origin_on).days / DAYS_PER_WEEK)

    def days(start: date, end: date) -> list[date]:
        return [start + timedelta(days=n) for n in range((end - start).days + 1)]

    line_days = days(origin_on, projected_on)
    fig.add_trace(
        go.Scatter(
            x=line_days,
            y=[area_cm2(d, k) for d in line_days],
            name="Exponential fit",
            mode="lines",
            line={"width": 1.5, "dash": "dot", "color": _FIT_COLOUR},
            hoverinfo="skip",
            legendgroup="fit",
            legendgrouptitle_text="Projection",
        ),
        row=1,
        col=1,
    )
    last_on = shown[-1].taken_on
    fan_days = days(last_on, latest_on)
    fig.add_trace(
        go.Scatter(
            x=fan_days + fan_days[::-1],
            y=[area_cm2(d, k_low) for d in fan_days]
            + [area_cm2(d, k_high) for d in fan_days[::-1]],
            name="95 % interval of the fit",
            mode="lines",
            fill="toself",
            fillcolor="rgba(90, 90, 90, 0.15)",
            line={"width": 0},
            hoverinfo="skip",
            legendgroup="fit",
        ),
        row=1,
        col=1,
    )
    interval = _date_interval(earliest_on, latest_on)
    fig.add_trace(
        go.Scatter(
            x=[earliest_on, projected_on, latest_on],
            y=[threshold_cm2] * 3,
            name="Projected closure",
            mode="lines+markers",
            line={"width": 6, "color": "rgba(90, 90, 90, 0.45)"},
            marker={"size": [0, 12, 0], "symbol": "diamond", "color": _TOTAL_COLOUR},
            hovertemplate=(
                f"projected closure (≤ {threshold_cm2:g} cm²) {_short_date(projected_on)}"
                f"<br>95 % interval {interval}<extra></extra>"
            ),
            legendgroup="fit",
        ),
        row=1,
        col=1,
    )
    change = metrics.pct_change_per_week
    half_life = metrics.half_life_days
    rate = f"fit {_signed(change)} % per week" if change is not None else f"fit k {k:.2f}/week"
    if half_life is not None:
        rate += f", half-life {half_life:.0f} days"
    fig.add_annotation(
        x=projected_on,
        y=threshold_cm2,
        text=(
            f"Projected closure <b>{_short_date(projected_on)}</b><br>"
            f"95 % interval {interval}<br>{rate}"
        ),
        showarrow=True,
        arrowhead=0,
        ax=-20,
        ay=-70,
        xanchor="right",
        align="right",
        font={"size": 11},
        bgcolor="rgba(255, 255, 255, 0.9)",
        row=1,
        col=1,
    )
    return latest_on


def _annotate_par(
    fig: go.Figure, shown: Sequence[SeriesRow], metrics: HealingMetrics, *, axis_top_cm2: float
) -> None:
    par = metrics.par_week4_pct
    if par is None:
        return
    if _days_to_end(shown[0].taken_on) < PAR_TARGET_DAYS:
        return  # baseline stored at the end of the calendar: day 28 cannot be drawn
    day28 = shown[0].taken_on + timedelta(days=PAR_TARGET_DAYS)
    area28_cm2 = metrics.baseline_area_cm2 * (1 - par / 100.0)
    high = area28_cm2 > 0.55 * axis_top_cm2  # label below the curve, clear of the lanes
    fig.add_annotation(
        x=day28,
        y=area28_cm2,
        text=f"PAR week 4: <b>{par:.0f} %</b>",
        showarrow=True,
        arrowhead=2,
        arrowsize=0.8,
        ax=45,
        ay=55 if high else -55,
        xanchor="left",
        font={"size": 12},
        bgcolor="rgba(255, 255, 255, 0.85)",
        row=1,
        col=1,
    )


def _add_treatments(
    fig: go.Figure,
    events: Sequence[TreatmentEvent],
    *,
    today: date | None,
    x_range: tuple[date, date] | None,
) -> int:
    """Course lanes and bands, and point-event lines; returns the number of lanes drawn.

    Each course gets a light band across both rows and a stronger lane at the top of the area
    row, one lane per course, so that overlapping courses (thiosulfate started during hyperbaric
    oxygen) read as two, not as a blend of colours.
    """
    drawn = [e for e in events if e.kind not in ROUTINE_KINDS]
    colours: dict[str, tuple[int, int, int]] = {}
    others = iter(_OTHER_COURSE_COLOURS * 10)
    spans = [(e, *courses([e], today=today)[0]) for e in drawn if e.is_course]

    def in_view(start_on: date, last_on: date) -> bool:
        return x_range is None or (start_on <= x_range[1] and last_on >= x_range[0])

    # Courses in view take the top lanes; the others (seen when zooming out) come after them.
    spans.sort(key=lambda s: (not in_view(s[2], s[3]), s[2], s[0].kind.casefold()))
    for n, (event, label, start_on, last_on) in enumerate(spans):
        end = _shifted(last_on, 1)  # the last day is inclusive
        first_of_kind = event.kind not in colours
        if first_of_kind:
            colours[event.kind] = COURSE_COLOURS.get(event.kind) or next(others)
        colour = colours[event.kind]
        name = html.escape(_kind_name(event.kind))
        period = f"{_short_date(start_on)} – {_short_date(last_on)}"
        fig.add_shape(
            type="rect",
            xref="x",
            yref="paper",
            x0=start_on,
            x1=end,
            y0=0,
            y1=1,
            fillcolor=_rgb(colour),
            opacity=_BAND_OPACITY,
            line_width=0,
            layer="below",
        )
        lane_top = 1 - n * _LANE_HEIGHT
        fig.add_shape(
            type="rect",
            xref="x",
            yref="paper",
            x0=start_on,
            x1=end,
            y0=lane_top - _LANE_HEIGHT + 0.004,
            y1=lane_top,
            fillcolor=_rgb(colour),
            opacity=0.45,
            line_width=0,
            layer="above",
            name=f"{name} ({period})",
            showlegend=first_of_kind,
            legendgroup=f"course-{event.kind}",
            legendgrouptitle_text="Treatment courses" if n == 0 else None,
        )
        label_on = start_on if x_range is None else max(start_on, x_range[0])
        fig.add_annotation(
            x=label_on,
            y=lane_top - _LANE_HEIGHT / 2 + 0.002,
            xref="x",
            yref="paper",
            text=f"{name} · {period}",
            hovertext=html.escape(label),
            showarrow=False,
            xanchor="left",
            yanchor="middle",
            xshift=4,
            font={"size": 11, "color": _rgb(_darker(colour, 0.45))},
        )
    by_day: dict[date, list[str]] = {}
    for label, on in markers(drawn):
        by_day.setdefault(on, []).append(label)
    for on, labels in by_day.items():
        fig.add_shape(
            type="line",
            xref="x",
            yref="paper",
            x0=on,
            x1=on,
            y0=0,
            y1=1,
            line={"color": _EVENT_COLOUR, "width": 1.5, "dash": "dot"},
            layer="above",
        )
        fig.add_annotation(
            x=on,
            y=0.01,
            xref="x",
            yref="paper",
            text=html.escape(" + ".join(labels)),
            textangle=-90,
            showarrow=False,
            xanchor="right",
            yanchor="bottom",
            xshift=-2,
            font={"size": 11, "color": _EVENT_COLOUR},
        )
    return sum(in_view(start_on, last_on) for _, _, start_on, last_on in spans)


# ------------------------------------------------------------------------------- tables, text
def _phase_name(label: str) -> str:
    when, _, kind = label.partition(" ")
    name = _kind_name(kind)
    if kind in KIND_LABELS:
        name = name.lower()
    return f"{when.capitalize()} {name}"


def _phase_dates(start_on: date | None, end_on: date | None, label: str) -> str:
    if start_on is None and end_on is None:
        return "whole series"
    if start_on is None:
        return f"until {end_on.isoformat()}"
    if end_on is None:
        return f"from {start_on.isoformat()}" + (" (ongoing)" if label.startswith("during") else "")
    return f"{start_on.isoformat()} – {end_on.isoformat()}"


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def phase_table(metrics: HealingMetrics) -> list[dict[str, Any]]:
    """Rows of the phase table: healing before, during and after each treatment course.

    Parameters
    ----------
    metrics : HealingMetrics
        One lesion's figures, e.g. ``report.healing_summary(rows, events).lesions["L1"]``; its
        ``phases`` are tabulated.

    Returns
    -------
    list of dict
        One per phase, in the summary's order, with the keys ``"Phase"`` (e.g. ``"During
        sodium thiosulfate"``), ``"Dates"``, ``"Visits"``, ``"Area change (%/week)"`` (the
        exponential fit within the phase, 1 decimal, negative when shrinking) and ``"Gilman
        (cm/week)"`` (edge advance, 2 decimals); a rate is ``None`` when the phase has too few
        visits. A phase that begins after the last visit (the time after a course that ends
        later) is left out: no visit can lie in it yet.

    Examples
    --------
    >>> from woundtrack.analysis.healing import AreaPoint, healing_metrics, phases_from_courses
    >>> visits = [AreaPoint(taken_on=date(2026, 3, 2 + 7 * w), wound_area_cm2=9.0 - w)
    ...           for w in range(4)]
    >>> sts = [("sodium_thiosulfate", date(2026, 3, 9), None)]
    >>> metrics = healing_metrics(visits, phases=phases_from_courses(sts))
    >>> phase_table(metrics)[1]["Phase"]
    'During sodium thiosulfate'
    """
    return [
        {
            "Phase": _phase_name(p.label),
            "Dates": _phase_dates(p.start_on, p.end_on, p.label),
            "Visits": p.n_visits,
            "Area change (%/week)": _round(p.pct_change_per_week, 1),
            "Gilman (cm/week)": _round(p.gilman_cm_per_week, 2),
        }
        for p in metrics.phases
        if p.start_on is None or p.start_on <= metrics.latest_on
    ]


def phase_table_shown(metrics: HealingMetrics) -> list[dict[str, Any]]:
    """``phase_table`` as a person reads it: the rates as text with a true minus sign
    (``"−26.9"``), and ``"—"`` where a phase has too few visits for a rate."""
    formats = {"Area change (%/week)": "{:+.1f}", "Gilman (cm/week)": "{:.2f}"}

    def shown(key: str, value: Any) -> Any:
        if key not in formats:
            return value
        if value is None:
            return "—"  # too few visits in the phase for a rate
        return formats[key].format(value).replace("-", "\u2212")

    return [{k: shown(k, v) for k, v in row.items()} for row in phase_table(metrics)]


def headline_figures(metrics: HealingMetrics) -> list[tuple[str, str, str]]:
    """The headline figures of one lesion as ``(name, value, detail)`` text, for people.

    Shared by the app and the printable report so that both show the same rounding. Missing
    figures read ``"—"`` with the reason in ``detail``; the projected closure reads ``"not
    projected"`` with the projection's refusal reason as ``detail``.

    Parameters
    ----------
    metrics : HealingMetrics
        One lesion's figures, e.g. ``report.healing_summary(rows, events).lesions["L1"]``.

    Returns
    -------
    list of (str, str, str)
        Baseline area, latest area, area reduction, PAR at week 4, rate, half-life, projected
        closure and healed on, in that order.
    """
    m = metrics
    out = [
        ("Baseline area", _cm2(m.baseline_area_cm2), f"on {m.baseline_on.isoformat()}"),
        ("Latest area", _cm2(m.latest_area_cm2), f"on {m.latest_on.isoformat()}"),
        (
            "Area reduction",
            f"{m.pct_area_reduction:.0f} %",
            f"since baseline, {m.n_visits} visits",
        ),
    ]
    par = m.par_week4_pct
    out.append(
        (
            "PAR at week 4",
            "—" if par is None else f"{par:.0f} %",
            "no visit close enough to day 28"
            if par is None
            else "≥ 50 % predicts healing of diabetic foot ulcers; a figure, not a verdict",
        )
    )
    change, k, ci = m.pct_change_per_week, m.exp_rate_per_week, m.exp_rate_ci_per_week
    detail = []
    if k is not None:
        detail.append(f"k {k:.3f}/week")
        if ci is not None:
            detail.append(f"95 % CI {ci[0]:.3f}–{ci[1]:.3f}")
        if m.exp_r_squared is not None:
            detail.append(f"r² {m.exp_r_squared:.2f}")
    if m.gilman_cm_per_week is not None:
        detail.append(f"Gilman {m.gilman_cm_per_week:.2f} cm/week")
    out.append(
        (
            "Rate",
            "—" if change is None else f"{_signed(change)} %/week",
            ", ".join(detail) or "fewer than 2 open visits",
        )
    )
    half_life = m.half_life_days
    out.append(
        (
            "Half-life",
            "—" if half_life is None else f"{half_life:.0f} days",
            "time for the area to halve at the fitted rate"
            if half_life is not None
            else "no shrinking trend to halve the area",
        )
    )
    closure = m.closure
    if closure.projected_on is not None:
        assert closure.earliest_on is not None and closure.latest_on is not None
        out.append(
            (
                "Projected closure",
                closure.projected_on.isoformat(),
                f"95 % interval {closure.earliest_on.isoformat()} – "
                f"{closure.latest_on.isoformat()}; assumes the current rate holds",
            )
        )
    else:
        out.append(("Projected closure", "not projected", closure.refused_reason or ""))
    healed = m.healed_on
    out.append(
        (
            "Healed on",
            "—" if healed is None else healed.isoformat(),
            "closed at the last visit, awaiting confirmation"
            if m.closed_at_last_visit
            else ("closure confirmed at the next visit" if healed else "not healed yet"),
        )
    )
    return out
