"""A fifth blind mutation audit: bugs written from the package and the user docs alone, without reading the
tests (nor the earlier mutation sets, nor their survivors).

    python scripts/mutations_blind5.py                 # every mutation, prints a Markdown table and the kill rate
    python scripts/mutations_blind5.py --only NAME     # one of them (repeatable)
    python scripts/mutations_blind5.py --list          # the mutations, their areas and test folders
    python scripts/mutations_blind5.py --timeout 300   # seconds per mutation (default 300)

Same rules as ``scripts/mutations_blind.py`` to ``scripts/mutations_blind4.py``: each mutation is a
plausible, user-visible bug in one file of ``ttfs_symbolic/`` (an off-by-one, a sign, a weakened refusal, a
wrong count, default, unit or file field, an option silently ignored, a statistic computed wrongly, a message
or page that names the wrong thing), written from the package source, ``docs/guide/`` and ``README.md``
alone, without reading the tests or the earlier sets; it runs against the test folder of its package area
only (``tests/<area>``, ``-x -q``, ``CI=true``), so the kill rate measures how well the suite catches bugs it
was not written for. A weakened refusal of user input also runs against ``tests/hardening``, after its
area's folder. This set leans towards paths reached with non-default options, boundary values, asymmetric
data, several batches or processes and text models: the parallel combination of per-channel moments, the
percentile's lower end, the held-out margin of a scale and its cap, headroom on a variance, the spike count
of exact mode, a preset's overrides of 0, torchrun's held-out items, the native loops' row sums and fired
counts, the log code's neuron count, average pooling with prefix tokens, a padded sentence's mean, LayerScale
biases, the signed product's and folded LayerNorm's counts, multi-batch labels, text agreement, a sweep's clip
rates, the command line's headroom flag, kernel-mode bound and per-configuration files; and it covers every
other area: the symbolic layer, the catalogue, the property checks, the data readers, the generated pages
and the bundled models. Each mutation's ``what`` says what a user would see (none is meant as an equivalent
mutant). The machinery is ``scripts/mutate.py``'s (:class:`Mutation`, :func:`run_each`).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mutations_blind import blind_main  # noqa: E402
from mutations_blind2 import (CAT, CLI, CONV, DATA, ENERGY, EVAL, FAM, HARD, NUM, P, PAGES,  # noqa: E402,F401
                              PROGRESS, SPK, SYM, USERFILES, VER, ZOO, _b)

STATS = P + "spiking/stats.py"
CALIB = P + "spiking/calibration.py"
EMISSION = P + "spiking/emission.py"
CONVERT = P + "conversion/convert.py"
TICKS = P + "numeric/csrc/ticks_body.h"
COMMON = P + "families/common.py"
COUNTS = P + "energy/counts.py"
REPORT = P + "evaluation/report.py"
FILES = P + "data/files.py"

BLIND5 = (
    # ---- spiking (5)
    _b("moments_merge_drops_mean_shift", "spiking",
       "per-channel / per-neuron ranges calibrated over several batches whose means differ get a spread that "
       "leaves out the between-batch term, so their mean +- sigmas ranges are too narrow and clip more",
       STATS, "        self.m2_t = self.m2_t + m2_t + delta.square() * (na * rows / (na + rows))",
       "        self.m2_t = self.m2_t + m2_t", SPK),
    _b("percentile_trims_only_top", "spiking",
       "calibrate(percentile=99.9) trims outliers at the top of a layer-wide range only: the lower end stays the "
       "observed minimum, however far the outliers below reach",
       CALIB, "            lo = float(np.percentile(allv, 100.0 - percentile))", "            lo = st.lo", SPK),
    _b("scale_margin_inverted_ratio", "spiking",
       "a variance (scale) layer's held-out margin is measured as 1 - lo/a instead of a/lo - 1, too small, so a "
       "held-out variance below the fitted range still clips after the margin is applied",
       CALIB, "low = (a / lo.clamp(min=1e-300) - 1.0) if self.scale_low else (a - lo) / w",
       "low = (1.0 - lo / a.clamp(min=1e-300)) if self.scale_low else (a - lo) / w", SPK),
    _b("headroom_raises_scale_floor", "spiking",
       "headroom > 1 multiplies a positive variance's least value instead of dividing it, so the variance range "
       "narrows (or empties) where it should widen and small variances clip",
       CALIB, "            a = torch.where(a > 0, a / factor, a)",
       "            a = torch.where(a > 0, a * factor, a)", SPK),
    _b("exact_spike_count_includes_silent", "spiking",
       "in exact mode a linear-coded neuron at its range's lower end (silent) is counted as a spike, so the "
       "report's spikes per neuron is 1 for every layer",
       EMISSION, "st.spikes += int((out > (a if p is None else a + (b - a) / (2 * p))).sum())",
       "st.spikes += int((out >= (a if p is None else a + (b - a) / (2 * p))).sum())", SPK),
    # ---- conversion (4)
    _b("holdout_margin_uncapped", "conversion",
       "max_margin is ignored: a layer whose held-out values lie far outside its fitted range gets the whole "
       "margin they need, however large",
       CONVERT, "            margins[p.pname] = min(max_margin, p.margin_needed(st))",
       "            margins[p.pname] = p.margin_needed(st)", CONV),
    _b("torchrun_holdout_local_positions", "conversion",
       "under torchrun each rank holds out every k-th item of its own shard instead of the global k-th items, so "
       "N processes hold out other items (and give other ranges) than one process",
       CONVERT, "_split_holdout(x, n, seen if start is None else start, every)",
       "_split_holdout(x, n, seen, every)", CONV),
    _b("holdout_bound_weakened", "conversion",
       "calibrate(holdout=0.8) is accepted (the message still says [0, 0.5]) and then holds nothing out, as "
       "round(1/0.8) = 1",
       CONVERT, "not 0 <= holdout <= 0.5:", "not 0 <= holdout <= 1.0:", CONV + HARD),
    _b("preset_override_zero_ignored", "conversion",
       "an override of 0 is dropped: convert(..., holdout=0.0) or sigmas=0 with the accurate preset keeps the "
       "preset's 0.2 held out and 6 sigmas",
       CONVERT, "    out.update({k: v for k, v in overrides.items() if v is not None})",
       "    out.update({k: v for k, v in overrides.items() if v})", CONV),
    # ---- numeric (3)
    _b("native_row_sum_tail_overwrites", "numeric",
       "the C softmax's row sum is overwritten by each term instead of added to (before 2026-12-06 the same "
       "bug in the shared row_sum, now gone: its tail overwrote the first partial sums)",
       TICKS, "            s += e;\n",
       "            s = e;\n", NUM),
    _b("native_table_lookup_counts_silent", "numeric",
       "the C tick lookup with a table counts tick p (no spike) as fired, so the product networks' layer-I "
       "neurons all count as spiking in quantized and kernel mode",
       TICKS, "                f += k < p32;\n                c += (v < lo) + (v > hi);\n                out[i] = table[k];",
       "                f += k <= p32;\n                c += (v < lo) + (v > hi);\n                out[i] = table[k];",
       NUM),
    _b("log_code_neurons_zero_end", "numeric",
       "a log-coded layer whose range starts at 0 (probabilities, ReLU outputs) is counted with two neurons per "
       "value instead of one",
       P + "numeric/dynamics.py", "    two = ((a_t < 0) & (b_t > 0)).to(torch.float64)",
       "    two = ((a_t <= 0) & (b_t > 0)).to(torch.float64)", NUM),
    # ---- families (3)
    _b("avg_pool_includes_prefix", "families",
       "a ViT with global_pool='avg' and a class token averages the class token into the pooled features, so "
       "the SNN's logits differ from the ANN's",
       COMMON, "x = self.pool.emit(x[:, self.num_prefix:].mean(1), ctx, fresh=True)",
       "x = self.pool.emit(x.mean(1), ctx, fresh=True)", FAM),
    _b("sentence_mean_counts_padding", "families",
       "a sentence-transformers mean pooling divides by the padded length, so in a batch of sentences of "
       "different lengths the shorter sentences' embeddings shrink",
       P + "families/sentence.py", "            w = w / w.sum(-1, keepdim=True)   # the mask's weights, 1/n on each token",
       "            w = w / w.shape[-1]   # the mask's weights, 1/n on each token", FAM),
    _b("layerscale_bias_unscaled", "families",
       "a LayerScale gamma is folded into a linear layer's weights but not its bias, so models with layer scale "
       "(DeiT III, EVA) give other outputs than the ANN",
       COMMON, "        B = None if B is None else as_f64(B) * g", "        B = None if B is None else as_f64(B)",
       FAM),
    # ---- energy (3)
    _b("signed_folded_layernorm_ops", "energy",
       "with the signed product and rsqrt folded, each LayerNorm row's operation count keeps the rsqrt neuron's "
       "synapse (11N+1 instead of 11N), so OP_SNN and the energy ratio are too high",
       COUNTS, "        return 4 * N + 3 - fold, 11 * N + 1 - fold", "        return 4 * N + 3 - fold, 11 * N + 1",
       ENERGY),
    _b("signed_product_no_layer2_neurons", "energy",
       "the signed product's neuron count leaves out its M*N layer-II neurons",
       COUNTS, "    return M * N * (pairs * K + 1), (3 * pairs + corrections) * M * N * K",
       "    return M * N * pairs * K, (3 * pairs + corrections) * M * N * K", ENERGY),
    _b("spike_rate_above_one_accepted", "energy",
       "a spike rate above 1 is accepted by count_ops / apply_rates and scales OP_SNN beyond the static count",
       COUNTS, "not (0.0 <= rate <= 1.0):", "not (0.0 <= rate):", ENERGY + HARD),
    # ---- evaluation (3)
    _b("labels_not_advanced_per_batch", "evaluation",
       "evaluate over several batches compares every batch with the first batch's labels, so ANN and SNN "
       "accuracies are wrong for more images than one batch",
       REPORT, "                lab = labels[n:n + items]", "                lab = labels[:items]", EVAL),
    _b("agreement_per_input_not_row", "evaluation",
       "a text model's outputs are compared before its padding is masked: the padding rows count in the "
       "nearest-item agreement, the cosines and the error (until 2026-12-08: its top-1 agreement divided by "
       "the sentences, not the tokens)",
       REPORT, "                out, ref = out[keep], ref[keep]\n            tally.add(out, ref)\n",
       "                tally.add(out, ref)\n                out, ref = out[keep], ref[keep]\n            else:\n"
       "                tally.add(out, ref)\n", EVAL),
    _b("sweep_clip_rate_counts_spikes", "evaluation",
       "evaluate_sweep's clip rate per configuration counts every neuron checked as clipped, not only those that "
       "clipped",
       P + "evaluation/sweep.py",
       '            clipped[ci] += int(info.get("clipped", 0))',
       '            clipped[ci] += int(info.get("checked", 0))', EVAL),
    # ---- cli (3)
    _b("convert_headroom_flag_ignored", "cli",
       "ttfs convert --headroom H is silently ignored: the conversion file records the preset's headroom",
       P + "cli/model.py",
       "                            holdout=args.holdout, headroom=args.headroom, variance_end=args.variance_end)",
       "                            holdout=args.holdout, variance_end=args.variance_end)", CLI),
    _b("kernel_precision_bound_weakened", "cli",
       "ttfs evaluate --modes kernel --precision 1000000 is accepted instead of refused naming kernel mode's "
       "maximum, and the run then builds tables of a million ticks per layer",
       P + "cli/checks.py", 'if "kernel" in modes and p > MAX_KERNEL_PRECISION:',
       'if "kernel" in modes and p > MAX_PRECISION:', CLI + HARD),
    _b("config_report_clip_rate_zero", "cli",
       "ttfs evaluate's report_<mode>_p<p>.json files give clip_rate 0 whatever clipped (report.json has the "
       "right rate)",
       P + "cli/model.py", '        d["clip_rate"] = totals["clip_rate"][c.label]',
       '        d["clip_rate"] = r.clip_rate', CLI),
    # ---- symbolic (2)
    _b("sign_negative_side_zero", "symbolic",
       "sign(x) in an input transform on a range below 0 is replaced by 0 instead of -1, so f derives as the "
       "wrong constant",
       P + "symbolic/refusals.py", "else (1 if positive else -1)", "else (1 if positive else 0)", SYM),
    _b("softplus_float_loses_tail", "symbolic",
       "softplus of a very negative float (softplus(-100.0)) evaluates to 0 instead of about 3.7e-44",
       P + "symbolic/functions.py", "        val = mpmath.log1p(mpmath.exp(mpmath.mpf(x._mpf_)))",
       "        val = mpmath.log(1 + mpmath.exp(mpmath.mpf(x._mpf_)))", SYM),
    # ---- verify (1)
    _b("report_passes_on_any_check", "verify",
       "a neuron whose checks do not all hold is reported PASSED (VerifyReport.passed true) as soon as one holds",
       P + "verify/report.py", "        return all(r.holds for r in self.results)",
       "        return any(r.holds for r in self.results)", VER),
    # ---- data (2)
    _b("label_equal_to_classes_accepted", "data",
       "a label equal to the model's number of classes (one past the last class) is accepted instead of refused",
       FILES, "float(labels.max()) >= num_classes:", "float(labels.max()) > num_classes:", DATA + HARD),
    _b("skipped_image_keeps_label", "data",
       "with --skip-corrupt a class-folder batch keeps the label of a skipped image, so its labels no longer "
       "line up with its images (one more label than images)",
       FILES, "            if x is None:\n                skipped.append(path)\n                continue\n"
              "            xs.append(x)\n            ys.append(y)",
       "            ys.append(y)\n            if x is None:\n                skipped.append(path)\n                continue\n"
       "            xs.append(x)", DATA),
    # ---- catalogue (1)
    _b("output_transform_default_input_range", "catalogue",
       "a catalogue neuron's output transform is derived up to its input range's upper end instead of its "
       "output_range's, for every neuron whose two ranges differ",
       P + "catalogue.py", "        b = self.output_range[1] if b is None else b",
       "        b = self.range[1] if b is None else b", CAT),
    # ---- pages (1)
    _b("tex_keeps_pipes", "pages",
       "a formula with an absolute value prints |x| in a generated page's Markdown table, which breaks the "
       "table's columns",
       P + "pages/latex.py", '    return _Printer().doprint(sympy.sympify(expr)).replace("|", r"\\vert ")',
       "    return _Printer().doprint(sympy.sympify(expr))", PAGES),
    # ---- zoo (1)
    _b("digits_calib_fraction_of_rest", "zoo",
       "the digits calib split is 10% of the non-test 80% (8% of the data) instead of 10% of the whole, so "
       "train and calib have other sizes and members than documented",
       P + "zoo/digits.py", "test_size=CALIB_FRACTION / (1.0 - TEST_FRACTION)", "test_size=CALIB_FRACTION", ZOO),
)


def main(argv=None) -> int:
    return blind_main(BLIND5, argv)


if __name__ == "__main__":
    sys.exit(main())
