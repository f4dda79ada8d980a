"""The invitation email (issue 3; X6, X9, X10): golden texts, hostile names, parse-back.

Golden files live in ``tests/extranet/golden/invite_<lang>.txt``; after a deliberate
change to the wording, regenerate them with ``UPDATE_GOLDEN=1 pytest <this file>`` and
review the diff.
"""

from __future__ import annotations

import email
import os
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from severa_ext.domain import ContactPerson
from severa_ext.extranet._invite_message import MessageFacts, build_message
from severa_ext.extranet._invite_templates import clean, header_text
from severa_ext.extranet.invites import (
    SUPPORTED_LANGUAGES,
    Branding,
    InviteIssuer,
    ScryptKdf,
    verify,
)

GOLDEN = Path(__file__).parent / "golden"
T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
PASSWORD = "7K4M-XR2P-9QWE-H"
HEADERS = [
    "Subject",
    "From",
    "To",
    "Date",
    "Message-ID",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
    "Content-Language",
]
ALLOWED_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "body",
    "p",
    "ol",
    "li",
    "a",
    "strong",
    "bdi",
    "br",
}
BIDI_CONTROLS = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c")
HOSTILE = [
    "Evil\r\nBcc: victim@example.com",
    "Evil\nSubject: pwned",
    "\r\n\r\n<html>forged body</html>",
    '"Quoted", Name <attacker@example.com>',
    "<script>alert('x')</script>",
    "\u202eevil\u202c gnp.exe",
    "\u05e9\u05dc\u05d5\u05dd \u0645\u062d\u0645\u062f",
    "=?utf-8?q?=0D=0ABcc:_x@example.com?=",
    "Tab\tand\x00nul and \x1b[31m",
    "line\u2028separator\u2029paragraph",
    "{name} {password} {login_url}",
    "&amp; &lt; & < > ' \"",
    "x" * 10_000,
]

BRANDING = Branding(
    product_name="Severa",
    sender_address="noreply@example.com",
    sender_name="Acme Oy",
    login_url="https://extranet.example.com/login?lang=fi&x=1",
    support_contact="support@example.com, +358 10 123 4567",
    organisation_name="Acme Oy",
    time_zone="Europe/Helsinki",
)

GOLDEN_CASES = {
    "fi": ("Matti Meikäläinen", "matti@asiakas.example", "Uusi verkkosivusto", "Asiakas Oy"),
    "en": ("Maija Virtanen", "maija@customer.example", "Website renewal", "Customer Ltd"),
    "sv": ("Åsa Öberg", "asa@kund.example", "Ny webbplats", "Kund Ab"),
}


def facts(language: str, name: str, address: str, project: str | None, customer: str | None):
    return MessageFacts(
        invite_id="golden-1",
        name=name,
        email=address,
        language=language,
        password=PASSWORD,
        issued_at=T0,
        expires_at=T0 + timedelta(hours=24),
        project_name=project,
        customer_name=customer,
    )


def dump(message: EmailMessage) -> str:
    """Headers (decoded) and both bodies: what the golden files hold."""
    lines = [
        f"{name}: {value}" if name != "Content-Type" else f"{name}: {message.get_content_type()}"
        for name, value in message.items()
    ]
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None
    assert rich is not None
    return "\n".join(
        [
            *lines,
            "",
            "--- text/plain ---",
            plain.get_content().replace("\r\n", "\n"),
            "--- text/html ---",
            rich.get_content().replace("\r\n", "\n"),
        ]
    )


