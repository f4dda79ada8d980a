"""The invitation goes through ``smtplib`` as it is (issue 3; X6, X9).

A small SMTP server on 127.0.0.1 (the commands of RFC 5321 that ``smtplib`` uses) takes
the message. ``send_message`` picks recipients from the To/Cc/Bcc headers, so this is
where an injected ``Bcc:`` would reach a stranger: the envelope must name exactly the
contact, whatever the names hold.
"""

from __future__ import annotations

import email
import smtplib
import socketserver
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default

import attrs
import pytest

from extranet.invite_fixtures import BRANDING
from severa_ext.domain import ContactPerson
from severa_ext.extranet.invites import InviteIssuer, ScryptKdf

pytestmark = pytest.mark.slow

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


@attrs.define
class Received:
    """One message as the server saw it: the envelope and the data."""

    mail_from: str
    rcpt_to: list[str]
    data: bytes


class SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough ESMTP: EHLO/HELO, MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP, QUIT."""

    server: SmtpServer

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")

    def handle(self) -> None:
        self.reply("220 127.0.0.1 ESMTP test server")
        mail_from, rcpt_to = "", []
        while line := self.rfile.readline(1000):
            command = line.decode("ascii").rstrip("\r\n")
            verb = command[:4].upper()
            if verb == "EHLO":
                self.reply("250-127.0.0.1")
                self.reply("250 SIZE 1000000")
            elif verb == "HELO":
                self.reply("250 127.0.0.1")
            elif verb == "MAIL":
                mail_from = command.split(":", 1)[1].strip().split()[0].strip("<>")
                self.reply("250 OK")
            elif verb == "RCPT":
                rcpt_to.append(command.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (chunk := self.rfile.readline(2000)) != b".\r\n":
                    lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                self.server.received.append(Received(mail_from, rcpt_to, b"".join(lines)))
                mail_from, rcpt_to = "", []
                self.reply("250 OK queued")
            elif verb in {"RSET", "NOOP"}:
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


class SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SmtpHandler)
        self.received: list[Received] = []


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Pair:
    project_id = "p1"
    contact_id = "k1"


@pytest.mark.parametrize(
    "first_name",
    [
        "Anna",
        "Evil\r\nBcc: stranger@evil.example",
        '"x" <stranger@evil.example>, other@evil.example',
        "=?utf-8?q?=0D=0ABcc:_stranger@evil.example?=",
        "Cc: stranger@evil.example",
        "\u202eAnna\u202c \u0645\u062d\u0645\u062f " + "x" * 5000,
    ],
)
def test_smtp_delivers_to_the_contact_only(smtp_server, first_name):
    person = ContactPerson("k1", "cust", first_name, email="anna@customer.example")
    invite = InviteIssuer(BRANDING, kdf=ScryptKdf(n=2, r=1, p=1)).issue(
        Pair(), person, now=T0, project_name=first_name, customer_name=first_name
    )
    host, port = smtp_server.server_address[:2]
    with smtplib.SMTP(str(host), int(port), timeout=5) as smtp:
        refused = smtp.send_message(invite.message)
    assert refused == {}
    (received,) = smtp_server.received
    assert received.mail_from == "noreply@example.com"
    assert received.rcpt_to == ["anna@customer.example"]
    parsed = email.message_from_bytes(received.data, policy=default)
    assert isinstance(parsed, EmailMessage)
    assert sorted(parsed.keys()) == sorted(invite.message.keys())
    body = parsed.get_body(("plain",))
    assert body is not None
    assert invite.password.reveal() in body.get_content()
