"""pytest fixtures of the memory fakes (loaded by ``severa_ext.testing.plugin``).

* ``fake_calendar``: a :class:`~severa_ext.testing.faults.MemoryBackend` with fault
  injection. At teardown it fails the test if an injected fault never fired (as
  pytest-httpx does for unused responses); opt out with
  ``@pytest.mark.severa_ext(assert_faults_fired=False)``.
* ``fake_activities``: an :class:`~severa_ext.backends.activities.ActivityBackend`
  over a :class:`~severa_ext.backends.activities.MemoryActivityStore`, with the
  activity types of :data:`TYPES`.
* ``sync_harness``: a :class:`SyncHarness` syncing ``fake_activities``-like side A
  with a memory calendar on side B.

Nothing here is autouse, and this module imports only pytest at load time: every
fixture imports what it builds when a test asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from severa_ext.backends.activities import ActivityBackend
    from severa_ext.backends.base import Backend
    from severa_ext.clock import FixedClock
    from severa_ext.domain import ActivityType
    from severa_ext.sync.engine import SyncEngine
    from severa_ext.sync.journal import JournalEntry
    from severa_ext.sync.policy import SyncPolicy
    from severa_ext.sync.report import SyncReport
    from severa_ext.sync.state import StateStore, Stored
    from severa_ext.testing.faults import MemoryBackend

__all__ = [
    "START",
    "SyncHarness",
    "activity_types_for_tests",
    "fake_activities",
    "fake_calendar",
    "sync_harness",
]

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
"""Where the fixtures' clocks start: Monday 4 May 2026, 09:00 UTC."""

USER_ID = "user-1"


def activity_types_for_tests() -> dict[str, ActivityType]:
    """The fixtures' activity types: ``meeting`` and ``personal`` (calendar entries)
    and ``task`` (a project task, never sent to the calendar, S8)."""
    from severa_ext.domain import ActivityCategory, ActivityType

    return {
        "meeting": ActivityType("meeting", "Meeting"),
        "personal": ActivityType("personal", "Personal"),
        "task": ActivityType("task", "Project task", ActivityCategory.PROJECT_TASK),
    }


def _memory_calendar(name: str, clock: FixedClock) -> MemoryBackend:
    from severa_ext.testing.faults import MemoryBackend

    return MemoryBackend(name, clock=clock)


def _activity_side(
    clock: FixedClock, types: Mapping[str, ActivityType] | None = None
) -> ActivityBackend:
    from severa_ext.backends.activities import ActivityBackend, MemoryActivityStore

    return ActivityBackend(
        MemoryActivityStore(clock=clock),
        user_id=USER_ID,
        activity_types=types if types is not None else activity_types_for_tests(),
    )


class SyncHarness:
    """Two sides, a memory state store, a fixed clock and a sync engine, wired up.

    Side A is the Severa side (activities) unless given; side B a memory calendar.
    Retries never sleep (waits are recorded in ``sleeps``).

    Args:
        a: side A; by default an ``ActivityBackend`` over a ``MemoryActivityStore``
            with the types of ``activity_types_for_tests()``.
        b: side B; by default a ``MemoryBackend`` named ``"calendar"``.
        policy: by default meetings go out, incoming entries become meetings and
            private ones personal (S8, S9).
        store: by default a ``MemoryStateStore``.
        clock: by default a ``FixedClock`` at ``START``; the default sides use it.
        pair_id: the pair's id in the store.
        engine_options: more keyword arguments for ``SyncEngine``.

    Example:
        >>> harness = SyncHarness()
        >>> report = harness.sync()
        >>> report.ok
        True
    """

    def __init__(
        self,
        a: Backend | None = None,
        b: Backend | None = None,
        *,
        policy: SyncPolicy | None = None,
        store: StateStore | None = None,
        clock: FixedClock | None = None,
        pair_id: str = "pair-1",
        **engine_options: Any,
    ) -> None:
        from severa_ext.clock import FixedClock
        from severa_ext.sync.engine import SyncEngine
        from severa_ext.sync.policy import SyncPolicy
        from severa_ext.sync.state import MemoryStateStore

        self.clock: FixedClock = clock if clock is not None else FixedClock(START)
        self.a: Any = a if a is not None else _activity_side(self.clock)
        self.b: Any = b if b is not None else _memory_calendar("calendar", self.clock)
        self.policy: SyncPolicy = (
            policy
            if policy is not None
            else SyncPolicy(
                outgoing_types={"meeting"}, default_type="meeting", personal_type="personal"
            )
        )
        self.store: StateStore = store if store is not None else MemoryStateStore()
        self.pair_id = pair_id
        self.sleeps: list[float] = []
        engine_options.setdefault("user_id", USER_ID)
        engine_options.setdefault("sleep", self.sleeps.append)
        self.engine: SyncEngine = SyncEngine(
            self.a,
            self.b,
            self.store,
            pair_id=pair_id,
            policy=self.policy,
            clock=self.clock,
            **engine_options,
        )

    def __repr__(self) -> str:
        return f"SyncHarness({self.a!r} <-> {self.b!r}, at {self.clock.now().isoformat()})"

    def sync(self, **options: Any) -> SyncReport:
        """Run the engine once (``dry_run``, ``allow_mass_delete``, ``progress``)."""
        return self.engine.run(**options)

    def journal(self) -> list[JournalEntry]:
        """The pair's journal entries (S6), oldest first."""
        return self.store.journal(pair_id=self.pair_id)

    def links(self) -> list[Stored]:
        """Every entry (link, intent, parked item) the store holds for the pair."""
        return list(self.store.links(self.pair_id))

    def advance(self, delta: timedelta = timedelta(minutes=1)) -> datetime:
        """Move the shared clock on (so later edits are newer) and return the new time."""
        return self.clock.advance(delta)

    def close(self) -> None:
        """Close both sides and the store."""
        self.a.close()
        self.b.close()
        self.store.close()


@pytest.fixture
def fake_calendar(request: pytest.FixtureRequest) -> Iterator[MemoryBackend]:
    """A memory calendar with fault injection, its clock at :data:`START`.

    Inject faults with ``fake_calendar.inject("create", Fault.throttle(2.0))``. At
    teardown, a fault that never fired fails the test, unless the test is marked
    ``@pytest.mark.severa_ext(assert_faults_fired=False)``.
    """
    from severa_ext.clock import FixedClock

    calendar = _memory_calendar("fake-calendar", FixedClock(START))
    yield calendar
    marker = request.node.get_closest_marker("severa_ext")
    check = marker.kwargs.get("assert_faults_fired", True) if marker is not None else True
    armed = calendar.armed
    calendar.clear_faults()
    calendar.close()
    if check and armed:
        pytest.fail(
            f"fake_calendar: {armed} injected fault(s) never fired; remove them, call "
            "fake_calendar.clear_faults(), or mark the test "
            "@pytest.mark.severa_ext(assert_faults_fired=False)",
            pytrace=False,
        )


@pytest.fixture
def fake_activities() -> Iterator[ActivityBackend]:
    """The Severa side in memory: ``user-1``'s activities, its store at ``.store``."""
    from severa_ext.clock import FixedClock

    backend = _activity_side(FixedClock(START))
    yield backend
    backend.close()


@pytest.fixture
def sync_harness() -> Iterator[SyncHarness]:
    """A :class:`SyncHarness`: activities (``.a``) <-> a memory calendar (``.b``)."""
    harness = SyncHarness()
    yield harness
    harness.close()
