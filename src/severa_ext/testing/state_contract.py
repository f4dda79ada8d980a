"""The sync state store contract: one test class every state store runs.

Subclass :class:`StateStoreContract` in a ``Test*`` class and override the ``store``
fixture (a fresh, empty store, closed afterwards). A store that another process can
open (a file, a database) also overrides ``reopen`` (a picklable, argument-free
callable opening the same state): the contract then races real processes for the
lease. A store with schema migrations sets ``earlier_schema_versions`` and overrides
:meth:`StateStoreContract.open_at_version`::

    class TestMyStateStore(StateStoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            store = MyStateStore(tmp_path / "state")
            yield store
            store.close()

The rules pinned: a step (``apply``) puts, deletes and moves cursors together;
every lookup (by key, by item id, etags by id, by S3 print) answers from the last
step, an id moved to a new link (or a link to a new print) is found there only;
lookups take any iterable of any length; a full scan reads every entry in the order
first stored; pending intents are listed until settled; pairs are separate; every
link field reads back equal (a base's time zone too); a lease excludes a second
holder until it expires (``expires > now``), the same holder renews, a stale release
is a no-op; two threads or processes racing for a lease never both win, so work done
under it is never lost; the journal filters by pair, time and limit, oldest first,
redacted (S6); random histories answer exactly as
:class:`~severa_ext.sync.state.MemoryStateStore` does; and a store written at each
earlier schema version opens migrated, its links intact.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from severa_ext.errors import LeaseHeld, ValidationError
from severa_ext.sync.items import CalendarItem, ShowAs, copy_print
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.links import Intent, Link, Parked, Stored
from severa_ext.sync.state import MemoryStateStore, StateStore
from severa_ext.testing._state_racing import (
    NOW,
    count_under_lease,
    entry,
    race_for_lease,
    step,
)
from severa_ext.testing._store_racing import PROCESSES, race, run_in_processes

__all__ = ["StateStoreContract", "sample_link"]

_HELSINKI = ZoneInfo("Europe/Helsinki")
_TTL = timedelta(minutes=10)
_THREADS = 6

BASE = CalendarItem(
    "Planning",
    datetime(2026, 5, 4, 12, 0, tzinfo=_HELSINKI),
    datetime(2026, 5, 4, 13, 30, tzinfo=_HELSINKI),
    location="Room 4",
    body="Line 1\nLine 2",
    private=True,
    show_as=ShowAs.TENTATIVE,
    categories=("Blue", "Red"),
    last_modified=NOW,
    activity_type="meeting",
)


def sample_link(n: int, **changes: Any) -> Link:
    """A settled link ``k{n}`` between ``A{n}`` and ``B{n}`` with a full base."""
    values: dict[str, Any] = {
        "sync_key": f"k{n}",
        "a_id": f"A{n}",
        "b_id": f"B{n}",
        "a_etag": "1",
        "base": BASE,
    }
    values.update(changes)
    return Link(**values)


class StateStoreContract:
    """Contract tests for a :class:`~severa_ext.sync.state.StateStore` (see the module doc).

    Attributes:
        earlier_schema_versions: the schema versions :meth:`open_at_version` can
            write (empty: the store has no migrations).
    """

    earlier_schema_versions: ClassVar[tuple[int, ...]] = ()

    @pytest.fixture
    def store(self) -> StateStore:
        """A fresh, empty state store: override this fixture."""
        raise NotImplementedError(f"{type(self).__name__} must override the store fixture")

    @pytest.fixture
    def reopen(self) -> Callable[[], StateStore] | None:
        """A picklable callable opening the same state anew; ``None``: one process only."""
        return None

    def open_at_version(self, version: int, links: Sequence[Stored], folder: Path) -> StateStore:
        """Write ``links`` of pair ``"p"`` as schema ``version`` did, under ``folder``,
        then open that state with this release (which migrates it). Override when
        :attr:`earlier_schema_versions` is not empty."""
        raise NotImplementedError(f"{type(self).__name__} must override open_at_version")

    # --- links and cursors ---------------------------------------------------------

    def test_put_and_lookups(self, store: StateStore) -> None:
        store.apply("p", step(put=[sample_link(1), sample_link(2, b_etag="x")]))
        assert entry(store, "p", "k1") == sample_link(1)
        assert entry(store, "p", "k9") is None
        assert store.links_by_ids("p", "a", ["A1", "A9"]) == {"A1": sample_link(1)}
        assert store.links_by_ids("p", "b", ["B2"]) == {"B2": sample_link(2, b_etag="x")}
        assert store.links_by_keys("p", ["k2", "k9"]) == {"k2": sample_link(2, b_etag="x")}
        assert store.etags_by_ids("p", "b", ["B1", "B2", "B9"]) == {"B1": None, "B2": "x"}
        assert store.etags_by_ids("p", "a", iter(["A1", "A2"])) == {"A1": "1", "A2": "1"}
        assert store.etags_by_ids("q", "a", ["A1"]) == {}
        assert store.etags("p", "b") == {"B1": None, "B2": "x"}
        assert store.etags("p", "a") == {"A1": "1", "A2": "1"}
        assert store.etags("q", "a") == {}
        assert store.count("p") == 2

    def test_bulk_lookups_of_thousands_of_keys(self, store: StateStore) -> None:
        """Lookups take any iterable, however long (a store chunks what it must)."""
        store.apply("p", step(put=[sample_link(n, base=None) for n in range(2500)]))
        ids = (f"A{n}" for n in range(0, 5000, 2))
        assert sorted(store.links_by_ids("p", "a", ids)) == sorted(
            f"A{n}" for n in range(0, 2500, 2)
        )
        assert len(store.links_by_keys("p", (f"k{n}" for n in range(2500)))) == 2500
        assert len(store.etags_by_ids("p", "b", [f"B{n}" for n in range(3000)])) == 2500
        assert len(store.etags("p", "b")) == 2500

    def test_full_scan_pages_in_the_order_first_stored(self, store: StateStore) -> None:
        """``links`` reads every entry, past any page size, in the order each was first
        stored; a re-put entry keeps its place and reads back changed."""
        links = [sample_link(n, base=None) for n in range(1205)]
        store.apply("p", step(put=links))
        store.apply("p", step(put=[sample_link(3, base=None, b_etag="x")]))
        scanned = list(store.links("p"))
        assert [link.sync_key for link in scanned] == [link.sync_key for link in links]
        assert scanned[3] == sample_link(3, base=None, b_etag="x")

    def test_put_replaces_and_reindexes(self, store: StateStore) -> None:
        store.apply("p", step(put=[sample_link(1)]))
        moved = sample_link(1, a_id="A1-new", a_etag="2")
        store.apply("p", step(put=[moved]))
        assert store.links_by_ids("p", "a", ["A1", "A1-new"]) == {"A1-new": moved}
        assert store.count("p") == 1

    def test_delete_and_put_in_one_step(self, store: StateStore) -> None:
        store.apply("p", step(put=[sample_link(1), sample_link(2)]))
        store.apply("p", step(delete=["k1", "k-never"]))
        assert entry(store, "p", "k1") is None
        assert store.links_by_ids("p", "a", ["A1"]) == {}
        assert store.count("p") == 1
        store.apply("p", step(put=[sample_link(2, a_etag="3")], delete=["k2"]))
        assert entry(store, "p", "k2") == sample_link(2, a_etag="3")  # deletes go first

    def test_cursors_move_with_the_step(self, store: StateStore) -> None:
        assert store.cursor("p", "a") is None
        store.apply("p", step(put=[sample_link(1)], cursors={"a": "c1", "b": "d1"}))
        store.apply("p", step(cursors={"b": None}))
        assert (store.cursor("p", "a"), store.cursor("p", "b")) == ("c1", None)
        store.apply("p", step(cursors={"a": "c2"}))
        assert (store.cursor("p", "a"), store.cursor("p", "b")) == ("c2", None)
        assert store.cursor("q", "a") is None

    def test_pending_intents_and_separate_pairs(self, store: StateStore) -> None:
        intent = Intent("k5", "b", a_id="A5", base=BASE)
        store.apply("p", step(put=[sample_link(1), intent]))
        store.apply("q", step(put=[sample_link(1, a_etag="q")]))
        assert store.intents("p") == [intent]
        assert store.intents("q") == []
        assert store.links_by_keys("q", ["k1"]) == {"k1": sample_link(1, a_etag="q")}
        assert (store.count("p"), store.count("q"), store.count("r")) == (2, 1, 0)
        assert list(store.links("r")) == []
        assert store.links_by_ids("r", "a", ["A1"]) == {}
        store.apply("p", step(put=[intent.settled("B5", "1")]))  # the create is done
        assert store.intents("p") == []

    def test_links_by_prints_S3(self, store: StateStore) -> None:
        other = BASE.evolve(title="Other")
        links: list[Stored] = [
            sample_link(1),
            sample_link(2, base=other),
            sample_link(3, base=BASE.evolve(body="not in the print")),
            Intent("k4", "b", a_id="A4", base=BASE),  # an intent is not a copy
            Link("k5", a_id="A5"),  # no base
        ]
        store.apply("p", step(put=links))
        found = store.links_by_prints("p", [copy_print(BASE), copy_print(other), "none"])
        assert {p: sorted(ls, key=lambda x: x.sync_key) for p, ls in found.items()} == {
            copy_print(BASE): [links[0], links[2]],
            copy_print(other): [links[1]],
        }
        store.apply("p", step(delete=["k1"]))
        assert store.links_by_prints("p", [copy_print(BASE)]) == {copy_print(BASE): [links[2]]}
        moved = sample_link(3, base=other)  # a new base moves the link to its print
        store.apply("p", step(put=[moved, Parked("b", "B9", None, BASE)]))  # parked: no print
        assert store.links_by_prints("p", [copy_print(BASE)]) == {}
        found = store.links_by_prints("p", [copy_print(other)])
        assert sorted(found[copy_print(other)], key=_key) == [links[1], moved]
        assert store.links_by_prints("q", [copy_print(other)]) == {}

    def test_every_link_field_round_trips(self, store: StateStore) -> None:
        day = date(2026, 5, 10)
        links: list[Stored] = [
            Intent("k0", "a", b_id="B0", b_etag='W/"x"', base=BASE),
            sample_link(1, b_etag='W/"x"'),
            sample_link(2, base=BASE.evolve(start=day, end=day + timedelta(days=1))),
            sample_link(3, base=BASE.evolve(series_id="S", original_start=BASE.start, id="i")),
            Link("k4"),
            Parked("b", "B9", "7", BASE),
        ]
        store.apply("p", step(put=links))
        keys = [link.sync_key for link in links]
        assert store.links_by_keys("p", keys) == {link.sync_key: link for link in links}
        assert sorted(store.links("p"), key=_key) == sorted(links, key=_key)
        stored = store.links_by_keys("p", ["k1"])["k1"].base
        assert stored is not None
        assert isinstance(stored.start, datetime)
        assert stored.start.tzinfo == _HELSINKI  # the zone itself, not an offset

    # --- leases --------------------------------------------------------------------

    def test_a_lease_excludes_a_second_holder(self, store: StateStore) -> None:
        lease = store.acquire("p", "run-1", now=NOW, ttl=_TTL)
        assert (lease.holder, lease.expires) == ("run-1", NOW + _TTL)
        with pytest.raises(LeaseHeld) as held:
            store.acquire("p", "run-2", now=NOW + timedelta(minutes=5), ttl=_TTL)
        assert held.value.holder == "run-1"
        store.acquire("q", "run-2", now=NOW, ttl=_TTL)  # another pair is free
        renewed = store.acquire("p", "run-1", now=NOW + timedelta(minutes=5), ttl=_TTL)
        assert renewed.expires == NOW + timedelta(minutes=15)

    def test_a_lease_expires(self, store: StateStore) -> None:
        old = store.acquire("p", "run-1", now=NOW, ttl=_TTL)
        with pytest.raises(LeaseHeld):
            store.acquire("p", "run-2", now=old.expires - timedelta(microseconds=1), ttl=_TTL)
        new = store.acquire("p", "run-2", now=old.expires, ttl=_TTL)
        store.release(old)  # taken over meanwhile: a no-op
        with pytest.raises(LeaseHeld):
            store.acquire("p", "run-3", now=old.expires, ttl=_TTL)
        store.release(new)
        store.acquire("p", "run-3", now=old.expires, ttl=_TTL)

    def test_threads_racing_for_a_lease_one_wins(self, store: StateStore) -> None:
        outcomes = race(_THREADS, lambda i: store.acquire("p", f"t{i}", now=NOW, ttl=_TTL))
        winners = [o for o in outcomes if not isinstance(o, BaseException)]
        assert len(winners) == 1, outcomes
        assert all(isinstance(o, LeaseHeld) for o in outcomes if o not in winners), outcomes

    def test_processes_racing_for_a_lease_never_interleave(
        self, store: StateStore, reopen: Callable[[], StateStore] | None
    ) -> None:
        if reopen is None:
            pytest.skip("this state store lives in one process")
        outcomes = run_in_processes(race_for_lease, (reopen,))
        assert sorted(won for won, _ in outcomes) == [False] * (PROCESSES - 1) + [True]
        counted = run_in_processes(count_under_lease, (reopen, 40))
        counter = entry(store, "counter", "counter")
        assert counter is not None
        assert int(counter.etag_on("a") or 0) == sum(counted) > 0

    # --- the journal (S6) ----------------------------------------------------------

    def test_journal_queries(self, store: StateStore) -> None:
        entries = [
            JournalEntry(NOW + timedelta(minutes=n), pair, "create", f"failed {n}", side="b")
            for n, pair in enumerate(["p", "q", "p", "p"])
        ]
        for journaled in entries:
            store.record(journaled)
        assert store.journal() == entries
        assert store.journal(pair_id="p") == [entries[0], entries[2], entries[3]]
        assert store.journal(since=NOW + timedelta(minutes=2)) == entries[2:]
        assert store.journal(pair_id="p", limit=2) == entries[2:]
        assert store.journal(limit=0) == []
        since = (NOW + timedelta(minutes=1)).astimezone(_HELSINKI)
        assert store.journal(pair_id="q", since=since) == [entries[1]]
        with pytest.raises(ValidationError):
            store.journal(limit=-1)

    def test_journal_keeps_redaction_S6(self, store: StateStore) -> None:
        store.record(JournalEntry(NOW, "p", "list", "401: Bearer eyJhbGciOi.abc.def failed"))
        (entry,) = store.journal()
        assert "eyJ" not in entry.message
        assert entry.message.startswith("401: Bearer [REDACTED]")

    # --- the reference and migrations ----------------------------------------------

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
        ],
    )
    @given(data=st.data())
    def test_answers_like_the_memory_store(self, store: StateStore, data: st.DataObject) -> None:
        reference = MemoryStateStore()
        pairs = [f"{_fresh()}-p", f"{_fresh()}-q"]
        steps = data.draw(st.lists(st.tuples(st.sampled_from(pairs), _changes), max_size=6))
        for pair, change in steps:
            reference.apply(pair, change)
            store.apply(pair, change)
        ids = [f"{side}k{k}-{n}" for side in "AB" for k in range(4) for n in range(2)]
        keys = [f"k{k}" for k in range(4)]
        for pair in pairs:
            assert sorted(store.links(pair), key=_key) == sorted(reference.links(pair), key=_key)
            assert store.count(pair) == reference.count(pair)
            assert sorted(store.intents(pair), key=_key) == sorted(
                reference.intents(pair), key=_key
            )
            assert store.links_by_keys(pair, keys) == reference.links_by_keys(pair, keys)
            for side in ("a", "b"):
                assert store.cursor(pair, side) == reference.cursor(pair, side)
                assert store.links_by_ids(pair, side, ids) == reference.links_by_ids(
                    pair, side, ids
                )
                assert store.etags_by_ids(pair, side, ids) == reference.etags_by_ids(
                    pair, side, ids
                )
                assert store.etags(pair, side) == reference.etags(pair, side)

    def test_every_earlier_schema_version_is_migrated(self, tmp_path: Path) -> None:
        if not self.earlier_schema_versions:
            pytest.skip("this state store has no earlier schema versions")
        links: list[Stored] = [
            sample_link(1),
            sample_link(2, b_etag="x"),
            Intent("k3", "b", a_id="A3", base=BASE),
        ]
        for version in self.earlier_schema_versions:
            store = self.open_at_version(version, links, tmp_path / f"v{version}")
            try:
                assert sorted(store.links("p"), key=_key) == links, f"from version {version}"
                assert store.count("p") == len(links)
                assert store.links_by_ids("p", "b", ["B2"]) == {"B2": links[1]}
                assert store.intents("p") == [links[2]]
                store.apply("p", step(put=[sample_link(7)], delete=["k1"]))
                assert store.count("p") == len(links)
            finally:
                store.close()


def _key(link: Stored) -> str:
    return link.sync_key


def _fresh() -> str:
    """A pair id no earlier example used (not drawn: shrinking would repeat draws)."""
    return uuid.uuid4().hex[:10]


def _ids_of(key: str, side: str) -> st.SearchStrategy[str | None]:
    # An item id belongs to one link (a re-put may move it to a new id).
    return st.none() | st.sampled_from([f"{side}{key}-{n}" for n in range(2)])


_state_keys = st.sampled_from([f"k{n}" for n in range(4)])
_bases = st.none() | st.sampled_from([BASE, BASE.evolve(title="Other")])
_etags = st.none() | st.text("xyz", max_size=3)
_settled = _state_keys.flatmap(
    lambda key: st.builds(
        Link,
        sync_key=st.just(key),
        a_id=_ids_of(key, "A"),
        b_id=_ids_of(key, "B"),
        a_etag=_etags,
        base=_bases,
    )
)
_intents = _state_keys.flatmap(
    lambda key: st.sampled_from(["a", "b"]).flatmap(
        lambda side: st.builds(
            Intent,
            sync_key=st.just(key),
            side=st.just(side),
            a_id=st.none() if side == "a" else _ids_of(key, "A"),
            b_id=st.none() if side == "b" else _ids_of(key, "B"),
            a_etag=_etags,
            base=_bases,
        )
    )
)
_links: st.SearchStrategy[Stored] = _settled | _intents
_changes = st.builds(
    step,
    put=st.lists(_links, max_size=3, unique_by=_key),
    delete=st.lists(_state_keys, max_size=2),
    cursors=st.dictionaries(st.sampled_from(["a", "b"]), st.none() | st.text("cd", max_size=3)),
)
