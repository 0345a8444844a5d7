/* log and exp of 16 floats with AVX-512 for the log code's value loop (ticks_body.h, log_values): Cephes'
 * logf and expf (S. L. Moshier; relative error about 1e-7, as libm's), written with AVX-512's getexp,
 * getmant and scalef. libmvec's vector variants take 2 ns a value for the log and the exp on the CPUs this
 * was measured on, five times torch's own; these take about a third of that. Included once by ticks.c,
 * where __AVX512F__ is defined. A tick that lands within float rounding of a tick boundary may then round
 * to the other side, as it may between libm and torch (the tests allow one tick in float32). */

/* log(w) for finite w > 0 (the log code's |x| + e, e > 0) */
static inline __m512 ttfs_log16(__m512 w)
{
    __m512 m = _mm512_getmant_ps(w, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);   /* w = m 2^e, m in [1, 2) */
    __m512 e = _mm512_getexp_ps(w);
    const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
    m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));                 /* m in [sqrt(1/2), sqrt(2)] */
    e = _mm512_mask_add_ps(e, big, e, _mm512_set1_ps(1.0f));
    const __m512 x = _mm512_sub_ps(m, _mm512_set1_ps(1.0f)), z = _mm512_mul_ps(x, x);
    __m512 y = _mm512_set1_ps(7.0376836292e-2f);
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(-1.1514610310e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.1676998740e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(-1.2420140846e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.4249322787e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(-1.6668057665e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(2.0000714765e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(-2.4999993993e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(3.3333331174e-1f));
    y = _mm512_mul_ps(_mm512_mul_ps(y, x), z);
    y = _mm512_fmadd_ps(e, _mm512_set1_ps(-2.12194440e-4f), y);               /* e ln2, low part */
    y = _mm512_fnmadd_ps(z, _mm512_set1_ps(0.5f), y);
    return _mm512_fmadd_ps(e, _mm512_set1_ps(0.693359375f), _mm512_add_ps(x, y));   /* + e ln2, high part */
}

/* exp(x) for finite x of moderate size (the log code's uhi - k step: within a range's logs) */
static inline __m512 ttfs_exp16(__m512 x)
{
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, n);
}

/* The log code's values of 16 neurons (the mask: those present), their constants as vectors: the value
 * clipped to [a, b], 0 stays 0, otherwise exp(uh - k st) - e with k = clamp(rint((uh - log(|v| + e)) sc),
 * 0, p), negated for v < 0 (uh, e, sc, st of the part of v's sign). */
static inline void ttfs_log_code16(const float *x, float *out, __mmask16 m, __m512 a, __m512 b, __m512 uhp,
                                   __m512 ep, __m512 scp, __m512 stp, __m512 uhn, __m512 en, __m512 scn,
                                   __m512 stn, __m512 pr)
{
    const __m512 zero = _mm512_setzero_ps();
    __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_maskz_loadu_ps(m, x), a), b);
    const __mmask16 neg = _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), nil = _mm512_cmp_ps_mask(v, zero, _CMP_EQ_OQ);
    const __m512 uh = _mm512_mask_blend_ps(neg, uhp, uhn), e = _mm512_mask_blend_ps(neg, ep, en);
    const __m512 sc = _mm512_mask_blend_ps(neg, scp, scn), st = _mm512_mask_blend_ps(neg, stp, stn);
    const __m512 w = _mm512_add_ps(_mm512_abs_ps(v), e), l = ttfs_log16(w);
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_sub_ps(uh, l), sc),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    k = _mm512_min_ps(_mm512_max_ps(k, zero), pr);
    const __m512 t = _mm512_fnmadd_ps(k, st, uh);
    /* exp(t) = w exp(t - l) (w = exp(l)): t - l is within half a tick (st / 2) of 0 where k was not clamped,
     * and its exp a short series (degree 4: the remainder below 1e-8 for |t - l| <= 1/16, under float's
     * rounding; about 25% of this loop's time saved at p = 1024). A lane farther (a coarse grid, p / du < 8,
     * or a clamped tick): the whole vector by the exp itself. */
    const __m512 d = _mm512_sub_ps(t, l);
    __m512 q;
    if (_mm512_mask_cmp_ps_mask(m, _mm512_abs_ps(d), _mm512_set1_ps(0.0625f), _CMP_NLE_UQ)) {
        q = ttfs_exp16(t);
    } else {
        __m512 y = _mm512_fmadd_ps(_mm512_set1_ps(1.0f / 24), d, _mm512_set1_ps(1.0f / 6));
        y = _mm512_fmadd_ps(y, d, _mm512_set1_ps(0.5f));
        y = _mm512_fmadd_ps(y, d, _mm512_set1_ps(1.0f));
        q = _mm512_mul_ps(w, _mm512_fmadd_ps(y, d, _mm512_set1_ps(1.0f)));
    }
    q = _mm512_sub_ps(q, e);
    q = _mm512_mask_sub_ps(q, neg, zero, q);
    q = _mm512_mask_mov_ps(q, nil, zero);
    _mm512_mask_storeu_ps(out, m, q);
}
