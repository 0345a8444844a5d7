"""Hugging Face BERT / RoBERTa encoders and sentence-transformers models as TTFS spiking networks.

:class:`SpikingBert` mirrors ``BertModel.forward`` / ``RobertaModel.forward``
(``last_hidden_state``) with the spiking layers of
:mod:`ttfs_symbolic.spiking`:

* the input encoding is the embedding sum ``word[id] + position[pos] +
  token_type[tt]`` (one identity neuron per token and channel, like the
  patch embedding of a ViT: an embedding lookup is a row of constant input
  weights, eq. 8), followed by the embeddings' LayerNorm;
* each encoder layer is post-norm: ``LN(x + proj(attn(x)))`` then
  ``LN(h + fc2(act(fc1(h))))`` with Section 4.3's LayerNorm, softmax and
  multiplication networks; the attention scale ``head_dim**-0.5`` is folded
  into the weights of q in float64 (eq. 8);
* the padding mask: a masked key takes no part in the softmax. Its input to
  the max neuron and the log-sum-exp neuron (Theorem 4.6) is a silent spike
  (no synapse effect: its exp term is 0), its exp neuron (eq. 36) stays
  silent (value a = 0), and its value spikes do not reach the ``attn @ v``
  multiplication network: the gated synapses carry the term of the factor's
  resting value, so those layer-I neurons stay silent (both constructions)
  and nothing of a padding token reaches an unmasked one in any mode. A sentence's result therefore does
  not depend on the padding of its batch. No large negative number is added
  anywhere.
* GELU exact (``hidden_act="gelu"``) and its tanh form (``gelu_new``,
  ``gelu_pytorch_tanh``) are the catalogue neurons ``gelu`` and ``gelu_tanh``
  (Corollary 4.5).

:class:`SpikingSentenceTransformer` adds a sentence-transformers model's
pooling and normalisation: mean pooling over the unmasked tokens is one
identity neuron per channel whose weights are the mask divided by the
number of tokens (Corollary 4.2); L2 normalisation is a ``square`` neuron
per channel summed into one neuron, an ``rsqrt`` neuron (f = (s + eps)^(-1/2),
eps = 1e-24, the square of ``F.normalize``'s 1e-12) and the multiplication
network (Section 4.3.4), as in LayerNorm without the centring.
"""
from __future__ import annotations

import math
import sys
from collections.abc import Mapping

import torch
from torch import nn

# The activation neurons come from the registry (:mod:`ttfs_symbolic.conversion.activations`); registered
# out of the box: transformers' GELUActivation (hidden_act gelu), NewGELUActivation (gelu_new), GELUTanh
# (gelu_pytorch_tanh), QuickGELUActivation, SiLUActivation and torch's; others with register_activation.
from ..conversion.activations import activation_neuron
from ..conversion.claims import refuse_unlisted, typename
from ..conversion.errors import UnsupportedModuleError
from ..conversion.registry import register_family
from ..data.inputs import check_dtype
from ..energy.bert import count_ops_bert
from ..spiking import (Ctx, Population, Product, SpikingActivation, SpikingLayerNorm, SpikingLinear, SpikingSoftmax,
                       finish_call, make_ctx, terms)
from ..spiking.attention import AttentionCore
from ..spiking.model import SpikingModel, structure
from .common import as_f64

#: module types a supported encoder may contain (by class name; LayerNorm, Linear,
#: Embedding and Dropout must be the torch classes themselves)
_ALLOWED = {
    "BertModel", "RobertaModel", "BertEmbeddings", "RobertaEmbeddings", "BertEncoder", "RobertaEncoder",
    "ModuleList", "BertLayer", "RobertaLayer", "BertAttention", "RobertaAttention", "BertSelfAttention",
    "RobertaSelfAttention", "BertSelfOutput", "RobertaSelfOutput", "BertIntermediate", "RobertaIntermediate",
    "BertOutput", "RobertaOutput", "BertPooler", "RobertaPooler", "Tanh",
}
_TORCH_LEAVES = (nn.Linear, nn.LayerNorm, nn.Embedding, nn.Dropout, nn.ModuleList, nn.Tanh)

