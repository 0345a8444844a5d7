/* Body of ticks.c for one REAL type (float or double); see ticks.c. */

/* Tick k = clamp(rint((b - x) * scale), 0, p) of a value x: the nearest of
 * p ticks to x's spike time (k = p: no spike). NaN goes to 0 here and is
 * counted by the caller's loop, which reports it. */
static inline int32_t NAME(tick)(REAL x, REAL b, REAL scale, REAL pr)
{
    REAL r = RINT((b - x) * scale);
    r = r >= (REAL)0 ? r : (REAL)0;
    r = r <= pr ? r : pr;
    return (int32_t)r;
}

/* Chunks of the elementwise loops below, one OpenMP task each. */
#define CHUNK 16384
/* Values per block of the counting loops: their counters are int32 within a
 * block (the loops vectorize well only so), int64 across blocks. */
#define BLOCK 2048

/* The elementwise loops of one chunk: with a table, out[i] = table[k(x[i])];
 * without one (table NULL), out[i] = b - k*step, the value of the tick.
 * *clipped counts the x[i] below lo or above hi (the neurons driven out of
 * their range; lo = -inf, hi = +inf count none). Kept outside the OpenMP
 * region so that the compiler vectorizes them. */
static void NAME(tick_chunk)(const REAL *restrict x, int64_t n, REAL b, REAL scale, REAL pr, int64_t p,
                             const REAL *restrict table, REAL step, REAL *restrict out, REAL lo, REAL hi,
                             int64_t *nan, int64_t *fired, int64_t *clipped)
{
    const int32_t p32 = (int32_t)p;
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        const int64_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
        int32_t nn = 0, f = 0, c = 0;
        if (table) {
            for (int64_t i = i0; i < i0 + m; i++) {
                const REAL v = x[i];
                const int32_t k = NAME(tick)(v, b, scale, pr);
                nn += v != v;
                f += k < p32;
                c += (v < lo) + (v > hi);
                out[i] = table[k];
            }
        } else {
            for (int64_t i = i0; i < i0 + m; i++) {
                const REAL v = x[i];
                const int32_t k = NAME(tick)(v, b, scale, pr);
                nn += v != v;
                f += k < p32;
                c += (v < lo) + (v > hi);
                out[i] = b - (REAL)k * step;
            }
        }
        *nan += nn;
        *fired += f;
        *clipped += c;
    }
}

/* The same value loop for rows of S neurons with a range each (per-channel and
 * per-neuron ranges): neuron s of every row has its own b, scale and step, and
 * its own lo, hi for the count (-inf, +inf: none). */
static void NAME(tick_rows)(const REAL *x, int64_t rows, int64_t S, const REAL *restrict bs,
                            const REAL *restrict scales, const REAL *restrict steps, REAL pr, int64_t p,
                            const REAL *restrict lo, const REAL *restrict hi, REAL *out, int64_t *nan,
                            int64_t *fired, int64_t *clipped)
{
    const int32_t p32 = (int32_t)p;
    for (int64_t r = 0; r < rows; r++) {
        const REAL *xr = x + r * S;
        REAL *o = out + r * S;
        int32_t nn = 0, f = 0, c = 0;
        for (int64_t s = 0; s < S; s++) {
            const REAL v = xr[s];
            const int32_t k = NAME(tick)(v, bs[s], scales[s], pr);
            nn += v != v;
            f += k < p32;
            c += (v < lo[s]) + (v > hi[s]);
            o[s] = bs[s] - (REAL)k * steps[s];
        }
        *nan += nn;
        *fired += f;
        *clipped += c;
    }
}

/* For i < n, with the tick k of x[i] as above: out[i] = table[k] (table has
 * p + 1 entries) or, when table is NULL, out[i] = b - k*step (the value that
 * tick stands for). *fired = number of i with k < p; *clipped = number of
 * i with x[i] < lo or x[i] > hi. Returns the number of NaN x (their tick is
 * 0: the caller must report them).
 *
 * bs not NULL (no table): x is rows of S neurons, neuron s with the range of
 * bs[s], scales[s], steps[s] and the count bounds los[s], his[s]. */
int64_t NAME(ttfs_tick_lookup)(const REAL *x, int64_t n, REAL b, REAL scale, int64_t p, const REAL *table,
                               REAL step, REAL *out, int64_t *fired, int nthreads, REAL lo, REAL hi,
                               int64_t *clipped, int64_t S, const REAL *bs, const REAL *scales,
                               const REAL *steps, const REAL *los, const REAL *his)
{
    const REAL pr = (REAL)p;
    int64_t nan = 0, f = 0, c = 0;
    if (bs) {
        const int64_t rows = n / S, per = S >= CHUNK ? 1 : CHUNK / S;
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : nan, f, c)
        for (int64_t r = 0; r < rows; r += per) {
            const int64_t m = rows - r < per ? rows - r : per;
            NAME(tick_rows)(x + r * S, m, S, bs, scales, steps, pr, p, los, his, out + r * S, &nan, &f, &c);
        }
    } else {
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : nan, f, c)
        for (int64_t i = 0; i < n; i += CHUNK) {
            const int64_t m = n - i < CHUNK ? n - i : CHUNK;
            NAME(tick_chunk)(x + i, m, b, scale, pr, p, table, step, out + i, lo, hi, &nan, &f, &c);
        }
    }
    *fired = f;
    *clipped = c;
    return nan;
}

/* Exact mode's emitting stage of identity neurons (eq. 14 with h = x) and the
 * clipping count of every neuron, in one pass over x (rows of S neurons; S = 1:
 * one range for all). Neuron s counts as clipped when x < lot[s] or x > hit[s]
 * (the range widened by the float rounding slack: lot <= loc, hit >= hic);
 * *outside = number of x below loc[s] or above hic[s] (the range itself). out (may be NULL: count only):
 * out = clamp(x, loc, hic), NaN kept; when out == x, only the blocks with a
 * value outside are written. */
static void NAME(clamp_block)(const REAL *x, int64_t m, REAL lc, REAL hc, REAL *out)
{
    for (int64_t i = 0; i < m; i++) {
        const REAL v = x[i];
        out[i] = v < lc ? lc : (v > hc ? hc : v);
    }
}

