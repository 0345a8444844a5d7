"""ANN vs SNN: agreement, accuracy, logit error, spikes, neurons, energy, clip rates.

``evaluate(snn, ann, images, labels, mode=..., precision=...)`` runs both
networks on the same images and returns a :class:`ConversionReport` that
prints as a table (``str(report)``) and saves as JSON (``report.save``).
Energy follows Section 5.2 / Table 3 through :mod:`ttfs_symbolic.energy`,
with the linear layers' synaptic operations scaled by the measured firing
rate of their inputs.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..conversion.activations import overrides
from ..conversion.convert import weights_fingerprint
from ..conversion.presets import describe
from ..data.files import check_labels
from ..data.inputs import check_batch, check_dtype
from ..progress import Progress
from ..spiking import Ctx, SpikingActivation, finish_call, make_ctx, warn_clipping
from ..spiking.model import SpikingModel, configuration
from .features import FeatureTally


@dataclass
class LayerRow:
    name: str
    kind: str
    neuron: str          # the catalogue neurons of the layer: "f -> h" (input transform -> output transform)
    a: float
    b: float
    neurons: int         # per input (image or sequence)
    spikes: float        # per input: the mean over the run's inputs
    spikes_per_neuron: float
    clip_rate: float
    #: spikes per value carried: a log-coded value of either sign has two neurons, one of which fires, so
    #: its layer shows 0.5 spikes per neuron where every value fires (the energy rows use this rate)
    spikes_per_value: float = 0.0


class _JsonRecord:
    """``to_dict`` and ``save`` (indented JSON) for the report dataclasses."""

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path


@dataclass
class ConversionReport(_JsonRecord):
    mode: str
    precision: int | None
    dtype: str
    images: int
    #: logits: top-1 agreement; features: nearest-item agreement (:mod:`.features`; None under two rows)
    agreement: float | None
    max_logit_error: float
    max_logit_rel_error: float
    ann_accuracy: float | None
    snn_accuracy: float | None
    neurons: int
    spikes: int
    spikes_per_neuron: float
    op_snn: float
    op_ann: float
    energy_snn_mj: float
    energy_ann_mj: float
    energy_ratio: float
    layers: list[LayerRow] = field(default_factory=list)
    energy_rows: list[dict] = field(default_factory=list)
    clip_rate: float = 0.0        # share of the neurons checked in the run that clipped (every layer)
    configuration: dict = field(default_factory=dict)   # convert.configuration: preset, structure, calibration
    #: "logits" (a classifier's) or "features" (no classification head: compared by cosine and nearest items)
    outputs: str = "logits"
    #: ||SNN - ANN|| / ||ANN|| over every output row
    rel_error: float = 0.0
    min_cosine: float | None = None     # each output row's cosine with the ANN's: the least and the mean
    mean_cosine: float | None = None
    rows: int = 0                       # output rows compared (images; tokens or sentences for text)
    agreement_rows: int = 0             # rows the agreement is over (features: at most NN_ROWS, the first)

    def _comparison_lines(self, acc) -> list[str]:
        if self.outputs == "logits":
            return [f"  ANN accuracy            {acc(self.ann_accuracy)}",
                    f"  SNN accuracy            {acc(self.snn_accuracy)}",
                    f"  top-1 agreement         {acc(self.agreement)}",
                    f"  relative logit error    {self.rel_error:.3e} (||SNN - ANN|| / ||ANN||)",
                    f"  largest logit error     {self.max_logit_error:.3e} (relative {self.max_logit_rel_error:.3e})"]
        first = f", the first {self.agreement_rows} of {self.rows}" if self.agreement_rows < self.rows else ""
        cos = "n/a" if self.min_cosine is None else f"least {self.min_cosine:.6f}, mean {self.mean_cosine:.6f}"
        return [f"  outputs                 features (no classification head): compared by cosine and nearest items",
                f"  nearest-item agreement  {acc(self.agreement)} (each output's nearest other output by cosine, "
                f"{self.agreement_rows} outputs{first})",
                f"  relative error          {self.rel_error:.3e} (||SNN - ANN|| / ||ANN||)",
                f"  cosine with the ANN     {cos}",
                f"  largest output error    {self.max_logit_error:.3e} (relative {self.max_logit_rel_error:.3e})"]

    def summary(self) -> str:
        acc = lambda v: "n/a" if v is None else f"{100 * v:.2f}%"
        prec = "" if self.precision is None else f", p = {self.precision}"
        item = "image" if self.outputs == "logits" else "input"
        lines = [
            f"mode {self.mode}{prec}, {self.dtype}, {self.images} {item}s",
            *([f"  configuration           {describe(self.configuration)}"] if self.configuration else []),
            *self._comparison_lines(acc),
            f"  neurons per {item:10s}  {self.neurons / max(self.images, 1):,.0f}",
            f"  spikes per neuron       {self.spikes_per_neuron:.4f} (at most 1)",
            f"  OP_SNN / OP_ANN         {self.op_snn:.4g} / {self.op_ann:.4g} per {item}",
            f"  E_SNN / E_ANN           {self.energy_snn_mj:.4g} mJ / {self.energy_ann_mj:.4g} mJ "
            f"= {100 * self.energy_ratio:.2f}%",
            f"  clipped neurons         {100 * self.clip_rate:.4g}% (outside their calibrated range)",
        ]
        return "\n".join(lines)

    def layer_table(self, limit: int | None = None) -> str:
        head = (f"{'layer':40s} {'neuron f -> h':34s} {'a':>10s} {'b':>10s} {'spikes/neuron':>13s} "
                f"{'spikes/value':>12s} {'clip rate':>10s}")
        rows = [head, "-" * len(head)]
        for r in self.layers[:limit]:
            rows.append(f"{r.name:40s} {r.neuron:34s} {r.a:10.4g} {r.b:10.4g} {r.spikes_per_neuron:13.4f} "
                        f"{r.spikes_per_value:12.4f} {100 * r.clip_rate:9.3f}%")
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.summary() + "\n\n" + self.layer_table()


#: input transform f of each layer kind (Theorem 4.1): what its synapses apply to the
#: incoming values; "+id" marks the delayed identity synapses of the same neuron.
_INPUT_F = {
    "ln_var": "square", "ln_rsqrt": "rsqrt", "product_layer1": "log_shift",
    "softmax_lse": "exp", "softmax_exp": "id", "softmax_max": "id",
    "ln_out": "exp+id", "matmul_qk": "exp+id", "matmul_av": "exp+id", "product": "exp+id",
}


def _neuron_labels(snn) -> dict[str, str]:
    """``f -> h`` per layer name: the catalogue neurons a reader can look up in neurons/."""
    f_of = {m.out.pname: m.neuron_name for m in snn.modules() if isinstance(m, SpikingActivation)}
    return {p.pname: f"{f_of.get(p.pname, _INPUT_F.get(p.kind, 'id'))} -> {p.neuron}".replace("identity", "id")
            for p in snn.populations()}



def layer_rows(snn, n: int) -> tuple[list[LayerRow], int, int]:
    """The report's rows from the run-time counters of ``snn`` after ``n`` inputs (the input layer left
    out: its spikes are the data), and the totals of neurons and spikes."""
    layers, neurons, spikes = [], 0, 0
    neuron_of = _neuron_labels(snn)
    for p in snn.populations():
        st = p.stats
        if p.kind == "input":
            continue
        neurons += st.neurons
        spikes += st.spikes
        # a relay (residual synapses, folded rsqrt) is no neuron: its value reaches its consumers' synapses
        label = f"no neuron ({neuron_of[p.pname].split(' ->')[0]} in synapses)" if p.relay else neuron_of[p.pname]
        if p.code == "log":
            label += ", log code"
        layers.append(LayerRow(p.pname, p.kind, label, p.a, p.b, st.neurons // max(n, 1), st.spikes / max(n, 1),
                               st.spikes / st.neurons if st.neurons else 0.0,
                               st.clipped / st.neurons if st.neurons else 0.0,
                               st.spikes_per_value))
    return layers, neurons, spikes


def reset_counters(snn):
    for p in snn.populations():
        for name in p.stats.COUNTERS:
            setattr(p.stats, name, 0)


def check_pair(snn, ann) -> None:
    """``snn`` a converted model and ``ann`` the model it was converted from, or a one-line error: an SNN
    compared with other weights would report a meaningless agreement (the fingerprint that
    :func:`~ttfs_symbolic.conversion.fileformat.load_conversion` checks)."""
    if not isinstance(snn, SpikingModel):
        raise TypeError("evaluate(snn, ann, data): snn must be a converted model (ts.convert or "
                        f"ts.load_conversion), got {type(snn).__name__}")
    if not isinstance(ann, torch.nn.Module):
        raise TypeError(f"evaluate(snn, ann, data): ann must be the model snn was converted from, got "
                        f"{type(ann).__name__}")
    saved = getattr(snn, "weights_fingerprint", None)
    if saved:
        mine = weights_fingerprint(ann)
        if mine != saved:
            raise ValueError(f"evaluate: ann is not the model snn was converted from: its weights' fingerprint "
                             f"{mine[:19]}... differs from the conversion's {saved[:19]}... (convert this ANN, or "
                             "compare the SNN with the weights it was calibrated for)")


@torch.no_grad()
def evaluate(snn, ann, data, labels=None, *, mode: str | None = None, precision: int | None = None,
             dtype=torch.float32, batch_size: int = 64, progress: bool = True, warn: bool = True) -> ConversionReport:
    """Run ANN and SNN on the same inputs and compare them (Section 5); one loop for every family.

    ``data``: images (a tensor) for an image model, tokenizer batches for a
    text model (compared on every unmasked token; no labels). A classifier's
    logits are compared by top-1 agreement (and accuracy with ``labels``); a
    model without a classification head (``num_classes=0``, a text encoder)
    outputs features, compared by cosine and nearest-item agreement
    (:mod:`ttfs_symbolic.evaluation.features`; labels are refused). Neurons driven
    outside their range are summed over the batches into ``clip_rate`` (and
    per layer into the rows) and, with ``warn``, reported in one
    :class:`~ttfs_symbolic.spiking.ClippingWarning` per call. Energy: the
    family's count (:meth:`~ttfs_symbolic.spiking.SpikingModel.count_energy`)
    with the measured firing rates.
    """
    mode = Ctx(mode=mode, precision=precision).mode  # validates mode and precision (None: exact)
    check_batch(batch_size, dtype)
    check_pair(snn, ann)
    data = snn.check_data(data)   # images: a floating tensor of the model's shape, finite (issue 12)
    if labels is not None:
        if not snn.classifier:
            raise ValueError(refuse_labels(snn))
        labels = check_labels(labels, "labels", getattr(ann, "num_classes", None) or None)   # issue 21
        if labels.shape[0] != data.shape[0]:
            raise ValueError(f"{data.shape[0]} images but {labels.shape[0]} labels")
    reset_counters(snn)
    ann_training, ann_dtype = ann.training, next(ann.parameters()).dtype   # both restored at the end
    ann.eval()
    ann.to(dtype)
    bar = Progress(snn.count_batches(data, batch_size), f"evaluating ({mode})", enabled=progress)
    agree = rows = correct_ann = correct_snn = n = clipped = checked = length = 0
    tally = FeatureTally(keep=not snn.classifier)
    max_err = max_ref = 0.0
    clip_layers: dict = {}
    try:
        for batch in snn.input_batches(data, batch_size):
            x = snn.prepare_input(batch, check_dtype(dtype))
            ctx = make_ctx(snn, mode, precision, record=True)
            out, keep = snn.outputs(x, ctx)
            info = finish_call(snn, ctx, warn=False)
            clipped += info["clipped"]
            checked += info["checked"]
            for name, rate in info["layers"].items():
                clip_layers[name] = max(clip_layers.get(name, 0.0), rate)
            ref = snn.reference(ann, x)
            if keep is not None:
                out, ref = out[keep], ref[keep]
            tally.add(out, ref)
            pa, ps = ref.argmax(-1), out.argmax(-1)
            agree += int((pa == ps).sum())
            rows += out.shape[0]
            max_err = max(max_err, float((out - ref).abs().max()))
            max_ref = max(max_ref, float(ref.abs().max()))
            items = snn.batch_len(x)
            if labels is not None:
                lab = labels[n:n + items]
                correct_ann += int((pa == lab).sum())
                correct_snn += int((ps == lab).sum())
            n += items
            length = max(length, snn.input_length(x))
            bar.update()
    finally:
        ann.to(ann_dtype).train(ann_training)
        bar.close()
    if n == 0:
        raise ValueError("no batches to evaluate")
    if warn and clipped:
        warn_clipping(clipped, checked, clip_layers, f"evaluate ({mode}, {n} inputs)",
                      stacklevel=4)   # warn_clipping, evaluate, torch.no_grad's wrapper, the caller
    return build_report(snn, ann, mode=mode, precision=precision, dtype=dtype, n=n, agree=agree, rows=rows,
                        correct_ann=None if labels is None else correct_ann,
                        correct_snn=None if labels is None else correct_snn, max_err=max_err, max_ref=max_ref,
                        clip_rate=clipped / checked if checked else 0.0, length=length, tally=tally)


def refuse_labels(snn) -> str:
    """Why labels cannot be compared with ``snn``'s outputs (a model without a classification head)."""
    return (f"labels are for classifiers: this {type(snn).__name__} has no classification head, so its outputs are "
            "features, compared with the ANN's by cosine and nearest-item agreement, not with labels")


