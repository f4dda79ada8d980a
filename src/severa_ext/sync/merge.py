"""The field-level three-way merge, and which fields each side keeps.

Pure: every comparison goes through :class:`~severa_ext.sync.content.Content`, so a
merge, the engine's ``verify`` and the tests agree on what "changed" means.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from severa_ext.sync.content import MERGE_FIELDS, Content
from severa_ext.sync.items import CalendarItem, Side
from severa_ext.sync.policy import SyncPolicy, content_copy

__all__ = [
    "ALL_KEPT",
    "KeptFields",
    "base_of",
    "differing_fields",
    "field_value",
    "merge",
    "merge_fields",
    "overlay",
    "same",
]


def merge_fields(content_fields: Iterable[str] | None) -> tuple[str, ...]:
    """The :data:`~severa_ext.sync.content.MERGE_FIELDS` a side keeps, given the
    content fields it keeps (``Capabilities.content_fields``; ``None``: all).

    ``when`` needs both ``start`` and ``end``; the order is that of MERGE_FIELDS.
    """
    if content_fields is None:
        return MERGE_FIELDS
    kept = set(content_fields)
    if {"start", "end"} <= kept:
        kept.add("when")
    return tuple(f for f in MERGE_FIELDS if f in kept)


@attrs.frozen
class KeptFields:
    """Which merge fields each side keeps (what merges and ``verify`` compare).

    Attributes:
        a, b: the merge fields side A / side B keeps.
        both: the fields both keep: the only ones compared across sides.
    """

    a: tuple[str, ...] = MERGE_FIELDS
    b: tuple[str, ...] = MERGE_FIELDS
    both: tuple[str, ...] = attrs.field(init=False)
    _missing_a: tuple[str, ...] = attrs.field(init=False, eq=False, repr=False)
    _missing_b: tuple[str, ...] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "both", tuple(f for f in self.a if f in self.b))
        object.__setattr__(self, "_missing_a", tuple(f for f in self.b if f not in self.a))
        object.__setattr__(self, "_missing_b", tuple(f for f in self.a if f not in self.b))

    @classmethod
    def of(cls, a: Iterable[str] | None, b: Iterable[str] | None) -> KeptFields:
        """From the ``Capabilities.content_fields`` of both sides."""
        return cls(merge_fields(a), merge_fields(b))

    def on(self, side: Side) -> tuple[str, ...]:
        """The fields ``side`` keeps."""
        return self.a if side == "a" else self.b

    def missing_on(self, side: Side) -> tuple[str, ...]:
        """Fields the other side keeps and ``side`` does not: content coming from
        ``side`` carries no value for them (computed once, at construction: every
        planned item asks)."""
        return self._missing_a if side == "a" else self._missing_b


ALL_KEPT = KeptFields()
"""Both sides keep every field."""


def field_value(item: CalendarItem, name: str) -> object:
    """The normalised value of merge field ``name`` of ``item``."""
    return Content.field(item, name)


def differing_fields(
    left: CalendarItem, right: CalendarItem, fields: Iterable[str] = MERGE_FIELDS
) -> tuple[str, ...]:
    """The merge ``fields`` in which two items differ (after normalisation)."""
    return Content.of(left).diff(Content.of(right), fields)


def same(left: CalendarItem, right: CalendarItem, fields: tuple[str, ...] = MERGE_FIELDS) -> bool:
    """True when two items hold the same content in ``fields``."""
    return Content.same(left, right, fields)


def _values(item: CalendarItem, name: str) -> dict[str, Any]:
    if name == "when":
        return {"start": item.start, "end": item.end}
    return {name: getattr(item, name)}


def overlay(
    item: CalendarItem, source: CalendarItem | None, names: tuple[str, ...]
) -> CalendarItem:
    """``item`` with the fields ``names`` taken from ``source`` (fields ``item``'s side
    does not keep: the other side's value survives)."""
    if not names or source is None:
        return item
    values: dict[str, Any] = {}
    for name in names:
        values.update(_values(source, name))
    return attrs.evolve(item, **values)


def base_of(content: CalendarItem, activity_from: CalendarItem | None) -> CalendarItem:
    """The stored base: ``content`` without identity, with side A's activity fields
    taken from ``activity_from``."""
    if activity_from is None:
        return content_copy(content, activity_type=None, project_task=False)
    return content_copy(
        content,
        activity_type=activity_from.activity_type,
        project_task=activity_from.project_task,
    )


def merge(
    base: CalendarItem | None,
    a: CalendarItem,
    b: CalendarItem,
    policy: SyncPolicy,
    kept: KeptFields = ALL_KEPT,
) -> tuple[CalendarItem, tuple[str, ...], Side]:
    """Field-level three-way merge of ``a`` and ``b`` against ``base``.

    A field one side changed since ``base`` takes that side's value; a field both
    changed (or any differing field without a base) goes to the conflict rule. Only
    fields both sides keep are merged; a field only B keeps is B's.

    Returns:
        The merged content (on ``a``'s identity), the conflicting fields, the winner.
    """
    content_a, content_b = Content.of(a), Content.of(b)
    content_base = Content.of(base) if base is not None else None
    winner: Side | None = None
    conflicts: list[str] = []
    take_b: dict[str, Any] = {}
    for name in kept.missing_on("a"):
        take_b.update(_values(b, name))
    for name in content_a.diff(content_b, kept.both):
        if content_base is not None and content_base.value(name) == content_a.value(name):
            take_b.update(_values(b, name))
        elif content_base is not None and content_base.value(name) == content_b.value(name):
            continue
        else:
            if winner is None:
                winner = policy.winner(a, b)
            conflicts.append(name)
            if winner == "b":
                take_b.update(_values(b, name))
    merged = attrs.evolve(a, **take_b) if take_b else a
    return merged, tuple(conflicts), winner or "a"