#: pad mask value of a silent key: masked scores never reach a neuron's potential
_MASKED = -math.inf


def _is_text_model(model) -> bool:
    """A transformers BERT or RoBERTa model (any class; unsupported variants are refused by the builder)."""
    if "transformers" not in sys.modules:
        return False
    # optional dependency (the text extra), imported on use
    from transformers import PreTrainedModel

    return isinstance(model, PreTrainedModel) and getattr(model.config, "model_type", "") in ("bert", "roberta")


def check_encoder(model: nn.Module) -> None:
    """Raise UnsupportedModuleError naming the first setting or module with no spiking counterpart."""
    # optional dependency (the text extra), imported on use
    from transformers import BertModel, RobertaModel

    if type(model) not in (BertModel, RobertaModel):
        base = getattr(model, "base_model_prefix", "")
        raise UnsupportedModuleError(
            f"unsupported model: {typename(model)} (supported: transformers BertModel and RobertaModel; "
            f"for a model with a task head pass its encoder, model.{base or 'bert'})")
    cfg = model.config
    if getattr(cfg, "is_decoder", False):
        raise UnsupportedModuleError(
            "unsupported model: a decoder (config.is_decoder=True) uses causal self-attention; "
            "only bidirectional encoders convert")
    if getattr(cfg, "add_cross_attention", False):
        raise UnsupportedModuleError("unsupported model: cross-attention (config.add_cross_attention=True)")
    pet = getattr(cfg, "position_embedding_type", "absolute")
    if pet not in (None, "absolute"):
        raise UnsupportedModuleError(f"unsupported setting: position_embedding_type={pet!r} (supported: 'absolute')")
    refuse_unlisted(model, lambda path, m: (type(m) in _TORCH_LEAVES or (
        type(m).__name__ in _ALLOWED and type(m).__module__.startswith("transformers"))),
        "supported inside a BERT / RoBERTa encoder: Linear, LayerNorm, Embedding, Dropout, GELU and the "
        "Bert*/Roberta* containers")
    for i, layer in enumerate(model.encoder.layer):
        if getattr(layer, "crossattention", None) is not None:
            raise UnsupportedModuleError(f"unsupported module at 'encoder.layer.{i}.crossattention': cross-attention")
        sa = layer.attention.self
        if getattr(sa, "is_causal", False):
            raise UnsupportedModuleError(f"unsupported setting at 'encoder.layer.{i}.attention.self': causal attention")


