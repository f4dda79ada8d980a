"""Presentation helpers: dates and amounts in the UI language, the Gantt geometry.

Private helper of :mod:`severa_ext.portal.app`; pure functions over the SDK's view
values. They shape what the view holds and never decide what it holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, time
from decimal import Decimal

import attrs

from severa_ext.domain import Comment
from severa_ext.extranet.views import GanttBar, PhaseNode, ProjectView

__all__ = [
    "GanttRow",
    "amount",
    "comments_on",
    "day",
    "flat_tree",
    "gantt_rows",
    "hhmm",
    "phase_choices",
]

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day(value: date | None, language: str) -> str:
    """A date as the language writes it (fi ``2.3.2026``, sv ``2026-03-02``, en ``2 Mar 2026``)."""
    if value is None:
        return "-"
    if language == "fi":
        return f"{value.day}.{value.month}.{value.year}"
    if language == "sv":
        return value.isoformat()
    return f"{value.day} {_MONTHS_EN[value.month - 1]} {value.year}"


def amount(value: Decimal | None, currency: str, language: str) -> str:
    """An amount with two decimals, a decimal comma in Finnish and Swedish."""
    if value is None:
        return "-"
    text = f"{value:,.2f}"
    if language in {"fi", "sv"}:
        text = text.replace(",", "\u00a0").replace(".", ",")
    return f"{text} {currency}"


def hhmm(value: time | None) -> str:
    """A clock time as ``HH:MM`` (``-`` when there is none)."""
    return "-" if value is None else value.strftime("%H:%M")


@attrs.frozen
class GanttRow:
    """One bar of the chart, as percentages of the chart's width (``None``: no dates)."""

    bar: GanttBar
    x: float | None
    width: float | None


def gantt_rows(bars: Iterable[GanttBar]) -> tuple[GanttRow, ...]:
    """Place each bar between the earliest start and the latest deadline."""
    bars = tuple(bars)
    days = [d for b in bars for d in (b.start_date, b.deadline) if d is not None]
    if not days:
        return tuple(GanttRow(b, None, None) for b in bars)
    first, last = min(days), max(days)
    span = max((last - first).days, 1)
    rows = []
    for bar in bars:
        start = bar.start_date or bar.deadline
        end = bar.deadline or bar.start_date
        if start is None or end is None:
            rows.append(GanttRow(bar, None, None))
            continue
        x = (start - first).days / span * 100
        width = max((end - start).days / span * 100, 1.5)
        rows.append(GanttRow(bar, round(x, 2), round(min(width, 100 - x), 2)))
    return tuple(rows)


def flat_tree(nodes: Iterable[PhaseNode], depth: int = 0) -> list[tuple[int, PhaseNode]]:
    """The tree in reading order with each node's depth (for nested lists)."""
    out: list[tuple[int, PhaseNode]] = []
    for node in nodes:
        out.append((depth, node))
        out.extend(flat_tree(node.children, depth + 1))
    return out


def phase_choices(view: ProjectView) -> list[tuple[str, str]]:
    """The phases the view shows (ids and names), for the phase comment form."""
    seen: dict[str, str] = {}
    for bar in view.gantt or ():
        seen.setdefault(bar.phase_id, bar.name)
    for estimate in view.estimates or ():
        seen.setdefault(estimate.phase_id, estimate.name)
    for _depth, node in flat_tree(view.tree or ()):
        seen.setdefault(node.phase_id, node.name)
    for entry in view.work_hours or ():
        if entry.phase_name:
            seen.setdefault(entry.phase_id, entry.phase_name)
    return list(seen.items())


def comments_on(view: ProjectView, target: str, target_id: str | None = None) -> list[Comment]:
    """The view's comments on one target (``summary``, or a phase, file or link id)."""
    return [
        c
        for c in view.comments
        if c.target.value == target and (target_id is None or c.target_id == target_id)
    ]
