"""The construction pages (Section 4.3.2-4.3.4, Appendix C): softmax, LayerNorm, the multiplication
network and the signed product, each derived from Theorems 4.1 and 4.3 and checked numerically."""
from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np
import sympy

from ..symbolic.derive import InputTransform, OutputTransform, derive_input, derive_output
from .dynamics_plot import output_kernel
from .latex import tex, tex_value


__all__ = ["construction_pages", "softmax_page", "layernorm_page", "multiplication_page", "signed_product_page"]


@dataclass(frozen=True)
class Synapse:
    """Synapses from population ``src`` to every neuron of ``dst``: ``count`` per target neuron."""

    src: str
    dst: str
    count: sympy.Expr
    weight: str
    f: str


@dataclass(frozen=True)
class Population:
    """A layer of a construction: ``count`` neurons emitting in window ``window``."""

    name: str
    count: sympy.Expr
    window: int
    neuron: str
    role: str


def _delay(pops: dict, syn: Synapse) -> int:
    """Whole windows a spike waits: the target receives in the window before its own."""
    return pops[syn.dst].window - 1 - pops[syn.src].window


def _network_tables(pops: list[Population], syns: list[Synapse], inputs: set[str]) -> tuple[list[str], sympy.Expr,
                                                                                               sympy.Expr]:
    """Markdown tables of layers and synapses (with delays); totals of neurons and synaptic operations."""
    by = {p.name: p for p in pops}
    lines = ["| layer | neurons | window | neuron | role |", "|---|---|---|---|---|"]
    neurons = sympy.Integer(0)
    for p in pops:
        counted = p.name not in inputs
        if counted:
            neurons += p.count
        link = f"[`{p.neuron}`](../neurons/{p.neuron}.md)" if p.neuron and counted else (p.neuron or "—")
        lines.append(f"| {p.name} | ${tex(p.count)}${'' if counted else ' (input)'} | n + {p.window} | "
                     f"{link} | {p.role} |")
    lines += ["", "| from | to | synapses per target | weight | f | delay (windows) | operations |",
              "|---|---|---|---|---|---|---|"]
    ops = sympy.Integer(0)
    for sy in syns:
        per = sy.count * by[sy.dst].count
        ops += per
        lines.append(f"| {sy.src} | {sy.dst} | ${tex(sy.count)}$ | {sy.weight} | {sy.f} | {_delay(by, sy)} | "
                     f"${tex(per)}$ |")
    lines.append("")
    return lines, sympy.expand(neurons), sympy.expand(ops)


_DELAYS = ("Inputs from an earlier window than the previous layer reach their target through **synaptic "
           "delays of whole windows** ([design](../design.md)): a spike sent in window m arrives, shifted by k whole "
           "windows, at the same position in window m + k, so it still stands for the same value on its "
           "sender's range. No relay neurons are added, and a delayed spike costs one synaptic operation, "
           "as any other; the delay column of the synapse table says how many windows each synapse waits. With relay "
           "neurons instead, every delayed value would cost one identity neuron per window waited and one "
           "more synaptic operation each.")


def _counts_lines(kind: str, neurons, ops, table_neurons, table_ops) -> list[str]:
    dn, do = sympy.expand(neurons - table_neurons), sympy.expand(ops - table_ops)
    verdict = ("the enumeration above equals Table 3" if dn == 0 and do == 0 else
               f"the enumeration above differs from Table 3 by ${tex(dn)}$ neurons and ${tex(do)}$ operations")
    return [
        f"## Counts (Table 3, {kind})",
        "",
        "| | neurons | synaptic operations |",
        "|---|---|---|",
        f"| this construction (sum of the tables above) | ${tex(neurons)}$ | ${tex(ops)}$ |",
        f"| Table 3 (`ttfs_symbolic.energy`) | ${tex(table_neurons)}$ | ${tex(table_ops)}$ |",
        "",
        f"SymPy: {verdict}.",
        "",
    ]


def _check_line(err: float, tol: float, what: str) -> str:
    ok = err <= tol
    exponent = round(math.log10(tol))
    return (f"Numeric check (exact mode, float64, the derived transforms in closed form): {what} "
            f"{'agrees' if ok else 'DOES NOT agree'} with the reference to within 1e{exponent}.")


def _neuron_row(label: str, it: InputTransform | None, ot: OutputTransform | None, weight: str = "") -> list[str]:
    """Rows of the kernels table: one per synapse kind (f), one for the emitting stage (h)."""
    out = []
    if it is not None:
        out.append(f"| {label} | $f(x) = {tex(it.f)}$ on $[{tex(it.a)}, {tex(it.b)}]$ | "
                   rf"$\eta(s) = {tex(it.eta)}$ | $f(a)/d = {tex_value(it.const)}$ | {weight} |")
    if ot is not None:
        out.append(f"| {label.split(' (')[0]} (emitting) | $h(x) = {tex(ot.h)}$ on $[{tex(ot.a)}, {tex(ot.b)}]$ | "
                   rf"$\psi(s) = {tex(ot.psi)}$ | $\theta = {tex_value(ot.theta)}$ | |")
    return out


