"""The demo wiring: the SDK's and the portal's SQL stores on SQLite, memory projects.

:func:`build_demo` wires a portal the way a host would: an
:class:`~severa_ext.extranet.service.ExtranetService` over
:class:`~severa_ext.stores.SQLShareStore`, :class:`~severa_ext.stores.SQLInviteStore`
and :class:`~severa_ext.stores.SQLAuditLog`, and the portal's
:class:`~severa_ext.portal.sql.SQLCredentialStore` and
:class:`~severa_ext.portal.sql.SQLSessionStore`, on one SQLite database, a
:class:`~severa_ext.portal.loader.MemoryProjectLoader` standing in for the host's
projects, and shares two works with Anna under different rights (X2, X11) and keeps a
third unshared. ``severa-ext portal --demo`` serves it on 127.0.0.1
(:func:`serve_demo`); tests build it with a fixed clock and cheap KDFs.
"""

from __future__ import annotations

import sys
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any

import attrs

from severa_ext.clock import Clock, SystemClock
from severa_ext.domain import (
    ContactPerson,
    Customer,
    Invoice,
    Phase,
    Project,
    ProjectFile,
    ProjectLink,
    ProjectStatus,
    WorkHour,
)
from severa_ext.extranet.directory import MemoryContactDirectory
from severa_ext.extranet.invites import DEFAULT_KDF, Branding, InviteIssuer, Inviter, ScryptKdf
from severa_ext.extranet.rights import Right
from severa_ext.extranet.service import ExtranetService
from severa_ext.portal.config import PortalConfig, PortalWiring
from severa_ext.portal.loader import MemoryProjectLoader
from severa_ext.portal.passwords import PasswordHasher
from severa_ext.portal.ratelimit import MemoryRateLimiter

__all__ = ["ALL_RIGHTS", "STATUSES", "Demo", "build_demo", "demo_projects", "serve_demo"]

ALL_RIGHTS = Right.APPROVE_HOURS | Right.COMMENT | Right.ADD_FILE | Right.FINANCE
ALL_RIGHTS |= Right.PHASES | Right.OTHER
"""Every right: what the demo's first work grants."""

STATUSES = (
    ProjectStatus("s-open", "In progress"),
    ProjectStatus("s-review", "Customer review"),
    ProjectStatus("s-done", "Done", is_closed=True),
)


@attrs.define
class Demo:
    """A wired demo portal.

    Attributes:
        wiring: what :func:`~severa_ext.portal.app.create_app` takes.
        config: the portal configuration.
        passwords: contact id -> the one-time password of its newest invitation.
        directory: the contact cards (change them to try X3).
        engine: the SQLAlchemy engine of the SQL stores (dispose of it when done).
    """

    wiring: PortalWiring
    config: PortalConfig
    passwords: dict[str, str]
    directory: MemoryContactDirectory
    engine: Any

    def close(self) -> None:
        """Dispose of the database engine."""
        self.engine.dispose()


_HOURS = (  # number, phase, person, hours, what, start hour
    (1, "ph1", "Mikko Suunnittelija", "3.5", "Workshop with the customer", 9),
    (2, "ph2", "Sara Koodari", "6", "Front page layout", 8),
    (3, "ph2", "Sara Koodari", "4.5", "Contact form", 12),
    (4, "ph3", "Mikko Suunnittelija", "2", "Test plan", 13),
)


def _hours(day0: date) -> tuple[WorkHour, ...]:
    return tuple(
        WorkHour(
            id=f"h{n}",
            phase_id=phase,
            user_name=who,
            event_date=day0 + timedelta(days=n),
            quantity=Decimal(qty),
            description=text,
            start_time=time(start, 0),
            end_time=time(start + int(Decimal(qty)), 30 if "." in qty else 0),
            billable_amount=Decimal(qty) * 95,
        )
        for n, phase, who, qty, text, start in _HOURS
    )


def demo_projects(today: date) -> tuple[Project, ...]:
    """The demo's three works: two shared with Anna, one with nobody."""
    start = today - timedelta(days=20)
    phases = (
        Phase(
            "ph1",
            "Design",
            start_date=start,
            deadline=start + timedelta(days=10),
            estimated_hours=Decimal(30),
        ),
        Phase(
            "ph2",
            "Build",
            parent_phase_id=None,
            start_date=start + timedelta(days=8),
            deadline=start + timedelta(days=40),
            estimated_hours=Decimal(120),
        ),
        Phase(
            "ph2a",
            "Front end",
            parent_phase_id="ph2",
            start_date=start + timedelta(days=8),
            deadline=start + timedelta(days=30),
            estimated_hours=Decimal(80),
        ),
        Phase(
            "ph3",
            "Testing",
            start_date=start + timedelta(days=35),
            deadline=start + timedelta(days=50),
            estimated_hours=Decimal(25),
        ),
    )
    web = Project(
        id="p-web",
        name="Website renewal",
        customer_id="c1",
        summary="Renewal of asiakas.example.com: design, build and testing.",
        status=STATUSES[0],
        phases=phases,
        work_hours=_hours(start),
        invoices=(
            Invoice(
                "i1", "2026-0042", start + timedelta(days=14), Decimal("1520.00"), status="Paid"
            ),
        ),
        billable_amount=Decimal("1520.00"),
        files=(
            ProjectFile("f1", "specification.pdf", size=48_213, content_type="application/pdf"),
        ),
        links=(ProjectLink("l1", "Staging site", "https://staging.example.com/"),),
    )
    support = Project(
        id="p-support",
        name="Support 2026",
        customer_id="c1",
        summary="Monthly support hours.",
        status=STATUSES[0],
        phases=(Phase("sp1", "Support"),),
        work_hours=(
            WorkHour(
                "sh1",
                "sp1",
                "Olli Tuki",
                start + timedelta(days=3),
                Decimal(1),
                "Password reset help",
                start_time=time(10, 0),
                end_time=time(11, 0),
            ),
        ),
        billable_amount=Decimal("95.00"),
    )
    internal = Project(
        id="p-internal",
        name="Internal budget",
        customer_id="c1",
        summary="Not shared with anybody.",
        billable_amount=Decimal("99999.00"),
    )
    return (web, support, internal)


