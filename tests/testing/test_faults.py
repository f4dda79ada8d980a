"""``FaultyBackend``: MemoryBackend's fault injection around any backend (S3, S11).

The wrapper is tested over a plain ``MemoryBackend`` (no faults of its own), so what
the inner backend stored is the ground truth: a crash after a write really wrote, a
refused call wrote nothing. A hypothesis test runs the same random script against
``FaultyBackend(MemoryBackend())`` and against a ``MemoryBackend`` with the faults
injected directly, and requires the same outcomes: the semantics are the memory
backend's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severa_ext.backends.base import Backend, CreateOp, DeleteOp, UpdateOp, WriteOp
from severa_ext.backends.memory import Fault, FaultKind, InjectedCrash, MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.errors import (
    BackendUnavailable,
    SeveraExtError,
    Throttled,
    ValidationError,
    VersionConflict,
)
from severa_ext.sync.items import CalendarItem, Capabilities, Window
from severa_ext.testing.faults import FaultyBackend
from support import scaled

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
WINDOW = Window(START - timedelta(days=30), START + timedelta(days=30))


def _item(title: str = "Review") -> CalendarItem:
    return CalendarItem(title, START, START + timedelta(hours=1))


def _pair(**kwargs: Any) -> tuple[FaultyBackend, MemoryBackend]:
    inner = MemoryBackend("cal", clock=FixedClock(START))
    return FaultyBackend(inner, **kwargs), inner


# -- the protocol --------------------------------------------------------------------


def test_is_a_backend_delegating_every_call():
    faulty, inner = _pair()
    assert isinstance(faulty, Backend)
    assert faulty.name == "cal"
    assert faulty.capabilities == inner.capabilities
    created = faulty.create(_item(), "k1")
    assert inner.all_items() == [created]
    assert faulty.get(created.id) == created
    assert faulty.find("k1") == (created,)
    assert list(faulty.changes(None, WINDOW).items) == [created]
    updated = faulty.update(created.id, _item("Renamed"), created.etag)
    assert inner.get(created.id) == updated
    faulty.delete(created.id, updated.etag)
    assert inner.all_items() == []
    assert faulty.writes == {"create": 1, "update": 1, "delete": 1}
    assert faulty.write_count == 3
    assert faulty.calls["get"] == 1


def test_capabilities_override_bounds_the_batch():
    faulty, inner = _pair(capabilities=Capabilities(batch_size=2))
    assert faulty.capabilities.batch_size == 2
    ops: list[WriteOp] = [CreateOp(_item(), f"k{i}") for i in range(3)]
    with pytest.raises(ValidationError, match="3 ops exceed the batch size 2"):
        faulty.apply_batch(ops)
    assert inner.all_items() == []


def test_inject_names_the_bad_operation_and_count():
    faulty, _ = _pair()
    with pytest.raises(ValidationError, match=r"'upsert'.*expected one of"):
        faulty.inject("upsert", Fault.unavailable())
    with pytest.raises(ValidationError, match=r"times=0.*expected times >= 1"):
        faulty.inject("get", Fault.unavailable(), times=0)
    assert faulty.armed == 0


def test_close_closes_the_inner_backend():
    closed: list[bool] = []

    class Closing(MemoryBackend):
        def close(self) -> None:
            closed.append(True)

    FaultyBackend(Closing()).close()
    assert closed == [True]


# -- each fault kind -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.throttle(7.5), Throttled),
        (Fault.unavailable(), BackendUnavailable),
        (Fault.timeout(), BackendUnavailable),
        (Fault.stale_etag(), VersionConflict),
    ],
    ids=lambda v: v.kind.value if isinstance(v, Fault) else v.__name__,
)
def test_transient_faults_refuse_the_call_without_writing(fault, error):
    """S11: a refused write stores nothing and is not counted."""
    faulty, inner = _pair()
    faulty.inject("create", fault)
    with pytest.raises(error) as caught:
        faulty.create(_item(), "k1")
    assert caught.value.backend == "cal"
    if fault.kind is FaultKind.THROTTLE:
        assert caught.value.retry_after == 7.5
    assert inner.all_items() == []
    assert inner.calls["create"] == 0  # the inner backend never saw the call
    assert faulty.write_count == 0
    assert faulty.calls["create"] == 1
    assert faulty.create(_item(), "k1").sync_key == "k1"  # one time only


def test_stale_etag_on_update_leaves_the_item():
    faulty, inner = _pair()
    created = faulty.create(_item(), "k1")
    faulty.inject("update", Fault.stale_etag())
    with pytest.raises(VersionConflict):
        faulty.update(created.id, _item("Renamed"), created.etag)
    assert inner.get(created.id) == created


def test_crash_after_write_really_wrote():
    """S3: the write is stored, then the process dies before it sees the reply."""
    faulty, inner = _pair()
    faulty.inject("create", Fault.crash_after_write())
    with pytest.raises(InjectedCrash, match="cal: process died after create"):
        faulty.create(_item(), "k1")
    assert [i.sync_key for i in inner.all_items()] == ["k1"]
    assert faulty.writes["create"] == 1
    assert not issubclass(InjectedCrash, SeveraExtError)


def test_crash_after_a_failed_write_is_the_write_error():
    faulty, inner = _pair()
    faulty.inject("delete", Fault.crash_after_write())
    with pytest.raises(SeveraExtError):
        faulty.delete("no-such-id", None)
    assert faulty.write_count == 0
    assert inner.calls["delete"] == 1


def test_crash_after_a_read():
    faulty, inner = _pair()
    created = inner.user_create(_item())
    faulty.inject("get", Fault.crash_after_write())
    with pytest.raises(InjectedCrash):
        faulty.get(created.id)
    assert faulty.get(created.id) == created


def test_callback_runs_just_before_the_call():
    """A user edit between the engine's listing and its write meets the write."""
    faulty, inner = _pair()
    created = faulty.create(_item(), "k1")
    faulty.inject("update", Fault.call(lambda: inner.user_update(created.id, title="User")))
    with pytest.raises(VersionConflict):
        faulty.update(created.id, _item("Engine"), created.etag)
    assert inner.get(created.id).title == "User"


