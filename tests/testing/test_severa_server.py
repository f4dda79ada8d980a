"""``FakeSeveraServer`` on its own, with plain ``requests``: the documented semantics
(token route, ``Client_Id``, scopes, paging, ``changedSince``, windows incl.
``useStrictStartAndEndDateTime``, JSON Patch, recurrence, the error model), the fault
switches, and every answer validated against the published API description."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from severa_ext.clock import FixedClock
from severa_ext.testing._severa_openapi import SHIPPED, SpecCheck, find_description
from severa_ext.testing._severa_world import description_or_skip
from severa_ext.testing.severa_server import FakeSeveraServer

pytestmark = pytest.mark.slow

START = datetime(2026, 5, 4, 9, tzinfo=UTC)


class Client:
    """A bare API client of the fake, its traffic checked against the description."""

    def __init__(self, server: FakeSeveraServer, check: SpecCheck, scope: str = "") -> None:
        self.server = server
        self.session = check.watch(requests.Session())
        answer = self.session.post(
            f"{server.base_url}/v1/token",
            json={
                "client_id": server.client_id,
                "client_secret": server.client_secret,
                "scope": scope or None,
            },
            headers={"Client_Id": server.client_id},
        )
        assert answer.status_code == 200, answer.text
        self.token = answer.json()
        self.headers = {
            "Authorization": f"Bearer {self.token['access_token']}",
            "Client_Id": server.client_id,
        }

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(
            method, f"{self.server.base_url}/v1/{path}", headers=self.headers, **kwargs
        )


@pytest.fixture
def check():
    made = description_or_skip()
    yield made
    assert made.problems == []


@pytest.fixture
def server():
    clock = FixedClock(START)
    with FakeSeveraServer(clock=clock) as made:
        made.alice = made.add_user("alice@example.com")
        made.meeting = made.add_type("Meeting", is_default=True)
        made.clock = clock
        yield made
        assert made.errors == []


def activity(server, name, start, hours=1.0, **fields):
    return server.add_activity(
        server.alice.guid,
        name,
        start,
        start + timedelta(hours=hours),
        type_guid=server.meeting.guid,
        **fields,
    ).guid


def names(answer: requests.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [row["name"] for row in answer.json()]


def test_token_route_and_client_id(server, check):
    client = Client(server, check)
    assert client.token["access_token_type"] == "Bearer"
    assert client.call("GET", "users").status_code == 200
    no_client = client.session.get(
        f"{server.base_url}/v1/users",
        headers={"Authorization": client.headers["Authorization"]},
    )
    assert no_client.status_code == 401
    assert no_client.json()["error"]["type"] == "AuthenticationRequired"
    # ... and the description's check flags the request that lacks Client_Id.
    assert any("Security not found" in p for p in check.problems)
    check.problems.clear()
    wrong = client.session.post(
        f"{server.base_url}/v1/token",
        json={"client_id": server.client_id, "client_secret": "wrong"},
        headers={"Client_Id": server.client_id},
    )
    assert wrong.status_code == 401
    refreshed = client.session.post(
        f"{server.base_url}/v1/refreshtoken",
        data=json.dumps(client.token["refresh_token"]),
        headers={"Client_Id": server.client_id, "Content-Type": "application/json"},
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"] != client.token["access_token"]


def test_scopes_are_enforced(server, check):
    client = Client(server, check, scope="users:read")
    denied = client.call("GET", "activities")
    assert denied.status_code == 403
    assert denied.json()["error"]["type"] == "InsufficientApiScope"


def test_expired_tokens_are_refused(server, check):
    client = Client(server, check)
    server.clock.advance(timedelta(hours=2))
    assert client.call("GET", "users").status_code == 401
    fresh = Client(server, check)
    server.expire_tokens()
    assert fresh.call("GET", "users").status_code == 401


def test_paging_with_tokens_to_the_last_page(server, check):
    for n in range(7):
        activity(server, f"A{n}", START + timedelta(hours=n))
    client = Client(server, check)
    seen, token, pages = [], None, 0
    while True:
        params = {"rowCount": 3, **({"pageToken": token} if token else {})}
        answer = client.call("GET", "activities", params=params)
        seen += names(answer)
        pages += 1
        token = answer.headers.get("NextPageToken")
        if not token:
            break
    assert seen == [f"A{n}" for n in range(7)]
    assert pages == 3
    assert client.call("GET", "activities", params={"rowCount": 101}).status_code == 400
    assert client.call("GET", "activities", params={"pageToken": "junk"}).status_code == 400


def test_window_overlap_and_strict_containment(server, check):
    activity(server, "Before", START - timedelta(hours=3))  # ends 2 h before the window
    activity(server, "Overlapping start", START - timedelta(minutes=30))
    activity(server, "Inside", START + timedelta(hours=1))
    activity(server, "Touching end", START + timedelta(hours=4))  # starts on the limit
    client = Client(server, check)
    window = {
        "startDateTime": START.isoformat(),
        "endDateTime": (START + timedelta(hours=4)).isoformat(),
    }
    overlapping = names(client.call("GET", "activities", params=window))
    assert overlapping == ["Overlapping start", "Inside", "Touching end"]
    strict = {**window, "useStrictStartAndEndDateTime": "true"}
    assert names(client.call("GET", "activities", params=strict)) == ["Inside"]


def test_changed_since_is_greater_or_equal(server, check):
    old = activity(server, "Old", START)
    server.clock.advance(timedelta(minutes=10))
    activity(server, "New", START)
    client = Client(server, check)
    since = {"changedSince": (START + timedelta(minutes=10)).isoformat()}
    assert names(client.call("GET", "activities", params=since)) == ["New"]
    server.clock.advance(timedelta(minutes=10))
    server.edit_activity(old, name="Old, edited")
    later = {"changedSince": (START + timedelta(minutes=20)).isoformat()}
    assert names(client.call("GET", "activities", params=later)) == ["Old, edited"]


def test_json_patch_capitalised_ops_and_string_values(server, check):
    guid = activity(server, "Patch me", START)
    client = Client(server, check)
    patch = [
        {"op": "Replace", "path": "/name", "value": "Patched"},
        {"op": "replace", "path": "/isAllDay", "value": "false"},
        {"op": "Add", "path": "/location", "value": "Room 1"},
    ]
    answer = client.call("PATCH", f"activities/{guid}", json=patch)
    assert answer.status_code == 200
    (patched,) = answer.json()
    assert (patched["name"], patched["location"]) == ("Patched", "Room 1")
    # The description's enum is capitalised: a lower-case op is flagged (and accepted).
    assert any("'replace' is not one of" in p for p in check.problems)
    check.problems.clear()
    readonly = [{"op": "Replace", "path": "/lastUpdatedDateTime", "value": "x"}]
    refused = client.call("PATCH", f"activities/{guid}", json=readonly)
    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "InvalidParameter"
    assert client.call("PATCH", "activities/nothing", json=patch[:1]).status_code == 404


def test_create_and_delete_and_404_without_body(server, check):
    client = Client(server, check)
    body = {
        "name": "Created",
        "startDateTime": START.isoformat(),
        "endDateTime": (START + timedelta(hours=1)).isoformat(),
        "activityType": {"guid": server.meeting.guid},
        "ownerUser": {"guid": server.alice.guid},
    }
    created = client.call("POST", "activities", json=body)
    assert created.status_code == 201
    guid = created.json()["guid"]
    assert client.call("DELETE", f"activities/{guid}").status_code == 204
    missing = client.call("GET", f"activities/{guid}")
    assert missing.status_code == 404
    assert missing.content == b""
    bad = client.call("POST", "activities", json={**body, "name": ""})
    assert bad.status_code == 400
    assert any("should be non-empty" in p for p in check.problems)  # flagged, as sent
    check.problems.clear()


def test_series_occurrences_and_exceptions(server, check):
    series = activity(
        server,
        "Daily",
        START,
        recurrence={
            "frequency": "Daily",
            "pattern": {"daily": {"interval": 1}},
            "range": {"maxOccurrences": 3},
        },
    )
    client = Client(server, check)
    listed = client.call("GET", "activities").json()
    assert [row["recurrenceType"] for row in listed] == ["Occurrence"] * 3
    assert {row["recurrenceParentActivityGuid"] for row in listed} == {series}
    masters = client.call("GET", "activities", params={"recurrenceType": "Series"}).json()
    assert [row["guid"] for row in masters] == [series]
    client.call("DELETE", f"activities/{listed[0]['guid']}")
    assert len(server.activity(series)["recurrence"]["exceptions"]) == 1
    assert client.call("DELETE", f"activities/{series}/exceptions").status_code == 204
    assert len(client.call("GET", "activities").json()) == 3


def test_fault_switches(server, check):
    client = Client(server, check)
    server.throttle(retry_after=5, kinds=["GET users"])
    throttled = client.call("GET", "users")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "5"
    server.fail(status=503)
    assert client.call("GET", "users").status_code == 503
    server.drop_connections(kinds=["GET users"])
    with pytest.raises(requests.ConnectionError):
        client.call("GET", "users")
    check.skip_bodies_of.add(200)
    server.malformed(kinds=["GET users"])
    with pytest.raises(ValueError):
        client.call("GET", "users").json()
    check.skip_bodies_of.clear()
    check.problems.clear()  # the broken body was asked for


def test_the_spec_check_catches_drift(server, check):
    """The validator is not a rubber stamp: an answer off the description is flagged."""
    client = Client(server, check)
    guid = activity(server, "Drift", START)
    server.organisation.activities[guid].name = ""  # below the schema's minLength 1
    client.call("GET", f"activities/{guid}")
    assert any("activities" in problem for problem in check.problems)
    check.problems.clear()


def test_the_description_ships_with_the_package(monkeypatch):
    """A checkout anywhere (a clone in a temporary folder) and an installed package
    find the description without the project's shared folder."""
    monkeypatch.delenv("SEVERA_OPENAPI", raising=False)
    assert find_description() == SHIPPED
    assert SHIPPED.read_text(encoding="utf-8").startswith("# Calendar-sync subset of Visma")