_ROW_HEAD = ["| neuron | transform | kernel | constant | weight |", "|---|---|---|---|---|"]


def _apply_out(ot: OutputTransform, V):
    return output_kernel(ot).apply(np.asarray(V, dtype=float), float(ot.a), float(ot.b))


def _f(it: InputTransform, x):
    # numeric loads torch: imported when a page needs a kernel (``ttfs derive`` starts without torch)
    from ..numeric.kernels import InputKernel

    return np.asarray(InputKernel(it.f).f_fn("numpy")(np.asarray(x, dtype=float)), dtype=float) * np.ones_like(
        np.asarray(x, dtype=float))


def softmax_page() -> str:
    """``docs/constructions/softmax.md``: Section 4.3.2, Figure 3, Theorem 4.6, Appendix C.2."""
    # the model layer loads torch: imported when this page is made
    from ..energy import softmax_counts

    Nn = 4
    a, b = -4, 4
    za, zb = a - b, 0
    lse_b = sympy.log(Nn)
    id_x = derive_input("x", a, b)
    lse_in = derive_input("exp(x)", za, zb)
    lse_out = derive_output("log(x)", 0, lse_b)
    id_z = derive_input("x", za, zb)
    id_lse = derive_input("x", 0, lse_b)
    exp_out = derive_output("exp(x)", 0, 1)
    N = sympy.Symbol("N", positive=True, integer=True)
    pops = [Population("x", N, 0, "", "inputs x_1..x_N"),
            Population("max", sympy.Integer(1), 1, "max", "layer 0: fires at its first input, emits max_j x_j"),
            Population("z", N, 2, "identity", "layer 0: z_i = x_i - max"),
            Population("lse", sympy.Integer(1), 3, "logsumexp", "layer I: log sum_j exp(z_j) (Theorem 4.6)"),
            Population("out", N, 4, "exp", "layer II: exp(z_i - lse) (eq. 36-37)")]
    syns = [Synapse("x", "max", N, "1", "max aggregate"),
            Synapse("x", "z", sympy.Integer(1), "1", "x"),
            Synapse("max", "z", sympy.Integer(1), "-1", "x"),
            Synapse("z", "lse", N, "1", "exp(x)"),
            Synapse("z", "out", sympy.Integer(1), "1", "x"),
            Synapse("lse", "out", sympy.Integer(1), "-1", "x")]
    tables, neurons, ops = _network_tables(pops, syns, {"x"})
    tn, to = softmax_counts(N)
    C_z = 1 * id_x.const + (-1) * id_x.const
    C_lse = Nn * lse_in.const
    C_out = 1 * id_z.const + (-1) * id_lse.const
    # numeric check with the derived transforms (closed forms)
    x = np.array([-3.1, 0.4, 2.2, -0.7])
    m = x.max()
    z = np.clip(x - m, za, zb)
    lse = _apply_out(lse_out, np.array([_f(lse_in, z).sum()]))[0]
    out = _apply_out(exp_out, z - lse)
    ref = np.exp(x - m) / np.exp(x - m).sum()
    err = float(np.abs(out - ref).max())
    lines = [
        "# Softmax",
        "",
        "<!-- generated by scripts/gen_docs.py from the derivations: do not edit -->",
        "",
        "Section 4.3.2, Figure 3, Theorem 4.6 and Appendix C.2: softmax of a row $(x_1, \\dots, x_N)$ "
        "(eq. 18) from three catalogue neurons, "
        "$\\mathrm{softmax}_i = \\exp\\left(x_i - \\log\\sum_j e^{x_j}\\right)$ (eq. 20, 37).",
        "",
        "* **Layer 0** (optional, used by the converter): a [`max`](../neurons/max.md) neuron fires at the "
        "first input spike (the largest value fires first), then $z_i = x_i - \\max_j x_j$ by identity "
        "neurons. This does not change the result and bounds the ranges: $z_i \\in [a - b, 0]$, with one "
        "$z_i = 0$.",
        "* **Layer I**: one [`logsumexp`](../neurons/logsumexp.md) neuron, $f = \\exp$ (Theorem 4.1) and "
        "$h = \\log$ (Theorem 4.3), on the range $[0, \\log N]$, which holds $\\log\\sum_j e^{z_j}$ because "
        "$1 \\le \\sum_j e^{z_j} \\le N$.",
        "* **Layer II**: $N$ [`exp`](../neurons/exp.md) neurons, identity input transform with weights "
        "$1$ on $z_i$ and $-1$ on the log-sum-exp, $h = \\exp$ on $[0, 1]$.",
        "",
        "## Wiring",
        "",
    ] + tables + [
        _DELAYS,
        "",
        f"## Derived kernels and constants (example: N = {Nn}, inputs on $[{a}, {b}]$)",
        "",
    ] + _ROW_HEAD + _neuron_row("z (from x)", id_x, None, "1") + _neuron_row("z (from max)", id_x, None, "-1") + \
        _neuron_row("lse", lse_in, lse_out, "1") + _neuron_row("out (from z)", id_z, None, "1") + \
        _neuron_row("out (from lse)", id_lse, exp_out, "-1") + [
        "",
        "Constants C (eq. 8: $\\sum_j w_j f_j(a_j)/d_j$ over the synapses, each with its sender's range):",
        "",
        f"$$C_z = 1\\cdot\\left({tex(id_x.const)}\\right) - 1\\cdot\\left({tex(id_x.const)}\\right) = "
        f"{tex_value(C_z)}$$",
        "",
        f"$$C_{{lse}} = N\\,\\frac{{e^{{a_z}}}}{{d_z}} = {tex_value(C_lse)}\\qquad\\text{{(Theorem 4.6, eq. 19)}}$$",
        "",
        f"$$C_{{out}} = 1\\cdot\\left({tex(id_z.const)}\\right) - 1\\cdot\\left({tex(id_lse.const)}\\right) "
        f"= {tex_value(C_out)}$$",
        "",
        "The exp neuron's kernel is $\\psi(s) = 1/(\\tau b - s) = 1/(T_{ref} - T_{emit} - s)$ and "
        f"$\\theta = \\log b$ (eq. 36); here $\\psi(s) = {tex(exp_out.psi)}$, $\\theta = {tex_value(exp_out.theta)}$. "
        "A potential below $\\log a$ never reaches $\\theta$ (for $a = 0$: never), so the value $a$ is a "
        "silent neuron.",
        "",
        _check_line(err, 1e-12, f"softmax of x = {x.tolist()}"),
        "",
    ] + _counts_lines("one row of N", neurons, ops, tn, to)
    return "\n".join(lines).rstrip("\n") + "\n"


