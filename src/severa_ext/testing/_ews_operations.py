"""The EWS operations ``FakeEwsServer`` serves: one function per SOAP operation.

Each operation takes the target mailbox, the request element and the injected fault
(if any) and returns the operation's response element; :data:`_OPERATIONS` maps the
operation name (``GetFolder``, ``SyncFolderItems``, ``GetItem``, ``FindItem``,
``CreateItem``, ``UpdateItem``, ``DeleteItem``, ``ResolveNames``) to it. Request-level
problems raise :class:`~severa_ext.testing._ews_soap.SoapError`; item-level ones become
``Error`` response messages.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from typing import Any

from severa_ext.testing._ews_soap import (
    Fault,
    SoapError,
    _check_times,
    _content_changes,
    _ext_key,
    _item_element,
    _ItemError,
    _m,
    _message,
    _parse_time,
    _Shape,
    _sub,
    _t,
)
from severa_ext.testing._ews_store import (
    FakeMailbox,
    StoredItem,
    SyncStateError,
    new_change_key,
)

__all__ = ["OPERATIONS"]

_Operation = Callable[[FakeMailbox, ET.Element, Fault | None], ET.Element]


def _response(operation: str) -> tuple[ET.Element, ET.Element]:
    """An operation's response element and its ``ResponseMessages`` container."""
    response = ET.Element(_m(f"{operation}Response"))
    return response, _sub(response, _m("ResponseMessages"))


def _require(request: ET.Element, attribute: str) -> None:
    """Refuse a calendar write without ``attribute`` (EWS requires it for meetings)."""
    if request.get(attribute) is None:
        raise SoapError(f"Error{attribute}Required", f"{attribute} is required for calendar items")


def _check_folder(mailbox: FakeMailbox, container: ET.Element | None) -> None:
    folder = container.find(_t("DistinguishedFolderId")) if container is not None else None
    if folder is None or folder.get("Id") != "calendar":
        raise SoapError("ErrorInvalidRequest", "only the distinguished calendar folder is served")


def _get_folder(mailbox: FakeMailbox, request: ET.Element, _fault: Fault | None) -> ET.Element:
    response, messages = _response("GetFolder")
    ids = request.find(_m("FolderIds"))
    for folder in ids if ids is not None else ():
        name = folder.get("Id")
        if name not in {"calendar", "deleteditems"}:
            _message(messages, "GetFolder", _ItemError("ErrorFolderNotFound", f"no {name}"))
            continue
        message = _message(messages, "GetFolder")
        tag = "CalendarFolder" if name == "calendar" else "Folder"
        node = _sub(_sub(message, _m("Folders")), _t(tag))
        folder_id = mailbox.calendar_folder_id if name == "calendar" else mailbox.deleted_folder_id
        _sub(node, _t("FolderId"), Id=folder_id, ChangeKey="AgAAAA==")
        _sub(node, _t("DisplayName"), "Calendar" if name == "calendar" else "Deleted Items")
    return response


def _sync_folder_items(
    mailbox: FakeMailbox, request: ET.Element, fault: Fault | None
) -> ET.Element:
    _check_folder(mailbox, request.find(_m("SyncFolderId")))
    response, messages = _response("SyncFolderItems")
    raw_max = request.findtext(_m("MaxChangesReturned")) or ""
    if not raw_max.strip().isdigit() or not 1 <= int(raw_max) <= 512:
        raise SoapError("ErrorSchemaValidation", f"MaxChangesReturned {raw_max!r} not in 1..512")
    token = request.findtext(_m("SyncState"))
    try:
        if fault is not None:
            raise SyncStateError("injected")
        seq, seen = mailbox.parse_sync_state(token)
    except SyncStateError:
        _message(
            messages,
            "SyncFolderItems",
            _ItemError("ErrorInvalidSyncStateData", "Synchronization state data is corrupt."),
        )
        return response
    entries = mailbox.changes_since(seq, seen)
    page = entries[: int(raw_max)]
    done = len(page) == len(entries)
    new_seq = mailbox.seq if done else page[-1][1]
    reported = {item.id for kind, _, item in page if kind != "Delete"}
    gone = {item.id for kind, _, item in page if kind == "Delete"}
    message = _message(messages, "SyncFolderItems")
    _sub(message, _m("SyncState"), mailbox.issue_sync_state(new_seq, (seen | reported) - gone))
    _sub(message, _m("IncludesLastItemInRange"), "true" if done else "false")
    changes = _sub(message, _m("Changes"))
    for kind, _seq, item in page:
        change = _sub(changes, _t(kind))
        if kind == "Delete":
            _sub(change, _t("ItemId"), Id=item.id, ChangeKey=item.change_key)
        else:
            _item_element(change, item, _Shape(None), mailbox)
    return response


