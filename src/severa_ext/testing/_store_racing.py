"""Racing helpers of the store contracts: threads and real processes released at once.

Kept apart from :mod:`severa_ext.testing.store_contracts` (and free of pytest and
hypothesis) so that a spawned process imports little: the work functions here are
what those processes run.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs

from severa_ext.domain import ContactPerson
from severa_ext.errors import InviteError, ShareConflict
from severa_ext.extranet.audit import AuditEvent, AuditKind, AuditLog
from severa_ext.extranet.invites import (
    Branding,
    Invite,
    InviteIssuer,
    InviteStore,
    ScryptKdf,
    verify_stored,
)
from severa_ext.extranet.rights import Right
from severa_ext.extranet.shares import Share, ShareStore

__all__ = [
    "CHEAP_KDF",
    "NOW",
    "PROCESSES",
    "append_in_process",
    "audit_event",
    "issue_invite",
    "open_sql",
    "race",
    "run_in_processes",
    "save_in_process",
    "verify_in_process",
    "verify_outcome",
]

T = TypeVar("T")

NOW = datetime(2026, 5, 4, 9, 0, 0, 123456, tzinfo=UTC)
"""The instant the contracts' records are built around (microseconds on purpose)."""

PROCESSES = 2
"""Processes per race: enough to race, few enough for a 2-core runner."""

TIMEOUT = 60.0


def open_sql(store_class: Callable[[Any], object], url: str) -> object:
    """Open ``store_class`` on a new SQLAlchemy engine for ``url`` (for ``reopen``).

    Module-level so that ``functools.partial(open_sql, SQLAuditLog, url)`` pickles
    into another process.
    """
    import sqlalchemy as sa

    return store_class(sa.create_engine(url))


def race(workers: int, task: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``task(i)`` in ``workers`` threads released at once; results or errors."""
    barrier = threading.Barrier(workers)

    def run(index: int) -> T | BaseException:
        barrier.wait(TIMEOUT)
        try:
            return task(index)
        except Exception as exc:  # the contract counts outcomes, errors included
            return exc

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(run, range(workers)))


def run_in_processes(
    target: Callable[..., None], args: tuple[Any, ...], processes: int = PROCESSES
) -> list[Any]:
    """Start spawned processes running ``target(barrier, queue, *args)``.

    ``target`` (module-level, picklable) waits on the barrier, then puts one result
    on the queue. Returns the results, in arrival order.

    Raises:
        AssertionError: a process did not report within the timeout or failed.
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    queue = ctx.Queue()
    started = [ctx.Process(target=target, args=(barrier, queue, *args)) for _ in range(processes)]
    for process in started:
        process.start()
    try:
        results = [queue.get(timeout=TIMEOUT) for _ in started]
    finally:
        for process in started:
            process.join(TIMEOUT)
            if process.is_alive():
                process.kill()
    codes = [process.exitcode for process in started]
    assert codes == [0] * processes, f"a racing process failed: exit codes {codes}"
    return results


def audit_event(project: str | None, contact: str, *, at: datetime, **changes: Any) -> AuditEvent:
    """An event with every field set (``changes`` replace fields)."""
    values: dict[str, Any] = {
        "actor": "user-1",
        "at": at,
        "project_id": project,
        "contact_id": contact,
        "kind": AuditKind.UPDATE,
        "before_rights": Right.VIEW_STATUS,
        "after_rights": Right.VIEW_STATUS | Right.VIEW_HOURS | Right.APPROVE_HOURS,
        "share_version": 2,
        "detail": "rights changed, ÄÖ",
    }
    values.update(changes)
    return AuditEvent(**values)


def append_in_process(barrier: Any, queue: Any, reopen: Callable[[], AuditLog], tag: str) -> None:
    """Open the log, wait for the others, append 20 events of project ``tag``."""
    log = reopen()
    barrier.wait(TIMEOUT)
    for n in range(20):
        log.append(audit_event(tag, f"c{n}", at=NOW))
    queue.put(True)


# --- shares and invites ----------------------------------------------------------------


def save_in_process(
    barrier: Any, queue: Any, reopen: Callable[[], ShareStore], share: Share, expected: int
) -> None:
    """Open the store, wait for the others, try one optimistic save; report the outcome."""
    store = reopen()
    barrier.wait(TIMEOUT)
    try:
        store.save(share, expected_version=expected)
    except ShareConflict:
        queue.put("conflict")
    else:
        queue.put("saved")


@attrs.frozen
class _Pair:
    project_id: str
    contact_id: str


CHEAP_KDF = ScryptKdf(n=2, r=1, p=1)
"""A KDF that costs nothing: the contracts test storage, not the hash's strength."""


def issue_invite(
    project: str, contact: str, *, now: datetime, email: str = "anna.virtanen@example.com"
) -> Invite:
    """A fresh invite (its password and record) for the pair, issued at ``now``."""
    branding = Branding(
        product_name="Severa",
        sender_address="noreply@example.com",
        sender_name="Acme Oy",
        login_url="https://extranet.example.com/login",
        support_contact="support@example.com",
    )
    person = ContactPerson(contact, "customer-1", "Anna", "Virtanen", email=email)
    return InviteIssuer(branding, kdf=CHEAP_KDF).issue(_Pair(project, contact), person, now=now)


def verify_outcome(store: InviteStore, invite_id: str, candidate: str, now: datetime) -> str:
    """``"used"`` when ``verify_stored`` accepted the password, else the error's name."""
    try:
        verify_stored(store, invite_id, candidate, now)
    except InviteError as exc:
        return type(exc).__name__
    return "used"


def verify_in_process(
    barrier: Any,
    queue: Any,
    reopen: Callable[[], InviteStore],
    attempt: tuple[str, str, datetime],
) -> None:
    """Open the store, wait for the others, verify ``(invite_id, candidate, now)`` once;
    report the outcome."""
    store = reopen()
    barrier.wait(TIMEOUT)
    queue.put(verify_outcome(store, *attempt))
