/* The signed construction's elementwise product of factors with per-channel constants, at finite p, in
 * one pass (included by ticks.c once per REAL; numeric/fused.py signed_mul, spiking/product.py
 * _signed_elementwise_fine, which is the torch path and the reference).
 *
 * x1: R rows of C values; x2: R rows of C values, or of one value (x2_per_row), broadcast over the row.
 * pk: 8 arrays of C values, the per-channel constants: e1, e2, le1 = log e1, le2 = log e2, hi (layer I's
 * upper end), scale = p / d, step = d / p, E00 = exp(lo) (the term of the silent neuron). A layer-I neuron of
 * potential y spikes at tick k = clamp(rint((hi - y) scale), 0, p) and layer II reads exp(hi - k step); per
 * element:
 *     V = E(l1 + l2) [- E(l1 + le2) if x2 is split] [- E(le1 + l2) if x1 is split] [+ E00 if both],
 *     V *= s1 s2 (s = -1 where x < 0, else +1, for a split factor; c for a one-signed one),
 *     V -= c2 e2 x1 + c1 e1 x2 + c1 c2 e1 e2   (c: the sign of a one-signed factor, 0 for a split one),
 * l = log(|x| + e). *fired counts the ticks < p of every layer-I neuron made. Inputs are checked for NaN
 * by the caller. */
/* One row; split1, split2 and per_row are constants at each call below (so that GCC drops the branches
 * and vectorizes the loop with libmvec's log and exp: a call of a vector variant may not sit in a branch). */
static VALUE_LOOP inline __attribute__((always_inline)) int64_t NAME(signed_mul_row_t)(
    const REAL *restrict x1, const REAL *restrict x2, const REAL *restrict pk, int64_t C, const int split1,
    const int split2, const int per_row, const REAL c1, const REAL c2, const REAL pr, REAL *restrict out)
{
    const REAL *e1 = pk, *e2 = pk + C, *le1 = pk + 2 * C, *le2 = pk + 3 * C, *hi = pk + 4 * C;
    const REAL *sc = pk + 5 * C, *st = pk + 6 * C, *E00 = pk + 7 * C;
    const REAL b0 = x2[0];
    int64_t f = 0;
#pragma omp simd reduction(+ : f)
    for (int64_t c = 0; c < C; c++) {
        const REAL a = x1[c], b = per_row ? b0 : x2[c];
        const REAL l1 = LOG((a < (REAL)0 ? -a : a) + e1[c]), l2 = LOG((b < (REAL)0 ? -b : b) + e2[c]);
        REAL k = RINT((hi[c] - (l1 + l2)) * sc[c]);
        k = k < (REAL)0 ? (REAL)0 : (k > pr ? pr : k);
        f += k < pr;
        REAL V = EXP(hi[c] - k * st[c]);
        if (split2) {
            REAL k2 = RINT((hi[c] - (l1 + le2[c])) * sc[c]);
            k2 = k2 < (REAL)0 ? (REAL)0 : (k2 > pr ? pr : k2);
            f += k2 < pr;
            V -= EXP(hi[c] - k2 * st[c]);
        }
        if (split1) {
            REAL k1 = RINT((hi[c] - (le1[c] + l2)) * sc[c]);
            k1 = k1 < (REAL)0 ? (REAL)0 : (k1 > pr ? pr : k1);
            f += k1 < pr;
            V -= EXP(hi[c] - k1 * st[c]);
        }
        if (split1 && split2)
            V += E00[c];
        V = (split1 ? a < (REAL)0 : c1 < (REAL)0) != (split2 ? b < (REAL)0 : c2 < (REAL)0) ? -V : V;
        out[c] = V - c2 * e2[c] * a - c1 * e1[c] * b - c1 * c2 * e1[c] * e2[c];
    }
    return f;
}

static VALUE_LOOP int64_t NAME(signed_mul_row)(const REAL *x1, const REAL *x2, int per_row, const REAL *pk,
                                               int64_t C, int split1, int split2, REAL c1, REAL c2, REAL pr,
                                               REAL *out)
{
#define ROW(S1, S2, PR) NAME(signed_mul_row_t)(x1, x2, pk, C, S1, S2, PR, c1, c2, pr, out)
    switch ((split1 ? 4 : 0) | (split2 ? 2 : 0) | (per_row ? 1 : 0)) {
    case 0: return ROW(0, 0, 0);
    case 1: return ROW(0, 0, 1);
    case 2: return ROW(0, 1, 0);
    case 3: return ROW(0, 1, 1);
    case 4: return ROW(1, 0, 0);
    case 5: return ROW(1, 0, 1);
    case 6: return ROW(1, 1, 0);
    default: return ROW(1, 1, 1);
    }
#undef ROW
}

void NAME(ttfs_signed_mul)(const REAL *x1, const REAL *x2, int64_t R, int64_t C, int x2_per_row, const REAL *pack,
                           int split1, int split2, int c1, int c2, int64_t p, REAL *out, int64_t *fired,
                           int nthreads)
{
    int64_t f = 0;
    const REAL pr = (REAL)p;
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : f)
    for (int64_t r = 0; r < R; r++)
        f += NAME(signed_mul_row)(x1 + r * C, x2 + (x2_per_row ? r : r * C), x2_per_row, pack, C, split1, split2,
                                  (REAL)c1, (REAL)c2, pr, out + r * C);
    *fired = f;
}
