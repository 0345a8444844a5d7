"""Benchmark: a converted timm ViT's SNN forward against its ANN, in time and peak memory.

For each model (random weights, ``pretrained=False``; 224 px; float32; CPU)
the random image batch is also the calibration set (Algorithm 1). Two kinds
of measurement, each in its own processes:

* time: ONE process per model (``--timing MODEL``) converts the model and
  times the ANN forward, the SNN ``exact`` forward and the SNN ``kernel``
  forward at time precision p (``--precision``, default 1024), and optionally
  ``quantized``. Every mode gets one untimed warm-up call first (its time is
  reported as ``first call``: for kernel mode it includes building the
  kernel tables and, once per machine, compiling the native loops), then ``--repeats`` timed calls
  (``--kernel-repeats`` for kernel/quantized), interleaved round by round so
  that the load of a shared machine hits every mode alike. The ratio of a
  mode is the median over rounds of its time divided by the ANN's time in
  the same round (paired: a slow spell of a shared machine slows both);
  the ratio of medians and of minimums are in the JSON and the table too.
* memory: a fresh process per (model, mode) (``--child MODEL MODE``) builds
  only what that mode needs (the ANN; or the SNN, rebuilt from the timing
  process's saved conversion, with the ANN deleted), then reads the peak
  resident set size ``VmHWM`` of ``/proc/self/status`` around a forward call.
  The high-water mark is reset (``/proc/self/clear_refs``, ``5``) just before
  the call, so the peak is that of the forward with the model, Python and
  torch resident: absolute peak RSS, nothing subtracted. Two calls: the first
  (kernel mode: includes compilation) and a warm one; the warm one is compared.

Targets (from the issue; reported as pass/fail, never asserted): exact <=
1.3x ANN time and <= 1.5x ANN peak memory; kernel at p = 1024 <= 6x ANN time;
ViT-S/16 at batch 8 in kernel mode within 8 GiB peak.

``--profile MODEL MODE`` runs one warm forward under cProfile and
torch.profiler and prints the hot spots.

Run ``python benchmarks/bench_snn.py --help``; see benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from _common import fmt_s, machine_info, table, timed, write_json  # noqa: E402

DEFAULT_MODELS = ["vit_tiny_patch16_224", "vit_small_patch16_224", "eva02_tiny_patch14_224"]
MODES = ("ann", "exact", "kernel", "quantized")
GIB = 1024 ** 3
TAG = "BENCH_RESULT "

TARGETS = {
    "exact_time": 1.3,       # exact <= 1.3x ANN time
    "exact_memory": 1.5,     # exact <= 1.5x ANN peak RSS
    "kernel_time": 6.0,      # kernel at p = 1024 <= 6x ANN time
    "vit_small_kernel_gib": 8.0,  # vit_small_patch16_224, batch 8, kernel mode: peak RSS <= 8 GiB
}


# ------------------------------------------------------------------ helpers


def proc_status_kib(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM), in KiB; None where there is none."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def eva_available() -> tuple[bool, str]:
    if importlib.util.find_spec("ttfs_symbolic.model.eva") is None:
        return False, "ttfs_symbolic.model.eva does not exist"
    return True, ""


def make_model(name: str, seed: int):
    """The ANN with seeded random weights (the same in every process)."""
    import timm

    torch.manual_seed(seed)
    return timm.create_model(name, pretrained=False).eval()


def make_images(model, batch: int, seed: int) -> torch.Tensor:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    size = tuple(cfg.get("input_size", (3, 224, 224)))
    g = torch.Generator().manual_seed(seed + 1)
    return torch.randn((batch,) + size, generator=g)


def forward_fn(mode: str, ann, snn, images, precision: int):
    if mode == "ann":
        def run():
            with torch.no_grad():
                return ann(images)
    elif mode == "exact":
        def run():
            return snn(images, mode="exact", dtype=torch.float32)
    elif mode in ("kernel", "quantized"):
        def run():
            return snn(images, mode=mode, precision=precision, dtype=torch.float32)
    else:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    return run


def emit(result: dict) -> None:
    """The one line a child process hands to its parent."""
    print(TAG + json.dumps(result, default=float), flush=True)


def run_child(args_list: list[str], threads: int | None, env_extra: dict | None = None, timeout: float | None = None):
    """Run this script with ``args_list`` in a fresh process; its result dict (or an error dict)."""
    cmd = [sys.executable, str(Path(__file__).resolve())] + args_list
    if threads:
        cmd += ["--threads", str(threads)]
    env = dict(os.environ)
    env.update(env_extra or {})
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s: {' '.join(cmd[1:])}"}
    wall = time.perf_counter() - t0
    for line in proc.stdout.splitlines()[::-1]:
        if line.startswith(TAG):
            out = json.loads(line[len(TAG):])
            out["process_wall_s"] = wall
            return out
    tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-15:]
    return {"error": f"child exited {proc.returncode} without a result: " + " | ".join(tail)}


#: the product construction and range kind of the converted models (set from --product, --range-kind)
CONVERT_KW: dict = {}


def build_snn(name: str, ann, images, batch: int, conversion: str | None):
    """Convert (calibrate on ``images``) or rebuild from a saved conversion."""
    from ttfs_symbolic.model.convert import convert, load_conversion

    if conversion and Path(conversion).is_file():
        return load_conversion(ann, conversion), 0.0
    t, snn = timed(lambda: convert(ann, images, batch_size=batch, progress=False, **CONVERT_KW))
    return snn, t


# ------------------------------------------------------------------ children


def child_timing(args) -> dict:
    """All time measurements of one model, in this one process."""
    name = args.timing
    res = {"model": name, "batch": args.batch, "precision": args.precision, "threads": torch.get_num_threads(),
           "native": os.environ.get("TTFS_NATIVE", "1") != "0"}
    if name.startswith("eva"):
        ok, why = eva_available()
        if not ok:
            return {**res, "skipped": why}
    ann = make_model(name, args.seed)
    images = make_images(ann, args.batch, args.seed)
    res["image_shape"] = list(images.shape)
    try:
        snn, res["convert_s"] = build_snn(name, ann, images, args.batch, None)
    except Exception as exc:  # e.g. Eva not convertible (yet): skip with the reason
        return {**res, "skipped": f"conversion failed: {type(exc).__name__}: {exc}"}
    if args.conversion:
        from ttfs_symbolic.model.convert import save_conversion

        save_conversion(snn, args.conversion)
    modes = ["ann", "exact", "kernel"] + (["quantized"] if args.quantized else [])
    fns = {m: forward_fn(m, ann, snn, images, args.precision) for m in modes}
    reps = {m: (args.repeats if m in ("ann", "exact") else args.kernel_repeats) for m in modes}
    first, outputs = {}, {}
    for m in modes:  # warm-up call: kernel mode builds its tick tables here
        first[m], outputs[m] = timed(fns[m])
    times = {m: [] for m in modes}
    for r in range(max(reps.values())):
        order = modes if r % 2 == 0 else modes[::-1]
        for m in order:
            if len(times[m]) < reps[m]:
                times[m].append(timed(fns[m])[0])
    ref = outputs["ann"].double()
    # scale for the logit differences: random weights give nearly tied logits,
    # so top-1 agreement alone says little
    res["ann_logit_spread"] = float((ref.max(-1).values - ref.min(-1).values).mean())
    res["ann_top1_margin"] = float(ref.topk(2, -1).values.diff(dim=-1).abs().mean())
    res["modes"] = {}
    for m in modes:
        out = outputs[m].double()
        res["modes"][m] = {
            "first_call_s": first[m],
            "median_s": statistics.median(times[m]),
            "min_s": min(times[m]),
            "runs_s": times[m],
            "max_abs_logit_diff_vs_ann": float((out - ref).abs().max()),
            "top1_agreement_vs_ann": float((out.argmax(-1) == ref.argmax(-1)).double().mean()),
        }
    ann = res["modes"]["ann"]
    for m in modes:
        d = res["modes"][m]
        # paired: the r-th call of this mode against the ANN's call of the same round,
        # which ran next to it, so a slow spell of a shared machine slows both
        paired = [t / a for t, a in zip(times[m], times["ann"])]
        d["paired_ratios"] = paired
        d["time_ratio_vs_ann"] = statistics.median(paired)
        d["ratio_of_medians_vs_ann"] = d["median_s"] / ann["median_s"]
        d["ratio_of_mins_vs_ann"] = d["min_s"] / ann["min_s"]
        d["first_call_minus_warm_s"] = d["first_call_s"] - d["median_s"]
    return res


def child_memory(args) -> dict:
    """Peak RSS of one mode's forward in this fresh process."""
    name, mode = args.child
    res = {"model": name, "mode": mode, "batch": args.batch, "threads": torch.get_num_threads()}
    if mode not in MODES:
        return {**res, "error": f"unknown mode {mode!r}; choose one of {', '.join(MODES)}"}
    if mode != "ann":
        import ttfs_symbolic.model.convert  # noqa: F401  (the SNN process's own imports)
    res["rss_after_imports_kib"] = proc_status_kib("VmRSS")
    ann = make_model(name, args.seed)
    images = make_images(ann, args.batch, args.seed)
    snn = None
    if mode != "ann":
        try:
            snn, res["convert_s"] = build_snn(name, ann, images, args.batch, args.conversion)
        except Exception as exc:
            return {**res, "skipped": f"conversion failed: {type(exc).__name__}: {exc}"}
        del ann  # the SNN holds its own copies of the weights
        ann = None
    gc.collect()
    res["rss_model_ready_kib"] = proc_status_kib("VmRSS")
    res["peak_setup_kib"] = proc_status_kib("VmHWM")
    fn = forward_fn(mode, ann, snn, images, args.precision)
    res["hwm_reset"] = reset_peak_rss()
    for label in ("first", "warm")[: args.mem_calls]:
        if label == "warm":
            gc.collect()
            reset_peak_rss()
        res[f"{label}_call_s"], _ = timed(fn)
        res[f"peak_{label}_kib"] = proc_status_kib("VmHWM")
    res["peak_kib"] = res.get("peak_warm_kib", res["peak_first_kib"])
    return res


