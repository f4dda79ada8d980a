"""Quickstart placeholder: builds two calendar items and shows their fingerprints.

Replaced by a real sync (`severa-ext sync`) once the command line lands.
"""

from __future__ import annotations

from datetime import UTC, datetime

from severa_ext.sync.items import CalendarItem, content_equal, fingerprint

one = CalendarItem(
    title="Kickoff",
    start=datetime(2026, 5, 4, 9, tzinfo=UTC),
    end=datetime(2026, 5, 4, 10, tzinfo=UTC),
)
print(one, fingerprint(one), content_equal(one, one.evolve(id="x")))
