"""A side driver over ``FakeEwsServer`` for the sync state machine.

The engine syncs a real :class:`~severa_ext.backends.ews.EwsBackend` over HTTP; the
"user" edits the fake's calendar directly. Faults the machine asks for are produced on
the wire where EWS has them: throttling as ``ErrorServerBusy`` with
``BackOffMilliseconds`` (the backend backs off, then gives up with ``Throttled``),
unavailability as ``ErrorMailboxStoreUnavailable``, stale etags as
``ErrorIrresolvableConflict``. Crashes after a write and callbacks before a call come
from :class:`~severa_ext.testing.faults.FaultyBackend`, as in the memory backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from severa_ext.sync.items import CalendarItem
from severa_ext.testing._side_driver import WireSideDriver
from severa_ext.testing.faults import Fault, FaultKind, FaultyBackend

__all__ = ["EwsSideDriver"]

_PRIMARY = {
    "changes": "SyncFolderItems",
    "get": "GetItem",
    "find": "FindItem",
    "create": "CreateItem",
    "update": "UpdateItem",
    "delete": "DeleteItem",
}
_WRITES = frozenset({"create", "update", "delete"})


def _wire(server: Any) -> Callable[[str, Fault], bool]:
    """Make ``server`` answer the coming call of an operation with a transient fault."""

    def wire(operation: str, fault: Fault) -> bool:
        primary = _PRIMARY.get(operation)
        if primary is None:  # a whole batch has no single EWS call: fail it here
            return False
        if fault.kind is FaultKind.THROTTLE:
            wait = max(1, round(fault.retry_after * 1000))
            server.fail_next("ErrorServerBusy", operation=primary, back_off_ms=wait, times=4)
        elif fault.kind is FaultKind.UNAVAILABLE:
            server.fail_next("ErrorMailboxStoreUnavailable", operation=primary)
        elif fault.kind is FaultKind.STALE_ETAG:
            server.fail_next("ErrorIrresolvableConflict", operation=primary)
        else:
            return False
        return True

    return wire


class EwsSideDriver(WireSideDriver):
    """A state-machine side driver: ``EwsBackend`` over HTTP against ``FakeEwsServer``.

    Args:
        server: a started ``FakeEwsServer``.
        mailbox: the mailbox to sync (created if missing).
        close_server: stop the server when the driver closes.
    """

    def __init__(self, server: Any, mailbox: str = "alice@contoso.com", *,
                 close_server: bool = True) -> None:  # fmt: skip
        self.mailbox = mailbox
        if not server.has_mailbox(mailbox):
            server.add_mailbox(mailbox)
        inner = server.backend(mailbox)
        faulty = FaultyBackend(inner, wire=_wire(server), after_wire=server.clear_faults)
        super().__init__(server, faulty, close_server=close_server)

    def user_create(self, item: CalendarItem) -> CalendarItem:
        """Create ``item`` in the mailbox as its user would."""
        created: CalendarItem = self.server.create_item(self.mailbox, item)
        return created

    def user_update(self, item_id: str, **changes: Any) -> CalendarItem:
        """Edit fields of ``item_id`` as its user would."""
        current = self.server.get_item(self.mailbox, item_id)
        updated: CalendarItem = self.server.update_item(
            self.mailbox, item_id, current.evolve(**changes)
        )
        return updated

    def user_delete(self, item_id: str) -> None:
        """Delete ``item_id`` as its user would."""
        self.server.delete_item(self.mailbox, item_id)

    def snapshot(self) -> list[CalendarItem]:
        """Everything in the calendar (series expanded), whatever the window."""
        items: list[CalendarItem] = self.server.calendar_items(self.mailbox)
        return items

    def inject(self, operation: str, fault: Fault, *, times: int = 1) -> bool:
        """Arm ``fault`` for the next ``times`` calls of ``operation``.

        Returns False for a timeout (the fake answers at once) and for a stale etag on
        a read (EWS reports conflicts only on writes).
        """
        if fault.kind is FaultKind.TIMEOUT:
            return False
        if fault.kind is FaultKind.STALE_ETAG and operation not in _WRITES | {"write"}:
            return False
        self._backend.inject(operation, fault, times=times)
        return True
