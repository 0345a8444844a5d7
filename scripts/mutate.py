"""Mutation testing: change the library on purpose, one change at a time, and check that a test fails.

    python scripts/mutate.py                     # every mutation, prints a Markdown table
    python scripts/mutate.py --only C_times_d    # one mutation (repeatable)
    python scripts/mutate.py --list              # the mutations and the tests each runs
    python scripts/mutate.py --write docs/mutation.md   # also write the table into that docs page

Each mutation is a text patch (exact ``old`` -> ``new`` in one file). The repository's files (without
.git, .venv and caches) are copied to a temporary folder, the patch is applied there, and the tests
named for that mutation run there with ``python -m pytest -q -x`` (``CI=true``: the derandomized
profile, so a run is reproducible), importing the copy (``PYTHONPATH``). A mutation is *killed* when
a test fails; the table names the first failing test. A patch whose ``old`` text is not found exactly
once is reported as "does not apply" (the code moved: update the patch), and the script exits 1, as
it does for a mutation that survives. The compiled C loops are built once into a folder shared by
the runs (native_build.py keys a build by its source's hash: a mutated C file gets its own build); the
total time is printed at the end (record it in docs/mutation.md with the table).
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".git", ".venv", "site", "__pycache__", ".pytest_cache", ".hypothesis", "*.so",
                                "*.egg-info", "build", "dist")


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str
    patches: tuple          # ((path, old, new), ...): path is a hint (see locate)
    tests: tuple            # pytest arguments
    area: str = ""          # the module family (filled in below when empty)
    equivalent: str = ""    # why no test can kill it (an equivalent mutant): counted apart, not a failure


DERIVE_41 = "ttfs_symbolic/symbolic/theorem_4_1.py"
DERIVE_43 = "ttfs_symbolic/symbolic/theorem_4_3.py"
VERIFY_TRANSFORMS = "ttfs_symbolic/verify/transforms.py"
VERIFY_LAYERS = "ttfs_symbolic/verify/layers.py"
SPIKING = "ttfs_symbolic/spiking/layers.py"
PSI_LINE = "        psi = 1 / (tau * hprime.subs(X, g.subs(Y, b - S / tau)))\n"
CONST_LINE = "    const = f_a / d   # exact (nsimplify would round -3333333333333333/13333333333333333 to -1/4)\n"
TICKS_H = "ttfs_symbolic/numeric/csrc/ticks_body.h"
GEO_H = "ttfs_symbolic/numeric/csrc/geometric_body.h"
SM_H = "ttfs_symbolic/numeric/csrc/softmax_body.h"
SIGNED_H = "ttfs_symbolic/numeric/csrc/signed_body.h"
VECMATH_H = "ttfs_symbolic/numeric/csrc/vecmath_avx512.h"
NATIVE = "ttfs_symbolic/numeric/native.py"
DYNAMICS = "ttfs_symbolic/numeric/dynamics.py"
DERIVE_TESTS = ("tests/symbolic/test_proof_records.py",)

MUTATIONS = (
    Mutation("psi_no_tau_theta_at_a", "Theorem 4.3: psi without its 1/tau and theta = h^-1(a) (issue 11)",
             ((DERIVE_43, PSI_LINE, "        psi = 1 / (hprime.subs(X, g.subs(Y, b - S / tau)))\n"),
              (DERIVE_43, "        theta = g.subs(Y, b)\n", "        theta = g.subs(Y, a)\n")), DERIVE_TESTS),
    Mutation("C_times_d", "Theorem 4.1: C = f(a) d instead of f(a)/d (issue 11)",
             ((DERIVE_41, CONST_LINE, "    const = f_a * d\n"),), DERIVE_TESTS),
    Mutation("psi_off_1e-6", "Theorem 4.3: psi off by a factor 1 + 1e-6",
             ((DERIVE_43, PSI_LINE,
               "        psi = (1 + sympy.Rational(1, 10**6)) / (tau * hprime.subs(X, g.subs(Y, b - S / tau)))\n"),),
             DERIVE_TESTS),
    Mutation("C_off_1e-9", "Theorem 4.1: C off by 1e-9 relative",
             ((DERIVE_41, CONST_LINE,
               "    const = (1 + sympy.Rational(1, 10**9)) * (f_a / d)\n"),),
             DERIVE_TESTS),
    Mutation("eta_off_1e-6", "Theorem 4.1: eta off by 1e-6 relative",
             ((DERIVE_41, "    eta = fprime.subs(X, S / tau + a)\n",
               "    eta = (1 + sympy.Rational(1, 10**6)) * fprime.subs(X, S / tau + a)\n"),), DERIVE_TESTS),
    Mutation("tick_shift_C", "one-tick shift in the C tick loop (numeric/csrc/ticks_body.h)",
             (("ttfs_symbolic/numeric/csrc/ticks_body.h", "    REAL r = RINT((b - x) * scale);\n",
               "    REAL r = RINT((b - x) * scale) + (REAL)1;\n"),),
             ("tests/numeric/test_native.py", "-k", "tick_lookup_matches")),
    Mutation("tick_shift_C_product", "one-tick shift in the C product loop's layer-I tick (tick_of)",
             (("ttfs_symbolic/numeric/csrc/ticks_body.h", "    REAL r = RINT(u);\n",
               "    REAL r = RINT(u) + (REAL)1;\n"),),
             ("tests/numeric/test_native.py", "-k", "product_matmul_matches")),
    Mutation("threshold_shift_C", "one-tick shift in the C threshold search of kernel mode's emitting stage",
             (("ttfs_symbolic/numeric/csrc/ticks_body.h", "        out[i] = values[m];\n",
               "        out[i] = values[m < p ? m + 1 : p];\n"),),
             ("tests/numeric/test_native.py", "-k", "threshold_lookup_matches")),
    Mutation("tick_shift_C_table", "one-tick shift in the C tick loop's table branch only (tick_chunk, table[k])",
             ((TICKS_H, "            out[i] = table[k];\n", "            out[i] = table[k < p ? k + 1 : p];\n"),),
             ("tests/numeric/test_native.py", "-k", "tick_lookup_matches")),
    Mutation("tick_shift_C_value", "one-tick shift in the C tick loop's value branch only (tick_chunk, b - k step)",
             ((TICKS_H, "            out[i] = b - (REAL)k * step;\n",
               "            out[i] = b - (REAL)(k < p ? k + 1 : p) * step;\n"),),
             ("tests/numeric/test_native.py", "-k", "tick_lookup_matches")),
    Mutation("tick_shift_C_product_nocount", "one-tick shift in the C product loop's branch without counting "
             "(product_row, float64)",
             ((TICKS_H, "                o[j] += table[NAME(tick_of)(ak - c[j], pr)];\n",
               "                o[j] += table[NAME(tick_of)(ak - c[j] + (REAL)1, pr)];\n"),),
             ("tests/numeric/test_native.py", "-k", "product_matmul_matches")),
    Mutation("tick_shift_C_product_count", "one-tick shift in the C product loop's counting branch "
             "(product_row, float64)",
             ((TICKS_H, "                o[j] += table[t];\n", "                o[j] += table[t < p ? t + 1 : p];\n"),),
             ("tests/numeric/test_native.py", "-k", "product_matmul_matches")),
    Mutation("tick_shift_C_product_avx2", "one-tick shift in the C product loop's AVX2 path (float32, columns "
             "0-7 of each block of 16)",
             ((TICKS_H, "                _mm256_cvtps_epi32(_mm256_min_ps(_mm256_sub_ps(ak, _mm256_loadu_ps(c)), vpr)), "
               "vzero);\n",
               "                _mm256_cvtps_epi32(_mm256_min_ps(_mm256_add_ps(_mm256_sub_ps(ak, _mm256_loadu_ps(c)), "
               "_mm256_set1_ps(1.0f)), vpr)), vzero);\n"),),
             ("tests/numeric/test_native.py", "-k", "float32_wide_rows")),
    Mutation("tick_shift_C_product_avx2_tail", "one-tick shift in the C product loop's AVX2 tail (float32, the "
             "last N mod 16 columns)",
             ((TICKS_H, "            const int32_t t = NAME(tick_of)(a[k] - v2[k * N + j], (float)p);\n",
               "            const int32_t t = NAME(tick_of)(a[k] - v2[k * N + j] + 1.0f, (float)p);\n"),),
             ("tests/numeric/test_native.py", "-k", "float32_wide_rows")),
    Mutation("threshold_shift_C_search", "one-tick shift in the C threshold search's binary search (no guess)",
             ((TICKS_H, "            m = base - P;\n", "            m = base - P;\n            m += m < p;\n"),),
             ("tests/numeric/test_native.py", "-k", "threshold_lookup_matches")),
    Mutation("threshold_shift_C_guess", "one-tick shift in the C threshold search's walk from the guess",
             ((TICKS_H, "            while (m < p && P[m] < need)\n                m++;\n",
               "            while (m < p && P[m] < need)\n                m++;\n            m += m < p;\n"),),
             ("tests/numeric/test_native.py", "-k", "threshold_lookup_matches")),
    Mutation("threshold_shift_torch", "one-tick shift in the torch threshold search (native.threshold_lookup)",
             ((NATIVE, '    m = torch.searchsorted(P.contiguous(), need.reshape(-1), side="left").reshape(V.shape)\n',
               '    m = (torch.searchsorted(P.contiguous(), need.reshape(-1), side="left").reshape(V.shape) + 1)'
               '.clamp(max=p)\n'),),
             ("tests/numeric/test_native.py", "-k", "threshold_lookup_matches")),
    Mutation("tick_shift_torch", "one-tick shift in the torch tick loop (numeric/native.py tick_of)",
             (("ttfs_symbolic/numeric/native.py", "    return torch.round(u).clamp(0, p)\n",
               "    return (torch.round(u) + 1).clamp(0, p)\n"),),
             ("tests/numeric/test_native.py", "-k", "tick_lookup_matches")),
    Mutation("encoder_shift", "the encoder (dynamics.LayerTiming.encode) one tick of p = 1e6 late",
             (("ttfs_symbolic/numeric/dynamics.py", "    t = T_emit + (b - xc) * (delta / d)\n",
               "    t = T_emit + (b - xc) * (delta / d) + delta * 1e-6\n"),),
             ("tests/numeric/test_dynamics.py", "-k", "encode")),
    Mutation("encoder_shift_fine", "the per-neuron-range encoder (C tick_rows of native.tick_values) one tick late",
             ((TICKS_H, "            o[s] = bs[s] - (REAL)k * steps[s];\n",
               "            o[s] = bs[s] - (REAL)(k < p ? k + 1 : p) * steps[s];\n"),),
             ("tests/conversion/test_finite_precision.py", "-k", "fine_ranges_equal")),
    Mutation("tick_shift_signed_fine", "one-tick shift in the signed product's per-element layer I "
             "(spiking.Product._signed_elementwise_fine)",
             ((SPIKING, "            return val.exp_()\n", "            return (val - c[\"step\"]).exp_()\n"),),
             ("tests/conversion/test_finite_precision.py", "-k", "per_neuron_ranges")),
    Mutation("signed_index_shift", "one-tick shift in the signed product's table index (C product_row, float64)",
             ((TICKS_H, "                o[j] += table[t + (o1 ^ (sg->x2 ? (sg->x2[k * N + j] < (REAL)0 ? sg->P : 0) : "
               "sg->c2))];\n",
               "                o[j] += table[(t < p ? t + 1 : p) + (o1 ^ (sg->x2 ? (sg->x2[k * N + j] < (REAL)0 ? sg->P : "
               "0) : sg->c2))];\n"),),
             ("tests/numeric/test_native.py", "-k", "product_matmul_signed")),
    Mutation("signed_sign_dropped_avx2", "the signed product's AVX2 path ignores the first factor's sign (float32)",
             ((TICKS_H, "                    t0 = _mm256_add_epi32(t0, _mm256_xor_si256(o1, n0));\n",
               "                    t0 = _mm256_add_epi32(t0, n0);\n"),),
             ("tests/numeric/test_native.py", "-k", "signed_float32_wide_rows")),
    # (the AVX-512 rows replace the AVX2 ones where the CPU has AVX-512: these two run there)
    Mutation("signed_sign_dropped_avx512", "the signed product's AVX-512 path ignores the first factor's sign "
             "(float32)",
             ((TICKS_H, "        T = _mm512_add_epi32(T, _mm512_xor_si512(o1, (Q) ? _mm512_maskz_mov_epi32(",
               "        T = _mm512_add_epi32(T, _mm512_xor_si512(_mm512_setzero_si512(), (Q) ? _mm512_maskz_mov_epi32("),),
             ("tests/numeric/test_native_fused.py", "-k", "k_order")),
    Mutation("tick_shift_C_product_avx512", "one-tick shift in the C product loop's AVX-512 lanes (float32)",
             ((TICKS_H, "_mm512_sub_ps(ak, _mm512_maskz_loadu_ps(M, C)), \\\n",
               "_mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_sub_ps(ak, _mm512_maskz_loadu_ps(M, C))), \\\n"),),
             ("tests/numeric/test_native_fused.py", "-k", "k_order")),
    Mutation("signed_table_half_shift", "the negative half of the signed product's table [T, -T] shifted by one "
             "entry (native.product_matmul)",
             ((NATIVE, "            tab = torch.cat([tab, -tab])\n", "            tab = torch.cat([tab, -tab.roll(1)])\n"),),
             ("tests/numeric/test_native.py", "-k", "product_matmul_signed")),
    Mutation("clip_count_low_only_C", "exact mode's C clip counts only the neurons below the range (ttfs_clip)",
             ((TICKS_H, "                    cb += (xb[i] < lt) + (xb[i] > ht);\n", "                    cb += (xb[i] < lt);\n"),),
             ("tests/numeric/test_native.py", "-k", "clip_matches")),
    Mutation("clip_no_upper_clamp_C", "exact mode's C clip does not clamp at b (clamp_block)",
             ((TICKS_H, "        out[i] = v < lc ? lc : (v > hc ? hc : v);\n", "        out[i] = v < lc ? lc : v;\n"),),
             ("tests/numeric/test_native.py", "-k", "clip_matches")),
    Mutation("tick_values_count_low_only_C", "the per-neuron tick loop counts only the neurons below the range "
             "(tick_rows)",
             ((TICKS_H, "            c += (v < lo[s]) + (v > hi[s]);\n", "            c += (v < lo[s]);\n"),),
             ("tests/numeric/test_native.py", "-k", "tick_values_matches")),
    Mutation("layernorm_C_variance_off", "exact mode's one-pass LayerNorm divides the variance by C + 1 "
             "(ttfs_layernorm)",
             ((TICKS_H, "        const REAL var = NAME(clip1)(s2 / (REAL)C, p2, S[2], S[2] == 1 ? 0 : r % S[2], &n2);\n",
               "        const REAL var = NAME(clip1)(s2 / (REAL)(C + 1), p2, S[2], S[2] == 1 ? 0 : r % S[2], &n2);\n"),),
             ("tests/spiking/test_clip_checks.py", "-k", "layernorm_in_one_pass")),
    Mutation("layernorm_one_range_spread_interleaved", "a LayerNorm with one range per population hands the "
             "one-pass C loop its centred / output bounds interleaved ([lo, hi, a, b] per channel, not per bound)",
             (("ttfs_symbolic/numeric/fused.py", "            packs[k] = packs[k].reshape(4, 1).expand(4, C).contiguous()\n",
               "            packs[k] = packs[k].reshape(1, 4).expand(C, 4).contiguous()\n"),),
             ("tests/spiking/test_clip_checks.py", "-k", "fast_paths_equal")),
    Mutation("bias_clip_row_stride_ignored", "exact mode's bias-clip pass reads rows at C instead of their stride "
             "(q, k and v as one product: the thirds overlap)",
             ((TICKS_H, "        REAL *xr = x + r * ld;\n", "        REAL *xr = x + r * C;\n"),),
             ("tests/numeric/test_native_fused.py", "-k", "bias_clip")),
    Mutation("fused_qkv_first_bias_for_all", "q, k and v as one product in exact mode: each third takes q's bias",
             (("ttfs_symbolic/spiking/attention.py", "                                                m.bias.to(x.dtype), ctx, heads))\n",
               "                                                lins[0].bias.to(x.dtype), ctx, heads))\n"),),
             ("tests/spiking/test_clip_checks.py", "-k", "qkv")),
    Mutation("linear_exact_bias_dropped", "exact mode's linear layers drop their bias in the bias-clip pass",
             ((SPIKING, "            return self.out.emit_linear_exact(V, bias, ctx)\n",
               "            return self.out.emit_linear_exact(V, None, ctx)\n"),),
             ("tests/spiking/test_clip_checks.py", "-k", "fast_paths")),
    Mutation("linear_exact_no_shape_check", "exact mode's linear fast path skips the ranges' shape check: a "
             "file's per-channel ranges filed as per-neuron load without a word",
             (("ttfs_symbolic/spiking/emission.py", "        self.bounds(V)   # (the shape check of the ranges, as the "
               "emitting stage makes it: a ValueError naming\n", "        # (no shape check)\n"),),
             ("tests/conversion/test_file_bounds.py", "-k", "per_neuron")),
    Mutation("spike_times_envelope_range", "Population.spike_times times per-head / per-channel ranges' neurons "
             "on the layer's envelope range",
             (("ttfs_symbolic/spiking/population.py", "        if self.fine_a is None:\n            return timing.encode(values, p)\n",
               "        if True:\n            return timing.encode(values, p)\n"),),
             ("tests/spiking/test_spike_times_fine.py",)),
    Mutation("inverse_search_span_1e8", "Theorem 4.3's inverse search stops at |x| = 1e8 again: h = x on [0, 1e10] "
             "refused as not reaching b",
             (("ttfs_symbolic/symbolic/hypotheses.py", "SEARCH_SPAN = 1e30\n", "SEARCH_SPAN = 1e8\n"),),
             ("tests/symbolic/test_derive.py", "-k", "far_beyond")),
    Mutation("clip_blocks_first_group", "exact mode's per-head clip pass clips every block to the first "
             "head's ranges (ttfs_clip_blocks)",
             ((TICKS_H, "        const int64_t g = (k % O) * S;\n", "        const int64_t g = 0;\n"),),
             ("tests/numeric/test_native_fused.py", "-k", "blocks")),
    Mutation("softmax_exact_vector_tail_summed", "exact mode's float32 softmax (AVX-512) sums the masked lanes "
             "past a row's end into the denominator",
             ((TICKS_H, "                acc = _mm512_mask_add_ps(acc, k, acc, e);\n            }\n            s = _mm512_reduce",
               "                acc = _mm512_add_ps(acc, e);\n            }\n            s = _mm512_reduce"),),
             ("tests/numeric/test_native_fused.py", "-k", "softmax_c")),
    Mutation("softmax_scores_clip_vector_dropped", "exact mode's softmax pass leaves the scores unclipped in "
             "its AVX-512 loop (float32)",
             ((TICKS_H, "                    v = _mm512_min_ps(_mm512_max_ps(v, va), vb);\n", ""),),
             ("tests/spiking/test_clip_checks.py", "-k", "scores_clip")),
    Mutation("softmax_scores_head_per_row", "exact mode's softmax pass takes the scores' range of head r mod O "
             "for row r (not its block's)",
             ((TICKS_H, "            const int64_t g = (r / RB) % O;\n", "            const int64_t g = r % O;\n"),),
             ("tests/spiking/test_clip_checks.py", "-k", "scores_clip")),
    Mutation("softmax_scores_max_unclipped", "exact mode's softmax pass subtracts the unclipped max of the scores",
             ((TICKS_H, "        else if (clip)\n            m = m < a ? a : (m > b ? b : m);\n", ""),),
             ("tests/spiking/test_clip_checks.py", "-k", "scores_clip")),
    Mutation("softmax_scores_count_dropped", "exact mode's scores clipped in the softmax pass but their count "
             "not reported",
             ((SPIKING, "        if lims is not None:\n            ctx.add_check(scores.pname, n, V.numel())\n",
               "        if lims is None:\n            ctx.add_check(scores.pname, n, V.numel())\n"),),
             ("tests/spiking/test_clip_checks.py", "-k", "scores_clip")),
    Mutation("layernorm16_clip_skipped", "exact mode's float32 LayerNorm pass (AVX-512) takes its no-clip path "
             "for every vector",
             ((TICKS_H, "    if (!(below | above))\n", "    if (!(below & above))\n"),),
             ("tests/spiking/test_clip_checks.py", "-k", "layernorm_in_one")),
    Mutation("layernorm16_low_count_dropped", "exact mode's float32 LayerNorm pass (AVX-512) does not count the "
             "values below a range",
             ((TICKS_H, "    *n += __builtin_popcount(_mm512_mask_cmp_ps_mask(k, v, _mm512_maskz_loadu_ps(k, b + c), "
                        "_CMP_LT_OQ)) +\n", "    *n += 0 +\n"),),
             ("tests/spiking/test_clip_checks.py", "-k", "layernorm_in_one")),
    Mutation("bias_clip16_bias_dropped", "exact mode's float32 bias-and-clip pass (AVX-512) leaves the bias out",
             ((TICKS_H, "            const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, src + c), "
                        "_mm512_maskz_loadu_ps(k, bias + c));\n",
               "            const __m512 v = _mm512_maskz_loadu_ps(k, src + c);\n"),),
             ("tests/numeric/test_native_fused.py", "-k", "bias_clip_equals")),
    Mutation("bias_clip_heads_reversed", "exact mode's bias-and-clip pass writes the heads in reverse order",
             ((TICKS_H, "            cnt += NAME(bias_clip_run)(xr + h * hd, out + ((b * H + h) * N + t) * hd, hd,\n",
               "            cnt += NAME(bias_clip_run)(xr + h * hd, out + ((b * H + H - 1 - h) * N + t) * hd, hd,\n"),),
             ("tests/numeric/test_native_fused.py", "-k", "bias_clip_into_heads")),
    Mutation("log16_series_half_off", "the AVX-512 log code's series for a tick's exp with 1/4 for the square "
             "term's 1/2",
             ((VECMATH_H, "        y = _mm512_fmadd_ps(y, d, _mm512_set1_ps(0.5f));\n",
               "        y = _mm512_fmadd_ps(y, d, _mm512_set1_ps(0.25f));\n"),),
             ("tests/numeric/test_native_fused.py", "-k", "float32_ticks")),
    Mutation("log16_series_on_coarse_grid", "the AVX-512 log code takes the series for a tick's exp however far "
             "the tick is from log(|x| + e) (a coarse grid)",
             ((VECMATH_H, "_mm512_abs_ps(d), _mm512_set1_ps(0.0625f), _CMP_NLE_UQ)",
               "_mm512_abs_ps(d), _mm512_set1_ps(16.0f), _CMP_NLE_UQ)"),),
             ("tests/numeric/test_native_fused.py", "-k", "float32_ticks")),
    Mutation("clip_blocks_without_c", "exact mode's per-head clip calls the C loop also where it cannot run "
             "(TTFS_NATIVE=0, another device: the bug fixed 2026-12-06)",
             (("ttfs_symbolic/spiking/emission.py",
               "self.fine_a is None or self.fits(V.shape) or not native.available_for(V) \\\n",
               "self.fine_a is None or self.fits(V.shape) \\\n"),),
             ("tests/spiking/test_clip_checks.py", "-k", "without_the_c_loops")),
    Mutation("softmax_exact_count_dropped", "exact mode's softmax does not count the probabilities above b",
             ((SPIKING, "            e, n, pre_n = fused.softmax(s, b * (1 + tol), b, pre)\n",
               "            e, n, pre_n = fused.softmax(s, math.inf, b, pre)\n"),),
             ("tests/conversion/test_finite_precision.py", "-k", "softmax_output_range_clipping")),
    Mutation("layer2_table_shift_quantized", "product network: layer II's tick table exp(b - k d/p) one tick off "
             "(quantized mode)",
             ((SPIKING, "            T = torch.exp(y_pop.b - ticks * (y_pop.d / p))\n",
               "            T = torch.exp(y_pop.b - (ticks + 1) * (y_pop.d / p))\n"),),
             ("tests/conversion/test_nonexact.py", "-k", "product_network")),
    Mutation("layer2_table_shift_kernel", "product network: layer II's kernel-mode table Q[p - k] one tick off",
             ((SPIKING, "            T = q.flip(0) + kexp.f_at(y_pop.a)  # T[k] = Q[p - k] + f(a)\n",
               "            T = torch.cat([q.flip(0)[1:], q[:1]]) + kexp.f_at(y_pop.a)\n"),),
             ("tests/conversion/test_nonexact.py", "-k", "product_network")),
    Mutation("input_table_shift_kernel", "kernel mode: the input term table T[k] = Q[p - k] + f(a) one tick off "
             "(dynamics._term_table)",
             ((DYNAMICS, "    return q.flip(0) + kernel.f_at(a)\n", "    return torch.cat([q.flip(0)[1:], q[:1]]) + kernel.f_at(a)\n"),),
             ("tests/numeric/test_dynamics.py", "-k", "kernel_mode")),
    Mutation("output_table_shift_kernel", "kernel mode: the cumulative psi table P sampled one tick late "
             "(dynamics.output_table)",
             ((DYNAMICS, "    at = np.concatenate([[0.0], (np.arange(p) + 0.5) * (delta / p)])",
               "    at = np.concatenate([[0.0], (np.arange(p) + 1.5) * (delta / p)])"),),
             ("tests/numeric/test_dynamics.py", "-k", "kernel_mode")),
    Mutation("emit_values_shift_kernel", "kernel mode: the value of emitting tick m one tick off "
             "(dynamics._emit_tables)",
             ((DYNAMICS, "    values = b - torch.arange(p + 1, dtype=dtype, device=device) * ((b - a) / p)\n",
               "    values = b - (torch.arange(p + 1, dtype=dtype, device=device) + 1) * ((b - a) / p)\n"),),
             ("tests/numeric/test_dynamics.py", "-k", "kernel_mode")),
    Mutation("decoder_shift", "the decoder (dynamics.LayerTiming.decode) one tick of p = 1e6 off",
             ((DYNAMICS, "        x = (self.b - (torch.where(fired, t, torch.full_like(t, self.T_emit)) - self.T_emit) / self.tau).clamp(\n",
               "        x = (self.b - self.d * 1e-6 - (torch.where(fired, t, torch.full_like(t, self.T_emit)) - self.T_emit) / self.tau).clamp(\n"),),
             ("tests/numeric/test_dynamics.py", "-k", "encode")),
    Mutation("layernorm_eps_dropped", "LayerNorm's eps dropped (model/spiking.py)",
             ((SPIKING, "        self.eps = float(eps)\n", "        self.eps = 0.0\n"),),
             ("tests/spiking/test_model_layers.py", "-k", "layernorm")),
    Mutation("softmax_no_max_quantized", "softmax's max subtraction removed in the non-exact path",
             ((SPIKING, "            z = self.z.emit(s - m, ctx, fresh=True)\n",
               "            z = self.z.emit(s - m if ctx.mode == 'exact' else s, ctx, fresh=True)\n"),),
             ("tests/conversion/test_nonexact.py", "-k", "softmax_within")),
    Mutation("product_constant_dropped", "product network: layer II's constant -c1 c2 dropped (non-exact path)",
             ((SPIKING, "            V = t - c2 * x1 - c1 * x2 - c1 * c2\n", "            V = t - c2 * x1 - c1 * x2\n"),),
             ("tests/conversion/test_nonexact.py", "-k", "product_network")),
    Mutation("kernel_eta_no_offset", "the model's range-generic eta without '+ a' (numeric/kernels.py)",
             (("ttfs_symbolic/numeric/kernels.py", "        self.eta_general = self.fprime.subs(X, S / TAU_SYM + A_SYM)\n",
               "        self.eta_general = self.fprime.subs(X, S / TAU_SYM) + 0 * A_SYM\n"),),
             ("tests/numeric/test_dynamics.py", "-k", "kernel_mode")),
    Mutation("verify_potential_tol_1e-2", "verify: potential tolerance loosened from 1e-9 to 1e-2 (issue 11)",
             ((VERIFY_TRANSFORMS, "POTENTIAL_RTOL = 1e-9\n", "POTENTIAL_RTOL = 1e-2\n"),), ("tests/verify/test_broken.py",)),
    Mutation("verify_psi_tol_1e-2", "verify: psi tolerance loosened from 1e-9 to 1e-2",
             ((VERIFY_TRANSFORMS, "PSI_RTOL = 1e-9\n", "PSI_RTOL = 1e-2\n"),), ("tests/verify/test_broken.py",)),
    Mutation("verify_no_one_spike_check", "verify: the one-spike-per-neuron check skipped (issue 11)",
             ((VERIFY_LAYERS, "        if tuple(out.shape) != (len(Vs), 1):\n", "        if False:\n"),),
             ("tests/verify/test_broken.py",)),
    Mutation("verify_no_below_check", "verify: the below-g(a) check skipped (issue 11)",
             ((VERIFY_TRANSFORMS, "            if not (value == timing.a and t == math.inf):\n", "            if False:\n"),),
             ("tests/verify/test_broken.py",)),
    Mutation("verify_no_silent_check", "verify: the silent-input share d*C = f(a) not checked",
             ((VERIFY_TRANSFORMS, "SILENT_RTOL = 1e-14\n", "SILENT_RTOL = 1.0\n"),), ("tests/verify/test_broken.py",)),
)


# ---------------------------------------------------------------------------------------------- issue 23
# Mutations over every module with behaviour: the paths are hints (locate() finds a moved text), the tests
# the smallest set that kills each (tests/test_strength_*.py were written for them).
SCHEMA = "ttfs_symbolic/conversion/schema.py"
ACTS = "ttfs_symbolic/conversion/activations.py"
BERT = "ttfs_symbolic/families/bert.py"
REPORT = "ttfs_symbolic/evaluation/report.py"
SWEEP = "ttfs_symbolic/evaluation/sweep.py"
ENERGY = "ttfs_symbolic/energy/walker.py"
ENERGY_BERT = "ttfs_symbolic/energy/bert.py"
DATA = "ttfs_symbolic/data/files.py"
INPUTS = "ttfs_symbolic/data/inputs.py"
ONNX = "ttfs_symbolic/data/onnx.py"
FAMILIES = "ttfs_symbolic/conversion/registry.py"
PRESETS = "ttfs_symbolic/conversion/presets.py"
DISTRIBUTED = "ttfs_symbolic/conversion/distributed.py"
CHECKS = "ttfs_symbolic/symbolic/checks.py"
G = "tests/meta/test_strength_guards.py"
MOD = "tests/meta/test_strength_model.py"
IO = "tests/meta/test_strength_io.py"


def _m(name, area, what, path, old, new, *tests, equivalent=""):
    return Mutation(name, what, ((path, old, new),), tests, area, equivalent)


ISSUE23 = (
    # ---- security: the cache folder and the native library (issue 23's first kind)
    _m("cache_folder_group_write_allowed", "security", "a cache folder writable by its group no longer refused",
       NATIVE, "    if st.st_mode & 0o022:\n", "    if st.st_mode & 0o002:\n", G, "-k", "cache_folder"),
    _m("cache_folder_others_write_allowed", "security", "a cache folder writable by others no longer refused",
       NATIVE, "    if st.st_mode & 0o022:\n", "    if st.st_mode & 0o020:\n", G, "-k", "cache_folder"),
    _m("cache_parent_sticky_ignored", "security", "a folder on the cache's path writable by others, no sticky bit, "
       "accepted", NATIVE, "        if pst.st_mode & 0o022 and not pst.st_mode & stat.S_ISVTX:\n",
       "        if False:\n", G, "-k", "cache_folder"),
    _m("cache_folder_symlink_allowed", "security", "a symlinked cache folder accepted",
       NATIVE, '    if stat.S_ISLNK(st.st_mode):\n        return "it is a symbolic link"\n',
       '    if False:\n        return "it is a symbolic link"\n', G, "-k", "cache_folder"),
    _m("library_group_write_allowed", "security", "a native library writable by its group loaded",
       NATIVE, "        elif st.st_mode & 0o022:\n", "        elif st.st_mode & 0o002:\n", G, "-k", "library_file"),
    _m("library_manifest_not_required", "security", "a native library without its SHA-256 manifest loaded",
       NATIVE, "        elif want is None:\n", "        elif False:\n", G, "-k", "library_file"),
    # ---- conversion-file schema
    _m("schema_empty_range_accepted", "conversion file", "a layer range a == b accepted",
       SCHEMA, "    elif not a < b:\n", "    elif not a <= b:\n", G, "-k", "empty_layer_range"),
    _m("schema_empty_neuron_range_accepted", "conversion file", "an empty per-neuron range a == b accepted",
       SCHEMA, "bad = np.flatnonzero(~(np.asarray(a) < np.asarray(b)).reshape(-1))",
       "bad = np.flatnonzero(~(np.asarray(a) <= np.asarray(b)).reshape(-1))", G, "-k", "per_neuron_range"),
    _m("schema_version_0_accepted", "conversion file", "version 0 accepted",
       SCHEMA, "or v < 1:\n", "or v < 0:\n", G, "-k", "version"),
    _m("schema_shift_nonfinite_accepted", "conversion file", "a non-finite product shift r not refused as such",
       SCHEMA, '_finite(entry["r"], f"products[{name!r}].r")', 'float(entry["r"])', G, "-k", "product_shift"),
    _m("schema_shift_bound_exclusive", "conversion file", "the product shift's bound 100 refused",
       SCHEMA, "<= MAX_SHIFT_RATIO:", "< MAX_SHIFT_RATIO:", G, "-k", "product_shift"),
    _m("schema_window_zero_accepted", "conversion file", "window 0 or 1.5 accepted",
       SCHEMA, "or int(w) != w or not 1 <= w <= MAX_WINDOW:", "or not 0 <= w <= MAX_WINDOW:", G, "-k", "window"),
    _m("schema_log_r_zero_accepted", "conversion file", "a log code with log_r = 0 accepted",
       SCHEMA, 'f"layer {name!r}: log_r") > 0:', 'f"layer {name!r}: log_r") >= 0:', G, "-k", "log_code"),
    _m("schema_delta_zero_accepted", "conversion file", "delta = 0 accepted",
       SCHEMA, 'not _finite(data["delta"], "delta") > 0:', 'not _finite(data["delta"], "delta") >= 0:',
       G, "-k", "delta"),
    _m("schema_range_abs_loosened", "conversion file", "a range beyond 1e30 accepted",
       SCHEMA, "        if big > MAX_RANGE_ABS:\n", "        if big > MAX_RANGE_ABS * 100:\n", G, "-k", "1e30"),
    _m("schema_v2_architecture_not_required", "conversion file", "a version-2 file without its architecture accepted",
       SCHEMA, 'if data.get("version", 1) >= 2 and', 'if data.get("version", 1) >= 3 and', G, "-k", "version_2"),
    _m("schema_layer_name_unprintable", "conversion file", "a layer name with a newline accepted",
       SCHEMA, " or len(name) > 200 or not name.isprintable():", " or len(name) > 200:", G, "-k", "layer_names"),
    _m("schema_ragged_accepted", "conversion file", "a ragged per-neuron range list not named as ragged",
       SCHEMA, "        if len({_shape(v) for v in value}) > 1:\n", "        if len({_shape(v) for v in value}) > 2:\n",
       G, "-k", "ragged"),
    _m("schema_fingerprint_loosened", "conversion file", "a weights fingerprint with non-hex digits accepted",
       SCHEMA, 'r"sha256:[0-9a-f]{64}"', 'r"sha256:[0-9a-z]{64}"', G, "-k", "fingerprint"),
    _m("schema_residual_unknown_accepted", "conversion file", "an unknown residual mode accepted",
       SCHEMA, 'if data.get("residual", "neuron") not in ("neuron", "synapses"):',
       'if data.get("residual", "neuron") not in ("neuron", "synapses", "relay"):', G, "-k", "unknown_code"),
    _m("schema_architecture_missing_range", "conversion file", "a layer of the architecture without a range accepted",
       SCHEMA, "        if missing:\n", "        if False:\n", G, "-k", "architecture"),
    _m("convert_percentile_50_accepted", "conversion file", "convert's percentile 50 accepted",
       SCHEMA, "    if not 50.0 < percentile <= 100.0:\n", "    if not 50.0 <= percentile <= 100.0:\n",
       G, "-k", "convert_arguments"),
    _m("convert_negative_margin_accepted", "conversion file", "convert's margin -0.1 accepted",
       SCHEMA, "    if margin < 0:\n", "    if margin < -1:\n", G, "-k", "convert_arguments"),
    # ---- activations
    _m("activation_tol_0.1", "activations", "the registration check's tolerance loosened to 0.1",
       ACTS, "CHECK_TOL = 1e-10\n", "CHECK_TOL = 0.1\n", G, "-k", "registration_check"),
    _m("activation_check_wrong_range", "activations", "the registration check run on [-1, 1], not the calibrated "
       "range", ACTS, "check_activation(m.spec.source, m.spec, m.src.a, m.src.b, m.out.pname)",
       "check_activation(m.spec.source, m.spec, -1.0, 1.0, m.out.pname)", MOD, "-k", "activation"),
    _m("activation_nan_passes", "activations", "a NaN from the module passes the registration check",
       ACTS, "    bad = ~(diff <= tol * (1 + fx.abs()))", "    bad = diff > tol * (1 + fx.abs())",
       G, "-k", "registration_check"),
    _m("activation_no_random_points", "activations", "the registration check's random points skipped (grid only)",
       ACTS, "    if random_points:\n", "    if False:\n", G, "-k", "registration_check"),
    _m("activation_randomness_accepted", "activations", "a random module (dropout) accepted as an activation",
       ACTS, "    if not torch.equal(y, y2) and not", "    if False and not torch.equal(y, y2) and not",
       G, "-k", "registration_check"),
    _m("activation_args_bad_name", "activations", "--activation with a NAME that is no class name accepted",
       ACTS, '        if not all(p.isidentifier() for p in name.split(".")):\n', "        if False:\n", G, "-k", "parse_activation"),
    # ---- BERT: masked keys
    _m("bert_masked_key_fires", "bert", "a masked key's softmax neuron fires (its probability not silenced)",
       BERT, "        return out.mul_(keep)   # the exp neuron", "        return out   # the exp neuron",
       MOD, "-k", "masked_key"),
    _m("bert_masked_z_not_silent", "bert", "a masked key's z neuron driven to -inf (clipped) instead of silent",
       BERT, "                V = torch.where(drop, low, V)\n", "                V = V\n", MOD, "-k", "masked_key"),
    # ---- evaluation: warnings and clip rates
    _m("evaluate_warning_inverted", "evaluation", "evaluate's ClippingWarning raised when nothing clips, not when "
       "something does", REPORT, "    if warn and clipped:\n        warn_clipping(clipped, checked, clip_layers, f\"evaluate",
       "    if warn and not clipped:\n        warn_clipping(clipped, checked, clip_layers, f\"evaluate", MOD, "-k", "evaluate"),
    _m("evaluate_clip_last_batch_only", "evaluation", "evaluate's clip rate from the last batch only",
       REPORT, '        clipped += info["clipped"]\n', '        clipped = info["clipped"]\n', MOD, "-k", "evaluate"),
    _m("sweep_clip_rate_counts_input", "evaluation", "the CLI sweep's clip rate from the last batch only "
       "(before 2026-12-07: summed the input layer's clips)",
       SWEEP, '            clipped[ci] += int(info.get("clipped", 0))\n',
       '            clipped[ci] = int(info.get("clipped", 0))\n', MOD, "-k", "sweep_clip"),
    _m("sweep_clip_rate_denominator", "evaluation", "the CLI sweep's clip rate divided by more than the neurons "
       "checked (one per image too)",
       SWEEP, "    clip = {c.label: clipped[ci] / checked[ci] if checked[ci] else 0.0 for ci, c in enumerate(configs)}",
       "    clip = {c.label: clipped[ci] / (checked[ci] + n) if checked[ci] else 0.0 for ci, c in enumerate(configs)}",
       MOD, "-k", "sweep_clip"),
    # ---- per-channel / per-neuron statistics
    _m("stats_sigmas_sign", "statistics", "per-channel range low end mean + sigmas*std (a sign)",
       SPIKING, "                lo = torch.minimum(lo, mean - sigmas * std)\n",
       "                lo = torch.minimum(lo, mean + sigmas * std)\n", MOD, "-k", "per_channel or per_neuron"),
    _m("stats_rows_not_tokens", "statistics", "per-channel count not scaled by tokens (batch rows only)",
       SPIKING, "            rows = math.prod(v64.shape[d] for d in red)\n", "            rows = v64.shape[0]\n",
       MOD, "-k", "per_channel"),
    _m("stats_hi_one_sigma", "statistics", "per-channel range high end mean + std (sigmas dropped)",
       SPIKING, "                hi = torch.maximum(hi, mean + sigmas * std)\n",
       "                hi = torch.maximum(hi, mean + std)\n", MOD, "-k", "per_channel"),
    _m("stats_layer_low_last_batch", "statistics", "a layer range's low end from the last batch only",
       SPIKING, "        st.lo = min(st.lo, lo)\n", "        st.lo = lo\n", MOD, "-k", "layer_range"),
    # ---- signed product
    _m("signed_proxy_no_range_factor", "spiking", "the signed product's shift proxy without its range factor "
       "(hi - lo)^2", SPIKING, "    return float(np.mean(sq * d ** 2))\n", "    return float(np.mean(sq))\n",
       MOD, "-k", "signed_error_proxy"),
    _m("signed_proxy_no_split_term", "spiking", "the signed product's shift proxy without a split factor's term",
       SPIKING, "        sq = sq + (m1 * e2) ** 2\n", "        sq = sq\n", MOD, "-k", "signed_error_proxy"),
    _m("signed_shift_on_envelope", "spiking", "the shift of a factor with per-channel ranges chosen on the "
       "envelope's range (the outlier channel's), not each element's own", "ttfs_symbolic/spiking/product.py",
       "        if not fine:\n            return x[pick], pop.a, pop.b\n",
       "        if True:\n            return x[pick], pop.a, pop.b\n",
       "tests/conversion/test_finite_precision.py", "-k", "per_channel_ranges_follows"),
    _m("variance_end_calibrated_ignored", "spiking", "variance_end='calibrated' ends the variance at the bound "
       "all the same", "ttfs_symbolic/spiking/calibration.py",
       "                hi = torch.minimum(hi, bound) if self.upper_calibrated else bound\n",
       "                hi = bound\n", "tests/spiking/test_calibration_statistics.py", "-k", "variance_end"),
    _m("log_code_r_zero_accepted", "log code", "a layer's log code with shift ratio 0 accepted",
       SPIKING, "or not (0 < log_r < math.inf):", "or not (0 <= log_r < math.inf):", MOD, "-k", "log_code"),
    # ---- residual relays
    _m("relay_gets_window", "residual synapses", "a residual relay given an emitting window (noted as it emits)",
       SPIKING, '        if self.relay:\n            # residual="synapses": no neuron here',
       '        ctx.note(self)\n        if self.relay:\n            # residual="synapses": no neuron here',
       MOD, "-k", "relays"),
    # ---- energy
    _m("bert_residual_synapses_halved", "energy", "BERT's residual-synapse operations halved in the energy report",
       ENERGY_BERT, 'w.add(path, "residual", 0, o, 0,', 'w.add(path, "residual", 0, o // 2, 0,',
       MOD, "-k", "bert_residual"),
    _m("bert_residual_neurons_dropped", "energy", "BERT's residual neurons not counted (neuron mode)",
       ENERGY_BERT, 'w.add(path, "residual", n, o, 0,', 'w.add(path, "residual", 0, o, 0,', MOD, "-k", "bert_residual"),
    _m("bert_fold_not_counted", "energy", "BERT's folded rsqrt still counted as a neuron",
       ENERGY_BERT, '        fold = int(rsqrt == "folded")', '        fold = 0', MOD, "-k", "bert_residual"),
    _m("residual_counts_one_op", "energy", "a residual neuron counted with one operation per element, not two",
       ENERGY, "    return tokens * dim, 2 * tokens * dim\n", "    return tokens * dim, tokens * dim\n",
       MOD, "-k", "bert_residual"),
    _m("softmax_counts_5N", "energy", "softmax's operations 5N instead of Table 3's 6N",
       ENERGY, "    return 2 * (N + 1), 6 * N\n", "    return 2 * (N + 1), 5 * N\n", MOD, "-k", "table_3"),
    _m("layernorm_signed_ops", "energy", "LayerNorm's signed-product operations 11N instead of 11N + 1",
       ENERGY, "        return 4 * N + 3 - fold, 11 * N + 1 - fold\n", "        return 4 * N + 3 - fold, 11 * N - fold\n",
       MOD, "-k", "table_3"),
    _m("layernorm_fold_ignored", "energy", "LayerNorm's folded rsqrt still counted",
       ENERGY, '    fold = int(rsqrt == "folded")\n    if construction', '    fold = 0\n    if construction',
       MOD, "-k", "table_3"),
    _m("signed_matmul_no_corrections", "energy", "the signed product's correction synapses not counted",
       ENERGY, "(3 * pairs + corrections) * M * N * K\n", "(3 * pairs) * M * N * K\n", MOD, "-k", "table_3"),
    _m("table3_matmul_3K_1", "energy", "Table 3's MatMul figure MN(3K+1) instead of MN(3K+2)",
       ENERGY, "    return M * N * (3 * K + 2)\n", "    return M * N * (3 * K + 1)\n",
       "tests/families/test_bert.py", "-k", "energy_counts_known"),
    # ---- distributed
    _m("torchrun_seed_rank_local", "distributed", "torchrun calibration seeded per rank-local batch, not per global "
       "batch", DISTRIBUTED, "spiking.seed_samples(SAMPLE_SEED + self.rank + i * self.world)",
       "spiking.seed_samples(SAMPLE_SEED + i)", MOD, "-k", "seeded"),
    # ---- data
    _m("labels_negative_accepted", "data", "a label -1 accepted", DATA,
       "    if labels.numel() and float(labels.min()) < 0:", "    if labels.numel() and float(labels.min()) < -1:",
       IO, "-k", "labels"),
    _m("labels_past_classes_accepted", "data", "a label equal to the number of classes accepted", DATA,
       "float(labels.max()) >= num_classes:", "float(labels.max()) > num_classes:", IO, "-k", "labels"),
    _m("labels_fraction_accepted", "data", "a label 0.7 accepted (truncated)", DATA,
       "(labels != torch.round(labels))", "(labels != labels)", IO, "-k", "labels"),
    _m("model_kwargs_pretrained_cfg", "data", "--model-kwargs pretrained_cfg_overlay accepted", DATA,
       ' or key.startswith("pretrained_cfg"):', ":", IO, "-k", "model_kwargs"),
    _m("parse_floats_no_repeat", "data", "one --mean value not repeated over the channels", DATA,
       "        vals = vals * n\n", "        vals = vals\n", IO, "-k", "parse_floats"),
    _m("shard_first_batch_twice", "data", "the first batch given to every rank", DATA,
       "if k % world == rank]", "if k % world == rank or k == 0]", IO, "-k", "shards"),
    # ---- inputs
    _m("images_inf_count", "inputs", "the non-finite pixel message counts NaN as inf too", INPUTS,
       "            inf = int(bad.sum()) - nan\n", "            inf = int(bad.sum())\n", IO, "-k", "images"),
    _m("images_integer_accepted", "inputs", "integer images accepted (raw pixels)", INPUTS,
       "    if images.is_complex() or not images.is_floating_point():", "    if images.is_complex():",
       IO, "-k", "images"),
    _m("images_channels_unchecked", "inputs", "images with the wrong number of channels accepted", INPUTS,
       "    if images.dim() != 4 or images.shape[1] != in_chans or", "    if images.dim() != 4 or", IO, "-k", "images"),
    _m("dtype_half_accepted", "inputs", "float16 runs accepted", INPUTS,
       "    if not isinstance(dtype, torch.dtype) or dtype not in RUN_DTYPES:", "    if not isinstance(dtype, torch.dtype):",
       IO, "-k", "dtype"),
    _m("batch_size_zero_accepted", "inputs", "batch_size 0 accepted", INPUTS,
       'batch_size < 1:\n        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")',
       'batch_size < 0:\n        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")',
       IO, "-k", "dtype_and_batch"),
    # ---- ONNX reader
    _m("onnx_varint_shift", "onnx reader", "a varint's later bytes shifted by 8 bits, not 7", ONNX,
       "        result |= (byte & 0x7F) << shift\n", "        result |= (byte & 0x7F) << (shift // 7 * 8)\n",
       IO, "-k", "varint"),
    _m("onnx_varint_overlong_accepted", "onnx reader", "an over-long varint read on", ONNX,
       "        if shift > 63:\n", "        if shift > 700:\n", IO, "-k", "varint"),
    _m("onnx_signed64_dropped", "onnx reader", "negative int64 dims read as huge positives", ONNX,
       "    return v - (1 << 64) if v >= 1 << 63 else v", "    return v", IO, "-k", "varint"),
    _m("onnx_count_unchecked", "onnx reader", "a tensor's value count not checked against its dims", ONNX,
       "    if arr.size != count:\n", "    if False:\n", IO, "-k", "tensor_read"),
    _m("onnx_external_followed", "onnx reader", "a tensor stored in an external file not refused", ONNX,
       "            external = value == 1\n", "            external = False\n", IO, "-k", "tensor_read"),
    # ---- families
    _m("family_empty_name_accepted", "families", "a family with an empty name registered", FAMILIES,
       "    if not isinstance(name, str) or not name:\n", "    if not isinstance(name, str):\n", MOD, "-k", "families"),
    _m("family_first_not_matching", "families", "find_family takes the first family that does not match", FAMILIES,
       "        if fam.matches(model):\n", "        if not fam.matches(model):\n", MOD, "-k", "families"),
    # ---- presets
    _m("preset_accurate_headroom_1", "presets", "the accurate preset's headroom 1 instead of 2", PRESETS,
       '"holdout": 0.2, "sigmas": 6.0, "headroom": 2.0,', '"holdout": 0.2, "sigmas": 6.0, "headroom": 1.0,',
       G, "-k", "presets"),
    _m("preset_paper_residual_synapses", "presets", "the paper preset with residual synapses", PRESETS,
       '"paper": {"product": "paper", "range_kind": "layer", "residual": "neuron"',
       '"paper": {"product": "paper", "range_kind": "layer", "residual": "synapses"', G, "-k", "presets"),
    _m("preset_unknown_not_named", "presets", "an unknown preset not refused with the choices", PRESETS,
       "    if preset not in PRESETS:\n", "    if False:\n", G, "-k", "presets"),
    # ---- symbolic checks
    _m("check_range_empty_accepted", "symbolic", "a range a == b accepted by the derivation", CHECKS,
       "    if not bool(a_ < b_):\n", "    if not bool(a_ <= b_):\n", IO, "-k", "check_range"),
    _m("check_delta_zero_accepted", "symbolic", "delta = 0 accepted by the derivation", CHECKS,
       "    if not bool(delta_ > 0):\n", "    if not bool(delta_ >= 0):\n", IO, "-k", "check_range"),
)

MORE = (
    _m("fold_rsqrt_variance_unbounded", "folded rsqrt", "a folded rsqrt's variance without its proven upper bound",
       SPIKING, "    var.upper_fn = bound if folded else None\n", "    var.upper_fn = None\n",
       MOD, "-k", "folded_rsqrt"),
    _m("channel_squares_high_end_only", "folded rsqrt", "the variance's bound from b^2 only (a negative a forgotten)",
       SPIKING, "    sq = torch.maximum(a * a, b * b)\n", "    sq = b * b\n", MOD, "-k", "channel_squares or folded_rsqrt"),
    _m("parse_dunder_accepted", "symbolic", "a formula name starting with __ accepted", "ttfs_symbolic/symbolic/parse.py",
       '    if name.startswith("__"):\n', '    if name.startswith("___"):\n', "tests/symbolic/test_parse.py",
       "tests/hardening/test_hostile_formulas.py"),
    _m("set_code_unknown_accepted", "log code", "an unknown spike code accepted by a layer", SPIKING,
       "        if code not in dynamics.CODES:\n", "        if False:\n", MOD, "-k", "log_code"),
    _m("as_number_bool_accepted", "symbolic", "True accepted as a range end (as 1)", CHECKS,
       "    if isinstance(value, bool):\n        raise RangeError", "    if False:\n        raise RangeError",
       IO, "-k", "check_range"),
    _m("tick_p_counted_as_spike", "spiking", "quantized / kernel mode count a neuron at the silent tick p as a spike "
       "where b - p (b - a)/p rounds above a (the report's spikes per neuron, the energy's rates)",
       "ttfs_symbolic/spiking/emission.py",
       "            st.spikes += int((out > (a if p is None else a + (b - a) / (2 * p))).sum())\n",
       "            st.spikes += int((out > a).sum())\n", "tests/numeric/test_codes_by_hand.py"),
    _m("log_tick_p_counted_as_spike", "spiking", "log-coded layers at finite precision count the silent tick p "
       "(a value a few ulps off its part's least magnitude) as a spike",
       "ttfs_symbolic/spiking/emission.py",
       "            st.spikes += dynamics.log_code_spikes(out, a, b, self.log_r, p)\n",
       "            st.spikes += dynamics.log_code_spikes(out, a, b)\n", "tests/numeric/test_codes_by_hand.py"),
    _m("encode_ignores_tick_p", "numeric", "LayerTiming.encode(values, p) takes the values' own times: a silent "
       "neuron at tick p fires an ulp before T_end", "ttfs_symbolic/numeric/dynamics.py",
       "    if p is not None:\n        check_mode(\"quantized\", p)", "    if False:\n        check_mode(\"quantized\", p)",
       "tests/numeric/test_codes_by_hand.py"),
    _m("labels_column_refused", "data", "labels of shape (N, 1) refused instead of read as (N,)", DATA,
       "    if labels.dim() == 2 and labels.shape[1] == 1:\n", "    if False:\n", IO, "-k", "labels"),
    # ---- issue 22: the factorized product and the AVX-512 log code
    _m("geo_carry_other_way", "native (C)", "the factorized product's carry r = -1 applied where f2 <= f1 + 1/2 "
       "instead of f2 > f1 + 1/2 (geo_row: float64, and float32 without AVX-512)", GEO_H,
       "            o[j] += av[j] * (fv[j] > h ? am : a0);\n", "            o[j] += av[j] * (fv[j] > h ? a0 : am);\n",
       "tests/numeric/test_geometric.py", "-k", "float64"),
    _m("geo_avx512_carry_other_way", "native (C)", "the same in the AVX-512 rows (float32)", GEO_H,
       "                                                  _mm512_set1_ps(A0[R][k]), _mm512_set1_ps(Am[R][k])), ACC);",
       "                                                  _mm512_set1_ps(Am[R][k]), _mm512_set1_ps(A0[R][k])), ACC);",
       "tests/numeric/test_geometric.py", "-k", "float32"),
    _m("geo_row_block_offset", "native (C)", "the factorized product's four-row blocks read row 0's factors for "
       "every row", GEO_H, "            const int64_t off = (b * M + i0 + (r < nr ? r : 0)) * K;\n",
       "            const int64_t off = (b * M + i0) * K;\n", "tests/numeric/test_geometric.py", "-k", "float32"),
    _m("geo_rows_table_unoffset", "native (C)", "the factorized product's (i, k) table indexed from n1 = 0 instead "
       "of the batch element's least n1 (right only where u1 happens to lie in [0, p])", GEO_H,
       "    const REAL base = RINT(lo);\n", "    const REAL base = (REAL)0;\n", "tests/numeric/test_geometric.py"),
    _m("signed_mul_sign_of_one_signed", "native (C)", "the fused elementwise signed product takes a one-signed "
       "factor's sign from its values instead of its range", "ttfs_symbolic/numeric/csrc/signed_body.h",
       "        V = (split1 ? a < (REAL)0 : c1 < (REAL)0) != (split2 ? b < (REAL)0 : c2 < (REAL)0) ? -V : V;\n",
       "        V = (a < (REAL)0) != (b < (REAL)0) ? -V : V;\n", "tests/spiking/test_signed_mul_fused.py"),
    _m("signed_mul_no_silent_part", "native (C)", "the fused elementwise signed product drops the neuron with x2's "
       "part silent, E(l1 + le2)", "ttfs_symbolic/numeric/csrc/signed_body.h",
       "            V -= EXP(hi[c] - k2 * st[c]);\n", "", "tests/spiking/test_signed_mul_fused.py"),
    _m("geo_silent_skips_all", "native (C)", "the factorized product's count skips every k (no layer-I neuron "
       "silent)", GEO_H, "        if (u1[k] - vmin[k] < (REAL)(p - 1))\n", "        if (1)\n",
       "tests/numeric/test_geometric.py", "-k", "float64"),
    _m("log16_no_octave_fold", "native (C)", "the AVX-512 log's mantissa folded to [sqrt(1/2), sqrt(2)] without "
       "its exponent's + 1 (log off by ln 2 for half the values)", VECMATH_H,
       "    e = _mm512_mask_add_ps(e, big, e, _mm512_set1_ps(1.0f));\n", "",
       "tests/conversion/test_presets.py", "-k", "log_code_c_loop"),
    # ---- the finite-p softmax in two C passes
    _m("sm_terms_no_max", "native (C)", "the fused softmax's z ticks taken from x, not x - max (float32, "
       "AVX-512)", SM_H, "        __m512 t = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_sub_ps(vzb, _mm512_sub_ps(v, vm)), vzsc),",
       "        __m512 t = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_sub_ps(vzb, v), vzsc),",
       "tests/spiking/test_softmax_fused.py", "-k", "float32"),
    _m("sm_terms_scalar_tick_unclamped", "native (C)", "the fused softmax's z tick not clamped at p (float64: "
       "a z below the range goes below a)", SM_H, "const REAL zz = zb - (REAL)NAME(tick)(v - m, zb, zsc, pr) * zst;",
       "const REAL zz = zb - RINT((zb - (v - m)) * zsc) * zst;", "tests/spiking/test_softmax_fused.py", "-k",
       "float64"),
    _m("sm_out_clip_to_a", "native (C)", "the fused softmax's layer II emits a (silent) instead of b where "
       "z - lse >= theta (float64)", SM_H, "        h[i] = V >= theta ? b : (V <= low ? a : e);\n",
       "        h[i] = V >= theta ? a : (V <= low ? a : e);\n", "tests/spiking/test_softmax_fused.py", "-k", "float64"),
    _m("sm_out_count_below_only", "native (C)", "the fused softmax's clip count misses the potentials above hi "
       "(float32, AVX-512)", SM_H,
       "        c += __builtin_popcount((unsigned)_mm512_mask_cmp_ps_mask(k, V, vhi, _CMP_GT_OQ));\n", "",
       "tests/spiking/test_softmax_fused.py", "-k", "float32"),
    _m("sm_kernel_table_on_per_head_z", "spiking", "kernel mode's fused softmax reads a term table on per-head z "
       "ranges (the torch path's terms take exp's closed form there)", "ttfs_symbolic/spiking/layers.py",
       "        if ctx.mode_for(self.lse) == \"kernel\" and z.on_linear_grid:",
       "        if ctx.mode_for(self.lse) == \"kernel\" and z.fine_a is None or ctx.mode_for(self.lse) == \"kernel\":",
       "tests/spiking/test_softmax_fused.py", "-k", "float64"),
    # ---- a factor of the signed matrix product in one C pass
    _m("sf_avx512_sign_dropped", "native (C)", "the signed factor pass's silent-part term E without its sign s "
       "(float32, AVX-512)", SIGNED_H, "            _mm512_mask_storeu_ps(E + i, m, _mm512_mul_ps(_mm512_sub_ps(t, vsub), sv));\n",
       "            _mm512_mask_storeu_ps(E + i, m, _mm512_sub_ps(t, vsub));\n",
       "tests/spiking/test_signed_factor_fused.py", "-k", "float32"),
    _m("sf_scalar_no_sub", "native (C)", "the signed factor pass's E01 without the silent neuron's E00 taken off "
       "(float64)", SIGNED_H, "            E[i] = (T[NAME(tick)(lv + le, b, scale, pr)] - sub) * sv;\n",
       "            E[i] = T[NAME(tick)(lv + le, b, scale, pr)] * sv;\n",
       "tests/spiking/test_signed_factor_fused.py", "-k", "float64"),
    _m("sf_fired_counts_silent", "native (C)", "the signed factor pass counts the silent tick p as a spike",
       SIGNED_H, "                ff += NAME(tick)(l[j] + le, b, scale, pr) < p;\n", "                ff += 1;\n",
       "tests/spiking/test_signed_factor_fused.py", "-k", "float64"),
    _m("sf_e00_not_passed", "spiking", "the product's E01 pass is not given E00 where x2 is split",
       "ttfs_symbolic/spiking/product.py", "                                                   float(E00) if o2.split else 0.0, o2.split, c2, ctx.record)",
       "                                                   0.0, o2.split, c2, ctx.record)",
       "tests/spiking/test_signed_factor_fused.py", "-k", "float64"),
    _m("geometric_tolerance_loose", "numeric", "geometric.ratio takes a table that is off its geometric fit by 1e-9 "
       "for geometric", "ttfs_symbolic/numeric/geometric.py", "GEOMETRIC_RTOL = 1e-12\n", "GEOMETRIC_RTOL = 1e-6\n",
       "tests/numeric/test_geometric.py", "-k", "ratio"),
)


_AREAS = (("/symbolic/", "symbolic"), ("verify.py", "verify"), ("csrc/", "native (C)"), ("numeric/native.py", "native"),
          ("numeric/", "numeric"), ("model/spiking.py", "spiking"))


def _area(m: Mutation) -> str:
    hint = m.patches[0][0]
    return next((area for key, area in _AREAS if key in hint), "other")


MUTATIONS = tuple(m if m.area else replace(m, area=_area(m)) for m in MUTATIONS + ISSUE23 + MORE)


#: the files a patch's text is searched in when it is not in the hinted file (the code moved)
SEARCHED = ("ttfs_symbolic/**/*.py", "ttfs_symbolic/**/*.h", "ttfs_symbolic/**/*.c")


def locate(repo: Path, path: str, old: str) -> tuple[str | None, str]:
    """The file (relative to ``repo``) that holds ``old``: the hinted ``path`` when it holds it exactly once,
    else the one file of the package holding it (exactly once) -- so a patch survives the module moving.
    (None, why) when the text is in no file, or more than once in the package."""
    hinted = repo / path
    if hinted.is_file() and hinted.read_text().count(old) == 1:
        others = [f for f, n in occurrences(repo, old).items() if f != path]
        if not others:
            return path, ""
        return None, f"{old.strip()[:60]!r} occurs in {path} and in {', '.join(others)} (make it unique)"
    found = occurrences(repo, old)
    if len(found) == 1 and sum(found.values()) == 1:
        return next(iter(found)), ""
    if not found:
        return None, f"{old.strip()[:60]!r} is in no file of the package (hint: {path})"
    where = ", ".join(f"{f} ({n}x)" for f, n in found.items())
    return None, f"{old.strip()[:60]!r} occurs more than once: {where}"


def occurrences(repo: Path, old: str) -> dict:
    """{relative path: count} of the package's files holding ``old``."""
    out = {}
    for pattern in SEARCHED:
        for f in sorted(repo.glob(pattern)):
            n = f.read_text(errors="replace").count(old)
            if n:
                out[f.relative_to(repo).as_posix()] = n
    return out


