"""``ttfs budget``: where the output error at time precision p comes from (error budget).

Converts a bundled model (``digits``, ``mnist``) or a timm model with random
weights (built with ``--model-kwargs`` as for ``ttfs convert``), runs it with one group of layers at a time in ``quantized`` or
``kernel`` mode (the rest exact), and prints each group's share of the
output error beside the error-against-p curve; writes ``budget.json`` and
``budget.png`` under ``--out``.
"""
from __future__ import annotations

from pathlib import Path

from ..conversion.presets import DEFAULT_PRESET, PRESETS
from .main import HELP


#: calibration inputs and budget inputs when not given (a bundled split with fewer gives all it has)
DEFAULT_CALIB, DEFAULT_INPUTS = 256, 32
#: most values of the random images made for a timm model (4 GB of float32)
MAX_RANDOM_VALUES = 1 << 30


def _ints(text: str, what: str) -> list[int]:
    try:
        vals = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{what} must be comma-separated positive integers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise ValueError(f"{what} must be comma-separated positive integers, got {text!r}")
    return vals


def register(subparsers):
    p = subparsers.add_parser("budget", help=HELP["budget"],
                              description=__doc__.splitlines()[0].replace("``", ""))
    p.add_argument("model", help="digits | mnist (bundled, trained) | a timm model name (random weights)")
    p.add_argument("--model-kwargs", nargs="+", action="extend", default=None, metavar="KEY=VALUE",
                   help="timm models: keyword arguments for timm.create_model, as for ttfs convert "
                        "(e.g. depth=2 patch_size=8 img_size=32)")
    p.add_argument("--mode", choices=("quantized", "kernel"), default="quantized",
                   help="finite-precision mode of the groups' runs (default: quantized)")
    p.add_argument("--precision", default="1024", help="time precision p of the budget (default 1024)")
    p.add_argument("--curve", default="64,256,1024,4096", help="precisions of the error-against-p curve (default: 64,256,1024,4096)")
    p.add_argument("--by", choices=("kind", "block"), default="kind", help="group layers by kind or by block (default: kind)")
    p.add_argument("--preset", choices=tuple(PRESETS), default=DEFAULT_PRESET,
                   help=f"the network converted: {DEFAULT_PRESET} (the converter's default) or paper; the flags "
                        "below override its settings")
    p.add_argument("--range-kind", choices=("layer", "channel", "neuron"), default=None,
                   help="one range per layer, channel or neuron (default: the preset's)")
    p.add_argument("--product", choices=("signed", "paper"), default=None,
                   help="multiplication network (default: the preset's)")
    p.add_argument("--residual", choices=("neuron", "synapses"), default=None,
                   help="residual sums as neurons or as synapses into the next LayerNorm (default: the preset's)")
    p.add_argument("--sigmas", type=float, default=None, help="per-neuron ranges: mean +- SIGMAS std (default: the preset's)")
    p.add_argument("--margin", type=float, default=0.0, help="calibration margin (default 0)")
    p.add_argument("--calib", type=int, default=None,
                   help="calibration inputs (default 256, or all a bundled model's calibration split has); "
                        "more than the data has is an error")
    p.add_argument("--inputs", type=int, default=None,
                   help="inputs the budget runs on (default 32); more than the data has is an error")
    p.add_argument("--out", default="out/budget", help="folder for budget.json and budget.png (default: out/budget)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _data(model: str, n_calib: int, n: int, model_kwargs=None):
    # start-up time: a subcommand loads only what it runs (torch among it)
    import torch

    if model == "mnist":
        # start-up time: a subcommand loads only what it runs (torch among it)
        from ..zoo.mnist import load_mnist, load_mnist_model

        return load_mnist_model(), load_mnist("calib", n_calib)[0], load_mnist("test", n)[0]
    if model == "digits":
        # start-up time: a subcommand loads only what it runs (torch among it)
        from ..zoo.digits import load_demo_model, load_digits

        return load_demo_model(), load_digits("calib")[0][:n_calib], load_digits("test")[0][:n]
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..conversion.convert import resolve_model
    from ..conversion.registry import find_family
    from ..data.files import DataError
    from .inputs import create_model

    ann = create_model(model, model_kwargs or {}, resolve_model, DataError)
    find_family(ann)   # a model no family converts (resnet18): UnsupportedModuleError naming what is supported
    if getattr(ann, "patch_embed", None) is None or getattr(ann.patch_embed, "img_size", None) is None:
        raise ValueError(f"ttfs budget makes random images for timm vision transformers; {model} has no "
                         "fixed image size")
    size = tuple(ann.patch_embed.img_size)
    per_image = ann.patch_embed.proj.in_channels * size[0] * size[1]
    if (n_calib + n) * per_image > MAX_RANDOM_VALUES:
        raise ValueError(f"--calib {n_calib} and --inputs {n} random images of {size[0]}x{size[1]} are more than "
                         f"{MAX_RANDOM_VALUES} values; ask for fewer")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n_calib + n, ann.patch_embed.proj.in_channels, *size, generator=g)
    return ann, x[:n_calib], x[n_calib:]


