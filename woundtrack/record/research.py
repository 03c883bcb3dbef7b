"""The pseudonymised research export: Parquet tables and their data dictionary, in a new folder.

``woundtrack export --research --out DIR`` writes

- ``measurements.parquet``: one row per lesion per visit (``store.PSEUDONYMISED_COLUMNS``);
- ``treatments.parquet``: one row per treatment event (``store.PSEUDONYMISED_TREATMENT_COLUMNS``);
- ``dictionary.csv`` and ``dictionary.md``: every column's type, unit and meaning, and how the
  data were pseudonymised.

Patients become subjects (a keyed hash; the key stays in the site's database), every date of a
patient is moved by the same per-patient offset, and no photo, file name, photo hash, free text or
person's name is written (``Store.pseudonymised_tables``). The folder is what ``woundtrack cohort
--measurements DIR/measurements.parquet --timeline DIR/treatments.parquet`` reads.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from woundtrack import __version__
from woundtrack.errors import WoundtrackError
from woundtrack.present.tissue_note import tissue_notes
from woundtrack.record.store import (
    PSEUDONYMISED_COLUMNS,
    PSEUDONYMISED_TREATMENT_COLUMNS,
    Store,
)

__all__ = ["DICTIONARY", "research_tables", "write_research_export"]

_AREA = "float, cm²; empty when the photo had no calibration sticker"
#: (table, column) -> (type and unit, meaning). Every exported column has an entry (a test
#: checks it).
DICTIONARY: dict[tuple[str, str], tuple[str, str]] = {
    ("measurements", "subject"): (
        "text",
        "pseudonymous subject: S- and 10 hex digits of an HMAC-SHA256 of the patient code under "
        "the site's own key; the same patient has the same subject in every export of that site",
    ),
    ("measurements", "lesion"): (
        "text",
        "the lesion's label within the subject (L1, L2, ...); a label typed as other text is "
        "X1, X2, ... in the order first photographed",
    ),
    ("measurements", "body_region"): (
        "text",
        "the body site's region (foot, toe, heel, ankle, lower leg, knee, thigh, lower limb, hip, "
        "buttock, sacrum, abdomen, flank, breast, thorax, back, trunk, penis, finger, hand, "
        "forearm, upper arm, shoulder, upper limb); empty when the site as typed names none or "
        "several (the typed text is never exported)",
    ),
    ("measurements", "laterality"): ("text", "left, right, or empty when the site names no side"),
    ("measurements", "distribution"): (
        "text",
        "calciphylaxis distribution of the region: distal (below the knee or elbow), proximal "
        "(above them, or the trunk), or empty (knee, penis, a whole limb, or no region)",
    ),
    ("measurements", "day"): ("integer, days", "days since the subject's first visit"),
    ("measurements", "taken_on_shifted"): (
        "date (YYYY-MM-DD)",
        "capture day moved by the subject's offset (-182 to +183 days, never 0); intervals "
        "are kept",
    ),
    ("measurements", "corrected"): (
        "boolean",
        "true when a person corrected the outline (the figures are the corrected ones)",
    ),
    ("measurements", "outline_doubt"): (
        "float, share of the wound",
        "how unsure the network was of this lesion's automatic outline: the pixels it gave "
        "12-88 % of being wound nearest to this lesion, as a share of its wound (above 0.3 a "
        "warning said so; such visits may be off by a quarter or more); the whole photo's for "
        "visits measured before it was recorded per lesion; empty for a person's outline, the "
        "classical segmenter, or a visit measured before woundtrack recorded it",
    ),
    ("measurements", "wound_area_cm2"): (_AREA, "wound bed area on the skin plane"),
    ("measurements", "eschar_area_cm2"): (_AREA, "necrotic eschar inside the wound bed"),
    ("measurements", "slough_area_cm2"): (_AREA, "slough inside the wound bed"),
    ("measurements", "granulation_area_cm2"): (_AREA, "granulation inside the wound bed"),
    ("measurements", "erythema_area_cm2"): (_AREA, "periwound erythema around the bed"),
    ("measurements", "perimeter_cm"): ("float, cm", "perimeter of the wound bed"),
    ("measurements", "length_cm"): ("float, cm", "longest extent of the wound bed"),
    ("measurements", "width_cm"): ("float, cm", "extent perpendicular to the length"),
    ("measurements", "erythema_reach_cm"): (
        "float, cm",
        "how far the erythema reaches from the wound's edge at its furthest (looked for up to "
        "2.5 cm; empty when uncalibrated or measured before woundtrack recorded it)",
    ),
    ("measurements", "eschar_pct"): ("float, % of the bed", "eschar share of the wound bed"),
    ("measurements", "slough_pct"): ("float, % of the bed", "slough share of the wound bed"),
    ("measurements", "granulation_pct"): (
        "float, % of the bed",
        "granulation share of the wound bed",
    ),
    ("measurements", "calibrated"): ("boolean", "the photo had a calibration sticker"),
    ("measurements", "segmenter"): ("text", "the segmenter that outlined the wound"),
    ("measurements", "model_version"): ("text", "the network's version"),
    ("treatments", "subject"): ("text", "as in measurements"),
    ("treatments", "kind"): (
        "text",
        "treatment kind: debridement, hyperbaric_oxygen, sodium_thiosulfate, parathyroidectomy, "
        "cinacalcet, antibiotics, dressing_change, or other (a kind typed as text)",
    ),
    ("treatments", "start_on_shifted"): ("date (YYYY-MM-DD)", "first day, shifted as above"),
    ("treatments", "end_on_shifted"): (
        "date (YYYY-MM-DD)",
        "last day of a course, shifted as above; empty for a single event or a course going on",
    ),
    ("treatments", "sessions"): ("integer", "number of sessions (e.g. 36 of hyperbaric oxygen)"),
    ("treatments", "day"): ("integer, days", "days from the subject's first visit to its start"),
}


def research_tables(store: Store):
    """The record's pseudonymised ``(measurements, treatments)`` as pandas DataFrames (the
    columns of ``PSEUDONYMISED_COLUMNS`` and ``PSEUDONYMISED_TREATMENT_COLUMNS``), what
    ``woundtrack cohort --db`` and the Research page analyse."""
    import pandas as pd

    measurements, treatments = store.pseudonymised_tables()
    return (
        pd.DataFrame(measurements, columns=list(PSEUDONYMISED_COLUMNS)),
        pd.DataFrame(treatments, columns=list(PSEUDONYMISED_TREATMENT_COLUMNS)),
    )


def write_research_export(store: Store, out: str | Path) -> list[Path]:
    """Write the research export into the new folder ``out``; the files written.

    Raises
    ------
    WoundtrackError
        ``out`` exists already, or the user may not export pseudonymised data.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    if out.exists():
        raise WoundtrackError(f"{out} exists; choose a new folder name for the research export")
    measurements, treatments = store.pseudonymised_tables()
    out.mkdir(parents=True)
    written = []
    for table, rows, columns in (
        ("measurements", measurements, PSEUDONYMISED_COLUMNS),
        ("treatments", treatments, PSEUDONYMISED_TREATMENT_COLUMNS),
    ):
        data = {c: [row[c] for row in rows] for c in columns}
        path = out / f"{table}.parquet"
        pq.write_table(pa.table(data) if rows else _empty(columns, table), path)
        written.append(path)
    written += _write_dictionary(out, measurements, treatments)
    return written


