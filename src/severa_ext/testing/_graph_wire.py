"""Graph ``event`` JSON for the fake server, written from Graph's documented format.

The fake must not borrow the backend's mapping (``severa_ext.backends._graph_mapping``,
``_graph_html``): a bug made twice, symmetrically, would cancel out. This module reads
and writes the wire format on its own, from the Microsoft Graph v1.0 ``event`` resource
documentation:

- ``dateTimeTimeZone``: ``{"dateTime": "2026-05-04T09:00:00.0000000", "timeZone": ...}``,
  a wall-clock time with up to seven fractional digits and a Windows or IANA zone
  name (Windows names through the CLDR table of ``tzlocal``);
- ``itemBody``: ``{"contentType": "text" | "html", "content": ...}``;
- ``sensitivity`` (``normal``, ``personal``, ``private``, ``confidential``), ``showAs``
  (``free``, ``tentative``, ``busy``, ``oof``, ``workingElsewhere``, ``unknown``),
  ``isAllDay`` (midnight to midnight), ``categories``, ``location.displayName``,
  ``seriesMasterId`` / ``originalStart`` and ``singleValueExtendedProperties``.

:func:`event_json` is what a user's Outlook would store, :func:`event_item` what the
fake's snapshot reads back, :func:`instant` the UTC instant of a ``dateTimeTimeZone``,
and :func:`html_text` / :func:`text_html` the HTML a body travels as.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import tz_win, win_tz

from severa_ext.sync.items import CalendarItem, ShowAs

__all__ = [
    "event_item",
    "event_json",
    "html_text",
    "instant",
    "text_html",
    "wall_time",
    "zone_of",
]

_SHOW_AS = {
    "free": ShowAs.FREE,
    "tentative": ShowAs.TENTATIVE,
    "busy": ShowAs.BUSY,
    "oof": ShowAs.OOF,
    "workingElsewhere": ShowAs.WORKING_ELSEWHERE,
    "unknown": ShowAs.UNKNOWN,
}
_NOT_NORMAL = frozenset({"personal", "private", "confidential"})
_WALL = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,7}))?(Z|[+-]\d\d:\d\d)?")
_LINE_TAGS = frozenset({"div", "p", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre"})


def zone_of(name: str) -> tzinfo | None:
    """The zone a ``timeZone`` names (UTC, a Windows or an IANA name), or ``None``."""
    if name in {"", "UTC", "Etc/UTC", "tzone://Microsoft/Utc"}:
        return UTC
    try:
        return ZoneInfo(win_tz.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def wall_time(value: Mapping[str, Any]) -> datetime:
    """The aware datetime of a ``dateTimeTimeZone`` (in its own zone).

    Raises:
        ValueError: the ``dateTime`` text is not ISO 8601.
    """
    match = _WALL.fullmatch(str(value.get("dateTime", "")).strip())
    if match is None:
        raise ValueError(f"not a Graph dateTime: {value.get('dateTime')!r}")
    seconds, fraction, offset = match.groups()
    naive = datetime.strptime(seconds, "%Y-%m-%dT%H:%M:%S")
    if fraction:
        naive += timedelta(microseconds=int(fraction.ljust(7, "0")[:6]))
    if offset:
        return (
            naive.replace(tzinfo=UTC)
            if offset == "Z"
            else datetime.fromisoformat(f"{naive.isoformat()}{offset}")
        )
    return naive.replace(tzinfo=zone_of(str(value.get("timeZone") or "UTC")) or UTC)


def instant(value: Mapping[str, Any]) -> datetime:
    """The UTC instant of a ``dateTimeTimeZone``."""
    return wall_time(value).astimezone(UTC)


def _time_json(value: datetime) -> dict[str, str]:
    """A wall time in the value's own zone, as Outlook stores it (Windows zone name);
    UTC when the zone has no Windows name or the wall time is ambiguous there."""
    key = getattr(value.tzinfo, "key", None)
    windows = tz_win.get(key) if key else None
    if windows is None or value.replace(fold=0).utcoffset() != value.replace(fold=1).utcoffset():
        value, windows = value.astimezone(UTC), "UTC"
    return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0", "timeZone": windows}


def _day_json(value: date) -> dict[str, str]:
    return {"dateTime": f"{value.isoformat()}T00:00:00.0000000", "timeZone": "UTC"}


def event_json(item: CalendarItem, *, html_body: bool = False) -> dict[str, Any]:
    """The event a user's calendar client would store for ``item``."""
    if isinstance(item.start, datetime) and isinstance(item.end, datetime):
        start, end = _time_json(item.start), _time_json(item.end)
    else:
        start, end = _day_json(item.start), _day_json(item.end)
    content_type = "html" if html_body else "text"
    return {
        "subject": item.title,
        "body": {
            "contentType": content_type,
            "content": text_html(item.body) if html_body else item.body,
        },
        "start": start,
        "end": end,
        "isAllDay": item.all_day,
        "location": {"displayName": item.location},
        "sensitivity": "private" if item.private else "normal",
        "showAs": item.show_as.value,
        "categories": list(item.categories),
    }


