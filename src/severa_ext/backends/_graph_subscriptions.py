"""Graph change-notification subscriptions: the record, the client, the renewal rule.

* :class:`Subscription`: what the host stores per mailbox (frozen attrs; the
  ``client_state`` secret is out of the repr). :func:`unstructure_subscription` and
  :func:`structure_subscription` turn it into JSON-ready values and back (cattrs).
* :class:`GraphSubscriptions`: ``POST /subscriptions`` (create), ``PATCH
  /subscriptions/{id}`` (renew), ``DELETE /subscriptions/{id}`` through the Graph
  backend's own :class:`~severa_ext.backends._graph_http.GraphTransport` (bearer token,
  one fresh token after a 401, bounded answers, Graph errors mapped to
  :mod:`severa_ext.errors`); it never sleeps and never retries.
* :func:`due_for_renewal`: the pure rule that says which subscriptions to renew now.
* :class:`SubscriptionStore`: the lookup the receiver needs (the host implements it
  over its database); :class:`MemorySubscriptionStore` is the reference.

Graph lets an Outlook event subscription live at most 4230 minutes (just under three
days): ``MAX_EVENT_SUBSCRIPTION_MINUTES``.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import attrs
import cattrs
import requests

from severa_ext.backends import _graph_auth
from severa_ext.backends._graph_http import GraphTransport
from severa_ext.backends._http import HttpLimits
from severa_ext.clock import Clock, SystemClock
from severa_ext.errors import ConfigError, MalformedResponse

__all__ = [
    "CHANGE_TYPES",
    "MAX_EVENT_SUBSCRIPTION_MINUTES",
    "GraphSubscriptions",
    "MemorySubscriptionStore",
    "Subscription",
    "SubscriptionStore",
    "due_for_renewal",
    "structure_subscription",
    "unstructure_subscription",
]

logger = logging.getLogger(__name__)

MAX_EVENT_SUBSCRIPTION_MINUTES = 4230
"""The longest life Graph gives a subscription to Outlook events (minutes)."""

CHANGE_TYPES = "created,updated,deleted"
"""The change types subscribed to: every change of an event makes the pair due."""

_ID = re.compile(r"[A-Za-z0-9._:-]{1,200}")


def _aware(instance: object, attribute: attrs.Attribute[datetime], value: object) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ConfigError(f"Subscription.{attribute.name} must be an aware datetime")


@attrs.frozen
class Subscription:
    """One Graph subscription to a mailbox's events, as the host stores it.

    Attributes:
        id: Graph's subscription id.
        pair: the host's key of the sync pair this mailbox belongs to (what a
            notification makes due early).
        mailbox: the mailbox address or id the subscription watches.
        resource: the subscribed resource (``users/{mailbox}/events``).
        notification_url: where Graph posts change notifications.
        lifecycle_url: where Graph posts lifecycle notifications (or ``None``).
        expires: when Graph ends the subscription unless it is renewed (aware).
        client_state: the shared secret Graph echoes in every notification; never
            in a repr or a log line.
    """

    id: str
    pair: str
    mailbox: str
    resource: str
    notification_url: str
    lifecycle_url: str | None
    expires: datetime = attrs.field(validator=_aware)
    client_state: str = attrs.field(repr=False)


_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_unstructure_hook(datetime, lambda value: value.isoformat())
_converter.register_structure_hook(datetime, lambda value, _type: datetime.fromisoformat(value))


def unstructure_subscription(subscription: Subscription) -> dict[str, Any]:
    """A subscription as JSON-ready values (ISO 8601 times; the client state included)."""
    return dict(_converter.unstructure(subscription))


def structure_subscription(data: Mapping[str, Any]) -> Subscription:
    """A subscription back from :func:`unstructure_subscription`'s values.

    Raises:
        ConfigError: the values do not describe a subscription.
    """
    try:
        return _converter.structure(dict(data), Subscription)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"not a stored subscription: {type(exc).__name__}") from exc


def due_for_renewal(
    subscriptions: Iterable[Subscription], *, now: datetime, margin: timedelta
) -> tuple[Subscription, ...]:
    """The subscriptions that expire within ``margin`` of ``now`` (expired ones too).

    Renew well before expiry (a margin of hours, not seconds): a subscription Graph
    has ended cannot be renewed, only created again. Sorted by expiry, soonest first.
    """
    limit = now + margin
    return tuple(sorted((s for s in subscriptions if s.expires <= limit), key=lambda s: s.expires))


@runtime_checkable
class SubscriptionStore(Protocol):
    """Where the receiver looks up the subscription a notification names."""

    def get(self, subscription_id: str) -> Subscription | None:
        """The stored subscription with this Graph id, or ``None``."""
        ...


class MemorySubscriptionStore:
    """Subscriptions in a dict (thread-safe); the reference :class:`SubscriptionStore`."""

    def __init__(self, subscriptions: Iterable[Subscription] = ()) -> None:
        self._lock = threading.Lock()
        self._items = {s.id: s for s in subscriptions}

    def __repr__(self) -> str:
        return f"MemorySubscriptionStore({len(self._items)} subscriptions)"

    def get(self, subscription_id: str) -> Subscription | None:
        """The subscription with this id, or ``None``."""
        with self._lock:
            return self._items.get(subscription_id)

    def put(self, subscription: Subscription) -> None:
        """Store (or replace) a subscription."""
        with self._lock:
            self._items[subscription.id] = subscription

    def remove(self, subscription_id: str) -> None:
        """Forget a subscription (no error if unknown)."""
        with self._lock:
            self._items.pop(subscription_id, None)

    def all(self) -> tuple[Subscription, ...]:
        """Every stored subscription."""
        with self._lock:
            return tuple(self._items.values())


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _expiry(body: Any, ref: str) -> tuple[str, datetime]:
    """Graph's subscription id and expiry from an answer."""
    if isinstance(body, Mapping):
        sid, expires = body.get("id"), body.get("expirationDateTime")
        if isinstance(sid, str) and _ID.fullmatch(sid) and isinstance(expires, str):
            try:
                when = datetime.fromisoformat(expires.replace("Z", "+00:00"))
            except ValueError:
                when = None
            if when is not None:
                return sid, when if when.tzinfo else when.replace(tzinfo=UTC)
    raise MalformedResponse(
        f"graph {ref}: the answer has no subscription id and expirationDateTime",
        backend="graph",
        code="bad-subscription",
    )