def _layernorm_network(N) -> tuple[list[Population], list[Synapse]]:
    """The populations and synapses of LayerNorm over N inputs (Section 4.3.3, eq. 21-27)."""
    pops = [Population("x", N, 0, "", "inputs"),
            Population("mean", sympy.Integer(1), 1, "identity", "mean, weights 1/N"),
            Population("centred", N, 2, "identity", "x_i - mean"),
            Population("var", sympy.Integer(1), 3, "square", "Var = (1/N) sum_i (x_i - mean)^2 (eq. 22)"),
            Population("rsqrt", sympy.Integer(1), 4, "rsqrt", "1/sqrt(Var + eps) (eq. 23)"),
            Population("product I", N, 5, "log_shift", "log(centred_i + c1) + log(rsqrt + c2) (eq. 24)"),
            Population("product II", N, 6, "exp_input", "gamma_i centred_i rsqrt + beta_i (eq. 26-27)")]
    syns = [Synapse("x", "mean", N, "1/N", "x"),
            Synapse("x", "centred", sympy.Integer(1), "1", "x"),
            Synapse("mean", "centred", sympy.Integer(1), "-1", "x"),
            Synapse("centred", "var", N, "1/N", "x**2"),
            Synapse("var", "rsqrt", sympy.Integer(1), "1", "1/sqrt(x + eps)"),
            Synapse("centred", "product I", sympy.Integer(1), "1", "log(x + c1)"),
            Synapse("rsqrt", "product I", sympy.Integer(1), "1", "log(x + c2)"),
            Synapse("product I", "product II", sympy.Integer(1), "gamma_i", "exp(x)"),
            Synapse("centred", "product II", sympy.Integer(1), "-gamma_i c2", "x"),
            Synapse("rsqrt", "product II", sympy.Integer(1), "-gamma_i c1", "x")]
    return pops, syns


