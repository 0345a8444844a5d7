"""The call context of a forward pass (mode, precision, what is recorded) and the clipping checks.

Every forward call of a spiking model runs under one :class:`Ctx`; the
neurons driven outside their calibrated range are counted per layer and,
at the end of the call (:func:`finish_call`), recorded on the model and
warned about once (:class:`ClippingWarning`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

from torch import nn

from ..numeric import dynamics

#: how a forward call counts the neurons driven outside their range (``check_clipping=``):
#: ``full`` every neuron; ``sample`` every neuron where the count is free (the C loops count in
#: the pass that clips and rounds), every SAMPLE_EVERY-th row of each layer where it is not (the
#: torch loops: GPU, TTFS_NATIVE=0); ``off`` none (no count, no warning). The neurons clip in
#: every setting: only the count differs (docs/guide/precision.md, "Clipping checks").
CHECK_MODES = ("full", "sample", "off")
DEFAULT_CHECK = "full"
SAMPLE_EVERY = 8


@dataclass
class Ctx:
    """What one forward pass does: mode, time precision, and what it records.

    ``order`` (set for the calibration pass) collects the populations in the
    order in which they first emit: a layer emits only once the values of
    every layer it receives from exist, so this order is causal and Algorithm
    1 numbers the emitting windows by it (:func:`ttfs_symbolic.conversion.convert.calibrate`).
    ``check``: how out-of-range neurons are counted (:data:`CHECK_MODES`).
    """

    mode: str | None = None   # None: exact (refused with a precision: dynamics.check_mode)
    precision: int | None = None
    calibrating: bool = False
    record: bool = False
    order: list | None = None
    #: ids of the populations that run in ``mode``; the others run exact (the error budget)
    only: frozenset | None = None
    check: str = DEFAULT_CHECK

    def __post_init__(self):
        if self.check not in CHECK_MODES:
            raise ValueError(f"check_clipping must be one of {', '.join(CHECK_MODES)}, got {self.check!r}")
        if self.mode == "calibrate":
            # precision set: the precision-aware pass (convert.calibrate(..., precision=p)), in which every
            # calibrated layer passes on its values at time precision p as well as recording them
            self.calibrating = True
            if self.order is None:
                self.order = []
            if self.precision is not None:
                dynamics.check_mode("quantized", self.precision)
                self.precision = int(self.precision)
        else:
            self.mode = dynamics.check_mode(self.mode, self.precision)
            if self.precision is not None:
                self.precision = int(self.precision)
        self._noted: set[int] = set()
        #: populations driven outside their range in this call: name -> (clipped, neurons)
        self.clipped: dict[str, tuple[int, int]] = {}
        #: neurons whose range was checked in this call
        self.checked = 0
        #: whether some counts were made on a sample (check="sample" where counting is not free)
        self.sampled = False

    def add_check(self, name: str, clipped: int, neurons: int, checked: int | None = None):
        """Note that ``checked`` (default: all ``neurons``) neurons of layer ``name`` were checked and
        ``clipped`` of them were out of range; nothing when the check is off."""
        if self.check == "off":
            return
        self.checked += neurons if checked is None else checked
        if clipped:
            old = self.clipped.get(name, (0, 0))
            self.clipped[name] = (old[0] + clipped, old[1] + (neurons if checked is None else checked))

    def mode_for(self, pop: nn.Module) -> str:
        """The mode ``pop`` runs in: ``mode``, or ``exact`` when ``only`` leaves it out."""
        if self.only is None or id(pop) in self.only:
            return self.mode
        return "exact"

    def note(self, pop: nn.Module):
        """Record that ``pop`` emits now (first emission only; no-op unless ``order`` is set)."""
        if self.order is not None and id(pop) not in self._noted:
            self._noted.add(id(pop))
            self.order.append(pop)


#: lower-tail (and upper-tail) shares the error-optimal range may clip, per side
class ClippingWarning(UserWarning):
    """Inputs drove neurons outside their calibrated range: those neurons clipped (to a or b)."""


def make_ctx(model: nn.Module, mode: str | None, precision, record: bool = False, only=None,
             check: str = DEFAULT_CHECK) -> Ctx:
    """The context of one forward call; ``only``: names of the layers that run in ``mode`` (others exact);
    ``check``: how out-of-range neurons are counted (:data:`CHECK_MODES`)."""
    ids = None
    if only is not None:
        names = set(only)
        pops = {p.pname: p for p in model.populations()}
        unknown = sorted(names - set(pops))
        if unknown:
            raise ValueError(f"unknown layer name(s) in only=: {', '.join(unknown[:5])}")
        ids = frozenset(id(pops[n]) for n in names)
    return Ctx(mode=mode, precision=precision, record=record, only=ids, check=check)


def warn_clipping(clipped: int, checked: int, layers: dict, where: str, stacklevel: int = 7):
    """One :class:`ClippingWarning`: how many neurons clipped, the rate, the three worst layers."""
    worst = sorted(layers.items(), key=lambda kv: -kv[1])[:3]
    warnings.warn(
        f"{clipped} of {checked} neurons ({100 * clipped / max(checked, 1):.3g}%) were driven outside their "
        f"calibrated range and clipped in {where}; worst layers: "
        + ", ".join(f"{n} ({100 * r:.3g}%)" for n, r in worst)
        + ". Inputs unlike the calibration data, or rounding at finite p, moved values past the ranges: "
          "calibrate on more (or more typical) data or widen the ranges (convert(..., margin=0.1)).",
        ClippingWarning, stacklevel=stacklevel)


def finish_call(model: nn.Module, ctx: Ctx, warn: bool = True) -> dict:
    """Record (``model.last_clipping``) and warn once about the neurons this call drove out of range.

    Returns ``{"rate", "clipped", "checked", "layers": {name: rate}, "check", "sampled"}``;
    the warning (:class:`ClippingWarning`) names the rate and the worst layers. ``check`` is the
    call's ``check_clipping``; ``sampled``: whether some layers were counted on a sample only
    (``check_clipping="sample"`` where counting is not free): ``clipped`` and ``checked`` are then
    counts over the neurons checked, and ``rate`` an estimate. With ``"off"`` nothing is counted.
    """
    clipped = sum(c for c, _ in ctx.clipped.values())
    layers = {name: c / n for name, (c, n) in ctx.clipped.items()}
    info = {"rate": clipped / ctx.checked if ctx.checked else 0.0, "clipped": clipped, "checked": ctx.checked,
            "layers": layers, "check": ctx.check, "sampled": ctx.sampled}
    model.last_clipping = info
    if warn and clipped:
        warn_clipping(clipped, ctx.checked, layers, f"this {ctx.mode} call")
    return info
