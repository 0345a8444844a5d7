"""What a conversion file must hold before any of it is used (issue 12).

:func:`read_conversion` reads a conversion JSON (written by
:func:`ttfs_symbolic.conversion.fileformat.save_conversion`) and
:func:`validate_conversion` checks it against the schema below; every
problem is a ``ValueError`` that names the file and the first problem found,
in one line. Nothing of a file that fails is used, so a damaged or edited
file can never load as a model that silently computes something else (a
range with ``a >= b`` used to be replaced by a sliver without a word).

Schema (unknown extra keys are allowed at the top level, so newer writers
can add sections such as ``activations``):

* the top level is an object with ``"format": "ttfs-symbolic conversion"``;
  ``version`` (optional) a positive integer; ``delta`` (optional) a positive
  finite number; ``softmax_max`` (optional) a boolean; ``calibration``
  (optional) an object; ``source`` (optional) a string; ``architecture``
  (required from version 2 on) an object whose ``layers`` is a list of
  ``[name, kind, neuron, fan_in]``; ``weights_fingerprint`` (optional,
  version 5) ``"sha256:"`` and 64 hexadecimal digits;
* ``layers`` is a non-empty object: layer name (a non-empty string) ->
  object with ``a`` and ``b``: two finite numbers, or two (nested) lists of
  finite numbers of the same shape (per-neuron ranges, format version 3),
  with ``a < b`` (elementwise) and ``|a|, |b| <= 1e30``; ``window`` an
  integer in [1, 10**6]; ``range_kind`` layer, channel or neuron; ``tau``,
  ``T_ref``, ``T_emit``, ``T_end`` (optional) finite numbers or lists of
  them; ``neuron``, ``kind`` and ``range_kind`` (optional) strings; ``code``
  (optional, version 5) ``"linear"`` or ``"log"``, and with ``"log"`` a
  positive finite ``log_r``;
* ``products`` (optional): layer name -> object with a string
  ``construction`` and an ``r`` in (0, 100] (or null); ``activations``
  (optional) an object (checked by :mod:`ttfs_symbolic.conversion.activations`
  when the file is loaded: each entry an object with a string ``expression``);
  ``residual`` (optional, version 4) ``"neuron"`` or ``"synapses"``;
  ``rsqrt`` (optional, version 5) ``"neuron"`` or ``"folded"``;
* when ``architecture`` lists the layers, the names in ``layers`` are
  exactly those (the known layer names of the model it was made for; the
  model itself is compared with ``architecture`` by ``load_conversion``).

:func:`check_convert_args` validates the arguments of ``convert`` and
``calibrate`` before any work starts.
"""
from __future__ import annotations

import json
import math
import numbers
import re
from pathlib import Path

import numpy as np

from ..userfiles import MAX_JSON_BYTES, read_regular_file

__all__ = ["read_conversion", "validate_conversion", "check_convert_args", "FORMAT_NAME"]

FORMAT_NAME = "ttfs-symbolic conversion"
#: deepest nesting of a per-neuron range list accepted
MAX_RANGE_DEPTH = 6
#: largest |a|, |b| of a range (the float32 modes must hold the values and the width b - a:
#: the same bound as :data:`ttfs_symbolic.spiking.MAX_RANGE_ABS`)
MAX_RANGE_ABS = 1e30
#: largest window number (a model has far fewer layers)
MAX_WINDOW = 10 ** 6
#: the signed product's shift ratio r: the library chooses it in (0, 0.5]; a large r cancels digits
MAX_SHIFT_RATIO = 100.0
RANGE_KINDS = ("layer", "channel", "neuron")
_MAX_SHOWN = 80


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN - 3] + "..."


def read_conversion(path) -> dict:
    """The validated content of a conversion file; ValueError naming the file otherwise.

    Only an existing regular file of at most ``userfiles.MAX_JSON_BYTES`` is
    read (a FIFO or a device is refused before it is opened).
    """
    path = Path(path)
    raw = read_regular_file(path, "conversion file", MAX_JSON_BYTES)   # regular files only, size-limited
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a conversion file: not valid UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a conversion file: invalid JSON ({exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno})") from None
    except RecursionError:
        raise ValueError(f"{path}: not a conversion file: JSON nested too deeply") from None
    validate_conversion(data, path)
    return data


class _Problem(Exception):
    pass


