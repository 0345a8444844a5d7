#!/usr/bin/env python
"""DINOv2 ViT-S/14 on real MNIST digits: the agreement of the converted model's labels at p (5-NN,
DINOv2's weighted 20-NN, the linear probe), against the agreement that random perturbations of the ANN's
own features of the same per-image size give.

    python benchmarks/real_agreement_floor.py --test 256 --precision 1024
    python benchmarks/real_agreement_floor.py --test 256 --precision 1024 --convert '{"variance_end": "bound"}'

The SNN's error e_i of each test image is measured; then ``--draws`` times each ANN feature vector is
moved by a random direction of the same length |e_i|, and each classifier's label (``bench_real.Task.classify``:
5-NN majority, weighted 20-NN, linear probe) compared with the ANN's. If the SNN flips more labels than such
noise, its error is not like random noise (its direction matters).
Uses :class:`bench_real.Task` (256 calibration digits from the train split, the reference bank of 1000
from its end, test digits from the test split; float64). Prints one JSON line per precision; nothing is
asserted (docs/guide/precision.md).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_real import Task  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--test", type=int, default=256)
    ap.add_argument("--calib", type=int, default=256)
    ap.add_argument("--precision", type=int, nargs="+", default=[1024])
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--convert", default="{}", help="convert() keywords as JSON (default: the defaults)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    kw = json.loads(args.convert)
    t0 = time.time()
    task = Task("dinov2", args.calib, args.test, 16)
    snn = task.convert(**kw)
    print(f"# task and conversion {time.time() - t0:.0f} s", flush=True)
    g = torch.Generator().manual_seed(0)
    ref = task.ref_labels
    for p in args.precision:
        out, clip, secs = task.run(snn, "quantized", p)
        err = (out - task.ref).norm(dim=1)
        flips = {k: int((lab != ref[k]).sum()) for k, lab in task.classify(out).items()}
        noise = {k: [] for k in ref}
        for _ in range(args.draws):
            z = torch.randn(out.shape, generator=g, dtype=out.dtype)
            z = z / z.norm(dim=1, keepdim=True) * err[:, None]
            for k, lab in task.classify(task.ref + z).items():
                noise[k].append(int((lab != ref[k]).sum()))
        n = args.test
        row = {"convert": kw, "p": p, "test": n, "error_vs_ann": float((out - task.ref).norm() / task.ref.norm()),
               "clip_rate": clip, "s_per_item": secs}
        for k in ref:   # 5nn: the keys of earlier runs (agreement, flips, noise_flips_sorted)
            pre = "" if k == "5nn" else f"{k}_"
            noise[k].sort()
            row.update({f"{pre}agreement": 1 - flips[k] / n, f"{pre}flips": flips[k],
                        f"{pre}noise_flips_sorted": noise[k],
                        f"{pre}noise_agreement_median": 1 - noise[k][len(noise[k]) // 2] / n})
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
