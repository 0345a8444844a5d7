"""The demo model: a small timm ViT trained on scikit-learn's digits.

The main job (``ttfs demo``) converts this model with Algorithm 1 and compares
ANN and SNN accuracy on a held-out split. The SNN's own cost is the
multiplication network of attention (M*N*K neurons in layer I, Section 4.3.4),
so the model keeps the token count small: 8x8 images in 4x4 patches give 4
patch tokens plus the class token, so M = N = 5, and K = head dim = 16.
(2x2 patches, 17 tokens, embed_dim 48 or 64, were tried: over six runs of
this training with several seeds and hyper-parameters they reached 94.4-96.4%
test accuracy, against 97.5% here, and give the SNN's attention 8.7 times as
many layer-I neurons: 17^2 * 48 against 5^2 * 64 per product and block.)

Data
----
scikit-learn's ``load_digits`` ships with scikit-learn itself (1797 images,
8x8, pixel values 0..16, no download). Images are **normalized to [0, 1] by
dividing by 16** (no mean/std standardization), so the encoded input of the
first spiking layer has the natural range [a, b] = [0, 1].

The split is fixed and stratified by label: 20% test, then 10% of the whole
set as the converter's calibration set, the remaining 70% for training
(``sklearn.model_selection.train_test_split`` with ``random_state=SPLIT_SEED``).
The three index sets are disjoint and cover the data set once.

Model
-----
``timm.models.vision_transformer.VisionTransformer(**DIGITS_CONFIG)``: GELU
and LayerNorm (timm's defaults), class token, ``global_pool='token'``, no
dropout. Trained by :func:`train_digits_vit` (AdamW, cosine learning rate with
linear warm-up, label smoothing, random rotations of up to 10 degrees, scaling
by up to 10% and 1-pixel shifts, seeded, one torch thread). The trained
weights ship in ``ttfs_symbolic/assets/digits_vit.pt`` (state_dict, float32)
with ``digits_vit.json`` (config, seed, epochs, accuracies, versions, sha256);
``scripts/train_digits.py`` writes both.
"""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import math
import time
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

#: keyword arguments of timm's VisionTransformer for the demo model
DIGITS_CONFIG: dict = dict(
    img_size=8,
    patch_size=4,
    in_chans=1,
    num_classes=10,
    embed_dim=64,
    depth=3,
    num_heads=4,
    mlp_ratio=2.0,
    qkv_bias=True,
    class_token=True,
    global_pool="token",
)

#: random_state of the two stratified train_test_split calls
SPLIT_SEED = 0
#: shares of the whole data set (train is the rest, 0.70)
TEST_FRACTION = 0.20
CALIB_FRACTION = 0.10
SPLITS = ("train", "calib", "test")
#: divisor that maps the digits' pixel values 0..16 to [0, 1]
PIXEL_MAX = 16.0

CHECKPOINT_NAME = "digits_vit.pt"
METADATA_NAME = "digits_vit.json"

#: default training hyper-parameters (scripts/train_digits.py records them)
TRAIN_DEFAULTS = dict(epochs=150, batch_size=64, lr=3e-3, weight_decay=0.05, warmup_epochs=5,
                      label_smoothing=0.1, shift=1, rotate=10.0, scale=0.1, drop_path_rate=0.0)


# --------------------------------------------------------------------- data

def split_indices() -> dict[str, np.ndarray]:
    """Indices into ``sklearn.datasets.load_digits()`` of the three splits.

    Stratified by label and fixed by ``SPLIT_SEED``: 20% ``test``, 10%
    ``calib`` (held out for the converter's calibration, disjoint from
    ``test``), 70% ``train``. Each array is sorted.
    """
    # optional dependency (scikit-learn), imported on use
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    y = _sk_digits().target
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED)
    train, calib = train_test_split(rest, test_size=CALIB_FRACTION / (1.0 - TEST_FRACTION), stratify=y[rest],
                                    random_state=SPLIT_SEED)
    return {"train": np.sort(train), "calib": np.sort(calib), "test": np.sort(test)}


def load_digits(split: str = "test", img_size=8) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of one split of scikit-learn's digits.

    Returns ``(images, labels)``: images ``(N, 1, img_size, img_size)``
    float32 in [0, 1] (pixel value / 16), labels ``(N,)`` int64 in 0..9.
    ``split`` is ``"train"``, ``"calib"`` or ``"test"`` (see
    :func:`split_indices`). ``img_size`` other than 8 resizes bilinearly
    (values stay in [0, 1]); the demo model uses 8.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown digits split {split!r}; expected one of {', '.join(SPLITS)}")
    if isinstance(img_size, bool) or not isinstance(img_size, (int, np.integer)) or img_size < 1:
        raise ValueError(f"img_size must be a positive integer, got {img_size!r}")
    # optional dependency (scikit-learn), imported on use
    from sklearn.datasets import load_digits as _sk_digits

    data = _sk_digits()
    idx = split_indices()[split]
    x = torch.from_numpy(data.images[idx] / PIXEL_MAX).to(torch.float32).unsqueeze(1)
    if int(img_size) != 8:
        x = F.interpolate(x, size=(int(img_size), int(img_size)), mode="bilinear", align_corners=False)
        x = x.clamp_(0.0, 1.0)
    y = torch.from_numpy(data.target[idx]).to(torch.int64)
    return x.contiguous(), y


