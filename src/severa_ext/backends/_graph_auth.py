"""Access tokens for Microsoft Graph: the ``TokenProvider`` seam and its msal providers.

* :class:`ClientCredentialsTokenProvider`: app-only OAuth (S7) with a client secret or a
  certificate, through ``msal.ConfidentialClientApplication`` and its token cache.
* :class:`DelegatedTokenProvider`: a signed-in user's token, kept fresh by msal from the
  account in its cache (or a refresh token handed over by the host's sign-in).
* :class:`StaticTokenProvider`: a host that manages tokens itself brings its own.

Secrets and tokens are never in a repr, a log line or an exception message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from severa_ext.backends._msal_http import BoundedMsalClient
from severa_ext.errors import AuthError, BackendUnavailable, ConfigError

__all__ = [
    "GRAPH_DEFAULT_SCOPE",
    "ClientCredentialsTokenProvider",
    "DelegatedTokenProvider",
    "StaticTokenProvider",
    "TokenProvider",
]

logger = logging.getLogger(__name__)

GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
"""The app-only scope: every application permission consented for Graph."""


@runtime_checkable
class TokenProvider(Protocol):
    """Where the Graph backend gets its bearer token."""

    def token(self) -> str:
        """A currently valid access token.

        Raises:
            AuthError: no token can be had (bad credentials, consent missing).
        """
        ...

    def invalidate(self) -> None:
        """Forget the current token: the server refused it (expired or revoked)."""
        ...


class StaticTokenProvider:
    """A token the host obtained itself; optionally refreshed through a callback.

    Args:
        token: the bearer token.
        refresh: called after the server refused the token; returns a new one.
    """

    def __init__(self, token: str, refresh: Callable[[], str] | None = None) -> None:
        self._token = token
        self._refresh = refresh
        self._stale = False

    def __repr__(self) -> str:
        return "StaticTokenProvider(token=[REDACTED])"

    def token(self) -> str:
        """The token (a fresh one from ``refresh`` after :meth:`invalidate`)."""
        if self._stale:
            if self._refresh is None:
                raise AuthError(
                    "the host-provided Graph token was refused and no refresh callback is set",
                    backend="graph",
                    code="InvalidAuthenticationToken",
                )
            self._token = self._refresh()
            self._stale = False
        return self._token

    def invalidate(self) -> None:
        """Mark the token as refused."""
        self._stale = True


def _check_result(result: Any, what: str) -> str:
    if isinstance(result, dict) and isinstance(result.get("access_token"), str):
        return str(result["access_token"])
    code = str(result.get("error", "no_token")) if isinstance(result, dict) else "no_token"
    description = str(result.get("error_description", "")) if isinstance(result, dict) else ""
    # The first line of AAD's description names the AADSTS code; never any secret.
    summary = description.splitlines()[0] if description else "no token returned"
    raise AuthError(f"{what}: {code}: {summary}", backend="graph", code=code)


def _translate(call: Callable[[], Any], what: str) -> str:
    """Run an msal call; map its failures (and error results) to package errors."""
    try:
        result = call()
    except ValueError as exc:  # msal: authority discovery failed / bad authority
        raise AuthError(f"{what}: {exc}", backend="graph", code="authority") from exc
    except OSError as exc:  # requests' errors derive from OSError
        raise BackendUnavailable(
            f"{what}: identity platform unreachable: {type(exc).__name__}", backend="graph"
        ) from exc
    return _check_result(result, what)


class ClientCredentialsTokenProvider:
    """App-only tokens (client credentials) from msal, with msal's token cache.

    Args:
        tenant_id: the directory (tenant) id or domain.
        client_id: the application (client) id.
        client_secret: the client secret; or give ``certificate``.
        certificate: ``{"private_key": PEM, "thumbprint": hex}`` for certificate auth.
        authority_host: the login host (national clouds, or a fake server).
        scopes: the scopes; the default is Graph's ``.default``.
        token_cache: an ``msal.TokenCache`` to share or persist; a new one by default.
        http_client: a ``requests.Session`` for msal to use (a new one by default);
            every token call through it has a total deadline and a body cap
            (:class:`~severa_ext.backends._msal_http.BoundedMsalClient`).
        validate_authority: whether msal validates the authority host (switch off for
            a private or fake identity endpoint).

    Raises:
        ConfigError: neither or both of ``client_secret`` and ``certificate`` given.
    """

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        *,
        client_secret: str | None = None,
        certificate: dict[str, str] | None = None,
        authority_host: str = "https://login.microsoftonline.com",
        scopes: Sequence[str] = (GRAPH_DEFAULT_SCOPE,),
        token_cache: Any = None,
        http_client: Any = None,
        validate_authority: bool = True,
    ) -> None:
        if (client_secret is None) == (certificate is None):
            raise ConfigError("give exactly one of client_secret and certificate")
        if certificate is not None and not {"private_key", "thumbprint"} <= set(certificate):
            raise ConfigError("certificate needs 'private_key' and 'thumbprint'")
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        self.scopes = list(scopes)
        self._credential: str | dict[str, str] = (
            client_secret if client_secret is not None else dict(certificate or {})
        )
        self._cache = token_cache
        self._http_client = http_client
        self._validate = validate_authority
        self._app: Any = None
        self._lock = threading.Lock()
        self._stale = False

    def __repr__(self) -> str:
        return (
            f"ClientCredentialsTokenProvider(tenant_id={self.tenant_id!r}, "
            f"client_id={self.client_id!r}, credential=[REDACTED])"
        )

    def token(self) -> str:
        """An app-only token (from msal's cache while it is valid)."""
        with self._lock:
            app = self._build()
            if self._stale:
                self._drop_cached_tokens(app)
                self._stale = False
            token = _translate(
                lambda: app.acquire_token_for_client(scopes=self.scopes),
                "cannot get an app-only Graph token",
            )
            logger.debug("graph: app-only token ready for client %s", self.client_id)
            return token

    def _build(self) -> Any:
        if self._app is not None:
            return self._app
        import msal

        kwargs: dict[str, Any] = {
            "authority": self.authority,
            "client_credential": self._credential,
            "token_cache": self._cache if self._cache is not None else msal.TokenCache(),
        }
        kwargs["http_client"] = BoundedMsalClient(self._http_client)
        if not self._validate:
            kwargs["validate_authority"] = False
            kwargs["instance_discovery"] = False
        holder: dict[str, Any] = {}

        def build() -> dict[str, str]:
            holder["app"] = msal.ConfidentialClientApplication(self.client_id, **kwargs)
            return {"access_token": ""}

        _translate(build, "cannot set up the msal application")
        self._app = holder["app"]
        return self._app

    @staticmethod
    def _drop_cached_tokens(app: Any) -> None:
        import msal

        cache = app.token_cache
        for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
            cache.remove_at(entry)

    def invalidate(self) -> None:
        """Drop the cached access token so the next :meth:`token` asks msal afresh."""
        with self._lock:
            self._stale = True


class DelegatedTokenProvider:
    """A signed-in user's token (delegated permissions), refreshed by msal.

    The host signs the user in (any msal flow) and hands over either the msal
    application that holds the account in its cache, or a refresh token.

    Args:
        client_id: the application (client) id.
        username: the signed-in account (UPN) whose token is used.
        authority: the authority URL (``https://login.microsoftonline.com/<tenant>``).
        scopes: delegated scopes, e.g. ``["Calendars.ReadWrite"]``.
        refresh_token: a refresh token from the host's sign-in, redeemed once.
        client_secret: for a confidential (web) app; a public client otherwise.
        token_cache: an ``msal.TokenCache`` holding the signed-in account.
        http_client: a ``requests.Session`` for msal to use (a new one by default);
            every token call through it has a total deadline and a body cap
            (:class:`~severa_ext.backends._msal_http.BoundedMsalClient`).
        validate_authority: whether msal validates the authority host.
    """

    def __init__(
        self,
        client_id: str,
        *,
        username: str,
        authority: str,
        scopes: Sequence[str] = ("https://graph.microsoft.com/Calendars.ReadWrite",),
        refresh_token: str | None = None,
        client_secret: str | None = None,
        token_cache: Any = None,
        http_client: Any = None,
        validate_authority: bool = True,
    ) -> None:
        self.client_id = client_id
        self.username = username
        self.authority = authority
        self.scopes = list(scopes)
        self._refresh_token = refresh_token
        self._secret = client_secret
        self._cache = token_cache
        self._http_client = http_client
        self._validate = validate_authority
        self._app: Any = None
        self._lock = threading.Lock()
        self._stale = False

    def __repr__(self) -> str:
        return (
            f"DelegatedTokenProvider(client_id={self.client_id!r}, "
            f"username={self.username!r}, refresh_token=[REDACTED])"
        )

    def _build(self) -> Any:
        if self._app is not None:
            return self._app
        import msal

        kwargs: dict[str, Any] = {
            "authority": self.authority,
            "token_cache": self._cache if self._cache is not None else msal.TokenCache(),
        }
        kwargs["http_client"] = BoundedMsalClient(self._http_client)
        if not self._validate:
            kwargs["validate_authority"] = False
            kwargs["instance_discovery"] = False
        holder: dict[str, Any] = {}

        def build() -> dict[str, str]:
            if self._secret is not None:
                holder["app"] = msal.ConfidentialClientApplication(
                    self.client_id, client_credential=self._secret, **kwargs
                )
            else:
                holder["app"] = msal.PublicClientApplication(self.client_id, **kwargs)
            return {"access_token": ""}

        _translate(build, "cannot set up the msal application")
        self._app = holder["app"]
        return self._app

    def token(self) -> str:
        """The user's token: msal's cached one, refreshed silently when needed.

        Raises:
            AuthError: the user must sign in again (no account, refresh refused).
        """
        with self._lock:
            app = self._build()
            force = self._stale
            self._stale = False
            accounts = app.get_accounts(username=self.username)
            if accounts:
                result = app.acquire_token_silent_with_error(
                    self.scopes, account=accounts[0], force_refresh=force
                )
                if result is not None:
                    return _check_result(result, "cannot refresh the user's Graph token")
            if self._refresh_token is not None:
                refresh_token = self._refresh_token
                self._refresh_token = None  # redeemed once; msal's cache keeps the new one
                return _translate(
                    lambda: app.acquire_token_by_refresh_token(refresh_token, self.scopes),
                    "cannot redeem the user's refresh token",
                )
            raise AuthError(
                f"no signed-in account {self.username!r} in the token cache: "
                "the user must sign in again",
                backend="graph",
                code="interaction_required",
            )

    def invalidate(self) -> None:
        """The server refused the token: refresh it on the next :meth:`token`."""
        with self._lock:
            self._stale = True
