"""Replacing a file atomically, and sweeping the temporary files a killed writer left.

Private helper of the file backends. A new content is written to a temporary file in
the file's own folder, named ``.<name>.<random>.tmp`` (so it is recognisably the
file's and hidden from a plain ``ls``), fsynced, renamed over the file with
``os.replace`` and the folder fsynced where the platform allows: a reader sees the
old file or the new one, never a mix, and after a power cut one of them is there.

A writer killed between creating its temporary file and the rename (SIGKILL, a power
cut) leaves that file behind. :func:`remove_stale_temporaries` removes those of one
file whose last change is older than :data:`STALE_AFTER_SECONDS`. A live writer
writes its temporary file and renames it within one flush (well under a second for
20,000 activities), so the fresh temporary file of a concurrent writer is never
touched; and should a writer ever stay paused longer than that between its last
write and its rename, the rename fails, its flush raises and keeps its writes:
nothing is lost either way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import time
from pathlib import Path

__all__ = ["STALE_AFTER_SECONDS", "remove_stale_temporaries", "replace_file", "temporary_pattern"]

logger = logging.getLogger(__name__)

STALE_AFTER_SECONDS = 600.0
"""How old (last change) a temporary file must be before it counts as left over."""

_SUFFIX = ".tmp"


def temporary_pattern(path: Path) -> re.Pattern[str]:
    """The names of ``path``'s temporary files: ``.<name>.<random>.tmp``.

    The random part holds no dot, so another file's temporary files never match
    (``.a.json.x.<random>.tmp`` belongs to ``a.json.x``, not to ``a.json``).
    """
    return re.compile(rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]+{re.escape(_SUFFIX)}")


def replace_file(path: Path, data: bytes | bytearray) -> os.stat_result:
    """Replace ``path`` by ``data`` atomically (see the module doc); return the new
    file's status (its inode, size and modification time are the renamed file's).

    A file that did not exist is created the same way; an existing file keeps its
    permission bits.

    Raises:
        OSError: the file cannot be written (its old content is untouched and the
            temporary file is removed).
    """
    folder = path.parent
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_SUFFIX, dir=folder)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            written = os.fstat(handle.fileno())
        with contextlib.suppress(FileNotFoundError):  # a new file keeps mkstemp's 0600
            temporary.chmod(path.stat().st_mode & 0o7777)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(folder)
    return written


def _sync_folder(folder: Path) -> None:
    """fsync the folder so that the rename is durable (not possible everywhere)."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def remove_stale_temporaries(path: Path, *, older_than: float = STALE_AFTER_SECONDS) -> list[Path]:
    """Remove ``path``'s temporary files last changed more than ``older_than`` s ago.

    Only names of :func:`temporary_pattern` are considered; one that cannot be
    examined or removed is logged and left. Returns the files removed.
    """
    pattern = temporary_pattern(path)
    limit = time.time() - older_than
    removed: list[Path] = []
    try:
        with os.scandir(path.parent) as listing:
            entries = list(listing)
    except OSError as exc:
        logger.warning("cannot look for stale temporary files of %s: %s", path, exc)
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False) or entry.stat().st_mtime >= limit:
                continue
            Path(entry.path).unlink()
        except FileNotFoundError:
            continue  # its writer renamed it meanwhile, or another sweep removed it
        except OSError as exc:
            logger.warning("cannot remove the stale temporary file %s: %s", entry.path, exc)
            continue
        logger.info("removed the stale temporary file %s", entry.path)
        removed.append(Path(entry.path))
    return removed
