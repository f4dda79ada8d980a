"""The receiver of Graph change notifications: untrusted bodies in, "pair due" signals out.

:class:`NotificationReceiver` is framework-neutral: :meth:`NotificationReceiver.handle`
takes ``(method, query, headers, body)`` and returns a :class:`ReceiverAnswer`;
:meth:`NotificationReceiver.wsgi` is a WSGI application over it. What it does:

* **Validation handshake**: a POST with a ``validationToken`` query parameter (Graph
  sends one when a subscription is created) is answered at once with ``200`` and the
  token as ``text/plain`` (with ``nosniff``: a reflected token is never rendered as
  HTML); a token longer than :attr:`ReceiverLimits.max_token_length` gets ``400``.
* **Notifications**: the body is bounded (``413`` past
  :attr:`ReceiverLimits.max_body_bytes`) and parsed with a depth bound (``400`` when
  it is not JSON, too deep, or not a ``{"value": [...]}`` collection). Each entry's
  ``subscriptionId`` is looked up in the host's :class:`SubscriptionStore` and its
  ``clientState`` compared in constant time (``hmac.compare_digest``). An entry with an
  unknown subscription or a wrong client state is ignored, counted and logged (never
  with a secret), and the answer is still ``202``: a sender learns nothing.
* **Signals, not writes**: each accepted entry becomes one :class:`Signal` for the
  host's :class:`NotificationSink` (once per subscription and kind per request). A
  change makes the pair due early; the delta query stays the source of truth, so the
  receiver never reads nor writes calendar or activity data. Lifecycle events map to
  :class:`SignalKind` values: ``reauthorizationRequired`` -> renew,
  ``subscriptionRemoved`` -> create again, ``missed`` -> full resync due.

The sink is called inside the request; it must be quick (Graph wants an answer within
three seconds): record the signal, enqueue a job, return.
"""

from __future__ import annotations

import enum
import hmac
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qs

import attrs

from severa_ext.backends._graph_subscriptions import SubscriptionStore
from severa_ext.backends._http import parse_json
from severa_ext.errors import ConfigError, MalformedResponse

__all__ = [
    "MemoryNotificationSink",
    "NotificationReceiver",
    "NotificationSink",
    "ReceiverAnswer",
    "ReceiverCounts",
    "ReceiverLimits",
    "Signal",
    "SignalKind",
]

logger = logging.getLogger(__name__)

_MAX_ID = 200
_TEXT = (("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff"))

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class SignalKind(enum.Enum):
    """What a notification asks of the host."""

    CHANGED = "changed"
    """An event changed; sync the pair early (a delta round picks the change up)."""
    REAUTHORIZE = "reauthorizationRequired"
    """Graph needs the subscription renewed (``PATCH``) before it sends more."""
    RECREATE = "subscriptionRemoved"
    """Graph removed the subscription; create a new one, then sync the pair."""
    RESYNC = "missed"
    """Graph dropped notifications; the pair is due for a sync now."""


_LIFECYCLE = {kind.value: kind for kind in SignalKind if kind is not SignalKind.CHANGED}


@attrs.frozen
class Signal:
    """One accepted notification: which pair, which subscription, what to do."""

    kind: SignalKind
    pair: str
    mailbox: str
    subscription_id: str


@runtime_checkable
class NotificationSink(Protocol):
    """Where the receiver sends signals (the host's scheduler; later the runner)."""

    def signal(self, signal: Signal) -> None:
        """Take one signal; quick, no Graph calls here."""
        ...


