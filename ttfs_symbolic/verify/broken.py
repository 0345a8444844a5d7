"""A corpus of broken neurons: the checker's self-test.

Each entry is a neuron a user (or a maintainer) could get wrong: a kernel or
constant off by a little or by a lot, a wrong threshold, a window or an
encoding with an off-by-one, a neuron that fires twice. Each must be
rejected by :mod:`ttfs_symbolic.verify`, by the check that names its fault;
every check of ``verify`` is reached by at least one entry. Entries that
alter a derivation's kernel or constant also carry the proof record of the
altered derivation (:func:`ttfs_symbolic.symbolic.derive.prove_input`,
:func:`~ttfs_symbolic.symbolic.derive.prove_output`), which must say FAILS.

Use it to check the checker (after changing verify's tolerances, or on a new
platform)::

    from ttfs_symbolic.verify.broken import self_test
    report = self_test()          # every entry rejected by its check?
    print(report)
    assert report.passed

or ``python -m ttfs_symbolic.verify.broken``. Adding a check to ``verify`` means
adding an entry here that only it catches.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import sympy
import torch

# the checks are looked up on the package at call time, so that a test can disable one (tests/cli/test_cli_self_test.py)
from .. import verify
from ..numeric.dynamics import LayerTiming, NeuronLayer
from ..numeric.kernels import A_SYM, TAU_SYM, InputKernel, OutputKernel
from ..symbolic.parse import S, X, Y
from ..symbolic.theorem_4_1 import derive_input, prove_input
from ..symbolic.theorem_4_3 import derive_output, prove_output

__all__ = ["BrokenNeuron", "CORPUS", "NAMES", "WITH_PROOF", "SelfTestReport", "self_test"]

R = sympy.Rational

#: the neurons broken here: f = x**2 on the sender's range, h = exp on the receiver's range
F, A_IN, B_IN = "x**2", -3, 3
H, A_OUT, B_OUT = "exp(x)", R(1, 2), 2
DELTA = 1


@dataclass(frozen=True)
class BrokenNeuron:
    """One broken neuron: what is wrong, which verify check must reject it, and how to run that check.

    ``run(max_examples, seed)`` returns the :class:`~ttfs_symbolic.verify.CheckResult`;
    ``check`` is the name it must carry and ``words`` a phrase its detail must
    contain (the fault, named). ``proof`` (when the fault is in a derivation's
    kernel or constant) returns the proof record of the broken derivation.
    """

    name: str
    fault: str
    check: str
    words: str
    run: Callable[[int, int | None], verify.CheckResult]
    proof: Callable[[], object] | None = None


# --------------------------------------------------------------------------
# ingredients
# --------------------------------------------------------------------------

def _it():
    return derive_input(F, A_IN, B_IN, DELTA)


def _ot():
    return derive_output(H, A_OUT, B_OUT, DELTA)


def _input(**changes):
    return dataclasses.replace(_it(), **changes)


def _output(**changes):
    return dataclasses.replace(_ot(), **changes)


def _input_proof(**changes):
    def proof():
        it = _input(**changes)
        return prove_input(it.f, it.eta, it.const, it.a, it.b, it.delta)
    return proof


def _output_proof(**changes):
    def proof():
        ot = _output(**changes)
        return prove_output(ot.h, ot.psi, ot.theta, ot.theta_low, ot.a, ot.b, ot.delta, inverse=ot.inverse,
                            monotonicity=ot.monotonicity)
    return proof


def _sender():
    return LayerTiming.for_layer(1, float(A_IN), float(B_IN), float(DELTA))


def _receiver():
    return LayerTiming.for_layer(2, float(A_OUT), float(B_OUT), float(DELTA))


class _FixedRangeKernel(InputKernel):
    """eta written with the definition's range as constants: f'(s/tau0 + a0), right on [a0, b0] only."""

    def __init__(self, f, a0, b0, delta):
        super().__init__(f)
        self.eta_general = self.fprime.subs(X, S * (b0 - a0) / delta + a0) + 0 * (A_SYM + TAU_SYM)


class _NoOffsetKernel(InputKernel):
    """eta = f'(s/tau), the '+ a' of eq. 8 forgotten."""

    def __init__(self, f):
        super().__init__(f)
        self.eta_general = self.fprime.subs(X, S / TAU_SYM) + 0 * A_SYM


class _ScaledPsiKernel(OutputKernel):
    """psi off by a constant factor (the output table is built from psi)."""

    factor = 1.0

    def psi(self, s, b, tau):
        return super().psi(s, b, tau) * self.factor