# -- times, "write", clearing --------------------------------------------------------


def test_times_counts_activations_then_the_call_passes():
    faulty, inner = _pair()
    created = inner.user_create(_item())
    faulty.inject("get", Fault.unavailable(), times=3)
    assert faulty.armed == 3
    for left in (2, 1, 0):
        with pytest.raises(BackendUnavailable):
            faulty.get(created.id)
        assert faulty.armed == left
    assert faulty.get(created.id) == created


def test_faults_of_one_operation_fire_in_order():
    faulty, _ = _pair()
    faulty.inject("find", Fault.throttle(1.0))
    faulty.inject("find", Fault.unavailable())
    with pytest.raises(Throttled):
        faulty.find("k")
    with pytest.raises(BackendUnavailable):
        faulty.find("k")
    assert faulty.find("k") == ()


def test_write_matches_every_write_but_no_read():
    faulty, inner = _pair()
    faulty.inject("write", Fault.unavailable(), times=3)
    created = inner.user_create(_item())
    assert faulty.get(created.id) == created
    with pytest.raises(BackendUnavailable):
        faulty.create(_item(), "k1")
    with pytest.raises(BackendUnavailable):
        faulty.update(created.id, _item("x"), None)
    with pytest.raises(BackendUnavailable):
        faulty.delete(created.id, None)
    assert faulty.armed == 0
    assert inner.all_items() == [created]


def test_a_write_meets_its_own_fault_and_the_write_fault():
    calls: list[str] = []
    faulty, _ = _pair()
    faulty.inject("create", Fault.call(lambda: calls.append("create")))
    faulty.inject("write", Fault.crash_after_write())
    with pytest.raises(InjectedCrash):
        faulty.create(_item(), "k1")
    assert calls == ["create"]
    assert faulty.armed == 0


