"""Research figures: Kaplan–Meier curves, the healing-rate plot, the Bland–Altman plot, the cohort
table, and the HTML report that holds them with the software and model versions.

Pure functions: a ``CohortResult`` / ``AgreementResult`` in, Plotly figures, plain rows and HTML
text out. The Research page of the app and ``woundtrack cohort --html`` show the same figures.
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import plotly.graph_objects as go

from woundtrack.analysis.agreement import AgreementResult
from woundtrack.analysis.cohort import (
    ALL,
    BY_DISTRIBUTION,
    DISTAL,
    PROXIMAL,
    WITH,
    WITHOUT,
    CohortResult,
)

__all__ = [
    "agreement_figure",
    "agreement_sentence",
    "comparison_sentence",
    "cohort_report_html",
    "cohort_table",
    "kaplan_meier_figure",
    "model_versions",
    "slope_figure",
]

#: Okabe-Ito colours (colour-blind safe): with the treatment, without it, everyone; proximal and
#: distal lesions.
GROUP_COLOURS = {
    WITH: "#0072B2",
    WITHOUT: "#D55E00",
    ALL: "#009E73",
    PROXIMAL: "#CC79A7",
    DISTAL: "#56B4E9",
}


def _name(result: CohortResult, group: str) -> str:
    if group == ALL or result.by is None:
        return "all lesions"
    if result.by == BY_DISTRIBUTION:
        return f"{group} lesions"
    return f"{group} {result.by.replace('_', ' ')}"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    """A p-value as papers print it: ``< 0.0001`` rather than ``0.0000``."""
    if value is not None and math.isfinite(value) and value < 1e-4:
        return "< 0.0001"
    return f"= {_fmt(value, 4)}"


def _interval(ci: tuple[float | None, float | None] | None, digits: int = 2) -> str:
    if ci is None or all(v is None for v in ci):
        return "–"
    low, high = ci
    return f"{_fmt(low, digits)} to {_fmt(high, digits) if high is not None else 'not reached'}"


def kaplan_meier_figure(result: CohortResult) -> go.Figure:
    """Share of lesions still open against weeks since the first visit, per group, with the
    95 % band (steps, as Kaplan–Meier curves are drawn); ticks mark censored lesions."""
    fig = go.Figure()
    for group, curve in result.survival.items():
        colour = GROUP_COLOURS[group]
        name = _name(result, group)
        fig.add_trace(
            go.Scatter(
                x=curve["weeks"],
                y=curve["open_high"],
                mode="lines",
                line={"width": 0, "shape": "hv"},
                showlegend=False,
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=curve["weeks"],
                y=curve["open_low"],
                mode="lines",
                line={"width": 0, "shape": "hv"},
                fill="tonexty",
                fillcolor=_translucent(colour),
                showlegend=False,
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=curve["weeks"],
                y=curve["open"],
                mode="lines",
                line={"color": colour, "shape": "hv"},
                name=name,
                hovertemplate="week %{x:.1f}: %{y:.0%} still open<extra>" + name + "</extra>",
            )
        )
        lesions = result.lesions[(result.lesions["group"] == group) & ~result.lesions["healed"]]
        if not lesions.empty:
            open_at = np.interp(lesions["weeks"], curve["weeks"], curve["open"])
            fig.add_trace(
                go.Scatter(
                    x=lesions["weeks"],
                    y=open_at,
                    mode="markers",
                    marker={"symbol": "line-ns-open", "color": colour, "size": 8},
                    name=f"{name}: censored",
                    hovertemplate="censored at week %{x:.1f}<extra></extra>",
                )
            )
    fig.update_layout(
        title="Time to closure (Kaplan–Meier, 95 % band)",
        xaxis_title="weeks since the first visit",
        yaxis={"title": "lesions still open", "tickformat": ".0%", "range": [0, 1.02]},
        legend={"orientation": "h", "y": -0.2},
        margin={"t": 50, "l": 60, "r": 20, "b": 40},
    )
    return fig


def _translucent(colour: str, alpha: float = 0.18) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def slope_figure(result: CohortResult, *, max_lesions: int = 60) -> go.Figure:
    """ln(wound area) against weeks: each lesion's open visits as a thin line (at most
    ``max_lesions`` per group, chosen evenly), and each group's mixed-model slope drawn from the
    group's mean first ln(area)."""
    fig = go.Figure()
    visits = result.open_visits
    for group, figures in result.groups.items():
        colour = GROUP_COLOURS[group]
        mine = visits[visits["group"] == group]
        keys = sorted(set(zip(mine["patient"], mine["lesion"], strict=True)))
        shown = keys[:: max(1, math.ceil(len(keys) / max_lesions))]
        for patient, lesion in shown:
            one = mine[(mine["patient"] == patient) & (mine["lesion"] == lesion)]
            one = one.sort_values("weeks")
            fig.add_trace(
                go.Scatter(
                    x=one["weeks"],
                    y=one["ln_area"],
                    mode="lines",
                    line={"color": _translucent(colour, 0.35), "width": 1},
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
        if figures.log_area_slope_per_week is None or mine.empty:
            continue
        start = float(mine[mine["weeks"] == 0]["ln_area"].mean())
        end_week = float(mine["weeks"].quantile(0.9))
        fig.add_trace(
            go.Scatter(
                x=[0, end_week],
                y=[start, start + figures.log_area_slope_per_week * end_week],
                mode="lines",
                line={"color": colour, "width": 4},
                name=f"{_name(result, group)}: {figures.log_area_slope_per_week:+.3f} /week",
            )
        )
    fig.update_layout(
        title="Healing rate: ln(wound area) per week (mixed model, open visits)",
        xaxis_title="weeks since the first visit",
        yaxis_title="ln(wound area in cm²)",
        legend={"orientation": "h", "y": -0.2},
        margin={"t": 50, "l": 60, "r": 20, "b": 40},
    )
    return fig


def agreement_figure(result: AgreementResult) -> go.Figure:
    """Bland–Altman plot: difference (woundtrack − reference) against the mean of the two, with
    the bias and the 95 % limits of agreement."""
    pairs = result.pairs
    fig = go.Figure(
        go.Scatter(
            x=pairs["mean_cm2"],
            y=pairs["diff_cm2"],
            mode="markers",
            marker={"color": "#0072B2", "opacity": 0.7},
            name="visits",
            hovertemplate="mean %{x:.2f} cm², difference %{y:+.2f} cm²<extra></extra>",
        )
    )
    for value, label, dash in (
        (result.bias_cm2, "bias", "solid"),
        (result.loa_low_cm2, "lower limit", "dash"),
        (result.loa_high_cm2, "upper limit", "dash"),
    ):
        fig.add_hline(
            y=value,
            line={"color": "#D55E00", "dash": dash},
            annotation_text=f"{label} {value:+.2f} cm²",
            annotation_position="top left",
        )
    fig.update_layout(
        title=f"Bland–Altman: woundtrack − reference ({result.n_pairs} pairs)",
        xaxis_title="mean of the two areas (cm²)",
        yaxis_title="woundtrack − reference (cm²)",
        showlegend=False,
        margin={"t": 50, "l": 60, "r": 20, "b": 40},
    )
    return fig


def agreement_sentence(result: AgreementResult) -> str:
    """The agreement in one sentence, as the CLI, the app and the report say it."""
    low, high = result.icc_ci
    return (
        f"{result.n_pairs} pairs: ICC(2,1) = {_fmt(result.icc, 3)} (95 % interval "
        f"{_fmt(low)} to {_fmt(high)}); Bland–Altman bias {result.bias_cm2:+.3f} cm², limits of "
        f"agreement {result.loa_low_cm2:+.3f} to {result.loa_high_cm2:+.3f} cm²."
    )


def comparison_sentence(result: CohortResult) -> str:
    """The comparison between the groups in one sentence (empty without ``by``)."""
    if result.by is None:
        return ""
    first, second = result.groups
    landmark = (
        "" if result.landmark_weeks is None else f", landmark at week {result.landmark_weeks:g}"
    )
    sentence = (
        f"Between groups ({result.by}{landmark}): log-rank p {_p(result.logrank_p)}; Cox hazard "
        f"ratio of healing, {first} against {second} = {_fmt(result.hazard_ratio)} (95 % "
        f"interval {_interval(result.hazard_ratio_ci)})."
    )
    a = result.adjusted
    if a is None:
        return sentence
    return (
        f"{sentence} Adjusted for the lesions' distribution ({a.n_lesions} lesions with a known "
        f"site, {a.n_proximal} proximal): {_fmt(a.hazard_ratio)} (95 % interval "
        f"{_interval(a.hazard_ratio_ci)}); proximal against distal lesions "
        f"{_fmt(a.proximal_hazard_ratio)} ({_interval(a.proximal_hazard_ratio_ci)})."
    )


def cohort_table(result: CohortResult) -> list[dict[str, Any]]:
    """One row per group: the figures a cohort table of a paper shows."""
    rows = []
    for group, g in result.groups.items():
        rows.append(
            {
                "group": _name(result, group),
                "patients": g.n_patients,
                "lesions": g.n_lesions,
                "healed": g.n_healed,
                "median weeks to closure": _fmt(g.median_weeks_to_closure, 1),
                "95 % interval": _interval(g.median_ci, 1),
                "ln-area slope per week": _fmt(g.log_area_slope_per_week, 3),
                "slope 95 % interval": _interval(g.slope_ci, 3),
            }
        )
    return rows


def _html_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row.values()) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def model_versions(measurements) -> list[str]:
    """The network versions named in a measurements table's ``model_version`` column."""
    if "model_version" not in getattr(measurements, "columns", ()):
        return []
    return sorted({v for v in measurements["model_version"] if isinstance(v, str) and v})


def cohort_report_html(
    result: CohortResult,
    *,
    agreement: AgreementResult | None = None,
    sources: dict[str, str] | None = None,
    model_versions: list[str] | None = None,
) -> str:
    """A self-contained HTML report (Plotly's script inlined once: it opens offline): the
    cohort table, the comparison, the Kaplan–Meier and slope plots, the agreement when given,
    the notes, and the versions and options used (``model_versions``: those of the
    measurements, see :func:`model_versions`)."""
    info = result.to_json()
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>woundtrack cohort report</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:"
        "collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}</style>",
        "</head><body><h1>Cohort report</h1>",
        f"<p>{info['n_patients']} patients, {info['n_lesions']} lesions. Closure: area ≤ "
        f"{result.closed_below_cm2:g} cm² at two consecutive visits; lesions not yet healed are "
        "censored at their last visit.</p>",
        _html_table(cohort_table(result)),
    ]
    if result.by is not None:
        parts.append(f"<p>{html.escape(comparison_sentence(result))}</p>")
    figures = [kaplan_meier_figure(result), slope_figure(result)]
    if agreement is not None:
        figures.append(agreement_figure(agreement))
    for n, fig in enumerate(figures):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=n == 0))
    if agreement is not None:
        parts.append(
            "<h2>Agreement with the reference</h2><p>"
            + html.escape(agreement_sentence(agreement))
            + "</p>"
        )
    notes = list(result.notes) + [n for g in result.groups.values() for n in g.notes]
    if agreement is not None:
        notes += list(agreement.notes)
    if notes:
        parts.append(
            "<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
        )
    provenance = {
        **{f"{k} version": v for k, v in info["versions"].items()},
        **{k.replace("_", " "): str(v) for k, v in info["options"].items() if v is not None},
        "model versions in the data": ", ".join(model_versions or []) or "not in the data",
        **(sources or {}),
        "written": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    }
    parts.append(
        "<h2>Software, models and options</h2>"
        + _html_table([{"item": k, "value": v} for k, v in provenance.items()])
    )
    parts.append("</body></html>")
    return "\n".join(parts)
