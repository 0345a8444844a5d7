#!/usr/bin/env python
"""Fidelity at finite time precision: relative logit error and top-1 agreement against the ANN, per
configuration (range kind x product construction), mode and p; kernel-mode time beside the paper's setup.

    python benchmarks/bench_precision.py --model mnist --test 500 --json precision_mnist.json
    python benchmarks/bench_precision.py --model vit_small_patch16_224 --calib 64 --test 8 --json precision_vits.json

``--model``: ``mnist`` (the bundled 12-block MNIST ViT, real test images), ``digits`` (the demo model), or
a timm model name (random weights, N(0, 1) images). Each configuration
``RANGE:PRODUCT[:MARGIN[:SIGMAS[:RESIDUAL]]]`` (RESIDUAL: ``neuron`` or ``synapses``)
(default: ``layer:paper:0``, today's setup, then ``layer:signed:0``, ``neuron:signed:0.25``) is
calibrated on the calibration images and run on the test images in float64:

* exact: the error of the ranges alone (clipping of test data outside the calibrated ranges);
* quantized / kernel at each p: relative logit error ``||snn - ann|| / ||ann||`` (Frobenius over the
  test set), top-1 agreement with the ANN, accuracy where labels exist, the clip rate;
* the kernel-mode seconds per forward at the largest p, and its ratio to the first configuration's
  (the issue's "kernel-mode time at most 1.5x of today's", measured side by side in one process).

Nothing is asserted; the figures go in the README.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, table, write_json  # noqa: E402


def load(model: str, n_calib: int, n_test: int, seed: int):
    if model == "mnist":
        from ttfs_symbolic.zoo.mnist import load_mnist, load_mnist_model

        cx, _ = load_mnist("calib", n_calib)
        tx, ty = load_mnist("test", n_test)
        return load_mnist_model(), cx, tx, ty
    if model == "digits":
        from ttfs_symbolic.zoo.digits import load_demo_model, load_digits

        return load_demo_model(), load_digits("calib")[0][:n_calib], *load_digits("test")
    import timm

    torch.manual_seed(seed)
    ann = timm.create_model(model, pretrained=False).eval()
    size = ann.patch_embed.img_size
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(n_calib + n_test, ann.patch_embed.proj.in_channels, *size, generator=g)
    return ann, x[:n_calib], x[n_calib:], None


def parse_config(text: str):
    parts = text.split(":")
    if len(parts) not in (2, 3, 4, 5):
        raise SystemExit(f"--configs entries are RANGE:PRODUCT[:MARGIN[:SIGMAS[:RESIDUAL]]], got {text!r}")
    return (parts[0], parts[1], float(parts[2]) if len(parts) > 2 else 0.0,
            float(parts[3]) if len(parts) > 3 else 6.0, parts[4] if len(parts) > 4 else "neuron")


def rel(out, ref):
    return float((out - ref).norm() / ref.norm())


def batched(snn, x, bs, **kw):
    outs = []
    clipped = checked = 0
    for i in range(0, x.shape[0], bs):
        outs.append(snn(x[i:i + bs], warn=False, **kw))
        clipped += snn.last_clipping["clipped"]
        checked += snn.last_clipping["checked"]
    return torch.cat(outs), clipped / max(checked, 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mnist")
    ap.add_argument("--calib", type=int, default=1000)
    ap.add_argument("--test", type=int, default=500)
    ap.add_argument("--precisions", default="256,1024")
    ap.add_argument("--modes", default="quantized,kernel")
    ap.add_argument("--configs", default="layer:paper:0,layer:signed:0,neuron:signed:0.25")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default=None, help="PNG of the error against p, one line per configuration")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from ttfs_symbolic.conversion.convert import convert

    ps = [int(p) for p in args.precisions.split(",")]
    modes = args.modes.split(",")
    ann, cx, tx, ty = load(args.model, args.calib, args.test, args.seed)
    with torch.no_grad():
        ref = torch.cat([ann.double()(tx[i:i + args.batch].double()) for i in range(0, tx.shape[0], args.batch)])
    ann.float()
    pred = ref.argmax(-1)
    ann_acc = None if ty is None else float((pred == ty).float().mean())
    print(f"{args.model}: calibration {cx.shape[0]}, test {tx.shape[0]} inputs; ANN accuracy "
          f"{'n/a' if ann_acc is None else f'{100 * ann_acc:.2f}%'}", flush=True)
    results, rows = [], []
    base_time = None
    for text in args.configs.split(","):
        rk, prod, margin, sigmas, residual = parse_config(text)
        t0 = time.perf_counter()
        snn = convert(ann, cx, progress=False, range_kind=rk, product=prod, margin=margin, sigmas=sigmas,
                      residual=residual)
        conv_s = time.perf_counter() - t0
        ex, clip_ex = batched(snn, tx, args.batch, mode="exact", dtype=torch.float64)
        entry = {"config": text, "range_kind": rk, "product": prod, "margin": margin, "sigmas": sigmas,
                 "residual": residual,
                 "convert_s": conv_s,
                 "exact": {"rel_error": rel(ex, ref), "agreement": float((ex.argmax(-1) == pred).float().mean()),
                           "clip_rate": clip_ex}, "runs": []}
        rows.append([text, "exact", "-", f"{rel(ex, ref):.2e}", f"{100 * entry['exact']['agreement']:.2f}%",
                     "-" if ty is None else f"{100 * float((ex.argmax(-1) == ty).float().mean()):.2f}%",
                     f"{100 * clip_ex:.3f}%", "-"])
        for mode in modes:
            for p in ps:
                t0 = time.perf_counter()
                out, clip = batched(snn, tx, args.batch, mode=mode, precision=p, dtype=torch.float64)
                dt = (time.perf_counter() - t0) / max(1, -(-tx.shape[0] // args.batch))
                run = {"mode": mode, "p": p, "rel_error": rel(out, ref),
                       "agreement": float((out.argmax(-1) == pred).float().mean()), "clip_rate": clip,
                       "seconds_per_forward": dt,
                       "accuracy": None if ty is None else float((out.argmax(-1) == ty).float().mean())}
                entry["runs"].append(run)
                tcell = "-"
                if mode == "kernel" and p == max(ps):
                    base_time = base_time or dt
                    tcell = f"{dt:.2f} s ({dt / base_time:.2f}x)"
                    entry["kernel_time_ratio_to_first"] = dt / base_time
                rows.append([text, mode, p, f"{run['rel_error']:.2e}", f"{100 * run['agreement']:.2f}%",
                             "-" if ty is None else f"{100 * run['accuracy']:.2f}%", f"{100 * clip:.3f}%", tcell])
                print("  ", *rows[-1], flush=True)
        results.append(entry)
    print()
    print(table(rows, ["config", "mode", "p", "rel. logit error", "agreement", "accuracy", "clip rate",
                       "kernel s/forward (vs first)"]))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.5, 4))
        for e in results:
            for mode, style in (("quantized", "o-"), ("kernel", "s--")):
                pts = [(r["p"], r["rel_error"]) for r in e["runs"] if r["mode"] == mode]
                if pts:
                    ax.loglog(*zip(*pts), style, label=f"{e['config']} ({mode})")
        ax.set_xlabel("time precision p")
        ax.set_ylabel("relative logit error vs ANN")
        ax.set_title(f"{args.model}: error against p")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"wrote {args.plot}")
    write_json(args.json, {"args": vars(args), "machine": machine_info(), "ann_accuracy": ann_acc,
                           "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
