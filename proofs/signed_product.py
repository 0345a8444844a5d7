"""The signed multiplication network (this library's; ttfs_symbolic.spiking.Product).

Beyond the paper. Each factor x_i with range [a_i, b_i] is split into its
parts u_i^s = relu(s x_i), s = +1, -1 (only the part of its sign when the
range has one sign), so that x_i = sum_s s u_i^s. Layer I has one neuron per
pair of parts (s1, s2) with f = log(relu(s x) + e_i) on each input (Theorem
4.1; e_i = r max|x_i| > 0 small), identity output:
y = log(u_1^{s1} + e_1) + log(u_2^{s2} + e_2). Layer II sums
s1 s2 exp(y) over the pairs (f = exp, weights s1 s2) and, for a one-signed
factor (sign c_i), the delayed identity corrections of the paper's network.

What is proved here, symbolically, with x_i, e_i, u_i free:

1. the split: sum_s s relu(s x) = x for x > 0, x < 0 and x = 0;
2. the pair sum factorises: sum_{s1,s2} s1 s2 (u1^{s1} + e1)(u2^{s2} + e2)
   = (sum_s1 s1 (u1^{s1} + e1)) (sum_s2 s2 (u2^{s2} + e2)), and each factor
   is x_i for a split factor (the shifts cancel), c_i (|x_i| + e_i) for a
   one-signed one; so layer II's potential is x1 x2 after the corrections
   e2 c2 x1 + e1 c1 x2 + c1 c2 e1 e2 (three one-signedness cases);
3. the matrix form for symbolic K (SymPy Sum): V2_ij = sum_k x1_ik x2_kj;
4. the error statement: a layer-I potential rounded by at most delta_y
   changes that neuron's term by at most exp(y) expm1(delta_y), and the
   neuron that carries the product has exp(y) = (|x1| + e1)(|x2| + e2);
5. the layer-I kernels are Theorem 4.1's: the library's own derive_input of
   log(relu(x) + e) and log(relu(-x) + e) on a range across 0 returns a
   proof record that holds (the accumulated-potential identity and C), and
   its eta is 0 on the silent side of the kink.

Run: ``python -m proofs.signed_product``.
"""
from __future__ import annotations

import sympy as sp

from ._common import ProofResult, _Steps

NAME = "signed_product"
STATEMENT = (
    "Signed product (this library's): with x = sum_s s relu(s x), layer I neurons "
    "log(relu(s1 x1) + e1) + log(relu(s2 x2) + e2) and layer II sum_{s1,s2} s1 s2 exp(y) (plus the paper's "
    "delayed corrections for a one-signed factor) give x1 x2 exactly, for any K; a layer-I rounding error "
    "delta changes a term by at most (|x1| + e1)(|x2| + e2) expm1(delta)."
)


def relu(v):
    return sp.Max(v, 0)