def _layer(out_factor: float | None = None, in_kernel: InputKernel | None = None, sender=None, receiver=None,
           cls=NeuronLayer):
    layer = cls(F, H, sender=sender or _sender(), receiver=receiver or _receiver())
    if in_kernel is not None:
        layer.in_kernel = in_kernel
    if out_factor is not None:
        k = _ScaledPsiKernel.from_transform(layer.output)
        k.factor = out_factor
        layer.out_kernel = k
    return layer


def _layer01(**kw):
    s = LayerTiming.for_layer(0, float(A_IN), float(B_IN), float(DELTA))
    r = LayerTiming.for_layer(1, float(A_OUT), float(B_OUT), float(DELTA))
    return _layer(sender=s, receiver=r, **kw)


# encodings a user could write (LayerTiming subclasses)

@dataclass(frozen=True)
class _ReversedBatchTiming(LayerTiming):
    """A batch's spike times returned in reverse order (a vectorisation slip): larger values fire later."""

    def encode(self, x):
        return super().encode(x).flip(-1)


@dataclass(frozen=True)
class _LastTickTiming(LayerTiming):
    """Value a fires in the last instant of the window instead of staying silent."""

    def encode(self, x):
        t = super().encode(x)
        return torch.where(torch.isfinite(t), t, torch.full_like(t, self.T_end - 1e-6 * self.delta))


@dataclass(frozen=True)
class _LateTopTiming(LayerTiming):
    """Value b (the upper clip) fires one tick of p = 1e6 after T_emit."""

    def encode(self, x):
        t = super().encode(x)
        return torch.where(t == self.T_emit, t + 1e-6 * self.delta, t)


@dataclass(frozen=True)
class _OffByOneTickTiming(LayerTiming):
    """Decoding shifted by one tick of p = 1e6 (an encoder/decoder off-by-one)."""

    def decode(self, t):
        return super().decode(t) + 1e-6 * self.d


def _encoding_layer(cls):
    s = _sender()
    broken = cls(s.a, s.b, s.delta, s.T_emit)
    return _layer(sender=broken)


# layers a user could write (NeuronLayer subclasses)

class _TwiceLayer(NeuronLayer):
    """Fires a second spike (a reset that lets the potential cross theta again)."""

    def __call__(self, times, weight, bias=None, mode="exact", precision=None):
        t = super().__call__(times, weight, bias, mode, precision)
        return torch.cat([t, t], dim=-1)


class _DecreasingLayer(NeuronLayer):
    """Emits a + b - clip(h(V)): a larger potential gives a smaller value (h decreasing, or psi < 0)."""

    def emit(self, V, mode="exact", precision=None):
        r = self.receiver
        return r.a + r.b - super().emit(V, mode, precision)


class _WrongWindowLayer(NeuronLayer):
    """Emits in the sender's window (the one-window delay between layers forgotten)."""

    def __call__(self, times, weight, bias=None, mode="exact", precision=None):
        return self.sender.encode(self.emit(self.potential(times, weight, bias, mode, precision), mode, precision))


class _NaNLayer(NeuronLayer):
    """A silent neuron reported as NaN instead of t = inf (0/0 below theta_low)."""

    def __call__(self, times, weight, bias=None, mode="exact", precision=None):
        t = super().__call__(times, weight, bias, mode, precision)
        return torch.where(torch.isinf(t), torch.full_like(t, math.nan), t)


class _LateDecodeLayer(NeuronLayer):
    """Spikes one tick of p = 1e6 late: the spike time no longer decodes to the emitted value."""

    def __call__(self, times, weight, bias=None, mode="exact", precision=None):
        t = super().__call__(times, weight, bias, mode, precision)
        late = t + 1e-6 * self.receiver.delta
        return torch.where(torch.isfinite(t) & (late < self.receiver.T_end), late, t)


# --------------------------------------------------------------------------
# the corpus
# --------------------------------------------------------------------------

def _potential(**changes):
    return lambda n, seed: verify.check_input_transform(_input(**changes), max_examples=n, seed=seed)


def _clipping(**changes):
    return lambda n, seed: verify.check_output_transform(_output(**changes), max_examples=n, seed=seed)


def _order(layer_fn):
    return lambda n, seed: verify.check_order(layer_fn(), _ot(), precisions=(64,), max_examples=n, seed=seed)


def _kernel(layer_fn):
    return lambda n, seed: verify.check_kernel_convergence(layer_fn(), precisions=(64, 256), max_examples=n,
                                                           seed=seed)


