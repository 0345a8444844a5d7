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

#define REAL float
#define REAL_IS_FLOAT 1
#define RINT rintf
#define NAME(name) name##_f32
#include "ticks_body.h"
#undef REAL
#undef REAL_IS_FLOAT
#undef RINT
#undef NAME

#define REAL double
#define REAL_IS_FLOAT 0
#define RINT rint
#define NAME(name) name##_f64
#include "ticks_body.h"
#undef REAL
#undef REAL_IS_FLOAT
#undef RINT
#undef NAME

/* the version of this interface: native.py refuses a library with another */
int64_t ttfs_native_version(void) { return 3; }
