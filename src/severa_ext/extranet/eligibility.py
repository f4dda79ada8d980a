"""X3: may this contact person be given (and keep) a share of this customer's project?

One pure function, :func:`eligibility`, decides it with a reason: the share dialog
lists it per contact, :meth:`~severa_ext.extranet.service.ExtranetService.share`
refuses with it, and every access decision re-checks it against the contact's current
card, so access never outlives a move to another customer or a removed address.

Reason codes of an :class:`Eligibility` (stable, for hosts to branch on), in the order
they are checked:

``eligible``
    a contact person of the customer with a valid address.
``unknown-project``
    the host's directory does not know the project (so not its customer either).
``unknown-contact``
    there is no card for the contact (it was deleted).
``not-customer-contact``
    the card belongs to another customer, or the customer's card does not list it.
``missing-email``
    the card has no email address.
``invalid-email``
    the card's address is not valid (:func:`severa_ext.domain.normalize_email`).
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from severa_ext.domain import ContactPerson, Customer, normalize_email
from severa_ext.errors import EmailAddressError, ValidationError

__all__ = ["ELIGIBILITY_REASONS", "Eligibility", "eligibility", "eligible_contacts"]

ELIGIBILITY_REASONS = frozenset(
    {
        "eligible",
        "unknown-project",
        "unknown-contact",
        "not-customer-contact",
        "missing-email",
        "invalid-email",
    }
)
"""Every reason code an :class:`Eligibility` can carry."""


@attrs.frozen
class Eligibility:
    """Whether one contact person can hold a share of a customer's project (X3).

    Attributes:
        contact_id: the contact person.
        customer_id: the project's customer (``None``: the project is unknown).
        reason: a code from :data:`ELIGIBILITY_REASONS`.
        message: the reason in words (it says which X3 condition is missing).
        email: the normalised address, when eligible; ``None`` otherwise.
        contact: the card that was checked (``None``: no card).
    """

    contact_id: str
    customer_id: str | None
    reason: str
    message: str
    email: str | None = None
    contact: ContactPerson | None = None

    @property
    def eligible(self) -> bool:
        """Whether the contact may be chosen for, and keep using, a share (X3)."""
        return self.reason == "eligible"


def eligibility(
    contact: ContactPerson | None,
    customer_id: str | None,
    *,
    contact_id: str | None = None,
    customer: Customer | None = None,
) -> Eligibility:
    """Check X3 for ``contact`` and the customer ``customer_id``, with the reason.

    Args:
        contact: the contact's current card, or ``None`` when there is none.
        customer_id: the project's customer (``None``: the project is not known).
        contact_id: the contact's id; needed when ``contact`` is ``None``.
        customer: the customer's card, if at hand; then it must also list the contact.

    Returns:
        The :class:`Eligibility`; the first failed condition decides the reason.

    Raises:
        ValidationError: neither ``contact`` nor ``contact_id`` is given, they
            disagree, or ``customer`` is not the customer ``customer_id``.
    """
    if contact is not None and not isinstance(contact, ContactPerson):
        raise ValidationError(f"contact must be a ContactPerson or None, got {contact!r}")
    who = contact.id if contact is not None else contact_id
    if not isinstance(who, str) or (contact_id is not None and contact_id != who):
        raise ValidationError(f"eligibility needs one contact id, got {contact_id!r} and {who!r}")
    card: object = customer
    if card is not None and (not isinstance(card, Customer) or card.id != customer_id):
        raise ValidationError(f"customer {customer!r} is not the customer {customer_id!r}")

    def refuse(reason: str, words: str) -> Eligibility:
        message = f"contact {who!r} cannot hold a share: {words} (X3)"
        return Eligibility(who, customer_id, reason, message, contact=contact)

    if customer_id is None:
        return refuse("unknown-project", "the project is not known to the host")
    if contact is None:
        return refuse("unknown-contact", "there is no card for this contact person")
    if contact.customer_id != customer_id or (
        customer is not None and contact.id not in customer.contact_ids
    ):
        return refuse("not-customer-contact", f"not a contact person of customer {customer_id!r}")
    try:
        email = normalize_email(contact.email)
    except EmailAddressError as exc:
        if exc.reason == "missing":
            return refuse("missing-email", "no email address on the customer card")
        return refuse(
            "invalid-email", f"the address on the customer card is not valid: {exc.reason}"
        )
    message = (
        f"contact {who!r} is a contact person of customer {customer_id!r} with a valid address"
    )
    return Eligibility(who, customer_id, "eligible", message, email=email, contact=contact)


def eligible_contacts(
    customer: Customer, cards: Iterable[ContactPerson | None]
) -> tuple[Eligibility, ...]:
    """The share dialog (X3): every contact the customer's card lists, with its reason.

    Args:
        customer: the project's customer card.
        cards: the current cards of ``customer.contact_ids`` (missing ones may be
            left out or given as ``None``); cards of other contacts are ignored.

    Returns:
        One :class:`Eligibility` per listed contact id, ordered by contact id.
    """
    if not isinstance(customer, Customer):
        raise ValidationError(f"customer must be a Customer, got {customer!r}")
    by_id = {card.id: card for card in cards if card is not None}
    return tuple(
        eligibility(by_id.get(contact_id), customer.id, contact_id=contact_id, customer=customer)
        for contact_id in sorted(customer.contact_ids)
    )