def _corpus() -> list[BrokenNeuron]:
    it, ot = _it(), _ot()
    P, SUB, CL, OR, KE, MX = (verify.POTENTIAL, verify.POTENTIAL_SUBRANGES, verify.CLIPPING, verify.ORDER,
                              verify.KERNEL, verify.MAX)
    eta_small = it.eta * (1 + R(1, 10**6))
    c_small = it.const * (1 + R(1, 10**9))
    c_times_d = it.f_a * it.d
    eta_recv = it.derivative.subs(X, S / ot.tau + it.a)   # the receiver's tau in eta (NOTES: the sender's)
    psi_small = ot.psi * (1 + R(1, 10**6))
    psi_no_tau = ot.psi * ot.tau
    theta_at_a = ot.inverse.subs(Y, ot.a)
    low_wrong = ot.theta_low + (ot.theta - ot.theta_low) / 10
    return [
        BrokenNeuron("eta_off_1e-6", "eta off by 1e-6 relative", P, "relative error",
                     _potential(eta=eta_small), _input_proof(eta=eta_small)),
        BrokenNeuron("eta_receiver_tau", "eta with the receiver's tau instead of the sender's", P, "relative error",
                     _potential(eta=eta_recv), _input_proof(eta=eta_recv)),
        BrokenNeuron("C_off_1e-9", "C off by 1e-9 relative", P, "silent input",
                     _potential(const=c_small), _input_proof(const=c_small)),
        BrokenNeuron("C_times_d", "C = f(a) d instead of f(a)/d", P, "silent input",
                     _potential(const=c_times_d), _input_proof(const=c_times_d)),
        BrokenNeuron("eta_fixed_range", "eta written with the definition's range as constants (right on the "
                     "full range only)", SUB, "relative error",
                     lambda n, seed: verify.check_input_kernel(
                         F, A_IN, B_IN, DELTA, max_examples=n, seed=seed,
                         kernel=_FixedRangeKernel(sympy.sympify(X**2), A_IN, B_IN, DELTA))),
        BrokenNeuron("psi_off_1e-6", "psi off by a factor 1 + 1e-6", CL, "eq. 32",
                     _clipping(psi=psi_small), _output_proof(psi=psi_small)),
        BrokenNeuron("psi_without_1_over_tau", "psi without its 1/tau factor", CL, "eq. 32",
                     _clipping(psi=psi_no_tau), _output_proof(psi=psi_no_tau)),
        BrokenNeuron("theta_at_a", "theta = h^-1(a) instead of h^-1(b)", CL, "theta",
                     _clipping(theta=theta_at_a), _output_proof(theta=theta_at_a)),
        BrokenNeuron("theta_low_wrong", "h^-1(a) (the lower clip's potential) too high", CL, "below g(a)",
                     _clipping(theta_low=low_wrong), _output_proof(theta_low=low_wrong)),
        BrokenNeuron("larger_fires_later", "a batch's spike times in reverse order: larger values fire later", OR,
                     "larger value fires later", _order(lambda: _encoding_layer(_ReversedBatchTiming))),
        BrokenNeuron("silent_fires", "value a fires at the end of the window instead of staying silent", OR,
                     "must be silent", _order(lambda: _encoding_layer(_LastTickTiming))),
        BrokenNeuron("top_late", "value b fires after T_emit", OR, "exactly at T_emit",
                     _order(lambda: _encoding_layer(_LateTopTiming))),
        BrokenNeuron("decode_off_one_tick", "decode off by one tick (p = 1e6)", OR, "decode(encode(x))",
                     _order(lambda: _encoding_layer(_OffByOneTickTiming))),
        BrokenNeuron("fires_twice", "a neuron that fires twice", OR, "one time per neuron",
                     _order(lambda: _layer(cls=_TwiceLayer))),
        BrokenNeuron("decreasing_output", "a larger potential gives a smaller value", OR,
                     "larger potential fires later", _order(lambda: _layer(cls=_DecreasingLayer))),
        BrokenNeuron("wrong_window", "emits in the sender's window", OR, "outside the receiver's window",
                     _order(lambda: _layer(cls=_WrongWindowLayer))),
        BrokenNeuron("nan_for_silent", "a silent neuron reported as NaN", OR, "NaN",
                     _order(lambda: _layer(cls=_NaNLayer))),
        BrokenNeuron("spike_one_tick_late", "the output spike one tick (p = 1e6) late", OR, "differs from the emitted",
                     _order(lambda: _layer(cls=_LateDecodeLayer))),
        BrokenNeuron("kernel_psi_off_1e-3", "the psi table of kernel mode off by 1e-3 relative", KE, "psi table",
                     _kernel(lambda: _layer01(out_factor=1 + 1e-3))),
        BrokenNeuron("kernel_eta_no_offset", "kernel mode's eta without the '+ a' of eq. 8", KE, "input table",
                     _kernel(lambda: _layer01(in_kernel=_NoOffsetKernel(sympy.sympify(X**2))))),
        BrokenNeuron("max_other_range", "a max neuron whose output range differs from its input range", MX,
                     "clip(max_j x_j, a, b)",
                     lambda n, seed: verify.check_max_aggregate(
                         LayerTiming.for_layer(0, -2.0, 2.0), LayerTiming.for_layer(1, -1.0, 3.0),
                         max_examples=n, seed=seed)),
    ]


