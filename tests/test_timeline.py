"""Tests of the treatment timeline: events, kinds, the CSV format and placing events on dates."""

from __future__ import annotations

import csv
import io
import pickle
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from woundtrack.analysis.timeline import (
    active_on,
    courses,
    markers,
    session_notes,
    sessions_per_week,
    to_week,
)
from woundtrack.analysis.timeline_csv import (
    CSV_COLUMNS,
    MAX_LISTED_PROBLEMS,
    MAX_TIMELINE_BYTES,
    MAX_TIMELINE_ROWS,
    from_spreadsheet_safe,
    read_timeline_csv,
    spreadsheet_safe,
    write_timeline_csv,
)
from woundtrack.errors import TimelineError, WoundtrackError
from woundtrack.models import KNOWN_KINDS, TreatmentEvent, normalise_kind

DEMO = Path(__file__).resolve().parent.parent / "sample_images" / "demo_timeline.csv"
HEADER = ",".join(CSV_COLUMNS)

PTX = TreatmentEvent(kind="parathyroidectomy", start_on=date(2026, 3, 10))
HBOT = TreatmentEvent(
    kind="hyperbaric_oxygen", start_on=date(2026, 3, 16), end_on=date(2026, 6, 22), sessions=36
)
STS_ONGOING = TreatmentEvent(
    kind="sodium_thiosulfate",
    start_on=date(2026, 3, 30),
    dose="25 g IV",
    frequency="3 per week after dialysis",
)


def read_text(text: str, name: str = "timeline.csv") -> list[TreatmentEvent]:
    return read_timeline_csv(io.StringIO(text), name=name)


def problem(text: str, pattern: str) -> TimelineError:
    with pytest.raises(TimelineError, match=pattern) as caught:
        read_text(text)
    return caught.value


# -- the demo file and round trips -----------------------------------------------------------------


def test_demo_timeline_reads_to_five_events() -> None:
    events = read_timeline_csv(DEMO)
    assert [e.kind for e in events] == [
        "debridement",
        "parathyroidectomy",
        "hyperbaric_oxygen",
        "sodium_thiosulfate",
        "dressing_change",
    ]
    assert [e.start_on for e in events] == [
        date(2026, 3, 2),
        date(2026, 3, 10),
        date(2026, 3, 16),
        date(2026, 3, 30),
        date(2026, 3, 2),
    ]
    assert [e.end_on for e in events] == [None, None, date(2026, 5, 4)] + [date(2026, 6, 22)] * 2
    assert [e.sessions for e in events] == [None, None, 36, None, None]
    assert [e.is_course for e in events] == [False, False, True, True, True]
    assert events[3].dose == "25 g IV"
    assert events[3].frequency == "3 per week after dialysis"
    assert events[0].notes == "surgical debridement of the left calf lesion, week 0"


def test_demo_timeline_reads_from_binary_and_text_files() -> None:
    with DEMO.open("rb") as binary, DEMO.open(encoding="utf-8", newline="") as text:
        assert read_timeline_csv(binary) == read_timeline_csv(text) == read_timeline_csv(DEMO)


def test_round_trip_write_read_is_exact() -> None:
    events = [
        *read_timeline_csv(DEMO),
        STS_ONGOING,
        TreatmentEvent(
            kind="Wound VAC, negative pressure",
            start_on=date(2026, 4, 1),
            end_on=date(2026, 4, 1),
            dose='125 mmHg "continuous"',
            frequency="",
            sessions=1,
            notes="line one\nline two, with comma\n  indented",
        ),
        TreatmentEvent(kind="antibiotics", start_on=date(2026, 3, 2), notes="é ü 中文 ✓"),
    ]
    text = write_timeline_csv(events)
    back = read_text(text)
    key = [(e.start_on, e.kind) for e in back]
    assert key == sorted(key)
    assert back == sorted(events, key=lambda e: (e.start_on, e.kind))
    assert write_timeline_csv(back) == text


def test_formulas_are_neutralised_and_read_back_as_typed() -> None:
    # Issue 30, row 6: a spreadsheet must show these as text, never run them (OWASP CSV injection).
    events = [
        TreatmentEvent(kind="+cmd", start_on=date(2026, 3, 2), dose="=1+1", notes="@SUM(1,2)"),
        TreatmentEvent(
            kind="antibiotics",
            start_on=date(2026, 3, 3),
            dose="-1.5 g",
            frequency="'=already quoted",
            sessions=2,
            notes="'plain quote",
        ),
    ]
    text = write_timeline_csv(events)
    assert text.splitlines()[1:] == [
        "'+cmd,2026-03-02,,'=1+1,,,\"'@SUM(1,2)\"",
        "antibiotics,2026-03-03,,'-1.5 g,''=already quoted,2,'plain quote",
    ]
    assert read_text(text) == events
    assert write_timeline_csv(read_text(text)) == text


