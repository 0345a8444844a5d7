"""The progress display into a log file (the second blind mutation audit's survivors, docs/mutation.md)."""
from __future__ import annotations

import io
import re

import pytest

from ttfs_symbolic.progress import Progress


class _Log(io.StringIO):
    def isatty(self):
        return False


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("total, shown", [(9, [2, 4, 6, 8, 9]), (8, [2, 4, 6, 8]), (3, [1, 2, 3]), (1, [1])])
def test_a_log_gets_a_few_whole_lines_and_always_the_last(total, shown):
    log = _Log()
    bar = Progress(total, "work", stream=log)
    for _ in range(total):
        bar.update()
    bar.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert [int(re.search(r"\] (\d+)/", line).group(1)) for line in lines] == shown
    assert lines[-1].startswith(f"work [{'#' * 24}] {total}/{total} ")


def test_nothing_is_left_at_the_end_and_half_is_left_half_way():
    log = _Log()
    bar = Progress(4, "work", stream=log)
    bar.start -= 10.0          # as if 10 s had passed before the first item
    bar.update(2)
    half = log.getvalue().splitlines()[-1]
    bar.update(2)
    last = log.getvalue().splitlines()[-1]
    left = lambda line: float(re.search(r"~\s*([0-9.]+)s left", line).group(1))  # noqa: E731
    assert left(half) == pytest.approx(10.0, abs=0.2)       # 2 items in ~10 s, 2 to go
    assert left(last) == 0.0


def test_a_terminal_redraws_one_line():
    term = _Terminal()
    bar = Progress(3, "work", stream=term)
    for _ in range(3):
        bar.update()
    bar.close()
    text = term.getvalue()
    assert text.count("\r") == 3 and text.count("\n") == 1 and text.endswith("\n")
    quiet = _Terminal()
    Progress(3, "off", enabled=False, stream=quiet).update()
    assert quiet.getvalue() == ""
