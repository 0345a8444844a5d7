/* The softmax at time precision p (quantized and kernel modes) in two C passes per row around the
 * log-sum-exp neuron (included by ticks.c once per REAL, after ticks_body.h; see fused.softmax_terms and
 * fused.softmax_out, and SpikingSoftmax in spiking/layers.py, whose torch path is the reference).
 *
 * Section 4.3.2 (eq. 33-36): z = x - max (layer 0, one linear range), the log-sum-exp neuron receives
 * f(z) = exp(z) from every z of its row (layer I) and layer II emits clip(exp(z - lse), a, b) on the log
 * code. The caller emits the max and the log-sum-exp (one neuron per row) in torch; these passes do the
 * rest, which touches every value: pass 1 the z ticks, their input terms and the row sums; pass 2 layer II's
 * potentials, their clip count, h = exp and the log code's ticks. */

/* One row of pass 1 (N values): z, and the sum of the terms (table[tick of z on the sender's grid tb, tsc],
 * or exp(z) where table is NULL) in *sum. Returns the number of NaN x. */
static int64_t NAME(sm_terms_row)(const REAL *restrict x, REAL m, int64_t N, REAL zb, REAL zsc, REAL zst, REAL pr,
                                  const REAL *restrict table, REAL tb, REAL tsc, REAL *restrict z, REAL *sum)
{
    int64_t nan = 0;
    REAL s = 0;
#if defined(__AVX512F__) && REAL_IS_FLOAT
    /* (explicit: GCC vectorizes neither the gather nor libmvec's exp well here; ttfs_exp16 is Cephes') */
    __m512 acc = _mm512_setzero_ps();
    const __m512 vzb = _mm512_set1_ps(zb), vzsc = _mm512_set1_ps(zsc), vzst = _mm512_set1_ps(zst);
    const __m512 vm = _mm512_set1_ps(m), vpr = _mm512_set1_ps(pr), zero = _mm512_setzero_ps();
    const __m512 vtb = _mm512_set1_ps(tb), vtsc = _mm512_set1_ps(tsc);
    for (int64_t i = 0; i < N; i += 16) {
        const __mmask16 k = N - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (N - i)) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(k, x + i);
        nan += __builtin_popcount((unsigned)_mm512_mask_cmp_ps_mask(k, v, v, _CMP_UNORD_Q));
        __m512 t = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_sub_ps(vzb, _mm512_sub_ps(v, vm)), vzsc),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        t = _mm512_min_ps(_mm512_max_ps(t, zero), vpr);   /* (max first: a NaN becomes 0, as in tick()) */
        const __m512 zz = _mm512_sub_ps(vzb, _mm512_mul_ps(t, vzst));
        _mm512_mask_storeu_ps(z + i, k, zz);
        __m512 e;
        if (table) {
            __m512 u = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_sub_ps(vtb, zz), vtsc),
                                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            u = _mm512_min_ps(_mm512_max_ps(u, zero), vpr);
            e = _mm512_mask_i32gather_ps(zero, k, _mm512_cvtps_epi32(u), table, 4);
        } else {
            e = ttfs_exp16(zz);
        }
        acc = _mm512_mask_add_ps(acc, k, acc, e);
    }
    s = _mm512_reduce_add_ps(acc);
#else
    for (int64_t i = 0; i < N; i++) {
        const REAL v = x[i];
        nan += v != v;
        const REAL zz = zb - (REAL)NAME(tick)(v - m, zb, zsc, pr) * zst;   /* z on its tick, as tick_values */
        z[i] = zz;
        s += table ? table[NAME(tick)(zz, tb, tsc, pr)] : EXP(zz);
    }
#endif
    *sum = s;
    return nan;
}

/* Pass 1 over R rows of N values x (contiguous) with the rows' emitted max m (R values): z (R N values) and
 * the rows' sums of the log-sum-exp neuron's input terms (R values). zb, zsc, zst: the z layer's b, p / d
 * and d / p per row (R values: one range, or one per head). table: p + 1 terms per tick of the z layer's
 * grid (kernel mode with one range: term_table, with the grid's tb, tsc), or NULL for exp(z) (quantized
 * mode, and kernel mode's closed form on per-head ranges). Returns the number of NaN x (the caller raises;
 * their z are 0). */
