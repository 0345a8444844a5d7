/* Layer I of the multiplication network as a matrix product when layer II's tick table is geometric
 * (included by ticks.c once per REAL, like ticks_body.h; see numeric/geometric.py).
 *
 * The exp kernel's table is T[t] = T0 g^t (eq. 26: T[t] = exp(b - t d/p), g = exp(-d/p); the kernel
 * integral of eq. 30 is the same to float64 rounding, which geometric.py checks). The term of a layer-I
 * neuron at tick t = rint(u1 - v2) then factors: with u1 = n1 + f1 (n1 = rint(u1), |f1| <= 1/2) and
 * v2 = n2 + f2 (n2 = floor(v2), 0 <= f2 < 1), f1 - f2 lies in (-3/2, 1/2], so
 *     t = n1 - n2 + r,  r = -1 where f2 > f1 + 1/2, else 0,
 *     T[t] = (T0 g^n1) (g^-n2) g^r = A1[i, k] A2[k, j] g^r,
 * a product of a factor made once per (i, k), one made once per (k, j) and one of two values of A1 picked
 * by one comparison: vector arithmetic without the gather of a table entry per neuron. The signs of the
 * signed construction (s = -1 where the factor x < 0, else +1; or a constant) go into A1 and A2. The
 * caller guarantees that the clamp of t to [0, p] never acts (every u1 - v2 within [-1/4, p + 1/4]).
 * r differs from the r of rint(u1 - v2) only where f1 - f2 is within rounding of -1/2 (and at the tie
 * f1 - f2 = +1/2, where rint goes to even): the tick then differs by one, as two roundings of the same
 * potential may. */

/* out[i] = (b - l[i]) s for n values, and their least and largest (u1: b - l1 times the scale; v2 = l2 scale
 * as (0 - l2)(-scale), the same value exactly). */
static VALUE_LOOP void NAME(geo_affine)(const REAL *restrict l, REAL b, REAL s, int64_t n, REAL *restrict out,
                                        REAL *lo, REAL *hi)
{
    REAL mn = INFINITY, mx = -INFINITY;
#pragma omp simd reduction(min : mn) reduction(max : mx)
    for (int64_t i = 0; i < n; i++) {
        out[i] = (b - l[i]) * s;
        mn = out[i] < mn ? out[i] : mn;
        mx = out[i] > mx ? out[i] : mx;
    }
    *lo = mn, *hi = mx;
}

/* The (i, k) side of one batch element (n values) from layer I's first terms l1: u1 = (b - l1) scale (kept in
 * U), A0 = s1 T0 g^n1, Am = A0 / g (r = -1), H = f1 + 1/2 (the threshold of f2). n1 * log g is about
 * l1 - b, so A0 is about |x1| + e1 whatever the offsets of u1 and v2. G (p + 4 values) is made here:
 * T0 g^(base + m - 1), base = the least n1, in double, so A0 and Am are entries rounded once. Returns 1
 * (the call declines) where the n1 span more than p + 1, which no call that keeps every tick in [0, p]
 * has (u1 - v2 in [-1/4, p + 1/4] for all pairs bounds the span of u1 by p + 1/2). */
static VALUE_LOOP int NAME(geo_rows)(const REAL *restrict l1, REAL b, REAL scale, const REAL *restrict x1,
                                     int32_t c1neg, int64_t n, int64_t p, double T0, double lng, REAL *restrict G,
                                     REAL *restrict U, REAL *restrict A0, REAL *restrict Am, REAL *restrict H)
{
    REAL lo, hi;
    NAME(geo_affine)(l1, b, scale, n, U, &lo, &hi);
    const REAL base = RINT(lo);
    if (!(RINT(hi) - base <= (REAL)(p + 1)))
        return 1;
#pragma omp simd
    for (int64_t m = 0; m < p + 4; m++)
        G[m] = (REAL)(T0 * exp(((double)base + (double)m - 1.0) * lng));
    const REAL *restrict u1 = U;
    const REAL top = (REAL)(p + 2);
#if defined(__AVX512F__) && REAL_IS_FLOAT
    for (int64_t i = 0; i < n; i += 16) {   /* the same with explicit gathers (GCC does not vectorize them) */
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        const __m512 u = _mm512_maskz_loadu_ps(k, u1 + i);
        const __m512 n1 = _mm512_roundscale_ps(u, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m512i m = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_sub_ps(n1, _mm512_set1_ps(base)),
                                                                          _mm512_setzero_ps()),
                                                           _mm512_set1_ps(top)));
        _mm512_mask_storeu_ps(A0 + i, k, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, m, G + 1, 4));
        _mm512_mask_storeu_ps(Am + i, k, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, m, G, 4));
        _mm512_mask_storeu_ps(H + i, k, _mm512_add_ps(_mm512_sub_ps(u, n1), _mm512_set1_ps(0.5f)));
    }
