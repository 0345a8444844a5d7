"""A sentence-transformers model (Transformer with BERT / RoBERTa, Pooling, optional Normalize) as a TTFS SNN.

The encoder is :class:`~.bert.SpikingBert`; the pooling (mean or CLS over
the unmasked tokens; max and the other modes are refused) and the L2 normalisation are spiking layers too.
"""
from __future__ import annotations

import sys

import torch

from ..conversion.claims import typename
from ..conversion.errors import UnsupportedModuleError
from ..conversion.registry import register_family
from ..spiking import (Ctx, Population, Product, channel_squares, finish_call, fold_rsqrt, input_kernel, make_ctx,
                       terms)
from .bert import SpikingBert


def is_sentence_transformer(model) -> bool:
    if "sentence_transformers" not in sys.modules:
        return False
    # optional dependency (the text extra), imported on use
    from sentence_transformers import SentenceTransformer

    return isinstance(model, SentenceTransformer)


class SpikingSentenceTransformer(SpikingBert):
    """A sentence-transformers model (Transformer, Pooling, optional Normalize) as a spiking network.

    ``snn(batch, ...)`` returns the encoder's last hidden state like
    :class:`SpikingBert`; ``snn.encode(sentences or batch, ...)`` the pooled
    (and, where the model normalises, L2-normalised) sentence embeddings, the
    same as ``SentenceTransformer.encode``, with the pooling and normalisation
    done by spiking layers.
    """

    accepts_position_ids = False   # sentence-transformers computes its own positions

    def __init__(self, st, softmax_max: bool = True):
        mods = list(st.children())
        if not mods or type(mods[0]).__name__ != "Transformer" or not hasattr(mods[0], "auto_model"):
            raise UnsupportedModuleError(
                f"unsupported sentence-transformers model: its first module is "
                f"{typename(mods[0]) if mods else 'missing'}, not a Transformer")
        super().__init__(mods[0].auto_model, softmax_max=softmax_max)
        # sentence-transformers >= 5.x: preprocess (tokenize is deprecated there); older: tokenize
        self._st_tokenize = getattr(st, "preprocess", None) or st.tokenize
        self.max_seq_length = getattr(st, "max_seq_length", None)
        rest = mods[1:]
        if not rest or type(rest[0]).__name__ != "Pooling":
            raise UnsupportedModuleError("unsupported sentence-transformers model: the Transformer module must be "
                                         "followed by a Pooling module")
        pool = rest[0]
        mode = pool.pooling_mode
        mode = mode[0] if isinstance(mode, (tuple, list)) and len(mode) == 1 else mode
        if mode not in ("mean", "cls"):
            raise UnsupportedModuleError(f"unsupported pooling mode {mode!r} at '1' (supported: 'mean', 'cls')")
        if not getattr(pool, "include_prompt", True):
            raise UnsupportedModuleError("unsupported pooling setting include_prompt=False at '1'")
        self.pooling_mode = mode
        self.normalize = False
        for i, m in enumerate(rest[1:], start=2):
            if type(m).__name__ == "Normalize" and not self.normalize and i == len(mods) - 1 \
                    and getattr(m, "module_input_name", "sentence_embedding") == "sentence_embedding":
                self.normalize = True
                continue
            raise UnsupportedModuleError(f"unsupported module at '{i}': {typename(m)} (supported after Pooling: "
                                         f"one Normalize, as the last module; this model has {len(mods)} modules)")
        src = self.out_pop
        self.pool = None
        if mode == "mean":
            # one identity neuron per channel, weights mask_t / n over the tokens (Corollary 4.2)
            self.pool = Population("pooling", "identity", kind="pool", fan_in=self.max_tokens)
            src = self.pool
        self.pooled_src = src
        if self.normalize:
            self.sumsq = Population("normalize.sumsq", "identity", kind="l2_sumsq", fan_in=self.hidden,
                                    lower_bound=0.0)
            self.sumsq.scale_low = True
            self.rsqrt = Population("normalize.rsqrt", "identity", kind="l2_rsqrt", fan_in=1, lower_bound=0.0)
            self.norm_out = Population("normalize", "identity", kind="l2_out", fan_in=3)
            self.l2_product = Product("normalize.product", src, self.rsqrt, self.norm_out, matmul=False)
            self.k_square = input_kernel("square")
            self.k_rsqrt = input_kernel("rsqrt", (("eps", 1e-24),))

    def set_rsqrt(self, mode: str):
        """The L2 normalisation's (s + eps)^(-1/2): ``neuron`` or ``folded`` (:func:`spiking.fold_rsqrt`)."""
        if self.normalize:
            fold_rsqrt(self.rsqrt, self.sumsq, self.k_rsqrt, mode == "folded", self.sumsq_bound)

    def sumsq_bound(self) -> float:
        """The largest sum of squares the pooled layer's range(s) allow: sum over channels of max(a_c^2, b_c^2)."""
        return float(channel_squares(self.pooled_src, self.hidden).sum())

    def _pool(self, h, mask, ctx: Ctx):
        if self.pooling_mode == "cls":
            e = h[:, 0]
        else:
            w = mask.to(h.dtype)
            w = w / w.sum(-1, keepdim=True)   # the mask's weights, 1/n on each token
            e = self.pool.emit(torch.einsum("bt,btc->bc", w, h), ctx, fresh=True)
        if not self.normalize:
            return e
        s = self.sumsq.emit(terms(e, self.pooled_src, self.k_square, ctx, self.sumsq).sum(-1, keepdim=True), ctx,
                            fresh=True)
        r = self.rsqrt.emit(terms(s, self.sumsq, self.k_rsqrt, ctx, self.rsqrt), ctx, fresh=True)
        return self.l2_product(e, r, ctx)

    def run(self, x: dict, ctx: Ctx):
        return self._pool(self._encode_tokens(x, ctx), x["attention_mask"], ctx)

    def reference(self, ann, batch: dict):
        feats = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"].long(),
                 "token_type_ids": batch["token_type_ids"]}
        return ann(feats)["sentence_embedding"]

    def outputs(self, x: dict, ctx: Ctx):
        e = self.run(x, ctx)
        return e, torch.ones(e.shape[0], dtype=torch.bool, device=e.device)

    def energy_config(self) -> dict:
        return {**self.config_dict, "pooling": self.pooling_mode, "normalize": self.normalize}

    def tokenize(self, sentences):
        """The source model's own tokenization (padding, truncation at max_seq_length)."""
        return self._st_tokenize(list(sentences))

    @torch.no_grad()
    def encode(self, sentences, mode: str | None = None, precision: int | None = None, dtype=torch.float32,
               record: bool = False, only=None, warn: bool = True, check_clipping: str = "full"):
        """Sentence embeddings (batch, hidden) of a list of sentences or of a tokenizer batch."""
        if isinstance(sentences, str):
            sentences = [sentences]
        batch = sentences if self._is_batch(sentences) else self.tokenize(sentences)
        x = self.prepare_input(batch, dtype)
        ctx = make_ctx(self, mode, precision, record, only, check_clipping)
        out = self.run(x, ctx)
        finish_call(self, ctx, warn=warn)
        return out


# ---- model family (ttfs_symbolic.conversion.registry) ----------------------------

register_family("sentence_transformer", is_sentence_transformer, SpikingSentenceTransformer,
                "sentence-transformers SentenceTransformer (Transformer with BERT / RoBERTa, Pooling, Normalize)",
                priority=10)