int64_t NAME(ttfs_softmax_terms)(const REAL *x, const REAL *m, int64_t R, int64_t N, const REAL *zb,
                                 const REAL *zsc, const REAL *zst, int64_t p, const REAL *table, REAL tb, REAL tsc,
                                 REAL *z, REAL *sums, int nthreads)
{
    const REAL pr = (REAL)p;
    int64_t nan = 0;
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : nan)
    for (int64_t r = 0; r < R; r++)
        nan += NAME(sm_terms_row)(x + r * N, m[r], N, zb[r], zsc[r], zst[r], pr, table, tb, tsc, z + r * N,
                                  sums + r);
    return nan;
}

/* Values of layer II per chunk of a row in pass 2 (made, then coded, while in the first cache level). */
#define SM_CHUNK 256

/* h = clip(exp(V), a, b) for n potentials V = z - l (eq. 14, OutputKernel.apply): b where V >= theta, a where
 * V <= low; the count of V below lo or above hi. */
static int64_t NAME(sm_h)(const REAL *restrict z, REAL l, int64_t n, REAL lo, REAL hi, REAL low, REAL theta,
                          REAL a, REAL b, REAL *restrict h)
{
    int64_t c = 0;
#if defined(__AVX512F__) && REAL_IS_FLOAT
    const __m512 vl = _mm512_set1_ps(l), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b), vth = _mm512_set1_ps(theta);
    const __m512 vlow = _mm512_set1_ps(low);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        const __m512 V = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, z + i), vl);
        c += __builtin_popcount((unsigned)_mm512_mask_cmp_ps_mask(k, V, vlo, _CMP_LT_OQ));
        c += __builtin_popcount((unsigned)_mm512_mask_cmp_ps_mask(k, V, vhi, _CMP_GT_OQ));
        __m512 e = _mm512_min_ps(_mm512_max_ps(ttfs_exp16(_mm512_min_ps(V, vth)), va), vb);
        e = _mm512_mask_mov_ps(e, _mm512_cmp_ps_mask(V, vth, _CMP_GE_OQ), vb);
        e = _mm512_mask_mov_ps(e, _mm512_cmp_ps_mask(V, vlow, _CMP_LE_OQ), va);
        _mm512_mask_storeu_ps(h + i, k, e);
    }
#else
    for (int64_t i = 0; i < n; i++) {
        const REAL V = z[i] - l;
        c += (V < lo) + (V > hi);
        const REAL inside = V < theta ? V : theta;
        REAL e = EXP(inside);
        e = e > a ? e : a;
        e = e < b ? e : b;
        h[i] = V >= theta ? b : (V <= low ? a : e);
    }
#endif
    return c;
}

/* Pass 2 over R rows of N values z with the rows' emitted log-sum-exp l (R values): out = the log code
 * (pack: log_pack's 12 values of one range) of h = clip(exp(z - l), a, b) (a, b: the pack's), b where
 * z - l >= theta and a where z - l <= low (theta = log b, low = log a or -inf). Returns the number of
 * z - l below lo or above hi (the clip count; -inf, inf: none). */
int64_t NAME(ttfs_softmax_out)(const REAL *z, const REAL *l, int64_t R, int64_t N, REAL lo, REAL hi, REAL low,
                               REAL theta, const REAL *pack, int64_t p, REAL *out, int nthreads)
{
    const REAL pr = (REAL)p, a = pack[0], b = pack[1];
    int64_t c = 0;
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : c)
    for (int64_t r = 0; r < R; r++) {
        REAL h[SM_CHUNK];
        for (int64_t i = 0; i < N; i += SM_CHUNK) {
            const int64_t n = N - i < SM_CHUNK ? N - i : SM_CHUNK;
            c += NAME(sm_h)(z + r * N + i, l[r], n, lo, hi, low, theta, a, b, h);
            NAME(log_values1)(h, n, pack, pr, out + r * N + i);
        }
    }
    return c;
}
#undef SM_CHUNK
