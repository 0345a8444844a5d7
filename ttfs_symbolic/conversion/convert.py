"""Algorithm 1: calibrate every spiking layer's range and convert the model.

``convert(model, calibration_data)`` takes a timm VisionTransformer (an
instance or a timm model name), runs the calibration set through the spiking
network's own equations without clipping (in float64), records the range of
every neuron layer (the internal layers of softmax and LayerNorm included),
and sets ``[a, b]`` and so ``tau = delta/(b - a)`` and ``T_ref`` per layer
(eq. 29). The result is an ``nn.Module``: ``snn(images, mode=..., precision=...)``.
"""
from __future__ import annotations

import hashlib
import math

import numpy as np
import torch
from torch import nn

from .. import spiking
from ..data.inputs import batches  # noqa: F401  (re-export)
from ..progress import Progress  # noqa: F401  (re-export)
from ..spiking import (CODE_CHOICES, DEFAULT_PRODUCT, DEFAULT_RESIDUAL, PRODUCT_CONSTRUCTIONS,  # noqa: F401 (re-export)
                       RANGE_KINDS, RESIDUAL_MODES, RSQRT_MODES, VARIANCE_ENDS, Ctx, PopStats, Population, Product)
# re-exported: the network's configuration is read from its layers (ttfs_symbolic.spiking.model)
from ..spiking.model import (SpikingModel, configuration, product_construction, residual_mode, rsqrt_mode,  # noqa: F401
                             structure)
from . import activations as _acts
from .distributed import SAMPLE_SEED, CalibrationBatches, reduce_calibration
from .errors import UnsupportedModuleError
from .presets import DEFAULT_PRESET, PRESETS, check_preset, describe  # noqa: F401 (re-export)
from .registry import build_spiking as build_from_family
from .schema import check_convert_args, read_conversion

#: the default range kind of convert(): one range per layer, Algorithm 1
DEFAULT_RANGE_KIND = "layer"


def resolve_model(model, pretrained: bool = False, **timm_kwargs) -> nn.Module:
    """A timm model instance from an instance or a timm model name."""
    if isinstance(model, str):
        # timm loads on first use (start-up time)
        import timm

        if model not in timm.list_models(pretrained=False) and not timm.is_model(model):
            raise ValueError(f"unknown timm model {model!r}; list ViTs with timm.list_models('vit_*')")
        model = timm.create_model(model, pretrained=pretrained, **timm_kwargs)
    elif timm_kwargs or pretrained:   # they would be ignored: a misspelt setting would run with its default
        unused = sorted(timm_kwargs) + (["pretrained"] if pretrained else [])
        raise TypeError(f"unexpected keyword argument(s) {', '.join(map(repr, unused))}: they are timm.create_model's "
                        f"and apply to a model name only; the model given is a {type(model).__name__} instance "
                        "(a misspelt setting of convert lands here too)")
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a timm model or a timm model name, got {type(model).__name__}")
    return model.eval()


def build_spiking(model: nn.Module, softmax_max: bool = True) -> nn.Module:
    """The spiking counterpart of a supported model, not yet calibrated.

    Dispatches through the registry of model families
    (:mod:`ttfs_symbolic.conversion.registry`): timm ViT / DeiT / Eva, Hugging Face
    BERT / RoBERTa and sentence-transformers models.
    """
    snn = build_from_family(model, softmax_max=softmax_max)
    if isinstance(snn, nn.Module):   # recorded by conversion_dict, checked on load
        snn.weights_fingerprint = weights_fingerprint(model)
    return snn


