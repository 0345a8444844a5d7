#!/usr/bin/env python
"""DINOv2 ViT-S/14 on real MNIST digits: how many of the ANN's own k-NN and probe labels change when its
input images carry faint Gaussian noise that moves the features as much as the SNN's rounding does.

    python benchmarks/real_input_noise.py --test 384 --target-error 0.00879 --draws 2

No SNN is run. The noise's standard deviation (in the normalised images' units; the digits' pixels span
about 4.4 of them, one grey level of 256 about 0.017) is scaled until the relative feature error of the noisy ANN against the clean ANN is
``--target-error`` (the SNN's at p = 1024 by default, ``bench_real.py``'s 768-digit run), then ``--draws``
independent noises of that size are applied and each classifier's labels (``bench_real.Task.classify``: 5-NN
majority, DINOv2's weighted 20-NN, the linear probe) compared with the clean ANN's. If noise this faint on
the input flips as many labels as the SNN does, those labels are unstable at the SNN's error size for any
perturbation, not for the conversion alone. Prints one JSON line per draw; nothing is asserted
(docs/guide/precision.md).
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

from bench_real import Task, rel  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--test", type=int, default=768)
    ap.add_argument("--target-error", type=float, default=0.00879)
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--rescale", type=int, default=2, help="runs that scale sigma to the target error")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    task = Task("dinov2", 16, args.test, 16)   # (no conversion: the calibration digits are not used)
    ann = task.make().double()
    print(f"# task {time.time() - t0:.0f} s", flush=True)
    g = torch.Generator().manual_seed(0)

    def noisy(sigma):
        noise = torch.randn(task.test.shape, generator=g, dtype=torch.float64) * sigma
        return task._batched(lambda x: ann(x.double()), task.test.double() + noise)

    sigma = 1e-3
    for _ in range(args.rescale):   # the feature error is close to linear in a small sigma: rescale to the target
        sigma *= args.target_error / rel(noisy(sigma), task.ref)
    ref = task.ref_labels
    for draw in range(args.draws):
        out = noisy(sigma)
        task._last = None
        labels = task.classify(out)
        row = {"draw": draw, "sigma": sigma, "test": args.test, "error_vs_ann": rel(out, task.ref),
               **{f"{k}_agreement": float((labels[k] == ref[k]).float().mean()) for k in ref},
               "seconds": round(time.time() - t0)}
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
