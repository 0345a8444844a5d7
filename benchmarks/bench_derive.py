"""Benchmark: catalogue derivation time, and lambdified kernels against hand-written code.

Part 1, derivation. Every catalogue neuron is derived on its definition's
ranges (Theorem 4.1 on ``range``: eta and C, eq. 8-9; Theorem 4.3 on
``output_range``: psi and theta, eq. 13) and its kernels compiled for numpy
and torch, twice in one process:

* cold: SymPy's cache, the derivation caches (``_derive_input_cached``,
  ``_derive_output_cached`` of theorem_4_1 and theorem_4_3), the compiled-kernel caches (``compiled_input``,
  ``compiled_output``) and the compile cache (``compile.clear_cache()``)
  cleared first: the cost a user pays the first time;
* cached: the same calls again: what every later call costs.

Part 2, kernel throughput. The *lambdified* GELU and SiLU kernels (the
SymPy expressions compiled by ``compile_expr``, not torch's fused ops) against
hand-written code doing the same arithmetic, in the same process, as the
ratio of medians (warm-up first, calls interleaved):

* ``f``: compiled f(x) vs ``F.gelu`` / ``F.silu`` (and the library's
  ``InputKernel.f_fn("torch")``, which picks torch's fused op, for contrast);
* ``f'``: compiled derivative vs GELU' = Phi(x) + x phi(x),
  SiLU' = sigmoid(x) (1 + x (1 - sigmoid(x)));
* ``eta``: ``InputKernel.eta_fn(backend)`` = f'(s/tau + a) (eq. 8) vs the
  hand-written derivative at s/tau + a;

for torch and numpy, float32 and float64. Each row also reports the largest
difference between the two results (a speed number for wrong code would be
worthless).

Run ``python benchmarks/bench_derive.py --help``; see benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import gc
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import scipy.special  # noqa: E402
import sympy  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from _common import fmt_s, interleaved_medians, machine_info, table, write_json  # noqa: E402
from ttfs_symbolic.catalogue import load_catalogue  # noqa: E402
from ttfs_symbolic.numeric import compile as ncompile  # noqa: E402
from ttfs_symbolic.numeric import kernels as nkernels  # noqa: E402
from ttfs_symbolic.numeric.kernels import InputKernel  # noqa: E402
from ttfs_symbolic.symbolic import theorem_4_1, theorem_4_3  # noqa: E402
from ttfs_symbolic.symbolic.parse import X  # noqa: E402


# ------------------------------------------------------------------ part 1


def clear_all_caches() -> None:
    """Every cache between a formula and its compiled kernel, and SymPy's own."""
    sympy.core.cache.clear_cache()
    theorem_4_1._derive_input_cached.cache_clear()
    theorem_4_3._derive_output_cached.cache_clear()
    nkernels.compiled_input.cache_clear()
    nkernels.compiled_output.cache_clear()
    ncompile.clear_cache()
    gc.collect()


def derive_one(neuron, backends=("numpy", "torch")) -> dict:
    """Seconds to derive (input, output) and to compile both for ``backends``."""
    row = {}
    t0 = time.perf_counter()
    try:
        it = neuron.input_transform()
        row["input_s"] = time.perf_counter() - t0
        row["input_proof"] = it.proof.method
    except Exception as exc:  # a definition the derivation refuses: report, go on
        it = None
        row["input_s"] = time.perf_counter() - t0
        row["input_error"] = f"{type(exc).__name__}: {exc}"
    t0 = time.perf_counter()
    try:
        ot = neuron.output_transform()
        row["output_s"] = time.perf_counter() - t0
        row["output_proof"] = ot.proof.method
    except Exception as exc:
        ot = None
        row["output_s"] = time.perf_counter() - t0
        row["output_error"] = f"{type(exc).__name__}: {exc}"
    t0 = time.perf_counter()
    for backend in backends:
        try:
            if it is not None:
                nkernels.compiled_input(it, backend)
            if ot is not None:
                nkernels.compiled_output(ot, backend)
        except Exception as exc:
            row.setdefault("compile_error", f"{backend}: {type(exc).__name__}: {exc}")
    row["compile_s"] = time.perf_counter() - t0
    row["total_s"] = row["input_s"] + row["output_s"] + row["compile_s"]
    return row


