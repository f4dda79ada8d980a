"""Building backends from settings: the factory the command line and the runner share.

A side is named by an :class:`Address` (:func:`parse_address`):

=====================================  ===============================================
``ics:PATH``                           a local ``.ics`` file (read-write)
``webcal://...``, ``https://...``      an ICS subscription (read-only)
``activities:PATH``                    a JSON activities file (the Severa side)
``graph:MAILBOX``                      a mailbox through Microsoft Graph (app-only OAuth)
``ews:URL#MAILBOX``                    a mailbox on an on-premises Exchange (EWS)
``severa:EMAIL``                       a user's activities through Severa's REST API
=====================================  ===============================================

:func:`open_backend` builds the backend of an address from :class:`BackendSettings`
(the organisation's connection settings, S7/S8); :func:`calendar_address` names the
calendar of an activated user (a :class:`~severa_ext.sync.activation.Activation`) for
the organisation's server kind, so the runner opens every user's calendar the way the
command line opens one. Secrets are never settings values: a setting names an
environment variable or a file that holds the secret. Graph, EWS and Severa are
imported only when an address names them.

.. versionadded:: 0.3 (moved from the command line's private helpers)
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from severa_ext.errors import BackendError, ConfigError

__all__ = [
    "Address",
    "BackendSettings",
    "EwsSettings",
    "GraphSettings",
    "IcsSettings",
    "SeveraSettings",
    "calendar_address",
    "graph_tokens",
    "open_backend",
    "parse_address",
    "read_secret",
]

Kind = Literal["ics", "subscription", "activities", "graph", "ews", "severa"]


@attrs.frozen
class IcsSettings:
    """``[ics]``: the zone for floating times, a legacy encoding, the size limit."""

    zone: str = "UTC"
    encoding: str | None = None
    max_bytes: int | None = None
    timeout: float = 30.0
    allow_http: bool = False
    """Accept plain ``http://`` subscriptions (a trusted local feed); off by default."""


@attrs.frozen
class GraphSettings:
    """``[graph]``: app-only OAuth (S7); the secret comes from the environment or a file."""

    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    base_url: str | None = None


@attrs.frozen
class EwsSettings:
    """``[ews]``: on-premises Exchange credentials (the password from env or a file).

    ``url`` is the organisation's EWS endpoint, used for activated users' mailboxes
    (:func:`calendar_address`); an ``ews:URL#MAILBOX`` address carries its own.
    """

    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    auth: str = "ntlm"
    url: str | None = None


@attrs.frozen
class SeveraSettings:
    """The Severa REST API client (the Severa side): its id, where its secret is."""

    client_id: str | None = None
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    base_url: str | None = None


@attrs.frozen
class BackendSettings:
    """The connection settings of an organisation: one section per server kind.

    ``folder`` is where relative secret files are found (the config file's folder).
    """

    graph: GraphSettings = GraphSettings()
    ews: EwsSettings = EwsSettings()
    ics: IcsSettings = IcsSettings()
    severa: SeveraSettings = SeveraSettings()
    folder: Path | None = None

    def relative(self, value: str) -> Path:
        """``value`` as a path, relative to ``folder``."""
        candidate = Path(value).expanduser()
        if candidate.is_absolute() or self.folder is None:
            return candidate
        return self.folder / candidate


def read_secret(
    settings: BackendSettings, env_name: str | None, file_name: str | None, what: str
) -> str:
    """A secret from the environment variable or the file the settings name (never argv).

    Raises:
        ConfigError: neither is configured, the variable is unset or the file unreadable.
    """
    if env_name:
        value = os.environ.get(env_name)
        if value:
            return value
        if not file_name:
            raise ConfigError(f"{what}: the environment variable {env_name} is not set")
    if file_name:
        secret_path = settings.relative(file_name)
        try:
            value = secret_path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read the secret file {secret_path}: {exc}") from exc
        if not value:
            raise ConfigError(f"{what}: the secret file {secret_path} is empty")
        return value
    raise ConfigError(f"{what}: configure an environment variable or a file for the secret")


@attrs.frozen
class Address:
    """A parsed side address.

    Attributes:
        kind: which backend.
        target: the path, URL or mailbox.
        url: the EWS endpoint (``ews:`` only).
        text: the address as given.
    """

    kind: Kind
    target: str
    text: str
    url: str | None = None

    @property
    def is_activities(self) -> bool:
        """True for the Severa side (``activities:`` or ``severa:``)."""
        return self.kind in ("activities", "severa")

    def key(self) -> str:
        """A stable identity for the pair id (absolute paths, lower-case mailboxes)."""
        if self.kind in ("ics", "activities"):
            return f"{self.kind}:{Path(self.target).expanduser().resolve()}"
        if self.kind in ("graph", "ews", "severa"):
            return f"{self.kind}:{self.url or ''}#{self.target.lower()}"
        return self.target


