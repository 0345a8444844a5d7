"""The hypothesis side of the checks: strategies for ranges, weights and values, and the runner of one
property (``@given`` + ``settings``, called and its failure caught).
"""
from __future__ import annotations

import functools
import math
from typing import Callable

from hypothesis import HealthCheck, Phase, Verbosity, example, given, seed as _hyp_seed, settings, strategies as st
from hypothesis.errors import HypothesisException
from hypothesis.extra.numpy import arrays
from hypothesis.strategies import SearchStrategy
import numpy as np
import torch

from ..catalogue import DefinitionError
from ..symbolic.hypotheses import DomainError, MonotonicityError, RangeError
from ..symbolic.parse import FormulaError
from .report import CheckResult


#: errors of the definition itself: they propagate unchanged (never a failed check)
DEFINITION_ERRORS = (FormulaError, RangeError, DomainError, MonotonicityError, DefinitionError)


def finite_floats(lo, hi, **kw) -> SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False, **kw)


def ranges(min_width: float = 0.5, max_abs: float = 8.0) -> SearchStrategy[tuple[float, float]]:
    """Ranges ``(a, b)`` with ``b - a >= min_width`` and ``|a|, |b| <= max_abs``."""
    if not (min_width > 0 and math.isfinite(min_width)):
        raise ValueError(f"min_width must be a positive finite number, got {min_width!r}")
    if not (math.isfinite(max_abs) and 2 * max_abs >= min_width):
        raise ValueError(f"max_abs must be finite and at least min_width/2, got {max_abs!r}")

    def with_b(a):
        return finite_floats(a + min_width, max_abs).map(lambda b: (float(a), float(b)))

    return finite_floats(-max_abs, max_abs - min_width).flatmap(with_b).filter(lambda ab: ab[1] - ab[0] >= min_width)


def subranges(a: float, b: float, min_fraction: float = 0.25) -> SearchStrategy[tuple[float, float]]:
    """Sub-ranges ``(a', b')`` of ``[a, b]`` at least ``min_fraction`` as wide, ``[a, b]`` itself included."""
    a, b = float(a), float(b)
    if not a < b:
        raise ValueError(f"empty range: need a < b, got [{a}, {b}]")
    if not 0 < min_fraction <= 1:
        raise ValueError(f"min_fraction must be in (0, 1], got {min_fraction!r}")
    d = b - a
    free = 1.0 - min_fraction

    def build(u):
        lo_f, hi_f = u
        lo = a + d * lo_f * free
        hi = b - d * hi_f * (free - lo_f * free)
        return (lo, hi) if hi - lo >= min_fraction * d * (1 - 1e-12) else (a, b)

    inner = st.tuples(finite_floats(0.0, 1.0), finite_floats(0.0, 1.0)).map(build)
    return st.one_of(st.just((a, b)), inner)


def weights(n: int, max_abs: float = 2.0) -> SearchStrategy[np.ndarray]:
    """float64 weight vectors of length n, entries in ``[-max_abs, max_abs]`` (0 included)."""
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return arrays(np.float64, (int(n),), elements=finite_floats(-max_abs, max_abs))


def edge_values(a: float, b: float) -> list[float]:
    d = b - a
    return [a, b,
            float(np.nextafter(a, -np.inf)), float(np.nextafter(b, np.inf)),   # just outside
            float(np.nextafter(a, np.inf)), float(np.nextafter(b, -np.inf)),   # just inside
            a - d / 8, b + d / 8]


def values_in(a: float, b: float) -> SearchStrategy[float]:
    """Values for a range ``[a, b]``: a and b exactly, the floats just outside
    and just inside them (clipping, and the spike nearest to ``T_end``),
    values up to one width outside, and values inside."""
    a, b = float(a), float(b)
    if not (math.isfinite(a) and math.isfinite(b) and a < b):
        raise ValueError(f"values_in needs a finite range with a < b, got [{a}, {b}]")
    d = b - a
    return st.one_of(
        st.sampled_from(edge_values(a, b)),
        finite_floats(a, b),
        finite_floats(a - d, a, exclude_max=True),
        finite_floats(b, b + d, exclude_min=True),
    )


def _value_specs() -> SearchStrategy[tuple]:
    """Values for a range not yet known, as specs resolved by :func:`value_of`
    (the same mixture as :func:`values_in`, without ``flatmap``)."""
    return st.one_of(
        st.tuples(st.just("edge"), st.integers(0, 7)),
        st.tuples(st.just("in"), finite_floats(0.0, 1.0)),
        st.tuples(st.just("below"), finite_floats(0.0, 1.0, exclude_min=True)),
        st.tuples(st.just("above"), finite_floats(0.0, 1.0, exclude_min=True)),
    )


def value_of(spec, a: float, b: float) -> float:
    kind, u = spec
    d = b - a
    if kind == "edge":
        return edge_values(a, b)[u]
    if kind == "in":
        return min(max(a + u * d, a), b)
    if kind == "below":
        return a - u * d
    return b + u * d


