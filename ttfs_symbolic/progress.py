"""A one-line progress display for long work (calibration, evaluation, sweeps), with no extra dependency."""
from __future__ import annotations

import sys
import time


class Progress:
    """A one-line progress display on stderr: a bar, items done, elapsed and remaining seconds.

    On a terminal the line is redrawn in place; into a log file a few whole
    lines are written (a quarter of the way each), not carriage returns.
    """

    def __init__(self, total: int, label: str, enabled: bool = True, stream=None):
        self.total, self.label, self.enabled = total, label, enabled
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.done = 0

    def update(self, n: int = 1):
        self.done += n
        if self.enabled:
            elapsed = time.perf_counter() - self.start
            rate = self.done / elapsed if elapsed > 0 else 0.0
            eta = (self.total - self.done) / rate if rate > 0 else 0.0
            width = 24
            filled = int(width * self.done / max(self.total, 1))
            line = (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                    f"{elapsed:5.1f}s elapsed, ~{eta:4.1f}s left")
            if getattr(self.stream, "isatty", lambda: False)():
                self.stream.write("\r" + line)
            elif self.done == self.total or self.done % max(1, self.total // 4) == 0:
                self.stream.write(line + "\n")   # a log file: a few whole lines, not carriage returns
            self.stream.flush()

    def close(self):
        if self.enabled and getattr(self.stream, "isatty", lambda: False)():
            self.stream.write("\n")
            self.stream.flush()
