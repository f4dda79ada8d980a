"""What the processes of the state store contract run (free of pytest and hypothesis,
so a spawned process imports little)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from severa_ext.errors import LeaseHeld
from severa_ext.sync.items import Side
from severa_ext.sync.links import Link, Stored
from severa_ext.sync.state import StateChange, StateStore
from severa_ext.testing._store_racing import NOW, TIMEOUT

__all__ = ["NOW", "count_under_lease", "entry", "race_for_lease", "step"]

_HOUR = timedelta(hours=1)


def entry(store: StateStore, pair_id: str, sync_key: str) -> Stored | None:
    """The entry ``sync_key`` of ``pair_id``, or ``None`` (one bulk lookup)."""
    return store.links_by_keys(pair_id, [sync_key]).get(sync_key)


def step(
    *,
    put: Sequence[Stored] = (),
    delete: Sequence[str] = (),
    cursors: Mapping[Side, str | None] | None = None,
) -> StateChange:
    """A :class:`~severa_ext.sync.state.StateChange` (typed: its ``tuple`` converters
    are opaque to mypy)."""
    links: Any = tuple(put)
    keys: Any = tuple(delete)
    return StateChange(put=links, delete=keys, cursors=dict(cursors or {}))


def race_for_lease(barrier: Any, queue: Any, reopen: Callable[[], StateStore]) -> None:
    """Open the state, wait for the others, try once to take pair ``p``'s lease (and
    keep it); report ``(won, holder)``."""
    store = reopen()
    holder = f"proc-{os.getpid()}"
    barrier.wait(TIMEOUT)
    try:
        store.acquire("p", holder, now=NOW, ttl=_HOUR)
    except LeaseHeld:
        queue.put((False, holder))
    else:
        queue.put((True, holder))
    finally:
        store.close()


def count_under_lease(
    barrier: Any, queue: Any, reopen: Callable[[], StateStore], rounds: int
) -> None:
    """Open the state, wait for the others, then ``rounds`` times: take the lease of
    pair ``counter``, add one to its counter link, give the lease back. Report how many
    increments this process made (the counter must equal the sum: none lost)."""
    store = reopen()
    barrier.wait(TIMEOUT)
    wins = 0
    for attempt in range(rounds):
        try:
            lease = store.acquire("counter", f"{os.getpid()}-{attempt}", now=NOW, ttl=_HOUR)
        except LeaseHeld:
            continue
        current = entry(store, "counter", "counter")
        value = int(current.etag_on("a") or 0) if current is not None else 0
        store.apply("counter", step(put=[Link("counter", a_etag=str(value + 1))]))
        store.release(lease)
        wins += 1
    store.close()
    queue.put(wins)