def _sync_key(raw: Mapping[str, Any]) -> str | None:
    for prop in raw.get("singleValueExtendedProperties") or ():
        if "SeveraExtSyncKey" in str(prop.get("id", "")) and prop.get("value"):
            return str(prop["value"])
    return raw.get("transactionId") or None


def _body_text(raw: Mapping[str, Any]) -> str:
    body = raw.get("body") or {}
    content = str(body.get("content") or "")
    return html_text(content) if str(body.get("contentType", "")).lower() == "html" else content


def event_item(raw: Mapping[str, Any]) -> CalendarItem:
    """The neutral item a stored event holds.

    Raises:
        ValueError: the event has no readable start or end.
    """
    start: datetime | date = instant(raw["start"])
    end: datetime | date = instant(raw["end"])
    if raw.get("isAllDay"):
        start, end = wall_time(raw["start"]).date(), wall_time(raw["end"]).date()
    original = raw.get("originalStart")
    modified = raw.get("lastModifiedDateTime")
    return CalendarItem(
        title=str(raw.get("subject") or ""),
        start=start,
        end=end,
        location=str((raw.get("location") or {}).get("displayName") or ""),
        body=_body_text(raw),
        private=str(raw.get("sensitivity") or "normal").lower() in _NOT_NORMAL,
        show_as=_SHOW_AS.get(str(raw.get("showAs") or "busy"), ShowAs.UNKNOWN),
        categories=tuple(raw.get("categories") or ()),
        last_modified=instant({"dateTime": modified}) if modified else None,
        id=raw.get("id"),
        etag=raw.get("@odata.etag") or raw.get("changeKey"),
        sync_key=_sync_key(raw),
        series_id=raw.get("seriesMasterId"),
        original_start=instant({"dateTime": original}) if original else None,
    )


class _Lines(HTMLParser):
    """HTML to lines of text: ``<br>`` and line elements break lines; whitespace
    collapses except under ``white-space: pre*`` (and in ``<pre>``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines = [""]
        self.hidden = 0
        self.verbatim: list[str] = []

    def _break(self) -> None:
        if self.lines[-1]:
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style", "head", "title"}:
            self.hidden += 1
        elif tag == "br":
            self.lines.append("")
        elif tag in _LINE_TAGS:
            self._break()
            style = (dict(attrs).get("style") or "").replace(" ", "").lower()
            if tag == "pre" or "white-space:pre" in style or "white-space:break" in style:
                self.verbatim.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style", "head", "title"}:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _LINE_TAGS:
            if self.verbatim and self.verbatim[-1] == tag:
                self.verbatim.pop()
            self._break()

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.verbatim:
            first, *rest = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            self.lines[-1] += first
            self.lines.extend(rest)
            return
        text = " ".join(data.replace("\xa0", " ").split())
        if data[:1].isspace() and self.lines[-1] and text:
            text = " " + text
        if data[-1:].isspace() and text:
            text += " "
        self.lines[-1] += text if self.lines[-1] else text.lstrip()


def html_text(markup: str) -> str:
    """The text an HTML body shows, one line per line element or ``<br>``."""
    parser = _Lines()
    parser.feed(markup)
    parser.close()
    return "\n".join(line.rstrip() for line in parser.lines).strip("\n")


def text_html(text: str) -> str:
    """An HTML body showing ``text``: one ``<p>`` per line, spaces kept with ``pre-wrap``."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    paragraphs = "".join(
        f'<p style="white-space: pre-wrap">{html.escape(line)}</p>' if line else "<br>"
        for line in lines
    )
    return f"<html><head><title>event</title></head><body>{paragraphs}</body></html>"