def test_spreadsheet_safe_is_undone_exactly() -> None:
    for original in ("", "x", "=", "'", "''", "'=", "''=1", "-", "\t", "\r1", "@@", "a=b", "'a"):
        safe = spreadsheet_safe(original)
        assert from_spreadsheet_safe(safe) == original
        assert not re.match(r"[=+\-@\t\r]", safe)  # a spreadsheet never sees a formula
    assert from_spreadsheet_safe("'=1") == "=1"  # a hand-written quote before a formula is one too


def test_write_layout() -> None:
    text = write_timeline_csv([HBOT, PTX])
    assert text == (
        f"{HEADER}\n"
        "parathyroidectomy,2026-03-10,,,,,\n"
        "hyperbaric_oxygen,2026-03-16,2026-06-22,,,36,\n"
    )
    assert write_timeline_csv([]) == f"{HEADER}\n"


def test_write_refuses_other_items() -> None:
    with pytest.raises(TypeError, match="item 1 is a dict, expected a TreatmentEvent"):
        write_timeline_csv([PTX, {"kind": "x"}])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="got a str"):
        write_timeline_csv("kind")  # type: ignore[arg-type]


def test_header_only_and_blank_lines() -> None:
    assert read_text(f"{HEADER}\n") == []
    assert read_text("kind,start_on") == []
    text = f"\n\n{HEADER}\r\n\r\n,,,,,,\nPTX,2026-03-10,,,,,\n\n   \n"
    assert read_text(text) == [PTX]


def test_columns_are_case_insensitive_order_free_and_optional(tmp_path: Path) -> None:
    text = "\ufeffStart_On , KIND,Sessions,END_ON\n2026-03-16, HBOT ,36,2026-06-22\n"
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    assert read_timeline_csv(path) == [HBOT]
    # A BOM as bytes (Excel "CSV UTF-8") is accepted too.
    path.write_bytes(b"\xef\xbb\xbfkind,start_on\nptx,2026-03-10\n")
    assert read_timeline_csv(path) == [PTX]


def test_short_rows_and_trailing_empty_cells() -> None:
    assert read_text(f"{HEADER}\nPTX,2026-03-10\n") == [PTX]
    assert read_text("kind,start_on,\nPTX,2026-03-10,,,\n") == [PTX]


# -- events ----------------------------------------------------------------------------------------


def test_is_course() -> None:
    assert not PTX.is_course
    assert HBOT.is_course
    assert STS_ONGOING.is_course
    assert TreatmentEvent(kind="x", start_on=date(2026, 1, 1), sessions=3).is_course
    assert TreatmentEvent(kind="x", start_on=date(2026, 1, 1), end_on=date(2026, 1, 1)).is_course
    assert not TreatmentEvent(kind="x", start_on=date(2026, 1, 1), dose="1 g").is_course


def test_label() -> None:
    assert HBOT.label == "Hyperbaric oxygen (36 sessions)"
    assert STS_ONGOING.label == "Sodium thiosulfate 25 g IV, 3 per week after dialysis"
    assert PTX.label == "Parathyroidectomy"
    one = TreatmentEvent(kind="Wound VAC", start_on=date(2026, 1, 1), sessions=1)
    assert one.label == "Wound VAC (1 session)"
    full = TreatmentEvent(
        kind="hbo", start_on=date(2026, 1, 1), dose="2.4 ATA", frequency="5 per week", sessions=36
    )
    assert full.label == "Hyperbaric oxygen 2.4 ATA, 5 per week (36 sessions)"
    assert TreatmentEvent(kind="abx", start_on=date(2026, 1, 1), notes="x").label == "Antibiotics"


def test_event_cleans_text_and_normalises_kind() -> None:
    event = TreatmentEvent(
        kind="  STS ", start_on=date(2026, 1, 1), dose=" 25 g ", notes=" a\r\nb\rc "
    )
    assert event.kind == "sodium_thiosulfate"
    assert event.dose == "25 g"
    assert event.notes == "a\nb\nc"


@pytest.mark.parametrize(
    ("fields", "pattern"),
    [
        ({"kind": "  "}, "TreatmentEvent kind: empty; name the treatment"),
        ({"kind": "a\nb"}, r"kind: a\\nb spans lines; keep the kind on one line"),
        ({"kind": "x" * 61}, "is 61 characters, over the limit of 60"),
        (
            {"end_on": date(2026, 1, 1)},
            "TreatmentEvent end_on: 2026-01-01 is before start_on 2026-03-02",
        ),
        (
            {"sessions": 0},
            "TreatmentEvent sessions: 0 is not a number of sessions; write 1 or more",
        ),
    ],
)
def test_event_validation(fields: dict[str, object], pattern: str) -> None:
    values: dict[str, object] = {"kind": "debridement", "start_on": date(2026, 3, 2), **fields}
    with pytest.raises(TimelineError, match=pattern):
        TreatmentEvent(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "pattern"),
    [
        ({"kind": 3}, r"TreatmentEvent.kind: expected a str, got int"),
        ({"notes": None}, r"TreatmentEvent.notes: expected a str, got NoneType"),
        ({"start_on": "2026-03-02"}, r"start_on: expected a datetime.date, got str"),
        ({"start_on": datetime(2026, 3, 2, 9)}, r"start_on: expected a date, got the datetime"),
        ({"end_on": "2026-03-02"}, r"end_on: expected a datetime.date or None, got str"),
        ({"sessions": 3.0}, r"sessions: expected an int or None, got float"),
        ({"sessions": True}, r"sessions: expected an int or None, got bool"),
    ],
)
def test_event_types(fields: dict[str, object], pattern: str) -> None:
    values: dict[str, object] = {"kind": "debridement", "start_on": date(2026, 3, 2), **fields}
    with pytest.raises(TypeError, match=pattern):
        TreatmentEvent(**values)  # type: ignore[arg-type]