_USAGE = (
    "use ics:PATH, webcal://..., https://..., activities:PATH, graph:MAILBOX, "
    "ews:URL#MAILBOX or severa:EMAIL"
)


def parse_address(text: str) -> Address:
    """Parse a side address.

    Raises:
        ConfigError: the address has no known scheme or misses its target.
    """
    scheme, sep, rest = text.partition(":")
    lowered = scheme.lower()
    if lowered in ("http", "https", "webcal") and sep and rest.startswith("//"):
        return Address("subscription", text, text)
    if not sep or not rest.strip():
        raise ConfigError(f"bad side address {text!r}: {_USAGE}")
    rest = rest.strip()
    if lowered == "ics":
        if rest.lower().startswith(("http://", "https://", "webcal://")):
            return Address("subscription", rest, text)
        return Address("ics", rest, text)
    if lowered == "activities":
        return Address("activities", rest, text)
    if lowered == "graph":
        if "@" not in rest and not rest.replace("-", "").isalnum():
            raise ConfigError(f"bad side address {text!r}: graph:MAILBOX needs an address or id")
        return Address("graph", rest, text)
    if lowered == "severa":
        if "@" not in rest:
            raise ConfigError(f"bad side address {text!r}: severa:EMAIL needs the user's email")
        return Address("severa", rest, text)
    if lowered == "ews":
        return _ews_address(text, rest)
    raise ConfigError(
        f"bad side address {text!r}: unknown kind {scheme!r} (use ics:, webcal://, https://, "
        "activities:, graph:, ews: or severa:)"
    )


def _ews_address(text: str, rest: str) -> Address:
    url, hash_sign, mailbox = rest.rpartition("#")
    if not hash_sign or not url or not mailbox:
        raise ConfigError(
            f"bad side address {text!r}: use ews:https://host/EWS/Exchange.asmx#MAILBOX"
        )
    if not url.lower().startswith(("http://", "https://")):
        raise ConfigError(f"bad side address {text!r}: the EWS URL must be http(s)")
    return Address("ews", mailbox, text, url=url)


def calendar_address(server_kind: str, mailbox: str, settings: BackendSettings) -> Address:
    """The address of an activated user's calendar on the organisation's server (S8).

    Args:
        server_kind: ``"graph"``, ``"ews"`` or ``"ics"`` (``ServerKind.value``).
        mailbox: the user's calendar account (for ICS: its file path or URL).
        settings: the organisation's settings (the EWS endpoint for ``"ews"``).

    Raises:
        ConfigError: an unknown kind, or EWS without ``settings.ews.url``.
    """
    if server_kind == "graph":
        return parse_address(f"graph:{mailbox}")
    if server_kind == "ews":
        if not settings.ews.url:
            raise ConfigError("set the EWS endpoint (EwsSettings.url) to sync users' mailboxes")
        return parse_address(f"ews:{settings.ews.url}#{mailbox}")
    if server_kind == "ics":
        return parse_address(mailbox if "://" in mailbox else f"ics:{mailbox}")
    raise ConfigError(f"unknown server kind {server_kind!r} (use graph, ews or ics)")


def _optional_module(name: str, address: Address) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(
            f"{address.text}: the {address.kind} backend is not available ({exc})"
        ) from exc


