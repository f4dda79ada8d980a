"""One-time-password invitations (issue 3; X6, X9, X10): passwords, records, verify.

Property tests use a cheap scrypt cost (``ScryptKdf(n=2, r=1, p=1)``): the cost is
recorded in every record, so lowering it changes speed, never behaviour. One test runs
at the default cost.
"""

from __future__ import annotations

import json
import math
import pickle
import re
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from severa_ext.domain import ContactPerson
from severa_ext.errors import (
    ConfigError,
    EmailAddressError,
    InviteError,
    InviteExpired,
    InviteLocked,
    InviteNotFound,
    InviteRevoked,
    InviteUsed,
    SeveraExtError,
    ValidationError,
    WrongPassword,
)
from severa_ext.extranet import _invite_password as pw
from severa_ext.extranet.audit import MemoryAuditLog
from severa_ext.extranet.invites import (
    DEFAULT_KDF,
    MIN_ENTROPY_BITS,
    Branding,
    InviteAuditKind,
    InviteIssuer,
    Inviter,
    InviteRecord,
    InviteState,
    InviteStore,
    MemoryInviteStore,
    OneTimePassword,
    RevokeReason,
    ScryptKdf,
    ShareRef,
    normalize_password,
    password_entropy_bits,
    record_from_dict,
    record_to_dict,
    verify,
    verify_stored,
)
from support import scaled

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
CHEAP = ScryptKdf(n=2, r=1, p=1)
LOOK_ALIKES = "0O1lI"


@attrs.frozen
class Pair:
    """A minimal share: the issuer only needs the (project, contact) pair."""

    project_id: str
    contact_id: str


def branding(**changes: object) -> Branding:
    values: dict[str, object] = {
        "product_name": "Severa",
        "sender_address": "noreply@example.com",
        "sender_name": "Acme Oy",
        "login_url": "https://extranet.example.com/login",
        "support_contact": "support@example.com",
        "time_zone": "Europe/Helsinki",
    }
    values.update(changes)
    return Branding(**values)  # type: ignore[arg-type]


def contact(contact_id: str = "c1", **changes: object) -> ContactPerson:
    values: dict[str, object] = {
        "id": contact_id,
        "customer_id": "cust1",
        "first_name": "Maija",
        "last_name": "Virtanen",
        "email": f"{contact_id}@customer.example",
        "language": "en",
    }
    values.update(changes)
    return ContactPerson(**values)  # type: ignore[arg-type]


def issuer(**options: object) -> InviteIssuer:
    options.setdefault("kdf", CHEAP)
    return InviteIssuer(branding(), **options)  # type: ignore[arg-type]


def issue(project_id: str = "p1", contact_id: str = "c1", *, now: datetime = T0, **options: object):
    return issuer(**options).issue(Pair(project_id, contact_id), contact(contact_id), now=now)


# --- the password (alphabet, generation, entropy) ----------------------------------------


def test_alphabet_has_no_look_alikes_and_survives_case_folding():
    """Issue 3: no 0/O, 1/l/I; upper-case only, so ignoring case never confuses two."""
    assert not set(LOOK_ALIKES) & set(pw.ALPHABET)
    assert pw.ALPHABET.upper() == pw.ALPHABET
    assert len(set(pw.ALPHABET)) == len(pw.ALPHABET) == 31
    folded = {symbol.lower().upper() for symbol in pw.ALPHABET}
    assert folded == set(pw.ALPHABET)
    for look_alike in LOOK_ALIKES:
        assert normalize_password(look_alike * 13) is None


def test_default_password_is_grouped_for_reading_aloud():
    invite = issue()
    assert re.fullmatch(
        r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]",
        invite.password.reveal(),
    )


@pytest.mark.parametrize(("bits", "length"), [(64, 13), (65, 14), (80, 17), (128, 26), (256, 52)])
def test_entropy_bits_sets_the_length(bits, length):
    chosen = issuer(entropy_bits=bits)
    assert chosen.length == length
    assert password_entropy_bits(length) >= bits > password_entropy_bits(length - 1)
    symbols = normalize_password(issue(entropy_bits=bits).password.reveal())
    assert symbols is not None
    assert len(symbols) == length


