"""What the HTTP side drivers of the sync state machine share.

A side driver (Graph, EWS, Severa) lets the engine sync a real backend against a
fake server, inside a :class:`~severa_ext.testing.faults.FaultyBackend` for the
faults that are process events (a callback before a call, a crash after a write);
the transient faults go over the wire through the server's own switches. The user's
edits, the snapshot and the mapping of faults to switches are each driver's.
"""

from __future__ import annotations

from typing import Any

from severa_ext.testing.faults import FaultyBackend

__all__ = ["WireSideDriver"]


class WireSideDriver:
    """The common half of a side driver over a fake server.

    Args:
        server: the fake server (with ``clear_faults`` and ``stop``).
        backend: the real backend talking to it, wrapped for fault injection.
        close_server: stop the server when the driver closes.
    """

    def __init__(self, server: Any, backend: FaultyBackend, *, close_server: bool = True) -> None:
        self.server = server
        self._backend = backend
        self._close_server = close_server

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.server!r})"

    @property
    def backend(self) -> FaultyBackend:
        """The backend the engine syncs (the real backend with fault hooks)."""
        return self._backend

    def clear_faults(self) -> None:
        """Disarm every fault, on the server and around the backend."""
        self.server.clear_faults()
        self._backend.clear_faults()

    def write_count(self) -> int:
        """Successful writes the engine made through the backend."""
        return self._backend.write_count

    def _release(self) -> None:
        """Release what the driver holds besides the backend and the server."""

    def close(self) -> None:
        """Close the backend (and stop the server, if the driver owns it)."""
        self._backend.close()
        self._release()
        if self._close_server:
            self.server.stop()
