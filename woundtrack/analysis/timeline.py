"""Treatments against visit dates: which were active on a day, bands and markers for charts.

Pure helpers over ``woundtrack.models.TreatmentEvent``: ``active_on`` (events in effect on a day),
``courses`` and ``markers`` (what a chart draws) and ``to_week`` (weeks since a baseline). The CSV
format is ``woundtrack.analysis.timeline_csv``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime

from woundtrack.models import KIND_LABELS, TreatmentEvent


def active_on(
    events: Iterable[TreatmentEvent], day: date, *, today: date | None = None
) -> list[TreatmentEvent]:
    """Events in effect on ``day``.

    A course is active from ``start_on`` to ``end_on`` inclusive; a course still going on (no
    ``end_on``) until ``today``, or on its ``start_on`` alone if that is later. A point event is
    active on its ``start_on`` only.

    Parameters
    ----------
    events : iterable of TreatmentEvent
    day : date
        The day asked about, e.g. a visit date.
    today : date, optional
        End of ongoing courses; defaults to ``date.today()`` (local date).

    Returns
    -------
    list of TreatmentEvent
        Sorted by ``start_on``, then ``kind``.

    Raises
    ------
    TypeError
        If ``day`` or ``today`` is not a date (a ``datetime`` is refused), or an item is not a
        ``TreatmentEvent``.

    Examples
    --------
    >>> hbot = TreatmentEvent(kind="HBOT", start_on=date(2026, 3, 16), end_on=date(2026, 6, 22))
    >>> [e.kind for e in active_on([hbot], date(2026, 4, 1))]
    ['hyperbaric_oxygen']
    """
    _check_day("active_on", "day", day)
    until = _today(today, "active_on")
    return [
        event
        for event in sorted_events(events, "active_on")
        if event.start_on <= day <= _end(event, until)
    ]


def courses(
    events: Iterable[TreatmentEvent], *, today: date | None = None
) -> list[tuple[str, date, date]]:
    """Bands for charts: ``(label, start_on, last day)`` of each course.

    Parameters
    ----------
    events : iterable of TreatmentEvent
        Point events among them are left out (see ``markers``).
    today : date, optional
        Last day of courses still going on (or their ``start_on``, if later); defaults to
        ``date.today()``.

    Returns
    -------
    list of (str, date, date)
        Sorted by ``start_on``, then ``kind``; the last day is inclusive.

    Raises
    ------
    TypeError
        If ``today`` is not a date, or an item is not a ``TreatmentEvent``.

    Examples
    --------
    >>> sts = TreatmentEvent(kind="STS", start_on=date(2026, 3, 30), frequency="3 per week")
    >>> courses([sts], today=date(2026, 5, 1))
    [('Sodium thiosulfate, 3 per week', datetime.date(2026, 3, 30), datetime.date(2026, 5, 1))]
    """
    until = _today(today, "courses")
    return [
        (event.label, event.start_on, _end(event, until))
        for event in sorted_events(events, "courses")
        if event.is_course
    ]


def markers(events: Iterable[TreatmentEvent]) -> list[tuple[str, date]]:
    """Markers for charts: ``(label, start_on)`` of each point event (not a course).

    Parameters
    ----------
    events : iterable of TreatmentEvent

    Returns
    -------
    list of (str, date)
        Sorted by ``start_on``, then ``kind``.

    Raises
    ------
    TypeError
        If an item is not a ``TreatmentEvent``.

    Examples
    --------
    >>> markers([TreatmentEvent(kind="PTX", start_on=date(2026, 3, 10))])
    [('Parathyroidectomy', datetime.date(2026, 3, 10))]
    """
    return [
        (event.label, event.start_on)
        for event in sorted_events(events, "markers")
        if not event.is_course
    ]


#: Frequencies written as words, in sessions per week (checked after the number forms).
_WORD_FREQUENCIES = {
    "daily": 7.0,
    "every day": 7.0,
    "once a day": 7.0,
    "qd": 7.0,
    "twice a day": 14.0,
    "bid": 14.0,
    "weekly": 1.0,
    "once a week": 1.0,
    "twice a week": 2.0,
    "biw": 2.0,
    "three times a week": 3.0,
    "thrice weekly": 3.0,
    "tiw": 3.0,
    "five times a week": 5.0,
}
_NUMBER_FREQUENCY = re.compile(
    r"(\d+(?:[.,]\d+)?)\s*(?:x|×|times|sessions?|doses?)?\s*(?:per|a|an|/|each|every)\s*"
    r"(week|wk|day|d)\b"
)
#: A course's dates and its sessions disagree when their weeks differ by more than this factor
#: and by more than a week: a typo in the end date or the sessions, not a paused week.
_SESSIONS_TOLERANCE = 1.5


def sessions_per_week(frequency: str) -> float | None:
    """Sessions per week of a frequency as clinicians write it, or None when it cannot be read.

    Examples
    --------
    >>> [sessions_per_week(f) for f in ("5 per week", "3x/week after dialysis", "daily", "TIW")]
    [5.0, 3.0, 7.0, 3.0]
    >>> sessions_per_week("as needed") is None
    True
    """
    text = " ".join(frequency.lower().split())
    found = _NUMBER_FREQUENCY.search(text)
    if found:
        per = float(found[1].replace(",", "."))
        return per * 7.0 if found[2] in ("day", "d") else per
    for words, per_week in _WORD_FREQUENCIES.items():
        if re.search(rf"\b{re.escape(words)}\b", text):
            return per_week
    return None


def session_notes(events: Iterable[TreatmentEvent]) -> list[str]:
    """A note for each finished course whose dates cannot hold its sessions at its frequency.

    A course with ``sessions``, an ``end_on`` and a readable ``frequency``
    (``sessions_per_week``) takes about sessions / frequency weeks. When its dates run more than
    1.5 times as long, or less than two thirds as long (and more than a week apart either way),
    the end date or the number of sessions is probably mistyped: the note says which course and
    both figures. Nothing is changed; a course paused for weeks is a reason to ignore the note.

    Examples
    --------
    >>> hbo = TreatmentEvent(kind="HBOT", start_on=date(2026, 3, 16), end_on=date(2026, 6, 22),
    ...                      frequency="5 per week", sessions=36)
    >>> import textwrap
    >>> print(textwrap.fill(session_notes([hbo])[0], 90))
    Hyperbaric oxygen from 2026-03-16: 36 sessions at 5 per week take about 7 weeks, but its
    dates run 14 weeks (to 2026-06-22); check its end date and its number of sessions
    """
    notes = []
    for event in sorted_events(events, "session_notes"):
        if event.sessions is None or event.end_on is None:
            continue
        per_week = sessions_per_week(event.frequency)
        if not per_week:
            continue
        needed_weeks = event.sessions / per_week
        dated_weeks = ((event.end_on - event.start_on).days + 1) / 7
        ratio = dated_weeks / needed_weeks
        if abs(dated_weeks - needed_weeks) > 1 and not (
            1 / _SESSIONS_TOLERANCE <= ratio <= _SESSIONS_TOLERANCE
        ):
            name = KIND_LABELS.get(event.kind, event.kind)
            notes.append(
                f"{name} from {event.start_on.isoformat()}: {event.sessions} sessions at "
                f"{event.frequency} take about {needed_weeks:.0f} weeks, but its dates run "
                f"{dated_weeks:.0f} weeks (to {event.end_on.isoformat()}); check its end date "
                "and its number of sessions"
            )
    return notes


def to_week(day: date, baseline_on: date) -> float:
    """Weeks from ``baseline_on`` to ``day``: ``(day - baseline_on) in days / 7``.

    Parameters
    ----------
    day : date
    baseline_on : date
        Week 0, e.g. the first visit.

    Returns
    -------
    float
        Weeks, negative before the baseline.

    Raises
    ------
    TypeError
        If either is not a date (a ``datetime`` is refused: its time of day would be dropped).

    Examples
    --------
    >>> to_week(date(2026, 3, 16), date(2026, 3, 2))
    2.0
    """
    _check_day("to_week", "day", day)
    _check_day("to_week", "baseline_on", baseline_on)
    return (day - baseline_on).days / 7.0


def _check_day(function: str, name: str, value: object) -> None:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(
            f"{function}: {name} must be a datetime.date, got {type(value).__name__} {value!r}"
            + ("; pass its .date()" if isinstance(value, datetime) else "")
        )


def _today(today: date | None, function: str) -> date:
    if today is None:
        return date.today()
    _check_day(function, "today", today)
    return today


def _end(event: TreatmentEvent, today: date) -> date:
    if event.end_on is not None:
        return event.end_on
    if event.is_course:
        return max(event.start_on, today)
    return event.start_on


def sorted_events(events: Iterable[TreatmentEvent], function: str) -> list[TreatmentEvent]:
    """``events`` checked to be ``TreatmentEvent`` values, by start day, then kind.

    ``function`` names the caller in the ``TypeError`` raised for anything else.
    """
    if isinstance(events, (str, bytes)):
        raise TypeError(f"{function}: expected TreatmentEvent items, got a {type(events).__name__}")
    items = list(events)
    for index, event in enumerate(items):
        if not isinstance(event, TreatmentEvent):
            raise TypeError(
                f"{function}: item {index} is a {type(event).__name__}, expected a TreatmentEvent"
            )
    return sorted(items, key=lambda event: (event.start_on, event.kind.casefold(), event.kind))
