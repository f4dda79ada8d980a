"""The fake Graph's per-mailbox throttling (Outlook: 4 concurrent requests, 10,000 per
10 minutes per app and mailbox): 429 ApplicationThrottled with Retry-After."""

from __future__ import annotations

import pytest

from severa_ext.testing.graph_limits import MailboxLimiter
from severa_ext.testing.graph_server import FakeGraphServer


def test_concurrency_is_counted_per_mailbox():
    limiter = MailboxLimiter(concurrent=2)
    first, release_first = limiter.admit("/users/alice@contoso.com/events", None)
    second, _ = limiter.admit("/users/ALICE%40contoso.com/events/1", None)
    assert (first, second) == (None, None)
    refused, _ = limiter.admit("/users/alice@contoso.com/calendarView/delta", None)
    assert refused is not None
    assert refused[0] == 429
    assert "MailboxConcurrency" in refused[2]["error"]["message"]
    assert limiter.admit("/users/bob@contoso.com/events", None)[0] is None  # another mailbox
    release_first()
    assert limiter.admit("/users/alice@contoso.com/events", None)[0] is None
    assert limiter.report()["peak_in_flight"] == 2


def test_a_batch_counts_each_inner_request_towards_the_rate():
    now = [0.0]
    limiter = MailboxLimiter(requests=5, window=600, clock=lambda: now[0])
    batch = {
        "requests": [{"id": str(i), "url": "/users/alice@contoso.com/events"} for i in range(4)]
    }
    refused, release = limiter.admit("/$batch", batch)
    release()
    assert refused is None
    refused, _ = limiter.admit("/$batch", {"requests": batch["requests"][:2]})
    assert refused is not None
    assert "MailboxRequestRate" in refused[2]["error"]["message"]
    assert int(refused[1]["Retry-After"]) >= 600
    now[0] = 600.0  # the window has slid past the first batch
    assert limiter.admit("/$batch", {"requests": batch["requests"][:2]})[0] is None
    assert limiter.report() == {
        "mailboxes": 1, "peak_in_flight": 1, "peak_window": 4, "refused": 1
    }  # fmt: skip


@pytest.mark.slow
def test_the_server_answers_429_past_a_mailboxs_rate():
    with FakeGraphServer() as server:
        server.add_mailbox("alice@contoso.com")
        server.limit_mailboxes(requests=2, window=600)
        session = server.session()
        token = server.token_provider(session).token()
        url = f"{server.base_url}/users/alice@contoso.com/events"
        headers = {"Authorization": f"Bearer {token}"}
        statuses = [session.get(url, headers=headers, timeout=5).status_code for _ in range(3)]
        session.close()
    assert statuses == [200, 200, 429]
