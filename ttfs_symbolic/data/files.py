"""A user's own checkpoint and images: what ``ttfs convert`` and ``ttfs evaluate`` read.

* :func:`load_checkpoint`: a ``.safetensors`` file or a PyTorch state dict
  (``torch.load(..., weights_only=True)``: tensors and plain containers only,
  never pickled code) into a model, with the missing / unexpected / misshapen
  keys named when it does not fit.
* :func:`open_data`: an image folder (class sub-folders -> labels 0..K-1 by
  torchvision's ``ImageFolder`` rules, its own ``find_classes`` and
  ``make_dataset``: every sub-folder is a class, hidden ones included, in
  sorted order; images found recursively with ImageFolder's extensions; a
  class folder without an image is refused, naming it, as ImageFolder does,
  since dropping it would shift every later label; or a folder without
  sub-folders -> its images, no labels), or a ``.pt`` / ``.npy`` / ``.npz``
  tensor file of preprocessed images, optionally with labels (integers
  >= 0; checked against the model's classes by the CLI).
* :func:`data_config`: timm's preprocessing of the model
  (``timm.data.resolve_data_config``) with the image size, mean and std
  overridable; :func:`build_transform` is timm's ``create_transform``.
* :func:`shard_batches`: the batches of one rank. Batch ``k`` (images
  ``k*B .. k*B + B - 1``) goes to rank ``k mod N``: every image is counted
  once whatever ``N``, and every image is evaluated in the same batch as in
  one process, so N processes compute bitwise the numbers one process does.

Corrupt images: by default the first image that cannot be decoded ends the
run with an error naming its path; with ``skip_corrupt=True`` it is skipped,
counted and listed in the report instead.
"""
from __future__ import annotations

import ast
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..userfiles import check_regular_file

#: torchvision's ImageFolder extensions (``torchvision.datasets.folder.IMG_EXTENSIONS``), matched case-insensitively
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: keyword arguments of timm.create_model that --model-kwargs refuses: they load files or move the model
#: (use --checkpoint and --device)
REFUSED_MODEL_KWARGS = ("checkpoint_path", "pretrained", "pretrained_cfg", "pretrained_cfg_overlay",
                        "pretrained_strict", "url", "file", "hf_hub_id", "hf_hub_filename", "cache_dir", "device")
TENSOR_EXTENSIONS = (".pt", ".pth", ".npy", ".npz")


class DataError(ValueError):
    """Bad user input (data, checkpoint, options): printed as one line by the CLI."""


class CorruptImageError(DataError):
    pass


# ---------------------------------------------------------------- options
def parse_model_kwargs(items) -> dict:
    """``["num_classes=3", "depth=2", "global_pool=avg"]`` -> keyword arguments for ``timm.create_model``.

    Values are Python literals read by :func:`ast.literal_eval` (numbers,
    strings, tuples, lists, dicts, True/False/None), never evaluated code; a
    value that is not a literal stays a string (``global_pool=avg``), as in
    timm's own train script. Keys that load files or place the model
    (:data:`REFUSED_MODEL_KWARGS`: ``checkpoint_path``, ``pretrained*``,
    ``url``, ``device``, ...) are refused: weights come from ``--checkpoint``
    alone, through its strict check. A key given twice takes its last value,
    so a later ``--model-kwargs`` overrides an earlier one.
    """
    out = {}
    for item in items or []:
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise DataError(f"--model-kwargs expects key=value pairs, got {item!r}")
        if key in REFUSED_MODEL_KWARGS or key.startswith("pretrained_cfg"):
            raise DataError(f"--model-kwargs {key}=... is refused: weights come from --checkpoint (checked "
                            "strictly), the device from --device")
        try:
            out[key] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            out[key] = value.strip()
    return out


