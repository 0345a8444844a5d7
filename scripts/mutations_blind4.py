"""A fourth blind mutation audit (issue 23): bugs written from the package and the user docs alone, without
reading the tests (nor the earlier mutation sets, nor their survivors).

    python scripts/mutations_blind4.py                 # every mutation, prints a Markdown table and the kill rate
    python scripts/mutations_blind4.py --only NAME     # one of them (repeatable)
    python scripts/mutations_blind4.py --list          # the mutations, their areas and test folders
    python scripts/mutations_blind4.py --timeout 300   # seconds per mutation (default 300)

Same rules as ``scripts/mutations_blind.py``, ``scripts/mutations_blind2.py`` and ``scripts/mutations_blind3.py``:
each mutation is a plausible, user-visible bug in one file of ``ttfs_symbolic/`` (an off-by-one, a sign, a
weakened refusal, a wrong count, default, unit or file field, an option silently ignored, a statistic computed
wrongly, a message or page that names the wrong thing), written from the package source, ``docs/guide/`` and
``README.md`` alone, without reading the tests or the earlier sets; it runs against the test folder of its
package area only (``tests/<area>``, ``-x -q``, ``CI=true``), so the kill rate measures how well the suite
catches bugs it was not written for. A weakened refusal of user input also runs against ``tests/hardening``,
after its area's folder; ``userfiles.py`` and ``progress.py`` run against ``tests/hardening`` plus the folder of
their main user, as in the second set. This set is weighted towards the code that changed most recently: the
calibration statistics and ranges of the spiking layers (the variance's calibrated upper end and its lower end
when the rsqrt is folded, held-out margins, per-channel moments, percentiles), LayerNorm's proven variance
bound, the signed product (its shift choice, its silent-neuron count, the per-element closed form), the
presets and their overrides, the conversion file and its schema, the command line's convert flags and their
bounds, the evaluation reports and sweeps, the energy counts and distributed calibration; and it covers every
other area: the symbolic layer, the catalogue, the numeric layer, the property checks, the model families, the
data readers, the generated pages, the bundled models, ``userfiles.py`` and ``progress.py``. Each mutation's
``what`` says what a user would see (none is meant as an equivalent mutant). The machinery is
``scripts/mutate.py``'s (:class:`Mutation`, :func:`run_each`).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mutations_blind import blind_main  # noqa: E402
from mutations_blind2 import (CAT, CLI, CONV, DATA, ENERGY, EVAL, FAM, HARD, NUM, P, PAGES,  # noqa: E402,F401
                              PROGRESS, SPK, SYM, USERFILES, VER, ZOO, _b)

CALIB = P + "spiking/calibration.py"
PRODUCT = P + "spiking/product.py"
EMISSION = P + "spiking/emission.py"
LAYERS = P + "spiking/layers.py"
CONVERT = P + "conversion/convert.py"

BLIND4 = (
    # ---- spiking/: calibration statistics and ranges, LayerNorm's variance, the signed product, counts
    _b("scale_low_end_widened_by_sigmas", "spiking",
       "a variance's per-channel lower end is its mean - sigmas std (clamped to 0) instead of the least value "
       "seen / (1 + margin): LayerNorm's variance range reaches down to 0 and its rsqrt's factor explodes",
       CALIB,
       "                lo, hi = lo_seen / (1.0 + margin), hi * (1.0 + margin)\n",
       "                lo, hi = lo / (1.0 + margin), hi * (1.0 + margin)\n", SPK),
    _b("folded_variance_lower_end_to_zero", "spiking",
       "a linear-coded variance whose rsqrt is folded is moved down to its bound 0 again: the product's factor "
       "reaches (0 + eps)^(-1/2) and its shift and layer-I range follow it (the MiniLM 229% error)",
       CALIB,
       "                and self.range_fn is None and self.fixed_range is None and self.upper_fn is None:\n",
       "                and self.range_fn is None and self.fixed_range is None:\n", SPK),
    _b("variance_end_calibrated_ignored_per_channel", "spiking",
       "variance_end='calibrated' (the accurate preset's) is ignored for per-channel ranges: the variance ends "
       "at the proven bound, 10-90x above the data, and spends its ticks on values no token has",
       CALIB,
       "                hi = torch.minimum(hi, bound) if self.upper_calibrated else bound\n",
       "                hi = bound\n", SPK),
    _b("calibrated_variance_end_no_holdout_margin", "spiking",
       "a variance's calibrated upper end gets no held-out margin (treated as the proven bound): held-out "
       "variances above it clip, and the conversion's holdout_margin_max leaves them out",
       CALIB,
       "        if (self.upper_fn is not None and not self.upper_calibrated) \\\n",
       "        if self.upper_fn is not None \\\n", SPK),
    _b("percentile_trims_top_only", "spiking",
       "calibrate(percentile=99) trims the upper tail only: a layer-wide range keeps its lowest outlier as its "
       "lower end and spends its ticks on it",
       CALIB,
       "            lo = float(np.percentile(allv, 100.0 - percentile))\n",
       "            lo = st.lo\n", SPK),
    _b("chan_merge_drops_between_batch_spread", "spiking",
       "per-channel moments merged across batches drop the between-batch term of Chan et al.: the std behind "
       "mean +- sigmas std is underestimated when batches differ, so ranges are too narrow and clip",
       P + "spiking/stats.py",
       "        self.m2_t = self.m2_t + m2_t + delta.square() * (na * rows / (na + rows))\n",
       "        self.m2_t = self.m2_t + m2_t\n", SPK),
    _b("signed_shift_choice_unseeded", "spiking",
       "the signed product's shift r is chosen on an unseeded draw of the factors' samples: the same model and "
       "data give different r (and conversion files) from run to run, and one process differs from N",
       PRODUCT,
       "        rng = np.random.default_rng(0)\n",
       "        rng = np.random.default_rng()\n", SPK),
    _b("signed_layer1_silent_never_counted", "spiking",
       "exact mode's count of the signed product's layer I never finds a silent neuron (< instead of <= its "
       "least |x|): spikes per neuron of every product's layer I is reported as 1",
       PRODUCT,
       "                z1 = (torch.relu(s1 * x1) <= o1.low).to(x1.dtype)\n",
       "                z1 = (torch.relu(s1 * x1) < o1.low).to(x1.dtype)\n", SPK),
    _b("signed_fine_E00_when_one_split", "spiking",
       "the per-element signed product adds back the two-silent-parts term when only one factor is split: "
       "LayerNorm with per-channel ranges is off by (low1 + e1)(low2 + e2) at every element in quantized mode",
       PRODUCT,
       "        if o1.split and o2.split:\n            V = V.add_(c[\"E00\"])\n",
       "        if o1.split or o2.split:\n            V = V.add_(c[\"E00\"])\n", SPK),
    _b("silent_neuron_counted_as_spike", "spiking",
       "a neuron at its range's lower end a (no spike) is counted as a spike: every layer's spikes per neuron "
       "in the report is 1 and the energy's measured rates with it",
       EMISSION,
       "            st.spikes += int((out > (a if p is None else a + (b - a) / (2 * p))).sum())\n",
       "            st.spikes += int((out >= (a if p is None else a + (b - a) / (2 * p))).sum())\n", SPK),
    _b("clip_count_tolerance_dtypes_swapped", "spiking",
       "the clipping count's rounding slack is 1e-5 in float64 and 1e-9 in float32: float32 runs warn of "
       "clipped neurons that are only float rounding, float64 runs miss small clips",
       EMISSION,
       "        tol = (1e-9 if V.dtype == torch.float64 else 1e-5) * scale\n",
       "        tol = (1e-5 if V.dtype == torch.float64 else 1e-9) * scale\n", SPK),
    _b("clipping_warning_names_least_clipped", "spiking",
       "the ClippingWarning's 'worst layers' are the three layers that clipped least",
       P + "spiking/context.py",
       "    worst = sorted(layers.items(), key=lambda kv: -kv[1])[:3]\n",
       "    worst = sorted(layers.items(), key=lambda kv: kv[1])[:3]\n", SPK),
    _b("softmax_lse_range_off_by_one", "spiking",
       "the log-sum-exp neuron's proven range is [0, log(n - 1)] instead of [0, log n]: rows of nearly equal "
       "scores clip it silently in quantized and kernel mode and their probabilities sum to more than 1",
       LAYERS,
       "            lse_range = (0.0, math.log(n))\n",
       "            lse_range = (0.0, math.log(n - 1))\n", SPK),
    _b("variance_bound_forgets_negative_end", "spiking",
       "LayerNorm's proven variance bound squares only the upper end of each centred channel: where channels "
       "reach further below 0 than above, the bound is too small and, with variance_end='bound' and the rsqrt "
       "folded, variances clip",
       LAYERS,
       "    sq = torch.maximum(a * a, b * b)\n",
       "    sq = b * b\n", SPK),

    # ---- conversion/: held-out margins, presets and overrides, the file and its schema, distributed, checks
    _b("holdout_stats_not_merged", "conversion",
       "with a held-out part the final ranges come from the fitted four fifths only, not from all the data "
       "widened by the margin as documented",
       CONVERT,
       "            p.stats.merge(st)\n",
       "", CONV),
    _b("holdout_margin_max_is_min", "conversion",
       "the conversion file's calibration.holdout_margin_max records the smallest held-out margin (usually 0), "
       "not the largest",
       CONVERT,
       "                       \"holdout_margin_max\": max(margins.values(), default=0.0)}\n",
       "                       \"holdout_margin_max\": min(margins.values(), default=0.0)}\n", CONV),
    _b("falsy_overrides_ignored", "conversion",
       "convert(..., holdout=0.0) or sigmas=0 keeps the preset's 0.2 / 6: an override that is 0 is silently "
       "ignored (only None should keep the preset's)",
       CONVERT,
       "    out.update({k: v for k, v in overrides.items() if v is not None})\n",
       "    out.update({k: v for k, v in overrides.items() if v})\n", CONV),
    _b("headroom_below_one_accepted", "conversion",
       "calibrate(headroom=0.5) is accepted: log-coded ranges are narrowed instead of widened, and values of "
       "the calibration data itself clip",
       CONVERT,
       "    if isinstance(headroom, bool) or not isinstance(headroom, (int, float)) or not 1 <= headroom < math.inf:\n",
       "    if isinstance(headroom, bool) or not isinstance(headroom, (int, float)) or not 0 < headroom < math.inf:\n",
       CONV + HARD),
    _b("accurate_holdout_quarter", "conversion",
       "the accurate preset holds out a quarter of the calibration data, not the documented fifth (every 4th "
       "item instead of every 5th)",
       P + "conversion/presets.py",
       "                 \"codes\": \"auto\", \"holdout\": 0.2, \"sigmas\": 6.0, \"headroom\": 2.0, "
       "\"variance_end\": \"calibrated\"},\n",
       "                 \"codes\": \"auto\", \"holdout\": 0.25, \"sigmas\": 6.0, \"headroom\": 2.0, "
       "\"variance_end\": \"calibrated\"},\n",
       CONV),
    _b("file_T_ref_uses_d_for_tau", "conversion",
       "each layer's T_ref in the conversion file is T_emit + b*d instead of T_emit + b*tau (tau = 1/d): the "
       "reference time a reader decodes spike times with is wrong",
       P + "conversion/fileformat.py",
       "        layers[p.pname] = {**p.range_dict(), \"tau\": 1.0 / p.d, \"T_ref\": p.window + p.b / p.d,\n",
       "        layers[p.pname] = {**p.range_dict(), \"tau\": 1.0 / p.d, \"T_ref\": p.window + p.b * p.d,\n",
       CONV),
    _b("old_file_rsqrt_default_folded", "conversion",
       "a conversion file without an 'rsqrt' key (format before 5: rsqrt neurons) loads with the rsqrt folded: "
       "its saved rsqrt ranges are ignored and the network computes something else",
       P + "conversion/fileformat.py",
       "    set_rsqrt(snn, data.get(\"rsqrt\", \"neuron\"))          # files before version 5: rsqrt neurons\n",
       "    set_rsqrt(snn, data.get(\"rsqrt\", \"folded\"))          # files before version 5: rsqrt neurons\n",
       CONV),
    _b("schema_window_zero_accepted", "conversion",
       "a conversion file whose layer has window 0 passes the schema (windows are numbered from 1)",
       P + "conversion/schema.py",
       "            or int(w) != w or not 1 <= w <= MAX_WINDOW:\n",
       "            or int(w) != w or not 0 <= w <= MAX_WINDOW:\n", CONV + HARD),
    _b("distributed_m2_misses_rows_weight", "conversion",
       "torchrun: the per-channel spread merged over ranks adds each rank's (mean - global mean)^2 once, not "
       "rows times: N processes calibrate narrower per-channel ranges than one",
       P + "conversion/distributed.py",
       "                st.m2_t = st.m2_t + n_r * (sum_r.to(torch.float64) / n_r - mean) ** 2\n",
       "                st.m2_t = st.m2_t + (sum_r.to(torch.float64) / n_r - mean) ** 2\n", CONV),
    _b("activation_check_passes_nan", "conversion",
       "an activation module that returns NaN on part of the calibrated range passes the check against its "
       "formula (NaN no longer counts as a mismatch)",
       P + "conversion/activations.py",
       "    bad = ~(diff <= tol * (1 + fx.abs()))    # NaN counts as a mismatch\n",
       "    bad = diff > tol * (1 + fx.abs())\n", CONV + HARD),

    # ---- cli/: convert flags and their bounds, energy, budget
    _b("cli_holdout_bound_one", "cli",
       "ttfs convert --holdout 0.8 passes the argument check (bounds [0, 1]); the run loads the model and data "
       "before convert() refuses it, with a message that does not name --holdout",
       P + "cli/checks.py",
       "    \"--precision\": (1, MAX_PRECISION), \"--holdout\": (0.0, 0.5), \"--headroom\": (1.0, 1000.0),\n",
       "    \"--precision\": (1, MAX_PRECISION), \"--holdout\": (0.0, 1.0), \"--headroom\": (1.0, 1000.0),\n",
       CLI + HARD),
    _b("cli_convert_headroom_ignored", "cli",
       "ttfs convert --headroom H is checked but never reaches the calibration: the file has the preset's "
       "headroom",
       P + "cli/model.py",
       "                            holdout=args.holdout, headroom=args.headroom, variance_end=args.variance_end)\n",
       "                            holdout=args.holdout, variance_end=args.variance_end)\n", CLI),
    _b("cli_out_dangling_symlink_written", "cli",
       "ttfs convert --out LINK where LINK is a dangling symbolic link writes through it without --overwrite",
       P + "cli/checks.py",
       "    if out.exists() or out.is_symlink():\n",
       "    if out.exists():\n", CLI + HARD),
    _b("cli_kernel_precision_max_refused", "cli",
       "ttfs evaluate --modes kernel --precision 65536 is refused although 65536 is the stated maximum",
       P + "cli/checks.py",
       "        if \"kernel\" in modes and p > MAX_KERNEL_PRECISION:\n",
       "        if \"kernel\" in modes and p >= MAX_KERNEL_PRECISION:\n", CLI),
    _b("cli_energy_seq_len_zero_is_default", "cli",
       "ttfs energy bert-base-uncased --seq-len 0 counts 128 tokens instead of refusing the length",
       P + "cli/energy.py",
       "        report = count_ops_bert(args.model, seq_len=128 if seq_len is None else seq_len, preset=preset, "
       "**shape)\n",
       "        report = count_ops_bert(args.model, seq_len=seq_len or 128, preset=preset, **shape)\n", CLI + HARD),
    _b("cli_budget_sigmas_ignored", "cli",
       "ttfs budget --sigmas S is checked but not passed to convert: the budget's model has the preset's sigmas",
       P + "cli/budget.py",
       "                  margin=args.margin, sigmas=args.sigmas, residual=args.residual, "
       "progress=not args.no_progress)\n",
       "                  margin=args.margin, residual=args.residual, progress=not args.no_progress)\n", CLI),

    # ---- evaluation/: reports, sweeps, the error budget
    _b("agreement_over_inputs_not_rows", "evaluation",
       "evaluate() on a feature model keeps every output row for the nearest-item agreement, past NN_ROWS: the "
       "all-pairs comparison grows without bound (until 2026-12-08: a text model's agreeing tokens divided by "
       "the sentences)",
       P + "evaluation/features.py",
       "        room = NN_ROWS - self.kept\n",
       "        room = NN_ROWS + self.rows\n", EVAL),
    _b("clip_warning_last_batch_rate", "evaluation",
       "evaluate()'s clipping warning gives each layer the clip rate of the last batch it clipped in, not its "
       "worst, so the named worst layers and their rates are wrong",
       P + "evaluation/report.py",
       "                clip_layers[name] = max(clip_layers.get(name, 0.0), rate)\n",
       "                clip_layers[name] = rate\n", EVAL),
    _b("budget_share_over_total_error", "evaluation",
       "error_budget's shares are each group's error over the all-layers error, not over the groups' sum: "
       "they do not add up to 100%",
       P + "evaluation/report.py",
       "        g[\"share\"] = g[\"error\"] / s if s > 0 else 0.0\n",
       "        g[\"share\"] = g[\"error\"] / total if total > 0 else 0.0\n", EVAL),
    _b("sweep_clip_rate_counts_input", "evaluation",
       "ttfs evaluate's clip rate divides by every neuron the input layer's pixels included, so it is too small",
       P + "evaluation/sweep.py",
       "            checked[ci] += int(info.get(\"checked\", 0))\n",
       "            checked[ci] += int(info.get(\"checked\", 0)) + images.numel()\n", EVAL),
    _b("sweep_exact_in_run_dtype", "evaluation",
       "ttfs evaluate runs exact mode in --dtype (float32 by default) instead of float64, and its report says so",
       P + "evaluation/sweep.py",
       "            out.append(Config(\"exact\", None, exact_dtype))\n",
       "            out.append(Config(\"exact\", None, dtype))\n", EVAL),

    # ---- energy/: Table 3 counts, rates
    _b("signed_layernorm_fold_keeps_op", "energy",
       "with the signed product and the rsqrt folded, LayerNorm still counts the synapse into the rsqrt neuron "
       "it no longer has (11N + 1 operations per row instead of 11N)",
       P + "energy/counts.py",
       "        return 4 * N + 3 - fold, 11 * N + 1 - fold\n",
       "        return 4 * N + 3 - fold, 11 * N + 1\n", ENERGY),
    _b("residual_synapses_k_not_k_minus_1", "energy",
       "ttfs energy --residual synapses counts 2*T*dim*k extra operations for a stream of k summands instead "
       "of 2*T*dim*(k - 1): the first summand is counted twice",
       P + "energy/vit.py",
       "        walker.add(join(path, name), \"residual\", 0, 2 * T * dim * (k - 1), 0,\n",
       "        walker.add(join(path, name), \"residual\", 0, 2 * T * dim * k, 0,\n", ENERGY),
    _b("by_kind_ignores_rates", "energy",
       "the per-kind subtotals of an energy count with measured rates add the static counts: they no longer sum "
       "to the total OP_SNN",
       P + "energy/counts.py",
       "            d[\"op_snn\"] += r.op_snn\n",
       "            d[\"op_snn\"] += r.op_snn_static\n", ENERGY),
    _b("table3_count_not_scaled_by_rate", "energy",
       "with measured firing rates, Table 3's MatMul count (op_snn_table3, energy_ratio_table3) stays static "
       "while OP_SNN is scaled",
       P + "energy/counts.py",
       "        if row.op_snn_table3 is not None:\n            row.op_snn_table3 = row.op_snn_table3 * float(rate)\n",
       "", ENERGY),
    _b("roberta_positions_off_by_one", "energy",
       "ttfs energy roberta-base --seq-len 513 is counted although RoBERTa has 514 - (pad_token_id + 1) = 512 "
       "positions",
       P + "energy/bert.py",
       "        max_pos -= _size(cfg, \"pad_token_id\", name, 1, low=0) + 1\n",
       "        max_pos -= _size(cfg, \"pad_token_id\", name, 1, low=0)\n", ENERGY + HARD),

    # ---- families/
    _b("vit_head_rate_from_pool_not_fc_norm", "families",
       "an average-pool ViT's head is scaled by the pool's firing rate, not by the fc_norm that feeds it",
       P + "families/vit.py",
       "        for last in (\"fc_norm\", \"pool\", \"norm\"):\n",
       "        for last in (\"norm\", \"pool\", \"fc_norm\"):\n", FAM),
    _b("bert_fc2_rate_from_fc1", "families",
       "BERT's output.dense energy row is scaled by the firing rate of intermediate.dense (its input's input), "
       "not of the activation neurons that feed it",
       P + "families/bert.py",
       "                out[f\"{pre}.output.dense\"] = rates[f\"{pre}.intermediate.intermediate_act_fn\"]\n",
       "                out[f\"{pre}.output.dense\"] = rates[f\"{pre}.intermediate.dense\"]\n", FAM),
    _b("sentence_sumsq_bound_is_mean", "families",
       "the L2 normalisation's proven bound of the sum of squares is the mean over channels, not the sum: "
       "with the rsqrt folded the sum of squares clips and the embeddings' norms are wrong",
       P + "families/sentence.py",
       "        return float(channel_squares(self.pooled_src, self.hidden).sum())\n",
       "        return float(channel_squares(self.pooled_src, self.hidden).mean())\n", FAM),
    _b("bert_full_length_refused", "families",
       "a BERT batch of exactly the model's number of positions (512 tokens) is refused as too long",
       P + "families/bert.py",
       "        if ids.shape[1] > self.max_tokens:\n",
       "        if ids.shape[1] >= self.max_tokens:\n", FAM),
    _b("avg_pool_includes_prefix_tokens", "families",
       "an average-pool ViT averages the class and register tokens with the patches: its logits differ from "
       "timm's",
       P + "families/common.py",
       "            x = self.pool.emit(x[:, self.num_prefix:].mean(1), ctx, fresh=True)\n",
       "            x = self.pool.emit(x.mean(1), ctx, fresh=True)\n", FAM),

    # ---- symbolic/
    _b("sign_below_range_is_zero", "symbolic",
       "derive_input('x*sign(x - 5)', -1, 1) derives f = 0: sign of an argument negative on the whole range is "
       "replaced by 0 instead of -1",
       P + "symbolic/refusals.py",
       "        value = (1 if positive else 0) if isinstance(atom, sympy.Heaviside) else (1 if positive else -1)\n",
       "        value = (1 if positive else 0) if isinstance(atom, sympy.Heaviside) else (1 if positive else 0)\n",
       SYM),
    _b("tau_underflow_not_refused", "symbolic",
       "a range whose tau = delta/(b - a) underflows to 0 in float64 (delta 1e-300, width 1e100) is no longer "
       "refused up front: the derivation fails later with a misleading error or gives inf kernels",
       P + "symbolic/refusals.py",
       "        if name in (\"the width b - a\", \"tau = delta/(b - a)\") and v == 0.0:\n",
       "        if name == \"the width b - a\" and v == 0.0:\n", SYM + HARD),
    _b("max_one_argument_accepted", "symbolic",
       "the formula 'max(x)' (one argument) is accepted, though max takes at least two",
       P + "symbolic/parse.py",
       "    \"max\": (sympy.Max, 2, None),\n",
       "    \"max\": (sympy.Max, 1, None),\n", SYM + HARD),
    _b("power_size_sum_not_product", "symbolic",
       "the parser's guard on exact numeric powers adds the base's bits and the exponent: 1000**3000 (30,000 "
       "bits) is accepted",
       P + "symbolic/parse.py",
       "    size = bits * abs(exponent)\n",
       "    size = bits + abs(exponent)\n", SYM + HARD),

    # ---- catalogue
    _b("catalogue_cache_shared", "catalogue",
       "load_catalogue() returns the cached dict itself: a caller that removes or edits an entry changes the "
       "catalogue every later get() sees",
       P + "catalogue.py",
       "            return dict(cached[1])\n",
       "            return cached[1]\n", CAT),
    _b("definition_delta_zero_accepted", "catalogue",
       "a neuron definition with delta = 0 (the time step) passes parse_definition",
       P + "catalogue.py",
       "            or not delta > 0):\n",
       "            or not delta >= 0):\n", CAT + HARD),

    # ---- numeric/
    _b("log_code_zero_counts_as_spike", "numeric",
       "a log-coded layer counts a value 0 at the lower end of a part's range as a spike: spikes per neuron "
       "of log-coded layers is too high",
       P + "numeric/dynamics.py",
       "    return int(((values > a_t.clamp(min=0)) | (values < b_t.clamp(max=0))).sum())\n",
       "    return int(((values >= a_t.clamp(min=0)) | (values < b_t.clamp(max=0))).sum())\n", NUM),
    _b("precision_zero_accepted", "numeric",
       "mode 'quantized' with precision 0 passes check_mode (a time precision is a positive integer)",
       P + "numeric/dynamics.py",
       "              and math.isfinite(precision) and int(precision) == precision and precision >= 1)\n",
       "              and math.isfinite(precision) and int(precision) == precision and precision >= 0)\n",
       NUM + HARD),
    _b("log_pack_ignores_least_magnitude", "numeric",
       "the log code's tick grid of a one-signed range that does not reach 0 spans log(e)..log(M + e) instead "
       "of log(least + e)..: its ticks are coarser and its rounding error larger than the documented du/(2p)",
       P + "numeric/native.py",
       "        out.append((sign, e, uhi, uhi - torch.log(least + e)))\n",
       "        out.append((sign, e, uhi, uhi - torch.log(e)))\n", NUM),

    # ---- verify/
    _b("report_passes_on_any", "verify",
       "check_neuron's report passes (and ttfs verify exits 0) when any one check holds",
       P + "verify/report.py",
       "        return all(r.holds for r in self.results)\n",
       "        return any(r.holds for r in self.results)\n", VER),
    _b("silent_check_forgets_width", "verify",
       "the accumulated-potential check compares C, not d*C, with f(a): a correct neuron whose f(a) != 0 on a "
       "range of width other than 1 is reported as failing",
       P + "verify/transforms.py",
       "    const_d = float(sympy.N(it.const * it.d, 20))\n",
       "    const_d = float(sympy.N(it.const, 20))\n", VER),

    # ---- data/
    _b("label_equal_to_classes_accepted", "data",
       "a label equal to the number of classes (one past the last class) is accepted: accuracy is computed "
       "against a class the model does not have",
       P + "data/files.py",
       "    if num_classes is not None and labels.numel() and float(labels.max()) >= num_classes:\n",
       "    if num_classes is not None and labels.numel() and float(labels.max()) > num_classes:\n", DATA + HARD),
    _b("count_batches_floor", "data",
       "count_batches rounds down: the progress of calibration and evaluation shows one batch too few (0 for "
       "fewer images than a batch)",
       P + "data/inputs.py",
       "        return (data.shape[0] + batch_size - 1) // batch_size\n",
       "        return data.shape[0] // batch_size\n", DATA),
    _b("data_config_pretrained_size", "data",
       "the preprocessing takes the pretrained config's input size (224) over the size the model was built for "
       "(img_size=32): ttfs convert / evaluate refuse such a model without --img-size",
       P + "data/files.py",
       "    own = model_input_size(model)\n    if own is not None:\n        cfg[\"input_size\"] = own\n",
       "    own = model_input_size(model)\n", DATA),

    # ---- pages/
    _b("signed_page_counts_no_correction", "pages",
       "the signed product page counts a one-signed product (softmax V, LayerNorm) without its correction "
       "synapse: 6MNK operations instead of 7MNK",
       P + "pages/constructions.py",
       "              (\"signed, one factor one-signed (softmax V, LayerNorm)\", "
       "product_counts(M, K, N, \"signed\", 2, 1))]\n",
       "              (\"signed, one factor one-signed (softmax V, LayerNorm)\", "
       "product_counts(M, K, N, \"signed\", 2, 0))]\n",
       PAGES),
    _b("signed_error_ratio_inverted", "pages",
       "the signed product page's measured table gives signed / paper in its ratio column (0.0x) instead of "
       "how many times smaller the signed network's error is",
       P + "pages/constructions.py",
       "                    f\"{errs['paper', p] / errs['signed', p]:.1f}x |\")\n",
       "                    f\"{errs['signed', p] / errs['paper', p]:.1f}x |\")\n", PAGES),

    # ---- zoo/
    _b("digits_calib_fraction_of_rest", "zoo",
       "the digits calibration split is 10% of the non-test rest (8% of the data) instead of 10% of the whole: "
       "load_digits('calib') has fewer images and 'train' more than documented",
       P + "zoo/digits.py",
       "    train, calib = train_test_split(rest, test_size=CALIB_FRACTION / (1.0 - TEST_FRACTION), "
       "stratify=y[rest],\n",
       "    train, calib = train_test_split(rest, test_size=CALIB_FRACTION, stratify=y[rest],\n", ZOO),
    _b("mnist_images_last_refused", "zoo",
       "mnist_images('test', 9990, 10) (up to the last image) is refused as out of range",
       P + "zoo/pretrained.py",
       "    if not (0 <= start and 0 <= n and start + n <= x.shape[0]):\n",
       "    if not (0 <= start and 0 <= n and start + n < x.shape[0]):\n", ZOO),

    # ---- userfiles.py, progress.py
    _b("file_of_exactly_max_bytes_refused", "userfiles",
       "a conversion or config file of exactly the size limit is refused ('more than the N read at most')",
       P + "userfiles.py",
       "    if max_bytes is not None and st.st_size > max_bytes:\n",
       "    if max_bytes is not None and st.st_size >= max_bytes:\n", USERFILES),
    _b("progress_log_fewer_than_four", "progress",
       "the progress line written to a log file (not a terminal) divides by total // 4: calibration or evaluation "
       "of fewer than 4 batches (or an unknown count) stops with ZeroDivisionError",
       P + "progress.py",
       "            elif self.done == self.total or self.done % max(1, self.total // 4) == 0:\n",
       "            elif self.done == self.total or self.done % (self.total // 4) == 0:\n", PROGRESS),
)


def main(argv=None) -> int:
    return blind_main(BLIND4, argv)


if __name__ == "__main__":
    sys.exit(main())
