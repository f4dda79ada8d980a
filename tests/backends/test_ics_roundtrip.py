"""Property: item -> ICS -> item is the identity on the fields the model keeps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from severa_ext.backends.ics import IcsBackend
from severa_ext.clock import FixedClock
from severa_ext.sync.items import CONTENT_FIELDS, CalendarItem, ShowAs, Window, content_equal
from support import scaled

ZONES = [UTC, ZoneInfo("Europe/Helsinki"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]
WINDOW = Window(datetime(1999, 1, 1, tzinfo=UTC), datetime(2042, 1, 1, tzinfo=UTC))
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r"),
    max_size=40,
)
BODY = st.lists(TEXT, max_size=3).map("\n".join)
CATEGORY = TEXT.map(str.strip).filter(bool)


@st.composite
def calendar_items(draw) -> CalendarItem:
    if draw(st.booleans()):
        start_day = draw(st.dates(date(2000, 1, 1), date(2040, 1, 1)))
        start: datetime | date = start_day
        end: datetime | date = start_day + timedelta(days=draw(st.integers(1, 10)))
    else:
        naive = draw(st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1)))
        zone = draw(st.sampled_from(ZONES))
        start = naive.replace(microsecond=0, tzinfo=zone)
        # Skip wall times that do not exist (spring-forward gaps) in the drawn zone.
        start = start.astimezone(UTC).astimezone(zone)
        end = start + timedelta(minutes=draw(st.integers(0, 60 * 48)))
    return CalendarItem(
        title=draw(TEXT),
        start=start,
        end=end,
        location=draw(TEXT),
        body=draw(BODY),
        private=draw(st.booleans()),
        show_as=draw(st.sampled_from(list(ShowAs))),
        categories=tuple(draw(st.lists(CATEGORY, max_size=3))),
    )


@settings(max_examples=scaled(60))
@given(items=st.lists(calendar_items(), min_size=1, max_size=4))
def test_item_to_ics_to_item_is_identity(tmp_path_factory, items):
    path = tmp_path_factory.mktemp("rt") / "cal.ics"
    writer = IcsBackend(
        path, create_missing=True, clock=FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    )
    created = [writer.create(item, f"key-{n}") for n, item in enumerate(items)]
    reader = IcsBackend(path)  # a fresh process-like reader parses the written bytes
    listed = {i.sync_key: i for i in reader.changes(None, WINDOW).items}
    for n, item in enumerate(items):
        back = listed[f"key-{n}"]
        assert content_equal(back, item), (item, back)
        for field in CONTENT_FIELDS:
            if field not in ("start", "end"):
                assert getattr(back, field) == getattr(item, field), field
        assert back.start == item.start
        assert back.end == item.end
        assert back == created[n]
