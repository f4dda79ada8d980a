"""Build the invitation email (X6, X9, X10) with the standard library's email package.

Headers are made from :class:`email.headerregistry.Address` objects and plain
assignment under :data:`email.policy.SMTP` (with no folding below 998 characters, see
``_POLICY``), never by string formatting, and every
name passes through ``header_text`` first (one line, no controls, no RFC 2047
encoded-word openers, which the standard library would decode into CR LF), so no
value can add a header or a line. The HTML
alternative escapes every value with :func:`html.escape` and isolates names with
``<bdi>`` so right-to-left text cannot reorder the surrounding sentence.

This module imports :mod:`email` (which imports :mod:`socket`); ``invites`` imports it
only when a message is built, so importing the Extranet core stays I/O-free.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from severa_ext.extranet._invite_templates import (
    Texts,
    clean,
    format_expiry,
    header_text,
    texts_for,
)

if TYPE_CHECKING:
    from severa_ext.extranet.invites import Branding

__all__ = ["MessageFacts", "build_message"]

_POLICY = SMTP.clone(max_line_length=998)
"""SMTP line endings, and no folding below RFC 5322's hard limit of 998 characters: our
headers are short (the subject is at most 150 characters before encoding), and CPython
3.11's folder can cut an RFC 2047 encoded word in two when it folds, which a reader then
shows as literal ``=?utf-8?q?...`` text (never a new header, but a garbled subject)."""

NAME_CHARS = 100
"""Longest person or organisation name shown (longer ones end in an ellipsis)."""

TITLE_CHARS = 150
"""Longest project or customer name shown."""

HEADER_NAME_CHARS = 64
"""Longest display name in ``From``/``To``: short enough that folding never splits it."""


class MessageFacts:
    """What one invitation says; every field is already validated by the issuer."""

    __slots__ = (
        "customer_name",
        "email",
        "expires_at",
        "invite_id",
        "issued_at",
        "language",
        "name",
        "password",
        "project_name",
    )

    def __init__(
        self,
        *,
        invite_id: str,
        name: str,
        email: str,
        language: str,
        password: str,
        issued_at: datetime,
        expires_at: datetime,
        project_name: str | None,
        customer_name: str | None,
    ) -> None:
        self.invite_id = invite_id
        self.name = name
        self.email = email
        self.language = language
        self.password = password
        self.issued_at = issued_at
        self.expires_at = expires_at
        self.project_name = project_name
        self.customer_name = customer_name

    def __repr__(self) -> str:
        return f"MessageFacts(invite_id={self.invite_id!r}, language={self.language!r})"


def _intro(texts: Texts, project: str, customer: str) -> str:
    if project and customer:
        return texts.intro_project_customer
    if project:
        return texts.intro_project
    return texts.intro


def _fill(
    branding: Branding,
    facts: MessageFacts,
    texts: Texts,
    *,
    template: Callable[[str], str],
    value: Callable[[str], str],
    link: Callable[[str], str],
) -> dict[str, str]:
    """The message's sentences: cleaned values rendered by ``value`` in constant templates.

    For plain text all three callables are the identity. For HTML ``template`` escapes
    our own constant text, ``value`` escapes a value and isolates it with ``<bdi>``, and
    ``link`` makes the login address a link; values are escaped exactly once and
    ``str.format`` never reads a value as a template.
    """
    name = clean(facts.name, NAME_CHARS)
    project = clean(facts.project_name, TITLE_CHARS)
    customer = clean(facts.customer_name, TITLE_CHARS)
    organisation = clean(branding.organisation_name or branding.sender_name, NAME_CHARS)
    expires = format_expiry(texts, facts.expires_at.astimezone(ZoneInfo(branding.time_zone)))
    shown = {
        "product": value(clean(branding.product_name, NAME_CHARS)),
        "organisation": value(organisation),
        "project": value(project),
        "customer": value(customer),
        "name": value(name),
        "support": value(clean(branding.support_contact, TITLE_CHARS)),
        "email": value(facts.email),
        "expires": value(expires),
        "login_url": link(branding.login_url),
    }

    def fill(text: str) -> str:
        return template(text).format(**shown)

    return {
        "greeting": fill(texts.greeting if name else texts.greeting_anonymous),
        "intro": fill(_intro(texts, project, customer)),
        "steps_title": fill(texts.steps_title),
        "step_open": fill(texts.step_open),
        "step_login": fill(texts.step_login),
        "step_choose": fill(texts.step_choose),
        "expiry": fill(texts.expiry),
        "ignore": fill(texts.ignore),
        "support": fill(texts.support),
        "signature": value(organisation),
    }


def _subject(branding: Branding, facts: MessageFacts, texts: Texts) -> str:
    project = clean(facts.project_name, TITLE_CHARS)
    template = texts.subject_project if project else texts.subject
    return template.format(product=clean(branding.product_name, NAME_CHARS), project=project)


def _same(text: str) -> str:
    return text


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _isolate(text: str) -> str:
    return f"<bdi>{html.escape(text)}</bdi>" if text else ""


def _anchor(url: str) -> str:
    href = html.escape(url, quote=True)
    return f'<a href="{href}">{href}</a>'


_TEXT = """\
{greeting}