class MemoryNotificationSink:
    """Signals in a list (thread-safe); the reference :class:`NotificationSink`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signals: list[Signal] = []

    def __repr__(self) -> str:
        return f"MemoryNotificationSink({len(self._signals)} signals)"

    def signal(self, signal: Signal) -> None:
        """Record ``signal``."""
        with self._lock:
            self._signals.append(signal)

    @property
    def signals(self) -> tuple[Signal, ...]:
        """Every signal so far, oldest first."""
        with self._lock:
            return tuple(self._signals)

    def due_pairs(self) -> frozenset[str]:
        """Pairs that some signal made due."""
        with self._lock:
            return frozenset(s.pair for s in self._signals)

    def clear(self) -> None:
        """Forget the signals (the host has acted on them)."""
        with self._lock:
            self._signals.clear()


def _positive(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"ReceiverLimits.{attribute.name} must be a positive integer")


@attrs.frozen
class ReceiverLimits:
    """What the receiver accepts from whoever posts to it.

    Attributes:
        max_body_bytes: the largest body read (default 1 MiB; Graph sends small
            batches of notifications without resource data).
        max_json_depth: the deepest nesting of a body (default 16; Graph's nest 4).
        max_notifications: the most entries in one body (default 1,000).
        max_token_length: the longest validation token echoed (default 1,024).
    """

    max_body_bytes: int = attrs.field(default=2**20, validator=_positive)
    max_json_depth: int = attrs.field(default=16, validator=_positive)
    max_notifications: int = attrs.field(default=1000, validator=_positive)
    max_token_length: int = attrs.field(default=1024, validator=_positive)


@attrs.frozen
class ReceiverAnswer:
    """The HTTP answer to give: status, headers and body bytes."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@attrs.frozen
class ReceiverCounts:
    """What the receiver has seen since it was built."""

    validations: int = 0
    accepted: int = 0
    ignored: int = 0
    refused: int = 0


_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 405: "Method Not Allowed",
            413: "Content Too Large"}  # fmt: skip


def _refusal(status: int, text: str) -> ReceiverAnswer:
    return ReceiverAnswer(status, _TEXT, text.encode())