def child_profile(args) -> None:
    """Hot spots of one warm forward: cProfile (Python functions) and torch.profiler (ops)."""
    import cProfile
    import io
    import pstats

    from torch.profiler import ProfilerActivity, profile

    name, mode = args.profile
    ann = make_model(name, args.seed)
    images = make_images(ann, args.batch, args.seed)
    snn = None
    if mode != "ann":
        snn, _ = build_snn(name, ann, images, args.batch, args.conversion)
    fn = forward_fn(mode, ann, snn, images, args.precision)
    t, _ = timed(fn)
    print(f"warm-up call: {fmt_s(t)}")
    pr = cProfile.Profile()
    pr.enable()
    t, _ = timed(fn)
    pr.disable()
    print(f"profiled call (cProfile): {fmt_s(t)}")
    buf = io.StringIO()
    pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(args.top)
    print(buf.getvalue())
    with profile(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
        fn()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))


# ------------------------------------------------------------------ parent


def verdict(value, limit) -> str:
    if value is None:
        return "n/a"
    return "PASS" if value <= limit else "FAIL"


def run_model(name: str, args, tmpdir: Path) -> dict:
    conv = tmpdir / f"{name}.conversion.json"
    common = ["--batch", str(args.batch), "--precision", str(args.precision), "--seed", str(args.seed),
              "--product", args.product, "--range-kind", args.range_kind]
    env = {"TTFS_NATIVE": "0"} if args.no_native else {}
    entry = {"model": name}
    if name.startswith("eva"):
        ok, why = eva_available()
        if not ok:
            print(f"[{name}] skipped: {why}")
            return {**entry, "skipped": why}
    if not args.no_timing:
        print(f"[{name}] timing process ...", flush=True)
        tim = run_child(["--timing", name, "--conversion", str(conv), "--repeats", str(args.repeats),
                         "--kernel-repeats", str(args.kernel_repeats)] + (["--quantized"] if args.quantized else [])
                        + common, args.threads, env, args.child_timeout)
        entry["timing"] = tim
        if "skipped" in tim or "error" in tim:
            print(f"[{name}] skipped: {tim.get('skipped') or tim.get('error')}")
            return {**entry, "skipped": tim.get("skipped") or tim.get("error")}
        print(f"[{name}]   converted in {fmt_s(tim['convert_s'])}; ANN logits: mean spread (max - min) "
              f"{tim['ann_logit_spread']:.3g}, mean top-1 margin {tim['ann_top1_margin']:.3g}")
        for m, d in tim["modes"].items():
            print(f"[{name}]   {m:9s} first {fmt_s(d['first_call_s']):>9s}  median {fmt_s(d['median_s']):>9s}  "
                  f"x{d['time_ratio_vs_ann']:.2f} ANN (paired; of medians x{d['ratio_of_medians_vs_ann']:.2f})  "
                  f"max|logit diff| {d['max_abs_logit_diff_vs_ann']:.2e}  "
                  f"top-1 agree {d['top1_agreement_vs_ann']:.2f}", flush=True)
    if not args.no_memory:
        mem = {}
        modes = ["ann", "exact", "kernel"] + (["quantized"] if args.quantized else [])
        for m in modes:
            print(f"[{name}] memory process, {m} ...", flush=True)
            extra = ["--conversion", str(conv)] if conv.is_file() else []
            r = run_child(["--child", name, m, "--mem-calls", str(args.mem_calls)] + extra + common,
                          args.threads, env, args.child_timeout)
            mem[m] = r
            if "peak_kib" in r:
                print(f"[{name}]   {m:9s} peak RSS {r['peak_kib'] / 2**20:.2f} GiB "
                      f"(model ready {r['rss_model_ready_kib'] / 2**20:.2f} GiB, after imports "
                      f"{r['rss_after_imports_kib'] / 2**20:.2f} GiB)", flush=True)
            else:
                print(f"[{name}]   {m}: {r.get('skipped') or r.get('error')}", flush=True)
        entry["memory"] = mem
        ann_peak = mem.get("ann", {}).get("peak_kib")
        for m, r in mem.items():
            if ann_peak and "peak_kib" in r:
                r["peak_ratio_vs_ann"] = r["peak_kib"] / ann_peak
    entry["targets"] = targets(entry, args)
    return entry


