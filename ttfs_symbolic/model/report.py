"""ANN vs SNN: agreement, accuracy, logit error, spikes, neurons, energy, clip rates.

``evaluate(snn, ann, images, labels, mode=..., precision=...)`` runs both
networks on the same images and returns a :class:`ConversionReport` that
prints as a table (``str(report)``) and saves as JSON (``report.save``).
Energy follows Section 5.2 / Table 3 through :mod:`ttfs_symbolic.model.energy`,
with the linear layers' synaptic operations scaled by the measured firing
rate of their inputs.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .convert import Progress, batches
from .spiking import Ctx


@dataclass
class LayerRow:
    name: str
    kind: str
    neuron: str          # the catalogue neurons of the layer: "f -> h" (input transform -> output transform)
    a: float
    b: float
    neurons: int
    spikes: int
    spikes_per_neuron: float
    clip_rate: float


@dataclass
class ConversionReport:
    mode: str
    precision: int | None
    dtype: str
    images: int
    agreement: float
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

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    def summary(self) -> str:
        acc = lambda v: "n/a" if v is None else f"{100 * v:.2f}%"
        prec = "" if self.precision is None else f", p = {self.precision}"
        lines = [
            f"mode {self.mode}{prec}, {self.dtype}, {self.images} images",
            f"  ANN accuracy            {acc(self.ann_accuracy)}",
            f"  SNN accuracy            {acc(self.snn_accuracy)}",
            f"  top-1 agreement         {100 * self.agreement:.2f}%",
            f"  largest logit error     {self.max_logit_error:.3e} (relative {self.max_logit_rel_error:.3e})",
            f"  neurons per image       {self.neurons / max(self.images, 1):,.0f}",
            f"  spikes per neuron       {self.spikes_per_neuron:.4f} (at most 1)",
            f"  OP_SNN / OP_ANN         {self.op_snn:.4g} / {self.op_ann:.4g} per image",
            f"  E_SNN / E_ANN           {self.energy_snn_mj:.4g} mJ / {self.energy_ann_mj:.4g} mJ "
            f"= {100 * self.energy_ratio:.2f}%",
        ]
        return "\n".join(lines)

    def layer_table(self, limit: int | None = None) -> str:
        head = f"{'layer':40s} {'neuron f -> h':22s} {'a':>10s} {'b':>10s} {'spikes/neuron':>13s} {'clip rate':>10s}"
        rows = [head, "-" * len(head)]
        for r in self.layers[:limit]:
            rows.append(f"{r.name:40s} {r.neuron:22s} {r.a:10.4g} {r.b:10.4g} {r.spikes_per_neuron:13.4f} "
                        f"{100 * r.clip_rate:9.3f}%")
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
    from .spiking import SpikingActivation

    f_of = {m.out.pname: m.neuron_name for m in snn.modules() if isinstance(m, SpikingActivation)}
    return {p.pname: f"{f_of.get(p.pname, _INPUT_F.get(p.kind, 'id'))} -> {p.neuron}".replace("identity", "id")
            for p in snn.populations()}


def reset_counters(snn):
    for p in snn.populations():
        p.stats.neurons = p.stats.spikes = p.stats.clipped = 0


def _input_rates(snn) -> dict[str, float]:
    """Firing rate of each layer's output, by layer name (for the energy count)."""
    rates = {}
    for p in snn.populations():
        if p.stats.neurons:
            rates[p.pname] = p.stats.spikes / p.stats.neurons
    return rates


