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

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from torch import nn

from .presets import DEFAULT_PRESET, PRESETS, STRUCTURE, check_preset, describe

E_AC_PJ = 0.9   # energy of one accumulate (pJ), Horowitz (2014), Section 5.2
E_MAC_PJ = 4.6  # energy of one multiply-accumulate (pJ), Horowitz (2014)

_PJ_TO_MJ = 1e-9

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
    ``rsqrt="folded"`` (:func:`~ttfs_symbolic.model.spiking.fold_rsqrt`): no
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


# --------------------------------------------------------------------------
# Walker and dispatch table
# --------------------------------------------------------------------------

Handler = Callable[["Walker", nn.Module, str, Shape], Shape]
HANDLERS: dict[type, Handler] = {}


def register_handler(*types: type) -> Callable[[Handler], Handler]:
    """Register ``fn(walker, module, path, shape) -> shape`` for these exact module types."""
    def deco(fn: Handler) -> Handler:
        for t in types:
            HANDLERS[t] = fn
        return fn
    return deco


def _typename(module: nn.Module) -> str:
    t = type(module)
    return f"{t.__module__}.{t.__qualname__}"


def _label(path: str) -> str:
    return path or "<model>"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class Walker:
    """Visits modules in forward order, tracking the activation shape (rows, features)."""

    def __init__(self, product: str = "paper", residual: str = "neuron", rsqrt: str = "neuron") -> None:
        self.rows: list[LayerOps] = []
        self.visited: set[str] = set()
        #: the product construction counted (spiking.Product): "paper" or "signed"
        self.product = product
        #: how residual sums are carried (convert.set_residual): "neuron" or "synapses"
        self.residual = residual
        #: how LayerNorm forms (v + eps)^(-1/2) (convert.set_rsqrt): "neuron" or "folded"
        self.rsqrt = rsqrt
        #: residual="synapses": the number of layers whose spikes make up the residual stream
        self.summands = 1

    def add(self, name: str, kind: str, neurons: int, op_snn: int, op_ann: int,
            shape: str = "", op_snn_table3: int | None = None) -> None:
        self.rows.append(LayerOps(name=name, kind=kind, neurons=int(neurons), op_snn=int(op_snn),
                                  op_ann=int(op_ann), shape=shape, op_snn_static=int(op_snn),
                                  op_snn_table3=None if op_snn_table3 is None else int(op_snn_table3)))

    def mark(self, path: str) -> None:
        """Record a module as accounted for by its parent's handler."""
        self.visited.add(path)

    def visit(self, module: nn.Module, path: str, shape: Shape) -> Shape:
        handler = HANDLERS.get(type(module))
        if handler is None:
            from .activations import is_activation

            if is_activation(module):   # a registered activation: one neuron per element (Table 3)
                handler = _activation_all
        if handler is None:
            raise ValueError(
                f"unsupported module {_label(path)!r} of type {_typename(module)}: energy counts "
                f"cover timm VisionTransformer layers (Table 3); register a handler for it in "
                f"ttfs_symbolic.model.energy.HANDLERS")
        self.mark(path)
        return handler(self, module, path, shape)

    def child(self, module: nn.Module, path: str, name: str, shape: Shape) -> Shape:
        return self.visit(getattr(module, name), _join(path, name), shape)

    def check_complete(self, root: nn.Module) -> None:
        """Every submodule must have been counted (or passed through) by some handler."""
        for p, m in root.named_modules():
            if p not in self.visited:
                raise ValueError(
                    f"unsupported module {_label(p)!r} of type {_typename(m)}: it is not part of "
                    f"any layer pattern the energy count knows, so its cost would be missed")


def _expect(cond: bool, path: str, msg: str) -> None:
    if not cond:
        raise ValueError(f"module {_label(path)!r}: {msg}")


# ---- leaves ---------------------------------------------------------------

