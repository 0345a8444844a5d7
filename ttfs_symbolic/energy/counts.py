"""Operation counts and energy of a TTFS-converted timm ViT (Section 5.2, Table 3, eq. 28).

``count_ops`` walks the module tree of a timm ``VisionTransformer`` (built on
``torch.device("meta")`` when given by name, so no weights, data or memory are
needed) and counts, per layer and per image:

* ``neurons``: TTFS neurons of the converted network;
* ``op_snn``: synaptic operations (accumulates, one per input spike per
  outgoing synapse) of the SNN;
* ``op_ann``: multiply-accumulates (MACs) of the same ANN.

Then eq. 28:  E_SNN / E_ANN = (OP_SNN * E_AC) / (OP_ANN * E_MAC), with
E_AC = 0.9 pJ and E_MAC = 4.6 pJ (Horowitz, 2014).

Counting rules (Table 3 of Appendix C, per image; ``T`` tokens = patch grid +
prefix tokens):

==============  ===========================  ================  ==============  ===========
layer           operand                      neurons           OP_SNN          OP_ANN
==============  ===========================  ================  ==============  ===========
Linear          T x in -> T x out            T*out             T*in*out        T*in*out
patch embed     P patches, C*p*p -> dim      P*dim             P*C*p*p*dim     same
MatMul(A, B)    A: M x K, B: K x N           MN(K+1)           5MNK (*)        M*N*K
Softmax         one row of N                 2(N+1)            6N              0 (see below)
LayerNorm       one row of N                 3N+3              9N+1            0
GELU/SiLU/ReLU  M x N                        MN                MN              0
residual add    T x dim + T x dim            T*dim             2*T*dim         0
avg pool        P tokens -> dim              dim               P*dim           0
==============  ===========================  ================  ==============  ===========

* (*) MatMul: Table 3 prints MN(3K+2). The network this library builds (and
  the paper describes, App. C.1) has M*N*K layer-I neurons with 2 synapses
  each (log(A_ik + c1), log(B_kj + c2)) and M*N layer-II neurons with 3K
  synapses each (exp of the K layer-I spikes and the K delayed A_ik and B_kj):
  2MNK + 3MNK = 5MNK.  For K = 1 both formulas give 5, and Table 3's own
  LayerNorm count (9N+1, whose multiplication is that K = 1 case) needs 5, so
  we count 5MNK. MN(3K+2) would need M + N extra neurons holding the row and
  column sums of A and B, which the paper does not describe. Table 3's figure
  is kept beside ours: ``LayerOps.op_snn_table3`` and
  ``EnergyReport.op_snn_table3`` (printed under the table).
* Linear layers (``qkv``, ``proj``, ``fc1``, ``fc2``, ``head``) cost the SNN one
  accumulate per input spike per outgoing synapse, so the static count (every
  input neuron fires) equals the ANN's MACs.  Biases, the attention scale
  ``head_dim**-0.5`` and timm's ``LayerScale`` gamma are constants folded into
  weights or into the constant C of Theorem 4.1 (eq. 8): no operations.
* The patch embedding is a linear map per patch (kernel = stride = patch
  size).  It is the first layer: it takes the spikes of the encoded pixels
  directly, so the SNN needs no multiplication there (Section 5.2) and counts
  it as accumulates like any other linear layer.  The pixel encoders are the
  network's input, not neurons of it, and are not counted.
* Attention, per head: ``q @ k^T`` is MatMul with M = T, K = head_dim, N = T;
  ``attn @ v`` is MatMul with M = T, K = T, N = head_dim; softmax runs over T
  rows of T per head.  qk-norm, when present, is a LayerNorm over head_dim on
  T * heads rows.
* OP_ANN counts MACs only: every linear layer (patch embedding and head
  included) and both attention products, the usual way (docs/design.md "Energy").
  Softmax, LayerNorm, activations, residual additions and pooling are counted
  as 0 MACs (their FLOPs are elementwise and not MACs); this makes the ratio
  of eq. 28 slightly favourable to the ANN, never to the SNN.
* Residual additions: the inputs from an earlier window reach their target by
  synaptic delays of whole windows (docs/design.md), no relay neurons.  Each
  addition ``x + y`` is an identity-transform neuron per element with two
  synapses: neurons = T*dim, OP_SNN = 2*T*dim, two per block.
* Class token, register tokens and the position embedding are constants: the
  class token is a constant spike, the position embedding a bias of the patch
  embedding's neurons.  No operations.
* Everything the forward pass computes is counted, e.g. the final norm on all
  T tokens even when only the class token reaches the head; no pruning.

``spike_rates`` (row name -> measured firing rate r in [0, 1] of the row's
input neurons) scales that row's OP_SNN to r * static count: in TTFS a silent
input (value a) contributes the constant w*f(a) of Theorem 4.1 through C and
costs no operation.  Neurons and OP_ANN do not change.

The walker dispatches on the exact module type through ``HANDLERS`` (a
subclass can override ``forward``, so it is never assumed to behave like its
base).  To support another architecture (e.g. timm ``Eva`` with SwiGLU and an
inner LayerNorm, rotary embeddings and layer scale), register handlers with
``@register_handler(SomeType)``; a handler receives the walker, the module,
its dotted path and the input shape ``(rows, features)`` and returns the
output shape, adding rows with ``walker.add`` and visiting its children with
``walker.visit``.  Any module the walk does not reach raises ``ValueError``
naming its path and type, so nothing is silently left uncounted.
"""
from __future__ import annotations


