"""Extranet rights: what one share lets a contact person see and do (X4, X5).

A share's rights are one :class:`Right` flag value. The thirteen single rights are
the seed's options; ``FINANCE``, ``PHASES`` and ``OTHER`` are the seed's three view
groups (X5) and are aliases for the union of their members, so ``Right.FINANCE in
rights`` asks whether *both* finance rights are granted.

Some rights only make sense with another one (:data:`DEPENDENCIES`); a set that
lacks a needed right is refused by :func:`validate_rights` with a
:class:`~severa_ext.errors.RightsError` that names the missing right. ``COMMENT`` needs
nothing: the summary is visible to every share, and a contact comments only on what
its other rights show (phases with a Phases view right, files and links with
``VIEW_FILES``), which the access check decides per comment.

Rights serialize as a sorted list of names (:func:`rights_to_names`,
:func:`rights_from_names`, :func:`register_rights_hooks` for cattrs converters).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from severa_ext.errors import RightsError

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "DEPENDENCIES",
    "NO_RIGHTS",
    "Right",
    "register_rights_hooks",
    "rights_from_names",
    "rights_to_names",
    "validate_rights",
    "with_dependencies",
]


class Right(enum.Flag):
    """One Extranet right, or a combination of rights (X4, X5).

    Extra rights (X4): ``APPROVE_HOURS``, ``COMMENT``, ``ADD_FILE`` (add files and
    links; ``ADD_FILES`` is a deprecated alias of it, kept so code and stored names
    written with the earlier name keep working).
    Finance view (X5): ``VIEW_BILLING`` (invoices), ``VIEW_BILLABLE`` (billable amounts).
    Phases view (X5): ``VIEW_GANTT``, ``VIEW_TREE``, ``VIEW_HOURS``, ``VIEW_HOUR_TIMES``
    (start and end times of hour entries), ``VIEW_ESTIMATES``.
    Other view (X5): ``VIEW_STATUS``, ``CHANGE_STATUS``, ``VIEW_FILES`` (files & links).

    Groups: ``FINANCE``, ``PHASES``, ``OTHER`` (aliases of their members' union).
    ``Right(0)`` is "no rights".
    """

    APPROVE_HOURS = enum.auto()
    COMMENT = enum.auto()
    ADD_FILE = enum.auto()
    VIEW_BILLING = enum.auto()
    VIEW_BILLABLE = enum.auto()
    VIEW_GANTT = enum.auto()
    VIEW_TREE = enum.auto()
    VIEW_HOURS = enum.auto()
    VIEW_HOUR_TIMES = enum.auto()
    VIEW_ESTIMATES = enum.auto()
    VIEW_STATUS = enum.auto()
    CHANGE_STATUS = enum.auto()
    VIEW_FILES = enum.auto()

    FINANCE = VIEW_BILLING | VIEW_BILLABLE
    PHASES = VIEW_GANTT | VIEW_TREE | VIEW_HOURS | VIEW_HOUR_TIMES | VIEW_ESTIMATES
    OTHER = VIEW_STATUS | CHANGE_STATUS | VIEW_FILES

    ADD_FILES = ADD_FILE
    """Deprecated alias of ``ADD_FILE`` (the name of ``Action.ADD_FILE``); the same member."""


NO_RIGHTS: Final = Right(0)
"""The empty set of rights (a share needs no right to open the project, X11)."""

DEPENDENCIES: Mapping[Right, Right] = MappingProxyType(
    {
        Right.VIEW_HOUR_TIMES: Right.VIEW_HOURS,
        Right.APPROVE_HOURS: Right.VIEW_HOURS,
        Right.CHANGE_STATUS: Right.VIEW_STATUS,
        Right.ADD_FILE: Right.VIEW_FILES,
    }
)
"""Each right that needs another one, mapped to the right it needs."""

_GROUPS: Mapping[str, Right] = MappingProxyType(
    {"FINANCE": Right.FINANCE, "PHASES": Right.PHASES, "OTHER": Right.OTHER}
)


def _check_type(rights: object) -> Right:
    if not isinstance(rights, Right):
        raise RightsError(f"rights must be a Right flag value, got {rights!r}")
    return rights


def validate_rights(rights: Right) -> Right:
    """Check that every right in ``rights`` has the rights it depends on.

    Args:
        rights: the rights of a share.

    Returns:
        ``rights`` unchanged, so the call can be used inline.

    Raises:
        RightsError: a right lacks the right it needs; ``missing`` names the missing
            rights and the message says which granted right needs which.
    """
    rights = _check_type(rights)
    problems = [
        (needer, needed)
        for needer, needed in DEPENDENCIES.items()
        if needer in rights and needed not in rights
    ]
    if problems:
        missing = tuple(sorted({_name(needed) for _, needed in problems}))
        words = "; ".join(f"{_name(a)} needs {_name(b)}" for a, b in problems)
        raise RightsError(f"inconsistent rights: {words}", missing=missing)
    return rights


def with_dependencies(rights: Right) -> Right:
    """Return ``rights`` plus every right they depend on (for pre-filling a form).

    Args:
        rights: any combination of rights.

    Returns:
        The smallest valid superset of ``rights``.
    """
    result = _check_type(rights)
    for needer, needed in DEPENDENCIES.items():
        if needer in result:
            result |= needed
    return result


def _name(right: Right) -> str:
    name = right.name
    if name is None:  # pragma: no cover - only single rights are named here
        raise RightsError(f"{right!r} is not a single right")
    return name


def rights_to_names(rights: Right) -> list[str]:
    """Return the sorted names of the single rights in ``rights``.

    Args:
        rights: any combination of rights (``Right(0)`` gives ``[]``).

    Returns:
        The names, e.g. ``["VIEW_HOURS", "VIEW_HOUR_TIMES"]``; groups are expanded.
    """
    return sorted(_name(member) for member in _check_type(rights))


def rights_from_names(names: Iterable[str]) -> Right:
    """Parse a list of right names (group names ``FINANCE``/``PHASES``/``OTHER`` too).

    The result is validated with :func:`validate_rights`.

    Args:
        names: right names, exactly as the members are spelt.

    Returns:
        The combined rights.

    Raises:
        RightsError: ``names`` is not a list of strings (``unknown`` lists what is not a
            right), or the rights are inconsistent (``missing``).
    """
    return _from_names(names)


def _from_names(names: object) -> Right:
    if isinstance(names, str | bytes) or not isinstance(names, Iterable):
        raise RightsError(f"rights must be a list of right names, got {names!r}")
    items = list(names)
    unknown = sorted(
        {
            repr(n) if not isinstance(n, str) else n
            for n in items
            if not isinstance(n, str) or (n not in Right.__members__ and n not in _GROUPS)
        }
    )
    if unknown:
        raise RightsError(
            f"unknown right name(s): {', '.join(unknown)}; "
            f"known: {', '.join(rights_to_names(~NO_RIGHTS))}, FINANCE, PHASES, OTHER",
            unknown=tuple(unknown),
        )
    result = NO_RIGHTS
    for name in items:
        result |= _GROUPS.get(name) or Right[name]  # every name was checked above
    return validate_rights(result)


def _unstructure(rights: Right) -> list[str]:
    return rights_to_names(rights)


def _structure(value: Any, _type: Any) -> Right:
    return rights_from_names(value)


def register_rights_hooks(converter: cattrs.BaseConverter) -> None:
    """Teach a cattrs converter to read and write :class:`Right` as a sorted name list.

    Args:
        converter: the converter to extend (for example a host's own).
    """
    converter.register_unstructure_hook(Right, _unstructure)
    converter.register_structure_hook(Right, _structure)
