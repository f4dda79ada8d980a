"""The command line's output helpers: the terminal progress bar and the tables."""

from __future__ import annotations

import io
import re

from severa_ext._cli_output import ProgressBar


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_shows_rate_and_time_left_against_the_real_total():
    terminal = FakeTerminal()
    bar = ProgressBar(terminal, interval=0)
    bar(0, 0, "list")
    bar(0, 0, "plan")
    bar(1, 40, "write")
    bar(20, 40, "write")
    text = terminal.getvalue()
    assert "0/0" not in text  # phases without a known total show no fraction
    assert "20/40" in text
    assert re.search(r"\d+(\.\d+)?(item/s|s/item)", text)  # the rate
    assert re.search(r"<\d\d:\d\d", text)  # the time left
    bar(40, 40, "done")
    assert bar.drawing is False


def test_progress_bar_is_silent_off_a_terminal_or_when_disabled():
    pipe = io.StringIO()
    bar = ProgressBar(pipe)
    bar(1, 2, "write")
    bar(2, 2, "done")
    assert pipe.getvalue() == ""
    terminal = FakeTerminal()
    quiet = ProgressBar(terminal, enabled=False)
    quiet(1, 2, "write")
    quiet.clear()
    assert terminal.getvalue() == ""
