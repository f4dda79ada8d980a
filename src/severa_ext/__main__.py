"""``python -m severa_ext``: the ``severa-ext`` command line."""

from __future__ import annotations

import sys

from severa_ext.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