#else
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const REAL n1 = RINT(u1[i]);
        const REAL d = n1 - base;
        const int32_t m = (int32_t)(d < (REAL)0 ? (REAL)0 : (d > top ? top : d));
        A0[i] = G[m + 1];
        Am[i] = G[m];
        H[i] = (u1[i] - n1) + (REAL)0.5;
    }
#endif
    if (x1) {   /* the signs: -1 where x1 < 0 */
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const REAL s = x1[i] < (REAL)0 ? (REAL)-1 : (REAL)1;
            A0[i] *= s;
            Am[i] *= s;
        }
    } else if (c1neg) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            A0[i] = -A0[i];
            Am[i] = -Am[i];
        }
    }
    return 0;
}

/* The (k, j) side of one batch element from layer I's second terms l2: v2 = l2 scale (kept in V),
 * A2 = s2 g^-n2, F2 = f2 = v2 - n2 (n values). G (p + 2 values) is made here: g^-(base + m), base = the
 * least n2. Returns 1 (nothing else written) where the n2 span more than p + 1, which no call that keeps
 * every tick in [0, p] has (u1 - v2 in [-1/4, p + 1/4] for all pairs bounds the span of v2 by p + 1/2). */
static VALUE_LOOP int NAME(geo_cols)(const REAL *restrict l2, REAL scale, const REAL *restrict x2, int32_t c2neg,
                                     int64_t n, int64_t p, double lng, REAL *restrict G, REAL *restrict V,
                                     REAL *restrict A, REAL *restrict F)
{
    REAL lo, hi;
    NAME(geo_affine)(l2, (REAL)0, -scale, n, V, &lo, &hi);
    const REAL base = floor(lo);
    if (!(floor(hi) - base <= (REAL)(p + 1)))
        return 1;
#pragma omp simd
    for (int64_t m = 0; m <= p + 1; m++)
        G[m] = (REAL)exp(-((double)base + (double)m) * lng);
    const REAL *restrict v2 = V;
#pragma omp simd
    for (int64_t q = 0; q < n; q++) {
        const REAL n2 = floor(v2[q]);
        A[q] = G[(int32_t)(n2 - base)];
        F[q] = v2[q] - n2;
    }
    if (x2) {   /* the signs: -1 where x2 < 0 */
#pragma omp simd
        for (int64_t q = 0; q < n; q++)
            A[q] *= x2[q] < (REAL)0 ? (REAL)-1 : (REAL)1;
    } else if (c2neg) {
#pragma omp simd
        for (int64_t q = 0; q < n; q++)
            A[q] = -A[q];
    }
    return 0;
}

/* One row: o[j] = sum_k A2[k, j] (F2[k, j] > H[k] ? Am[k] : A0[k]) (k increasing). */
static VALUE_LOOP void NAME(geo_row)(const REAL *restrict A0, const REAL *restrict Am, const REAL *restrict H,
                                     const REAL *restrict A2, const REAL *restrict F2, int64_t K, int64_t N,
                                     REAL *restrict o)
{
    for (int64_t j = 0; j < N; j++)
        o[j] = (REAL)0;
    for (int64_t k = 0; k < K; k++) {
        const REAL h = H[k], a0 = A0[k], am = Am[k];
        const REAL *restrict fv = F2 + k * N, *restrict av = A2 + k * N;
#pragma omp simd
        for (int64_t j = 0; j < N; j++)
            o[j] += av[j] * (fv[j] > h ? am : a0);
    }
}

#if defined(__AVX512F__) && REAL_IS_FLOAT
/* Four rows (i) of one batch element at once with AVX-512, 32 columns at a time (the last block masked):
 * each block of the (k, j) side is read once for the four rows (it is K N values, more than the first
 * cache level holds, so a row at a time would stream it from the second for every row), and the eight
 * sums of a block stay in registers over k (k increasing; each term a fused multiply-add). Rows past nr
 * (the last block of a batch element) repeat row 0 and are not stored. */
