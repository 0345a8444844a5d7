"""Spiking building blocks (Section 4.3): the call context and clipping checks (:mod:`.context`), calibration
statistics (:mod:`.stats`), kernels and settings (:mod:`.kernels`), populations (:mod:`.population`, with
their calibration and emitting stage in :mod:`.calibration` and :mod:`.emission`), the product networks
(:mod:`.product`), the Transformer layers (:mod:`.layers`) and the :class:`SpikingModel` base (:mod:`.model`)."""
from .context import (CHECK_MODES, DEFAULT_CHECK, SAMPLE_EVERY, ClippingWarning, Ctx, finish_call, make_ctx,
                      warn_clipping)
from .kernels import (CHANNEL_DIMS, CODE_CHOICES, CODE_KINDS, DEFAULT_RESIDUAL, FINE_KINDS, HEAD_KINDS, LOG_SHIFTS,
                      MAX_RANGE_ABS, RANGE_KINDS, RESIDUAL_MODES, VARIANCE_ENDS, input_kernel, log_kernel,
                      output_kernel)
from .layers import (DEFAULT_RSQRT, RSQRT_MODES, SpikingActivation, SpikingLayerNorm, SpikingLinear, SpikingSoftmax,
                     channel_squares, fold_rsqrt, monotone_image)
from .model import SpikingModel, configuration, product_construction, residual_mode, rsqrt_mode, structure
from .population import Population, terms
from .product import (DEFAULT_PRODUCT, DEFAULT_SHIFT, PRODUCT_CONSTRUCTIONS, SHIFT_CANDIDATES, Product, SignedOperand,
                      layer1_range, shift_for, signed_error_proxy, signed_layer1_range, signed_log_kernel)
from .stats import OPTIMAL_TRIMS, SAMPLES, PopStats, optimal_range, seed_samples

__all__ = [
    "CHECK_MODES", "DEFAULT_CHECK", "SAMPLE_EVERY", "Ctx", "ClippingWarning", "make_ctx", "warn_clipping",
    "finish_call", "OPTIMAL_TRIMS", "optimal_range", "PopStats", "SAMPLES", "seed_samples", "RANGE_KINDS",
    "RESIDUAL_MODES", "DEFAULT_RESIDUAL", "FINE_KINDS", "HEAD_KINDS", "CHANNEL_DIMS", "CODE_KINDS",
    "LOG_SHIFTS", "CODE_CHOICES", "VARIANCE_ENDS", "input_kernel", "output_kernel", "log_kernel", "MAX_RANGE_ABS", "Population",
    "terms", "shift_for", "layer1_range", "PRODUCT_CONSTRUCTIONS", "DEFAULT_PRODUCT", "SHIFT_CANDIDATES",
    "DEFAULT_SHIFT", "SignedOperand", "signed_log_kernel", "signed_layer1_range", "signed_error_proxy",
    "Product", "SpikingLinear", "SpikingActivation", "SpikingLayerNorm", "RSQRT_MODES", "DEFAULT_RSQRT",
    "monotone_image", "fold_rsqrt", "channel_squares", "SpikingSoftmax", "SpikingModel", "rsqrt_mode",
    "configuration", "structure", "product_construction", "residual_mode",
]