# -------------------------------------------------------------------- model

def build_digits_vit(**overrides):
    """A randomly initialized ``VisionTransformer(**DIGITS_CONFIG, **overrides)``."""
    # timm loads on first use (start-up time)
    from timm.models.vision_transformer import VisionTransformer

    unknown = set(overrides) - set(_vit_params())
    if unknown:
        raise ValueError(f"unknown VisionTransformer argument(s): {', '.join(sorted(unknown))}")
    return VisionTransformer(**{**DIGITS_CONFIG, **overrides})


def _vit_params() -> list[str]:
    # timm loads on first use (start-up time)
    from timm.models.vision_transformer import VisionTransformer

    return [p for p in inspect.signature(VisionTransformer.__init__).parameters if p != "self"]


def asset(name: str):
    return files("ttfs_symbolic").joinpath("assets", name)


def default_checkpoint_path() -> Path:
    """Path of the shipped checkpoint inside the package (may not exist)."""
    return Path(str(asset(CHECKPOINT_NAME)))


def _missing(path: Path, what: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"demo model {what} not found at {path}; train it with `python scripts/train_digits.py` "
        f"(writes ttfs_symbolic/assets/{CHECKPOINT_NAME} and {METADATA_NAME}, about 2 minutes on 2 CPU cores)")


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_demo_metadata(path=None) -> dict:
    """The JSON record written beside the checkpoint (config, accuracies, sha256)."""
    ckpt = default_checkpoint_path() if path is None else Path(path)
    meta = ckpt.with_suffix(".json")
    if not meta.is_file():
        raise _missing(meta, "metadata")
    return json.loads(meta.read_text())


def load_demo_model(path=None):
    """The trained digits ViT in eval mode.

    ``path`` defaults to ``ttfs_symbolic/assets/digits_vit.pt`` (found with
    ``importlib.resources``). The model is built from ``DIGITS_CONFIG`` and the
    state dict loaded strictly, so a checkpoint of another shape is refused.
    """
    ckpt = default_checkpoint_path() if path is None else Path(path)
    if not ckpt.is_file():
        raise _missing(ckpt, "checkpoint")
    try:   # weights_only: a checkpoint cannot run code when it is loaded
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  truncated, not a checkpoint, or holding objects other than tensors
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0][:160]
        raise ValueError(f"{ckpt}: not a readable PyTorch checkpoint (weights only): {first}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{ckpt} does not hold a state_dict (got {type(state).__name__})")
    model = build_digits_vit()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{ckpt} does not match DIGITS_CONFIG ({DIGITS_CONFIG}); retrain with "
                         f"`python scripts/train_digits.py`:\n{err}") from None
    return model.eval()


# ----------------------------------------------------------------- training

@torch.no_grad()
def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> tuple[int, float]:
    """(number correct, share correct) of ``model`` on ``(x, y)``; eval mode, no grad."""
    was_training = model.training
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], batch_size):
        correct += int((model(x[i:i + batch_size]).argmax(-1) == y[i:i + batch_size]).sum())
    model.train(was_training)
    return correct, correct / max(1, x.shape[0])


def random_shift(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by a random whole number of pixels in [-shift, shift]
    along each axis, filling with 0 (the background value)."""
    if shift <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (shift, shift, shift, shift))
    dy = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(n, x.shape[1], h, w + 2 * shift)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(n, x.shape[1], h, w)
    return out.gather(3, cols)


def random_affine(x: torch.Tensor, generator: torch.Generator, rotate: float, scale: float) -> torch.Tensor:
    """Rotate each image by a random angle in [-rotate, rotate] degrees and
    scale it by a random factor in [1 - scale, 1 + scale] about its centre
    (bilinear, 0 outside, result clipped to [0, 1])."""
    if rotate <= 0 and scale <= 0:
        return x
    n = x.shape[0]
    ang = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(rotate)
    sc = 1.0 + (torch.rand(n, generator=generator) * 2 - 1) * scale
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros(n)], -1),
                         torch.stack([sin, cos, torch.zeros(n)], -1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False).clamp_(0.0, 1.0)


def adamw_cosine(model, lr: float, weight_decay: float, total: int, warm: int):
    """``(optimizer, scheduler)``: AdamW without weight decay on biases, norms, position embedding and
    class token; the learning rate warmed up linearly for ``warm`` steps, then cosine to 0 at ``total``."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or name in ("pos_embed", "cls_token") else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr)

    def lr_at(step):
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_at)