@pytest.mark.parametrize("bits", [0, 32, 63, 257, True, 64.0, "64"])
def test_entropy_can_only_be_raised(bits):
    """Issue 3: at least 64 bits by default, configurable upward only."""
    with pytest.raises(ValidationError, match="entropy_bits"):
        issuer(entropy_bits=bits)


def test_ten_thousand_passwords_are_distinct_and_meet_the_entropy_floor():
    """Issue 3: 10,000 generated passwords are distinct; entropy from alphabet and length."""
    default = issuer()
    entropy = default.length * math.log2(len(pw.ALPHABET))
    assert entropy >= MIN_ENTROPY_BITS
    passwords = [pw.group(pw.generate(default.length)) for _ in range(10_000)]
    assert len(set(passwords)) == len(passwords)
    symbols = Counter("".join(p.replace("-", "") for p in passwords))
    assert set(symbols) == set(pw.ALPHABET)
    expected = 10_000 * default.length / len(pw.ALPHABET)
    # Uniform draws: every symbol within 15 % of its expectation (about 10 sigma).
    assert all(abs(count - expected) < 0.15 * expected for count in symbols.values())


def test_one_time_password_never_shows_itself():
    invite = issue()
    secret = invite.password.reveal()
    shown = [
        repr(invite.password),
        str(invite.password),
        f"{invite.password}",
        f"{invite.password!s:>40}",
        repr(invite),
        repr(invite.record),
    ]
    assert all(secret not in text and secret.replace("-", "") not in text for text in shown)
    with pytest.raises(TypeError):
        hash(invite.password)
    with pytest.raises(TypeError):
        pickle.dumps(invite.password)
    assert invite.password == OneTimePassword(secret.lower())
    assert invite.password != OneTimePassword("2345-6789-ABCD-E")


def test_record_repr_hides_salt_and_hash():
    record = issue().record
    text = repr(record)
    assert "salt" not in text
    assert "hash" not in text
    assert record.salt.hex() not in text
    assert str(record.hash) not in text


@pytest.mark.parametrize("value", ["", "0000", "hello world", "ABC?", 42])
def test_one_time_password_refuses_foreign_values(value):
    with pytest.raises(ValidationError):
        OneTimePassword(value)  # type: ignore[arg-type]


# --- verify: single use, expiry, lock, constant-time comparison ---------------------------


def separators() -> st.SearchStrategy[str]:
    return st.sampled_from(["", " ", "-", "  ", "\t", "\u2013", "\u2011", " - ", "\u3000"])


@st.composite
def retypings(draw: st.DrawFn, password: str) -> str:
    """How a person may type ``password``: any case, any spaces and dashes, full width."""
    out = []
    for symbol in password.replace("-", ""):
        typed = symbol.lower() if draw(st.booleans()) else symbol
        if draw(st.integers(0, 9)) == 0:
            typed = chr(ord(symbol) + 0xFEE0)  # full-width form
        out.append(draw(separators()) + typed)
    return "".join(out) + draw(separators())


@given(data=st.data())
def test_verify_ignores_case_spaces_and_dashes(data):
    """Issue 3: the verifier ignores case, spaces and dashes."""
    invite = issue()
    typed = data.draw(retypings(invite.password.reveal()))
    used = verify(invite.record, typed, T0 + timedelta(minutes=5))
    assert used.used_at == T0 + timedelta(minutes=5)
    assert used.state(T0) is InviteState.USED


@given(
    candidate=st.one_of(
        st.text(max_size=40), st.text(alphabet=pw.ALPHABET + "-", min_size=12, max_size=16)
    )
)
def test_any_wrong_candidate_fails(candidate):
    """Issue 3: every candidate that is not the password is refused and counted."""
    invite = issue()
    assume(normalize_password(candidate) != normalize_password(invite.password.reveal()))
    with pytest.raises(WrongPassword) as caught:
        verify(invite.record, candidate, T0)
    assert caught.value.attempts_left == invite.record.max_attempts - 1
    assert caught.value.record == attrs.evolve(invite.record, failed_attempts=1, version=2)