def parse_floats(text, what: str, n: int | None = None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        vals = tuple(float(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise DataError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if n is not None and len(vals) == 1:
        vals = vals * n
    if n is not None and len(vals) != n:
        raise DataError(f"{what} needs 1 or {n} values, got {len(vals)}")
    return vals


# ---------------------------------------------------------------- checkpoint
def read_state_dict(path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file (``.safetensors`` or a ``weights_only`` torch file).

    A torch file may hold the state dict itself or wrap it as timm and common
    training scripts do (``state_dict``, ``model``, ``state_dict_ema``,
    ``model_ema``); a ``module.`` prefix (DistributedDataParallel) and an ``_orig_mod.`` prefix (torch.compile)
    are dropped.
    A checkpoint that holds both gives its EMA weights (``state_dict_ema``,
    then ``model_ema``, before ``state_dict`` and ``model``), as timm's
    ``load_checkpoint`` does by default (``use_ema=True``).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist or is not a file")
    try:
        if path.suffix == ".safetensors":
            # optional dependency (safetensors checkpoints), imported on use
            from safetensors.torch import load_file

            sd = load_file(str(path), device="cpu")
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:   # a corrupt file, pickled code refused by weights_only, ...
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights only load failed" in msg.lower() or "weights_only" in msg:
            msg = ("not a weights-only PyTorch file: it is corrupt, or it holds pickled objects other than "
                   "tensors and containers, which are never unpickled here (save model.state_dict(), "
                   "or a .safetensors file)")
        with open(path, "rb") as fh:   # (a safetensors file begins with its 8-byte header length, then '{')
            head = fh.read(9)
        if path.suffix != ".safetensors" and len(head) == 9 and head[8:9] == b"{":
            msg += "; it looks like a safetensors file: name it .safetensors"
        elif path.suffix != ".safetensors":
            msg += " (a truncated or corrupt file?)"
        raise DataError(f"cannot read checkpoint {path}: {msg}") from None
    if isinstance(sd, dict):
        for key in ("state_dict_ema", "model_ema", "state_dict", "model"):
            if key in sd and isinstance(sd[key], dict):
                sd = sd[key]
                break
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise DataError(f"checkpoint {path} does not hold a state dict (a mapping of names to tensors)")
    _check_tensors(sd, path)
    for prefix in ("module.", "_orig_mod."):   # DistributedDataParallel, torch.compile (either order)
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def _check_tensors(sd: dict, path) -> None:
    """Names are strings; tensors are dense, hold data (not meta), and floating ones are finite."""
    bad_key = next((k for k in sd if not isinstance(k, str)), None)
    if bad_key is not None:
        raise DataError(f"checkpoint {path}: key {bad_key!r} is a {type(bad_key).__name__}, not a parameter name")
    for k, v in sd.items():
        if v.is_meta:
            raise DataError(f"checkpoint {path}: {k} is a meta tensor (a shape without values)")
        if v.layout != torch.strided:
            raise DataError(f"checkpoint {path}: {k} is a {v.layout} tensor; save dense tensors (.to_dense())")
        if (v.is_floating_point() or v.is_complex()) and v.numel() and not bool(torch.isfinite(v).all()):
            raise DataError(f"checkpoint {path}: {k} holds {int((~torch.isfinite(v)).sum())} non-finite value(s)")


def load_checkpoint(model: torch.nn.Module, path) -> torch.nn.Module:
    """Load a checkpoint into ``model`` strictly; a mismatch names the keys that differ."""
    sd = read_state_dict(path)
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k} (checkpoint {tuple(sd[k].shape)}, model {tuple(own[k].shape)})"
              for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        for what, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatch", shapes)):
            if keys:
                more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
                parts.append(f"{what}: {', '.join(keys[:5])}{more}")
        raise DataError(f"checkpoint {path} does not match the model ({'; '.join(parts)}); "
                        "check MODEL and --model-kwargs")
    model.load_state_dict(sd, strict=True)
    return model.eval()


# ---------------------------------------------------------------- preprocessing
def model_input_size(model) -> tuple[int, int, int] | None:
    """``(channels, height, width)`` the model was built for, when it has a fixed one."""
    pe = getattr(model, "patch_embed", None)
    size = getattr(pe, "img_size", None)
    if size is None or getattr(pe, "dynamic_img_size", False):
        return None
    chans = getattr(getattr(pe, "proj", None), "in_channels", 3)
    return (int(chans), int(size[0]), int(size[1]))


def data_config(model, img_size: int | None = None, mean=None, std=None, crop_pct: float | None = None,
                interpolation: str | None = None) -> dict:
    """timm's evaluation preprocessing of ``model`` with optional overrides.

    ``timm.data.resolve_data_config`` reads the model's pretrained config;
    its ``input_size`` is that of the pretrained weights (224 for ViT-B/16
    even when the model was created with ``img_size=32``), so the size the
    model was built for wins unless ``img_size`` is given.
    """
    # timm loads on first use (start-up time)
    from timm.data import resolve_data_config

    cfg = dict(resolve_data_config({}, model=model))
    own = model_input_size(model)
    if own is not None:
        cfg["input_size"] = own
    chans = cfg["input_size"][0]
    if img_size is not None:
        if img_size <= 0:
            raise DataError(f"--img-size must be positive, got {img_size}")
        cfg["input_size"] = (chans, int(img_size), int(img_size))
    if mean is not None:
        cfg["mean"] = parse_floats(mean, "--mean", chans) if isinstance(mean, str) else tuple(mean)
    if std is not None:
        cfg["std"] = parse_floats(std, "--std", chans) if isinstance(std, str) else tuple(std)
        if any(s <= 0 for s in cfg["std"]):
            raise DataError(f"--std must be positive, got {std}")
    if crop_pct is not None:
        cfg["crop_pct"] = float(crop_pct)
    if interpolation is not None:
        cfg["interpolation"] = interpolation
    return cfg


def build_transform(cfg: dict):
    """timm's ``create_transform`` for evaluation (resize, center crop, to tensor, normalize).

    DataError where the mean or std has another number of values than the images have channels: timm's
    config of the pretrained model keeps 3 for a model built with ``in_chans=1``."""
    chans = cfg["input_size"][0]
    for key in ("mean", "std"):
        if len(cfg[key]) != chans:
            raise DataError(f"the model takes {chans}-channel images but its {key} has {len(cfg[key])} values "
                            f"({', '.join(f'{v:g}' for v in cfg[key])}: timm's config of the pretrained model); pass "
                            f"--mean and --std with {chans} value(s) each")
    # timm loads on first use (start-up time)
    from timm.data import create_transform

    return create_transform(input_size=cfg["input_size"], interpolation=cfg.get("interpolation", "bicubic"),
                            mean=cfg["mean"], std=cfg["std"], crop_pct=cfg.get("crop_pct", 0.875),
                            crop_mode=cfg.get("crop_mode", "center"), is_training=False)


# ---------------------------------------------------------------- data sources
@dataclass
class Batch:
    images: torch.Tensor           # (n, C, H, W), n may be 0 when every image was skipped
    labels: torch.Tensor | None
    skipped: list[str] = field(default_factory=list)


class ImageFolderSource:
    """Images of a folder: class sub-folders (labels, torchvision ImageFolder's rules) or flat (no labels).

    ``classes`` are the class folder names in label order and
    ``class_to_idx`` the label map (None for a flat folder).
    """

    def __init__(self, root: Path, transform, limit: int | None = None, skip_corrupt: bool = False,
                 channels: int = 3):
        self.root, self.transform, self.skip_corrupt = root, transform, skip_corrupt
        self.mode = "L" if channels == 1 else "RGB"
        try:
            entries = sorted(root.iterdir())
            has_subdirs = any(e.is_dir() for e in entries)
        except OSError as exc:
            raise DataError(f"cannot read folder {root}: {exc.strerror or exc}") from None
        self.classes = self.class_to_idx = None
        if has_subdirs:
            items = self._class_items(root)
            loose = [e.name for e in entries if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS)]
            if loose:   # ImageFolder's rule: only class sub-folders count
                warnings.warn(f"{root}: {len(loose)} image(s) beside the class sub-folders ({', '.join(loose[:3])}"
                              f"{', ...' if len(loose) > 3 else ''}) are not used: with sub-folders only the images "
                              "in them count (torchvision's ImageFolder); move them into a class folder",
                              UserWarning, stacklevel=2)
        else:   # flat: the images of the folder itself, no labels
            items = [(p, -1) for p in entries if p.name.lower().endswith(IMAGE_EXTENSIONS)]
        if not items:
            raise DataError(f"no images in {root} (looked for {', '.join(IMAGE_EXTENSIONS)} in the folder "
                            "and in its class sub-folders)")
        if limit is not None:
            items = items[:limit]
        self.items = items
        self.has_labels = self.classes is not None

    def _class_items(self, root: Path) -> list:
        """torchvision's ``find_classes`` and ``make_dataset`` (ImageFolder): every sub-folder, hidden
        ones too, is a class; a class without an image is refused, naming its folder."""
        # optional dependency (image folders), imported on use
        from torchvision.datasets.folder import find_classes, make_dataset

        try:
            classes, class_to_idx = find_classes(str(root))
            found = make_dataset(str(root), class_to_idx, extensions=IMAGE_EXTENSIONS, allow_empty=True)
        except OSError as exc:
            raise DataError(f"cannot read folder {root}: {exc.strerror or exc}") from None
        have = {label for _, label in found}
        empty = [c for c in classes if class_to_idx[c] not in have]
        if empty:
            hidden = [c for c in empty if c.startswith(".")]
            raise DataError(f"{root}: class folder(s) {', '.join(empty[:5])}"
                            + (" (hidden folders count too)" if hidden else "")
                            + " hold no image: as in torchvision's ImageFolder every sub-folder is a class, and an "
                            "empty one would shift the labels after it; remove it or add its images")
        self.classes, self.class_to_idx = classes, class_to_idx
        return [(Path(p), label) for p, label in found]

    def __len__(self):
        return len(self.items)

    def load(self, i: int):
        # optional dependency (Pillow, image folders), imported on use
        from PIL import Image, UnidentifiedImageError

        path, label = self.items[i]
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):   # a FIFO would block open() forever
                raise OSError(f"{path} is not a regular file")
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(path) as img:
                    x = self.transform(_eight_bit(img).convert(self.mode))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            if self.skip_corrupt:
                return None, label, str(path)
            raise CorruptImageError(f"image {path} is refused: more pixels than PIL's limit (Image.MAX_IMAGE_PIXELS "
                                    f"= {Image.MAX_IMAGE_PIXELS}), a possible decompression bomb; "
                                    "remove it, or pass --skip-corrupt") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            if self.skip_corrupt:
                return None, label, str(path)
            raise CorruptImageError(f"cannot decode image {path}: {str(exc).splitlines()[0] if str(exc) else exc}; "
                                    "fix or remove it, or pass --skip-corrupt") from None
        return x, label, str(path)

    def batch(self, indices) -> Batch:
        xs, ys, skipped = [], [], []
        for i in indices:
            x, y, path = self.load(i)
            if x is None:
                skipped.append(path)
                continue
            xs.append(x)
            ys.append(y)
        first = self.load_shape()
        images = torch.stack(xs) if xs else torch.zeros((0, *first))
        labels = torch.tensor(ys, dtype=torch.long) if self.has_labels else None
        return Batch(images, labels, skipped)

    def load_shape(self):
        size = getattr(self, "_shape", None)
        if size is None:
            t = self.transform
            # the transform's output shape: from a blank image of any size
            from PIL import Image

            size = self._shape = tuple(t(Image.new(self.mode, (8, 8))).shape)
        return size


def _eight_bit(img):
    """``img`` with 8-bit channels: a 16-bit greyscale image (mode ``I;16*``, or ``I`` from a PNG, whose
    16-bit greyscale Pillow may open so) scaled by 255/65535; PIL's own conversion to RGB or L would clip
    it to 255, nearly all white. Other 32-bit integer and float images (``I``, ``F``) have no known scale:
    ValueError (which :meth:`ImageFolderSource.load` reports naming the file, a corrupt image to
    ``--skip-corrupt``)."""
    # optional dependency (Pillow, image folders), imported on use
    from PIL import Image

    if img.mode.startswith("I;16") or (img.mode == "I" and img.format == "PNG"):
        arr = np.asarray(img, dtype=np.float64)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise ValueError(f"{img.mode} pixels outside 0..65535")
        return Image.fromarray(np.rint(arr * (255.0 / 65535.0)).astype(np.uint8), "L")
    if img.mode in ("I", "F"):
        raise ValueError(f"{'32-bit integer' if img.mode == 'I' else 'floating-point'} pixels (PIL mode "
                         f"{img.mode}) have no known scale; save it with 8- or 16-bit channels")
    return img


class TensorSource:
    """Preprocessed images (N, C, H, W) from a tensor file, with labels when the file has them."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, limit: int | None = None):
        if limit is not None:
            images = images[:limit]
            labels = None if labels is None else labels[:limit]
        self.images, self.labels = images, labels
        self.has_labels = labels is not None
        self.classes = None

    def __len__(self):
        return int(self.images.shape[0])

    def batch(self, indices) -> Batch:
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        return Batch(self.images[idx], None if self.labels is None else self.labels[idx])


def _tensor(v, path, what):
    if isinstance(v, np.ndarray):
        v = torch.from_numpy(np.ascontiguousarray(v))
    if not isinstance(v, torch.Tensor):
        raise DataError(f"{path}: {what} is a {type(v).__name__}, not a tensor")
    return v


def read_tensor_file(path: Path):
    """``(images, labels or None)`` from a ``.pt``/``.pth`` (tensor, (images, labels), or a dict with
    ``images``/``x``/``data`` and ``labels``/``y``/``targets``), ``.npy`` (images) or ``.npz`` file."""
    try:
        if path.suffix == ".npy":
            obj = np.load(path, allow_pickle=False)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                obj = {k: z[k] for k in z.files}
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read {path}: {msg}") from None
    labels = None
    if isinstance(obj, dict):
        ik = next((k for k in ("images", "x", "data", "inputs") if k in obj), None)
        if ik is None:
            raise DataError(f"{path}: expected a key images, x, data or inputs, found {sorted(obj)[:8]}")
        lk = next((k for k in ("labels", "y", "targets", "target") if k in obj), None)
        images = _tensor(obj[ik], path, ik)
        labels = None if lk is None else _tensor(obj[lk], path, lk)
    elif isinstance(obj, (tuple, list)) and len(obj) == 2:
        images, labels = _tensor(obj[0], path, "item 0"), _tensor(obj[1], path, "item 1")
    else:
        images = _tensor(obj, path, "the content")
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4:
        raise DataError(f"{path}: images must have shape (N, C, H, W), got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise DataError(f"{path}: images must be preprocessed floating-point tensors, got {images.dtype}")
    if labels is not None:
        labels = check_labels(labels, f"{path}: labels")
        if labels.shape[0] != images.shape[0]:
            raise DataError(f"{path}: {images.shape[0]} images but {labels.shape[0]} labels")
    return images, labels


def check_labels(labels, what: str = "labels", num_classes: int | None = None) -> torch.Tensor:
    """Class labels as a 1-D int64 tensor: integers (integral floats too) in ``[0, num_classes)``.

    A label 0.7, NaN, -1 or one past the model's classes is refused (DataError
    naming the first), never truncated or compared as it is: either would
    report a wrong accuracy without a word.
    """
    labels = torch.as_tensor(labels)
    if labels.dim() == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.dim() != 1:
        raise DataError(f"{what} must be one class number per image (shape (N,)), got shape {tuple(labels.shape)}")
    if labels.dtype == torch.bool or labels.is_complex():
        raise DataError(f"{what} must be integer class numbers, got {labels.dtype}")
    if labels.is_floating_point():
        bad = ~torch.isfinite(labels) | (labels != torch.round(labels)) | (labels.abs() >= 2 ** 31)
        if bool(bad.any()):
            raise DataError(f"{what} must be integer class numbers, got {float(labels[bad][0]):.6g}")
    if labels.numel() and float(labels.min()) < 0:
        raise DataError(f"{what} must be class numbers >= 0, got {labels.min().item()!r}")
    if num_classes is not None and labels.numel() and float(labels.max()) >= num_classes:
        raise DataError(f"{what}: class {labels.max().item()!r} but the model has {num_classes} classes "
                        f"(0..{num_classes - 1})")
    return labels.to(torch.int64)


def open_data(path, transform=None, limit: int | None = None, skip_corrupt: bool = False, channels: int = 3):
    """A data source: an image folder (through ``transform``) or a tensor file (used as it is)."""
    if limit is not None and limit <= 0:
        raise DataError(f"--limit must be positive, got {limit}")
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if path.is_dir():
        if transform is None:
            raise DataError("an image folder needs a transform")
        return ImageFolderSource(path, transform, limit=limit, skip_corrupt=skip_corrupt, channels=channels)
    if path.suffix.lower() in TENSOR_EXTENSIONS:
        check_regular_file(path, "data file")   # a FIFO would block torch.load forever
        images, labels = read_tensor_file(path)
        if images.shape[0] == 0:
            raise DataError(f"{path} holds no images")
        return TensorSource(images, labels, limit=limit)
    raise DataError(f"{path}: expected an image folder or a {', '.join(TENSOR_EXTENSIONS)} file")


def shard_batches(n: int, batch_size: int, rank: int = 0, world: int = 1) -> list[range]:
    """The index batches of one rank: batch ``k`` to rank ``k mod world`` (every image exactly once)."""
    if batch_size <= 0:
        raise DataError(f"--batch-size must be positive, got {batch_size}")
    starts = range(0, n, batch_size)
    return [range(s, min(s + batch_size, n)) for k, s in enumerate(starts) if k % world == rank]


def iter_batches(source, batch_size: int, rank: int = 0, world: int = 1, workers: int = 0):
    """The batches (:class:`Batch`) of one rank, loaded in ``workers`` background processes (0: in this one)."""
    shards = shard_batches(len(source), batch_size, rank, world)
    if workers <= 0 or isinstance(source, TensorSource):
        for idx in shards:
            yield source.batch(idx)
        return
    loader = DataLoader(shards, batch_size=None, num_workers=workers, collate_fn=source.batch)
    try:
        yield from loader
    except DataError as exc:   # re-raised from a worker with its traceback in the message: keep the last line
        last = str(exc).strip().splitlines()[-1]
        raise type(exc)(last.split(": ", 1)[1] if ": " in last else last) from None
