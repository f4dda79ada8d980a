"""X3 on every request (issue 12): access never outlives the contact's card.

A share was made for a contact person of the project's customer with a valid address.
Every decision (``authorize``, ``explain``, ``view``, ``projects_for`` and each contact
action) reads the contact's card from the host's directory again: a contact moved to
another customer, whose address was removed or became invalid, or whose card was
deleted, is refused at once, whether or not the host called ``contact_changed``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extranet.invite_fixtures import BRANDING
from severa_ext.clock import FixedClock
from severa_ext.domain import ContactPerson, Customer, Project, ProjectFile, ProjectStatus
from severa_ext.errors import AccessDenied, ShareRefused
from severa_ext.extranet import (
    Action,
    ContactDirectory,
    Eligibility,
    ExtranetService,
    InviteIssuer,
    Inviter,
    MemoryContactDirectory,
    MemoryInviteStore,
    MemoryShareStore,
    RevokeReason,
    Right,
    ScryptKdf,
    eligibility,
)
from severa_ext.extranet.access import requirement
from support import scaled

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
RIGHTS = Right.VIEW_STATUS | Right.COMMENT | Right.VIEW_FILES | Right.ADD_FILE


def project(project_id: str = "p1", customer_id: str = "c1") -> Project:
    return Project(
        id=project_id,
        name="Website",
        customer_id=customer_id,
        status=ProjectStatus("s1", "Open"),
        files=[ProjectFile("f1", "brief.pdf")],
    )


def anna(**changes: object) -> ContactPerson:
    return attrs.evolve(ContactPerson("k1", "c1", "Anna", "A", "anna@example.com"), **changes)


def setup() -> tuple[ExtranetService, MemoryContactDirectory, MemoryInviteStore]:
    directory = MemoryContactDirectory(contacts=[anna()], projects=[project()])
    invites = MemoryInviteStore()
    inviter = Inviter(InviteIssuer(BRANDING, kdf=ScryptKdf(n=2, r=1, p=1)), invites)
    svc = ExtranetService(
        MemoryShareStore(), clock=FixedClock(T0), directory=directory, inviter=inviter
    )
    svc.share(project(), anna(), RIGHTS, actor="u1")
    return svc, directory, invites


def refusals(svc: ExtranetService) -> set[str]:
    """The reason of every decision path for contact k1 on project p1."""
    reasons = {svc.authorize("k1", "p1", a).reason for a in Action}
    reasons.add(svc.explain("k1", "p1", Right.VIEW_STATUS).reason)
    for attempt in (
        lambda: svc.view("k1", project()),
        lambda: svc.comment("k1", project(), "hello"),
        lambda: svc.add_file("k1", project(), "a.txt"),
        lambda: svc.change_status("k1", project(), ProjectStatus("s2", "Done")),
    ):
        try:
            attempt()
        except AccessDenied as exc:
            reasons.add(exc.decision.reason)
        else:
            reasons.add("granted")
    return reasons


def test_the_directory_protocol_is_met_by_the_memory_directory():
    directory = MemoryContactDirectory(contacts=[anna()], projects=[project()])
    assert isinstance(directory, ContactDirectory)
    assert directory.contact("k1") == anna()
    assert directory.contact("nobody") is None
    assert directory.project_customer("p1") == "c1"
    assert directory.project_customer("p9") is None


def test_a_contact_moved_to_another_customer_loses_access_at_once():
    svc, directory, _ = setup()
    assert svc.view("k1", project()).status is not None
    moved = anna(customer_id="c2")
    directory.put_contact(moved)  # the host has not called contact_changed
    assert refusals(svc) == {"not-customer-contact"}
    assert svc.projects_for("k1") == ()
    svc.contact_changed(moved, actor="u1")
    assert refusals(svc) == {"not-customer-contact"}
    directory.put_contact(anna())  # moved back: the share grants again
    assert svc.authorize("k1", "p1", Action.OPEN).allowed
    assert [s.project_id for s in svc.projects_for("k1")] == ["p1"]


@pytest.mark.parametrize(
    ("email", "reason"),
    [(None, "missing-email"), ("  ", "missing-email"), ("not an address", "invalid-email")],
)
def test_a_contact_whose_address_went_away_loses_access(email, reason):
    svc, directory, _ = setup()
    directory.put_contact(anna(email=email))
    assert refusals(svc) == {reason}
    assert svc.projects_for("k1") == ()


def test_a_deleted_card_or_a_project_the_host_no_longer_knows_grants_nothing():
    svc, directory, _ = setup()
    directory.remove_contact("k1")
    assert refusals(svc) == {"unknown-contact"}
    directory.put_contact(anna())
    directory.remove_project("p1")
    assert svc.authorize("k1", "p1", Action.OPEN).reason == "unknown-project"
    assert svc.explain("k1", "p1", Right.VIEW_STATUS).reason == "unknown-project"
    assert svc.projects_for("k1") == ()


def test_the_decision_message_names_the_contact_and_the_failed_condition():
    svc, directory, _ = setup()
    directory.put_contact(anna(customer_id="c2"))
    decision = svc.authorize("k1", "p1", Action.OPEN)
    assert not decision.allowed
    assert "c1" in decision.message
    assert "X3" in decision.message


def test_contact_changed_revokes_the_invites_of_shares_it_can_no_longer_use():
    svc, directory, invites = setup()
    (record,) = invites.list_open(T0)
    moved = anna(customer_id="c2")
    directory.put_contact(moved)
    svc.contact_changed(moved, actor="u1")
    assert invites.list_open(T0) == ()
    assert invites.get(record.id).revoked_reason is RevokeReason.CONTACT_INELIGIBLE


def test_x3_eligibility_says_which_condition_fails():
    assert eligibility(anna(), "c1").eligible
    assert eligibility(anna(), "c1").email == "anna@example.com"
    assert eligibility(None, "c1", contact_id="k1").reason == "unknown-contact"
    assert eligibility(anna(), "c2").reason == "not-customer-contact"
    assert eligibility(anna(email=None), "c1").reason == "missing-email"
    assert eligibility(anna(email="x@"), "c1").reason == "invalid-email"
    unlisted = Customer("c1", "Asiakas Oy", contact_ids={"k2"})
    assert eligibility(anna(), "c1", customer=unlisted).reason == "not-customer-contact"
    refused = eligibility(anna(customer_id="c2", email=None), "c1")
    assert refused.reason == "not-customer-contact"  # X3 names the first missing condition
    assert not refused.eligible
    assert refused.email is None


def test_the_share_dialog_lists_each_contact_of_the_customer_with_its_eligibility():
    """X3 (issue 18): the host shows every contact, eligible or not, with the reason."""
    bert = ContactPerson("k2", "c1", "Bert", email=None)
    cecilia = ContactPerson("k3", "c2", "Cecilia", email="cecilia@example.com")
    directory = MemoryContactDirectory(contacts=[anna(), bert, cecilia], projects=[project()])
    svc = ExtranetService(MemoryShareStore(), clock=FixedClock(T0), directory=directory)
    customer = Customer("c1", "Asiakas Oy", contact_ids={"k1", "k2", "k3", "k4"})
    listed = svc.share_candidates(project(), customer)
    assert all(isinstance(entry, Eligibility) for entry in listed)
    assert [(e.contact_id, e.reason) for e in listed] == [
        ("k1", "eligible"),
        ("k2", "missing-email"),
        ("k3", "not-customer-contact"),
        ("k4", "unknown-contact"),
    ]
    assert listed[0].contact == anna()
    with pytest.raises(ShareRefused) as refused:
        svc.share(project(), bert, RIGHTS, actor="u1", customer=customer)
    assert refused.value.reason == listed[1].reason


# --- the property --------------------------------------------------------------------

CARD_CHANGES = st.one_of(
    st.tuples(st.just("move"), st.sampled_from(["c1", "c2", "c3"])),
    st.tuples(
        st.just("email"),
        st.sampled_from(
            [
                None,
                "",
                "anna@example.com",
                "ANNA@Example.com",
                "anna2@example.com",
                "anna@",
                "ä@x.fi",
            ]
        ),
    ),
    st.tuples(st.just("delete"), st.none()),
    st.tuples(st.just("restore"), st.none()),
)


@given(
    changes=st.lists(st.tuples(CARD_CHANGES, st.booleans()), min_size=1, max_size=8),
)
@settings(max_examples=scaled(60))
def test_access_never_outlives_the_contacts_card(changes):
    """Issue 12 (X3): after any card change, with or without ``contact_changed``."""
    svc, directory, invites = setup()
    card: ContactPerson | None = anna()
    for (kind, value), tell in changes:
        if kind == "move":
            card = attrs.evolve(card or anna(), customer_id=value)
        elif kind == "email":
            card = attrs.evolve(card or anna(), email=value)
        elif kind == "delete":
            card = None
        else:
            card = card or anna()
        if card is None:
            directory.remove_contact("k1")
        else:
            directory.put_contact(card)
        told = tell and card is not None
        if told:
            svc.contact_changed(card, actor="u1")
        model = eligibility(card, "c1", contact_id="k1")
        for action in Action:
            decision = svc.authorize("k1", "p1", action)
            if model.eligible:
                assert decision.allowed == (not requirement(action).missing(RIGHTS))
            else:
                assert not decision.allowed
                assert decision.reason == model.reason
        if model.eligible:
            assert refusals(svc) == {"granted", "missing-right"}  # CHANGE_STATUS not granted
        else:
            assert refusals(svc) == {model.reason}
        assert bool(svc.projects_for("k1")) == model.eligible
        for record in invites.list_open(T0):  # an open invite only for a usable address
            assert (card is not None and record.email == model.email) or not told