def _check_types(named: Iterable[str], known: Mapping[str, Any], address: Address) -> None:
    """The policy may only name activity types the activities file has (S8, S9)."""
    unknown = sorted(set(named) - set(known))
    if unknown:
        raise ConfigError(
            f"{address.text}: the policy names activity types the file does not have: "
            f"{', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


def open_backend(
    address: Address,
    settings: BackendSettings,
    *,
    activity_types: Iterable[str] = (),
    user_id: str | None = None,
    session: Any = None,
    graph_tokens: Any = None,
) -> Any:
    """Build the backend an address names (``GraphBackend``, ``IcsBackend`` ...).

    Args:
        address: the side.
        settings: the connection settings.
        activity_types: the activity types a policy names; an ``activities:`` file
            must have them all (S8; a missing Personal type falls back, S9).
        user_id: the user of an ``activities:`` file (default: the file's user).
        session: the ``requests.Session`` of a Graph or EWS backend (the caller closes
            it; the runner mounts its request gate on it).
        graph_tokens: a Graph token provider to share between mailboxes (one msal
            application, one token cache: :func:`graph_tokens`); default: a new one.

    Raises:
        ConfigError: a setting or secret the backend needs is missing or wrong.
        NotFound: a local file does not exist.
    """
    if address.kind in ("ics", "subscription"):
        return _open_ics(address, settings.ics)
    if address.kind == "activities":
        return _open_activities(address, activity_types, user_id)
    if address.kind == "graph":
        tokens = graph_tokens or _graph_tokens(address, settings)
        options = {"base_url": settings.graph.base_url} if settings.graph.base_url else {}
        graph = _optional_module("severa_ext.backends.graph", address)
        return graph.GraphBackend(address.target, tokens, session=session, **options)
    if address.kind == "severa":
        return _open_severa(address, settings)
    return _open_ews(address, settings, session)


def _open_ics(address: Address, ics: IcsSettings) -> Any:
    from severa_ext.backends.ics import DEFAULT_MAX_BYTES, IcsBackend, IcsSubscription

    if address.kind == "subscription":
        return IcsSubscription(
            address.target,
            zone=ics.zone,
            timeout=ics.timeout,
            allow_http=ics.allow_http,
            max_bytes=ics.max_bytes or DEFAULT_MAX_BYTES,
        )
    path = Path(address.target).expanduser()
    if path.exists() and not path.is_file():
        raise ConfigError(f"{address.text}: {path} is not a file")
    if not path.parent.is_dir():
        raise ConfigError(f"{address.text}: no such folder {path.parent}")
    return IcsBackend(
        path,
        create_missing=True,
        zone=ics.zone,
        encoding=ics.encoding,
        max_bytes=ics.max_bytes or DEFAULT_MAX_BYTES,
    )


def _open_activities(address: Address, activity_types: Iterable[str], user_id: str | None) -> Any:
    from severa_ext.backends.activities import ActivityBackend
    from severa_ext.backends.activities_file import ActivityFile

    path = Path(address.target).expanduser()
    if not path.is_file():
        raise ConfigError(f"{address.text}: no such activities file {path}")
    store = ActivityFile(path)
    try:
        types = store.activity_types()
    except BackendError as exc:  # the file the command was given is not valid
        raise ConfigError(str(exc)) from exc
    _check_types(activity_types, types, address)
    return ActivityBackend(store, user_id=user_id or store.user.id, activity_types=types)


def graph_tokens(settings: BackendSettings) -> Any:
    """The organisation's Graph app-only token provider (msal), to share between pairs.

    Raises:
        ConfigError: ``[graph]`` misses the tenant, the client or the secret.
    """
    return _graph_tokens(Address("graph", "", "the organisation settings"), settings)


def _graph_tokens(address: Address, settings: BackendSettings) -> Any:
    graph = _optional_module("severa_ext.backends.graph", address)
    section = settings.graph
    if not section.tenant_id or not section.client_id:
        raise ConfigError(f"{address.text}: set [graph] tenant_id and client_id in the config")
    secret = read_secret(
        settings, section.client_secret_env, section.client_secret_file, "[graph] client secret"
    )
    return graph.ClientCredentialsTokenProvider(
        section.tenant_id, section.client_id, client_secret=secret
    )


def _open_ews(address: Address, settings: BackendSettings, session: Any) -> Any:
    ews = _optional_module("severa_ext.backends.ews", address)
    section = settings.ews
    if not section.username:
        raise ConfigError(f"{address.text}: set [ews] username in the config")
    password = read_secret(settings, section.password_env, section.password_file, "[ews] password")
    make_auth = ews.ntlm_auth if section.auth == "ntlm" else ews.basic_auth
    auth = make_auth(section.username, password)
    return ews.EwsBackend(address.url, address.target, auth=auth, session=session)


def _open_severa(address: Address, settings: BackendSettings) -> Any:
    """The Severa backend of ``severa:EMAIL``."""
    severa = _optional_module("severa_ext.backends.severa", address)
    section = settings.severa
    if not section.client_id:
        raise ConfigError(f"{address.text}: set SEVERA_CLIENT_ID (the API client's id)")
    secret = read_secret(
        settings, section.client_secret_env, section.client_secret_file, "Severa secret"
    )
    options = {"base_url": section.base_url} if section.base_url else {}
    credentials = severa.SeveraCredentials(section.client_id, secret)
    return severa.SeveraBackend(credentials, user_email=address.target, **options)