def targets(entry: dict, args) -> dict:
    tim = entry.get("timing", {}).get("modes", {})
    mem = entry.get("memory", {})
    out = {}
    if "exact" in tim:
        v = tim["exact"]["time_ratio_vs_ann"]
        out["exact_time_le_1.3x_ann"] = {"value": v, "limit": TARGETS["exact_time"],
                                         "verdict": verdict(v, TARGETS["exact_time"])}
    if "peak_ratio_vs_ann" in mem.get("exact", {}):
        v = mem["exact"]["peak_ratio_vs_ann"]
        out["exact_peak_rss_le_1.5x_ann"] = {"value": v, "limit": TARGETS["exact_memory"],
                                             "verdict": verdict(v, TARGETS["exact_memory"])}
    if "kernel" in tim:
        v = tim["kernel"]["time_ratio_vs_ann"]
        name = f"kernel_p{args.precision}_time_le_6x_ann"
        out[name] = {"value": v, "limit": TARGETS["kernel_time"], "verdict": verdict(v, TARGETS["kernel_time"])}
        if args.precision != 1024:
            out[name]["note"] = "the target is for p = 1024"
    if entry["model"] == "vit_small_patch16_224" and "peak_kib" in mem.get("kernel", {}):
        v = mem["kernel"]["peak_kib"] / 2**20
        out["vit_small_kernel_peak_le_8GiB"] = {"value": v, "limit": TARGETS["vit_small_kernel_gib"],
                                                "verdict": verdict(v, TARGETS["vit_small_kernel_gib"])}
        if args.batch != 8:
            out["vit_small_kernel_peak_le_8GiB"]["note"] = f"the target is for batch 8; measured at batch {args.batch}"
    return out


