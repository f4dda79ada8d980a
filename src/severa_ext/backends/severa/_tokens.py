"""Severa's access tokens: the backend's ``TokenProvider`` over ``/v1/token``.

:class:`SeveraTokens` speaks the seam every HTTP backend uses
(:class:`~severa_ext.backends._tokens.TokenProvider`: ``token()`` and
``invalidate()``) over Severa's own token routes: it signs in with the API client's
credentials (``POST /v1/token``), refreshes shortly before expiry
(``POST /v1/refreshtoken``) and signs in afresh when the refresh token is refused.
The HTTP calls are the transport's (``fetch``); tokens never appear in a repr or log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from severa_ext.clock import Clock
from severa_ext.errors import AuthError, MalformedResponse

__all__ = ["SeveraTokens", "Token", "read_token"]

logger = logging.getLogger(__name__)

_BACKEND = "severa"
_EXPIRED = datetime(1970, 1, 1, tzinfo=UTC)


@attrs.define
class Token:
    """One access token, its refresh token and when it expires."""

    access: str = attrs.field(repr=False)
    refresh: str | None = attrs.field(repr=False)
    expires: datetime


def read_token(decoded: Any, what: str, now: datetime) -> Token:
    """The token of a token route's JSON answer.

    Raises:
        MalformedResponse: the answer has no ``access_token``.
    """
    if not isinstance(decoded, dict) or not isinstance(decoded.get("access_token"), str):
        raise MalformedResponse(f"severa {what}: no access_token in the answer", backend=_BACKEND)
    lifetime = decoded.get("access_token_expires_in")
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime <= 0:
        lifetime = 300  # unknown: assume a short life, it is refreshed on a 401 anyway
    refresh = decoded.get("refresh_token")
    return Token(
        access=decoded["access_token"],
        refresh=refresh if isinstance(refresh, str) and refresh else None,
        expires=now + timedelta(seconds=min(lifetime, 86400)),
    )


class SeveraTokens:
    """Access tokens for one API client, refreshed before they expire.

    Args:
        fetch: ``fetch(route, body, what)`` posts to ``/v1/<route>`` and returns the
            token (raising :class:`~severa_ext.errors.AuthError` when refused).
        sign_in: the body of ``POST /v1/token`` (client id, secret, scopes).
        clock: decides when a token is about to expire.
        margin: a token this close to its expiry is refreshed first.
    """

    def __init__(
        self,
        fetch: Callable[[str, Any, str], Token],
        sign_in: Callable[[], dict[str, str]],
        *,
        clock: Clock,
        margin: timedelta,
    ) -> None:
        self._fetch = fetch
        self._sign_in = sign_in
        self._clock = clock
        self._margin = margin
        self._token: Token | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "SeveraTokens(token=[REDACTED])"

    def token(self) -> str:
        """A currently valid access token (refreshed or signed in anew when needed).

        Raises:
            AuthError: the token route refused the API client.
        """
        with self._lock:
            current = self._token
        if current is not None and self._clock.now() + self._margin < current.expires:
            return current.access
        fresh = None
        if current is not None and current.refresh is not None:
            try:
                fresh = self._fetch("refreshtoken", current.refresh, "refresh the token")
            except AuthError:
                logger.info("severa: the refresh token was refused; signing in again")
        if fresh is None:
            fresh = self._fetch("token", self._sign_in(), "get a token")
        with self._lock:
            self._token = fresh
        return fresh.access

    def invalidate(self, token: str | None = None) -> None:
        """The server refused ``token`` (the current one by default): get another next.

        A token other than the current one (refused after another thread already
        replaced it) is ignored.
        """
        with self._lock:
            if self._token is not None and token in (None, self._token.access):
                self._token = attrs.evolve(self._token, expires=_EXPIRED)

    def held(self) -> tuple[str, ...]:
        """The tokens held now (access, refresh): what no message may show."""
        with self._lock:
            token = self._token
        if token is None:
            return ()
        return (token.access, token.refresh) if token.refresh else (token.access,)
