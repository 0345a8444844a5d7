#!/usr/bin/env python
"""The spread envelope of per-channel ranges (``sigmas``) on the image models trained here.

    python benchmarks/bench_sigmas.py --json sigmas_images.json

The bundled 12-block MNIST ViT (real MNIST test digits) and the demo's digits ViT (scikit-learn's digits),
each converted with the default preset (``accurate``) and ``sigmas`` = each of ``--sigmas`` (default 6 and
0), calibrated on the first ``--calib`` training images and run in float64 on ``--test`` test images:
relative logit error ``||snn - ann|| / ||ann||`` against the ANN, top-1 agreement and the clip rate, in
exact mode and at each p. The real pretrained models: ``bench_real.py --sigmas``. Nothing is asserted;
the figures go in docs/guide/precision.md ("Ranges that generalise").
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, table, write_json  # noqa: E402


def load(model: str, n_calib: int, n_test: int):
    """(a fresh ANN maker, calibration images, test images)."""
    if model == "mnist":
        from ttfs_symbolic.zoo import mnist as M

        (xc, _), (xt, _) = M.load_mnist("train", n_calib), M.load_mnist("test", n_test)
        return M.load_mnist_model, xc, xt
    from ttfs_symbolic.zoo import digits as D

    (xc, _), (xt, _) = D.load_digits("train"), D.load_digits("test")
    return D.load_demo_model, xc[:n_calib], xt[:n_test]


def measure(model: str, sigmas: float, precisions, n_calib: int, n_test: int) -> list[dict]:
    import ttfs_symbolic as ts

    make, xc, xt = load(model, n_calib, n_test)
    ann = make().eval().double()
    with torch.no_grad():
        ref = ann(xt.double())
    snn = ts.convert(make().eval(), xc, progress=False, sigmas=sigmas)
    rows = []
    for p in [None, *precisions]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = snn(xt, mode="exact" if p is None else "quantized", precision=p, dtype=torch.float64)
        rows.append({"model": model, "sigmas": sigmas, "p": p, "error_vs_ann": float((out - ref).norm() / ref.norm()),
                     "agreement": float((out.argmax(-1) == ref.argmax(-1)).double().mean()),
                     "clip_rate": snn.last_clipping["rate"], "calibration": snn.calibration})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", choices=("mnist", "digits"), default=["mnist", "digits"])
    ap.add_argument("--sigmas", type=float, nargs="+", default=[6.0, 0.0])
    ap.add_argument("--precision", dest="precisions", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--calib", type=int, default=256)
    ap.add_argument("--test", type=int, default=512)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [r for m in args.models for s in args.sigmas for r in measure(m, s, args.precisions, args.calib, args.test)]
    print(table([[r["model"], f"{r['sigmas']:g}", r["p"] or "exact", f"{r['error_vs_ann']:.3g}",
                  f"{100 * r['agreement']:.1f}%", f"{r['clip_rate']:.2g}"] for r in rows],
                ["model", "sigmas", "p", "err vs ANN", "agreement", "clip rate"]))
    write_json(args.json, {"machine": machine_info(), "args": vars(args), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
