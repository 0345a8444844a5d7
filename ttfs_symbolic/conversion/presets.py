"""The converter's presets: named settings of the whole conversion (no imports: read by the converter,
the energy count and the command line alike).

``accurate`` (the default) is the most accurate network this library builds
for a family: signed products, per-channel ranges (per head for attention
scores), residual sums carried by synapses, the rsqrt of LayerNorm folded
into the product's synapses, each layer's spike code chosen for least
rounding error (linear or log), ranges checked against a held-out fifth of
the calibration data and given headroom 2 at their log-coded far ends.
LayerNorm's variance ends at its calibrated upper end (``variance_end``), capped
at the bound the network proves.
``paper`` is the paper's network exactly (Table 2's counts): the paper's
product, one range per layer, residual and rsqrt neurons, linear codes.
docs/guide/precision.md measures both on real pretrained models.
"""
from __future__ import annotations

PRESETS = {
    "paper": {"product": "paper", "range_kind": "layer", "residual": "neuron", "rsqrt": "neuron",
              "codes": "linear", "holdout": 0.0, "sigmas": 6.0, "headroom": 1.0, "variance_end": "bound"},
    "accurate": {"product": "signed", "range_kind": "channel", "residual": "synapses", "rsqrt": "folded",
                 "codes": "auto", "holdout": 0.2, "sigmas": 6.0, "headroom": 2.0, "variance_end": "calibrated"},
}
DEFAULT_PRESET = "accurate"

#: the settings that change the network's structure, and so its neuron and operation counts
STRUCTURE = ("product", "residual", "rsqrt")


def counted_preset(preset: str | None, **structure) -> str | None:
    """The preset an energy count states: ``preset`` as given, else the one whose network ``structure``
    (:data:`STRUCTURE`'s settings) is, the only thing a count depends on (None: no preset's)."""
    if preset is not None:
        return preset
    return next((name for name, cfg in PRESETS.items() if all(cfg[k] == structure.get(k) for k in STRUCTURE)), None)


def check_preset(preset: str) -> dict:
    """The settings of ``preset``; ValueError naming the choices for an unknown one."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return dict(PRESETS[preset])


def describe(config: dict) -> str:
    """One line: ``preset accurate (product signed, range_kind channel, ...)`` from a configuration dict."""
    rest = ", ".join(f"{k} {v}" for k, v in config.items() if k != "preset" and v is not None)
    return f"preset {config.get('preset') or 'custom'} ({rest})"
