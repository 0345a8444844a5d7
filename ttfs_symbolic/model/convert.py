"""Algorithm 1: calibrate every spiking layer's range and convert the model.

``convert(model, calibration_data)`` takes a timm VisionTransformer (an
instance or a timm model name), runs the calibration set through the spiking
network's own equations without clipping (in float64), records the range of
every neuron layer (the internal layers of softmax and LayerNorm included),
and sets ``[a, b]`` and so ``tau = delta/(b - a)`` and ``T_ref`` per layer
(eq. 29). The result is an ``nn.Module``: ``snn(images, mode=..., precision=...)``.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn

from . import activations as _acts
from . import spiking
from .conversion_schema import check_convert_args, read_conversion
from .spiking import (DEFAULT_PRODUCT, DEFAULT_RESIDUAL, PRODUCT_CONSTRUCTIONS, RANGE_KINDS, RESIDUAL_MODES, Ctx,
                      Population, Product)
from .vit import SpikingViT, UnsupportedModuleError

#: 5: the fingerprint of the weights the file was calibrated for ("weights_fingerprint",
#: :func:`weights_fingerprint`; checked on load, files before version 5 have none).
#: 4: how the residual sums are carried ("residual": "neuron" or "synapses"; files without it: "neuron").
#: 3: per-channel / per-neuron ranges (a layer's a and b may be nested lists) and each
#: product's construction and shift ("products"); 2: the file records the source model's
#: architecture (checked on load); version 1 files (no architecture) still load, checked by
#: layer names only. Files without "products" were made with the paper's product construction.
FORMAT_VERSION = 5
#: the default range kind of convert(): one range per layer, Algorithm 1
DEFAULT_RANGE_KIND = "layer"


class Progress:
    """A one-line progress display on stderr (no extra dependency)."""

    def __init__(self, total: int, label: str, enabled: bool = True, stream=None):
        self.total, self.label, self.enabled = total, label, enabled
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.done = 0

    def update(self, n: int = 1):
        self.done += n
        if self.enabled:
            elapsed = time.perf_counter() - self.start
            rate = self.done / elapsed if elapsed > 0 else 0.0
            eta = (self.total - self.done) / rate if rate > 0 else 0.0
            width = 24
            filled = int(width * self.done / max(self.total, 1))
            line = (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                    f"{elapsed:5.1f}s elapsed, ~{eta:4.1f}s left")
            if getattr(self.stream, "isatty", lambda: False)():
                self.stream.write("\r" + line)
            elif self.done == self.total or self.done % max(1, self.total // 4) == 0:
                self.stream.write(line + "\n")   # a log file: a few whole lines, not carriage returns
            self.stream.flush()

    def close(self):
        if self.enabled and getattr(self.stream, "isatty", lambda: False)():
            self.stream.write("\n")
            self.stream.flush()


def batches(data, batch_size: int):
    """Image batches from a tensor, a (images, labels) pair, or an iterable of batches."""
    if data is None or isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
        raise TypeError(f"expected images as a tensor, an (images, labels) pair or an iterable of batches, "
                        f"got {type(data).__name__}")
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        data = data[0]
    if isinstance(data, torch.Tensor):
        for i in range(0, data.shape[0], batch_size):
            yield data[i:i + batch_size]
        return
    for item in data:
        yield item[0] if isinstance(item, (tuple, list)) else item


def _n_batches(data, batch_size):
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        data = data[0]
    if isinstance(data, torch.Tensor):
        return (data.shape[0] + batch_size - 1) // batch_size
    try:
        return len(data)
    except TypeError:
        return 0


def resolve_model(model, pretrained: bool = False, **timm_kwargs) -> nn.Module:
    """A timm model instance from an instance or a timm model name."""
    if isinstance(model, str):
        import timm

        if model not in timm.list_models(pretrained=False) and not timm.is_model(model):
            raise ValueError(f"unknown timm model {model!r}; list ViTs with timm.list_models('vit_*')")
        model = timm.create_model(model, pretrained=pretrained, **timm_kwargs)
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a timm model or a timm model name, got {type(model).__name__}")
    return model.eval()


def build_spiking(model: nn.Module, softmax_max: bool = True) -> nn.Module:
    """The spiking counterpart of a supported model, not yet calibrated.

    Dispatches through the registry of model families
    (:mod:`ttfs_symbolic.model.families`): timm ViT / DeiT / Eva, Hugging Face
    BERT / RoBERTa and sentence-transformers models.
    """
    from .families import build_spiking as build_from_family

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
    import hashlib

    import numpy as np

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


def input_batches(snn: nn.Module, data, batch_size: int):
    """Batches of ``data`` as the spiking model reads them (images by default, :func:`batches`)."""
    fn = getattr(snn, "input_batches", None)
    return fn(data, batch_size) if fn is not None else batches(data, batch_size)


def prepare_input(snn: nn.Module, batch, dtype):
    """One checked batch in the form ``snn._forward`` takes (images by default: a float tensor)."""
    fn = getattr(snn, "prepare_input", None)
    return fn(batch, dtype) if fn is not None else snn.check_images(batch).to(dtype)


def batch_len(snn: nn.Module, x) -> int:
    """The number of items (images, sentences) in a prepared batch."""
    fn = getattr(snn, "batch_len", None)
    return fn(x) if fn is not None else x.shape[0]


def _count_batches(snn: nn.Module, data, batch_size: int) -> int:
    fn = getattr(snn, "count_batches", None)
    return fn(data, batch_size) if fn is not None else _n_batches(data, batch_size)


@torch.no_grad()
def calibrate(snn: nn.Module, data, batch_size: int = 32, percentile: float = 100.0, margin: float = 0.0,
              progress: bool = True, range_kind: str = DEFAULT_RANGE_KIND, product: str | None = None,
              sigmas: float = 6.0, optimize_for: int | None = None, residual: str | None = None) -> nn.Module:
    """Record every layer's range over ``data`` and set [a, b] (Algorithm 1).

    The pass runs the spiking network's equations in float64 without clipping
    (every neuron emits h(V)), so each layer sees exactly the ANN's values.
    ``percentile`` (<= 100) trims outliers; ``margin`` widens each range by
    that fraction of its width on both sides.

    Windows are numbered 1, 2, ... in the order in which the layers first emit
    during the pass (recorded by :class:`~ttfs_symbolic.model.spiking.Ctx`):
    a layer emits only after every layer it receives from, so each layer's
    window ``[T_emit(n), T_end(n))`` follows the windows of all its senders
    (eq. 29), the multiplication network's layer I included (after x1 and x2,
    before layer II). Inputs from earlier windows than the previous one
    arrive through synaptic delays (docs/design.md).

    ``range_kind``: ``layer`` (one range per layer, Algorithm 1), ``channel``
    or ``neuron`` (one range and tau per channel or per neuron, for the layers
    whose range is calibrated from data and whose h is the identity; Theorem
    4.1 integrates with the sender's tau synapse by synapse, so nothing ties
    the neurons of a layer to one range). ``percentile`` applies to
    layer-wide ranges; ``margin`` to all; ``sigmas``: per-channel and
    per-neuron ranges also hold each neuron's mean +- sigmas standard
    deviations (:meth:`Population.finalize`). ``optimize_for=p``: each
    layer-wide range minimises clipping plus rounding error at time precision
    p on the calibration samples (:func:`spiking.optimal_range`) instead of
    min/max or ``percentile``. ``product``: the construction of
    the multiplication networks (``signed`` or ``paper``; None keeps each
    one's own). ``residual``: how the residual sums are carried
    (:func:`set_residual`; None keeps the model's).
    """
    check_convert_args(batch_size, percentile, margin)
    if not (isinstance(sigmas, (int, float)) and sigmas >= 0 and math.isfinite(sigmas)):
        raise ValueError(f"sigmas must be a finite number >= 0, got {sigmas!r}")
    if optimize_for is not None and (isinstance(optimize_for, bool) or not isinstance(optimize_for, int)
                                     or optimize_for < 1):
        raise ValueError(f"optimize_for must be a time precision p (a positive integer), got {optimize_for!r}")
    if range_kind not in RANGE_KINDS:
        raise ValueError(f"range_kind must be one of {', '.join(RANGE_KINDS)}, got {range_kind!r}")
    if product is not None:
        set_product_construction(snn, product)
    if residual is not None:
        set_residual(snn, residual)
    if not 50.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (50, 100], got {percentile}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    pops = snn.populations()
    spiking._GEN.manual_seed(0)   # the sample reservoirs (percentiles, product shifts): same data, same ranges
    for p in pops:
        p.stats.__init__()
        p.range_kind = range_kind if p.fine_ok else "layer"
    ctx = Ctx(mode="calibrate")   # collects ctx.order, the order of first emission
    bar = Progress(_count_batches(snn, data, batch_size), "calibrating", enabled=progress)
    seen = 0
    for batch in input_batches(snn, data, batch_size):
        x = prepare_input(snn, batch, torch.float64)
        snn._forward(x, ctx)
        seen += batch_len(snn, x)
        bar.update()
    bar.close()
    from .distributed import reduce_calibration   # torchrun: every rank's statistics of the whole set

    seen = reduce_calibration(pops, seen, ctx=ctx, snn=snn, data=data, percentile=percentile)
    if seen == 0:
        raise ValueError("the calibration set is empty")
    for p in pops:
        p.finalize(percentile=percentile, margin=margin, sigmas=sigmas, optimize_for=optimize_for)
    emitted = {id(p) for p in ctx.order}
    order = list(ctx.order) + [p for p in pops if id(p) not in emitted]   # (none in a complete model)
    for i, p in enumerate(order):
        p.window = i + 1
    snn.calibration = {"images": seen, "percentile": percentile, "margin": margin, "range_kind": range_kind,
                       "sigmas": sigmas, "optimize_for": optimize_for, "residual": residual_mode(snn)}
    _acts.check_activations(snn)   # each activation module against its formula on the calibrated range
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
        why = getattr(snn, "residual_synapses_unsupported", lambda: "its family does not support it")()
        if why:
            raise ValueError(f"residual='synapses' is not available for {type(snn).__name__}: {why}")
    for m in snn.modules():
        if isinstance(m, Population) and m.kind == "residual":
            m.relay = mode == "synapses"
    return snn


def residual_mode(snn: nn.Module) -> str:
    """How the residual sums of ``snn`` are carried (:func:`set_residual`)."""
    return "synapses" if any(isinstance(m, Population) and m.relay for m in snn.modules()) else "neuron"


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


def convert(model, calibration_data, *, batch_size: int = 32, percentile: float = 100.0, margin: float = 0.0,
            softmax_max: bool = True, progress: bool = True, pretrained: bool = False, activations=None,
            range_kind: str = DEFAULT_RANGE_KIND, product: str = DEFAULT_PRODUCT, sigmas: float = 6.0,
            optimize_for: int | None = None, residual: str = DEFAULT_RESIDUAL, **timm_kwargs) -> nn.Module:
    """Algorithm 1: a calibrated spiking model from a timm ViT (instance or name), or any registered family.

    Text models (:mod:`ttfs_symbolic.model.bert`): a transformers ``BertModel``
    / ``RobertaModel`` or a ``SentenceTransformer`` instance, calibrated on a
    tokenizer batch (dict / ``BatchEncoding``) or a list of them.

    ``pretrained=True`` with a model name downloads timm's weights (needs the
    internet); the tests and the demo use random or locally trained weights.
    ``range_kind`` (``layer``, ``channel``, ``neuron``) and ``product``
    (``signed``, this library's low-error multiplication network, or
    ``paper``, eq. 24-27): see :func:`calibrate`. ``residual`` (``neuron``,
    the paper, or ``synapses``): :func:`set_residual`.
    ``activations={module class or class name: neuron}`` registers
    activations for this call only (:mod:`ttfs_symbolic.model.activations`);
    every activation module is checked against its formula after calibration.
    """
    check_convert_args(batch_size, percentile, margin)
    ann = resolve_model(model, pretrained=pretrained, **timm_kwargs)
    _acts.check_overrides_used(activations, ann)   # a per-call activation that matches no module is refused
    with _acts.overrides(activations):
        snn = build_spiking(ann, softmax_max=softmax_max)
    snn.source_name = model if isinstance(model, str) else type(ann).__name__
    return calibrate(snn, calibration_data, batch_size=batch_size, percentile=percentile, margin=margin,
                     progress=progress, range_kind=range_kind, product=product, sigmas=sigmas,
                     optimize_for=optimize_for, residual=residual)


def architecture(snn: nn.Module) -> dict:
    """What a conversion file must match: the structure of the spiking model built from its source.

    The spiking model's class, embedding width, depth, heads, tokens, image
    size, classes; every spiking layer (name, kind, neuron, fan-in) in the
    order the model registers them; and the name and shape of every weight.
    Two source models with the same architecture give the same dict, whatever
    their weights.
    """
    blocks = getattr(snn, "blocks", [])
    attn = getattr(blocks[0], "attn", None) if len(blocks) else None
    patch_w = getattr(snn, "patch_w", None)
    return {
        "model": type(snn).__name__,
        "embed_dim": None if patch_w is None else int(patch_w.shape[0]),
        "depth": len(blocks),
        "num_heads": getattr(attn, "h", None),
        "head_dim": getattr(attn, "hd", None),
        "n_tokens": getattr(snn, "n_tokens", None),
        "img_size": list(getattr(snn, "img_size", ())),
        "in_chans": getattr(snn, "in_chans", None),
        "num_classes": getattr(snn, "num_classes", None),
        "global_pool": getattr(snn, "global_pool", None),
        "layers": [[m.pname, m.kind, m.neuron, int(m.fan_in)] for m in snn.modules() if isinstance(m, Population)],
        "weights": [[name, list(t.shape)] for name, t in snn.state_dict().items()],
    }


def architecture_differences(saved: dict, current: dict, limit: int = 5) -> list[str]:
    """What differs between a saved :func:`architecture` and a model's (empty: they match)."""
    current = json.loads(json.dumps(current))   # tuples to lists, as it reads back from a file
    diffs = []
    for key, b in current.items():
        a = saved.get(key)
        if a == b:
            continue
        if key in ("layers", "weights"):
            a = a or []
            i = next((i for i, (u, v) in enumerate(zip(a, b)) if u != v), min(len(a), len(b)))
            u = a[i] if i < len(a) else "nothing"
            v = b[i] if i < len(b) else "nothing"
            diffs.append(f"{key} ({len(a)} saved, {len(b)} in this model; first difference at #{i}: "
                         f"saved {u}, this model {v})")
        else:
            diffs.append(f"{key} (saved {a!r}, this model {b!r})")
    return diffs[:limit]


def conversion_dict(snn: nn.Module) -> dict:
    """Ranges and timing of every layer, and the model's architecture, as saved beside the weights."""
    layers = {}
    for p in snn.populations():
        layers[p.pname] = {**p.range_dict(), "tau": 1.0 / p.d, "T_ref": p.window + p.b / p.d,
                           "T_emit": float(p.window), "T_end": float(p.window + 1), "window": p.window,
                           "neuron": p.neuron, "kind": p.kind}
    products = {m.y.pname: {"construction": m.construction, "r": m.r} for m in snn.modules() if isinstance(m, Product)}
    return {"format": "ttfs-symbolic conversion", "version": FORMAT_VERSION, "delta": 1.0,
            "softmax_max": snn.softmax_max, "calibration": getattr(snn, "calibration", {}),
            "source": getattr(snn, "source_name", ""), "architecture": architecture(snn), "layers": layers,
            "products": products, "residual": residual_mode(snn), "activations": _acts.activations_dict(snn),
            **({"weights_fingerprint": snn.weights_fingerprint} if getattr(snn, "weights_fingerprint", None) else {})}


def save_conversion(snn: nn.Module, path) -> Path:
    """Write the conversion (ranges and timing per layer) as JSON."""
    path = Path(path)
    path.write_text(json.dumps(conversion_dict(snn), indent=1))
    return path


def load_conversion(model, path, activations=None, *, force: bool = False, **timm_kwargs) -> nn.Module:
    """Rebuild a converted model from its ANN and a saved conversion JSON.

    The file must have been made for a model of the same architecture
    (:func:`architecture`): otherwise a ValueError names what differs.
    A file of format version 5 records the fingerprint of the weights it was
    calibrated for (:func:`weights_fingerprint`): loading it for other
    weights is refused, naming both fingerprints, since its ranges are those
    of other weights (the conversion would compute something else without a
    word). ``force=True`` loads it anyway, with a warning; it also loads a
    version 1 file, which records no architecture to check (refused without
    it). Files of versions 2-4 have no fingerprint and load with a warning.
    Each activation's formula recorded in the file (``activations``) must be
    the one registered now (registry or ``activations=``), and is checked
    against the module again. Per-channel and per-neuron ranges must have
    their layer's shape (:meth:`Population.fine_shape`): a ValueError names
    the layer and both shapes.
    """
    data = read_conversion(path)   # read, decoded and checked against the schema (ValueError naming the file)
    if data.get("format") != "ttfs-symbolic conversion":
        raise ValueError(f"{path} is not a ttfs-symbolic conversion file")
    if data.get("version", 1) > FORMAT_VERSION:
        raise ValueError(f"{path} has format version {data['version']}, newer than the {FORMAT_VERSION} this "
                         "version of ttfs-symbolic reads: update it")
    ann = resolve_model(model, **timm_kwargs)
    _acts.check_overrides_used(activations, ann)
    try:
        with _acts.overrides(activations):
            snn = build_spiking(ann, softmax_max=data.get("softmax_max", True))
    except UnsupportedModuleError as exc:
        saved = "; ".join(f"{k}: f = {v.get('expression')}" for k, v in (data.get("activations") or {}).items())
        raise ValueError(f"{path}: {exc}" + (f" (the file records {saved})" if saved else "")) from None
    _acts.check_saved_activations(data.get("activations"), snn, path)
    if "architecture" in data:   # version >= 2
        diffs = architecture_differences(data["architecture"], architecture(snn))
        if diffs:
            raise ValueError(f"{path} does not match this model: it was made for another architecture; "
                             "differs in " + "; ".join(diffs))
    else:   # version 1 (the schema refuses a later version without it): nothing to compare the model with
        _refuse_or_warn(force, f"{path} records no architecture (format version 1): it cannot be checked "
                               "against this model, whose width and depth may differ; convert again")
    _check_fingerprint(data, snn, path, force)
    pops = snn.populations()
    missing = [p.pname for p in pops if p.pname not in data["layers"]]
    if missing:
        raise ValueError(f"{path} does not match this model: no range for layer(s) {', '.join(missing[:5])}")
    products = data.get("products", {})
    for m in snn.modules():
        if isinstance(m, Product):   # files without "products" (version <= 2) used the paper's construction
            entry = products.get(m.y.pname, {"construction": "paper"})
            try:
                m.set_construction(entry.get("construction", "paper"), entry.get("r"))
            except ValueError as exc:
                raise ValueError(f"{path}: {m.y.pname}: {exc}") from None
    set_residual(snn, data.get("residual", "neuron"))   # files before version 4: residual neurons
    for p in pops:
        entry = data["layers"][p.pname]
        kind = entry.get("range_kind", "layer")
        if isinstance(entry["a"], list) and (kind not in ("channel", "neuron") or not p.fine_ok):
            raise ValueError(f"{path}: layer {p.pname} has a list of ranges, but "
                             + (f"range_kind {kind!r} (channel or neuron needed)" if p.fine_ok
                                else "its kind of layer takes one range"))
        p.set_range(entry["a"], entry["b"])
        p.range_kind = kind
        p.window = int(entry["window"])
    snn.calibration = data.get("calibration", {})
    snn.source_name = data.get("source", "")
    _check_fine_shapes(snn, path)
    _acts.check_activations(snn)
    return snn


def _refuse_or_warn(force: bool, message: str) -> None:
    """ValueError ``message`` (with how to override it), or with ``force`` the same as a warning."""
    if not force:
        raise ValueError(f"{message} (force=True, or --force, loads it anyway)")
    import warnings

    warnings.warn(f"{message}; loaded anyway (force)", UserWarning, stacklevel=3)


def _check_fingerprint(data: dict, snn: nn.Module, path, force: bool) -> None:
    """Refuse a file calibrated for other weights (format version 5); warn for a file without a fingerprint."""
    saved = data.get("weights_fingerprint")
    mine = getattr(snn, "weights_fingerprint", None)
    if saved is None:
        import warnings

        warnings.warn(f"{path} records no weights fingerprint (format version {data.get('version', 1)}): "
                      "that it was calibrated for these weights is not checked", UserWarning, stacklevel=3)
        return
    if saved != mine:
        _refuse_or_warn(force, f"{path} was calibrated for other weights (weights fingerprint {saved[:23]}, "
                               f"these weights {str(mine)[:23]}): its ranges do not hold for them; convert "
                               "again with this checkpoint")


def _check_fine_shapes(snn: nn.Module, path) -> None:
    """Per-channel / per-neuron ranges against their layers' shapes, now: one forward pass of a blank image.

    Image models only (their shapes are fixed by the image size); other
    families are checked at their first forward pass
    (:meth:`Population.bounds`), with the same ValueError.
    """
    pops = snn.populations()
    if not any(p.fine for p in pops) or not hasattr(snn, "check_images") or not hasattr(snn, "img_size"):
        return
    dev = next(iter(snn.parameters()), torch.empty(0)).device
    x = torch.zeros(1, int(snn.in_chans), *map(int, snn.img_size), dtype=torch.float64, device=dev)
    try:
        with torch.no_grad():
            snn._forward(x, Ctx(mode="exact"))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