def test_the_shipped_description_is_the_projects_own():
    """Byte for byte the project's ``shared/severa-rest-api/openapi-subset.yaml``,
    when that folder is beside the checkout (it is in the project's CI)."""
    here = Path(__file__).resolve()
    shared = [
        candidate
        for folder in here.parents
        if (candidate := folder / "shared" / "severa-rest-api" / "openapi-subset.yaml").is_file()
    ]
    if not shared:
        pytest.skip("no shared/severa-rest-api beside this checkout to compare with")
    assert SHIPPED.read_bytes() == shared[0].read_bytes()


def test_missing_description_fails_in_ci_and_skips_locally(monkeypatch, tmp_path):
    monkeypatch.setenv("SEVERA_OPENAPI", str(tmp_path / "missing.yaml"))
    assert find_description() is None
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"openapi-subset\.yaml not found"):
        description_or_skip()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        description_or_skip()


def test_the_plugin_fixture(pytester):
    pytester.makepyfile(
        """
        def test_it(severa_server):
            assert severa_server.base_url.startswith("http://127.0.0.1:")
            assert {t.name for t in severa_server.organisation.types.values()} >= {"Meeting"}
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_organisations_are_kept_apart(server, check):
    other = server.new_organisation()
    server.add_client("other-client", "other-secret", organisation=other)
    other.add_user("bob@other.example")
    session = check.watch(requests.Session())
    token = session.post(
        f"{server.base_url}/v1/token",
        json={"client_id": "other-client", "client_secret": "other-secret"},
        headers={"Client_Id": "other-client"},
    ).json()["access_token"]
    users = session.get(
        f"{server.base_url}/v1/users",
        headers={"Authorization": f"Bearer {token}", "Client_Id": "other-client"},
    ).json()
    assert [u["email"] for u in users] == ["bob@other.example"]
    assert [u["email"] for u in Client(server, check).call("GET", "users").json()] == [
        "alice@example.com"
    ]