def build_report(snn, ann, *, mode: str, precision, dtype, n: int, agree: int, rows: int, correct_ann, correct_snn,
                 max_err: float, max_ref: float, tally: FeatureTally, clip_rate: float = 0.0,
                 length: int = 0) -> ConversionReport:
    """The :class:`ConversionReport` of ``n`` inputs from the comparison's tallies and ``snn``'s run-time counters:
    layer rows, spikes, and the family's energy count with the measured firing rates (``correct_*`` None: no labels).
    ``tally``: the output rows' comparison (:class:`~.features.FeatureTally`); for a model without a
    classification head its nearest-item agreement is the report's ``agreement`` (``agree`` is not used)."""
    features = not snn.classifier
    layers, neurons, spikes = layer_rows(snn, n)
    with overrides(getattr(snn, "activation_overrides", None)):   # convert(..., activations=): counted as converted
        energy = snn.count_energy(ann, length)
    return ConversionReport(
        mode=mode, precision=precision, dtype=str(dtype).replace("torch.", ""), images=n,
        agreement=tally.agreement() if features else agree / max(rows, 1), max_logit_error=max_err,
        max_logit_rel_error=max_err / max_ref if max_ref > 0 else math.inf,
        ann_accuracy=None if correct_ann is None else correct_ann / n,
        snn_accuracy=None if correct_snn is None else correct_snn / n,
        neurons=neurons, spikes=spikes, spikes_per_neuron=spikes / neurons if neurons else 0.0,
        op_snn=energy.op_snn, op_ann=energy.op_ann, energy_snn_mj=energy.energy_snn_mj,
        energy_ann_mj=energy.energy_ann_mj, energy_ratio=energy.energy_ratio, layers=layers,
        energy_rows=[r.to_dict() for r in energy.rows], clip_rate=clip_rate, configuration=configuration(snn),
        outputs="features" if features else "logits", rel_error=tally.rel_error, min_cosine=tally.min_cosine,
        mean_cosine=tally.mean_cosine, rows=rows, agreement_rows=tally.kept if features else rows)