def run(args) -> int:
    # start-up time: a subcommand loads only what it runs (torch among it)
    from . import checks as cc

    p = _ints(args.precision, "--precision")
    if len(p) != 1:
        raise ValueError(f"--precision takes one value, got {args.precision!r}")
    curve = _ints(args.curve, "--curve")
    cc.check_precisions(p, [args.mode])
    cc.check_precisions(curve, [args.mode], "--curve")
    for name, v in (("--calib", args.calib), ("--inputs", args.inputs)):
        cc.check_int(v, name)
    cc.check_number(args.margin, "--margin")
    cc.check_number(args.sigmas, "--sigmas")
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..data.files import parse_model_kwargs

    kwargs = parse_model_kwargs(args.model_kwargs) if args.model_kwargs else None   # refused keys: before any work
    if kwargs is not None and args.model in ("mnist", "digits"):
        raise ValueError(f"--model-kwargs builds a timm model; {args.model} is a bundled trained model of its "
                         "own architecture")
    # start-up time: a subcommand loads only what it runs (torch among it)
    from .demo import prepare_out

    new = [f for f in (Path(args.out), *Path(args.out).parents) if not f.exists()]
    out = prepare_out(args.out)   # made and checked writable before any work (issue 12)
    try:
        return _budget(args, out, p[0], curve, kwargs)
    except BaseException:
        for folder in new:   # a run that wrote nothing leaves no empty folders of its own behind
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise


def _budget(args, out, precision: int, curve, kwargs) -> int:
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..conversion.convert import convert
    from ..evaluation.report import error_budget

    ann, cx, x = _data(args.model, args.calib or DEFAULT_CALIB, args.inputs or DEFAULT_INPUTS,
                        kwargs)
    for name, want, got in (("--calib", args.calib, cx.shape[0]), ("--inputs", args.inputs, x.shape[0])):
        if want is not None and got < want:   # asked for more than there is: never capped without a word
            raise ValueError(f"{name} {want}, but {args.model} has only {got} "
                             f"{'calibration' if name == '--calib' else 'test'} images")
    snn = convert(ann, cx, preset=args.preset, range_kind=args.range_kind, product=args.product,
                  margin=args.margin, sigmas=args.sigmas, residual=args.residual, progress=not args.no_progress)
    budget = error_budget(snn, x, mode=args.mode, precision=precision, by=args.by, curve=curve,
                          progress=not args.no_progress)
    out.mkdir(parents=True, exist_ok=True)
    print(budget)
    budget.save(out / "budget.json")
    png = budget.plot(out / "budget.png")
    print(f"wrote {out / 'budget.json'} and {png}")
    return 0
