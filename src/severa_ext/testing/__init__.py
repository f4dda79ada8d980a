"""Test support for host applications: pytest fixtures, fake servers, strategies.

Install the ``testing`` extra (``pip install severa-ext[testing]``); the pytest plugin
is registered automatically through the ``pytest11`` entry point.
"""

from __future__ import annotations

__all__: list[str] = []
