"""Windows <-> IANA zone names (CLDR tables), as Outlook, Graph and EWS spell them."""

from __future__ import annotations

import doctest

import pytest

from severa_ext.backends import _timezones
from severa_ext.backends._timezones import iana_to_windows, resolve_zone, windows_to_iana


def test_doctests():
    failures, _ = doctest.testmod(_timezones)
    assert failures == 0


@pytest.mark.parametrize(
    ("windows", "iana"),
    [
        ("FLE Standard Time", "Europe/Kiev"),  # CLDR's territory-001 zone
        ("W. Europe Standard Time", "Europe/Berlin"),
        ('"Pacific Standard Time"', "America/Los_Angeles"),
        ("Eastern Standard Time 2", "America/New_York"),
        ("utc", "Etc/UTC"),
    ],
)
def test_outlook_spellings(windows, iana):
    assert windows_to_iana(windows) in {iana, "Etc/GMT" if iana == "Etc/UTC" else iana, "UTC"}


def test_round_trip_for_common_zones():
    for iana in ["Europe/Helsinki", "Europe/Stockholm", "America/New_York", "Asia/Tokyo"]:
        windows = iana_to_windows(iana)
        assert windows is not None
        assert resolve_zone(windows) is not None


def test_custom_and_unknown_zones_are_not_guessed():
    assert windows_to_iana("Customized Time Zone") is None
    assert resolve_zone("Mars/Olympus_Mons") is None
