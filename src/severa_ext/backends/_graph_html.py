"""HTML bodies to plain text and back, without losing the text (stdlib ``html.parser``).

Graph returns event bodies as HTML unless asked for text; the neutral
``CalendarItem.body`` is plain text. :func:`html_to_text` keeps every character of
text, turns block elements and ``<br>`` into line breaks and drops markup, scripts
and styles; :func:`text_to_html` escapes text so that ``html_to_text`` gives it back
(after :func:`severa_ext.sync.items.normalize_text`).
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

__all__ = ["html_to_text", "text_to_html"]

_BLOCKS = frozenset(
    {
        "address",
        "article",
        "blockquote",
        "div",
        "dl",
        "dt",
        "dd",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
    }
)
_SKIPPED = frozenset({"script", "style", "head", "title"})
_SPACES = re.compile(r"[ \t\r\n\f]+")
_PRE_STYLE = re.compile(r"white-space\s*:\s*(pre|break-spaces)", re.IGNORECASE)


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML document, one list entry per output line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self._skip = 0
        # Tags that opened pre-formatted text (``<pre>``, ``white-space: pre*``).
        self._pre: list[str] = []

    def _newline(self) -> None:
        self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip += 1
            return
        if tag == "br":
            self._newline()
            return
        if tag in _BLOCKS and self.lines[-1]:
            self._newline()
        elif tag in {"td", "th"} and self.lines[-1]:
            self.lines[-1] += "\t"
        style = dict(attrs).get("style") or ""
        if tag == "pre" or _PRE_STYLE.search(style):
            self._pre.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" or (tag in _BLOCKS and self.lines[-1]):
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip = max(0, self._skip - 1)
            return
        if self._pre and self._pre[-1] == tag:
            self._pre.pop()
        # A block ends its line; an empty block (``<div><br></div>``) adds none.
        if tag in _BLOCKS and self.lines[-1]:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._pre:
            parts = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            self.lines[-1] += parts[0]
            self.lines.extend(parts[1:])
            return
        text = _SPACES.sub(" ", data).replace("\xa0", " ")
        if not self.lines[-1]:
            text = text.lstrip(" ")
        self.lines[-1] += text


def html_to_text(markup: str) -> str:
    """The text of an HTML fragment or document, with line breaks for blocks.

    >>> html_to_text("<p>Agenda:</p><ul><li>one &amp; two</li></ul>")
    'Agenda:\\none & two'
    """
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    lines = [line.rstrip() for line in parser.lines]
    return "\n".join(lines).strip("\n")


def text_to_html(text: str) -> str:
    """An HTML document that :func:`html_to_text` turns back into ``text``.

    Every line becomes one ``<div>`` styled ``white-space: pre-wrap``, so that runs
    of spaces, tabs and non-breaking spaces keep their exact characters.

    >>> text_to_html("a < b\\n\\nc")  # doctest: +NORMALIZE_WHITESPACE
    '<html><body><div style="white-space:pre-wrap">a &lt; b</div><div><br></div><div
    style="white-space:pre-wrap">c</div></body></html>'
    """
    rows = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line:
            rows.append(f'<div style="white-space:pre-wrap">{html.escape(line, quote=False)}</div>')
        else:
            rows.append("<div><br></div>")
    return "<html><body>" + "".join(rows) + "</body></html>"
