"""StateStoreContract on the memory store and on the SQLite store (every earlier
schema version migrated)."""

from __future__ import annotations

import functools
import sqlite3

import pytest

from severa_ext.sync import _sqlite_codec as codec
from severa_ext.sync._sqlite_schema import CURRENT_VERSION, MIGRATIONS
from severa_ext.sync.links import Intent, Parked
from severa_ext.sync.sqlite import SQLiteStateStore
from severa_ext.sync.state import MemoryStateStore
from severa_ext.testing.state_contract import StateStoreContract


class TestMemoryStateStore(StateStoreContract):
    @pytest.fixture
    def store(self):
        store = MemoryStateStore()
        yield store
        store.close()


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
