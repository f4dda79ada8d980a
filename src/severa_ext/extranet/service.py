"""The Extranet service: share, update, stop, check, view and act (X2-X5, X7, X8, X11).

:class:`ExtranetService` is sans-I/O: the host hands in its domain values (the
:class:`~severa_ext.domain.Project`, the :class:`~severa_ext.domain.ContactPerson`, the
:class:`~severa_ext.domain.Customer`), gets values back (the new share, the view, the
updated project, the approval record) and persists them itself. Shares live in an
injected :class:`~severa_ext.extranet.shares.ShareStore`, audit events go to an
injected :class:`~severa_ext.extranet.audit.AuditLog`, time comes from an injected
:class:`~severa_ext.clock.Clock`.

Every check and every contact action reads the *current* share from the store at the
moment of the call: a right removed by :meth:`ExtranetService.update` or a share
stopped by :meth:`ExtranetService.stop` takes effect on the very next call (X7, X8).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Final, Generic, TypeVar
from urllib.parse import urlsplit

import attrs

from severa_ext.clock import Clock
from severa_ext.domain import (
    Comment,
    CommentTarget,
    ContactPerson,
    Customer,
    Project,
    ProjectFile,
    ProjectLink,
    ProjectStatus,
    normalize_email,
)
from severa_ext.errors import (
    AccessDenied,
    ConfirmationRequired,
    EmailAddressError,
    ShareExists,
    ShareNotFound,
    ShareRefused,
    ValidationError,
)
from severa_ext.extranet.access import Action, Decision, decide, decide_right
from severa_ext.extranet.approvals import Approval, hour_fingerprint, hours_fingerprint
from severa_ext.extranet.audit import AuditEvent, AuditKind, AuditLog, MemoryAuditLog
from severa_ext.extranet.invites import Invite, Inviter
from severa_ext.extranet.rights import Right, validate_rights
from severa_ext.extranet.shares import Share, ShareStore
from severa_ext.extranet.views import ProjectView, project_view, target_visible

__all__ = [
    "MAX_COMMENT_LENGTH",
    "UNCHANGED",
    "ActionResult",
    "ExtranetService",
    "ShareResult",
    "Unchanged",
]

T = TypeVar("T")

MAX_COMMENT_LENGTH: Final = 10_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*$")


class Unchanged:
    """The type of :data:`UNCHANGED`: "leave this field as it is" in ``update``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = Unchanged()
"""Pass as ``valid_until`` to :meth:`ExtranetService.update` to keep the current expiry."""


@attrs.frozen
class ShareResult:
    """What :meth:`ExtranetService.share` returns.

    Attributes:
        share: the new share.
        event: its audit event.
        invite: the invitation to send for it (X6), when the service has an inviter;
            ``None`` otherwise. Its record is already stored.
    """

    share: Share
    event: AuditEvent
    invite: Invite | None = None


@attrs.frozen
class ActionResult(Generic[T]):
    """What a contact action returns: the new value, the updated project, the event.

    The host persists ``project`` (or just ``value``) and nothing else changes.

    Attributes:
        value: the new record: an ``Approval``, ``Comment``, ``ProjectFile``,
            ``ProjectLink`` or the new ``ProjectStatus``.
        project: the project with the action applied.
        event: the audit event (already appended to the service's audit log).
    """

    value: T
    project: Project
    event: AuditEvent


def _default_ids() -> str:
    return uuid.uuid4().hex


def _text(value: object, what: str, *, max_length: int = 1_000) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} must be a non-blank string, got {value!r}")
    if len(value) > max_length:
        raise ValidationError(f"{what} is {len(value)} characters long; the limit is {max_length}")
    return value.strip()