static void NAME(clip_chunk)(const REAL *x, int64_t rows, int64_t S, const REAL *restrict lot,
                             const REAL *restrict hit, const REAL *restrict loc, const REAL *restrict hic,
                             REAL lt, REAL ht, REAL lc, REAL hc, REAL *out, int64_t *count, int64_t *outside)
{
    if (!lot) {   /* one range: the bounds are the scalars */
        for (int64_t i0 = 0; i0 < rows; i0 += BLOCK) {
            const int64_t m = rows - i0 < BLOCK ? rows - i0 : BLOCK;
            const REAL *xb = x + i0;
            int32_t cb = 0, ob = 0;
            for (int64_t i = 0; i < m; i++)
                ob += (xb[i] < lc) + (xb[i] > hc);
            if (ob)   /* lt <= lc and ht >= hc: only a block with a value outside can count one */
                for (int64_t i = 0; i < m; i++)
                    cb += (xb[i] < lt) + (xb[i] > ht);
            *count += cb;
            *outside += ob;
            if (out && (ob || out != x))
                NAME(clamp_block)(xb, m, lc, hc, out + i0);
        }
        return;
    }
    for (int64_t r = 0; r < rows; r++) {
        const REAL *xr = x + r * S;
        int32_t cb = 0, ob = 0;
        for (int64_t s = 0; s < S; s++)
            ob += (xr[s] < loc[s]) + (xr[s] > hic[s]);
        if (ob)
            for (int64_t s = 0; s < S; s++)
                cb += (xr[s] < lot[s]) + (xr[s] > hit[s]);
        *count += cb;
        *outside += ob;
        if (out && (ob || out != x))
            for (int64_t s = 0; s < S; s++) {
                const REAL v = xr[s];
                out[r * S + s] = v < loc[s] ? loc[s] : (v > hic[s] ? hic[s] : v);
            }
    }
}

/* The clipping count and clamp above over x (n values, rows of S neurons with
 * the bounds lot, hit, loc, hic each; lot NULL: one range, the scalars lt, ht,
 * lc, hc, and S = 1); returns the count. */
int64_t NAME(ttfs_clip)(const REAL *x, int64_t n, int64_t S, const REAL *lot, const REAL *hit, const REAL *loc,
                        const REAL *hic, REAL lt, REAL ht, REAL lc, REAL hc, REAL *out, int64_t *outside,
                        int nthreads)
{
    const int64_t rows = n / S, per = S >= CHUNK ? 1 : CHUNK / S;
    int64_t c = 0, o = 0;
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : c, o)
    for (int64_t r = 0; r < rows; r += per) {
        const int64_t m = rows - r < per ? rows - r : per;
        NAME(clip_chunk)(x + r * S, m, S, lot, hit, loc, hic, lt, ht, lc, hc, out ? out + r * S : NULL, &c, &o);
    }
    *outside = o;
    return c;
}

/* ttfs_clip for ranges broadcast over a middle run of dimensions (per head over a head's rows and columns,
 * per head and feature over the tokens): x is blocks of R rows of S neurons, block b takes the S bounds
 * of range group b mod O (lot, hit, loc, hic: O*S values each); S = 1 runs the one-range loop on each
 * block's R values. Reads each value once and the bounds of its group, instead of bounds broadcast to
 * every value. Returns the count; *outside as ttfs_clip. */
int64_t NAME(ttfs_clip_blocks)(const REAL *x, int64_t n, int64_t O, int64_t R, int64_t S, const REAL *lot,
                               const REAL *hit, const REAL *loc, const REAL *hic, REAL *out, int64_t *outside,
                               int nthreads)
{
    const int64_t blocks = (R * S) ? n / (R * S) : 0;
    int64_t c = 0, o = 0;
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : c, o)
    for (int64_t k = 0; k < blocks; k++) {
        const int64_t g = (k % O) * S;
        const REAL *xb = x + k * R * S;
        REAL *ob = out ? out + k * R * S : NULL;
        if (S == 1)
            NAME(clip_chunk)(xb, R, 1, NULL, NULL, NULL, NULL, lot[g], hit[g], loc[g], hic[g], ob, &c, &o);
        else
            NAME(clip_chunk)(xb, R, S, lot + g, hit + g, loc + g, hic + g, 0, 0, 0, 0, ob, &c, &o);
    }
    *outside = o;
    return c;
}

#if defined(__AVX512F__) && REAL_IS_FLOAT
/* A masked 16-lane step of exact mode's identity neurons with a range per neuron (the linear layers' and
 * LayerNorm's passes below): the count of v outside [lt, ht] and clip(v, lc, hc), the four bounds read at b + c
 * (bounds arrays S values apart). The count's bounds hold the clip's (lt <= lc, hc <= ht: the callers',
 * Population.clip_pack), so lanes inside [lc, hc] are neither clipped nor counted: the usual case takes two
 * compares. NaN: uncounted, kept. */
static inline __m512 clip16(__m512 v, const float *restrict b, int64_t S, int64_t c, __mmask16 k, int32_t *n)
{
    const __m512 lo = _mm512_maskz_loadu_ps(k, b + 2 * S + c), hi = _mm512_maskz_loadu_ps(k, b + 3 * S + c);
    const __mmask16 below = _mm512_mask_cmp_ps_mask(k, v, lo, _CMP_LT_OQ),
                    above = _mm512_mask_cmp_ps_mask(k, v, hi, _CMP_GT_OQ);
    if (!(below | above))
        return v;
    *n += __builtin_popcount(_mm512_mask_cmp_ps_mask(k, v, _mm512_maskz_loadu_ps(k, b + c), _CMP_LT_OQ)) +
          __builtin_popcount(_mm512_mask_cmp_ps_mask(k, v, _mm512_maskz_loadu_ps(k, b + S + c), _CMP_GT_OQ));
    return _mm512_mask_mov_ps(_mm512_mask_mov_ps(v, below, lo), above, hi);
}

#endif

/* One run of L values of the pass below: dst[c] = clip(src[c] + bias[c], loc[c], hic[c]) (bias NULL: none)
 * and the count of the potentials outside [lot[c], hit[c]], the bounds at pack + c, S values apart (dst may
 * be src). */
static inline int32_t NAME(bias_clip_run)(const REAL *src, REAL *dst, int64_t L, const REAL *bias,
                                          const REAL *pack, int64_t S)
{
    int32_t n = 0;
#if defined(__AVX512F__) && REAL_IS_FLOAT
    if (bias) {
        for (int64_t c = 0; c < L; c += 16) {
            const __mmask16 k = L - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (L - c)) - 1u);
            const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, src + c), _mm512_maskz_loadu_ps(k, bias + c));
            _mm512_mask_storeu_ps(dst + c, k, clip16(v, pack, S, c, k, &n));
        }
        return n;
    }