def test_one_symbol_off_fails():
    invite = issue()
    symbols = normalize_password(invite.password.reveal())
    assert symbols is not None
    for index in range(len(symbols)):
        other = pw.ALPHABET[(pw.ALPHABET.index(symbols[index]) + 1) % len(pw.ALPHABET)]
        with pytest.raises(WrongPassword):
            verify(invite.record, symbols[:index] + other + symbols[index + 1 :], T0)
    with pytest.raises(WrongPassword):
        verify(invite.record, symbols + symbols[0], T0)
    with pytest.raises(WrongPassword):
        verify(invite.record, symbols[:-1], T0)


attempts = st.lists(
    st.tuples(st.booleans(), st.integers(min_value=0, max_value=30 * 60)), max_size=12
)


@settings(max_examples=scaled(150))
@given(steps=attempts, max_attempts=st.integers(1, 4), ttl_minutes=st.integers(1, 600))
def test_verifies_exactly_once_before_expiry_and_never_after_use_lock_or_expiry(
    steps, max_attempts, ttl_minutes
):
    """Issue 3 property: a model of the rules predicts every outcome of every attempt.

    Each step is (right password?, minutes since the previous step). The record passed
    to the next attempt is the one the previous attempt handed back (``exc.record``).
    """
    invite = issue(max_attempts=max_attempts, ttl=timedelta(minutes=ttl_minutes))
    record, now = invite.record, T0
    used = failed = 0
    for right, minutes in steps:
        now += timedelta(minutes=minutes)
        candidate = invite.password.reveal() if right else "2222-2222-2222-2"
        if used:
            expected: type[InviteError] | None = InviteUsed
        elif failed >= max_attempts:
            expected = InviteLocked
        elif now >= record.expires_at:
            expected = InviteExpired
        else:
            expected = None if right else WrongPassword
        if expected is None:
            record = verify(record, candidate, now)
            used += 1
            assert record.used_at == now
            continue
        with pytest.raises(InviteError) as caught:
            verify(record, candidate, now)
        assert type(caught.value) is expected
        if expected is WrongPassword:
            failed += 1
            assert caught.value.record.failed_attempts == failed
            assert caught.value.attempts_left == max_attempts - failed  # type: ignore[attr-defined]
        else:
            assert caught.value.record == record  # refusals of a closed record change nothing
        record = caught.value.record
    assert used <= 1


def test_expiry_is_exclusive_at_expires_at():
    invite = issue()
    record = invite.record
    assert record.expires_at == T0 + timedelta(hours=24)  # the default TTL (NIST SP 800-63A)
    verify(record, invite.password.reveal(), record.expires_at - timedelta(microseconds=1))
    with pytest.raises(InviteExpired):
        verify(record, invite.password.reveal(), record.expires_at)


def test_locks_after_max_attempts_even_for_the_right_password():
    invite = issue(max_attempts=3)
    record = invite.record
    for left in (2, 1, 0):
        with pytest.raises(WrongPassword) as caught:
            verify(record, "wrong", T0)
        assert caught.value.attempts_left == left
        record = caught.value.record
    assert record.state(T0) is InviteState.LOCKED
    with pytest.raises(InviteLocked):
        verify(record, invite.password.reveal(), T0)


def test_refusal_order_does_not_reveal_the_password():
    """A closed record refuses by its state before the password matters: no oracle."""
    invite = issue()
    right, wrong = invite.password.reveal(), "2345-6789-ABCD-E"
    late = T0 + timedelta(days=2)
    revoked = invite.record.revoked(RevokeReason.SUPERSEDED, T0)
    used = attrs.evolve(invite.record, used_at=T0)
    locked = attrs.evolve(invite.record, failed_attempts=5)
    for record, now, error in [
        (revoked, T0, InviteRevoked),
        (attrs.evolve(used, revoked_at=T0, revoked_reason="host"), late, InviteRevoked),
        (used, late, InviteUsed),
        (attrs.evolve(locked, used_at=T0), T0, InviteUsed),
        (locked, late, InviteLocked),
        (invite.record, late, InviteExpired),
    ]:
        for candidate in (right, wrong):
            with pytest.raises(error) as caught:
                verify(record, candidate, now)
            assert caught.value.record is record
            assert right not in str(caught.value)