def _copy() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="ttfs_mutate_"))
    dst = tmp / "repo"
    shutil.copytree(ROOT, dst, ignore=IGNORE)
    return dst


def _apply(repo: Path, m: Mutation) -> str | None:
    """Apply the patches; an error message when one does not apply."""
    for path, old, new in m.patches:
        where, why = locate(repo, path, old)
        if where is None:
            return why
        f = repo / where
        f.write_text(f.read_text().replace(old, new))
    return None


def run(m: Mutation, timeout: float = 1200.0, cache: Path | None = None) -> dict:
    """Apply ``m`` to a fresh copy and run its tests. ``cache``: the compiled C loops' folder, shared by
    the runs (native_build.py keys each build by a hash of its source, so a mutated C file gets its own)."""
    repo = _copy()
    t0 = time.time()
    try:
        problem = _apply(repo, m)
        if problem:
            return {"mutation": m, "status": "does not apply", "test": problem, "seconds": 0.0}
        env = dict(os.environ, PYTHONPATH=str(repo), CI="true", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
                   TTFS_CACHE_DIR=str(cache or repo.parent / "cache"))
        env.pop("HYPOTHESIS_PROFILE", None)
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *m.tests]
        try:
            done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"mutation": m, "status": "timeout", "test": "", "seconds": time.time() - t0}
        out = done.stdout + done.stderr
        failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, flags=re.M)
        if done.returncode == 0:
            status, test = ("equivalent", m.equivalent) if m.equivalent else ("SURVIVED", "")
        elif failed:
            status, test = "killed", failed[0]
        else:
            status, test = f"error (exit {done.returncode})", out.strip().splitlines()[-1] if out.strip() else ""
        return {"mutation": m, "status": status, "test": test, "seconds": time.time() - t0}
    finally:
        shutil.rmtree(repo.parent, ignore_errors=True)