# --------------------------------------------------------------------------
# error budget: where finite time precision goes
# --------------------------------------------------------------------------

#: budget group of each layer kind (``by="kind"``); layer I of a product is split by where it sits
_KIND_GROUP = {
    "input": "embedding and head", "patch_embed": "embedding and head", "head": "embedding and head",
    "pool": "embedding and head", "embed": "embedding and head",
    "linear": "q, k, v, proj", "matmul_qk": "attention scores and context (products' layer II)",
    "matmul_av": "attention scores and context (products' layer II)",
    "activation": "MLP", "product": "MLP", "residual": "residual sums",
    "rope": "rotary position embedding (q, k)",
    "l2_sumsq": "L2 normalisation", "l2_rsqrt": "L2 normalisation", "l2_out": "L2 normalisation",
    "ln_mean": "LayerNorm mean/centred/var/rsqrt/out", "ln_centred": "LayerNorm mean/centred/var/rsqrt/out",
    "ln_var": "LayerNorm mean/centred/var/rsqrt/out", "ln_rsqrt": "LayerNorm mean/centred/var/rsqrt/out",
    "ln_out": "LayerNorm mean/centred/var/rsqrt/out",
    "softmax_max": "softmax", "softmax_sub": "softmax", "softmax_lse": "softmax", "softmax_exp": "softmax",
}


