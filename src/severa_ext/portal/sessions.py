"""Server-side portal sessions: random ids, rotation at login, idle and absolute timeouts.

The cookie holds only a random id (256 bits from ``secrets``); the store keys
sessions by the SHA-256 of it, so a leaked store holds no usable id. A session is
anonymous (it carries the CSRF token of the login form), *enrolling* (the one-time
password was accepted: the only thing it may do is set a password) or *signed in*.
Every change of stage gets a new id (:func:`rotated`), so an id planted
before login never becomes a signed-in session (session fixation).

:func:`session_expired` is the pure timeout rule: idle longer than ``idle_timeout`` or
older than ``absolute_timeout`` (NIST SP 800-63B-4 section 2.1.3, AAL1: 30 days
absolute; the portal's defaults are far stricter: 30 minutes idle, 12 hours absolute).
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import threading
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import attrs

__all__ = [
    "MemorySessionStore",
    "PortalSession",
    "SessionStage",
    "SessionStore",
    "new_session",
    "rotated",
    "session_expired",
]


class SessionStage(enum.Enum):
    """How far a session got."""

    ANONYMOUS = "anonymous"
    ENROLLING = "enrolling"
    SIGNED_IN = "signed-in"


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


@attrs.frozen
class PortalSession:
    """One browser's session.

    Attributes:
        id: the cookie value (hidden from ``repr``).
        csrf_token: the token every form of this session carries (hidden from ``repr``).
        stage: anonymous, enrolling or signed in.
        contact_id: who (``None`` while anonymous).
        email: the normalised login address (``None`` while anonymous).
        created_at: when this stage began (the absolute timeout counts from here).
        last_seen: the last request (the idle timeout counts from here).
        language: the UI language chosen (``fi``, ``en``, ``sv``) or ``None``.
    """

    id: str = attrs.field(repr=False)
    csrf_token: str = attrs.field(repr=False)
    stage: SessionStage
    created_at: datetime
    last_seen: datetime
    contact_id: str | None = None
    email: str | None = None
    language: str | None = None


def new_session(now: datetime, *, language: str | None = None) -> PortalSession:
    """A new anonymous session with fresh random id and CSRF token."""
    return PortalSession(
        id=secrets.token_urlsafe(32),
        csrf_token=secrets.token_urlsafe(32),
        stage=SessionStage.ANONYMOUS,
        created_at=now,
        last_seen=now,
        language=language,
    )


def session_expired(
    session: PortalSession, now: datetime, *, idle: timedelta, absolute: timedelta
) -> bool:
    """Whether ``session`` has been idle too long or lived too long at ``now``."""
    return now - session.last_seen >= idle or now - session.created_at >= absolute


@runtime_checkable
class SessionStore(Protocol):
    """Where sessions live (a host may put them in its database or Redis)."""

    def get(self, session_id: str) -> PortalSession | None:
        """The session with this cookie value, or ``None``."""
        ...

    def put(self, session: PortalSession) -> None:
        """Store or replace ``session``."""
        ...

    def delete(self, session_id: str) -> None:
        """Forget the session (logout, timeout)."""
        ...


class MemorySessionStore:
    """The in-memory :class:`SessionStore`; thread-safe, keyed by the id's SHA-256."""

    def __init__(self) -> None:
        """Create an empty store."""
        self._lock = threading.Lock()
        self._sessions: dict[str, PortalSession] = {}

    def get(self, session_id: str) -> PortalSession | None:
        """The session of ``session_id``, or ``None``."""
        with self._lock:
            return self._sessions.get(_key(session_id))

    def put(self, session: PortalSession) -> None:
        """Store ``session``."""
        with self._lock:
            self._sessions[_key(session.id)] = session

    def delete(self, session_id: str) -> None:
        """Forget ``session_id``."""
        with self._lock:
            self._sessions.pop(_key(session_id), None)

    def purge(self, last_seen_before: datetime) -> int:
        """Forget sessions unused since before ``last_seen_before``; return how many."""
        with self._lock:
            old = [k for k, s in self._sessions.items() if s.last_seen < last_seen_before]
            for key in old:
                del self._sessions[key]
            return len(old)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def __repr__(self) -> str:
        return f"MemorySessionStore({len(self)} sessions)"


def rotated(session: PortalSession, now: datetime, **changes: object) -> PortalSession:
    """``session`` under a new id and CSRF token, its stage clock restarted."""
    return attrs.evolve(
        session,
        id=secrets.token_urlsafe(32),
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen=now,
        **changes,  # type: ignore[arg-type]
    )