#endif
    const REAL *lot = pack, *hit = pack + S, *loc = pack + 2 * S, *hic = pack + 3 * S;
#pragma omp simd reduction(+ : n)
    for (int64_t c = 0; c < L; c++) {
        const REAL v = bias ? src[c] + bias[c] : src[c];
        n += (v < lot[c]) + (v > hit[c]);
        dst[c] = v < loc[c] ? loc[c] : (v > hic[c] ? hic[c] : v);
    }
    return n;
}

/* Exact mode's linear neurons (Corollaries 4.2, 4.4) after the matrix product without its bias, over R rows
 * of C (row r at x + r ld: a slice of a wider product, ld >= C): clip(x + bias[c], loc[c], hic[c]) (bias
 * NULL: none) and the count of the potentials outside [lot[c], hit[c]]; pack = [lot, hit, loc, hic], C
 * values each, lot <= loc and hic <= hit. In place (out NULL), or into out by heads: the rows are B = R / N
 * blocks of N tokens and the C channels H = C / hd heads of hd, and out is (B, H, N, hd) contiguous (the
 * attention's heads, each a contiguous matrix for one batched product). One pass that replaces torch's copy
 * of the bias into the product's output and the clip's read of it; NaN stays NaN (uncounted, as in
 * ttfs_clip). Returns the count. */
int64_t NAME(ttfs_bias_clip)(REAL *x, int64_t R, int64_t C, int64_t ld, const REAL *bias, const REAL *pack,
                             REAL *out, int64_t N, int64_t hd, int nthreads)
{
    int64_t cnt = 0;
    const int64_t H = out && hd > 0 ? C / hd : 1;
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : cnt)
    for (int64_t r = 0; r < R; r++) {
        REAL *xr = x + r * ld;
        if (!out) {
            cnt += NAME(bias_clip_run)(xr, xr, C, bias, pack, C);
            continue;
        }
        const int64_t b = r / N, t = r - b * N;
        for (int64_t h = 0; h < H; h++)
            cnt += NAME(bias_clip_run)(xr + h * hd, out + ((b * H + h) * N + t) * hd, hd,
                                       bias ? bias + h * hd : NULL, pack + h * hd, C);
    }
    return cnt;
}

/* One neuron of exact mode's identity populations: its clip (eq. 14, h = x) and
 * count. pack = [lot, hit, loc, hic], each S values; i: the neuron's index mod S. */
static inline REAL NAME(clip1)(REAL v, const REAL *restrict pack, int64_t S, int64_t i, int32_t *count)
{
    *count += (v < pack[i]) + (v > pack[S + i]);
    const REAL lc = pack[2 * S + i], hc = pack[3 * S + i];
    return v < lc ? lc : (v > hc ? hc : v);
}

#if defined(__AVX512F__) && REAL_IS_FLOAT
/* The centred pass of one row of ttfs_layernorm (float32, AVX-512): o = clip(x - m) and its count (bounds
 * q1, S1 apart); returns the sum of the squares. The same arithmetic as the scalar loop, 16 lanes at a time. */
static inline float ln_centred16(const float *restrict xr, float m, const float *restrict q1, int64_t S1,
                                 int64_t C, float *restrict o, int32_t *n1)
{
    __m512 acc = _mm512_setzero_ps();
    const __m512 vm = _mm512_set1_ps(m);
    for (int64_t c = 0; c < C; c += 16) {
        const __mmask16 k = C - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (C - c)) - 1u);
        const __m512 v = clip16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, xr + c), vm), q1, S1, c, k, n1);
        _mm512_mask_storeu_ps(o + c, k, v);
        acc = _mm512_mask_add_ps(acc, k, acc, _mm512_mul_ps(v, v));
    }
    return _mm512_reduce_add_ps(acc);
}

/* The output pass of one row (w and bias given): o = clip(o q w + bias) and its count (bounds q4, S4 apart),
 * as the scalar loop ((o q) w + bias, no fused multiply-add). */
static inline void ln_out16(float *restrict o, float q, const float *restrict w, const float *restrict bias,
                            const float *restrict q4, int64_t S4, int64_t C, int32_t *n4)
{
    const __m512 vq = _mm512_set1_ps(q);
    for (int64_t c = 0; c < C; c += 16) {
        const __mmask16 k = C - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (C - c)) - 1u);
        const __m512 y = _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, o + c), vq),
                                                     _mm512_maskz_loadu_ps(k, w + c)),
                                       _mm512_maskz_loadu_ps(k, bias + c));
        _mm512_mask_storeu_ps(o + c, k, clip16(y, q4, S4, c, k, n4));
    }
}
#endif

/* Exact-mode LayerNorm (Section 4.3.3) of R rows of C values with the clip and
 * the count of its five populations fused (eq. 14 with h = x for each):
 *   mean    m = clip(sum_c x / C)              (p0, neuron r)
 *   centred c = clip(x - m)                    (p1, neuron r*C + c)
 *   var     v = clip(sum_c c^2 / C)            (p2, neuron r)
 *   rsqrt   q = clip((v + eps)^(-1/2))         (p3, neuron r)
 *   out     y = clip(c * q * w + bias)         (p4, neuron r*C + c; the product of the
 *                                              multiplication network, exact in this mode)
 * Population k's bounds are pk = [lot, hit, loc, hic] of S[k] values each, for the neuron
 * index mod S[k] (S[k] = 1 for mean, var and rsqrt; a multiple of C for centred and out: the
 * caller spreads one range over a row; lot <= loc and hic <= hit); counts[k] += its neurons outside [lot, hit]. w, bias: C
 * values or NULL. The centred row is kept in out's row until the output overwrites it. The sums'
 * order is the vector lanes' (omp simd reduction): float rounding. */
