"""The backend protocol: what the sync engine needs from each side.

It lives in the sync core so that every import points inward: the engine needs it,
backends implement it (``severa_ext.backends.base`` re-exports every name here).

A backend is a small object (``httpx``'s transports are the model): it lists changes
inside a window, writes items, and looks items up by id or by sync key. Every error
it raises is one of :mod:`severa_ext.errors` (``Throttled``, ``VersionConflict``,
``NotFound``, ``AuthError``, ``BackendUnavailable``, ``BadItem``, ``ReadOnlyBackend``);
a backend translates its library's exceptions at its own edge.

Backends never sleep and never retry by themselves (one token refresh after a 401
is fine): they raise ``Throttled(retry_after)`` or ``BackendUnavailable`` and the
engine owns every wait, within one wait budget per run.

Optional, beyond the protocol:

* ``problems``: a backend that skips entries it cannot read (and syncs the rest) may
  expose them as an attribute or property ``problems``, a sequence of
  :class:`~severa_ext.errors.BadItem` (``item_ref`` and ``reason``) describing what
  its latest ``changes`` call skipped. The engine reads it right after each
  ``changes`` call and journals every entry once per run (S6). ``IcsReader`` and the
  activity adapter have it.
* :attr:`Capabilities.content_fields <severa_ext.sync.items.Capabilities>`: the
  content fields the backend keeps; the engine compares and copies only those.
* ``Capabilities.read_only``: the engine plans no writes to the backend at all.
* :class:`ActivityTypeSource`: a side A that knows its activity types
  (``activity_type_ids()``). The engine asks once per run and, when the policy's
  Personal type is not among them, gives private entries the default type and
  journals a warning instead of refusing every private entry (S9).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

from severa_ext.errors import SeveraExtError
from severa_ext.sync.items import CalendarItem, Capabilities, ChangeSet, Window

__all__ = [
    "ActivityTypeSource",
    "Backend",
    "CreateOp",
    "DeleteOp",
    "UpdateOp",
    "WriteOp",
    "WriteResult",
    "apply_one_by_one",
]


@runtime_checkable
class ActivityTypeSource(Protocol):
    """A side A that can say which activity types it accepts (S9, optional)."""

    def activity_type_ids(self) -> frozenset[str]:
        """The ids of the active activity types an item written here may have.

        Raises:
            BackendError: the types cannot be read now.
        """
        ...


@runtime_checkable
class Backend(Protocol):
    """One side of a sync pair.

    Implementations: ``severa_ext.backends.memory`` (the reference),
    ``severa_ext.backends.ics``, ``severa_ext.backends.graph``,
    ``severa_ext.backends.ews``, and a host's adapter over its activities.
    """

    @property
    def name(self) -> str:
        """A short name for logs and the journal (``"graph:alice@example.com"``)."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What this backend supports."""
        ...

    def changes(self, cursor: str | None, window: Window) -> ChangeSet:
        """Items changed (or all items, ``full=True``) in ``window`` since ``cursor``.

        ``cursor=None`` asks for a full listing. Recurring series come expanded to
        their occurrences inside the window. The returned cursor is only meaningful
        once the caller has durably recorded the items.
        """
        ...

    def get(self, item_id: str) -> CalendarItem | None:
        """The current item with ``item_id`` wherever it is, or ``None`` if deleted."""
        ...

    def find(self, sync_key: str) -> tuple[CalendarItem, ...]:
        """Every item stamped with ``sync_key`` (more than one means duplicates, S3)."""
        ...

    def create(self, item: CalendarItem, sync_key: str) -> CalendarItem:
        """Store a new item stamped with ``sync_key``; return it with id and etag.

        Idempotent per ``sync_key`` where the server allows (Graph ``transactionId``).
        """
        ...

    def update(self, item_id: str, item: CalendarItem, if_match: str | None) -> CalendarItem:
        """Replace the content of ``item_id``; ``if_match`` guards against lost updates.

        Raises:
            VersionConflict: the stored etag is not ``if_match``.
            NotFound: no such item.
        """
        ...

    def delete(self, item_id: str, if_match: str | None) -> None:
        """Delete ``item_id``.

        Raises:
            VersionConflict: the stored etag is not ``if_match``.
            NotFound: no such item.
        """
        ...

    def apply_batch(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply up to ``capabilities.batch_size`` writes; one result per op, in order.

        A failing op does not fail the batch: its result carries the error.
        """
        ...

    def flush(self) -> None:
        """Make every write accepted so far durable.

        The engine calls it at the end of each durable step, before the state store
        commits that step, so a crash never leaves the state pointing at a write the
        backend lost. A backend that sends each write at once makes it a documented
        no-op; one that buffers writes (the ICS file backend) writes them out here.

        Raises:
            BackendUnavailable: the writes could not be made durable (the engine
                does not commit the step).
        """
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


@attrs.frozen
class CreateOp:
    """Create ``item`` stamped with ``sync_key``."""

    item: CalendarItem
    sync_key: str


@attrs.frozen
class UpdateOp:
    """Replace the content of ``item_id`` if its etag is still ``if_match``."""

    item_id: str
    item: CalendarItem
    if_match: str | None


@attrs.frozen
class DeleteOp:
    """Delete ``item_id`` if its etag is still ``if_match``."""

    item_id: str
    if_match: str | None


WriteOp = CreateOp | UpdateOp | DeleteOp
"""One write of a batch."""


@attrs.frozen
class WriteResult:
    """The outcome of one :data:`WriteOp`: the stored item (``None`` for a delete) or
    the package error that refused it."""

    op: WriteOp
    item: CalendarItem | None = None
    error: SeveraExtError | None = None

    @property
    def ok(self) -> bool:
        """True when the op succeeded."""
        return self.error is None


def apply_one_by_one(backend: Backend, ops: Sequence[WriteOp]) -> list[WriteResult]:
    """A default ``apply_batch``: run each op alone, catching package errors per op.

    Backends without a batch API delegate to this.
    """
    results: list[WriteResult] = []
    for op in ops:
        try:
            if isinstance(op, CreateOp):
                results.append(WriteResult(op, backend.create(op.item, op.sync_key)))
            elif isinstance(op, UpdateOp):
                results.append(WriteResult(op, backend.update(op.item_id, op.item, op.if_match)))
            else:
                backend.delete(op.item_id, op.if_match)
                results.append(WriteResult(op, None))
        except SeveraExtError as exc:
            results.append(WriteResult(op, error=exc))
    return results
