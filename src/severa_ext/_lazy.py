"""Public names that load on first use (PEP 562), for the package ``__init__`` modules.

A package lists where each of its public names is defined; :func:`lazy_exports` gives
its module-level ``__getattr__`` and ``__dir__``, so ``import severa_ext`` (or one of
its packages) imports nothing heavy until a name is used. The name is looked up in its
module every time (``sys.modules`` stays the one truth; the import system caches the
module itself), and type checkers see the names through the package's
``if TYPE_CHECKING:`` imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, public: list[str], where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose ``public`` names live in the
    modules ``where`` names (absolute module names)."""

    def getattr_(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def dir_() -> list[str]:
        loaded = vars(importlib.import_module(package))
        return sorted({*loaded, *public})

    return getattr_, dir_