void NAME(ttfs_layernorm)(const REAL *x, int64_t R, int64_t C, double eps, const REAL *w, const REAL *bias,
                          const REAL *p0, const REAL *p1, const REAL *p2, const REAL *p3, const REAL *p4,
                          const int64_t *S, REAL *out, int64_t *counts, int nthreads)
{
    int64_t c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0;
    /* per row three passes: the sum; the centred clip with its squares' sum; the product with the
     * affine and its clip */
    const REAL *b1 = p1, *b4 = p4;
    const int64_t S1 = S[1], S4 = S[4];
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : c0, c1, c2, c3, c4)
    for (int64_t r = 0; r < R; r++) {
        const REAL *restrict xr = x + r * C;
        REAL *restrict o = out + r * C;
        int32_t n0 = 0, n1 = 0, n2 = 0, n3 = 0, n4 = 0;
        REAL s = 0, s2 = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t c = 0; c < C; c++)
            s += xr[c];
        /* (the neuron indices mod S: no division where S is 1 or a row) */
        const REAL m = NAME(clip1)(s / (REAL)C, p0, S[0], S[0] == 1 ? 0 : r % S[0], &n0);
        const REAL *q1 = b1 + (S1 == C ? 0 : (r * C) % S1), *q4 = b4 + (S4 == C ? 0 : (r * C) % S4);
#if defined(__AVX512F__) && REAL_IS_FLOAT
        s2 = ln_centred16(xr, m, q1, S1, C, o, &n1);
#else
        const REAL *restrict lt = q1, *restrict ht = q1 + S1, *restrict lc = q1 + 2 * S1, *restrict hc = q1 + 3 * S1;
#pragma omp simd reduction(+ : s2, n1)
        for (int64_t c = 0; c < C; c++) {
            REAL v = xr[c] - m;
            n1 += (v < lt[c]) + (v > ht[c]);
            v = v < lc[c] ? lc[c] : (v > hc[c] ? hc[c] : v);
            o[c] = v;
            s2 += v * v;
        }
#endif
        const REAL var = NAME(clip1)(s2 / (REAL)C, p2, S[2], S[2] == 1 ? 0 : r % S[2], &n2);
        const REAL q = NAME(clip1)((REAL)1 / (REAL)sqrt((double)var + eps), p3, S[3], S[3] == 1 ? 0 : r % S[3], &n3);
        const REAL *restrict lt4 = q4, *restrict ht4 = q4 + S4, *restrict lc4 = q4 + 2 * S4,
                   *restrict hc4 = q4 + 3 * S4;
        if (w && bias) {
#if defined(__AVX512F__) && REAL_IS_FLOAT
            ln_out16(o, q, w, bias, q4, S4, C, &n4);
#else
#pragma omp simd reduction(+ : n4)
            for (int64_t c = 0; c < C; c++) {
                REAL y = o[c] * q * w[c] + bias[c];
                n4 += (y < lt4[c]) + (y > ht4[c]);
                o[c] = y < lc4[c] ? lc4[c] : (y > hc4[c] ? hc4[c] : y);
            }
#endif
        } else {
            for (int64_t c = 0; c < C; c++) {
                REAL y = o[c] * q;
                if (w)
                    y = y * w[c];
                if (bias)
                    y = y + bias[c];
                n4 += (y < lt4[c]) + (y > ht4[c]);
                o[c] = y < lc4[c] ? lc4[c] : (y > hc4[c] ? hc4[c] : y);
            }
        }
        c0 += n0;
        c1 += n1;
        c2 += n2;
        c3 += n3;
        c4 += n4;
    }
    counts[0] += c0;
    counts[1] += c1;
    counts[2] += c2;
    counts[3] += c3;
    counts[4] += c4;
}

/* GELU (exact, with erf: x (1 + erf(x / sqrt 2)) / 2, as torch's F.gelu) of n values, vectorized with
 * libmvec's erf */
static VALUE_LOOP void NAME(gelu_values)(const REAL *restrict x, int64_t n, REAL *restrict o)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        o[i] = x[i] * (REAL)0.5 * ((REAL)1 + ERF(x[i] * (REAL)0.70710678118654752440));
}

/* Exact mode's GELU neurons (Corollary 4.5: the input transform f = GELU, identity output): out =
 * clip(gelu(x), a, b) and the count of the outputs outside [lo, hi], in one pass over x (rows of S
 * neurons, neuron s with pack = [lo, hi, a, b], S values each; S = 1: one range). Returns the count;
 * NaN stays NaN (uncounted, as in ttfs_clip). */
int64_t NAME(ttfs_gelu_clip)(const REAL *x, int64_t n, int64_t S, const REAL *pack, REAL *out, int nthreads)
{
    const int64_t rows = n / S, per = S >= CHUNK ? 1 : CHUNK / S;
    const REAL *lot = pack, *hit = pack + S, *loc = pack + 2 * S, *hic = pack + 3 * S;
    int64_t cnt = 0;
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : cnt)
    for (int64_t r0 = 0; r0 < rows; r0 += per) {
        const int64_t m = rows - r0 < per ? rows - r0 : per;
        NAME(gelu_values)(x + r0 * S, m * S, out + r0 * S);
        int32_t c = 0;
        if (S == 1) {   /* one range: the chunk as one vector loop */
            REAL *o = out + r0;
            const REAL lo = lot[0], hi = hit[0], a = loc[0], b = hic[0];
#pragma omp simd reduction(+ : c)
            for (int64_t i = 0; i < m; i++) {
                const REAL v = o[i];
                c += (v < lo) + (v > hi);
                o[i] = v < a ? a : (v > b ? b : v);
            }
        }
        for (int64_t r = r0; S > 1 && r < r0 + m; r++) {
            REAL *o = out + r * S;
            for (int64_t s = 0; s < S; s++) {
                const REAL v = o[s];
                c += (v < lot[s]) + (v > hit[s]);
                o[s] = v < loc[s] ? loc[s] : (v > hic[s] ? hic[s] : v);
            }
        }
        cnt += c;
    }
    return cnt;
}

/* Exact mode's softmax (Section 4.3.2 in closed form: max, x - max, log-sum-exp and
 * clip(exp(z - lse), 0, b), eq. 36) over R rows of N values, one pass per row: m = max (NaN if
 * any value is NaN, as torch.softmax), e = exp(x - m), out = e * (1 / sum e), each output
 * clipped at hc (it is >= 0 = a) and counted when above ht (hc widened by the float slack).
 * pre (NULL: none): the input layer's identity neurons (the attention scores) clipped in the same pass,
 * x = clip(x, a, b) and counted when outside [lo, hi] (NaN uncounted, as in ttfs_clip), row r by range
 * g = (r / RB) mod O of pre = [lo, hi, a, b], O values each; their count in *pre_n. As ttfs_clip_blocks
 * and then this pass without pre: the max of the clipped row is the clipped max (clip is monotone).
 * Returns the count of the outputs. */
