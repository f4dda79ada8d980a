"""Customers and their contact persons (the people an Extranet share is made for)."""

from __future__ import annotations

import attrs

from severa_ext.domain._validators import non_blank

__all__ = ["ContactPerson", "Customer"]


@attrs.frozen
class ContactPerson:
    """A customer's contact person (Severa ``ContactPerson``).

    Attributes:
        id: the host's identifier.
        customer_id: the customer whose card lists this person.
        first_name, last_name: as on the card.
        email: the address on the customer card; ``None`` when missing (X3).
        language: ``"fi"``, ``"en"`` or ``"sv"``: the language of invitations.
    """

    id: str = attrs.field(validator=non_blank)
    customer_id: str = attrs.field(validator=non_blank)
    first_name: str = ""
    last_name: str = ""
    email: str | None = None
    language: str = "en"

    @property
    def name(self) -> str:
        """The display name, first and last name joined."""
        return " ".join(p for p in (self.first_name, self.last_name) if p).strip()


@attrs.frozen
class Customer:
    """A customer (Severa ``Customer``) with the ids of the contacts on its card."""

    id: str = attrs.field(validator=non_blank)
    name: str = attrs.field(validator=non_blank)
    contact_ids: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
