"""The conversion file: a calibrated spiking model saved as JSON and loaded onto the same source model.

:func:`save_conversion` writes every layer's range, window, code and the
product settings with the source model's architecture and weights
fingerprint; :func:`load_conversion` rebuilds the spiking model from the
source model, checks that the file was made for it (architecture, weights,
activations, per-channel shapes) and restores the calibration. The file's
fields are checked by :mod:`.schema` before anything is built.
"""
from __future__ import annotations

import ctypes
import json
import math
import warnings
from pathlib import Path

import torch
from torch import nn

from ..spiking import Ctx, Population, Product
from ..spiking.model import residual_mode, rsqrt_mode
from . import activations as _acts
from .convert import build_spiking, resolve_model, set_residual, set_rsqrt
from .errors import UnsupportedModuleError
from .schema import read_conversion

#: 5: the fingerprint of the weights the file was calibrated for ("weights_fingerprint",
#: :func:`weights_fingerprint`; checked on load, files before version 5 have none); each layer's
#: spike code ("code": "linear" or "log" with its "log_r"; files without it: linear); how
#: LayerNorm's rsqrt is formed ("rsqrt": "neuron" or "folded"); the calibration's preset and
#: precision (in "calibration").
#: 4: how the residual sums are carried ("residual": "neuron" or "synapses"; files without it: "neuron").
#: 3: per-channel / per-neuron ranges (a layer's a and b may be nested lists) and each
#: product's construction and shift ("products"); 2: the file records the source model's
#: architecture (checked on load); version 1 files (no architecture) still load, checked by
#: layer names only. Files without "products" were made with the paper's product construction.
FORMAT_VERSION = 5


#: architecture keys added after files were written without them: such a file is not checked on them
LATER_KEYS = ("norm_eps",)


def architecture(snn: nn.Module) -> dict:
    """What a conversion file must match: the structure of the spiking model built from its source.

    The spiking model's class, embedding width, depth, heads, tokens, image
    size, classes; every spiking layer (name, kind, neuron, fan-in) in the
    order the model registers them; every norm's eps; and the name and shape
    of every weight.
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
        # (not in the state dict, so not in the weights fingerprint: a LayerNorm eps changes what is computed)
        "norm_eps": [[name, float(m.eps)] for name, m in snn.named_modules()
                     if isinstance(getattr(m, "eps", None), (int, float))],
        "weights": [[name, list(t.shape)] for name, t in snn.state_dict().items()],
    }


def architecture_differences(saved: dict, current: dict, limit: int = 5) -> list[str]:
    """What differs between a saved :func:`architecture` and a model's (empty: they match)."""
    current = json.loads(json.dumps(current))   # tuples to lists, as it reads back from a file
    diffs = []
    for key, b in current.items():
        a = saved.get(key)
        if a == b or (key in LATER_KEYS and key not in saved):   # (a file written before the key was)
            continue
        if key in ("layers", "weights", "norm_eps"):
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
            "products": products, "residual": residual_mode(snn), "rsqrt": rsqrt_mode(snn),
            "activations": _acts.activations_dict(snn),
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
        snn.activation_overrides = dict(activations) if activations else None   # (the energy count reads them)
    except UnsupportedModuleError as exc:
        saved = "; ".join(f"{k}: f = {v.get('expression')}" for k, v in (data.get("activations") or {}).items())
        raise ValueError(f"{path}: {exc}" + (f" (the file records {saved})" if saved else "")) from None
    arch = architecture(snn)
    saved_arch = data.get("architecture") or {}
    if "architecture" in data and (saved_arch.get("model") != arch.get("model")
                                   or len(saved_arch.get("layers") or []) != len(arch.get("layers") or [])):
        # another family, depth or layer structure: named before its activations, which then differ too
        raise ValueError(f"{path} does not match this model: it was made for another architecture; differs in "
                         + "; ".join(architecture_differences(data["architecture"], arch)))
    _acts.check_saved_activations(data.get("activations"), snn, path)
    if "architecture" in data:   # version >= 2
        diffs = architecture_differences(data["architecture"], arch)
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
    calibrated = data.get("calibration") or {}
    for key in ("residual", "rsqrt"):   # the network's shape must be the one its ranges were calibrated for
        if key in data and calibrated.get(key) not in (None, data[key]):
            raise ValueError(f"{path}: {key} = {data[key]!r}, but its ranges were calibrated with {key} = "
                             f"{calibrated[key]!r}: the file was edited or is damaged; convert again with {key}="
                             f"{data[key]!r}")
    set_residual(snn, data.get("residual", "neuron"))   # files before version 4: residual neurons
    set_rsqrt(snn, data.get("rsqrt", "neuron"))          # files before version 5: rsqrt neurons
    for p in pops:
        entry = data["layers"][p.pname]
        kind = entry.get("range_kind", "layer")
        # (a range a construction derives from another layer's, range_fn, has that layer's shape)
        if isinstance(entry["a"], list) and p.range_fn is None and (kind not in ("channel", "neuron") or not p.fine_ok):
            raise ValueError(f"{path}: layer {p.pname} has a list of ranges, but "
                             + (f"range_kind {kind!r} (channel or neuron needed)" if p.fine_ok
                                else "its kind of layer takes one range"))
        p.set_range(entry["a"], entry["b"])
        p.set_code(entry.get("code", "linear"), entry.get("log_r"))
        p.range_kind = kind
        p.window = int(entry["window"])
    snn.calibration = data.get("calibration", {})
    snn.source_name = data.get("source", "")
    _check_fine_shapes(snn, path)   # (first: a range list of another length names its shape, not its tau)
    for p in pops:
        _check_timing(p, data["layers"][p.pname], path)
    windows = sorted(p.window for p in pops)
    if windows != list(range(1, len(pops) + 1)):
        raise ValueError(f"{path}: the layers' windows are not 1..{len(pops)}, one each (eq. 29), got "
                         f"{windows[:3]}...{windows[-3:]}: the file was edited or is damaged")
    _acts.check_activations(snn)
    return snn


