"""Printable report: one self-contained HTML page per patient, for the notes or a referral letter.

Owns the layout of the patient report: a header (pseudonymous code, when it was generated, the
woundtrack version), per lesion the headline healing figures, the healing chart and the phase
table, the overlays of the visits, the treatment timeline, every measurement and where it came
from. The page needs nothing from outside (the Plotly library is inlined once, the photos are
base64 JPEGs), so it opens offline and prints from any browser; ``@media print`` rules start
each section on a new page. Every string that came from a person or a file is HTML-escaped. Pure
functions: figures, rows and image arrays in, text or bytes out.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import cv2
import numpy as np
import plotly.io as pio
from PIL import Image

from woundtrack import __version__
from woundtrack.analysis.healing import HealingMetrics
from woundtrack.analysis.report import HealingSummary
from woundtrack.image.overlay import Tag, lesion_box_px, moved_tags, render_overlay
from woundtrack.image.pipeline import outline_unsure
from woundtrack.image.segmentation import ERYTHEMA_MEANING
from woundtrack.models import KIND_LABELS, SeriesRow, TreatmentEvent
from woundtrack.present.charts import (
    erythema_text,
    headline_figures,
    healing_figure,
    model_version_note,
    phase_table_shown,
)
from woundtrack.present.tissue_note import tissue_notes

__all__ = ["overlay_thumbnail_jpeg", "patient_report_html"]

#: Widest overlay thumbnail stored in a report, in pixels: sharp on paper, small in the file.
THUMBNAIL_MAX_WIDTH_PX = 800
THUMBNAIL_JPEG_QUALITY = 80

_CSS = """
:root { --ink: #1d1d1f; --muted: #5f6368; --rule: #d0d4da; --band: #f3f5f7; }
* { box-sizing: border-box; }
body { font: 11pt/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       color: var(--ink); margin: 0 auto; max-width: 1100px; padding: 24px; }
header { border-bottom: 2px solid var(--ink); padding-bottom: 8px; margin-bottom: 16px; }
h1 { font-size: 20pt; margin: 0 0 4px; }
h2 { font-size: 15pt; margin: 0 0 8px; border-bottom: 1px solid var(--rule); }
h3 { font-size: 12pt; margin: 16px 0 6px; }
.meta { color: var(--muted); margin: 2px 0; }
.note { background: var(--band); border-left: 4px solid #0072b2; padding: 6px 10px;
        margin: 8px 0; font-size: 10pt; }
section { margin: 0 0 28px; }
.figures { display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px; margin: 8px 0 12px; }
.figure { border: 1px solid var(--rule); border-radius: 6px; padding: 6px 8px; }
.figure .name { color: var(--muted); font-size: 9pt; }
.figure .value { font-size: 15pt; font-weight: 600; }
.figure .detail { color: var(--muted); font-size: 8.5pt; }
table { border-collapse: collapse; width: 100%; font-size: 9.5pt; margin: 6px 0; }
th, td { border-bottom: 1px solid var(--rule); padding: 3px 6px; text-align: left;
         vertical-align: top; }
th { background: var(--band); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.nowrap { white-space: nowrap; }
.key span { display: inline-block; width: 0.9em; height: 0.9em; margin: 0 4px 0 12px;
            vertical-align: -0.1em; border: 1px solid #888; }
code { font-size: 9pt; }
.chart { width: 100%; }
.photos { display: grid; grid-template-columns: repeat(3, 1fr); gap: 10px; }
figure { margin: 0; break-inside: avoid; page-break-inside: avoid; }
figure img { width: 100%; height: auto; border: 1px solid var(--rule); }
figcaption { font-size: 9pt; color: var(--muted); }
footer { color: var(--muted); font-size: 9pt; border-top: 1px solid var(--rule);
         padding-top: 6px; }
@media print {
  @page { size: A4; margin: 14mm; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  section.page { break-before: page; page-break-before: always; }
  tr, .figure { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  .modebar-container { display: none !important; }
  .photos { grid-template-columns: repeat(3, 1fr); }
  .figure .value { font-size: 13pt; }
}
"""


def _e(value: Any) -> str:
    """HTML-escaped text of any value (``None`` as an empty cell)."""
    return "" if value is None else html.escape(str(value), quote=True)


def _num(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    numeric: frozenset[int] = frozenset(),
    nowrap: frozenset[int] = frozenset(),
) -> str:
    def cls(i: int) -> str:
        names = [n for n, where in (("num", numeric), ("nowrap", nowrap)) if i in where]
        return f' class="{" ".join(names)}"' if names else ""

    head = "".join(f"<th{cls(i)}>{_e(h)}</th>" for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = "".join(f"<td{cls(i)}>{_e(v)}</td>" for i, v in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def overlay_thumbnail_jpeg(
    image: np.ndarray,
    labels: np.ndarray,
    *,
    legend_lines: list[str] | None = None,
    close_up: bool = True,
    max_width_px: int = THUMBNAIL_MAX_WIDTH_PX,
    quality: int = THUMBNAIL_JPEG_QUALITY,
    tags: Sequence[Tag] = (),
) -> bytes:
    """The tissue overlay of a photo as a small JPEG for the report.

    With ``close_up`` the photo and its labels are first cropped to a 4:3 box around the
    labelled tissue (at least half the photo's height, so a small wound keeps its
    surroundings); the overlay (``overlay.render_overlay``, with its colour key) is drawn at
    that resolution, so outlines keep their shape, then downscaled with area averaging to at
    most ``max_width_px`` wide.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8, RGB, as displayed
    labels : (H, W) ndarray of uint8
        The analysis's label map; a map of another size (an analysis made on a resized photo)
        is resized to the photo with nearest-neighbour sampling.
    legend_lines : list of str, optional
        Text under the overlay's colour key (ASCII: OpenCV draws no "²").
    close_up : bool
        Crop to the wound (the whole photo when nothing is labelled).
    max_width_px : int
        Widest thumbnail, pixels.
    quality : int
        JPEG quality, 1-95.
    tags : sequence of Tag
        The lesions' names (``overlay.lesion_tags``), in the photo's pixels.

    Returns
    -------
    bytes
        A JPEG.

    Raises
    ------
    ValueError
        If ``image`` is not an RGB array of uint8 or ``max_width_px`` is below 16.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"image must be an (H, W, 3) array of uint8 RGB, got {image.shape} {image.dtype}; "
            "read the photo with woundtrack.image.io.read_photo"
        )
    if max_width_px < 16:
        raise ValueError(f"max_width_px must be at least 16, got {max_width_px}")
    h, w = image.shape[:2]
    if labels.shape != (h, w):
        labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
    if close_up and labels.any():
        y0, y1, x0, x1 = _close_up_box(labels)
        image, labels = image[y0:y1, x0:x1], labels[y0:y1, x0:x1]
        tags = moved_tags(tags, x0, y0, 1.0)
    out = render_overlay(image, labels, legend_lines=legend_lines, tags=tags)
    h, w = out.shape[:2]
    if w > max_width_px:
        size = (max_width_px, max(1, round(h * max_width_px / w)))
        out = cv2.resize(out, size, interpolation=cv2.INTER_AREA)
    buffer = io.BytesIO()
    Image.fromarray(out).save(buffer, format="JPEG", quality=int(quality), optimize=True)
    return buffer.getvalue()


def _close_up_box(labels: np.ndarray) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)``: a 4:3 box around the labelled pixels, inside the photo."""
    h, w = labels.shape
    y0, y1, x0, x1 = lesion_box_px(labels, margin_frac=0.5)
    box_h = max(y1 - y0, (x1 - x0) * 3 / 4, h / 2)
    box_h = min(box_h, h, w * 3 / 4)
    box_w = box_h * 4 / 3
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    top = int(round(min(max(cy - box_h / 2, 0), h - box_h)))
    left = int(round(min(max(cx - box_w / 2, 0), w - box_w)))
    return top, top + int(round(box_h)), left, left + int(round(box_w))


def _figures_html(metrics: HealingMetrics) -> str:
    cells = []
    for name, value, detail in headline_figures(metrics):
        cells.append(
            f'<div class="figure"><div class="name">{_e(name)}</div>'
            f'<div class="value">{_e(value)}</div><div class="detail">{_e(detail)}</div></div>'
        )
    return f'<div class="figures">{"".join(cells)}</div>'


def _phase_html(metrics: HealingMetrics) -> str:
    rows = phase_table_shown(metrics)
    if not rows:
        return '<p class="meta">No treatment course to compare healing phases against.</p>'
    headers = list(rows[0])
    values = [[row[h] for h in headers] for row in rows]
    return _table(headers, values, numeric=frozenset({2, 3, 4}), nowrap=frozenset({1}))


def _timeline_html(events: Sequence[TreatmentEvent]) -> str:
    if not events:
        return '<p class="meta">No treatment recorded.</p>'
    rows = [
        [
            KIND_LABELS.get(e.kind, e.kind),
            e.start_on.isoformat(),
            (e.end_on.isoformat() if e.end_on else ("ongoing" if e.is_course else "")),
            e.dose,
            e.frequency,
            "" if e.sessions is None else e.sessions,
            e.notes,
        ]
        for e in sorted(events, key=lambda e: (e.start_on, e.kind))
    ]
    headers = ["Treatment", "Start", "End", "Dose", "Frequency", "Sessions", "Notes"]
    return _table(headers, rows, numeric=frozenset({5}), nowrap=frozenset({1, 2}))


def _measurements_html(rows: Sequence[SeriesRow]) -> str:
    if not rows:
        return '<p class="meta">No measurement stored.</p>'
    headers = [
        "Date",
        "Lesion",
        "Wound (cm²)",
        "Eschar (cm²)",
        "Slough (cm²)",
        "Granulation (cm²)",
        "Erythema (cm²)",
        "Erythema reach (cm)",
        "Calibrated",
        "Corrected",
        "Photo sha256",
        "File",
    ]
    values = [
        [
            r.taken_on.isoformat() if r.taken_on else "unknown",
            r.lesion,
            _num(r.wound_area_cm2),
            _num(r.eschar_area_cm2),
            _num(r.slough_area_cm2),
            _num(r.granulation_area_cm2),
            _num(r.erythema_area_cm2),
            _num(r.erythema_reach_cm),
            "yes" if r.calibrated else "no (pixels only)",
            _corrected(r),
            r.photo_sha256[:12],
            r.file_name,
        ]
        for r in rows
    ]
    return _table(headers, values, numeric=frozenset({2, 3, 4, 5, 6, 7}), nowrap=frozenset({0, 10}))


def _corrected(r: SeriesRow) -> str:
    """Who corrected the outline, or, for an automatic one the network was unsure of, that."""
    if r.corrected:
        return f"yes, by {r.corrected_by}"
    if outline_unsure(r.outline_doubt):
        return f"no (the network was unsure of this outline: {100 * r.outline_doubt:.0f} %)"
    return "no"


def _provenance_html(rows: Sequence[SeriesRow]) -> str:
    analyses: dict[tuple[str, str, str], list[str]] = {}
    for r in rows:
        key = (r.segmenter, r.model_version, r.woundtrack_version)
        day = r.taken_on.isoformat() if r.taken_on else "undated"
        if day not in analyses.setdefault(key, []):
            analyses[key].append(day)
    items = "".join(
        f"<li>segmenter <code>{_e(s)}</code>, model version <code>{_e(m)}</code>, woundtrack "
        f"<code>{_e(v)}</code>: {len(days)} visit{'s' if len(days) != 1 else ''} "
        f"({_e(days[0])}{' – ' + _e(days[-1]) if len(days) > 1 else ''})</li>"
        for (s, m, v), days in analyses.items()
    )
    uncalibrated = sum(not r.calibrated for r in rows)
    calibration = (
        "Areas are measured on the skin plane rectified with the calibration sticker in each photo "
        "(tilt corrected); "
        + (
            f"{uncalibrated} measurement{'s' if uncalibrated != 1 else ''} had no calibration "
            "(pixels only) and appear in no cm² figure or chart."
            if uncalibrated
            else "every measurement listed was calibrated."
        )
    )
    tissue = "".join(f"<p>{_e(note)}</p>" for note in tissue_notes(m for _, m, _ in analyses))
    return (
        "<footer><h3>Provenance</h3>"
        f"<ul>{items}</ul><p>{_e(calibration)} A person's correction is a new analysis beside "
        "the automatic one; the figures above use each visit's newest analysis. Each photo is "
        "identified by the first 12 characters of the sha256 of its stored bytes.</p>"
        f"{tissue}</footer>"
    )


def patient_report_html(
    *,
    patient: str,
    rows: Sequence[SeriesRow],
    events: Sequence[TreatmentEvent],
    summary: HealingSummary,
    photos: Sequence[tuple[str, bytes]],
    generated_at: datetime,
) -> str:
    """One patient's healing report as a single self-contained, print-ready HTML page.

    Sections: header (patient code, generation time, woundtrack version, a note that only the
    pseudonymous code is shown); per lesion its headline figures (baseline and latest area,
    reduction, PAR at week 4, rate, half-life, projected closure with its interval or the
    reason none is given, healed on), its healing chart and phase table; the photos; the
    treatment timeline; every measurement (one row per lesion per visit); provenance. In print,
    each lesion and each later section starts on a new page.

    Parameters
    ----------
    patient : str
        The pseudonymous patient code.
    rows : sequence of SeriesRow
        The patient's series (``Store.series``).
    events : sequence of TreatmentEvent
        The patient's treatment timeline.
    summary : HealingSummary
        ``report.healing_summary(rows, events)``.
    photos : sequence of (str, bytes)
        Caption and JPEG bytes of each picture to include (e.g. ``overlay_thumbnail_jpeg`` of
        each visit), in the order shown.
    generated_at : datetime.datetime
        When the report is made (shown in the header); timezone-aware preferred.

    Returns
    -------
    str
        A complete HTML document (UTF-8 text, no external resource). Plotly's library is
        inlined once (about 4.8 MB), so the file opens offline.

    Examples
    --------
    >>> page = patient_report_html(patient="CUA-007", rows=rows, events=events,
    ...     summary=healing_summary(rows, events), photos=[],
    ...     generated_at=datetime.now(UTC))  # doctest: +SKIP
    >>> Path("CUA-007.html").write_text(page, encoding="utf-8")  # doctest: +SKIP
    """
    lesions, skipped = summary.lesions, summary.skipped
    when = generated_at.isoformat(sep=" ", timespec="minutes")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Wound healing report · {_e(patient)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header>",
        f"<h1>Wound healing report · {_e(patient)}</h1>",
        f'<p class="meta">Patient code <b>{_e(patient)}</b> · generated {_e(when)} · '
        f"woundtrack {_e(__version__)}</p>",
        '<p class="note">Pseudonymous code only: this report holds no name, birth date or '
        "other identifier. Keep the key that links the code to the patient separately.</p>",
        "</header>",
    ]
    plotly_loaded = False
    for n, (lesion, metrics) in enumerate(lesions.items()):
        lesion_rows = [r for r in rows if r.lesion == lesion]
        site = lesion_rows[0].body_site if lesion_rows else ""
        parts.append(f'<section class="lesion{" page" if n else ""}">')
        parts.append(
            f"<h2>Lesion {_e(lesion)}{' · ' + _e(site) if site else ''}</h2>"
            + _figures_html(metrics)
        )
        if lesion_rows:
            fig = healing_figure(
                rows, events, lesion=lesion, summary=metrics, today=generated_at.date()
            )
            fig.update_layout(height=600)
            chart = pio.to_html(
                fig,
                full_html=False,
                include_plotlyjs=not plotly_loaded,
                config={"displaylogo": False, "responsive": True},
                default_width="100%",
                default_height="600px",
            )
            plotly_loaded = True
            parts.append(f'<div class="chart">{chart}</div>')
        erythema = erythema_text(rows, lesion)
        if erythema:
            parts.append(f'<p class="meta">{_e(erythema)} {_e(ERYTHEMA_MEANING)}</p>')
        note = model_version_note(rows, lesion)
        if note:
            parts.append(f'<p class="note">{_e(note)}</p>')
        parts.append("<h3>Healing rate by treatment phase</h3>" + _phase_html(metrics))
        parts.append("</section>")
    if skipped:
        items = "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in skipped.items())
        parts.append(f"<section><h2>Lesions without healing figures</h2><ul>{items}</ul></section>")
    if not lesions:
        parts.append(
            '<section><p class="note">No calibrated visit: there is no area in cm² to report. '
            "Photograph the wound with the calibration sticker.</p></section>"
        )
    if summary.note:
        parts.append(f'<p class="note">{_e(summary.note)}</p>')
    if photos:
        figures_html = "".join(
            f'<figure><img alt="{_e(caption)}" src="data:image/jpeg;base64,'
            f'{base64.b64encode(data).decode("ascii")}"><figcaption>{_e(caption)}</figcaption>'
            "</figure>"
            for caption, data in photos
        )
        parts.append(
            f'<section class="page"><h2>Photos with tissue outlines</h2>'
            f'<div class="photos">{figures_html}</div></section>'
        )
    parts.append(
        '<section class="page"><h2>Treatment timeline</h2>' + _timeline_html(events) + "</section>"
    )
    parts.append(
        '<section class="page"><h2>Measurements</h2>'
        '<p class="meta">One row per lesion per visit, oldest first; each visit\'s newest analysis '
        "(a person's correction if any).</p>" + _measurements_html(rows) + "</section>"
    )
    parts.append(_provenance_html(rows))
    parts.append("</body></html>")
    return "\n".join(parts)