def test_event_is_frozen() -> None:
    with pytest.raises(AttributeError, match=r"^cannot assign to field 'kind'$"):
        PTX.kind = "x"  # type: ignore[misc]


# -- kinds -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Hyperbaric Oxygen", "hyperbaric_oxygen"),
        ("HBOT", "hyperbaric_oxygen"),
        ("hbo", "hyperbaric_oxygen"),
        ("HBO2", "hyperbaric_oxygen"),
        ("hyperbaric-oxygen therapy", "hyperbaric_oxygen"),
        ("sodium thiosulphate", "sodium_thiosulfate"),
        ("Sodium Thiosulfate", "sodium_thiosulfate"),
        ("STS", "sodium_thiosulfate"),
        ("PTX", "parathyroidectomy"),
        ("parathyroidectomy ", "parathyroidectomy"),
        ("Sensipar", "cinacalcet"),
        ("Cinacalcet", "cinacalcet"),
        ("abx", "antibiotics"),
        ("Antibiotic", "antibiotics"),
        ("Débridement", "debridement"),
        ("Dressing change", "dressing_change"),
        ("dressing-changes", "dressing_change"),
        ("  Wound VAC ", "Wound VAC"),
        ("surgical debridement", "surgical debridement"),
        ("Subtotal Parathyroidectomy", "Subtotal Parathyroidectomy"),
        ("", ""),
    ],
)
def test_normalise_kind(text: str, kind: str) -> None:
    assert normalise_kind(text) == kind


def test_known_kinds_normalise_to_themselves() -> None:
    for kind in KNOWN_KINDS:
        assert normalise_kind(kind) == kind
        assert normalise_kind(kind.upper().replace("_", " ")) == kind


def test_normalise_kind_refuses_non_text() -> None:
    with pytest.raises(TypeError, match="normalise_kind: expected a str, got NoneType"):
        normalise_kind(None)  # type: ignore[arg-type]


# -- CSV errors ------------------------------------------------------------------------------------


def test_bad_date_names_file_line_and_column() -> None:
    text = f"{HEADER}\nPTX,2026-03-10,,,,,\n\nhbot,2026-03-16,2026-02-30,,,,\n"
    error = problem(
        text,
        "^"
        + re.escape(
            "timeline.csv line 4, end_on: 2026-02-30 is not a date (February 2026 has 28 days); "
            "write dates as YYYY-MM-DD, e.g. 2026-03-02"
        )
        + "$",
    )
    assert isinstance(error, WoundtrackError)
    assert len(error.problems) == 1


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("2026-13-01", r"2026-13-01 is not a date \(there is no month 13\)"),
        ("0000-01-01", r"0000-01-01 is not a date \(there is no year 0\)"),
        ("9999-12-32", r"9999-12-32 is not a date \(December 9999 has 31 days\)"),
        ("yesterday", r"yesterday is not a date; write dates as YYYY-MM-DD, e.g. 2026-03-02$"),
        ("20260302", r"20260302 is not a date; write dates as YYYY-MM-DD"),
        ("2026-03-02T10:00", r"2026-03-02T10:00 has a time of day; write the date only"),
        (
            "2026-03-02 00:00:00",
            r"2026-03-02 00:00:00 has a time of day; write the date only as YYYY-MM-DD, "
            r"e.g. 2026-03-02$",
        ),
        ("2026/3/2", r"2026/3/2 is not in the form YYYY-MM-DD; write 2026-03-02$"),
        ("2026/2/30", r"2026/2/30 is not in the form YYYY-MM-DD; write dates as YYYY-MM-DD, e.g."),
    ],
)
def test_bad_dates(value: str, pattern: str) -> None:
    problem(f"kind,start_on\nPTX,{value}\n", r"timeline.csv line 2, start_on: " + pattern)


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        (
            "02/03/2026",
            r"02/03/2026 is ambiguous \(day/month/year in Europe, month/day/year in the US\); "
            r"write dates as YYYY-MM-DD: 2026-03-02 for 2 March 2026 or 2026-02-03 for "
            r"3 February 2026$",
        ),
        ("31/03/2026", r"31/03/2026 is ambiguous .*; write dates as YYYY-MM-DD: 2026-03-31 for"),
        ("03.03.2026", r"03.03.2026 is ambiguous .*: 2026-03-03 for 3 March 2026$"),
        ("3/2/26", r"3/2/26 is ambiguous .*; write dates as YYYY-MM-DD, e.g. 2026-03-02$"),
        ("31/31/2026", r"31/31/2026 is not a date; write dates as YYYY-MM-DD"),
    ],
)
def test_day_month_dates_are_refused(value: str, pattern: str) -> None:
    problem(f"kind,start_on\nPTX,{value}\n", r"timeline.csv line 2, start_on: " + pattern)


