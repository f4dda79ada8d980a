"""The invitation's words in Finnish, English and Swedish (X9).

Each language is one :class:`Texts` value; placeholders are filled by
``_invite_message`` with values that were already cleaned (plain text) or cleaned and
escaped (HTML). Dates are formatted here without a locale database.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime

import attrs

__all__ = [
    "LANGUAGES",
    "Texts",
    "clean",
    "format_expiry",
    "header_text",
    "texts_for",
    "visible_line",
]

_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def clean(value: str | None, max_chars: int) -> str:
    """Make a name safe to show: one line, no invisible or control characters.

    Control characters (CR, LF, TAB...), line and paragraph separators become spaces;
    format characters (bidi marks and overrides, zero-width joiners) and unassigned or
    private code points are dropped; runs of spaces collapse; the result is cut to
    ``max_chars`` characters, ending in an ellipsis when cut. ``None`` gives ``""``.
    """
    if not value:
        return ""
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", value[: max_chars * 4]):
        category = unicodedata.category(ch)
        if category in {"Cc", "Zl", "Zp"} or ch.isspace():
            out.append(" ")
        elif category not in _INVISIBLE:
            out.append(ch)
    text = " ".join("".join(out).split())
    if len(text) > max_chars:
        text = text[: max_chars - 1].rstrip() + "\u2026"
    return text


def visible_line(value: str) -> str:
    """``value`` without control, format, separator-line or unassigned characters.

    Unlike :func:`clean` it keeps spaces as they are, so configuration can be checked
    with ``visible_line(value) == value``.
    """
    return "".join(ch for ch in value if unicodedata.category(ch) not in _INVISIBLE)


def header_text(value: str | None, max_chars: int) -> str:
    """:func:`clean`, then break every RFC 2047 encoded-word opener (``=?``).

    The standard library's header folding decodes encoded words found in a value
    before it re-encodes the header, so a name such as ``=?utf-8?q?=0D=0ABcc:...?=``
    would come out as a CR LF and a new header. ``"= ?"`` reads the same to a person
    and is never decoded.
    """
    return clean(value, max_chars).replace("=?", "= ?")


@attrs.frozen
class Texts:
    """The sentences of one language; ``{name}``-style placeholders."""

    subject: str
    subject_project: str
    greeting: str
    greeting_anonymous: str
    intro: str
    intro_project: str
    intro_project_customer: str
    steps_title: str
    step_open: str
    step_login: str
    step_choose: str
    expiry: str
    ignore: str
    support: str
    months: tuple[str, ...]
    date_format: str


_EN = Texts(
    subject="Invitation to the {product} Extranet",
    subject_project="Invitation to the {product} Extranet: {project}",
    greeting="Hello {name},",
    greeting_anonymous="Hello,",
    intro="{organisation} has invited you to the {product} Extranet.",
    intro_project=(
        '{organisation} has shared the project "{project}" with you in the {product} Extranet.'
    ),
    intro_project_customer=(
        '{organisation} has shared the project "{project}" ({customer}) with you '
        "in the {product} Extranet."
    ),
    steps_title="To log in for the first time:",
    step_open="Open {login_url}",
    step_login="Log in with your email address {email} and this one-time password:",
    step_choose="Choose your own password when you are asked to.",
    expiry=(
        "The one-time password works only once and expires on {expires}. Do not forward "
        "it to anyone. If it has expired, ask {organisation} for a new invitation."
    ),
    ignore="If you did not expect this message, you can ignore it.",
    support="Support: {support}",
    months=(
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    date_format="{day} {month_name} {year} at {hour:02d}:{minute:02d} ({zone})",
)

_FI = Texts(
    subject="Kutsu palvelun {product} Extranetiin",
    subject_project="Kutsu palvelun {product} Extranetiin: {project}",
    greeting="Hei {name},",
    greeting_anonymous="Hei,",
    intro="{organisation} on kutsunut sinut palvelun {product} Extranetiin.",
    intro_project=(
        '{organisation} on jakanut kanssasi projektin "{project}" palvelun {product} Extranetissa.'
    ),
    intro_project_customer=(
        '{organisation} on jakanut kanssasi projektin "{project}" ({customer}) palvelun '
        "{product} Extranetissa."
    ),
    steps_title="Näin kirjaudut ensimmäistä kertaa:",
    step_open="Avaa osoite {login_url}",
    step_login="Kirjaudu sähköpostiosoitteellasi {email} ja tällä kertakäyttöisellä salasanalla:",
    step_choose="Valitse oma salasana, kun sitä pyydetään.",
    expiry=(
        "Kertakäyttöinen salasana toimii vain kerran ja vanhenee {expires}. Älä välitä "
        "sitä kenellekään. Jos salasana on vanhentunut, pyydä lähettäjältä "
        "({organisation}) uusi kutsu."
    ),
    ignore="Jos et odottanut tätä viestiä, voit jättää sen huomiotta.",
    support="Tuki: {support}",
    months=(),
    date_format="{day}.{month}.{year} klo {hour}.{minute:02d} ({zone})",
)

_SV = Texts(
    subject="Inbjudan till {product} Extranet",
    subject_project="Inbjudan till {product} Extranet: {project}",
    greeting="Hej {name},",
    greeting_anonymous="Hej,",
    intro="{organisation} har bjudit in dig till {product} Extranet.",
    intro_project='{organisation} har delat projektet "{project}" med dig i {product} Extranet.',
    intro_project_customer=(
        '{organisation} har delat projektet "{project}" ({customer}) med dig i {product} Extranet.'
    ),
    steps_title="Så här loggar du in första gången:",
    step_open="Öppna {login_url}",
    step_login="Logga in med din e-postadress {email} och detta engångslösenord:",
    step_choose="Välj ett eget lösenord när du blir ombedd.",
    expiry=(
        "Engångslösenordet fungerar bara en gång och går ut {expires}. Vidarebefordra "
        "det inte till någon. Om det har gått ut, be {organisation} om en ny inbjudan."
    ),
    ignore="Om du inte väntade dig det här meddelandet kan du bortse från det.",
    support="Support: {support}",
    months=(
        "januari",
        "februari",
        "mars",
        "april",
        "maj",
        "juni",
        "juli",
        "augusti",
        "september",
        "oktober",
        "november",
        "december",
    ),
    date_format="{day} {month_name} {year} kl. {hour:02d}.{minute:02d} ({zone})",
)

LANGUAGES: dict[str, Texts] = {"en": _EN, "fi": _FI, "sv": _SV}
"""Supported invitation languages; anything else falls back to English."""


def texts_for(language: str) -> tuple[str, Texts]:
    """The language code actually used and its texts (``fi-FI`` -> ``fi``; unknown -> ``en``)."""
    code = language.strip().lower().replace("_", "-").split("-", 1)[0]
    if code in LANGUAGES:
        return code, LANGUAGES[code]
    return "en", _EN


def format_expiry(texts: Texts, when: datetime) -> str:
    """Format an aware local time the way the language writes dates."""
    month_name = texts.months[when.month - 1] if texts.months else ""
    return texts.date_format.format(
        day=when.day,
        month=when.month,
        month_name=month_name,
        year=when.year,
        hour=when.hour,
        minute=when.minute,
        zone=when.tzname() or "UTC",
    )
