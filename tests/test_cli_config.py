"""The command line's TOML configuration and secrets (never from argv, never echoed)."""

from __future__ import annotations

import pytest

from severa_ext._cli_config import load_config, read_secret, window_bounds
from severa_ext.errors import ConfigError


def write(tmp_path, text: str):
    path = tmp_path / "severa-ext.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file():
    config = load_config(None)
    assert config.policy.conflict == "newest-wins"
    assert config.window.past_days == 30


def test_unknown_keys_and_bad_values_name_the_place(tmp_path):
    with pytest.raises(ConfigError, match=r"outgoing_typs"):
        load_config(write(tmp_path, '[policy]\noutgoing_typs = ["x"]\n'))
    with pytest.raises(ConfigError, match=r"\$\.window\.past_days"):
        load_config(write(tmp_path, '[window]\npast_days = "many"\n'))
    with pytest.raises(ConfigError, match="conflict"):
        load_config(write(tmp_path, '[policy]\nconflict = "loudest-wins"\n'))
    with pytest.raises(ConfigError, match="both start and end"):
        load_config(write(tmp_path, "[window]\nstart = 2026-01-01\n"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[policy\n"))


def test_fixed_window(tmp_path):
    from datetime import UTC, datetime

    config = load_config(write(tmp_path, "[window]\nstart = 2026-11-01\nend = 2027-03-01\n"))
    start, end = window_bounds(config, datetime(2030, 1, 1, tzinfo=UTC))
    assert (start.date().isoformat(), end.date().isoformat()) == ("2026-11-01", "2027-03-01")


def test_secrets_from_env_or_a_file_relative_to_the_config(tmp_path, monkeypatch):
    (tmp_path / "secret.txt").write_text("s3cr3t-value\n")
    config = load_config(write(tmp_path, "[graph]\ntenant_id = 't'\n"))
    assert read_secret(config, None, "secret.txt", "graph secret") == "s3cr3t-value"
    monkeypatch.setenv("SEVERA_TEST_SECRET", "from-env")
    assert read_secret(config, "SEVERA_TEST_SECRET", "secret.txt", "graph secret") == "from-env"
    monkeypatch.delenv("SEVERA_TEST_SECRET")
    with pytest.raises(ConfigError, match="SEVERA_TEST_SECRET is not set"):
        read_secret(config, "SEVERA_TEST_SECRET", None, "graph secret")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ConfigError, match="is empty") as caught:
        read_secret(config, None, "empty.txt", "graph secret")
    assert "s3cr3t" not in str(caught.value)
    with pytest.raises(ConfigError, match="configure an environment variable or a file"):
        read_secret(config, None, None, "graph secret")
