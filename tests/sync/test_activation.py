"""Turning sync on and off (S1, S2, S4, S5, S10): pure rules and the service."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severa_ext.clock import FixedClock
from severa_ext.domain import User
from severa_ext.errors import ActivationError
from severa_ext.sync.activation import (
    ActivationService,
    MailboxProbe,
    MemoryActivationStore,
    OrganisationSettings,
    ProbeStatus,
    ServerKind,
    addresses_match,
    check_activation,
    normalize_address,
)
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.state import MemoryStateStore

ALICE = User("u1", "alice@contoso.com", "Alice")
ADMIN = User("u9", "admin@contoso.com", "Admin", is_admin=True)
POLICY = SyncPolicy(outgoing_types={"meeting"}, default_type="other", personal_type="personal")
SETTINGS = OrganisationSettings(
    addon_active=True, server_kind=ServerKind.GRAPH, credentials_ref="graph-app", policy=POLICY
)
OK = MailboxProbe("alice@contoso.com", ProbeStatus.OK, ("alice@contoso.com", "smtp:a@contoso.fi"))
NOW = datetime(2026, 5, 4, 9, tzinfo=UTC)


def reason_of(**overrides) -> str:
    args = {
        "settings": SETTINGS,
        "acting_user": ALICE,
        "target_user": ALICE,
        "mailbox": "alice@contoso.com",
        "confirmed": True,
        "probe": OK,
    }
    args.update(overrides)
    with pytest.raises(ActivationError) as info:
        check_activation(
            args.pop("settings"),
            args.pop("acting_user"),
            args.pop("target_user"),
            args.pop("mailbox"),
            **args,
        )
    return info.value.reason


def test_all_rules_met_passes():
    check_activation(SETTINGS, ALICE, ALICE, "alice@contoso.com", confirmed=True, probe=OK)


def test_the_organisation_addon_must_be_active_s1():
    assert reason_of(settings=OrganisationSettings()) == "addon-inactive"


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        ({"server_kind": None}, "server kind"),
        ({"credentials_ref": None}, "credentials"),
        ({"policy": None}, "sync policy"),
        ({"policy": SyncPolicy(activity_rules=False)}, "default activity type"),
    ],
)
def test_organisation_settings_must_be_saved_s1(changes, missing):
    import attrs

    settings = attrs.evolve(SETTINGS, **changes)
    assert missing in settings.missing()
    assert reason_of(settings=settings) == "settings-missing"


@pytest.mark.parametrize("acting", [ADMIN, User("u2", "alice@contoso.com")])
def test_nobody_else_can_turn_it_on_not_even_an_admin_s2(acting):
    """Same email but another user id is still someone else."""
    assert reason_of(acting_user=acting) == "not-self"


def test_the_user_must_confirm_the_account_is_theirs_s10():
    assert reason_of(confirmed=False) == "not-confirmed"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (ProbeStatus.UNKNOWN_USER, "unknown-user"),
        (ProbeStatus.NO_MAILBOX, "no-mailbox"),
        (ProbeStatus.ACCESS_DENIED, "access-denied"),
        (ProbeStatus.BAD_CREDENTIALS, "bad-credentials"),
        (ProbeStatus.BOOKINGS, "bookings"),
        (ProbeStatus.ROOM_MAILBOX, "room-mailbox"),
        (ProbeStatus.SHARED_MAILBOX, "shared-mailbox"),
        (ProbeStatus.EWS_DISABLED, "ews-disabled"),
        (ProbeStatus.UNAVAILABLE, "unavailable"),
    ],
)
def test_probe_problems_are_explained_s4(status, reason):
    probe = MailboxProbe("alice@contoso.com", status, detail="server says why")
    with pytest.raises(ActivationError) as info:
        check_activation(SETTINGS, ALICE, ALICE, "alice@contoso.com", confirmed=True, probe=probe)
    assert info.value.reason == reason
    assert "server says why" in str(info.value)


@pytest.mark.parametrize(
    "status", [ProbeStatus.ROOM_MAILBOX, ProbeStatus.SHARED_MAILBOX, ProbeStatus.EWS_DISABLED]
)
def test_room_shared_and_ews_disabled_are_not_explained_as_a_licence_s4(status):
    probe = MailboxProbe("alice@contoso.com", status)
    with pytest.raises(ActivationError) as info:
        check_activation(SETTINGS, ALICE, ALICE, "alice@contoso.com", confirmed=True, probe=probe)
    assert "licen" not in str(info.value)
    assert info.value.reason != "no-mailbox"


def test_the_mailbox_must_belong_to_the_user_s5_s10():
    probe = MailboxProbe("bob@contoso.com", ProbeStatus.OK, ("bob@contoso.com",))
    assert reason_of(mailbox="bob@contoso.com", probe=probe) == "email-mismatch"


def test_an_alias_of_the_mailbox_matches_the_users_email_s5():
    """Multi-domain tenants: the user's email is a proxy address of the mailbox."""
    user = User("u1", "Alice@Contoso.FI")
    probe = MailboxProbe(
        "alice@contoso.com", ProbeStatus.OK, ("SMTP:alice@contoso.com", "smtp:alice@contoso.fi")
    )
    check_activation(SETTINGS, user, user, "alice@contoso.com", confirmed=True, probe=probe)


