"""Package-level contracts: curated exports, import purity, the error hierarchy."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import pytest

import severa_ext
from severa_ext import errors

PUBLIC_MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(severa_ext.__path__, "severa_ext.")
    if not any(part.startswith("_") for part in name.split("."))
)


def _isort_style(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then functions."""
    if name.isupper() or (name.upper() == name and "_" in name):
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


@pytest.mark.parametrize("module_name", ["severa_ext", *PUBLIC_MODULES])
def test_all_is_sorted_and_resolvable(module_name):
    module = importlib.import_module(module_name)
    names = module.__all__
    assert list(names) == sorted(names, key=_isort_style), f"{module_name}.__all__ is not sorted"
    assert len(set(names)) == len(names), f"{module_name}.__all__ has duplicates"
    for name in names:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name!r}"


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_classes_and_functions_are_exported(module_name):
    module = importlib.import_module(module_name)
    defined_here = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and getattr(value, "__module__", None) == module_name
        and (isinstance(value, type) or callable(value))
    }
    assert defined_here <= set(module.__all__), (
        f"{module_name} defines public names missing from __all__: "
        f"{sorted(defined_here - set(module.__all__))}"
    )


FORBIDDEN_IN_CORE = {
    "requests",
    "msal",
    "sqlite3",
    "socket",
    "http.client",
    "urllib3",
    "icalendar",
    "defusedxml",
    "xml.etree.ElementTree",
    "time_machine",
}

CORE_MODULES = [
    "severa_ext",
    "severa_ext.domain",
    "severa_ext.errors",
    "severa_ext.extranet",
    "severa_ext.sync.items",
    "severa_ext.sync.planner",
    "severa_ext.sync.policy",
]


@pytest.mark.parametrize("module_name", CORE_MODULES)
def test_core_imports_no_io_modules(module_name):
    """The sans-I/O core pulls in no networking, database or parser module (STYLE 1)."""
    code = (
        f"import json, sys, importlib; importlib.import_module({module_name!r}); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out))
    assert not (loaded & FORBIDDEN_IN_CORE), sorted(loaded & FORBIDDEN_IN_CORE)


def test_every_error_derives_from_the_root():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.SeveraExtError), name


def test_errors_carry_structured_facts():
    throttled = errors.Throttled(retry_after=2.5, backend="graph", code="TooManyRequests")
    assert throttled.retry_after == 2.5
    assert "2.5" in str(throttled)
    bad = errors.BadItem("uid-1", "DTEND before DTSTART", backend="ics")
    assert (bad.item_ref, bad.reason, bad.backend) == ("uid-1", "DTEND before DTSTART", "ics")
    assert isinstance(bad, ValueError)
    assert isinstance(errors.NotFound("x"), LookupError)
    assert isinstance(errors.AuthError("x"), PermissionError)
    refused = errors.MassDeletionRefused("b", 60, 100, 0.5)
    assert "60 of 100" in str(refused)


def _loaded_after(statement: str, env: dict[str, str] | None = None) -> set[str]:
    import os

    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout
    return set(json.loads(out))


def test_import_severa_ext_imports_no_submodule():
    """Issue 18: the package's names load on first use (``import severa_ext`` < 100 ms)."""
    loaded = _loaded_after("import severa_ext")
    # Only the lazy-export helper itself (standard library only) comes with the package.
    assert sorted(m for m in loaded if m.startswith("severa_ext.")) == ["severa_ext._lazy"]
    names = _loaded_after("from severa_ext import Activity")
    assert "severa_ext.domain" in names
    assert "severa_ext.extranet" not in names


def test_every_exported_name_is_listed_by_dir():
    assert set(severa_ext.__all__) <= set(dir(severa_ext))
    with pytest.raises(AttributeError, match="no_such_name"):
        severa_ext.no_such_name  # noqa: B018


HEAVY = {"requests", "icalendar", "msal", "sqlite3", "urllib3", "defusedxml", "sqlalchemy"}
"""Libraries a host may not need at all: no public name of the package loads them."""


def test_import_severa_ext_loads_no_library_and_every_name_loads_no_backend():
    """Issue 18: ``import severa_ext`` stays cheap because it imports nothing; even
    ``from severa_ext import *`` loads no network library, database driver or parser."""
    bare = _loaded_after("import severa_ext")
    assert not (bare & (HEAVY | {"attrs", "cattrs", "email_validator", "hypothesis"}))
    everything = _loaded_after("from severa_ext import *")
    assert not (everything & HEAVY), sorted(everything & HEAVY)
    assert not {m for m in everything if m.startswith("severa_ext.backends")}


