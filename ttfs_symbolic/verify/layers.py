"""Checks 3 to 5 on a neuron layer: order and encoding (eq. 7), kernel convergence, the max aggregate."""
from __future__ import annotations

from hypothesis import strategies as st
import numpy as np
import torch

from ..numeric.dynamics import LayerTiming, NeuronLayer, input_table, output_table
from ..symbolic.transforms import OutputTransform
from .numbers import roundtrip_tol
from .report import CheckResult, KERNEL, MAX, ORDER
from .strategies import (BadArgument, PropertyFailure, check_precisions, edge_values, finite_floats, guarded, plain,
                         run_property, value_of, values_in, weight_value_pairs)
from .transforms import OutputInfo


#: kernel-mode tables, error in the receiver's value units (per unit weight,
#: through the largest slope h' for the eta table) as a fraction of one tick
#: d/p. The tables are integrated by adaptive Gauss-Kronrod per tick, split at
#: eta's kinks, to 1e-12 relative (numeric.dynamics.TABLE_EPSREL), far below
#: this allowance. The 1e-3 allowance admits a kernel with an integrable
#: singularity at the end of the window (psi of h = exp or sigmoid when h never
#: reaches a) and refuses what breaks the one-tick bound: a table the
#: quadrature did not resolve (a user's kernel with a kink SymPy cannot locate).
TABLE_TICKS = 1e-3


def _check_encoding(timing: LayerTiming, xs, who: str):
    """Sorted values -> non-increasing times; window; edges; round trip (eq. 7)."""
    xs = np.sort(np.asarray(xs, dtype=np.float64))
    t = timing.encode(xs)
    tn = t.numpy()
    ce = {"layer": who, "range": [timing.a, timing.b], "window": [timing.T_emit, timing.T_end],
          "values": plain(xs), "spike times": plain(tn)}
    if tuple(t.shape) != xs.shape:
        raise PropertyFailure(f"{who}: encode returned shape {tuple(t.shape)} for {xs.shape[0]} values", ce)
    if np.any(tn[1:] > tn[:-1]):
        raise PropertyFailure(f"{who}: a larger value fires later", ce)
    fired = np.isfinite(tn)
    if np.any(np.isnan(tn)) or np.any(fired & ((tn < timing.T_emit) | (tn >= timing.T_end))):
        raise PropertyFailure(f"{who}: a spike time outside the window [T_emit, T_end) (or NaN)", ce)
    if np.any((xs <= timing.a) & fired):
        raise PropertyFailure(f"{who}: a value <= a fired (it must be silent: t = inf)", ce)
    if np.any((xs >= timing.b) & (tn != timing.T_emit)):
        raise PropertyFailure(f"{who}: a value >= b did not fire exactly at T_emit = {timing.T_emit!r}", ce)
    back = timing.decode(t).numpy()
    err = float(np.max(np.abs(back - np.clip(xs, timing.a, timing.b))))
    if not err <= roundtrip_tol(timing):
        raise PropertyFailure(f"{who}: decode(encode(x)) differs from clip(x, a, b) by {err:.3g}",
                              {**ce, "decoded": plain(back)})
    return err


