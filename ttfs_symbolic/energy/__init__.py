"""Operation counts and energy of a converted model (Section 5.2, Table 3, eq. 28).

* :mod:`.counts`: Table 3's per-layer formulas, :class:`LayerOps`, :class:`EnergyReport`;
* :mod:`.walker`: the module walker and its handler table (leaves);
* :mod:`.vit`, :mod:`.eva`: the handlers of timm ViT / DeiT and Eva / EVA-02, and :func:`count_ops`;
* :mod:`.bert`: :func:`count_ops_bert` for BERT-family text encoders (from a config, no weights).
"""
from . import eva  # noqa: F401  (registers the Eva and distilled-DeiT handlers)
from .bert import KNOWN_CONFIGS, count_ops_bert, is_text_config, resolve_config
from .counts import (E_AC_PJ, E_MAC_PJ, PJ_TO_MJ, EnergyReport, LayerOps, activation_counts, apply_rates,
                     layernorm_counts, matmul_counts, matmul_ops_table3, product_counts, residual_counts,
                     softmax_counts)
from .vit import build_meta_model, count_ops
from .walker import HANDLERS, Handler, Walker, register_handler

__all__ = [
    "E_AC_PJ", "E_MAC_PJ", "PJ_TO_MJ", "EnergyReport", "LayerOps", "activation_counts", "apply_rates",
    "layernorm_counts", "matmul_counts", "matmul_ops_table3", "product_counts", "residual_counts",
    "softmax_counts", "build_meta_model", "count_ops", "count_ops_bert", "is_text_config", "resolve_config",
    "KNOWN_CONFIGS", "HANDLERS", "Handler", "Walker", "register_handler",
]
