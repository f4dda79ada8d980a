"""The ``severa-ext`` command line, through its installed entry point.

Every test runs the real script (``severa-ext`` next to the running interpreter) in a
subprocess on copies of ``examples/``: exit codes (0 ok, 1 errors journaled, 2 usage or
config), human and JSON output against golden files, and that bad input never prints a
traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = ROOT / "tests" / "data" / "ics" / "golden"
DATA = ROOT / "tests" / "data" / "ics"

pytestmark = pytest.mark.slow


def _script() -> str:
    candidate = Path(sys.executable).parent / "severa-ext"
    found = str(candidate) if candidate.exists() else shutil.which("severa-ext")
    assert found, "the severa-ext entry point is not installed"
    return found


SCRIPT = _script()


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [SCRIPT, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def work(tmp_path) -> Path:
    for name in ("activities.json", "calendar.ics", "severa-ext.toml"):
        shutil.copyfile(EXAMPLES / name, tmp_path / name)
    return tmp_path


SYNC = ("sync", "activities:activities.json", "ics:calendar.ics", "--config", "severa-ext.toml")


def normalise(text: str) -> str:
    text = re.sub(r"pair-[0-9a-f]{12}", "pair-X", text)
    text = re.sub(r"\d+\.\d\d s\b", "T s", text)
    return re.sub(r"/\S*severa-demo-\S+|/tmp\S*", "DIR", text)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SEVERA_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def assert_no_traceback(result) -> None:
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


def test_demo_syncs_twice_and_leaves_examples_untouched(tmp_path):
    before = {p.name: p.read_bytes() for p in EXAMPLES.iterdir()}
    result = run("demo", EXAMPLES, "--into", tmp_path / "demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    check_golden("cli_demo.txt", normalise(result.stdout))
    assert {p.name: p.read_bytes() for p in EXAMPLES.iterdir()} == before
    assert (tmp_path / "demo" / "severa-ext.sqlite").exists()


def test_demo_refuses_a_non_empty_folder_and_a_wrong_source(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    result = run("demo", EXAMPLES, "--into", tmp_path / "busy", cwd=tmp_path)
    assert result.returncode == 2
    assert "not empty" in result.stderr
    result = run("demo", tmp_path, cwd=tmp_path)
    assert result.returncode == 2
    assert "not an examples folder" in result.stderr
    assert_no_traceback(result)


def test_sync_json_then_no_change(work):
    """S3/S8/S9 on the example data; the second run writes nothing (idempotence)."""
    first = run(*SYNC, "--json", cwd=work)
    assert first.returncode == 0, first.stderr
    document = json.loads(first.stdout)
    assert document["ok"] is True
    assert document["writes"] == {"a": 6, "b": 2}
    assert document["report"]["linked"] == 1
    summary = {key: document["report"][key] for key in ("created", "updated", "deleted")}
    check_golden("cli_sync_first.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    activities = json.loads((work / "activities.json").read_text())["activities"]
    types = {a["title"]: a["activity_type_id"] for a in activities}
    assert types["Dentist"] == "personal"  # S9: a private entry becomes Personal
    assert types["Team lunch"] == "meeting"  # S9: the default type
    calendar = (work / "calendar.ics").read_text()
    assert "Visit: Example Oy" in calendar
    assert "Write the specification" not in calendar  # S8: never a project task
    assert "Timesheet review" not in calendar  # S8: not an outgoing type
    assert calendar.count("Kick-off: Website renewal") == 1  # S3: linked, not duplicated
    assert "BEGIN:VTODO" in calendar  # what the calendar app stored is kept
    second = run(*SYNC, "--json", "--verify", cwd=work)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["writes"] == {"a": 0, "b": 0}
    assert again["verify"]["checked"] == 9


def test_plan_and_dry_run_write_nothing(work):
    before = {p.name: p.read_bytes() for p in work.iterdir()}
    plan = run(
        "plan",
        "activities:activities.json",
        "ics:calendar.ics",
        "--config",
        "severa-ext.toml",
        cwd=work,
    )
    assert plan.returncode == 0, plan.stderr
    assert "create" in plan.stdout
    assert "'Visit: Example Oy'" in plan.stdout
    dry = run(*SYNC, "--dry-run", cwd=work)
    assert dry.returncode == 0, dry.stderr
    assert "dry run (nothing written)" in dry.stdout
    after = {p.name: p.read_bytes() for p in work.iterdir() if p.name in before}
    assert after == before


def test_broken_calendar_entry_exits_1_and_is_journaled(work):
    """S6: a skipped entry goes to the journal; the rest syncs; the exit code is 1."""
    broken = (DATA / "unknown_tzid.ics").read_bytes()
    (work / "calendar.ics").write_bytes(broken)
    result = run(*SYNC, cwd=work)
    assert result.returncode == 1
    assert "Mars/Olympus_Mons" in result.stdout
    assert "Earth time" in (work / "activities.json").read_text()
    journal = run("journal", "--config", "severa-ext.toml", "--json", "--level", "error", cwd=work)
    assert journal.returncode == 0, journal.stderr
    document = json.loads(journal.stdout)
    assert (document["schema_version"], document["command"]) == (1, "journal")
    entries = document["entries"]
    assert len(entries) == 1
    assert entries[0]["side"] == "b"
    assert "unknown-tz" in entries[0]["item_ref"]
    human = run(
        "journal",
        "--config",
        "severa-ext.toml",
        "--pair",
        "activities:activities.json",
        "ics:calendar.ics",
        cwd=work,
    )
    assert "Mars/Olympus_Mons" in human.stdout
    other = run(
        "journal", "--config", "severa-ext.toml", "--pair", "ics:a.ics", "ics:b.ics", cwd=work
    )
    assert other.stdout.strip() == "the journal is empty"


def test_unreadable_calendar_exits_1_without_traceback(work):
    shutil.copyfile(DATA / "truncated.ics", work / "calendar.ics")
    result = run(*SYNC, cwd=work)
    assert result.returncode == 1
    assert "never closed" in result.stdout + result.stderr
    assert_no_traceback(result)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("sync", "nonsense", "ics:calendar.ics"), "bad side address"),
        (("sync", "ftp:x", "ics:calendar.ics"), "unknown kind"),
        (
            (
                "sync",
                "activities:activities.json",
                "ics:missing/calendar.ics",
                "--config",
                "severa-ext.toml",
            ),
            "no such folder",
        ),
        (
            (
                "sync",
                "ics:calendar.ics",
                "activities:activities.json",
                "--config",
                "severa-ext.toml",
            ),
            "activities side first",
        ),
        (("sync", "activities:activities.json", "ics:calendar.ics"), "default_type"),
        (
            ("sync", "activities:activities.json", "ics:calendar.ics", "--config", "nowhere.toml"),
            "does not exist",
        ),
        (
            (
                "sync",
                "activities:activities.json",
                "graph:alice@example.com",
                "--config",
                "severa-ext.toml",
            ),
            "tenant_id",
        ),
        (
            (
                "sync",
                "activities:activities.json",
                "ews:notaurl#alice",
                "--config",
                "severa-ext.toml",
            ),
            "http(s)",
        ),
        (("journal", "--state", "none.sqlite"), "no state file"),
        (("sync",), "required"),
        (("frobnicate",), "invalid choice"),
        (("journal", "--limit", "0"), "at least 1"),
    ],
)
def test_usage_and_config_errors_exit_2(work, args, fragment):
    result = run(*args, cwd=work)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert fragment in result.stderr
    assert_no_traceback(result)


def test_bad_config_values_exit_2(work):
    config = work / "severa-ext.toml"
    config.write_text(config.read_text().replace("conflict =", "conflikt ="))
    result = run(*SYNC, cwd=work)
    assert result.returncode == 2
    assert "conflikt" in result.stderr
    config.write_text('[policy]\ndefault_type = "meeting"\noutgoing_types = ["nope"]\n')
    result = run(*SYNC, cwd=work)
    assert result.returncode == 2
    assert "nope" in result.stderr


def test_secrets_come_from_the_environment_never_argv(work):
    config = work / "severa-ext.toml"
    graph = '[graph]\ntenant_id = "contoso"\nclient_id = "app"\n'
    config.write_text(config.read_text() + f'\n{graph}client_secret_env = "SEVERA_TEST_SECRET"\n')
    result = run(
        "sync",
        "activities:activities.json",
        "graph:alice@example.com",
        "--config",
        "severa-ext.toml",
        cwd=work,
        env={"SEVERA_TEST_SECRET": ""},
    )
    assert result.returncode == 2
    assert "SEVERA_TEST_SECRET is not set" in result.stderr


def test_state_defaults_next_to_the_config(work, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run(
        "sync",
        f"activities:{work / 'activities.json'}",
        f"ics:{work / 'calendar.ics'}",
        "--config",
        work / "severa-ext.toml",
        cwd=elsewhere,
    )
    assert result.returncode == 0, result.stderr
    assert (work / "severa-ext.sqlite").exists()
    assert not (elsewhere / "severa-ext.sqlite").exists()
    explicit = run(*SYNC, "--state", tmp_path / "mine.sqlite", cwd=work)
    assert explicit.returncode == 0
    assert (tmp_path / "mine.sqlite").exists()


def test_json_errors_are_json_too(work):
    result = run("sync", "nonsense", "ics:calendar.ics", "--json", cwd=work)
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert document["error"]["type"] == "ConfigError"
    assert "bad side address" in document["error"]["message"]


def test_a_subscription_feeds_the_activities(work):
    """An http(s)/webcal feed is read-only side B: entries come in (S9), nothing goes out."""
    import threading
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(work)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    config = work / "severa-ext.toml"
    config.write_text(
        config.read_text()
        .replace('outgoing_types = ["meeting", "customer-visit"]', "outgoing_types = []")
        # A plain-http test feed on loopback: allowed only by this explicit option.
        .replace("[ics]\n", "[ics]\nallow_http = true\n")
    )
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/calendar.ics"
        result = run(
            "sync",
            "activities:activities.json",
            url,
            "--config",
            "severa-ext.toml",
            "--json",
            cwd=work,
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["writes"]["b"] == 0  # nothing is ever written to a feed
    assert document["writes"]["a"] >= 6
    activities = json.loads((work / "activities.json").read_text())["activities"]
    types = {a["title"]: a["activity_type_id"] for a in activities}
    assert types["Team lunch"] == "meeting"
    assert types["Dentist"] == "personal"


def test_plan_golden(work):
    """The plan of the example: one link (S3), the outgoing types only (S8), all in (S9)."""
    result = run(
        "plan",
        "activities:activities.json",
        "ics:calendar.ics",
        "--config",
        "severa-ext.toml",
        cwd=work,
    )
    assert result.returncode == 0, result.stderr
    check_golden("cli_plan.txt", result.stdout)


def test_version_and_help(work):
    version = run("--version", cwd=work)
    assert version.returncode == 0
    assert version.stdout.startswith("severa-ext ")
    helped = run("sync", "--help", cwd=work)
    assert helped.returncode == 0
    assert "--dry-run" in helped.stdout


def test_edits_and_deletes_travel_both_ways(work):
    """S11: an edit in the calendar reaches the activities, a deleted activity leaves it."""
    assert run(*SYNC, cwd=work).returncode == 0
    calendar = work / "calendar.ics"
    calendar.write_text(
        calendar.read_text().replace("SUMMARY:Team lunch", "SUMMARY:Team lunch (Friday)")
    )
    document = json.loads((work / "activities.json").read_text())
    document["activities"] = [a for a in document["activities"] if a["id"] != "act-visit"]
    (work / "activities.json").write_text(json.dumps(document))
    result = run(*SYNC, "--json", cwd=work)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["report"]
    assert report["updated"] == {"a": 1, "b": 0}
    assert report["deleted"] == {"a": 0, "b": 1}
    assert "Team lunch (Friday)" in (work / "activities.json").read_text()
    assert "Visit: Example Oy" not in calendar.read_text()
    assert json.loads(run(*SYNC, "--json", cwd=work).stdout)["writes"] == {"a": 0, "b": 0}