class ExtranetService:
    """Shares projects with customers' contact persons and enforces what each may do.

    Args:
        store: where shares live (``MemoryShareStore`` for tests and small hosts).
        clock: the time source; the service never reads the wall clock itself.
        audit: where audit events go (default: a new ``MemoryAuditLog``).
        ids: makes ids for new records (approvals, comments, files, links); default
            random UUID hex strings.
        inviter: issues and stores invitations (X6); without one, ``share`` sends none.
            An inviter without an audit log records into this service's log.
    """

    def __init__(
        self,
        store: ShareStore,
        *,
        clock: Clock,
        audit: AuditLog | None = None,
        ids: Callable[[], str] = _default_ids,
        inviter: Inviter | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.audit: AuditLog = MemoryAuditLog() if audit is None else audit
        self._ids = ids
        if inviter is not None and inviter.audit is None:
            inviter = attrs.evolve(inviter, audit=self.audit)
        self.inviter = inviter

    def __repr__(self) -> str:
        return f"ExtranetService(store={self.store!r}, audit={self.audit!r})"

    # --- time and audit ---------------------------------------------------------

    def _now(self) -> datetime:
        now = self.clock.now()
        if now.tzinfo is None:
            raise ValidationError("the service's clock returned a naive datetime")
        return now

    def _record(
        self,
        kind: str,
        *,
        actor: str,
        at: datetime,
        project_id: str | None,
        contact_id: str,
        before: Right | None = None,
        after: Right | None = None,
        version: int | None = None,
        detail: str = "",
    ) -> AuditEvent:
        event = AuditEvent(
            actor=actor,
            at=at,
            project_id=project_id,
            contact_id=contact_id,
            kind=kind,
            before_rights=before,
            after_rights=after,
            share_version=version,
            detail=detail,
        )
        self.audit.append(event)
        return event

    def _valid_until(self, value: object, now: datetime) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValidationError(f"valid_until must be a timezone-aware datetime, got {value!r}")
        if value <= now:
            raise ValidationError(
                f"valid_until {value.isoformat()} is not after now ({now.isoformat()})"
            )
        return value

    # --- sharing (host side) ------------------------------------------------------

    def check_contact(
        self, project: Project, contact: ContactPerson, *, customer: Customer | None = None
    ) -> str:
        """Check that ``contact`` may be chosen for a share of ``project`` (X3).

        Args:
            project: the project to share.
            contact: the contact person.
            customer: the project's customer card, if the host has it at hand; then the
                contact must also be listed on it.

        Returns:
            The contact's email address, normalized by ``email-validator``.

        Raises:
            ShareRefused: ``reason`` is ``"not-customer-contact"``, ``"missing-email"``
                or ``"invalid-email"``.
            ValidationError: ``customer`` is not the project's customer.
        """
        _check_project(project)
        if not isinstance(contact, ContactPerson):
            raise ValidationError(f"contact must be a ContactPerson, got {contact!r}")
        if customer is not None and not isinstance(customer, Customer):
            raise ValidationError(f"customer must be a Customer, got {customer!r}")
        if customer is not None and customer.id != project.customer_id:
            raise ValidationError(
                f"customer {customer.id!r} is not the customer {project.customer_id!r} "
                f"of project {project.id!r}"
            )
        if contact.customer_id != project.customer_id or (
            customer is not None and contact.id not in customer.contact_ids
        ):
            raise ShareRefused(
                f"contact {contact.id!r} is not a contact person of customer "
                f"{project.customer_id!r}, the customer of project {project.id!r} (X3)",
                reason="not-customer-contact",
            )
        try:
            return normalize_email(contact.email)
        except EmailAddressError as exc:
            if exc.reason == "missing":
                raise ShareRefused(
                    f"contact {contact.id!r} has no email address on the customer card (X3)",
                    reason="missing-email",
                ) from exc
            raise ShareRefused(
                f"contact {contact.id!r} has an invalid email address on the customer "
                f"card: {exc.reason} (X3)",
                reason="invalid-email",
            ) from exc

    def share(
        self,
        project: Project,
        contact: ContactPerson,
        rights: Right,
        *,
        actor: str,
        customer: Customer | None = None,
        valid_until: datetime | None = None,
    ) -> ShareResult:
        """Share ``project`` with ``contact`` under ``rights`` (X2, X3).

        A project whose earlier share with this contact was stopped can be shared again;
        the new share continues the pair's version count.

        Args:
            project: the project to share.
            contact: a contact person of the project's customer, with a valid email.
            rights: the share's rights (validated, X4/X5).
            actor: the host user who shares (for the audit trail).
            customer: the customer card, to check the contact is listed on it (X3).
            valid_until: when access ends by itself (``None``: no end).

        Returns:
            The :class:`ShareResult`; with an inviter, ``invite`` is the invitation to
            send (X6), already stored, superseding earlier open ones of the pair.

        Raises:
            ShareRefused: X3 (see :meth:`check_contact`).
            ShareExists: the pair already has a share that is not stopped.
            ShareConflict: a concurrent writer changed the pair first (nothing written).
            RightsError: the rights are inconsistent.
            ValidationError: bad ``valid_until``, ``actor`` or ``customer``.
            EmailAddressError: the inviter cannot address the contact (nothing written).
        """
        actor = _text(actor, "actor")
        validate_rights(rights)
        _check_project(project)
        self.check_contact(project, contact, customer=customer)
        now = self._now()
        valid_until = self._valid_until(valid_until, now)
        current = self.store.get(project.id, contact.id)
        if current is not None and not current.stopped:
            raise ShareExists(project.id, contact.id)
        share = Share(
            project_id=project.id,
            contact_id=contact.id,
            rights=rights,
            version=1 if current is None else current.version + 1,
            created_at=now,
            updated_at=now,
            valid_until=valid_until,
            created_by=actor,
        )
        inviter = self.inviter
        invite = (  # issued before anything is saved: a refusal writes nothing
            None
            if inviter is None
            else inviter.issuer.issue(
                share,
                contact,
                now=now,
                project_name=project.name,
                customer_name=None if customer is None else customer.name,
            )
        )
        self.store.save(share, expected_version=None if current is None else current.version)
        event = self._record(
            AuditKind.SHARE,
            actor=actor,
            at=now,
            project_id=project.id,
            contact_id=contact.id,
            after=rights,
            version=share.version,
            detail=_expiry_words(valid_until),
        )
        if inviter is not None and invite is not None:
            inviter.add(invite, actor=actor)
        return ShareResult(share=share, event=event, invite=invite)

    def _live(self, project_id: str, contact_id: str) -> Share:
        current = self.store.get(project_id, contact_id)
        if current is None or current.stopped:
            raise ShareNotFound(project_id, contact_id)
        return current

    def update(
        self,
        project_id: str,
        contact_id: str,
        rights: Right,
        *,
        actor: str,
        valid_until: datetime | Unchanged | None = UNCHANGED,
    ) -> Share:
        """Change a share's rights (and optionally its expiry); effective at once (X7).

        The version always grows by one, so host sessions notice the change.

        Args:
            project_id: the shared project.
            contact_id: the contact.
            rights: the new rights (validated).
            actor: the host user who changes them.
            valid_until: a new expiry, ``None`` for none, or ``UNCHANGED``.

        Returns:
            The updated share.

        Raises:
            ShareNotFound: no share of the pair, or it was stopped.
            ShareConflict: a concurrent writer changed the share first (nothing written).
            RightsError: the rights are inconsistent.
            ValidationError: bad ``valid_until`` or ``actor``.
        """
        actor = _text(actor, "actor")
        validate_rights(rights)
        now = self._now()
        current = self._live(project_id, contact_id)
        new_expiry = (
            current.valid_until
            if isinstance(valid_until, Unchanged)
            else self._valid_until(valid_until, now)
        )
        share = attrs.evolve(
            current,
            rights=rights,
            valid_until=new_expiry,
            version=current.version + 1,
            updated_at=now,
        )
        self.store.save(share, expected_version=current.version)
        self._record(
            AuditKind.UPDATE,
            actor=actor,
            at=now,
            project_id=project_id,
            contact_id=contact_id,
            before=current.rights,
            after=rights,
            version=share.version,
            detail=_expiry_words(new_expiry) if new_expiry != current.valid_until else "",
        )
        return share

    def stop(self, project_id: str, contact_id: str, *, actor: str, confirm: bool = False) -> Share:
        """Stop sharing a project with a contact, at once (X8).

        Args:
            project_id: the shared project.
            contact_id: the contact.
            actor: the host user who stops it.
            confirm: must be ``True``: the seed asks for an explicit confirmation.

        Returns:
            The stopped share (kept as a tombstone; it grants nothing).

        Raises:
            ConfirmationRequired: ``confirm`` is not ``True``.
            ShareNotFound: no share of the pair, or it was already stopped.
            ShareConflict: a concurrent writer changed the share first; re-read and retry.
        """
        if confirm is not True:
            raise ConfirmationRequired(
                f"stopping the share of project {project_id!r} with contact {contact_id!r} "
                "needs confirm=True (X8)"
            )
        actor = _text(actor, "actor")
        now = self._now()
        current = self._live(project_id, contact_id)
        share = attrs.evolve(current, stopped_at=now, updated_at=now, version=current.version + 1)
        self.store.save(share, expected_version=current.version)
        self._record(
            AuditKind.STOP,
            actor=actor,
            at=now,
            project_id=project_id,
            contact_id=contact_id,
            before=current.rights,
            version=share.version,
        )
        if self.inviter is not None:  # its open invites can no longer be used (X8)
            self.inviter.revoke_share(project_id, contact_id, now=now, actor=actor)
        return share

    def contact_changed(self, contact: ContactPerson, *, actor: str) -> tuple[AuditEvent, ...]:
        """Tell the service that a contact person's card changed (e.g. the email).

        Shares are not changed; every share of the contact that is not stopped gets a
        ``contact_changed`` audit event. With an inviter, the contact's open invites
        that were sent to an address the card no longer holds are revoked here.

        Args:
            contact: the contact as it is now.
            actor: the host user (or process) that changed the card.

        Returns:
            The audit events recorded (one per share that is not stopped).
        """
        actor = _text(actor, "actor")
        if not isinstance(contact, ContactPerson):
            raise ValidationError(f"contact must be a ContactPerson, got {contact!r}")
        now = self._now()
        if self.inviter is not None:  # invites sent to an address no longer on the card
            self.inviter.contact_changed(contact, now=now, actor=actor)
        return tuple(
            self._record(
                AuditKind.CONTACT_CHANGED,
                actor=actor,
                at=now,
                project_id=share.project_id,
                contact_id=contact.id,
                before=share.rights,
                after=share.rights,
                version=share.version,
                detail="contact card changed",
            )
            for share in self.store.for_contact(contact.id)
            if not share.stopped
        )

    # --- checks -----------------------------------------------------------------------

    def get_share(self, project_id: str, contact_id: str) -> Share | None:
        """Return the pair's current share (stopped ones too), or ``None``."""
        return self.store.get(project_id, contact_id)

    def authorize(
        self,
        contact_id: str,
        project_id: str,
        action: Action,
        *,
        expected_version: int | None = None,
    ) -> Decision:
        """Decide whether the contact may take ``action`` on the project now.

        Reads the current share (X7, X8). With ``expected_version`` (the version a host
        session saw at login or last request), a changed share is refused with reason
        ``version-changed`` so the session re-reads the rights.

        Args:
            contact_id: the contact.
            project_id: the project.
            action: the :class:`~severa_ext.extranet.access.Action`.
            expected_version: the share version the caller saw, if any.

        Returns:
            The :class:`~severa_ext.extranet.access.Decision`; never raises for a refusal.
        """
        return decide(
            self.store.get(project_id, contact_id),
            action,
            project_id=project_id,
            contact_id=contact_id,
            now=self._now(),
            expected_version=expected_version,
        )

    def explain(self, contact_id: str, project_id: str, right: Right) -> Decision:
        """Say whether and why the contact has ``right`` on the project now.

        Args:
            contact_id: the contact.
            project_id: the project.
            right: a single right or a group (all members are needed).

        Returns:
            A :class:`~severa_ext.extranet.access.Decision` whose ``share`` is the share
            that grants the right (when allowed) and whose ``missing`` names what is
            lacking (when refused for ``missing-right``).
        """
        return decide_right(
            self.store.get(project_id, contact_id),
            right,
            project_id=project_id,
            contact_id=contact_id,
            now=self._now(),
        )

    def projects_for(self, contact_id: str) -> tuple[Share, ...]:
        """The X11 menu: the contact's live, unexpired shares, ordered by project id.

        Args:
            contact_id: the contact.

        Returns:
            The shares; the host shows each project's name from its own records.
        """
        now = self._now()
        return tuple(
            sorted(
                (s for s in self.store.for_contact(contact_id) if s.active(now)),
                key=lambda s: s.project_id,
            )
        )

    def shares_of(self, project_id: str) -> tuple[Share, ...]:
        """The project's shares that are not stopped (expired ones included), for admins.

        Args:
            project_id: the project.

        Returns:
            The shares, ordered by contact id.
        """
        return tuple(
            sorted(
                (s for s in self.store.for_project(project_id) if not s.stopped),
                key=lambda s: s.contact_id,
            )
        )

    def _require(
        self,
        contact_id: str,
        project: Project,
        action: Action,
        expected_version: int | None,
    ) -> tuple[Share, datetime]:
        _check_project(project)
        project_id = project.id
        now = self._now()
        decision = decide(
            self.store.get(project_id, contact_id),
            action,
            project_id=project_id,
            contact_id=contact_id,
            now=now,
            expected_version=expected_version,
        )
        if not decision.allowed or decision.share is None:
            raise AccessDenied(decision.message, decision=decision)
        return decision.share, now

    def view(
        self, contact_id: str, project: Project, *, expected_version: int | None = None
    ) -> ProjectView:
        """Return what the contact may see of ``project`` under its current share.

        Args:
            contact_id: the contact.
            project: the full project as the host holds it.
            expected_version: the share version the session saw, if any.

        Returns:
            The :class:`~severa_ext.extranet.views.ProjectView`; ungranted sections are
            ``None`` and no value of theirs appears anywhere in it (X5, X7).

        Raises:
            AccessDenied: no live share of the pair (``decision.reason`` says why).
        """
        share, _ = self._require(contact_id, project, Action.OPEN, expected_version)
        return project_view(project, share)

    # --- contact actions ----------------------------------------------------------------

    def approve_hours(
        self,
        contact_id: str,
        project: Project,
        hour_ids: Iterable[str],
        *,
        expected_version: int | None = None,
    ) -> ActionResult[Approval]:
        """Record the customer's approval of some hour entries (X4).

        The entries get ``customer_approval_id`` set; their billable status and amount
        are untouched (approval never affects invoicing).

        Args:
            contact_id: the approving contact.
            project: the project as it is now.
            hour_ids: the entries to approve (at least one; each must exist).
            expected_version: the share version the session saw, if any.

        Returns:
            The :class:`ActionResult` with the immutable
            :class:`~severa_ext.extranet.approvals.Approval`.

        Raises:
            AccessDenied: the current share does not allow ``APPROVE_HOURS``.
            ValidationError: no ids, or ids that are not entries of the project.
        """
        share, now = self._require(contact_id, project, Action.APPROVE_HOURS, expected_version)
        if isinstance(hour_ids, str):
            raise ValidationError(f"hour_ids must be a collection of ids, got {hour_ids!r}")
        wanted = sorted(set(hour_ids))
        if not wanted:
            raise ValidationError("approve_hours needs at least one hour entry id")
        by_id = {h.id: h for h in project.work_hours}
        unknown = [h for h in wanted if h not in by_id]
        if unknown:
            raise ValidationError(
                f"no hour entries {', '.join(map(repr, unknown))} in project {project.id!r}"
            )
        prints = tuple(hour_fingerprint(by_id[h]) for h in wanted)
        approval = Approval(
            id=self._ids(),
            project_id=project.id,
            contact_id=contact_id,
            approved_at=now,
            hour_ids=tuple(wanted),
            fingerprints=prints,
            fingerprint=hours_fingerprint(prints),
            share_version=share.version,
        )
        chosen = set(wanted)
        updated = attrs.evolve(
            project,
            work_hours=tuple(
                attrs.evolve(h, customer_approval_id=approval.id) if h.id in chosen else h
                for h in project.work_hours
            ),
        )
        event = self._action_event(
            AuditKind.APPROVE,
            share,
            now,
            f"approval {approval.id}: hours {', '.join(wanted)}",
        )
        return ActionResult(approval, updated, event)

    def _action_event(self, kind: str, share: Share, now: datetime, detail: str) -> AuditEvent:
        return self._record(
            kind,
            actor=share.contact_id,
            at=now,
            project_id=share.project_id,
            contact_id=share.contact_id,
            before=share.rights,
            after=share.rights,
            version=share.version,
            detail=detail,
        )

    def comment(
        self,
        contact_id: str,
        project: Project,
        text: str,
        *,
        target: CommentTarget = CommentTarget.SUMMARY,
        target_id: str | None = None,
        expected_version: int | None = None,
    ) -> ActionResult[Comment]:
        """Comment on the summary, a phase, a file or a link the contact can see (X4).

        Args:
            contact_id: the commenting contact.
            project: the project as it is now.
            text: the comment (non-blank, at most 10,000 characters).
            target: what the comment is about.
            target_id: the phase, file or link id (``None`` for the summary).
            expected_version: the share version the session saw, if any.

        Returns:
            The :class:`ActionResult` with the new ``Comment`` (author: the contact).

        Raises:
            AccessDenied: the share lacks ``COMMENT`` or the right that shows the target.
            ValidationError: blank or too long text, or no such target in the project.
        """
        try:
            target = CommentTarget(target)
        except ValueError as exc:
            raise ValidationError(f"unknown comment target {target!r}") from exc
        action = {
            CommentTarget.SUMMARY: Action.COMMENT_SUMMARY,
            CommentTarget.PHASE: Action.COMMENT_PHASE,
            CommentTarget.FILE: Action.COMMENT_FILE,
            CommentTarget.LINK: Action.COMMENT_LINK,
        }[target]
        share, now = self._require(contact_id, project, action, expected_version)
        body = _text(text, "comment text", max_length=MAX_COMMENT_LENGTH)
        if not target_visible(project, share.rights, target, target_id):
            where = (
                "the summary takes no target_id"
                if target is CommentTarget.SUMMARY
                else (f"no {target.value} {target_id!r} in project {project.id!r}")
            )
            raise ValidationError(f"cannot comment: {where}")
        comment = Comment(
            id=self._ids(),
            target=target,
            target_id=target_id,
            author=contact_id,
            text=body,
            created_at=now,
        )
        updated = attrs.evolve(project, comments=(*project.comments, comment))
        on = target.value if target_id is None else f"{target.value} {target_id}"
        event = self._action_event(AuditKind.COMMENT, share, now, f"comment {comment.id} on {on}")
        return ActionResult(comment, updated, event)

    def add_file(
        self,
        contact_id: str,
        project: Project,
        name: str,
        *,
        size: int = 0,
        content_type: str = "application/octet-stream",
        expected_version: int | None = None,
    ) -> ActionResult[ProjectFile]:
        """Add a file to the project (X4, ``ADD_FILES``); the host stores the bytes.

        Args:
            contact_id: the contact adding it.
            project: the project as it is now.
            name: the file name (no path separators or control characters).
            size: its size in bytes.
            content_type: its media type, ``type/subtype``.
            expected_version: the share version the session saw, if any.

        Returns:
            The :class:`ActionResult` with the new ``ProjectFile``.

        Raises:
            AccessDenied: the current share does not allow ``ADD_FILES``.
            ValidationError: bad name, size or content type.
        """
        share, now = self._require(contact_id, project, Action.ADD_FILE, expected_version)
        clean = _text(name, "file name", max_length=255)
        if _CONTROL.search(clean) or "/" in clean or "\\" in clean or clean in {".", ".."}:
            raise ValidationError(f"file name {name!r} must not hold paths or control characters")
        _check_size(size)
        _check_content_type(content_type)
        added = ProjectFile(
            id=self._ids(),
            name=clean,
            size=size,
            content_type=content_type,
            added_by=contact_id,
            added_at=now,
        )
        updated = attrs.evolve(project, files=(*project.files, added))
        event = self._action_event(AuditKind.ADD_FILE, share, now, f"file {added.id}")
        return ActionResult(added, updated, event)

    def add_link(
        self,
        contact_id: str,
        project: Project,
        url: str,
        *,
        title: str = "",
        expected_version: int | None = None,
    ) -> ActionResult[ProjectLink]:
        """Add a link to the project (X4, ``ADD_FILES``).

        Args:
            contact_id: the contact adding it.
            project: the project as it is now.
            url: an absolute ``http`` or ``https`` URL.
            title: its title (default: the URL).
            expected_version: the share version the session saw, if any.

        Returns:
            The :class:`ActionResult` with the new ``ProjectLink``.

        Raises:
            AccessDenied: the current share does not allow ``ADD_FILES``.
            ValidationError: the URL is not an absolute http(s) URL, or the title is bad.
        """
        share, now = self._require(contact_id, project, Action.ADD_LINK, expected_version)
        clean_url = _check_url(url)
        clean_title = _check_title(title) or clean_url
        link = ProjectLink(
            id=self._ids(),
            title=clean_title,
            url=clean_url,
            added_by=contact_id,
            added_at=now,
        )
        updated = attrs.evolve(project, links=(*project.links, link))
        event = self._action_event(AuditKind.ADD_LINK, share, now, f"link {link.id}")
        return ActionResult(link, updated, event)

    def change_status(
        self,
        contact_id: str,
        project: Project,
        status: ProjectStatus,
        *,
        expected_version: int | None = None,
    ) -> ActionResult[ProjectStatus]:
        """Change the project's status (X5, ``CHANGE_STATUS``).

        Args:
            contact_id: the contact.
            project: the project as it is now.
            status: the new status (one of the host's statuses).
            expected_version: the share version the session saw, if any.

        Returns:
            The :class:`ActionResult` with the new status.

        Raises:
            AccessDenied: the current share does not allow ``CHANGE_STATUS``.
            ValidationError: ``status`` is not a ``ProjectStatus``.
        """
        share, now = self._require(contact_id, project, Action.CHANGE_STATUS, expected_version)
        _check_status(status)
        before = "none" if project.status is None else project.status.id
        updated = attrs.evolve(project, status=status)
        event = self._action_event(
            AuditKind.CHANGE_STATUS, share, now, f"status {before} -> {status.id}"
        )
        return ActionResult(status, updated, event)


def _expiry_words(valid_until: datetime | None) -> str:
    return "" if valid_until is None else f"valid until {valid_until.isoformat()}"


def _check_size(size: object) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValidationError(f"file size must be a non-negative int, got {size!r}")


def _check_content_type(content_type: object) -> None:
    if not isinstance(content_type, str) or not _CONTENT_TYPE.match(content_type):
        raise ValidationError(f"content type {content_type!r} is not type/subtype")


def _check_url(url: object) -> str:
    if not isinstance(url, str) or _CONTROL.search(url) or " " in url.strip():
        raise ValidationError(f"link URL {url!r} is not a string without spaces or controls")
    clean = url.strip()
    try:
        parts = urlsplit(clean)
        host = parts.hostname
    except ValueError as exc:
        raise ValidationError(f"link URL {url!r} cannot be parsed: {exc}") from exc
    if parts.scheme.lower() not in {"http", "https"} or not host:
        raise ValidationError(f"link URL {url!r} must be an absolute http(s) URL")
    if len(clean) > 2_048:
        raise ValidationError(f"link URL is {len(clean)} characters long; the limit is 2048")
    return clean


def _check_title(title: object) -> str:
    if not isinstance(title, str) or _CONTROL.search(title) or len(title) > 1_000:
        raise ValidationError(f"link title {title!r} is not acceptable")
    return title.strip()


def _check_status(status: object) -> None:
    if not isinstance(status, ProjectStatus):
        raise ValidationError(f"status must be a ProjectStatus, got {status!r}")


def _check_project(project: object) -> None:
    if not isinstance(project, Project):
        raise ValidationError(f"project must be a Project, got {project!r}")
