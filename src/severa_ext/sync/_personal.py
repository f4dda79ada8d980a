"""The S9 fallback of one run: a Personal type side A lacks gives way to the default.

Private helper of the engine, kept apart from the engine's structure: given the
configured policy and side A, :func:`policy_for_run` returns the policy to plan the
run with and journals the fallback once (S6).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from severa_ext.errors import BackendError
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.protocol import ActivityTypeSource
from severa_ext.sync.state import StateStore

__all__ = ["RECENT_JOURNAL", "policy_for_run"]

logger = logging.getLogger("severa_ext.sync.engine")

RECENT_JOURNAL = 100
"""A settings warning among the pair's last this many journal entries is not repeated."""

TypesReader = Callable[[Callable[[], frozenset[str]]], frozenset[str]]
"""Calls side A's ``activity_type_ids`` with the engine's retries."""


def policy_for_run(
    policy: SyncPolicy,
    side_a: object,
    *,
    read: TypesReader,
    store: StateStore,
    pair_id: str,
    note: Callable[[str], None],
    record: bool,
) -> SyncPolicy:
    """The policy for this run: a Personal type side A does not have falls back (S9).

    Args:
        policy: the configured policy.
        side_a: the backend of side A; only an
            :class:`~severa_ext.sync.protocol.ActivityTypeSource` is asked.
        read: runs side A's ``activity_type_ids`` with the engine's retries.
        store: the state store, whose recent journal says whether the warning was
            already given.
        pair_id: the pair whose journal is read.
        note: journals the warning (level ``warning``, operation ``settings``).
        record: journal at all (``False`` for a plan or a dry run).

    A side whose types cannot be read keeps the policy as configured (its listing
    reports the outage).
    """
    if not policy.personal_type or not isinstance(side_a, ActivityTypeSource):
        return policy
    try:
        known = read(side_a.activity_type_ids)
    except BackendError:
        return policy
    effective, warning = policy.for_types(known)
    if warning is not None and record:
        recent = store.journal(pair_id=pair_id, limit=RECENT_JOURNAL)
        if not any(e.operation == "settings" and e.message == warning for e in recent):
            note(warning)
            logger.warning("pair %s: %s", pair_id, warning)
    return effective