import math
from dataclasses import asdict, dataclass, field

from ..conversion.presets import describe

E_AC_PJ = 0.9   # energy of one accumulate (pJ), Horowitz (2014), Section 5.2
E_MAC_PJ = 4.6  # energy of one multiply-accumulate (pJ), Horowitz (2014)

PJ_TO_MJ = 1e-9   # pJ -> mJ

Shape = tuple[int, int]  # (rows, features): a stack of `rows` vectors of length `features`


# --------------------------------------------------------------------------
# Table 3 formulas (per instance), public so that other walkers can reuse them
# --------------------------------------------------------------------------

def matmul_counts(M: int, K: int, N: int) -> tuple[int, int]:
    """Neurons and OP_SNN of MatMul(A, B), A: M x K, B: K x N (App. C.1), as built.

    Layer I has M*N*K multiplication neurons with 2 synapses each, layer II
    M*N neurons with 3K synapses each: MN(K+1) neurons, 5MNK operations
    (Table 3 prints MN(3K+2): see :func:`matmul_ops_table3` and the module doc).
    """
    return M * N * (K + 1), 5 * M * N * K


def product_counts(M: int, K: int, N: int, construction: str = "paper", pairs: int = 4,
                   corrections: int = 0) -> tuple[int, int]:
    """Neurons and OP_SNN of a product network as built, in either construction.

    ``paper``: :func:`matmul_counts`. ``signed`` (spiking.Product): ``pairs``
    layer-I neurons per term (the pairs of sign parts: 4 when both factors
    take both signs, 2 when one is one-signed) with 2 synapses each; layer II
    has one synapse per layer-I neuron plus ``corrections`` delayed synapses
    per term (one per one-signed factor): MN(pairs*K + 1) neurons,
    (3*pairs + corrections) MNK operations (12MNK for q k^T, 7MNK for
    softmax V, 7 per element for LayerNorm's product).
    """
    if construction == "paper":
        return matmul_counts(M, K, N)
    if construction != "signed":
        raise ValueError(f"unknown product construction {construction!r}; choose 'paper' or 'signed'")
    return M * N * (pairs * K + 1), (3 * pairs + corrections) * M * N * K


def matmul_ops_table3(M: int, K: int, N: int) -> int:
    """OP_SNN of MatMul as printed in Table 3: MN(3K+2)."""
    return M * N * (3 * K + 2)


def softmax_counts(N: int) -> tuple[int, int]:
    """Neurons and OP_SNN of Softmax over one row of N (Table 3, App. C.2): 2(N+1), 6N."""
    return 2 * (N + 1), 6 * N


