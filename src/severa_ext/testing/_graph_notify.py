"""Subscriptions and change notifications of the fake Graph server.

Written from Graph's documented wire format (``subscription`` resource,
``changeNotificationCollection``, lifecycle notifications), not from the SDK's client:

* ``POST /subscriptions`` checks ``changeType``, ``resource`` (``users/{id}/events``),
  ``expirationDateTime`` (in the future, at most 4230 minutes ahead for events),
  ``clientState`` (at most 128 characters) and the URLs, then sends the validation
  request Graph sends: ``POST {url}?validationToken={token}`` with a ``text/plain``
  body, and refuses the create (400 ``ValidationError``) unless the answer is 200 with
  the token as its body, within the time limit. ``lifecycleNotificationUrl`` is
  validated the same way.
* ``GET``/``PATCH``/``DELETE /subscriptions/{id}``: read, renew (a new
  ``expirationDateTime``, same bounds), delete. An expired subscription is gone (404).
* A change of an event of a subscribed mailbox (by the user or through the API) posts
  a ``{"value": [...]}`` collection to ``notificationUrl`` from a delivery thread,
  as Graph does after the change; :meth:`FakeSubscriptions.lifecycle` posts a
  lifecycle notification on demand.

Notifications only go to ``127.0.0.1``: the fake never reaches outside the machine.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import attrs
import requests

from severa_ext.testing._graph_state import Answer, FakeMailbox, Tenant, graph_error

__all__ = ["Delivery", "FakeSubscriptions"]

logger = logging.getLogger(__name__)

MAX_MINUTES = 4230
_CHANGES = frozenset({"created", "updated", "deleted"})
_RESOURCE = re.compile(r"/?users/(?P<user>[^/]+)/events", re.IGNORECASE)
_LIFECYCLE = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})


@attrs.frozen
class Delivery:
    """One POST the fake made to a receiver: where, what, and the answer's status."""

    url: str
    body: dict[str, Any]
    status: int | None


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _loopback(url: object) -> bool:
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and parts.hostname == "127.0.0.1"