def test_rules_are_checked_in_order_addon_first():
    """The add-on refusal wins over every later rule."""
    assert reason_of(settings=OrganisationSettings(), acting_user=ADMIN, confirmed=False) == (
        "addon-inactive"
    )


_local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.", min_size=1, max_size=12)
_addresses = st.builds(lambda a, d: f"{a}@{d}.com", _local, _local)


@given(_addresses, st.lists(_addresses, max_size=4), st.booleans(), st.booleans())
def test_address_matching_ignores_case_and_smtp_prefixes_s5(email, aliases, upper, prefix):
    """The email matches exactly when it is the mailbox or one of its aliases."""
    mailbox = aliases[0] if aliases else email
    spelt = [("SMTP:" if prefix else "smtp:") + (a.upper() if upper else a) for a in aliases]
    expected = email in aliases or email == mailbox
    assert addresses_match(email.upper() if upper else email, mailbox, spelt) is expected


def test_normalize_address():
    assert normalize_address("  SMTP:Bob@X.com ") == "bob@x.com"
    assert not addresses_match("", "", [])


# -- the service ------------------------------------------------------------------------


class Prober:
    def __init__(self, probe):
        self.probe = probe
        self.calls = []

    def __call__(self, mailbox):
        self.calls.append(mailbox)
        return self.probe


def service(probe=OK, settings=SETTINGS):
    state = MemoryStateStore()
    prober = Prober(probe)
    svc = ActivationService(
        settings, prober, MemoryActivationStore(), clock=FixedClock(NOW), journal=state
    )
    return svc, prober, state


def test_activation_is_stored_and_journalled():
    svc, prober, state = service()
    activation = svc.activate(ALICE, ALICE, " alice@contoso.com ", confirmed=True)
    assert activation.mailbox == "alice@contoso.com"
    assert activation.server_kind is ServerKind.GRAPH
    assert activation.activated_at == NOW
    assert svc.is_active("u1")
    assert prober.calls == [" alice@contoso.com "]
    assert [e.operation for e in state.journal()] == ["activate"]


def test_rules_without_the_server_run_before_any_probe_s2():
    svc, prober, state = service()
    with pytest.raises(ActivationError):
        svc.activate(ADMIN, ALICE, "alice@contoso.com", confirmed=True)
    assert prober.calls == []
    assert not svc.is_active("u1")
    (entry,) = state.journal()
    assert entry.level == "warning"
    assert "S2" in entry.message


def test_settings_can_be_read_fresh_each_time():
    current = {"settings": OrganisationSettings()}
    svc = ActivationService(
        lambda: current["settings"], Prober(OK), MemoryActivationStore(), clock=FixedClock(NOW)
    )
    with pytest.raises(ActivationError):
        svc.activate(ALICE, ALICE, "alice@contoso.com", confirmed=True)
    current["settings"] = SETTINGS
    svc.activate(ALICE, ALICE, "alice@contoso.com", confirmed=True)


def test_turning_off_is_always_allowed_and_keeps_the_journal():
    settings = {"value": SETTINGS}
    state = MemoryStateStore()
    svc = ActivationService(
        lambda: settings["value"],
        Prober(OK),
        MemoryActivationStore(),
        clock=FixedClock(NOW),
        journal=state,
    )
    svc.activate(ALICE, ALICE, "alice@contoso.com", confirmed=True)
    settings["value"] = OrganisationSettings()  # the add-on was switched off meanwhile
    svc.deactivate(ADMIN, ALICE)
    assert not svc.is_active("u1")
    assert [e.operation for e in state.journal()] == ["activate", "deactivate"]
    svc.deactivate(ALICE, ALICE)  # already off: a no-op
    assert len(state.journal()) == 2


@pytest.mark.slow
def test_activation_through_the_graph_probe_s4_s5(graph_server):
    """End to end: the fake tenant's mailboxes, probed by the real Graph backend."""
    graph_server.add_mailbox("onprem@contoso.com", has_mailbox=False)
    graph_server.add_mailbox("bookings@contoso.com", bookings=True)
    backend = graph_server.backend("alice@contoso.com")
    svc = ActivationService(SETTINGS, backend.probe, MemoryActivationStore(), clock=FixedClock(NOW))
    fi_alice = User("u1", "alice@contoso.fi")
    assert svc.activate(fi_alice, fi_alice, "alice@contoso.com", confirmed=True).user_id == "u1"
    reasons = {}
    for mailbox in ("onprem@contoso.com", "bookings@contoso.com", "ghost@contoso.com"):
        with pytest.raises(ActivationError) as info:
            svc.activate(ALICE, ALICE, mailbox, confirmed=True)
        reasons[mailbox] = info.value.reason
    assert reasons == {
        "onprem@contoso.com": "no-mailbox",
        "bookings@contoso.com": "bookings",
        "ghost@contoso.com": "unknown-user",
    }
    bob = User("u3", "bob@contoso.com")
    with pytest.raises(ActivationError) as info:
        svc.activate(bob, bob, "alice@contoso.com", confirmed=True)
    assert info.value.reason == "email-mismatch"