def test_refusals_share_one_base_for_one_generic_message():
    for error in (
        InviteExpired,
        InviteUsed,
        InviteLocked,
        InviteRevoked,
        WrongPassword,
        InviteNotFound,
    ):
        assert issubclass(error, InviteError)
        assert issubclass(error, SeveraExtError)


def test_verify_compares_with_compare_digest(monkeypatch):
    """Issue 3: constant-time comparison of KDF outputs (hmac.compare_digest)."""
    import severa_ext.extranet.invites as invites

    calls = []
    real = invites.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    invite = issue()
    monkeypatch.setattr(invites.hmac, "compare_digest", spy)
    with pytest.raises(WrongPassword):
        verify(invite.record, "2345-6789-ABCD-E", T0)
    with pytest.raises(InviteExpired):  # the KDF runs even when the state refuses
        verify(invite.record, "2345-6789-ABCD-E", T0 + timedelta(days=3))
    assert len(calls) == 2
    assert all(len(a) == len(b) == CHEAP.dklen and b == invite.record.hash for a, b in calls)


@pytest.mark.parametrize(
    ("candidate", "now"),
    [(None, T0), (b"ABCD", T0), ("ABCD", datetime(2026, 11, 23, 9, 30)), ("ABCD", "today")],
)
def test_verify_refuses_bad_arguments(candidate, now):
    with pytest.raises(ValidationError):
        verify(issue().record, candidate, now)


def test_overlong_candidate_is_just_wrong():
    invite = issue()
    with pytest.raises(WrongPassword):
        verify(invite.record, invite.password.reveal() + " " * 10_000, T0)


# --- the KDF --------------------------------------------------------------------------


def test_scrypt_matches_rfc_7914_test_vector():
    kdf = ScryptKdf(n=1024, r=8, p=16, dklen=64)
    assert kdf.derive(b"password", b"NaCl").hex() == (
        "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
        "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
    )


@pytest.mark.parametrize(
    "params",
    [
        {"n": 3},
        {"n": 1},
        {"n": 2**21},
        {"n": True},
        {"r": 0},
        {"p": 17},
        {"dklen": 8},
        {"name": "md5"},
    ],
)
def test_scrypt_parameters_are_bounded(params):
    with pytest.raises(ValidationError):
        ScryptKdf(**params)


def test_raising_the_cost_keeps_old_records_verifiable():
    """The KDF parameters are recorded, so the default can be raised later."""
    old = issue(kdf=ScryptKdf(n=2, r=1, p=1))
    stronger = issuer(kdf=ScryptKdf(n=16, r=2, p=1))
    new = stronger.issue(Pair("p2", "c1"), contact("c1"), now=T0)
    assert (old.record.kdf.n, new.record.kdf.n) == (2, 16)
    assert verify(old.record, old.password.reveal(), T0).used_at == T0
    assert verify(new.record, new.password.reveal(), T0).used_at == T0


def test_issue_and_verify_at_the_default_cost():
    """One round trip at the default scrypt cost (its timing is in benchmarks/)."""
    invite = InviteIssuer(branding()).issue(Pair("p1", "c1"), contact("c1"), now=T0)
    assert invite.record.kdf == DEFAULT_KDF == ScryptKdf(n=2**15, r=8, p=1, dklen=32)
    assert verify(invite.record, invite.password.reveal(), T0).used_at == T0


# --- the record and its serialization --------------------------------------------------