@torch.no_grad()
def evaluate(snn, ann, images, labels=None, *, mode: str = "exact", precision: int | None = None,
             dtype=torch.float32, batch_size: int = 64, progress: bool = True) -> ConversionReport:
    """Run ANN and SNN on the same images and compare them (Section 5)."""
    from .energy import count_ops
    from .inputs import check_batch

    Ctx(mode=mode, precision=precision)  # validates mode and precision
    check_batch(batch_size, dtype)
    images = snn.check_images(images)   # a floating tensor of the model's shape, finite (issue 12)
    if labels is not None:
        labels = torch.as_tensor(labels)
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    reset_counters(snn)
    ann = ann.eval()
    ann_dtype = next(ann.parameters()).dtype
    bar = Progress((images.shape[0] + batch_size - 1) // batch_size, f"evaluating ({mode})", enabled=progress)
    agree = correct_ann = correct_snn = 0
    max_err = 0.0
    max_ref = 0.0
    n = 0
    for i, batch in enumerate(batches(images, batch_size)):
        ref = ann.to(dtype)(batch.to(dtype))
        out = snn(batch, mode=mode, precision=precision, dtype=dtype, record=True)
        pa, ps = ref.argmax(-1), out.argmax(-1)
        agree += int((pa == ps).sum())
        max_err = max(max_err, float((out - ref).abs().max()))
        max_ref = max(max_ref, float(ref.abs().max()))
        if labels is not None:
            lab = labels[i * batch_size:i * batch_size + batch.shape[0]]
            correct_ann += int((pa == lab).sum())
            correct_snn += int((ps == lab).sum())
        n += batch.shape[0]
        bar.update()
    bar.close()
    ann.to(ann_dtype)
    layers = []
    neurons = spikes = 0
    neuron_of = _neuron_labels(snn)
    for p in snn.populations():
        st = p.stats
        if p.kind == "input":
            continue
        neurons += st.neurons
        spikes += st.spikes
        layers.append(LayerRow(p.pname, p.kind, neuron_of[p.pname], p.a, p.b, st.neurons // max(n, 1), st.spikes,
                               st.spikes / st.neurons if st.neurons else 0.0,
                               st.clipped / st.neurons if st.neurons else 0.0))
    energy = count_ops(ann, spike_rates=snn.spike_rates_for_energy())   # EVA and DeiT add rows of their own
    return ConversionReport(
        mode=mode, precision=precision, dtype=str(dtype).replace("torch.", ""), images=n,
        agreement=agree / max(n, 1), max_logit_error=max_err,
        max_logit_rel_error=max_err / max_ref if max_ref > 0 else math.inf,
        ann_accuracy=None if labels is None else correct_ann / n,
        snn_accuracy=None if labels is None else correct_snn / n,
        neurons=neurons, spikes=spikes, spikes_per_neuron=spikes / neurons if neurons else 0.0,
        op_snn=energy.op_snn, op_ann=energy.op_ann, energy_snn_mj=energy.energy_snn_mj,
        energy_ann_mj=energy.energy_ann_mj, energy_ratio=energy.energy_ratio, layers=layers,
        energy_rows=[r.to_dict() for r in energy.rows])


def snn_spike_rates_for_energy(snn) -> dict[str, float]:
    """Measured firing rate of the input of each linear layer, keyed by the energy rows' names.

    A linear layer's synaptic operations are one accumulate per input spike
    per outgoing synapse, so its static count is scaled by the rate at which
    its input layer fired.
    """
    rates = _input_rates(snn)
    out = {}
    for blk_i, blk in enumerate(getattr(snn, "blocks", [])):
        pre = f"blocks.{blk_i}"
        if f"{pre}.norm1" in rates:
            out[f"{pre}.attn.qkv"] = rates[f"{pre}.norm1"]
        if f"{pre}.attn.context" in rates:
            out[f"{pre}.attn.proj"] = rates[f"{pre}.attn.context"]
        if f"{pre}.norm2" in rates:
            out[f"{pre}.mlp.fc1"] = rates[f"{pre}.norm2"]
        src = f"{pre}.mlp.norm" if f"{pre}.mlp.norm" in rates else f"{pre}.mlp.act"
        if src in rates:
            out[f"{pre}.mlp.fc2"] = rates[src]
    if "input" in rates:
        out["patch_embed.proj"] = rates["input"]
    for last in ("fc_norm", "pool", "norm"):
        if last in rates:
            out["head"] = rates[last]
            break
    return out
