"""Writing an EWS calendar: batched ``CreateItem``, ``UpdateItem`` and ``DeleteItem``.

:class:`CalendarWriter` sends each kind of write of a batch in one call and gives
every op its own :class:`~severa_ext.backends.base.WriteResult`: creates are made
idempotent per sync key by one ``FindItem`` first (S3), updates write only the fields
whose content differs (through :class:`~severa_ext.sync.content.Content`) with the
ChangeKey and ``NeverOverwrite`` when guarded, deletes compare the ChangeKey first
(``DeleteItem`` ignores it). Writes never send invitations or cancellations, and what
was written is read back so each result carries the stored item.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from typing import TypeVar

from severa_ext.backends.base import CreateOp, DeleteOp, UpdateOp, WriteOp, WriteResult
from severa_ext.backends.ews._mapping import (
    calendar_item_element,
    extended_field_uri,
    update_elements,
)
from severa_ext.backends.ews._reading import CalendarReader, returned_id, single
from severa_ext.backends.ews._transport import EwsTransport
from severa_ext.backends.ews._xml import ResponseMessage, m, sub, t
from severa_ext.errors import (
    BackendError,
    BadItem,
    MalformedResponse,
    NotFound,
    SeveraExtError,
    VersionConflict,
)
from severa_ext.sync.content import Content
from severa_ext.sync.items import CalendarItem

__all__ = ["CalendarWriter"]

logger = logging.getLogger(__name__)

_BACKEND = "ews"
_W = TypeVar("_W", CreateOp, UpdateOp, DeleteOp)


class CalendarWriter:
    """Writes to the calendar folder of the transport's mailbox.

    Args:
        transport: the backend's transport.
        reader: reads items back (and finds them by sync key).
        name: the backend's name, for the log.
    """

    def __init__(self, transport: EwsTransport, reader: CalendarReader, name: str) -> None:
        self._transport = transport
        self._reader = reader
        self._name = name

    @staticmethod
    def guarded(
        group: list[tuple[int, WriteOp]],
        results: dict[int, WriteResult],
        run: Callable[[list[tuple[int, WriteOp]], dict[int, WriteResult]], None],
    ) -> None:
        if not group:
            return
        try:
            run(group, results)
        except SeveraExtError as exc:  # the request as a whole failed
            for index, op in group:
                results.setdefault(index, WriteResult(op, error=exc))

    def find_many(self, sync_keys: Sequence[str]) -> dict[str, tuple[CalendarItem, ...]]:
        request = ET.Element(m("FindItem"), Traversal="Shallow")
        shape = sub(request, m("ItemShape"))
        sub(shape, t("BaseShape"), "IdOnly")
        wanted = list(dict.fromkeys(sync_keys))
        restriction = sub(request, m("Restriction"))
        parent = sub(restriction, t("Or")) if len(wanted) > 1 else restriction
        for wanted_key in wanted:
            equal = sub(parent, t("IsEqualTo"))
            extended_field_uri(equal)
            sub(sub(equal, t("FieldURIOrConstant")), t("Constant"), Value=wanted_key)
        self._reader.calendar_folder(sub(request, m("ParentFolderIds")))
        message = single(self._transport.request("FindItem", request), "FindItem")
        if not message.success:
            raise self._transport.fault(message.code, message.message, "FindItem")
        ids = [node.get("Id", "") for node in message.element.iter(t("ItemId")) if node.get("Id")]
        found: dict[str, list[CalendarItem]] = {}
        for parsed in self._reader.get_items(ids).values():
            if parsed is None:
                continue
            key = parsed.item.sync_key
            if key is not None and key in wanted:
                found.setdefault(key, []).append(parsed.item)
        return {key: tuple(items) for key, items in found.items()}

    def create_batch(
        self, group: list[tuple[int, WriteOp]], results: dict[int, WriteResult]
    ) -> None:
        ops = [(index, op) for index, op in group if isinstance(op, CreateOp)]
        existing = self.find_many([op.sync_key for _, op in ops])
        request = ET.Element(m("CreateItem"), SendMeetingInvitations="SendToNone")
        self._reader.calendar_folder(sub(request, m("SavedItemFolderId")))
        items = sub(request, m("Items"))
        pending: list[tuple[int, CreateOp]] = []
        for index, op in ops:
            if op.sync_key in existing:
                logger.info("EWS create skipped: %s already holds the sync key", self._name)
                results[index] = WriteResult(op, existing[op.sync_key][0])
                continue
            try:
                items.append(calendar_item_element(op.item, op.sync_key))
            except BadItem as exc:
                results[index] = WriteResult(op, error=exc)
                continue
            pending.append((index, op))
        if not pending:
            return
        messages = self._transport.request("CreateItem", request, write=True)
        made = self._outcomes("CreateItem", pending, messages, results, lambda op: op.item.title)
        self._fetch_into(made, results, "CreateItem")
        logger.info("EWS created %d item(s) in %s", len(made), self._name)

    def update_batch(
        self, group: list[tuple[int, WriteOp]], results: dict[int, WriteResult]
    ) -> None:
        ops = [(index, op) for index, op in group if isinstance(op, UpdateOp)]
        current = self._reader.get_items([op.item_id for _, op in ops])
        modes: dict[bool, list[tuple[int, UpdateOp, list[ET.Element]]]] = {True: [], False: []}
        for index, op in ops:
            found = current.get(op.item_id)
            if found is None:
                error = NotFound(f"EWS item {op.item_id!r} does not exist", backend=_BACKEND)
                results[index] = WriteResult(op, error=error)
                continue
            if op.if_match is not None and found.item.etag != op.if_match:
                results[index] = WriteResult(op, error=self._stale(op.item_id))
                continue
            changed = Content.of(found.item).diff(Content.of(op.item))
            if not changed:
                results[index] = WriteResult(op, found.item)
                continue
            try:
                elements = update_elements(op.item, changed)
            except BadItem as exc:
                results[index] = WriteResult(op, error=exc)
                continue
            modes[op.if_match is not None].append((index, op, elements))
        for guarded, entries in modes.items():
            if not entries:
                continue
            request = ET.Element(
                m("UpdateItem"),
                ConflictResolution="NeverOverwrite" if guarded else "AlwaysOverwrite",
                SendMeetingInvitationsOrCancellations="SendToNone",
            )
            changes = sub(request, m("ItemChanges"))
            for _, op, elements in entries:
                change = sub(changes, t("ItemChange"))
                ids = {"Id": op.item_id} | ({"ChangeKey": op.if_match} if op.if_match else {})
                sub(change, t("ItemId"), **ids)
                sub(change, t("Updates")).extend(elements)
            pending = [(index, op) for index, op, _ in entries]
            messages = self._transport.request("UpdateItem", request, write=True)
            made = self._outcomes("UpdateItem", pending, messages, results, lambda op: op.item_id)
            self._fetch_into(made, results, "UpdateItem")
            logger.info("EWS updated %d item(s) in %s", len(made), self._name)

    def delete_batch(
        self, group: list[tuple[int, WriteOp]], results: dict[int, WriteResult]
    ) -> None:
        ops = [(index, op) for index, op in group if isinstance(op, DeleteOp)]
        checked = [op.item_id for _, op in ops if op.if_match is not None]
        current = self._reader.get_items(checked) if checked else {}
        request = ET.Element(
            m("DeleteItem"),
            DeleteType="MoveToDeletedItems",
            SendMeetingCancellations="SendToNone",
            AffectedTaskOccurrences="AllOccurrences",
        )
        ids = sub(request, m("ItemIds"))
        pending: list[tuple[int, DeleteOp]] = []
        for index, op in ops:
            if op.if_match is not None:
                found = current.get(op.item_id)
                if found is None:
                    error = NotFound(f"EWS item {op.item_id!r} does not exist", backend=_BACKEND)
                    results[index] = WriteResult(op, error=error)
                    continue
                if found.item.etag != op.if_match:
                    results[index] = WriteResult(op, error=self._stale(op.item_id))
                    continue
            sub(ids, t("ItemId"), Id=op.item_id)
            pending.append((index, op))
        if not pending:
            return
        messages = self._transport.request("DeleteItem", request, write=True)
        done = self._outcomes("DeleteItem", pending, messages, results, lambda op: op.item_id)
        for index, (deleted, _) in done.items():
            results[index] = WriteResult(deleted, None)
        logger.info("EWS deleted %d item(s) in %s", len(done), self._name)

    def _outcomes(
        self,
        operation: str,
        pending: Sequence[tuple[int, _W]],
        messages: list[ResponseMessage],
        results: dict[int, WriteResult],
        ref: Callable[[_W], str],
    ) -> dict[int, tuple[WriteOp, str]]:
        """Match one response message per pending op; failures go to ``results``.

        Returns ``{index: (op, item id)}`` for the ops that succeeded (the id is empty
        for a delete).
        """
        if len(messages) != len(pending):
            raise MalformedResponse(
                f"EWS {operation}: sent {len(pending)} items, got {len(messages)} answers",
                backend=_BACKEND,
            )
        done: dict[int, tuple[WriteOp, str]] = {}
        for (index, op), message in zip(pending, messages, strict=True):
            if not message.success:
                error = self._transport.item_error(message, operation, ref(op))
                results[index] = WriteResult(op, error=error)
                continue
            item_id = "" if operation == "DeleteItem" else returned_id(message, operation)
            done[index] = (op, item_id)
        return done

    def _fetch_into(
        self, made: dict[int, tuple[WriteOp, str]], results: dict[int, WriteResult], operation: str
    ) -> None:
        """Read back what was written, so each result carries the stored item."""
        fetched = self._reader.get_items([item_id for _, item_id in made.values()])
        for index, (op, item_id) in made.items():
            found = fetched.get(item_id)
            if found is None:
                error = BackendError(
                    f"EWS {operation}: the item vanished right after the write", backend=_BACKEND
                )
                results[index] = WriteResult(op, error=error)
            else:
                results[index] = WriteResult(op, found.item)

    def _stale(self, item_id: str) -> VersionConflict:
        return VersionConflict(
            f"EWS item {item_id!r} changed since it was read (ChangeKey differs)",
            backend=_BACKEND,
            code="ErrorIrresolvableConflict",
        )
