"""EWS credentials: Basic, NTLM, OAuth bearer tokens, and the plain-``http`` refusal.

Basic credentials and bearer tokens are refused over plain ``http`` (a
:class:`~severa_ext.errors.ConfigError` naming the URL), except for a loopback test
server with ``allow_loopback_http=True``. Secrets live inside the ``requests`` auth
objects only; no repr shows them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import requests

from severa_ext.backends._http import safe_url
from severa_ext.backends._tokens import MsalClientCredentials, TokenProvider
from severa_ext.errors import ConfigError

__all__ = [
    "BearerAuth",
    "basic_auth",
    "msal_token_provider",
    "ntlm_auth",
    "refuse_plain_http",
]

_BACKEND = "ews"
_LOOPBACK_NAMES = frozenset({"localhost"})


def basic_auth(username: str, password: str) -> requests.auth.AuthBase:
    """HTTP Basic credentials for an on-premises server (refused over plain ``http``).

    The password lives inside the returned object only; the backend never logs it.
    """
    return requests.auth.HTTPBasicAuth(username, password)


def ntlm_auth(username: str, password: str) -> requests.auth.AuthBase:
    """NTLM credentials (``DOMAIN\\\\user`` or ``user@domain``) through ``requests_ntlm``.

    Raises:
        ConfigError: ``requests-ntlm`` is not installed (``pip install severa-ext[ntlm]``).
    """
    try:
        from requests_ntlm import HttpNtlmAuth
    except ImportError as exc:
        raise ConfigError("NTLM needs the 'ntlm' extra: pip install 'severa-ext[ntlm]'") from exc

    auth: requests.auth.AuthBase = HttpNtlmAuth(username, password)
    return auth


def msal_token_provider(app: Any, scopes: Sequence[str]) -> TokenProvider:
    """A :class:`~severa_ext.backends.graph.TokenProvider` over an msal
    ``ConfidentialClientApplication`` (app-only, S7).

    Args:
        app: the msal application (its token cache keeps tokens until they expire).
        scopes: e.g. ``["https://mail.contoso.com/.default"]`` for hybrid modern auth.

    Returns:
        A provider whose ``token()`` raises :class:`~severa_ext.errors.AuthError` with
        msal's error description when no token can be had.
    """
    return MsalClientCredentials(
        lambda: app, scopes, backend=_BACKEND, what="could not get an OAuth token for EWS"
    )


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer`` from a :class:`~severa_ext.backends.graph.TokenProvider`,
    asked on every request."""

    def __init__(self, provider: TokenProvider) -> None:
        self.provider = provider

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.provider.token()}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<token provider>)"


def refuse_plain_http(url: str, host: str, *, allowed: bool) -> None:
    """Refuse credentials over ``http`` unless ``allowed`` and ``host`` is loopback.

    Raises:
        ConfigError: naming the URL (without user info or query).
    """
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host.lower() in _LOOPBACK_NAMES
    if allowed and loopback:
        return
    hint = "pass allow_loopback_http=True for a loopback test server" if loopback else "use https"
    raise ConfigError(
        f"EWS url {safe_url(url)!r} is plain http: Basic credentials and bearer tokens "
        f"would travel unencrypted; {hint}"
    )
