"""The treatment timeline CSV: reading it into ``TreatmentEvent`` values and writing it back.

Timeline CSV
------------
- UTF-8 text (a byte-order mark, as Excel's "CSV UTF-8" writes, is accepted), comma-separated,
  values with commas or line breaks in double quotes (``"weeks 2-16, then review"``), a ``"``
  inside a quoted value written twice (``""``).
- The first non-blank line is the header. It must name at least ``kind`` and ``start_on``; the
  other columns are optional. Column names are case-insensitive and may come in any order.
- A column the format does not know (``start date``, ``dosage``) is an error naming it, so that a
  typo never drops data silently. The columns are:

  ========== ======== ==============================================================================
  column     required meaning
  ========== ======== ==============================================================================
  kind       yes      ``debridement``, ``hyperbaric_oxygen``, ``sodium_thiosulfate``,
                      ``parathyroidectomy``, ``cinacalcet``, ``antibiotics``, ``dressing_change``,
                      or any other short label (at most 60 characters, kept as typed). Case,
                      spaces and common names are understood: ``HBOT``, ``Hyperbaric Oxygen``,
                      ``sodium thiosulphate``, ``STS``, ``PTX``, ``Sensipar``, ``abx``...
  start_on   yes      first day, ``YYYY-MM-DD`` (ISO 8601), e.g. ``2026-03-02``
  end_on     no       last day of a course, ``YYYY-MM-DD``, on or after ``start_on``; empty for a
                      single event or a course still going on
  dose       no       free text, e.g. ``25 g IV``
  frequency  no       free text, e.g. ``3 per week after dialysis``
  sessions   no       whole number of sessions, 1 or more, e.g. ``36``; may be empty
  notes      no       free text
  ========== ======== ==============================================================================

- Dates are ``YYYY-MM-DD`` only. ``02/03/2026`` is refused: it is 2 March in Europe and
  February 3 in the US, and guessing wrong would move a treatment by a month. They lie from
  1900-01-01 to 5 years after today (``woundtrack.models.latest_treatment_on``): a planned course
  may lie ahead, ``9999-12-31`` or ``0001-01-01`` is a slip.
- At most ``MAX_TIMELINE_ROWS`` (10,000) rows and ``MAX_TIMELINE_BYTES`` (5 MB): a patient's
  timeline has tens to hundreds of events. A larger file is refused before it is read (its size)
  or at the row past the limit, never read whole.
- A row with an ``end_on``, a ``sessions`` or a ``frequency`` is a course (one without
  ``end_on`` is still going on); any other row is a single event on ``start_on``.
- Blank lines (and rows of empty cells) are skipped; spaces around values are ignored. A file with
  only a header is an empty timeline.
- Every problem in the file is reported at once, each with the file name, line number and column
  and how to fix it, e.g. ``timeline.csv line 4, end_on: 2026-02-30 is not a date (February 2026
  has 28 days); write dates as YYYY-MM-DD, e.g. 2026-03-02``.
- Text a spreadsheet would run as a formula (``kind``, ``dose``, ``frequency`` or ``notes``
  starting with ``=``, ``+``, ``-`` or ``@``) is written with a leading ``'``
  (:func:`spreadsheet_safe`, the OWASP rule against CSV injection); reading removes exactly that
  ``'`` again (:func:`from_spreadsheet_safe`), so a file written here reads back to the same text.
"""

from __future__ import annotations

import calendar
import csv
import difflib
import io
import os
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import IO, Any

from woundtrack.analysis.timeline import sorted_events
from woundtrack.errors import TimelineError
from woundtrack.models import (
    TreatmentEvent,
    normalise_kind,
    shown_text,
    treatment_value_problems,
)

#: Columns of the timeline CSV, in the order ``write_timeline_csv`` writes them.
CSV_COLUMNS = ("kind", "start_on", "end_on", "dose", "frequency", "sessions", "notes")
REQUIRED_COLUMNS = ("kind", "start_on")
#: Most problems listed in one ``TimelineError`` message (all are in ``.problems``).
MAX_LISTED_PROBLEMS = 20
#: Most rows (events) in one timeline file. A patient's treatment timeline has tens to hundreds
#: of events (a weekly dressing change for five years is 260); 10,000 leaves room for any real
#: course, while a file of a million rows (issue 30: 116 s, 3.3 GB, a 161 MB report) is refused
#: at row 10,001 instead of being read.
MAX_TIMELINE_ROWS = 10_000
#: Most bytes in one timeline file, checked before it is read: 10,000 rows of 500 characters.
MAX_TIMELINE_BYTES = 5_000_000