def test_end_before_start() -> None:
    problem(
        f"{HEADER}\nhbot,2026-03-02,2026-01-01,,,,\n",
        re.escape(
            "timeline.csv line 2, end_on: 2026-01-01 is before start_on 2026-03-02; end_on is the "
            "last day of the course, on or after start_on"
        ),
    )


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("0", r"sessions: 0 is not a number of sessions; write 1 or more, or leave it empty"),
        ("-3", r"sessions: -3 is not a number of sessions"),
        ("abc", r"sessions: abc is not a whole number; write the number of sessions, e.g. 36"),
        ("36.0", r"sessions: 36.0 is not a whole number"),
        ("3_6", r"sessions: 3_6 is not a whole number"),
    ],
)
def test_bad_sessions(value: str, pattern: str) -> None:
    problem(f"kind,start_on,sessions\nhbot,2026-03-16,{value}\n", "timeline.csv line 2, " + pattern)


def test_missing_values_and_bad_kinds() -> None:
    problem("kind,start_on\n,2026-03-02\n", r"line 2, kind: empty; name the treatment")
    problem("kind,start_on\nPTX,\n", r"line 2, start_on: empty; write the first day as YYYY-MM-DD")
    problem(f"kind,start_on\n{'x' * 61},2026-03-02\n", r"line 2, kind: x+… is 61 characters")
    problem('kind,start_on\n"a\nb",2026-03-02\n', r"line 2, kind: a\\nb spans lines")


def test_unknown_columns_are_named_with_a_suggestion() -> None:
    error = problem(
        "kind,Start Date,dosage,colour\nPTX,2026-03-10,1,x\n",
        r"timeline.csv line 1, column 2 'Start Date': unknown column \(did you mean start_on\?\); "
        r"the columns are kind, start_on, end_on, dose, frequency, sessions, notes; rename it",
    )
    text = str(error)
    assert "column 3 'dosage': unknown column (did you mean dose?)" in text
    assert "column 4 'colour': unknown column; the columns are" in text
    assert "line 1, start_on: no such column in the header" in text


def test_unknown_column_does_not_hide_row_problems() -> None:
    error = problem(
        "kind,start_on,comment\nPTX,2026-02-30,x\n", r"2 problems; fix them all and load it again"
    )
    assert error.problems[0].startswith("timeline.csv line 1, column 3 'comment': unknown column")
    assert error.problems[1].startswith("timeline.csv line 2, start_on: 2026-02-30 is not a date")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (
            "debridement,2026-03-02,,,,,\n",
            r"^timeline.csv line 1: no header row \(the first line is 'debridement,2026-03-02,,,,,'"
            r"\); add a first line naming the columns, e.g. kind,start_on,end_on,dose,frequency,"
            r"sessions,notes$",
        ),
        (
            "\n\nkind,end_on\nPTX,2026-03-10\n",
            r"^timeline.csv line 3, start_on: no such column in the header; the header needs at "
            r"least kind,start_on$",
        ),
        ("start_on\n2026-03-10\n", r"line 1, kind: no such column in the header"),
        (
            "kind;start_on;end_on\nPTX;2026-03-10;\n",
            r"line 1: the columns are separated by semicolons, expected commas; save the file as "
            r"'CSV UTF-8 \(comma delimited\)'",
        ),
        ("kind\tstart_on\n", r"line 1: the columns are separated by tabs"),
        ("", r"^timeline.csv line 1: the file is empty; the first line must be a header such as"),
        ("\n \n", r"the file is empty"),
        (
            "kind,start_on,kind\nPTX,2026-03-10,x\n",
            r"line 1, column 3 'kind': named twice \(also column 1\); keep one of them",
        ),
    ],
)
def test_header_problems(text: str, pattern: str) -> None:
    problem(text, pattern)


def test_row_shape_problems() -> None:
    problem(
        "kind,start_on\nSTS,2026-03-30,25 g, IV\n",
        r"line 2: 4 values but the header names 2 columns; put values that contain commas in "
        r"double quotes",
    )
    problem(
        "kind,,start_on\nPTX,oops,2026-03-10\n",
        r"line 2, column 2: oops is in a column with no name in the header; name the column or "
        r"remove the value",
    )


