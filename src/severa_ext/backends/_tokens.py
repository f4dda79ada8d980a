"""Bearer tokens for the HTTP backends: the one ``TokenProvider`` seam and msal's app flow.

Graph and EWS (with OAuth) both ask a :class:`TokenProvider` for a bearer token and
call :meth:`TokenProvider.invalidate` when the server refuses it. The Severa backend's
own token route (``POST /v1/token``) keeps its tokens in the same shape.

:class:`MsalClientCredentials` is the one app-only (client credentials, S7) flow: an
msal ``ConfidentialClientApplication``, the scopes to ask for (Graph's ``.default`` or
an on-premises EWS resource), and msal's cache with one workaround: msal returns a
cached access token until it expires, so a token the server refused is removed from
the cache before asking again.

msal's failures and error answers become :class:`~severa_ext.errors.AuthError` (or
:class:`~severa_ext.errors.BackendUnavailable` when the identity platform cannot be
reached). Secrets and tokens are never in a repr, a log line or an exception message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from severa_ext.errors import AuthError, BackendUnavailable

__all__ = [
    "ACCESS_TOKEN",
    "MsalClientCredentials",
    "TokenProvider",
    "call_msal",
    "drop_access_tokens",
    "run_msal",
    "token_from_result",
]

_T = TypeVar("_T")

logger = logging.getLogger(__name__)

ACCESS_TOKEN = "AccessToken"  # noqa: S105 (a cache entry type, not a secret)
"""msal's ``TokenCache.CredentialType.ACCESS_TOKEN``, without importing msal."""


@runtime_checkable
class TokenProvider(Protocol):
    """Where a backend gets its bearer token."""

    def token(self) -> str:
        """A currently valid access token.

        Raises:
            AuthError: no token can be had (bad credentials, consent missing).
        """
        ...

    def invalidate(self) -> None:
        """Forget the current token: the server refused it (expired or revoked)."""
        ...


def token_from_result(result: Any, what: str, backend: str) -> str:
    """The access token of an msal result, or an :class:`AuthError` naming its error code."""
    token = result.get("access_token") if isinstance(result, dict) else None
    if isinstance(token, str) and token:
        return token
    code = str(result.get("error", "no_token")) if isinstance(result, dict) else "no_token"
    description = str(result.get("error_description", "")) if isinstance(result, dict) else ""
    # The first line of AAD's description names the AADSTS code; never any secret.
    summary = description.splitlines()[0] if description else "no token returned"
    raise AuthError(f"{what}: {code}: {summary}", backend=backend, code=code)


def run_msal(call: Callable[[], _T], what: str, backend: str) -> _T:
    """Run an msal call; map its failures to package errors."""
    try:
        return call()
    except ValueError as exc:  # msal: authority discovery failed / bad authority
        raise AuthError(f"{what}: {exc}", backend=backend, code="authority") from exc
    except OSError as exc:  # requests' errors derive from OSError
        raise BackendUnavailable(
            f"{what}: identity platform unreachable: {type(exc).__name__}", backend=backend
        ) from exc


def call_msal(call: Callable[[], Any], what: str, backend: str) -> str:
    """Run an msal token call; map its failures and error results to package errors."""
    return token_from_result(run_msal(call, what, backend), what, backend)


def drop_access_tokens(app: Any) -> None:
    """Remove the cached access tokens of an msal application (refresh tokens stay)."""
    cache = getattr(app, "token_cache", None)
    remove = getattr(cache, "remove_at", None)
    find = getattr(cache, "search", None) or getattr(cache, "find", None)
    if callable(remove) and callable(find):
        for entry in list(find(ACCESS_TOKEN)):
            remove(entry)


class MsalClientCredentials:
    """App-only tokens for one set of scopes from an msal confidential client.

    Args:
        app: returns the msal application (called under the provider's lock, so a
            lazily built application is built once).
        scopes: the scopes, e.g. ``["https://graph.microsoft.com/.default"]``.
        backend: the backend named in the errors (``"graph"``, ``"ews"``).
        what: what a failure says could not be had.
    """

    def __init__(
        self,
        app: Callable[[], Any],
        scopes: Sequence[str],
        *,
        backend: str,
        what: str = "cannot get an app-only token",
    ) -> None:
        self._app = app
        self.scopes = list(scopes)
        self._backend = backend
        self._what = what
        self._lock = threading.Lock()
        self._stale = False

    def __repr__(self) -> str:
        return f"MsalClientCredentials(scopes={self.scopes!r}, backend={self._backend!r})"

    def token(self) -> str:
        """An app-only token (msal's cached one while it is valid and not refused)."""
        with self._lock:
            app = self._app()
            if self._stale:
                drop_access_tokens(app)
                self._stale = False
            token = call_msal(
                lambda: app.acquire_token_for_client(scopes=self.scopes),
                self._what,
                self._backend,
            )
            logger.debug("%s: app-only token ready for scopes %s", self._backend, self.scopes)
            return token

    def invalidate(self) -> None:
        """Drop the cached access token so the next :meth:`token` asks msal afresh."""
        with self._lock:
            self._stale = True