def build_demo(
    *,
    clock: Clock | None = None,
    login_url: str = "http://127.0.0.1:8000/",
    kdf: ScryptKdf = DEFAULT_KDF,
    hasher: PasswordHasher | None = None,
    config: PortalConfig | None = None,
    support_rights: Right = Right.VIEW_HOURS | Right.COMMENT,
) -> Demo:
    """Wire the demo portal (SQLite SQL stores, memory projects) and share its works.

    Args:
        clock: the time source (default: the system clock).
        login_url: the login address the invitations name (X10).
        kdf: the one-time passwords' KDF (tests pass a cheap one).
        hasher: the password hasher (tests pass a cheap one).
        config: the portal configuration (default: demo branding).
        support_rights: the rights of Anna's second work.

    Returns:
        The :class:`Demo`; Anna (``k-anna``) has both works, Bert (``k-bert``) the first.
    """
    import sqlalchemy as sa
    from sqlalchemy.pool import StaticPool

    from severa_ext.portal.sql import SQLCredentialStore, SQLSessionStore, create_portal_tables
    from severa_ext.stores import SQLAuditLog, SQLInviteStore, SQLShareStore
    from severa_ext.stores.schema import create_all

    clock = SystemClock() if clock is None else clock
    engine = sa.create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    create_all(engine)
    create_portal_tables(engine)
    anna = ContactPerson(
        "k-anna", "c1", "Anna", "Asiakas", email="anna@asiakas.example.com", language="fi"
    )
    bert = ContactPerson(
        "k-bert", "c1", "Bert", "Buyer", email="bert@asiakas.example.com", language="en"
    )
    # mypy's attrs plugin reads the field's converter=frozenset as an unbound generic.
    customer = Customer("c1", "Asiakas Oy", contact_ids={anna.id, bert.id})  # type: ignore[arg-type]
    web, support, internal = demo_projects(clock.now().date())
    directory = MemoryContactDirectory(contacts=[anna, bert], projects=[web, support, internal])
    branding = Branding(
        product_name="Extranet",
        sender_address="extranet@example.com",
        sender_name="Demo Consulting",
        login_url=login_url,
        support_contact="support@example.com",
    )
    audit = SQLAuditLog(engine)
    inviter = Inviter(InviteIssuer(branding, kdf=kdf), SQLInviteStore(engine), audit=audit)
    service = ExtranetService(
        SQLShareStore(engine), clock=clock, directory=directory, audit=audit, inviter=inviter
    )
    passwords: dict[str, str] = {}
    for project, contact, rights in (
        (web, anna, ALL_RIGHTS),
        (support, anna, support_rights),
        (web, bert, Right.VIEW_HOURS),
    ):
        result = service.share(project, contact, rights, actor="demo-admin", customer=customer)
        if result.invite is not None:
            passwords[contact.id] = result.invite.password.reveal()
    wiring = PortalWiring(
        service=service,
        inviter=service.inviter or inviter,
        projects=MemoryProjectLoader([web, support, internal], statuses=STATUSES),
        credentials=SQLCredentialStore(engine),
        sessions=SQLSessionStore(engine),
        hasher=PasswordHasher() if hasher is None else hasher,
        limiter=MemoryRateLimiter(),
    )
    config = config or PortalConfig(
        product_name="Extranet",
        organisation_name="Demo Consulting",
        support_contact="support@example.com",
    )
    return Demo(wiring, config, passwords, directory, engine)


def serve_demo(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the demo portal until interrupted, printing the address and a password."""
    from werkzeug.serving import make_server

    from severa_ext.portal.app import create_app

    server: Any = None
    demo: Demo | None = None
    try:
        server = make_server(host, port, _placeholder, threaded=True)
        address = f"http://{host}:{server.server_port}/"
        demo = build_demo(login_url=address)
        server.app = create_app(demo.wiring, demo.config)
        out = sys.stdout
        out.write(f"Extranet portal demo: {address}\n")
        out.write(
            "  log in as anna@asiakas.example.com with the one-time password "
            f"{demo.passwords['k-anna']}\n"
        )
        out.write("  (two shared works; then choose a password of 15+ characters)\n")
        out.write(
            "  bert@asiakas.example.com: "
            f"{demo.passwords['k-bert']} (one work, hours only)\nCtrl-C stops it.\n"
        )
        out.flush()
        server.serve_forever()
    finally:
        if server is not None:
            server.server_close()
        if demo is not None:
            demo.close()


def _placeholder(environ: Any, start_response: Any) -> Any:  # pragma: no cover
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]