#: explicit examples of (weight, value spec) pairs: every edge value of the range, and two values inside it
#: (at the edges the whole-window integral of eta can vanish, f(b) = f(a), and hide an eta off by a factor)
EDGE_PAIRS = ([(1.0, ("edge", i)) for i in range(4)], [(-0.5, ("edge", i)) for i in range(4, 8)],
               [(1.0, ("in", 0.3)), (-0.7, ("in", 0.85))])


def weight_value_pairs(max_n: int = 6) -> SearchStrategy[list]:
    """1..max_n (weight, value spec) pairs."""
    return st.lists(st.tuples(finite_floats(-2.0, 2.0), _value_specs()), min_size=1, max_size=max_n)



class PropertyFailure(AssertionError):
    """A property did not hold on one example."""

    def __init__(self, detail: str, counterexample: dict):
        super().__init__(detail)
        self.detail = detail
        self.counterexample = counterexample


def plain(value):
    """Counterexample values as plain Python (lists and floats), for printing."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()] if value.ndim else plain(value.item())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    return value


def _first_failure(exc: BaseException) -> PropertyFailure | None:
    if isinstance(exc, PropertyFailure):
        return exc
    for inner in getattr(exc, "exceptions", ()) or ():
        found = _first_failure(inner)
        if found is not None:
            return found
    cause = exc.__cause__ or exc.__context__
    return _first_failure(cause) if cause is not None and cause is not exc else None


class BadArgument(ValueError):
    """A bad argument to a check function (raised, not reported as a failed check)."""


def check_examples(max_examples) -> int:
    if isinstance(max_examples, bool) or int(max_examples) != max_examples or max_examples < 1:
        raise BadArgument(f"max_examples must be a positive integer, got {max_examples!r}")
    return int(max_examples)


def check_precisions(precisions) -> tuple[int, ...]:
    try:
        out = tuple(int(p) for p in precisions)
    except (TypeError, ValueError):
        raise BadArgument(f"precisions must be positive integers, got {precisions!r}") from None
    if not out or any(p < 1 for p in out) or any(p != q for p, q in zip(out, precisions)):
        raise BadArgument(f"precisions must be positive integers, got {precisions!r}")
    return out


def guarded(default_name: str):
    """Run a check function; an error of the numeric code while setting the check up (a kernel
    that cannot be compiled, a table that cannot be built) becomes a failed CheckResult naming it.
    Definition errors and bad arguments propagate."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            check_examples(kwargs.get("max_examples", 50))
            try:
                return fn(*args, **kwargs)
            except (BadArgument, *DEFINITION_ERRORS):
                raise
            except Exception as exc:  # noqa: BLE001  the code under test failed: that is the finding
                return CheckResult(kwargs.get("name", default_name), False, 0,
                                   f"could not set the check up: {type(exc).__name__}: {exc}", None)
        return run
    return wrap


def run_property(name: str, strategy: SearchStrategy, prop: Callable[[object], dict | None], *,
                 max_examples: int, seed: int | None, summary: Callable[[dict], str], examples=()) -> CheckResult:
    """Run ``prop`` on ``max_examples`` examples of ``strategy``; the first failure is reported (not shrunk).

    ``examples`` are run first, every time (``hypothesis.example``): the edges
    (a, b, the floats next to them), so that their failures do not depend on
    the seed.

    ``prop`` raises :class:`PropertyFailure` (or any exception: reported as a failure
    with its type and message) or returns measurements; the largest of each
    over all examples goes to ``CheckResult.measured``.
    """
    max_examples = check_examples(max_examples)
    state = {"tried": 0, "measured": {}}

    def body(drawn):
        state["tried"] += 1
        try:
            out = prop(drawn)
        except PropertyFailure:
            raise
        except Exception as exc:  # noqa: BLE001  any error of the code under test is a finding
            raise PropertyFailure(f"{type(exc).__name__}: {exc}", {"example": plain(drawn)}) from exc
        for key, value in (out or {}).items():
            old = state["measured"].get(key)
            state["measured"][key] = value if old is None else max(old, value)

    extra = {"derandomize": False} if seed is not None else {}
    test = given(strategy)(body)
    for ex in examples:
        test = example(ex)(test)
    # no shrink (or explain) phase: a failure is reported with the first counterexample found, so a
    # broken neuron fails fast (shrinking a quadrature-backed property ran for minutes under load)
    test = settings(max_examples=int(max_examples), database=None, deadline=None,
                    suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
                    phases=[Phase.explicit, Phase.generate], verbosity=Verbosity.quiet, **extra)(test)
    if seed is not None:
        test = _hyp_seed(seed)(test)
    try:
        test()
    except (PropertyFailure, HypothesisException, BaseExceptionGroup) as exc:  # noqa: F821 (3.11 builtin)
        failure = _first_failure(exc)
        if failure is None:
            return CheckResult(name, False, state["tried"], f"hypothesis could not run the check: {exc}", None)
        return CheckResult(name, False, state["tried"], failure.detail, failure.counterexample,
                           dict(state["measured"]))
    return CheckResult(name, True, state["tried"], summary(state["measured"]), None, dict(state["measured"]))
