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

from typing import TYPE_CHECKING

from severa_ext._lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, __all__, _LAZY)
