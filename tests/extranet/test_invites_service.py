"""Invitations through ExtranetService (issue 3 with issue 2; X6, X8, X9).

Saving a new share returns the invitation (X6); updating rights sends none; stopping a
share (X8) and changing the contact's email make open invites unusable; everything is
in the service's audit trail, never the password.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from severa_ext.clock import FixedClock
from severa_ext.domain import ContactPerson, Customer, Project
from severa_ext.errors import (
    InviteError,
    InviteRevoked,
    InviteUsed,
    ShareRefused,
    WrongPassword,
)
from severa_ext.extranet import (
    Branding,
    ExtranetService,
    InviteAuditKind,
    InviteIssuer,
    Inviter,
    MemoryAuditLog,
    MemoryInviteStore,
    MemoryShareStore,
    RevokeReason,
    Right,
    ScryptKdf,
)

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
BRANDING = Branding(
    product_name="Severa",
    sender_address="noreply@example.com",
    sender_name="Acme Oy",
    login_url="https://extranet.example.com/login",
    support_contact="support@example.com",
)


def project(project_id: str = "p1") -> Project:
    return Project(id=project_id, name=f"Project {project_id}", customer_id="cust")


def anna(**changes: object) -> ContactPerson:
    person = ContactPerson("k1", "cust", "Anna", "Asiakas", "anna@example.com", "fi")
    return attrs.evolve(person, **changes)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def audit() -> MemoryAuditLog:
    return MemoryAuditLog()


@pytest.fixture
def invites() -> MemoryInviteStore:
    return MemoryInviteStore()


@pytest.fixture
def svc(clock, audit, invites) -> ExtranetService:
    issuer = InviteIssuer(BRANDING, kdf=ScryptKdf(n=2, r=1, p=1))
    return ExtranetService(
        MemoryShareStore(), clock=clock, audit=audit, inviter=Inviter(issuer, invites)
    )


def test_x6_saving_a_new_share_returns_the_invitation(svc, invites, audit):
    customer = Customer("cust", "Asiakas Oy", contact_ids={"k1"})
    result = svc.share(project(), anna(), Right.VIEW_STATUS, actor="u1", customer=customer)
    invite = result.invite
    assert invite is not None
    assert invite.record.share_key == ("p1", "k1")
    assert invites.get(invite.record.id) == invite.record
    assert invite.message["To"].addresses[0].addr_spec == "anna@example.com"
    assert invite.message["Subject"] == "Kutsu palvelun Severa Extranetiin: Project p1"
    text = invite.message.get_body(("plain",)).get_content()
    assert "(Asiakas Oy)" in text
    assert invite.password.reveal() in text
    kinds = [e.kind for e in audit.events()]
    assert kinds == ["share", InviteAuditKind.ISSUED]


def test_update_sends_no_new_invitation(svc, invites, audit, clock):
    first = svc.share(project(), anna(), Right.VIEW_STATUS, actor="u1").invite
    clock.advance(timedelta(minutes=5))
    svc.update("p1", "k1", Right.VIEW_STATUS | Right.VIEW_FILES, actor="u1")
    assert len(invites) == 1
    assert [r.id for r in invites.list_open(clock.now())] == [first.record.id]
    assert InviteAuditKind.ISSUED not in [e.kind for e in audit.events()[2:]]


def test_x8_stopping_a_share_revokes_its_open_invite(svc, invites, audit, clock):
    other = svc.share(project("p2"), anna(), Right.VIEW_STATUS, actor="u1").invite
    invite = svc.share(project(), anna(), Right.VIEW_STATUS, actor="u1").invite
    clock.advance(timedelta(minutes=1))
    svc.stop("p1", "k1", actor="u2", confirm=True)
    record = invites.get(invite.record.id)
    assert record.revoked_reason is RevokeReason.SHARE_STOPPED
    assert record.revoked_at == clock.now()
    with pytest.raises(InviteRevoked):
        svc.inviter.verify(invite.record.id, invite.password.reveal(), now=clock.now())
    assert invites.get(other.record.id).is_open(clock.now())  # the other share keeps its own
    revoked = [e for e in audit.events() if e.kind == InviteAuditKind.REVOKED]
    assert [(e.actor, e.project_id) for e in revoked] == [("u2", "p1")]


def test_sharing_again_after_stop_sends_a_fresh_invitation(svc, invites, clock):
    old = svc.share(project(), anna(), Right.VIEW_STATUS, actor="u1").invite
    svc.stop("p1", "k1", actor="u1", confirm=True)
    clock.advance(timedelta(hours=1))
    new = svc.share(project(), anna(), Right.VIEW_STATUS, actor="u1").invite
    assert new.record.id != old.record.id
    assert [r.id for r in invites.list_open(clock.now())] == [new.record.id]
    assert svc.inviter.verify(new.record.id, new.password.reveal(), now=clock.now()).used_at


def test_changing_the_email_revokes_invites_sent_to_the_old_address(svc, invites, audit, clock):
    a = svc.share(project("p1"), anna(), Right.VIEW_STATUS, actor="u1").invite
    b = svc.share(project("p2"), anna(), Right.VIEW_STATUS, actor="u1").invite
    clock.advance(timedelta(minutes=3))
    svc.contact_changed(anna(last_name="Uusinimi"), actor="u1")  # same address: kept
    assert len(invites.list_open(clock.now(), contact_id="k1")) == 2
    svc.contact_changed(anna(email="anna.new@example.com"), actor="u1")
    assert invites.list_open(clock.now(), contact_id="k1") == ()
    for invite in (a, b):
        assert invites.get(invite.record.id).revoked_reason is RevokeReason.EMAIL_CHANGED
    revoked = [e for e in audit.events() if e.kind == InviteAuditKind.REVOKED]
    assert len(revoked) == 2
    assert all("anna" not in e.detail for e in audit.events())


def test_removing_the_email_revokes_too(svc, invites, clock):
    svc.share(project(), anna(), Right.VIEW_STATUS, actor="u1")
    svc.contact_changed(anna(email=None), actor="u1")
    assert invites.list_open(clock.now()) == ()


def test_login_through_the_inviter_is_audited_and_single_use(svc, audit, clock):
    invite = svc.share(project(), anna(), Right.VIEW_STATUS, actor="u1").invite
    with pytest.raises(WrongPassword) as caught:
        svc.inviter.verify(invite.record.id, "2345-6789-ABCD-E", now=clock.now())
    assert caught.value.attempts_left == 4
    assert svc.inviter.verify(invite.record.id, invite.password.reveal(), now=clock.now())
    with pytest.raises(InviteUsed):
        svc.inviter.verify(invite.record.id, invite.password.reveal(), now=clock.now())
    kinds = [e.kind for e in audit.events()]
    assert kinds[-3:] == [InviteAuditKind.FAILED, InviteAuditKind.USED, InviteAuditKind.REFUSED]
    secret = invite.password.reveal()
    assert all(secret not in repr(e) for e in audit.events())


def test_an_inviter_with_its_own_audit_log_keeps_it(clock):
    own = MemoryAuditLog()
    issuer = InviteIssuer(BRANDING, kdf=ScryptKdf(n=2, r=1, p=1))
    svc = ExtranetService(
        MemoryShareStore(), clock=clock, inviter=Inviter(issuer, MemoryInviteStore(), own)
    )
    svc.share(project(), anna(), Right.VIEW_STATUS, actor="u1")
    assert [e.kind for e in own.events()] == [InviteAuditKind.ISSUED]
    assert [e.kind for e in svc.audit.events()] == ["share"]


def test_a_refused_share_issues_and_stores_nothing(svc, invites, audit):
    with pytest.raises(ShareRefused):
        svc.share(project(), anna(email=None), Right.VIEW_STATUS, actor="u1")
    with pytest.raises(ShareRefused) as refused:  # X3 and the invitation: one rule set
        svc.share(project(), anna(email="\u00e4nna@example.com"), Right.VIEW_STATUS, actor="u1")
    assert refused.value.reason == "invalid-email"
    assert len(invites) == 0
    assert svc.get_share("p1", "k1") is None
    assert audit.events() == ()


def test_without_an_inviter_share_returns_no_invite(clock):
    svc = ExtranetService(MemoryShareStore(), clock=clock)
    assert svc.share(project(), anna(), Right.VIEW_STATUS, actor="u1").invite is None
    assert svc.inviter is None
    svc.stop("p1", "k1", actor="u1", confirm=True)  # nothing to revoke, nothing breaks


def test_one_generic_message_for_every_refusal(svc, clock):
    """The docs' pattern: users see one message, hosts log the specific class."""
    invite = svc.share(project(), anna(), Right.VIEW_STATUS, actor="u1").invite
    seen = []
    for candidate, now in [
        ("wrong", clock.now()),
        (invite.password.reveal(), clock.now() + timedelta(days=2)),
    ]:
        try:
            svc.inviter.verify(invite.record.id, candidate, now=now)
        except InviteError as exc:
            seen.append(type(exc).__name__)
    assert seen == ["WrongPassword", "InviteExpired"]
