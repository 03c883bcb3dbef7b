"""Tests of the printable patient report (``woundtrack.present.printable``): self-contained,
escaped, complete. Rows are ``SeriesRow`` values built here; the photos are small synthetic
JPEGs."""

from __future__ import annotations

import base64
import dataclasses
import io
import math
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from plotly.offline import get_plotlyjs

from woundtrack import __version__
from woundtrack.analysis.report import healing_summary
from woundtrack.analysis.timeline_csv import read_timeline_csv
from woundtrack.image.measure import measure
from woundtrack.image.overlay import lesion_tags
from woundtrack.models import ESCHAR, GRANULATION, Calibration, SeriesRow, TreatmentEvent
from woundtrack.present.printable import overlay_thumbnail_jpeg, patient_report_html

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
BASE = date(2026, 3, 2)
EVIL = "<script>alert(1)</script>"
WHEN = datetime(2026, 5, 20, 14, 5, tzinfo=UTC)


def row(week: int, *, lesion: str, area_cm2: float, body_site: str = "left calf") -> SeriesRow:
    return SeriesRow(
        patient="CUA-007",
        lesion=lesion,
        lesion_index=1 if lesion == "L1" else 2,
        body_site=body_site,
        visit_id=100 + week,
        analysis_id=200 + week,
        taken_at=None,
        taken_on=BASE + timedelta(weeks=week),
        photo_sha256=f"{week:x}{lesion}".ljust(64, "a"),
        file_name=f"week{week:02d}{EVIL}.jpg",
        calibrated=True,
        wound_area_cm2=area_cm2,
        eschar_area_cm2=area_cm2 * 0.5,
        slough_area_cm2=area_cm2 * 0.2,
        granulation_area_cm2=area_cm2 * 0.3,
        erythema_area_cm2=area_cm2 * 0.8,
        erythema_reach_cm=1.37 if week == 1 else None,  # week 0: measured before it was recorded
        perimeter_cm=2 * math.sqrt(math.pi * area_cm2),
        length_cm=None,
        width_cm=None,
        eschar_pct=50.0,
        slough_pct=20.0,
        granulation_pct=30.0,
        corrected=week == 2,
        corrected_by="AB" if week == 2 else None,
        outline_doubt=0.45 if (week, lesion) == (3, "L1") else None,
        segmenter="classical-lab",
        model_version="1",
        woundtrack_version="0.1.0",
    )