def _finite(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _Problem(f"{where} must be a number, got {_show(value)}")
    try:
        v = float(value)
    except OverflowError:
        v = math.inf
    if not math.isfinite(v):
        raise _Problem(f"{where} must be finite, got {_show(value)}")
    return v


def _numbers(value, where: str, depth: int = 0):
    """A finite number (float), or a nested list of them (a float64 array); _Problem naming the first bad one."""
    if isinstance(value, list) and depth == 0:
        try:   # fast path for large per-neuron ranges
            arr = np.asarray(value)
        except (ValueError, TypeError, OverflowError):
            arr = None
        if arr is not None and arr.dtype.kind in "fiu" and 0 < arr.ndim <= MAX_RANGE_DEPTH and arr.size \
                and bool(np.isfinite(arr.astype(np.float64)).all()):
            return arr.astype(np.float64)
        _numbers_walk(value, where)   # raises with the first problem
        raise _Problem(f"{where} is not a finite number or a list of them")
    return _numbers_walk(value, where, depth)


def _numbers_walk(value, where: str, depth: int = 0):
    if isinstance(value, list):
        if depth >= MAX_RANGE_DEPTH:
            raise _Problem(f"{where} is nested deeper than {MAX_RANGE_DEPTH} lists")
        if not value:
            raise _Problem(f"{where} is an empty list")
        items = [_numbers_walk(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
        if len({_shape(v) for v in value}) > 1:
            raise _Problem(f"{where} is a ragged list")
        return items
    return _finite(value, where)


def _shape(value) -> tuple:
    if isinstance(value, list):
        inner = {_shape(v) for v in value}
        return (len(value), *inner.pop()) if len(inner) == 1 else (len(value), "ragged")
    return ()


def _check_range(name: str, entry: dict) -> None:
    where = f"layer {name!r}"
    for key in ("a", "b"):
        if key not in entry:
            raise _Problem(f"{where} has no {key!r}")
    a = _numbers(entry["a"], f"{where}: a")
    b = _numbers(entry["b"], f"{where}: b")
    for key, v in (("a", a), ("b", b)):
        big = float(np.max(np.abs(v))) if isinstance(v, np.ndarray) else abs(v)
        if big > MAX_RANGE_ABS:
            raise _Problem(f"{where}: {key} reaches {big:.3g}, beyond the +-{MAX_RANGE_ABS:g} a range may span")
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):   # per-neuron ranges: both lists, one shape
        sa, sb = np.shape(a), np.shape(b)
        if sa != sb:
            raise _Problem(f"{where}: a and b must have the same shape (per-neuron ranges), got {sa} and {sb}")
        bad = np.flatnonzero(~(np.asarray(a) < np.asarray(b)).reshape(-1))
        if bad.size:
            i = int(bad[0])
            lo, hi = float(np.asarray(a).reshape(-1)[i]), float(np.asarray(b).reshape(-1)[i])
            raise _Problem(f"{where}: empty range at neuron {i} ({bad.size} in all): need a < b, "
                           f"got [a, b] = [{lo!r}, {hi!r}]")
    elif not a < b:
        raise _Problem(f"{where}: empty range: need a < b, got [a, b] = [{a!r}, {b!r}]")


def _check_layer(name, entry) -> None:
    if not isinstance(name, str) or not name or len(name) > 200 or not name.isprintable():
        raise _Problem(f"layer name {_show(name)} is not a valid layer name")
    if not isinstance(entry, dict):
        raise _Problem(f"layer {name!r} must be an object, got {type(entry).__name__}")
    _check_range(name, entry)
    if "window" not in entry:
        raise _Problem(f"layer {name!r} has no 'window'")
    w = entry["window"]
    if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(float(w)) \
            or int(w) != w or not 1 <= w <= MAX_WINDOW:
        raise _Problem(f"layer {name!r}: window must be an integer in [1, {MAX_WINDOW}], got {_show(w)}")
    for key in ("tau", "T_ref", "T_emit", "T_end"):
        if key in entry:
            _numbers(entry[key], f"layer {name!r}: {key}")
    for key in ("neuron", "kind", "range_kind"):
        if key in entry and not isinstance(entry[key], str):
            raise _Problem(f"layer {name!r}: {key} must be a string, got {_show(entry[key])}")
    if entry.get("range_kind", "layer") not in RANGE_KINDS:
        raise _Problem(f"layer {name!r}: range_kind must be one of {', '.join(RANGE_KINDS)}, "
                       f"got {_show(entry['range_kind'])}")
    code = entry.get("code", "linear")
    if code not in ("linear", "log"):
        raise _Problem(f"layer {name!r}: code must be 'linear' or 'log', got {_show(code)}")
    if code == "log" and not _finite(entry.get("log_r"), f"layer {name!r}: log_r") > 0:
        raise _Problem(f"layer {name!r}: log_r must be positive, got {_show(entry.get('log_r'))}")


def _check(data) -> None:
    if not isinstance(data, dict):
        raise _Problem(f"the top level must be a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT_NAME:
        raise _Problem(f"not a ttfs-symbolic conversion file (format {_show(data.get('format'))}, "
                       f"expected {FORMAT_NAME!r})")
    if "version" in data:
        v = data["version"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise _Problem(f"version must be a positive integer, got {_show(v)}")
    if data.get("version", 1) >= 2 and "architecture" not in data:
        raise _Problem(f"format version {data['version']} records the model's architecture, but this file has "
                       "none (damaged or edited)")
    fp = data.get("weights_fingerprint")
    if fp is not None and not (isinstance(fp, str) and re.fullmatch(r"sha256:[0-9a-f]{64}", fp)):
        raise _Problem(f"weights_fingerprint must be 'sha256:' and 64 hex digits, got {_show(fp)}")
    if "delta" in data and not _finite(data["delta"], "delta") > 0:
        raise _Problem(f"delta must be positive, got {_show(data['delta'])}")
    for key, kind, label in (("softmax_max", bool, "a boolean"), ("calibration", dict, "an object"),
                             ("source", str, "a string"), ("architecture", dict, "an object"),
                             ("products", dict, "an object"), ("activations", dict, "an object"),
                             ("residual", str, "a string"), ("rsqrt", str, "a string")):
        if key in data and not isinstance(data[key], kind):
            raise _Problem(f"{key} must be {label}, got {_show(data[key])}")
    if data.get("residual", "neuron") not in ("neuron", "synapses"):
        raise _Problem(f"residual must be 'neuron' or 'synapses', got {_show(data['residual'])}")
    if data.get("rsqrt", "neuron") not in ("neuron", "folded"):
        raise _Problem(f"rsqrt must be 'neuron' or 'folded', got {_show(data['rsqrt'])}")
    layers = data.get("layers")
    if not isinstance(layers, dict) or not layers:
        raise _Problem("'layers' must be a non-empty object of layer name -> range"
                       + ("" if "layers" in data else " (there is none)"))
    for name, entry in layers.items():
        _check_layer(name, entry)
    for name, entry in (data.get("products") or {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("construction", ""), str):
            raise _Problem(f"products[{name!r}] must be an object with a string 'construction'")
        if entry.get("r") is not None and not 0 < _finite(entry["r"], f"products[{name!r}].r") <= MAX_SHIFT_RATIO:
            raise _Problem(f"products[{name!r}].r must be in (0, {MAX_SHIFT_RATIO:g}], got {_show(entry['r'])}")
    arch = data.get("architecture")
    if arch is not None and "layers" in arch:
        listed = arch["layers"]
        if not isinstance(listed, list) or not all(isinstance(r, list) and r and isinstance(r[0], str)
                                                   for r in listed):
            raise _Problem("architecture.layers must be a list of [name, kind, neuron, fan_in]")
        known = [r[0] for r in listed]
        unknown = [n for n in layers if n not in set(known)]
        if unknown:
            raise _Problem(f"layer {unknown[0]!r} is not a layer of the architecture it names "
                           f"({len(unknown)} unknown layer name(s))")
        missing = [n for n in known if n not in layers]
        if missing:
            raise _Problem(f"no range for layer {missing[0]!r} of its architecture ({len(missing)} missing)")


def validate_conversion(data, path) -> dict:
    """Check a conversion file's content against the schema (module docstring); return it.

    Raises ValueError ``"<path>: <first problem>"``.
    """
    try:
        _check(data)
    except _Problem as exc:
        raise ValueError(f"{path}: invalid conversion file: {exc}") from None
    except RecursionError:
        raise ValueError(f"{path}: invalid conversion file: nested too deeply") from None
    return data


def check_convert_args(batch_size=32, percentile=100.0, margin=0.0) -> None:
    """ValueError, before any work, for arguments of ``convert``/``calibrate`` that cannot work."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {_show(batch_size)}")
    for name, value in (("percentile", percentile), ("margin", margin)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {_show(value)}")
    if not 50.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (50, 100], got {percentile}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