static inline int64_t NAME(softmax_rows)(const REAL *x, int64_t R, int64_t N, REAL ht, REAL hc, REAL *out,
                                         const int clip, const REAL *pre, int64_t O, int64_t RB, int64_t *pre_n,
                                         int nthreads)
{
    int64_t cnt = 0, pn = 0;
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : cnt, pn)
    for (int64_t r = 0; r < R; r++) {
        const REAL *restrict xr = x + r * N;
        REAL *restrict o = out + r * N;
        int32_t nan = 0, n = 0, np = 0;
        REAL m = -(REAL)INFINITY, s = 0, lo = 0, hi = 0, a = 0, b = 0;
        if (clip) {
            const int64_t g = (r / RB) % O;
            lo = pre[g], hi = pre[O + g], a = pre[2 * O + g], b = pre[3 * O + g];
        }
#pragma omp simd reduction(| : nan) reduction(max : m)
        for (int64_t c = 0; c < N; c++) {
            nan |= xr[c] != xr[c];
            m = xr[c] > m ? xr[c] : m;
        }
        if (nan)
            m = (REAL)NAN;
        else if (clip)
            m = m < a ? a : (m > b ? b : m);
        /* exp and its sum in one pass; the sum's order is the vector lanes' */
#if defined(__AVX512F__) && REAL_IS_FLOAT
        if (!nan) {   /* ttfs_exp16 (Cephes'), 16 lanes; x - m <= 0, held >= -104 (exp: 0 in float) for -inf;
                        * (max's second operand: NaN from inf - inf stays NaN) */
            __m512 acc = _mm512_setzero_ps();
            const __m512 vm = _mm512_set1_ps(m), low = _mm512_set1_ps(-104.0f);
            const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi), va = _mm512_set1_ps(a),
                         vb = _mm512_set1_ps(b);
            for (int64_t c = 0; c < N; c += 16) {
                const __mmask16 k = N - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (N - c)) - 1u);
                __m512 v = _mm512_maskz_loadu_ps(k, xr + c);
                if (clip) {   /* (no NaN in this row) */
                    np += __builtin_popcount(_mm512_mask_cmp_ps_mask(k, v, vlo, _CMP_LT_OQ)) +
                          __builtin_popcount(_mm512_mask_cmp_ps_mask(k, v, vhi, _CMP_GT_OQ));
                    v = _mm512_min_ps(_mm512_max_ps(v, va), vb);
                }
                const __m512 e = ttfs_exp16(_mm512_max_ps(low, _mm512_sub_ps(v, vm)));
                _mm512_mask_storeu_ps(o + c, k, e);
                acc = _mm512_mask_add_ps(acc, k, acc, e);
            }
            s = _mm512_reduce_add_ps(acc);
        } else
#endif
        {   /* (libmvec's exp, vectorized) */
#pragma omp simd reduction(+ : s, np)
            for (int64_t c = 0; c < N; c++) {
                REAL v = xr[c];
                if (clip) {
                    np += (v < lo) + (v > hi);
                    v = v < a ? a : (v > b ? b : v);
                }
                const REAL e = EXP(v - m);
                o[c] = e;
                s += e;
            }
        }
        const REAL inv = (REAL)1 / s;
#pragma omp simd reduction(+ : n)
        for (int64_t c = 0; c < N; c++) {
            const REAL v = o[c] * inv;
            n += v > ht;
            o[c] = v > hc ? hc : v;
        }
        cnt += n;
        pn += np;
    }
    if (clip)
        *pre_n = pn;
    return cnt;
}

int64_t NAME(ttfs_softmax)(const REAL *x, int64_t R, int64_t N, REAL ht, REAL hc, REAL *out, const REAL *pre,
                           int64_t O, int64_t RB, int64_t *pre_n, int nthreads)
{
    if (pre)
        return NAME(softmax_rows)(x, R, N, ht, hc, out, 1, pre, O > 0 ? O : 1, RB > 0 ? RB : 1, pre_n, nthreads);
    return NAME(softmax_rows)(x, R, N, ht, hc, out, 0, NULL, 1, 1, NULL, nthreads);
}

/* Tick of a layer-I neuron of the product below from u = u1 - v2 (the
 * time-to-spike in ticks): clamp(rint(u), 0, p). */
static inline int32_t NAME(tick_of)(REAL u, REAL pr)
{
    REAL r = RINT(u);
    r = r >= (REAL)0 ? r : (REAL)0;
    r = r <= pr ? r : pr;
    return (int32_t)r;
}

/* The signed construction's sign of each term (NULL for the paper's): the table
 * has 2(p + 1) entries, [T, -T], and the term of (i, k, j) reads entry
 * tick + (o1 ^ o2), o = P = p + 1 where the part is negative (its factor x < 0), 0 where it
 * is not (x >= 0, -0 and NaN included: the sign s(x) of SignedOperand.sign); x1 NULL: the
 * constant o1 = c1 for every k; x2 likewise: the sign of the product of the two parts, exactly,
 * from the factors' values (no sign table is made). */
typedef struct {
    const REAL *x1, *x2;
    int32_t c1, c2, P;
} NAME(signed_t);

/* One row of the product below, any REAL: o[j] = sum_k table[tick_of(a[k] - v2[k, j])] (signed
 * construction: the entry shifted by the terms' signs, see signed_t). */
static int64_t NAME(product_row)(const REAL *restrict a, const REAL *restrict v2, int64_t K, int64_t N, int64_t p,
                                 const REAL *restrict table, REAL *restrict o, int count,
                                 const NAME(signed_t) *sg)
{
    const REAL pr = (REAL)p;
    int64_t f = 0;
    for (int64_t j = 0; j < N; j++)
        o[j] = (REAL)0;
    for (int64_t k = 0; k < K; k++) {
        const REAL ak = a[k];
        const REAL *restrict c = v2 + k * N;
        if (sg) {
            const int32_t o1 = sg->x1 ? (sg->x1[k] < (REAL)0 ? sg->P : 0) : sg->c1;
            for (int64_t j = 0; j < N; j++) {
                const int32_t t = NAME(tick_of)(ak - c[j], pr);
                f += count & (t < p);
                o[j] += table[t + (o1 ^ (sg->x2 ? (sg->x2[k * N + j] < (REAL)0 ? sg->P : 0) : sg->c2))];
            }
        } else if (count) {
            for (int64_t j = 0; j < N; j++) {
                const int32_t t = NAME(tick_of)(ak - c[j], pr);
                f += t < p;
                o[j] += table[t];
            }
        } else {
            for (int64_t j = 0; j < N; j++)
                o[j] += table[NAME(tick_of)(ak - c[j], pr)];
        }
    }
    return f;
}

