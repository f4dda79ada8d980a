"""Issue 18: the testing guide names every fixture the pytest plugin provides."""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guides" / "testing.md"
OURS = re.compile(r"^(\w+)(?: \[\w+ scope\])? -- \S*severa_ext[/\\]testing[/\\]", re.MULTILINE)


def test_the_testing_guide_lists_every_plugin_fixture(pytester):
    listing = pytester.runpytest("--fixtures", "-p", "no:cacheprovider").stdout.str()
    fixtures = set(OURS.findall(listing))
    assert {"fake_calendar", "graph_server", "ews_server", "severa_server"} <= fixtures
    table = set(re.findall(r"^\| `(\w+)`", GUIDE.read_text(encoding="utf-8"), re.MULTILINE))
    assert fixtures - table == set(), "fixtures missing from the testing guide's table"