def _get_item(mailbox: FakeMailbox, request: ET.Element, _fault: Fault | None) -> ET.Element:
    shape = _Shape(request.find(_m("ItemShape")))
    response, messages = _response("GetItem")
    ids = request.find(_m("ItemIds"))
    for node in ids if ids is not None else ():
        item = mailbox.lookup(node.get("Id", ""))
        if item is None:
            error = _ItemError(
                "ErrorItemNotFound", "The specified object was not found in the store."
            )
            _message(messages, "GetItem", error)
            continue
        message = _message(messages, "GetItem")
        _item_element(_sub(message, _m("Items")), item, shape, mailbox)
    return response


def _overlaps(item: StoredItem, start: datetime, end: datetime) -> bool:
    if item.start == item.end:
        return start <= item.start < end
    return item.start < end and item.end > start


def _find_item(mailbox: FakeMailbox, request: ET.Element, _fault: Fault | None) -> ET.Element:
    _check_folder(mailbox, request.find(_m("ParentFolderIds")))
    shape = _Shape(request.find(_m("ItemShape")))
    view = request.find(_m("CalendarView"))
    found: list[StoredItem]
    last = True
    if view is not None:
        start = _parse_time(view.get("StartDate", ""), None)
        end = _parse_time(view.get("EndDate", ""), None)
        found = sorted(
            (item for item in mailbox.expanded() if _overlaps(item, start, end)),
            key=lambda item: (item.start, item.id),
        )
        limit = int(view.get("MaxEntriesReturned") or 0)
        if limit and len(found) > limit:
            found, last = found[:limit], False
    else:
        found = list(mailbox.calendar())
    restriction = request.find(_m("Restriction"))
    if restriction is not None:
        top = restriction[0] if len(restriction) else None
        terms = list(top) if top is not None and top.tag == _t("Or") else [top]
        wanted: set[tuple[tuple[str, str], str]] = set()
        for equal in terms:
            uri = equal.find(_t("ExtendedFieldURI")) if equal is not None else None
            constant = (
                equal.find(f"{_t('FieldURIOrConstant')}/{_t('Constant')}")
                if equal is not None and equal.tag == _t("IsEqualTo")
                else None
            )
            if uri is None or constant is None:
                raise SoapError(
                    "ErrorInvalidRestriction",
                    "only IsEqualTo on an extended property, alone or under Or",
                )
            wanted.add((_ext_key(uri), constant.get("Value", "")))
        found = [
            item for item in found if any(item.extended.get(key) == value for key, value in wanted)
        ]
    response = ET.Element(_m("FindItemResponse"))
    message = _message(_sub(response, _m("ResponseMessages")), "FindItem")
    root = _sub(
        message,
        _m("RootFolder"),
        TotalItemsInView=str(len(found)),
        IncludesLastItemInRange="true" if last else "false",
    )
    items = _sub(root, _t("Items"))
    for item in found:
        _item_element(items, item, shape, mailbox)
    return response


def _create_item(mailbox: FakeMailbox, request: ET.Element, _fault: Fault | None) -> ET.Element:
    if request.get("SendMeetingInvitations") not in {
        "SendToNone",
        "SendOnlyToAll",
        "SendToAllAndSaveCopy",
    }:
        raise SoapError(
            "ErrorSendMeetingInvitationsRequired",
            "SendMeetingInvitations is required for calendar items",
        )
    _check_folder(mailbox, request.find(_m("SavedItemFolderId")))
    response, messages = _response("CreateItem")
    items = request.find(_m("Items"))
    for node in items if items is not None else ():
        try:
            changes = _content_changes(node)
            if "start" not in changes or "end" not in changes:
                raise _ItemError("ErrorMissingInformation", "Start and End are required")
            _check_times(changes["start"], changes["end"])
        except _ItemError as error:
            _message(messages, "CreateItem", error)
            continue
        stored = StoredItem(
            id="AAMkAD" + new_change_key()[8:] + new_change_key()[8:],
            subject=changes.pop("subject", ""),
            start=changes.pop("start"),
            end=changes.pop("end"),
        )
        for name, value in changes.items():
            setattr(stored, name, value)
        mailbox.add(stored)
        message = _message(messages, "CreateItem")
        item = _sub(_sub(message, _m("Items")), _t("CalendarItem"))
        _sub(item, _t("ItemId"), Id=stored.id, ChangeKey=stored.change_key)
    return response


_DELETABLE = {"item:Categories": ("categories", list), "calendar:Location": ("location", str),
              "item:Body": ("body", str)}  # fmt: skip


