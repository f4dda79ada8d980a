"""A reference Extranet portal a host can mount (optional extra ``portal``; X1, X5, X7-X11).

A small Flask (WSGI) application over the SDK: the contact logs in with personal
credentials (the invitation's one-time password enrols, then a password of their own),
moves between shared works from the menu on the left (X11), and on each sees only the
sections its share grants, decided by :meth:`ExtranetService.view
<severa_ext.extranet.service.ExtranetService.view>` on every request (X5, X7, X8).
The portal holds no rule of its own; see the "Mounting the portal" guide.

Names load on first use, so ``import severa_ext.portal`` needs no Flask until used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from severa_ext._lazy import lazy_exports

if TYPE_CHECKING:
    from severa_ext.portal.app import create_app
    from severa_ext.portal.config import PortalConfig, PortalWiring
    from severa_ext.portal.credentials import Credential, CredentialStore, MemoryCredentialStore
    from severa_ext.portal.errors import PortalError, UploadRefused, WeakPassword
    from severa_ext.portal.loader import MemoryProjectLoader, ProjectLoader
    from severa_ext.portal.passwords import Blocklist, PasswordHasher, PasswordPolicy
    from severa_ext.portal.ratelimit import MemoryRateLimiter
    from severa_ext.portal.sessions import MemorySessionStore, SessionStore
    from severa_ext.portal.sql import SQLCredentialStore, SQLSessionStore
    from severa_ext.portal.uploads import UploadPolicy

__all__ = [
    "Blocklist",
    "Credential",
    "CredentialStore",
    "MemoryCredentialStore",
    "MemoryProjectLoader",
    "MemoryRateLimiter",
    "MemorySessionStore",
    "PasswordHasher",
    "PasswordPolicy",
    "PortalConfig",
    "PortalError",
    "PortalWiring",
    "ProjectLoader",
    "SQLCredentialStore",
    "SQLSessionStore",
    "SessionStore",
    "UploadPolicy",
    "UploadRefused",
    "WeakPassword",
    "create_app",
]

_LAZY = {
    "Blocklist": "passwords",
    "Credential": "credentials",
    "CredentialStore": "credentials",
    "MemoryCredentialStore": "credentials",
    "MemoryProjectLoader": "loader",
    "MemoryRateLimiter": "ratelimit",
    "MemorySessionStore": "sessions",
    "PasswordHasher": "passwords",
    "PasswordPolicy": "passwords",
    "PortalConfig": "config",
    "PortalError": "errors",
    "PortalWiring": "config",
    "ProjectLoader": "loader",
    "SQLCredentialStore": "sql",
    "SQLSessionStore": "sql",
    "SessionStore": "sessions",
    "UploadPolicy": "uploads",
    "UploadRefused": "errors",
    "WeakPassword": "errors",
    "create_app": "app",
}


__getattr__, __dir__ = lazy_exports(
    __name__, __all__, {name: f"{__name__}.{module}" for name, module in _LAZY.items()}
)