@guarded(ORDER)
def check_order(layer: NeuronLayer, ot: OutputTransform | None = None, *, precisions=(64,),
                max_examples: int = 50, seed: int | None = None, name: str = ORDER) -> CheckResult:
    """Order and encoding (eq. 7, Section 3): larger values never fire later, one time per neuron.

    Two properties, ``max_examples`` examples each:

    * encoding, for the sender's and the receiver's window: sorted values
      (:func:`values_in`, edges included) give non-increasing times, each
      inside ``[T_emit, T_end)`` or ``inf``; values ``<= a`` are silent,
      values ``>= b`` fire exactly at ``T_emit``; ``decode(encode(x)) =
      clip(x, a, b)`` (to two roundings of the times);
    * the layer (:meth:`NeuronLayer.__call__`), in one mode per example (exact,
      or quantized / kernel at a p of ``precisions``): for one input vector
      and increasing potentials (the bias puts V below g(a), inside, above
      theta) it returns one time per neuron (shape ``(batch, 1)``),
      non-increasing in V, inside the receiver's window or ``inf``, decoding
      to the value that mode emits.
    """
    sender, receiver = layer.sender, layer.receiver
    ot = ot if ot is not None else layer.output
    if ot is None:
        raise BadArgument("check_order needs the layer's OutputTransform (build the layer with derive=True)")
    info = OutputInfo.build(ot, receiver)
    modes = [("exact", None)] + [(m, int(p)) for p in precisions for m in ("quantized", "kernel")]

    enc = st.tuples(st.lists(values_in(sender.a, sender.b), min_size=1, max_size=8),
                    st.lists(values_in(receiver.a, receiver.b), min_size=1, max_size=8))

    def prop_encoding(drawn):
        xs, ys = drawn
        return {"roundtrip_error": max(_check_encoding(sender, xs, "sender"),
                                       _check_encoding(receiver, ys, "receiver"))}

    first = run_property(name, enc, prop_encoding, max_examples=max_examples, seed=seed, summary=lambda m: "",
                         examples=[(edge_values(sender.a, sender.b), edge_values(receiver.a, receiver.b))])
    if not first.holds:
        return first

    strategy = st.tuples(st.sampled_from(modes), weight_value_pairs(),
                         st.lists(info.potentials(), min_size=1, max_size=6))

    def prop_layer(drawn):
        (mode, p), pairs, Vs = drawn
        w = [q[0] for q in pairs]
        x = [value_of(q[1], sender.a, sender.b) for q in pairs]
        Vs = np.sort(np.asarray(Vs, dtype=np.float64))
        t_in = sender.encode(np.asarray(x, dtype=np.float64))
        W = torch.as_tensor(np.asarray(w, dtype=np.float64)[None, :])
        V0 = float(layer.potential(t_in, W)[0])
        bias = torch.as_tensor((Vs - V0)[:, None])
        times = t_in[None, :].expand(len(Vs), -1)
        out = layer(times, W, bias, mode=mode, precision=p)
        where = mode if p is None else f"{mode} mode, p = {p}"
        ce = {"mode": mode, "p": p, "weights": plain(w), "inputs": plain(x), "potentials V": plain(Vs),
              "output times": plain(out)}
        if tuple(out.shape) != (len(Vs), 1):
            raise PropertyFailure(f"{where}: output shape {tuple(out.shape)}, expected one time per neuron "
                                  f"{(len(Vs), 1)}", ce)
        tn = out.numpy()[:, 0]
        if np.any(np.isnan(tn)):
            raise PropertyFailure(f"{where}: NaN spike time", ce)
        if np.any(tn[1:] > tn[:-1]):
            raise PropertyFailure(f"{where}: a larger potential fires later", ce)
        fired = np.isfinite(tn)
        if np.any(fired & ((tn < receiver.T_emit) | (tn >= receiver.T_end))):
            raise PropertyFailure(f"{where}: spike outside the receiver's window [{receiver.T_emit}, {receiver.T_end})",
                                  ce)
        values = layer.emit(layer.potential(times, W, bias, mode, p), mode, p).numpy()[:, 0]
        back = receiver.decode(out).numpy()[:, 0]
        err = float(np.max(np.abs(back - values)))
        if not err <= roundtrip_tol(receiver):
            raise PropertyFailure(f"{where}: decoded output {back.tolist()} differs from the emitted values "
                                  f"{values.tolist()} by {err:.3g}", ce)
        return {"roundtrip_error": err}

    second = run_property(name, strategy, prop_layer, max_examples=max_examples, seed=seed, summary=lambda m: "")
    second.tried += first.tried
    if not second.holds:
        return second
    rt = max(first.measured.get("roundtrip_error", 0.0), second.measured.get("roundtrip_error", 0.0))
    second.measured["roundtrip_error"] = rt
    second.detail = (f"monotone times, at most one spike, round trip within {rt:.1e}; windows "
                     f"[{sender.T_emit:g}, {sender.T_end:g}) -> [{receiver.T_emit:g}, {receiver.T_end:g}); "
                     f"modes exact, quantized and kernel at p = {', '.join(str(p) for _, p in modes[1::2])}")
    return second