def test_quote_problems() -> None:
    problem(
        'kind,start_on,notes\nPTX,2026-03-10,ok\nPTX,2026-03-11,"never closed\nmore\n',
        r'line 3: a value opened with " is never closed; add the closing "',
    )
    problem(
        'kind,start_on,notes\nPTX,2026-03-10,"a"b\n',
        r'line 2: a closing " is followed by more text; put the whole value in quotes',
    )


def test_line_numbers_count_lines_inside_quoted_values() -> None:
    text = 'kind,start_on,notes\nPTX,2026-03-10,"two\nlines"\n\nhbot,2026-03-32,\n'
    problem(text, r"^timeline.csv line 5, start_on: 2026-03-32 is not a date")


def test_all_problems_are_collected_and_listed_up_to_the_limit() -> None:
    rows = "".join(f"hbot,2026-03-{day:02d},2026-01-01,,,0,\n" for day in range(1, 13))
    error = problem(f"{HEADER}\n{rows}", r"^timeline.csv: 24 problems; fix them all")
    assert len(error.problems) == 24
    lines = str(error).splitlines()
    assert len(lines) == 1 + MAX_LISTED_PROBLEMS + 1
    assert lines[1] == (
        "  timeline.csv line 2, end_on: 2026-01-01 is before start_on 2026-03-01; end_on is the "
        "last day of the course, on or after start_on"
    )
    assert lines[2].startswith("  timeline.csv line 2, sessions: 0 is not a number of sessions")
    assert lines[-1] == "  ... and 4 more"


def test_error_survives_pickling() -> None:
    error = problem("kind,start_on\nPTX,x\nPTX,y\n", "2 problems")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)
    assert copy.problems == error.problems


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(TimelineError, match=r"^nothere.csv: no such file; check the path") as got:
        read_timeline_csv(tmp_path / "nothere.csv")
    assert str(tmp_path) not in str(got.value)  # folders may name a patient
    with pytest.raises(TimelineError, match=r"is a folder, not a CSV file"):
        read_timeline_csv(tmp_path)
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("kind,start_on,notes\nPTX,2026-03-10,\n,,café\n".encode("latin-1"))
    with pytest.raises(
        TimelineError,
        match=r"^latin1.csv line 3: not UTF-8 text \(byte 0xe9\); save the file as 'CSV UTF-8",
    ):
        read_timeline_csv(latin1)
    utf16 = tmp_path / "utf16.csv"
    utf16.write_text("kind,start_on\n", encoding="utf-16")
    with pytest.raises(TimelineError, match=r"^utf16.csv: is UTF-16 text, expected UTF-8"):
        read_timeline_csv(utf16)


def test_names_in_messages() -> None:
    bad = "kind,start_on\nPTX,x\n"
    with pytest.raises(TimelineError, match=r"^timeline CSV line 2, start_on"):
        read_timeline_csv(io.StringIO(bad))
    upload = io.BytesIO(bad.encode())
    upload.name = "C:\\Users\\patient\\plan.csv"  # type: ignore[attr-defined]
    with pytest.raises(TimelineError, match=r"^plan.csv line 2, start_on"):
        read_timeline_csv(upload)
    with pytest.raises(TimelineError, match=r"^mine.csv line 2"):
        read_timeline_csv(io.StringIO(bad), name="/tmp/x/mine.csv")


def test_read_refuses_other_sources() -> None:
    with pytest.raises(TypeError, match="expected a path or an open file, got int"):
        read_timeline_csv(3)  # type: ignore[arg-type]

    class Odd:
        def read(self, size: int = -1) -> list[str]:
            return []

    with pytest.raises(TypeError, match=r"timeline CSV.read\(\) returned list"):
        read_timeline_csv(Odd())  # type: ignore[arg-type]


# -- placing events on dates -----------------------------------------------------------------------


def test_active_on_courses_and_points() -> None:
    events = read_timeline_csv(DEMO)
    today = date(2026, 9, 1)
    kinds = lambda day: [e.kind for e in active_on(events, day, today=today)]  # noqa: E731
    assert kinds(date(2026, 3, 2)) == ["debridement", "dressing_change"]
    assert kinds(date(2026, 3, 3)) == ["dressing_change"]
    assert kinds(date(2026, 3, 10)) == ["dressing_change", "parathyroidectomy"]
    assert kinds(date(2026, 3, 16)) == ["dressing_change", "hyperbaric_oxygen"]
    assert kinds(date(2026, 5, 4)) == [
        "dressing_change",
        "hyperbaric_oxygen",
        "sodium_thiosulfate",
    ]
    assert (
        kinds(date(2026, 5, 5))
        == kinds(date(2026, 6, 22))
        == [
            "dressing_change",
            "sodium_thiosulfate",
        ]
    )
    assert kinds(date(2026, 6, 23)) == []
    assert kinds(date(2026, 3, 1)) == []


