/*
 * Kernel-mode loops of ttfs-symbolic: every spike rounded to its own tick.
 *
 * Compiled on first use by ttfs_symbolic/numeric/native.py with the system's
 * C compiler (the same one torch.compile would need) and loaded with ctypes.
 * Each function has a torch reference implementation in native.py; the tests
 * check that the two agree. The body (ticks_body.h) is compiled twice, for
 * float32 and float64.
 *
 * Rounding is the same as torch.round: rint/rintf in the default rounding
 * mode, half to even. -ffp-contract=off keeps the arithmetic the same as
 * torch's elementwise ops (no fused multiply-add).
 */
#include <math.h>
#include <stdint.h>
#include <stddef.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif
#if defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__) && defined(__x86_64__)
/* glibc's vector math (libmvec): the log code's loop calls log and exp once per value; declared
 * elemental, GCC vectorizes the loop with the libmvec variants (with -fno-math-errno; NaN and infinities
 * keep their meaning: this is not -ffast-math) */
__attribute__((simd("notinbranch"))) float logf(float);
__attribute__((simd("notinbranch"))) float expf(float);
__attribute__((simd("notinbranch"))) double log(double);
__attribute__((simd("notinbranch"))) double exp(double);
__attribute__((simd("notinbranch"))) float erff(float);
__attribute__((simd("notinbranch"))) double erf(double);
#endif
#if defined(__GNUC__) && !defined(__clang__)
/* the log code's value loop only (its NaN and clip counts are made before it, in strict arithmetic): GCC
 * vectorizes it 2-3x better so; its values are tested against the torch reference (tests/conversion/test_presets.py) */
#define VALUE_LOOP __attribute__((optimize("-ffast-math"), target("prefer-vector-width=512")))
#else
#define VALUE_LOOP
#endif

#if defined(__AVX512F__)
#include "vecmath_avx512.h"
#endif

#define REAL float
#define REAL_IS_FLOAT 1
#define RINT rintf
#define LOG logf
#define EXP expf
#define ERF erff
#define NAME(name) name##_f32
#include "ticks_body.h"
#include "geometric_body.h"
#include "signed_body.h"
#include "softmax_body.h"
#undef REAL
#undef REAL_IS_FLOAT
#undef RINT
#undef LOG
#undef EXP
#undef ERF
#undef NAME

#define REAL double
#define REAL_IS_FLOAT 0
#define RINT rint
#define LOG log
#define EXP exp
#define ERF erf
#define NAME(name) name##_f64
#include "ticks_body.h"
#include "geometric_body.h"
#include "signed_body.h"
#include "softmax_body.h"
#undef REAL
#undef REAL_IS_FLOAT
#undef RINT
#undef LOG
#undef EXP
#undef ERF
#undef NAME

/* the version of this interface: native.py refuses a library with another */
int64_t ttfs_native_version(void) { return 14; }