def _update_item(mailbox: FakeMailbox, request: ET.Element, _fault: Fault | None) -> ET.Element:
    resolution = request.get("ConflictResolution", "AutoResolve")
    _require(request, "SendMeetingInvitationsOrCancellations")
    response, messages = _response("UpdateItem")
    changes_node = request.find(_m("ItemChanges"))
    for change in changes_node if changes_node is not None else ():
        try:
            item_id = change.find(_t("ItemId"))
            target = mailbox.lookup(item_id.get("Id", "")) if item_id is not None else None
            if target is None or target.folder != "calendar":
                raise _ItemError("ErrorItemNotFound", "The specified object was not found.")
            change_key = item_id.get("ChangeKey") if item_id is not None else None
            if resolution != "AlwaysOverwrite":
                if not change_key:
                    raise _ItemError(
                        "ErrorChangeKeyRequiredForWriteOperations",
                        "a ChangeKey is required unless ConflictResolution is AlwaysOverwrite",
                    )
                if change_key != target.change_key:
                    raise _ItemError(
                        "ErrorIrresolvableConflict",
                        "The send or update operation could not be performed because the "
                        "change key passed in the request does not match the current change "
                        "key for the item.",
                    )
            values: dict[str, Any] = {}
            updates = change.find(_t("Updates"))
            for update in updates if updates is not None else ():
                uri_node = update.find(_t("FieldURI"))
                uri = uri_node.get("FieldURI", "") if uri_node is not None else ""
                if update.tag == _t("DeleteItemField"):
                    if uri not in _DELETABLE:
                        raise _ItemError("ErrorInvalidPropertyDelete", f"cannot delete {uri}")
                    name, factory = _DELETABLE[uri]
                    values[name] = factory()
                    continue
                container = update.find(_t("CalendarItem"))
                if container is None:
                    raise _ItemError("ErrorInvalidPropertySet", "SetItemField without item")
                values.update(_content_changes(container))
            extended = values.pop("extended", None)
            _check_times(values.get("start", target.start), values.get("end", target.end))
            if extended:
                values["extended"] = {**target.extended, **extended}
            updated = mailbox.modify(target, values)
        except _ItemError as error:
            _message(messages, "UpdateItem", error)
            continue
        message = _message(messages, "UpdateItem")
        item = _sub(_sub(message, _m("Items")), _t("CalendarItem"))
        _sub(item, _t("ItemId"), Id=updated.id, ChangeKey=updated.change_key)
        _sub(message, _m("ConflictResults")).append(_count_zero())
    return response


def _count_zero() -> ET.Element:
    node = ET.Element(_t("Count"))
    node.text = "0"
    return node


def _delete_item(mailbox: FakeMailbox, request: ET.Element, _fault: Fault | None) -> ET.Element:
    _require(request, "SendMeetingCancellations")
    response, messages = _response("DeleteItem")
    ids = request.find(_m("ItemIds"))
    for node in ids if ids is not None else ():
        target = mailbox.lookup(node.get("Id", ""))
        if target is None or target.folder != "calendar":
            error = _ItemError("ErrorItemNotFound", "The specified object was not found.")
            _message(messages, "DeleteItem", error)
            continue
        mailbox.remove(target)
        _message(messages, "DeleteItem")
    return response


def _resolve_names(mailbox: FakeMailbox, request: ET.Element, _fault: Fault | None) -> ET.Element:
    # The handler already resolved the impersonated address to ``mailbox``; the entry
    # must name the same mailbox (an address or alias, with or without "smtp:").
    entry = (request.findtext(_m("UnresolvedEntry")) or "").strip()
    if entry.lower().startswith("smtp:"):
        entry = entry[5:]
    names = {mailbox.address.lower(), *(alias.lower() for alias in mailbox.aliases)}
    response, messages = _response("ResolveNames")
    if entry.lower() not in names:
        error = _ItemError("ErrorNameResolutionNoResults", "No results were found.")
        _message(messages, "ResolveNames", error)
        return response
    message = _message(messages, "ResolveNames")
    result = _sub(
        message,
        _m("ResolutionSet"),
        TotalItemsInView="1",
        IncludesLastItemInRange="true",
    )
    resolution = _sub(result, _t("Resolution"))
    box = _sub(resolution, _t("Mailbox"))
    _sub(box, _t("Name"), mailbox.address.partition("@")[0])
    _sub(box, _t("EmailAddress"), mailbox.address)
    _sub(box, _t("RoutingType"), "SMTP")
    _sub(box, _t("MailboxType"), "Mailbox")
    contact = _sub(resolution, _t("Contact"))
    addresses = _sub(contact, _t("EmailAddresses"))
    _sub(addresses, _t("Entry"), f"SMTP:{mailbox.address}", Key="EmailAddress1")
    for number, alias in enumerate(mailbox.aliases[:2], start=2):
        _sub(addresses, _t("Entry"), f"smtp:{alias}", Key=f"EmailAddress{number}")
    return response


_OPERATIONS: dict[str, _Operation] = {
    "CreateItem": _create_item,
    "DeleteItem": _delete_item,
    "FindItem": _find_item,
    "GetFolder": _get_folder,
    "GetItem": _get_item,
    "ResolveNames": _resolve_names,
    "SyncFolderItems": _sync_folder_items,
    "UpdateItem": _update_item,
}

OPERATIONS = _OPERATIONS
"""The operations served, by name."""
