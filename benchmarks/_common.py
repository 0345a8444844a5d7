"""Helpers shared by the benchmarks: timing, medians, machine description, tables.

Nothing here asserts a speed: the benchmarks report numbers and ratios
against a baseline measured in the same process, and the reader judges.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path


def timed(fn):
    """(seconds, result) of one call of fn()."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def interleaved_medians(fns: dict, repeats: int, warmup: int = 1) -> dict:
    """Median seconds per name over ``repeats`` rounds, after ``warmup`` calls each.

    The functions are called in turn within each round (and the order is
    reversed every other round), so slow drift of a shared machine's load
    hits all of them alike and the ratios between them stay meaningful.
    """
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    times = {n: [] for n in names}
    for r in range(repeats):
        order = names if r % 2 == 0 else names[::-1]
        for n in order:
            dt, _ = timed(fns[n])
            times[n].append(dt)
    return {n: {"median_s": statistics.median(ts), "min_s": min(ts), "runs_s": ts} for n, ts in times.items()}


def machine_info() -> dict:
    """What the numbers were measured on (load average included: the machine may be shared)."""
    import torch

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    try:
        info["loadavg_1_5_15"] = list(os.getloadavg())
    except OSError:
        pass
    return info


def write_json(path, data) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=1, default=float))
        print(f"wrote {path}")


def table(rows: list[list], header: list[str]) -> str:
    """A plain-text table, columns padded to their widest cell."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt_s(seconds: float) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"
