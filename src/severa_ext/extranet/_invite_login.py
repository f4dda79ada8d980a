"""The login by address and one-time password (X9), in constant work.

The invitation tells the contact to log in with their address and the password, so
the host has no invite id. :func:`attempt_login` finds the open invites of the
normalised address and runs exactly ``slots`` KDF derivations whatever it finds (the
newest ``slots`` invites, then dummy runs), so the time of a login tells nothing about
whether the address has invitations. :meth:`severa_ext.extranet.invites.Inviter.login`
audits the outcome and raises one generic error.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from severa_ext.domain import normalize_email
from severa_ext.errors import EmailAddressError, InviteConflict, InviteError, WrongPassword
from severa_ext.extranet.invites import (
    InviteRecord,
    InviteStore,
    ScryptKdf,
    dummy_derive,
    verify,
    verify_stored,
)

__all__ = ["LoginOutcome", "attempt_login"]

_SAVE_ROUNDS = 8


@attrs.frozen
class LoginOutcome:
    """What one login attempt did.

    Attributes:
        used: the invite whose password was accepted (stored as used), or ``None``.
        failed: the invites that counted one more failure (stored).
        reason: ``"granted"``, ``"wrong-password"``, ``"no-open-invite"`` or
            ``"invalid-address"``.
        tried: the newest invite tried (``None`` when none was).
    """

    used: InviteRecord | None
    failed: tuple[InviteRecord, ...]
    reason: str
    tried: InviteRecord | None


def attempt_login(
    store: InviteStore,
    email: object,
    candidate: str,
    now: datetime,
    *,
    slots: int,
    dummy_kdf: ScryptKdf,
) -> LoginOutcome:
    """Check ``candidate`` against the open invites of ``email``, in ``slots`` KDF runs.

    A match is stored as used (compare-and-swap; a concurrent login that used it first
    wins). Without a match, every invite tried counts one failure, so guessing at one
    address locks all its invitations after ``max_attempts`` tries.
    """
    try:
        address: str | None = normalize_email(email)
    except EmailAddressError:
        address = None
    found = () if address is None else store.list_open(now, email=address)
    tried = tuple(reversed(found))[:slots]  # the newest first
    outcomes = [_check(record, candidate, now) for record in tried]
    for _ in range(slots - len(tried)):
        dummy_derive(dummy_kdf)
    newest = tried[0] if tried else None
    for record, outcome in zip(tried, outcomes, strict=True):
        if isinstance(outcome, InviteRecord):
            used = _store_use(store, record, outcome, candidate, now)
            if used is not None:
                return LoginOutcome(used, (), "granted", newest)
    if not tried:
        reason = "invalid-address" if address is None else "no-open-invite"
        return LoginOutcome(None, (), reason, None)
    failed = tuple(
        stored
        for record, outcome in zip(tried, outcomes, strict=True)
        if isinstance(outcome, WrongPassword)
        and (stored := _store_failure(store, record, outcome, now)) is not None
    )
    return LoginOutcome(None, failed, "wrong-password", newest)


def _check(record: InviteRecord, candidate: str, now: datetime) -> InviteRecord | InviteError:
    try:
        return verify(record, candidate, now)
    except InviteError as exc:
        return exc


def _store_use(
    store: InviteStore, read: InviteRecord, used: InviteRecord, candidate: str, now: datetime
) -> InviteRecord | None:
    try:
        store.save(used, expected_version=read.version)
    except InviteConflict:  # changed meanwhile: decide again on the stored record
        try:
            return verify_stored(store, read.id, candidate, now)
        except InviteError:
            return None
    return used


def _store_failure(
    store: InviteStore, read: InviteRecord, refusal: WrongPassword, now: datetime
) -> InviteRecord | None:
    """Count one failure on ``read``; re-read (without a KDF run) if it changed."""
    record, updated = read, refusal.record
    for _ in range(_SAVE_ROUNDS):
        if not isinstance(updated, InviteRecord):
            return None
        try:
            store.save(updated, expected_version=record.version)
        except InviteConflict:
            record = store.get(read.id)
            if not record.is_open(now):
                return None
            updated = attrs.evolve(
                record, failed_attempts=record.failed_attempts + 1, version=record.version + 1
            )
            continue
        return updated
    return None
