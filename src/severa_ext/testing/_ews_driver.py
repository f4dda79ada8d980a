"""A side driver over ``FakeEwsServer`` for the sync state machine.

The engine syncs a real :class:`~severa_ext.backends.ews.EwsBackend` over HTTP; the
"user" edits the fake's calendar directly. Faults the machine asks for are produced on
the wire where EWS has them: throttling as ``ErrorServerBusy`` with
``BackOffMilliseconds`` (the backend backs off, then gives up with ``Throttled``),
unavailability as ``ErrorMailboxStoreUnavailable``, stale etags as
``ErrorIrresolvableConflict``. Crashes after a write and callbacks before a call wrap
the protocol methods, exactly like the memory backend does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from severa_ext.backends.base import Backend, WriteOp, WriteResult, apply_one_by_one
from severa_ext.backends.ews import EwsBackend
from severa_ext.backends.memory import Fault, FaultKind, InjectedCrash
from severa_ext.sync.items import CalendarItem, Capabilities, ChangeSet, Window

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


class _Armed:
    __slots__ = ("fault", "times")

    def __init__(self, fault: Fault, times: int) -> None:
        self.fault = fault
        self.times = times


class _FaultingBackend:
    """``EwsBackend`` with per-method fault activation (the machine's operations)."""

    def __init__(self, inner: EwsBackend, server: Any) -> None:
        self.inner = inner
        self.server = server
        self.faults: dict[str, list[_Armed]] = {}
        self.writes = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    def _take(self, operation: str) -> Fault | None:
        armed = self.faults.get(operation)
        if not armed:
            return None
        first = armed[0]
        first.times -= 1
        if first.times == 0:
            armed.pop(0)
        return first.fault

    def _call(self, operation: str, run: Callable[[], Any]) -> Any:
        crash = False
        names = (operation, "write") if operation in _WRITES else (operation,)
        for name in names:
            fault = self._take(name)
            if fault is None:
                continue
            if fault.kind is FaultKind.CALL:
                if fault.callback is not None:
                    fault.callback()
            elif fault.kind is FaultKind.CRASH_AFTER_WRITE:
                crash = True
            elif fault.kind is FaultKind.THROTTLE:
                wait = max(1, round(fault.retry_after * 1000))
                self.server.fail_next(
                    "ErrorServerBusy", operation=_PRIMARY[operation], back_off_ms=wait, times=4
                )
            elif fault.kind is FaultKind.UNAVAILABLE:
                self.server.fail_next("ErrorMailboxStoreUnavailable", operation=_PRIMARY[operation])
            elif fault.kind is FaultKind.STALE_ETAG:
                self.server.fail_next("ErrorIrresolvableConflict", operation=_PRIMARY[operation])
        try:
            result = run()
        finally:
            self.server.clear_faults()
        if operation in _WRITES:
            self.writes += 1
        if crash:
            raise InjectedCrash(f"{self.name}: process died after {operation} (injected)")
        return result

    def changes(self, cursor: str | None, window: Window) -> ChangeSet:
        result: ChangeSet = self._call("changes", lambda: self.inner.changes(cursor, window))
        return result

    def get(self, item_id: str) -> CalendarItem | None:
        result: CalendarItem | None = self._call("get", lambda: self.inner.get(item_id))
        return result

    def find(self, sync_key: str) -> tuple[CalendarItem, ...]:
        result: tuple[CalendarItem, ...] = self._call("find", lambda: self.inner.find(sync_key))
        return result

    def create(self, item: CalendarItem, sync_key: str) -> CalendarItem:
        result: CalendarItem = self._call("create", lambda: self.inner.create(item, sync_key))
        return result

    def update(self, item_id: str, item: CalendarItem, if_match: str | None) -> CalendarItem:
        result: CalendarItem = self._call(
            "update", lambda: self.inner.update(item_id, item, if_match)
        )
        return result

    def delete(self, item_id: str, if_match: str | None) -> None:
        self._call("delete", lambda: self.inner.delete(item_id, if_match))

    def apply_batch(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        fault = self._take("apply_batch")
        if fault is not None:
            self.faults.setdefault("write", []).insert(0, _Armed(fault, 1))
        if any(self.faults.get(name) for name in ("write", *_WRITES)):
            # Per-op faults need per-op calls, exactly as the memory backend has them.
            return apply_one_by_one(self, ops)
        results = self.inner.apply_batch(ops)  # the real batched EWS calls
        self.writes += sum(1 for result in results if result.ok)
        return results

    def close(self) -> None:
        self.inner.close()


class EwsSideDriver:
    """A state-machine side driver: ``EwsBackend`` over HTTP against ``FakeEwsServer``.

    Args:
        server: a started ``FakeEwsServer``.
        mailbox: the mailbox to sync (created if missing).
        close_server: stop the server when the driver closes.
    """

    def __init__(self, server: Any, mailbox: str = "alice@contoso.com", *,
                 close_server: bool = True) -> None:  # fmt: skip
        self.server = server
        self.mailbox = mailbox
        self._close_server = close_server
        if not server.has_mailbox(mailbox):
            server.add_mailbox(mailbox)
        inner = EwsBackend(
            server.url, mailbox, auth=server.auth(), max_wait=5.0, sleep=lambda _: None
        )
        self._backend = _FaultingBackend(inner, server)

    @property
    def backend(self) -> Backend:
        """The backend the engine syncs (the EWS backend with fault activation)."""
        return self._backend

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
        self._backend.faults.setdefault(operation, []).append(_Armed(fault, times))
        return True

    def clear_faults(self) -> None:
        """Disarm every fault (here and on the server)."""
        self._backend.faults.clear()
        self.server.clear_faults()

    def write_count(self) -> int:
        """Writes the engine made through the backend."""
        return self._backend.writes

    def close(self) -> None:
        """Close the backend (and the server, if the driver owns it)."""
        self._backend.close()
        if self._close_server:
            self.server.stop()