def test_clear_faults_disarms_everything():
    faulty, _ = _pair()
    faulty.inject("get", Fault.unavailable(), times=4)
    faulty.inject("write", Fault.crash_after_write())
    faulty.clear_faults()
    assert faulty.armed == 0
    assert faulty.create(_item(), "k1").sync_key == "k1"
    assert "armed=0" in repr(faulty)


# -- batches -------------------------------------------------------------------------


def _ops(inner: MemoryBackend) -> list[WriteOp]:
    first = inner.user_create(_item("First"))
    second = inner.user_create(_item("Second"))
    return [
        CreateOp(_item("New"), "k-new"),
        UpdateOp(first.id, _item("First, renamed"), first.etag),
        DeleteOp(second.id, second.etag),
    ]


def test_batch_without_faults_is_one_inner_batch():
    faulty, inner = _pair()
    results = faulty.apply_batch(_ops(inner))
    assert [r.ok for r in results] == [True, True, True]
    assert inner.calls["apply_batch"] == 1
    assert inner.calls["create"] == 1  # MemoryBackend runs its batch op by op itself
    assert faulty.writes == {"create": 1, "update": 1, "delete": 1}
    assert sorted(i.title for i in inner.all_items()) == ["First, renamed", "New"]


def test_single_write_fault_in_a_batch_fails_that_op_only():
    faulty, inner = _pair()
    ops = _ops(inner)
    faulty.inject("update", Fault.throttle(3.0))
    results = faulty.apply_batch(ops)
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, Throttled)
    assert results[1].error.retry_after == 3.0
    assert inner.calls["apply_batch"] == 0  # op by op through the wrapper
    assert faulty.writes == {"create": 1, "delete": 1}
    assert sorted(i.title for i in inner.all_items()) == ["First", "New"]


def test_write_fault_meets_each_op_of_a_batch():
    faulty, inner = _pair()
    ops = _ops(inner)
    faulty.inject("write", Fault.stale_etag(), times=2)
    results = faulty.apply_batch(ops)
    assert [type(r.error) for r in results] == [VersionConflict, VersionConflict, type(None)]
    assert faulty.writes == {"delete": 1}


@pytest.mark.parametrize(
    ("operation", "faults", "error", "titles", "writes"),
    [
        # S3: the op before the crash is stored, the ops after it never ran.
        (
            "write",
            [Fault.call(lambda: None), Fault.crash_after_write()],
            "after update",
            ["First, renamed", "New", "Second"],
            2,
        ),
        ("apply_batch", [Fault.unavailable()], "apply_batch failed", ["First", "Second"], 0),
        (
            "apply_batch",
            [Fault.crash_after_write()],
            "after apply_batch",
            ["First, renamed", "New"],
            3,
        ),
    ],
    ids=[
        "crash-inside-escapes-after-that-op",
        "batch-fault-fails-the-call",
        "batch-crash-after-every-op",
    ],
)
def test_batch_crashes_and_batch_faults(operation, faults, error, titles, writes):
    faulty, inner = _pair()
    ops = _ops(inner)
    for fault in faults:
        faulty.inject(operation, fault)
    with pytest.raises((InjectedCrash, BackendUnavailable), match=error):
        faulty.apply_batch(ops)
    assert sorted(i.title for i in inner.all_items()) == titles
    assert faulty.write_count == writes


# -- faults on the wire --------------------------------------------------------------