def jpeg(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def report() -> dict:
    rows = [row(w, lesion="L1", area_cm2=15.0 * math.exp(-0.3 * w)) for w in range(6)]
    # L2 barely changes: its closure projection is refused, with a reason.
    rows += [row(w, lesion="L2", area_cm2=4.0 + 0.1 * (w % 2), body_site=EVIL) for w in range(4)]
    events = [
        *read_timeline_csv(SAMPLES / "demo_timeline.csv"),
        TreatmentEvent(kind="Wound VAC", start_on=BASE, notes=EVIL),
    ]
    summary = healing_summary(rows, events)
    photos = [(f"week 0 {EVIL}", jpeg((200, 60, 60))), ("week 1", jpeg((60, 200, 60)))]
    page = patient_report_html(
        patient="CUA-007",
        rows=rows,
        events=events,
        summary=summary,
        photos=photos,
        generated_at=WHEN,
    )
    return {"page": page, "rows": rows, "summary": summary, "photos": photos}


def outside_scripts(page: str) -> str:
    return re.sub(r"<script\b.*?</script>", "", page, flags=re.S | re.I)


def test_page_is_self_contained(report) -> None:
    page = report["page"]
    assert page.startswith("<!DOCTYPE html>")
    markup = outside_scripts(page)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", markup, re.I)
    assert not re.search(r"<script[^>]*\bsrc=", page, re.I)
    assert "<link" not in markup.lower() and "@import" not in markup
    # Plotly's library inlined exactly once, for two charts.
    assert page.count(get_plotlyjs()[:200]) == 1
    assert page.count("Plotly.newPlot(") == 2
    assert "@media print" in page and "break-before: page" in page


def test_every_user_string_is_escaped(report) -> None:
    page = report["page"]
    assert EVIL not in page
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f"Lesion L2 · {escaped}" in page  # body site
    assert f"week00{escaped}.jpg" in page  # file name in the measurements table
    assert f"week 0 {escaped}" in page  # photo caption
    assert page.count(escaped) >= 4  # ... and the timeline note


def test_header_says_who_when_and_which_version(report) -> None:
    head = report["page"].split("</header>")[0]
    assert "CUA-007" in head
    assert "2026-05-20 14:05+00:00" in head
    assert f"woundtrack {__version__}" in head
    assert "Pseudonymous code only" in head


def test_each_lesion_has_its_figures_chart_and_phases(report) -> None:
    # Expected figures computed by hand from the series of the fixture, not by the code under
    # test. L1: 15 e^(-0.3 w) cm² in weeks 0-5: latest 15 e^(-1.5) = 3.35 cm², area reduction
    # 100 (1 - e^(-1.5)) = 77.7 %. L2: 4.0, 4.1, 4.0, 4.1 cm²: latest 4.10, -2.4999... % (2.5 %
    # larger, computed in binary: shown rounded to -2 %).
    page = report["page"]
    for lesion, baseline, latest, reduction in (
        ("L1", "15.00 cm²", "3.35 cm²", "78 %"),
        ("L2", "4.00 cm²", "4.10 cm²", "-2 %"),
    ):
        section = page.split(f"<h2>Lesion {lesion}")[1].split("</section>")[0]
        assert baseline in section and latest in section and reduction in section
        assert "Plotly.newPlot(" in section
        assert "Healing rate by treatment phase" in section
        assert "Before sodium thiosulfate" in section
    # L1's visits reach into the course; L2's end (2026-03-23) before it starts (2026-03-30), so
    # its "during" phase, with no visit possible yet, is not listed.
    assert "During sodium thiosulfate" in page.split("<h2>Lesion L1")[1].split("</section>")[0]
    assert "During sodium thiosulfate" not in page.split("<h2>Lesion L2")[1].split("</section>")[0]
    section1 = page.split("<h2>Lesion L1")[1].split("</section>")[0]
    assert "70 %" in section1  # PAR at week 4, the visit on day 28: 100 (1 - e^(-1.2)) = 69.9
    # Closure (0.1 cm²) at ln(150) / 0.3 = 16.70 weeks = 116.9 days after 2 March 2026.
    assert "2026-06-27" in section1
    assert "16 days" in section1  # half-life 7 ln 2 / 0.3 = 16.2 days
    assert '<td class="num">−25.9</td>' in section1  # phase rates: 100 (exp(-0.3) - 1)
    section2 = page.split("<h2>Lesion L2")[1].split("</section>")[0]
    # L2's least-squares slope of ln(area) on weeks is (2/5) ln(4.1/4) / 2 = +0.0049 per week:
    # growing by 100 (e^0.0049 - 1) = +0.5 % a week, so no closure is projected.
    assert "not projected" in section2
    assert "The wound is not shrinking (fitted area change +0.5 % per week)" in section2
    # the erythema under each chart: 80 % of the wound, L1 from 12.00 cm² to 0.8 × 3.35 = 2.68
    assert "Periwound erythema on 2026-04-06: 2.68 cm² (first visit, 2026-03-02: 12.00" in section1
    # and, on paper where no (?) can be clicked, what the figure cannot see
    assert "up to 2.5 cm from the wound" in section1 and "A limb red all over" in section1


def test_photos_are_embedded_as_base64_jpegs(report) -> None:
    page = report["page"]
    found = re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', page)
    assert [base64.b64decode(f) for f in found] == [data for _, data in report["photos"]]


def test_timeline_measurements_and_provenance(report) -> None:
    page = report["page"]
    timeline = page.split("<h2>Treatment timeline</h2>")[1].split("</section>")[0]
    assert "Hyperbaric oxygen" in timeline and "2.4 ATA 90 min" in timeline
    assert "Wound VAC" in timeline and "Dressing change" in timeline
    measurements = page.split("<h2>Measurements</h2>")[1].split("</section>")[0]
    assert measurements.count("<tr>") == len(report["rows"]) + 1  # + the header
    first = report["rows"][0]
    assert first.photo_sha256[:12] in measurements and first.photo_sha256 not in page
    assert "yes, by AB" in measurements
    # an automatic outline the network was unsure of says so where the figures are listed
    assert measurements.count("no (the network was unsure of this outline: 45 %)") == 1
    assert "15.00" in measurements and "2026-03-02" in measurements
    assert '<th class="num">Erythema reach (cm)</th>' in measurements
    assert '<td class="num">1.37</td>' in measurements  # week 1's
    assert '<td class="num"></td><td>yes</td>' in measurements  # week 0's: not known, not 0
    footer = page.split("<footer>")[1]
    assert "classical-lab" in footer and "model version <code>1</code>" in footer
    assert "every measurement listed was calibrated" in footer


def page_without_timeline_or_photos(rows: list[SeriesRow]) -> str:
    return patient_report_html(
        patient="CUA-007",
        rows=rows,
        events=[],
        summary=healing_summary(rows, []),
        photos=[],
        generated_at=WHEN,
    )


def test_a_lesion_measured_by_two_model_versions_says_so_under_its_chart(report) -> None:
    assert "model versions" not in report["page"]  # one version measured every visit
    rows = [
        dataclasses.replace(r, model_version="clinic-2")
        if r.taken_on >= BASE + timedelta(weeks=4)
        else r
        for r in report["rows"]
    ]
    page = page_without_timeline_or_photos(rows)
    l1, l2 = page.split("<h2>Lesion L1")[1].split("<h2>Lesion L2")
    assert "The visits of L1 were measured by 2 model versions: 1 (4 visits" in l1
    assert "clinic-2 (2 visits, 30 Mar – 6 Apr 2026)" in l1
    assert "model versions" not in l2.split("</section>")[0]  # L2's visits: weeks 0-3, one


def test_the_footer_says_how_well_the_tissue_network_that_measured_agrees_with_specialists(
    report,
) -> None:
    assert "Tissue shares come from" not in report["page"]  # colour rules: no tissue network
    network = "2026-11-26a+tissue-2026-12-06a"
    rows = [dataclasses.replace(r, model_version=network) for r in report["rows"]]
    footer = page_without_timeline_or_photos(rows).split("<footer>")[1]
    assert footer.count("Tissue shares come from tissue network 2026-12-06a") == 1
    assert "found 50% of their slough" in footer and "slough reads low" in footer


def test_no_calibrated_visit_is_said_plainly() -> None:
    calibrated = row(0, lesion="L1", area_cm2=1.0)
    fields = {f: getattr(calibrated, f) for f in calibrated.__slots__}
    fields.update(calibrated=False, wound_area_cm2=None, perimeter_cm=None)
    rows = [SeriesRow(**fields)]
    page = page_without_timeline_or_photos(rows)
    assert "No calibrated visit" in page and "Plotly.newPlot(" not in page
    assert "Lesions without healing figures" in page
    assert "1 measurement had no calibration" in page


def test_overlay_thumbnail_is_a_small_close_up() -> None:
    image = np.full((1200, 1600, 3), 180, dtype=np.uint8)
    labels = np.zeros((1200, 1600), dtype=np.uint8)
    labels[500:600, 900:1000] = ESCHAR
    labels[540:560, 940:960] = GRANULATION
    data = overlay_thumbnail_jpeg(image, labels)
    thumb = Image.open(io.BytesIO(data))
    assert thumb.format == "JPEG"
    assert thumb.width == 800 and thumb.height == 600  # 4:3 around the wound, ≤ 800 px wide
    whole = Image.open(io.BytesIO(overlay_thumbnail_jpeg(image, labels, close_up=False)))
    assert whole.size == (800, 600)
    # A label map of another size is resized to the photo, not refused.
    small = overlay_thumbnail_jpeg(image, labels[::2, ::2], max_width_px=400)
    assert Image.open(io.BytesIO(small)).width == 400


def test_overlay_thumbnail_names_each_lesion_where_it_is() -> None:
    """Two lesions: each one's name beside it in the close-up, as the caption names them."""
    image = np.full((1200, 1600, 3), 180, dtype=np.uint8)
    labels = np.zeros((1200, 1600), dtype=np.uint8)
    labels[500:600, 700:800] = GRANULATION
    labels[520:540, 1000:1020] = ESCHAR
    tags = lesion_tags(measure(labels, Calibration(method="none"))[0], ["L1", "L4"])

    def drawn(tags) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(overlay_thumbnail_jpeg(image, labels, tags=tags))))

    plain, one, both = drawn([]), drawn(tags[1:]), drawn(tags)
    # the thumbnail is the 4:3 close-up (800 px wide) round both: L4's tag to the right of it
    ys, xs = np.nonzero(np.abs(one.astype(int) - plain.astype(int)).max(axis=2) > 40)
    changed_l1 = np.abs(both.astype(int) - one.astype(int)).max(axis=2) > 40
    assert len(xs) and changed_l1.any()
    assert xs.min() > np.nonzero(changed_l1)[1].max()  # L4 right of L1's tag, as in the photo


def test_overlay_thumbnail_refuses_what_is_not_a_photo() -> None:
    labels = np.zeros((10, 10), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) array of uint8 RGB"):
        overlay_thumbnail_jpeg(np.zeros((10, 10), dtype=np.uint8), labels)
    with pytest.raises(ValueError, match="max_width_px must be at least 16"):
        overlay_thumbnail_jpeg(np.zeros((10, 10, 3), dtype=np.uint8), labels, max_width_px=8)