def prove() -> ProofResult:
    st = _Steps()
    t = sp.Symbol("t", positive=True)
    x = sp.Symbol("x", real=True)
    # 1. the split
    split = sum(s * relu(s * x) for s in (1, -1))
    st.check("split, x = t > 0: relu(x) - relu(-x) = x", split.subs(x, t) - t)
    st.check("split, x = -t < 0: relu(x) - relu(-x) = x", split.subs(x, -t) - (-t))
    st.check("split, x = 0: relu(0) - relu(0) = 0", split.subs(x, 0))

    # 2. the pair sum factorises (a polynomial identity in free parts u)
    e1, e2 = sp.symbols("e1 e2", positive=True)
    u1p, u1m, u2p, u2m = sp.symbols("u1p u1m u2p u2m", nonnegative=True)
    u1, u2 = {1: u1p, -1: u1m}, {1: u2p, -1: u2m}
    pairs = sum(s1 * s2 * sp.exp(sp.log(u1[s1] + e1) + sp.log(u2[s2] + e2)) for s1 in (1, -1) for s2 in (1, -1))
    A1 = sum(s * (u1[s] + e1) for s in (1, -1))
    A2 = sum(s * (u2[s] + e2) for s in (1, -1))
    st.check("layer II, four pairs: sum s1 s2 exp(y) = (u1+ - u1-)(u2+ - u2-) (the shifts e cancel)",
             pairs - A1 * A2)
    st.check("... = x1 x2 with u_i^s = relu(s x_i) (by step 1)", A1 * A2 - (u1p - u1m) * (u2p - u2m))
    # one-signed factors: c_i = +1 (x >= 0: u = x) or -1 (x <= 0: u = -x), one part
    x1, x2 = sp.symbols("x1 x2", real=True)
    for c1, c2, label in ((1, 0, "x1 one-signed (c1 = +1), x2 split"), (0, -1, "x1 split, x2 one-signed (c2 = -1)"),
                          (1, 1, "both one-signed (c = +1, +1)"), (-1, 1, "both one-signed (c = -1, +1)")):
        def parts(c, xv, up, um):
            return {c: c * xv} if c else {1: up, -1: um}
        P1 = parts(c1, x1, u1p, u1m)
        P2 = parts(c2, x2, u2p, u2m)
        V = sum(s1 * s2 * sp.exp(sp.log(P1[s1] + e1) + sp.log(P2[s2] + e2)) for s1 in P1 for s2 in P2)
        V -= c2 * e2 * (x1 if c1 else u1p - u1m) + c1 * e1 * (x2 if c2 else u2p - u2m) + c1 * c2 * e1 * e2
        want = (x1 if c1 else u1p - u1m) * (x2 if c2 else u2p - u2m)
        st.check(f"{label}: pairs plus delayed corrections e2 c2 x1 + e1 c1 x2 + c1 c2 e1 e2 give x1 x2", V - want)

    # 3. matrix form, symbolic K
    k, K = sp.Symbol("k", integer=True, positive=True), sp.Symbol("K", integer=True, positive=True)
    P, M_, Q, R = (sp.IndexedBase(n, nonnegative=True) for n in ("P", "M", "Q", "R"))   # u1+, u1-, u2+, u2-
    term = sum(s1 * s2 * (({1: P, -1: M_}[s1][k]) + e1) * (({1: Q, -1: R}[s2][k]) + e2)
               for s1 in (1, -1) for s2 in (1, -1))
    st.check("symbolic K: Sum_k sum_pairs s1 s2 exp(y_k) = Sum_k x1_k x2_k (x1_k = P_k - M_k, x2_k = Q_k - R_k)",
             sp.Sum(sp.expand(term), (k, 1, K)).doit() - sp.Sum(sp.expand((P[k] - M_[k]) * (Q[k] - R[k])),
                                                                 (k, 1, K)).doit())

    # 4. the error statement
    y, dy = sp.Symbol("y", real=True), sp.Symbol("delta", real=True)
    st.check("a rounded potential y + delta changes exp(y) by exp(y) (exp(delta) - 1)",
             sp.exp(y + dy) - sp.exp(y) - sp.exp(y) * (sp.exp(dy) - 1))
    m1, m2 = sp.symbols("m1 m2", nonnegative=True)
    st.check("the neuron of the carrying parts: exp(log(|x1| + e1) + log(|x2| + e2)) = (|x1| + e1)(|x2| + e2)",
             sp.exp(sp.log(m1 + e1) + sp.log(m2 + e2)) - (m1 + e1) * (m2 + e2))
    d = sp.Symbol("d", positive=True)
    st.check("|exp(delta) - 1| <= exp(|delta|) - 1: for delta = -d < 0, (exp(d) - 1) - (1 - exp(-d)) "
             "= 4 sinh(d/2)^2", (sp.exp(d) - 1) - (1 - sp.exp(-d)) - 4 * sp.sinh(d / 2) ** 2)
    st.require("4 sinh(d/2)^2 > 0 for d > 0 (SymPy's sign assumptions)", (4 * sp.sinh(d / 2) ** 2).is_positive)

    # 5. Theorem 4.1 kernels of layer I, from the library
    from ttfs_symbolic.symbolic.derive import derive_input

    e = sp.Rational(1, 50)
    for s in (1, -1):
        f = f"log(relu({'x' if s > 0 else '-x'}) + 1/50)"
        it = derive_input(f, -2, 3)
        st.require(f"derive_input({f!r}, -2, 3): proof record holds ({it.proof.summary()})", bool(it.proof.holds))
        silent_side = sp.Rational(1, 2) if s < 0 else -1   # a point where relu(s x) = 0
        xs = sp.Symbol("x", real=True)
        deriv = sp.diff(sp.log(relu(s * xs) + e), xs).subs(xs, silent_side)
        st.check(f"f' = 0 where relu({'x' if s > 0 else '-x'}) = 0 (x = {silent_side}): eta vanishes there",
                 deriv)
    return ProofResult(NAME, STATEMENT, st.lines, st.ok, [])


if __name__ == "__main__":
    from ._common import main

    main(prove)
