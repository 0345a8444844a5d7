"""A third blind mutation audit (issue 23): bugs written from the package and the user docs alone, without
reading the tests (nor the earlier mutation sets, nor their survivors).

    python scripts/mutations_blind3.py                 # every mutation, prints a Markdown table and the kill rate
    python scripts/mutations_blind3.py --only NAME     # one of them (repeatable)
    python scripts/mutations_blind3.py --list          # the mutations, their areas and test folders
    python scripts/mutations_blind3.py --timeout 300   # seconds per mutation (default 300)

Same rules as ``scripts/mutations_blind.py`` and ``scripts/mutations_blind2.py``: each mutation is a plausible,
user-visible bug in one file of ``ttfs_symbolic/`` (an off-by-one, a sign, a weakened refusal, a wrong count,
default, unit or file field, an option silently ignored, a statistic computed wrongly, a message or page that
names the wrong thing), written from the package source, ``docs/guide/`` and ``README.md`` alone; it runs
against the test folder of its package area only (``tests/<area>``, ``-x -q``, ``CI=true``), so the kill rate
measures how well the suite catches bugs it was not written for. A weakened refusal of user input also runs
against ``tests/hardening``, after its area's folder; ``userfiles.py`` and ``progress.py`` run against
``tests/hardening`` plus the folder of their main user, as in the second set. This set covers every area: the
symbolic layer (parser whitelist, Theorem 4.1 / 4.3 derivations and their refusals, proof records), the
catalogue, the numeric layer (modes, dynamics, the C loops of ``numeric/csrc``, the native library's cache
guard), the property checks, the spiking layers (calibration statistics, margins, codes, clipping counts and
warnings, spike counts, the product networks), the conversion (presets, held-out margins, the file format and
its schema, the activation registry and its check, the family registry, distributed statistics), the model
families (ViT, DeiT, EVA, BERT, sentence-transformers), the energy counts, the evaluation reports and sweeps,
the data readers, the command line, the generated pages, the bundled models, ``userfiles.py`` and
``progress.py``. Each mutation's ``what`` says what a user would see (none is meant as an equivalent mutant).
The machinery is ``scripts/mutate.py``'s (:class:`Mutation`, :func:`run_each`).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mutations_blind import blind_main  # noqa: E402
# the area folders and the constructor of the second set (the same rules)
from mutations_blind2 import (CAT, CLI, CONV, DATA, ENERGY, EVAL, FAM, HARD, NUM, P, PAGES,  # noqa: E402,F401
                              PROGRESS, SPK, SYM, USERFILES, VER, ZOO, _b)

BLIND3 = (
    # ---- symbolic: parser whitelist, derivations, refusals, proof records ------------------------------
    _b("sym_imaginary_constant_accepted", "symbolic",
       "a formula with a non-real constant (x + sqrt(-1)) parses to x + I instead of a FormulaError naming I",
       P + "symbolic/parse.py",
       "                       sympy.S.NegativeInfinity, sympy.S.ImaginaryUnit) if expr.has(a)]\n",
       "                       sympy.S.NegativeInfinity) if expr.has(a)]\n", SYM + HARD),
    _b("sym_dunder_prefix_accepted", "symbolic",
       "a variable or param name starting with '__' but not ending with it ('__c') is accepted, though the "
       "parser promises to refuse every dunder-prefixed name",
       P + "symbolic/parse.py",
       "    if name.startswith(\"__\"):\n",
       "    if name.startswith(\"__\") and name.endswith(\"__\"):\n", SYM + HARD),
    _b("sym_max_single_argument", "symbolic",
       "max(x) with one argument is accepted (the documented whitelist needs 2 or more) instead of "
       "'max() takes at least 2 arguments'",
       P + "symbolic/parse.py",
       "    \"max\": (sympy.Max, 2, None),\n",
       "    \"max\": (sympy.Max, 1, None),\n", SYM + HARD),
    _b("sym_proof_tol_loose", "symbolic",
       "numeric proofs accept a relative error up to 1e-8: a derivation whose C is off by 1e-9 gets a proof "
       "record that says 'holds' (the self-test's broken derivations no longer all FAIL)",
       P + "symbolic/records.py",
       "PROOF_TOL = mpmath.mpf(\"1e-20\")\n",
       "PROOF_TOL = mpmath.mpf(\"1e-8\")\n", SYM),
    _b("sym_sign_negative_as_zero", "symbolic",
       "in f, a sign() that is negative on the whole range is replaced by 0 instead of -1: "
       "ttfs derive 'x*sign(x - 5)' --range -1 1 derives f = 0 and the wrong kernel",
       P + "symbolic/refusals.py",
       "else (1 if positive else -1)",
       "else (1 if positive else 0)", SYM),

    # ---- catalogue --------------------------------------------------------------------------------------
    _b("cat_delta_zero_accepted", "catalogue",
       "a definition with delta = 0 is accepted by load_definition instead of a DefinitionError naming 'delta'",
       P + "catalogue.py",
       "            or not delta > 0):\n",
       "            or not delta >= 0):\n", CAT + HARD),
    _b("cat_point_range_accepted", "catalogue",
       "range = [1.0, 1.0] in a definition file passes the parser (no DefinitionError 'empty range' naming "
       "the file and key)",
       P + "catalogue.py",
       "    if not a < b:\n        raise DefinitionError(f\"{where}: '{key}' is an empty range",
       "    if not a <= b:\n        raise DefinitionError(f\"{where}: '{key}' is an empty range", CAT + HARD),
    _b("cat_missing_env_folder_ignored", "catalogue",
       "TTFS_NEURONS naming a folder that does not exist silently falls back to the repository's neurons/ "
       "instead of the error 'no neuron catalogue folder ... (from TTFS_NEURONS ...)'",
       P + "catalogue.py",
       "    if env:\n        return Path(env)\n",
       "    if env and Path(env).is_dir():\n        return Path(env)\n", CAT),

    # ---- numeric: modes, dynamics, C loops, the native library's cache ----------------------------------
    _b("num_precision_zero_accepted", "numeric",
       "mode='quantized' or 'kernel' with precision=0 is no longer refused by check_mode's one-line ValueError",
       P + "numeric/dynamics.py",
       "and int(precision) == precision and precision >= 1)",
       "and int(precision) == precision and precision >= 0)", NUM + HARD),
    _b("num_decode_accepts_T_end", "numeric",
       "LayerTiming.decode takes a spike exactly at T_end (outside [T_emit, T_end)) as value a instead of raising",
       P + "numeric/dynamics.py",
       "(t >= self.T_end - tol * 0))",
       "(t > self.T_end - tol * 0))", NUM),
    _b("num_log_neurons_zero_end", "numeric",
       "a log-coded layer whose range starts at 0 ([0, b]) is counted with two neurons per value: the report's "
       "neuron count and spikes per neuron are wrong",
       P + "numeric/dynamics.py",
       "    two = ((a_t < 0) & (b_t > 0)).to(torch.float64)\n",
       "    two = ((a_t <= 0) & (b_t > 0)).to(torch.float64)\n", NUM),
    _b("num_c_layernorm_unbiased_variance", "numeric",
       "the C loop of exact-mode LayerNorm divides the variance by C - 1: a converted ViT's float64 exact "
       "logits no longer match the ANN on the CPU (with a C compiler)",
       P + "numeric/csrc/ticks_body.h",
       "NAME(clip1)(s2 / (REAL)C,",
       "NAME(clip1)(s2 / (REAL)(C - 1),", NUM),
    _b("num_c_fine_clip_upper_uncounted", "numeric",
       "with per-channel / per-neuron ranges (the default preset) the C tick loop no longer counts values above "
       "their range: quantized-mode clip rates and the ClippingWarning miss them",
       P + "numeric/csrc/ticks_body.h",
       "            c += (v < lo[s]) + (v > hi[s]);\n",
       "            c += (v < lo[s]);\n", NUM),
    _b("num_cache_user_symlink_accepted", "numeric",
       "a TTFS_CACHE_DIR below a symbolic link owned by this user (not root) is used for the native library "
       "without the 'symbolic link ... on its path' warning and the private temporary folder",
       P + "numeric/native_build.py",
       "            if pst.st_uid != 0:\n",
       "            if pst.st_uid not in (0, uid):\n", NUM + HARD),

    # ---- verify: property checks and the self-test -------------------------------------------------------
    _b("ver_psi_rtol_loose", "verify",
       "the clipping check's eq. 32 tolerance is 1e-5: psi off by 1e-6 relative (the self-test's psi_off_1e-6) "
       "passes, and ttfs verify --self-test exits 1",
       P + "verify/transforms.py",
       "PSI_RTOL = 1e-9\n",
       "PSI_RTOL = 1e-5\n", VER),
    _b("ver_kernel_bound_two_ticks", "verify",
       "kernel convergence allows kernel mode two ticks (2d/p) away from exact mode instead of one: a kernel "
       "mode off by more than a tick is reported as holding",
       P + "verify/layers.py",
       "            if not err <= r.d / p + allow:\n",
       "            if not err <= 2 * r.d / p + allow:\n", VER),
    _b("ver_max_examples_zero_accepted", "verify",
       "check_neuron(..., max_examples=0) is no longer refused with 'max_examples must be a positive integer'; "
       "hypothesis then fails every check with 'could not run'",
       P + "verify/strategies.py",
       "int(max_examples) != max_examples or max_examples < 1:",
       "int(max_examples) != max_examples or max_examples < 0:", VER + HARD),
    _b("ver_self_test_other_fault_ok", "verify",
       "the self-test counts a broken neuron as rejected when the right check rejects it for another fault "
       "(the detail need not name the fault): a check that fails for the wrong reason goes unnoticed",
       P + "verify/broken.py",
       "    return result.name == entry.check and not result.holds and entry.words in result.detail\n",
       "    return result.name == entry.check and not result.holds\n", VER),

    # ---- spiking: calibration statistics, margins, codes, clipping, spike counts, products ----------------
    _b("spk_percentile_100_from_samples", "spiking",
       "with the default percentile 100 a layer-wide range comes from the sample reservoir's extremes, not the "
       "observed ones: calibration images clip in their own calibrated network (paper preset)",
       P + "spiking/calibration.py",
       "        elif percentile >= 100.0:\n",
       "        elif percentile > 100.0:\n", SPK),
    _b("spk_fine_margin_shifts", "spiking",
       "per-channel ranges (the default) are shifted up by margin * width instead of widened on both sides: "
       "margin=0.2 and the held-out margins make the lower ends clip",
       P + "spiking/calibration.py",
       "                lo, hi = lo - margin * width, hi + margin * width\n",
       "                lo, hi = lo + margin * width, hi + margin * width\n", SPK),
    _b("spk_margin_needed_lower_sign", "spiking",
       "the held-out check measures the lower end with the wrong sign: a held-out value below a range no longer "
       "widens it (default preset), so held-out-like inputs clip",
       P + "spiking/calibration.py",
       "if self.scale_low else (a - lo) / w\n",
       "if self.scale_low else (lo - a) / w\n", SPK),
    _b("spk_choose_code_inverted", "spiking",
       "codes='auto' gives the log code to the layers where it rounds more than the linear code: the default "
       "preset's error at p = 1024 grows",
       P + "spiking/calibration.py",
       "        if float(logs[best]) < linear:\n",
       "        if float(logs[best]) > linear:\n", SPK),
    _b("spk_moments_drop_batch_spread", "spiking",
       "merging the moments of a later calibration batch drops that batch's own spread: per-channel std (and "
       "the mean +- 6 std ranges) depend on the batch size",
       P + "spiking/stats.py",
       "        self.m2_t = self.m2_t + m2_t + delta.square() * (na * rows / (na + rows))\n",
       "        self.m2_t = self.m2_t + delta.square() * (na * rows / (na + rows))\n", SPK),
    _b("spk_warning_names_best_layers", "spiking",
       "the ClippingWarning's 'worst layers' lists the three layers that clipped least",
       P + "spiking/context.py",
       "    worst = sorted(layers.items(), key=lambda kv: -kv[1])[:3]\n",
       "    worst = sorted(layers.items(), key=lambda kv: kv[1])[:3]\n", SPK),
    _b("spk_silent_counted_as_spike", "spiking",
       "recorded runs count silent neurons (value a) as spikes: spikes per neuron is 1 for every linear-coded "
       "layer in the reports",
       P + "spiking/emission.py",
       "            st.spikes += int((out > (a if p is None else a + (b - a) / (2 * p))).sum())\n",
       "            st.spikes += int((out >= (a if p is None else a + (b - a) / (2 * p))).sum())\n", SPK),
    _b("spk_signed_fired_unscaled", "spiking",
       "quantized / kernel attention products of the signed construction (the default) count the layer-I "
       "neurons with a silent x2 part once per (i, k) instead of once per (i, j, k): spikes too low",
       P + "spiking/product.py",
       "                fired += f10 * x2.shape[-1]\n",
       "                fired += f10\n", SPK),

    # ---- conversion: presets, held-out margins, file format, schema, activations, registry ----------------
    _b("conv_falsy_override_ignored", "conversion",
       "convert(..., holdout=0.0) or sigmas=0 is silently ignored: the preset's holdout 0.2 and sigmas 6 are used",
       P + "conversion/convert.py",
       "    out.update({k: v for k, v in overrides.items() if v is not None})\n",
       "    out.update({k: v for k, v in overrides.items() if v})\n", CONV),
    _b("conv_holdout_margin_floor", "conversion",
       "with a held-out part (the default preset) every layer is widened by at least max_margin (its whole "
       "width): calibration's holdout_margin_max is 1.0 and resolution halves",
       P + "conversion/convert.py",
       "            margins[p.pname] = min(max_margin, p.margin_needed(st))\n",
       "            margins[p.pname] = max(max_margin, p.margin_needed(st))\n", CONV),
    _b("conv_schema_point_range", "conversion",
       "a conversion file with a layer range a == b passes the schema and loads (the layer silently gets a "
       "sliver of range) instead of 'empty range: need a < b'",
       P + "conversion/schema.py",
       "    elif not a < b:\n",
       "    elif not a <= b:\n", CONV + HARD),
    _b("conv_fingerprint_never_refused", "conversion",
       "load_conversion of a file calibrated for other weights only warns instead of refusing (no force=True / "
       "--force needed)",
       P + "conversion/fileformat.py",
       "        _refuse_or_warn(force, f\"{path} was calibrated for other weights",
       "        _refuse_or_warn(True, f\"{path} was calibrated for other weights", CONV + HARD),
    _b("conv_file_T_ref_from_a", "conversion",
       "the conversion file records T_ref = T_emit + a*tau instead of T_emit + b*tau for every layer",
       P + "conversion/fileformat.py",
       "\"T_ref\": p.window + p.b / p.d",
       "\"T_ref\": p.window + p.a / p.d", CONV),
    _b("conv_elu_alpha_not_read", "conversion",
       "nn.ELU's alpha is no longer read from the module: ELU(alpha=0.5) converts with alpha = 1 and the check "
       "at conversion refuses it (ActivationMismatchError)",
       P + "conversion/activations.py",
       "    reg(nn.ELU, \"elu\", params={\"alpha\": \"alpha\"})\n",
       "    reg(nn.ELU, \"elu\")\n", CONV),
    _b("conv_activation_checked_on_output_range", "conversion",
       "each activation module is checked against its formula on the activation's output range instead of its "
       "calibrated input range: a formula wrong only on negative inputs converts without an error",
       P + "conversion/activations.py",
       "check_activation(m.spec.source, m.spec, m.src.a, m.src.b, m.out.pname)",
       "check_activation(m.spec.source, m.spec, m.out.a, m.out.b, m.out.pname)", CONV),
    _b("conv_family_priority_reversed", "conversion",
       "families are tried lowest priority first: a DeiT with a distillation token is taken by the plain ViT "
       "family and refused (or a subclass family never reached)",
       P + "conversion/registry.py",
       "    return sorted(_FAMILIES.values(), key=lambda f: -f.priority)\n",
       "    return sorted(_FAMILIES.values(), key=lambda f: f.priority)\n", CONV),

    # ---- families -----------------------------------------------------------------------------------------
    _b("fam_eva_rope_sign_flipped", "families",
       "EVA-02's interleaved rotary embedding rotates the other way: a converted eva02 model's exact logits "
       "differ from the ANN",
       P + "families/eva.py",
       "        sign = torch.where(idx % 2 == 0, -1.0, 1.0).to(torch.float64)\n",
       "        sign = torch.where(idx % 2 == 1, -1.0, 1.0).to(torch.float64)\n", FAM),
    _b("fam_vit_avg_pool_from_token_1", "families",
       "average pooling skips exactly one token instead of the prefix tokens: a ViT with register tokens (or "
       "without a class token) averages the wrong tokens",
       P + "families/common.py",
       "x[:, self.num_prefix:].mean(1)",
       "x[:, 1:].mean(1)", FAM),
    _b("fam_vit_qnorm_scale_dropped", "families",
       "a ViT with qk-norm converts without the attention scale in q_norm's weights: its attention scores and "
       "logits differ from timm's",
       P + "families/vit.py",
       "            w = as_f64(self.q_norm.weight) * scale if self.q_norm.weight is not None else \\\n"
       "                torch.full((self.hd,), scale",
       "            w = as_f64(self.q_norm.weight) if self.q_norm.weight is not None else \\\n"
       "                torch.full((self.hd,), scale", FAM),
    _b("fam_bert_mask_values_unchecked", "families",
       "an attention_mask holding 2 (or any value >= 0) is accepted and read as a token instead of refused "
       "('attention_mask must hold only 0 ... and 1')",
       P + "families/bert.py",
       "        if not bool(((mask == 0) | (mask == 1)).all()):\n",
       "        if not bool((mask >= 0).all()):\n", FAM + HARD),
    _b("fam_sentence_mean_over_padding", "families",
       "sentence-transformers mean pooling divides by the padded length instead of the number of real tokens: "
       "a padded sentence's embedding differs from SentenceTransformer.encode (mean pooling, no Normalize)",
       P + "families/sentence.py",
       "            w = w / w.sum(-1, keepdim=True)   # the mask's weights, 1/n on each token\n",
       "            w = w / w.shape[-1]   # the mask's weights, 1/n on each token\n", FAM),

    # ---- energy -------------------------------------------------------------------------------------------
    _b("en_softmax_neurons_2n_plus_1", "energy",
       "a softmax row is counted with 2N + 1 neurons instead of Table 3's 2(N + 1): ttfs energy's neuron "
       "totals are one short per row",
       P + "energy/counts.py",
       "    return 2 * (N + 1), 6 * N\n",
       "    return 2 * N + 1, 6 * N\n", ENERGY),
    _b("en_folded_signed_layernorm_ops", "energy",
       "with the signed product and the folded rsqrt (the default preset) a LayerNorm row keeps the rsqrt's "
       "operation: 11N + 1 instead of the documented 11N",
       P + "energy/counts.py",
       "        return 4 * N + 3 - fold, 11 * N + 1 - fold\n",
       "        return 4 * N + 3 - fold, 11 * N + 1\n", ENERGY),
    _b("en_spike_rate_above_one", "energy",
       "count_ops(spike_rates={row: 1.5}) is accepted: a row's OP_SNN exceeds its static count instead of "
       "'spike rate ... must be a number in [0, 1]'",
       P + "energy/counts.py",
       "not (0.0 <= rate <= 1.0):",
       "not (0.0 <= rate):", ENERGY + HARD),
    _b("en_av_counted_as_qk", "energy",
       "with the signed product, attn @ v is counted with 4 pairs and no correction (12MNK) instead of 7MNK: "
       "ttfs energy overstates OP_SNN for the default network",
       P + "energy/vit.py",
       "    walker.child(module, path, \"attn_drop\", (H * T, T))\n"
       "    n, o = product_counts(T, T, hd, walker.product, pairs=2, corrections=1)   # softmax >= 0\n"
       "    walker.add(join(path, \"av_matmul\"), \"matmul\", H * n, H * o, H * T * T * hd,\n",
       "    walker.child(module, path, \"attn_drop\", (H * T, T))\n"
       "    n, o = product_counts(T, T, hd, walker.product, pairs=4, corrections=0)   # softmax >= 0\n"
       "    walker.add(join(path, \"av_matmul\"), \"matmul\", H * n, H * o, H * T * T * hd,\n", ENERGY),
    _b("en_roberta_positions_off_by_one", "energy",
       "ttfs energy roberta-base --seq-len 513 is counted (RoBERTa has 512 usable positions: 514 minus "
       "padding_idx + 1) instead of refused with exit code 2",
       P + "energy/bert.py",
       "        max_pos -= _size(cfg, \"pad_token_id\", name, 1, low=0) + 1\n",
       "        max_pos -= _size(cfg, \"pad_token_id\", name, 1, low=0)\n", ENERGY + HARD),

    # ---- evaluation ---------------------------------------------------------------------------------------
    _b("ev_budget_share_of_total", "evaluation",
       "error_budget's share of each group is its error over the all-layers error, not over the sum of the "
       "groups' errors: the shares no longer add up to 100%",
       P + "evaluation/report.py",
       "    s = sum(g[\"error\"] for g in out_groups.values())\n",
       "    s = total\n", EVAL),
    _b("ev_padding_tokens_compared", "evaluation",
       "evaluate compares a text model's padding tokens too: BERT's agreement and largest logit error include "
       "meaningless positions (agreement can exceed 100%)",
       P + "evaluation/report.py",
       "            if keep is not None:\n                out, ref = out[keep], ref[keep]\n",
       "", EVAL),
    _b("ev_sweep_exact_in_float32", "evaluation",
       "ttfs evaluate runs exact mode in --dtype (float32) instead of float64: its report says float32 and its "
       "logit error is float32 rounding, not ~1e-12",
       P + "evaluation/sweep.py",
       "            out.append(Config(\"exact\", None, exact_dtype))\n",
       "            out.append(Config(\"exact\", None, dtype))\n", EVAL),
    _b("ev_sweep_counters_not_reset", "evaluation",
       "in a sweep the spike and clip counters are not reset between configurations: later configurations "
       "report the earlier ones' spikes and clipped neurons too",
       P + "evaluation/sweep.py",
       "            reset_counters(snn)\n            out = snn(",
       "            out = snn(", EVAL),
    _b("ev_layer_neurons_not_per_image", "evaluation",
       "the report's per-layer neuron count is the total over all evaluated images instead of per image",
       P + "evaluation/report.py",
       "p.a, p.b, st.neurons // max(n, 1), st.spikes / max(n, 1),",
       "p.a, p.b, st.neurons, st.spikes / max(n, 1),", EVAL),

    # ---- data ---------------------------------------------------------------------------------------------
    _b("data_label_equal_to_classes", "data",
       "a label equal to the number of classes (one past the last) is accepted instead of refused; the accuracy "
       "silently counts it as wrong",
       P + "data/files.py",
       "float(labels.max()) >= num_classes:",
       "float(labels.max()) > num_classes:", DATA + HARD),
    _b("data_checkpoint_path_kwarg", "data",
       "--model-kwargs checkpoint_path=FILE is no longer refused: timm loads weights from a file around "
       "--checkpoint's strict check",
       P + "data/files.py",
       "REFUSED_MODEL_KWARGS = (\"checkpoint_path\", \"pretrained\", ",
       "REFUSED_MODEL_KWARGS = (\"pretrained\", ", DATA + HARD),
    _b("data_hidden_empty_class_ignored", "data",
       "an empty hidden class folder (.ipynb_checkpoints) is no longer refused: the labels of the folders after "
       "it shift silently",
       P + "data/files.py",
       "        empty = [c for c in classes if class_to_idx[c] not in have]\n",
       "        empty = [c for c in classes if class_to_idx[c] not in have and not c.startswith(\".\")]\n",
       DATA + HARD),
    _b("data_checkpoint_inf_accepted", "data",
       "a checkpoint holding inf weights loads (only NaN is refused as non-finite)",
       P + "data/files.py",
       "and v.numel() and not bool(torch.isfinite(v).all()):",
       "and v.numel() and bool(torch.isnan(v).any()):", DATA + HARD),

    # ---- cli ----------------------------------------------------------------------------------------------
    _b("cli_budget_inputs_zero", "cli",
       "ttfs budget MODEL --inputs 0 is accepted and silently runs on the default 32 inputs instead of exit 2",
       P + "cli/checks.py",
       "\"--calib\": (1, 1 << 20), \"--inputs\": (1, 1 << 20),",
       "\"--calib\": (1, 1 << 20), \"--inputs\": (0, 1 << 20),", CLI + HARD),
    _b("cli_out_inside_input_folder", "cli",
       "ttfs convert --out inside the --calib image folder is no longer refused: the conversion file is written "
       "into the input data",
       P + "cli/checks.py",
       "        if _same(out, p) or inside or resolved == p.resolve():\n",
       "        if _same(out, p) or resolved == p.resolve():\n", CLI + HARD),
    _b("cli_self_test_seed_unset", "cli",
       "ttfs verify --self-test without --seed runs unseeded ('seed None' in its header) instead of the "
       "documented reproducible seed 0",
       P + "cli/derive.py",
       "    seed = 0 if args.seed is None else args.seed\n",
       "    seed = args.seed\n", CLI),
    _b("cli_output_range_ignored", "cli",
       "ttfs derive F --range A B --output-range C D (without --output) is accepted and the output range "
       "silently ignored, instead of exit 2",
       P + "cli/derive.py",
       "    if output_range is not None and (f is None or h is None):\n",
       "    if output_range is not None and f is None and h is None:\n", CLI + HARD),
    _b("cli_preprocessing_warning_inverted", "cli",
       "ttfs evaluate warns 'preprocessing differs from the calibration's' when it is the same, and says "
       "nothing when it differs",
       P + "cli/model.py",
       "    elif info.is_main and theirs and cfg and theirs != cfg:\n",
       "    elif info.is_main and theirs and cfg and theirs == cfg:\n", CLI),
    _b("cli_class_count_equal_refused", "cli",
       "an image folder with exactly as many class folders as the model has outputs is refused (exit 2)",
       P + "cli/inputs.py",
       "    if src.classes and num_classes and len(src.classes) > num_classes:\n",
       "    if src.classes and num_classes and len(src.classes) >= num_classes:\n", CLI),

    # ---- pages --------------------------------------------------------------------------------------------
    _b("pages_summary_theta_is_low", "pages",
       "ttfs derive --output (derivation_summary) prints h^-1(a) as 'theta = h^-1(b)'",
       P + "pages/neuron.py",
       "            f\"  theta = h^-1(b) = {tex_approx(ot.theta)}\",\n",
       "            f\"  theta = h^-1(b) = {tex_approx(ot.theta_low)}\",\n", PAGES),
    _b("pages_tex_abs_pipe", "pages",
       "a formula with abs() puts a bare '|' into the pages' Markdown tables, which splits the table row",
       P + "pages/latex.py",
       "    return _Printer().doprint(sympy.sympify(expr)).replace(\"|\", r\"\\vert \")\n",
       "    return _Printer().doprint(sympy.sympify(expr))\n", PAGES),
    _b("pages_slug_trailing_underscore", "pages",
       "the page name keeps the underscores of leading/trailing symbols: ttfs derive 'x*tanh(softplus(x))' writes "
       "x_tanh_softplus_x_.md instead of x_tanh_softplus_x.md",
       P + "pages/latex.py",
       "    out = re.sub(r\"[^A-Za-z0-9]+\", \"_\", text).strip(\"_\")[:limit].strip(\"_\")\n",
       "    out = re.sub(r\"[^A-Za-z0-9]+\", \"_\", text)[:limit]\n", PAGES),

    # ---- zoo ----------------------------------------------------------------------------------------------
    _b("zoo_digits_calib_fraction", "zoo",
       "the digits calibration split is 8% of the set (144 images) instead of the documented 10% (180): the "
       "demo calibrates on fewer images and the train split grows",
       P + "zoo/digits.py",
       "test_size=CALIB_FRACTION / (1.0 - TEST_FRACTION), stratify=y[rest],",
       "test_size=CALIB_FRACTION, stratify=y[rest],", ZOO),
    _b("zoo_mnist_unpickler_any_numpy", "zoo",
       "the MNIST unpickler accepts any numpy global, not only the array constructors: a crafted mnist.pkl.gz "
       "can reach numpy functions instead of 'refusing to load'",
       P + "zoo/mnist.py",
       "        if (module, name) in _ALLOWED_GLOBALS:\n",
       "        if module.startswith(\"numpy\"):\n", ZOO + HARD),

    # ---- userfiles.py, progress.py ------------------------------------------------------------------------
    _b("userfiles_devices_accepted", "userfiles",
       "a character device (/dev/null, /dev/zero) given as a conversion, config or data file is opened and read "
       "instead of refused as 'a character device, not a regular file'",
       P + "userfiles.py",
       "    if not stat.S_ISREG(st.st_mode):\n        raise ValueError(f\"{what} {path} is {_what(",
       "    if stat.S_ISDIR(st.st_mode) or stat.S_ISFIFO(st.st_mode):\n        raise ValueError(f\"{what} {path} is {_what(",
       USERFILES),
    _b("progress_eta_counts_all_items", "progress",
       "the progress line's '~N s left' is the time for all items, not the remaining ones: at 100% it still "
       "shows the whole run's duration left",
       P + "progress.py",
       "            eta = (self.total - self.done) / rate if rate > 0 else 0.0\n",
       "            eta = self.total / rate if rate > 0 else 0.0\n", PROGRESS),
)


def main(argv=None) -> int:
    return blind_main(BLIND3, argv)


if __name__ == "__main__":
    sys.exit(main())