_DATE_FIX = "write dates as YYYY-MM-DD, e.g. 2026-03-02"
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d.*")
_YEAR_FIRST = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_DAY_MONTH = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{2}|\d{4})")
_WHOLE_NUMBER = re.compile(r"[+-]?\d+")
#: Text a spreadsheet would run as a formula: it starts with ``=``, ``+``, ``-``, ``@``, a tab or a
#: carriage return (OWASP, "CSV injection"), after any ``'`` already there (see spreadsheet_safe).
_FORMULA_START = re.compile(r"'*[=+\-@\t\r]")


def read_timeline_csv(
    source: str | os.PathLike[str] | IO[str] | IO[bytes], *, name: str | None = None
) -> list[TreatmentEvent]:
    """Read a timeline CSV file (format in the module docstring) into treatment events.

    Parameters
    ----------
    source : str, os.PathLike or file object
        Path of the CSV file, or an open file in text or binary mode (e.g. a Streamlit upload).
    name : str, optional
        Name of the file in messages (directories are dropped). Defaults to the file's name, or
        ``"timeline CSV"`` for a file object without one.

    Returns
    -------
    list of TreatmentEvent
        In file order; empty for a file of only a header.

    Raises
    ------
    TimelineError
        If the file cannot be read, is not UTF-8, is over ``MAX_TIMELINE_BYTES`` or
        ``MAX_TIMELINE_ROWS`` (refused without reading the rest), has no usable header, or any
        row is invalid. One error lists every problem of the file (the first
        ``MAX_LISTED_PROBLEMS`` in the message, all in ``.problems``), each as
        ``"<file> line <n>, <column>: <problem>; <fix>"``.
    TypeError
        If ``source`` is neither a path nor a file object.

    Examples
    --------
    >>> events = read_timeline_csv("sample_images/demo_timeline.csv")  # doctest: +SKIP
    >>> events[2].label  # doctest: +SKIP
    'Hyperbaric oxygen 2.4 ATA 90 min, 5 per week (36 sessions)'
    """
    label, text = _read_text(source, name)
    return _parse(text, label)


