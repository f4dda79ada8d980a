"""What ``severa-ext`` prints (private helper of :mod:`severa_ext.cli`).

Humans get a small progress bar on a terminal (stderr) and a summary table; machines
get one JSON document on stdout (``--json``), built through a cattrs converter.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, NoReturn, TextIO

import cattrs
from tqdm import tqdm

from severa_ext.errors import BadItem
from severa_ext.sync.items import CalendarItem

__all__ = [
    "ProgressBar",
    "format_journal",
    "format_plan",
    "format_report",
    "problem_dict",
    "to_json",
    "unstructure",
]

_CONVERTER = cattrs.Converter()
_CONVERTER.register_unstructure_hook(datetime, lambda v: v.isoformat())
_CONVERTER.register_unstructure_hook(date, lambda v: v.isoformat())
_CONVERTER.register_unstructure_hook(frozenset, sorted)
_CONVERTER.register_unstructure_hook(
    CalendarItem,
    lambda item: {
        "id": item.id,
        "title": item.title,
        "start": item.start.isoformat(),
        "end": item.end.isoformat(),
        "private": item.private,
        "sync_key": item.sync_key,
        "activity_type": item.activity_type,
    },
)


def unstructure(value: Any) -> Any:
    """``value`` (attrs records, mappings, lists) as JSON-ready dicts, lists and scalars."""
    return _CONVERTER.unstructure(value)


def to_json(value: Any) -> str:
    """``value`` (attrs records, mappings, lists) as indented JSON."""
    return json.dumps(unstructure(value), indent=2, ensure_ascii=False, default=str)


def problem_dict(side: str, problem: BadItem) -> dict[str, str]:
    """A skipped item for the JSON output."""
    return {"side": side, "item_ref": problem.item_ref, "reason": problem.reason}


class ProgressBar:
    """A terminal progress bar (tqdm): ``progress(done, total, phase)``.

    One bar per phase; a phase with a known total (``write``) shows the fraction, the
    rate and the time left, one without (``list``, ``plan``) only what it counted and
    the time spent. The bar erases itself at ``done``. It draws nothing unless
    ``enabled`` (default: ``stream`` is a terminal).

    Args:
        stream: where to draw (default: standard error).
        enabled: draw at all; the command line turns it off for ``--quiet``,
            ``--json`` and when standard output is not a terminal.
        interval: the least time between two redraws, in seconds.
    """

    def __init__(
        self, stream: TextIO | None = None, *, enabled: bool | None = None, interval: float = 0.1
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = self._stream.isatty() if enabled is None else enabled
        self._interval = interval
        self._bar: tqdm[NoReturn] | None = None
        self._phase: str | None = None

    @property
    def drawing(self) -> bool:
        """Whether a bar is on the screen."""
        return self._bar is not None

    def __call__(self, done: int, total: int, phase: str) -> None:
        if not self._enabled:
            return
        if phase == "done":
            self.clear()
            return
        if self._bar is None or phase != self._phase or (total or None) != self._bar.total:
            self.clear()
            self._bar = tqdm(
                total=total or None,
                desc=phase,
                unit="item",
                file=self._stream,
                leave=False,
                dynamic_ncols=True,
                mininterval=self._interval,
                miniters=1,
            )
            self._phase = phase
        self._bar.update(done - self._bar.n)

    def clear(self) -> None:
        """Erase the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._phase = None


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for number, row in enumerate(cells):
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(widths[i + 1]) for i, cell in enumerate(row[1:])]
        lines.append("  ".join([first, *rest]).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def format_report(
    report: Any, names: Mapping[str, str], problems: Mapping[str, Sequence[BadItem]]
) -> str:
    """The human summary of a ``SyncReport``: one table row per side, then totals."""
    errors = {"a": 0, "b": 0}
    for entry in report.errors:
        if entry.side in errors:
            errors[entry.side] += 1
    rows = [
        (
            f"{side.upper()}  {names[side]}",
            report.created[side],
            report.updated[side],
            report.deleted[side],
            errors[side],
            len(problems.get(side, ())),
            report.skipped[side],
        )
        for side in ("a", "b")
    ]
    title = "dry run (nothing written)" if report.dry_run else "sync"
    lines = [f"{title}: pair {report.pair_id}"]
    # "broken": entries the side's backend could not read (journaled, S6);
    # "not sent": writes planned for a read-only side (e.g. an ICS subscription).
    headers = ("side", "created", "updated", "deleted", "errors", "broken", "not sent")
    lines += _table(headers, rows)
    lines.append(
        f"linked {report.linked}, unlinked {report.unlinked}, "
        f"quarantined {report.quarantined}, conflicts {len(report.conflicts)}, "
        f"run errors {sum(1 for e in report.errors if e.side not in errors)}, "
        f"{report.duration:.2f} s"
    )
    for conflict in report.conflicts:
        lines.append(
            f"  conflict {conflict.sync_key}: {', '.join(conflict.fields)} "
            f"-> side {conflict.winner.upper()} wins"
        )
    for side in ("a", "b"):
        for problem in problems.get(side, ()):
            lines.append(f"  broken on {side.upper()}: {problem.item_ref}: {problem.reason}")
    for entry in report.errors:
        where = f" {entry.side.upper()}" if entry.side else ""
        lines.append(f"  error{where} {entry.operation} {entry.item_ref or ''}: {entry.message}")
    if report.total_writes == 0 and report.ok and not report.dry_run:
        lines.append("nothing to do: both sides are in sync")
    return "\n".join(lines)


def format_plan(plan: Any, names: Mapping[str, str]) -> str:
    """The human listing of a ``Plan``: one line per write, link, conflict or quarantine.

    The link bookkeeping that accompanies a write is folded into that write's line.
    """
    lines = [f"plan: A = {names['a']}, B = {names['b']}"]
    counts: dict[str, int] = {}
    written = {
        getattr(r, "sync_key", None)
        for r in plan.records
        if type(r).__name__ in ("Create", "Update", "Delete")
    }
    for record in plan.records:
        kind = type(record).__name__
        if kind == "SetLink" and record.link.sync_key in written:
            continue
        label = kind.lower()
        side = getattr(record, "side", None)
        item = getattr(record, "item", None)
        detail = f"{item.title!r} {item.start.isoformat()}" if item is not None else ""
        if kind == "SetLink":
            label = "link"
            base = record.link.base
            ids = f"A:{record.link.a_id} <-> B:{record.link.b_id}"
            detail = f"{base.title!r} {ids}" if base is not None else ids
        elif kind == "Conflict":
            detail = f"{', '.join(record.fields)} -> side {record.winner.upper()} wins"
        elif not detail:
            detail = str(getattr(record, "item_id", None) or getattr(record, "sync_key", ""))
        counts[label] = counts.get(label, 0) + 1
        where = f"on {side.upper()}" if side else ""
        lines.append(f"  {label:<10} {where:<5} {detail}".rstrip())
    if len(lines) == 1:
        lines.append("  nothing to do: both sides are in sync")
    else:
        lines.append("total: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return "\n".join(lines)


def format_journal(entries: Sequence[Any]) -> str:
    """The error journal (S6), one entry per line, oldest first."""
    if not entries:
        return "the journal is empty"
    lines = []
    for entry in entries:
        side = f" {entry.side.upper()}" if entry.side else ""
        ref = f" {entry.item_ref}" if entry.item_ref else ""
        kind = f" [{entry.error_type}]" if entry.error_type else ""
        lines.append(
            f"{entry.time.isoformat(timespec='seconds')} {entry.level:<7} {entry.pair_id}"
            f"{side} {entry.operation}{ref}{kind}: {entry.message}"
        )
    return "\n".join(lines)
