"""The hostile-input corpus of issue 12, shared by the tests of every entry point.

Each list holds ``(id, input, pattern)``: the input a hostile or careless
user might give and a regular expression the one-line error (or warning)
must match. The tests in ``tests/test_hostile_*.py`` run every entry in a
list through every entry point that takes that kind of input; a new entry
point is covered by adding it to the test's ``ENTRY_POINTS``, a new attack
by adding a row here.
"""
from __future__ import annotations

import math

import torch

# --------------------------------------------------------------- formulas and ranges
# (id, formula, a, b, pattern): derive_input(f, a, b) and derive_output(h, a, b) refuse
BAD_FORMULAS = [
    ("import", "__import__('os').system('true')", -1, 1, r"only whitelisted|not allowed|unknown"),
    ("attribute", "x.__class__", -1, 1, r"attribute access"),
    ("lambda", "(lambda: 1)()", -1, 1, r"lambda|not allowed|call"),
    ("caret", "x^2", -1, 1, r"\*\*"),
    ("huge-power", "9**9**9", -1, 1, r"too large|power|bits"),
    ("empty", "", -1, 1, r"empty|formula"),
    ("unknown-function", "gamma(x)", -1, 1, r"unknown function"),
    ("heaviside", "Heaviside(x)", -1, 1, r"jump|Heaviside"),
    ("sign", "sign(x)", -1, 1, r"jump|sign"),
    ("heaviside-in-sum", "x + Heaviside(x)", -1, 2, r"jump|Heaviside"),
]
# (id, a, b, pattern): a range no derivation can use, for the formula "x"
BAD_RANGES = [
    ("reversed", 1, -1, r"a < b"),
    ("empty", 1, 1, r"a < b"),
    ("nan", float("nan"), 1, r"finite|number|nan"),
    ("inf", 0, math.inf, r"finite|number|inf"),
    ("huge", -1e308, 1e308, r"float64"),
    ("tiny-width", 1.0, 1.0 + 1e-300, r"a < b|float64|width"),
]
# (id, formula, a, b, pattern) that derive_input refuses because its compiled kernels overflow float64
OVERFLOWING_INPUT = [
    ("exp-800", "exp(x)", 0, 800, r"overflows float64.*\[0, 709"),
    ("exp-neg", "exp(-x)", -800, 0, r"overflows float64.*\[-709"),
]

# --------------------------------------------------------------- conversion files
# (id, how to damage the good file's dict or bytes, pattern); the loader must name the file in one line


def _set_layer(key, value, which=0):
    def damage(d):
        name = list(d["layers"])[which]
        d["layers"][name][key] = value
        return d
    return damage


def _collapse(d):
    name = next(iter(d["layers"]))
    d["layers"][name]["a"] = d["layers"][name]["b"]
    return d


def _swap(d):
    name = next(iter(d["layers"]))
    e = d["layers"][name]
    e["a"], e["b"] = e["b"] + 1.0, e["a"]
    return d


def _extra_layer(d):
    d["layers"]["not_a_layer"] = dict(next(iter(d["layers"].values())))
    return d


def _per_neuron(a, b):
    def damage(d):
        name = next(iter(d["layers"]))
        d["layers"][name]["a"], d["layers"][name]["b"] = a, b
        return d
    return damage


def _drop(key):
    def damage(d):
        d.pop(key)
        return d
    return damage


