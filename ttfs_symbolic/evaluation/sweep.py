"""ANN vs SNN in several modes and precisions in one pass over the data, on one rank or many.

:func:`evaluate_sweep` is :func:`ttfs_symbolic.evaluation.report.evaluate` for a
stream of batches (an image folder need not fit in memory) and a list of
``(mode, precision)`` configurations: each batch is loaded once, the ANN
runs once per dtype, and the SNN once per configuration. Under
``torch.distributed`` every count is summed over ranks and the largest
logit errors are maxima (:mod:`ttfs_symbolic.conversion.distributed`) before the
reports are built, so the reports of N processes are those of one.
"""
from __future__ import annotations

import copy
import inspect
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ..conversion import distributed
from ..progress import Progress
from ..spiking import Ctx
from ..spiking.stats import PopStats
from .features import FeatureTally
from .report import ConversionReport, build_report, reset_counters


@dataclass(frozen=True)
class Config:
    mode: str
    precision: int | None
    dtype: torch.dtype

    @property
    def label(self) -> str:
        return self.mode if self.precision is None else f"{self.mode}_p{self.precision}"


def configs_for(modes, precisions, dtype=torch.float32, exact_dtype=torch.float64) -> list[Config]:
    """``exact`` once (no precision, in ``exact_dtype``); ``quantized`` and ``kernel`` at every precision."""
    out = []
    for mode in modes:
        if mode == "exact":
            out.append(Config("exact", None, exact_dtype))
            continue
        for p in precisions:
            Ctx(mode=mode, precision=p)   # validates mode and precision
            out.append(Config(mode, int(p), dtype))
    if not out:
        raise ValueError("no mode to evaluate")
    return out

#: run-time counters per population in the summed rows (PopStats.COUNTERS)
K = len(PopStats.COUNTERS)


def _unpack(item) -> tuple:
    """``(images, labels or None, skipped paths)`` of one item of :func:`evaluate_sweep`'s batches."""
    if hasattr(item, "images"):
        return item.images, item.labels, list(getattr(item, "skipped", []))
    images, labels = item
    return images, labels, []


def _counters(pops) -> list[int]:
    out = []
    for p in pops:
        out += [int(getattr(p.stats, name)) for name in PopStats.COUNTERS]
    return out