#if defined(__AVX2__) && REAL_IS_FLOAT
/* The same row for float32 with AVX2, 16 columns at a time, each column's
 * sum kept in a register over k (the same additions in the same order as
 * product_row, so the same sums). The tick: min(u, p), then vcvtps2dq, which
 * rounds half to even like rint, then max(., 0): clamp(rint(u), 0, p) for
 * every non-NaN u (u below -2^31 converts to INT_MIN, then 0). The gathers
 * bound the speed (about one layer-I neuron per cycle); the signs shift the
 * gathered entry (an integer xor and add). */
static int64_t NAME(product_row_avx2)(const float *restrict a, const float *restrict v2, int64_t K, int64_t N,
                                      int64_t p, const float *restrict table, float *restrict o, int count,
                                      const NAME(signed_t) *sg)
{
    const __m256 vpr = _mm256_set1_ps((float)p);
    const __m256i vzero = _mm256_setzero_si256(), vp = _mm256_set1_epi32((int32_t)p);
    int64_t f = 0, j = 0;
    for (; j + 16 <= N; j += 16) {
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        __m256i cnt0 = vzero, cnt1 = vzero;
        for (int64_t k = 0; k < K; k++) {
            const __m256 ak = _mm256_set1_ps(a[k]);
            const float *c = v2 + k * N + j;
            __m256i t0 = _mm256_max_epi32(
                _mm256_cvtps_epi32(_mm256_min_ps(_mm256_sub_ps(ak, _mm256_loadu_ps(c)), vpr)), vzero);
            __m256i t1 = _mm256_max_epi32(
                _mm256_cvtps_epi32(_mm256_min_ps(_mm256_sub_ps(ak, _mm256_loadu_ps(c + 8)), vpr)), vzero);
            if (count) {   /* t < p gives -1 in a lane: subtracting counts it */
                cnt0 = _mm256_sub_epi32(cnt0, _mm256_cmpgt_epi32(vp, t0));
                cnt1 = _mm256_sub_epi32(cnt1, _mm256_cmpgt_epi32(vp, t1));
            }
            if (sg) {
                const __m256i o1 = _mm256_set1_epi32(sg->x1 ? (sg->x1[k] < 0.0f ? sg->P : 0) : sg->c1);
                if (sg->x2) {   /* P in the lanes whose x2 < 0 */
                    const float *q = sg->x2 + k * N + j;
                    const __m256i vP = _mm256_set1_epi32(sg->P);
                    const __m256i n0 = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(
                        _mm256_loadu_ps(q), _mm256_setzero_ps(), _CMP_LT_OQ)), vP);
                    const __m256i n1 = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(
                        _mm256_loadu_ps(q + 8), _mm256_setzero_ps(), _CMP_LT_OQ)), vP);
                    t0 = _mm256_add_epi32(t0, _mm256_xor_si256(o1, n0));
                    t1 = _mm256_add_epi32(t1, _mm256_xor_si256(o1, n1));
                } else {
                    const __m256i sh = _mm256_xor_si256(o1, _mm256_set1_epi32(sg->c2));
                    t0 = _mm256_add_epi32(t0, sh);
                    t1 = _mm256_add_epi32(t1, sh);
                }
            }
            acc0 = _mm256_add_ps(acc0, _mm256_i32gather_ps(table, t0, 4));
            acc1 = _mm256_add_ps(acc1, _mm256_i32gather_ps(table, t1, 4));
        }
        _mm256_storeu_ps(o + j, acc0);
        _mm256_storeu_ps(o + j + 8, acc1);
        if (count) {
            int32_t lanes[8];
            _mm256_storeu_si256((__m256i *)lanes, _mm256_add_epi32(cnt0, cnt1));
            for (int l = 0; l < 8; l++)
                f += lanes[l];
        }
    }
    for (; j < N; j++) {   /* the last columns, one at a time */
        float acc = 0.0f;
        for (int64_t k = 0; k < K; k++) {
            const int32_t t = NAME(tick_of)(a[k] - v2[k * N + j], (float)p);
            f += count && t < p;
            const int32_t o1 = sg ? (sg->x1 ? (sg->x1[k] < 0.0f ? sg->P : 0) : sg->c1) : 0;
            const int32_t o2 = sg ? (sg->x2 ? (sg->x2[k * N + j] < 0.0f ? sg->P : 0) : sg->c2) : 0;
            acc += table[t + (o1 ^ o2)];
        }
        o[j] = acc;
    }
    return f;
}
#if defined(__AVX512F__)
/* One block of W = 16 columns (mask m: the columns present, the last block may have fewer) of the row
 * below, with AVX-512: the same additions in the same order as product_row (each column's sum over k
 * in a lane), so the same sums; two blocks per pass keep two gathers in flight. */
#define PRODUCT_LANES(T, C, Q, M)                                                                      \
    T = _mm512_max_epi32(_mm512_cvtps_epi32(_mm512_min_ps(_mm512_sub_ps(ak, _mm512_maskz_loadu_ps(M, C)), \
                                                          vpr)), vzero);                             \
    if (count)                                                                                         \
        cnt += (int64_t)__builtin_popcount((unsigned)_mm512_mask_cmplt_epi32_mask(M, T, vp));          \
    if (sg) {                                                                                          \
        const __m512i o1 = _mm512_set1_epi32(sg->x1 ? (sg->x1[k] < 0.0f ? sg->P : 0) : sg->c1);        \
        T = _mm512_add_epi32(T, _mm512_xor_si512(o1, (Q) ? _mm512_maskz_mov_epi32(                     \
            _mm512_mask_cmp_ps_mask(M, _mm512_maskz_loadu_ps(M, (Q)), _mm512_setzero_ps(), _CMP_LT_OQ),\
            _mm512_set1_epi32(sg->P)) : _mm512_set1_epi32(sg->c2)));                                   \
    }