def weights_fingerprint(model: nn.Module) -> str:
    """``"sha256:<hex>"`` of the source model's state dict: which weights a conversion was calibrated for.

    Every entry of ``model.state_dict()`` in sorted name order contributes
    its name, dtype class and shape, then its values: a floating tensor as
    float32 bytes when converting it to float32 and back is exact (float16,
    bfloat16 and float32 weights, and float64 copies of them), else as
    float64 bytes; integer and bool tensors as int64, complex as complex128.
    Values are taken on the CPU, contiguous, little-endian, with -0.0 written
    as 0.0 and every NaN as one NaN. The fingerprint is therefore the same
    for the same weights in float32 or float64 and on any device, and
    differs for weights that differ in any value that float32 can tell apart.
    """
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        if not isinstance(t, torch.Tensor):
            continue
        t = t.detach()
        if t.is_complex():
            kind, t = "complex", t.to("cpu", torch.complex128)
        elif t.is_floating_point():
            t64 = t.to("cpu", torch.float64)
            t32 = t64.to(torch.float32)
            keep = dict(nan=0.0, posinf=math.inf, neginf=-math.inf)
            same = bool(torch.equal(torch.nan_to_num(t32.double(), **keep), torch.nan_to_num(t64, **keep)))
            kind, t = "float", (t32 if same else t64)
            t = torch.where(torch.isnan(t), torch.full_like(t, math.nan), t + 0.0)   # one NaN; -0.0 -> 0.0
        else:
            kind, t = "int", t.to("cpu", torch.int64)
        arr = np.ascontiguousarray(t.numpy()).astype(t.numpy().dtype.newbyteorder("<"), copy=False)
        h.update(f"{name}\0{kind}\0{tuple(t.shape)}\0{arr.dtype.str}\0".encode())
        h.update(arr.tobytes())
    return "sha256:" + h.hexdigest()


def _take_rows(x, idx):
    """Rows ``idx`` of a prepared batch (a tensor, or a dict of tensors with the batch first)."""
    if isinstance(x, dict):
        return {k: (v[idx] if isinstance(v, torch.Tensor) and v.dim() else v) for k, v in x.items()}
    return x[idx]


def _split_holdout(x, n: int, start: int, every: int):
    """(fit rows, held-out rows) of a prepared batch of n items: every ``every``-th item overall is held out."""
    rows = torch.arange(start, start + n)
    hold = (rows % every) == every - 1
    if every <= 1 or not bool(hold.any()):
        return x, None
    fit_idx, hold_idx = torch.nonzero(~hold).reshape(-1), torch.nonzero(hold).reshape(-1)
    return (_take_rows(x, fit_idx) if len(fit_idx) else None), _take_rows(x, hold_idx)


class _HeldOut:
    """The held-out statistics of every layer: swapped in for the held-out rows' forward pass."""

    def __init__(self, pops):
        self.pops = pops
        self.stats = [PopStats() for _ in pops]

    def swap(self):
        for i, p in enumerate(self.pops):
            p.stats, self.stats[i] = self.stats[i], p.stats


def _calibration_pass(snn, data, batch_size: int, ctx: Ctx, bar, holdout: float) -> int:
    """One pass over the calibration data in ``ctx``; returns the number of items seen (fit and held out).

    ``holdout`` > 0: every round(1/holdout)-th item is run separately and its
    statistics kept in ``ctx.held_out`` (a :class:`_HeldOut`)."""
    every = round(1.0 / holdout) if holdout > 0 else 0
    seen = 0
    for i, batch in enumerate(snn.input_batches(data, batch_size)):
        x = snn.prepare_input(batch, torch.float64)
        n = snn.batch_len(x)
        start = getattr(data, "offset", None)   # torchrun: the batch's global position (CalibrationBatches)
        if not isinstance(data, CalibrationBatches):   # (which seeds each batch by its global number itself)
            # batch i's samples seeded as ttfs convert's (CalibrationBatches): same tensors and batch size,
            # same ranges and log-code shifts from the API and the command line
            spiking.seed_samples(SAMPLE_SEED + i)
        fit, hold = _split_holdout(x, n, seen if start is None else start, every) if every else (x, None)
        if fit is not None:
            snn.run(fit, ctx)
        if hold is not None:
            ctx.held_out.swap()
            try:
                snn.run(hold, ctx)
            finally:
                ctx.held_out.swap()
        seen += n
        bar.update()
    return seen


def _reset_stats(pops, range_kind: str):
    for p in pops:
        p.stats = PopStats()
        p.range_kind = range_kind if p.fine_ok else "layer"