class MaskedSoftmax(SpikingSoftmax):
    """The softmax of Section 4.3.2 over the unmasked keys of each row.

    ``mask`` (broadcastable to the scores, True = a real token) gates the
    synapses of the masked keys: their input to the max neuron and to the
    log-sum-exp neuron is a silent spike with no effect (its exp term is 0),
    and their exp neurons stay silent (value a = 0). ``n`` is the longest
    sequence, so the log-sum-exp range [0, log n] holds every row.
    """

    def _layer2_closed_form(self, e, lse, ctx: Ctx):
        """Layer II in closed form, clip(exp(z - lse), 0, b) (eq. 36) as exp(z) * exp(-lse), as in
        SpikingSoftmax: its clip check is on the values (exp is increasing), counted in ``ctx.clipped``."""
        ctx.note(self.out)
        self.out.require_range()
        e = e.mul_(torch.exp(-lse))
        limit = self.out.b * (1 + (1e-9 if e.dtype == torch.float64 else 1e-5))
        n = 0
        if ctx.check != "off" and e.numel() and float(e.max()) > limit:
            n = int((e > limit).sum())
        ctx.add_check(self.out.pname, n, e.numel())
        return e.clamp_(self.out.a, self.out.b)

    def forward(self, s, ctx: Ctx, mask=None):
        """``s``: the scores layer's own output (nothing else reads it: it is written over)."""
        if mask is None:
            return super().forward(s, ctx)
        drop = ~mask
        # broadcast 0/1 weights and 0/-inf offsets over (batch, heads, queries, keys): elementwise
        # products and sums vectorise, a broadcast masked_fill does not
        keep = mask.to(s.dtype)
        fast = not (ctx.calibrating or ctx.record) and all(
            ctx.mode_for(p) == "exact" for p in (self.z or self.lse, self.lse, self.out))
        if self.use_max:
            # the max neuron receives the unmasked keys only: -inf is "no input" to a maximum
            s.add_(torch.zeros_like(keep).masked_fill_(drop, _MASKED))
            m = self.max.emit(s.amax(-1, keepdim=True), ctx, fresh=True)
            V = s.sub_(m)
            zsrc = self.z
            if fast:
                # exact mode: s and m lie in the scores' range [a, b] and s <= m, so every unmasked
                # z = s - m lies in z's range [a - b, 0] (rounding is monotone): its clip is a no-op
                # and is skipped; a masked key's -inf gives exp(-inf) = 0, no term, as gated.
                ctx.note(self.z)
                self.z.require_range()
                e = terms(V, zsrc, self.k_exp, ctx, self.lse)
                lse = self.lse.emit(e.sum(-1, keepdim=True), ctx, fresh=True)
                return self._layer2_closed_form(e, lse, ctx)
            if not ctx.calibrating:   # a masked key's z neuron: silent (its head's least value)
                low = torch.as_tensor(self.z.bounds(V)[0], dtype=V.dtype, device=V.device)
                V = torch.where(drop, low, V)
            z = self.z.emit(V, ctx, fresh=True)
        else:
            z, zsrc = s, self.src
        e = terms(z, zsrc, self.k_exp, ctx, self.lse)
        e.mul_(keep)   # masked keys: no synapse effect on the log-sum-exp neuron (their terms are 0)
        lse = self.lse.emit(e.sum(-1, keepdim=True), ctx, fresh=True)
        if fast:
            # closed form of layer II (eq. 36) as in SpikingSoftmax; masked terms are already 0
            return self._layer2_closed_form(e, lse, ctx)
        if ctx.calibrating:
            z = z.masked_fill(drop, 0.0)   # (-inf - lse would be observed: the exp neurons' range is fixed anyway)
        out = self.out.emit(z - lse, ctx, fresh=True)
        return out.mul_(keep)   # the exp neuron of a masked key stays silent (value a = 0)


class _FoldedLinear(SpikingLinear):
    """A SpikingLinear whose float64 folded weights (vit._f64) are cast to the run's dtype once, not per call."""

    def forward(self, x, ctx: Ctx):
        key = (x.dtype, x.device, self.weight.data_ptr())
        cast = getattr(self, "_cast", None)
        if cast is None or cast[0] != key:
            cast = (key, self.weight.to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))
            self._cast = cast
        return self.out.emit(torch.nn.functional.linear(x, cast[1], cast[2]), ctx, fresh=True)