def write_timeline_csv(events: Iterable[TreatmentEvent]) -> str:
    """The timeline CSV text of ``events``: the header of all ``CSV_COLUMNS``, then one row each.

    Rows are sorted by ``start_on``, then ``kind`` (events equal in both keep their order); dates
    are ``YYYY-MM-DD``, an absent ``end_on`` or ``sessions`` an empty cell, lines end in ``\\n``;
    text a spreadsheet would run as a formula gets a leading ``'`` (:func:`spreadsheet_safe`).
    ``read_timeline_csv`` reads the text back to equal events, in the written order.

    Parameters
    ----------
    events : iterable of TreatmentEvent

    Returns
    -------
    str
        UTF-8-ready CSV text (no byte-order mark); write it with ``newline=""``.

    Raises
    ------
    TypeError
        If an item is not a ``TreatmentEvent``.

    Examples
    --------
    >>> print(write_timeline_csv([TreatmentEvent(kind="PTX", start_on=date(2026, 3, 10))]))
    kind,start_on,end_on,dose,frequency,sessions,notes
    parathyroidectomy,2026-03-10,,,,,
    <BLANKLINE>
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for event in sorted_events(events, "write_timeline_csv"):
        writer.writerow(
            [
                spreadsheet_safe(event.kind),
                event.start_on.isoformat(),
                event.end_on.isoformat() if event.end_on is not None else "",
                spreadsheet_safe(event.dose),
                spreadsheet_safe(event.frequency),
                "" if event.sessions is None else str(event.sessions),
                spreadsheet_safe(event.notes),
            ]
        )
    return buffer.getvalue()


def spreadsheet_safe(text: str) -> str:
    """``text`` as a CSV cell that a spreadsheet shows as text and never runs as a formula.

    The OWASP rule against CSV injection: a cell that starts with ``=``, ``+``, ``-``, ``@``, a
    tab or a carriage return gets a leading ``'``. Text that already starts with ``'`` before
    such a character gets one more, so that :func:`from_spreadsheet_safe` always gives back the
    original text. For text a person typed (labels, names, doses, notes) only: a number the
    program writes (``-1.5``) must stay a number, so callers never pass numbers here.

    Examples
    --------
    >>> spreadsheet_safe("=1+1"), spreadsheet_safe("-2 per week"), spreadsheet_safe("25 g IV")
    ("'=1+1", "'-2 per week", '25 g IV')
    >>> from_spreadsheet_safe(spreadsheet_safe("'=x")) == "'=x"
    True
    """
    return "'" + text if _FORMULA_START.match(text) else text


def from_spreadsheet_safe(text: str) -> str:
    """The text that :func:`spreadsheet_safe` turned into ``text``: one leading ``'`` removed
    when a formula character (after any further ``'``) follows it, else ``text`` unchanged."""
    return text[1:] if text.startswith("'") and _FORMULA_START.match(text, 1) else text


def _base_name(name: str) -> str:
    # Browser uploads can carry Windows paths; directories may name the patient.
    return re.split(r"[\\/]", name)[-1] or name


def _read_text(source: Any, name: str | None) -> tuple[str, str]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = _base_name(name) if name else path.name or str(path)
        try:
            if path.stat().st_size > MAX_TIMELINE_BYTES:
                raise _too_big(label)
            with path.open("rb") as file:
                data: str | bytes = file.read(MAX_TIMELINE_BYTES + 1)  # it may have grown
        except FileNotFoundError:
            raise TimelineError(f"{label}: no such file; check the path and name") from None
        except IsADirectoryError:
            raise TimelineError(
                f"{label}: is a folder, not a CSV file; give the path of the timeline .csv file"
            ) from None
        except OSError as exc:
            raise TimelineError(
                f"{label}: cannot be read ({exc.strerror or exc}); check the file and its "
                f"permissions"
            ) from None
    elif hasattr(source, "read"):
        own_name = getattr(source, "name", None)
        if name:
            label = _base_name(name)
        elif isinstance(own_name, str) and own_name:
            label = _base_name(own_name)
        else:
            label = "timeline CSV"
        data = source.read(MAX_TIMELINE_BYTES + 1)  # never more than the limit
        if not isinstance(data, (str, bytes)):
            raise TypeError(
                f"read_timeline_csv: {label}.read() returned {type(data).__name__}, expected "
                f"str or bytes"
            )
    else:
        raise TypeError(
            f"read_timeline_csv: expected a path or an open file, got {type(source).__name__}"
        )
    if len(data) > MAX_TIMELINE_BYTES or (
        isinstance(data, str) and len(data.encode("utf-8", "surrogatepass")) > MAX_TIMELINE_BYTES
    ):
        raise _too_big(label)
    if isinstance(data, bytes):
        data = _decode(data, label)
    return label, data.removeprefix("\ufeff")


_TOO_MANY = (
    "a patient's treatment timeline has tens to hundreds of events: check that this is one "
    "patient's timeline, or import it in parts"
)


def _too_big(label: str) -> TimelineError:
    return TimelineError(
        f"{label}: over {MAX_TIMELINE_BYTES // 1_000_000} MB, the limit of a timeline file (at "
        f"most {MAX_TIMELINE_ROWS} rows); {_TOO_MANY}"
    )


def _decode(data: bytes, label: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TimelineError(
            f"{label}: is UTF-16 text, expected UTF-8; save it as 'CSV UTF-8 (comma delimited)'"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TimelineError(
            f"{label} line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file "
            f"as 'CSV UTF-8 (comma delimited)'"
        ) from None


class _Problems:
    """Problems of one file, each a full line naming the file, line and column."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.lines: list[str] = []

    def add(self, line: int, column: str | None, text: str) -> None:
        where = f"{self.label} line {line}" + (f", {column}" if column else "")
        self.lines.append(f"{where}: {text}")

    def raise_if_any(self) -> None:
        if not self.lines:
            return
        if len(self.lines) == 1:
            raise TimelineError(self.lines[0], tuple(self.lines))
        shown = self.lines[:MAX_LISTED_PROBLEMS]
        message = [f"{self.label}: {len(self.lines)} problems; fix them all and load it again:"]
        message += [f"  {line}" for line in shown]
        if len(self.lines) > len(shown):
            message.append(f"  ... and {len(self.lines) - len(shown)} more")
        raise TimelineError("\n".join(message), tuple(self.lines))


def _parse(text: str, label: str) -> list[TreatmentEvent]:
    problems = _Problems(label)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    columns: dict[str, int] | None = None
    width = 0
    unnamed: list[int] = []
    events: list[TreatmentEvent] = []
    n_rows = 0
    while True:
        before = reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            _csv_error(problems, exc, before + 1, reader.line_num)
            break
        line = before + 1
        if all(not cell.strip() for cell in row):
            continue
        if columns is None:
            columns = _header(row, line, problems)
            width = len(row)
            unnamed = [i for i, cell in enumerate(row) if not cell.strip()]
            continue
        n_rows += 1
        if n_rows > MAX_TIMELINE_ROWS:  # stop here: the rest is never parsed
            raise TimelineError(
                f"{label} line {line}: more than {MAX_TIMELINE_ROWS} rows, the limit of a "
                f"timeline file; {_TOO_MANY}"
            )
        event = _row(row, line, columns, width, unnamed, problems)
        if event is not None:
            events.append(event)
    if columns is None and not problems.lines:
        problems.add(
            1,
            None,
            "the file is empty; the first line must be a header such as " + ",".join(CSV_COLUMNS),
        )
    problems.raise_if_any()
    return events


def _csv_error(problems: _Problems, exc: csv.Error, start_line: int, end_line: int) -> None:
    reason = str(exc)
    if "unexpected end of data" in reason:
        problems.add(
            start_line,
            None,
            'a value opened with " is never closed; add the closing " (the rest of the file '
            "was not read)",
        )
    elif "expected after" in reason:
        problems.add(
            end_line,
            None,
            'a closing " is followed by more text; put the whole value in quotes and write a " '
            'inside it as "" (the rest of the file was not read)',
        )
    else:
        problems.add(
            end_line, None, f"cannot be read as CSV ({reason}); check the quotes on this line"
        )


def _header(row: list[str], line: int, problems: _Problems) -> dict[str, int] | None:
    names = [cell.strip().lower() for cell in row]
    if not any(name in CSV_COLUMNS for name in names):
        first = ",".join(row)
        for separator, called in ((";", "semicolons"), ("\t", "tabs")):
            if separator in first:
                problems.add(
                    line,
                    None,
                    f"the columns are separated by {called}, expected commas; save the file as "
                    f"'CSV UTF-8 (comma delimited)'",
                )
                problems.raise_if_any()
        problems.add(
            line,
            None,
            f"no header row (the first line is {shown_text(first, 60)!r}); add a first line naming "
            f"the columns, e.g. {','.join(CSV_COLUMNS)}",
        )
        problems.raise_if_any()
    columns: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name:
            continue
        if name not in CSV_COLUMNS:
            close = _closest_column(name)
            hint = f" (did you mean {close}?)" if close else ""
            problems.add(
                line,
                f"column {index + 1} {row[index].strip()!r}",
                f"unknown column{hint}; the columns are {', '.join(CSV_COLUMNS)}; rename it or "
                f"remove it, so that no data is dropped",
            )
        elif name in columns:
            problems.add(
                line,
                f"column {index + 1} {name!r}",
                f"named twice (also column {columns[name] + 1}); keep one of them",
            )
        else:
            columns[name] = index
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    for name in missing:
        problems.add(
            line,
            name,
            f"no such column in the header; the header needs at least {','.join(REQUIRED_COLUMNS)}",
        )
    if missing:
        problems.raise_if_any()
    return columns


# Names people give these columns; only used to suggest the right name, never accepted silently.
_COLUMN_HINTS = {
    "type": "kind",
    "treatment": "kind",
    "start": "start_on",
    "start date": "start_on",
    "date": "start_on",
    "begin": "start_on",
    "from": "start_on",
    "end": "end_on",
    "end date": "end_on",
    "stop": "end_on",
    "to": "end_on",
    "until": "end_on",
    "dosage": "dose",
    "freq": "frequency",
    "number of sessions": "sessions",
    "n sessions": "sessions",
    "note": "notes",
    "comment": "notes",
    "comments": "notes",
}


def _closest_column(name: str) -> str | None:
    key = re.sub(r"[\s_\-]+", " ", name).strip()
    if key in _COLUMN_HINTS:
        return _COLUMN_HINTS[key]
    close = difflib.get_close_matches(key.replace(" ", "_"), CSV_COLUMNS, n=1, cutoff=0.6)
    return close[0] if close else None


def _row(
    row: list[str],
    line: int,
    columns: dict[str, int],
    width: int,
    unnamed: list[int],
    problems: _Problems,
) -> TreatmentEvent | None:
    before = len(problems.lines)
    if any(cell.strip() for cell in row[width:]):
        problems.add(
            line,
            None,
            f"{len(row)} values but the header names {width} columns; put values that contain "
            f"commas in double quotes",
        )
    for index in unnamed:
        if index < len(row) and row[index].strip():
            problems.add(
                line,
                f"column {index + 1}",
                f"{shown_text(row[index].strip())} is in a column with no name in the header; name "
                f"the column or remove the value",
            )

    def cell(name: str) -> str:
        index = columns.get(name)
        return row[index].strip() if index is not None and index < len(row) else ""

    kind = normalise_kind(from_spreadsheet_safe(cell("kind")))
    start_on = _parse_date(cell("start_on"), line, "start_on", problems, required=True)
    end_on = _parse_date(cell("end_on"), line, "end_on", problems, required=False)
    sessions = _parse_sessions(cell("sessions"), line, problems)
    for column, text in treatment_value_problems(kind, start_on, end_on, sessions):
        problems.add(line, column, text)
    if len(problems.lines) > before or start_on is None:
        return None
    return TreatmentEvent(
        kind=kind,
        start_on=start_on,
        end_on=end_on,
        dose=from_spreadsheet_safe(cell("dose")),
        frequency=from_spreadsheet_safe(cell("frequency")),
        sessions=sessions,
        notes=from_spreadsheet_safe(cell("notes")),
    )


def _parse_date(
    text: str, line: int, column: str, problems: _Problems, *, required: bool
) -> date | None:
    if not text:
        if required:
            problems.add(line, column, "empty; write the first day as YYYY-MM-DD, e.g. 2026-03-02")
        return None
    shown = shown_text(text)
    match = _ISO_DATE.fullmatch(text)
    if match:
        year, month, day = (int(part) for part in match.groups())
        try:
            return date(year, month, day)
        except ValueError:
            if year < 1:
                why = "there is no year 0"
            elif not 1 <= month <= 12:
                why = f"there is no month {month}"
            else:
                days = calendar.monthrange(year, month)[1]
                why = f"{calendar.month_name[month]} {year} has {days} days"
            problems.add(line, column, f"{shown} is not a date ({why}); {_DATE_FIX}")
            return None
    if _ISO_DATE_TIME.fullmatch(text):
        problems.add(
            line,
            column,
            f"{shown} has a time of day; write the date only as YYYY-MM-DD, e.g. {text[:10]}",
        )
        return None
    match = _YEAR_FIRST.fullmatch(text)
    if match:
        suggestion = _iso_or_none(*(int(part) for part in match.groups()))
        fix = f"write {suggestion}" if suggestion else _DATE_FIX
        problems.add(line, column, f"{shown} is not in the form YYYY-MM-DD; {fix}")
        return None
    match = _DAY_MONTH.fullmatch(text)
    if match:
        problems.add(
            line,
            column,
            _ambiguous(
                shown,
                *(int(part) for part in match.groups()),
                four_digit_year=len(match.group(3)) == 4,
            ),
        )
        return None
    problems.add(line, column, f"{shown} is not a date; {_DATE_FIX}")
    return None


def _iso_or_none(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _ambiguous(shown: str, first: int, second: int, year: int, *, four_digit_year: bool) -> str:
    # DD/MM/YYYY and MM/DD/YYYY read the same digits as different days; a wrong guess moves a
    # treatment by up to eleven months, so the file must say which it means.
    head = f"{shown} is ambiguous (day/month/year in Europe, month/day/year in the US)"
    if not four_digit_year:
        return f"{head}; {_DATE_FIX}"
    readings: list[date] = []
    for month, day in ((second, first), (first, second)):
        try:
            reading = date(year, month, day)
        except ValueError:
            continue
        if reading not in readings:
            readings.append(reading)
    if not readings:
        return f"{shown} is not a date; {_DATE_FIX}"
    options = " or ".join(
        f"{r.isoformat()} for {r.day} {calendar.month_name[r.month]} {r.year}" for r in readings
    )
    return f"{head}; write dates as YYYY-MM-DD: {options}"


def _parse_sessions(text: str, line: int, problems: _Problems) -> int | None:
    if not text:
        return None
    if _WHOLE_NUMBER.fullmatch(text):
        return int(text)  # below 1 is reported with the other value checks
    problems.add(
        line,
        "sessions",
        f"{shown_text(text)} is not a whole number; write the number of sessions, e.g. 36, or "
        f"leave it empty",
    )
    return None
