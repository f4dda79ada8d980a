"""Reading an EWS calendar: ``SyncFolderItems`` deltas, ``CalendarView`` windows, ``GetItem``.

:class:`CalendarReader` pages through ``SyncFolderItems`` from a stored ``SyncState``
(a state that keeps changing without bringing changes ends the round with
:class:`~severa_ext.errors.MalformedResponse`), expands recurring series inside a
window with ``FindItem`` and a ``CalendarView``, and reads details with ``GetItem``
in batches. Every call goes through the backend's
:class:`~severa_ext.backends.ews._transport.EwsTransport`.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import datetime

from severa_ext.backends.ews._errors import ITEM_GONE_CODES
from severa_ext.backends.ews._mapping import (
    ParsedItem,
    extended_field_uri,
    format_utc,
    parse_calendar_item,
)
from severa_ext.backends.ews._transport import EwsTransport
from severa_ext.backends.ews._xml import ResponseMessage, child_text, m, sub, t
from severa_ext.errors import BackendError, MalformedResponse
from severa_ext.sync.items import CalendarItem, Window

__all__ = [
    "CalendarReader",
    "InvalidSyncState",
    "distinguished",
    "returned_id",
    "single",
]

logger = logging.getLogger(__name__)

_BACKEND = "ews"

_GET_BATCH = 100
_MAX_VIEW = 8192  # the most entries one CalendarView page asks for
_FIELDS = (
    "item:Subject",
    "item:Body",
    "item:Sensitivity",
    "item:Categories",
    "item:LastModifiedTime",
    "item:ParentFolderId",
    "calendar:Start",
    "calendar:End",
    "calendar:OriginalStart",
    "calendar:IsAllDayEvent",
    "calendar:LegacyFreeBusyStatus",
    "calendar:Location",
    "calendar:CalendarItemType",
    "calendar:UID",
    "calendar:StartTimeZone",
    "calendar:EndTimeZone",
)
_IDLE_PAGES = 3  # SyncFolderItems pages in a row without changes before a round is a loop


class InvalidSyncState(BackendError):
    """The stored SyncState is no longer valid; the caller resyncs in full."""


def distinguished(parent: ET.Element, mailbox: str) -> None:
    """The calendar of ``mailbox`` as a ``DistinguishedFolderId`` under ``parent``."""
    folder = sub(parent, t("DistinguishedFolderId"), Id="calendar")
    sub(sub(folder, t("Mailbox")), t("EmailAddress"), mailbox)


def returned_id(message: ResponseMessage, operation: str) -> str:
    """The ``ItemId`` a write answered with.

    Raises:
        MalformedResponse: the answer has none.
    """
    node = message.element.find(f"{m('Items')}/*/{t('ItemId')}")
    if node is None or not node.get("Id"):
        raise MalformedResponse(f"EWS {operation}: no ItemId in the answer", backend=_BACKEND)
    return node.get("Id", "")


def single(messages: list[ResponseMessage], operation: str) -> ResponseMessage:
    """The one response message of a single-item call.

    Raises:
        MalformedResponse: there is not exactly one.
    """
    if len(messages) != 1:
        raise MalformedResponse(
            f"EWS {operation}: expected one response message, got {len(messages)}",
            backend=_BACKEND,
        )
    return messages[0]


class CalendarReader:
    """Reads the calendar folder of the transport's mailbox.

    Args:
        transport: the backend's transport.
        page_size: ``MaxChangesReturned`` of ``SyncFolderItems``.
    """

    def __init__(self, transport: EwsTransport, page_size: int) -> None:
        self._transport = transport
        self._page_size = page_size
        self._calendar_id: str | None = None

    def calendar_folder(self, parent: ET.Element) -> None:
        """The mailbox's calendar as a ``DistinguishedFolderId`` under ``parent``."""
        distinguished(parent, self._transport.mailbox)

    def sync(self, state: str | None) -> tuple[str, list[str], list[str]]:
        """``SyncFolderItems`` to the end of the changes: (new state, upserts, deletes).

        Raises:
            MalformedResponse: a page says more changes follow but brings none or does
                not advance the ``SyncState``, a ``SyncState`` repeats within the round,
                more than three pages in a row bring no change,
                or the round has more than ``limits.max_pages`` pages.
        """
        upserts: dict[str, None] = {}
        deletes: dict[str, None] = {}
        states: set[str | None] = {state}
        idle = 0  # pages in a row that brought no change
        for _page in range(self._transport.limits.max_pages):
            request = ET.Element(m("SyncFolderItems"))
            sub(sub(request, m("ItemShape")), t("BaseShape"), "IdOnly")
            folder = sub(request, m("SyncFolderId"))
            self.calendar_folder(folder)
            if state:
                sub(request, m("SyncState"), state)
            sub(request, m("MaxChangesReturned"), str(self._page_size))
            message = single(self._transport.request("SyncFolderItems", request), "SyncFolderItems")
            if not message.success:
                if message.code == "ErrorInvalidSyncStateData":
                    raise InvalidSyncState(message.message, backend=_BACKEND, code=message.code)
                raise self._transport.fault(message.code, message.message, "SyncFolderItems")
            new_state = child_text(message.element, m("SyncState"))
            last = child_text(message.element, m("IncludesLastItemInRange"))
            changes = message.element.find(m("Changes"))
            if new_state is None or last is None:
                raise MalformedResponse(
                    "EWS SyncFolderItems: response lacks SyncState or IncludesLastItemInRange",
                    backend=_BACKEND,
                )
            for change in changes if changes is not None else ():
                node = change.find(f".//{t('ItemId')}")
                item_id = node.get("Id") if node is not None else None
                if not item_id:
                    continue
                if change.tag == t("Delete"):
                    upserts.pop(item_id, None)
                    deletes[item_id] = None
                elif change.tag in {t("Create"), t("Update")}:
                    deletes.pop(item_id, None)
                    upserts[item_id] = None
            done = last.strip() == "true"
            idle = 0 if changes is not None and len(changes) else idle + 1
            if not done and (new_state in states or idle > _IDLE_PAGES):
                raise MalformedResponse(
                    "EWS SyncFolderItems: server reports more changes but did not advance "
                    "the SyncState, or keeps sending pages without changes (a paging loop)",
                    backend=_BACKEND,
                    code="paging-loop",
                )
            states.add(new_state)
            state = new_state
            if done:
                return state, list(upserts), list(deletes)
        raise MalformedResponse(
            f"EWS SyncFolderItems: more than {self._transport.limits.max_pages} pages in one round",
            backend=_BACKEND,
            code="too-many-pages",
        )

    def list_window(self, window: Window) -> list[CalendarItem]:
        ids: dict[str, None] = {}
        start = window.start
        limit = self._page_size
        for _page in range(self._transport.limits.max_pages):
            request = ET.Element(m("FindItem"), Traversal="Shallow")
            shape = sub(request, m("ItemShape"))
            sub(shape, t("BaseShape"), "IdOnly")
            additional = sub(shape, t("AdditionalProperties"))
            sub(additional, t("FieldURI"), FieldURI="calendar:Start")
            sub(
                request,
                m("CalendarView"),
                MaxEntriesReturned=str(limit),
                StartDate=format_utc(start),
                EndDate=format_utc(window.end),
            )
            self.calendar_folder(sub(request, m("ParentFolderIds")))
            message = single(self._transport.request("FindItem", request), "FindItem")
            root = message.element.find(m("RootFolder"))
            if root is None:
                raise MalformedResponse(
                    "EWS FindItem: response has no RootFolder", backend=_BACKEND
                )
            latest = start
            for node in root.iter(t("CalendarItem")):
                item_id = node.find(t("ItemId"))
                if item_id is not None and item_id.get("Id"):
                    ids[item_id.get("Id", "")] = None
                raw = child_text(node, t("Start"))
                if raw:
                    try:
                        latest = max(latest, datetime.fromisoformat(raw))
                    except ValueError as exc:
                        raise MalformedResponse(
                            f"EWS FindItem: Start {raw!r} is not an xs:dateTime",
                            backend=_BACKEND,
                        ) from exc
            if root.get("IncludesLastItemInRange", "true") == "true":
                break
            if latest <= start:
                # A whole page starts at (or spans) the page's start: ask for more at once.
                if limit >= _MAX_VIEW:
                    raise BackendError(
                        f"EWS FindItem: more than {_MAX_VIEW} items start at {start}",
                        backend=_BACKEND,
                    )
                limit = min(limit * 2, _MAX_VIEW)
                continue
            start = latest
        else:
            raise MalformedResponse(
                f"EWS FindItem: more than {self._transport.limits.max_pages} pages in one round",
                backend=_BACKEND,
                code="too-many-pages",
            )
        parsed = self.get_items(list(ids))
        return [
            found.item
            for found in parsed.values()
            if found is not None
            and found.item_type != "RecurringMaster"
            and window.contains(found.item)
        ]

    def get_items(self, item_ids: Iterable[str]) -> dict[str, ParsedItem | None]:
        """GetItem in batches; ``None`` for ids that are gone or left the calendar."""
        wanted = list(dict.fromkeys(item_ids))
        found: dict[str, ParsedItem | None] = {}
        if not wanted:
            return found
        calendar_id = self.calendar_folder_id()
        for offset in range(0, len(wanted), _GET_BATCH):
            batch = wanted[offset : offset + _GET_BATCH]
            request = ET.Element(m("GetItem"))
            shape = sub(request, m("ItemShape"))
            sub(shape, t("BaseShape"), "IdOnly")
            sub(shape, t("BodyType"), "Text")
            additional = sub(shape, t("AdditionalProperties"))
            for uri in _FIELDS:
                sub(additional, t("FieldURI"), FieldURI=uri)
            extended_field_uri(additional)
            ids = sub(request, m("ItemIds"))
            for item_id in batch:
                sub(ids, t("ItemId"), Id=item_id)
            messages = self._transport.request("GetItem", request)
            if len(messages) != len(batch):
                raise MalformedResponse(
                    f"EWS GetItem: asked for {len(batch)} items, got {len(messages)} answers",
                    backend=_BACKEND,
                )
            for item_id, message in zip(batch, messages, strict=True):
                if not message.success:
                    if message.code in ITEM_GONE_CODES:
                        found[item_id] = None
                        continue
                    raise self._transport.fault(message.code, message.message, "GetItem")
                node = message.element.find(f"{m('Items')}/{t('CalendarItem')}")
                if node is None:  # not a calendar item (a stray message): not ours
                    found[item_id] = None
                    continue
                folder = node.find(t("ParentFolderId"))
                if folder is not None and folder.get("Id") not in {None, calendar_id}:
                    found[item_id] = None  # moved to Deleted Items or elsewhere
                    continue
                found[item_id] = parse_calendar_item(node)
        return found

    def calendar_folder_id(self) -> str:
        if self._calendar_id is None:
            request = ET.Element(m("GetFolder"))
            sub(sub(request, m("FolderShape")), t("BaseShape"), "IdOnly")
            self.calendar_folder(sub(request, m("FolderIds")))
            message = single(self._transport.request("GetFolder", request), "GetFolder")
            if not message.success:
                raise self._transport.fault(message.code, message.message, "GetFolder")
            node = message.element.find(f".//{t('FolderId')}")
            if node is None or not node.get("Id"):
                raise MalformedResponse("EWS GetFolder: no FolderId", backend=_BACKEND)
            self._calendar_id = node.get("Id")
        return self._calendar_id or ""