def table(rows) -> str:
    lines = ["| mutation | area | what | result | killed by | seconds |", "|---|---|---|---|---|---|"]
    for r in rows:
        m = r["mutation"]
        test = r["test"].replace("|", "\\|")
        shown = f"`{test}`" if test and r["status"] == "killed" else test
        lines.append(f"| `{m.name}` | {m.area} | {m.what} | {r['status']} | {shown} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def by_area(mutations) -> str:
    """A Markdown list: each area, its count, its mutations' names."""
    areas = {}
    for m in mutations:
        areas.setdefault(m.area, []).append(m)
    lines = []
    for area in sorted(areas):
        ms = areas[area]
        lines.append(f"* **{area}** ({len(ms)}): " + ", ".join(f"`{m.name}`" for m in ms))
    return "\n".join(lines)


BEGIN, END = "<!-- mutation-table-begin -->", "<!-- mutation-table-end -->"


def write_docs(path: Path, text: str) -> None:
    page = path.read_text()
    i, j = page.index(BEGIN) + len(BEGIN), page.index(END)
    path.write_text(page[:i] + "\n" + text + "\n" + page[j:])


#: the CI subset: this many mutations a day (about 5 s each on 2 busy cores: about 3 minutes, under 10)
CI_COUNT = 40   # ceil(171 / 40) = 5: every mutation at least once every 5 days


def ci_sample(day: date, count: int = CI_COUNT) -> list:
    """The mutations CI runs on ``day``: ``count`` of the non-equivalent ones, rotating by date so that
    consecutive days run disjoint slices and every mutation runs within ceil(N / count) days; the order is a
    fixed shuffle (seeded), so each day's slice mixes areas. Deterministic given the date."""
    pool = sorted((m for m in MUTATIONS if not m.equivalent), key=lambda m: m.name)
    random.Random(23).shuffle(pool)
    start = (day.toordinal() * count) % len(pool)
    return [pool[(start + i) % len(pool)] for i in range(min(count, len(pool)))]


def run_each(chosen, **run_kw) -> list[dict]:
    """:func:`run` each mutation in turn (one shared build cache), a line on stderr per result."""
    rows = []
    cache = Path(tempfile.mkdtemp(prefix="ttfs_mutate_cache_"))
    try:
        for m in chosen:
            r = run(m, cache=cache, **run_kw)
            print(f"{m.name}: {r['status']} {r['test']} ({r['seconds']:.0f} s)", file=sys.stderr, flush=True)
            rows.append(r)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="run only this mutation (repeatable)")
    parser.add_argument("--area", action="append", help="run only this area's mutations (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the mutations and their tests")
    parser.add_argument("--areas", action="store_true", help="list the mutations by area (Markdown)")
    parser.add_argument("--ci", action="store_true", help=f"run the day's CI subset ({CI_COUNT} mutations, "
                        "rotating by date)")
    parser.add_argument("--date", type=date.fromisoformat, help="the day of --ci (YYYY-MM-DD; default: today, UTC)")
    parser.add_argument("--write", type=Path, help="write the table between the markers of this Markdown page")
    args = parser.parse_args(argv)
    if args.ci:
        day = args.date or datetime.now(timezone.utc).date()
        chosen = ci_sample(day)
        print(f"CI subset of {day.isoformat()}: {' '.join(m.name for m in chosen)}", file=sys.stderr)
    else:
        chosen = [m for m in MUTATIONS if (not args.only or m.name in args.only)
                  and (not args.area or m.area in args.area)]
    if args.only and len(chosen) != len(set(args.only)):
        known = ", ".join(m.name for m in MUTATIONS)
        parser.error(f"unknown mutation in {args.only}; known: {known}")
    if args.area and not chosen:
        parser.error(f"unknown area in {args.area}; known: {', '.join(sorted({m.area for m in MUTATIONS}))}")
    if args.areas:
        print(by_area(chosen))
        return 0
    if args.list:
        for m in chosen:
            print(f"{m.name} [{m.area}]: {m.what}\n    tests: {' '.join(m.tests)}"
                  + (f"\n    equivalent: {m.equivalent}" if m.equivalent else ""))
        return 0
    t0 = time.time()
    rows = run_each(chosen)
    total = time.time() - t0
    killed = sum(r["status"] == "killed" for r in rows)
    equivalent = sum(r["status"] == "equivalent" for r in rows)
    bad = [r for r in rows if r["status"] not in ("killed", "equivalent")]
    text = table(rows)
    print(text)
    print(f"\n{killed} of {len(rows)} mutations killed, {equivalent} equivalent, {len(bad)} not killed "
          f"in {total:.0f} s", file=sys.stderr)
    for r in bad:
        print(f"  NOT KILLED: {r['mutation'].name} ({r['status']}) {r['test']}", file=sys.stderr)
    if args.write:
        write_docs(args.write, text)
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
