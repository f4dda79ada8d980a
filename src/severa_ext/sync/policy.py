"""The sync policy: which items travel, which type incoming items get, who wins.

Pure values, no I/O and no clock (``now`` is an argument). Side A is the Severa side
by convention (its items carry ``activity_type`` and ``project_task``), side B is a
calendar. The seed rules decided here:

* **S8**: only activities of the selected types go out to the calendar, and never
  project tasks.
* **S9**: everything in the calendar comes in; a private entry gets the *Personal*
  type when the settings name one that exists, every other entry the *default*
  type; an entry that is already linked keeps the type it has. A Personal type that
  side A does not have is a misconfiguration to report, never a reason to refuse an
  entry: :meth:`SyncPolicy.for_types` falls back to the default type.
* The policy decides what is sent *for the first time*: an item that later leaves
  the policy (its type changed) or the window is **not** deleted on the other side,
  and a linked pair stays linked.
* Linking is not sending: an activity the policy does not send is still linked to
  a copy the calendar already holds (S3, instead of that copy coming in twice), and
  from then on the link governs, as above (see ``severa_ext.sync.planner``).
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from datetime import UTC, datetime

import attrs

from severa_ext.errors import ValidationError
from severa_ext.sync.items import CalendarItem, Side, Window

__all__ = ["ConflictRule", "SyncPolicy", "content_copy", "personal_fallback"]


class ConflictRule(enum.Enum):
    """Who wins a field both sides changed since the last sync.

    Attributes:
        NEWEST_WINS: the side whose item has the newer ``last_modified`` wins; ties
            (or unknown times) go to side A, the Severa side.
        A_WINS: side A always wins.
        B_WINS: side B always wins.
    """

    NEWEST_WINS = "newest-wins"
    A_WINS = "a-wins"
    B_WINS = "b-wins"


def content_copy(
    item: CalendarItem, *, activity_type: str | None, project_task: bool
) -> CalendarItem:
    """``item``'s content with no identity (id, etag, sync key, ``last_modified``)
    and the given activity fields.

    The hot path of every create and every stored base. An item is frozen, so when
    ``item`` already is that content it is returned itself: a create's content, the
    link's base and its intent then share one value instead of equal copies. A copy
    is built directly (positional arguments, in field order) instead of through
    ``attrs.evolve``.
    """
    if (
        item.id is None
        and item.etag is None
        and item.sync_key is None
        and item.last_modified is None
        and item.activity_type == activity_type
        and item.project_task == project_task
    ):
        return item
    return CalendarItem(
        item.title,
        item.start,
        item.end,
        item.location,
        item.body,
        item.private,
        item.show_as,
        item.categories,
        None,  # last_modified
        None,  # id
        None,  # etag
        None,  # sync_key
        item.series_id,
        item.original_start,
        activity_type,
        project_task,
    )


def personal_fallback(
    personal_type: str | None, default_type: str | None, known_types: Collection[str]
) -> str | None:
    """The warning when ``personal_type`` is not among ``known_types`` (S9), else ``None``.

    The one wording of the fallback, for the engine's journal and the activation
    check: private calendar entries then get ``default_type``.
    """
    if not personal_type or personal_type in known_types:
        return None
    return (
        f"personal type {personal_type!r} is not an activity type of side A: "
        f"private calendar entries get the default type {default_type!r} (S9)"
    )


def _type_set(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        raise ValidationError("SyncPolicy.outgoing_types must be a collection of type ids")
    return frozenset(value)


def _days(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or value < 0:
        raise ValidationError(f"SyncPolicy.{attribute.name} must be an int >= 0, got {value!r}")


@attrs.frozen
class SyncPolicy:
    """The rules of one sync pair (the organisation settings of S8/S9 plus the window).

    Attributes:
        outgoing_types: activity type ids sent from Severa to the calendar (S8).
        default_type: the activity type incoming calendar entries get (S9); required
            when ``activity_rules`` is on.
        personal_type: the type private entries get, if the settings have one (S9).
        conflict_rule: who wins a field both sides changed.
        past_days, future_days: the sync window around ``now``.
        activity_rules: apply S8/S9 (side A holds activities). Off for plain
            calendar <-> calendar sync; see :meth:`calendars`.

    Raises:
        ValidationError: a missing default type, a negative day count.

    Example:
        >>> policy = SyncPolicy(outgoing_types={"meeting"}, default_type="other")
        >>> policy.conflict_rule
        <ConflictRule.NEWEST_WINS: 'newest-wins'>
    """

    outgoing_types: frozenset[str] = attrs.field(factory=frozenset, converter=_type_set)
    default_type: str | None = None
    personal_type: str | None = None
    conflict_rule: ConflictRule = attrs.field(
        default=ConflictRule.NEWEST_WINS, validator=attrs.validators.instance_of(ConflictRule)
    )
    past_days: int = attrs.field(default=30, validator=_days)
    future_days: int = attrs.field(default=365, validator=_days)
    activity_rules: bool = True

    def __attrs_post_init__(self) -> None:
        if self.activity_rules and not self.default_type:
            raise ValidationError(
                "SyncPolicy.default_type is required: incoming calendar entries need an "
                "activity type (S9)"
            )

    @classmethod
    def calendars(
        cls,
        *,
        conflict_rule: ConflictRule = ConflictRule.NEWEST_WINS,
        past_days: int = 30,
        future_days: int = 365,
    ) -> SyncPolicy:
        """A policy for plain calendar <-> calendar sync: everything travels both ways."""
        return cls(
            conflict_rule=conflict_rule,
            past_days=past_days,
            future_days=future_days,
            activity_rules=False,
        )

    def window(self, now: datetime) -> Window:
        """The sync window around ``now``: ``past_days`` back, ``future_days`` ahead.

        Both edges fall on midnight UTC, so the window moves once a day, not every
        run: a delta cursor taken for it stays valid all day (a new window means a
        full listing).
        """
        day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return Window.around(day, past_days=self.past_days, future_days=self.future_days)

    def may_go_out(self, item: CalendarItem, *, linked: bool) -> bool:
        """True when the side-A ``item`` may be created on side B: the one S8 rule.

        A project task never goes to the calendar. An entry not linked yet goes out
        only when its type is one of ``outgoing_types``; a linked entry (restored
        after its calendar copy was deleted) is governed by its link, not by the type.
        """
        if not self.activity_rules:
            return True
        if item.project_task:
            return False
        if linked:
            return True
        return item.activity_type is not None and item.activity_type in self.outgoing_types

    def sends(self, item: CalendarItem) -> bool:
        """True when a not yet linked side-A item goes out to side B (S8):
        ``may_go_out(item, linked=False)``."""
        return self.may_go_out(item, linked=False)

    def incoming_type(self, item: CalendarItem, *, current: str | None = None) -> str | None:
        """The activity type a side-B item gets on side A (S9).

        Args:
            item: the calendar entry.
            current: the type of the linked activity, if there is one: it is kept.
        """
        if not self.activity_rules:
            return current
        if current is not None:
            return current
        if item.private and self.personal_type:
            return self.personal_type
        return self.default_type

    def for_types(self, known_types: Collection[str]) -> tuple[SyncPolicy, str | None]:
        """This policy as it applies to side A's activity types, and what falls back (S9).

        S9 gives a private entry the Personal type only if such a type exists. When
        ``personal_type`` names a type that is not in ``known_types`` (deleted,
        deactivated, misspelt), private entries get the default type instead: the
        entry still comes in, and the returned warning says why (the engine journals
        it once, S6).

        Args:
            known_types: the ids of the activity types side A accepts.

        Returns:
            ``(policy, warning)``: the policy to plan with (``personal_type`` cleared
            when unknown) and the warning, ``None`` when nothing falls back.

        Example:
            >>> policy = SyncPolicy(default_type="meeting", personal_type="holiday")
            >>> effective, warning = policy.for_types({"meeting"})
            >>> effective.personal_type is None
            True
            >>> warning.endswith("get the default type 'meeting' (S9)")
            True
        """
        if not self.activity_rules:
            return self, None
        warning = personal_fallback(self.personal_type, self.default_type, known_types)
        if warning is None:
            return self, None
        return attrs.evolve(self, personal_type=None), warning

    def to_side(
        self, side: Side, content: CalendarItem, existing: CalendarItem | None = None
    ) -> CalendarItem:
        """``content`` shaped for ``side``: what the engine writes there.

        On side A the activity fields come from ``existing`` (a linked item keeps its
        type and project flag) or from S9 for a new one; on side B they are cleared.
        Identity (id, etag, sync key) and ``last_modified`` are dropped.
        """
        if side == "a":
            current = existing.activity_type if existing is not None else None
            return content_copy(
                content,
                activity_type=self.incoming_type(content, current=current),
                project_task=existing.project_task if existing is not None else False,
            )
        return content_copy(content, activity_type=None, project_task=False)

    def winner(self, a: CalendarItem, b: CalendarItem) -> Side:
        """The side that wins a field both changed, by ``conflict_rule``."""
        if self.conflict_rule is ConflictRule.A_WINS:
            return "a"
        if self.conflict_rule is ConflictRule.B_WINS:
            return "b"
        if a.last_modified is not None and b.last_modified is not None:
            return "b" if b.last_modified > a.last_modified else "a"
        return "a"
