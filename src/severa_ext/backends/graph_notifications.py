"""Microsoft Graph change notifications: subscriptions per mailbox and their receiver.

A notification never writes anything: it makes a pair due early, and the next delta
round of :class:`~severa_ext.backends.graph.GraphBackend` picks the change up (the
delta query stays the source of truth). See the "Change notifications" guide.

* :class:`GraphSubscriptions` creates, renews and deletes subscriptions;
  :func:`due_for_renewal` says which to renew; :class:`Subscription` is the record
  the host stores (:func:`unstructure_subscription` / :func:`structure_subscription`).
* :class:`NotificationReceiver` answers the validation handshake and turns
  notifications into :class:`Signal` values for the host's :class:`NotificationSink`;
  it looks subscriptions up in the host's :class:`SubscriptionStore`.
"""

from __future__ import annotations

from severa_ext.backends._graph_receiver import (
    MemoryNotificationSink,
    NotificationReceiver,
    NotificationSink,
    ReceiverAnswer,
    ReceiverCounts,
    ReceiverLimits,
    Signal,
    SignalKind,
)
from severa_ext.backends._graph_subscriptions import (
    CHANGE_TYPES,
    MAX_EVENT_SUBSCRIPTION_MINUTES,
    GraphSubscriptions,
    MemorySubscriptionStore,
    Subscription,
    SubscriptionStore,
    due_for_renewal,
    structure_subscription,
    unstructure_subscription,
)

__all__ = [
    "CHANGE_TYPES",
    "MAX_EVENT_SUBSCRIPTION_MINUTES",
    "GraphSubscriptions",
    "MemoryNotificationSink",
    "MemorySubscriptionStore",
    "NotificationReceiver",
    "NotificationSink",
    "ReceiverAnswer",
    "ReceiverCounts",
    "ReceiverLimits",
    "Signal",
    "SignalKind",
    "Subscription",
    "SubscriptionStore",
    "due_for_renewal",
    "structure_subscription",
    "unstructure_subscription",
]