def layernorm_page() -> str:
    """``docs/constructions/layernorm.md``: Section 4.3.3 (eq. 21-23)."""
    # the model layer loads torch: imported when this page is made
    from ..energy import layernorm_counts

    Nn = 4
    a, b = -2, 2
    ca, cb = a - b, b - a
    va, vb = 0, cb ** 2
    eps = sympy.Rational(1, 100000)
    ra, rb = 0, 400
    oa, ob = -2, 2
    id_x = derive_input("x", a, b)
    sq = derive_input("x**2", ca, cb)
    id_c = derive_input("x", ca, cb)
    rs = derive_input("1/sqrt(x + eps)", va, vb, params={"eps": eps})
    log_c = derive_input("log(x + c)", ca, cb, params={"c": "1 - a"})
    log_r = derive_input("log(x + c)", ra, rb, params={"c": "1 - a"})
    c1, c2 = 1 - sympy.Integer(ca), 1 - sympy.Integer(ra)
    y_b = sympy.log(1 + (cb - ca)) + sympy.log(1 + (rb - ra))
    exp_y = derive_input("exp(x)", 0, y_b)
    id_r = derive_input("x", ra, rb)
    out_t = derive_output("x", oa, ob)
    N = sympy.Symbol("N", positive=True, integer=True)
    pops, syns = _layernorm_network(N)
    tables, neurons, ops = _network_tables(pops, syns, {"x"})
    tn, to = layernorm_counts(N)
    # numeric check
    x = np.array([-1.3, 0.2, 1.7, 0.5])
    mean = _apply_out(derive_output("x", a, b), np.array([(x / Nn).sum()]))[0]
    cen = x - mean
    var = (_f(sq, cen) / Nn).sum()
    r = float(_f(rs, np.array([var]))[0])
    y = _f(log_c, cen) + _f(log_r, np.array([r]))
    V2 = _f(exp_y, y) - float(c2) * cen - float(c1) * r - float(c1 * c2)
    out = _apply_out(out_t, V2)
    ref = (x - x.mean()) / np.sqrt(x.var() + float(eps))
    err = float(np.abs(out - ref).max())
    lines = [
        "# LayerNorm",
        "",
        "<!-- generated by scripts/gen_docs.py from the derivations: do not edit -->",
        "",
        "Section 4.3.3: $\\mathrm{LayerNorm}(x) = \\frac{x - \\mathbb{E}(x)}{\\sqrt{\\mathrm{Var}(x) + "
        "\\varepsilon}}\\cdot\\gamma + \\beta$ (eq. 21) from a mean neuron, subtraction neurons, the "
        "[`square`](../neurons/square.md) neuron (eq. 22), the [`rsqrt`](../neurons/rsqrt.md) neuron "
        "(eq. 23) and the multiplication network of Section 4.3.4 "
        "([`log_shift`](../neurons/log_shift.md), [`exp_input`](../neurons/exp_input.md); see "
        "[Multiplication](multiplication.md)). $\\gamma$ and $\\beta$ are folded into the weights and the "
        "constant of the product's layer II.",
        "",
        "## Wiring",
        "",
    ] + tables + [
        _DELAYS,
        "",
        f"## Derived kernels and constants (example: N = {Nn}, inputs on $[{a}, {b}]$, "
        f"$\\varepsilon = {tex(eps)}$)",
        "",
        f"Ranges: centred values on $[{ca}, {cb}]$, variance on $[{va}, {vb}]$, rsqrt on $[{ra}, {rb}]$, "
        f"product layer I on $[0, {tex(y_b)}]$ (with $c_i = 1 - a_i$ each logarithm lies in "
        "$[0, \\log(1 + d_i)]$: layer I never clips), output on "
        f"$[{oa}, {ob}]$.",
        "",
    ] + _ROW_HEAD + _neuron_row("mean (from x)", id_x, None, "1/N") + \
        _neuron_row("var (from centred)", sq, None, "1/N") + _neuron_row("rsqrt (from var)", rs, None, "1") + \
        _neuron_row("product I (from centred)", log_c, None, "1") + \
        _neuron_row("product I (from rsqrt)", log_r, None, "1") + \
        _neuron_row("product II (from product I)", exp_y, None, "γ_i") + \
        _neuron_row("product II (from centred)", id_c, None, "−γ_i c2") + \
        _neuron_row("product II (from rsqrt)", id_r, out_t, "−γ_i c1") + [
        "",
        f"Constants: $C_{{mean}} = N\\cdot\\frac{{1}}{{N}}\\,\\frac{{a}}{{d}} = {tex_value(id_x.const)}$; "
        f"$C_{{centred}} = {tex_value(id_x.const - id_x.const)}$; "
        f"$C_{{var}} = N\\cdot\\frac{{1}}{{N}}\\,\\frac{{a_c^2}}{{d_c}} = {tex_value(sq.const)}$ (eq. 22 prints "
        "$\\frac{(a^{(0)})^2}{n d^{(0)}}$, one synapse's share: see the [paper check](../paper_check.md)); "
        f"$C_{{rsqrt}} = \\frac{{1}}{{d_v\\sqrt{{a_v + \\varepsilon}}}} = {tex_value(rs.const)}$ (eq. 23); "
        f"$C_{{I}} = 0$ ($\\log(a + c) = \\log 1$); $c_1 = {tex(c1)}$, $c_2 = {tex(c2)}$.",
        "",
        "Note that $\\eta$ of the rsqrt neuron is $f'(u) = -\\frac{1}{2}(u + \\varepsilon)^{-3/2}$: negative, "
        "and with $\\varepsilon$; eq. 23 prints $+\\frac{1}{2}u^{-3/2}$.",
        "",
        "Layer II of the product: $V = \\gamma_i\\left(e^{y} - c_2\\,x_c - c_1\\,r\\right) - \\gamma_i c_1 c_2 "
        "+ \\beta_i = \\gamma_i x_c r + \\beta_i$, the constant $-\\gamma_i c_1 c_2 + \\beta_i$ entering C "
        "as a bias.",
        "",
        _check_line(err, 1e-9, f"LayerNorm (γ = 1, β = 0) of x = {x.tolist()}"),
        "",
    ] + _counts_lines("one row of N", neurons, ops, tn, to)
    return "\n".join(lines).rstrip("\n") + "\n"