def _group_of_kind(p) -> str:
    """The budget group of a layer: by its kind, and for a product's layer I and a linear layer by where it
    sits, read from its name's parts (timm: ``blocks.0.attn.q_norm.product.layer1``, ``blocks.0.mlp.fc1``,
    ``blocks.0.mlp.mul.layer1``; transformers: ``encoder.layer.0.attention.qk.layer1``,
    ``encoder.layer.0.intermediate.dense``, ``encoder.layer.0.output.dense``)."""
    parts = p.pname.lower().split(".")
    attention = "attn" in parts or "attention" in parts
    if p.kind == "product_layer1":
        if parts[0] == "normalize":   # a sentence model's L2 normalisation
            return "L2 normalisation"
        if any("norm" in part for part in parts):   # LayerNorm's product, qk-norm's included
            return "LayerNorm products, layer I"
        return "attention products, layer I" if attention else "MLP"   # (a gated MLP's product)
    if p.kind == "linear" and ("mlp" in parts or "intermediate" in parts or ("output" in parts and not attention)):
        return "MLP"
    return _KIND_GROUP.get(p.kind, p.kind)


def layer_groups(snn, by: str = "kind") -> dict[str, list[str]]:
    """Layer names grouped for :func:`error_budget`: by kind of layer (``kind``) or by block (``block``).

    Layers without neurons (relays: residual sums carried by synapses, a folded rsqrt) round nothing at any
    precision and are in no group."""
    if by not in ("kind", "block"):
        raise ValueError(f"by must be 'kind' or 'block', got {by!r}")
    groups: dict[str, list[str]] = {}
    for p in snn.populations():
        if p.relay:
            continue
        if by == "kind":
            g = _group_of_kind(p)
        else:
            parts = p.pname.split(".")
            g = ".".join(parts[:2]) if parts[0] in ("blocks", "layers", "layer") and len(parts) > 1 else "outside blocks"
        groups.setdefault(g, []).append(p.pname)
    return groups