@torch.no_grad()
def evaluate_sweep(snn, ann, batches, configs: list[Config], *, device=None, progress: bool = True,
                   total_batches: int = 0) -> tuple[list[ConversionReport], dict]:
    """Reports (one per configuration, in order) and totals over all ranks.

    The totals: ``images`` evaluated, ``skipped`` (count) and ``skipped_paths`` (corrupt images skipped),
    ``clip_rate`` per configuration label: the share of the neurons checked in the run whose value fell
    outside their layer's [a, b] (as :func:`~ttfs_symbolic.evaluation.report.evaluate`'s ``clip_rate``:
    ``snn.last_clipping`` summed over the batches), ``clip_layers`` per label: each clipping layer's largest
    rate in a batch, and ``labels_ignored``: True where the batches had labels and the model has no
    classification head (features: compared by cosine and nearest items, :mod:`.features`, on each rank's
    rows in rank order).

    ``batches`` yields ``(images, labels or None)`` or objects with ``images``, ``labels`` and ``skipped``
    (the paths of corrupt images that were skipped). Labels present on one batch must be present on all.
    """
    device = torch.device(device or "cpu")
    snn = snn.to(device)
    anns = {dt: copy.deepcopy(ann).to(device=device, dtype=dt).eval() for dt in dict.fromkeys(c.dtype for c in configs)}
    pops = snn.populations()
    # clipping is counted per layer and reported as clip rates: no warning per batch and configuration
    quiet = {"warn": False} if "warn" in inspect.signature(snn.forward).parameters else {}
    C = len(configs)
    counts = [[0] * (K * len(pops)) for _ in configs]
    agree, correct_snn = [0] * C, [0] * C
    clipped, checked = [0] * C, [0] * C
    clip_layers = [{} for _ in configs]
    correct_ann = {dt: 0 for dt in anns}
    max_err, max_ref = [0.0] * C, [0.0] * C
    tallies = [FeatureTally(keep=not snn.classifier) for _ in configs]
    labels_ignored = False
    n = 0
    has_labels = None
    skipped = []
    bar = Progress(total_batches, "evaluating", enabled=progress)
    for item in batches:
        images, labels, skip = _unpack(item)
        skipped += skip
        if images.shape[0] == 0:
            bar.update()
            continue
        if not snn.classifier and labels is not None:   # a feature model: no class to compare with
            labels, labels_ignored = None, True
        has_labels = labels is not None if has_labels is None else has_labels
        images = images.to(device)
        if labels is not None:
            labels = labels.to(device)
        refs = {dt: a(images.to(dt)) for dt, a in anns.items()}
        if labels is not None:
            for dt, ref in refs.items():
                correct_ann[dt] += int((ref.argmax(-1) == labels).sum())
        for ci, c in enumerate(configs):
            reset_counters(snn)
            out = snn(images, mode=c.mode, precision=c.precision, dtype=c.dtype, record=True, **quiet)
            info = getattr(snn, "last_clipping", None) or {}
            clipped[ci] += int(info.get("clipped", 0))
            checked[ci] += int(info.get("checked", 0))
            for name, rate in (info.get("layers") or {}).items():
                clip_layers[ci][name] = max(clip_layers[ci].get(name, 0.0), rate)
            ref = refs[c.dtype]
            tallies[ci].add(out, ref)
            pa, ps = ref.argmax(-1), out.argmax(-1)
            agree[ci] += int((pa == ps).sum())
            max_err[ci] = max(max_err[ci], float((out - ref).abs().max()))
            max_ref[ci] = max(max_ref[ci], float(ref.abs().max()))
            if labels is not None:
                correct_snn[ci] += int((ps == labels).sum())
            for k, v in enumerate(_counters(pops)):
                counts[ci][k] += v
        n += images.shape[0]
        bar.update()
    bar.close()
    # ---- one reduction of everything over the ranks (no-ops in one process)
    dts = list(anns)
    ints = distributed.all_sum([n, int(bool(has_labels))] + agree + correct_snn + [correct_ann[d] for d in dts]
                               + [v for row in counts for v in row]).tolist()
    clip, layers = _reduce_clipping(configs, clipped, checked, clip_layers)
    n, labelled = ints[0], ints[1] > 0
    agree, correct_snn = ints[2:2 + C], ints[2 + C:2 + 2 * C]
    ann_correct = dict(zip(dts, ints[2 + 2 * C:2 + 2 * C + len(dts)]))
    flat = ints[2 + 2 * C + len(dts):]
    maxes = distributed.all_max(max_err + max_ref).tolist()
    max_err, max_ref = maxes[:C], maxes[C:]
    skipped_all = [p for part in distributed.all_gather_objects(skipped) for p in part]
    tallies, labels_ignored = _merge_tallies(tallies, labels_ignored)
    if n == 0:
        raise ValueError("no image was evaluated (every image was skipped)")
    reports = []
    for ci, c in enumerate(configs):
        row = flat[ci * K * len(pops):(ci + 1) * K * len(pops)]
        for j, p in enumerate(pops):
            for name, v in zip(PopStats.COUNTERS, row[K * j:K * j + K]):
                setattr(p.stats, name, v)
        reports.append(_report(snn, anns[c.dtype], c, n, agree[ci], ann_correct[c.dtype] if labelled else None,
                               correct_snn[ci] if labelled else None, max_err[ci], max_ref[ci], tallies[ci]))
    reset_counters(snn)
    return reports, {"images": n, "skipped": len(skipped_all), "skipped_paths": skipped_all, "clip_rate": clip,
                     "clip_layers": layers, "labels_ignored": labels_ignored}


def _merge_tallies(tallies: list[FeatureTally], labels_ignored: bool) -> tuple[list[FeatureTally], bool]:
    """Every configuration's output comparison over all ranks, and whether any rank skipped labels."""
    parts = distributed.all_gather_objects(tallies)
    merged = [FeatureTally.merge([part[ci] for part in parts]) for ci in range(len(tallies))]
    return merged, any(distributed.all_gather_objects(labels_ignored))


def _reduce_clipping(configs, clipped: list[int], checked: list[int], clip_layers: list[dict]) -> tuple[dict, dict]:
    """Per configuration label: the clip rate (clipped over checked, summed over the ranks) and each layer's
    largest rate on any rank."""
    C = len(configs)
    tot = distributed.all_sum(clipped + checked).tolist()
    clipped, checked = tot[:C], tot[C:]
    merged = [{} for _ in configs]
    for part in distributed.all_gather_objects(clip_layers):
        for ci, layers in enumerate(part):
            for name, rate in layers.items():
                merged[ci][name] = max(merged[ci].get(name, 0.0), rate)
    clip = {c.label: clipped[ci] / checked[ci] if checked[ci] else 0.0 for ci, c in enumerate(configs)}
    return clip, {c.label: merged[ci] for ci, c in enumerate(configs)}


