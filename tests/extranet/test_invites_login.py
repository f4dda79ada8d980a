"""The invitation's login flow (X9; issues 12 and 18): address + one-time password.

The email tells the contact to log in with their address and the password; the host
has no invite id then. ``Inviter.login`` looks the open invites up by the normalised
address and checks the password in constant work: an unknown address costs the same
KDF runs as a known one and raises the same ``LoginFailed`` with the same message as a
wrong password, while ``LoginFailed.reason`` tells the host which it was. Verifying an
unknown invite id likewise costs a KDF run.
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from extranet.invite_fixtures import BRANDING, CHEAP, Pair
from severa_ext.domain import ContactPerson
from severa_ext.errors import InviteError, InviteNotFound, LoginFailed, ValidationError
from severa_ext.extranet import (
    InviteAuditKind,
    InviteIssuer,
    Inviter,
    MemoryAuditLog,
    MemoryInviteStore,
    ScryptKdf,
)
from severa_ext.extranet.invites import InviteState

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
COSTLY = ScryptKdf(n=2**12, r=8, p=1)  # costly enough that a missing KDF run shows


def anna(**changes: object) -> ContactPerson:
    return attrs.evolve(ContactPerson("k1", "cust", "Anna", email="Anna@Example.com"), **changes)


def inviter(kdf: ScryptKdf = CHEAP, **options: object) -> Inviter:
    issuer = InviteIssuer(BRANDING, kdf=kdf)
    return Inviter(issuer, MemoryInviteStore(), MemoryAuditLog(), **options)


def test_the_contact_logs_in_with_the_address_and_the_password_as_typed():
    login = inviter()
    invite = login.invite(Pair("p1", "k1"), anna(), now=T0, actor="u1")
    typed = invite.password.reveal().lower().replace("-", " ")
    record = login.login("  ANNA@example.COM ", typed, now=T0 + timedelta(minutes=5))
    assert record.id == invite.record.id
    assert record.state(T0) is InviteState.USED
    assert login.store.get(record.id) == record
    assert [e.kind for e in login.audit.events()][-1] == InviteAuditKind.USED
    with pytest.raises(LoginFailed) as again:  # single use
        login.login("anna@example.com", typed, now=T0 + timedelta(minutes=6))
    assert again.value.reason == "no-open-invite"


def test_any_of_the_contacts_open_invitations_logs_in():
    login = inviter()
    first = login.invite(Pair("p1", "k1"), anna(), now=T0, actor="u1")
    login.invite(Pair("p2", "k1"), anna(), now=T0 + timedelta(minutes=1), actor="u1")
    record = login.login("anna@example.com", first.password.reveal(), now=T0 + timedelta(minutes=2))
    assert record.project_id == "p1"
    assert [r.project_id for r in login.store.list_open(T0 + timedelta(minutes=2))] == ["p2"]


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("anna@example.com", "wrong-password"),
        ("nobody@example.com", "no-open-invite"),
        ("not an address", "invalid-address"),
    ],
)
def test_every_refusal_is_one_error_with_one_message_and_a_reason_for_the_host(address, reason):
    login = inviter()
    login.invite(Pair("p1", "k1"), anna(), now=T0, actor="u1")
    with pytest.raises(LoginFailed) as caught:
        login.login(address, "AAAA-BBBB-CCCC-D", now=T0)
    assert isinstance(caught.value, InviteError)
    assert caught.value.reason == reason
    assert str(caught.value) == LoginFailed.MESSAGE
    assert address not in str(caught.value)


def test_a_wrong_password_counts_against_every_open_invite_of_the_address():
    login = inviter()
    login.invite(Pair("p1", "k1"), anna(), now=T0, actor="u1")
    login.invite(Pair("p2", "k1"), anna(), now=T0 + timedelta(minutes=1), actor="u1")
    for _ in range(4):
        with pytest.raises(LoginFailed):
            login.login("anna@example.com", "wrong", now=T0 + timedelta(minutes=2))
    assert {r.failed_attempts for r in login.store.list_open(T0 + timedelta(minutes=2))} == {4}
    with pytest.raises(LoginFailed) as caught:
        login.login("anna@example.com", "wrong", now=T0 + timedelta(minutes=2))
    assert caught.value.reason == "wrong-password"
    assert login.store.list_open(T0 + timedelta(minutes=2)) == ()  # both locked now
    failed = [e for e in login.audit.events() if e.kind == InviteAuditKind.FAILED]
    assert len(failed) == 10
    assert all("anna" not in e.detail.lower() for e in failed)


def test_another_contacts_invite_is_never_found_by_this_address():
    login = inviter()
    bert = ContactPerson("k2", "cust", "Bert", email="bert@example.com")
    other = login.invite(Pair("p1", "k2"), bert, now=T0, actor="u1")
    login.invite(Pair("p1", "k1"), anna(), now=T0, actor="u1")
    with pytest.raises(LoginFailed) as caught:
        login.login("anna@example.com", other.password.reveal(), now=T0)
    assert caught.value.reason == "wrong-password"
    assert login.store.get(other.record.id).failed_attempts == 0


def test_login_refuses_bad_arguments_clearly():
    login = inviter()
    with pytest.raises(ValidationError):
        login.login("anna@example.com", 1234, now=T0)
    with pytest.raises(ValidationError):
        login.login("anna@example.com", "x", now=datetime(2026, 1, 1))
    with pytest.raises(ValidationError, match="login_slots"):
        inviter(login_slots=0)


# --- constant work -------------------------------------------------------------------


@pytest.fixture
def kdf_runs(monkeypatch):
    """Every scrypt run in the test, as its cost parameters: constant work is the same
    KDF runs at the same cost, counted instead of timed (timings flake on busy CI)."""
    runs: list[tuple[int, int, int]] = []
    real = hashlib.scrypt

    def spy(password: bytes, **options: int) -> bytes:
        runs.append((options["n"], options["r"], options["p"]))
        return real(password, **options)

    monkeypatch.setattr(hashlib, "scrypt", spy)
    return runs


def _runs_of(call, runs: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    del runs[:]
    with contextlib.suppress(InviteError):
        call()
    return list(runs)


def test_an_unknown_address_costs_as_much_as_a_wrong_password(kdf_runs):
    issuer = InviteIssuer(BRANDING, kdf=COSTLY, max_attempts=100)  # stays open throughout
    login = Inviter(issuer, MemoryInviteStore())
    login.invite(Pair("p1", "k1"), anna(), now=T0, actor="u1")
    known = _runs_of(lambda: login.login("anna@example.com", "wrong", now=T0), kdf_runs)
    unknown = _runs_of(lambda: login.login("nobody@example.com", "wrong", now=T0), kdf_runs)
    invalid = _runs_of(lambda: login.login("not an address", "wrong", now=T0), kdf_runs)
    assert known == [(COSTLY.n, COSTLY.r, COSTLY.p)] * login.login_slots
    assert unknown == known
    assert invalid == known
    assert login.store.list_open(T0)[0].failed_attempts == 1


def test_verifying_an_unknown_invite_id_costs_a_kdf_run(kdf_runs):
    login = inviter(COSTLY)
    invite = login.invite(Pair("p1", "k1"), anna(), now=T0, actor="u1")
    known = _runs_of(lambda: login.verify(invite.record.id, "wrong", now=T0), kdf_runs)
    unknown = _runs_of(lambda: login.verify("no-such-id", "wrong", now=T0), kdf_runs)
    assert known == [(COSTLY.n, COSTLY.r, COSTLY.p)]
    assert unknown == known
    with pytest.raises(InviteNotFound):
        login.verify("no-such-id", "wrong", now=T0)