@pytest.mark.parametrize(
    ("statement", "absent"),
    [
        ("import severa_ext.sync.items", {"severa_ext.sync.planner", "severa_ext.sync.engine"}),
        (
            "import severa_ext.extranet.rights",
            {"severa_ext.extranet.service", "severa_ext.extranet.invites", "cattrs"},
        ),
        ("from severa_ext.domain import Activity", {"email_validator", "idna"}),
        ("from severa_ext.sync import CalendarItem", {"severa_ext.sync.engine"}),
    ],
)
def test_a_submodule_imports_no_sibling_it_does_not_need(statement, absent):
    """Issue 18: the package ``__init__`` files load their names on first use."""
    loaded = _loaded_after(statement)
    assert not (loaded & absent), sorted(loaded & absent)


def test_a_name_shared_with_its_submodule_is_the_function_after_the_submodule_loads():
    """Lazy packages: ``severa_ext.extranet.eligibility`` names the function, whatever
    was imported first (a submodule import binds the module under its name)."""
    code = (
        "import types, severa_ext.extranet.eligibility, severa_ext.extranet as e; "
        "assert isinstance(e.eligibility, types.FunctionType), e.eligibility"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_hypothesis_entry_point_imports_no_backend_and_no_io():
    """``import hypothesis`` in a host's suite registers our strategies, nothing heavier:
    the hook imports the modules defining the types; the strategies load on first draw."""
    env = {"HYPOTHESIS_NO_PLUGINS": ""}
    loaded = _loaded_after("import hypothesis", env=env)
    assert "severa_ext.testing._hypothesis_setup" in loaded  # the hook ran
    assert "severa_ext.testing.strategies" not in loaded  # ...and deferred the strategies
    ours = {m for m in loaded if m.startswith("severa_ext")}
    assert ours <= {
        "severa_ext",
        "severa_ext._lazy",
        "severa_ext.domain",
        "severa_ext.domain._activities",
        "severa_ext.domain._email",
        "severa_ext.domain._people",
        "severa_ext.domain._validators",
        "severa_ext.errors",
        "severa_ext.extranet",
        "severa_ext.extranet.eligibility",  # eager: the function has the module's name
        "severa_ext.extranet.rights",
        "severa_ext.sync",
        "severa_ext.sync.content",
        "severa_ext.sync.items",
        "severa_ext.testing",
        "severa_ext.testing._hypothesis_setup",
    }, sorted(ours)
    # What hypothesis loads by itself (it imports socket) is not ours to count.
    own = loaded - _loaded_after("import hypothesis", env={"HYPOTHESIS_NO_PLUGINS": "1"})
    assert not (own & FORBIDDEN_IN_CORE), sorted(own & FORBIDDEN_IN_CORE)
    drawn = _loaded_after(
        "from hypothesis import strategies as st; "
        "from severa_ext.sync.items import CalendarItem; "
        "from severa_ext.extranet.rights import Right; "
        "assert isinstance(st.from_type(CalendarItem).example(), CalendarItem); "
        "assert isinstance(st.from_type(Right).example(), Right)",
        env=env,
    )
    assert "severa_ext.testing.strategies" in drawn  # registered, loaded when drawn


def test_ntlm_without_its_extra_is_a_config_error_naming_the_extra(monkeypatch):
    from severa_ext.backends import ews

    monkeypatch.setitem(sys.modules, "requests_ntlm", None)  # as if not installed
    with pytest.raises(errors.ConfigError, match=r"severa-ext\[ntlm\]"):
        ews.ntlm_auth("DOMAIN\\alice", "secret")


@pytest.mark.slow
def test_demo_runs_from_a_wheel_installed_in_a_fresh_virtualenv(tmp_path):
    """Issue 18: ``pip install severa-ext`` then ``severa-ext demo``, outside any checkout."""
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    def sh(*args: object, cwd: Path = tmp_path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=True
        )

    sh(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path / "dist", root)
    (wheel,) = (tmp_path / "dist").glob("severa_ext-*.whl")
    sh(sys.executable, "-m", "venv", tmp_path / "venv")
    sh(tmp_path / "venv" / "bin" / "pip", "install", "-q", wheel)
    result = sh(tmp_path / "venv" / "bin" / "severa-ext", "demo", "--into", tmp_path / "demo")
    assert "nothing to do: both sides are in sync" in result.stdout
    module = sh(
        tmp_path / "venv" / "bin" / "python", "-c", "import severa_ext; print(severa_ext.__file__)"
    )
    assert str(tmp_path / "venv") in module.stdout  # the wheel's copy, not the checkout
