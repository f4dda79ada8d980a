"""The Python examples of the docs and the README are run, in order, one namespace per page.

A block fenced as ```python is executed; a block fenced as ```text, ```console or
```{code-block} is not. A page can opt out with a ``<!-- no-test -->`` line.
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
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, match in enumerate(FENCE.finditer(text), start=1):
        code = compile(match.group(1), f"{page.name}[block {number}]", "exec")
        exec(code, namespace)