class FakeSubscriptions:
    """The ``/subscriptions`` resource of one fake tenant, and its deliveries.

    Args:
        tenant: the fake's tenant (its clock decides expiry; its change listeners
            feed the notifications).
        validation_timeout: seconds a receiver has to answer a validation request
            (Graph allows 10).
    """

    def __init__(self, tenant: Tenant, *, validation_timeout: float = 10.0) -> None:
        self.tenant = tenant
        self.validation_timeout = validation_timeout
        self._lock = threading.Lock()
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self.deliveries: list[Delivery] = []
        self.validations: list[tuple[str, int | None]] = []
        self._session = requests.Session()
        self._worker: threading.Thread | None = None
        tenant.listeners.append(self._changed)

    def __repr__(self) -> str:
        return f"FakeSubscriptions({len(self._subscriptions)} subscriptions)"

    def close(self) -> None:
        """Stop the delivery thread (if one started)."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            self._queue.put(None)
            worker.join(timeout=5)
        self._session.close()

    # --- the resource ------------------------------------------------------------

    def route(self, method: str, path: str, body: Any) -> Answer:
        """Answer a request to ``/subscriptions[/{id}]`` (``path`` after ``/v1.0``)."""
        segments = [unquote(s) for s in path.strip("/").split("/") if s]
        if segments == ["subscriptions"]:
            if method == "POST":
                return self._create(body)
            if method == "GET":
                return 200, {}, {"value": [self._public(s) for s in self._live().values()]}
        elif len(segments) == 2:
            return self._one(method, segments[1], body)
        return graph_error(400, "BadRequest", f"unsupported request {method} {path}")

    def _live(self) -> dict[str, dict[str, Any]]:
        """The subscriptions that have not expired (expired ones are dropped)."""
        now = self.tenant.clock.now()
        with self._lock:
            for sid in [s for s, v in self._subscriptions.items() if v["_expires"] <= now]:
                del self._subscriptions[sid]
            return dict(self._subscriptions)

    @staticmethod
    def _public(subscription: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in subscription.items() if not k.startswith("_")}

    def _expiry(self, value: object) -> datetime | str:
        when = _parse_time(value)
        now = self.tenant.clock.now()
        if when is None:
            return "expirationDateTime must be an ISO 8601 date and time"
        if when <= now:
            return "Subscription expiration can only be in the future."
        if when > now + timedelta(minutes=MAX_MINUTES):
            return f"Subscription expiration can only be {MAX_MINUTES} minutes in the future."
        return when

    def _create(self, body: Any) -> Answer:
        problem, box = self._check(body)
        if problem is not None or box is None:
            return graph_error(400, "ExtensionError", problem or "bad subscription")
        expires = self._expiry(body.get("expirationDateTime"))
        if isinstance(expires, str):
            return graph_error(400, "ExtensionError", expires)
        urls = [body["notificationUrl"], body.get("lifecycleNotificationUrl")]
        for url in [u for u in urls if u is not None]:
            if not self._handshake(str(url)):
                return graph_error(
                    400,
                    "ValidationError",
                    "Subscription validation request failed. Notification endpoint must "
                    "respond with 200 OK to validation request.",
                )
        sid = str(uuid.uuid4())
        subscription = {
            "id": sid,
            "resource": body["resource"],
            "changeType": body["changeType"],
            "notificationUrl": body["notificationUrl"],
            "lifecycleNotificationUrl": body.get("lifecycleNotificationUrl"),
            "expirationDateTime": _stamp(expires),
            "clientState": body.get("clientState"),
            "applicationId": "severa-ext-tests",
            "_expires": expires,
            "_mailbox": box.address.lower(),
        }
        with self._lock:
            self._subscriptions[sid] = subscription
        return 201, {}, self._public(subscription)

    def _check(self, body: Any) -> tuple[str | None, FakeMailbox | None]:
        if not isinstance(body, dict):
            return "the request body must be a JSON object", None
        changes = str(body.get("changeType") or "").split(",")
        if not changes or not set(changes) <= _CHANGES:
            return "changeType must name created, updated and/or deleted", None
        match = _RESOURCE.fullmatch(str(body.get("resource") or ""))
        box = self.tenant.mailbox(match.group("user")) if match else None
        if box is None:
            return "resource must be users/{id}/events of a user of the tenant", None
        state = body.get("clientState")
        if state is not None and (not isinstance(state, str) or len(state) > 128):
            return "clientState must be a string of at most 128 characters", None
        for key in ("notificationUrl", "lifecycleNotificationUrl"):
            if (key == "notificationUrl" or key in body) and not _loopback(body.get(key)):
                return f"{key} must be an http(s) URL on 127.0.0.1 (the fake's rule)", None
        return None, box

    def _handshake(self, url: str) -> bool:
        token = (
            "Validation: Testing client application reachability for subscription "
            f"Request-Id: {uuid.uuid4()} <&>"
        )
        separator = "&" if urlsplit(url).query else "?"
        try:
            answer = self._session.post(
                f"{url}{separator}validationToken={quote(token, safe='')}",
                data=b"",
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=self.validation_timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            logger.info("fake graph: validation of %s failed: %s", url, type(exc).__name__)
            self.validations.append((url, None))
            return False
        self.validations.append((url, answer.status_code))
        return answer.status_code == 200 and answer.content == token.encode()

    def _one(self, method: str, sid: str, body: Any) -> Answer:
        subscription = self._live().get(sid)
        if subscription is None:
            return graph_error(
                404, "ResourceNotFound", f"The object was not found: subscription {sid}"
            )
        if method == "GET":
            return 200, {}, self._public(subscription)
        if method == "DELETE":
            with self._lock:
                self._subscriptions.pop(sid, None)
            return 204, {}, None
        if method == "PATCH":
            if not isinstance(body, dict):
                return graph_error(400, "BadRequest", "the request body must be a JSON object")
            expires = self._expiry(body.get("expirationDateTime"))
            if isinstance(expires, str):
                return graph_error(400, "ExtensionError", expires)
            with self._lock:
                subscription["_expires"] = expires
                subscription["expirationDateTime"] = _stamp(expires)
            return 200, {}, self._public(subscription)
        return graph_error(405, "MethodNotAllowed", f"{method} is not supported here")

    # --- notifications -------------------------------------------------------------

    def _changed(self, box: FakeMailbox, event_id: str, change: str) -> None:
        """A tenant listener: queue a notification for each live subscription of ``box``."""
        for subscription in self._live().values():
            if subscription["_mailbox"] != box.address.lower():
                continue
            if change not in str(subscription["changeType"]).split(","):
                continue
            resource = f"Users/{box.id}/Events/{event_id}"
            entry = {
                "subscriptionId": subscription["id"],
                "subscriptionExpirationDateTime": subscription["expirationDateTime"],
                "changeType": change,
                "resource": resource,
                "clientState": subscription["clientState"],
                "tenantId": "contoso-tenant",
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Event",
                    "@odata.id": resource,
                    "id": event_id,
                },
            }
            self._post(str(subscription["notificationUrl"]), {"value": [entry]})

    def lifecycle(self, subscription_id: str, event: str) -> None:
        """Post a lifecycle notification (``reauthorizationRequired``,
        ``subscriptionRemoved`` or ``missed``) to the subscription's lifecycle URL.

        ``subscriptionRemoved`` also ends the subscription, as in Graph.

        Raises:
            KeyError: no live subscription with that id, or it has no lifecycle URL.
            ValueError: not a lifecycle event Graph sends.
        """
        if event not in _LIFECYCLE:
            raise ValueError(f"not a lifecycle event: {event!r}")
        subscription = self._live()[subscription_id]
        url = subscription.get("lifecycleNotificationUrl")
        if not url:
            raise KeyError(f"subscription {subscription_id} has no lifecycleNotificationUrl")
        entry = {
            "subscriptionId": subscription_id,
            "subscriptionExpirationDateTime": subscription["expirationDateTime"],
            "lifecycleEvent": event,
            "clientState": subscription["clientState"],
            "tenantId": "contoso-tenant",
            "organizationId": "contoso-tenant",
        }
        if event == "subscriptionRemoved":
            with self._lock:
                self._subscriptions.pop(subscription_id, None)
        self._post(str(url), {"value": [entry]})

    def _post(self, url: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._pending += 1
            if self._worker is None:
                self._worker = threading.Thread(target=self._deliver_forever, daemon=True)
                self._worker.start()
        self._queue.put((url, body))

    def _deliver_forever(self) -> None:
        while (job := self._queue.get()) is not None:
            url, body = job
            try:
                answer = self._session.post(url, json=body, timeout=5, allow_redirects=False)
                status: int | None = answer.status_code
            except requests.RequestException as exc:
                logger.info("fake graph: notification to %s failed: %s", url, type(exc).__name__)
                status = None
            with self._lock:
                self.deliveries.append(Delivery(url, body, status))
                self._pending -= 1
                self._idle.notify_all()

    def wait_delivered(self, timeout: float = 5.0) -> bool:
        """Wait until every queued notification was posted; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def expire_all(self) -> None:
        """End every subscription now (as if its expiry had passed)."""
        with self._lock:
            self._subscriptions.clear()

    def client_state(self, subscription_id: str) -> str | None:
        """The clientState Graph stored for a subscription (for forged-post tests)."""
        with self._lock:
            subscription = self._subscriptions.get(subscription_id)
            return None if subscription is None else subscription.get("clientState")

    def ids(self) -> list[str]:
        """The ids of the live subscriptions."""
        return sorted(self._live())