def test_issue_fills_the_record():
    invite = issuer(ttl=timedelta(hours=2), max_attempts=3).issue(
        Pair("p9", "c1"), contact("c1", email="Maija.Virtanen@Customer.EXAMPLE"), now=T0
    )
    record = invite.record
    assert (record.project_id, record.contact_id) == ("p9", "c1")
    assert record.email == "maija.virtanen@customer.example"  # normalize_email's form
    assert (record.issued_at, record.expires_at) == (T0, T0 + timedelta(hours=2))
    assert (record.failed_attempts, record.max_attempts, record.attempts_left) == (0, 3, 3)
    assert record.kdf == CHEAP
    assert len(record.salt) == 16
    assert len(record.hash) == 32
    assert record.state(T0) is InviteState.OPEN
    assert record.hash == CHEAP.derive(
        normalize_password(invite.password.reveal()).encode(), record.salt
    )


def test_two_invites_differ_in_id_salt_and_hash():
    a, b = issue(), issue()
    assert a.record.id != b.record.id
    assert a.record.salt != b.record.salt
    assert a.record.hash != b.record.hash


def records_in_every_state() -> list[InviteRecord]:
    base = issue().record
    return [
        base,
        attrs.evolve(base, used_at=T0 + timedelta(minutes=1)),
        attrs.evolve(base, failed_attempts=3),
        base.revoked(RevokeReason.EMAIL_CHANGED, T0 + timedelta(hours=1)),
    ]


@pytest.mark.parametrize(
    "record", records_in_every_state(), ids=["open", "used", "failed", "revoked"]
)
def test_record_round_trips_through_json(record):
    data = json.loads(json.dumps(record_to_dict(record)))
    assert record_from_dict(data) == record
    assert isinstance(data["salt"], str)
    assert data["kdf"]["name"] == "scrypt"


def test_stored_record_still_verifies():
    invite = issue()
    restored = record_from_dict(json.loads(json.dumps(record_to_dict(invite.record))))
    assert verify(restored, invite.password.reveal(), T0).used_at == T0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("hash"), "hash"),
        (lambda d: d.update(salt="not base64!"), "salt"),
        (lambda d: d.update(issued_at="2026-11-23T09:30:00"), "issued_at"),
        (lambda d: d.update(failed_attempts=-1), "failed_attempts"),
        (lambda d: d.update(failed_attempts="many"), "failed_attempts"),
        (lambda d: d.update(revoked_reason="because"), "revoked_reason"),
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d["kdf"].update(n=2**30), "n"),
        (lambda d: d.update(hash="AAAA"), "hash"),
        (lambda d: d.update(expires_at=d["issued_at"]), "expires_at"),
    ],
)
def test_bad_stored_record_names_the_field(change, field):
    data = record_to_dict(issue().record)
    change(data)
    with pytest.raises(ValidationError, match=field):
        record_from_dict(data)


def test_record_refuses_an_unknown_revocation_reason():
    with pytest.raises(ValidationError, match="revoked_reason"):
        attrs.evolve(issue().record, revoked_at=T0, revoked_reason="because")
    with pytest.raises(ValidationError, match="together"):
        attrs.evolve(issue().record, revoked_reason=RevokeReason.HOST)


def test_not_a_mapping_is_a_validation_error():
    with pytest.raises(ValidationError):
        record_from_dict(["not", "a", "record"])


# --- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"login_url": "http://extranet.example.com/login"},
        {"login_url": "javascript:alert(1)"},
        {"login_url": "https://extranet.example.com/\r\nBcc: x@example.com"},
        {"login_url": "https://user:secret@extranet.example.com/"},
        {"login_url": " https://extranet.example.com/"},
        {"login_url": "https:///path-only"},
        {"sender_address": "not an address"},
        {"sender_address": "noreply@example.com\r\nBcc: victim@example.com"},
        {"product_name": "Severa\r\nBcc: victim@example.com"},
        {"sender_name": ""},
        {"support_contact": "x" * 201},
        {"organisation_name": "Acme\u202e"},
        {"time_zone": "Mars/Olympus"},
    ],
)
def test_branding_refuses_bad_configuration(changes):
    """X10: the login address and the rest of the branding are checked configuration."""
    with pytest.raises(ConfigError):
        branding(**changes)


