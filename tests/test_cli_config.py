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


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("bogus = 1\n", "bogus"),
        ('[ics]\nencoding = "no-such-codec"\n', "ics.encoding"),
        ("[ics]\nmax_bytes = -1\n", "ics.max_bytes"),
        ("[ics]\nmax_bytes = 0\n", "ics.max_bytes"),
        ("[ics]\ntimeout = -5.0\n", "ics.timeout"),
        ("[ics]\ntimeout = nan\n", "ics.timeout"),
        ("[ics]\ntimeout = inf\n", "ics.timeout"),
        ("[window]\npast_days = 99999999999999999999\n", "window"),
        ("[window]\nfuture_days = 10000000\n", "window"),
        ("[window]\npast_days = true\n", r"\$\.window\.past_days"),
        ("[ics]\nzone = 5\n", r"\$\.ics\.zone"),
        ('[policy]\noutgoing_types = "meeting"\n', "outgoing_types"),
        ("policy = 5\n", r"\$\.policy"),
        ("state = 1\n", r"\$\.state"),
        ('[ews]\nauth = "kerberos"\n', "ews.auth"),
        ("a = " + "[" * 200_000 + "]" * 200_000 + "\n", "nested too deeply"),
        ("a = " + "{b = " * 400 + "1" + "}" * 400 + "\n", "nested too deeply"),
    ],
    ids=lambda v: v[:30] if isinstance(v, str) else v,
)
def test_bad_configs_fail_at_load(tmp_path, text, match):
    """Issue 12: unknown keys, bad encodings, negative sizes and deep nesting are ConfigError."""
    with pytest.raises(ConfigError, match=match) as caught:
        load_config(write(tmp_path, text))
    assert len(str(caught.value)) < 400


def test_invalid_utf8_config_is_a_config_error(tmp_path):
    path = tmp_path / "severa-ext.toml"
    path.write_bytes(b'[ics]\nzone = "\xff"\n')
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(path)


def test_a_known_encoding_and_positive_limits_load(tmp_path):
    config = load_config(
        write(tmp_path, '[ics]\nencoding = "latin-1"\nmax_bytes = 1000\ntimeout = 2\n')
    )
    assert (config.ics.encoding, config.ics.max_bytes, config.ics.timeout) == ("latin-1", 1000, 2.0)