{intro}

{steps_title}

1. {step_open}
2. {step_login}

   {password}

3. {step_choose}

{expiry}

{ignore}
{support}

{signature}
"""

_HTML = """\
<!DOCTYPE html>
<html lang="{lang}">
<head><meta charset="utf-8"><title>{subject}</title></head>
<body>
<p>{greeting}</p>
<p>{intro}</p>
<p>{steps_title}</p>
<ol>
<li>{step_open}</li>
<li>{step_login}
<p style="font-family: monospace; font-size: 1.4em; letter-spacing: 0.1em;">\
<strong>{password}</strong></p></li>
<li>{step_choose}</li>
</ol>
<p>{expiry}</p>
<p>{ignore}<br>{support}</p>
<p>{signature}</p>
</body>
</html>
"""


def build_message(branding: Branding, facts: MessageFacts) -> EmailMessage:
    """Build the invitation: headers, a text/plain body and a text/html alternative.

    Args:
        branding: the host's configuration (sender, product, login address X10).
        facts: the invite's facts (recipient, password, expiry, project).

    Returns:
        A message ready for :meth:`smtplib.SMTP.send_message`.
    """
    language, texts = texts_for(facts.language)
    subject = _subject(branding, facts, texts)
    plain = _fill(branding, facts, texts, template=_same, value=_same, link=_same)
    rich = _fill(branding, facts, texts, template=_escape, value=_isolate, link=_anchor)
    sender_domain = branding.sender_address.rsplit("@", 1)[1]

    message = EmailMessage(policy=_POLICY)
    message["Subject"] = header_text(subject, 2 * TITLE_CHARS)
    message["From"] = Address(
        display_name=header_text(branding.sender_name, HEADER_NAME_CHARS),
        addr_spec=branding.sender_address,
    )
    message["To"] = Address(
        display_name=header_text(facts.name, HEADER_NAME_CHARS), addr_spec=facts.email
    )
    message["Date"] = format_datetime(facts.issued_at.astimezone(UTC))
    message["Message-ID"] = f"<invite-{facts.invite_id}@{sender_domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_TEXT.format(password=facts.password, **plain), cte="quoted-printable")
    message.add_alternative(
        _HTML.format(
            lang=language,
            subject=html.escape(subject),
            password=html.escape(facts.password),
            **rich,
        ),
        subtype="html",
        cte="quoted-printable",
    )
    # set_content() drops Content-* headers, so the language goes on afterwards; the
    # parts do not need the MIME-Version header that EmailMessage adds to each.
    message["Content-Language"] = language
    for part in message.iter_parts():
        del part["MIME-Version"]
    return message
