"""Shares: one (project, contact) pair with its own rights (X2), and where they live.

A :class:`Share` is an immutable value; every change makes a new one with a higher
``version``. A stopped share (X8) is kept as a tombstone with ``stopped_at`` set, so
the version of a pair only ever grows, even when the project is shared again later:
a host session that remembered an old version can never match a new share.

Deny by default: no share, a stopped share or an expired share grants nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from severa_ext.domain._validators import aware, non_blank
from severa_ext.errors import ShareConflict, ValidationError
from severa_ext.extranet.rights import Right, validate_rights

__all__ = ["MemoryShareStore", "Share", "ShareStore", "check_next_version"]


def _valid_rights(_instance: object, _attribute: attrs.Attribute[Right], value: Right) -> None:
    validate_rights(value)


def _positive(_instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"Share.{attribute.name} must be a positive int, got {value!r}")


def check_next_version(version: int, expected_version: int | None, *, what: str) -> None:
    """Refuse a record whose ``version`` is not the one after ``expected_version``.

    The rule every Extranet store applies on ``save``: a new record is version 1,
    a replacement is ``expected_version + 1``. Store implementations may call it.

    Raises:
        ValidationError: ``version`` is not the next version.
    """
    wanted = 1 if expected_version is None else expected_version + 1
    if version != wanted:
        raise ValidationError(
            f"{what} must be saved as version {wanted} (expected_version="
            f"{expected_version}), got version {version}"
        )


@attrs.frozen
class Share:
    """A project shared with one contact person, with the rights of that pair (X2).

    Attributes:
        project_id: the shared project (the seeds' "work").
        contact_id: the customer's contact person it is shared with.
        rights: what the contact may see and do (validated, X4/X5).
        version: starts at 1 and grows by one on every update and stop (X7); sessions
            re-check it per request.
        created_at: when the pair was (last) shared, from the service's clock.
        updated_at: when the rights, expiry or state last changed.
        valid_until: access ends by itself at this instant (``None``: no end).
        stopped_at: when sharing was stopped (X8); ``None`` while the share is live.
        created_by: who shared it (a host user id), for the audit trail.
    """

    project_id: str = attrs.field(validator=non_blank)
    contact_id: str = attrs.field(validator=non_blank)
    rights: Right = attrs.field(validator=_valid_rights)
    created_at: datetime = attrs.field(validator=aware)
    updated_at: datetime = attrs.field(validator=aware)
    version: int = attrs.field(default=1, validator=_positive)
    valid_until: datetime | None = attrs.field(default=None, validator=aware)
    stopped_at: datetime | None = attrs.field(default=None, validator=aware)
    created_by: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """The ``(project_id, contact_id)`` pair that identifies the share."""
        return (self.project_id, self.contact_id)

    @property
    def stopped(self) -> bool:
        """Whether sharing was stopped (X8)."""
        return self.stopped_at is not None

    def expired(self, now: datetime) -> bool:
        """Whether ``valid_until`` has passed at ``now`` (the end instant is excluded)."""
        return self.valid_until is not None and now >= self.valid_until

    def active(self, now: datetime) -> bool:
        """Whether the share grants anything at ``now``: not stopped and not expired."""
        return not self.stopped and not self.expired(now)


@runtime_checkable
class ShareStore(Protocol):
    """Where shares live. One record per (project, contact) pair, stopped ones included.

    Implementations must make ``save`` atomic per pair; reads must see the last save
    at once (no cached grant may outlive a change, X7/X8).
    """

    def get(self, project_id: str, contact_id: str) -> Share | None:
        """Return the share of the pair (stopped ones too), or ``None``."""
        ...

    def save(self, share: Share, *, expected_version: int | None) -> None:
        """Insert or replace the share of ``share.key``, atomically, if unchanged.

        Optimistic locking, the convention of every Extranet store:
        ``expected_version`` is the version of the record the caller read (``None``:
        it read no record) and ``share.version`` is the next one (``1`` for a new
        pair, else ``expected_version + 1``). A SQL store does
        ``UPDATE ... WHERE project_id = ? AND contact_id = ? AND version = ?`` (or an
        ``INSERT`` that fails on the primary key) and raises when no row matched.

        Raises:
            ShareConflict: the stored record's version is not ``expected_version``;
                nothing is written. Built from the pair and ``expected_version``
                (``actual_version`` only when the store knows it).
            ValidationError: ``share.version`` is not the next version.
        """
        ...

    def for_contact(self, contact_id: str) -> Iterable[Share]:
        """Every share (stopped ones too) of one contact person."""
        ...

    def for_project(self, project_id: str) -> Iterable[Share]:
        """Every share (stopped ones too) of one project."""
        ...


class MemoryShareStore:
    """The in-memory :class:`ShareStore`; thread-safe, for tests and small hosts."""

    def __init__(self, shares: Iterable[Share] = ()) -> None:
        """Create the store, optionally pre-filled.

        Args:
            shares: initial shares (a later one of the same pair replaces an earlier one).
        """
        self._lock = threading.Lock()
        self._shares: dict[tuple[str, str], Share] = {s.key: s for s in shares}

    def get(self, project_id: str, contact_id: str) -> Share | None:
        """Return the share of the pair, or ``None``."""
        with self._lock:
            return self._shares.get((project_id, contact_id))

    def save(self, share: Share, *, expected_version: int | None) -> None:
        """Insert or replace the share of ``share.key`` if its version is as expected.

        Args:
            share: the new record.
            expected_version: the version of the record being replaced (``None``: the
                pair must have no record yet).

        Raises:
            ShareConflict: another writer got there first.
            ValidationError: ``share`` is not a ``Share``, or not the next version.
        """
        if not isinstance(share, Share):
            raise ValidationError(f"MemoryShareStore.save needs a Share, got {share!r}")
        check_next_version(share.version, expected_version, what=f"share {share.key!r}")
        with self._lock:
            current = self._shares.get(share.key)
            actual = None if current is None else current.version
            if actual != expected_version:
                raise ShareConflict(
                    share.project_id,
                    share.contact_id,
                    expected_version=expected_version,
                    actual_version=actual,
                )
            self._shares[share.key] = share

    def for_contact(self, contact_id: str) -> tuple[Share, ...]:
        """Every share of one contact, ordered by project id."""
        with self._lock:
            found = [s for s in self._shares.values() if s.contact_id == contact_id]
        return tuple(sorted(found, key=lambda s: s.project_id))

    def for_project(self, project_id: str) -> tuple[Share, ...]:
        """Every share of one project, ordered by contact id."""
        with self._lock:
            found = [s for s in self._shares.values() if s.project_id == project_id]
        return tuple(sorted(found, key=lambda s: s.contact_id))

    def __len__(self) -> int:
        with self._lock:
            return len(self._shares)

    def __repr__(self) -> str:
        return f"MemoryShareStore({len(self)} shares)"