def test_active_on_ongoing_courses_run_until_today() -> None:
    events = [PTX, STS_ONGOING]
    today = date(2026, 5, 1)
    assert active_on(events, date(2026, 3, 29), today=today) == []
    assert active_on(events, date(2026, 3, 30), today=today) == [STS_ONGOING]
    assert active_on(events, today, today=today) == [STS_ONGOING]
    assert active_on(events, date(2026, 5, 2), today=today) == []
    # A course planned after today is active on its first day only.
    assert active_on(events, date(2026, 3, 30), today=date(2026, 1, 1)) == [STS_ONGOING]
    assert active_on(events, date(2026, 3, 31), today=date(2026, 1, 1)) == []
    # Without today, ongoing courses run until the real date.
    default = active_on(events, date.today())
    assert default == ([STS_ONGOING] if date.today() >= STS_ONGOING.start_on else [])


def test_courses_and_markers() -> None:
    events = read_timeline_csv(DEMO) + [STS_ONGOING]
    assert courses(events, today=date(2026, 5, 1)) == [
        ("Dressing change, 2 per week", date(2026, 3, 2), date(2026, 6, 22)),
        (
            "Hyperbaric oxygen 2.4 ATA 90 min, 5 per week (36 sessions)",
            date(2026, 3, 16),
            date(2026, 5, 4),
        ),
        # Equal start_on and kind: input order (the demo's course, then the ongoing one).
        (
            "Sodium thiosulfate 25 g IV, 3 per week after dialysis",
            date(2026, 3, 30),
            date(2026, 6, 22),
        ),
        (
            "Sodium thiosulfate 25 g IV, 3 per week after dialysis",
            date(2026, 3, 30),
            date(2026, 5, 1),
        ),
    ]
    assert markers(events) == [
        ("Debridement", date(2026, 3, 2)),
        ("Parathyroidectomy", date(2026, 3, 10)),
    ]
    assert courses([], today=date(2026, 1, 1)) == []
    assert markers(iter([HBOT])) == []


def test_placing_refuses_bad_types() -> None:
    with pytest.raises(TypeError, match=r"active_on: day must be a datetime.date, got str"):
        active_on([PTX], "2026-03-10")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"active_on: today must be a datetime.date, got datetime"):
        active_on([PTX], date(2026, 3, 10), today=datetime(2026, 3, 10))
    with pytest.raises(TypeError, match=r"courses: today must be a datetime.date"):
        courses([PTX], today="2026-03-10")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"markers: item 0 is a tuple, expected a TreatmentEvent"):
        markers([("PTX", date(2026, 3, 10))])  # type: ignore[list-item]


def test_to_week() -> None:
    baseline = date(2026, 3, 2)
    assert to_week(date(2026, 3, 2), baseline) == 0.0
    assert to_week(date(2026, 3, 16), baseline) == 2.0
    assert to_week(date(2026, 3, 5), baseline) == pytest.approx(3 / 7)
    assert to_week(date(2026, 2, 23), baseline) == -1.0
    with pytest.raises(
        TypeError,
        match=r"to_week: day must be a datetime.date, got datetime .*"
        r"; pass its .date\(\)",
    ):
        to_week(datetime(2026, 3, 16, 12), baseline)
    with pytest.raises(TypeError, match=r"to_week: baseline_on must be a datetime.date"):
        to_week(baseline, None)  # type: ignore[arg-type]


def test_type_messages_are_whole_and_name_their_caller() -> None:
    """Whole messages, not fragments: which function refused what, with nothing appended."""
    with pytest.raises(TypeError) as caught:
        active_on([PTX, 3], date(2026, 3, 10))  # type: ignore[list-item]
    assert str(caught.value) == "active_on: item 1 is a int, expected a TreatmentEvent"
    with pytest.raises(TypeError) as caught:
        courses([PTX, "HBOT"], today=date(2026, 3, 10))  # type: ignore[list-item]
    assert str(caught.value) == "courses: item 1 is a str, expected a TreatmentEvent"
    with pytest.raises(TypeError) as caught:
        to_week("2026-03-16", date(2026, 3, 2))  # type: ignore[arg-type]
    assert str(caught.value) == "to_week: day must be a datetime.date, got str '2026-03-16'"
    with pytest.raises(TypeError) as caught:
        to_week(datetime(2026, 3, 16, 12), date(2026, 3, 2))
    assert str(caught.value) == (
        "to_week: day must be a datetime.date, got datetime "
        "datetime.datetime(2026, 3, 16, 12, 0); pass its .date()"
    )


# -- dates a clinical record can hold (issue 30, row 4) --------------------------------------------


def five_years_after(day: date) -> date:
    """The same day five years on (29 February becomes 28 February), computed here by hand."""
    try:
        return day.replace(year=day.year + 5)
    except ValueError:
        return day.replace(year=day.year + 5, day=28)


