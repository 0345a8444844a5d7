"""The main job: convert the bundled digits ViT and compare ANN and SNN.

``ttfs demo`` loads the small timm ViT that ``scripts/train_digits.py``
trained on scikit-learn's digits (shipped in ``ttfs_symbolic/assets``),
converts it with Algorithm 1 on the calibration split, evaluates ANN and SNN
on the held-out test split in the three modes, prints the report (accuracy,
agreement, logit error, spikes, neurons, operations, energy, clip rates),
sweeps the time precision p from 8 to 4096 (the experiment of Figure 4) and
plots accuracy against p. Everything is written to ``--out``.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import torch

from ..conversion.presets import DEFAULT_PRESET, PRESETS
from . import checks
from .main import HELP

#: largest --precisions value (ticks are exact in float32 up to 2**24)
MAX_PRECISION = checks.MAX_PRECISION
PRECISIONS = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
#: calibration margin of the demo: each range widened by 20% of its width on both sides.
#: The calibration split has 180 images; with margin 0 a few test images fall outside the
#: variance / rsqrt ranges of LayerNorm (clip rate 0.3%, largest logit error 0.83). With
#: 0.2 no test neuron clips, so exact mode is lossless on the test split too.
MARGIN = 0.2


def register(subparsers):
    p = subparsers.add_parser("demo", help=HELP["demo"],
                              description="The main job: " + HELP["demo"] + " (accuracy, agreement, spikes and energy), "
                                          "then sweep the time precision on the bundled 12-block MNIST ViT.")
    p.add_argument("--out", default="out", help="folder for the report, conversion and plot (default: out)")
    p.add_argument("--precisions", default=",".join(map(str, PRECISIONS)),
                   help="comma-separated time precisions for the Figure 4 sweep (default: "
                        f"{','.join(map(str, PRECISIONS))})")
    p.add_argument("--margin", type=float, default=MARGIN,
                   help=f"calibration margin, a fraction of each layer's range (default: {MARGIN})")
    p.add_argument("--preset", choices=tuple(PRESETS), default=DEFAULT_PRESET,
                   help=f"the network built for the digits model: {DEFAULT_PRESET} (the converter's default) or "
                        "paper (the paper's network)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-deep", action="store_true",
                   help="skip the deep model (12-block MNIST ViT) sweep that follows the digits model")
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..conversion.activations import add_activation_argument

    add_activation_argument(p)
    p.set_defaults(func=run)


def parse_precisions(text: str) -> list[int]:
    """The --precisions list: comma-separated integers in [1, 2**24]; ValueError naming the bad item."""
    items = [p.strip() for p in str(text).split(",") if p.strip()]
    if not items:
        raise ValueError(f"--precisions needs at least one time precision, got {text!r}")
    out = []
    for item in items:
        try:
            p = int(item)
        except ValueError:
            raise ValueError(f"--precisions must be comma-separated integers, got {item!r} in {text!r}") from None
        if not 1 <= p <= MAX_PRECISION:
            raise ValueError(f"--precisions: a time precision is an integer in [1, {MAX_PRECISION}], got {p}")
        out.append(p)
    checks.check_unique(out, "--precisions")
    return out


def prepare_out(path) -> Path:
    """The --out folder, made and checked writable before any work; ValueError naming the problem."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: a file of that name exists (give a folder)")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"--out {out}: {parent} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    return out