def _table_errors(layer: NeuronLayer, p: int):
    """(input-table error in potential units, psi-table error in value units, where they are largest)."""
    s, r = layer.sender, layer.receiver
    Q = input_table(layer.in_kernel, s.a, s.b, s.delta, p)
    f = layer.in_kernel.f_fn("numpy")
    xm = s.a + np.arange(p + 1) * (s.d / p)
    with np.errstate(all="ignore"):
        fx = np.asarray(f(xm), dtype=np.float64).reshape(-1)
        fa = float(np.asarray(f(np.array([s.a]))).reshape(-1)[0])
    ref_q = fx - fa
    dq = np.abs(Q - ref_q)
    mq = int(np.nanargmax(dq)) if np.all(np.isfinite(dq)) else int(np.argmax(~np.isfinite(dq)))
    P = output_table(layer.out_kernel, r.a, r.b, r.delta, p)
    theta = layer.out_kernel.theta(r.b)
    y_table = np.asarray(layer.out_kernel.apply(theta - P, r.a, r.b), dtype=np.float64)
    y_ref = r.b - (np.arange(p) + 0.5) * (r.d / p)
    dp = np.abs(y_table - y_ref)
    mp_ = int(np.nanargmax(dp)) if np.all(np.isfinite(dp)) else int(np.argmax(~np.isfinite(dp)))
    return (float(dq[mq]), float(dp[mp_]),
            {"input table": {"p": p, "m": mq, "Q[m]": float(Q[mq]), "f(a + m d/p) - f(a)": float(ref_q[mq])},
             "psi table": {"p": p, "m": mp_, "h(theta - P[m])": float(y_table[mp_]),
                           "b - (m + 1/2) d/p": float(y_ref[mp_])}})


def _largest_slope(layer: NeuronLayer) -> float:
    """L_h: the largest h' on the receiver's emitting range (256 points), 1 where it is nowhere finite."""
    r, h = layer.receiver, layer.out_kernel
    ys = r.a + (np.arange(1, 257) / 256.0) * r.d
    with np.errstate(all="ignore"):
        slopes = np.asarray(h.hprime_fn("numpy")(np.asarray(h.g(ys), dtype=np.float64)), dtype=np.float64)
    return float(np.nanmax(np.abs(slopes))) if np.any(np.isfinite(slopes)) else 1.0


def _checked_tables(layer: NeuronLayer, precisions, L_h: float, name: str) -> dict | CheckResult:
    """{p: (eta-table error, psi-table error)}, or the failed CheckResult of the first table off by more than
    ``TABLE_TICKS`` of a tick per unit weight."""
    r = layer.receiver
    tables = {}
    for p in precisions:
        try:
            eq, ep, where = _table_errors(layer, p)
        except Exception as exc:  # noqa: BLE001
            return CheckResult(name, False, 0, f"kernel tables at p = {p}: {type(exc).__name__}: {exc}",
                               {"p": p})
        tol = TABLE_TICKS * r.d / p
        if not L_h * eq <= tol:
            return CheckResult(name, False, 0,
                               f"input table (eq. 30, quadrature per tick) at p = {p} is off by {eq:.3g} from "
                               f"f(a + m d/p) - f(a), {L_h * eq / (r.d / p):.2g} of an output tick per unit weight "
                               f"(allowed {TABLE_TICKS:g}): the tick grid does not resolve eta (a kink inside a "
                               "tick, or a kernel steeper than a tick)",
                               {**where["input table"], "largest h'": L_h}, {f"table_q_p{p}": eq})
        if not ep <= tol:
            return CheckResult(name, False, 0,
                               f"psi table (eq. 32) at p = {p} is off by {ep:.3g} in value units, "
                               f"{ep / (r.d / p):.2g} of a tick (allowed {TABLE_TICKS:g})",
                               where["psi table"], {f"table_psi_p{p}": ep})
        tables[p] = (eq, ep)
    return tables


