"""A stateful model of invitations (issue 3; X6, X8): hypothesis drives an ``Inviter``.

Rules issue invites for a few (project, contact) pairs, try right and wrong passwords
(by invite id and by address, X9), let time pass, stop shares and change contacts' email
addresses. A plain-Python model predicts every outcome; the invariants check the store
against it: a password is accepted at most once, never after revocation, use, lock or
expiry, at most one invite per share is open, and the audit trail never holds a password
or an address.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from extranet.invite_fixtures import BRANDING, Pair
from severa_ext.domain import ContactPerson
from severa_ext.errors import (
    InviteError,
    InviteExpired,
    InviteLocked,
    InviteRevoked,
    InviteUsed,
    LoginFailed,
    WrongPassword,
)
from severa_ext.extranet.audit import MemoryAuditLog
from severa_ext.extranet.invites import (
    InviteAuditKind,
    InviteIssuer,
    Inviter,
    MemoryInviteStore,
    ScryptKdf,
)
from support import scaled

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PROJECTS = ("p1", "p2")
CONTACTS = ("k1", "k2")
MAX_ATTEMPTS = 2
TTL = timedelta(hours=1)
WRONG = "2222-2222-2222-2"


@attrs.define
class Expected:
    """The model of one invite."""

    password: str
    share: tuple[str, str]
    email: str
    expires_at: datetime
    used: bool = False
    failed: int = 0
    revoked: bool = False

    def is_open(self, now: datetime) -> bool:
        return (
            not self.revoked
            and not self.used
            and self.failed < MAX_ATTEMPTS
            and now < self.expires_at
        )

    def outcome(self, right: bool, now: datetime) -> type[InviteError] | None:
        if self.revoked:
            return InviteRevoked
        if self.used:
            return InviteUsed
        if self.failed >= MAX_ATTEMPTS:
            return InviteLocked
        if now >= self.expires_at:
            return InviteExpired
        return None if right else WrongPassword


class InviteMachine(RuleBasedStateMachine):
    invites = Bundle("invites")

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.audit = MemoryAuditLog()
        issuer = InviteIssuer(
            BRANDING, kdf=ScryptKdf(n=2, r=1, p=1), ttl=TTL, max_attempts=MAX_ATTEMPTS
        )
        self.inviter = Inviter(issuer, MemoryInviteStore(), self.audit)
        self.emails = {contact: f"{contact}@customer.example" for contact in CONTACTS}
        self.changes = 0
        self.model: dict[str, Expected] = {}
        self.accepted: list[str] = []

    def contact(self, contact_id: str) -> ContactPerson:
        return ContactPerson(contact_id, "cust", "Anna", email=self.emails[contact_id])

    @rule(target=invites, project=st.sampled_from(PROJECTS), contact=st.sampled_from(CONTACTS))
    def issue(self, project, contact):
        invite = self.inviter.invite(
            Pair(project, contact), self.contact(contact), now=self.now, actor="u1"
        )
        for expected in self.model.values():
            if expected.share == (project, contact) and expected.is_open(self.now):
                expected.revoked = True  # superseded
        self.model[invite.record.id] = Expected(
            password=invite.password.reveal(),
            share=(project, contact),
            email=self.emails[contact],
            expires_at=self.now + TTL,
        )
        return invite.record.id

    @rule(invite_id=invites, right=st.booleans())
    def attempt(self, invite_id, right):
        expected = self.model[invite_id]
        outcome = expected.outcome(right, self.now)
        candidate = expected.password.lower() if right else WRONG
        if outcome is None:
            record = self.inviter.verify(invite_id, candidate, now=self.now)
            assert record.used_at == self.now
            expected.used = True
            self.accepted.append(invite_id)
            return
        with pytest.raises(InviteError) as caught:
            self.inviter.verify(invite_id, candidate, now=self.now)
        assert type(caught.value) is outcome
        if outcome is WrongPassword:
            expected.failed += 1
            assert caught.value.attempts_left == MAX_ATTEMPTS - expected.failed

    @rule(invite_id=invites, right=st.booleans(), shout=st.booleans())
    def login_by_address(self, invite_id, right, shout):
        """X9: the address and the password, no invite id; every open invite is tried."""
        expected = self.model[invite_id]
        address = expected.email.upper() if shout else expected.email
        candidate = expected.password if right else WRONG
        tried = [
            i for i, e in self.model.items() if e.email == expected.email and e.is_open(self.now)
        ]
        if right and invite_id in tried:
            record = self.inviter.login(address, candidate, now=self.now)
            assert record.id == invite_id
            expected.used = True
            self.accepted.append(invite_id)
            return
        with pytest.raises(LoginFailed) as caught:
            self.inviter.login(address, candidate, now=self.now)
        assert caught.value.reason == ("wrong-password" if tried else "no-open-invite")
        for other in tried:
            self.model[other].failed += 1

    @rule(minutes=st.integers(min_value=0, max_value=50))
    def wait(self, minutes):
        self.now += timedelta(minutes=minutes)

    @rule(project=st.sampled_from(PROJECTS), contact=st.sampled_from(CONTACTS))
    def stop_share(self, project, contact):
        revoked = self.inviter.revoke_share(project, contact, now=self.now, actor="u1")
        predicted = {
            invite_id
            for invite_id, expected in self.model.items()
            if expected.share == (project, contact) and expected.is_open(self.now)
        }
        assert {r.id for r in revoked} == predicted
        for invite_id in predicted:
            self.model[invite_id].revoked = True

    @rule(contact=st.sampled_from(CONTACTS), same=st.booleans())
    def change_card(self, contact, same):
        if not same:
            self.changes += 1
            self.emails[contact] = f"{contact}.{self.changes}@customer.example"
        revoked = self.inviter.contact_changed(self.contact(contact), now=self.now, actor="u1")
        predicted = {
            invite_id
            for invite_id, expected in self.model.items()
            if expected.share[1] == contact
            and expected.is_open(self.now)
            and expected.email != self.emails[contact]
        }
        assert {r.id for r in revoked} == predicted
        for invite_id in predicted:
            self.model[invite_id].revoked = True

    @invariant()
    def store_matches_the_model(self):
        store = self.inviter.store
        open_now = {r.id for r in store.list_open(self.now)}
        assert open_now == {i for i, e in self.model.items() if e.is_open(self.now)}
        for invite_id, expected in self.model.items():
            record = store.get(invite_id)
            assert (record.used_at is not None) == expected.used
            assert (record.revoked_at is not None) == expected.revoked
            assert record.failed_attempts == expected.failed

    @invariant()
    def at_most_one_open_invite_per_share(self):
        shares = [r.share_key for r in self.inviter.store.list_open(self.now)]
        assert len(shares) == len(set(shares))

    @invariant()
    def each_password_is_accepted_at_most_once(self):
        assert len(self.accepted) == len(set(self.accepted))
        used = [e for e in self.audit.events() if e.kind == InviteAuditKind.USED]
        assert len(used) == len(self.accepted)

    @invariant()
    def the_audit_trail_holds_no_secret(self):
        dump = repr(self.audit.events())
        for expected in self.model.values():
            assert expected.password not in dump
            assert expected.email not in dump


InviteMachine.TestCase.settings = settings(max_examples=scaled(60), stateful_step_count=30)
test_invite_machine = InviteMachine.TestCase
