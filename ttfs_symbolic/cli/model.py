"""``ttfs convert`` and ``ttfs evaluate``: a user's own timm model, checkpoint and images.

::

    ttfs convert MODEL --checkpoint FILE --calib DATA --out CONV.json [--model-kwargs k=v ...]
    ttfs evaluate MODEL --checkpoint FILE --conversion CONV.json --data DATA \\
        --modes exact,quantized,kernel --precision 64,256,1024 --out DIR

Both run unchanged under ``torchrun --nproc-per-node N -m ttfs_symbolic ...``:
the data is sharded over the ranks by batch, calibration statistics and
evaluation counts are reduced over them (:mod:`ttfs_symbolic.conversion.distributed`),
and rank 0 alone prints, shows progress and writes files.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import torch

from ..conversion.presets import DEFAULT_PRESET, PRESETS
from .inputs import Reread, build_ann, open_inputs, warn_label_map
from .main import HELP

DEFAULT_MODES = "exact,quantized,kernel"
DEFAULT_PRECISIONS = "64,256,1024"
#: seconds a rank waits at a collective for the others (torchrun) before the run stops
DEFAULT_TIMEOUT = 300.0


def _common(p, data_flag: str):
    p.add_argument("model", metavar="MODEL", help="timm model name, e.g. vit_tiny_patch16_224 or eva02_tiny_patch14_224")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="weights: .safetensors or a PyTorch state dict (loaded with weights_only=True); "
                        "without it the model keeps timm's random initialisation")
    p.add_argument("--model-kwargs", nargs="+", action="extend", default=None, metavar="KEY=VALUE",
                   help="keyword arguments for timm.create_model, values as Python literals "
                        "(e.g. num_classes=3 img_size=32 depth=2)")
    p.add_argument("--limit", type=int, metavar="N", help=f"use the first N images of {data_flag} (sorted order)")
    p.add_argument("--batch-size", type=int, default=32, help="images per batch (default: 32)")
    p.add_argument("--img-size", type=int, help="override the input size of timm's data config (square)")
    p.add_argument("--mean", help="override the normalisation mean (1 or C comma-separated values)")
    p.add_argument("--std", help="override the normalisation std (1 or C comma-separated values)")
    p.add_argument("--crop-pct", type=float, help="override timm's center-crop fraction")
    p.add_argument("--interpolation", help="override the resize interpolation (bicubic, bilinear, ...)")
    p.add_argument("--skip-corrupt", action="store_true",
                   help="skip images that cannot be decoded (counted and listed) instead of stopping with an error")
    p.add_argument("--workers", type=int, default=0, help="background processes decoding images (default: 0)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto: the GPU of LOCAL_RANK when CUDA is available, else the CPU")
    p.add_argument("--threads", type=int, help="torch threads per process (default: torch's own)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"torchrun: how long a rank waits for the others at a collective before the run "
                        f"stops naming the ranks missing (default: {DEFAULT_TIMEOUT:g})")
    try:
        # start-up time: a subcommand loads only what it runs (torch among it)
        from ..conversion.activations import add_activation_argument
    except ImportError:   # a version without the activation registry
        return
    add_activation_argument(p)


def _activations(args) -> dict | None:
    items = getattr(args, "activation", None)
    if not items:
        return None
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..conversion.activations import parse_activation_args

    return parse_activation_args(items)


def register(subparsers):
    p = subparsers.add_parser("convert", help=HELP["convert"],
                              description="Calibrate the ranges of every spiking layer of MODEL with the "
                                          "checkpoint's weights on DATA and write the conversion file.")
    _common(p, "--calib")
    p.add_argument("--calib", required=True, metavar="DATA",
                   help="calibration images: an image folder (class sub-folders or flat) or a .pt/.npy/.npz file")
    p.add_argument("--out", required=True, metavar="CONV.json",
                   help="the conversion file to write (never one of the inputs)")
    p.add_argument("--overwrite", action="store_true", help="replace --out when it exists")
    p.add_argument("--percentile", type=float, default=100.0, help="range percentile in (50, 100] (default: 100)")
    p.add_argument("--margin", type=float, default=0.0,
                   help="widen each range by this fraction of its width on both sides (default: 0)")
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=tuple(PRESETS),
                   help=f"the network built: {DEFAULT_PRESET} (the default: the most accurate for the family) or "
                        "paper (the paper's network, Table 2's counts); the flags below override its settings")
    p.add_argument("--precision", type=int, default=None, metavar="P",
                   help="calibrate for time precision P: each layer's range from values that already passed "
                        "the layers before it at P (default: calibrate on exact values)")
    p.add_argument("--range-kind", default=None,
                   help="layer (one range per layer, Algorithm 1), channel or neuron (default: the preset's)")
    p.add_argument("--product", default=None,
                   help="construction of the multiplication networks: signed or paper (eq. 24-27; default: "
                        "the preset's)")
    p.add_argument("--sigmas", type=float, default=None,
                   help="per-channel / per-neuron ranges also hold mean +- SIGMAS std (default: the preset's)")
    p.add_argument("--residual", default=None, choices=("neuron", "synapses"),
                   help="residual sums as identity neurons (the paper) or as synapses into the next "
                        "LayerNorm (no rounding of the sum; default: the preset's)")
    p.add_argument("--rsqrt", default=None, choices=("neuron", "folded"),
                   help="LayerNorm's (v + eps)^(-1/2) as its own neuron (the paper) or folded into the "
                        "product's input transform (default: the preset's)")
    p.add_argument("--codes", default=None, choices=("linear", "auto"),
                   help="spike codes: linear everywhere (the paper) or each layer's code of least rounding "
                        "error, linear or log (default: the preset's)")
    p.add_argument("--holdout", type=float, default=None, metavar="FRACTION",
                   help="fraction in [0, 0.5] of the calibration data held out to check and widen the ranges "
                        "(default: the preset's)")
    p.add_argument("--headroom", type=float, default=None, metavar="H",
                   help="log-coded ranges' far ends widened by this factor >= 1 (default: the preset's)")
    p.add_argument("--variance-end", default=None, choices=("bound", "calibrated"),
                   help="upper end of LayerNorm's variance range: the bound the network proves or the "
                        "calibrated one (default: the preset's)")
    p.set_defaults(func=run_convert)

    p = subparsers.add_parser("evaluate", help=HELP["evaluate"],
                              description="Accuracy (with class sub-folders), agreement, logit error, clip rates, "
                                          "spikes and energy of the converted MODEL per mode and precision.")
    _common(p, "--data")
    p.add_argument("--conversion", required=True, metavar="CONV.json", help="the file written by ttfs convert")
    p.add_argument("--data", required=True, metavar="DATA",
                   help="images: an image folder (class sub-folders -> labels) or a .pt/.npy/.npz file")
    p.add_argument("--modes", default=DEFAULT_MODES, help=f"comma-separated modes (default: {DEFAULT_MODES})")
    p.add_argument("--precision", default=None,
                   help=f"comma-separated time precisions p for quantized and kernel (default: {DEFAULT_PRECISIONS})")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"),
                   help="dtype of quantized and kernel mode (default: float32; exact mode runs in float64)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the JSON reports and the plot")
    p.add_argument("--force", action="store_true",
                   help="load a conversion file made for other weights (or of format version 1) anyway, "
                        "with a warning")
    p.set_defaults(func=run_evaluate)


# ---------------------------------------------------------------------------
def check_args(args) -> None:
    """Every argument of ``convert`` / ``evaluate`` checked once, before any work (issue 21).

    Numbers finite and within :data:`ttfs_symbolic.cli.checks.BOUNDS`,
    precisions within the stated maxima of their modes, files existing
    regular files (no FIFO, no device), ``--model-kwargs`` parsed and
    screened, and ``convert --out`` neither an input nor an existing file
    without ``--overwrite``. ValueError (one line) naming the flag.
    """
    # start-up time: a subcommand loads only what it runs (torch among it)
    from . import checks as cc
    from ..data.files import TENSOR_EXTENSIONS, parse_model_kwargs

    for flag in ("--batch-size", "--limit", "--img-size", "--threads"):
        cc.check_int(getattr(args, flag[2:].replace("-", "_")), flag)
    if isinstance(args.workers, bool) or not 0 <= args.workers <= cc.max_workers():
        raise ValueError(f"--workers must be an integer in [0, {cc.max_workers()}] (two per CPU core, at most 64), "
                         f"got {args.workers}")
    cc.check_numbers(args.mean, "--mean")
    cc.check_numbers(args.std, "--std")
    cc.check_number(args.crop_pct, "--crop-pct")
    if args.interpolation is not None and args.interpolation not in cc.INTERPOLATIONS:
        raise ValueError(f"--interpolation must be one of {', '.join(cc.INTERPOLATIONS)}, got {args.interpolation!r}")
    if not (math.isfinite(args.timeout) and 1.0 <= args.timeout <= 86400.0):
        raise ValueError(f"--timeout must be a number of seconds in [1, 86400], got {args.timeout}")
    parse_model_kwargs(args.model_kwargs)   # screened (refused keys, literals) before any model is built
    if args.checkpoint is not None:
        # start-up time: a subcommand loads only what it runs (torch among it)
        from ..userfiles import check_regular_file

        check_regular_file(args.checkpoint, "--checkpoint")
    _activations(args)
    if args.command == "convert":
        _check_convert_args(args, cc, TENSOR_EXTENSIONS)
    else:
        _check_evaluate_args(args, cc, TENSOR_EXTENSIONS)


def _check_convert_args(args, cc, tensor_extensions) -> None:
    cc.check_data(args.calib, "--calib", tensor_extensions)
    if not (math.isfinite(args.percentile) and 50.0 < args.percentile <= 100.0):
        raise ValueError(f"--percentile must be in (50, 100], got {args.percentile}")
    cc.check_number(args.margin, "--margin")
    cc.check_number(args.sigmas, "--sigmas")
    cc.check_number(args.holdout, "--holdout")
    cc.check_number(args.headroom, "--headroom")
    for flag, value, choices in (("--range-kind", args.range_kind, ("layer", "channel", "neuron")),
                                 ("--product", args.product, ("signed", "paper"))):
        if value is not None and value not in choices:
            raise ValueError(f"{flag} must be one of {', '.join(choices)}, got {value!r}")
    if args.precision is not None:
        cc.check_int(args.precision, "--precision")
    cc.check_out_file(args.out, {"--checkpoint": args.checkpoint, "--calib": args.calib}, args.overwrite)


def _check_evaluate_args(args, cc, tensor_extensions) -> None:
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..userfiles import MAX_JSON_BYTES, check_regular_file

    cc.check_data(args.data, "--data", tensor_extensions)
    check_regular_file(args.conversion, "conversion file", MAX_JSON_BYTES)
    args.conversion_data = _read_conversion(args.conversion)   # its content checked now, read once
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in ("exact", "quantized", "kernel"):
            raise ValueError(f"unknown mode {m!r} in --modes (exact, quantized, kernel)")
    if not modes:
        raise ValueError(f"--modes names no mode, got {args.modes!r}")
    cc.check_unique(modes, "--modes")
    if args.precision is not None and all(m == "exact" for m in modes):   # it would be ignored
        raise ValueError(f"--precision {args.precision} applies to quantized and kernel mode, and --modes "
                         f"{args.modes} runs neither: add quantized or kernel to --modes, or leave --precision out")
    precisions = _precisions(args.precision)
    cc.check_precisions(precisions, [m for m in modes if m != "exact"])
    inputs = {"--checkpoint": args.checkpoint, "--conversion": args.conversion}
    out = Path(args.out)
    data = Path(args.data)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: a file of that name exists (give a folder)")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"--out {out}: {parent} is a file, not a folder")
    if data.is_dir() and out.resolve().is_relative_to(data.resolve()):
        raise ValueError(f"--out {out} is inside the --data folder {data}: the reports would become part of "
                         "the data (a class folder, or images of it); write elsewhere")
    labels = [m if m == "exact" else f"{m}_p{p}" for m in modes for p in ([None] if m == "exact" else precisions)]
    cc.check_out_folder_files(out, ["report.json", "accuracy_vs_precision.png"]
                              + [f"report_{label}.json" for label in labels], {**inputs, "--data": args.data})


def _precisions(text) -> list[int]:
    text = DEFAULT_PRECISIONS if text is None else text   # (--precision not given)
    try:
        precisions = [int(p) for p in str(text).split(",") if p.strip()]
    except ValueError:
        raise ValueError(f"--precision must be comma-separated integers, got {text!r}") from None
    if any(p < 1 for p in precisions):
        raise ValueError(f"--precision: time precisions are positive integers, got {text!r}")
    return precisions


def _log(dist_info, *a, **kw):
    if dist_info.is_main:
        print(*a, **kw)
        sys.stdout.flush()


def _setup(args):
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..conversion import distributed

    return distributed.setup(args.device, timeout=args.timeout)


class _Quiet(Exception):
    """An error rank 0 reports for every rank: the other ranks exit with code 2 and print nothing."""


class _Agreed(ValueError):
    """The error rank 0 reports for every rank (its message names the rank where not every rank has it)."""


def _agreed_checks(args, info) -> None:
    """The ranks' arguments compared, then :func:`check_args` on every rank; one report of a failure.

    In one process: :func:`check_args`. Under torchrun every rank first
    refuses arguments that differ from rank 0's; then each checks its own,
    and the first failure (with its rank when not every rank failed) is
    raised by rank 0 alone: the user reads one line, not one per rank.
    """
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..conversion import distributed

    distributed.check_same("arguments", {k: v for k, v in sorted(vars(args).items())
                                         if k not in ("func", "conversion_data")})
    try:
        check_args(args)
        mine = None
    except ValueError as exc:
        if info.world == 1:
            raise
        mine = str(exc)
    errors = distributed.all_gather_objects(mine)
    failed = [(r, e) for r, e in enumerate(errors) if e is not None]
    if failed:
        if not info.is_main:
            raise _Quiet()
        r, e = failed[0]
        raise _Agreed(e if len(failed) == info.world else f"rank {r}: {e}")


def _guarded(body):
    """Run ``body(args)`` in the process group after one check of every argument (issue 21).

    On an error this rank leaves the group without a barrier (torchrun stops
    the rest): a user error is recorded for the other ranks and torchrun's
    summary (:func:`distributed.report_error`), and a collective that fails
    because another rank failed, stopped or timed out becomes one line
    naming that rank (:func:`distributed.explain_failure`).
    """
    def run(args):
        # start-up time: a subcommand loads only what it runs (torch among it)
        from .main import UserError
        from ..conversion import distributed

        if args.threads is not None:
            # start-up time: a subcommand loads only what it runs (torch among it)
            from . import checks

            checks.check_int(args.threads, "--threads")
            torch.set_num_threads(args.threads)
        info = _setup(args)
        try:
            if info.world > 1:
                _agreed_checks(args, info)
            else:
                check_args(args)   # every argument, before any work
            rc = body(args, info)
        except _Quiet:
            _leave()
            return 2
        except (ValueError, UserError) as exc:
            mismatch = isinstance(exc, (distributed.RankMismatchError, _Agreed))
            if info.world > 1 and (info.is_main or not mismatch):   # a mismatch: every rank has the same
                distributed.report_error(" ".join(str(exc).split()))
            if info.world > 1 and not mismatch and not str(exc).startswith("rank "):
                exc = (UserError if isinstance(exc, UserError) else ValueError)(f"rank {info.rank}: {exc}")
            _leave()
            if mismatch and not info.is_main:
                return 2
            raise exc from None
        except Exception as exc:   # noqa: BLE001 - a collective that failed: say why, if the store knows
            why = distributed.explain_failure(exc) if info.world > 1 else None
            _leave()
            if why is None:
                raise
            raise UserError(f"rank {info.rank}: {why}") from None
        except BaseException:
            _leave()
            raise
        distributed.teardown()
        return rc
    return run


def _leave():
    # torch.distributed: only under torchrun
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _same_data(src, cfg, snn) -> None:
    """torchrun: every rank must see the data and weights rank 0 sees (a node with other files is refused)."""
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..conversion import distributed

    distributed.check_same("data or weights", {
        "images": len(src), "classes": src.classes, "labels": src.has_labels, "preprocessing": cfg,
        "first": str(src.items[0][0]) if getattr(src, "items", None) else None,
        "weights_fingerprint": getattr(snn, "weights_fingerprint", None)})


def _convert(args, info) -> int:
    # start-up time: a subcommand loads only what it runs (torch among it)
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..conversion import distributed
    from ..conversion.convert import build_spiking, calibrate, preset_settings
    from ..conversion.fileformat import conversion_dict
    from ..data.files import iter_batches, shard_batches

    t0 = time.perf_counter()
    ann, kwargs = build_ann(args)
    src, cfg = open_inputs(args, ann, args.calib)
    activations = _activations(args)
    if activations:
        # start-up time: a subcommand loads only what it runs (torch among it)
        from ..conversion.activations import check_overrides_used, overrides

        check_overrides_used(activations, ann, strict=True)
        with overrides(activations):
            snn = build_spiking(ann)
    else:
        snn = build_spiking(ann)
    snn.source_name = args.model
    _same_data(src, cfg, snn)
    extra = preset_settings(args.preset, snn, range_kind=args.range_kind, product=args.product,
                            sigmas=args.sigmas, residual=args.residual, rsqrt=args.rsqrt, codes=args.codes,
                            holdout=args.holdout, headroom=args.headroom, variance_end=args.variance_end)
    n_batches = len(shard_batches(len(src), args.batch_size, info.rank, info.world))
    progress = info.is_main and not args.no_progress
    _log(info, f"calibrating {args.model} on {len(src)} images from {args.calib}"
               + (f" over {info.world} processes" if info.world > 1 else ""))
    snn = snn.to(info.device)
    # calibrate's batches() re-batches tensors only: this iterable passes through as it is, each batch
    # seeded by its global number (the same samples on any number of ranks)
    data = distributed.CalibrationBatches(Reread(lambda: iter_batches(src, args.batch_size, info.rank, info.world,
                                                                       args.workers)),
                                          snn, info.rank, info.world, n_batches, device=info.device,
                                          batch_size=args.batch_size)
    calibrate(snn, data, batch_size=args.batch_size, percentile=args.percentile, margin=args.margin,
              progress=progress, precision=args.precision, preset=args.preset, **extra)
    skipped_all = [p for part in distributed.all_gather_objects(data.skipped) for p in part]
    if info.is_main:
        conv = conversion_dict(snn)
        conv["calibration"].update({"data": str(args.calib), "skipped": len(skipped_all), "world_size": info.world,
                                    "label_map": getattr(src, "class_to_idx", None)})
        conv["model_kwargs"] = {k: repr(v) for k, v in kwargs.items()}
        conv["preprocessing"] = cfg
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(conv, indent=1))
        if skipped_all:
            print(f"skipped {len(skipped_all)} corrupt image(s): {', '.join(skipped_all[:5])}", file=sys.stderr)
        print(f"converted {args.model}: {len(snn.populations())} spiking layers calibrated on "
              f"{snn.calibration['images']} images; wrote {out} ({time.perf_counter() - t0:.1f}s)")
    return 0


def _read_conversion(path) -> dict:
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..conversion.schema import read_conversion

    try:   # decoded and checked against the schema: a ValueError names the file and the first problem
        return read_conversion(path)
    except FileNotFoundError:
        raise ValueError(f"conversion file {path} does not exist") from None
    except OSError as exc:
        raise ValueError(f"cannot read conversion file {path}: {exc.strerror or exc}") from None


def _evaluate(args, info) -> int:
    # start-up time: a subcommand loads only what it runs (torch among it)
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..conversion.fileformat import load_conversion
    from ..data.files import DataError, iter_batches, shard_batches
    from ..evaluation.sweep import configs_for, evaluate_sweep, format_table, plot_accuracy, summary_row

    t0 = time.perf_counter()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    precisions = _precisions(args.precision)
    for m in modes:
        if m not in ("exact", "quantized", "kernel"):
            raise DataError(f"unknown mode {m!r} in --modes (exact, quantized, kernel)")
    if any(m != "exact" for m in modes) and not precisions:
        raise DataError("quantized and kernel mode need --precision")
    configs = configs_for(modes, precisions, dtype=getattr(torch, args.dtype))
    if info.is_main:
        # start-up time: a subcommand loads only what it runs (torch among it)
        from .demo import prepare_out

        prepare_out(args.out)   # --out checked (not a file, writable) before any work (issue 12)
    saved = getattr(args, "conversion_data", None) or _read_conversion(args.conversion)
    ann, _ = build_ann(args)
    activations = _activations(args)
    if activations:
        # start-up time: a subcommand loads only what it runs (torch among it)
        from ..conversion.activations import check_overrides_used

        check_overrides_used(activations, ann, strict=True)
    snn = load_conversion(ann, args.conversion, force=args.force,
                          **({"activations": activations} if activations else {}))
    src, cfg = open_inputs(args, ann, args.data)
    _same_data(src, cfg, snn)
    theirs = saved.get("preprocessing")
    calib = str((saved.get("calibration") or {}).get("data") or "")
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..data.files import TENSOR_EXTENSIONS

    if calib.lower().endswith(TENSOR_EXTENSIONS):   # (files written before tensor files had None)
        theirs = None
    if info.is_main and "preprocessing" in saved and (theirs is None) != (cfg is None):
        print("ttfs evaluate: warning: the calibration read " + ("a tensor file (preprocessed by its maker) and "
              "--data is an image folder" if theirs is None else "an image folder and --data is a tensor file")
              + ": check that both are preprocessed alike", file=sys.stderr)
    elif info.is_main and theirs and cfg and theirs != cfg:
        diff = sorted(k for k in set(cfg) | set(theirs) if cfg.get(k) != theirs.get(k))
        print(f"ttfs evaluate: warning: preprocessing differs from the calibration's in {', '.join(diff)}",
              file=sys.stderr)
    if info.is_main:
        warn_label_map(saved, getattr(src, "class_to_idx", None))
    n_batches = len(shard_batches(len(src), args.batch_size, info.rank, info.world))
    _log(info, f"evaluating {args.model} on {len(src)} images from {args.data}"
               + ((" (labels from class folders)" if src.classes is not None else " (labels from the file)")
                  if src.has_labels and getattr(snn, "classifier", True) else " (labels not compared: no classification head)"
                  if src.has_labels else " (no labels)")
               + f": {', '.join(c.label for c in configs)}"
               + (f" over {info.world} processes" if info.world > 1 else ""))
    batches = iter_batches(src, args.batch_size, info.rank, info.world, args.workers)
    t1 = time.perf_counter()
    reports, totals = evaluate_sweep(snn, ann, batches, configs, device=info.device,
                                     progress=info.is_main and not args.no_progress, total_batches=n_batches)
    seconds = time.perf_counter() - t0
    sweep_seconds = time.perf_counter() - t1
    if not info.is_main:
        return 0
    rows = [summary_row(r, totals["clip_rate"][c.label]) for r, c in zip(reports, configs)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = set()
    for r, c in zip(reports, configs):
        d = r.to_dict()
        d["clip_rate"] = totals["clip_rate"][c.label]
        (out / f"report_{c.label}.json").write_text(json.dumps(d, indent=1))
        written.add(f"report_{c.label}.json")
    stale = sorted(f for f in out.glob("report_*.json") if f.name not in written)
    for f in stale:   # an earlier run's configurations: report.json would not list them
        f.unlink()
    summary = {"model": args.model, "checkpoint": args.checkpoint, "conversion": str(args.conversion),
               "data": str(args.data), "images": totals["images"],
               "labels": src.has_labels and not totals.get("labels_ignored"), "labels_ignored": bool(totals.get("labels_ignored")),
               "classes": src.classes, "label_map": getattr(src, "class_to_idx", None), "skipped": totals["skipped"], "skipped_paths": totals["skipped_paths"],
               "world_size": info.world, "device": str(info.device), "seconds": seconds,
               "evaluation_seconds": sweep_seconds, "preprocessing": cfg,
               "results": rows}
    (out / "report.json").write_text(json.dumps(summary, indent=1))
    print(format_table(rows, totals["images"]))
    _print_notes(args, configs, totals, stale, out)
    png = plot_accuracy(rows, out / "accuracy_vs_precision.png")
    print(f"wrote {out / 'report.json'}, {len(reports)} per-configuration reports"
          + (f", {png}" if png else "") + f" ({seconds:.1f}s)")
    return 0


def _print_notes(args, configs, totals: dict, stale: list, out: Path) -> None:
    """What ``ttfs evaluate`` says on stderr after its table: clipping, replaced files, unused labels, skipped images."""
    for c in configs:
        worst = sorted(totals["clip_layers"][c.label].items(), key=lambda kv: -kv[1])[:3]
        if totals["clip_rate"][c.label] > 0 and worst:
            print(f"ttfs evaluate: warning: {c.label}: {100 * totals['clip_rate'][c.label]:.3g}% of the neurons "
                  "checked were driven outside their calibrated range; worst layers: "
                  + ", ".join(f"{name} ({100 * rate:.3g}%)" for name, rate in worst), file=sys.stderr)
    if stale:
        print(f"removed {len(stale)} per-configuration report(s) of an earlier run in {out}: "
              + ", ".join(f.name for f in stale[:5]), file=sys.stderr)
    if totals.get("labels_ignored"):
        print(f"ttfs evaluate: the labels of {args.data} were not compared: {args.model} has no classification head "
              "here (num_classes=0), so its features are compared with the ANN's by cosine and nearest items",
              file=sys.stderr)
    if totals["skipped"]:
        print(f"skipped {totals['skipped']} corrupt image(s): {', '.join(totals['skipped_paths'][:5])}",
              file=sys.stderr)


run_convert = _guarded(_convert)
run_evaluate = _guarded(_evaluate)