@guarded(KERNEL)
def check_kernel_convergence(layer: NeuronLayer, *, precisions=(64, 256, 1024, 4096), max_examples: int = 50,
                             seed: int | None = None, name: str = KERNEL) -> CheckResult:
    """Kernel mode against exact mode on inputs on the sender's p-grid, for each p in ``precisions``.

    Bound: in kernel mode the potential is the sum of the input tables
    ``Q[m] = (1/tau) int_0^{m delta/p} eta`` (adaptive Gauss-Kronrod per tick)
    and the spike is at the first tick m where ``V + P[m] >= theta``
    (``P`` the cumulative psi at half ticks), so the emitted value differs
    from exact mode's ``clip(h(V), a, b)`` by less than one tick, ``d/p``
    (the reading is the nearest tick: ``d/(2p)`` in exact arithmetic), plus
    the table errors: ``L_h * sum_j |w_j| * eps_Q + eps_P``, with ``L_h`` the
    largest h' on the emitting range and ``eps_Q``, ``eps_P`` the measured
    table errors (against f and h^-1 on the grid), each required to be
    negligible: at most ``TABLE_TICKS`` of a tick per unit weight. Where p' is a multiple of
    p the grids are nested and the error at p' is at most the error at p
    (plus the same allowance), so it decreases as p grows. ``measured`` holds
    the largest error per p (``err_p{p}``) and in ticks (``ticks_p{p}``).
    """
    precisions = check_precisions(precisions)
    s, r = layer.sender, layer.receiver
    h = layer.out_kernel
    L_h = _largest_slope(layer)
    tables = _checked_tables(layer, precisions, L_h, name)
    if isinstance(tables, CheckResult):
        return tables
    p0 = min(precisions)
    nested = all(p % p0 == 0 for p in precisions)
    order = sorted(precisions)
    scale_r = max(1.0, abs(r.a), abs(r.b))
    grid = p0 if nested else 1_000_000   # ticks drawn on the coarsest grid, or a fraction of the window

    def inputs_for(p, raw):
        """Sender values on the p-grid, b - k d/p (k = p: value a, silent)."""
        if nested:
            return s.b - np.asarray(raw) * (s.d / p0)
        return s.b - np.round(np.asarray(raw) / grid * p) * (s.d / p)

    def prop(drawn):
        pairs, target = drawn
        w = np.array([q[0] for q in pairs], dtype=np.float64)
        ks = [q[1] for q in pairs]
        W = torch.as_tensor(w[None, :])
        V_goal = None if target is None else float(np.asarray(h.g(np.array([target])))[0])
        errs = {}
        cache = {}
        for p in order:
            x = inputs_for(p, ks)
            key = tuple(x.tolist())
            t = s.encode(x)
            if key not in cache:  # nested grids: the same inputs (and exact value) for every p
                V_exact = layer.potential(t, W)
                bias = None if V_goal is None else torch.as_tensor([V_goal - float(V_exact[0])])
                exact = float(layer.emit(V_exact if bias is None else V_exact + bias, "exact")[0])
                cache[key] = (bias, exact)
            bias, exact = cache[key]
            kern = float(layer.emit(layer.potential(t, W, bias, "kernel", p), "kernel", p)[0])
            eq, ep = tables[p]
            allow = L_h * float(np.sum(np.abs(w))) * eq + ep + 1e-12 * scale_r
            err = abs(kern - exact)
            errs[p] = (err, allow)
            ce = {"p": p, "weights": plain(w), "inputs (on the p-grid)": plain(x), "bias": None if bias is None
                  else float(bias[0]), "exact": exact, "kernel": kern, "error": err, "bound d/p": r.d / p,
                  "table allowance": allow}
            if not err <= r.d / p + allow:
                raise PropertyFailure(f"kernel mode at p = {p} emits {kern!r}, exact mode {exact!r}: error {err:.3g} > "
                                      f"d/p + table allowance = {r.d / p + allow:.3g}", ce)
        for lo, hi in zip(order[:-1], order[1:]):
            if nested and hi % lo == 0 and not errs[hi][0] <= errs[lo][0] + errs[hi][1] + errs[lo][1]:
                raise PropertyFailure(f"the error does not decrease from p = {lo} ({errs[lo][0]:.3g}) to p = {hi} "
                                      f"({errs[hi][0]:.3g}) on nested grids",
                                      {"weights": plain(w), "ticks": plain(ks),
                                       "errors": {q: e for q, (e, _) in errs.items()}})
        out = {}
        for p, (e, _) in errs.items():
            out[f"err_p{p}"] = e
            out[f"ticks_p{p}"] = e / (r.d / p)
        return out

    strategy = st.tuples(st.lists(st.tuples(finite_floats(-2.0, 2.0), st.integers(0, grid)), min_size=1, max_size=6),
                         st.one_of(st.none(), finite_floats(r.a, r.b, exclude_min=True)))

    def summary(m):
        parts = [f"p={p}: {m.get(f'err_p{p}', 0.0):.2e} ({m.get(f'ticks_p{p}', 0.0):.2f} d/p)" for p in order]
        tabs = ", ".join(f"p={p}: {tables[p][0]:.1e}/{tables[p][1]:.1e}" for p in order)
        return ("max |kernel - exact| " + "; ".join(parts) + f" (bound d/p, d = {r.d:g}); "
                f"table errors eta/psi {tabs}")

    result = run_property(name, strategy, prop, max_examples=max_examples, seed=seed, summary=summary,
                          examples=[([(1.0, 0), (1.0, grid), (-0.5, 1)], None), ([(0.5, grid - 1)], r.b)])
    for p in order:
        result.measured[f"table_q_p{p}"], result.measured[f"table_psi_p{p}"] = tables[p]
    return result



