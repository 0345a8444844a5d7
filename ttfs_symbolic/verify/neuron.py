"""The whole neuron: :func:`check_neuron` runs every check that applies to a definition."""
from __future__ import annotations

from pathlib import Path

from ..catalogue import DefinitionError, NeuronDef, get, load_definition
from ..numeric.dynamics import LayerTiming, NeuronLayer
from .layers import check_kernel_convergence, check_max_aggregate, check_order
from .report import VerifyReport
from .strategies import check_examples, check_precisions
from .transforms import check_input_kernel, check_input_transform, check_output_transform


def _resolve(neuron) -> NeuronDef:
    if isinstance(neuron, NeuronDef):
        return neuron
    if isinstance(neuron, Path):
        return load_definition(neuron)
    if isinstance(neuron, str):
        if neuron.endswith(".toml") or "/" in neuron or "\\" in neuron or Path(neuron).is_file():
            return load_definition(neuron)
        try:
            return get(neuron)
        except KeyError as exc:
            raise DefinitionError(f"{exc.args[0]}; nor is there a definition file named {neuron!r}") from None
    raise DefinitionError(f"expected a NeuronDef, a catalogue name or a path to a TOML file, got "
                          f"{type(neuron).__name__} {neuron!r}")


def check_neuron(neuron, *, max_examples: int = 50, precisions=(64, 256, 1024, 4096),
                 seed: int | None = None) -> VerifyReport:
    """Property-check a neuron definition: a :class:`NeuronDef`, a catalogue name or a TOML path.

    Derives both transforms first (their errors propagate unchanged:
    FormulaError, RangeError, DomainError, MonotonicityError,
    DefinitionError), then runs, with ``max_examples`` examples each:
    accumulated potential on the range and on sub-ranges (Theorem 4.1),
    clipping (Theorem 4.3), order and encoding, kernel convergence for each
    p in ``precisions`` (the first two p also in the order check); for
    ``aggregate = "max"`` the max aggregate replaces the potential and kernel
    checks. ``seed`` makes the run reproducible.
    """
    nd = _resolve(neuron)
    check_examples(max_examples)
    precisions = check_precisions(precisions)
    it = nd.input_transform()
    ot = nd.output_transform()
    delta = float(nd.delta)
    params = nd.params or None
    s1 = LayerTiming.for_layer(1, *nd.range, delta)
    r2 = LayerTiming.for_layer(2, *nd.output_range, delta)
    layer12 = NeuronLayer(nd.f, nd.h, sender=s1, receiver=r2, params=params)
    results = []
    if nd.aggregate == "max":
        results.append(check_max_aggregate(LayerTiming.for_layer(0, *nd.range, delta),
                                           LayerTiming.for_layer(1, *nd.output_range, delta),
                                           max_examples=max_examples, seed=seed))
    else:
        results.append(check_input_transform(it, max_examples=max_examples, seed=seed))
        results.append(check_input_kernel(nd.f, *nd.range, delta, params, max_examples=max_examples, seed=seed))
    results.append(check_output_transform(ot, max_examples=max_examples, seed=seed))
    results.append(check_order(layer12, ot, precisions=sorted(precisions)[:2], max_examples=max_examples,
                               seed=seed))
    if nd.aggregate != "max":
        layer01 = NeuronLayer(nd.f, nd.h, sender=LayerTiming.for_layer(0, *nd.range, delta),
                              receiver=LayerTiming.for_layer(1, *nd.output_range, delta), params=params)
        results.append(check_kernel_convergence(layer01, precisions=precisions, max_examples=max_examples,
                                                seed=seed))
    where = f" ({nd.path})" if nd.path else ""
    desc = (f"f = {nd.f} on [{nd.range[0]:g}, {nd.range[1]:g}], h = {nd.h} on "
            f"[{nd.output_range[0]:g}, {nd.output_range[1]:g}], aggregate {nd.aggregate}{where}")
    return VerifyReport(nd.name, results, desc)