class GraphSubscriptions:
    """Creates, renews and deletes event subscriptions through Graph's REST API.

    Every call goes through the Graph backend's ``GraphTransport``
    (at most four in flight per process and base URL), so errors are those of
    ``GraphBackend``: 429 and 503 are :class:`~severa_ext.errors.Throttled`, other 5xx
    and network faults :class:`~severa_ext.errors.BackendUnavailable`, a refused token
    gets one fresh token and then :class:`~severa_ext.errors.AuthError`.

    Args:
        tokens: where bearer tokens come from (the same providers as ``GraphBackend``;
            app-only needs ``Calendars.Read`` for other users' events).
        session: the ``requests.Session`` to use; a new one by default.
        base_url: the Graph endpoint with its version.
        clock: the time expiries are counted from (the system clock by default).
        lifetime: how long each created or renewed subscription lives (at most
            4230 minutes, the default).
        timeout: seconds for connecting and for each read.
        limits: what an answer may be (``HttpLimits()`` by default).

    Raises:
        ConfigError: a lifetime that is not positive or longer than Graph allows.
    """

    def __init__(
        self,
        tokens: _graph_auth.TokenProvider,
        *,
        session: requests.Session | None = None,
        base_url: str = "https://graph.microsoft.com/v1.0",
        clock: Clock | None = None,
        lifetime: timedelta = timedelta(minutes=MAX_EVENT_SUBSCRIPTION_MINUTES),
        timeout: float = 30.0,
        limits: HttpLimits | None = None,
    ) -> None:
        if not timedelta(0) < lifetime <= timedelta(minutes=MAX_EVENT_SUBSCRIPTION_MINUTES):
            raise ConfigError(
                f"a subscription lifetime must be positive and at most "
                f"{MAX_EVENT_SUBSCRIPTION_MINUTES} minutes, not {lifetime}"
            )
        self._clock = clock or SystemClock()
        self._lifetime = lifetime
        self._own_session = session is None
        self._transport = GraphTransport(
            tokens,
            session if session is not None else requests.Session(),
            base_url,
            timeout=timeout,
            max_in_flight=4,
            limits=limits,
        )

    def __repr__(self) -> str:
        return f"GraphSubscriptions(base_url={self._transport.base_url!r})"

    def create(
        self,
        mailbox: str,
        notification_url: str,
        *,
        pair: str | None = None,
        lifecycle_url: str | None = None,
    ) -> Subscription:
        """Subscribe to the events of ``mailbox``; Graph validates the URLs first.

        Args:
            mailbox: the mailbox address or user id.
            notification_url: the receiver's public ``https`` URL.
            pair: the host's key of the sync pair (the mailbox by default).
            lifecycle_url: the receiver's URL for lifecycle notifications
                (recommended: without it a removed subscription goes unnoticed).

        Raises:
            BadItem: Graph refused the subscription (for instance the receiver did
                not answer the validation request).
            AuthError, Throttled, BackendUnavailable, MalformedResponse: as for any
                Graph call.
        """
        if not mailbox.strip():
            raise ConfigError("a subscription needs a mailbox")
        resource = f"users/{quote(mailbox.strip(), safe='@')}/events"
        client_state = secrets.token_urlsafe(32)  # Graph allows up to 128 characters
        payload: dict[str, Any] = {
            "changeType": CHANGE_TYPES,
            "notificationUrl": notification_url,
            "resource": resource,
            "expirationDateTime": _instant(self._clock.now() + self._lifetime),
            "clientState": client_state,
        }
        if lifecycle_url is not None:
            payload["lifecycleNotificationUrl"] = lifecycle_url
        response = self._transport.request(
            "POST", "subscriptions", ref=f"subscribe {mailbox}", json_body=payload
        )
        sid, expires = _expiry(response.body, f"subscribe {mailbox}")
        logger.info("graph: subscribed to %s (subscription %s, until %s)", mailbox, sid, expires)
        return Subscription(
            id=sid,
            pair=pair if pair is not None else mailbox.strip(),
            mailbox=mailbox.strip(),
            resource=resource,
            notification_url=notification_url,
            lifecycle_url=lifecycle_url,
            expires=expires,
            client_state=client_state,
        )

    def renew(self, subscription: Subscription) -> Subscription:
        """Extend a subscription by the lifetime, counted from now.

        Raises:
            NotFound: Graph no longer has it (expired or removed): create a new one.
            AuthError, Throttled, BackendUnavailable, MalformedResponse: as for any
                Graph call.
        """
        ref = f"renew subscription {subscription.id}"
        response = self._transport.request(
            "PATCH",
            f"subscriptions/{quote(subscription.id, safe='')}",
            ref=ref,
            json_body={"expirationDateTime": _instant(self._clock.now() + self._lifetime)},
        )
        _, expires = _expiry(response.body, ref)
        logger.info("graph: renewed subscription %s until %s", subscription.id, expires)
        return attrs.evolve(subscription, expires=expires)

    def recreate(self, subscription: Subscription) -> Subscription:
        """A new subscription for the same mailbox, pair and URLs (after Graph removed
        one, or let it expire); a new client state too.

        Raises:
            BadItem, AuthError, Throttled, BackendUnavailable, MalformedResponse: as
                for :meth:`create`.
        """
        return self.create(
            subscription.mailbox,
            subscription.notification_url,
            pair=subscription.pair,
            lifecycle_url=subscription.lifecycle_url,
        )

    def renew_due(
        self, subscriptions: Iterable[Subscription], *, margin: timedelta
    ) -> tuple[Subscription, ...]:
        """Renew every subscription :func:`due_for_renewal` names; recreate the gone ones.

        Returns:
            The new records, to store in place of the old ones (same ``id`` when
            renewed, a new ``id`` when Graph no longer had it and it was created again;
            the pair should then be synced, as notifications may have been lost).

        Raises:
            Throttled, BackendUnavailable, AuthError: as for any Graph call; the
                records renewed before the failure are lost to the caller only if it
                does not retry (renewing twice is harmless).
        """
        renewed: list[Subscription] = []
        for subscription in due_for_renewal(subscriptions, now=self._clock.now(), margin=margin):
            try:
                renewed.append(self.renew(subscription))
            except LookupError:  # NotFound: expired or removed meanwhile
                logger.info("graph: subscription %s is gone; creating it again", subscription.id)
                renewed.append(self.recreate(subscription))
        return tuple(renewed)

    def delete(self, subscription: Subscription) -> None:
        """End a subscription; one Graph no longer has counts as deleted."""
        ref = f"delete subscription {subscription.id}"
        try:
            self._transport.request(
                "DELETE", f"subscriptions/{quote(subscription.id, safe='')}", ref=ref
            )
        except LookupError:  # NotFound: already gone
            logger.info("graph: subscription %s was already gone", subscription.id)
            return
        logger.info("graph: deleted subscription %s", subscription.id)

    def close(self) -> None:
        """Close the session if this object made it."""
        if self._own_session:
            self._transport.session.close()

    def __enter__(self) -> GraphSubscriptions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
