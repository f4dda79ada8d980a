"""What the crash guarantee of a create costs in SQLite alone (issue 17).

Each create of a sync stores its intent before it is sent and its link after: two row
writes per item. This script times those writes on their own, with the rows already
made, on a state file the ``SQLiteStateStore`` created (its schema, indexes and
pragmas), in durable steps of ``--step`` rows as the engine takes them by default (one
backend batch of 50):

1. *intent + link*: per step, the step's intents inserted and the previous step's
   intents updated into links (the ids, etag, ``pending`` and print columns), as the
   store does;
2. *intents in a table of their own*: per step, the step's intents inserted into a
   small table without secondary indexes, the previous step's deleted there and their
   links inserted (one layout a store could choose instead of updating the row);
3. *one intent row per step*: the same with each step's intents as one JSON row;
4. *link only*: per step, the links inserted at once (what a sync without intents
   would write: the floor of any layout);
5. *encoding the bases*: ``dump_base`` of each base (cattrs, JSON and the S3 print),
   no SQL: what any layout pays on top of its rows;
6. *the store*: the same steps through ``SQLiteStateStore.apply`` with real
   ``Intent`` and ``Link`` values (the rows made and encoded by the store).

Run ``python benchmarks/bench_store_floor.py [--items N] [--step N] [--repeat N]``;
prints each one's best wall seconds of ``--repeat`` (fresh files each).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from severa_ext.sync._sqlite_codec import dump_base
from severa_ext.sync.items import CalendarItem
from severa_ext.sync.links import Link, Stored
from severa_ext.sync.sqlite import SQLiteStateStore
from severa_ext.sync.state import StateChange

PAIR = "bench"
NOW = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
_INSERT = "INSERT INTO links VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_SETTLE = (
    "UPDATE links SET b_id = ?, b_etag = ?, pending = NULL, print = ? "
    "WHERE pair_id = ? AND sync_key = ?"
)


def _links(n: int) -> list[Link]:
    """N settled links with time-ordered keys, as a first sync makes them."""
    links = []
    for i in range(n):
        start = NOW + timedelta(days=i % 360, minutes=(i * 7) % 1440)
        base = CalendarItem(
            f"Event {i}", start, start + timedelta(hours=1), location=f"Room {i % 20}"
        )
        links.append(Link(f"{NOW.timestamp():012.0f}{i:020x}", f"a-{i}", f"b-{i}", "1", "2", base))
    return links


def _fresh(folder: Path, name: str) -> sqlite3.Connection:
    path = folder / f"{name}.sqlite"
    SQLiteStateStore(path).close()  # the schema, as the store makes it
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "wal_autocheckpoint=10000"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


class Rows:
    """The rows of the N creates, made before any timing: each intent, its settling
    update and its link."""

    def __init__(self, links: list[Link]) -> None:
        self.intents: list[tuple[object, ...]] = []
        self.settles: list[tuple[object, ...]] = []
        self.links: list[tuple[object, ...]] = []
        for link in links:
            assert link.base is not None
            base, print_ = dump_base(link.base)
            key = link.sync_key
            self.intents.append((PAIR, key, link.a_id, None, "1", None, "b", 0, None, base, None))
            self.settles.append((link.b_id, link.b_etag, print_, PAIR, key))
            self.links.append(
                (PAIR, key, link.a_id, link.b_id, "1", "2", None, 0, print_, base, None)
            )


def _intent_then_link(conn: sqlite3.Connection, rows: Rows, step: int) -> None:
    for first in range(0, len(rows.intents), step):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_SETTLE, rows.settles[max(0, first - step) : first])
        conn.executemany(_INSERT, rows.intents[first : first + step])
        conn.execute("COMMIT")
    last = (len(rows.settles) - 1) // step * step  # the last step's intents
    conn.executemany(_SETTLE, rows.settles[last:])


_INTENTS_TABLE = (
    "CREATE TABLE intents (pair_id TEXT, sync_key TEXT, side TEXT, source_id TEXT, "
    "source_etag TEXT, base TEXT, PRIMARY KEY (pair_id, sync_key)) WITHOUT ROWID"
)
_STEPS_TABLE = "CREATE TABLE steps (pair_id TEXT, n INTEGER, body TEXT, PRIMARY KEY (pair_id, n))"

Row = tuple[object, ...]
StoreIntents = Callable[[sqlite3.Connection, int, list[Row]], None]


def _intents_beside_links(
    conn: sqlite3.Connection, rows: Rows, step: int, store: StoreIntents, drop_all: str
) -> None:
    """Per step: the previous step's links inserted (its intents dropped by ``store``)
    and the step's intents stored by ``store``; then the last step's links, its
    intents dropped by ``drop_all``."""
    previous: list[Row] = []
    for n, first in enumerate(range(0, len(rows.links), step)):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT, previous)
        previous = rows.links[first : first + step]
        store(conn, n, previous)
        conn.execute("COMMIT")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(drop_all, (PAIR,))
    conn.executemany(_INSERT, previous)
    conn.execute("COMMIT")


def _intent_rows(conn: sqlite3.Connection, _n: int, links: list[Row]) -> None:
    conn.execute("DELETE FROM intents WHERE pair_id = ?", (PAIR,))  # the previous step's
    conn.executemany(
        "INSERT INTO intents VALUES (?, ?, ?, ?, ?, ?)",
        [(PAIR, row[1], "b", row[2], row[4], row[9]) for row in links],
    )


def _intents_apart(conn: sqlite3.Connection, rows: Rows, step: int) -> None:
    conn.execute(_INTENTS_TABLE)
    _intents_beside_links(conn, rows, step, _intent_rows, "DELETE FROM intents WHERE pair_id = ?")


def _step_row(conn: sqlite3.Connection, n: int, links: list[Row]) -> None:
    conn.execute("DELETE FROM steps WHERE pair_id = ? AND n = ?", (PAIR, n - 1))
    body = json.dumps([(row[1], row[2], row[4], row[9]) for row in links])
    conn.execute("INSERT INTO steps VALUES (?, ?, ?)", (PAIR, n, body))


def _intent_row_per_step(conn: sqlite3.Connection, rows: Rows, step: int) -> None:
    conn.execute(_STEPS_TABLE)
    _intents_beside_links(conn, rows, step, _step_row, "DELETE FROM steps WHERE pair_id = ?")


def _encoding(links: list[Link]) -> float:
    started = time.perf_counter()
    for link in links:
        assert link.base is not None
        dump_base(link.base)
    return time.perf_counter() - started


def _link_only(conn: sqlite3.Connection, rows: Rows, step: int) -> None:
    for first in range(0, len(rows.links), step):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT, rows.links[first : first + step])
        conn.execute("COMMIT")


def _through_the_store(folder: Path, links: list[Link], step: int) -> float:
    """The same steps through the store: it makes and encodes the rows itself."""
    store = SQLiteStateStore(folder / "store.sqlite")
    started = time.perf_counter()
    previous: list[Stored] = []
    for first in range(0, len(links), step):
        now = links[first : first + step]
        store.apply(PAIR, _puts([*previous, *(link.intent("b") for link in now)]))
        previous = list(now)
    store.apply(PAIR, _puts(previous))
    seconds = time.perf_counter() - started
    store.close()
    return seconds


def _puts(entries: list[Stored]) -> StateChange:
    put: Any = tuple(entries)  # StateChange's converter is opaque to mypy
    return StateChange(put=put)


def _best(repeat: int, run: Callable[[Path], float]) -> float:
    best = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            best = min(best, run(Path(folder)))
    return best


RawWrite = Callable[[sqlite3.Connection, Rows, int], None]


def _timed_raw(write: RawWrite, rows: Rows, step: int) -> Callable[[Path], float]:
    def run(folder: Path) -> float:
        conn = _fresh(folder, "raw")
        started = time.perf_counter()
        write(conn, rows, step)
        seconds = time.perf_counter() - started
        conn.close()
        return seconds

    return run


def main() -> None:
    """Time the three and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--step", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    links = _links(args.items)
    made = Rows(links)
    rows = {
        "intent + link (raw SQL, rows made)": _timed_raw(_intent_then_link, made, args.step),
        "intents in their own table (raw SQL)": _timed_raw(_intents_apart, made, args.step),
        "one intent row per step (raw SQL)": _timed_raw(_intent_row_per_step, made, args.step),
        "link only (raw SQL, rows made)": _timed_raw(_link_only, made, args.step),
        "encoding the bases (no SQL)": lambda _folder: _encoding(links),
        "SQLiteStateStore.apply (intents, then links)": lambda folder: _through_the_store(
            folder, links, args.step
        ),
    }
    print(f"{args.items:,} creates in steps of {args.step}, best of {args.repeat}:")
    for name, run in rows.items():
        print(f"  {name:46} {_best(args.repeat, run):7.3f} s")


if __name__ == "__main__":
    main()
