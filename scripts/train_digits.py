#!/usr/bin/env python
"""Train the demo model and ship it in ttfs_symbolic/assets.

Trains ``ttfs_symbolic.zoo.digits.train_digits_vit`` (a small timm ViT on
scikit-learn's digits, images normalized to [0, 1] by dividing by 16),
evaluates it on the held-out test split and writes

* ``ttfs_symbolic/assets/digits_vit.pt``: the state_dict, float32;
* ``ttfs_symbolic/assets/digits_vit.json``: config, seed, epochs, training
  hyper-parameters, train/test accuracy (and correct counts), torch/timm
  versions and the sha256 of the .pt.

Usage: ``python scripts/train_digits.py [--epochs N] [--seed S] [--out DIR]``.
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

from ttfs_symbolic.zoo.digits import (CHECKPOINT_NAME, DIGITS_CONFIG, METADATA_NAME, PIXEL_MAX,  # noqa: E402
                                        SPLIT_SEED, TRAIN_DEFAULTS, accuracy, load_demo_model, load_digits,
                                        sha256_file, split_indices, train_digits_vit)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=TRAIN_DEFAULTS["epochs"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "ttfs_symbolic" / "assets",
                    help="folder for digits_vit.pt and digits_vit.json (default: the package assets)")
    args = ap.parse_args(argv)

    import timm

    model, metrics = train_digits_vit(epochs=args.epochs, seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    pt = args.out / CHECKPOINT_NAME
    state = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in model.state_dict().items()}
    torch.save(state, pt)

    # Re-evaluate the saved file exactly as a user (and tests/zoo/test_digits.py) will load it.
    reloaded = load_demo_model(pt)
    xt, yt = load_digits("test")
    test_correct, test_acc = accuracy(reloaded, xt, yt)
    if test_correct != metrics["test_correct"]:
        print(f"warning: reloaded model gets {test_correct} test images right, trained one "
              f"{metrics['test_correct']}", file=sys.stderr)
    sizes = {k: int(len(v)) for k, v in split_indices().items()}
    record = {
        "model": "timm.models.vision_transformer.VisionTransformer",
        "config": DIGITS_CONFIG,
        "parameters": sum(p.numel() for p in reloaded.parameters()),
        "data": {"dataset": "sklearn.datasets.load_digits", "normalization": f"pixel / {PIXEL_MAX:g} -> [0, 1]",
                 "split_seed": SPLIT_SEED, "split_sizes": sizes},
        "seed": args.seed,
        "epochs": args.epochs,
        "training": {k: v for k, v in metrics.items()
                     if k not in ("train_loss", "seconds", "test_correct", "test_accuracy", "train_correct",
                                  "train_accuracy", "train_total", "test_total")},
        "final_train_loss": metrics["train_loss"][-1],
        "train_correct": metrics["train_correct"],
        "train_total": metrics["train_total"],
        "train_accuracy": metrics["train_accuracy"],
        "test_correct": test_correct,
        "test_total": int(xt.shape[0]),
        "test_accuracy": test_acc,
        "train_seconds": round(metrics["seconds"], 1),
        "versions": {"torch": torch.__version__, "timm": timm.__version__, "python": platform.python_version()},
        "sha256": sha256_file(pt),
        "bytes": pt.stat().st_size,
    }
    meta = args.out / METADATA_NAME
    meta.write_text(json.dumps(record, indent=1) + "\n")
    print(f"test accuracy {100 * test_acc:.2f}% ({test_correct}/{xt.shape[0]}), train "
          f"{100 * metrics['train_accuracy']:.2f}%, {metrics['seconds']:.0f}s")
    print(f"wrote {pt} ({pt.stat().st_size:,} bytes) and {meta}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