def test_wire_faults_let_the_inner_backend_fail_and_are_disarmed_after_the_call():
    """A fake server answers with the fault; the wrapper raises nothing itself."""
    faulty_inner = MemoryBackend("cal")
    wired: list[tuple[str, FaultKind]] = []
    cleared: list[bool] = []

    def wire(operation: str, fault: Fault) -> bool:
        if operation == "get":
            return False
        wired.append((operation, fault.kind))
        faulty_inner.inject(operation, fault)  # the "server" answers with it
        return True

    faulty = FaultyBackend(faulty_inner, wire=wire, after_wire=lambda: cleared.append(True))
    faulty.inject("write", Fault.throttle(4.0))
    with pytest.raises(Throttled) as caught:
        faulty.create(_item(), "k1")
    assert "create throttled" in str(caught.value)
    assert wired == [("create", FaultKind.THROTTLE)]
    assert cleared == [True]
    faulty.inject("get", Fault.unavailable())  # refused by the wire: raised here
    with pytest.raises(BackendUnavailable):
        faulty.get("x")
    assert faulty_inner.calls["get"] == 0
    assert cleared == [True]
    faulty.create(_item(), "k1")
    assert cleared == [True]  # no wire fault, nothing to clear


# -- the memory backend's semantics, as a property ------------------------------------

_FAULTS: dict[str, Callable[[], Fault]] = {
    "throttle": lambda: Fault.throttle(2.0),
    "unavailable": Fault.unavailable,
    "timeout": Fault.timeout,
    "stale-etag": Fault.stale_etag,
    "crash": Fault.crash_after_write,
    "call": lambda: Fault.call(lambda: None),
}
_OPERATIONS = ("changes", "get", "find", "create", "update", "delete", "apply_batch", "write")

_steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("inject"),
            st.sampled_from(_OPERATIONS),
            st.sampled_from(sorted(_FAULTS)),
            st.integers(1, 3),
        ),
        st.tuples(st.sampled_from(["create", "update", "delete", "get", "find", "changes"])),
        st.tuples(st.just("batch"), st.lists(st.sampled_from(["c", "u", "d"]), max_size=4)),
    ),
    max_size=25,
)


def _run(backend: Any, step: tuple[Any, ...], ids: list[str]) -> object:
    """One step against ``backend``: its outcome as comparable data."""
    kind = step[0]
    try:
        if kind == "inject":
            backend.inject(step[1], _FAULTS[step[2]](), times=step[3])
            return None
        target = ids[-1] if ids else "missing"
        if kind == "create":
            return backend.create(_item(f"t{len(ids)}"), f"k{len(ids)}").id
        if kind == "update":
            return backend.update(target, _item("u"), None).etag
        if kind == "delete":
            return backend.delete(target, None)
        if kind == "get":
            found = backend.get(target)
            return None if found is None else found.etag
        if kind == "find":
            return len(backend.find(f"k{len(ids) - 1}"))
        if kind == "changes":
            return sorted(i.id for i in backend.changes(None, WINDOW).items)
        ops: list[WriteOp] = [
            CreateOp(_item("b"), f"b{n}")
            if code == "c"
            else UpdateOp(target, _item("bu"), None)
            if code == "u"
            else DeleteOp(f"{target}-{n}", None)
            for n, code in enumerate(step[1])
        ]
        return [(r.ok, type(r.error).__name__) for r in backend.apply_batch(ops)]
    except (SeveraExtError, InjectedCrash) as exc:
        return type(exc).__name__


@settings(max_examples=scaled(150), deadline=None)
@given(_steps)
def test_same_outcomes_as_the_memory_backend(steps):
    """Any script of injections and calls ends the same through the wrapper as with
    the faults injected into ``MemoryBackend`` itself (S11)."""
    reference = MemoryBackend("cal", clock=FixedClock(START))
    faulty, inner = _pair()
    ref_ids: list[str] = []
    ids: list[str] = []
    for step in steps:
        expected = _run(reference, step, ref_ids)
        got = _run(faulty, step, ids)
        assert got == expected, step
        ref_ids[:] = [i.id for i in reference.all_items()]
        ids[:] = [i.id for i in inner.all_items()]
        assert faulty.armed == reference.armed
        assert faulty.writes == reference.writes
    assert inner.all_items() == reference.all_items()
