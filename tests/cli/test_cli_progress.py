"""A long derivation shows which step it is in on a terminal, and nothing anywhere else."""
from __future__ import annotations

import io
import sys
import threading
import time

import pytest

from ttfs_symbolic.cli import derive as cli_derive
from ttfs_symbolic.cli.main import main
from ttfs_symbolic.symbolic import limits


class Terminal(io.StringIO):
    def isatty(self):
        return True


def until_written(out, lines=2, limit=10.0):
    """Wait (the step running) until ``out`` holds ``lines`` status lines, however loaded the machine."""
    end = time.monotonic() + limit
    while out.getvalue().count("\r\033[K") < lines and time.monotonic() < end:
        time.sleep(0.01)


def test_active_steps_name_the_running_steps_of_each_thread_outermost_first():
    seen = {}

    def other():
        with limits.step("in another thread"):
            seen["other"] = limits.active_steps()
            time.sleep(0.05)

    with limits.step("outer"):
        with limits.step("inner"):
            t = threading.Thread(target=other)
            t.start()
            assert limits.active_steps() == ("outer", "inner")
            t.join()
        assert limits.active_steps() == ("outer",)
    assert limits.active_steps() == ()
    assert seen["other"] == ("in another thread",)


def test_a_step_that_fails_leaves_the_list():
    with pytest.raises(RuntimeError):
        with limits.step("failing"):
            raise RuntimeError("boom")
    assert limits.active_steps() == ()


def test_the_status_line_names_the_innermost_step_and_is_cleared_at_the_end():
    out = Terminal()
    with cli_derive.step_progress(out, every=0.02):
        with limits.step("the derivation of f"), limits.step("the proof of Theorem 4.1"):
            until_written(out)
    text = out.getvalue()
    assert "s: the proof of Theorem 4.1" in text and "the derivation of f" not in text
    assert text.startswith("\r\033[K") and text.endswith("\r\033[K")


def test_the_status_line_fits_the_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "30")
    out = Terminal()
    with cli_derive.step_progress(out, every=0.02):
        with limits.step("a step whose name is longer than the terminal is wide"):
            until_written(out)
    lines = [part for part in out.getvalue().split("\r\033[K") if part]
    name = "a step whose name is longer than the terminal is wide"
    assert lines and all(len(line) == 29 and name.startswith(line.split(" s: ", 1)[1]) for line in lines)


def test_no_status_line_off_a_terminal_or_for_a_quick_derivation():
    piped = io.StringIO()
    with cli_derive.step_progress(piped, every=0.02):
        with limits.step("slow"):
            time.sleep(0.1)
    assert piped.getvalue() == ""
    quick = Terminal()
    with cli_derive.step_progress(quick, every=5.0):
        with limits.step("quick"):
            pass
    assert quick.getvalue() == ""


def test_ttfs_derive_shows_its_steps_on_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr(cli_derive, "PROGRESS_SECONDS", 0.001)
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["derive", "x*tanh(softplus(x))", "--range", "-2", "2", "--no-page"]) == 0
    assert "s: " in err.getvalue() and err.getvalue().endswith("\r\033[K")
    assert "eta(s)" in capsys.readouterr().out