def layernorm_counts(N: int, construction: str = "paper", rsqrt: str = "neuron") -> tuple[int, int]:
    """Neurons and OP_SNN of LayerNorm over one row of N (Table 3): 3N+3, 9N+1.

    With the ``signed`` product (centred values take both signs, rsqrt is
    positive: 2 layer-I neurons per element, 1 correction): 4N+3, 11N+1.
    ``rsqrt="folded"`` (:func:`~ttfs_symbolic.spiking.fold_rsqrt`): no
    rsqrt neuron and no synapse into it (the variance's spike reaches the
    product's layer I directly): one neuron and one operation fewer per row.
    """
    if rsqrt not in ("neuron", "folded"):
        raise ValueError(f"unknown rsqrt mode {rsqrt!r}; choose 'neuron' or 'folded'")
    fold = int(rsqrt == "folded")
    if construction == "signed":
        return 4 * N + 3 - fold, 11 * N + 1 - fold
    return 3 * N + 3 - fold, 9 * N + 1 - fold


def activation_counts(M: int, N: int) -> tuple[int, int]:
    """Neurons and OP_SNN of an elementwise GELU / SiLU / ReLU on M x N (Table 3): MN, MN."""
    return M * N, M * N


def residual_counts(tokens: int, dim: int) -> tuple[int, int]:
    """Identity-transform neurons of x + y on tokens x dim: T*dim neurons, 2*T*dim ops."""
    return tokens * dim, 2 * tokens * dim


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

