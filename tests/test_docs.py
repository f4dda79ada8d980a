"""The Python examples of the docs and the README are run, in order, one namespace per page.

A block fenced as ```python is executed; a block fenced as ```text, ```console or
```{code-block} is not. A page can opt out with a ``<!-- no-test -->`` line. A page
marked ``<!-- pytester -->`` (the testing guide) holds test functions: its blocks are
one test module, run by pytest through ``pytester`` with the package's plugin.

Code lines stay within the rendered width, and the rule index names every rule with
a guide section and test modules that exist.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
README = DOCS.parent / "README.md"
PAGES = [
    *sorted(
        p for p in DOCS.rglob("*.md") if "_build" not in p.parts and FENCE.search(p.read_text())
    ),
    README,
]


def test_docs_have_examples():
    assert PAGES, "no docs page with a python example was found"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS.parent)))
def test_doc_examples_run(page, tmp_path, monkeypatch):
    text = page.read_text(encoding="utf-8")
    if "<!-- no-test -->" in text:
        pytest.skip("page opts out")
    if "<!-- pytester -->" in text:
        pytest.skip("its test functions run under pytester (test_testing_guide_...)")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, match in enumerate(FENCE.finditer(text), start=1):
        code = compile(match.group(1), f"{page.name}[block {number}]", "exec")
        exec(code, namespace)


PYTESTER_PAGES = [p for p in PAGES if "<!-- pytester -->" in p.read_text(encoding="utf-8")]


@pytest.mark.parametrize("page", PYTESTER_PAGES, ids=lambda p: p.name)
def test_testing_guide_examples_pass_under_pytest(page, pytester):
    """Issue 18: the testing guide's examples are real test functions using the fixtures."""
    blocks = FENCE.findall(page.read_text(encoding="utf-8"))
    module = "\n\n".join(blocks)
    pytester.makepyfile(test_guide=module)
    result = pytester.runpytest("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()
    assert outcomes.get("errors", 0) == 0, result.stdout.str()
    functions = len(re.findall(r"^def test_", module, re.MULTILINE))
    assert outcomes.get("passed", 0) > functions  # the functions and the contract class
    assert "._" not in "".join(re.findall(r"^from severa_ext\S* import", module, re.M))


MAX_CODE_WIDTH = 88
"""What the theme shows of a code line without a scroll bar."""
ANY_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
ALL_PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)


@pytest.mark.parametrize("page", [*ALL_PAGES, README], ids=lambda p: p.name)
def test_code_lines_fit_the_rendered_width(page):
    # Code is wrapped to fit; program output (text, console) is shown as it prints.
    long = [
        line
        for kind, body in ANY_FENCE.findall(page.read_text(encoding="utf-8"))
        if kind.strip() in ("python", "{code-block} python", "toml")
        for line in body.splitlines()
        if len(line) > MAX_CODE_WIDTH
    ]
    assert not long, f"{len(long)} code lines wider than {MAX_CODE_WIDTH}: {long[:3]}"


RULES = [f"X{n}" for n in range(1, 12)] + [f"S{n}" for n in range(1, 12)]
TEST_LINK = re.compile(r"blob/main/(tests/[\w/]+\.py)")


def test_the_rule_index_states_every_rule_with_its_guide_and_tests():
    text = (DOCS / "rules.md").read_text(encoding="utf-8")
    sections = re.split(r"^### ", text, flags=re.MULTILINE)[1:]
    assert [s.split("\n", 1)[0].strip() for s in sections] == RULES
    for section in sections:
        rule = section.split("\n", 1)[0].strip()
        assert "](guides/" in section, f"{rule} links no guide section"
        tests = TEST_LINK.findall(section)
        assert tests, f"{rule} links no tests"
        for path in tests:
            assert (DOCS.parent / path).is_file(), f"{rule}: {path} does not exist"