def print_summary(results: list[dict], args) -> None:
    rows = []
    for e in results:
        if "skipped" in e:
            rows.append([e["model"], "skipped", "", "", "", "", "", "", "", "", ""])
            continue
        tim = e.get("timing", {}).get("modes", {})
        mem = e.get("memory", {})
        for m in MODES:
            if m not in tim and m not in mem:
                continue
            t, r = tim.get(m, {}), mem.get(m, {})
            rows.append([e["model"], m, fmt_s(t.get("first_call_s")), fmt_s(t.get("median_s")),
                         f"{t['time_ratio_vs_ann']:.2f}x" if "time_ratio_vs_ann" in t else "-",
                         f"{t['ratio_of_medians_vs_ann']:.2f}x" if "ratio_of_medians_vs_ann" in t else "-",
                         f"{t['ratio_of_mins_vs_ann']:.2f}x" if "ratio_of_mins_vs_ann" in t else "-",
                         f"{r['peak_kib'] / 2**20:.2f}" if "peak_kib" in r else "-",
                         f"{r['peak_ratio_vs_ann']:.2f}x" if "peak_ratio_vs_ann" in r else "-",
                         f"{t['max_abs_logit_diff_vs_ann']:.1e}" if t else "-",
                         f"{t['top1_agreement_vs_ann']:.2f}" if t else "-"])
    print(f"\nSNN vs ANN (batch {args.batch}, float32, CPU, {args.threads or torch.get_num_threads()} thread(s), "
          f"p = {args.precision}; time/ANN: median of per-round ratios; then ratio of medians and of minimums; "
          f"memory: warm-call peak RSS, absolute)")
    print(table(rows, ["model", "mode", "first call", "median", "time/ANN", "of medians", "of mins", "peak GiB",
                       "peak/ANN", "max|dlogit|", "top1 agree"]))
    print("\nTargets (reported, not asserted)")
    trows = []
    for e in results:
        for k, v in e.get("targets", {}).items():
            trows.append([e["model"], k, f"{v['value']:.2f}", v["limit"], v["verdict"], v.get("note", "")])
    print(table(trows, ["model", "target", "value", "limit", "verdict", "note"]) if trows else "(none measured)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=DEFAULT_MODELS, help="timm model names (default: %(default)s)")
    ap.add_argument("--batch", type=int, default=8, help="images per forward (default 8)")
    ap.add_argument("--repeats", type=int, default=5, help="timed warm calls for ann and exact (default 5)")
    ap.add_argument("--kernel-repeats", type=int, default=3, help="timed warm calls for kernel/quantized (default 3)")
    ap.add_argument("--precision", type=int, default=1024, help="time precision p of kernel/quantized (default 1024)")
    ap.add_argument("--quantized", action="store_true", help="also time quantized mode")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads in every process")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--product", choices=("signed", "paper"), default="signed",
                    help="product construction of the SNN (default: signed, the converter's default)")
    ap.add_argument("--range-kind", choices=("layer", "channel", "neuron"), default="layer")
    ap.add_argument("--no-timing", action="store_true", help="skip the timing process")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    ap.add_argument("--mem-calls", type=int, default=2, choices=[1, 2],
                    help="forward calls in a memory process: 1 (first only) or 2 (first, then warm; default)")
    ap.add_argument("--no-native", action="store_true",
                    help="TTFS_NATIVE=0: the torch reference loops instead of the compiled C ones")
    ap.add_argument("--child-timeout", type=float, default=None, help="seconds before a child process is killed")
    ap.add_argument("--json", default=None, help="write all results to this JSON file")
    ap.add_argument("--top", type=int, default=25, help="rows of the profile tables (--profile)")
    # internal: the child processes
    ap.add_argument("--timing", metavar="MODEL", help=argparse.SUPPRESS)
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "MODE"),
                    help="run one memory measurement (MODE: ann, exact, kernel, quantized) and print its result")
    ap.add_argument("--profile", nargs=2, metavar=("MODEL", "MODE"),
                    help="profile one warm forward of MODEL in MODE (cProfile and torch.profiler)")
    ap.add_argument("--conversion", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.batch < 1 or args.repeats < 1 or args.kernel_repeats < 1 or args.precision < 1:
        ap.error("--batch, --repeats, --kernel-repeats and --precision must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    CONVERT_KW.update(product=args.product, range_kind=args.range_kind)
    if args.timing:
        emit(child_timing(args))
        return 0
    if args.child:
        emit(child_memory(args))
        return 0
    if args.profile:
        child_profile(args)
        return 0
    out = {"benchmark": "bench_snn", "machine": machine_info(), "args": vars(args), "targets": TARGETS,
           "models": []}
    with tempfile.TemporaryDirectory(prefix="bench_snn_") as tmp:
        for name in args.models:
            out["models"].append(run_model(name, args, Path(tmp)))
    out["machine"]["loadavg_end"] = machine_info().get("loadavg_1_5_15")
    print_summary(out["models"], args)
    write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
