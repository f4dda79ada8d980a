"""Unit tests of the Graph mapping, HTML bodies, error mapping, cursors and auth reprs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severa_ext.backends._graph_html import html_to_text, text_to_html
from severa_ext.backends._graph_http import (
    GraphResponse,
    SyncStateLost,
    error_for,
)
from severa_ext.backends._graph_mapping import (
    SYNC_KEY_PROPERTY_ID,
    event_to_item,
    item_to_event,
    sync_key_filter,
)
from severa_ext.backends._http import DEFAULT_RETRY_AFTER
from severa_ext.backends.graph import (
    ClientCredentialsTokenProvider,
    DelegatedTokenProvider,
    GraphBackend,
    GraphCursor,
    StaticTokenProvider,
)
from severa_ext.errors import (
    AuthError,
    BackendUnavailable,
    BadItem,
    ConfigError,
    MalformedResponse,
    NotFound,
    Throttled,
    ValidationError,
    VersionConflict,
)
from severa_ext.sync.items import CalendarItem, ShowAs, content_equal, normalize_text

HELSINKI = ZoneInfo("Europe/Helsinki")

# -- HTML bodies ---------------------------------------------------------------


@given(st.text())
def test_text_survives_html_and_back(text):
    """Writing a body as HTML and reading it back loses no text."""
    assert normalize_text(html_to_text(text_to_html(text))) == normalize_text(text)


def test_outlook_html_reads_as_text_with_line_breaks():
    markup = (
        "<html><head><style>p {margin:0}</style><title>x</title></head><body>"
        "<p>Agenda:</p><ul><li>Budget &amp; plan</li><li>Q&nbsp;&amp;&nbsp;A</li></ul>"
        "<div>Call <b>me</b><br>later</div><script>alert(1)</script></body></html>"
    )
    assert html_to_text(markup) == "Agenda:\nBudget & plan\nQ & A\nCall me\nlater"


def test_html_keeps_blank_lines_and_preformatted_text():
    assert html_to_text("<div>a</div><div><br></div><div><br></div><div>b</div>") == "a\n\n\nb"
    assert html_to_text("<pre>  x\n    y</pre>") == "  x\n    y"


# -- event mapping --------------------------------------------------------------

_zones = st.sampled_from([UTC, HELSINKI, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")])


@st.composite
def calendar_items(draw):
    zone = draw(_zones)
    start = draw(
        st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1))
    ).replace(microsecond=0, second=0)
    if draw(st.booleans()):
        day = start.date()
        return CalendarItem(
            title=draw(st.text(max_size=20)),
            start=day,
            end=day + timedelta(days=draw(st.integers(1, 3))),
            body=draw(st.text(max_size=40)),
        )
    aware = start.replace(tzinfo=zone)
    return CalendarItem(
        title=draw(st.text(max_size=20)),
        start=aware,
        end=aware + timedelta(minutes=draw(st.integers(0, 600))),
        location=draw(st.text(max_size=10)),
        body=draw(st.text(max_size=40)),
        private=draw(st.booleans()),
        show_as=draw(st.sampled_from(list(ShowAs))),
        categories=draw(st.lists(st.sampled_from(["Red", "Blue", "Ä"]), unique=True)),
    )


@given(calendar_items())
def test_item_to_event_and_back_keeps_content(item):
    """Every content field survives the JSON round trip (zones via Windows names)."""
    payload = item_to_event(item, sync_key="k1")
    back = event_to_item({"id": "E1", "@odata.etag": 'W/"1"', **payload})
    assert content_equal(item, back), (item, back)
    assert back.sync_key == "k1"
    assert (back.id, back.etag) == ("E1", 'W/"1"')


def test_create_payload_carries_transaction_id_and_extended_property():
    item = CalendarItem(
        "Plan", datetime(2026, 5, 4, 9, tzinfo=HELSINKI), datetime(2026, 5, 4, 10, tzinfo=HELSINKI)
    )
    payload = item_to_event(item, sync_key="abc")
    assert payload["transactionId"] == "abc"
    assert payload["singleValueExtendedProperties"] == [
        {"id": SYNC_KEY_PROPERTY_ID, "value": "abc"}
    ]
    assert payload["start"] == {"dateTime": "2026-05-04T09:00:00", "timeZone": "FLE Standard Time"}
    assert payload["body"]["contentType"] == "html"
    assert "transactionId" not in item_to_event(item)


@pytest.mark.parametrize("sensitivity", ["private", "personal", "confidential", "Private"])
def test_private_personal_and_confidential_read_as_private_s9(sensitivity):
    raw = _event(sensitivity=sensitivity)
    assert event_to_item(raw).private


def test_normal_sensitivity_is_not_private_and_private_writes_private_s9():
    assert not event_to_item(_event(sensitivity="normal")).private
    item = event_to_item(_event(sensitivity="personal"))
    assert item_to_event(item)["sensitivity"] == "private"


def test_windows_zone_names_resolve_to_iana_and_keep_the_instant():
    raw = _event(
        start={"dateTime": "2026-05-04T09:00:00.0000000", "timeZone": "W. Europe Standard Time"}
    )
    item = event_to_item(raw)
    assert item.start == datetime(2026, 5, 4, 7, tzinfo=UTC)
    assert str(item.start.tzinfo) == "Europe/Berlin"


def test_custom_zone_falls_back_to_utc():
    raw = _event(start={"dateTime": "2026-05-04T09:00:00", "timeZone": "Customized Time Zone"})
    assert event_to_item(raw).start == datetime(2026, 5, 4, 9, tzinfo=UTC)


def test_all_day_events_are_dates():
    raw = _event(
        isAllDay=True,
        start={"dateTime": "2026-05-01T00:00:00.0000000", "timeZone": "FLE Standard Time"},
        end={"dateTime": "2026-05-03T00:00:00.0000000", "timeZone": "FLE Standard Time"},
    )
    item = event_to_item(raw)
    assert (item.start, item.end) == (date(2026, 5, 1), date(2026, 5, 3))
    assert item.all_day


def test_html_body_show_as_categories_and_occurrence_identity():
    raw = _event(
        body={"contentType": "html", "content": "<p>One</p><p>Two</p>"},
        showAs="oof",
        categories=["Red"],
        type="occurrence",
        seriesMasterId="MASTER",
        originalStart="2026-05-04T07:00:00Z",
        transactionId="key-7",
    )
    item = event_to_item(raw)
    assert item.body == "One\nTwo"
    assert item.show_as is ShowAs.OOF
    assert item.categories == ("Red",)
    assert item.series_id == "MASTER"
    assert item.original_start == datetime(2026, 5, 4, 7, tzinfo=UTC)
    assert item.sync_key == "key-7"


def test_unknown_show_as_is_unknown_not_an_error():
    assert event_to_item(_event(showAs="somethingNew")).show_as is ShowAs.UNKNOWN


@pytest.mark.parametrize(
    "raw",
    [
        {"id": "X"},
        {"id": "X", "start": "nope", "end": "nope"},
        {"id": "X", "start": {"dateTime": "bad", "timeZone": "UTC"}, "end": {"dateTime": "bad"}},
        {
            "id": "X",
            "start": {"dateTime": "2026-05-04T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-04T09:00:00", "timeZone": "UTC"},
        },
    ],
)
def test_bad_events_raise_bad_item_naming_the_event(raw):
    with pytest.raises(BadItem) as info:
        event_to_item(raw)
    assert info.value.item_ref == "X"


def test_sync_key_filter_quotes_the_value():
    text = sync_key_filter("o'brien")
    assert "ep/value eq 'o''brien'" in text
    assert SYNC_KEY_PROPERTY_ID in text


def _event(**fields):
    raw = {
        "id": "E1",
        "@odata.etag": 'W/"1"',
        "subject": "S",
        "start": {"dateTime": "2026-05-04T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-05-04T10:00:00.0000000", "timeZone": "UTC"},
    }
    raw.update(fields)
    return raw


# -- error mapping -------------------------------------------------------------------


def _error(status, code, headers=None):
    return GraphResponse(status, headers or {}, {"error": {"code": code, "message": "msg"}})


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "InvalidAuthenticationToken", AuthError),
        (403, "ErrorAccessDenied", AuthError),
        (404, "MailboxNotEnabledForRESTAPI", NotFound),
        (404, "ErrorItemNotFound", NotFound),
        (404, "ResourceNotFound", NotFound),
        (409, "ErrorIrresolvableConflict", VersionConflict),
        (412, "ErrorIrresolvableConflict", VersionConflict),
        (410, "syncStateNotFound", SyncStateLost),
        (400, "resyncRequired", SyncStateLost),
        (429, "TooManyRequests", Throttled),
        (503, "ServiceUnavailable", Throttled),
        (504, "GatewayTimeout", Throttled),
        (500, "generalException", BackendUnavailable),
        (400, "ErrorInvalidRequest", BadItem),
        (302, None, MalformedResponse),
    ],
)
def test_graph_errors_map_to_package_errors_with_the_code(status, code, expected):
    error = error_for(_error(status, code), ref="E1")
    assert type(error) is expected
    assert error.code == code
    assert error.backend == "graph"


def test_mailbox_not_enabled_explains_licence_and_on_premises_s4():
    error = error_for(_error(404, "MailboxNotEnabledForRESTAPI"), ref="probe")
    assert "licence" in str(error)
    assert "on-premises" in str(error)


def test_throttled_carries_retry_after_header():
    error = error_for(_error(429, "TooManyRequests", {"retry-after": "7"}), ref="x")
    assert isinstance(error, Throttled)
    assert error.retry_after == 7.0


def test_throttled_without_retry_after_reports_the_default_wait():
    error = error_for(_error(429, "TooManyRequests"), ref="x")
    assert isinstance(error, Throttled)
    assert error.retry_after == DEFAULT_RETRY_AFTER


def test_throttled_reads_an_http_date_retry_after():
    error = error_for(
        _error(503, "ServiceUnavailable", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        ref="x",
    )
    assert isinstance(error, Throttled)
    assert error.retry_after == 0.0


def test_cursor_round_trips_and_rejects_garbage():
    cursor = GraphCursor(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC), "https://x/delta?t=1"
    )
    assert GraphCursor.decode(cursor.encode()) == cursor
    with pytest.raises(ValidationError):
        GraphCursor.decode("not json")
    with pytest.raises(ValidationError):
        GraphCursor.decode('{"start": 1}')


def test_backend_configuration_is_validated():
    tokens = StaticTokenProvider("t")
    with pytest.raises(ConfigError):
        GraphBackend(" ", tokens)
    with pytest.raises(ConfigError):
        GraphBackend("a@b.c", tokens, batch_size=21)
    with pytest.raises(ConfigError):
        GraphBackend("a@b.c", tokens, timeout=0)
    with GraphBackend("a@b.c", tokens) as managed:
        assert managed.name == "graph:a@b.c"
    backend = GraphBackend("a@b.c", tokens)
    assert backend.name == "graph:a@b.c"
    assert backend.capabilities.batch_size == 20
    assert backend.capabilities.max_in_flight == 4
    assert backend.capabilities.delta
    backend.close()


def test_secrets_never_appear_in_reprs():
    """Tokens and secrets stay out of reprs (they reach logs and the journal)."""
    providers = [
        StaticTokenProvider("eyJ.secret.token"),
        ClientCredentialsTokenProvider("tenant", "client", client_secret="s3cr3t-value"),
        ClientCredentialsTokenProvider(
            "tenant", "client", certificate={"private_key": "PEM-KEY", "thumbprint": "AB"}
        ),
        DelegatedTokenProvider(
            "client", username="alice@contoso.com", authority="https://x/t", refresh_token="rt-123"
        ),
    ]
    text = " ".join(repr(p) for p in providers) + repr(GraphBackend("a@b.c", providers[0]))
    for secret in ("eyJ.secret.token", "s3cr3t-value", "PEM-KEY", "rt-123"):
        assert secret not in text


def test_client_credentials_need_exactly_one_credential():
    with pytest.raises(ConfigError):
        ClientCredentialsTokenProvider("t", "c")
    with pytest.raises(ConfigError):
        ClientCredentialsTokenProvider(
            "t", "c", client_secret="s", certificate={"private_key": "k", "thumbprint": "t"}
        )
    with pytest.raises(ConfigError):
        ClientCredentialsTokenProvider("t", "c", certificate={"private_key": "k"})


def test_static_token_provider_refreshes_through_its_callback():
    fresh = iter(["t2", "t3"])
    provider = StaticTokenProvider("t1", refresh=lambda: next(fresh))
    assert provider.token() == "t1"
    provider.invalidate()
    assert provider.token() == "t2"
    assert provider.token() == "t2"
    lone = StaticTokenProvider("t1")
    lone.invalidate()
    with pytest.raises(AuthError) as info:
        lone.token()
    assert info.value.code == "InvalidAuthenticationToken"


@pytest.mark.parametrize(
    ("zone", "wall", "fold"),
    [
        ("Europe/Helsinki", datetime(2026, 10, 25, 3, 30), 0),  # ambiguous (autumn)
        ("Europe/Helsinki", datetime(2026, 10, 25, 3, 30), 1),
        ("Europe/Helsinki", datetime(2026, 3, 29, 3, 30), 0),  # nonexistent (spring gap)
        ("America/New_York", datetime(2026, 11, 1, 1, 30), 1),
        ("America/New_York", datetime(2026, 3, 8, 2, 30), 0),
    ],
)
def test_dst_edge_times_keep_their_instant_x3(zone: str, wall: datetime, fold: int) -> None:
    """X3: an ambiguous/nonexistent wall time is sent as UTC so the instant survives."""
    from zoneinfo import ZoneInfo

    from severa_ext.backends._graph_mapping import format_graph_datetime, parse_graph_datetime

    value = wall.replace(tzinfo=ZoneInfo(zone), fold=fold)
    wire = format_graph_datetime(value)
    assert wire.time_zone == "UTC"
    assert parse_graph_datetime(wire, ref="t") == value.astimezone(UTC)


def test_ordinary_local_time_keeps_windows_zone() -> None:
    """An exact wall time still travels as local time + Windows zone name."""
    from zoneinfo import ZoneInfo

    from severa_ext.backends._graph_mapping import format_graph_datetime

    wire = format_graph_datetime(datetime(2026, 10, 25, 12, 0, tzinfo=ZoneInfo("Europe/Helsinki")))
    assert (wire.date_time, wire.time_zone) == ("2026-10-25T12:00:00", "FLE Standard Time")


_DST_EDGES = [
    ("Europe/Helsinki", datetime(2026, 3, 29, 3)),  # local wall times of the gap/overlap
    ("Europe/Helsinki", datetime(2026, 10, 25, 3)),
    ("America/New_York", datetime(2026, 3, 8, 2)),
    ("America/New_York", datetime(2026, 11, 1, 1)),
]


@given(
    edge=st.sampled_from(_DST_EDGES),
    minutes=st.integers(min_value=-180, max_value=180),
    fold=st.integers(min_value=0, max_value=1),
)
def test_round_trip_keeps_the_instant_around_dst_x3(edge, minutes, fold):
    """X3: format -> parse keeps the instant for any wall time near a DST transition."""
    from severa_ext.backends._graph_mapping import format_graph_datetime, parse_graph_datetime

    zone, local_edge = edge
    wall = (local_edge + timedelta(minutes=minutes)).replace(fold=fold, tzinfo=ZoneInfo(zone))
    parsed = parse_graph_datetime(format_graph_datetime(wall), ref="t")
    assert parsed.astimezone(UTC) == wall.astimezone(UTC)
