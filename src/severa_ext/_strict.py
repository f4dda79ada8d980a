"""Strict structuring of untrusted documents (the activities file, the CLI config).

A hand-edited file may hold anything JSON or TOML can say: a list where an object
belongs, ``null`` for a title, ``true`` for a number, a 5,000-digit integer, 200,000
levels of nesting. cattrs' default hooks coerce (``str(None)`` is ``"None"``,
``bool("no")`` is ``True``) and walk nested values recursively; the converter built
here refuses every value whose type is not the field's own, and :func:`too_deep`
finds nesting past a bound without recursion, so a caller can refuse it before any
recursive code sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.gen import make_dict_structure_fn
from cattrs.v import format_exception

from severa_ext.errors import SeveraExtError

__all__ = ["MAX_DEPTH", "describe", "strict_converter", "too_deep", "type_name"]

MAX_DEPTH = 32
"""How deep a document may nest (the activities file needs 4 levels, a config 3)."""


def type_name(value: object) -> str:
    """The JSON/TOML name of ``value``'s type, for messages (never the value itself)."""
    names = {type(None): "null", bool: "a boolean", int: "a number", float: "a number"}
    names |= {str: "a string", list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def too_deep(value: object, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and objects in ``value`` nest deeper than ``limit`` levels."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return False


def describe(exc: Exception) -> str:
    """A structuring error as ``message @ $.path`` lines joined by ``; ``."""
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc, path="$", format_exception=_format))
    return str(exc)


def _format(exc: BaseException, kind: Any) -> str:
    # The hooks' own messages name the expected and the found type: keep them.
    if type(exc) is ValueError or isinstance(exc, SeveraExtError):
        return str(exc)
    return format_exception(exc, kind)


def _exact(kind: type, label: str) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _type: Any) -> Any:
        # bool is an int subclass: a number field never takes true/false.
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ValueError(f"expected {label}, got {type_name(value)}")
        return value

    return structure


def _float(value: Any, _type: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {type_name(value)}")
    return float(value)


def _is_tuple_of_any(kind: Any) -> bool:
    """``tuple[X, ...]``: the only sequence type the documents' records use."""
    return get_origin(kind) is tuple and get_args(kind)[-1:] == (Ellipsis,)


def strict_converter() -> cattrs.Converter:
    """A converter that refuses unknown keys and every value of another type.

    Strings, booleans and numbers must be exactly that (an integer is taken where a
    float is expected), a ``tuple[X, ...]`` must come from a list and an attrs class
    from an object. Register hooks for other leaf types (dates) on it.
    """
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(str, _exact(str, "a string"))
    converter.register_structure_hook(bool, _exact(bool, "true or false"))
    converter.register_structure_hook(int, _exact(int, "a whole number"))
    converter.register_structure_hook(float, _float)

    def from_list(kind: Any) -> Callable[[Any, Any], Any]:
        inner = homogenous_tuple_structure_factory(kind, converter)

        def structure(value: Any, _type: Any) -> Any:
            if not isinstance(value, list):
                raise ValueError(f"expected a list, got {type_name(value)}")
            return inner(value, kind)

        return structure

    converter.register_structure_hook_factory(_is_tuple_of_any, from_list)

    def from_object(cls: type) -> Callable[[Any, Any], Any]:
        inner: Callable[[Any, Any], Any] = make_dict_structure_fn(
            cls, converter, _cattrs_forbid_extra_keys=True
        )

        def structure(value: Any, _type: Any) -> Any:
            if not isinstance(value, dict):
                raise ValueError(f"expected an object, got {type_name(value)}")
            return inner(value, cls)

        return structure

    converter.register_structure_hook_factory(attrs.has, from_object)
    return converter
