"""Checks of what a spiking model is called with (issue 12): images and the dtype to run in.

Shared by every model family (:meth:`SpikingViT.check_images` is reused by
the EVA and DeiT models). Every refusal is one line that names the problem.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["check_images", "check_dtype", "check_batch", "batches", "count_batches"]


def check_images(images, in_chans: int, img_size) -> torch.Tensor:
    """``images`` as a floating tensor of shape (batch, in_chans, H, W); TypeError/ValueError otherwise.

    Any real floating dtype is accepted (float16 and bfloat16 too: the run's
    float32 or float64 holds their values exactly, see :func:`check_dtype`).
    """
    if images is None or isinstance(images, (str, bytes)):
        raise TypeError(f"images must be a tensor of shape (batch, {in_chans}, {img_size[0]}, {img_size[1]}), "
                        f"got {type(images).__name__}")
    if not isinstance(images, torch.Tensor):
        if type(images).__module__ == "numpy" and hasattr(images, "dtype"):
            images = torch.from_numpy(images)
        else:
            raise TypeError(f"images must be a torch.Tensor (or a NumPy array), got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1] != in_chans or tuple(images.shape[2:]) != tuple(img_size):
        raise ValueError(f"expected images of shape (batch, {in_chans}, {img_size[0]}, "
                         f"{img_size[1]}), got {tuple(images.shape)}")
    if images.is_complex() or not images.is_floating_point():
        raise ValueError(f"images must be floating point, got {images.dtype}: scale and normalise raw pixels "
                         "as the ANN expects (e.g. images.float() / 255, then its mean and std) first")
    # one summing pass first (a NaN or inf pixel makes the sum non-finite; torch.isfinite over every
    # pixel costs more than a whole layer of the model): the pixel-wise count only when it is not
    if images.numel() and not bool(torch.isfinite(images.sum())):
        bad = ~torch.isfinite(images)
        if bool(bad.any()):
            nan = int(torch.isnan(images).sum())
            inf = int(bad.sum()) - nan
            what = ", ".join(w for w in (nan and f"{nan} NaN", inf and f"{inf} inf") if w)
            raise ValueError(f"images contain non-finite pixels ({what}): no spike time can stand for them")
    return images


#: the dtypes a forward pass computes in
RUN_DTYPES = (torch.float32, torch.float64)


def check_dtype(dtype) -> torch.dtype:
    """The dtype a forward pass computes in: torch.float32 or torch.float64, else ValueError.

    Half precision (float16, bfloat16) is refused as the message says: its
    8 or 11 significant bits cannot hold the spike times of a time precision
    p above a few hundred, nor the range checks' tolerances. Inputs (images)
    of any floating dtype are accepted everywhere and converted to the run's
    dtype, which is exact from float16 and bfloat16.
    """
    if not isinstance(dtype, torch.dtype) or dtype not in RUN_DTYPES:
        what = "an integer dtype would round the images and every value" if isinstance(dtype, torch.dtype) \
            and not dtype.is_floating_point else "half precision cannot hold the spike times"
        raise ValueError(f"dtype must be a floating torch dtype, torch.float32 or torch.float64, got {dtype!r}: {what}")
    return dtype


def run_dtype(images, dtype=None) -> torch.dtype:
    """``dtype`` where given; else the dtype a call on ``images`` computes in: float64 for float64 images (a
    tensor or a NumPy array), so that float64 inputs are not rounded to float32 unasked, float32 for any other."""
    if dtype is not None:
        return dtype
    given = getattr(images, "dtype", None)
    double = given == torch.float64 if isinstance(given, torch.dtype) else given == np.dtype(np.float64)
    return torch.float64 if double else torch.float32


def check_batch(batch_size, dtype=torch.float32) -> None:
    """ValueError for a batch size that is not a positive integer or a dtype that is not floating."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    check_dtype(dtype)


def _images_of(data):
    """The images of a tensor, a NumPy array or an (images, labels) pair, as a tensor; other data unchanged.

    A pair is two arrays, the second one-dimensional (labels): a list of two image batches is not one.
    (A NumPy array of images used to be iterated image by image, each refused as a batch of the wrong
    shape.)"""
    if (isinstance(data, (tuple, list)) and len(data) == 2 and _is_array(data[0]) and _is_array(data[1])
            and len(data[1].shape) == 1):
        data = data[0]
    if _is_array(data) and not isinstance(data, torch.Tensor):
        return torch.as_tensor(data)
    return data


def _is_array(x) -> bool:
    return isinstance(x, (torch.Tensor, np.ndarray))


def batches(data, batch_size: int):
    """Image batches from a tensor or NumPy array, an (images, labels) pair, or an iterable of batches."""
    data = _images_of(data)
    if data is None or isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
        raise TypeError(f"expected images as a tensor, an (images, labels) pair or an iterable of batches, "
                        f"got {type(data).__name__}")
    if isinstance(data, torch.Tensor):
        for i in range(0, data.shape[0], batch_size):
            yield data[i:i + batch_size]
        return
    for item in data:
        yield item[0] if isinstance(item, (tuple, list)) else item


def count_batches(data, batch_size: int) -> int:
    """How many batches :func:`batches` yields (0 when an iterable has no length)."""
    data = _images_of(data)
    if isinstance(data, torch.Tensor):
        return (data.shape[0] + batch_size - 1) // batch_size
    try:
        return len(data)
    except TypeError:
        return 0
