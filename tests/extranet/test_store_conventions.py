"""One optimistic-save convention for the Extranet stores (issue 18, issue 14).

``ShareStore.save(share, *, expected_version=...)`` and
``InviteStore.save(record, *, expected_version=...)`` take the version the caller read,
refuse a stale write with a conflict error built only from what a store has at hand
(the key and the version it was told to expect), write nothing when they refuse, and
take only the next version (``expected_version + 1``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from severa_ext.domain import ContactPerson
from severa_ext.errors import (
    InviteConflict,
    InviteError,
    InviteNotFound,
    ShareConflict,
    ValidationError,
)
from severa_ext.extranet.invites import (
    Branding,
    InviteIssuer,
    MemoryInviteStore,
    RevokeReason,
    ScryptKdf,
    record_from_dict,
    record_to_dict,
    verify,
)
from severa_ext.extranet.rights import Right
from severa_ext.extranet.shares import MemoryShareStore, Share

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
CHEAP = ScryptKdf(n=2, r=1, p=1)


@attrs.frozen
class Pair:
    project_id: str
    contact_id: str


def issuer() -> InviteIssuer:
    brand = Branding(
        product_name="Severa",
        sender_address="noreply@example.com",
        sender_name="Acme Oy",
        login_url="https://extranet.example.com/login",
        support_contact="support@example.com",
    )
    return InviteIssuer(brand, kdf=CHEAP)


def issue(project_id="p1", contact_id="c1", email="Anna.Virtanen@Example.COM", now=T0):
    contact = ContactPerson(contact_id, "cust", "Anna", "Virtanen", email=email)
    return issuer().issue(Pair(project_id, contact_id), contact, now=now)


# --- the conflict errors -------------------------------------------------------


def test_share_conflict_needs_only_the_key_and_the_expected_version():
    """A SQL store whose UPDATE matched no row knows the key and what it expected."""
    exc = ShareConflict("p1", "k1", expected_version=3)
    assert (exc.project_id, exc.contact_id) == ("p1", "k1")
    assert exc.expected_version == 3
    assert exc.actual_version is None
    assert "expected version 3" in str(exc)
    assert "found" not in str(exc)
    known = ShareConflict("p1", "k1", expected_version=None, actual_version=2)
    assert "found version 2" in str(known)


def test_invite_conflict_needs_only_the_id_and_the_expected_version():
    exc = InviteConflict("inv-1", expected_version=2)
    assert isinstance(exc, InviteError)
    assert exc.invite_id == "inv-1"
    assert (exc.expected_version, exc.actual_version) == (2, None)
    assert exc.record is None
    assert "inv-1" in str(exc)


# --- shares --------------------------------------------------------------------


def share(version: int, rights: Right = Right.VIEW_STATUS) -> Share:
    return Share("p1", "k1", rights, T0, T0, version=version)


def test_share_save_takes_only_the_next_version():
    store = MemoryShareStore()
    with pytest.raises(ValidationError, match="version 1"):
        store.save(share(2), expected_version=None)
    store.save(share(1), expected_version=None)
    with pytest.raises(ValidationError, match="version 2"):
        store.save(share(3), expected_version=1)
    assert store.get("p1", "k1") == share(1)


def test_a_stale_share_save_raises_and_writes_nothing():
    store = MemoryShareStore()
    store.save(share(1), expected_version=None)
    store.save(share(2, Right.VIEW_FILES), expected_version=1)
    with pytest.raises(ShareConflict) as caught:
        store.save(share(2, Right.VIEW_TREE), expected_version=1)
    assert caught.value.expected_version == 1
    assert store.get("p1", "k1") == share(2, Right.VIEW_FILES)


# --- invites -------------------------------------------------------------------


def test_a_new_record_starts_at_version_one_and_every_change_bumps_it():
    invite = issue()
    record = invite.record
    assert record.version == 1
    assert record.revoked(RevokeReason.HOST, T0).version == 2
    assert verify(record, invite.password.reveal(), T0).version == 2
    with pytest.raises(InviteError) as caught:
        verify(record, "2345-2345-2345-2", T0)
    assert caught.value.record.version == 2


def test_records_stored_before_versions_read_back_as_version_one():
    data = record_to_dict(issue().record)
    assert data["version"] == 1
    del data["version"]
    assert record_from_dict(data).version == 1
    with pytest.raises(ValidationError, match="version"):
        record_from_dict({**data, "version": 0})


def test_invite_save_is_compare_and_swap_on_the_version():
    store = MemoryInviteStore()
    invite = issue()
    store.add(invite.record)
    used = verify(invite.record, invite.password.reveal(), T0)
    store.save(used, expected_version=1)
    failed = attrs.evolve(invite.record, failed_attempts=1, version=2)
    with pytest.raises(InviteConflict) as caught:
        store.save(failed, expected_version=1)
    assert caught.value.invite_id == invite.record.id
    assert caught.value.expected_version == 1
    assert store.get(invite.record.id) == used


def test_invite_save_takes_only_the_next_version_of_a_stored_record():
    store = MemoryInviteStore()
    invite = issue()
    with pytest.raises(InviteNotFound):
        store.save(attrs.evolve(invite.record, version=2), expected_version=1)
    store.add(invite.record)
    with pytest.raises(ValidationError, match="version 2"):
        store.save(attrs.evolve(invite.record, version=5), expected_version=1)
    assert store.get(invite.record.id) == invite.record


def test_store_revocations_bump_versions():
    store = MemoryInviteStore()
    first = issue()
    store.add(first.record)
    (superseded,) = store.add(issue(now=T0 + timedelta(minutes=1)).record)
    assert superseded.version == 2
    assert store.get(first.record.id).version == 2


def test_list_open_finds_a_contacts_open_invites_by_normalised_address():
    """The login-by-address lookup (X9): the record holds the normalised address."""
    store = MemoryInviteStore()
    mine = issue("p1", "c1", email="Anna.Virtanen@Example.COM")
    other = issue("p2", "c2", email="someone@example.com")
    store.add(mine.record)
    store.add(other.record)
    assert mine.record.email == "anna.virtanen@example.com"
    found = store.list_open(T0, email="anna.virtanen@example.com")
    assert [r.id for r in found] == [mine.record.id]
    assert store.list_open(T0, email="nobody@example.com") == ()
    assert store.list_open(T0 + timedelta(days=2), email="anna.virtanen@example.com") == ()
