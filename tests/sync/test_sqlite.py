"""The SQLite state store: the library contract, durability, schema, leases.

``TestSQLiteStateStore`` subclasses the library's
:class:`~severa_ext.testing.state_contract.StateStoreContract` (which the memory and
PostgreSQL stores run too), and a hypothesis property applies the same random steps
to SQLite and to the memory reference and compares every answer. The SQLite-only
tests cover atomic steps, migrations, corrupt and newer files, the lookup indexes,
and leases raced by threads and by processes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import multiprocessing
import sqlite3
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severa_ext.errors import LeaseHeld, StateError, ValidationError
from severa_ext.sync import _sqlite_codec as codec
from severa_ext.sync._sqlite_schema import CURRENT_VERSION, MIGRATIONS
from severa_ext.sync.items import CalendarItem, ShowAs, copy_print
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.links import Intent, Link, Parked
from severa_ext.sync.sqlite import SQLiteStateStore
from severa_ext.sync.state import MemoryStateStore, StateChange
from severa_ext.testing.state_contract import StateStoreContract
from severa_ext.testing.strategies import calendar_items
from support import scaled

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
HELSINKI = ZoneInfo("Europe/Helsinki")
BASE = CalendarItem(
    "Planning",
    datetime(2026, 5, 4, 12, 0, tzinfo=HELSINKI),
    datetime(2026, 5, 4, 13, 30, tzinfo=HELSINKI),
    location="Room 4",
    body="Line 1\nLine 2",
    private=True,
    show_as=ShowAs.TENTATIVE,
    categories=("Blue", "Red"),
    last_modified=NOW,
    activity_type="meeting",
)


def _link(n: int, **changes) -> Link:
    values = {"sync_key": f"k{n}", "a_id": f"A{n}", "b_id": f"B{n}", "a_etag": "1", "base": BASE}
    values.update(changes)
    return Link(**values)


def _pending(entry):
    return entry.side if isinstance(entry, Intent) else None


def _write_v1_or_v2(raw, links):
    for link in links:
        raw.execute(
            "INSERT INTO links VALUES (?, ?, ?, ?, ?, ?)",
            ("p", link.sync_key, link.a_id, link.b_id, _pending(link), codec.legacy_document(link)),
        )


def _write_v3_on(raw, links):
    for link in links:
        raw.execute(
            "INSERT INTO links (pair_id, sync_key, a_id, b_id, a_etag, b_etag, pending, "
            "quarantined, print, base) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
            (
                "p",
                link.sync_key,
                link.a_id,
                link.b_id,
                link.a_etag,
                link.b_etag,
                _pending(link),
                int(isinstance(link, Parked)),
                None if link.base is None else codec.dump_base(link.base)[0],
            ),
        )


class TestSQLiteStateStore(StateStoreContract):
    """The library's state store contract (every earlier schema version migrated,
    processes racing on one file)."""

    earlier_schema_versions = tuple(range(1, CURRENT_VERSION))

    @pytest.fixture
    def store(self, tmp_path):
        store = SQLiteStateStore(tmp_path / "state.db")
        yield store
        store.close()

    @pytest.fixture
    def reopen(self, tmp_path):
        return functools.partial(SQLiteStateStore, str(tmp_path / "state.db"), timeout=10)

    def open_at_version(self, version, links, folder):
        folder.mkdir()
        path = folder / "state.db"
        raw = sqlite3.connect(path)
        raw.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for _number, _what, script in MIGRATIONS[:version]:
            raw.executescript(script)
        raw.execute("INSERT INTO schema_version VALUES (?)", (version,))
        (_write_v1_or_v2 if version < 3 else _write_v3_on)(raw, links)
        if version >= 2:
            raw.execute("INSERT INTO link_counts VALUES ('p', ?)", (len(links),))
        raw.commit()
        raw.close()
        store = SQLiteStateStore(path)
        assert store.schema_version == CURRENT_VERSION
        return store


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_transaction_groups_reads(kind, tmp_path):
    """``transaction()`` (memory and SQLite, not the protocol) groups reads and writes."""
    store = MemoryStateStore() if kind == "memory" else SQLiteStateStore(tmp_path / "s.db")
    try:
        store.apply("p", StateChange(put=[_link(1)]))
        with store.transaction():
            assert store.count("p") == 1
            store.apply("p", StateChange(put=[_link(2)]))
            assert store.link("p", "k2") is not None
        assert store.count("p") == 2
    finally:
        store.close()


# -- the two stores agree on random histories ----------------------------------------

_keys = st.sampled_from([f"k{n}" for n in range(6)])


def _ids_of(key: str, side: str) -> st.SearchStrategy[str | None]:
    # An item id belongs to one link (a re-put may move it to a new id).
    return st.none() | st.sampled_from([f"{side}{key}-{n}" for n in range(2)])


# Three bases, two prints (the body is not part of the S3 print).
_bases = st.sampled_from([BASE, BASE.evolve(title="Other"), BASE.evolve(body="x")])
_links = _keys.flatmap(
    lambda key: (
        st.builds(
            Link,
            sync_key=st.just(key),
            a_id=_ids_of(key, "A"),
            b_id=_ids_of(key, "B"),
            a_etag=st.none() | st.text(max_size=3),
            base=st.none() | _bases,
        )
        | st.builds(
            Intent,
            sync_key=st.just(key),
            side=st.just("b"),
            a_id=_ids_of(key, "A"),
            a_etag=st.none() | st.text(max_size=3),
            base=st.none() | _bases,
        )
    )
)
_parked = st.builds(
    Parked,
    side=st.sampled_from(["a", "b"]),
    item_id=st.sampled_from(["Pk0-0", "Pk1-0"]),
    etag=st.none() | st.text(max_size=3),
    item=_bases,
)
_PRINTS = [copy_print(BASE), copy_print(BASE.evolve(title="Other")), "unknown"]


def _by_print(store, pair):
    found = store.links_by_prints(pair, _PRINTS)
    return {p: sorted(links, key=lambda link: link.sync_key) for p, links in found.items()}


_changes = st.builds(
    StateChange,
    put=st.lists(_links | _parked, max_size=4, unique_by=lambda link: link.sync_key),
    delete=st.lists(_keys, max_size=2),
    cursors=st.dictionaries(st.sampled_from(["a", "b"]), st.none() | st.text(max_size=4)),
)


@settings(max_examples=scaled(60))
@given(steps=st.lists(st.tuples(st.sampled_from(["p", "q"]), _changes), max_size=8))
def test_sqlite_store_answers_like_the_memory_store(steps):
    reference = MemoryStateStore()
    with SQLiteStateStore(":memory:") as store:
        for pair, change in steps:
            reference.apply(pair, change)
            store.apply(pair, change)
        every_id = [f"{side}k{k}-{n}" for side in "AB" for k in range(6) for n in range(2)]
        for pair in ("p", "q"):
            assert list(store.links(pair)) == list(reference.links(pair))
            assert store.count(pair) == reference.count(pair)
            assert store.intents(pair) == reference.intents(pair)
            assert store.links_by_keys(pair, [f"k{n}" for n in range(6)]) == (
                reference.links_by_keys(pair, [f"k{n}" for n in range(6)])
            )
            assert _by_print(store, pair) == _by_print(reference, pair)
            for side in ("a", "b"):
                assert store.etags_by_ids(pair, side, every_id) == (
                    reference.etags_by_ids(pair, side, every_id)
                )
            for side in ("a", "b"):
                assert store.cursor(pair, side) == reference.cursor(pair, side)
                assert store.links_by_ids(pair, side, every_id) == (
                    reference.links_by_ids(pair, side, every_id)
                )


# -- SQLite only ---------------------------------------------------------------------


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reopened_file_keeps_everything(tmp_path):
    path = tmp_path / "state.db"
    with SQLiteStateStore(path) as store:
        store.apply("p", StateChange(put=[_link(1)], cursors={"a": "c"}))
        store.record(JournalEntry(NOW, "p", "create", "boom"))
        store.acquire("p", "run-1", now=NOW, ttl=timedelta(hours=1))
    with SQLiteStateStore(path) as store:
        assert store.link("p", "k1") == _link(1)
        assert store.cursor("p", "a") == "c"
        assert [e.message for e in store.journal()] == ["boom"]
        with pytest.raises(LeaseHeld):
            store.acquire("p", "run-2", now=NOW, ttl=timedelta(hours=1))


def test_wal_and_synchronous_normal(tmp_path):
    with SQLiteStateStore(tmp_path / "s.db") as store:
        conn = store._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        # Speed settings that keep every commit durable (never synchronous=OFF).
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 10_000
        assert conn.execute("PRAGMA cache_size").fetchone()[0] == -2048  # 2 MiB: low RSS


def test_a_failing_step_stores_nothing(tmp_path):
    """One durable step is all or nothing: a failure half-way leaves no trace."""
    path = tmp_path / "s.db"
    with SQLiteStateStore(path) as store:
        store.apply("p", StateChange(put=[_link(1)], cursors={"a": "c1"}))
        raw = sqlite3.connect(path)
        raw.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON links WHEN new.sync_key = 'k3' "
            "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
        )
        raw.commit()
        raw.close()
        change = StateChange(put=[_link(2), _link(3)], delete=["k1"], cursors={"a": "c2"})
        with pytest.raises(StateError, match="disk on fire") as caught:
            store.apply("p", change)
        assert str(path) in str(caught.value)
        assert store.link("p", "k1") == _link(1)
        assert store.link("p", "k2") is None
        assert store.cursor("p", "a") == "c1"
        assert store.count("p") == 1
        store.apply("p", StateChange(put=[_link(2)]))  # the store is still usable
        assert store.count("p") == 2


def test_new_file_is_at_the_current_schema_version(tmp_path):
    with SQLiteStateStore(tmp_path / "s.db") as store:
        assert store.schema_version == CURRENT_VERSION


def test_an_old_schema_file_is_migrated(tmp_path):
    path = tmp_path / "old.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    raw.executescript(MIGRATIONS[0][2])
    raw.execute("INSERT INTO schema_version VALUES (1)")
    for n in range(3):
        link = _link(n)
        raw.execute(
            "INSERT INTO links VALUES (?, ?, ?, ?, ?, ?)",
            ("p", link.sync_key, link.a_id, link.b_id, None, codec.legacy_document(link)),
        )
    raw.commit()
    raw.close()
    with SQLiteStateStore(path) as store:
        assert store.schema_version == CURRENT_VERSION
        assert store.count("p") == 3  # the counter was filled from the old rows
        assert store.links_by_ids("p", "b", ["B2"]) == {"B2": _link(2)}
        store.apply("p", StateChange(put=[_link(7)], delete=["k0"]))
        assert store.count("p") == 3


def test_a_version_2_file_is_migrated_to_columns_with_prints(tmp_path):
    """Version 3 moves each link out of its JSON document into columns: every field,
    the scan order and the counter survive, and the S3 prints are filled in."""
    path = tmp_path / "v2.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for _number, _what, script in MIGRATIONS[:2]:
        raw.executescript(script)
    raw.execute("INSERT INTO schema_version VALUES (2)")
    links = [
        _link(5, b_etag='W/"5"'),
        Parked("b", "B1", None, BASE.evolve(title="Other")),
        Intent("k3", "b", a_id="A3"),
        _link(2, base=BASE.evolve(start=date(2026, 5, 4), end=date(2026, 5, 5))),
        Intent("k4", "b", a_id="A4", base=BASE.evolve(title="In flight")),
    ]
    for link in links:
        pending = link.side if isinstance(link, Intent) else None
        raw.execute(
            "INSERT INTO links VALUES (?, ?, ?, ?, ?, ?)",
            ("p", link.sync_key, link.id_on("a"), link.id_on("b"), pending,
             codec.legacy_document(link)),
        )  # fmt: skip
    raw.execute("INSERT INTO link_counts VALUES ('p', 5)")
    raw.commit()
    raw.close()
    with SQLiteStateStore(path) as store:
        assert store.schema_version == CURRENT_VERSION
        assert list(store.links("p")) == links
        assert store.count("p") == 5
        assert store.intents("p") == [links[2], links[4]]
        prints = [copy_print(link.base) for link in links if link.base is not None]
        found = store.links_by_prints("p", prints)
        # Only links are found by print: not a parked item, not an intent.
        assert found == {copy_print(BASE): [links[0]],
                         copy_print(links[3].base): [links[3]]}  # fmt: skip
        assert store.links_by_ids("p", "b", ["B2"]) == {"B2": links[3]}


def test_a_version_3_file_gets_its_prints_at_the_one_precision(tmp_path):
    """Version 4 recomputes the S3 prints (version 3 wrote microsecond prints, the
    content value compares to the second): a later copy is still found."""
    path = tmp_path / "v3.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for _number, _what, script in MIGRATIONS[:3]:
        raw.executescript(script)
    raw.execute("INSERT INTO schema_version VALUES (3)")
    link = _link(1, base=BASE.evolve(start=BASE.start.replace(microsecond=250)))
    parked = Parked("b", "B9", None, BASE)
    for entry in (link, parked):
        row = codec.link_row(entry)
        raw.execute(
            "INSERT INTO links (pair_id, sync_key, a_id, b_id, a_etag, b_etag, pending, "
            "quarantined, print, base, extra) VALUES ('p', ?, ?, ?, ?, ?, ?, ?, 'old', ?, ?)",
            (*row[:7], *row[8:]),
        )
    raw.execute("INSERT INTO link_counts VALUES ('p', 2)")
    raw.commit()
    raw.close()
    with SQLiteStateStore(path) as store:
        assert store.schema_version == CURRENT_VERSION
        assert list(store.links("p")) == [link, parked]
        copy = BASE.evolve(body="rewritten by another tool", id="x")  # whole seconds
        assert store.links_by_prints("p", [copy_print(copy)]) == {copy_print(copy): [link]}
        assert store.links_by_prints("p", ["old"]) == {}


@pytest.mark.parametrize(
    "script",
    [
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",  # a host's database
        "CREATE TABLE links (x); CREATE TABLE invoices (y)",  # ours in name only
        "CREATE TABLE links (pair_id TEXT)",  # no schema version: not a state store
    ],
)
def test_another_applications_database_is_refused_and_left_untouched(tmp_path, script):
    path = tmp_path / "host.db"
    raw = sqlite3.connect(path)
    raw.executescript(script)
    raw.commit()
    raw.close()
    before = _digest(path)
    with pytest.raises(StateError, match="another application's database") as caught:
        SQLiteStateStore(path)
    assert str(path) in str(caught.value)
    assert _digest(path) == before
    assert not (tmp_path / "host.db-wal").exists()  # no switch to WAL
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert "schema_version" not in {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    raw.close()


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "new.db"
    with SQLiteStateStore(path) as store:
        store.apply("p", StateChange(put=[_link(1)]))
    raw = sqlite3.connect(path)
    raw.execute("UPDATE schema_version SET version = ?", (CURRENT_VERSION + 1,))
    raw.commit()
    raw.close()
    before = _digest(path)
    with pytest.raises(StateError, match="newer") as caught:
        SQLiteStateStore(path)
    assert str(path) in str(caught.value)
    assert _digest(path) == before
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT version FROM schema_version").fetchall() == [(CURRENT_VERSION + 1,)]
    raw.close()


@pytest.mark.parametrize(
    "content", [b"this is not a database" * 100, b"SQLite format 3\x00" + bytes(200)]
)
def test_a_corrupt_file_is_a_state_error_naming_it(tmp_path, content):
    path = tmp_path / "broken.db"
    path.write_bytes(content)
    with pytest.raises(StateError) as caught:
        SQLiteStateStore(path)
    assert str(path) in str(caught.value)
    assert not isinstance(caught.value.__cause__, type(None))
    assert path.read_bytes() == content


def test_a_missing_directory_is_a_state_error(tmp_path):
    with pytest.raises(StateError, match="cannot open"):
        SQLiteStateStore(tmp_path / "no" / "such" / "state.db")


@pytest.mark.parametrize(
    ("column", "value"),
    [("base", '{"title": 5}'), ("base", "not json"), ("extra", "[1, 2]"), ("pending", "c")],
)
def test_a_garbled_row_is_a_state_error(tmp_path, column, value):
    path = tmp_path / "s.db"
    with SQLiteStateStore(path) as store:
        store.apply("p", StateChange(put=[_link(1)]))
        store._conn.execute(f"UPDATE links SET {column} = ?", (value,))
        with pytest.raises(StateError, match="entry cannot be read") as caught:
            store.link("p", "k1")
        assert str(path) in str(caught.value)


def test_a_locked_file_is_a_state_error_not_sqlite3(tmp_path):
    path = tmp_path / "s.db"
    SQLiteStateStore(path).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with SQLiteStateStore(path, timeout=0.05) as store:
            with pytest.raises(StateError, match="locked"):
                store.apply("p", StateChange(put=[_link(1)]))
            assert store.link("p", "k1") is None  # readers are not blocked (WAL)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_use_after_close_is_a_state_error(tmp_path):
    store = SQLiteStateStore(tmp_path / "s.db")
    store.close()
    store.close()  # idempotent
    with pytest.raises(StateError, match="after close"):
        store.count("p")


def test_bad_arguments_are_validation_errors(tmp_path):
    with SQLiteStateStore(tmp_path / "s.db") as store:
        with pytest.raises(ValidationError):
            store.links_by_ids("p", "c", ["x"])
        with pytest.raises(ValidationError):
            store.journal(limit=-1)
        with pytest.raises(ValidationError):
            store.journal(since=datetime(2026, 1, 1))


def test_lookups_use_the_indexes(tmp_path):
    """A no-change sync looks up a few ids and counts: no statement scans ``links``."""
    with SQLiteStateStore(tmp_path / "s.db") as store:
        conn = store._conn
        store.links_by_prints("p", ["x"])  # the S3 print index is made on first use

        def plan(sql, *args):
            return " ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args))

        by_a = plan("SELECT a_id, base FROM links WHERE pair_id = ? AND a_id IN (?, ?)", "p", 1, 2)
        by_b = plan("SELECT b_id, base FROM links WHERE pair_id = ? AND b_id IN (?)", "p", 1)
        by_print = plan("SELECT print, base FROM links WHERE pair_id = ? AND print IN (?)", "p", 1)
        pending = plan("SELECT base FROM links WHERE pair_id = ? AND pending IS NOT NULL", "p")
        count = plan("SELECT n FROM link_counts WHERE pair_id = ?", "p")
        assert "links_by_a_id" in by_a
        assert "links_by_b_id" in by_b
        assert "links_by_print" in by_print
        assert "links_pending" in pending
        for text in (by_a, by_b, by_print, pending, count):
            assert "SCAN" not in text


def test_the_print_index_is_made_on_first_lookup_S3(tmp_path):
    """A pair's first sync inserts its links without the (random) print index; the
    first print lookup builds it from the table, and later writes keep it."""
    path = tmp_path / "s.db"

    def indexes():
        with contextlib.closing(sqlite3.connect(path)) as raw:
            return {n for (n,) in raw.execute("SELECT name FROM sqlite_master WHERE type='index'")}

    moved = BASE.evolve(start=BASE.start + timedelta(hours=1), end=BASE.end + timedelta(hours=1))
    with SQLiteStateStore(path) as store:
        store.apply("p", StateChange(put=[_link(n) for n in range(5)]))
        assert "links_by_print" not in indexes()
        assert len(store.links_by_prints("p", [copy_print(BASE)])[copy_print(BASE)]) == 5
        assert "links_by_print" in indexes()
        store.apply("p", StateChange(put=[_link(9, base=moved)], delete=["k0"]))
        found = store.links_by_prints("p", [copy_print(BASE), copy_print(moved)])
        assert len(found[copy_print(BASE)]) == 4
        assert found[copy_print(moved)] == [_link(9, base=moved)]
    with SQLiteStateStore(path) as again:  # a second store finds the index there
        assert len(again.links_by_prints("p", [copy_print(BASE)])[copy_print(BASE)]) == 4


def test_a_store_that_cannot_make_the_print_index_answers_by_a_scan(tmp_path, caplog):
    """If the index cannot be made (a read-only file, a busy writer), prints are still
    found (the same query, by a scan), a warning says why, and the next lookup tries
    again."""
    path = tmp_path / "s.db"
    with SQLiteStateStore(path) as store:
        store.apply("p", StateChange(put=[_link(1), _link(2, base=None)]))
        blocker = sqlite3.connect(path, isolation_level=None, timeout=0)
        blocker.execute("BEGIN IMMEDIATE")
        store._conn.execute("PRAGMA busy_timeout = 0")
        try:
            assert store.links_by_prints("p", [copy_print(BASE)]) == {copy_print(BASE): [_link(1)]}
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert "looked up by a scan" in caplog.text
        assert not store._print_index
        store.links_by_prints("p", [copy_print(BASE)])
        assert store._print_index


def test_rows_written_by_another_connection_are_read_back_not_assumed(tmp_path):
    """A store skips reading back rows it wrote itself, but only while no other
    connection has written: a delete or an edit made elsewhere is never overwritten
    by a stale memory of the row (the second put must insert, the third must set
    every column that differs)."""
    path = tmp_path / "s.db"
    with SQLiteStateStore(path) as one, SQLiteStateStore(path) as other:
        one.apply("p", StateChange(put=[_link(1), _link(2)]))
        other.apply("p", StateChange(delete=["k1"], put=[_link(2, b_id="B-elsewhere")]))
        one.apply("p", StateChange(put=[_link(1), _link(2)]))
        assert one.link("p", "k1") == _link(1)
        assert other.link("p", "k2") == _link(2)
        assert one.count("p") == 2
        # And its own writes stay remembered correctly across deletes and re-puts.
        one.apply("p", StateChange(delete=["k1"]))
        one.apply("p", StateChange(put=[_link(1, a_etag="9")]))
        assert other.link("p", "k1") == _link(1, a_etag="9")
        assert other.count("p") == 2


def test_a_failed_step_forgets_the_rows_it_meant_to_write(tmp_path):
    path = tmp_path / "s.db"
    with SQLiteStateStore(path) as store:
        store.apply("p", StateChange(put=[_link(1)]))
        boom = _link(2, base=BASE.evolve(title="x"))
        original = store._update_changed

        def failing(*args, **kwargs):
            raise sqlite3.OperationalError("disk I/O error (injected)")

        store._update_changed = failing
        with pytest.raises(StateError, match="injected"):
            store.apply("p", StateChange(put=[_link(1, b_id="B-new"), boom]))
        store._update_changed = original
        assert store._written == {}
        assert store.link("p", "k1") == _link(1)
        store.apply("p", StateChange(put=[_link(1, b_id="B-new")]))
        assert store.link("p", "k1") == _link(1, b_id="B-new")


def test_a_new_link_field_with_a_default_round_trips():
    """The converter is generated from the attrs fields: no hand-written mapping."""
    Extended = attrs.make_class(
        "Extended", {"note": attrs.field(default="")}, bases=(Link,), frozen=True
    )
    converter = codec.make_converter()
    link = Extended("k1", a_id="A", base=BASE, note="hello")
    assert converter.structure(converter.unstructure(link), Extended) == link
    # A row written before a field existed loads with the field's default.
    old_row = ("k1", "A", None, None, None, None, 0, None, None, None)
    assert codec.load_row(old_row, where="test") == Link("k1", a_id="A")


def test_fields_without_a_column_go_to_the_extra_json(monkeypatch):
    """Every Link (and Intent) field but the columns and the base is written to
    ``extra`` (cattrs generated), so a field added later is stored without a schema
    change."""
    columns = set(codec.LINK_COLUMNS) | {"base"}
    assert columns - {"pending", "quarantined"} == {f.name for f in attrs.fields(Link)}
    assert {f.name for f in attrs.fields(Intent)} - columns == {"side"}  # the pending column
    monkeypatch.setitem(codec._EXTRA, Link, lambda link: {"note": "hello"})
    row = codec.link_row(_link(1))
    assert json.loads(row[-1]) == {"note": "hello"}
    assert codec.link_row(Link("k"))[-1] is not None  # the patched hook is always asked


@settings(max_examples=scaled(100))
@given(item=calendar_items(with_identity=True), kind=st.sampled_from([Link, Intent, Parked]))
def test_any_entry_round_trips_through_a_row(item, kind):
    """Zones, all-day dates, enums and categories survive the row (cattrs JSON) round
    trip, each entry keeps its type; only a link's row has the base's S3 print."""
    base = item.evolve(last_modified=NOW)
    if kind is Link:
        entry = Link("k", a_id="A", b_etag='W/"2"', base=base)
    elif kind is Intent:
        entry = Intent("k", "b", a_id="A", base=base)
    else:
        entry = Parked("a", "A", 'W/"2"', base)
    row = codec.link_row(entry)
    loaded = codec.load_row(row, where="test")
    assert loaded == entry
    assert getattr(loaded.base.start, "tzinfo", None) == getattr(item.start, "tzinfo", None)
    assert row[7] == (copy_print(base) if kind is Link else None)


def test_an_intent_and_its_link_encode_their_shared_base_once(tmp_path, monkeypatch):
    """The store encodes each base object once per entry key (the intent written
    before a create and the final link share their base); a new base is encoded anew.
    No process-wide cache: the memory is the store's and follows the entry's key."""
    calls = []
    real = codec.dump_base
    monkeypatch.setattr(
        "severa_ext.sync.sqlite.dump_base", lambda base: calls.append(base) or real(base)
    )
    with SQLiteStateStore(tmp_path / "s.db") as store:
        store.apply("p", StateChange(put=[Intent("k1", "b", a_id="A1", base=BASE)]))
        store.apply("p", StateChange(put=[_link(1)]))  # the same BASE object
        assert len(calls) == 1
        other = BASE.evolve(title="Retro")
        store.apply("p", StateChange(put=[_link(1, base=other)]))
        assert calls == [BASE, other]
        assert store.link("p", "k1").base == other
        assert store.links_by_prints("p", [copy_print(other)])["" + copy_print(other)]


def test_times_keep_their_zone_and_unknown_zones_keep_the_instant():
    converter = codec.make_converter()
    text = converter.unstructure(BASE)["start"]
    assert text == "2026-05-04T12:00:00+03:00[Europe/Helsinki]"
    odd = codec._load_datetime("2026-05-04T12:00:00+03:00[Mars/Olympus]")
    assert odd == BASE.start


def _thread_race(path, winners, losers, barrier, n):
    store = SQLiteStateStore(path)
    try:
        barrier.wait()
        try:
            store.acquire("pair", f"thread-{n}", now=NOW, ttl=timedelta(hours=1))
            winners.append(n)
        except LeaseHeld:
            losers.append(n)
    finally:
        store.close()


def test_threads_racing_for_a_lease_one_wins(tmp_path):
    path = tmp_path / "s.db"
    SQLiteStateStore(path).close()
    winners, losers = [], []
    barrier = threading.Barrier(6)
    threads = [
        threading.Thread(target=_thread_race, args=(path, winners, losers, barrier, n))
        for n in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(winners) == 1
    assert len(losers) == 5


def test_threads_sharing_one_store_never_interleave(tmp_path):
    """Two runs serialised by the lease: increments under the lease are never lost."""
    store = SQLiteStateStore(tmp_path / "s.db")
    done = []

    def run(n):
        for attempt in range(200):
            try:
                lease = store.acquire("pair", f"t{n}-{attempt}", now=NOW, ttl=timedelta(hours=1))
            except LeaseHeld:
                continue
            current = store.link("pair", "counter")
            value = int(current.a_etag) if current else 0
            store.apply("pair", StateChange(put=[Link("counter", a_etag=str(value + 1))]))
            done.append(n)
            store.release(lease)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert int(store.link("pair", "counter").a_etag) == len(done) > 0
    store.close()


def _process_worker(path, start, results, n, rounds):
    """Acquire the lease, increment a counter link, release; count the wins."""
    store = SQLiteStateStore(path, timeout=10)
    start.wait(10)
    wins = 0
    for attempt in range(rounds):
        try:
            lease = store.acquire("pair", f"proc-{n}-{attempt}", now=NOW, ttl=timedelta(hours=1))
        except LeaseHeld:
            continue
        current = store.link("pair", "counter")
        value = int(current.a_etag) if current else 0
        store.apply("pair", StateChange(put=[Link("counter", a_etag=str(value + 1))]))
        wins += 1
        store.release(lease)
    held = None
    try:
        store.acquire("final", f"proc-{n}", now=NOW, ttl=timedelta(hours=1))
        held = True
    except LeaseHeld:
        held = False
    store.close()
    results.put((n, wins, held))


@pytest.mark.slow
def test_processes_racing_for_a_lease_never_interleave(tmp_path):
    """Two processes: exactly one holds a lease; counted work under it is never lost."""
    path = str(tmp_path / "s.db")
    SQLiteStateStore(path).close()
    context = multiprocessing.get_context("fork")
    start = context.Event()
    results = context.Queue()
    workers = [
        context.Process(target=_process_worker, args=(path, start, results, n, 150))
        for n in range(2)
    ]
    for worker in workers:
        worker.start()
    start.set()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    wins = sum(w for _, w, _ in outcomes)
    assert sorted(held for _, _, held in outcomes) == [False, True]
    with SQLiteStateStore(path) as store:
        assert int(store.link("pair", "counter").a_etag) == wins > 0
        # An expired lease is taken over by a third party.
        store.acquire("final", "later", now=NOW + timedelta(hours=2), ttl=timedelta(hours=1))
