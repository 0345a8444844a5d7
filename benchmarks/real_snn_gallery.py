#!/usr/bin/env python
"""DINOv2 ViT-S/14 on real MNIST digits: k-NN labels with the reference bank's features from the SNN too.

    python benchmarks/real_snn_gallery.py --test 256 --precision 1024

``bench_real.py`` compares the SNN's features of the test digits with the ANN's features of the 1000
reference digits (the ANN's gallery), as a user would who keeps an ANN-built index. A user who runs
only the SNN builds the gallery with it as well. This script measures both: each test digit's 5-NN
and weighted 20-NN label (``bench_real.knn``, ``bench_real.knn_weighted``) with the ANN's gallery
("asym") and with the SNN's gallery ("sym"), each against the ANN-with-ANN-gallery label. The default
conversion from 256 calibration digits, float64, quantized mode at ``--precision``. Nothing is asserted
(docs/guide/precision.md).
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_real import BANK, Task, knn, knn_weighted  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--test", type=int, default=256)
    ap.add_argument("--calib", type=int, default=256)
    ap.add_argument("--precision", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    # (the pretrained zoo loads timm and the MNIST arrays: only this benchmark needs them)
    import ttfs_symbolic.zoo.pretrained as P

    torch.set_num_threads(args.threads)
    t0 = time.time()
    task = Task("dinov2", args.calib, args.test, 16)
    snn = task.convert()
    print(f"# conversion {time.time() - t0:.0f} s", flush=True)
    bank_images, _ = P.mnist_images("train", 50000 - BANK, BANK)

    def run(items):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return task._batched(lambda x: snn(x, mode="quantized", precision=args.precision,
                                               dtype=torch.float64), items)

    test_q, bank_q = run(task.test), run(bank_images)
    print(f"# SNN features of {args.test} test and {BANK} reference digits {time.time() - t0:.0f} s", flush=True)
    for name, fn in (("5nn", knn), ("20nn", knn_weighted)):
        ref = fn(task.ref, task.bank, task.bank_labels)
        asym = fn(test_q, task.bank, task.bank_labels)
        sym = fn(test_q, bank_q, task.bank_labels)
        print(f"{name} agreement with the ANN: ANN gallery {float((asym == ref).float().mean()):.4f}, "
              f"SNN gallery {float((sym == ref).float().mean()):.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
