"""Spiking building blocks: the call context and clipping checks, calibration statistics, populations
(a layer's neurons with their range and code), the product networks and the Transformer layers."""
from .layers import (  # noqa: F401
    CHECK_MODES, DEFAULT_CHECK, SAMPLE_EVERY, Ctx, OPTIMAL_TRIMS, optimal_range, ClippingWarning, make_ctx,
    warn_clipping, finish_call, PopStats, RANGE_KINDS, RESIDUAL_MODES, DEFAULT_RESIDUAL, FINE_KINDS,
    HEAD_KINDS, CHANNEL_DIMS, CODE_KINDS, LOG_SHIFTS, CODE_CHOICES, input_kernel, output_kernel, log_kernel,
    MAX_RANGE_ABS, Population, terms, shift_for, layer1_range, PRODUCT_CONSTRUCTIONS, DEFAULT_PRODUCT,
    SHIFT_CANDIDATES, DEFAULT_SHIFT, SignedOperand, signed_log_kernel, signed_layer1_range,
    signed_error_proxy, Product, SpikingLinear, SpikingActivation, SpikingLayerNorm, RSQRT_MODES,
    DEFAULT_RSQRT, monotone_image, fold_rsqrt, channel_squares, SpikingSoftmax, seed_samples,
)
from .model import SpikingModel  # noqa: F401
