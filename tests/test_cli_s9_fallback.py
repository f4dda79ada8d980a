"""S9 through the command line and the activities file backend: a ``personal_type``
the activities file does not have is a warning, never an error.

Before issue 18 the command refused the config on every run; now the private entry
comes in with the default type, the run exits 0, and the journal holds one warning
that says what fell back (S6), not one per run.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from severa_ext import cli

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SYNC = ("sync", "activities:activities.json", "ics:calendar.ics", "--config", "severa-ext.toml")


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEVERA_EXT_CONFIG", raising=False)
    monkeypatch.delenv("SEVERA_EXT_STATE", raising=False)
    for name in ("activities.json", "calendar.ics", "severa-ext.toml"):
        shutil.copyfile(EXAMPLES / name, tmp_path / name)
    config = tmp_path / "severa-ext.toml"
    text = config.read_text()
    assert 'personal_type = "personal"' in text
    config.write_text(text.replace('personal_type = "personal"', 'personal_type = "holiday"'))
    return tmp_path


def call(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_s9_an_unknown_personal_type_syncs_with_the_default_type(work):
    code, out, err = call(*SYNC, "--json")
    assert code == 0, err
    assert json.loads(out)["ok"] is True
    activities = json.loads((work / "activities.json").read_text())["activities"]
    types = {a["title"]: a["activity_type_id"] for a in activities}
    assert types["Dentist"] == "meeting"  # the private entry came in, default type
    dentist = next(a for a in activities if a["title"] == "Dentist")
    assert dentist["is_private"] is True

    code, out, err = call("journal", "--config", "severa-ext.toml", "--json", "--level", "warning")
    assert code == 0, err
    entries = [e for e in json.loads(out)["entries"] if e["operation"] == "settings"]
    assert len(entries) == 1
    assert "'holiday'" in entries[0]["message"]
    assert "(S9)" in entries[0]["message"]

    code, _, err = call(*SYNC)  # the next run is not refused either, and says it once
    assert code == 0, err
    code, out, _ = call("journal", "--config", "severa-ext.toml", "--json", "--level", "warning")
    assert [e["operation"] for e in json.loads(out)["entries"]].count("settings") == 1


def test_s9_an_unknown_default_type_is_still_a_config_error(work):
    config = work / "severa-ext.toml"
    config.write_text(config.read_text().replace('default_type = "meeting"', 'default_type = "x"'))
    code, _, err = call(*SYNC)
    assert code == cli.EXIT_USAGE
    assert "activity types the file does not have: x" in err
