"""Buffered writes of the ICS backend: flushes that append, and one stamp a batch.

An engine calls ``flush`` once per durable step; between flushes the backend keeps
the file as last written and, while every change since is a created event, writes
those bytes with the new events appended (no render of the rest, no re-hash). These
tests hold that shortcut to the whole render of the same calendar (X4: what is
written is what a read gives) for any sequence of creates, updates, deletes and
flushes, and the echo stamp (S11) to what the shortcut wrote.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from severa_ext.backends import _ics_emit, _ics_index
from severa_ext.backends._ics_cursor import STAMP_PROPERTY
from severa_ext.backends.base import CreateOp, DeleteOp, UpdateOp, WriteOp
from severa_ext.backends.ics import IcsBackend
from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem, Window
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.sqlite import SQLiteStateStore
from support import scaled

from .test_ics_roundtrip import calendar_items

EVERYTHING = Window(datetime(1990, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
START = datetime(2026, 1, 1, tzinfo=UTC)


class TickingClock(FixedClock):
    """A clock that moves a second forward each time it is read."""

    def now(self) -> datetime:
        return self.advance(timedelta(seconds=1))


def without_stamp(data: bytes) -> bytes:
    """The file without its echo stamp line (it names a random consumer token)."""
    lines = data.split(b"\r\n")
    return b"\r\n".join(line for line in lines if not line.startswith(STAMP_PROPERTY.encode()))


def summary(items: Any) -> dict[str | None, tuple[Any, ...]]:
    return {item.id: (item.title, item.start, item.end, item.sync_key, item.etag) for item in items}


def fresh_listing(path: Path) -> dict[str | None, tuple[Any, ...]]:
    return summary(IcsBackend(path).changes(None, EVERYTHING).items)


def own_listing(backend: IcsBackend) -> dict[str | None, tuple[Any, ...]]:
    """What the writer lists from memory (without a listing, which would move the
    origin its next writes are stamped with)."""
    return summary(backend._items(backend._current(), EVERYTHING))


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.lists(calendar_items(), min_size=1, max_size=3)),
        st.tuples(st.just("update"), st.integers(0, 50), calendar_items()),
        st.tuples(st.just("delete"), st.integers(0, 50)),
        st.tuples(st.just("flush")),
    ),
    min_size=1,
    max_size=12,
)


def batch_of(step: tuple[Any, ...], ids: list[str], keys: list[int]) -> list[WriteOp]:
    """The write ops of one generated step (updates and deletes pick a known id)."""
    if step[0] == "create":
        keys[0] += len(step[1])
        return [CreateOp(item, f"key-{keys[0] - n}") for n, item in enumerate(step[1])]
    if not ids:
        return []
    item_id = ids[step[1] % len(ids)]
    if step[0] == "update":
        return [UpdateOp(item_id, step[2], None)]
    return [DeleteOp(item_id, None)]


def apply(backend: IcsBackend, ops: list[WriteOp], ids: list[str]) -> None:
    for result in backend.apply_batch(ops):
        assert result.error is None, result.error
        op = result.op
        if isinstance(op, DeleteOp):
            ids.remove(op.item_id)
        elif isinstance(op, CreateOp) and result.item is not None and result.item.id not in ids:
            ids.append(result.item.id or "")


@settings(
    max_examples=scaled(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=OPS)
def test_appended_flushes_write_what_a_whole_render_writes(tmp_path: Path, steps) -> None:
    """Hypothesis (X4, S11): for any sequence of batches and flushes, every flush
    writes the bytes the whole render of the same calendar gives, a fresh read lists
    what the writer lists, and the writer's consumer sees the result as its echo."""
    folder = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    appending = IcsBackend(folder / "a.ics", create_missing=True, clock=FixedClock(START))
    rendering = IcsBackend(folder / "b.ics", create_missing=True, clock=FixedClock(START))
    cursor = appending.changes(None, EVERYTHING).cursor
    rendering.changes(None, EVERYTHING)
    for backend in (appending, rendering):
        backend.flush()  # the engine's protocol: writes wait for the next flush
    ids: list[str] = []
    keys = [0]
    for step in [*steps, ("flush",)]:
        if step[0] == "flush":
            loaded = rendering._loaded
            if loaded is not None:
                loaded.written = None  # the reference: render the whole calendar
            appending.flush()
            rendering.flush()
            written = (folder / "a.ics").read_bytes()
            assert without_stamp(written) == without_stamp((folder / "b.ics").read_bytes())
            assert fresh_listing(folder / "a.ics") == own_listing(appending)
            continue
        ops = batch_of(step, ids, keys)
        apply(rendering, ops, [*ids])
        apply(appending, ops, ids)
    appending.close()
    rendering.close()
    echo = IcsBackend(folder / "a.ics")
    assert echo.changes(cursor, EVERYTHING).full is False
    assert echo.parses == 0


