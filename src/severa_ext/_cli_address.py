"""Backend addresses of the command line (private helper of :mod:`severa_ext.cli`).

=====================================  ===============================================
``ics:PATH``                           a local ``.ics`` file (read-write)
``webcal://...``, ``https://...``      an ICS subscription (read-only)
``activities:PATH``                    a JSON activities file (the Severa side)
``graph:MAILBOX``                      a mailbox through Microsoft Graph (app-only OAuth)
``ews:URL#MAILBOX``                    a mailbox on an on-premises Exchange (EWS)
``severa:EMAIL``                       a user's activities through Severa's REST API
=====================================  ===============================================

Graph, EWS and Severa are imported only when an address names them; the credentials
of Graph and EWS come from the configuration file, whose secrets come from the
environment or a file. Severa's come from the environment: ``SEVERA_CLIENT_ID``, the
secret in ``SEVERA_CLIENT_SECRET`` or in the file ``SEVERA_CLIENT_SECRET_FILE`` names,
and ``SEVERA_BASE_URL`` for another API root (a fake server). The policy's types are
Severa activity type guids.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from severa_ext._cli_config import Config, read_secret
from severa_ext.errors import BackendError, ConfigError

__all__ = ["Address", "open_backend", "parse_address"]

Kind = Literal["ics", "subscription", "activities", "graph", "ews", "severa"]


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
        raise ConfigError(
            f"bad side address {text!r}: use ics:PATH, webcal://..., https://..., "
            "activities:PATH, graph:MAILBOX, ews:URL#MAILBOX or severa:EMAIL"
        )
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
        url, hash_sign, mailbox = rest.rpartition("#")
        if not hash_sign or not url or not mailbox:
            raise ConfigError(
                f"bad side address {text!r}: use ews:https://host/EWS/Exchange.asmx#MAILBOX"
            )
        if not url.lower().startswith(("http://", "https://")):
            raise ConfigError(f"bad side address {text!r}: the EWS URL must be http(s)")
        return Address("ews", mailbox, text, url=url)
    raise ConfigError(
        f"bad side address {text!r}: unknown kind {scheme!r} (use ics:, webcal://, https://, "
        "activities:, graph:, ews: or severa:)"
    )


def _optional_module(name: str, address: Address) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(
            f"{address.text}: the {address.kind} backend is not available ({exc})"
        ) from exc


def _check_policy_types(config: Config, known: Mapping[str, Any], address: Address) -> None:
    """The policy may only name activity types the activities file has (S8, S9).

    A Personal type the file lacks is not an error: private entries get the default
    type and the engine journals a warning (S9: everything in the calendar comes in).
    """
    named = set(config.policy.outgoing_types)
    named.update(t for t in (config.policy.default_type,) if t)
    unknown = sorted(named - set(known))
    if unknown:
        raise ConfigError(
            f"{address.text}: the policy names activity types the file does not have: "
            f"{', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


def open_backend(address: Address, config: Config) -> Any:
    """Build the backend an address names (``ActivityBackend``, ``IcsBackend`` ...).

    Raises:
        ConfigError: a setting or secret the backend needs is missing or wrong.
        NotFound: a local file does not exist.
    """
    if address.kind == "ics":
        from severa_ext.backends.ics import DEFAULT_MAX_BYTES, IcsBackend

        path = Path(address.target).expanduser()
        if path.exists() and not path.is_file():
            raise ConfigError(f"{address.text}: {path} is not a file")
        if not path.parent.is_dir():
            raise ConfigError(f"{address.text}: no such folder {path.parent}")
        return IcsBackend(
            path,
            create_missing=True,
            zone=config.ics.zone,
            encoding=config.ics.encoding,
            max_bytes=config.ics.max_bytes or DEFAULT_MAX_BYTES,
        )
    if address.kind == "subscription":
        from severa_ext.backends.ics import DEFAULT_MAX_BYTES, IcsSubscription

        return IcsSubscription(
            address.target,
            zone=config.ics.zone,
            timeout=config.ics.timeout,
            allow_http=config.ics.allow_http,
            max_bytes=config.ics.max_bytes or DEFAULT_MAX_BYTES,
        )
    if address.kind == "activities":
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
        _check_policy_types(config, types, address)
        user_id = config.policy.user_id or store.user.id
        return ActivityBackend(store, user_id=user_id, activity_types=types)
    if address.kind == "graph":
        graph = _optional_module("severa_ext.backends.graph", address)
        settings = config.graph
        if not settings.tenant_id or not settings.client_id:
            raise ConfigError(f"{address.text}: set [graph] tenant_id and client_id in the config")
        secret = read_secret(
            config, settings.client_secret_env, settings.client_secret_file, "[graph] client secret"
        )
        tokens = graph.ClientCredentialsTokenProvider(
            settings.tenant_id, settings.client_id, client_secret=secret
        )
        options = {"base_url": settings.base_url} if settings.base_url else {}
        return graph.GraphBackend(address.target, tokens, **options)
    if address.kind == "severa":
        return _open_severa(address, config)
    ews = _optional_module("severa_ext.backends.ews", address)
    settings_ews = config.ews
    if not settings_ews.username:
        raise ConfigError(f"{address.text}: set [ews] username in the config")
    password = read_secret(
        config, settings_ews.password_env, settings_ews.password_file, "[ews] password"
    )
    make_auth = ews.ntlm_auth if settings_ews.auth == "ntlm" else ews.basic_auth
    return ews.EwsBackend(
        address.url, address.target, auth=make_auth(settings_ews.username, password)
    )


def _open_severa(address: Address, config: Config) -> Any:
    """The Severa backend of ``severa:EMAIL``, its API client from the environment."""
    severa = _optional_module("severa_ext.backends.severa", address)
    client_id = os.environ.get("SEVERA_CLIENT_ID", "").strip()
    if not client_id:
        raise ConfigError(f"{address.text}: set SEVERA_CLIENT_ID (the API client's id)")
    secret = read_secret(
        config, "SEVERA_CLIENT_SECRET", os.environ.get("SEVERA_CLIENT_SECRET_FILE"), "Severa secret"
    )
    options = (
        {"base_url": os.environ["SEVERA_BASE_URL"]} if os.environ.get("SEVERA_BASE_URL") else {}
    )
    credentials = severa.SeveraCredentials(client_id, secret)
    return severa.SeveraBackend(credentials, user_email=address.target, **options)
