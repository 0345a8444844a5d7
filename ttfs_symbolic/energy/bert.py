"""Operation counts and energy of a TTFS-converted BERT / RoBERTa encoder (Table 3, eq. 28), per sequence.

``count_ops_bert(config, seq_len=128)`` needs no weights: ``config`` is a
known name (:data:`KNOWN_CONFIGS`: bert-base-uncased, bert-large-uncased,
roberta-base, all-MiniLM-L6-v2), the path of a Hugging Face ``config.json``
(or of the folder holding it), a dict of its fields, a ``PretrainedConfig``,
or a ``BertModel`` / ``RobertaModel`` / ``SentenceTransformer``. It counts
the network :class:`~ttfs_symbolic.families.bert.SpikingBert` builds, for one
sequence of ``seq_len`` tokens (all unmasked: a padded token costs the same
as a real one, as the ANN computes it too), with the rules of
:mod:`ttfs_symbolic.energy` (the library's MatMul accounting 5MNK, and
Table 3's printed MN(3K+2) beside it in ``op_snn_table3``), plus:

* embedding sum (kind ``embed``): one identity neuron per token and channel
  with three synapses (the word, position and token-type spikes of the
  one-hot input encoding, weights = the embedding rows): T*H neurons,
  3*T*H operations, 0 MACs (a lookup and two additions in the ANN);
* post-norm layers: the residual addition (T*H neurons, 2*T*H ops) then a
  LayerNorm row, twice per layer; the attention scale is folded into q;
* mean pooling (sentence-transformers): H neurons with T synapses each
  (T*H ops, 0 MACs), as ViT's average pooling;
* L2 normalisation: one neuron summing H square terms (H ops), one rsqrt
  neuron (1 op) and H elementwise products (MatMul with K = 1: 2H neurons,
  5H ops): 2H + 2 neurons, 6H + 1 operations, 0 MACs.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..conversion.presets import counted_preset
from ..userfiles import MAX_CONFIG_BYTES, read_regular_file
from .counts import (E_AC_PJ, E_MAC_PJ, EnergyReport, activation_counts, layernorm_counts, matmul_ops_table3,
                     product_counts, residual_counts, softmax_counts)
from .walker import Walker

_BASE = {"model_type": "bert", "vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2,
         "hidden_act": "gelu", "layer_norm_eps": 1e-12}

#: configurations of well-known checkpoints (their config.json fields), so that no download is needed
KNOWN_CONFIGS: dict[str, dict] = {
    "bert-base-uncased": {**_BASE, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                          "intermediate_size": 3072},
    "bert-large-uncased": {**_BASE, "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                           "intermediate_size": 4096},
    "roberta-base": {**_BASE, "model_type": "roberta", "vocab_size": 50265, "max_position_embeddings": 514,
                     "type_vocab_size": 1, "layer_norm_eps": 1e-5, "hidden_size": 768, "num_hidden_layers": 12,
                     "num_attention_heads": 12, "intermediate_size": 3072},
    "all-MiniLM-L6-v2": {**_BASE, "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
                         "intermediate_size": 1536, "pooling": "mean", "normalize": True},
}
_ALIASES = {"google-bert/bert-base-uncased": "bert-base-uncased", "google-bert/bert-large-uncased": "bert-large-uncased",
            "FacebookAI/roberta-base": "roberta-base", "sentence-transformers/all-MiniLM-L6-v2": "all-MiniLM-L6-v2"}

_REQUIRED = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
#: the largest value of each size a config may give (far beyond any released encoder; a count for more
#: would only be a number of rows that does not fit in memory)
LIMITS = {"hidden_size": 1 << 16, "num_hidden_layers": 1024, "num_attention_heads": 1024,
          "intermediate_size": 1 << 18, "max_position_embeddings": 1 << 20, "pad_token_id": 1 << 20,
          "seq_len": 1 << 20}


def _size(cfg: dict, key: str, name: str, default=None, low: int = 1) -> int:
    """``cfg[key]`` as an integer in [low, LIMITS[key]] (a JSON number with an integral value); ValueError."""
    v = cfg.get(key, default)
    ok = not isinstance(v, bool) and (isinstance(v, int) or (isinstance(v, float) and v.is_integer()))
    if not ok or not low <= v <= LIMITS[key]:
        raise ValueError(f"{name}: {key} must be an integer in [{low}, {LIMITS[key]}], got {str(v)[:40]}")
    return int(v)


def is_text_config(name) -> bool:
    """True for a known text-model name or a path to a config.json (or a folder with one)."""
    if not isinstance(name, str):
        return False
    if name in KNOWN_CONFIGS or name in _ALIASES:
        return True
    p = Path(name)
    return p.suffix == ".json" or (p.is_dir() and (p / "config.json").is_file())


def resolve_config(config) -> tuple[str, dict]:
    """(name, config dict) from a name, a path, a dict, a PretrainedConfig or a model."""
    if isinstance(config, str):
        key = _ALIASES.get(config, config)
        if key in KNOWN_CONFIGS:
            return key, dict(KNOWN_CONFIGS[key])
        p = Path(config)
        if p.is_dir():
            p = p / "config.json"
        if not p.exists():
            raise ValueError(f"unknown text model {config!r}: neither a known name "
                             f"({', '.join(KNOWN_CONFIGS)}) nor a config.json file")

        raw = read_regular_file(p, "config", MAX_CONFIG_BYTES)   # a regular file, size-limited
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"{p}: not a readable JSON config ({' '.join(str(exc).split())[:120]})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{p}: a config must be a JSON object, got {type(data).__name__}")
        return str(config), data
    if isinstance(config, dict):
        return config.get("_name_or_path", "") or "config", dict(config)
    if hasattr(config, "to_dict") and hasattr(config, "model_type"):   # a PretrainedConfig
        return getattr(config, "_name_or_path", "") or config.model_type, config.to_dict()
    mods = list(config.children()) if hasattr(config, "children") else []
    if mods and type(mods[0]).__name__ == "Transformer" and hasattr(mods[0], "auto_model"):   # SentenceTransformer
        name, cfg = resolve_config(mods[0].auto_model.config)
        pool = mods[1] if len(mods) > 1 and type(mods[1]).__name__ == "Pooling" else None
        mode = getattr(pool, "pooling_mode", None)
        cfg["pooling"] = mode[0] if isinstance(mode, (tuple, list)) and len(mode) == 1 else mode
        cfg["normalize"] = any(type(m).__name__ == "Normalize" for m in mods[2:])
        return name, cfg
    if hasattr(config, "config"):
        return resolve_config(config.config)
    raise ValueError(f"expected a text-model name, a config.json path, a dict or a transformers config/model, "
                     f"got {type(config).__name__}")


def count_ops_bert(config, seq_len: int = 128, spike_rates: dict[str, float] | None = None, *,
                   pooling: str | None = None, normalize: bool | None = None,
                   e_ac_pj: float = E_AC_PJ, e_mac_pj: float = E_MAC_PJ, product: str = "paper",
                   residual: str = "neuron", rsqrt: str = "neuron", preset: str | None = None) -> EnergyReport:
    """Per-layer neurons, OP_SNN, OP_ANN and eq. 28 for one sequence of ``seq_len`` tokens.

    ``residual="synapses"``: no residual neurons; each post-LN LayerNorm
    receives the two summands' spikes (2*T*H more synaptic operations, as
    many as the residual neuron's own).

    ``pooling`` ("mean", "cls" or None) and ``normalize`` add a
    sentence-transformers head (default: what the config says; the known
    name all-MiniLM-L6-v2 has mean pooling and normalisation).
    """
    name, cfg = resolve_config(config)
    missing = [k for k in _REQUIRED if k not in cfg]
    if missing:
        raise ValueError(f"{name}: the config has no {', '.join(missing)}")
    if cfg.get("model_type", "bert") not in ("bert", "roberta"):
        raise ValueError(f"{name}: model_type {cfg.get('model_type')!r} is not a BERT-family encoder "
                         "(supported: bert, roberta)")
    if cfg.get("is_decoder") or cfg.get("add_cross_attention"):
        raise ValueError(f"{name}: a decoder / cross-attention config is not supported (encoders only)")
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len must be a positive int, got {seq_len!r}")
    H, L, nh, inter = (_size(cfg, k, name) for k in _REQUIRED)   # every size checked before any counting
    max_pos = _size(cfg, "max_position_embeddings", name, 512)
    if cfg.get("model_type") == "roberta":
        max_pos -= _size(cfg, "pad_token_id", name, 1, low=0) + 1
    if seq_len > max_pos:
        raise ValueError(f"{name}: seq_len {seq_len} is longer than the model's {max_pos} positions")
    if H % nh:
        raise ValueError(f"{name}: hidden_size {H} is not a multiple of num_attention_heads {nh}")
    hd = H // nh
    pooling = cfg.get("pooling") if pooling is None else pooling
    normalize = bool(cfg.get("normalize", False)) if normalize is None else normalize
    if residual not in ("neuron", "synapses"):
        raise ValueError(f"unknown residual mode {residual!r}; choose 'neuron' or 'synapses'")
    T = seq_len
    layernorm_counts(1, product, rsqrt)   # (refuses an unknown rsqrt mode)
    w = Walker(product, residual, rsqrt)

    def residual_row(path):
        n, o = residual_counts(T, H)
        if residual == "synapses":   # the LayerNorm's mean and centred neurons receive both summands
            w.add(path, "residual", 0, o, 0, f"{T}x{H} x 2 summands into the LayerNorm")
        else:
            w.add(path, "residual", n, o, 0, f"{T}x{H} + {T}x{H}")

    def linear(path, fin, fout):
        macs = T * fin * fout
        w.add(path, "linear", T * fout, macs, macs, f"{T}x{fin} -> {T}x{fout}")

    def layernorm(path):
        n, o = layernorm_counts(H, product, rsqrt)
        w.add(path, "layernorm", T * n, T * o, 0, f"{T} rows of {H}")

    w.add("embeddings", "embed", T * H, 3 * T * H, 0, f"{T} tokens: word + position + token type -> {H}")
    layernorm("embeddings.LayerNorm")
    for i in range(L):
        pre = f"encoder.layer.{i}"
        for n in ("query", "key", "value"):
            linear(f"{pre}.attention.self.{n}", H, H)
        n, o = product_counts(T, hd, T, product, pairs=4, corrections=0)
        w.add(f"{pre}.attention.qk_matmul", "matmul", nh * n, nh * o, nh * T * T * hd,
              f"{nh} x ({T}x{hd} @ {hd}x{T})", op_snn_table3=nh * matmul_ops_table3(T, hd, T))
        n, o = softmax_counts(T)
        w.add(f"{pre}.attention.softmax", "softmax", nh * T * n, nh * T * o, 0, f"{nh * T} rows of {T}")
        n, o = product_counts(T, T, hd, product, pairs=2, corrections=1)   # softmax >= 0
        w.add(f"{pre}.attention.av_matmul", "matmul", nh * n, nh * o, nh * T * T * hd,
              f"{nh} x ({T}x{T} @ {T}x{hd})", op_snn_table3=nh * matmul_ops_table3(T, T, hd))
        linear(f"{pre}.attention.output.dense", H, H)
        residual_row(f"{pre}.attention.residual")
        layernorm(f"{pre}.attention.output.LayerNorm")
        linear(f"{pre}.intermediate.dense", H, inter)
        n, o = activation_counts(T, inter)
        w.add(f"{pre}.intermediate.intermediate_act_fn", "activation", n, o, 0, f"{T}x{inter}")
        linear(f"{pre}.output.dense", inter, H)
        residual_row(f"{pre}.output.residual")
        layernorm(f"{pre}.output.LayerNorm")
    if pooling == "mean":
        w.add("pooling", "pool", H, T * H, 0, f"mean of {T} x {H}")
    elif pooling not in (None, "cls"):
        raise ValueError(f"{name}: pooling {pooling!r} is not supported (mean, cls)")
    if normalize:
        n, o = product_counts(1, 1, 1, product, pairs=2, corrections=1)   # rsqrt > 0
        fold = int(rsqrt == "folded")   # no rsqrt neuron, no synapse into it
        w.add("normalize", "normalize", 2 - fold + H * n, H + 1 - fold + H * o, 0, f"L2 norm of {H}")
    return EnergyReport.from_rows(w.rows, spike_rates, e_ac_pj=e_ac_pj, e_mac_pj=e_mac_pj,
                                  model=f"{name} (seq_len {T})", img_size=None, tokens=T,
                                  configuration={"preset": counted_preset(preset, product=product, residual=residual,
                                                                       rsqrt=rsqrt),
                                                 "product": product, "residual": residual,
                                                 "rsqrt": rsqrt})
