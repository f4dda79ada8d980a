"""Pause Python's cyclic garbage collector around a large sync run (opt-in).

A large run allocates hundreds of thousands of small objects that all stay alive
until their entry is written (plan records, links, items); CPython's collector then
rescans the growing heap again and again, about a tenth of a 100,000-item initial
sync. The engine makes no reference cycles, so reference counting frees its garbage
either way: pausing the collector only postpones other code's cyclic garbage until the
run ends. The collector is process-wide, hence the pause is opt-in
(``SyncEngine(pause_gc=True)``, which the command line uses) and nests safely: runs in
several threads keep it paused until the last one ends, and a collector that was
already disabled is left disabled.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


class _Pause:
    """How many runs want the collector paused, and whether to enable it after."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.restore = False


_PAUSE = _Pause()


@contextmanager
def collector_paused(active: bool = True) -> Iterator[None]:
    """Disable the cyclic collector inside the block (a no-op if not ``active``)."""
    if not active:
        yield
        return
    with _PAUSE.lock:
        if _PAUSE.depth == 0:
            _PAUSE.restore = gc.isenabled()
            gc.disable()
        _PAUSE.depth += 1
    try:
        yield
    finally:
        with _PAUSE.lock:
            _PAUSE.depth -= 1
            if _PAUSE.depth == 0 and _PAUSE.restore:
                gc.enable()
