"""Graph's per-mailbox throttling in the fake server (off until switched on).

Outlook's documented limits hold per application and mailbox: 4 concurrent requests
and 10,000 requests in 10 minutes. Past either, Graph answers ``429`` with
``Retry-After`` and the code ``ApplicationThrottled`` ("Application is over its
MailboxConcurrency limit." / "... MailboxRequestRate limit."). The fake's model:

* a request names its mailbox in its path (``/users/{id-or-address}/...``); a
  ``$batch`` counts each inner request towards the rate, and holds one concurrency
  slot per mailbox it touches while it is answered (the fake runs inner requests one
  after another);
* the rate is a sliding window of exactly ``window`` seconds;
* a refused request counts towards nothing (it did no work).

:class:`MailboxLimiter` also records, per mailbox, the highest concurrency and window
count it admitted and how often it refused, so a benchmark can show that no mailbox
was driven past its limits.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs

from severa_ext.testing._graph_state import Answer, graph_error

__all__ = ["MailboxLimiter"]


def _mailbox(url: str) -> str | None:
    parts = urlsplit(url).path.strip("/").split("/")
    if parts and parts[0] == "v1.0":
        parts = parts[1:]
    if len(parts) >= 2 and parts[0] == "users":
        return unquote(parts[1]).lower()
    return None


def _costs(path: str, body: Any) -> Counter[str]:
    """Requests per mailbox that one HTTP request carries."""
    costs: Counter[str] = Counter()
    if path.rstrip("/").endswith("/$batch") and isinstance(body, dict):
        for inner in body.get("requests") or ():
            box = _mailbox(str(inner.get("url", ""))) if isinstance(inner, dict) else None
            if box is not None:
                costs[box] += 1
        return costs
    box = _mailbox(path)
    if box is not None:
        costs[box] = 1
    return costs


@attrs.define
class _Box:
    in_flight: int = 0
    sent: deque[tuple[float, int]] = attrs.field(factory=deque)
    total: int = 0
    peak_in_flight: int = 0
    peak_window: int = 0
    refused: int = 0


class MailboxLimiter:
    """Admits or refuses requests per mailbox (see the module doc).

    Args:
        concurrent: requests in flight per mailbox.
        requests: requests per ``window`` seconds per mailbox.
        window: the sliding window in seconds.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        *,
        concurrent: int = 4,
        requests: int = 10_000,
        window: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.concurrent = concurrent
        self.requests = requests
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._boxes: dict[str, _Box] = {}

    def __repr__(self) -> str:
        return f"MailboxLimiter(concurrent={self.concurrent}, requests={self.requests})"

    def _refusal(self, box: _Box, now: float, cost: int) -> Answer | None:
        while box.sent and box.sent[0][0] <= now - self.window:
            box.total -= box.sent.popleft()[1]
        if box.in_flight >= self.concurrent:
            message = "Application is over its MailboxConcurrency limit."
            return graph_error(429, "ApplicationThrottled", message, **{"Retry-After": "1"})
        if box.total + cost > self.requests:
            wait = max(1, int(box.sent[0][0] + self.window - now) + 1) if box.sent else 1
            message = "Application is over its MailboxRequestRate limit."
            return graph_error(429, "ApplicationThrottled", message, **{"Retry-After": str(wait)})
        return None

    def admit(self, path: str, body: Any) -> tuple[Answer | None, Callable[[], None]]:
        """A 429 answer (and a no-op), or ``None`` and the release to call when done."""
        costs = _costs(path, body)
        now = self._clock()
        with self._lock:
            boxes = {name: self._boxes.setdefault(name, _Box()) for name in costs}
            for name, box in boxes.items():
                refused = self._refusal(box, now, costs[name])
                if refused is not None:
                    box.refused += 1
                    return refused, lambda: None
            for name, box in boxes.items():
                box.in_flight += 1
                box.sent.append((now, costs[name]))
                box.total += costs[name]
                box.peak_in_flight = max(box.peak_in_flight, box.in_flight)
                box.peak_window = max(box.peak_window, box.total)

        def release() -> None:
            with self._lock:
                for box in boxes.values():
                    box.in_flight -= 1

        return None, release

    def report(self) -> dict[str, int]:
        """Over every mailbox: the highest concurrency and window count, and 429s."""
        with self._lock:
            boxes = list(self._boxes.values())
        return {
            "mailboxes": len(boxes),
            "peak_in_flight": max((b.peak_in_flight for b in boxes), default=0),
            "peak_window": max((b.peak_window for b in boxes), default=0),
            "refused": sum(b.refused for b in boxes),
        }