def _matmul_error(l1, l2, y_out, ex, range1, range2, c1, c2, Kk) -> float:
    """Largest error of the network's (3 x Kk) by (Kk x 2) product of seeded random factors against A @ B."""
    (a1_, b1_), (a2_, b2_) = range1, range2
    rng = np.random.default_rng(0)
    A = rng.uniform(a1_, b1_, size=(3, Kk))
    B = rng.uniform(a2_, b2_, size=(Kk, 2))
    y = _f(l1, A)[:, :, None] + _f(l2, B)[None, :, :]
    y = _apply_out(y_out, y)
    V = _f(ex, y).sum(1) - float(c2) * A.sum(1)[:, None] - float(c1) * B.sum(0)[None, :] - Kk * float(c1 * c2)
    err = float(np.abs(V - A @ B).max())
    return err


def _matmul_network(M, N, K) -> tuple[list[Population], list[Synapse]]:
    """The populations and synapses of an (M x K) by (K x N) product (Section 4.3.4, eq. 24-27)."""
    pops = [Population("A", M * K, 0, "", "factor A (M x K)"), Population("B", K * N, 0, "", "factor B (K x N)"),
            Population("layer I", M * N * K, 1, "log_shift", "y_ikj = log(A_ik + c1) + log(B_kj + c2)"),
            Population("layer II", M * N, 2, "exp_input", "sum_k A_ik B_kj")]
    syns = [Synapse("A", "layer I", sympy.Integer(1), "1", "log(x + c1)"),
            Synapse("B", "layer I", sympy.Integer(1), "1", "log(x + c2)"),
            Synapse("layer I", "layer II", K, "1", "exp(x)"),
            Synapse("A", "layer II", K, "-c2", "x"),
            Synapse("B", "layer II", K, "-c1", "x")]
    return pops, syns