def _report(snn, ann, c: Config, n, agree, correct_ann, correct_snn, max_err, max_ref, tally):
    return build_report(snn, ann, mode=c.mode, precision=c.precision, dtype=c.dtype, n=n, agree=agree, rows=n,
                        correct_ann=correct_ann, correct_snn=correct_snn, max_err=max_err, max_ref=max_ref,
                        tally=tally)


# ---- presenting a sweep (ttfs evaluate) ------------------------------------

def summary_row(r, clip_rate: float) -> dict:
    return {"mode": r.mode, "precision": r.precision, "dtype": r.dtype, "images": r.images,
            "outputs": r.outputs, "ann_accuracy": r.ann_accuracy, "snn_accuracy": r.snn_accuracy,
            "agreement": r.agreement, "rel_error": r.rel_error, "min_cosine": r.min_cosine,
            "max_logit_error": r.max_logit_error, "max_logit_rel_error": r.max_logit_rel_error,
            "clip_rate": clip_rate, "spikes": r.spikes, "neurons": r.neurons, "spikes_per_neuron": r.spikes_per_neuron,
            "op_snn": r.op_snn, "op_ann": r.op_ann, "energy_snn_mj": r.energy_snn_mj,
            "energy_ann_mj": r.energy_ann_mj, "energy_ratio": r.energy_ratio}


def format_table(rows: list[dict], images: int) -> str:
    pct = lambda v: "n/a" if v is None else f"{100 * v:.2f}%"
    head = (f"{'mode':10s} {'p':>6s} {'dtype':8s} {'ANN acc':>8s} {'SNN acc':>8s} {'agree':>8s} {'L2 err':>9s} "
            f"{'max err':>10s} {'rel max':>9s} {'clip':>8s} {'spk/neuron':>10s} {'E_SNN mJ':>9s} {'E ratio':>8s}")
    features = bool(rows) and rows[0].get("outputs") == "features"
    what = ("; features (no classification head): 'agree' is nearest-item agreement (each output's nearest "
            "other output by cosine)" if features else "")
    lines = [f"{images} images{what}; 'L2 err' is ||SNN - ANN|| / ||ANN||", head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['mode']:10s} {'-' if r['precision'] is None else r['precision']:>6} {r['dtype']:8s} "
                     f"{pct(r['ann_accuracy']):>8s} {pct(r['snn_accuracy']):>8s} {pct(r['agreement']):>8s} "
                     f"{r.get('rel_error', math.nan):9.2e} "
                     f"{r['max_logit_error']:10.3e} {r['max_logit_rel_error']:9.2e} {100 * r['clip_rate']:7.3f}% "
                     f"{r['spikes_per_neuron']:10.4f} {r['energy_snn_mj']:9.4g} {100 * r['energy_ratio']:7.2f}%")
    return "\n".join(lines)


def plot_accuracy(rows: list[dict], path: Path) -> Path | None:
    """SNN accuracy (agreement with the ANN when there are no labels) against p, per mode (cf. Figure 4)."""
    swept = [r for r in rows if r["precision"] is not None]
    if not swept:
        return None
    # optional dependency, loaded only to plot
    import matplotlib

    matplotlib.use("Agg")
    # optional dependency, loaded only to plot
    import matplotlib.pyplot as plt

    labelled = rows[0]["snn_accuracy"] is not None
    key = "snn_accuracy" if labelled else "agreement"
    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, style in (("quantized", dict(marker="o", linestyle="-")),
                        ("kernel", dict(marker="s", linestyle="--", markerfacecolor="none", markersize=9))):
        pts = sorted((r["precision"], 100 * r[key]) for r in swept if r["mode"] == mode and r[key] is not None)
        if pts:
            ax.plot(*zip(*pts), label=f"SNN, {mode} mode", **style)
    exact = next((r for r in rows if r["mode"] == "exact"), None)
    if exact is not None and exact[key] is not None:
        ax.axhline(100 * exact[key], color="tab:green", linestyle=":", label="SNN, exact mode")
    if labelled:
        ax.axhline(100 * rows[0]["ann_accuracy"], color="k", linestyle="--", label="ANN")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("time precision p (ticks per window)")
    agreement = ("nearest-item agreement with the ANN (%)" if rows[0].get("outputs") == "features"
                 else "top-1 agreement with the ANN (%)")
    ax.set_ylabel("top-1 accuracy (%)" if labelled else agreement)
    ax.set_title(f"Accuracy against time precision ({rows[0]['images']} images)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