BAD_CONVERSIONS = [
    ("list", b"[1, 2, 3]", r"JSON object"),
    ("null", b"null", r"JSON object"),
    ("empty-file", b"", r"invalid JSON"),
    ("truncated", lambda raw: raw[: len(raw) // 2], r"invalid JSON"),
    ("deep-nesting", b"[" * 100_000, r"nested too deeply"),
    ("invalid-utf8", b'{"format": "\xff\xfe"}', r"UTF-8"),
    ("no-layers", _drop("layers"), r"'layers'"),
    ("no-format", _drop("format"), r"not a ttfs-symbolic conversion"),
    ("a-equals-b", _collapse, r"empty range"),
    ("a-above-b", _swap, r"empty range"),
    ("a-nan", _set_layer("a", float("nan")), r"finite"),
    ("b-inf", _set_layer("b", float("inf")), r"finite"),
    ("a-string", _set_layer("a", "0"), r"must be a number"),
    ("a-bool", _set_layer("a", True), r"must be a number"),
    ("window-zero", _set_layer("window", 0), r"window"),
    ("window-string", _set_layer("window", "1"), r"window"),
    ("unknown-layer", _extra_layer, r"not a layer"),
    ("layers-list", lambda d: {**d, "layers": [1]}, r"'layers'"),
    ("per-neuron-list-against-number", _set_layer("a", [0.0, 5.0]), r"same shape"),
    ("per-neuron-a-above-b", _per_neuron([0.0, 5.0], [1.0, 2.0]), r"empty range at neuron 1"),
    ("per-neuron-shapes", _per_neuron([0.0, 1.0], [[1.0, 2.0]]), r"same shape"),
    ("per-neuron-nan", _per_neuron([0.0, float("nan")], [1.0, 2.0]), r"finite"),
    ("products-list", lambda d: {**d, "products": [1]}, r"products"),
    ("activations-list", lambda d: {**d, "activations": [1]}, r"activations"),
    ("ragged", _set_layer("a", [[0.0], [0.0, 1.0]]), r"ragged"),
]

# --------------------------------------------------------------- images and call arguments
# (id, make(good_images) -> images, pattern, exception type)
BAD_IMAGES = [
    ("none", lambda x: None, r"tensor", TypeError),
    ("string", lambda x: "images.png", r"tensor", TypeError),
    ("list", lambda x: [[1.0]], r"Tensor", TypeError),
    ("int32", lambda x: (x * 100).to(torch.int32), r"floating point", ValueError),
    ("uint8-raw-pixels", lambda x: (x.clamp(0, 1) * 255).to(torch.uint8), r"floating point", ValueError),
    ("bool", lambda x: x > 0, r"floating point", ValueError),
    ("complex", lambda x: x.to(torch.complex64), r"floating point", ValueError),
    ("inf", lambda x: x.index_put((torch.tensor([0]),), torch.tensor(math.inf)), r"inf", ValueError),
    ("minus-inf", lambda x: torch.where(x > 1.5, -math.inf, x), r"inf", ValueError),
    ("nan", lambda x: torch.where(x > 1.5, math.nan, x), r"NaN", ValueError),
    ("3d", lambda x: x[0], r"shape", ValueError),
    ("channels", lambda x: x[:, :2], r"shape", ValueError),
    ("size", lambda x: x[..., :16, :16], r"shape", ValueError),
]
# (id, keyword arguments of snn(...), pattern)
BAD_CALL_ARGS = [
    ("dtype-int32", dict(dtype=torch.int32), r"floating torch dtype"),
    ("dtype-string", dict(dtype="float32"), r"floating torch dtype"),
    ("precision-nan", dict(mode="quantized", precision=float("nan")), r"positive integer"),
    ("precision-inf", dict(mode="kernel", precision=float("inf")), r"positive integer"),
    ("precision-zero", dict(mode="quantized", precision=0), r"positive integer"),
    ("precision-fraction", dict(mode="quantized", precision=2.5), r"positive integer"),
    ("precision-bool", dict(mode="quantized", precision=True), r"positive integer"),
    ("precision-string", dict(mode="quantized", precision="8"), r"positive integer"),
    ("mode", dict(mode="fast"), r"unknown mode"),
]
# (id, keyword arguments of convert(...), pattern)
BAD_CONVERT_ARGS = [
    ("batch-zero", dict(batch_size=0), r"batch_size"),
    ("batch-negative", dict(batch_size=-3), r"batch_size"),
    ("batch-float", dict(batch_size=2.5), r"batch_size"),
    ("percentile-nan", dict(percentile=float("nan")), r"percentile"),
    ("margin-nan", dict(margin=float("nan")), r"margin"),
    ("margin-negative", dict(margin=-0.1), r"margin"),
]
