"""Each pair's backends come from the organisation settings through the public factory
(the one the command line uses): a real run over an ICS calendar, and the addresses
of Graph and EWS mailboxes."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from severa_ext.backends.activities import ActivityBackend
from severa_ext.backends.activities_file import ActivityFile
from severa_ext.backends.factory import (
    BackendSettings,
    EwsSettings,
    calendar_address,
    open_backend,
)
from severa_ext.errors import ConfigError
from severa_ext.runner import MemoryScheduleStore, Runner, RunStatus, SettingsBackends
from severa_ext.sync.activation import (
    Activation,
    MemoryActivationStore,
    OrganisationSettings,
    ServerKind,
)
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.state import MemoryStateStore

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_calendar_addresses_per_server_kind():
    settings = BackendSettings(ews=EwsSettings(url="https://mail.contoso.com/EWS/Exchange.asmx"))
    assert (
        calendar_address("graph", "alice@contoso.com", settings).text == "graph:alice@contoso.com"
    )
    ews = calendar_address("ews", "alice@contoso.com", settings)
    assert (ews.kind, ews.url, ews.target) == (
        "ews", "https://mail.contoso.com/EWS/Exchange.asmx", "alice@contoso.com"
    )  # fmt: skip
    assert calendar_address("ics", "https://example.com/a.ics", settings).kind == "subscription"
    with pytest.raises(ConfigError, match="EWS endpoint"):
        calendar_address("ews", "alice@contoso.com", BackendSettings())
    with pytest.raises(ConfigError, match="unknown server kind"):
        calendar_address("caldav", "alice", settings)


def test_graph_needs_its_settings_and_names_what_is_missing():
    address = calendar_address("graph", "alice@contoso.com", BackendSettings())
    with pytest.raises(ConfigError, match="tenant_id and client_id"):
        open_backend(address, BackendSettings())


def test_a_runner_syncs_a_user_through_the_settings_factory(tmp_path):
    activities = tmp_path / "alice.json"
    shutil.copy(EXAMPLES / "activities.json", activities)
    data = json.loads(activities.read_text(encoding="utf-8"))
    user_id = data["user"]["id"]
    calendar = tmp_path / "alice.ics"
    org = OrganisationSettings(
        addon_active=True,
        server_kind=ServerKind.ICS,
        credentials_ref="none",
        policy=SyncPolicy(outgoing_types={"meeting"}, default_type="internal", past_days=3650,
                          future_days=3650),
    )  # fmt: skip
    store = ActivityFile(activities)
    backends = SettingsBackends(
        BackendSettings(),
        activities=lambda pair: ActivityBackend(
            store, user_id=pair.user_id, activity_types=store.activity_types()
        ),
    )
    activations = MemoryActivationStore()
    activations.put(Activation(user_id, str(calendar), ServerKind.ICS, datetime.now(UTC)))
    state = MemoryStateStore()
    runner = Runner(org, activations, state, backends, MemoryScheduleStore())
    run = runner.run_pair(f"user:{user_id}")
    assert run.status is RunStatus.SYNCED, run.message
    assert run.report is not None
    assert run.report.created["b"] >= 1
    assert "Kick-off: Website renewal" in calendar.read_text(encoding="utf-8")
    again = runner.run_pair(f"user:{user_id}")
    assert sum(again.report.writes.values()) == 0
