"""The command line in-process (``severa_ext.cli.main``): options, exit codes, JSON, fuzzing.

Issue 12: whatever a config or an activities file holds (a list instead of an object,
nulls, huge numbers, deep nesting, wrong types, unknown keys, invalid UTF-8), the
command prints one line and exits with a documented code, never a traceback. Issue 18:
the output options after the subcommand, the environment variables, ``python -m``,
the subcommand's usage on errors, one JSON document per command.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from severa_ext import cli
from support import scaled

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DOCUMENTED_EXITS = {cli.EXIT_OK, cli.EXIT_ERRORS, cli.EXIT_USAGE}
SIDES = ("activities:activities.json", "ics:calendar.ics")
SYNC = ("sync", *SIDES, "--config", "severa-ext.toml")


def copy_examples(folder: Path) -> Path:
    for name in ("activities.json", "calendar.ics", "severa-ext.toml"):
        shutil.copyfile(EXAMPLES / name, folder / name)
    return folder


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEVERA_EXT_CONFIG", raising=False)
    monkeypatch.delenv("SEVERA_EXT_STATE", raising=False)
    return copy_examples(tmp_path)


def call(*args: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def assert_one_line_failure(code: int, out: str, err: str) -> None:
    assert code in DOCUMENTED_EXITS, (code, err)
    assert "Traceback" not in out + err
    if code == cli.EXIT_USAGE:
        lines = err.splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("severa-ext: ")


# --- options -------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["-q", "--quiet", "-v", "--verbose", "--debug"])
def test_output_options_are_accepted_after_the_subcommand(work, option):
    code, out, err = call(*SYNC, option)
    assert code == 0, err
    if option in ("-q", "--quiet"):
        assert out == ""
    else:
        assert "pair-" in out


def test_quiet_before_the_subcommand_and_verbose_quiet_together(work):
    assert call("-q", *SYNC)[1] == ""
    code, _, err = call("-v", *SYNC, "-q")
    assert code == cli.EXIT_USAGE
    assert "do not go together" in err


def test_environment_names_the_config_and_the_state(work, monkeypatch, tmp_path_factory):
    state = tmp_path_factory.mktemp("state") / "from-env.sqlite"
    monkeypatch.setenv("SEVERA_EXT_CONFIG", str(work / "severa-ext.toml"))
    monkeypatch.setenv("SEVERA_EXT_STATE", str(state))
    code, _, err = call("sync", *SIDES)
    assert code == 0, err
    assert state.exists()
    assert not (work / "severa-ext.sqlite").exists()
    # The command line wins over the environment.
    code, _, err = call("sync", *SIDES, "--state", work / "given.sqlite")
    assert code == 0, err
    assert (work / "given.sqlite").exists()


def test_a_subcommand_error_prints_that_subcommands_usage(work):
    code, _, err = call("journal", "--limit", "zero")
    assert code == cli.EXIT_USAGE
    assert err.startswith("usage: severa-ext journal")
    assert "severa-ext journal: error: argument --limit" in err
    code, _, err = call("sync", "activities:x.json")
    assert err.startswith("usage: severa-ext sync")


@pytest.mark.parametrize("command", ["sync", "plan", "demo"])
def test_every_positional_has_help(command):
    section = _help(command).split("positional arguments:\n")[1].split("\n\n")[0]
    lines = section.splitlines()
    names = [i for i, line in enumerate(lines) if line[2:3].strip() and line[:2] == "  "]
    assert names
    for i in names:
        # Help sits beside the name, or on the next line, indented further.
        beside = len(lines[i].split()) > 1
        below = i + 1 < len(lines) and lines[i + 1].startswith("     ")
        assert beside or below, lines[i]


def _help(command: str) -> str:
    from severa_ext._cli_parser import build_parser

    parser = build_parser()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        parser.parse_args([command, "--help"])
    return out.getvalue()


def test_python_dash_m_runs_the_command_line(work):
    result = subprocess.run(
        [sys.executable, "-m", "severa_ext", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("severa-ext ")


# --- exit codes and messages ---------------------------------------------------------


def test_mass_deletion_message_names_the_exact_flag(work):
    document = json.loads((work / "activities.json").read_text())
    template = next(a for a in document["activities"] if a["activity_type_id"] == "meeting")
    for number in range(40):
        document["activities"].append({**template, "id": f"extra-{number}", "title": f"E{number}"})
    (work / "activities.json").write_text(json.dumps(document))
    assert call(*SYNC)[0] == 0
    document["activities"] = []
    (work / "activities.json").write_text(json.dumps(document))
    code, out, err = call(*SYNC, "--json")
    assert code == cli.EXIT_ERRORS
    assert "--allow-mass-delete" in err
    assert len(err.splitlines()) == 1
    assert json.loads(out)["error"]["type"] == "MassDeletionRefused"
    assert call(*SYNC, "--allow-mass-delete")[0] == 0


def test_a_held_lease_exits_3_and_says_so(work):
    from severa_ext.sync.sqlite import SQLiteStateStore

    code, out, _ = call(*SYNC, "--json")
    pair_id = json.loads(out)["pair_id"]
    store = SQLiteStateStore(work / "severa-ext.sqlite")
    try:
        now = datetime.now(UTC)
        lease = store.acquire(pair_id, "elsewhere.example:4242", now=now, ttl=timedelta(hours=1))
    finally:
        store.close()
    code, out, err = call(*SYNC, "--json")
    assert code == cli.EXIT_BUSY == 3
    assert err.startswith("severa-ext: LeaseHeld: ")
    assert f"until {lease.expires.isoformat()}" in err  # LeaseHeld.expires, in the line
    assert len(err.splitlines()) == 1
    document = json.loads(out)
    assert document["error"]["type"] == "LeaseHeld"
    assert document["error"]["expires_at"] == lease.expires.isoformat()
    assert document["error"]["holder"] == "elsewhere.example:4242"
    store = SQLiteStateStore(work / "severa-ext.sqlite")
    try:
        refusals = [e for e in store.journal(pair_id=pair_id) if e.operation == "lease"]
    finally:
        store.close()
    assert len(refusals) == 1
    assert "elsewhere.example:4242" in refusals[0].message


def test_an_unexpected_error_is_one_line_and_exit_70(work, monkeypatch):
    from severa_ext import _cli_commands

    def broken(*_args, **_kwargs):
        raise TypeError("something the SDK did not expect")

    monkeypatch.setattr(_cli_commands, "run_journal", broken)
    monkeypatch.setattr(cli, "run_journal", broken)
    code, _, err = call("journal")
    assert code == cli.EXIT_INTERNAL == 70
    assert err.count("\n") == 1
    assert "this is a bug" in err


# --- JSON -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("demo", EXAMPLES, "--json"),
        (*SYNC, "--json"),
        ("plan", *SIDES, "--config", "severa-ext.toml", "--json"),
        ("journal", "--config", "severa-ext.toml", "--json"),
        ("sync", "nonsense", "ics:x.ics", "--json"),
    ],
    ids=["demo", "sync", "plan", "journal", "error"],
)
def test_json_is_exactly_one_document_with_a_schema_version(work, args, tmp_path_factory):
    if args[0] == "demo":
        args = (*args, "--into", tmp_path_factory.mktemp("demo") / "run")
    if args[0] == "journal":
        call(*SYNC)
    code, out, _ = call(*args)
    document, end = json.JSONDecoder().raw_decode(out)
    assert out[end:].strip() == ""  # nothing after the one document
    assert document["schema_version"] == cli.JSON_SCHEMA_VERSION
    assert document["command"] == args[0]
    assert document["exit_code"] == code
    assert document["ok"] is (code == 0)


def test_demo_runs_from_the_installed_examples(work, tmp_path_factory):
    into = tmp_path_factory.mktemp("demo") / "run"
    code, out, err = call("demo", "--into", into, "--json")
    assert code == 0, err
    runs = json.loads(out)["runs"]
    assert [r["writes"] for r in runs] == [{"a": 6, "b": 2}, {"a": 0, "b": 0}]


# --- fuzzing (issue 12) ------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**30, max_value=10**300)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["", "meeting", "2026-12-01", "2026-12-01T09:00:00+02:00", "latin-1"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _toml_value(value: object) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(repr(value), repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    items = (f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
    return "{" + ", ".join(items) + "}"


CONFIG_KEYS = {
    "policy": ["outgoing_types", "default_type", "personal_type", "conflict", "user_id", "bogus"],
    "window": ["past_days", "future_days", "start", "end"],
    "ics": ["zone", "encoding", "max_bytes", "timeout"],
    "ews": ["username", "auth"],
    "": ["state", "path", "unknown"],
}


NESTED_LISTS = st.sampled_from([40, 1_000, 5_000, 200_000]).map(lambda d: "[" * d + "]" * d)
"""Lists in lists, from past the documents' depth bound to far past the parsers' stack."""


@st.composite
def configs(draw) -> bytes:
    """The example config with some values replaced, keys added, or garbage."""
    kind = draw(st.sampled_from(["edit", "edit", "edit", "deep", "text", "bytes"]))
    if kind == "deep":
        return f"a = {draw(NESTED_LISTS)}\n".encode()
    if kind == "text":
        return draw(st.text(max_size=80)).encode("utf-8", "surrogatepass")
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    text = (EXAMPLES / "severa-ext.toml").read_text()
    top: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(sorted(CONFIG_KEYS)))
        key = draw(st.sampled_from(CONFIG_KEYS[section]))
        line = f"{key} = {_toml_value(draw(JSON_VALUES))}"
        if section:
            text += f"\n[{section}]\n{line}\n"  # a repeated table is a TOML error too
        else:
            top.append(line)
    return ("\n".join(top) + "\n" + text).encode()


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def activities_files(draw) -> bytes:
    """The example activities with one value replaced, or a wholly other document."""
    kind = draw(st.sampled_from(["edit", "edit", "edit", "other", "deep", "bytes"]))
    if kind == "deep":
        return ('{"user": ' + draw(NESTED_LISTS) + "}").encode()
    if kind == "bytes":
        return b'{"user": {"id": "\xff", "email": "a@example.com"}}' + draw(st.binary(max_size=8))
    if kind == "other":
        return json.dumps(draw(JSON_VALUES)).encode()
    document = json.loads((EXAMPLES / "activities.json").read_text())
    path = draw(st.sampled_from(_paths(document)[1:]))
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = draw(_like(node[path[-1]]) | JSON_VALUES)
    return json.dumps(document).encode()


def _like(value: object) -> st.SearchStrategy:
    """Values of ``value``'s own type: they pass the file's checks more often."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, str):
        dates = st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
        return st.text(max_size=40) | dates | st.dates().map(str)
    if isinstance(value, list):
        return st.lists(st.text(max_size=5), max_size=3)
    return JSON_VALUES