static int64_t NAME(product_row_avx512)(const float *restrict a, const float *restrict v2, int64_t K, int64_t N,
                                        int64_t p, const float *restrict table, float *restrict o, int count,
                                        const NAME(signed_t) *sg)
{
    const __m512 vpr = _mm512_set1_ps((float)p);
    const __m512i vzero = _mm512_setzero_si512(), vp = _mm512_set1_epi32((int32_t)p);
    int64_t cnt = 0, j = 0;
    const __mmask16 all = (__mmask16)0xFFFF;
    for (; j + 32 <= N; j += 32) {
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
        for (int64_t k = 0; k < K; k++) {
            const __m512 ak = _mm512_set1_ps(a[k]);
            const float *c = v2 + k * N + j;
            const float *q = sg && sg->x2 ? sg->x2 + k * N + j : NULL;
            __m512i t0, t1;
            PRODUCT_LANES(t0, c, q, all)
            PRODUCT_LANES(t1, c + 16, q ? q + 16 : NULL, all)
            acc0 = _mm512_add_ps(acc0, _mm512_i32gather_ps(t0, table, 4));
            acc1 = _mm512_add_ps(acc1, _mm512_i32gather_ps(t1, table, 4));
        }
        _mm512_storeu_ps(o + j, acc0);
        _mm512_storeu_ps(o + j + 16, acc1);
    }
    for (; j < N; j += 16) {   /* the last columns: one block, masked */
        const __mmask16 m = N - j >= 16 ? all : (__mmask16)((1u << (N - j)) - 1u);
        __m512 acc = _mm512_setzero_ps();
        for (int64_t k = 0; k < K; k++) {
            const __m512 ak = _mm512_set1_ps(a[k]);
            const float *c = v2 + k * N + j;
            const float *q = sg && sg->x2 ? sg->x2 + k * N + j : NULL;
            __m512i t;
            PRODUCT_LANES(t, c, q, m)
            acc = _mm512_add_ps(acc, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, t, table, 4));
        }
        _mm512_mask_storeu_ps(o + j, m, acc);
    }
    return cnt;
}
#undef PRODUCT_LANES
/* rows of 32 columns or more: AVX-512; narrower rows (16 to 31 columns, and 1 to 15 in its tail): the
 * AVX2 row, whose 16-column blocks fit them (so both vector paths run, and are tested, on such a CPU) */
static int64_t NAME(product_row_wide)(const float *restrict a, const float *restrict v2, int64_t K, int64_t N,
                                      int64_t p, const float *restrict table, float *restrict o, int count,
                                      const NAME(signed_t) *sg)
{
    return N >= 32 ? NAME(product_row_avx512)(a, v2, K, N, p, table, o, count, sg)
                   : NAME(product_row_avx2)(a, v2, K, N, p, table, o, count, sg);
}
#define PRODUCT_ROW NAME(product_row_wide)
#else
#define PRODUCT_ROW NAME(product_row_avx2)
#endif
#else
#define PRODUCT_ROW NAME(product_row)
#endif

/* Layer I of the multiplication network as a matrix product (Section 4.3.4):
 * for every batch element, i < M, j < N:
 *     out[i, j] = sum_{k < K} table[clamp(rint(u1[i, k] - v2[k, j]), 0, p)]
 * u1 = (b - l1)*scale and v2 = l2*scale are layer I's two input terms in
 * ticks, so u1 - v2 is the neuron's time to spike in ticks. u1 is (B, M, K),
 * v2 is (B, K, N), out is (B, M, N), all contiguous. The M*N*K layer-I
 * neurons are never stored: each adds its term to out[i, j] as it is made,
 * k in increasing order. *fired = number of layer-I neurons that spike
 * (tick < p) when count is nonzero. Inputs are checked for NaN by the caller.
 *
 * The signed construction (is_signed nonzero): the table is [T, -T] and each
 * term reads T[tick] times the sign of its two parts, read from the factors x1 (B, M, K)
 * and x2 (B, K, N) (NULL: the constant offsets c1, c2 for all), see signed_t. */
void NAME(ttfs_product_matmul)(const REAL *u1, const REAL *v2, int64_t B, int64_t M, int64_t K, int64_t N,
                               int64_t p, const REAL *table, REAL *out, int count, int64_t *fired, int nthreads,
                               int is_signed, const REAL *x1, const REAL *x2, int32_t c1, int32_t c2)
{
    int64_t f = 0;
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : f)
    for (int64_t row = 0; row < B * M; row++) {
        const int64_t kn = (row / M) * K * N;
        NAME(signed_t) sg = {x1 ? x1 + row * K : NULL, x2 ? x2 + kn : NULL, c1, c2, (int32_t)p + 1};
        f += PRODUCT_ROW(u1 + row * K, v2 + kn, K, N, p, table, out + row * N, count, is_signed ? &sg : NULL);
    }
    *fired = f;
}
#undef PRODUCT_ROW

/* Kernel-mode emission (Theorem 4.3 on the tick grid): m = the first index
 * with P[m] >= theta - V (P non-decreasing, p entries; m = p if none), as
 * torch.searchsorted(P, theta - V, side="left"); out[i] = values[m] (p + 1
 * entries). The comparison is in float64. *fired = number of i with m < p.
 * Returns the number of NaN V.
 *
 * guess (may be NULL) is a value near the output, e.g. the closed form
 * clip(h(V), a, b): the search starts at its tick (b, scale as in tick())
 * and walks to m, so it takes a step or two instead of log2(p) when the
 * guess is good. The result is m whatever the guess, since P is sorted:
 * the walk stops only where P[m - 1] < theta - V <= P[m]. */
int64_t NAME(ttfs_threshold_lookup)(const REAL *restrict V, int64_t n, double theta,
                                   const double *restrict P, int64_t p, const REAL *restrict values,
                                   const REAL *restrict guess, REAL b, REAL scale, REAL *restrict out,
                                   int64_t *fired, int nthreads)
{
    const REAL pr = (REAL)p;
    int64_t nan = 0, f = 0;
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : nan, f)
    for (int64_t i = 0; i < n; i++) {
        const double need = theta - (double)V[i];
        int64_t m;
        nan += need != need;
        if (guess) {
            m = NAME(tick)(guess[i], b, scale, pr);
            while (m > 0 && P[m - 1] >= need)
                m--;
            while (m < p && P[m] < need)
                m++;
        } else {
            /* branch-free lower bound over P[0..p) */
            const double *base = P;
            int64_t len = p;
            while (len > 0) {
                const int64_t half = len >> 1;
                const int less = base[half] < need;
                base = less ? base + half + 1 : base;
                len = less ? len - half - 1 : half;
            }
            m = base - P;
        }
        f += m < p;
        out[i] = values[m];
    }
    *fired = f;
    return nan;
}

