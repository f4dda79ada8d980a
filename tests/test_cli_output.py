"""The command line's output helpers: the terminal progress bar and the tables."""

from __future__ import annotations

import io

from severa_ext._cli_output import ProgressBar


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_and_erases_itself():
    terminal = FakeTerminal()
    bar = ProgressBar(terminal, width=10)
    bar(5, 10, "write")
    assert "[#####-----] 5/10" in terminal.getvalue()
    bar(10, 10, "done")
    assert terminal.getvalue().endswith("\r")


def test_progress_bar_is_silent_off_a_terminal():
    pipe = io.StringIO()
    bar = ProgressBar(pipe)
    bar(1, 2, "list")
    bar(2, 2, "done")
    assert pipe.getvalue() == ""
