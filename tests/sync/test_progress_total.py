"""Issue 18: the progress callback's write phase starts at the real total (no ``0/0``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem, Capabilities
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.state import MemoryStateStore

NOW = datetime(2026, 5, 4, 8, tzinfo=UTC)


def test_the_write_phase_starts_at_zero_of_the_real_total_and_counts_up() -> None:
    clock = FixedClock(NOW)
    a = MemoryBackend("severa", clock=clock)
    b = MemoryBackend("calendar", capabilities=Capabilities(delta=True, batch_size=4), clock=clock)
    for i in range(10):
        start = NOW + timedelta(days=1, hours=i)
        a.user_create(CalendarItem(f"a{i}", start, start + timedelta(hours=1), activity_type="m"))
    engine = SyncEngine(
        a,
        b,
        MemoryStateStore(),
        pair_id="p",
        policy=SyncPolicy(outgoing_types={"m"}, default_type="m"),
        clock=clock,
    )
    seen: list[tuple[int, int, str]] = []
    report = engine.run(progress=lambda done, total, phase: seen.append((done, total, phase)))
    writes = [(done, total) for done, total, phase in seen if phase == "write"]
    assert report.total_writes == 10
    assert writes[0] == (0, 10)  # drawn before the first batch, against the real total
    assert {total for _, total in writes} == {10}
    assert [done for done, _ in writes] == sorted(done for done, _ in writes)
    assert writes[-1] == (10, 10)
    assert seen[-1] == (10, 10, "done")
