"""Users, activities and activity types: the Severa side of the calendar sync."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, date, datetime

import attrs

from severa_ext.domain._validators import aware, non_blank
from severa_ext.errors import ValidationError

__all__ = ["Activity", "ActivityCategory", "ActivityType", "User"]


def _ends_before_start(start: datetime | date, end: datetime | date) -> bool:
    # By instant, not by wall clock: same-zone comparisons ignore ``fold`` (DST).
    if isinstance(start, datetime) and isinstance(end, datetime):
        return end.astimezone(UTC) < start.astimezone(UTC)
    return end < start


def _categories(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValidationError("Activity.categories must be a sequence of strings, not a string")
    return tuple(value)


@attrs.frozen
class User:
    """A Severa user: the only person who may turn on their own sync (S2).

    Attributes:
        email: the user's own address; the calendar account must match it (S10).
    """

    id: str = attrs.field(validator=non_blank)
    email: str = attrs.field(validator=non_blank)
    name: str = ""
    is_admin: bool = False


class ActivityCategory(enum.Enum):
    """What an activity type is for. Project tasks are never sent to a calendar (S8)."""

    CALENDAR_ENTRY = "calendar-entry"
    PROJECT_TASK = "project-task"


@attrs.frozen
class ActivityType:
    """A Severa ``ActivityType`` (e.g. *Meeting*, *Personal*, *Customer visit*)."""

    id: str = attrs.field(validator=non_blank)
    name: str = attrs.field(validator=non_blank)
    category: ActivityCategory = ActivityCategory.CALENDAR_ENTRY

    @property
    def is_project_task(self) -> bool:
        """True for project tasks, which never go to the calendar (S8)."""
        return self.category is ActivityCategory.PROJECT_TASK


@attrs.frozen
class Activity:
    """A user's activity in Severa: a calendar entry or a project task.

    ``start``/``end`` are both aware datetimes, or both dates for an all-day activity
    (``end`` exclusive).

    Attributes:
        sync_key: the key the calendar sync stamped on this activity, if any (S3).
        version: the store's version tag of the stored activity (the sync's etag);
            ``None`` for an activity not stored yet. The store sets it on every write.
    """

    id: str = attrs.field(validator=non_blank)
    user_id: str = attrs.field(validator=non_blank)
    activity_type_id: str = attrs.field(validator=non_blank)
    title: str = attrs.field(validator=attrs.validators.instance_of(str))
    start: datetime | date = attrs.field(validator=aware)
    end: datetime | date = attrs.field(validator=aware)
    location: str = ""
    description: str = ""
    is_private: bool = False
    categories: tuple[str, ...] = attrs.field(default=(), converter=_categories)
    last_modified: datetime | None = attrs.field(default=None, validator=aware)
    sync_key: str | None = None
    version: str | None = None

    def __attrs_post_init__(self) -> None:
        if isinstance(self.start, datetime) != isinstance(self.end, datetime):
            raise ValidationError(
                f"Activity {self.id!r}: start and end must both be datetimes or both dates"
            )
        if _ends_before_start(self.start, self.end):
            raise ValidationError(
                f"Activity {self.id!r}: end {self.end} is before start {self.start}"
            )