def _check_timing(p: Population, entry: dict, path) -> None:
    """The file's tau, T_ref, T_emit and T_end of a layer as :func:`conversion_dict` derives them from its
    range and window (eq. 29): a reader of the file (a chip's configuration) takes them as they stand, so
    an edited or damaged value is refused rather than silently recomputed."""
    tau = 1.0 / p.d
    want = {"tau": tau, "T_ref": p.window + p.b * tau, "T_emit": float(p.window), "T_end": float(p.window + 1)}
    for key, v in want.items():
        got = entry.get(key)
        if got is None:
            continue
        if not (isinstance(got, (int, float)) and math.isclose(got, v, rel_tol=1e-9, abs_tol=1e-12)):
            raise ValueError(f"{path}: layer {p.pname}: {key} = {got!r}, but its range [{p.a:.6g}, {p.b:.6g}] and "
                             f"window {p.window} give {v!r} (eq. 29): the file was edited or is damaged")


def _refuse_or_warn(force: bool, message: str) -> None:
    """ValueError ``message`` (with how to override it), or with ``force`` the same as a warning."""
    if not force:
        raise ValueError(f"{message} (force=True, or --force, loads it anyway)")

    warnings.warn(f"{message}; loaded anyway (force)", UserWarning, stacklevel=3)


def _check_fingerprint(data: dict, snn: nn.Module, path, force: bool) -> None:
    """Refuse a file calibrated for other weights (format version 5); warn for a file without a fingerprint."""
    saved = data.get("weights_fingerprint")
    mine = getattr(snn, "weights_fingerprint", None)
    if saved is None:
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
    x = snn.blank_input() if any(p.fine for p in pops) else None
    if x is None:
        return
    try:
        with torch.no_grad():
            snn.run(x, Ctx(mode="exact"))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    finally:
        _return_freed_heap()


def _return_freed_heap() -> None:
    """Hand the heap that the check pass freed back to the system (glibc's ``malloc_trim``; elsewhere
    nothing): without it the process keeps it, and a ViT-S/16 with per-channel ranges stood 0.13 GiB
    higher after loading its conversion than the same model converted in the process."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):   # not glibc: its allocator keeps its own ways
        pass