@dataclass
class ErrorBudget(_JsonRecord):
    """Each group's output error when it alone runs at precision p (the rest exact), and the whole model's."""

    mode: str
    precision: int
    by: str
    images: int
    total_error: float                  # relative output error, every layer at p
    groups: dict = field(default_factory=dict)    # name -> {"error", "share", "layers"}
    curve: dict = field(default_factory=dict)     # p -> relative output error, every layer at p

    def __str__(self) -> str:
        lines = [f"error budget: {self.mode} at p = {self.precision}, {self.images} inputs, groups by {self.by}",
                 f"relative output error, all layers at p: {self.total_error:.4g}",
                 f"{'group':42s} {'layers':>6s} {'error alone':>12s} {'share':>7s}"]
        for name, g in sorted(self.groups.items(), key=lambda kv: -kv[1]["error"]):
            lines.append(f"{name:42s} {len(g['layers']):6d} {g['error']:12.4g} {100 * g['share']:6.1f}%")
        if self.curve:
            lines.append("error against p (all layers): " +
                         ", ".join(f"p={p}: {e:.3g}" for p, e in sorted(self.curve.items(), key=lambda kv: int(kv[0]))))
        return "\n".join(lines)

    def plot(self, path) -> Path:
        """Bar plot of the groups' errors beside the error-against-p curve (matplotlib, Agg)."""
        # optional dependency, loaded only to plot
        import matplotlib

        matplotlib.use("Agg")
        # optional dependency, loaded only to plot
        import matplotlib.pyplot as plt

        items = sorted(self.groups.items(), key=lambda kv: kv[1]["error"])
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, max(3.5, 0.35 * len(items) + 1.5)))
        ax1.barh([k for k, _ in items], [g["error"] for _, g in items], color="tab:blue")
        ax1.axvline(self.total_error, color="tab:red", ls="--", label=f"all layers: {self.total_error:.3g}")
        ax1.set_xlabel(f"relative output error, group alone at p = {self.precision}")
        ax1.set_title(f"error budget ({self.mode})")
        ax1.legend(loc="lower right")
        if self.curve:
            ps = sorted(int(p) for p in self.curve)
            ax2.loglog(ps, [self.curve[p] if p in self.curve else self.curve[str(p)] for p in ps], "o-")
            ax2.set_xlabel("time precision p")
            ax2.set_ylabel("relative output error")
            ax2.set_title("error against p")
            ax2.grid(True, which="both", alpha=0.3)
        else:
            ax2.axis("off")
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def _rel_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    den = float(ref.norm())
    return float((out - ref).norm()) / den if den > 0 else float((out - ref).norm())


