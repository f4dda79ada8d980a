"""The generated events of ``bench_vs_vdirsyncer.py``, identical for both engines.

Standard library only: the peer's worker imports this module with the python of the
benchmark's own virtualenv, where ``severa_ext`` is not installed. Each engine turns
an :class:`Event` into its own item type (a ``CalendarItem`` for ours, an iCalendar
``VEVENT`` for vdirsyncer), so both sync the same titles, times, places and notes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

__all__ = [
    "NOW",
    "Event",
    "edited_on_a",
    "edited_on_b",
    "edits",
    "event",
    "ics_text",
]

NOW = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
"""The fixed "now" of every run; all events fall within a year after it."""


@dataclass(frozen=True)
class Event:
    """One generated event: what both engines store and compare."""

    uid: str
    title: str
    start: datetime
    end: datetime
    location: str
    body: str


def event(number: int) -> Event:
    """Event ``number`` of a run (deterministic: the same on both sides of a pair)."""
    start = NOW + timedelta(days=number % 360, minutes=(number * 7) % 1440)
    return Event(
        uid=f"bench-{number}@severa-ext.invalid",
        title=f"Event {number}",
        start=start,
        end=start + timedelta(hours=1),
        location=f"Room {number % 20}",
        body=f"Notes for event {number}",
    )


def edits(n: int) -> int:
    """How many events each side edits in the 1%+1% scenario (at least one)."""
    return max(1, n // 100)


def edited_on_a(number: int) -> Event:
    """Event ``number`` after the user on side A renamed it (even numbers are edited)."""
    return replace(event(number), title=f"Event {number} (edited on A)")


def edited_on_b(number: int) -> Event:
    """Event ``number`` after the user on side B moved it (odd numbers are edited)."""
    return replace(event(number), location=f"Room {number % 20} (moved: event {number})")


def _text(value: str) -> str:
    """An RFC 5545 TEXT value (section 3.3.11 escapes)."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def ics_text(item: Event) -> str:
    """``item`` as one ``VCALENDAR`` holding one ``VEVENT`` (what a CalDAV server holds)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//severa_ext//bench_vs_vdirsyncer//EN",
        "BEGIN:VEVENT",
        f"UID:{item.uid}",
        f"DTSTAMP:{_utc(NOW)}",
        f"DTSTART:{_utc(item.start)}",
        f"DTEND:{_utc(item.end)}",
        f"SUMMARY:{_text(item.title)}",
        f"LOCATION:{_text(item.location)}",
        f"DESCRIPTION:{_text(item.body)}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"