def multiplication_page() -> str:
    """``docs/constructions/multiplication.md``: Section 4.3.4 (eq. 24-27) and Appendix C.1."""
    # the model layer loads torch: imported when this page is made
    from ..energy import matmul_counts

    a1_, b1_ = -2, 2
    a2_, b2_ = -1, 3
    l1 = derive_input("log(x + c)", a1_, b1_, params={"c": "1 - a"})
    l2 = derive_input("log(x + c)", a2_, b2_, params={"c": "1 - a"})
    c1, c2 = 1 - sympy.Integer(a1_), 1 - sympy.Integer(a2_)
    y_b = sympy.log(1 + (b1_ - a1_)) + sympy.log(1 + (b2_ - a2_))
    y_out = derive_output("x", 0, y_b)
    ex = derive_input("exp(x)", 0, y_b)
    id1 = derive_input("x", a1_, b1_)
    id2 = derive_input("x", a2_, b2_)
    oa, ob = -6, 6
    out_t = derive_output("x", oa, ob)
    out_thr = derive_output("x - k", oa, ob, params={"k": c1 * c2})
    Kk = 3
    out_thr_K = derive_output("x - k", oa * Kk, ob * Kk, params={"k": Kk * c1 * c2})
    C2 = 1 * ex.const + (-c2) * id1.const + (-c1) * id2.const
    M, N, K = sympy.symbols("M N K", positive=True, integer=True)
    pops, syns = _matmul_network(M, N, K)
    tables, neurons, ops = _network_tables(pops, syns, {"A", "B"})
    tn, to = matmul_counts(M, K, N)
    sums_neurons = sympy.expand(neurons + M + N)
    sums_ops = sympy.expand(2 * M * N * K + M * N * (K + 2) + (M + N) * K)
    # numeric checks: elementwise and matrix
    err = _matmul_error(l1, l2, y_out, ex, (a1_, b1_), (a2_, b2_), c1, c2, Kk)
    lines = [
        "# Multiplication",
        "",
        "<!-- generated by scripts/gen_docs.py from the derivations: do not edit -->",
        "",
        "Section 4.3.4 and Appendix C.1: the product $x_1 x_2$ by a two-layer network, and from it the "
        "matrix product $AB$ of attention.",
        "",
        "* **Layer I**: a [`log_shift`](../neurons/log_shift.md) neuron per pair, input transforms "
        "$f_i(x) = \\log(x + c_i)$ with $c_i = 1 - a_i$ (each factor on its own range $[a_i, b_i]$; the paper "
        "uses one range and one $c = 1 - a^{(0)}$), weights 1, identity output: "
        "$y = \\log(x_1 + c_1) + \\log(x_2 + c_2)$ (eq. 24-25). With $c_i = 1 - a_i$ each logarithm "
        "lies in $[0, \\log(1 + d_i)]$, so layer I's range $[0, \\log(1 + d_1) + \\log(1 + d_2)]$ holds "
        "every $y$ and layer I never clips.",
        "* **Layer II**: an [`exp_input`](../neurons/exp_input.md) neuron, $f = \\exp$ on $y$ (eq. 26) "
        "and the identity on $x_1$, $x_2$ with weights $-c_2$ and $-c_1$ (eq. 27 with $c_1 = c_2 = c$): "
        "$V_2 = (x_1 + c_1)(x_2 + c_2) - c_2 x_1 - c_1 x_2 = x_1 x_2 + c_1 c_2$.",
        "* The offset $c_1 c_2$ is removed either by the constant C (a bias $-c_1 c_2$; this is what the "
        "converter does) or, as the paper does, by the output transform $h(V) = V - c_1 c_2$: Theorem 4.3 "
        "then gives $\\psi = 1/\\tau$ and $\\theta = h^{-1}(b) = b + c_1 c_2$ (the paper prints "
        "$b - c^2$; see the [paper check](../paper_check.md)).",
        "* **Matrix product** (Appendix C.1): $MNK$ layer-I neurons $y_{ikj}$ and $MN$ layer-II neurons, "
        "each summing its K products: $V = \\sum_k A_{ik} B_{kj} + K c_1 c_2$; the threshold form is "
        "$\\theta = b + K c_1 c_2$ (printed $b - Kc^2$).",
        "",
        "## Wiring (matrix product, M x K times K x N)",
        "",
    ] + tables + [
        _DELAYS,
        "",
        f"## Derived kernels and constants (example: $x_1 \\in [{a1_}, {b1_}]$, $x_2 \\in [{a2_}, {b2_}]$)",
        "",
        f"$c_1 = 1 - a_1 = {tex(c1)}$, $c_2 = 1 - a_2 = {tex(c2)}$; layer I on $[0, {tex(y_b)}]$; "
        f"layer II on $[{oa}, {ob}]$.",
        "",
    ] + _ROW_HEAD + _neuron_row("layer I (from x1)", l1, None, "1") + \
        _neuron_row("layer I (from x2)", l2, y_out, "1") + \
        _neuron_row("layer II (from y)", ex, None, "1") + _neuron_row("layer II (from x1)", id1, None, "−c2") + \
        _neuron_row("layer II (from x2)", id2, out_t, "−c1") + [
        "",
        f"Constants: $C_I = \\log(a_1 + c_1)/d_1 + \\log(a_2 + c_2)/d_2 = {tex_value(l1.const + l2.const)}$ (eq. 24); "
        f"layer II, one synapse each: $C_{{II}} = \\frac{{e^{{a_y}}}}{{d_y}} - c_2\\frac{{a_1}}{{d_1}} - "
        f"c_1\\frac{{a_2}}{{d_2}} = {tex_value(C2)}$, plus the bias $-c_1 c_2 = {tex(-c1 * c2)}$ when the "
        "offset is removed through C.",
        "",
        f"Threshold form: $h(V) = V - c_1 c_2$ gives $\\psi(s) = {tex(out_thr.psi)}$ and "
        f"$\\theta = {tex_value(out_thr.theta)} = b + c_1 c_2$; for K = {Kk} products on "
        f"$[{oa * Kk}, {ob * Kk}]$, $h(V) = V - K c_1 c_2$ gives $\\theta = {tex_value(out_thr_K.theta)}$.",
        "",
        _check_line(err, 1e-12, f"the product of a random 3 x {Kk} matrix on [{a1_}, {b1_}] and a {Kk} x 2 "
                    f"matrix on [{a2_}, {b2_}] (seed 0)"),
        "",
    ] + _counts_lines("MatMul(A, B)", neurons, ops, tn, to) + [
        "For $K = 1$ (the elementwise product of LayerNorm) the two agree: 5 operations per product. For "
        "$K > 1$ Table 3's $MN(3K + 2)$ corresponds to a layer II that receives $\\sum_k A_{ik}$ and "
        "$\\sum_k B_{kj}$ as **one** input each ($K + 2$ synapses per neuron); those sums need $M + N$ more "
        "neurons with $(M + N)K$ synapses, which Table 3 does not list:",
        "",
        "| | neurons | synaptic operations |",
        "|---|---|---|",
        f"| layer II fed by row and column sums | ${tex(sums_neurons)}$ | ${tex(sums_ops)}$ |",
        "",
        "`ttfs energy` and the conversion report count MatMul as built, $5MNK$ operations "
        "(`ttfs_symbolic.energy.matmul_counts`), and print the total with Table 3's formula beside it "
        "(`EnergyReport.op_snn_table3`).",
        "",
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def construction_pages() -> dict[str, str]:
    """File name -> Markdown of the three construction pages."""
    return {"softmax.md": softmax_page(), "layernorm.md": layernorm_page(),
            "multiplication.md": multiplication_page(), "signed_product.md": signed_product_page()}


def _signed_error_table(ps=(64, 256, 1024)) -> list[str]:
    """Measured layer-I error of both constructions on one seeded matrix product (float64, quantized)."""
    # torch: imported when this table is made (``ttfs derive`` starts without torch)
    import torch

    # the model layer loads torch: imported when this page is made
    from ..spiking import Ctx, Population, Product

    g = torch.Generator().manual_seed(0)
    x1 = 3 * torch.randn(16, 32, generator=g, dtype=torch.float64)
    x2 = 3 * torch.randn(32, 16, generator=g, dtype=torch.float64)
    rows = ["| p | paper: relative error | signed: relative error | ratio |", "|---|---|---|---|"]
    errs = {}
    for cons in ("paper", "signed"):
        p1 = Population("x1", fixed_range=(float(x1.min()), float(x1.max())))
        p2 = Population("x2", fixed_range=(float(x2.min()), float(x2.max())))
        prod = Product("prod", p1, p2, Population("out"), matmul=True, construction=cons)
        with torch.no_grad():
            prod(x1, x2, Ctx(mode="calibrate"))
            for i, pop in enumerate((p1, p2, prod.y, prod.out)):
                pop.finalize()
                pop.window = i + 1
            ref = x1 @ x2
            for p in ps:
                out = prod(x1, x2, Ctx(mode="quantized", precision=p))
                errs[cons, p] = float((out - ref).norm() / ref.norm())
    for p in ps:
        rows.append(f"| {p} | {errs['paper', p]:.3g} | {errs['signed', p]:.3g} | "
                    f"{errs['paper', p] / errs['signed', p]:.1f}x |")
    return rows


def signed_product_page() -> str:
    """``docs/constructions/signed_product.md``: the library's low-error product network (beyond the paper)."""
    # the model layer loads torch: imported when this page is made
    from ..energy import product_counts

    a_, b_, r_ = -2, 3, sympy.Rational(1, 50)
    e_ = r_ * 3
    lp = derive_input(f"log(relu(x) + {e_})", a_, b_)
    lm = derive_input(f"log(relu(-x) + {e_})", a_, b_)
    lpos = derive_input(f"log(x + {e_})", 0, b_)
    M, N, K = sympy.symbols("M N K", positive=True, integer=True)
    counts = [("paper (eq. 24-27)", product_counts(M, K, N, "paper")),
              ("signed, both factors of both signs (q k^T)", product_counts(M, K, N, "signed", 4, 0)),
              ("signed, one factor one-signed (softmax V, LayerNorm)", product_counts(M, K, N, "signed", 2, 1))]
    lines = [
        "# Signed multiplication network",
        "",
        "<!-- generated by scripts/gen_docs.py from the derivations: do not edit -->",
        "",
        "Beyond the paper. In the [paper's network](multiplication.md) a layer-I neuron holds "
        "$y = \\log(x_1 + c_1) + \\log(x_2 + c_2)$ with $c_i = 1 - a_i$. At time precision $p$ its spike is "
        "off by up to $d_y/(2p)$, so its layer-II term $e^y$ is off by a factor $e^{\\pm d_y/(2p)}$: an error "
        "relative to $(x_1 + c_1)(x_2 + c_2) \\approx c_1 c_2$, however small $x_1 x_2$ is; layer II then "
        "subtracts the shifts and leaves that error on a small result. In a trained ViT this is the largest "
        "share of the error at finite precision (the error budget, `ttfs budget`).",
        "",
        "The signed network (`ttfs_symbolic.spiking.Product`, `construction=\"signed\"`, the "
        "converter's default) splits each factor into its parts $u^{s} = \\mathrm{relu}(s\\,x)$, "
        "$s = \\pm 1$, so that $x = u^{+} - u^{-}$ (only the part of its sign when a factor's range has one "
        "sign), and uses small shifts $e_i = r\\max|x_i|$:",
        "",
        "* **Layer I**: one neuron per pair of parts $(s_1, s_2)$ and per term, input transforms "
        "$f(x) = \\log(\\mathrm{relu}(s\\,x) + e)$ (Theorem 4.1; $\\eta$ vanishes on the silent side of the "
        "kink), weights 1, identity output: $y = \\log(u_1^{s_1} + e_1) + \\log(u_2^{s_2} + e_2)$. Its range "
        "$[\\log(\\ell_1 + e_1) + \\log(\\ell_2 + e_2),\\ \\log(M_1 + e_1) + \\log(M_2 + e_2)]$ "
        "($\\ell$ the least $|x|$, 0 when the range holds 0; $M = \\max|x|$) holds every $y$: no layer-I "
        "neuron clips, and the neuron of two silent parts does not fire.",
        "* **Layer II**: $f = \\exp$ on each layer-I neuron with weight $s_1 s_2$. Since "
        "$\\sum_{s_1, s_2} s_1 s_2 (u_1^{s_1} + e_1)(u_2^{s_2} + e_2) = "
        "(\\sum_{s} s(u_1^{s} + e_1))(\\sum_{s} s(u_2^{s} + e_2))$ and $\\sum_s s(u^s + e) = x$ for a "
        "split factor, the shifts cancel and $V_2 = x_1 x_2$ with no correction synapse. For a one-signed "
        "factor (sign $c$) the sum is $x + c e$, and delayed identity synapses remove "
        "$c_2 e_2 x_1 + c_1 e_1 x_2 + c_1 c_2 e_1 e_2$ as in the paper.",
        "* **Error**: the neuron that carries the product has $e^y = (|x_1| + e_1)(|x_2| + e_2)$, so its "
        "rounding error is relative to about $|x_1 x_2|$; the neurons with one silent part carry "
        "$(|x_1| + e_1)e_2$ and $e_1(|x_2| + e_2)$, small when $r$ is. A smaller $r$ widens layer I's range "
        "($d_y$ grows like $2\\log(1/r)$): calibration picks $r$ from "
        f"{{1e-3, ..., 0.5}} to minimise the expected squared error on the calibration samples "
        "(`spiking.signed_error_proxy`); conversion files record it. Where a factor of an elementwise "
        "product has per-channel ranges (LayerNorm's centred values), each element has the shift "
        "$e = r M_c$ of its own channel and the layer-I range that follows, and the proxy gives each "
        "calibration sample its own channel's range: with the envelope's $M$ (an outlier channel's) the "
        "other channels' shifts look large and too small an $r$ is picked.",
        "",
        "Proof: `python -m proofs.signed_product` (the split, the factorisation of the pair sum, the four "
        "one-signedness cases of the corrections, symbolic K, the error statement, and the library's own "
        "Theorem 4.1 derivations of the layer-I kernels).",
        "",
        f"## Derived layer-I kernels (example: $x \\in [{a_}, {b_}]$, $r = {tex(r_)}$, $e = {tex(e_)}$)",
        "",
    ] + _ROW_HEAD + _neuron_row("part +: log(relu(x) + e)", lp, None, "1") + \
        _neuron_row("part −: log(relu(−x) + e)", lm, None, "1") + \
        _neuron_row(f"one-signed, x in [0, {b_}]: log(x + e)", lpos, None, "1") + [
        "",
        f"Proof records: part + {lp.proof.summary()}; part − {lm.proof.summary()}.",
        "",
        "## Neurons and operations",
        "",
        "| construction | neurons | synaptic operations |",
        "|---|---|---|",
    ] + [f"| {label} | ${tex(sympy.expand(n))}$ | ${tex(sympy.expand(o))}$ |" for label, (n, o) in counts] + [
        "",
        "`ttfs energy MODEL --product signed` counts a whole ViT with it (`--product paper`, the default, "
        "reproduces Table 2's accounting); the conversion report counts the construction the model was "
        "converted with. Only the products change: the linear layers, which hold almost all of a ViT's "
        "operations, are the same.",
        "",
        "## Measured: one matrix product, both constructions",
        "",
        "A 16 x 32 times 32 x 16 product of factors drawn from N(0, 9) (seed 0), exact operands, quantized "
        "mode, relative Frobenius error of the result (the output neuron's own rounding included):",
        "",
    ] + _signed_error_table() + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
