"""SQL implementations of the store protocols (optional extras ``sql`` and ``postgres``).

* :mod:`severa_ext.stores.schema`: the tables (one SQLAlchemy ``MetaData``),
  :func:`~severa_ext.stores.schema.create_all` and
  :func:`~severa_ext.stores.schema.stamp` for Alembic.
* :class:`SQLShareStore`, :class:`SQLInviteStore`, :class:`SQLAuditLog` (the
  Extranet) and :class:`SQLActivationStore` (sync activation) on SQLAlchemy Core, for
  the host's PostgreSQL, SQLite or MySQL (``pip install severa-ext[sql]``).

The names here load on first use: ``import severa_ext.stores`` imports no database
library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from severa_ext.stores.activation import SQLActivationStore
    from severa_ext.stores.audit import SQLAuditLog
    from severa_ext.stores.invites import SQLInviteStore
    from severa_ext.stores.shares import SQLShareStore

__all__ = ["SQLActivationStore", "SQLAuditLog", "SQLInviteStore", "SQLShareStore"]

_LAZY = {
    "SQLActivationStore": "severa_ext.stores.activation",
    "SQLAuditLog": "severa_ext.stores.audit",
    "SQLInviteStore": "severa_ext.stores.invites",
    "SQLShareStore": "severa_ext.stores.shares",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
