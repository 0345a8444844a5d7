"""The user's model and data for ``ttfs convert`` and ``ttfs evaluate``: the timm model built from
``--model-kwargs`` and ``--checkpoint``, the images opened and checked against it, and the batches re-read on
every calibration pass.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch


def build_ann(args):
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..conversion.convert import resolve_model
    from ..data.files import DataError, load_checkpoint, parse_model_kwargs

    kwargs = parse_model_kwargs(args.model_kwargs)
    ann = create_model(args.model, kwargs, resolve_model, DataError)
    if args.checkpoint:
        load_checkpoint(ann, args.checkpoint)
    else:
        print(f"ttfs {args.command}: warning: no --checkpoint, {args.model} keeps random weights"
              + (" (unseeded: ttfs evaluate will build other ones, which the conversion file refuses; save the "
                 "model's state_dict and pass it as --checkpoint to both)" if args.command == "convert" else ""),
              file=sys.stderr)
    return ann.eval(), kwargs


class Reread:
    """Batches read afresh on every pass: precision-aware calibration (--precision) makes two (a generator
    would be empty the second time: 'the calibration set is empty')."""

    def __init__(self, make):
        self.make, self.first = make, make()   # (the first pass's batches made at once, as a generator was)

    def __iter__(self):
        batches, self.first = (self.first if self.first is not None else self.make()), None
        return iter(batches)


#: most parameters of a model --model-kwargs may build (4e9: 16 GB in float32, twice that for the SNN's float64)
MAX_MODEL_PARAMETERS = 4_000_000_000


def create_model(name, kwargs, resolve_model, error):
    """``timm.create_model(name, **kwargs)``: first on the meta device (no memory; its size checked), then
    for real. Any exception of timm or the model is one line naming --model-kwargs."""
    def fail(exc):
        what = " ".join(f"{k}={v!r}" for k, v in kwargs.items())
        text = " ".join(str(exc).split()) or type(exc).__name__
        return error(f"cannot create {name} with --model-kwargs {what or '(none)'}: {type(exc).__name__}: {text}")

    if not kwargs:
        return resolve_model(name)   # an unknown name is a ValueError of its own
    try:
        with torch.device("meta"):
            meta = resolve_model(name, **kwargs)
        n = sum(p.numel() for p in meta.parameters())
    except ValueError as exc:
        if "unknown timm model" in str(exc):
            raise
        raise fail(exc) from None
    except Exception as exc:   # noqa: BLE001 - timm and the model raise any type for a bad argument
        raise fail(exc) from None
    if n > MAX_MODEL_PARAMETERS:
        raise error(f"--model-kwargs build {name} with {n} parameters, more than {MAX_MODEL_PARAMETERS}")
    try:
        return resolve_model(name, **kwargs)
    except Exception as exc:   # noqa: BLE001
        raise fail(exc) from None


def warn_label_map(saved: dict, mine: dict | None) -> None:
    """Warn where --data's class folders number their labels otherwise than the calibration folder's did
    (a folder holding classes 2/ and 5/ only labels them 0 and 1: accuracy against those labels)."""
    theirs = (saved.get("calibration") or {}).get("label_map")
    if not mine or not theirs:
        return
    moved = [f"{c} -> {i} (calibration: {theirs.get(c, 'absent')})" for c, i in mine.items() if theirs.get(c) != i]
    if moved:
        print(f"ttfs evaluate: warning: the class folders of --data number their labels otherwise than the "
              f"calibration folder's: {', '.join(moved[:5])}{', ...' if len(moved) > 5 else ''}; accuracy is "
              "against --data's own numbering (its sorted folder names from 0)", file=sys.stderr)


def open_inputs(args, ann, path):
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..data.files import TensorSource, build_transform, data_config, model_input_size, open_data

    cfg = data_config(ann, img_size=args.img_size, mean=args.mean, std=args.std, crop_pct=args.crop_pct,
                      interpolation=args.interpolation)
    own = model_input_size(ann)
    if own is not None and tuple(cfg["input_size"]) != own:
        raise ValueError(f"--img-size {args.img_size} but {args.model} takes {own[1]}x{own[2]} images "
                         f"(pass img_size={args.img_size} in --model-kwargs to build it for that size)")
    folder = Path(path).is_dir()   # (a tensor file is used as it is: no transform, no mean and std)
    given = [f for f, v in (("--mean", args.mean), ("--std", args.std), ("--crop-pct", args.crop_pct),
                            ("--interpolation", args.interpolation)) if v is not None]
    if not folder and given:   # they would be recorded as the preprocessing used, and used by nothing
        raise ValueError(f"{', '.join(given)} preprocess{'es' if len(given) == 1 else ''} the images of a folder; "
                         f"{path} is a tensor file, used as it is (preprocess it before saving it)")
    src = open_data(path, transform=build_transform(cfg) if folder else None, limit=args.limit,
                    skip_corrupt=args.skip_corrupt,
                    channels=cfg["input_size"][0])
    shape = tuple(src.images.shape[1:]) if isinstance(src, TensorSource) else None   # used as it is
    want = tuple(cfg["input_size"]) if own is not None else (cfg["input_size"][0],)
    if shape is not None and shape[:len(want)] != want:
        takes = f"(C, H, W) = {want}" if len(want) == 3 else f"{want[0]}-channel images"
        raise ValueError(f"{path}: its images have shape (C, H, W) = {shape}, but {args.model} takes {takes} "
                         "(preprocessed, channels first; a 3-D file is one image (C, H, W))")
    num_classes = getattr(ann, "num_classes", None)
    if src.classes and num_classes and len(src.classes) > num_classes:
        raise ValueError(f"{path} has {len(src.classes)} class folders but {args.model} has {num_classes} outputs")
    labels = getattr(src, "labels", None)
    if labels is not None and num_classes:
        # start-up time: a subcommand loads only what it runs (torch among it)
        from ..data.files import check_labels

        check_labels(labels, f"{path}: labels", num_classes)
    # the preprocessing applied, recorded in the files: none for a tensor file
    cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()} if folder else None
    return src, cfg