def _finalize_all(snn, pops, held: _HeldOut | None, *, percentile, margin, sigmas, optimize_for, codes,
                  max_margin: float, headroom: float, variance_end: str = "bound") -> dict:
    """Set every layer's range and code from the statistics; with held-out statistics, first the margin
    each layer needs so that no held-out value clips (at most ``max_margin``), then the ranges from all
    the data widened by it. Returns {layer: margin} (empty without a held-out part)."""
    kw = dict(percentile=percentile, sigmas=sigmas, optimize_for=optimize_for, codes=codes, headroom=headroom,
              variance_end=variance_end)
    margins = {}
    if held is not None and any(st.n_seen for st in held.stats):
        for p in pops:
            p.finalize(margin=margin, **kw)
        for p, st in zip(pops, held.stats):
            margins[p.pname] = min(max_margin, p.margin_needed(st))
            p.stats.merge(st)
    for p in pops:
        p.finalize(margin=margin + margins.get(p.pname, 0.0), **kw)
    return margins


@torch.no_grad()
def calibrate(snn: nn.Module, data, batch_size: int = 32, percentile: float = 100.0, margin: float = 0.0,
              progress: bool = True, range_kind: str = DEFAULT_RANGE_KIND, product: str | None = None,
              sigmas: float = 6.0, optimize_for: int | None = None, residual: str | None = None,
              codes: str = "linear", rsqrt: str | None = None, holdout: float = 0.0,
              precision: int | None = None, max_margin: float = 1.0, headroom: float = 1.0,
              variance_end: str = "bound", preset: str | None = None) -> nn.Module:
    """Record every layer's range over ``data`` and set [a, b] (Algorithm 1).

    The pass runs the spiking network's equations in float64 without clipping
    (every neuron emits h(V)), so each layer sees exactly the ANN's values.
    ``percentile`` (<= 100) trims outliers; ``margin`` widens each range by
    that fraction of its width on both sides.

    Windows are numbered 1, 2, ... in the order in which the layers first emit
    during the pass (recorded by :class:`~ttfs_symbolic.spiking.Ctx`):
    a layer emits only after every layer it receives from, so each layer's
    window ``[T_emit(n), T_end(n))`` follows the windows of all its senders
    (eq. 29), the multiplication network's layer I included (after x1 and x2,
    before layer II). Inputs from earlier windows than the previous one
    arrive through synaptic delays (docs/design.md).

    ``range_kind``: ``layer`` (one range per layer, Algorithm 1), ``channel``
    or ``neuron`` (one range and tau per channel or per neuron, for the layers
    whose range is calibrated from data and whose h is the identity; Theorem
    4.1 integrates with the sender's tau synapse by synapse, so nothing ties
    the neurons of a layer to one range; attention scores: per head).
    ``percentile`` applies to layer-wide ranges; ``margin`` to all;
    ``sigmas``: per-channel and per-neuron ranges also hold each neuron's mean
    +- sigmas standard deviations (:meth:`Population.finalize`).
    ``optimize_for=p``: each layer-wide range minimises clipping plus
    rounding error at time precision p on the calibration samples
    (:func:`spiking.optimal_range`) instead of min/max or ``percentile``.
    ``product``: the construction of the multiplication networks (``signed``
    or ``paper``; None keeps each one's own). ``residual``: how the residual
    sums are carried (:func:`set_residual`; None keeps the model's).
    ``codes``: ``linear`` (eq. 7) or ``auto`` (each layer the code of least
    rounding error: :meth:`Population.choose_code`). ``rsqrt``: ``neuron`` or
    ``folded`` (:func:`set_rsqrt`; None keeps the model's).

    ``headroom`` (>= 1): log-coded layers' far ends are widened by this
    factor, and a variance's least value divided by it (:meth:`Population.apply_headroom`):
    values beyond the calibration data cost the log code little room.
    ``variance_end``: the upper end of a variance whose rsqrt is folded
    (``rsqrt="folded"``): ``bound``, the largest the network proves (no
    variance ever clips), or ``calibrated``, the calibration's (with the
    held-out margin and headroom, capped at the bound), narrower where the
    bound is loose (:meth:`Population.finalize`).
    ``holdout`` (a fraction, e.g. 0.2): every round(1/holdout)-th item is held
    out; the ranges fitted on the rest are checked on it, each layer gets the
    margin (at most ``max_margin``) that its held-out values need not to clip,
    and the final ranges are those of all the data widened by that margin.
    ``precision=p``: precision-aware calibration: after the exact pass a
    second pass runs every layer at time precision p with the first pass's
    ranges, and each range (and code) is fitted again on the values that
    reach it there, the rounding of the layers before it included; None (the
    default) calibrates on exact values. ``preset``: the name recorded (set by
    :func:`convert`).
    """
    check_convert_args(batch_size, percentile, margin)
    _check_calibration_args(sigmas, optimize_for, range_kind, codes, holdout, precision, max_margin, headroom,
                            variance_end)
    pops = snn.populations()
    products = [(m, m.construction, m.r) for m in snn.modules() if isinstance(m, Product)]
    before = (structure(snn), [p.state() for p in pops], getattr(snn, "calibration", None))
    try:
        return _calibrate(snn, pops, data, batch_size, progress, range_kind, product, residual, rsqrt, holdout,
                          precision, preset, dict(percentile=percentile, margin=margin, sigmas=sigmas,
                                                  optimize_for=optimize_for, codes=codes, max_margin=max_margin,
                                                  headroom=headroom, variance_end=variance_end))
    except BaseException:
        # a calibration that fails (bad data, an interrupt) leaves the model as it was, not half-calibrated
        shape, states, calibration = before
        for m, construction, r in products:
            m.set_construction(construction, r)
        set_residual(snn, shape["residual"])
        set_rsqrt(snn, shape["rsqrt"])
        for p, st in zip(pops, states):
            p.restore(st)
        if calibration is not None:
            snn.calibration = calibration
        raise


