"""Per-mailbox request limits, enforced on every HTTP request a backend sends.

Microsoft Graph's documented Outlook limits hold per application *and* mailbox: at
most 4 concurrent requests, and 10,000 requests in any 10 minutes
(:data:`GRAPH_OUTLOOK_LIMITS`). A pair's sync runs under its lease, so one mailbox has
one sync at a time; the gate makes the limits hold for every request anyway (a
``$batch`` counts as each request it carries, as Graph counts it), across threads
(:class:`MemoryGate`) or across worker processes and machines
(:class:`severa_ext.contrib.celery.RedisGate`).

:class:`GatedAdapter` is a ``requests`` transport adapter: mounted on a backend's
session, it takes a permit from the gate before each request and gives it back after
the answer. A gate that cannot grant a permit in time raises
:class:`~severa_ext.errors.Throttled` (the engine's retry policy waits and retries, and
the runner backs the pair off), so the server is never driven past its limits.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

import attrs
import requests
from requests.adapters import HTTPAdapter

from severa_ext.errors import Throttled, ValidationError

__all__ = [
    "GRAPH_OUTLOOK_LIMITS",
    "GatedAdapter",
    "MailboxLimits",
    "MemoryGate",
    "RequestGate",
    "gated_session",
    "request_cost",
]


def _positive(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not value > 0:  # NaN too
        raise ValidationError(f"MailboxLimits.{attribute.name} must be positive, got {value}")


@attrs.frozen
class MailboxLimits:
    """Limits per mailbox (per application and mailbox, as Graph counts).

    Attributes:
        concurrent: requests in flight at once.
        requests: requests per ``window``.
        window: the rolling window, in seconds.
        wait: how long a request may wait for a permit before it is refused
            (:class:`~severa_ext.errors.Throttled`).
    """

    concurrent: int = attrs.field(default=4, validator=_positive)
    requests: int = attrs.field(default=10_000, validator=_positive)
    window: float = attrs.field(default=600.0, validator=_positive)
    wait: float = attrs.field(default=30.0, validator=_positive)


GRAPH_OUTLOOK_LIMITS = MailboxLimits()
"""The documented Outlook limits of Graph (4 concurrent requests, 10,000 per 10 minutes)."""


class RequestGate(Protocol):
    """Grants permits to send ``cost`` requests to a mailbox."""

    def permit(self, mailbox: str, cost: int = 1) -> AbstractContextManager[None]:
        """Hold a permit while the requests are in flight.

        Raises:
            Throttled: no permit within the limits' ``wait`` (``retry_after`` says when).
        """
        ...


class _Mailbox:
    def __init__(self) -> None:
        self.in_flight = 0
        self.sent: deque[tuple[float, int]] = deque()
        self.total = 0


class MemoryGate:
    """A :class:`RequestGate` for the threads of one process (a sliding window).

    Args:
        limits: the per-mailbox limits.
        clock: a monotonic time source in seconds (``time.monotonic``).
    """

    def __init__(
        self,
        limits: MailboxLimits = GRAPH_OUTLOOK_LIMITS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._cond = threading.Condition()
        self._boxes: dict[str, _Mailbox] = {}
        self.waited = 0
        """How many permits had to wait (the gate was at a limit)."""

    def __repr__(self) -> str:
        return f"MemoryGate({self.limits!r}, mailboxes={len(self._boxes)})"

    def _retry_in(self, box: _Mailbox, cost: int, now: float) -> float:
        """0 when a permit for ``cost`` is free now, else seconds until one may be."""
        window, sent = self.limits.window, box.sent
        while sent and sent[0][0] <= now - window:
            box.total -= sent.popleft()[1]
        if box.in_flight >= self.limits.concurrent:
            return 0.05
        if box.total + cost > self.limits.requests and sent:
            return max(0.0, sent[0][0] + window - now) or 0.001
        return 0.0

    @contextlib.contextmanager
    def permit(self, mailbox: str, cost: int = 1) -> Iterator[None]:
        """Hold a permit for ``cost`` requests to ``mailbox`` (see :class:`RequestGate`)."""
        key = mailbox.lower()
        deadline = self._clock() + self.limits.wait
        with self._cond:
            box = self._boxes.setdefault(key, _Mailbox())
            waited = False
            while (delay := self._retry_in(box, cost, self._clock())) > 0:
                left = deadline - self._clock()
                if left <= 0:
                    raise Throttled(f"mailbox {mailbox}: at its request limits", retry_after=delay)
                waited = True
                self._cond.wait(min(delay, left))
            self.waited += waited
            box.in_flight += 1
            box.sent.append((self._clock(), cost))
            box.total += cost
        try:
            yield
        finally:
            with self._cond:
                box.in_flight -= 1
                self._cond.notify_all()


def request_cost(request: requests.PreparedRequest) -> int:
    """How many requests Graph counts for ``request``: a ``$batch`` counts each inner one."""
    url = request.url or ""
    if request.method == "POST" and url.rstrip("/").endswith("/$batch") and request.body:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            inner = json.loads(request.body).get("requests")
            if isinstance(inner, list):
                return max(1, len(inner))
    return 1


class GatedAdapter(HTTPAdapter):
    """A transport adapter that sends each request under a permit of ``gate``.

    Args:
        gate: the gate.
        mailbox: the mailbox every request of this session is counted for.
    """

    def __init__(self, gate: RequestGate, mailbox: str) -> None:
        super().__init__()
        self._gate = gate
        self._mailbox = mailbox

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Send ``request`` once a permit is granted."""
        with self._gate.permit(self._mailbox, request_cost(request)):
            return super().send(request, **kwargs)


def gated_session(gate: RequestGate, mailbox: str) -> requests.Session:
    """A new ``requests.Session`` whose every request goes through ``gate``."""
    session = requests.Session()
    adapter = GatedAdapter(gate, mailbox)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