class SpikingBertLayer(AttentionCore):
    """One post-norm encoder layer: attention, residual, LayerNorm, MLP, residual, LayerNorm."""

    def __init__(self, name: str, layer, src: Population, max_tokens: int, softmax_max: bool):
        super().__init__()
        sa, so = layer.attention.self, layer.attention.output
        self.h = sa.num_attention_heads
        self.hd = sa.attention_head_size
        scale = float(getattr(sa, "scaling", self.hd ** -0.5))
        # the attention scale folded into the weights of q (eq. 8), in float64 (vit._f64)
        self.q = _FoldedLinear(f"{name}.attention.self.query", as_f64(sa.query.weight) * scale,
                               None if sa.query.bias is None else as_f64(sa.query.bias) * scale)
        self.k = SpikingLinear(f"{name}.attention.self.key", sa.key.weight, sa.key.bias)
        self.v = SpikingLinear(f"{name}.attention.self.value", sa.value.weight, sa.value.bias)
        self.scores = Population(f"{name}.attention.scores", "identity", kind="matmul_qk", fan_in=3 * self.hd)
        self.qk = Product(f"{name}.attention.qk", self.q.out, self.k.out, self.scores, matmul=True)
        self.softmax = MaskedSoftmax(f"{name}.attention.softmax", self.scores, max_tokens, use_max=softmax_max)
        self.context = Population(f"{name}.attention.context", "identity", kind="matmul_av", fan_in=3 * max_tokens)
        self.av = Product(f"{name}.attention.av", self.softmax.out, self.v.out, self.context, matmul=True)
        self.proj = SpikingLinear(f"{name}.attention.output.dense", so.dense.weight, so.dense.bias)
        dim = so.LayerNorm.normalized_shape[0]
        self.res1 = Population(f"{name}.attention.residual", "identity", kind="residual", fan_in=2)
        self.norm1 = SpikingLayerNorm(f"{name}.attention.output.LayerNorm", self.res1, so.LayerNorm.weight,
                                      so.LayerNorm.bias, so.LayerNorm.eps, dim)
        inter, out = layer.intermediate, layer.output
        self.fc1 = SpikingLinear(f"{name}.intermediate.dense", inter.dense.weight, inter.dense.bias)
        act_path = f"{name}.intermediate.intermediate_act_fn"
        self.act = SpikingActivation(act_path, activation_neuron(act_path, inter.intermediate_act_fn), self.fc1.out)
        self.fc2 = SpikingLinear(f"{name}.output.dense", out.dense.weight, out.dense.bias)
        self.res2 = Population(f"{name}.output.residual", "identity", kind="residual", fan_in=2)
        self.norm2 = SpikingLayerNorm(f"{name}.output.LayerNorm", self.res2, out.LayerNorm.weight, out.LayerNorm.bias,
                                      out.LayerNorm.eps, dim)

    def forward(self, x, keymask, ctx: Ctx):
        o = self.attend(x, ctx, keymask)
        h = self.norm1(self.res1.emit(self.proj(o, ctx) + x, ctx, fresh=True), ctx)
        y = self.fc2(self.act(self.fc1(h, ctx), ctx), ctx)
        return self.norm2(self.res2.emit(y + h, ctx, fresh=True), ctx)


