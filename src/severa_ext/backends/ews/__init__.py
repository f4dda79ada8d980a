"""Exchange Web Services backend for on-premises Exchange (S5, S7).

EWS is how the SDK reaches Exchange Server (Subscription Edition, 2019, 2016). In
Exchange Online EWS is being retired (Microsoft started shutting it down in October
2026): pointing this backend at ``outlook.office365.com`` raises a
:class:`~severa_ext.errors.ConfigError` that names ``severa_ext.backends.graph``.

The package is laid out like the Graph backend:

* ``backend``: :class:`EwsBackend` and its cursor;
* ``_reading``: ``SyncFolderItems`` deltas, ``CalendarView`` windows and ``GetItem``;
* ``_writing``: batched ``CreateItem`` / ``UpdateItem`` / ``DeleteItem``, one result
  per op;
* ``_transport``: one SOAP call over one ``requests.Session``, with the one
  error-mapping edge (``translate_errors``) and the single OAuth retry;
* ``_errors``: EWS response codes and HTTP statuses to the package's exceptions;
* ``_xml``: SOAP envelopes built with ``ElementTree`` and read with ``defusedxml``;
* ``_mapping``: ``CalendarItem`` to EWS elements and back;
* ``_auth``: :func:`basic_auth`, :func:`ntlm_auth`, :func:`msal_token_provider`.

See ``docs/guides/ews.md``.
"""

from __future__ import annotations

from severa_ext.backends._tokens import TokenProvider
from severa_ext.backends.ews._auth import basic_auth, msal_token_provider, ntlm_auth
from severa_ext.backends.ews.backend import EXCHANGE_ONLINE_HOSTS, EwsBackend, EwsCursor

__all__ = [
    "EXCHANGE_ONLINE_HOSTS",
    "EwsBackend",
    "EwsCursor",
    "TokenProvider",
    "basic_auth",
    "msal_token_provider",
    "ntlm_auth",
]
