"""The Extranet service on the SQL stores: two services (two engines, as two host
processes would have) see each other's changes at once (X7, X8), invites are used once
(X9), and the audit trail keeps every event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from severa_ext.clock import FixedClock
from severa_ext.domain import ContactPerson, Project
from severa_ext.errors import InviteRevoked, InviteUsed
from severa_ext.extranet import (
    Action,
    AuditKind,
    Branding,
    ExtranetService,
    InviteIssuer,
    Inviter,
    MemoryContactDirectory,
    Right,
)
from severa_ext.stores.audit import SQLAuditLog
from severa_ext.stores.invites import SQLInviteStore
from severa_ext.stores.shares import SQLShareStore
from severa_ext.testing._store_racing import CHEAP_KDF

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
PROJECT = Project(id="p1", name="Website renewal", customer_id="cust")
ANNA = ContactPerson("k1", "cust", "Anna", "Asiakas", "anna@example.com", "fi")


def _service(engine: sa.Engine, clock: FixedClock) -> ExtranetService:
    issuer = InviteIssuer(
        Branding(
            product_name="Severa",
            sender_address="noreply@example.com",
            sender_name="Acme Oy",
            login_url="https://extranet.example.com/login",
            support_contact="support@example.com",
        ),
        kdf=CHEAP_KDF,
    )
    return ExtranetService(
        SQLShareStore(engine),
        clock=clock,
        directory=MemoryContactDirectory(contacts=[ANNA], projects=[PROJECT]),
        audit=SQLAuditLog(engine),
        inviter=Inviter(issuer, SQLInviteStore(engine)),
    )


@pytest.fixture
def clock():
    return FixedClock(T0)


@pytest.fixture
def host(engine, clock):
    return _service(engine, clock)


@pytest.fixture
def portal(engine, database_url, clock):
    """A second process of the host: its own engine on the same database."""
    other = sa.create_engine(database_url)
    yield _service(other, clock)
    other.dispose()


def test_changes_take_effect_at_once_across_processes(host, portal, clock):
    result = host.share(PROJECT, ANNA, Right.VIEW_STATUS | Right.VIEW_HOURS, actor="u1")
    assert portal.authorize("k1", "p1", Action.VIEW_HOURS).allowed
    clock.advance(timedelta(minutes=1))
    host.update("p1", "k1", Right.VIEW_STATUS, actor="u1")
    refused = portal.authorize("k1", "p1", Action.VIEW_HOURS)
    assert (refused.allowed, refused.reason) == (False, "missing-right")  # X7
    stale = portal.authorize("k1", "p1", Action.OPEN, expected_version=result.share.version)
    assert not stale.allowed
    host.stop("p1", "k1", actor="u1", confirm=True)
    assert not portal.authorize("k1", "p1", Action.OPEN).allowed  # X8
    kinds = [e.kind for e in portal.audit.for_project("p1")]
    assert [k for k in kinds if k in {AuditKind.SHARE, AuditKind.UPDATE, AuditKind.STOP}] == [
        AuditKind.SHARE,
        AuditKind.UPDATE,
        AuditKind.STOP,
    ]


def test_an_invite_is_used_once_and_stopping_revokes(host, portal, clock):
    first = host.share(PROJECT, ANNA, Right.VIEW_STATUS, actor="u1").invite
    assert first is not None
    used = portal.inviter.verify(first.record.id, first.password.reveal(), now=clock.now())
    assert used.used_at == T0
    with pytest.raises(InviteUsed):
        host.inviter.verify(first.record.id, first.password.reveal(), now=clock.now())
    host.stop("p1", "k1", actor="u1", confirm=True)
    again = host.share(PROJECT, ANNA, Right.VIEW_STATUS, actor="u1").invite
    assert again is not None
    host.stop("p1", "k1", actor="u1", confirm=True)
    with pytest.raises(InviteRevoked):
        portal.inviter.verify(again.record.id, again.password.reveal(), now=clock.now())