class SpikingBert(SpikingModel):
    """The spiking counterpart of a transformers ``BertModel`` or ``RobertaModel`` (encoder only).

    ``snn(batch, mode="exact" | "quantized" | "kernel", precision=p, dtype=...)``
    with ``batch`` a tokenizer output (a dict or ``BatchEncoding`` with
    ``input_ids``, ``attention_mask`` and optionally ``token_type_ids``)
    returns the last hidden state (batch, tokens, hidden), the same as
    ``model(**batch).last_hidden_state`` on every unmasked token (padding
    tokens are computed too, as in the ANN, and carry no meaning). The
    pooler of ``BertModel`` (not part of ``last_hidden_state``) is not converted.
    """

    def __init__(self, model, softmax_max: bool = True):
        super().__init__()
        check_encoder(model)
        cfg = model.config
        self.model_type = cfg.model_type
        self.softmax_max = softmax_max
        emb = model.embeddings
        self.vocab_size = emb.word_embeddings.num_embeddings
        self.type_vocab_size = emb.token_type_embeddings.num_embeddings
        self.hidden = emb.word_embeddings.embedding_dim
        # RoBERTa numbers positions from padding_idx + 1, skipping padding tokens (fairseq)
        self.padding_idx = getattr(emb, "padding_idx", None) if self.model_type == "roberta" else None
        n_pos = emb.position_embeddings.num_embeddings
        self.max_tokens = n_pos if self.padding_idx is None else n_pos - self.padding_idx - 1
        self.word = nn.Parameter(emb.word_embeddings.weight.detach().clone(), requires_grad=False)
        self.pos = nn.Parameter(emb.position_embeddings.weight.detach().clone(), requires_grad=False)
        self.token_type = nn.Parameter(emb.token_type_embeddings.weight.detach().clone(), requires_grad=False)
        self.embed = Population("embeddings", "identity", kind="embed", fan_in=3)
        ln = emb.LayerNorm
        self.emb_norm = SpikingLayerNorm("embeddings.LayerNorm", self.embed, ln.weight, ln.bias, ln.eps, self.hidden)
        src = self.emb_norm.out
        layers = []
        for i, layer in enumerate(model.encoder.layer):
            sl = SpikingBertLayer(f"encoder.layer.{i}", layer, src, self.max_tokens, softmax_max)
            layers.append(sl)
            src = sl.norm2.out
        self.blocks = nn.ModuleList(layers)
        self.out_pop = src
        self.num_heads = cfg.num_attention_heads
        self.config_dict = {k: getattr(cfg, k) for k in ("model_type", "vocab_size", "hidden_size", "num_hidden_layers",
                                                         "num_attention_heads", "intermediate_size",
                                                         "max_position_embeddings", "type_vocab_size", "hidden_act",
                                                         "layer_norm_eps")}

    # ---- the converter's input protocol (ttfs_symbolic.conversion.registry) ------
    def residual_synapses_unsupported(self) -> str | None:
        """None: every sum of a post-LN layer feeds its LayerNorm (``residual="synapses"`` can carry it)."""
        return None

    @staticmethod
    def _is_batch(item) -> bool:
        return isinstance(item, Mapping) or (hasattr(item, "keys") and hasattr(item, "__getitem__"))

    def input_batches(self, data, batch_size: int):
        """A tokenizer batch, or an iterable of them (``batch_size`` does not re-split a batch)."""
        if self._is_batch(data):
            yield data
            return
        if isinstance(data, (str, bytes)):
            raise TypeError("expected a tokenizer batch (dict with input_ids and attention_mask) or a list of them, "
                            "got a string (tokenize it first, or use encode() of a sentence-transformers model)")
        for item in data:
            yield item

    def count_batches(self, data, batch_size: int) -> int:
        if self._is_batch(data):
            return 1
        try:
            return len(data)
        except TypeError:
            return 0

    def batch_len(self, x) -> int:
        return int(x["input_ids"].shape[0])

    def prepare_input(self, batch, dtype=torch.float64) -> dict:
        """Check a tokenizer batch and return the tensors ``_forward`` takes."""
        if not self._is_batch(batch):
            raise TypeError(f"expected a tokenizer batch (a dict or BatchEncoding with input_ids and attention_mask), "
                            f"got {type(batch).__name__}")
        if "input_ids" not in batch:
            raise ValueError("the batch has no input_ids (keys: " + ", ".join(map(str, batch.keys())) + ")")
        if "attention_mask" not in batch or batch["attention_mask"] is None:
            raise ValueError("the batch has no attention_mask: padded positions cannot be told from tokens; "
                             "tokenize with return_attention_mask=True")

        check_dtype(dtype)
        ids = self._int_tensor(batch["input_ids"], "input_ids")
        if ids.dim() != 2:
            raise ValueError(f"input_ids must be an integer tensor (batch, tokens), got {tuple(ids.shape)} {ids.dtype}")
        mask = torch.as_tensor(batch["attention_mask"])
        if mask.dim() == 1:
            mask = mask[None]
        if mask.shape != ids.shape:
            raise ValueError(f"attention_mask has shape {tuple(mask.shape)}, input_ids {tuple(ids.shape)}")
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("attention_mask must hold only 0 (padding) and 1 (token)")
        mask = mask.bool()
        if not bool(mask.any(-1).all()):
            raise ValueError("a sequence of the batch has no unmasked token (attention_mask all 0)")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            bad = ids[(ids < 0) | (ids >= self.vocab_size)][0]
            raise ValueError(f"token id {int(bad)} is out of the vocabulary (0..{self.vocab_size - 1}): "
                             "was the batch made by this model's tokenizer?")
        tt = batch.get("token_type_ids") if hasattr(batch, "get") else None
        if tt is None:
            tt = torch.zeros_like(ids)
        tt = self._int_tensor(tt, "token_type_ids")
        if tt.shape != ids.shape:
            raise ValueError(f"token_type_ids has shape {tuple(tt.shape)}, input_ids {tuple(ids.shape)}")
        if tt.numel() and (int(tt.min()) < 0 or int(tt.max()) >= self.type_vocab_size):
            raise ValueError(f"token_type_ids out of range 0..{self.type_vocab_size - 1}")
        if ids.shape[1] > self.max_tokens:
            raise ValueError(f"sequence of {ids.shape[1]} tokens is longer than the model's "
                             f"{self.max_tokens} positions: truncate it")
        pos = self._position_ids(batch, ids)
        dev = self.word.device
        return {"input_ids": ids.long().to(dev), "attention_mask": mask.to(dev), "token_type_ids": tt.long().to(dev),
                "position_ids": None if pos is None else pos.to(dev), "dtype": dtype}

    #: whether a batch's own ``position_ids`` are used (the ANN reference receives them too)
    accepts_position_ids = True

    @staticmethod
    def _int_tensor(value, name: str) -> torch.Tensor:
        """``value`` as an integer tensor (batch, tokens); any integer dtype, values checked by the caller."""
        t = torch.as_tensor(value)
        if t.dim() == 1:
            t = t[None]
        if t.dtype.is_floating_point or t.is_complex() or t.dtype == torch.bool:
            raise ValueError(f"{name} must be an integer tensor, got {t.dtype}: token numbers are never rounded")
        return t.to(torch.int64)

    def _position_ids(self, batch, ids) -> torch.Tensor | None:
        """The batch's own ``position_ids`` (checked: integers of ids' shape in range), or None."""
        pos = batch.get("position_ids") if hasattr(batch, "get") else None
        if pos is None:
            return None
        if not self.accepts_position_ids:
            raise ValueError(f"{type(self).__name__} does not take position_ids (its source model computes its "
                             "own): remove them from the batch")
        pos = self._int_tensor(pos, "position_ids")
        if pos.shape != ids.shape:
            if pos.dim() == 2 and pos.shape[0] == 1 and pos.shape[1] == ids.shape[1]:
                pos = pos.expand_as(ids)
            else:
                raise ValueError(f"position_ids has shape {tuple(pos.shape)}, input_ids {tuple(ids.shape)}")
        n = self.pos.shape[0]
        if pos.numel() and (int(pos.min()) < 0 or int(pos.max()) >= n):
            raise ValueError(f"position_ids out of range 0..{n - 1}")
        return pos

    def positions(self, ids, mask):
        if self.padding_idx is None:
            return torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
        keep = ids.ne(self.padding_idx).long()   # RobertaEmbeddings.create_position_ids_from_input_ids
        return torch.cumsum(keep, dim=1) * keep + self.padding_idx

    # ---- forward -------------------------------------------------------------
    def _encode_tokens(self, x: dict, ctx: Ctx):
        ids, mask, tt, dtype = x["input_ids"], x["attention_mask"], x["token_type_ids"], x["dtype"]
        pos = x.get("position_ids")
        if pos is None:
            pos = self.positions(ids, mask)
        emb = torch.nn.functional.embedding   # index_select: far faster than advanced indexing
        V = emb(ids, self.word).to(dtype) + emb(tt, self.token_type).to(dtype)
        V = V + emb(pos, self.pos).to(dtype)
        h = self.embed.emit(V, ctx, fresh=True)
        h = self.emb_norm(h, ctx)
        keymask = None if bool(mask.all()) else mask[:, None, None, :]   # no padding: nothing to mask
        for blk in self.blocks:
            h = blk(h, keymask, ctx)
        return h

    def run(self, x: dict, ctx: Ctx):
        return self._encode_tokens(x, ctx)

    @torch.no_grad()
    def forward(self, batch, mode: str | None = None, precision: int | None = None, dtype=torch.float32,
                record: bool = False, only=None, warn: bool = True, check_clipping: str = "full"):
        """The last hidden state (batch, tokens, hidden) of the spiking encoder.

        ``only``: names of the layers that run in ``mode``, the rest exact
        (:func:`~ttfs_symbolic.evaluation.report.error_budget`); neurons driven
        outside their range are counted (``self.last_clipping``; how:
        ``check_clipping``, as in :meth:`SpikingViT.forward`) and warned about.
        """
        x = self.prepare_input(batch, dtype)
        ctx = make_ctx(self, mode, precision, record, only, check_clipping)
        out = self._encode_tokens(x, ctx)
        finish_call(self, ctx, warn=warn)
        return out

    # ---- comparison with the ANN (ttfs_symbolic.evaluation.report.evaluate) --------
    #: compared with the ANN on every unmasked token (sentence embeddings for sentence-transformers) as
    #: features: cosine and nearest-item agreement (ttfs_symbolic.evaluation.features); no labels
    classifier = False

    def reference(self, ann, batch: dict):
        """The ANN's output for the same batch: the last hidden state."""
        return ann(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"].long(),
                   token_type_ids=batch["token_type_ids"], position_ids=batch.get("position_ids")).last_hidden_state

    def outputs(self, x: dict, ctx: Ctx):
        """SNN output and the mask of its meaningful rows (unmasked tokens)."""
        return self._encode_tokens(x, ctx), x["attention_mask"]

    def check_data(self, data):
        """Tokenizer batches are checked one by one (:meth:`prepare_input`)."""
        return data

    def blank_input(self):
        """None: token counts vary, per-channel ranges are checked at the first call (:meth:`Population.bounds`)."""
        return None

    def input_length(self, x) -> int:
        """Tokens per sequence of a prepared batch (the energy is counted at the longest seen)."""
        return int(x["input_ids"].shape[1])

    def count_energy(self, ann, length: int):
        """:func:`~ttfs_symbolic.energy.bert.count_ops_bert` at ``length`` tokens, with the measured firing rates."""
        return count_ops_bert(self.energy_config(), seq_len=max(length, 1), spike_rates=self.spike_rates_for_energy(),
                              **structure(self))

    def energy_config(self) -> dict:
        """The config fields :func:`~ttfs_symbolic.energy.bert.count_ops_bert` reads."""
        return dict(self.config_dict)

    def spike_rates_for_energy(self) -> dict[str, float]:
        """Measured firing rate of the input of each linear row of :func:`ttfs_symbolic.energy.bert.count_ops_bert`."""
        rates = self.value_rates()
        out = {}
        prev = "embeddings.LayerNorm"
        for i in range(len(self.blocks)):
            pre = f"encoder.layer.{i}"
            if prev in rates:
                for n in ("query", "key", "value"):
                    out[f"{pre}.attention.self.{n}"] = rates[prev]
            if f"{pre}.attention.context" in rates:
                out[f"{pre}.attention.output.dense"] = rates[f"{pre}.attention.context"]
            if f"{pre}.attention.output.LayerNorm" in rates:
                out[f"{pre}.intermediate.dense"] = rates[f"{pre}.attention.output.LayerNorm"]
            if f"{pre}.intermediate.intermediate_act_fn" in rates:
                out[f"{pre}.output.dense"] = rates[f"{pre}.intermediate.intermediate_act_fn"]
            prev = f"{pre}.output.LayerNorm"
        return out


# ---- model family (ttfs_symbolic.conversion.registry) ----------------------------

register_family("bert", _is_text_model, SpikingBert, "transformers BertModel and RobertaModel")
