"""Values the invitation tests share (importable as ``extranet.invite_fixtures``)."""

from __future__ import annotations

import attrs

from severa_ext.extranet.invites import Branding, ScryptKdf

__all__ = ["BRANDING", "CHEAP", "Pair"]

CHEAP = ScryptKdf(n=2, r=1, p=1)
"""A cheap scrypt cost: recorded in every record, so it changes speed, never behaviour."""

BRANDING = Branding(
    product_name="Severa",
    sender_address="noreply@example.com",
    sender_name="Acme Oy",
    login_url="https://extranet.example.com/login",
    support_contact="support@example.com",
)


@attrs.frozen
class Pair:
    """A minimal share: the issuer only needs the (project, contact) pair."""

    project_id: str
    contact_id: str
