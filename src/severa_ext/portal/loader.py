"""The host's projects as the portal reads and writes them: :class:`ProjectLoader`.

The portal holds no project data. On each request it loads the project from the host
(so the page shows the project as it is now), hands it to the SDK's
:class:`~severa_ext.extranet.service.ExtranetService` (which decides what the contact
sees and may do, X5, X7, X8), and gives the project the SDK returns after an action
back to the host to save. File bytes go to the host too. :class:`MemoryProjectLoader`
is the in-memory one (tests and the demo).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from severa_ext.domain import Project, ProjectStatus

__all__ = ["MemoryProjectLoader", "ProjectLoader"]


@runtime_checkable
class ProjectLoader(Protocol):
    """What a host implements so the portal can show and change its projects."""

    def load(self, project_id: str) -> Project | None:
        """The project as it is now, or ``None`` when there is none."""
        ...

    def save(self, project: Project) -> None:
        """Persist the project an SDK action returned (approval, comment, file...).

        The project is the one :meth:`load` gave plus that one action. A host whose
        projects other writers change at the same time stores only the difference
        (the new comment, the approved entries' approval fields, the new file or link,
        the status) rather than the whole value.
        """
        ...

    def statuses(self, project_id: str) -> tuple[ProjectStatus, ...]:
        """The statuses a contact may choose for the project (``CHANGE_STATUS``)."""
        ...

    def store_file(self, project_id: str, file_id: str, data: bytes) -> None:
        """Keep the bytes of a file the contact added (the SDK recorded its metadata)."""
        ...

    def read_file(self, project_id: str, file_id: str) -> bytes | None:
        """The bytes of a project's file, or ``None`` when the host has none."""
        ...


class MemoryProjectLoader:
    """The in-memory :class:`ProjectLoader`; thread-safe."""

    def __init__(
        self, projects: Iterable[Project] = (), *, statuses: Iterable[ProjectStatus] = ()
    ) -> None:
        """Hold ``projects``; ``statuses`` are offered for every project."""
        self._lock = threading.Lock()
        self._projects = {p.id: p for p in projects}
        self._statuses = tuple(statuses)
        self._files: dict[tuple[str, str], bytes] = {}

    def load(self, project_id: str) -> Project | None:
        """The project, or ``None``."""
        with self._lock:
            return self._projects.get(project_id)

    def save(self, project: Project) -> None:
        """Replace the stored project."""
        with self._lock:
            self._projects[project.id] = project

    def statuses(self, project_id: str) -> tuple[ProjectStatus, ...]:
        """The statuses offered."""
        return self._statuses

    def store_file(self, project_id: str, file_id: str, data: bytes) -> None:
        """Keep a file's bytes."""
        with self._lock:
            self._files[(project_id, file_id)] = bytes(data)

    def read_file(self, project_id: str, file_id: str) -> bytes | None:
        """A file's bytes, or ``None``."""
        with self._lock:
            return self._files.get((project_id, file_id))

    def __repr__(self) -> str:
        with self._lock:
            return f"MemoryProjectLoader({len(self._projects)} projects)"