def _empty(columns, table):
    import pyarrow as pa

    def kind(column: str):
        meaning = DICTIONARY[(table, column)][0]
        if meaning.startswith("float"):
            return pa.float64()
        if meaning.startswith("integer"):
            return pa.int64()
        return pa.bool_() if meaning == "boolean" else pa.string()

    return pa.schema([(c, kind(c)) for c in columns]).empty_table()


def _write_dictionary(out: Path, measurements: list, treatments: list) -> list[Path]:
    tables = {
        "measurements": PSEUDONYMISED_COLUMNS,
        "treatments": PSEUDONYMISED_TREATMENT_COLUMNS,
    }
    csv_path = out / "dictionary.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["table", "column", "type_and_unit", "meaning"])
        for table, columns in tables.items():
            for column in columns:
                writer.writerow([table, column, *DICTIONARY[(table, column)]])
    subjects = {row["subject"] for row in measurements}
    lines = [
        "# woundtrack research export",
        "",
        f"Written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by woundtrack {__version__}: "
        f"{len(subjects)} subjects, {len(measurements)} measurements, {len(treatments)} "
        "treatment events.",
        "",
        "Pseudonymised: each patient is a subject (a keyed hash of the patient code; the key "
        "stays in the site's database), every date of a subject is moved by the same random "
        "offset of -182 to +183 days, never 0 (intervals are kept), and no photo, file name, "
        "photo hash, free text or person's name is included. Dates are still shifted dates: do "
        "not link them to calendar events.",
        "",
    ]
    for table, columns in tables.items():
        lines += [f"## {table}.parquet", "", "| column | type, unit | meaning |", "|---|---|---|"]
        lines += [f"| {c} | {' | '.join(DICTIONARY[(table, c)])} |" for c in columns]
        lines.append("")
    # a tissue share is only as good as the network that split the bed: say so for each one
    notes = tissue_notes(sorted({row["model_version"] or "" for row in measurements}))
    if notes:
        lines += ["## Tissue shares (eschar, slough, granulation): known agreement", ""]
        lines += [*(f"- {note}" for note in notes), ""]
    md_path = out / "dictionary.md"
    md_path.write_text("\n".join(lines), encoding="utf-8")
    return [csv_path, md_path]