@dataclass
class LayerOps:
    """One row of the count: a layer (or a group of identical instances, e.g. all heads).

    ``op_snn`` is an int (the static count, every input neuron fires) unless a
    firing rate was given, then the float ``spike_rate * op_snn_static``.
    """

    name: str
    kind: str
    neurons: int
    op_snn: int | float
    op_ann: int
    shape: str = ""
    op_snn_static: int = 0
    spike_rate: float | None = None
    op_snn_table3: int | float | None = None   # Table 3's printed count where it differs (MatMul)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EnergyReport:
    """Per-layer rows and totals of eq. 28 for one image."""

    rows: list[LayerOps]
    op_snn: int | float
    op_ann: int
    neurons: int
    energy_snn_mj: float
    energy_ann_mj: float
    energy_ratio: float
    model: str = ""
    img_size: tuple[int, int] | None = None
    tokens: int = 0
    e_ac_pj: float = E_AC_PJ
    e_mac_pj: float = E_MAC_PJ
    #: the network counted: preset (None: given setting by setting), product, residual, rsqrt
    configuration: dict = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: list[LayerOps], spike_rates: dict[str, float] | None = None, *,
                  e_ac_pj: float = E_AC_PJ, e_mac_pj: float = E_MAC_PJ, **meta) -> "EnergyReport":
        """The report of ``rows`` (scaled by ``spike_rates`` first, :func:`apply_rates`): totals and eq. 28."""
        if spike_rates:
            apply_rates(rows, spike_rates)
        op_snn = sum(r.op_snn for r in rows)
        op_ann = sum(r.op_ann for r in rows)
        e_snn = op_snn * e_ac_pj * PJ_TO_MJ
        e_ann = op_ann * e_mac_pj * PJ_TO_MJ
        return cls(rows=rows, op_snn=op_snn, op_ann=op_ann, neurons=sum(r.neurons for r in rows),
                   energy_snn_mj=e_snn, energy_ann_mj=e_ann, energy_ratio=e_snn / e_ann if e_ann else math.nan,
                   e_ac_pj=e_ac_pj, e_mac_pj=e_mac_pj, **meta)

    @property
    def op_snn_table3(self) -> int | float:
        """OP_SNN with Table 3's MatMul formula MN(3K+2) in place of the built 5MNK."""
        return sum(r.op_snn if r.op_snn_table3 is None else r.op_snn_table3 for r in self.rows)

    @property
    def energy_ratio_table3(self) -> float:
        return self.op_snn_table3 * self.e_ac_pj / (self.op_ann * self.e_mac_pj) if self.op_ann else math.nan

    def by_kind(self) -> dict[str, dict[str, int | float]]:
        """Totals per row kind (linear, matmul, softmax, ...), in first-seen order."""
        out: dict[str, dict[str, int | float]] = {}
        for r in self.rows:
            d = out.setdefault(r.kind, {"neurons": 0, "op_snn": 0, "op_ann": 0})
            d["neurons"] += r.neurons
            d["op_snn"] += r.op_snn
            d["op_ann"] += r.op_ann
        return out

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "img_size": list(self.img_size) if self.img_size else None,
            "tokens": self.tokens,
            "e_ac_pj": self.e_ac_pj,
            "e_mac_pj": self.e_mac_pj,
            "configuration": self.configuration,
            "op_snn": self.op_snn,
            "op_ann": self.op_ann,
            "neurons": self.neurons,
            "energy_snn_mj": self.energy_snn_mj,
            "energy_ann_mj": self.energy_ann_mj,
            "energy_ratio": self.energy_ratio,
            "op_snn_table3": self.op_snn_table3,
            "energy_ratio_table3": self.energy_ratio_table3,
            "by_kind": self.by_kind(),
            "layers": [r.to_dict() for r in self.rows],
        }

    def table(self) -> str:
        """Plain-text table: one line per row, per-kind subtotals, totals and eq. 28."""
        def num(x: int | float) -> str:
            return f"{x:,.0f}" if isinstance(x, float) else f"{x:,}"

        head = ("layer", "kind", "shape", "neurons", "OP_SNN", "OP_ANN (MAC)")
        lines = [(r.name, r.kind, r.shape, num(r.neurons), num(r.op_snn), num(r.op_ann))
                 for r in self.rows]
        kinds = [(f"  {k}", "", "", num(v["neurons"]), num(v["op_snn"]), num(v["op_ann"]))
                 for k, v in self.by_kind().items()]
        total = ("total", "", "", num(self.neurons), num(self.op_snn), num(self.op_ann))
        allrows = [head, *lines, *kinds, total]
        w = [max(len(row[i]) for row in allrows) for i in range(len(head))]

        def fmt(row: tuple[str, ...]) -> str:
            left = [row[i].ljust(w[i]) for i in range(3)]
            right = [row[i].rjust(w[i]) for i in range(3, 6)]
            return "  ".join(left + right).rstrip()

        rule = "-" * len(fmt(tuple("x" * n for n in w)))
        title = f"{self.model}  img_size={self.img_size}  tokens={self.tokens}"
        config = [f"configuration: {describe(self.configuration)}"] if self.configuration else []
        out = [title, *config, fmt(head), rule, *map(fmt, lines), rule, "per kind:",
               *map(fmt, kinds), rule, fmt(total), "",
               f"E_SNN = OP_SNN * E_AC  = {self.energy_snn_mj:.4f} mJ  (E_AC = {self.e_ac_pj} pJ)",
               f"E_ANN = OP_ANN * E_MAC = {self.energy_ann_mj:.4f} mJ  (E_MAC = {self.e_mac_pj} pJ)",
               f"E_SNN / E_ANN (eq. 28) = {self.energy_ratio:.4f}",
               f"(with Table 3's printed MatMul count MN(3K+2) instead of the built 5MNK: "
               f"OP_SNN = {num(self.op_snn_table3)}, E_SNN / E_ANN = {self.energy_ratio_table3:.4f})"]
        return "\n".join(out)



def apply_rates(rows: list[LayerOps], spike_rates: dict[str, float]) -> None:
    by_name = {r.name: r for r in rows}
    for name, rate in spike_rates.items():
        if name not in by_name:
            sample = ", ".join(list(by_name)[:4])
            raise ValueError(f"spike_rates names no layer {name!r}; layer names look like {sample}, ...")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (0.0 <= rate <= 1.0):
            raise ValueError(f"spike rate of {name!r} must be a number in [0, 1], got {rate!r}")
        row = by_name[name]
        row.spike_rate = float(rate)
        row.op_snn = row.op_snn_static * float(rate)
        if row.op_snn_table3 is not None:
            row.op_snn_table3 = row.op_snn_table3 * float(rate)
