"""Who may call ``FakeEwsServer``: Basic, bearer tokens and the NTLM handshake.

:func:`authenticate` reads one ``Authorization`` header. NTLM is connection-based
(MS-NLMP): a NEGOTIATE_MESSAGE gets a CHALLENGE_MESSAGE back (sent with a 401), and
the AUTHENTICATE_MESSAGE on the same connection is accepted when it names the
service account (``DOMAIN\\user``, ``user@domain`` or ``user``). The response to
the challenge is not verified: the fake checks who, not the password's proof.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Collection
from datetime import UTC, datetime

__all__ = ["authenticate"]


def authenticate(
    header: str, username: str, password: str, tokens: Collection[str]
) -> tuple[str | None, str | None]:
    """(accepted scheme or ``None``, an NTLM challenge to send back or ``None``)."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, given = base64.b64decode(value).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        if user.lower() == username.lower() and given == password:
            return "basic", None
    if scheme.lower() == "bearer" and value in tokens:
        return "bearer", None
    if scheme.lower() == "ntlm":
        return _ntlm(value, username)
    return None, None


def _ntlm(value: str, username: str) -> tuple[str | None, str | None]:
    try:
        token = base64.b64decode(value, validate=True)
    except binascii.Error:
        return None, None
    kind = _ntlm_type(token)
    if kind == 1:
        return None, base64.b64encode(_ntlm_challenge()).decode()
    if kind == 3 and _ntlm_user(token) in _account_names(username):
        return "ntlm", None
    return None, None


_NTLM_SIGNATURE = b"NTLMSSP\x00"
_NTLM_FLAGS = (
    0x00000001  # NEGOTIATE_UNICODE
    | 0x00000004  # REQUEST_TARGET
    | 0x00000200  # NEGOTIATE_NTLM
    | 0x00008000  # NEGOTIATE_ALWAYS_SIGN
    | 0x00010000  # TARGET_TYPE_DOMAIN
    | 0x00080000  # NEGOTIATE_EXTENDED_SESSIONSECURITY
    | 0x00800000  # NEGOTIATE_TARGET_INFO
    | 0x20000000  # NEGOTIATE_128
    | 0x40000000  # NEGOTIATE_KEY_EXCH
    | 0x80000000  # NEGOTIATE_56
)


def _ntlm_type(token: bytes) -> int | None:
    if len(token) < 12 or not token.startswith(_NTLM_SIGNATURE):
        return None
    return int.from_bytes(token[8:12], "little")


def _ntlm_challenge() -> bytes:
    """An NTLM CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) for the domain CONTOSO."""
    target = "CONTOSO".encode("utf-16-le")
    stamp = int((datetime.now(UTC).timestamp() + 11644473600) * 10_000_000)
    pairs = [
        (2, target),  # MsvAvNbDomainName
        (1, "FAKE-EWS".encode("utf-16-le")),  # MsvAvNbComputerName
        (7, stamp.to_bytes(8, "little")),  # MsvAvTimestamp
        (0, b""),  # MsvAvEOL
    ]
    info = b"".join(k.to_bytes(2, "little") + len(v).to_bytes(2, "little") + v for k, v in pairs)
    header = 48

    def fields(length: int, offset: int) -> bytes:
        return length.to_bytes(2, "little") * 2 + offset.to_bytes(4, "little")

    return (
        _NTLM_SIGNATURE
        + (2).to_bytes(4, "little")
        + fields(len(target), header)
        + _NTLM_FLAGS.to_bytes(4, "little")
        + secrets.token_bytes(8)
        + bytes(8)
        + fields(len(info), header + len(target))
        + target
        + info
    )


def _ntlm_user(token: bytes) -> str | None:
    """The user name of an AUTHENTICATE_MESSAGE, lower case (``None`` if unreadable)."""
    if len(token) < 52:
        return None
    length = int.from_bytes(token[36:38], "little")
    offset = int.from_bytes(token[40:44], "little")
    raw = token[offset : offset + length]
    if len(raw) != length:
        return None
    try:
        return raw.decode("utf-16-le").lower()
    except UnicodeDecodeError:
        return None


def _account_names(username: str) -> set[str]:
    name = username.lower()
    return {name, name.rpartition("\\")[2], name.partition("@")[0]}
