"""What the file benchmarks share: a generated source calendar, and a module of the
package as of an earlier git revision (for side-by-side rows)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType

from severa_ext.backends.memory import MemoryBackend
from severa_ext.sync.items import CalendarItem

ROOT = Path(__file__).resolve().parent.parent


def memory_calendar(name: str, count: int, start: datetime, noun: str) -> MemoryBackend:
    """A memory calendar ``name`` of ``count`` single items, 13 minutes apart from
    ``start`` (50,000 fit a sync window), titled ``"<Noun> <n>"``."""
    memory = MemoryBackend(name)
    for n in range(count):
        begins = start + timedelta(minutes=13 * n)
        memory.user_create(
            CalendarItem(
                f"{noun.capitalize()} {n}",
                begins,
                begins + timedelta(minutes=30),
                location=f"Room {n % 40}",
                body=f"Generated {noun} {n}\nwith a second line",
            )
        )
    return memory


def git(*args: str) -> str:
    """The output of ``git args`` in the repository."""
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def import_copy(
    folder: Path, package: str, files: Callable[[], dict[str, str]], module: str
) -> ModuleType:
    """``package.module`` from ``files()`` (name -> source) written to ``folder/package``.

    A package already written there is imported as it is (``files`` is not called)."""
    target = folder / package
    if not target.exists():
        target.mkdir(parents=True)
        (target / "__init__.py").write_text("")
        for name, text in files().items():
            (target / name).write_text(text)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module(f"{package}.{module}")