@guarded(MAX)
def check_max_aggregate(sender: LayerTiming, receiver: LayerTiming, *, max_examples: int = 50,
                        seed: int | None = None, name: str = MAX) -> CheckResult:
    """The maximum neuron fires one window after its earliest input spike (Appendix C.2, layer 0).

    Its spike at ``min_j t_j + delta`` decoded in the receiver's window must
    be ``clip(max_j x_j, a, b)`` (round trip tolerance): true when sender and
    receiver share the range, as the catalogue's ``max`` does; a definition
    whose output range differs is caught here.
    """
    if not receiver.T_emit == sender.T_emit + sender.delta:
        raise BadArgument("the receiver's window must follow the sender's: T_emit(receiver) = T_emit(sender) + delta")

    def prop(xs):
        x = np.asarray(xs, dtype=np.float64)
        t = sender.encode(x).numpy()
        t_out = float(np.min(t)) + sender.delta
        value = float(receiver.decode(np.array([t_out]))[0])
        expect = min(max(float(np.max(np.clip(x, sender.a, sender.b))), receiver.a), receiver.b)
        err = abs(value - expect)
        if not err <= roundtrip_tol(sender) + roundtrip_tol(receiver):
            raise PropertyFailure(f"the max neuron emits {value!r}, clip(max_j x_j, a, b) = {expect!r}",
                                  {"inputs": plain(x), "input times": plain(t), "output time": t_out,
                            "emitted": value, "expected": expect,
                            "ranges": [[sender.a, sender.b], [receiver.a, receiver.b]]})
        return {"error": err}

    edges = edge_values(sender.a, sender.b)
    return run_property(name, st.lists(values_in(sender.a, sender.b), min_size=1, max_size=6), prop,
                        max_examples=max_examples, seed=seed, examples=[[v] for v in edges] + [edges],
                        summary=lambda m: ("fires at the earliest input: emits clip(max x) "
                                           f"(max error {m.get('error', 0.0):.1e})"))