/* The log code (dynamics.quantize_log_values): rows of S neurons, neuron s with the range [a, b] and
 * its two sign parts. pack holds 12 arrays of S values: a, b, lo, hi (the count bounds: a value below lo
 * or above hi counts as clipped), then for the + part uhi = log(M + e), e, scale = p / du, step = du / p,
 * then the same four for the - part. A value is clipped to [a, b]; 0 stays 0; x > 0 goes to
 * exp(uhi - k step) - e with k = clamp(rint((uhi - log(x + e)) scale), 0, p), x < 0 likewise on -x and
 * negated. *clipped counts the values outside [lo, hi]. Returns the number of NaN values (out 0 there). */
/* The values of n log-coded neurons, neuron i with the constants of range i: clipped to [a, b], 0 stays
 * 0, otherwise the nearest tick of log(|x| + e). */
static VALUE_LOOP void NAME(log_values)(const REAL *restrict x, int64_t n, const REAL *restrict pk, int64_t S,
                                        REAL pr, REAL *restrict out)
{
    const REAL *a = pk, *b = pk + S;
    const REAL *uhp = pk + 4 * S, *ep = pk + 5 * S, *scp = pk + 6 * S, *stp = pk + 7 * S;
    const REAL *uhn = pk + 8 * S, *en = pk + 9 * S, *scn = pk + 10 * S, *stn = pk + 11 * S;
#if defined(__AVX512F__) && REAL_IS_FLOAT
    (void)S;
    for (int64_t i = 0; i < n; i += 16) {   /* vecmath_avx512.h */
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
#define L(arr) _mm512_maskz_loadu_ps(m, arr + i)
        ttfs_log_code16(x + i, out + i, m, L(a), L(b), L(uhp), L(ep), L(scp), L(stp), L(uhn), L(en), L(scn),
                        L(stn), _mm512_set1_ps(pr));
#undef L
    }
#else
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const int64_t s = i;
        REAL v = x[i];
        v = v < a[s] ? a[s] : (v > b[s] ? b[s] : v);
        const int neg = v < (REAL)0;
        const REAL uh = neg ? uhn[s] : uhp[s], e = neg ? en[s] : ep[s];
        const REAL sc = neg ? scn[s] : scp[s], st = neg ? stn[s] : stp[s];
        REAL k = RINT((uh - LOG((neg ? -v : v) + e)) * sc);
        k = k < (REAL)0 ? (REAL)0 : (k > pr ? pr : k);
        const REAL q = EXP(uh - k * st) - e;
        out[i] = v == (REAL)0 ? (REAL)0 : (neg ? -q : q);
    }
#endif
}

/* the same with one range for all (its constants scalars, so that nothing is gathered) */
static VALUE_LOOP void NAME(log_values1)(const REAL *restrict x, int64_t n, const REAL *restrict pk, REAL pr,
                                         REAL *restrict out)
{
    const REAL a = pk[0], b = pk[1], uhp = pk[4], ep = pk[5], scp = pk[6], stp = pk[7];
    const REAL uhn = pk[8], en = pk[9], scn = pk[10], stn = pk[11];
#if defined(__AVX512F__) && REAL_IS_FLOAT
    for (int64_t i = 0; i < n; i += 16) {   /* vecmath_avx512.h */
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
#define B(c) _mm512_set1_ps(c)
        ttfs_log_code16(x + i, out + i, m, B(a), B(b), B(uhp), B(ep), B(scp), B(stp), B(uhn), B(en), B(scn), B(stn),
                        B(pr));
#undef B
    }
#else
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        REAL v = x[i];
        v = v < a ? a : (v > b ? b : v);
        const int neg = v < (REAL)0;
        const REAL uh = neg ? uhn : uhp, e = neg ? en : ep, sc = neg ? scn : scp, st = neg ? stn : stp;
        REAL k = RINT((uh - LOG((neg ? -v : v) + e)) * sc);
        k = k < (REAL)0 ? (REAL)0 : (k > pr ? pr : k);
        const REAL q = EXP(uh - k * st) - e;
        out[i] = v == (REAL)0 ? (REAL)0 : (neg ? -q : q);
    }
#endif
}

/* rows of S neurons (S = 1: one range for all): the NaN and clip counts (strict arithmetic), then the values */
static void NAME(log_rows)(const REAL *x, int64_t rows, int64_t S, const REAL *restrict pk, REAL pr,
                           REAL *out, int64_t *nan, int64_t *clipped)
{
    const REAL *lo = pk + 2 * S, *hi = pk + 3 * S;
    int64_t nn = 0, c = 0;
    if (S == 1) {
        const int64_t n = rows;
        for (int64_t i = 0; i < n; i++) {
            const REAL v = x[i];
            nn += v != v;
            c += (v < lo[0]) + (v > hi[0]);
        }
        NAME(log_values1)(x, n, pk, pr, out);
    } else {
        for (int64_t r = 0; r < rows; r++) {
            const REAL *xr = x + r * S;
            for (int64_t s = 0; s < S; s++) {   /* the log code's counts */
                const REAL u = xr[s];
                nn += u != u;
                c += (u < lo[s]) + (u > hi[s]);
            }
            NAME(log_values)(xr, S, pk, S, pr, out + r * S);
        }
    }
    *nan += nn;
    *clipped += c;
}

int64_t NAME(ttfs_log_ticks)(const REAL *x, int64_t n, int64_t S, const REAL *pack, int64_t p, REAL *out,
                             int64_t *clipped, int nthreads)
{
    const REAL pr = (REAL)p;
    int64_t nan = 0, c = 0;
    const int64_t rows = n / S, per = S >= CHUNK ? 1 : CHUNK / S;
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : nan, c)
    for (int64_t r = 0; r < rows; r += per) {
        const int64_t m = rows - r < per ? rows - r : per;
        NAME(log_rows)(x + r * S, m, S, pack, pr, out + r * S, &nan, &c);
    }
    *clipped = c;
    return nan;
}

#undef CHUNK
#undef BLOCK