@pytest.mark.parametrize(
    ("fields", "pattern"),
    [
        (
            {"start_on": date(9999, 12, 31)},
            r"^TreatmentEvent start_on: 9999-12-31 is more than 5 years ahead \(after "
            r"\d{4}-\d\d-\d\d\); check the year: a treatment is dated from 1900-01-01 to 5 years "
            r"from today$",
        ),
        (
            {"start_on": date(1, 1, 1)},
            r"^TreatmentEvent start_on: 0001-01-01 is before 1900-01-01; check the year: a "
            r"treatment is dated from 1900-01-01 to 5 years from today$",
        ),
        (
            {"start_on": date(2026, 3, 2), "end_on": date(9999, 12, 31)},
            r"^TreatmentEvent end_on: 9999-12-31 is more than 5 years ahead",
        ),
        ({"start_on": date(1899, 12, 31)}, r"start_on: 1899-12-31 is before 1900-01-01"),
    ],
)
def test_event_dates_outside_the_clinical_range_are_refused(
    fields: dict[str, object], pattern: str
) -> None:
    with pytest.raises(TimelineError, match=pattern):
        TreatmentEvent(kind="hbot", **fields)  # type: ignore[arg-type]


def test_event_date_range_ends_are_inclusive() -> None:
    latest = five_years_after(date.today())
    assert TreatmentEvent(kind="PTX", start_on=date(1900, 1, 1)).start_on == date(1900, 1, 1)
    planned = TreatmentEvent(kind="hbot", start_on=latest, end_on=latest)
    assert planned.end_on == latest
    after = latest + timedelta(days=1)
    with pytest.raises(
        TimelineError, match=rf"^TreatmentEvent end_on: {after} is more than 5 years"
    ):
        TreatmentEvent(kind="hbot", start_on=latest, end_on=after)


def test_a_stored_event_outside_the_range_still_loads() -> None:
    # Saved by an earlier version: the store reads it back (so the timeline can be shown and
    # corrected) instead of refusing the whole patient.
    legacy = TreatmentEvent(
        kind="STS", start_on=date(1, 1, 1), end_on=date(9999, 12, 31), stored=True
    )
    assert (legacy.start_on, legacy.end_on) == (date(1, 1, 1), date(9999, 12, 31))
    assert legacy == TreatmentEvent(
        kind="sodium_thiosulfate", start_on=date(1, 1, 1), end_on=date(9999, 12, 31), stored=True
    )
    with pytest.raises(TimelineError, match=r"end_on: 2026-01-01 is before start_on 2026-03-02"):
        TreatmentEvent(kind="STS", start_on=date(2026, 3, 2), end_on=date(2026, 1, 1), stored=True)


def test_csv_dates_outside_the_clinical_range_name_line_and_column() -> None:
    error = problem(
        "kind,start_on,end_on\nPTX,9999-12-31,\nhbot,0001-01-01,2026-03-02\n",
        r"^timeline.csv: 2 problems",
    )
    assert len(error.problems) == 2
    assert re.fullmatch(
        r"timeline.csv line 2, start_on: 9999-12-31 is more than 5 years ahead \(after "
        r"\d{4}-\d\d-\d\d\); check the year: a treatment is dated from 1900-01-01 to 5 years "
        r"from today",
        error.problems[0],
    )
    assert error.problems[1] == (
        "timeline.csv line 3, start_on: 0001-01-01 is before 1900-01-01; check the year: a "
        "treatment is dated from 1900-01-01 to 5 years from today"
    )


# -- size limits (issue 30, row 13) ----------------------------------------------------------------


def test_a_timeline_with_more_rows_than_the_limit_is_refused_at_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("kind,start_on\n" + "PTX,2026-03-02\n" * (MAX_TIMELINE_ROWS + 1))
    assert path.stat().st_size < MAX_TIMELINE_BYTES  # the row limit, not the size limit
    with pytest.raises(
        TimelineError,
        match=r"^big\.csv line 10002: more than 10000 rows, the limit of a timeline file; a "
        r"patient's treatment timeline has tens to hundreds of events: check that this is one "
        r"patient's timeline, or import it in parts$",
    ):
        read_timeline_csv(path)
    # One row fewer is read.
    path.write_text("kind,start_on\n" + "PTX,2026-03-02\n" * MAX_TIMELINE_ROWS)
    assert len(read_timeline_csv(path)) == MAX_TIMELINE_ROWS


def test_a_timeline_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as out:
        out.write(b"kind,start_on\n")
        out.truncate(MAX_TIMELINE_BYTES + 1)  # sparse: nothing is written
    pattern = (
        r"^huge\.csv: over 5 MB, the limit of a timeline file \(at most 10000 rows\); a "
        r"patient's treatment timeline has tens to hundreds of events: check that this is one "
        r"patient's timeline, or import it in parts$"
    )
    with pytest.raises(TimelineError, match=pattern):
        read_timeline_csv(path)

    class Upload(io.BytesIO):
        """A file object that records how much was read from it."""

        taken = 0

        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            self.taken += len(data)
            return data

    upload = Upload(b"kind,start_on\n" + b"PTX,2026-03-02\n" * 400_000)  # 6 MB
    upload.name = "huge.csv"  # type: ignore[attr-defined]
    with pytest.raises(TimelineError, match=pattern):
        read_timeline_csv(upload)
    assert upload.taken <= MAX_TIMELINE_BYTES + 1  # stopped at the limit
    text = io.StringIO("kind,start_on\n" + "PTX,2026-03-02\n" * 400_000)
    with pytest.raises(TimelineError, match=r"^timeline CSV: over 5 MB, the limit"):
        read_timeline_csv(text)


