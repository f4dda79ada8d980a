"""Running calendar sync for a whole organisation (S1, S2, S6, S11).

Engine-neutral: :class:`Runner` lists the due pairs of the users who have sync on and
syncs one pair per call; a task queue runs it (:mod:`severa_ext.contrib.celery`), or a
plain loop. See the guide "Running sync for an organisation".

* :class:`Runner`, :class:`PairRun`; :class:`Pair` and :func:`active_pairs` (who may
  sync); :class:`SettingsBackends` (each pair's backends from the organisation's
  settings, through :mod:`severa_ext.backends.factory`);
* :class:`SchedulePolicy`, :class:`PairSchedule`, :func:`next_due`, :class:`RunStatus`
  (when a pair is due again); :class:`ScheduleStore`, :class:`MemoryScheduleStore`;
* :class:`MailboxLimits`, ``GRAPH_OUTLOOK_LIMITS``, :class:`RequestGate`,
  :class:`MemoryGate`, :class:`GatedAdapter` (Graph's per-mailbox limits on every
  request).
"""

from __future__ import annotations

from severa_ext.runner.backends import OpenPair, PairBackends, SettingsBackends
from severa_ext.runner.core import PairRun, Runner, sync_policy
from severa_ext.runner.limits import (
    GRAPH_OUTLOOK_LIMITS,
    GatedAdapter,
    MailboxLimits,
    MemoryGate,
    RequestGate,
    gated_session,
    request_cost,
)
from severa_ext.runner.pairs import (
    Pair,
    active_pairs,
    inactive_reason,
    organisation_reason,
    pair_id_of,
)
from severa_ext.runner.schedule import PairSchedule, RunStatus, SchedulePolicy, next_due
from severa_ext.runner.store import MemoryScheduleStore, ScheduleStore

__all__ = [
    "GRAPH_OUTLOOK_LIMITS",
    "GatedAdapter",
    "MailboxLimits",
    "MemoryGate",
    "MemoryScheduleStore",
    "OpenPair",
    "Pair",
    "PairBackends",
    "PairRun",
    "PairSchedule",
    "RequestGate",
    "RunStatus",
    "Runner",
    "SchedulePolicy",
    "ScheduleStore",
    "SettingsBackends",
    "active_pairs",
    "gated_session",
    "inactive_reason",
    "next_due",
    "organisation_reason",
    "pair_id_of",
    "request_cost",
    "sync_policy",
]