def parse_back(message: EmailMessage) -> EmailMessage:
    # Flattened with the message's own policy, as smtplib.send_message does.
    assert message.policy.linesep == "\r\n"
    raw = message.as_bytes()
    raw.decode("ascii")  # 7-bit clean: any SMTP server takes it
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    parsed = email.message_from_bytes(raw, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.mark.parametrize("language", sorted(GOLDEN_CASES))
def test_golden_message(language):
    """X9: subject, login address, password, instructions and expiry, per language."""
    message = build_message(BRANDING, facts(language, *GOLDEN_CASES[language]))
    path = GOLDEN / f"invite_{language}.txt"
    text = dump(message)
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
    assert dump(parse_back(message)) == text


def test_languages_are_the_three_of_the_seed():
    assert SUPPORTED_LANGUAGES == ("en", "fi", "sv")


@pytest.mark.parametrize(
    ("language", "used"),
    [("fi", "fi"), ("FI-fi", "fi"), ("sv_SE", "sv"), ("sv-FI", "sv"), ("de", "en"), ("", "en")],
)
def test_language_fallback(language, used):
    message = build_message(BRANDING, facts(language, "A B", "a@b.example", "P", None))
    assert message["Content-Language"] == used
    assert message.get_body(("html",)).get_content().count(f'<html lang="{used}">') == 1


def test_optional_parts_change_words_not_structure():
    with_all = build_message(BRANDING, facts("en", "Maija", "m@c.example", "Web", "Cust"))
    bare = build_message(BRANDING, facts("en", "", "m@c.example", None, None))
    assert bare["Subject"] == "Invitation to the Severa Extranet"
    assert with_all["Subject"] == "Invitation to the Severa Extranet: Web"
    bare_text = bare.get_body(("plain",)).get_content()
    assert bare_text.startswith("Hello,\n")
    assert "Acme Oy has invited you to the Severa Extranet." in bare_text
    assert len(bare_text.splitlines()) == len(
        with_all.get_body(("plain",)).get_content().splitlines()
    )


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def check_message(
    message: EmailMessage, *, person: ContactPerson, project: str, login: str, password: str
):
    """Everything a hostile value must never break (used by the property test)."""
    parsed = parse_back(message)
    assert list(parsed.keys()) == HEADERS
    (to,) = parsed["To"].addresses
    assert to.addr_spec == person.email
    # Headers are not folded (the policy's limit is 998), so names round-trip exactly.
    assert to.display_name == header_text(person.name, 64)
    (sender,) = parsed["From"].addresses
    assert sender.addr_spec == BRANDING.sender_address
    subject = str(parsed["Subject"])
    assert "\r" not in subject
    assert "\n" not in subject
    # Exact, astral characters included: CPython's folder, which could cut an encoded
    # word in two and leave "=?utf-8?q?...?=" text in the subject, never runs.
    assert subject.endswith(header_text(project, 150))
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    plain, rich = (p.get_content() for p in parts)
    baseline = build_message(BRANDING, facts("en", "A", "a@b.example", "P", "C"))
    assert len(plain.splitlines()) == len(baseline.get_body(("plain",)).get_content().splitlines())
    assert plain.count(password) == 1
    assert rich.count(password) == 1
    assert plain.count(login) == 1
    collector = TagCollector()
    collector.feed(rich)
    tags = {tag for tag, _ in collector.tags}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    anchors = [attrs for tag, attrs in collector.tags if tag == "a"]
    assert anchors == [{"href": login}]
    for tag, attrs in collector.tags:
        assert set(attrs) <= {"lang", "charset", "style", "href"}, (tag, attrs)
    everything = subject + str(parsed["To"]) + plain + rich
    assert not BIDI_CONTROLS & set(everything)


def hostile_texts() -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=30)), max_size=4).map(
        "".join
    )


@given(
    first=hostile_texts(),
    last=hostile_texts(),
    project=hostile_texts(),
    customer=hostile_texts(),
    language=st.sampled_from(["fi", "en", "sv"]),
)
@example(
    first=HOSTILE[-1], last=HOSTILE[0], project=HOSTILE[-1], customer=HOSTILE[4], language="fi"
)
@example(first=HOSTILE[3], last=HOSTILE[5], project=HOSTILE[1], customer=HOSTILE[2], language="sv")
@example(first=HOSTILE[7], last="", project=HOSTILE[10], customer=HOSTILE[11], language="en")
def test_hostile_names_never_break_headers_or_bodies(first, last, project, customer, language):
    """Issue 3: CR/LF, quotes, <script>, RTL marks, 10k characters in every header and body."""
    person = ContactPerson(
        id="c1",
        customer_id="k1",
        first_name=first,
        last_name=last,
        email="victim@customer.example",
        language=language,
    )
    issuer = InviteIssuer(BRANDING, kdf=ScryptKdf(n=2, r=1, p=1))

    class Pair:
        project_id = "p1"
        contact_id = "c1"

    invite = issuer.issue(Pair(), person, now=T0, project_name=project, customer_name=customer)
    check_message(
        invite.message,
        person=person,
        project=project,
        login=BRANDING.login_url,
        password=invite.password.reveal(),
    )
    rich = invite.message.get_body(("html",)).get_content()
    assert "<script" not in rich
    assert clean(person.name, 100) in invite.message.get_body(("plain",)).get_content()