# -- property-based: any valid timeline survives the CSV -------------------------------------------

# Text with what a CSV must quote or neutralise: commas, quotes, line breaks, formula-like
# leading characters (= + - @ tab, after any ') and non-ASCII letters.
_TRICKY_TEXT = st.text(alphabet=st.sampled_from("aZ 0,;\"'\n\r\t=+-@é中✓|\x00"), max_size=30)


@st.composite
def _events(draw: st.DrawFn) -> TreatmentEvent:
    latest = five_years_after(date.today())
    start_on = draw(st.dates(min_value=date(1900, 1, 1), max_value=latest))
    end_on = draw(st.none() | st.dates(min_value=start_on, max_value=latest))
    fields = {
        "kind": draw(st.sampled_from(KNOWN_KINDS) | _TRICKY_TEXT),
        "start_on": start_on,
        "end_on": end_on,
        "dose": draw(_TRICKY_TEXT),
        "frequency": draw(_TRICKY_TEXT),
        "sessions": draw(st.none() | st.integers(min_value=1, max_value=10_000)),
        "notes": draw(_TRICKY_TEXT),
    }
    try:
        return TreatmentEvent(**fields)
    except TimelineError:  # e.g. an empty kind: not a valid event
        reject()


@settings(max_examples=150, deadline=None)
@given(st.lists(_events(), max_size=6))
def test_any_valid_timeline_survives_write_and_read(events: list[TreatmentEvent]) -> None:
    text = write_timeline_csv(events)
    back = read_text(text)
    assert sorted(back, key=repr) == sorted(events, key=repr)  # the same events
    assert [e.start_on for e in back] == sorted(e.start_on for e in events)  # in date order
    assert write_timeline_csv(back) == text
    for row in list(csv.reader(io.StringIO(text, newline="")))[1:]:
        for column in ("kind", "dose", "frequency", "notes"):
            # A spreadsheet never sees a formula in a text cell.
            assert not re.match(r"[=+\-@\t\r]", row[CSV_COLUMNS.index(column)])


@pytest.mark.parametrize(
    ("frequency", "per_week"),
    [
        ("5 per week", 5.0),
        ("3 per week after dialysis", 3.0),
        ("3x/week", 3.0),
        ("3 × a week", 3.0),
        ("2 times a week", 2.0),
        ("1.5 per week", 1.5),
        ("2 per day", 14.0),
        ("once a day", 7.0),
        ("Daily", 7.0),
        ("TIW after HD", 3.0),
        ("twice a week", 2.0),
        ("weekly", 1.0),
        ("as needed", None),
        ("", None),
        ("after dialysis", None),
    ],
)
def test_sessions_per_week_reads_frequencies_as_written(frequency, per_week) -> None:
    assert sessions_per_week(frequency) == per_week


def course(end_on: date | None, sessions: int | None, frequency: str = "5 per week"):
    return TreatmentEvent(
        kind="hyperbaric_oxygen",
        start_on=date(2026, 3, 16),
        end_on=end_on,
        sessions=sessions,
        frequency=frequency,
    )


def test_session_notes_only_where_dates_and_sessions_disagree() -> None:
    """36 sessions at 5 a week: about 7.2 weeks. Dates of 5-10 weeks pass; 14 weeks or 3 weeks
    are said; a course without an end, sessions or a readable frequency is never judged."""
    assert session_notes(read_timeline_csv(DEMO)) == []  # the demo's course fits
    for weeks in (5, 7, 10):
        end = date(2026, 3, 16) + timedelta(days=7 * weeks - 1)
        assert session_notes([course(end, 36)]) == [], weeks
    long, short = course(date(2026, 6, 22), 36), course(date(2026, 4, 5), 36)
    [said_long] = session_notes([long])
    assert "36 sessions at 5 per week take about 7 weeks, but its dates run 14 weeks" in said_long
    [said_short] = session_notes([short])
    assert "take about 7 weeks, but its dates run 3 weeks (to 2026-04-05)" in said_short
    # A short course is not judged on a week's difference: 3 sessions at 3 a week in 2 weeks.
    assert session_notes([course(date(2026, 3, 29), 3, "3 per week")]) == []
    for unjudged in (
        course(None, 36),
        course(date(2026, 6, 22), None),
        course(date(2026, 6, 22), 36, "as needed"),
    ):
        assert session_notes([unjudged]) == []
    assert session_notes([long, short]) == [said_long, said_short]
