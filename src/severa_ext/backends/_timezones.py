"""Windows <-> IANA time-zone names, from the CLDR tables that ``tzlocal`` maintains.

Outlook, Graph and EWS speak Windows zone names ("FLE Standard Time"); Python speaks
IANA ("Europe/Helsinki"). Outlook also exports decorated names: quoted, numbered
("Eastern Standard Time 1") or the literal "Customized Time Zone"; the helpers here
resolve what can be resolved and return ``None`` for what cannot, so that a caller
falls back to the offsets it has (a VTIMEZONE, an EWS ``TimeZoneDefinition``) instead
of silently guessing.
"""

from __future__ import annotations

import functools
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import tz_win, win_tz

__all__ = ["iana_to_windows", "resolve_zone", "windows_to_iana"]

_DECORATION = re.compile(r"^[\s\"']*(?P<name>.*?)(?:\s+\d+)?[\s\"']*$")


@functools.lru_cache(maxsize=512)
def windows_to_iana(name: str) -> str | None:
    """The IANA id for a Windows zone name, or ``None`` if it is not a known one.

    >>> windows_to_iana("Pacific Standard Time")
    'America/Los_Angeles'
    >>> windows_to_iana('"Eastern Standard Time 1"')
    'America/New_York'
    >>> windows_to_iana("Customized Time Zone") is None
    True
    """
    if name in win_tz:
        return str(win_tz[name])
    match = _DECORATION.match(name)
    stripped = match.group("name") if match else name.strip()
    if stripped in win_tz:
        return str(win_tz[stripped])
    # Names are matched without regard to case as a last resort ("utc" from old exports).
    lowered = {key.lower(): value for key, value in win_tz.items()}
    value = lowered.get(stripped.lower())
    return str(value) if value is not None else None


@functools.lru_cache(maxsize=512)
def iana_to_windows(name: str) -> str | None:
    """The Windows zone name for an IANA id (``"UTC"`` for UTC), or ``None``.

    >>> iana_to_windows("Europe/Helsinki")
    'FLE Standard Time'
    """
    if name in {"UTC", "Etc/UTC", "Z", "GMT", "Etc/GMT"}:
        return "UTC"
    value = tz_win.get(name)
    return str(value) if value is not None else None


def resolve_zone(name: str) -> ZoneInfo | None:
    """A ``ZoneInfo`` for an IANA id or a Windows name, or ``None`` if unknown.

    >>> resolve_zone("W. Europe Standard Time")
    zoneinfo.ZoneInfo(key='Europe/Berlin')
    """
    candidate = name.strip().strip("\"'")
    for key in (candidate, windows_to_iana(candidate)):
        if not key:
            continue
        try:
            return ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return None