def _fuzz(config: bytes, activities: bytes, command: str) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = copy_examples(Path(name))
        (folder / "severa-ext.toml").write_bytes(config)
        (folder / "activities.json").write_bytes(activities)
        args = [command, *(f"{s.split(':')[0]}:{folder / s.split(':')[1]}" for s in SIDES)]
        code, out, err = call(
            *args, "--config", folder / "severa-ext.toml", "--state", folder / "s.sqlite"
        )
    event(f"exit {code}")
    assert_one_line_failure(code, out, err)


EXAMPLE_CONFIG = (EXAMPLES / "severa-ext.toml").read_bytes()
EXAMPLE_ACTIVITIES = (EXAMPLES / "activities.json").read_bytes()
FUZZ = settings(
    max_examples=scaled(60), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@FUZZ
@given(config=configs(), command=st.sampled_from(["plan", "sync"]))
def test_any_config_gives_a_documented_exit_and_no_traceback(config, command):
    _fuzz(config, EXAMPLE_ACTIVITIES, command)


@FUZZ
@given(activities=activities_files(), command=st.sampled_from(["plan", "sync"]))
def test_any_activities_file_gives_a_documented_exit_and_no_traceback(activities, command):
    _fuzz(EXAMPLE_CONFIG, activities, command)


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_the_cli_guide_documents_every_json_field(work, tmp_path_factory):
    """Issue 18: each field of each command's document is named in the guide."""
    guide = (ROOT / "docs" / "guides" / "cli.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z_]+)`", guide))
    calendar = work / "calendar.ics"
    calendar.write_text(calendar.read_text().replace("SUMMARY:Team lunch", "SUMMARY:Lunch"))
    documents = [
        json.loads(call("plan", *SIDES, "--config", "severa-ext.toml", "--json")[1]),
        json.loads(call(*SYNC, "--json", "--verify")[1]),
        json.loads(call("journal", "--config", "severa-ext.toml", "--json")[1]),
        json.loads(call("sync", "nonsense", "ics:x.ics", "--json")[1]),
    ]
    into = tmp_path_factory.mktemp("demo") / "run"
    documents.append(json.loads(call("demo", "--into", into, "--json")[1]))
    plan = documents.pop(0)
    found = set(plan) | {k for d in documents for k in _keys(d)}
    assert found - documented == set()
