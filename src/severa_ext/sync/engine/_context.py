"""What every job of one run works with."""

from __future__ import annotations

import attrs

from severa_ext.clock import Clock
from severa_ext.sync.engine._calls import Calls
from severa_ext.sync.engine._journal import RunJournal
from severa_ext.sync.engine._lease import LeaseKeeper
from severa_ext.sync.engine._steps import Steps
from severa_ext.sync.items import Side
from severa_ext.sync.merge import KeptFields
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.state import StateStore

__all__ = ["Context"]


@attrs.frozen
class Context:
    """One run's pair, settings and services (built afresh per run: the retry
    budget and the lease are the run's own)."""

    store: StateStore
    pair_id: str
    policy: SyncPolicy
    clock: Clock
    kept: KeptFields
    read_only: frozenset[Side]
    journal: RunJournal
    calls: Calls
    lease: LeaseKeeper
    steps: Steps