def _passthrough(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """Identity at inference (Identity, Dropout, DropPath, PatchDropout in eval), or a
    constant per-channel scale folded into the preceding weights (LayerScale)."""
    for p, _ in module.named_modules():
        walker.mark(_join(path, p) if p else path)
    return shape


def _linear(walker: Walker, module: nn.Linear, path: str, shape: Shape) -> Shape:
    rows, feat = shape
    _expect(feat == module.in_features, path,
            f"Linear expects {module.in_features} input features, the walk reached it with {feat}")
    macs = rows * module.in_features * module.out_features
    walker.add(path, "linear", rows * module.out_features, macs, macs,
               f"{rows}x{module.in_features} -> {rows}x{module.out_features}")
    return rows, module.out_features


def _layernorm(walker: Walker, module: nn.LayerNorm, path: str, shape: Shape) -> Shape:
    rows, feat = shape
    _expect(tuple(module.normalized_shape) == (feat,), path,
            f"LayerNorm over {tuple(module.normalized_shape)} but the walk reached it with "
            f"{feat} features (only normalization over the last dimension is supported)")
    n, o = layernorm_counts(feat, walker.product, walker.rsqrt)
    walker.add(path, "layernorm", rows * n, rows * o, 0, f"{rows} rows of {feat}")
    return shape


def _activation(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    rows, feat = shape
    n, o = activation_counts(rows, feat)
    walker.add(path, "activation", n, o, 0, f"{rows}x{feat}")
    return shape


def _activation_all(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """A registered activation (any submodules it has are part of its one neuron)."""
    for p, _ in module.named_modules():
        walker.mark(_join(path, p) if p else path)
    return _activation(walker, module, path, shape)


def _sequential(walker: Walker, module: nn.Sequential, path: str, shape: Shape) -> Shape:
    for name, _ in module.named_children():
        shape = walker.child(module, path, name, shape)
    return shape


def _register_defaults() -> None:
    from timm.layers import DropPath, LayerScale, Mlp, PatchDropout, PatchEmbed
    from timm.layers import activations as tact
    from timm.layers import norm as tnorm
    from timm.layers.attention import Attention
    from timm.models.vision_transformer import Block, ResPostBlock, VisionTransformer

    register_handler(nn.Identity, nn.Dropout, DropPath, PatchDropout, LayerScale)(_passthrough)
    register_handler(nn.Linear)(_linear)
    register_handler(nn.LayerNorm, tnorm.LayerNorm, tnorm.LayerNormFp32)(_layernorm)
    register_handler(nn.GELU, tact.GELU, tact.GELUTanh, nn.SiLU, tact.Swish, nn.ReLU)(_activation)
    register_handler(nn.Sequential)(_sequential)
    register_handler(PatchEmbed)(_patch_embed)
    register_handler(Attention)(_attention)
    register_handler(Mlp)(_mlp)
    register_handler(Block)(_block)
    register_handler(ResPostBlock)(_res_post_block)
    register_handler(VisionTransformer)(_vision_transformer)


# ---- containers -----------------------------------------------------------

def _patch_embed(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """Patch embedding: a linear map per patch on the encoded pixel spikes.

    ``shape`` is (num_patches, C*p*p) as set by the VisionTransformer handler.
    """
    proj = module.proj
    ppath = _join(path, "proj")
    _expect(type(proj) is nn.Conv2d, ppath,
            f"patch projection must be a Conv2d, got {_typename(proj)}")
    k = tuple(proj.kernel_size)
    _expect(k == tuple(proj.stride) and tuple(proj.padding) == (0, 0)
            and tuple(proj.dilation) == (1, 1) and proj.groups == 1, ppath,
            f"only a non-overlapping patch conv (kernel = stride, no padding, dilation 1, "
            f"groups 1) is a linear map per patch; got kernel {k}, stride {tuple(proj.stride)}, "
            f"padding {proj.padding}, dilation {tuple(proj.dilation)}, groups {proj.groups}")
    patches, feat_in = shape
    fan_in = proj.in_channels * k[0] * k[1]
    _expect(feat_in == fan_in, ppath, f"expected {fan_in} inputs per patch, got {feat_in}")
    macs = patches * fan_in * proj.out_channels
    walker.mark(ppath)
    walker.add(ppath, "patch_embed", patches * proj.out_channels, macs, macs,
               f"{patches} patches x {proj.in_channels}x{k[0]}x{k[1]} -> {proj.out_channels}")
    return walker.child(module, path, "norm", (patches, proj.out_channels))


def _attention(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """timm Attention: qkv, (q_norm, k_norm), q@k^T, softmax, attn@v, (norm), proj."""
    _expect(getattr(module, "gate", None) is None, path,
            "gated attention (sigmoid gate on the output) is not in Table 3")
    T, _ = shape
    H, hd, attn_dim = module.num_heads, module.head_dim, module.attn_dim
    rows, feat = walker.child(module, path, "qkv", shape)
    _expect(feat == 3 * attn_dim, _join(path, "qkv"),
            f"qkv gives {feat} features, expected 3 * {attn_dim}")
    walker.child(module, path, "q_norm", (T * H, hd))
    walker.child(module, path, "k_norm", (T * H, hd))
    n, o = product_counts(T, hd, T, walker.product, pairs=4, corrections=0)
    walker.add(_join(path, "qk_matmul"), "matmul", H * n, H * o, H * T * T * hd,
               f"{H} x ({T}x{hd} @ {hd}x{T})", op_snn_table3=H * matmul_ops_table3(T, hd, T))
    n, o = softmax_counts(T)
    walker.add(_join(path, "softmax"), "softmax", H * T * n, H * T * o, 0,
               f"{H * T} rows of {T}")
    walker.child(module, path, "attn_drop", (H * T, T))
    n, o = product_counts(T, T, hd, walker.product, pairs=2, corrections=1)   # softmax >= 0
    walker.add(_join(path, "av_matmul"), "matmul", H * n, H * o, H * T * T * hd,
               f"{H} x ({T}x{T} @ {T}x{hd})", op_snn_table3=H * matmul_ops_table3(T, T, hd))
    shape = walker.child(module, path, "norm", (T, attn_dim))
    shape = walker.child(module, path, "proj", shape)
    return walker.child(module, path, "proj_drop", shape)


def _mlp(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    for name in ("fc1", "act", "drop1", "norm", "fc2", "drop2"):
        shape = walker.child(module, path, name, shape)
    return shape


def _residual(walker: Walker, path: str, name: str, shape: Shape, pre_norm: bool = True) -> None:
    T, dim = shape
    if walker.residual == "synapses":
        if not pre_norm:
            raise ValueError(f"residual='synapses' is not counted for {_label(path)!r}: a post-norm block's "
                             "sum feeds the next attention, not a LayerNorm")
        # no neuron: the LayerNorm that reads the stream (its mean and centred neurons, one synapse each
        # per element and summand) receives every summand's spike instead of one: (k - 1) * 2*T*dim
        # more synaptic operations when the stream holds k summands
        walker.summands += 1
        k = walker.summands
        walker.add(_join(path, name), "residual", 0, 2 * T * dim * (k - 1), 0,
                   f"{T}x{dim} x {k} summands into the next LayerNorm")
        return
    n, o = residual_counts(T, dim)
    walker.add(_join(path, name), "residual", n, o, 0, f"{T}x{dim} + {T}x{dim}")


def _final_stream(walker: Walker, model: nn.Module, path: str, n_pool: int, dim: int) -> None:
    """residual="synapses": the last sum feeds the final norm (counted so by :func:`_residual`) or, without
    one, the average pool, whose neurons receive each of the k summands of n_pool tokens."""
    if walker.residual != "synapses" or not isinstance(getattr(model, "norm", None), nn.Identity):
        return
    if model.global_pool != "avg":
        raise ValueError(f"residual='synapses' is not counted for {_label(path)!r}: the last block's sum feeds "
                         "no final LayerNorm (norm is Identity) and no average pool")
    last = next((r for r in reversed(walker.rows) if r.kind == "residual"), None)
    if last is not None:
        k = walker.summands
        last.op_snn = last.op_snn_static = n_pool * dim * (k - 1)
        last.shape = f"{n_pool}x{dim} x {k} summands into the pool"


def _block(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """Pre-norm block: x + ls1(attn(norm1(x))), then x + ls2(mlp(norm2(x)))."""
    y = shape
    for name in ("norm1", "attn", "ls1", "drop_path1"):
        y = walker.child(module, path, name, y)
    _expect(y == shape, path, f"attention branch gives {y}, residual needs {shape}")
    _residual(walker, path, "residual1", shape)
    y = shape
    for name in ("norm2", "mlp", "ls2", "drop_path2"):
        y = walker.child(module, path, name, y)
    _expect(y == shape, path, f"MLP branch gives {y}, residual needs {shape}")
    _residual(walker, path, "residual2", shape)
    return shape


def _res_post_block(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """Post-norm block: x + norm1(attn(x)), then x + norm2(mlp(x))."""
    for branch, resname in ((("attn", "norm1", "drop_path1"), "residual1"),
                            (("mlp", "norm2", "drop_path2"), "residual2")):
        y = shape
        for name in branch:
            y = walker.child(module, path, name, y)
        _expect(y == shape, path, f"branch gives {y}, residual needs {shape}")
        _residual(walker, path, resname, shape, pre_norm=False)
    return shape


def _vision_transformer(walker: Walker, model: nn.Module, path: str, shape: Shape) -> Shape:
    """timm VisionTransformer: patch embed, prefix tokens, blocks, norm, pool, head.

    ``shape`` is (num_patches, C*p*p), computed by ``count_ops`` from the image size.
    """
    _expect(model.attn_pool is None, _join(path, "attn_pool"),
            f"attention pooling ({_typename(model.attn_pool)}) is not supported")
    _expect(model.global_pool in ("token", "avg", ""), path,
            f"global_pool={model.global_pool!r} is not supported (max pooling is not in "
            f"Table 3); supported: 'token', 'avg', ''")
    patches, _ = shape
    dim = model.embed_dim
    x = walker.child(model, path, "patch_embed", shape)
    _expect(x == (patches, dim), _join(path, "patch_embed"),
            f"patch embedding gives {x}, expected {(patches, dim)}")
    T = patches + model.num_prefix_tokens  # class / register tokens: constant spikes
    x = (T, dim)
    for name in ("pos_drop", "patch_drop", "norm_pre", "blocks", "norm"):
        x = walker.child(model, path, name, x)
    _final_stream(walker, model, path, T if model.pool_include_prefix else patches, dim)
    if model.global_pool == "token":
        x = (1, dim)
    elif model.global_pool == "avg":
        n_pool = T if model.pool_include_prefix else patches
        walker.add(_join(path, "pool"), "pool", dim, n_pool * dim, 0,
                   f"mean of {n_pool} x {dim}")
        x = (1, dim)
    for name in ("fc_norm", "head_drop", "head"):
        x = walker.child(model, path, name, x)
    return x


_register_defaults()


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------

def _to_2tuple(v: int | tuple[int, int], what: str) -> tuple[int, int]:
    t = (v, v) if isinstance(v, int) else tuple(v)
    if len(t) != 2 or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in t):
        raise ValueError(f"{what} must be a positive int or a pair of positive ints, got {v!r}")
    return t  # type: ignore[return-value]


def build_meta_model(name: str, img_size: int | tuple[int, int] | None = None) -> nn.Module:
    """``timm.create_model(name, pretrained=False)`` on the meta device: structure only."""
    import timm

    if not isinstance(name, str) or not timm.is_model(name):
        raise ValueError(f"unknown timm model {name!r}; list ViT names with "
                         f"timm.list_models('vit_*')")
    kwargs = {} if img_size is None else {"img_size": img_size}
    try:
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False, **kwargs)
    except Exception as exc:  # noqa: BLE001 - timm raises many types; report in one line
        msg = " ".join(str(exc).split())
        raise ValueError(f"could not build {name!r} (img_size={img_size}): {msg}") from exc
    return model.eval()


def _image_grid(model: nn.Module, img_size: int | tuple[int, int] | None) -> tuple[tuple[int, int], int, int]:
    """(image size, number of patches, C*p*p) of a VisionTransformer at this image size."""
    pe = getattr(model, "patch_embed", None)
    if not isinstance(pe, nn.Module):
        raise ValueError(f"unsupported module '<model>' of type {_typename(model)}: expected a "
                         f"timm VisionTransformer with a patch embedding")
    proj = getattr(pe, "proj", None)
    if type(pe) not in HANDLERS or not isinstance(proj, nn.Conv2d):
        raise ValueError(f"unsupported module 'patch_embed' of type {_typename(pe)}: only a "
                         f"Conv2d patch projection (timm PatchEmbed) is a linear map per patch")
    size = tuple(pe.img_size) if img_size is None else _to_2tuple(img_size, "img_size")
    if img_size is not None and size != tuple(pe.img_size) and not getattr(model, "dynamic_img_size", False):
        raise ValueError(f"the model was built for img_size {tuple(pe.img_size)}, not {size}; "
                         f"rebuild it with img_size={size} or dynamic_img_size=True")
    grid = pe.dynamic_feat_size(size)
    patches = grid[0] * grid[1]
    if patches <= 0:
        raise ValueError(f"img_size {size} is smaller than the patch size {tuple(pe.patch_size)}")
    k = proj.kernel_size
    return size, patches, proj.in_channels * k[0] * k[1]


def _apply_rates(rows: list[LayerOps], spike_rates: dict[str, float]) -> None:
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


def count_ops(model_or_name: nn.Module | str,
              img_size: int | tuple[int, int] | None = None,
              spike_rates: dict[str, float] | None = None,
              *, e_ac_pj: float = E_AC_PJ, e_mac_pj: float = E_MAC_PJ, product: str = "paper",
              residual: str = "neuron", rsqrt: str = "neuron", preset: str | None = None) -> EnergyReport:
    """Per-layer neurons, OP_SNN, OP_ANN and the energies of eq. 28 for one image.

    ``model_or_name``: a timm model name (built with ``pretrained=False`` on
    the meta device, at ``img_size`` if given) or a ``VisionTransformer``
    instance (``img_size`` must then match the model unless it was built with
    ``dynamic_img_size=True``).  ``spike_rates`` maps row names (e.g.
    ``"blocks.0.mlp.fc2"``) to the measured firing rate of their input.
    Raises ``ValueError`` for an unknown name or any module type the count
    does not cover, naming its path and type. ``product``: the construction
    of the multiplication networks counted, ``paper`` (Table 3, the default,
    which reproduces Table 2) or ``signed`` (the converter's default).
    ``residual``: how residual sums are carried (``neuron``, Table 3, or
    ``synapses``: no neuron, the next LayerNorm receives every summand;
    :func:`~ttfs_symbolic.model.convert.set_residual`). ``rsqrt``: LayerNorm's
    rsqrt as a neuron (Table 3) or folded into the product's synapses.
    The defaults count the paper's network (Table 2); ``preset`` (recorded in
    the report's ``configuration``) names where the settings came from.
    """
    if product not in ("paper", "signed"):
        raise ValueError(f"unknown product construction {product!r}; choose 'paper' or 'signed'")
    if residual not in ("neuron", "synapses"):
        raise ValueError(f"unknown residual mode {residual!r}; choose 'neuron' or 'synapses'")
    if isinstance(model_or_name, str):
        name = model_or_name
        model = build_meta_model(model_or_name, img_size)
        img_size = None  # already built at that size
    elif isinstance(model_or_name, nn.Module):
        model = model_or_name
        name = getattr(model, "default_cfg", {}).get("architecture", "") or type(model).__name__
    else:
        raise ValueError(f"count_ops expects a timm model name or an nn.Module, got "
                         f"{type(model_or_name).__name__}")
    if type(model) not in HANDLERS:
        raise ValueError(f"unsupported module '<model>' of type {_typename(model)}: energy counts "
                         f"cover timm VisionTransformer (register a handler in HANDLERS for others)")
    size, patches, fan_in = _image_grid(model, img_size)

    walker = Walker(product, residual, rsqrt)
    layernorm_counts(1, product, rsqrt)   # (refuses an unknown rsqrt mode)
    walker.visit(model, "", (patches, fan_in))
    walker.check_complete(model)
    rows = walker.rows
    if spike_rates:
        _apply_rates(rows, spike_rates)

    op_snn = sum(r.op_snn for r in rows)
    op_ann = sum(r.op_ann for r in rows)
    neurons = sum(r.neurons for r in rows)
    e_snn = op_snn * e_ac_pj * _PJ_TO_MJ
    e_ann = op_ann * e_mac_pj * _PJ_TO_MJ
    return EnergyReport(rows=rows, op_snn=op_snn, op_ann=op_ann, neurons=neurons,
                        energy_snn_mj=e_snn, energy_ann_mj=e_ann,
                        energy_ratio=e_snn / e_ann if e_ann else math.nan,
                        model=name, img_size=size,
                        tokens=patches + int(getattr(model, "num_prefix_tokens", 0)),
                        e_ac_pj=e_ac_pj, e_mac_pj=e_mac_pj,
                        configuration={"preset": preset, "product": product, "residual": residual, "rsqrt": rsqrt})


# --------------------------------------------------------------------------
# CLI: ttfs energy MODEL [--img-size N] [--json]
# --------------------------------------------------------------------------

def register(subparsers) -> None:
    p = subparsers.add_parser(
        "energy", help="operation counts and energy of a converted timm ViT (Table 3, eq. 28)",
        description="Per-layer neurons, SNN synaptic operations and ANN MACs of a timm "
                    "VisionTransformer (no weights needed), and E_SNN/E_ANN of eq. 28 with "
                    f"E_AC = {E_AC_PJ} pJ, E_MAC = {E_MAC_PJ} pJ.")
    p.add_argument("model", help="timm model name, e.g. vit_small_patch16_224 "
                                 "(list them with timm.list_models('vit_*')); or a BERT-family text model: "
                                 "bert-base-uncased, bert-large-uncased, roberta-base, all-MiniLM-L6-v2, "
                                 "or the path of a Hugging Face config.json")
    p.add_argument("--img-size", type=int, default=None, metavar="N",
                   help="input image size (default: the model's)")
    p.add_argument("--seq-len", type=int, default=None, metavar="T",
                   help="text models: tokens per sequence (default 128)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (totals and per-layer rows) instead of a table")
    p.add_argument("--preset", choices=tuple(PRESETS), default=DEFAULT_PRESET,
                   help=f"the network counted: the converter's default ({DEFAULT_PRESET}) or the paper's "
                        "(Table 2's counts); --product, --residual and --rsqrt override its settings")
    p.add_argument("--product", choices=("paper", "signed"), default=None,
                   help="multiplication network counted: the paper's (Table 3) or the signed construction")
    p.add_argument("--residual", choices=("neuron", "synapses"), default=None,
                   help="residual sums counted as identity neurons (Table 3) or as synapses into "
                        "the next LayerNorm (convert(..., residual='synapses'))")
    p.add_argument("--rsqrt", choices=("neuron", "folded"), default=None,
                   help="LayerNorm's rsqrt as a neuron (Table 3) or folded into the product's synapses")
    p.set_defaults(func=run)


def _json_safe(value):
    """``value`` with every non-finite float (NaN, inf) replaced by None, for strict JSON."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run(args) -> int:
    from .energy_bert import count_ops_bert, is_text_config

    for flag, value, top in (("--img-size", args.img_size, 16384), ("--seq-len", getattr(args, "seq_len", None),
                                                                     1 << 20)):
        if value is not None and value > top:   # (values below 1 are refused by count_ops, naming them)
            raise ValueError(f"{flag} must be at most {top}, got {value}")

    seq_len = getattr(args, "seq_len", None)
    preset = getattr(args, "preset", DEFAULT_PRESET)
    settings = check_preset(preset)
    shape = {k: getattr(args, k, None) or settings[k] for k in STRUCTURE}
    if any(getattr(args, k, None) not in (None, settings[k]) for k in STRUCTURE):
        preset = f"{preset} with overrides"
    if is_text_config(args.model):
        if args.img_size is not None:
            raise ValueError(f"--img-size is for image models; {args.model} is a text model (use --seq-len)")
        report = count_ops_bert(args.model, seq_len=128 if seq_len is None else seq_len, preset=preset, **shape)
    elif seq_len is not None:
        raise ValueError(f"--seq-len is for text models; {args.model!r} is not a known text model or config.json")
    else:
        report = count_ops(args.model, img_size=args.img_size, preset=preset, **shape)
    if args.json:   # always valid JSON: a value that is not a finite number is written as null
        print(json.dumps(_json_safe(report.to_dict()), allow_nan=False))
    else:
        print(report.table())
    return 0


# --------------------------------------------------------------------------
# timm Eva (EVA, EVA-02) and DeiT with a distillation token
# --------------------------------------------------------------------------
#
# Counting rules added for these models (per image):
#
# * SwiGLU / GluMlp: fc1 (fused, or fc1_g and fc1_x) and fc2 are Linear rows;
#   the gate's SiLU is an activation row (MN neurons, MN ops); the elementwise
#   product silu(g) * x is Table 3's MatMul row with K = 1 per element: per
#   element 2 neurons (one layer-I, one layer-II) and 5 operations (layer I:
#   2 synapses; layer II: y, x1, x2), i.e. neurons 2*M*N, OP_SNN 5*M*N.
#   OP_ANN counts it as 0 MACs (an elementwise multiply, like the other
#   elementwise ops, is not a MAC: the ANN side stays the usual MAC count of
#   the linear layers and the two attention products, favourable to the ANN).
# * Rotary position embedding (kind "rope", one row for q and one for k):
#   per head and token a linear map of identity neurons with constant
#   weights cos / +-sin: head_dim neurons per token, 2 synapses per neuron on
#   the patch tokens and 1 (weight 1) on the prefix tokens; the weights of a
#   few channels are exactly 0 at some positions (sin 0 = 0), which the
#   structural count still counts (an upper bound on the SNN).  OP_ANN 0
#   (elementwise).
# * EVA's q/v biases, the attention scale and gamma_1 / gamma_2 are constants
#   folded into weights or C: no operations.  The LayerNorms inside the MLP
#   and the attention (scale_mlp, scale_attn_inner) are LayerNorm rows.
# * Distilled DeiT: head and head_dist are one layer of `classes` identity
#   neurons with fan-in 2*dim ((head(x0) + head_dist(x1)) / 2 folded into
#   the weights): the "head_dist" row has 0 neurons and dim*classes ops.

def _eva_product(walker: Walker, path: str, rows: int, feat: int) -> None:
    n, o = product_counts(1, 1, 1, walker.product, pairs=4, corrections=0)
    walker.add(_join(path, "mul"), "product", rows * feat * n, rows * feat * o, 0,
               f"{rows}x{feat} * {rows}x{feat} (elementwise)")


def _glu_mlp(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """timm GluMlp: fc1 (gate and value halves), act(gate) * value, drop1, norm, fc2, drop2."""
    _expect(isinstance(module.fc1, nn.Linear), _join(path, "fc1"),
            f"only a Linear fc1 is supported, got {_typename(module.fc1)}")
    rows, feat = walker.child(module, path, "fc1", shape)
    _expect(feat % 2 == 0, _join(path, "fc1"), f"GluMlp fc1 gives {feat} features, not even")
    half = (rows, feat // 2)
    walker.child(module, path, "act", half)
    _eva_product(walker, path, *half)
    x = half
    for name in ("drop1", "norm", "fc2", "drop2"):
        x = walker.child(module, path, name, x)
    return x


def _swiglu(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """timm SwiGLU: fc1_g, fc1_x, act(g) * x, drop1, norm, fc2, drop2."""
    g = walker.child(module, path, "fc1_g", shape)
    x = walker.child(module, path, "fc1_x", shape)
    _expect(g == x, path, f"fc1_g gives {g}, fc1_x gives {x}")
    walker.child(module, path, "act", g)
    _eva_product(walker, path, *g)
    for name in ("drop1", "norm", "fc2", "drop2"):
        x = walker.child(module, path, name, x)
    return x


def _eva_attention(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """timm EvaAttention: q/k/v (fused or separate), q/k norm, RoPE, q@k^T, softmax, attn@v, norm, proj."""
    _expect(getattr(module, "gate", None) is None, path,
            "gated attention (sigmoid gate on the output) is not in Table 3")
    T, _ = shape
    H, hd = module.num_heads, module.head_dim
    attn_dim = H * hd
    if module.qkv is not None:
        rows, feat = walker.child(module, path, "qkv", shape)
        _expect(feat == 3 * attn_dim, _join(path, "qkv"), f"qkv gives {feat} features, expected 3 * {attn_dim}")
    else:
        for name in ("q_proj", "k_proj", "v_proj"):
            rows, feat = walker.child(module, path, name, shape)
            _expect(feat == attn_dim, _join(path, name), f"gives {feat} features, expected {attn_dim}")
    walker.child(module, path, "q_norm", (T * H, hd))
    walker.child(module, path, "k_norm", (T * H, hd))
    if getattr(walker, "eva_rope", False):
        npt = module.num_prefix_tokens
        _expect(0 <= npt <= T, path, f"{npt} prefix tokens of {T}")
        for name in ("q_rope", "k_rope"):
            walker.add(_join(path, name), "rope", H * T * hd, H * hd * (2 * (T - npt) + npt), 0,
                       f"{H} x {T - npt} rotated + {npt} prefix tokens of {hd}")
    n, o = product_counts(T, hd, T, walker.product, pairs=4, corrections=0)
    walker.add(_join(path, "qk_matmul"), "matmul", H * n, H * o, H * T * T * hd, f"{H} x ({T}x{hd} @ {hd}x{T})",
               op_snn_table3=H * matmul_ops_table3(T, hd, T))
    n, o = softmax_counts(T)
    walker.add(_join(path, "softmax"), "softmax", H * T * n, H * T * o, 0, f"{H * T} rows of {T}")
    walker.child(module, path, "attn_drop", (H * T, T))
    n, o = product_counts(T, T, hd, walker.product, pairs=2, corrections=1)   # softmax >= 0
    walker.add(_join(path, "av_matmul"), "matmul", H * n, H * o, H * T * T * hd, f"{H} x ({T}x{T} @ {T}x{hd})",
               op_snn_table3=H * matmul_ops_table3(T, T, hd))
    x = walker.child(module, path, "norm", (T, attn_dim))
    x = walker.child(module, path, "proj", x)
    return walker.child(module, path, "proj_drop", x)


def _eva_block(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """EvaBlock (pre-norm, gamma_1 / gamma_2 folded into proj / fc2)."""
    return _eva_branches(walker, module, path, shape,
                         (("norm1", "attn", "drop_path1"), ("norm2", "mlp", "drop_path2")))


def _eva_block_post_norm(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """EvaBlockPostNorm: x + norm1(attn(x)), x + norm2(mlp(x))."""
    return _eva_branches(walker, module, path, shape, (("attn", "norm1", "drop_path1"), ("mlp", "norm2", "drop_path2")),
                         pre_norm=False)


def _eva_branches(walker: Walker, module: nn.Module, path: str, shape: Shape, branches, pre_norm=True) -> Shape:
    for branch, resname in zip(branches, ("residual1", "residual2")):
        y = shape
        for name in branch:
            y = walker.child(module, path, name, y)
        _expect(y == shape, path, f"branch gives {y}, residual needs {shape}")
        _residual(walker, path, resname, shape, pre_norm=pre_norm)
    return shape


def _eva(walker: Walker, model: nn.Module, path: str, shape: Shape) -> Shape:
    """timm Eva: patch embed, prefix tokens, (RoPE table), blocks, norm, pool, fc_norm, head."""
    from timm.layers import pos_embed_sincos as tpos

    _expect(getattr(model, "attn_pool", None) is None, _join(path, "attn_pool"),
            "attention pooling is not supported")
    _expect(model.global_pool in ("token", "avg", ""), path,
            f"global_pool={model.global_pool!r} is not supported (max pooling is not in Table 3); "
            "supported: 'token', 'avg', ''")
    patches, _ = shape
    dim = model.embed_dim
    x = walker.child(model, path, "patch_embed", shape)
    _expect(x == (patches, dim), _join(path, "patch_embed"), f"patch embedding gives {x}, expected {(patches, dim)}")
    T = patches + model.num_prefix_tokens
    x = (T, dim)
    x = walker.child(model, path, "pos_drop", x)
    if model.patch_drop is not None:
        x = walker.child(model, path, "patch_drop", x)
    rope = model.rope
    if rope is not None:
        _expect(type(rope) is tpos.RotaryEmbeddingCat and not getattr(model, "rope_mixed", False),
                _join(path, "rope"), f"only RotaryEmbeddingCat is supported, got {_typename(rope)}")
        walker.child(model, path, "rope", x)  # the constant sin/cos table; its cost is in the attention rows
    x = walker.child(model, path, "norm_pre", x)
    bpath = _join(path, "blocks")
    walker.mark(bpath)
    walker.eva_rope = rope is not None
    try:
        for i, _ in enumerate(model.blocks):
            x = walker.child(model.blocks, bpath, str(i), x)
    finally:
        walker.eva_rope = False
    x = walker.child(model, path, "norm", x)
    _final_stream(walker, model, path, patches, dim)
    if model.global_pool == "token":
        x = (1, dim)
    elif model.global_pool == "avg":
        walker.add(_join(path, "pool"), "pool", dim, patches * dim, 0, f"mean of {patches} x {dim}")
        x = (1, dim)
    for name in ("fc_norm", "head_drop", "head"):
        x = walker.child(model, path, name, x)
    return x


def _deit_distilled(walker: Walker, model: nn.Module, path: str, shape: Shape) -> Shape:
    """timm VisionTransformerDistilled: the ViT rows, then head_dist fused into head's neurons."""
    _expect(model.global_pool == "token", path, "the distilled head reads the class and distillation tokens")
    x = _vision_transformer(walker, model, path, shape)
    dim = model.embed_dim
    hd = model.head_dist
    hpath = _join(path, "head_dist")
    walker.mark(hpath)
    if isinstance(hd, nn.Linear):
        _expect(type(hd) is nn.Linear and hd.in_features == dim, hpath, f"expected a Linear from {dim} features")
        macs = dim * hd.out_features
        walker.add(hpath, "linear", 0, macs, macs, f"1x{dim} -> {hd.out_features} (into head's neurons)")
    else:
        _expect(isinstance(hd, nn.Identity), hpath, f"unsupported head_dist {_typename(hd)}")
        walker.add(_join(path, "head_avg"), "linear", dim, 2 * dim, 0, f"(x0 + x1) / 2 over {dim}")
    return x


def _register_eva() -> None:
    from timm.layers import GluMlp, SwiGLU
    from timm.layers import patch_dropout as tpd
    from timm.layers import pos_embed_sincos as tpos
    from timm.models.deit import VisionTransformerDistilled
    from timm.models.eva import Eva, EvaAttention, EvaBlock, EvaBlockPostNorm

    register_handler(tpos.RotaryEmbeddingCat, tpd.PatchDropoutWithIndices)(_passthrough)
    register_handler(GluMlp)(_glu_mlp)
    register_handler(SwiGLU)(_swiglu)
    register_handler(EvaAttention)(_eva_attention)
    register_handler(EvaBlock)(_eva_block)
    register_handler(EvaBlockPostNorm)(_eva_block_post_norm)
    register_handler(Eva)(_eva)
    register_handler(VisionTransformerDistilled)(_deit_distilled)


_register_eva()
