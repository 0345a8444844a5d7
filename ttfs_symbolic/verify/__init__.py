"""Property checks for TTFS neurons, the user's own included (hypothesis).

One call checks a neuron definition against the theorems it rests on::

    from ttfs_symbolic.verify import check_neuron
    report = check_neuron("gelu")            # a catalogue name, a NeuronDef or a TOML path
    print(report)                            # what was tried, what held, counterexamples
    assert report.passed

The checks (each a :class:`CheckResult`) run random examples drawn by
hypothesis, programmatically (``@given`` + ``settings``, called and its failure
caught), with ``database=None`` and no deadline; ``seed`` makes a run
reproducible, otherwise the loaded hypothesis profile decides (the ``ci``
profile derandomizes, docs/design.md):

1. **accumulated potential** (Theorem 4.1, eq. 8-9, proof eq. 30): random
   weights, 1..6 inputs, random values (including a, b and values outside
   [a, b], which the sender clips). The potential is rebuilt from the compiled
   *kernel eta alone*: ``(1/tau) int_0^{T_end - t_j} eta`` by
   ``scipy.integrate.quad`` in float64, split at eta's kinks
   (:func:`ttfs_symbolic.symbolic.derive.kinks`), plus ``d*C``; f is used only
   for the reference ``sum_j w_j f(x_j)`` (mpmath, 30 digits). Once with the
   derivation on the definition's ``range`` (:func:`check_input_transform`)
   and once with the range-generic kernel ``eta(s, a, tau)`` on random
   sub-ranges (:func:`check_input_kernel`), as the model layer uses it on
   calibrated ranges.
2. **clipping** (Theorem 4.3, eq. 14, 32, 35; :func:`check_output_transform`):
   potentials below ``g(a)``, inside, above ``g(b) = theta`` (g = h^-1).
   Exact mode emits ``clip(h(V), a, b)``; below g(a) there is no spike
   (``t = inf``), above theta the spike is exactly at ``T_emit``; for inside
   values the quadrature of the compiled psi from 0 to the spike time brings V
   to the derivation's theta (eq. 32).
3. **order and encoding** (eq. 7, :func:`check_order`): larger values never
   fire later (the sender's encoding, and the layer's output over increasing
   potentials, in every mode); one time per neuron, ``inf`` or inside
   ``[T_emit, T_end)``; decode(encode(x)) = clip(x, a, b). Run on the windows
   of layers 1 and 2 (T_emit = delta, 2 delta), so that time arithmetic with
   an offset is exercised.
4. **kernel convergence** (:func:`check_kernel_convergence`): kernel mode
   against exact mode on inputs on the sender's p-grid, for each p.
5. **max aggregate** (:func:`check_max_aggregate`, ``aggregate = "max"``
   only, in place of 1 and 4): the neuron fires one window after its earliest
   input, so it emits ``clip(max_j x_j, a, b)`` (Appendix C.2, layer 0).

A definition that cannot be derived raises the derivation's own error
(FormulaError, RangeError, DomainError, MonotonicityError, DefinitionError)
before any check runs.

The package: :mod:`.report` (:class:`CheckResult`, :class:`VerifyReport`, the
checks' names; no hypothesis), :mod:`.strategies` (hypothesis strategies and
the runner of one property), :mod:`.numbers` (float and mpmath helpers),
:mod:`.transforms` (checks 1 and 2), :mod:`.layers` (checks 3 to 5),
:mod:`.neuron` (:func:`check_neuron`) and :mod:`.broken` (the self-test's
corpus of broken neurons). Importing the package loads hypothesis only when a
check or a strategy is first asked for.
"""
from __future__ import annotations

import importlib

from .report import CLIPPING, KERNEL, MAX, ORDER, POTENTIAL, POTENTIAL_SUBRANGES, CheckResult, VerifyReport

__all__ = [
    "ranges",
    "subranges",
    "weights",
    "values_in",
    "CheckResult",
    "VerifyReport",
    "check_neuron",
    "check_input_transform",
    "check_input_kernel",
    "check_output_transform",
    "check_order",
    "check_kernel_convergence",
    "check_max_aggregate",
    "POTENTIAL",
    "POTENTIAL_SUBRANGES",
    "CLIPPING",
    "ORDER",
    "KERNEL",
    "MAX",
    "POTENTIAL_RTOL",
    "SILENT_RTOL",
    "PSI_RTOL",
    "TABLE_TICKS",
]

#: where each name that needs hypothesis lives (loaded on first use: importing the package for its report types
#: does not load hypothesis)
_LAZY = {
    "ranges": "strategies", "subranges": "strategies", "weights": "strategies", "values_in": "strategies",
    "check_neuron": "neuron",
    "check_input_transform": "transforms", "check_input_kernel": "transforms", "check_output_transform": "transforms",
    "POTENTIAL_RTOL": "transforms", "SILENT_RTOL": "transforms", "PSI_RTOL": "transforms",
    "check_order": "layers", "check_kernel_convergence": "layers", "check_max_aggregate": "layers",
    "TABLE_TICKS": "layers",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
