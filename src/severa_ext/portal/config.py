"""The portal's configuration and the host's wiring (its stores and its project loader).

:class:`PortalConfig` is configuration (branding, cookies, timeouts, limits); it never
comes from a request. :class:`PortalWiring` is what the host hands in: the SDK's
:class:`~severa_ext.extranet.service.ExtranetService` over the host's stores, the
:class:`~severa_ext.extranet.invites.Inviter` that checks one-time passwords, the
host's :class:`~severa_ext.portal.loader.ProjectLoader`, and where credentials and
sessions live.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from severa_ext.errors import ConfigError
from severa_ext.extranet.invites import Inviter
from severa_ext.extranet.service import ExtranetService
from severa_ext.portal.credentials import CredentialStore
from severa_ext.portal.loader import ProjectLoader
from severa_ext.portal.passwords import PasswordHasher, PasswordPolicy
from severa_ext.portal.sessions import SessionStore
from severa_ext.portal.uploads import UploadPolicy

__all__ = ["PortalConfig", "PortalWiring", "RateLimiter"]

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_COOKIE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class RateLimiter(Protocol):
    """Counts login attempts (:class:`~severa_ext.portal.ratelimit.MemoryRateLimiter`)."""

    def hit(self, key: str, now: datetime) -> float | None:
        """Count one attempt; ``None``, or the seconds to wait when over the limit."""
        ...


def _colour(_instance: object, _attribute: object, value: object) -> None:
    if not isinstance(value, str) or not _COLOUR.match(value):
        raise ConfigError(f"PortalConfig.accent_colour must be #rrggbb, got {value!r}")


def _cookie(_instance: object, _attribute: object, value: object) -> None:
    if not isinstance(value, str) or not _COOKIE.match(value):
        raise ConfigError(f"PortalConfig.cookie_name must be 1-64 of [A-Za-z0-9_-], got {value!r}")


def _samesite(_instance: object, _attribute: object, value: str) -> None:
    if value not in {"Lax", "Strict"}:
        raise ConfigError(f"PortalConfig.same_site must be 'Lax' or 'Strict', got {value!r}")


def _positive(_instance: object, attribute: attrs.Attribute[timedelta], value: object) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ConfigError(f"PortalConfig.{attribute.name} must be a positive timedelta")


@attrs.frozen(kw_only=True)
class PortalConfig:
    """How the portal looks and behaves.

    Attributes:
        product_name: shown in the header and the title (e.g. ``"Extranet"``).
        organisation_name: the sharing organisation, under the product name.
        support_contact: where contacts get help (shown on the login page).
        accent_colour: the brand colour, ``#rrggbb``.
        default_language: ``fi``, ``en`` or ``sv`` before the contact is known.
        cookie_name: the session cookie's name.
        secure_cookies: send the cookie with ``Secure`` (turn off only for plain-HTTP
            tests; ``localhost`` counts as secure in browsers).
        same_site: the cookie's ``SameSite`` (``Lax`` or ``Strict``).
        idle_timeout: a session unused this long ends (default 30 minutes).
        absolute_timeout: a session this old ends (default 12 hours).
        hsts: send ``Strict-Transport-Security`` on HTTPS responses.
        password_policy: the rules for new passwords.
        uploads: the size and type limits of uploads.
    """

    product_name: str = "Extranet"
    organisation_name: str = ""
    support_contact: str = ""
    accent_colour: str = attrs.field(default="#1d5b8f", validator=_colour)
    default_language: str = "en"
    cookie_name: str = attrs.field(default="severa_portal", validator=_cookie)
    secure_cookies: bool = True
    same_site: str = attrs.field(default="Lax", validator=_samesite)
    idle_timeout: timedelta = attrs.field(default=timedelta(minutes=30), validator=_positive)
    absolute_timeout: timedelta = attrs.field(default=timedelta(hours=12), validator=_positive)
    hsts: bool = True
    password_policy: PasswordPolicy = attrs.field(factory=PasswordPolicy)
    uploads: UploadPolicy = attrs.field(factory=UploadPolicy)


@attrs.frozen(kw_only=True)
class PortalWiring:
    """The host's parts the portal runs on.

    Attributes:
        service: the Extranet service over the host's share store, directory and audit
            log; every page asks it (``authorize``/``view``/actions) on every request.
        inviter: checks the invitation's one-time password (login by address, X9).
        projects: the host's projects (:class:`~severa_ext.portal.loader.ProjectLoader`).
        credentials: where contacts' passwords live.
        sessions: where sessions live.
        hasher: hashes passwords (Argon2id).
        limiter: limits login attempts per address and per client.
    """

    service: ExtranetService
    inviter: Inviter
    projects: ProjectLoader
    credentials: CredentialStore
    sessions: SessionStore
    hasher: PasswordHasher
    limiter: RateLimiter
