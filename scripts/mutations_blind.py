"""A blind mutation audit (issue 23): 40 bugs written from the package alone, without reading the tests.

    python scripts/mutations_blind.py                 # every mutation, prints a Markdown table and the kill rate
    python scripts/mutations_blind.py --only NAME     # one of them (repeatable)
    python scripts/mutations_blind.py --list          # the mutations, their areas and test folders
    python scripts/mutations_blind.py --timeout 300   # seconds per mutation (default 300)
    python scripts/mutations_blind.py --only NAME --tests "tests/meta tests/hardening"   # other folders

Each mutation is a plausible, user-visible bug (a sign flipped, an off-by-one, a bound loosened, a check
removed, a wrong constant, axis or default) in one file of ``ttfs_symbolic/``; it runs against the test
folder(s) of its package area only (``tests/<area>``, ``-x -q``), never a selection made by reading the
tests: the kill rate measures how well the suite catches bugs it was not written for. The machinery is
``scripts/mutate.py``'s (:class:`Mutation`, :func:`run`: copy the repository to a temporary folder,
apply the exact text patch, run pytest there with ``CI=true``, delete the copy). Each mutation's
``what`` says why it is not an equivalent mutant (what a user would see).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mutate import Mutation, run_each  # noqa: E402

SYM = ("tests/symbolic",)
NUM = ("tests/numeric",)
SPK = ("tests/spiking",)
CONV = ("tests/conversion",)
FAM = ("tests/families",)
ENERGY = ("tests/energy",)
CLI = ("tests/cli",)
EVAL = ("tests/evaluation",)
DATA = ("tests/data",)


#: tests that failed on the unmutated tree at b055b09 were deselected during the audit (so that a failure
#: there would not count as a kill); all of them pass since, so every run now uses the whole folder
_DESELECT = ()


def _b(name, area, what, path, old, new, tests):
    return Mutation(name, what, ((path, old, new),), ("-x", *_DESELECT, *tests), area)


P = "ttfs_symbolic/"

BLIND = (
    # ---------------- symbolic
    _b("b_delta_zero_accepted", "symbolic",
       "check_range accepts delta = 0 (tau = 0): derive_input(..., delta=0) no longer raises RangeError",
       P + "symbolic/hypotheses.py", "    if not bool(delta_ > 0):\n", "    if not bool(delta_ >= 0):\n", SYM),
    _b("b_numeric_inverse_tol_loose", "symbolic",
       "Theorem 4.3's proof with a root-finder inverse accepts errors up to 1e-5 instead of 1e-15 "
       "(a wrong psi/theta off by 1e-6 is reported as proved)",
       P + "symbolic/theorem_4_3.py", 'tol = mpmath.mpf("1e-15") if numeric_inverse else PROOF_TOL',
       'tol = mpmath.mpf("1e-5") if numeric_inverse else PROOF_TOL', SYM),
    _b("b_parse_erfc_is_erf", "symbolic",
       "the formula name erfc builds erf: 'erfc(x)' derives the kernel of erf",
       P + "symbolic/parse.py", '    "erfc": (sympy.erfc, 1, 1),', '    "erfc": (sympy.erf, 1, 1),', SYM),
    _b("b_parse_unary_plus_negates", "symbolic",
       "unary + negates like unary -: '+x' parses as -x",
       P + "symbolic/parse.py", "            if isinstance(node.op, ast.USub):\n                sign = -sign",
       "            if isinstance(node.op, (ast.USub, ast.UAdd)):\n                sign = -sign", SYM),
    # ---------------- numeric (Python)
    _b("b_decode_end_of_window_accepted", "numeric",
       "decode accepts a spike at or after T_end (up to T_end + 1) and returns a value below a instead of raising",
       P + "numeric/dynamics.py", "(t >= self.T_end - tol * 0)", "(t > self.T_end + 1.0)", NUM),
    _b("b_for_layer_off_by_one", "numeric",
       "LayerTiming.for_layer(n) starts at T_emit0 + (n+1) delta: every layer's window one step late",
       P + "numeric/dynamics.py", "float(T_emit0 + n * delta))", "float(T_emit0 + (n + 1) * delta))", NUM),
    _b("b_log_neurons_zero_low_two", "numeric",
       "log_code_neurons counts two neurons per value for a range [0, b] (a = 0 holds one sign only)",
       P + "numeric/dynamics.py", "two = ((a_t < 0) & (b_t > 0))", "two = ((a_t <= 0) & (b_t > 0))", NUM),
    _b("b_output_table_full_tick", "numeric",
       "kernel-mode output table sampled at whole ticks (m + 1), not half ticks: rounding to the next tick, "
       "not the nearest (a bias of half a tick)",
       P + "numeric/dynamics.py", "(np.arange(p) + 0.5) * (delta / p)", "(np.arange(p) + 1.0) * (delta / p)", NUM),
    _b("b_potential_bias_sign", "numeric",
       "NeuronLayer.potential subtracts the bias instead of adding it",
       P + "numeric/dynamics.py", "            V = V + _as_tensor(bias).to(V.dtype)\n",
       "            V = V - _as_tensor(bias).to(V.dtype)\n", NUM),
    # ---------------- numeric (C loops)
    _b("b_C_fired_counts_silent", "native (C)",
       "the C tick lookup with a table counts a silent value (k = p) as fired: spike counts too high",
       P + "numeric/csrc/ticks_body.h",
       "                f += k < p32;\n                c += (v < lo) + (v > hi);\n                out[i] = table[k];",
       "                f += k <= p32;\n                c += (v < lo) + (v > hi);\n                out[i] = table[k];",
       NUM),
    _b("b_C_rows_first_step", "native (C)",
       "per-neuron ranges in the C tick loop use the first neuron's tick step for every neuron",
       P + "numeric/csrc/ticks_body.h", "            o[s] = bs[s] - (REAL)k * steps[s];",
       "            o[s] = bs[s] - (REAL)k * steps[0];", NUM),
    _b("b_C_row_sum_drops_tail", "native (C)",
       "the row sum of exact-mode LayerNorm's mean drops the last element of a row (before 2026-12-06: "
       "row_sum dropped the tail of a row whose length is not a multiple of 8; row_sum is gone)",
       P + "numeric/csrc/ticks_body.h", "        for (int64_t c = 0; c < C; c++)\n            s += xr[c];",
       "        for (int64_t c = 0; c < C - 1; c++)\n            s += xr[c];", NUM),
    # ---------------- spiking
    _b("b_margin_low_sign", "spiking",
       "a layer-wide range's margin moves its low end up (lo + margin*width): margin narrows the range",
       P + "spiking/calibration.py", "            (lo - margin * width, hi + margin * width)\n",
       "            (lo + margin * width, hi + margin * width)\n", SPK),   # (the line moved on 2026-12-06)
    _b("b_sigmas_narrow_low", "spiking",
       "per-channel ranges take max(lo, mean - k std) for the low end: sigmas narrow the range instead of widening",
       P + "spiking/calibration.py", "lo = torch.minimum(lo, mean - sigmas * std)",
       "lo = torch.maximum(lo, mean - sigmas * std)", SPK),
    _b("b_margin_needed_min", "spiking",
       "margin_needed takes the smallest need over channels, not the largest: held-out values still clip",
       P + "spiking/calibration.py", "need = float(torch.maximum(low, high).max())",
       "need = float(torch.maximum(low, high).min())", SPK + CONV),
    _b("b_optimal_range_rounding_cost", "spiking",
       "optimal_range weighs the rounding variance 10x too little (/120 not /12): clips more outliers",
       P + "spiking/stats.py", "((b - a) / p) ** 2 / 12.0", "((b - a) / p) ** 2 / 120.0", SPK),
    _b("b_moments_no_cross_term", "spiking",
       "merging calibration moments drops Chan's cross term: per-neuron std too small across batches",
       P + "spiking/stats.py", "self.m2_t = self.m2_t + m2_t + delta.square() * (na * rows / (na + rows))",
       "self.m2_t = self.m2_t + m2_t", SPK),
    _b("b_only_inverted", "spiking",
       "only=[layers] runs every other layer in the mode and the named ones exact",
       P + "spiking/context.py", "if self.only is None or id(pop) in self.only:",
       "if self.only is None or id(pop) not in self.only:", SPK),
    _b("b_layer1_range_wrong_operand", "spiking",
       "the paper product's layer-I range uses the first factor's width twice: layer I clips when d2 > d1",
       P + "spiking/product.py", "return (0.0, math.log1p(p1.d) + math.log1p(p2.d))",
       "return (0.0, math.log1p(p1.d) + math.log1p(p1.d))", SPK),
    _b("b_spikes_count_silent", "spiking",
       "a linear-coded layer's spike count includes silent neurons (out >= a)",
       P + "spiking/emission.py", "            st.spikes += int((out > a).sum())\n",
       "            st.spikes += int((out >= a).sum())\n", SPK),
    # ---------------- conversion
    _b("b_schema_r_no_upper_bound", "conversion",
       "a conversion file's products[...].r above MAX_SHIFT_RATIO is accepted",
       P + "conversion/schema.py", 'not 0 < _finite(entry["r"], f"products[{name!r}].r") <= MAX_SHIFT_RATIO:',
       'not 0 < _finite(entry["r"], f"products[{name!r}].r"):', CONV),
    _b("b_schema_one_unknown_layer_ok", "conversion",
       "a conversion file with one layer not in its architecture is accepted (two are refused)",
       P + "conversion/schema.py", "        if unknown:\n            raise _Problem(f\"layer {unknown[0]!r}",
       "        if len(unknown) > 1:\n            raise _Problem(f\"layer {unknown[0]!r}", CONV),
    _b("b_newer_version_accepted", "conversion",
       "load_conversion accepts a file one format version newer than this library",
       P + "conversion/fileformat.py", 'if data.get("version", 1) > FORMAT_VERSION:',
       'if data.get("version", 1) > FORMAT_VERSION + 1:', CONV),
    _b("b_holdout_never", "conversion",
       "_split_holdout never holds an item out (rows % every never equals every): holdout is silently ignored",
       P + "conversion/convert.py", "hold = (rows % every) == every - 1", "hold = (rows % every) == every", CONV),
    _b("b_preset_zero_override_ignored", "conversion",
       "preset_settings ignores falsy overrides: holdout=0.0, sigmas=0 keep the preset's values",
       P + "conversion/convert.py", "out.update({k: v for k, v in overrides.items() if v is not None})",
       "out.update({k: v for k, v in overrides.items() if v})", CONV),
    _b("b_override_after_registry", "conversion",
       "the registry is searched before per-call activations=: an override of a registered class is ignored",
       P + "conversion/activations.py", "tables = [t for t in (_OVERRIDES.get(), _REGISTRY) if t]",
       "tables = [t for t in (_REGISTRY, _OVERRIDES.get()) if t]", CONV),
    _b("b_claims_nested_unchecked", "conversion",
       "check_complete only checks top-level modules: an unknown module nested in a block is not refused",
       P + "conversion/claims.py", "            if p and p not in self.paths:",
       '            if p and "." not in p and p not in self.paths:', CONV + FAM),
    _b("b_family_priority_reversed", "conversion",
       "families are tried lowest priority first: a specific family (DeiT distilled) loses to a generic one",
       P + "conversion/registry.py", "key=lambda f: -f.priority)", "key=lambda f: f.priority)", CONV + FAM),
    _b("b_dist_percentile_samples_local", "conversion",
       "with torchrun, a percentile below 100 no longer gathers every rank's samples (only those below 50 would): "
       "each rank's percentile comes from its own shard, ranks disagree with one process",
       P + "conversion/distributed.py", "    if percentile < 100.0:\n        return {p.pname for p in pops}",
       "    if percentile < 50.0:\n        return {p.pname for p in pops}", CONV),
    # ---------------- families
    _b("b_gamma_wrong_axis", "families",
       "LayerScale gamma folded along the input axis (g[None, :]) instead of the output channel",
       P + "families/common.py", "W = as_f64(W) * g[:, None]", "W = as_f64(W) * g[None, :]", FAM),
    _b("b_avg_pool_includes_prefix", "families",
       "average pooling includes the class/register tokens",
       P + "families/common.py", "x[:, self.num_prefix:].mean(1)", "x.mean(1)", FAM),
    _b("b_deit_bias_not_halved", "families",
       "DeiT distilled head: bias (bh + bd), not averaged like the weights",
       P + "families/deit.py", "            B = (bh + bd) / 2\n", "            B = (bh + bd)\n", FAM),
    _b("b_rope_sign_flipped", "families",
       "EVA interleaved rotary embedding: rotate(x) = [x1, -x0, ...] (sign flipped)",
       P + "families/eva.py", "sign = torch.where(idx % 2 == 0, -1.0, 1.0)", "sign = torch.where(idx % 2 == 1, -1.0, 1.0)",
       FAM),
    _b("b_sentence_mean_over_padding", "families",
       "sentence mean pooling divides by the padded length, not the number of tokens",
       P + "families/sentence.py", "w = w / w.sum(-1, keepdim=True)", "w = w / w.shape[-1]", FAM),
    _b("b_bert_vocab_off_by_one", "families",
       "a BERT token id equal to vocab_size passes the vocabulary check (IndexError in the embedding instead "
       "of the ValueError naming the id)",
       P + "families/bert.py", "int(ids.max()) >= self.vocab_size)", "int(ids.max()) > self.vocab_size)", FAM),
    # ---------------- energy
    _b("b_table3_ignores_rates", "energy",
       "apply_rates leaves op_snn_table3 static (the Table 3 ratio ignores spike rates)",
       P + "energy/counts.py", "            row.op_snn_table3 = row.op_snn_table3 * float(rate)\n",
       "            row.op_snn_table3 = row.op_snn_table3\n", ENERGY),
    _b("b_vit_tokens_without_prefix", "energy",
       "the ViT energy count forgets the class/register tokens (T = patches)",
       P + "energy/vit.py", "T = patches + model.num_prefix_tokens  # class", "T = patches  # class", ENERGY),
    # ---------------- evaluation, data, cli
    _b("b_evaluate_labels_first_batch", "evaluation",
       "evaluate compares every batch with the first batch's labels (labels[:items])",
       P + "evaluation/report.py", "lab = labels[n:n + items]", "lab = labels[:items]", EVAL),
    _b("b_count_batches_floor", "data",
       "count_batches floors: a last partial batch is not counted (progress and len off by one)",
       P + "data/inputs.py", "return (data.shape[0] + batch_size - 1) // batch_size",
       "return data.shape[0] // batch_size", DATA),
    _b("b_cli_value_error_exit_1", "cli",
       "a ValueError in a command exits 1 instead of 2 (the documented bad-input code)",
       P + "cli/main.py", '        print(f"ttfs {args.command}: error: {_short(exc)}", file=sys.stderr)\n        return 2\n',
       '        print(f"ttfs {args.command}: error: {_short(exc)}", file=sys.stderr)\n        return 1\n', CLI),
)


def blind_main(mutations, argv=None) -> int:
    """The command line of a blind set (this one and mutations_blind2.py): list, or run each mutation
    against its area's folders and print the table, the kill rate per area and overall, the survivors."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="run only this mutation (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the mutations and their test folders")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutation (default 300)")
    parser.add_argument("--tests", help="run every mutation against these test folders instead of its area's "
                        "(space-separated, e.g. \"tests/meta tests/hardening\"): where a survivor's test lives")
    args = parser.parse_args(argv)
    chosen = [m for m in mutations if not args.only or m.name in args.only]
    if args.only and len(chosen) != len(set(args.only)):
        parser.error(f"unknown mutation in {args.only}; known: {', '.join(m.name for m in mutations)}")
    if args.tests:
        chosen = [replace(m, tests=("-x", *args.tests.split())) for m in chosen]
    if args.list:
        for m in chosen:
            print(f"{m.name} [{m.area}]: {m.what}\n    tests: {' '.join(m.tests)}")
        return 0
    t0 = time.time()
    rows = run_each(chosen, timeout=args.timeout)
    total = time.time() - t0
    killed = sum(r["status"] == "killed" for r in rows)
    lines = ["| mutation | area | result | seconds | first failing test |", "|---|---|---|---|---|"]
    for r in rows:
        first = f"`{r['test']}`" if r["status"] == "killed" and r.get("test") else ""
        lines.append(f"| `{r['mutation'].name}` | {r['mutation'].area} | {r['status']} | {r['seconds']:.0f} | {first} |")
    print("\n".join(lines))
    areas = {}
    for r in rows:
        k = areas.setdefault(r["mutation"].area, [0, 0])
        k[0] += r["status"] == "killed"
        k[1] += 1
    print("\nper area: " + ", ".join(f"{a} {k}/{n}" for a, (k, n) in areas.items()))
    print(f"\nkill rate: {killed} of {len(rows)} ({100 * killed / max(len(rows), 1):.0f}%) in {total:.0f} s")
    for r in rows:
        if r["status"] != "killed":
            print(f"  NOT KILLED: {r['mutation'].name} ({r['status']}) {r['test']}")
    return 0 if killed == len(rows) else 1


def main(argv=None) -> int:
    return blind_main(BLIND, argv)


if __name__ == "__main__":
    sys.exit(main())
