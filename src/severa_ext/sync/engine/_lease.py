"""The pair's lease over one run: taken, renewed while the run works, fenced.

A run takes the lease before it reads (:meth:`LeaseKeeper.take`; a holder known dead
is taken over at once), renews it once a third of its time has passed before every
backend call and every durable step (:meth:`LeaseKeeper.keep`), and hands it to every
durable step (:meth:`LeaseKeeper.fence`), which the store applies only while the
lease is still this run's, in the step's own transaction. A run that lost its lease
therefore stops before its next durable step, and two runs never write for one pair.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime, timedelta

import attrs

from severa_ext.clock import Clock
from severa_ext.errors import LeaseHeld
from severa_ext.sync.engine._journal import RunJournal
from severa_ext.sync.engine._stops import RunStopped
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.state import Lease, StateChange, StateStore

__all__ = ["LeaseKeeper", "dead_here"]

logger = logging.getLogger(__name__)


def dead_here(holder: str) -> bool:
    """True when ``holder`` (``host:pid:...``, the default holder id) is a process of
    this host that no longer runs: its lease cannot be in use."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (another user's process, say)
    return False


class LeaseKeeper:
    """The lease of one run (none for a dry run or a plan: then every method is a
    no-op and every step goes unfenced)."""

    def __init__(
        self, store: StateStore, clock: Clock, journal: RunJournal, holder: str, ttl: timedelta
    ) -> None:
        self._store = store
        self._clock = clock
        self._journal = journal
        self.holder = holder
        self._ttl = ttl
        self.lease: Lease | None = None
        self._renewed = datetime.min.replace(tzinfo=UTC)

    def take(self, now: datetime) -> Lease:
        """Take the pair's lease; a lease whose holder is known dead is taken over.

        Raises:
            LeaseHeld: another live run holds the pair (``expires`` says until when).
        """
        pair_id = self._journal.pair_id
        try:
            lease = self._store.acquire(pair_id, self.holder, now=now, ttl=self._ttl)
        except LeaseHeld as held:
            if held.holder is None or not dead_here(held.holder):
                self._journal.note("lease", f"run refused: {held}", None, None, "warning")
                raise
            lease = self._store.acquire(
                pair_id, self.holder, now=now, ttl=self._ttl, replacing=held.holder
            )
            message = f"took over the lease of {held.holder}: its process is gone"
            self._journal.note("lease", message, None, None, "warning")
            logger.warning("pair %s: %s", pair_id, message)
        self.lease, self._renewed = lease, now
        return lease

    def keep(self) -> None:
        """Renew the lease once a third of its time has passed; stop if it was lost.

        Raises:
            RunStopped: another run holds the pair now (nothing more is written).
        """
        lease = self.lease
        if lease is None:
            return
        now = self._clock.now()
        if now - self._renewed < self._ttl / 3:
            return
        try:
            self.lease = self._store.renew(lease, now=now, ttl=self._ttl)
        except LeaseHeld as held:
            raise RunStopped(self.lost(held)) from held
        self._renewed = now

    def fence(self, change: StateChange) -> StateChange:
        """``change``, applied only while this run holds the pair (none: as is)."""
        return change if self.lease is None else attrs.evolve(change, lease=self.lease)

    def lost(self, held: LeaseHeld) -> JournalEntry:
        """Journal that the run lost its lease and stops."""
        message = f"lease lost ({held}); the run stops before writing more"
        return self._journal.error("lease", message, self._journal.pair_id)

    def release(self) -> None:
        """Give the lease back (by holder: the renewed lease is the same)."""
        if self.lease is not None:
            self._store.release(self.lease)
            self.lease = None
