"""The memory reference backend: deltas, etags, sync keys and fault injection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severa_ext.backends.base import CreateOp, DeleteOp, UpdateOp
from severa_ext.backends.memory import Fault, InjectedCrash, MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.errors import (
    BackendUnavailable,
    NotFound,
    ReadOnlyBackend,
    SeveraExtError,
    Throttled,
    ValidationError,
    VersionConflict,
)
from severa_ext.sync.items import CalendarItem, Capabilities, ShowAs, Window

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
WINDOW = Window.around(NOW, past_days=30, future_days=60)


def event(title: str, days: int = 1) -> CalendarItem:
    start = NOW + timedelta(days=days)
    return CalendarItem(title, start, start + timedelta(hours=1))


@pytest.fixture
def cal() -> MemoryBackend:
    return MemoryBackend("cal", clock=FixedClock(NOW))


def test_full_listing_then_delta_holds_only_changes(cal: MemoryBackend) -> None:
    first = cal.user_create(event("one"))
    cal.user_create(event("two"))
    full = cal.changes(None, WINDOW)
    assert full.full
    assert {i.title for i in full.items} == {"one", "two"}
    assert cal.changes(full.cursor, WINDOW).items == ()
    cal.user_update(first.id, title="uno")  # type: ignore[arg-type]
    delta = cal.changes(full.cursor, WINDOW)
    assert not delta.full
    assert [i.title for i in delta.items] == ["uno"]


def test_delta_reports_deleted_and_moved_out_of_window_as_removed(cal: MemoryBackend) -> None:
    gone = cal.user_create(event("gone"))
    moved = cal.user_create(event("moved"))
    cursor = cal.changes(None, WINDOW).cursor
    cal.user_delete(gone.id)  # type: ignore[arg-type]
    far = NOW + timedelta(days=400)
    cal.user_update(moved.id, start=far, end=far)  # type: ignore[arg-type]
    delta = cal.changes(cursor, WINDOW)
    assert set(delta.removed) == {gone.id, moved.id}
    assert cal.get(gone.id) is None  # type: ignore[arg-type]
    assert cal.get(moved.id).title == "moved"  # type: ignore[arg-type, union-attr]


def test_cursor_of_another_window_gives_full_listing(cal: MemoryBackend) -> None:
    cal.user_create(event("one"))
    cursor = cal.changes(None, WINDOW).cursor
    other = Window.around(NOW + timedelta(days=1), past_days=30, future_days=60)
    assert cal.changes(cursor, other).full


def test_bad_cursor_is_a_validation_error(cal: MemoryBackend) -> None:
    with pytest.raises(ValidationError, match="not a cursor"):
        cal.changes("garbage", WINDOW)


def test_etag_guards_updates_and_deletes(cal: MemoryBackend) -> None:
    item = cal.create(event("x"), "key-1")
    assert item.sync_key == "key-1"
    assert cal.find("key-1") == (item,)
    updated = cal.update(item.id, item.evolve(title="y"), item.etag)  # type: ignore[arg-type]
    assert updated.etag != item.etag
    assert updated.sync_key == "key-1"
    with pytest.raises(VersionConflict):
        cal.update(item.id, item, item.etag)  # type: ignore[arg-type]
    with pytest.raises(VersionConflict):
        cal.delete(item.id, item.etag)  # type: ignore[arg-type]
    cal.delete(item.id, updated.etag)  # type: ignore[arg-type]
    assert cal.find("key-1") == ()
    with pytest.raises(NotFound):
        cal.delete(item.id, None)  # type: ignore[arg-type]
    assert cal.writes == {"create": 1, "update": 1, "delete": 1}


def test_user_side_methods_are_not_counted_nor_faulted(cal: MemoryBackend) -> None:
    cal.inject("write", Fault.unavailable())
    item = cal.user_create(event("mine"))
    cal.user_update(item.id, title="still mine")  # type: ignore[arg-type]
    assert cal.write_count == 0
    assert cal.armed == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.throttle(7), Throttled),
        (Fault.unavailable(), BackendUnavailable),
        (Fault.timeout(), BackendUnavailable),
        (Fault.stale_etag(), VersionConflict),
    ],
)
def test_injected_faults_raise_package_errors_and_write_nothing(
    cal: MemoryBackend, fault: Fault, error: type[Exception]
) -> None:
    cal.inject("create", fault, times=2)
    for _ in range(2):
        with pytest.raises(error):
            cal.create(event("x"), "k")
    assert cal.all_items() == []
    assert cal.create(event("x"), "k").id is not None


def test_throttle_carries_retry_after(cal: MemoryBackend) -> None:
    cal.inject("changes", Fault.throttle(12.5))
    with pytest.raises(Throttled) as info:
        cal.changes(None, WINDOW)
    assert info.value.retry_after == 12.5


def test_crash_after_write_keeps_the_write_and_is_not_a_package_error(
    cal: MemoryBackend,
) -> None:
    cal.inject("write", Fault.crash_after_write())
    with pytest.raises(InjectedCrash) as info:
        cal.create(event("x"), "k")
    assert not isinstance(info.value, SeveraExtError)
    assert len(cal.find("k")) == 1


def test_call_fault_runs_a_concurrent_edit_before_the_write(cal: MemoryBackend) -> None:
    item = cal.user_create(event("x"))
    cal.inject("update", Fault.call(lambda: cal.user_update(item.id, title="user")))  # type: ignore[arg-type]
    with pytest.raises(VersionConflict):
        cal.update(item.id, item.evolve(title="engine"), item.etag)  # type: ignore[arg-type]
    assert cal.get(item.id).title == "user"  # type: ignore[arg-type, union-attr]


def test_apply_batch_reports_errors_per_op(cal: MemoryBackend) -> None:
    a = cal.user_create(event("a"))
    cal.inject("update", Fault.stale_etag())
    results = cal.apply_batch(
        [CreateOp(event("n"), "k"), UpdateOp(a.id, a, a.etag), DeleteOp("nope", None)]  # type: ignore[arg-type]
    )
    assert [r.ok for r in results] == [True, False, False]
    assert isinstance(results[1].error, VersionConflict)
    assert isinstance(results[2].error, NotFound)


def test_apply_batch_refuses_more_than_the_batch_size() -> None:
    cal = MemoryBackend(capabilities=Capabilities(delta=True, batch_size=1))
    with pytest.raises(ValidationError, match="batch size"):
        cal.apply_batch([DeleteOp("a", None), DeleteOp("b", None)])


def test_read_only_backend_refuses_writes() -> None:
    cal = MemoryBackend(capabilities=Capabilities(read_only=True))
    with pytest.raises(ReadOnlyBackend):
        cal.create(event("x"), "k")


def test_inject_names_unknown_operation(cal: MemoryBackend) -> None:
    with pytest.raises(ValidationError, match="frobnicate"):
        cal.inject("frobnicate", Fault.timeout())


def test_content_fields_make_the_backend_drop_the_other_fields() -> None:
    """A side that keeps no ``show_as`` (an activity) stores its default instead."""
    caps = Capabilities(delta=True, content_fields={"title", "start", "end", "location"})
    backend = MemoryBackend("severa", capabilities=caps, clock=FixedClock(NOW))
    full = event("Offsite").evolve(
        location="Hall", body="notes", private=True, show_as=ShowAs.FREE, categories=("x",)
    )
    stored = backend.create(full, "k1")
    assert (stored.title, stored.location) == ("Offsite", "Hall")
    assert (stored.body, stored.private, stored.show_as, stored.categories) == (
        "",
        False,
        ShowAs.BUSY,
        (),
    )
    assert backend.user_update(stored.id or "", show_as=ShowAs.OOF).show_as is ShowAs.BUSY
    assert MemoryBackend("all").create(full, "k2").show_as is ShowAs.FREE


def test_capabilities_content_fields_must_name_content_fields() -> None:
    with pytest.raises(ValidationError, match="colour"):
        Capabilities(content_fields={"title", "colour"})
    assert Capabilities().content_fields is None
    assert Capabilities(content_fields=["title"]).content_fields == frozenset({"title"})


_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.sampled_from(["k1", "k2", "k3"])),
        st.tuples(st.just("update"), st.integers(0, 20)),
        st.tuples(st.just("delete"), st.integers(0, 20)),
    ),
    max_size=30,
)


@given(steps=_STEPS)
def test_find_returns_exactly_the_items_stamped_with_the_key(steps) -> None:
    """``find(sync_key)`` is every live item with that key, in id order, after any
    creates, updates and deletes (several items may share a key: copies, S3)."""
    cal = MemoryBackend("cal", clock=FixedClock(NOW))
    for operation, argument in steps:
        live = sorted(cal.all_items(), key=lambda i: i.id or "")
        if operation == "create":
            cal.create(event(f"e{len(live)}"), argument)
        elif live:
            item = live[argument % len(live)]
            assert item.id is not None
            if operation == "update":
                cal.update(item.id, item.evolve(title="edited"), item.etag)
            else:
                cal.delete(item.id, item.etag)
    for key in ("k1", "k2", "k3"):
        expected = sorted((i for i in cal.all_items() if i.sync_key == key), key=lambda i: i.id)
        assert list(cal.find(key)) == expected