class NotificationReceiver:
    """Answers Graph's validation requests and turns notifications into signals.

    Args:
        store: looks up the subscription each notification names.
        sink: receives one :class:`Signal` per accepted subscription and kind.
        limits: what a request may be (``ReceiverLimits()`` by default).
    """

    def __init__(
        self,
        store: SubscriptionStore,
        sink: NotificationSink,
        *,
        limits: ReceiverLimits | None = None,
    ) -> None:
        self._store = store
        self._sink = sink
        self.limits = limits if limits is not None else ReceiverLimits()
        self._lock = threading.Lock()
        self._counts = ReceiverCounts()

    def __repr__(self) -> str:
        return f"NotificationReceiver(store={self._store!r}, sink={self._sink!r})"

    @property
    def counts(self) -> ReceiverCounts:
        """Validations answered, entries accepted and ignored, requests refused."""
        with self._lock:
            return self._counts

    def _count(self, **more: int) -> None:
        with self._lock:
            self._counts = attrs.evolve(
                self._counts, **{k: getattr(self._counts, k) + v for k, v in more.items()}
            )

    def handle(
        self, method: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> ReceiverAnswer:
        """Answer one request to the notification (or lifecycle) URL.

        Args:
            method: the HTTP method.
            query: the decoded query parameters.
            headers: the request headers (unused today; Graph signs nothing here).
            body: the request body, already bounded by the caller (the WSGI adapter
                refuses a body larger than ``limits.max_body_bytes`` before reading it).

        Returns:
            ``200`` with the token for a validation request, ``202`` for a
            notification collection (whether or not any entry was genuine), ``400``,
            ``405`` or ``413`` for a request that is none of those.

        Raises:
            Exception: only what the host's sink raises (a WSGI server then answers
                500 and Graph delivers the notification again later).
        """
        if method.upper() != "POST":
            self._count(refused=1)
            return ReceiverAnswer(405, (*_TEXT, ("Allow", "POST")), b"POST only")
        token = query.get("validationToken")
        if token is not None:
            return self._validate(token)
        if len(body) > self.limits.max_body_bytes:
            self._count(refused=1)
            return _refusal(413, "body too large")
        entries = self._entries(body)
        if entries is None:
            self._count(refused=1)
            return _refusal(400, "not a notification collection")
        signals: dict[tuple[SignalKind, str], Signal] = {}
        ignored: Counter[str] = Counter()
        for entry in entries:
            outcome = self._accept(entry)
            if isinstance(outcome, Signal):
                signals.setdefault((outcome.kind, outcome.subscription_id), outcome)
            else:
                ignored[outcome] += 1
        self._count(accepted=len(entries) - ignored.total(), ignored=ignored.total())
        if ignored:  # one line per request, whatever a sender floods us with
            logger.warning("graph notifications: ignored %s", dict(sorted(ignored.items())))
        for signal in signals.values():
            logger.info(
                "graph notifications: %s for pair %s (subscription %s)",
                signal.kind.value,
                signal.pair,
                signal.subscription_id,
            )
            self._sink.signal(signal)
        return ReceiverAnswer(202)

    def _validate(self, token: str) -> ReceiverAnswer:
        if not token or len(token) > self.limits.max_token_length:
            self._count(refused=1)
            return _refusal(400, "bad validation token")
        self._count(validations=1)
        return ReceiverAnswer(200, _TEXT, token.encode("utf-8", "replace"))

    def _entries(self, body: bytes) -> list[Any] | None:
        try:
            data = parse_json(
                body,
                max_depth=self.limits.max_json_depth,
                what="notification",
                backend="graph-notifications",
            )
        except MalformedResponse as exc:
            logger.warning("graph notifications: refused a body: %s", exc)
            return None
        value = data.get("value") if isinstance(data, dict) else None
        if not isinstance(value, list) or len(value) > self.limits.max_notifications:
            logger.warning("graph notifications: refused a body that is not a collection")
            return None
        return value

    def _accept(self, entry: Any) -> Signal | str:
        """The signal of one entry, or why it is ignored."""
        if not isinstance(entry, dict):
            return "not an object"
        sid, state = entry.get("subscriptionId"), entry.get("clientState")
        if not isinstance(sid, str) or not 0 < len(sid) <= _MAX_ID:
            return "no subscription id"
        subscription = self._store.get(sid)
        if subscription is None:
            return "unknown subscription"
        given = state.encode("utf-8", "replace") if isinstance(state, str) else b""
        if not hmac.compare_digest(given, subscription.client_state.encode()):
            return "wrong client state"
        lifecycle = entry.get("lifecycleEvent")
        kind = SignalKind.CHANGED if lifecycle is None else _LIFECYCLE.get(str(lifecycle))
        if kind is None:
            return "unknown lifecycle event"
        return Signal(kind, subscription.pair, subscription.mailbox, subscription.id)

    def wsgi(self, environ: Mapping[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """The receiver as a WSGI application (PEP 3333); mount it at the notification URL."""
        method = str(environ.get("REQUEST_METHOD", "GET"))
        pairs = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
        query = {key: values[-1] for key, values in pairs.items()}
        headers = {
            key.removeprefix("HTTP_").replace("_", "-").title(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_") or key in {"CONTENT_TYPE", "CONTENT_LENGTH"}
        }
        length = _content_length(environ.get("CONTENT_LENGTH"))
        if length > self.limits.max_body_bytes:
            self._count(refused=1)
            answer = _refusal(413, "body too large")
        else:
            answer = self.handle(method, query, headers, _read(environ["wsgi.input"], length))
        reason = _REASONS.get(answer.status, "")
        start_response(
            f"{answer.status} {reason}".strip(),
            [*answer.headers, ("Content-Length", str(len(answer.body)))],
        )
        return [answer.body]


def _content_length(value: object) -> int:
    try:
        length = int(str(value or "0"))
    except ValueError:
        return 0
    return max(0, length)


def _read(stream: Any, length: int) -> bytes:
    """``length`` bytes of a WSGI input (fewer if the client stops early)."""
    chunks: list[bytes] = []
    left = length
    while left > 0:
        chunk = stream.read(min(left, 64 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