def plot_precision_sweep(rows: list[dict], ann_accuracy: float, path: Path,
                         data: str = "the digits test split") -> Path:
    # optional dependency, loaded only to plot
    import matplotlib

    matplotlib.use("Agg")
    # optional dependency, loaded only to plot
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    styles = [dict(marker="o", linestyle="-"), dict(marker="s", linestyle="--", markerfacecolor="none", markersize=9),
              dict(marker="^", linestyle=":")]
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    for mode, style in zip(modes, styles * 3):
        pts = [(r["precision"], 100 * r["accuracy"]) for r in rows if r["mode"] == mode]
        if pts:   # the two modes often coincide: hollow markers keep both visible
            ax.plot(*zip(*pts), label=f"SNN, {mode}" + (" mode" if mode in ("quantized", "kernel") else ""), **style)
    ax.axhline(100 * ann_accuracy, color="k", linestyle="--", label="ANN")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("time precision p (ticks per window)")
    ax.set_ylabel(f"top-1 accuracy on {data} (%)")
    ax.set_title("Accuracy against time precision (cf. Figure 4)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run(args) -> int:
    # start-up time: a subcommand loads only what it runs (torch among it)
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..conversion.activations import parse_activation_args
    from ..conversion.convert import convert
    from ..conversion.fileformat import save_conversion
    from ..zoo.digits import load_demo_model, load_digits
    from ..evaluation.report import evaluate

    torch.set_num_threads(max(1, torch.get_num_threads()))
    precisions = parse_precisions(args.precisions)   # every argument is checked before any work (issue 12)
    checks.check_number(args.margin, "--margin")   # [0, 100], as convert and budget
    out = prepare_out(args.out)
    progress = not args.no_progress
    activations = parse_activation_args(getattr(args, "activation", []))   # bad input fails before any work
    t0 = time.perf_counter()
    ann = load_demo_model()
    calib_x, _ = load_digits("calib")
    test_x, test_y = load_digits("test")
    print(f"demo model: timm VisionTransformer on scikit-learn digits, {sum(p.numel() for p in ann.parameters()):,} "
          f"parameters; calibration {calib_x.shape[0]} images, test {test_x.shape[0]} images")
    snn = convert(ann, calib_x, margin=args.margin, progress=progress, activations=activations,
                  preset=getattr(args, "preset", DEFAULT_PRESET))
    save_conversion(snn, out / "conversion.json")
    print(f"converted: {len(snn.populations())} spiking layers; ranges and timing in {out / 'conversion.json'}")

    reports = {}
    for mode, precision, dtype in (("exact", None, torch.float64), ("quantized", 1024, torch.float32),
                                   ("kernel", 1024, torch.float32)):
        rep = evaluate(snn, ann, test_x, test_y, mode=mode, precision=precision, dtype=dtype, progress=progress)
        reports[mode] = rep
        print()
        print(rep.summary())
    ex, ann_acc = reports["exact"], reports["exact"].ann_accuracy
    print()
    print("targets (exact mode lossless; finite p within 0.1 points of the ANN):")
    print(f"  exact float64: largest relative logit error {ex.max_logit_rel_error:.2e} (target <= 1e-9), "
          f"top-1 agreement {100 * ex.agreement:.2f}% (target 100%): "
          f"{'met' if ex.max_logit_rel_error <= 1e-9 and ex.agreement == 1.0 else 'NOT met'}")
    for mode in ("quantized", "kernel"):
        gap = 100 * abs(reports[mode].snn_accuracy - ann_acc)
        print(f"  {mode} p=1024: accuracy {100 * reports[mode].snn_accuracy:.2f}% vs ANN {100 * ann_acc:.2f}% "
              f"(gap {gap:.2f} points, target <= 0.1): {'met' if gap <= 0.1 + 1e-12 else 'NOT met'}")
    print()
    print("per layer (exact mode; clip rate = share of neurons whose value fell outside [a, b]):")
    print(reports["exact"].layer_table())

    sweep = []
    for mode in ("quantized", "kernel"):
        for p in precisions:
            rep = evaluate(snn, ann, test_x, test_y, mode=mode, precision=p, dtype=torch.float32, progress=False,
                           warn=False)   # at small p rounding moves values past tight ranges: in the table
            sweep.append({"mode": mode, "precision": p, "accuracy": rep.snn_accuracy, "agreement": rep.agreement,
                          "clip_rate": rep.clip_rate})
    print()
    print("accuracy against time precision p (Figure 4):")
    print(f"  {'p':>6s} {'quantized':>10s} {'kernel':>10s} {'clipped (quantized)':>20s}    (ANN {100 * ann_acc:.2f}%)")
    for p in precisions:
        q = next(r for r in sweep if r["mode"] == "quantized" and r["precision"] == p)
        k = next(r for r in sweep if r["mode"] == "kernel" and r["precision"] == p)
        print(f"  {p:6d} {100 * q['accuracy']:9.2f}% {100 * k['accuracy']:9.2f}% {100 * q['clip_rate']:19.4f}%")
    png = plot_precision_sweep(sweep, ann_acc, out / "accuracy_vs_precision.png")
    result = {mode: rep.to_dict() for mode, rep in reports.items()}
    result["precision_sweep"] = sweep
    if not getattr(args, "no_deep", False):
        result["deep_mnist"] = deep_sweep(out, progress)
    (out / "report.json").write_text(json.dumps(result, indent=1))
    print()
    mnist = out / "accuracy_vs_precision_mnist.png"
    wrote = [out / "report.json", out / "conversion.json", png]
    wrote += [mnist] if "sweep" in result.get("deep_mnist", {}) else []
    print(f"wrote {', '.join(map(str, wrote))}  ({time.perf_counter() - t0:.0f}s)")
    return 0


#: the deep model's sweep: calibration and test images, and the precisions
DEEP_CALIB, DEEP_TEST, DEEP_PRECISIONS = 1000, 500, (64, 256, 1024, 4096)


def deep_sweep(out: Path, progress: bool = True, precisions=DEEP_PRECISIONS) -> dict:
    """The 12-block MNIST ViT: ANN vs SNN against p (quantized mode, float64), the converter's default
    (preset accurate) against the paper's network (preset paper) and the paper's network with the signed
    product; the issue's targets; the plot
    ``accuracy_vs_precision_mnist.png``."""
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..conversion.convert import Progress, convert
    from ..zoo.mnist import load_mnist, load_mnist_model

    try:
        ann = load_mnist_model()
        cx, _ = load_mnist("calib", DEEP_CALIB)
        tx, ty = load_mnist("test", DEEP_TEST)
    except FileNotFoundError as exc:
        print(f"\ndeep model skipped: {exc}")
        return {"skipped": str(exc)}
    print(f"\ndeep model: 12-block ViT on MNIST ({sum(p.numel() for p in ann.parameters()):,} parameters), "
          f"calibration {cx.shape[0]} images, test {tx.shape[0]} images; quantized mode, float64")
    bs = 100
    with torch.no_grad():
        ref = torch.cat([ann.double()(tx[i:i + bs].double()) for i in range(0, tx.shape[0], bs)])
    ann.float()
    ann_acc = float((ref.argmax(-1) == ty).float().mean())
    configs = {"default (preset accurate)": dict(margin=0.0),
               "preset paper (the paper's network)": dict(preset="paper", margin=0.0),
               "preset paper, signed product": dict(preset="paper", product="signed", margin=0.0)}
    sweep = []
    bar = Progress(len(configs) * len(precisions), "deep model sweep", enabled=progress)
    for label, kw in configs.items():
        snn = convert(ann, cx, progress=False, **kw)
        for p in precisions:
            outs = torch.cat([snn(tx[i:i + bs], mode="quantized", precision=p, dtype=torch.float64, warn=False)
                              for i in range(0, tx.shape[0], bs)])
            sweep.append({"mode": f"quantized, {label}", "config": label, "precision": p,
                          "accuracy": float((outs.argmax(-1) == ty).float().mean()),
                          "agreement": float((outs.argmax(-1) == ref.argmax(-1)).float().mean()),
                          "rel_logit_error": float((outs - ref).norm() / ref.norm())})
            bar.update()
    bar.close()
    print(f"  {'p':>6s}  " + "  ".join(f"{k:>38s}" for k in configs) + f"    (ANN {100 * ann_acc:.2f}%)")
    for p in precisions:
        cells = []
        for k in configs:
            r = next(r for r in sweep if r["precision"] == p and r["config"] == k)
            cells.append(f"{100 * r['accuracy']:6.2f}% agree {100 * r['agreement']:6.2f}% err {r['rel_logit_error']:.1e}")
        print(f"  {p:6d}  " + "  ".join(f"{c:>38s}" for c in cells))
    best = list(configs)[0]
    at = {r["precision"]: r for r in sweep if r["config"] == best}
    if 1024 in at and 256 in at:
        r1, r2 = at[1024], at[256]
        print("  targets at finite precision, " + best + ":")
        print(f"    p=1024: relative logit error {r1['rel_logit_error']:.2e} (target <= 1e-2), agreement "
              f"{100 * r1['agreement']:.2f}% (target >= 99.5%): "
              f"{'met' if r1['rel_logit_error'] <= 1e-2 and r1['agreement'] >= 0.995 else 'NOT met'}")
        gap = 100 * abs(r2["accuracy"] - ann_acc)
        print(f"    p=256: accuracy {100 * r2['accuracy']:.2f}% vs ANN {100 * ann_acc:.2f}% (gap {gap:.2f} points, "
              f"target <= 1): {'met' if gap <= 1.0 else 'NOT met'}")
    out.mkdir(parents=True, exist_ok=True)
    png = plot_precision_sweep(sweep, ann_acc, out / "accuracy_vs_precision_mnist.png",
                               data=f"{tx.shape[0]} MNIST test images")
    print(f"  plot: {png}")
    return {"ann_accuracy": ann_acc, "sweep": sweep, "configs": configs}