def _calibrate(snn, pops, data, batch_size, progress, range_kind, product, residual, rsqrt, holdout, precision,
               preset, opts) -> nn.Module:
    """:func:`calibrate` after its checks (which restores the model when this raises)."""
    percentile, margin, codes = opts["percentile"], opts["margin"], opts["codes"]
    if product is not None:
        set_product_construction(snn, product)
    if residual is not None:
        set_residual(snn, residual)
    if rsqrt is not None:
        set_rsqrt(snn, rsqrt)
    passes = 1 if precision is None else 2
    bar = Progress(passes * snn.count_batches(data, batch_size), "calibrating", enabled=progress)
    for k in range(passes):
        _reset_stats(pops, range_kind)
        ctx = Ctx(mode="calibrate", precision=precision if k else None)   # collects ctx.order
        ctx.held_out = _HeldOut(pops) if holdout > 0 else None
        seen = _calibration_pass(snn, data, batch_size, ctx, bar, holdout)
        seen = _reduce(pops, ctx, seen, snn=snn, data=data, percentile=percentile, codes=codes)
        if seen == 0:
            raise ValueError("the calibration set is empty")
        margins = _finalize_all(snn, pops, ctx.held_out, **opts)
        if k == 0:
            emitted = {id(p) for p in ctx.order}
            order = list(ctx.order) + [p for p in pops if id(p) not in emitted]   # (none in a complete model)
            for i, p in enumerate(order):
                p.window = i + 1
    bar.close()
    snn.calibration = {"images": seen, "percentile": percentile, "margin": margin, "range_kind": range_kind,
                       "sigmas": opts["sigmas"], "optimize_for": opts["optimize_for"], "residual": residual_mode(snn),
                       "codes": codes, "rsqrt": rsqrt_mode(snn), "holdout": holdout, "precision": precision,
                       "max_margin": opts["max_margin"], "headroom": opts["headroom"],
                       "variance_end": opts["variance_end"], "preset": preset,
                       "holdout_margin_max": max(margins.values(), default=0.0)}
    _acts.check_activations(snn)   # each activation module against its formula on the calibrated range
    return snn


def _reduce(pops, ctx, seen, **kw) -> int:
    """torchrun: every rank's statistics (the held-out ones too) those of the whole set."""
    if ctx.held_out is not None:
        ctx.held_out.swap()
        try:
            # the held-out samples in rank order: the batch bounds CalibrationBatches records are the fit
            # rows' (a sum over samples does not depend on their order: Population._code_errors)
            reduce_calibration(pops, 0, None, **{**kw, "data": None})
        finally:
            ctx.held_out.swap()
    return reduce_calibration(pops, seen, ctx=ctx, **kw)