def bench_catalogue(names=None) -> dict:
    cat = load_catalogue()
    names = names or sorted(cat)
    unknown = [n for n in names if n not in cat]
    if unknown:
        raise SystemExit(f"unknown neuron(s) {', '.join(unknown)}; known: {', '.join(sorted(cat))}")
    clear_all_caches()
    result = {}
    for label in ("cold", "cached"):
        t0 = time.perf_counter()
        per = {n: derive_one(cat[n]) for n in names}
        result[label] = {"neurons": per, "total_s": time.perf_counter() - t0}
    return result


def print_catalogue(res: dict) -> None:
    rows = []
    cold, cached = res["cold"]["neurons"], res["cached"]["neurons"]
    for n in cold:
        c, w = cold[n], cached[n]
        note = "; ".join(v for k, v in c.items() if k.endswith("_error"))
        proofs = f"{c.get('input_proof', '-')}/{c.get('output_proof', '-')}"
        rows.append([n, fmt_s(c["input_s"]), fmt_s(c["output_s"]), fmt_s(c["compile_s"]), fmt_s(c["total_s"]),
                     fmt_s(w["total_s"]), proofs, note[:70]])
    rows.append(["TOTAL", "", "", "", fmt_s(res["cold"]["total_s"]), fmt_s(res["cached"]["total_s"]), "", ""])
    print("\nDerivation of the catalogue (cold: all caches cleared; cached: second pass)")
    print(table(rows, ["neuron", "cold f (4.1)", "cold h (4.3)", "cold compile", "cold total", "cached total",
                       "proof in/out", "error"]))


# ------------------------------------------------------------------ part 2

SQRT2 = math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _gelu_prime_t(x):
    return 0.5 * (1.0 + torch.erf(x / SQRT2)) + x * torch.exp(-0.5 * x * x) * INV_SQRT_2PI


def _silu_prime_t(x):
    s = torch.sigmoid(x)
    return s * (1.0 + x * (1.0 - s))


def _gelu_np(x):
    return 0.5 * x * (1.0 + scipy.special.erf(x / SQRT2))


def _gelu_prime_np(x):
    return 0.5 * (1.0 + scipy.special.erf(x / SQRT2)) + x * np.exp(-0.5 * x * x) * INV_SQRT_2PI


def _silu_np(x):
    return x * scipy.special.expit(x)


def _silu_prime_np(x):
    s = scipy.special.expit(x)
    return s * (1.0 + x * (1.0 - s))


HAND = {
    ("gelu", "torch"): (F.gelu, _gelu_prime_t),
    ("silu", "torch"): (F.silu, _silu_prime_t),
    ("gelu", "numpy"): (_gelu_np, _gelu_prime_np),
    ("silu", "numpy"): (_silu_np, _silu_prime_np),
}


def _maxdiff(u, v) -> float:
    if isinstance(u, torch.Tensor):
        return float((u.double() - v.double()).abs().max())
    return float(np.max(np.abs(np.asarray(u, dtype=np.float64) - np.asarray(v, dtype=np.float64))))


def kernel_cases(name: str, backend: str, dtype: str, n: int, seed: int = 0):
    """(label, lambdified call, hand-written call, fused call or None) for one setting."""
    neuron = load_catalogue()[name]
    a, b = neuron.range
    delta = neuron.delta
    tau = delta / (b - a)
    ik = InputKernel(neuron.f, params=neuron.params or None)
    f_l = ncompile.compile_expr(ik.f, (X,), backend)
    fp_l = ncompile.compile_expr(ik.fprime, (X,), backend)
    eta_l = ik.eta_fn(backend)
    f_h, fp_h = HAND[(name, backend)]
    gen = torch.Generator().manual_seed(seed)
    tdtype = getattr(torch, dtype)
    x = (a + (b - a) * torch.rand(n, generator=gen, dtype=torch.float64)).to(tdtype)
    s = (delta * torch.rand(n, generator=gen, dtype=torch.float64)).to(tdtype)
    if backend == "numpy":
        x, s = x.numpy(), s.numpy()
    cases = [
        ("f", lambda: f_l(x), lambda: f_h(x)),
        ("f'", lambda: fp_l(x), lambda: fp_h(x)),
        ("eta", lambda: eta_l(s, a, tau), lambda: fp_h(s / tau + a)),
    ]
    if backend == "torch":
        f_fused = ik.f_fn("torch")
        cases.append(("f_fn (library pick)", lambda: f_fused(x), lambda: f_h(x)))
    return cases