@contextlib.contextmanager
def deterministic(num_threads: int):
    prev, prev_threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev)
        torch.set_num_threads(prev_threads)


def train_digits_vit(epochs: int = TRAIN_DEFAULTS["epochs"], seed: int = 0, log=print, *,
                     batch_size: int = TRAIN_DEFAULTS["batch_size"], lr: float = TRAIN_DEFAULTS["lr"],
                     weight_decay: float = TRAIN_DEFAULTS["weight_decay"],
                     warmup_epochs: int = TRAIN_DEFAULTS["warmup_epochs"],
                     label_smoothing: float = TRAIN_DEFAULTS["label_smoothing"],
                     shift: int = TRAIN_DEFAULTS["shift"], rotate: float = TRAIN_DEFAULTS["rotate"],
                     scale: float = TRAIN_DEFAULTS["scale"], drop_path_rate: float = TRAIN_DEFAULTS["drop_path_rate"],
                     train_subset: int | None = None,
                     num_threads: int = 1):
    """Train ``build_digits_vit()`` on the ``train`` split.

    AdamW (no weight decay on biases, norms, position embedding and class
    token), learning rate warmed up linearly for ``warmup_epochs`` then cosine
    to 0, cross-entropy with ``label_smoothing``, random shifts by up to
    ``shift`` pixels. Seeded by ``seed`` (initialization, shuffling,
    augmentation) with deterministic algorithms. ``train_subset`` keeps only
    the first that many training images (for smoke tests). ``log`` gets one
    line per epoch (``None`` for silence). Training runs on ``num_threads``
    torch threads (default 1: the model is so small that a second thread
    only adds synchronization, and one thread makes the run reproducible
    bit for bit on a given machine).

    Returns ``(model, metrics)``; the model is in eval mode, metrics has
    ``train_loss`` (per epoch), ``train_accuracy``, ``test_accuracy``,
    ``test_correct``, ``test_total``, ``seconds`` and the hyper-parameters.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    log = log or (lambda *_: None)
    t0 = time.perf_counter()
    x, y = load_digits("train")
    if train_subset is not None:
        x, y = x[:train_subset], y[:train_subset]
    xt, yt = load_digits("test")
    with deterministic(num_threads):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = build_digits_vit(drop_path_rate=drop_path_rate) if drop_path_rate else build_digits_vit()
        steps_per_epoch = math.ceil(x.shape[0] / batch_size)
        opt, sched = adamw_cosine(model, lr, weight_decay, epochs * steps_per_epoch, warmup_epochs * steps_per_epoch)
        losses = []
        for epoch in range(epochs):
            model.train()
            perm = torch.randperm(x.shape[0], generator=gen)
            run_loss, seen = 0.0, 0
            for i in range(0, x.shape[0], batch_size):
                b = perm[i:i + batch_size]
                xb = random_shift(random_affine(x[b], gen, rotate, scale), shift, gen)
                loss = F.cross_entropy(model(xb), y[b], label_smoothing=label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                run_loss += float(loss.detach()) * b.numel()
                seen += b.numel()
            losses.append(run_loss / seen)
            if (epoch + 1) % 10 == 0 or epoch in (0, epochs - 1):
                _, tr = accuracy(model, x, y)
                _, te = accuracy(model, xt, yt)
                log(f"epoch {epoch + 1:4d}/{epochs}  loss {losses[-1]:.4f}  train {100 * tr:6.2f}%  "
                    f"test {100 * te:6.2f}%  lr {sched.get_last_lr()[0]:.2e}  ({time.perf_counter() - t0:.0f}s)")
            else:
                log(f"epoch {epoch + 1:4d}/{epochs}  loss {losses[-1]:.4f}  ({time.perf_counter() - t0:.0f}s)")
    model.eval()
    train_correct, train_acc = accuracy(model, x, y)
    test_correct, test_acc = accuracy(model, xt, yt)
    metrics = dict(train_loss=losses, train_correct=train_correct, train_total=int(x.shape[0]),
                   train_accuracy=train_acc, test_correct=test_correct, test_total=int(xt.shape[0]),
                   test_accuracy=test_acc, seconds=time.perf_counter() - t0, seed=seed, epochs=epochs,
                   batch_size=batch_size, lr=lr, weight_decay=weight_decay, warmup_epochs=warmup_epochs,
                   label_smoothing=label_smoothing, shift=shift, rotate=rotate, scale=scale,
                   drop_path_rate=drop_path_rate, train_subset=train_subset,
                   num_threads=num_threads)
    return model, metrics
