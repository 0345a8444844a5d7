#!/usr/bin/env python
"""Error and label agreement against time precision p, from ``bench_real.py`` result files.

    python benchmarks/plot_real_precision.py benchmarks/results/real_dinov2_knn768_2026-12-07.json \\
        benchmarks/results/real_dinov2_p2048_4096_2026-12-07.json --out docs/guide/img/dinov2_precision.png

Collects the quantized-mode rows of one configuration (``--config``, default ``accurate``) over the files,
which must hold the same model, test items and calibration size (checked), and plots the relative error
against the ANN (left) and each classifier's agreement with the ANN's labels (right: 5-NN, DINOv2's
weighted 20-NN and the linear probe for digits; the nearest other sentence for text) against p, with
the 99% line of issue 19. A p found in two files must give the same figures (the conversion is
deterministic), else the files do not belong together and nothing is drawn. Prints the table it plots.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table  # noqa: E402

#: the agreement columns of bench_real.py's rows and their labels in the plot
AGREEMENTS = (("agreement", "5-NN label (digits) / nearest sentence (text)"),
              ("knn20_agreement", "weighted 20-NN label"), ("probe_agreement", "linear probe label"))


def collect(paths, config: str) -> tuple[dict, dict[int, dict]]:
    """(what the files share: model, test, calib; {p: quantized row}) over the files' runs of ``config``."""
    shared, rows = None, {}
    for path in paths:
        for run in json.loads(Path(path).read_text())["runs"]:
            if run["config"] != config:
                continue
            key = {k: run[k] for k in ("model", "test", "calib")}
            if shared is None:
                shared = key
            elif key != shared:
                raise SystemExit(f"{path}: {key} is not the first file's {shared}; plot one setting at a time")
            for row in run["rows"]:
                if row["mode"] != "quantized":
                    continue
                old = rows.get(row["p"])
                if old is not None and abs(old["error_vs_ann"] - row["error_vs_ann"]) > 1e-9 * old["error_vs_ann"]:
                    raise SystemExit(f"p = {row['p']}: error {row['error_vs_ann']} in {path}, {old['error_vs_ann']} "
                                     "in an earlier file: not the same conversion")
                rows[row["p"]] = row
    if not rows:
        raise SystemExit(f"no quantized rows of configuration {config!r} in {', '.join(map(str, paths))}")
    return shared, dict(sorted(rows.items()))


def plot(shared: dict, rows: dict, path: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ps = list(rows)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    errs = [rows[p]["error_vs_ann"] for p in ps]
    ax1.plot(ps, errs, "o-")
    ticks = [t * 10.0 ** k for k in range(-5, 2) for t in (1, 2, 5) if min(errs) / 2 <= t * 10.0 ** k <= 2 * max(errs)]
    ax1.axhline(0.01, color="grey", ls="--", lw=1, label="1% (issue 19, p = 1024)")
    ax1.set(xscale="log", yscale="log", xlabel="time precision p", ylabel="relative error vs ANN",
            title=f"{shared['model']}: {shared['test']} unseen items, {shared['calib']} calibration")
    for col, label in AGREEMENTS:
        ys = [rows[p].get(col) for p in ps]
        if any(y is not None for y in ys):
            ax2.plot(ps, [100 * y if y is not None else float("nan") for y in ys], "o-", label=label)
    ax2.axhline(99, color="grey", ls="--", lw=1, label="99%")
    ax2.set(xscale="log", xlabel="time precision p", ylabel="agreement with the ANN's labels (%)",
            title="labels of the SNN's features")
    for ax in (ax1, ax2):
        ax.set_xticks(ps, [str(p) for p in ps])
        ax.minorticks_off()
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    ax1.set_yticks(ticks, [f"{100 * t:g}%" for t in ticks])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--config", default="accurate")
    ap.add_argument("--out", default=None, help="PNG to draw (default: print the table only)")
    args = ap.parse_args(argv)
    shared, rows = collect(args.files, args.config)
    cols = [c for c, _ in AGREEMENTS if any(c in r for r in rows.values())]
    print(table([[p, f"{r['error_vs_ann']:.3g}"] + [f"{100 * r[c]:.1f}%" for c in cols] for p, r in rows.items()],
                ["p", "error vs ANN", *cols]))
    if args.out:
        plot(shared, rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