def _check_calibration_args(sigmas, optimize_for, range_kind, codes, holdout, precision, max_margin, headroom,
                            variance_end="bound"):
    if not (isinstance(sigmas, (int, float)) and not isinstance(sigmas, bool) and sigmas >= 0
            and math.isfinite(sigmas)):
        raise ValueError(f"sigmas must be a finite number >= 0, got {sigmas!r}")
    for name, v in (("optimize_for", optimize_for), ("precision", precision)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{name} must be a time precision p (a positive integer), got {v!r}")
    if range_kind not in RANGE_KINDS:
        raise ValueError(f"range_kind must be one of {', '.join(RANGE_KINDS)}, got {range_kind!r}")
    if codes not in CODE_CHOICES:
        raise ValueError(f"codes must be one of {', '.join(CODE_CHOICES)}, got {codes!r}")
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 <= holdout <= 0.5:
        raise ValueError(f"holdout must be a fraction in [0, 0.5], got {holdout!r}")
    if isinstance(max_margin, bool) or not isinstance(max_margin, (int, float)) or not 0 <= max_margin < math.inf:
        raise ValueError(f"max_margin must be a finite number >= 0, got {max_margin!r}")
    if isinstance(headroom, bool) or not isinstance(headroom, (int, float)) or not 1 <= headroom < math.inf:
        raise ValueError(f"headroom must be a finite number >= 1, got {headroom!r}")
    if variance_end not in VARIANCE_ENDS:
        raise ValueError(f"variance_end must be one of {', '.join(VARIANCE_ENDS)}, got {variance_end!r}")


def set_rsqrt(snn: nn.Module, mode: str) -> nn.Module:
    """Form every (v + eps)^(-1/2) of ``snn`` (LayerNorm, L2 normalisation) as ``mode``: ``neuron`` or ``folded``.

    ``neuron`` (the paper): an rsqrt neuron between the variance neuron and
    the multiplication network. ``folded``: no such neuron; layer I of the
    multiplication network receives the variance's spike through the composed
    input transform f(v) = log((v + eps)^(-1/2) + e) (Theorem 4.1), so there is
    one rounding and one window fewer, and the factor's range is the image of
    the variance's, which it never leaves (:func:`spiking.fold_rsqrt`; the
    variance's upper end is the calibrated one, capped at the proven bound).
    Calibrate (or load a conversion) afterwards.
    """
    if mode not in RSQRT_MODES:
        raise ValueError(f"unknown rsqrt mode {mode!r}; choose one of {', '.join(RSQRT_MODES)}")
    for m in snn.modules():
        if hasattr(m, "set_rsqrt"):
            m.set_rsqrt(mode)
    return snn


def set_residual(snn: nn.Module, mode: str) -> nn.Module:
    """Carry every residual sum x + y of ``snn`` as ``mode``: ``neuron`` or ``synapses``.

    ``neuron`` (the paper): an identity neuron receives x and y and re-encodes
    their sum in one spike, rounded to the time precision p and clipped to its
    range. ``synapses``: there is no such neuron; each consumer of the sum (in
    a pre-norm block, the next LayerNorm's mean and centred neurons) receives
    the spikes of every summand through identity synapses and forms the sum in
    its own potential (eq. 9 with f = identity is linear in its inputs). The
    sum is then exact for the summands' spikes: no rounding and no clipping,
    at the cost of more synapses into each LayerNorm (the residual stream of
    block l has 2l + 2 summands; ``count_ops(..., residual="synapses")``
    counts them). Models whose sums feed a layer other than a LayerNorm
    (post-norm blocks) keep ``neuron``: ValueError naming why.
    """
    if mode not in RESIDUAL_MODES:
        raise ValueError(f"unknown residual mode {mode!r}; choose one of {', '.join(RESIDUAL_MODES)}")
    if mode == "synapses":
        why = snn.residual_synapses_unsupported()
        if why:
            raise ValueError(f"residual='synapses' is not available for {type(snn).__name__}: {why}")
    for m in snn.modules():
        if isinstance(m, Population) and m.kind == "residual":
            m.relay = mode == "synapses"
    return snn


def set_product_construction(snn: nn.Module, construction: str) -> nn.Module:
    """Use ``construction`` (``signed`` or ``paper``) in every multiplication network of ``snn``.

    Layer I's range depends on it: calibrate (or load a conversion) afterwards.
    """
    if construction not in PRODUCT_CONSTRUCTIONS:
        raise ValueError(f"unknown product construction {construction!r}; choose one of "
                         f"{', '.join(PRODUCT_CONSTRUCTIONS)}")
    for m in snn.modules():
        if isinstance(m, Product):
            m.set_construction(construction)
    return snn


#: named conversion settings (:func:`convert`'s ``preset``). ``paper``: the network of the paper (eq. 24-27
#: products, one range per layer as in Algorithm 1, residual neurons, rsqrt neurons, the linear code:
#: Table 2's counts). ``accurate``: the most accurate network this library builds (the signed product,
#: per-channel ranges (per head for attention scores) with held-out margins, residual sums carried by
#: synapses where the family allows, rsqrt folded into the product, and each layer's code chosen for least
#: rounding error): the default.


def preset_settings(preset: str, snn: nn.Module | None = None, **overrides) -> dict:
    """The calibration settings of ``preset`` with ``overrides`` (those not None) on top.

    A preset's ``residual="synapses"`` falls back to ``neuron`` for a model
    whose family cannot carry its sums by synapses (post-norm EVA blocks); an
    explicit ``residual="synapses"`` is refused for it by :func:`set_residual`.
    """
    out = check_preset(preset)
    if snn is not None and out["residual"] == "synapses":
        why = snn.residual_synapses_unsupported()
        if why:
            out["residual"] = "neuron"
    out.update({k: v for k, v in overrides.items() if v is not None})
    return out


def convert(model, calibration_data, *, preset: str = DEFAULT_PRESET, batch_size: int = 32,
            percentile: float = 100.0, margin: float = 0.0, softmax_max: bool = True, progress: bool = True,
            pretrained: bool = False, activations=None, range_kind: str | None = None, product: str | None = None,
            sigmas: float | None = None, optimize_for: int | None = None, residual: str | None = None,
            codes: str | None = None, rsqrt: str | None = None, holdout: float | None = None,
            headroom: float | None = None, variance_end: str | None = None, precision: int | None = None,
            **timm_kwargs) -> nn.Module:
    """Algorithm 1: a calibrated spiking model from a timm ViT (instance or name), or any registered family.

    Text models (:mod:`ttfs_symbolic.families.bert`): a transformers ``BertModel``
    / ``RobertaModel`` or a ``SentenceTransformer`` instance, calibrated on a
    tokenizer batch (dict / ``BatchEncoding``) or a list of them.

    ``preset`` (:data:`PRESETS`): ``accurate`` (the default: the most accurate
    network this library builds for the family) or ``paper`` (the paper's
    network exactly). Every setting of the preset can be overridden by its
    own argument: ``range_kind`` (``layer``, ``channel``, ``neuron``),
    ``product`` (``signed`` or ``paper``, eq. 24-27), ``residual``
    (``neuron`` or ``synapses``: :func:`set_residual`), ``rsqrt`` (``neuron``
    or ``folded``: :func:`set_rsqrt`), ``codes`` (``linear`` or ``auto``),
    ``holdout``, ``headroom``, ``variance_end`` and ``sigmas``: see :func:`calibrate`. ``precision=p``
    calibrates for time precision p (precision-aware; None: on exact values).

    ``pretrained=True`` with a model name downloads timm's weights (needs the
    internet); the tests and the demo use random or locally trained weights.
    ``activations={module class or class name: neuron}`` registers
    activations for this call only (:mod:`ttfs_symbolic.conversion.activations`);
    every activation module is checked against its formula after calibration.
    """
    check_convert_args(batch_size, percentile, margin)
    check_preset(preset)
    training = isinstance(model, nn.Module) and model.training
    ann = resolve_model(model, pretrained=pretrained, **timm_kwargs)
    _acts.check_overrides_used(activations, ann)   # a per-call activation that matches no module is refused
    with _acts.overrides(activations):
        snn = build_spiking(ann, softmax_max=softmax_max)
    snn.activation_overrides = dict(activations) if activations else None   # (the energy count reads them)
    snn.source_name = model if isinstance(model, str) else type(ann).__name__
    settings = preset_settings(preset, snn, range_kind=range_kind, product=product, residual=residual,
                               rsqrt=rsqrt, codes=codes, holdout=holdout, sigmas=sigmas, headroom=headroom,
                               variance_end=variance_end)
    try:
        return calibrate(snn, calibration_data, batch_size=batch_size, percentile=percentile, margin=margin,
                         progress=progress, optimize_for=optimize_for, precision=precision, preset=preset,
                         **settings)
    finally:
        ann.train(training)   # the model given goes back to the mode it was in (converted in eval mode)