#define GEO_TERM(ACC, F, V, R)                                                                          \
    ACC = _mm512_fmadd_ps(V, _mm512_mask_blend_ps(_mm512_cmp_ps_mask(F, _mm512_set1_ps(H[R][k]), _CMP_GT_OQ), \
                                                  _mm512_set1_ps(A0[R][k]), _mm512_set1_ps(Am[R][k])), ACC);
static void NAME(geo_rows4_avx512)(const float *A0[4], const float *Am[4], const float *H[4], int nr,
                                   const float *restrict A2, const float *restrict F2, int64_t K, int64_t N,
                                   float *o[4])
{
    for (int64_t j = 0; j < N; j += 32) {
        const int64_t left = N - j;
        const __mmask16 m0 = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        const __mmask16 m1 = left >= 32 ? (__mmask16)0xFFFF : (left <= 16 ? (__mmask16)0
                                                                             : (__mmask16)((1u << (left - 16)) - 1u));
        __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
               c31 = c00;
        for (int64_t k = 0; k < K; k++) {
            const float *fv = F2 + k * N + j, *av = A2 + k * N + j;
            const __m512 f0 = _mm512_maskz_loadu_ps(m0, fv), f1 = _mm512_maskz_loadu_ps(m1, fv + 16);
            const __m512 v0 = _mm512_maskz_loadu_ps(m0, av), v1 = _mm512_maskz_loadu_ps(m1, av + 16);
            GEO_TERM(c00, f0, v0, 0)
            GEO_TERM(c01, f1, v1, 0)
            GEO_TERM(c10, f0, v0, 1)
            GEO_TERM(c11, f1, v1, 1)
            GEO_TERM(c20, f0, v0, 2)
            GEO_TERM(c21, f1, v1, 2)
            GEO_TERM(c30, f0, v0, 3)
            GEO_TERM(c31, f1, v1, 3)
        }
        const __m512 c[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
        for (int r = 0; r < nr; r++) {
            _mm512_mask_storeu_ps(o[r] + j, m0, c[r][0]);
            _mm512_mask_storeu_ps(o[r] + j + 16, m1, c[r][1]);
        }
    }
}
#undef GEO_TERM
#define GEO_ROWS NAME(geo_rows4_avx512)
#endif

/* The silent layer-I neurons of one row (tick t = n1 - n2 + r >= p): only where u1[k] - vmin[k] comes
 * within a tick of p can a pair be silent, so the other k are skipped. */
static int64_t NAME(geo_silent)(const REAL *u1, const REAL *H, const REAL *v2, const REAL *F2, const REAL *vmin,
                                int64_t K, int64_t N, int64_t p)
{
    int64_t s = 0;
    for (int64_t k = 0; k < K; k++) {
        if (u1[k] - vmin[k] < (REAL)(p - 1))
            continue;
        const int64_t n1 = (int64_t)RINT(u1[k]);
        for (int64_t j = 0; j < N; j++) {
            const int64_t t = n1 - (int64_t)floor(v2[k * N + j]) - (F2[k * N + j] > H[k]);
            s += t >= p;
        }
    }
    return s;
}

/* *lo, *hi: the least and the largest u1 - v2 over all (b, i, k, j), from each batch element's extremes of
 * u1 and v2 (NaN-free input): the check that no tick leaves [0, p]. */
static void NAME(geo_extremes)(const REAL *U, const REAL *V, int64_t B, int64_t MK, int64_t KN, double *lo,
                               double *hi)
{
    double l = INFINITY, h = -INFINITY;
    for (int64_t b = 0; b < B; b++) {   /* per batch element: its rows against its columns */
        REAL umin = INFINITY, umax = -INFINITY, vmin = INFINITY, vmax = -INFINITY;
#pragma omp simd reduction(min : umin) reduction(max : umax)
        for (int64_t i = b * MK; i < (b + 1) * MK; i++) {
            umin = U[i] < umin ? U[i] : umin;
            umax = U[i] > umax ? U[i] : umax;
        }
#pragma omp simd reduction(min : vmin) reduction(max : vmax)
        for (int64_t q = b * KN; q < (b + 1) * KN; q++) {
            vmin = V[q] < vmin ? V[q] : vmin;
            vmax = V[q] > vmax ? V[q] : vmax;
        }
        l = (double)umin - vmax < l ? (double)umin - vmax : l;
        h = (double)umax - vmin > h ? (double)umax - vmin : h;
    }
    *lo = l, *hi = h;
}

/* l1 (B, M, K), l2 (B, K, N): layer I's two terms, u1 = (b - l1) scale and v2 = l2 scale; x1 / x2 (or
 * NULL: the constant signs, c1neg / c2neg nonzero for -1), all contiguous; out (B, M, N). work1: 4 B M K
 * + B (p + 4) values, work2: 3 B K N + B K + B (p + 2) values. Returns 1 without touching out where some u1 - v2 lies outside
 * [-1/4, p + 1/4] (the clamp would act: the caller gathers instead), else 0. *silent = the number of
 * layer-I neurons that do not fire (when count). */
int64_t NAME(ttfs_product_geo)(const REAL *l1, const REAL *l2, REAL bias, REAL scale, int64_t B, int64_t M,
                               int64_t K, int64_t N, int64_t p, double T0, double lng, const REAL *x1,
                               const REAL *x2, int32_t c1neg, int32_t c2neg, REAL *out, int count, int64_t *silent,
                               REAL *work1, REAL *work2, int nthreads)
{
    const int64_t R = B * M, KN = K * N, MK = M * K, n1 = R * K;
    REAL *A0 = work1, *Am = work1 + n1, *H = work1 + 2 * n1, *u1 = work1 + 3 * n1, *G1 = work1 + 4 * n1;
    REAL *A2 = work2, *F2 = work2 + B * KN, *v2 = work2 + 2 * B * KN, *vmin = work2 + 3 * B * KN;
    REAL *G2 = vmin + B * K;
    int declined = 0;
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(| : declined)
    for (int64_t b = 0; b < B; b++) {
        declined |= NAME(geo_rows)(l1 + b * MK, bias, scale, x1 ? x1 + b * MK : NULL, c1neg, MK, p, T0, lng,
                                   G1 + b * (p + 4), u1 + b * MK, A0 + b * MK, Am + b * MK, H + b * MK);
        declined |= NAME(geo_cols)(l2 + b * KN, scale, x2 ? x2 + b * KN : NULL, c2neg, KN, p, lng,
                                   G2 + b * (p + 2), v2 + b * KN, A2 + b * KN, F2 + b * KN);
        for (int64_t k = 0; k < K; k++) {
            const REAL *v = v2 + b * KN + k * N;
            REAL m = v[0];
            for (int64_t j = 1; j < N; j++)
                m = v[j] < m ? v[j] : m;
            vmin[b * K + k] = m;
        }
    }
    if (declined)
        return 1;
    double lo, hi;
    NAME(geo_extremes)(u1, v2, B, M * K, KN, &lo, &hi);
    if (!(lo >= -0.25 && hi <= (double)p + 0.25))
        return 1;
    int64_t s = 0;
#if defined(GEO_ROWS)
    const int64_t blocks = (M + 3) / 4;   /* four rows of one batch element at a time */
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t q = 0; q < B * blocks; q++) {
        const int64_t b = q / blocks, i0 = (q % blocks) * 4;
        const int nr = M - i0 < 4 ? (int)(M - i0) : 4;
        const REAL *a0[4], *am[4], *h[4];
        REAL *o[4];
        for (int r = 0; r < 4; r++) {
            const int64_t off = (b * M + i0 + (r < nr ? r : 0)) * K;
            a0[r] = A0 + off, am[r] = Am + off, h[r] = H + off;
            o[r] = out + (b * M + i0 + (r < nr ? r : 0)) * N;
        }
        GEO_ROWS(a0, am, h, nr, A2 + b * KN, F2 + b * KN, K, N, o);
    }
#else
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t row = 0; row < R; row++)
        NAME(geo_row)(A0 + row * K, Am + row * K, H + row * K, A2 + (row / M) * KN, F2 + (row / M) * KN, K, N,
                      out + row * N);
#endif
    if (count) {
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : s)
        for (int64_t row = 0; row < R; row++) {
            const int64_t b = row / M, o1 = row * K;
            s += NAME(geo_silent)(u1 + o1, H + o1, v2 + b * KN, F2 + b * KN, vmin + b * K, K, N, p);
        }
    }
    *silent = s;
    return 0;
}
#undef GEO_ROWS
