"""Treatments against visit dates: which were active on a day, bands and markers for charts.

Pure helpers over ``woundtrack.models.TreatmentEvent``: ``active_on`` (events in effect on a day),
``courses`` and ``markers`` (what a chart draws) and ``to_week`` (weeks since a baseline). The CSV
format is ``woundtrack.analysis.timeline_csv``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from woundtrack.models import TreatmentEvent


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
