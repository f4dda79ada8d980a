"""The Severa side of a sync pair, over Severa's public REST API.

:class:`SeveraBackend` is the backend; :class:`SeveraCredentials` the organisation's
API client; ``limits=`` takes a :class:`severa_ext.backends._http.HttpLimits`.
See ``docs/guides/severa.md``.
"""

from __future__ import annotations

from severa_ext.backends.severa._mapping import (
    SEVERA_CONTENT_FIELDS,
    SeveraActivityType,
    SeveraUser,
)
from severa_ext.backends.severa._transport import (
    DEFAULT_SCOPES,
    SeveraCredentials,
    api_details,
)
from severa_ext.backends.severa.backend import SEVERA_BASE_URL, SeveraBackend, SeveraCursor

__all__ = [
    "DEFAULT_SCOPES",
    "SEVERA_BASE_URL",
    "SEVERA_CONTENT_FIELDS",
    "SeveraActivityType",
    "SeveraBackend",
    "SeveraCredentials",
    "SeveraCursor",
    "SeveraUser",
    "api_details",
]
