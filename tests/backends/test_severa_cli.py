"""The command line's Severa pieces: the ``severa:EMAIL`` address (credentials from the
environment or a file) and the Severa (fake) <-> Microsoft 365 (fake Graph) demo."""

from __future__ import annotations

import pytest

from severa_ext._cli_address import open_backend, parse_address
from severa_ext._cli_config import Config
from severa_ext._cli_severa_demo import run_severa_demo
from severa_ext.backends.severa import SeveraBackend
from severa_ext.errors import ConfigError

pytestmark = pytest.mark.slow


def test_the_severa_address():
    address = parse_address("severa:Alice@Example.com")
    assert (address.kind, address.target) == ("severa", "Alice@Example.com")
    assert address.is_activities  # the Severa side
    with pytest.raises(ConfigError, match="needs the user's email"):
        parse_address("severa:alice")


def test_credentials_come_from_the_environment_or_a_file(severa_server, monkeypatch, tmp_path):
    address = parse_address("severa:alice@example.com")
    monkeypatch.delenv("SEVERA_CLIENT_ID", raising=False)
    with pytest.raises(ConfigError, match="SEVERA_CLIENT_ID"):
        open_backend(address, Config())
    monkeypatch.setenv("SEVERA_CLIENT_ID", severa_server.client_id)
    monkeypatch.setenv("SEVERA_BASE_URL", severa_server.base_url)
    monkeypatch.delenv("SEVERA_CLIENT_SECRET", raising=False)
    secret_file = tmp_path / "severa.secret"
    secret_file.write_text(severa_server.client_secret + "\n", encoding="utf-8")
    monkeypatch.setenv("SEVERA_CLIENT_SECRET_FILE", str(secret_file))
    backend = open_backend(address, Config())
    assert isinstance(backend, SeveraBackend)
    assert backend.user().email == "alice@example.com"
    backend.close()


def test_the_demo_runs_severa_against_graph_end_to_end():
    lines: list[str] = []
    assert run_severa_demo(lines.append) == 0
    text = "\n".join(lines)
    assert "run 1: created 2 in Severa, 2 in the calendar" in text
    assert "run 2: created 0 in Severa, 0 in the calendar" in text
    calendar = text.split("the calendar now holds:")[1]
    assert "Implement the API" not in calendar  # a project task stays in Severa (S8)
    assert "Dentist              type Personal" in text  # a private entry (S9)


def test_severa_ext_demo_severa_from_the_command_line(capsys):
    import json

    from severa_ext.cli import main

    assert main(["demo", "--severa", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["converged"] is True
    assert any(line.startswith("run 2: created 0") for line in document["lines"])
