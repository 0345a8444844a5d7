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

/* A factor of the signed construction's matrix product (spiking/product.py _signed_by_neuron, whose torch
 * lines are the reference), one pass over its n values x with the shift e: l = log(|x| + e) (layer I's
 * term of the carrying part), s = -1 where x < 0 else +1 (NULL: a one-signed factor, its sign c), and,
 * where E is not NULL, the term of the layer-I neuron whose other factor's part is silent:
 *     E = (T[k] - sub) s,  k = clamp(rint((b - (l + le)) scale), 0, p)
 * (le = log of the other factor's shift; T: p + 1 entries). *fired (unless NULL) counts those k < p.
 * Returns the number of NaN x. */
static VALUE_LOOP void NAME(signed_factor_chunk)(const REAL *restrict x, int64_t n, REAL e, REAL le, REAL b,
                                                 REAL scale, REAL pr, const REAL *restrict T, REAL sub, REAL c,
                                                 REAL *restrict l, REAL *restrict s, REAL *restrict E)
{
#if defined(__AVX512F__) && REAL_IS_FLOAT
    const __m512 ve = _mm512_set1_ps(e), vle = _mm512_set1_ps(le), vb = _mm512_set1_ps(b);
    const __m512 vsc = _mm512_set1_ps(scale), vpr = _mm512_set1_ps(pr), zero = _mm512_setzero_ps();
    const __m512 vsub = _mm512_set1_ps(sub), vc = _mm512_set1_ps(c), one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __m512 lv = ttfs_log16(_mm512_add_ps(_mm512_abs_ps(v), ve));
        _mm512_mask_storeu_ps(l + i, m, lv);
        const __mmask16 neg = _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ);
        const __m512 sv = s ? _mm512_mask_mov_ps(one, neg, _mm512_set1_ps(-1.0f)) : vc;
        if (s)
            _mm512_mask_storeu_ps(s + i, m, sv);
        if (E) {
            __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_sub_ps(vb, _mm512_add_ps(lv, vle)), vsc),
                                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            k = _mm512_min_ps(_mm512_max_ps(k, zero), vpr);
            const __m512 t = _mm512_mask_i32gather_ps(zero, m, _mm512_cvtps_epi32(k), T, 4);
            _mm512_mask_storeu_ps(E + i, m, _mm512_mul_ps(_mm512_sub_ps(t, vsub), sv));
        }
    }
#else
    for (int64_t i = 0; i < n; i++) {
        const REAL v = x[i];
        const REAL lv = LOG((v < (REAL)0 ? -v : v) + e);
        const REAL sv = s ? (v < (REAL)0 ? (REAL)-1 : (REAL)1) : c;
        l[i] = lv;
        if (s)
            s[i] = sv;
        if (E)
            E[i] = (T[NAME(tick)(lv + le, b, scale, pr)] - sub) * sv;
    }
#endif
}

int64_t NAME(ttfs_signed_factor)(const REAL *x, int64_t n, REAL e, REAL le, REAL b, REAL scale, int64_t p,
                                 const REAL *T, REAL sub, REAL c, REAL *l, REAL *s, REAL *E, int64_t *fired,
                                 int nthreads)
{
    const REAL pr = (REAL)p;
    int64_t nan = 0, f = 0;
    const int64_t chunk = 16384;
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : nan, f)
    for (int64_t i = 0; i < n; i += chunk) {
        const int64_t m = n - i < chunk ? n - i : chunk;
        NAME(signed_factor_chunk)(x + i, m, e, le, b, scale, pr, T, sub, c, l + i, s ? s + i : NULL,
                                  E ? E + i : NULL);
        int64_t nn = 0, ff = 0;
        for (int64_t j = i; j < i + m; j++) {   /* (strict arithmetic: the NaN test; the ticks again from l) */
            nn += x[j] != x[j];
            if (E && fired)
                ff += NAME(tick)(l[j] + le, b, scale, pr) < p;
        }
        nan += nn, f += ff;
    }
    if (fired)
        *fired = f;
    return nan;
}
