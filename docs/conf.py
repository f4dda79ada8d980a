"""Sphinx configuration (myst-parser for Markdown pages, furo theme, autodoc)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import severa_ext

project = "severa_ext"
author = "severa_ext developers"
copyright = "2026, severa_ext developers"
release = severa_ext.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"severa_ext {release}"
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# The build runs offline (no intersphinx): references into the standard library and
# third-party packages cannot resolve, so nitpicky mode ignores exactly those.
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(builtins|datetime|decimal|enum|typing|collections|abc|email|zoneinfo"
        r"|pathlib|os|sqlite3|threading|contextlib|types|re|hashlib|io|subprocess|signal)(\..*)?",
    ),
    (
        r"py:.*",
        r"(attr|attrs|cattrs|requests|msal|icalendar|hypothesis|pytest|_pytest"
        r"|defusedxml|email_validator|recurring_ical_events|sqlalchemy|sa|psycopg"
        r"|psycopg_pool|redis|flask|werkzeug|argon2)(\..*)?",
    ),
    (
        r"py:.*",
        r"(datetime|date|time|timedelta|Decimal|Path|Any|Self|Literal|Iterable"
        r"|Iterator|Mapping|Sequence|Callable|Protocol|EmailMessage|ZoneInfo|Enum|Flag"
        r"|AbstractContextManager|SearchStrategy|Session|Response|Attribute|T|P|Flask)",
    ),
    (r"py:.*", r"(NoneType|None|optional|callable|.*\.Side|Side|WriteOp)"),
    # Private bases and helpers (a public fake's loopback base, a TypeVar) are not
    # documented on purpose: a reference to them from a public page is not a defect.
    (r"py:.*", r"(severa_ext(\.\w+)*\.)?_\w+(\.\w+)*"),
    (r"py:.*", r"severa_ext(\.\w+)*\.T"),
]
