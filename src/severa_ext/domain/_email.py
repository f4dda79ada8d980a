"""Email addresses: the one validation and normal form of the SDK (X3, X9).

Every place that checks or compares an address uses :func:`normalize_email`: whether a
contact may be chosen for a share (X3), where an invitation is sent (X6, X9), which
invites a login by address finds (X9), and a backend's user name check (S10). One rule
set, so an address the share dialog accepts is the address the invitation goes to and
the address the contact logs in with.
"""

from __future__ import annotations

from severa_ext.errors import EmailAddressError

__all__ = ["normalize_email"]


def normalize_email(value: object) -> str:
    """Validate an email address and return its normal form.

    The rules (email-validator, without any DNS query: the core does no I/O):

    * surrounding white space is ignored; anything else that is not a bare
      ``local@domain`` address (a display name, a quoted local part, a domain
      literal) is refused;
    * the address must be deliverable over plain SMTP: an internationalised domain
      is accepted and written in its ASCII (IDNA) form, non-ASCII characters before
      the ``@`` are refused;
    * the local part and the domain are lower-cased: nearly every mail system treats
      local parts without case, and a contact must be able to log in with the
      address typed in any case (X9).

    Args:
        value: the address as written on a card, in a form or in a configuration.

    Returns:
        The normal form, e.g. ``"anna.virtanen@example.com"`` for
        ``" Anna.Virtanen@Example.COM "``.

    Raises:
        EmailAddressError: the address is missing (``reason == "missing"``: ``None``,
            not a string, or blank) or not valid (``reason`` says why).
    """
    if not isinstance(value, str) or not value.strip():
        raise EmailAddressError(None if value is None else str(value), "missing")
    # Imported here: email-validator (and its IDNA tables) costs ~30 ms to import, and
    # importing the domain model must stay cheap (issue 18).
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(value.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise EmailAddressError(value, str(exc)) from exc
    address = checked.ascii_email or checked.normalized
    return address.lower()
