"""severa_ext: a customer Extranet and duplicate-free two-way calendar sync.

The public API is re-exported here; see ``docs/`` for guides. Importing this package
never imports a backend, a network library or a database driver.
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"

from severa_ext.errors import SeveraExtError

__all__ = [
    "SeveraExtError",
    "__version__",
]