def bench_kernels(names, backends, dtypes, sizes, repeats: int, warmup: int) -> list[dict]:
    rows = []
    for name in names:
        for backend in backends:
            for dtype in dtypes:
                for n in sizes:
                    for label, lam, hand in kernel_cases(name, backend, dtype, n):
                        diff = _maxdiff(lam(), hand())
                        med = interleaved_medians({"lambdified": lam, "hand": hand}, repeats, warmup)
                        tl, th = med["lambdified"]["median_s"], med["hand"]["median_s"]
                        ml, mh = med["lambdified"]["min_s"], med["hand"]["min_s"]
                        rows.append({"neuron": name, "backend": backend, "dtype": dtype, "n": n, "kernel": label,
                                     "lambdified_s": tl, "hand_s": th, "ratio": tl / th,
                                     "lambdified_min_s": ml, "hand_min_s": mh, "ratio_of_min": ml / mh,
                                     "lambdified_Melem_per_s": n / tl / 1e6, "hand_Melem_per_s": n / th / 1e6,
                                     "max_abs_diff": diff, "repeats": repeats})
                        gc.collect()
    return rows


def print_kernels(rows) -> None:
    print("\nKernel throughput: lambdified / hand-written time (median; ratio > 1 means the lambdified one is slower)")
    print(table([[r["neuron"], r["backend"], r["dtype"], f"{r['n']:.0e}", r["kernel"], fmt_s(r["lambdified_s"]),
                  fmt_s(r["hand_s"]), f"{r['ratio']:.2f}x", f"{r['ratio_of_min']:.2f}x",
                  f"{r['lambdified_Melem_per_s']:.0f}",
                  f"{r['max_abs_diff']:.1e}"] for r in rows],
                ["neuron", "backend", "dtype", "n", "kernel", "lambdified", "hand", "ratio", "ratio(min)", "Melem/s",
                 "max|diff|"]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--neurons", nargs="*", default=None, help="catalogue neurons to derive (default: all)")
    ap.add_argument("--kernels", nargs="*", default=["gelu", "silu"], choices=["gelu", "silu"],
                    help="neurons whose kernels are timed (default: gelu silu)")
    ap.add_argument("--sizes", nargs="*", type=float, default=[1e6, 1e7], help="elements per call (default 1e6 1e7)")
    ap.add_argument("--dtypes", nargs="*", default=["float32", "float64"], choices=["float32", "float64"])
    ap.add_argument("--backends", nargs="*", default=["torch", "numpy"], choices=["torch", "numpy"])
    ap.add_argument("--repeats", type=int, default=7, help="timed calls per function (median; default 7)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed calls first (default 1)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--skip-derive", action="store_true", help="only the kernel throughput part")
    ap.add_argument("--skip-kernels", action="store_true", help="only the derivation part")
    ap.add_argument("--json", default=None, help="write all results to this JSON file")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        ap.error("--repeats must be >= 1 and --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = {"benchmark": "bench_derive", "machine": machine_info(), "args": vars(args)}
    if not args.skip_derive:
        out["derive"] = bench_catalogue(args.neurons)
        print_catalogue(out["derive"])
    if not args.skip_kernels:
        sizes = [int(s) for s in args.sizes]
        out["kernels"] = bench_kernels(args.kernels, args.backends, args.dtypes, sizes, args.repeats, args.warmup)
        print_kernels(out["kernels"])
    out["machine"]["loadavg_end"] = machine_info().get("loadavg_1_5_15")
    write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