def test_hostile_branding_values_are_escaped():
    """X10: visible-but-hostile configuration (quotes, markup) is still only text."""
    branding = Branding(
        product_name="<b>Severa</b>",
        sender_address="noreply@example.com",
        sender_name='Acme, "Sales" <sales@evil.example>',
        login_url='https://extranet.example.com/login?a=1&b="2"\'',
        support_contact="<script>alert(1)</script>",
        organisation_name="Acme & Sons <i>",
    )
    person = ContactPerson(id="c1", customer_id="k1", first_name="A", email="a@b.example")
    message = build_message(branding, facts("en", person.name, "a@b.example", "P", None))
    parsed = parse_back(message)
    (sender,) = parsed["From"].addresses
    assert sender.addr_spec == "noreply@example.com"
    assert sender.display_name == 'Acme, "Sales" <sales@evil.example>'
    rich = message.get_body(("html",)).get_content()
    collector = TagCollector()
    collector.feed(rich)
    assert {tag for tag, _ in collector.tags} <= ALLOWED_TAGS
    assert [a for t, a in collector.tags if t == "a"] == [{"href": branding.login_url}]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rich


def test_issued_message_holds_the_real_password_login_and_expiry():
    """X6/X9/X10: the issued email carries this invite's password and the configured login."""
    issuer = InviteIssuer(BRANDING, kdf=ScryptKdf(n=2, r=1, p=1), ttl=timedelta(hours=2))

    class Pair:
        project_id = "p1"
        contact_id = "c1"

    person = ContactPerson(
        id="c1", customer_id="k1", first_name="Åsa", email="asa@kund.example", language="sv"
    )
    invite = issuer.issue(Pair(), person, now=T0, project_name="Ny webbplats")
    secret = invite.password.reveal()
    plain = invite.message.get_body(("plain",)).get_content()
    rich = invite.message.get_body(("html",)).get_content()
    assert f"   {secret}\n" in plain
    assert f"<strong>{secret}</strong>" in rich
    assert BRANDING.login_url in plain
    assert "går ut 23 november 2026 kl. 13.30 (EET)" in plain  # 11:30 UTC in Helsinki
    assert invite.message["Message-ID"] == f"<invite-{invite.record.id}@example.com>"
    assert invite.message["Date"] == "Mon, 23 Nov 2026 09:30:00 +0000"
    verify(invite.record, secret, T0)


def test_importing_invites_does_not_import_the_email_package():
    """STYLE 1: the core stays free of socket (email imports it) until a message is built."""
    import json
    import subprocess
    import sys

    code = (
        "import sys, json; import severa_ext.extranet.invites; "
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m in {'socket', 'email.message', 'smtplib'})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


@pytest.mark.parametrize(
    "project",
    [
        "Evil\nSubject: pwned\u202eevil\u202c gnp.exe[¡ ¡ ¡ ¡",  # found by hypothesis
        "Työmaa 🏗️ " * 12,  # astral characters across what a folder would split
    ],
)
def test_a_long_non_ascii_subject_round_trips_exactly(project):
    """Regression: CPython 3.11 folding cut an encoded word in two, so a reader showed
    literal ``=?utf-8?q?...`` text; the message policy no longer folds below 998."""
    message = build_message(BRANDING, facts("fi", "Maija", "m@c.example", project, None))
    raw = message.as_bytes()
    assert b"\r\n " not in raw.split(b"\r\n\r\n", 1)[0]  # no folded header line
    subject = str(parse_back(message)["Subject"])
    assert "=?" not in subject
    assert subject.endswith(header_text(project, 150))