def test_branding_keeps_ordinary_and_no_break_spaces():
    chosen = branding(sender_name="Acme  Oy", organisation_name="Acme\u00a0Oy Ab")
    assert (chosen.sender_name, chosen.organisation_name) == ("Acme  Oy", "Acme\u00a0Oy Ab")


def test_branding_accepts_localhost_http_for_development():
    assert branding(login_url="http://localhost:8000/login").login_url.startswith("http://")


@pytest.mark.parametrize(
    "options",
    [
        {"ttl": timedelta(0)},
        {"ttl": timedelta(days=31)},
        {"ttl": 3600},
        {"max_attempts": 0},
        {"max_attempts": 101},
        {"max_attempts": True},
        {"kdf": "scrypt"},
    ],
)
def test_issuer_refuses_bad_policy(options):
    with pytest.raises(ValidationError):
        issuer(**options)


def test_issuer_needs_branding():
    with pytest.raises(ValidationError):
        InviteIssuer("Severa")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "email", [None, "", "not-an-address", "a@b", "x@example.com\r\nBcc: y@example.com"]
)
def test_issue_refuses_a_contact_without_a_valid_email(email):
    """X3: only contacts with a valid email address can be invited."""
    with pytest.raises(EmailAddressError):
        issuer().issue(Pair("p1", "c1"), contact("c1", email=email), now=T0)


def test_issue_refuses_the_wrong_contact_and_naive_time():
    with pytest.raises(ValidationError, match="not the contact"):
        issuer().issue(Pair("p1", "c2"), contact("c1"), now=T0)
    with pytest.raises(ValidationError, match="aware"):
        issuer().issue(Pair("p1", "c1"), contact("c1"), now=datetime(2026, 1, 1))


def test_issue_takes_the_real_share_class():
    from severa_ext.extranet.rights import Right
    from severa_ext.extranet.shares import Share

    share = Share("p1", "c1", Right.VIEW_STATUS, created_at=T0, updated_at=T0)
    assert isinstance(share, ShareRef)
    assert issuer().issue(share, contact("c1"), now=T0).record.share_key == ("p1", "c1")


# --- the store ---------------------------------------------------------------------------


def test_memory_store_is_an_invite_store():
    assert isinstance(MemoryInviteStore(), InviteStore)


def test_new_invite_supersedes_open_ones_of_the_same_share_only():
    """Issue 3: re-inviting supersedes earlier records of the share."""
    store = MemoryInviteStore()
    first = issue("p1", "c1")
    other_project = issue("p2", "c1")
    other_contact = issue("p1", "c2")
    for invite in (first, other_project, other_contact):
        assert store.add(invite.record) == ()
    later = T0 + timedelta(hours=1)
    second = issue("p1", "c1", now=later)
    superseded = store.add(second.record)
    assert [r.id for r in superseded] == [first.record.id]
    assert superseded[0].revoked_reason is RevokeReason.SUPERSEDED
    assert superseded[0].revoked_at == later
    with pytest.raises(InviteRevoked):
        verify_stored(store, first.record.id, first.password.reveal(), later)
    assert verify_stored(store, second.record.id, second.password.reveal(), later).used_at == later
    open_ids = {r.id for r in store.list_open(later)}
    assert open_ids == {other_project.record.id, other_contact.record.id}


def test_store_refuses_duplicates_and_unknown_ids():
    store = MemoryInviteStore()
    invite = issue()
    store.add(invite.record)
    with pytest.raises(ValidationError, match="already stored"):
        store.add(invite.record)
    with pytest.raises(InviteNotFound) as caught:
        store.get("nope")
    assert isinstance(caught.value, LookupError)
    assert caught.value.invite_id == "nope"
    with pytest.raises(InviteNotFound):
        store.save(attrs.evolve(issue().record, version=2), expected_version=1)
    with pytest.raises(InviteNotFound):
        verify_stored(store, "nope", "2345", T0)


