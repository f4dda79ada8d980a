"""Graph over HTTP as one side of the sync state machine (``severa_ext.testing.machine``).

:class:`GraphSideDriver` syncs a real ``GraphBackend`` against a private
:class:`~severa_ext.testing.graph_server.FakeGraphServer`; the "user" edits the fake's
mailbox directly. Transient faults travel over HTTP (the server's switches); a
callback before a call and a crash after it go through
:class:`~severa_ext.testing.faults.FaultyBackend`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from severa_ext.clock import Clock
from severa_ext.errors import NotFound
from severa_ext.sync.items import CalendarItem
from severa_ext.testing._side_driver import WireSideDriver
from severa_ext.testing.faults import Fault, FaultKind, FaultyBackend

if TYPE_CHECKING:
    from severa_ext.testing.graph_server import FakeGraphServer

__all__ = ["GraphSideDriver", "graph_driver"]

_KINDS = {
    "changes": ("GET delta",),
    "get": ("GET event",),
    "find": ("GET events",),
    "create": ("POST events",),
    "update": ("PATCH event",),
    "delete": ("DELETE event",),
    "write": ("POST events", "PATCH event", "DELETE event"),
    "apply_batch": ("POST $batch",),
}


class GraphSideDriver(WireSideDriver):
    """A side driver for ``severa_ext.testing.machine``: Graph over HTTP on one side.

    The engine syncs a real ``GraphBackend`` talking to a private ``FakeGraphServer``;
    the "user" edits the fake's mailbox directly. Throttling, 5xx, timeouts (dropped
    connections) and stale etags are injected as HTTP answers, also inside batches.

    Args:
        clock: the machine's clock (stamps ``lastModifiedDateTime``).
        mailbox: the mailbox address.
        batch_size: writes per ``$batch``.
    """

    def __init__(
        self, clock: Clock, *, mailbox: str = "alice@contoso.com", batch_size: int = 20
    ) -> None:
        from severa_ext.testing.graph_server import FakeGraphServer

        server = FakeGraphServer(clock=clock).start()
        server.add_mailbox(mailbox)
        self.server: FakeGraphServer = server
        self.mailbox = mailbox
        inner = server.backend(mailbox, batch_size=batch_size, page_size=7, timeout=10)
        super().__init__(server, FaultyBackend(inner))

    def _item(self, event_id: str) -> CalendarItem:
        for item in self.server.events(self.mailbox):
            if item.id == event_id:
                return item
        raise NotFound(f"fake graph: no event {event_id!r}")

    def user_create(self, item: CalendarItem) -> CalendarItem:
        """Create ``item`` in the mailbox as the user."""
        return self._item(self.server.user_create(self.mailbox, item))

    def user_update(self, item_id: str, **changes: Any) -> CalendarItem:
        """Edit fields of an event as the user."""
        self.server.user_update(self.mailbox, item_id, self._item(item_id).evolve(**changes))
        return self._item(item_id)

    def user_delete(self, item_id: str) -> None:
        """Delete an event as the user."""
        self.server.user_delete(self.mailbox, item_id)

    def snapshot(self) -> list[CalendarItem]:
        """Every event in the mailbox."""
        return self.server.events(self.mailbox)

    def inject(self, operation: str, fault: Fault, *, times: int = 1) -> bool:
        """Arm ``fault`` for the next ``times`` calls of ``operation``."""
        kinds = _KINDS.get(operation)
        if kinds is None:
            return False
        kind = fault.kind
        if kind in {FaultKind.CALL, FaultKind.CRASH_AFTER_WRITE}:
            self._backend.inject(operation, fault, times=times)
        elif kind is FaultKind.THROTTLE:
            self.server.throttle(times, retry_after=fault.retry_after, kinds=kinds)
        elif kind is FaultKind.UNAVAILABLE:
            self.server.fail(times, status=500, kinds=kinds)
        elif kind is FaultKind.TIMEOUT:
            if operation in {"create", "update", "delete", "write"}:
                self.server.fail(times, status=504, kinds=kinds)  # a gateway timeout inside
            else:
                self.server.drop_connections(times, kinds=kinds)
        else:  # a stale etag: only writes that send If-Match can meet one
            if operation not in {"update", "delete", "write"}:
                return False
            self.server.fail(times, status=412, kinds=kinds, code="ErrorIrresolvableConflict")
        return True


def graph_driver(**options: Any) -> Callable[[Clock], GraphSideDriver]:
    """A driver factory for ``severa_ext.testing.machine.make_sync_machine``.

    Keyword options go to :class:`GraphSideDriver`.
    """

    def make(clock: Clock) -> GraphSideDriver:
        return GraphSideDriver(clock, **options)

    return make
