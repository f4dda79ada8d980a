"""The backend contract: one test class every backend (and a host's adapter) runs.

Subclass :class:`BackendContract` in a ``Test*`` class, override the ``backend``
fixture, and set the class attributes that describe what the backend keeps and
supports; pytest then runs every contract test against it (the pattern of
vdirsyncer's storage tests)::

    class TestMyAdapter(BackendContract):
        content_fields = ("title", "start", "end", "body")
        supports_delta = False

        @pytest.fixture
        def backend(self):
            backend = MyAdapter(...)
            yield backend
            backend.close()

The tests check the :class:`~severa_ext.sync.protocol.Backend` protocol as the sync
engine relies on it: create / get / find round trips that keep every content field,
etags that change on update, stale ``if_match`` refused with
:class:`~severa_ext.errors.VersionConflict` (no lost update), delete and
:class:`~severa_ext.errors.NotFound`, lookup by sync key (the engine's crash recovery
and duplicate detection, S3), full and delta listings, window filtering (an item
outside the window is simply not listed), all-day items, ``apply_batch`` results in
order with per-op errors, and :class:`~severa_ext.errors.ReadOnlyBackend` refusals.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest

from severa_ext.backends.base import (
    Backend,
    CreateOp,
    DeleteOp,
    UpdateOp,
    WriteOp,
    WriteResult,
)
from severa_ext.errors import NotFound, ReadOnlyBackend, VersionConflict
from severa_ext.sync.items import (
    CONTENT_FIELDS,
    CalendarItem,
    Capabilities,
    ChangeSet,
    ShowAs,
    Window,
    fingerprint,
    new_sync_key,
)

__all__ = ["BackendContract"]

_MISSING_ID = "severa-ext-contract-no-such-item"


class BackendContract:
    """Contract tests for one :class:`~severa_ext.sync.protocol.Backend`.

    Override the :meth:`backend` fixture (it yields a fresh, empty backend and closes
    it afterwards) and adjust the class attributes below. Override :meth:`sample_item`
    when the backend needs extra values on every item (the Severa side needs an
    ``activity_type``), and :meth:`seed` for a read-only backend whose items are put
    in place some other way (a file, a fake server).

    Attributes:
        content_fields: the :data:`~severa_ext.sync.items.CONTENT_FIELDS` the backend
            keeps; round trips compare these (after the usual normalisation).
        supports_delta: ``changes(cursor)`` returns deltas; else always full listings.
        supports_batch: ``apply_batch`` takes several ops in one call
            (``capabilities.batch_size > 1``).
        read_only: every write raises :class:`~severa_ext.errors.ReadOnlyBackend`.
        supports_all_day: the backend stores all-day (date) items.
        now: the fixed instant the sample items and the window are built around.
    """

    content_fields: ClassVar[tuple[str, ...]] = CONTENT_FIELDS
    supports_delta: ClassVar[bool] = True
    supports_batch: ClassVar[bool] = True
    read_only: ClassVar[bool] = False
    supports_all_day: ClassVar[bool] = True
    now: ClassVar[datetime] = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)

    # -- hooks ---------------------------------------------------------------

    @pytest.fixture
    def backend(self) -> Backend:
        """A fresh, empty backend: override this fixture (usually yielding, then closing)."""
        raise NotImplementedError(f"{type(self).__name__} must override the backend fixture")

    @pytest.fixture
    def window(self) -> Window:
        """The window the listings use: 30 days before :attr:`now` to 90 days after."""
        return Window(self.now - timedelta(days=30), self.now + timedelta(days=90))

    def sample_item(self, **changes: Any) -> CalendarItem:
        """A timed item inside the window with every content field set, plus ``changes``.

        The start is in Helsinki time on purpose: a backend may answer in another
        zone, but it must keep the instant.
        """
        helsinki = ZoneInfo("Europe/Helsinki")
        start = (self.now + timedelta(days=2)).astimezone(helsinki)
        values: dict[str, Any] = {
            "title": "Contract: planning, ÄÖ",
            "start": start,
            "end": start + timedelta(hours=1, minutes=30),
            "location": "Room 4",
            "body": "First line\nSecond line",
            "private": True,
            "show_as": ShowAs.TENTATIVE,
            "categories": ("Blue",),
        }
        values.update(changes)
        return CalendarItem(**values)

    def seed(self, backend: Backend, items: Sequence[CalendarItem]) -> list[CalendarItem]:
        """Put ``items`` in the backend and return them as stored (with ids and etags).

        The default creates them through the protocol, each with a fresh sync key.
        A read-only backend must override this (else the tests that need items skip).
        """
        if self.read_only:
            pytest.skip("read-only backend: override seed() to put items in place")
        return [backend.create(item, new_sync_key()) for item in items]

    # -- helpers -------------------------------------------------------------

    def assert_same_content(self, expected: CalendarItem, actual: CalendarItem) -> None:
        """Fail unless the two items agree on every field in :attr:`content_fields`."""
        for field in self.content_fields:
            if fingerprint(expected, fields=(field,)) != fingerprint(actual, fields=(field,)):
                raise AssertionError(
                    f"{field} not kept: expected {getattr(expected, field)!r}, "
                    f"got {getattr(actual, field)!r}"
                )

    def _one(self, backend: Backend, item: CalendarItem | None = None) -> CalendarItem:
        return self.seed(backend, [item if item is not None else self.sample_item()])[0]

    def _writable(self) -> None:
        if self.read_only:
            pytest.skip("read-only backend")

    @staticmethod
    def _ids(changes: ChangeSet) -> set[str | None]:
        return {item.id for item in changes.items}

    @staticmethod
    def _listed(backend: Backend, window: Window, item_id: str | None) -> CalendarItem:
        matches = [i for i in backend.changes(None, window).items if i.id == item_id]
        assert len(matches) == 1, f"{item_id!r} listed {len(matches)} times"
        return matches[0]

    # -- identity and capabilities --------------------------------------------

    def test_name_and_capabilities(self, backend: Backend) -> None:
        """The backend names itself and declares what the class attributes say."""
        assert isinstance(backend.name, str)
        assert backend.name.strip()
        capabilities = backend.capabilities
        assert isinstance(capabilities, Capabilities)
        assert capabilities.read_only is self.read_only
        assert capabilities.delta is self.supports_delta
        if self.supports_batch:
            assert capabilities.batch_size > 1
        else:
            assert capabilities.batch_size == 1

    # -- create / get / find ---------------------------------------------------

    def test_create_returns_id_etag_and_sync_key(self, backend: Backend) -> None:
        """A created item comes back with an id, an etag and its sync key (S3)."""
        self._writable()
        key = new_sync_key()
        item = self.sample_item()
        created = backend.create(item, key)
        assert created.id
        assert created.etag
        assert created.sync_key == key
        self.assert_same_content(item, created)

    def test_get_round_trip_keeps_content(self, backend: Backend) -> None:
        """``get`` returns what was stored: every content field, the etag, the key."""
        item = self.sample_item()
        stored = self._one(backend, item)
        fetched = backend.get(stored.id or "")
        assert fetched is not None
        assert fetched.id == stored.id
        assert fetched.etag == stored.etag
        assert fetched.sync_key == stored.sync_key
        self.assert_same_content(item, fetched)

    def test_round_trip_of_plain_item(self, backend: Backend) -> None:
        """Empty optional fields stay empty (no invented location, body or category)."""
        item = self.sample_item(
            title="Plain", location="", body="", private=False, show_as=ShowAs.BUSY, categories=()
        )
        stored = self._one(backend, item)
        fetched = backend.get(stored.id or "")
        assert fetched is not None
        self.assert_same_content(item, fetched)

    def test_get_unknown_id_returns_none(self, backend: Backend) -> None:
        """``get`` of an id that never existed answers ``None``, not an error."""
        assert backend.get(_MISSING_ID) is None

    def test_find_by_sync_key(self, backend: Backend) -> None:
        """``find`` returns exactly the item stamped with the key (crash recovery, S3)."""
        first, second = self.seed(backend, [self.sample_item(), self.sample_item(title="Second")])
        assert first.id != second.id
        assert first.sync_key is not None
        found = backend.find(first.sync_key)
        assert [i.id for i in found] == [first.id]
        assert found[0].sync_key == first.sync_key
        assert backend.find(new_sync_key()) == ()

    # -- update ----------------------------------------------------------------

    def test_update_changes_content_and_etag(self, backend: Backend) -> None:
        """An update replaces the content, moves the etag on and keeps the sync key."""
        self._writable()
        stored = self._one(backend)
        assert stored.id is not None
        changed = self.sample_item(
            title="Moved meeting",
            start=stored.start + timedelta(hours=1),
            end=stored.end + timedelta(hours=2),
            location="Room 5",
            body="Updated",
            private=False,
            categories=(),
        )
        updated = backend.update(stored.id, changed, stored.etag)
        assert updated.id == stored.id
        assert updated.etag
        assert updated.etag != stored.etag
        fetched = backend.get(stored.id)
        assert fetched is not None
        assert fetched.etag == updated.etag
        self.assert_same_content(changed, fetched)
        assert [i.id for i in backend.find(stored.sync_key or "")] == [stored.id]

    def test_stale_if_match_is_a_version_conflict(self, backend: Backend) -> None:
        """A write guarded by an old etag raises ``VersionConflict`` and changes nothing."""
        self._writable()
        stored = self._one(backend)
        assert stored.id is not None
        newer = backend.update(stored.id, self.sample_item(title="Newer"), stored.etag)
        with pytest.raises(VersionConflict):
            backend.update(stored.id, self.sample_item(title="Lost update"), stored.etag)
        with pytest.raises(VersionConflict):
            backend.delete(stored.id, stored.etag)
        fetched = backend.get(stored.id)
        assert fetched is not None
        assert fetched.title == "Newer"
        assert fetched.etag == newer.etag

    def test_update_without_if_match_overwrites(self, backend: Backend) -> None:
        """``if_match=None`` writes unconditionally."""
        self._writable()
        stored = self._one(backend)
        assert stored.id is not None
        backend.update(stored.id, self.sample_item(title="Between"), stored.etag)
        forced = backend.update(stored.id, self.sample_item(title="Forced"), None)
        assert forced.title == "Forced"

    def test_update_unknown_id_is_not_found(self, backend: Backend) -> None:
        """Updating an item that does not exist raises ``NotFound``."""
        self._writable()
        with pytest.raises(NotFound):
            backend.update(_MISSING_ID, self.sample_item(), None)

    # -- delete ----------------------------------------------------------------

    def test_delete_then_not_found(self, backend: Backend, window: Window) -> None:
        """After a delete the item is gone everywhere; deleting again is ``NotFound``."""
        self._writable()
        stored = self._one(backend)
        keep = self._one(backend, self.sample_item(title="Keep"))
        assert stored.id is not None
        backend.delete(stored.id, stored.etag)
        assert backend.get(stored.id) is None
        assert backend.find(stored.sync_key or "") == ()
        listed = self._ids(backend.changes(None, window))
        assert stored.id not in listed
        assert keep.id in listed
        with pytest.raises(NotFound):
            backend.delete(stored.id, None)
        with pytest.raises(NotFound):
            backend.update(stored.id, self.sample_item(), None)

    # -- listings ----------------------------------------------------------------

    def test_full_listing(self, backend: Backend, window: Window) -> None:
        """``changes(None)`` is a full listing of the window, every item once."""
        items = [self.sample_item(title=f"Item {n}") for n in range(3)]
        stored = self.seed(backend, items)
        changes = backend.changes(None, window)
        assert changes.full
        listed = [i.id for i in changes.items]
        assert sorted(listed, key=str) == sorted((s.id for s in stored), key=str)
        for original, item in zip(items, stored, strict=True):
            self.assert_same_content(original, self._listed(backend, window, item.id))

    def test_window_filtering(self, backend: Backend, window: Window) -> None:
        """Items outside the window are not listed (and are not deleted, invariant 5)."""
        before = self.now - timedelta(days=200)
        after = self.now + timedelta(days=400)
        inside, early, late = self.seed(
            backend,
            [
                self.sample_item(title="Inside"),
                self.sample_item(title="Early", start=before, end=before + timedelta(hours=1)),
                self.sample_item(title="Late", start=after, end=after + timedelta(hours=1)),
            ],
        )
        listed = self._ids(backend.changes(None, window))
        assert inside.id in listed
        assert early.id not in listed
        assert late.id not in listed
        assert backend.get(early.id or "") is not None

    def test_all_day_items(self, backend: Backend, window: Window) -> None:
        """All-day items keep their dates (exclusive end) and are listed in the window."""
        if not self.supports_all_day:
            pytest.skip("backend has no all-day items")
        day = (self.now + timedelta(days=3)).date()
        one_day = self.sample_item(title="Holiday", start=day, end=day + timedelta(days=1))
        three_days = self.sample_item(
            title="Trip", start=day + timedelta(days=7), end=day + timedelta(days=10)
        )
        stored = self.seed(backend, [one_day, three_days])
        for original, item in zip((one_day, three_days), stored, strict=True):
            fetched = backend.get(item.id or "")
            assert fetched is not None
            assert fetched.all_day
            assert isinstance(fetched.start, date)
            assert not isinstance(fetched.start, datetime)
            assert (fetched.start, fetched.end) == (original.start, original.end)
            self.assert_same_content(original, self._listed(backend, window, item.id))

    def test_listing_is_stable_without_changes(self, backend: Backend, window: Window) -> None:
        """Two full listings with nothing changed in between agree, etags included."""
        self.seed(backend, [self.sample_item(), self.sample_item(title="Other")])
        first = {(i.id, i.etag) for i in backend.changes(None, window).items}
        second = {(i.id, i.etag) for i in backend.changes(None, window).items}
        assert first == second

    def test_delta_reports_creates_updates_and_deletes(
        self, backend: Backend, window: Window
    ) -> None:
        """From a cursor, only what changed is listed; the cursor moves on each call."""
        if not self.supports_delta:
            pytest.skip("backend has no delta listings")
        self._writable()
        kept = self._one(backend, self.sample_item(title="Untouched"))
        start = backend.changes(None, window)
        assert start.cursor is not None
        created = backend.create(self.sample_item(title="New"), new_sync_key())
        delta = backend.changes(start.cursor, window)
        assert not delta.full
        assert created.id in self._ids(delta)
        assert kept.id not in self._ids(delta)
        assert delta.cursor is not None

        quiet = backend.changes(delta.cursor, window)
        assert not quiet.full
        assert quiet.items == ()
        assert quiet.removed == ()
        assert quiet.cursor is not None

        assert created.id is not None
        updated = backend.update(created.id, self.sample_item(title="Renamed"), created.etag)
        delta = backend.changes(quiet.cursor, window)
        assert [(i.id, i.title, i.etag) for i in delta.items] == [
            (created.id, "Renamed", updated.etag)
        ]

        backend.delete(created.id, updated.etag)
        delta = backend.changes(delta.cursor, window)
        assert created.id in delta.removed
        assert created.id not in self._ids(delta)

    def test_without_delta_every_listing_is_full(self, backend: Backend, window: Window) -> None:
        """A backend without deltas answers every cursor with a full listing."""
        if self.supports_delta:
            pytest.skip("backend has delta listings")
        stored = self._one(backend)
        first = backend.changes(None, window)
        again = backend.changes(first.cursor, window)
        assert again.full
        assert stored.id in self._ids(again)

    # -- batches ----------------------------------------------------------------

    def test_apply_batch_results_in_order_with_per_op_errors(self, backend: Backend) -> None:
        """One result per op, in order; a failing op carries its error, the rest apply.

        The ops go in chunks of ``capabilities.batch_size``; each touches another item
        (a batch never holds two writes of one item).
        """
        self._writable()
        existing, other = self.seed(backend, [self.sample_item(), self.sample_item(title="Other")])
        assert existing.id is not None
        assert other.id is not None
        backend.update(other.id, self.sample_item(title="Other, edited"), other.etag)
        key_a, key_b = new_sync_key(), new_sync_key()
        ops: list[WriteOp] = [
            CreateOp(self.sample_item(title="Batch A"), key_a),
            UpdateOp(_MISSING_ID, self.sample_item(title="Nowhere"), None),
            UpdateOp(existing.id, self.sample_item(title="Batch update"), existing.etag),
            CreateOp(self.sample_item(title="Batch B"), key_b),
            DeleteOp(other.id, other.etag),  # stale: ``other`` was edited since
        ]
        size = backend.capabilities.batch_size
        results: list[WriteResult] = []
        for offset in range(0, len(ops), size):
            chunk = ops[offset : offset + size]
            answered = backend.apply_batch(chunk)
            assert len(answered) == len(chunk)
            results.extend(answered)
        assert [r.op for r in results] == ops
        assert results[0].ok
        assert results[0].item is not None
        assert results[0].item.sync_key == key_a
        assert [i.id for i in backend.find(key_a)] == [results[0].item.id]
        assert not results[1].ok
        assert isinstance(results[1].error, NotFound)
        assert results[2].ok
        assert results[2].item is not None
        assert results[2].item.title == "Batch update"
        assert results[3].ok
        assert len(backend.find(key_b)) == 1
        assert not results[4].ok
        assert isinstance(results[4].error, VersionConflict)
        assert backend.get(other.id) is not None

    # -- read-only --------------------------------------------------------------

    def test_read_only_backend_refuses_writes(self, backend: Backend) -> None:
        """Every write to a read-only backend raises ``ReadOnlyBackend``."""
        if not self.read_only:
            pytest.skip("backend is writable")
        item = self.sample_item()
        with pytest.raises(ReadOnlyBackend):
            backend.create(item, new_sync_key())
        with pytest.raises(ReadOnlyBackend):
            backend.update(_MISSING_ID, item, None)
        with pytest.raises(ReadOnlyBackend):
            backend.delete(_MISSING_ID, None)
        ops: list[WriteOp] = [CreateOp(item, new_sync_key()), DeleteOp(_MISSING_ID, None)]
        ops = ops[: backend.capabilities.batch_size]
        try:
            results = backend.apply_batch(ops)
        except ReadOnlyBackend:
            return
        assert [r.op for r in results] == ops
        assert all(isinstance(r.error, ReadOnlyBackend) for r in results)
