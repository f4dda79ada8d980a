"""The two internal ways a run stops early (neither escapes :class:`SyncEngine`)."""

from __future__ import annotations

__all__ = ["ListingFailed", "RunStopped"]


class ListingFailed(Exception):
    """A side could not be read; the run stops before planning (journaled)."""


class RunStopped(Exception):
    """The run may not write more: its lease is another run's now, or a durable step
    could not be made durable (a ``flush`` failed, so the step is not committed; the
    next run resolves its intents). ``args[0]``: the journal entry that says why."""