def test_one_batch_of_creates_shares_one_last_modified(tmp_path: Path) -> None:
    """The events one batch creates reach the file in one write and carry one
    LAST-MODIFIED (the clock is read once a batch); the next batch is stamped anew."""
    clock = TickingClock(START)
    backend = IcsBackend(tmp_path / "cal.ics", create_missing=True, clock=clock)
    day = datetime(2026, 3, 2, 9, tzinfo=UTC)
    items = [
        CalendarItem(f"E{n}", day + timedelta(days=n), day + timedelta(days=n, hours=1))
        for n in range(4)
    ]
    first = backend.apply_batch([CreateOp(item, f"k{n}") for n, item in enumerate(items[:3])])
    second = backend.apply_batch([CreateOp(items[3], "k3")])
    stamps = {result.item.last_modified for result in first if result.item is not None}
    assert len(stamps) == 1
    (later,) = [result.item.last_modified for result in second if result.item is not None]
    assert later is not None
    assert later > stamps.pop()  # type: ignore[operator]
    backend.close()
    read = {
        i.sync_key: i.last_modified
        for i in IcsBackend(tmp_path / "cal.ics").changes(None, EVERYTHING).items
    }
    assert read == {
        f"k{n}": r.item.last_modified for n, r in enumerate([*first, *second]) if r.item is not None
    }


def test_a_create_answers_the_item_a_read_gives(tmp_path: Path) -> None:
    """A create's result is the indexed item: what ``get`` and a fresh read give."""
    path = tmp_path / "cal.ics"
    backend = IcsBackend(path, create_missing=True, clock=FixedClock(START))
    day = datetime(2026, 3, 2, 9, 30, 15, 999, tzinfo=UTC)  # microseconds are not kept
    created = backend.create(CalendarItem("A", day, day + timedelta(hours=1)), "key#20260302")
    assert created == backend.get(created.id or "")
    assert created.start == day.replace(microsecond=0)
    backend.close()
    assert IcsBackend(path).changes(None, EVERYTHING).items == (created,)


class CountingIcs(IcsBackend):
    """An ICS backend that counts the flushes that wrote the file."""

    writes = 0

    def _write_out(self, loaded: Any) -> None:
        CountingIcs.writes += 1
        super()._write_out(loaded)


def test_an_initial_sync_flushes_the_file_a_logarithmic_number_of_times(tmp_path: Path) -> None:
    """Each flush replaces the whole file (``rewrites_on_flush``), so the engine's
    durable steps grow with the run: 10,000 creates (batches of 500) take fewer
    flushes than one per batch, and the file has every item (X4)."""
    from severa_ext.backends.memory import MemoryBackend
    from severa_ext.sync.engine import SyncEngine
    from severa_ext.sync.policy import SyncPolicy
    from severa_ext.sync.sqlite import SQLiteStateStore

    count = 10_000
    memory = MemoryBackend("memory")
    day = datetime(2026, 1, 5, 8, tzinfo=UTC)
    for n in range(count):
        start = day + timedelta(minutes=13 * n)
        memory.user_create(CalendarItem(f"A{n}", start, start + timedelta(minutes=30)))
    path = tmp_path / "cal.ics"
    ics = CountingIcs(path, create_missing=True, clock=FixedClock(START))
    assert ics.capabilities.rewrites_on_flush
    CountingIcs.writes = 0
    with SQLiteStateStore(tmp_path / "state.sqlite") as store:
        policy = SyncPolicy.calendars(past_days=35, future_days=510)
        clock = FixedClock(datetime(2026, 1, 5, tzinfo=UTC))
        report = SyncEngine(memory, ics, store, pair_id="p", policy=policy, clock=clock).run()
        ics.close()
    assert report.total_writes == count
    assert CountingIcs.writes < count // 500
    assert len(IcsBackend(path).changes(None, EVERYTHING).items) == count


def _old_moment(value: Any) -> str:
    """The etag's time text before the change (``astimezone(UTC).isoformat()``)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(microsecond=0).isoformat()
    return "-" if value is None else value.isoformat()


def test_the_new_etag_formula_costs_no_writes_on_the_first_run(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The etag formula changed once (the instant as POSIX seconds): every ICS etag
    the links hold differs on the first run after the upgrade. The engine compares
    contents, finds them equal and only re-records the etags (X4: no write)."""
    memory = MemoryBackend("memory")
    day = datetime(2026, 1, 5, 8, tzinfo=UTC)
    for n in range(200):
        start = day + timedelta(minutes=47 * n)
        memory.user_create(CalendarItem(f"A{n}", start, start + timedelta(minutes=30)))
    path = tmp_path / "cal.ics"
    policy = SyncPolicy.calendars(past_days=35, future_days=510)
    clock = FixedClock(datetime(2026, 1, 5, tzinfo=UTC))
    with SQLiteStateStore(tmp_path / "state.sqlite") as store:
        with monkeypatch.context() as patch:
            patch.setattr(_ics_index, "moment", _old_moment)
            patch.setattr(_ics_emit, "moment", _old_moment)
            ics = IcsBackend(path, create_missing=True, clock=FixedClock(START))
            assert SyncEngine(memory, ics, store, pair_id="p", policy=policy, clock=clock).run()
            ics.close()
            old = store.etags("p", "b")
        # A user's edit elsewhere in the file makes the next run read every event.
        event = "BEGIN:VEVENT\r\nUID:user-1\r\nSUMMARY:user\r\nDTSTART:20260105T070000Z\r\n"
        event += "DTEND:20260105T073000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        path.write_bytes(path.read_bytes().replace(b"END:VCALENDAR\r\n", event.encode()))
        ics = IcsBackend(path, clock=FixedClock(START))
        report = SyncEngine(memory, ics, store, pair_id="p", policy=policy, clock=clock).run()
        items = ics.changes(None, EVERYTHING).items
        ics.close()
        new = store.etags("p", "b")
    assert report.total_writes == 1  # only the user's event, into memory
    assert len(new) == 201
    assert set(old) <= set(new)
    assert all(old[i] != new[i] for i in old)
    assert new == {item.id: item.etag for item in items}