@torch.no_grad()
def error_budget(snn, inputs, *, mode: str = "quantized", precision: int = 1024, by: str = "kind",
                 curve=(64, 256, 1024, 4096), dtype=torch.float64, progress: bool = True) -> ErrorBudget:
    """Where the output error at time precision p comes from.

    Runs ``snn`` on ``inputs`` all exact (the reference), then once per group
    of layers (:func:`layer_groups`) with that group alone in ``mode`` at
    ``precision`` and the rest exact, and once with every layer at p; each
    group's error is the relative output error ``||out - exact|| / ||exact||``
    of its run, its share that error over the sum of all groups' errors. The
    output is the one :func:`evaluate` compares with the ANN (``snn.outputs``):
    logits of an image model, the unmasked tokens' last hidden states of a
    BERT, the sentence embeddings of a sentence-transformers model (padding
    rows, whose values mean nothing, are left out).
    ``curve``: the precisions of the error-against-p curve (every layer at p).
    Works for any model the converter builds (its forward takes ``only=``).
    """
    Ctx(mode=mode, precision=precision)   # validates
    if mode == "exact":
        raise ValueError("the error budget compares a finite-precision mode (quantized or kernel) with exact")
    groups = layer_groups(snn, by)

    x = snn.prepare_input(inputs, check_dtype(dtype))

    @torch.no_grad()
    def run(mode, precision=None, only=None):
        ctx = make_ctx(snn, mode, precision, only=only)
        out, rows = snn.outputs(x, ctx)
        finish_call(snn, ctx, warn=False)
        return out if rows is None else out[rows.bool()]

    bar = Progress(len(groups) + 2 + len(curve), f"error budget ({mode}, p={precision})", enabled=progress)
    ref = run(mode="exact")
    bar.update()
    total = _rel_error(run(mode=mode, precision=precision), ref)
    bar.update()
    out_groups = {}
    for name, layers in groups.items():
        out_groups[name] = {"error": _rel_error(run(mode=mode, precision=precision, only=layers), ref),
                            "layers": layers}
        bar.update()
    s = sum(g["error"] for g in out_groups.values())
    for g in out_groups.values():
        g["share"] = g["error"] / s if s > 0 else 0.0
    pts = {}
    for p in curve:
        pts[int(p)] = total if int(p) == int(precision) else _rel_error(run(mode=mode, precision=int(p)), ref)
        bar.update()
    bar.close()
    n = snn.batch_len(inputs)
    return ErrorBudget(mode=mode, precision=int(precision), by=by, images=int(n), total_error=total,
                       groups=out_groups, curve=pts)