def test_revoke_for_a_share_and_for_a_contact():
    """X8: stopping a share, and an email change, make open invites unusable."""
    store = MemoryInviteStore()
    a, b, c = issue("p1", "c1"), issue("p2", "c1"), issue("p1", "c2")
    for invite in (a, b, c):
        store.add(invite.record)
    now = T0 + timedelta(minutes=10)
    stopped = store.revoke_share("p1", "c1", reason=RevokeReason.SHARE_STOPPED, now=now)
    assert [r.id for r in stopped] == [a.record.id]
    assert store.revoke_share("p1", "c1", reason=RevokeReason.SHARE_STOPPED, now=now) == ()
    changed = store.revoke_contact("c1", reason=RevokeReason.EMAIL_CHANGED, now=now)
    assert [r.id for r in changed] == [b.record.id]
    assert store.get(a.record.id).revoked_reason is RevokeReason.SHARE_STOPPED
    assert store.get(b.record.id).revoked_reason is RevokeReason.EMAIL_CHANGED
    assert [r.id for r in store.list_open(now)] == [c.record.id]
    with pytest.raises(InviteRevoked):
        verify_stored(store, b.record.id, b.password.reveal(), now)


def test_list_open_filters_and_skips_closed_records():
    store = MemoryInviteStore()
    a, b = issue("p1", "c1"), issue("p2", "c2", now=T0 + timedelta(minutes=1))
    store.add(a.record)
    store.add(b.record)
    assert [r.id for r in store.list_open(T0 + timedelta(minutes=2))] == [a.record.id, b.record.id]
    assert [r.id for r in store.list_open(T0 + timedelta(minutes=2), project_id="p2")] == [
        b.record.id
    ]
    assert [r.id for r in store.list_open(T0 + timedelta(minutes=2), contact_id="c1")] == [
        a.record.id
    ]
    verify_stored(store, a.record.id, a.password.reveal(), T0 + timedelta(minutes=2))
    assert [r.id for r in store.list_open(T0 + timedelta(minutes=3))] == [b.record.id]
    assert store.list_open(T0 + timedelta(days=2)) == ()


def test_verify_stored_persists_failures_and_use():
    store = MemoryInviteStore()
    invite = issue()
    store.add(invite.record)
    with pytest.raises(WrongPassword) as caught:
        verify_stored(store, invite.record.id, "wrong", T0)
    assert store.get(invite.record.id) == caught.value.record
    assert store.get(invite.record.id).failed_attempts == 1
    verify_stored(store, invite.record.id, invite.password.reveal(), T0)
    assert store.get(invite.record.id).used_at == T0
    with pytest.raises(InviteUsed):
        verify_stored(store, invite.record.id, invite.password.reveal(), T0)


class InterleavingStore(MemoryInviteStore):
    """Runs another login inside the first compare-and-swap: a deterministic race."""

    def __init__(self, other_login):
        super().__init__()
        self.other_login = other_login

    def save(self, record, *, expected_version):
        if self.other_login is not None:
            login, self.other_login = self.other_login, None
            login(self)
        super().save(record, expected_version=expected_version)


def test_a_racing_login_cannot_use_the_password_twice():
    invite = issue()
    winner = []
    store = InterleavingStore(
        lambda s: winner.append(verify_stored(s, invite.record.id, invite.password.reveal(), T0))
    )
    store.add(invite.record)
    with pytest.raises(InviteUsed):
        verify_stored(store, invite.record.id, invite.password.reveal(), T0)
    assert len(winner) == 1
    assert store.get(invite.record.id).used_at == T0


def test_a_racing_wrong_attempt_is_counted_once_each():
    invite = issue()

    def other(s):
        with pytest.raises(WrongPassword):
            verify_stored(s, invite.record.id, "wrong", T0)

    store = InterleavingStore(other)
    store.add(invite.record)
    with pytest.raises(WrongPassword) as caught:
        verify_stored(store, invite.record.id, "also-wrong", T0)
    assert caught.value.attempts_left == 3
    assert store.get(invite.record.id).failed_attempts == 2


