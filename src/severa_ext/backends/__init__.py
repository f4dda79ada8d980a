"""Backends: edge adapters between the sync engine and a calendar or activity store.

Each backend lives in its own module and imports its libraries only there, so
``import severa_ext`` never pulls in requests, msal, XML or ICS parsers.
"""

from __future__ import annotations

__all__: list[str] = []
