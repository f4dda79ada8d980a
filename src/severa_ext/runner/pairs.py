"""The pairs of an organisation: one per user whose sync is on (S1, S2).

A pair is one user's activities (side A) and calendar (side B). Only users who turned
sync on themselves have an activation (S2: :class:`~severa_ext.sync.activation.ActivationService`
refuses anyone else), and none is synced while the organisation's add-on is off or
its settings are incomplete (S1): :func:`inactive_reason` is the one check, used both
when pairs are listed and again right before a pair runs (a user may turn sync off
between the two).
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from severa_ext.sync.activation import Activation, ActivationStore, OrganisationSettings

__all__ = ["Pair", "active_pairs", "inactive_reason", "organisation_reason", "pair_id_of"]

_PAGE = 500


def pair_id_of(user_id: str) -> str:
    """The pair id of a user's sync (the activation journal uses the same)."""
    return f"user:{user_id}"


@attrs.frozen
class Pair:
    """One user's sync.

    Attributes:
        pair_id: the state store's pair (``user:<id>``).
        user_id: whose sync it is (recorded with every journal entry, S6).
        mailbox: the calendar account the user confirmed (S10).
        server_kind: ``"graph"``, ``"ews"`` or ``"ics"``.
    """

    pair_id: str
    user_id: str
    mailbox: str
    server_kind: str

    @classmethod
    def of(cls, activation: Activation) -> Pair:
        """The pair of an activation."""
        return cls(
            pair_id_of(activation.user_id),
            activation.user_id,
            activation.mailbox,
            activation.server_kind.value,
        )


def organisation_reason(settings: OrganisationSettings) -> str | None:
    """Why no pair of the organisation may sync now (S1), or ``None``."""
    if not settings.addon_active:
        return "calendar sync is not activated for the organisation (S1)"
    missing = settings.missing()
    if missing:
        return f"organisation sync settings are incomplete: missing {', '.join(missing)} (S1)"
    return None


def inactive_reason(settings: OrganisationSettings, activation: Activation | None) -> str | None:
    """Why this user's pair must not sync now, or ``None`` when it may.

    The add-on must be on and the settings saved (S1); the user must have sync on
    (S2), for the organisation's current server kind.
    """
    reason = organisation_reason(settings)
    if reason is not None:
        return reason
    if activation is None:
        return "the user's sync is off (S2)"
    if activation.server_kind is not settings.server_kind:
        assert settings.server_kind is not None  # checked by missing()
        return (
            f"the user turned sync on for {activation.server_kind.value}, the organisation "
            f"now uses {settings.server_kind.value}: the user must turn sync on again"
        )
    return None


def active_pairs(settings: OrganisationSettings, store: ActivationStore) -> Iterator[Pair]:
    """Every pair that may sync now, by user id, read from ``store`` page by page."""
    if organisation_reason(settings) is not None:
        return
    after: str | None = None
    while page := store.active(after=after, limit=_PAGE):
        for activation in page:
            if inactive_reason(settings, activation) is None:
                yield Pair.of(activation)
        after = page[-1].user_id