#: the corpus' names, known without building it (building derives the neurons)
NAMES = ("eta_off_1e-6", "eta_receiver_tau", "C_off_1e-9", "C_times_d", "eta_fixed_range", "psi_off_1e-6",
         "psi_without_1_over_tau", "theta_at_a", "theta_low_wrong", "larger_fires_later", "silent_fires", "top_late",
         "decode_off_one_tick", "fires_twice", "decreasing_output", "wrong_window", "nan_for_silent",
         "spike_one_tick_late", "kernel_psi_off_1e-3", "kernel_eta_no_offset", "max_other_range")
#: those whose fault is in a derivation's kernel or constant (they carry a proof record)
WITH_PROOF = NAMES[:4] + NAMES[5:9]


class _Corpus:
    def __init__(self):
        self._items = None

    def _load(self):
        if self._items is None:
            self._items = _corpus()
        return self._items

    def __iter__(self):
        return iter(self._load())

    def __len__(self):
        return len(self._load())

    def __getitem__(self, name):
        for item in self._load():
            if item.name == name:
                return item
        raise KeyError(f"no broken neuron {name!r}; the corpus has {', '.join(i.name for i in self._load())}")


#: every broken neuron (built on first use: the derivations take a moment)
CORPUS = _Corpus()


@dataclass
class SelfTestReport:
    """Per entry: (entry, the check's result, rejected by the right check?, proof record says FAILS?)."""

    rows: list

    @property
    def passed(self) -> bool:
        return all(ok and proof_ok is not False for _, _, ok, proof_ok in self.rows)

    def __str__(self) -> str:
        lines = [f"{'broken neuron':<24} {'expected check':<34} {'rejected':<9} {'proof':<6} detail",
                 f"{'-' * 24} {'-' * 34} {'-' * 9} {'-' * 6} ------"]
        for entry, result, ok, proof_ok in self.rows:
            proof = "-" if proof_ok is None else ("FAILS" if proof_ok else "HOLDS")
            lines.append(f"{entry.name:<24} {entry.check:<34} {'yes' if ok else 'NO':<9} {proof:<6} "
                         f"{result.detail[:90]}")
        n_ok = sum(1 for _, _, ok, p in self.rows if ok and p is not False)
        lines.append("")
        lines.append(f"{'PASSED' if self.passed else 'FAILED'}: {n_ok} of {len(self.rows)} broken neurons rejected "
                     "by the check that names their fault")
        return "\n".join(lines)


def rejected(entry: BrokenNeuron, result: verify.CheckResult) -> bool:
    """True when ``result`` rejects ``entry`` with the right check, naming the fault."""
    return result.name == entry.check and not result.holds and entry.words in result.detail


def self_test(max_examples: int = 30, seed: int | None = 0, names=None) -> SelfTestReport:
    """Run verify on every broken neuron (or those in ``names``); each must be rejected by its check."""
    rows = []
    for entry in CORPUS:
        if names is not None and entry.name not in names:
            continue
        try:
            result = entry.run(max_examples, seed)
        except Exception as exc:  # noqa: BLE001  a check that crashes has not rejected the neuron
            result = verify.CheckResult(f"error in {entry.check}", False, 0, f"{type(exc).__name__}: {exc}")
        proof_ok = None
        if entry.proof is not None:
            try:
                proof_ok = not entry.proof().holds
            except Exception:  # noqa: BLE001  a proof record that cannot be built does not say FAILS
                proof_ok = False
        rows.append((entry, result, rejected(entry, result), proof_ok))
    return SelfTestReport(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Self-test of ttfs_symbolic.verify on a corpus of broken neurons")
    parser.add_argument("--max-examples", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    report = self_test(args.max_examples, args.seed)
    print(report)
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