def test_concurrent_logins_accept_the_password_exactly_once():
    store = MemoryInviteStore()
    invite = issue()
    store.add(invite.record)
    barrier = threading.Barrier(8)
    outcomes: list[object] = []

    def login():
        barrier.wait()
        try:
            outcomes.append(verify_stored(store, invite.record.id, invite.password.reveal(), T0))
        except InviteError as exc:
            outcomes.append(type(exc))

    threads = [threading.Thread(target=login) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(o, InviteRecord) for o in outcomes) == 1
    assert outcomes.count(InviteUsed) == 7


# --- the audited combination -----------------------------------------------------------


def test_inviter_audits_issue_use_failure_and_revocation_without_secrets():
    """Issue 3: issuing and using invites go to the audit trail, never the password."""
    audit = MemoryAuditLog()
    inviter = Inviter(issuer(), MemoryInviteStore(), audit)
    first = inviter.invite(Pair("p1", "c1"), contact("c1"), now=T0, actor="u1", project_name="Web")
    second = inviter.invite(
        Pair("p1", "c1"), contact("c1"), now=T0 + timedelta(minutes=1), actor="u1"
    )
    with pytest.raises(WrongPassword):
        inviter.verify(second.record.id, "wrong", now=T0 + timedelta(minutes=2))
    with pytest.raises(InviteRevoked):
        inviter.verify(first.record.id, first.password.reveal(), now=T0 + timedelta(minutes=3))
    inviter.verify(second.record.id, second.password.reveal(), now=T0 + timedelta(minutes=4))
    third = inviter.invite(Pair("p2", "c1"), contact("c1"), now=T0, actor="u2")
    inviter.revoke_share("p2", "c1", now=T0 + timedelta(minutes=5), actor="u2")
    kinds = [(e.kind, e.actor, e.project_id) for e in audit.events()]
    assert kinds == [
        (InviteAuditKind.ISSUED, "u1", "p1"),
        (InviteAuditKind.REVOKED, "u1", "p1"),
        (InviteAuditKind.ISSUED, "u1", "p1"),
        (InviteAuditKind.FAILED, "c1", "p1"),
        (InviteAuditKind.REFUSED, "c1", "p1"),
        (InviteAuditKind.USED, "c1", "p1"),
        (InviteAuditKind.ISSUED, "u2", "p2"),
        (InviteAuditKind.REVOKED, "u2", "p2"),
    ]
    assert "superseded" in audit.events()[1].detail
    assert "attempts_left=4" in audit.events()[3].detail
    assert "revoked" in audit.events()[4].detail
    dump = repr(audit.events())
    for invite in (first, second, third):
        secret = invite.password.reveal()
        assert secret not in dump
        assert secret.replace("-", "") not in dump
        assert invite.record.email not in dump


def test_inviter_revokes_a_contacts_invites_when_the_email_changes():
    audit = MemoryAuditLog()
    inviter = Inviter(issuer(), MemoryInviteStore(), audit)
    inviter.invite(Pair("p1", "c1"), contact("c1"), now=T0, actor="u1")
    inviter.invite(Pair("p2", "c1"), contact("c1"), now=T0, actor="u1")
    revoked = inviter.revoke_contact("c1", now=T0, actor="u1")
    assert {r.project_id for r in revoked} == {"p1", "p2"}
    assert all(r.revoked_reason is RevokeReason.EMAIL_CHANGED for r in revoked)
    assert [e.kind for e in audit.events()][-2:] == [InviteAuditKind.REVOKED] * 2
    assert inviter.store.list_open(T0) == ()


def test_inviter_without_audit_log_still_works():
    inviter = Inviter(issuer(), MemoryInviteStore())
    invite = inviter.invite(Pair("p1", "c1"), contact("c1"), now=T0, actor="u1")
    assert inviter.verify(invite.record.id, invite.password.reveal(), now=T0).used_at == T0
