"""A second blind mutation audit (issue 23): bugs written from the package and the user docs alone, without
reading the tests (nor the first two mutation sets, nor their survivors).

    python scripts/mutations_blind2.py                 # every mutation, prints a Markdown table and the kill rate
    python scripts/mutations_blind2.py --only NAME     # one of them (repeatable)
    python scripts/mutations_blind2.py --list          # the mutations, their areas and test folders
    python scripts/mutations_blind2.py --timeout 300   # seconds per mutation (default 300)
    python scripts/mutations_blind2.py --only NAME --tests "tests/meta tests/hardening"   # other folders

Same rules as ``scripts/mutations_blind.py``: each mutation is a plausible, user-visible bug in one file of
``ttfs_symbolic/`` (an off-by-one, a sign, a weakened refusal, a wrong count, default or file field, an option
ignored, a page that drops a term), written from the source alone; it runs against the test folder of its
package area only (``tests/<area>``, ``-x -q``, ``CI=true``), so the kill rate measures how well the suite
catches bugs it was not written for. This set covers the areas the first two had left out (the command line,
the generated pages, the pretrained zoo, ``userfiles.py``, ``progress.py``) as well as every other area. The
top-level modules ``userfiles.py`` and ``progress.py`` have no test folder of their own: their mutations run
against ``tests/hardening`` plus the folder of their main user (``tests/cli``, ``tests/evaluation``); a
weakened refusal of user input in any area runs against its area's folder and then ``tests/hardening``. Each
mutation's ``what`` says what a user would see (none is an equivalent mutant). The machinery is
``scripts/mutate.py``'s (:class:`Mutation`, :func:`run_each`).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mutate import Mutation, run_each  # noqa: E402

CLI = ("tests/cli",)
PAGES = ("tests/pages",)
ZOO = ("tests/zoo",)
#: tests/cli before tests/hardening: in the other order, on the unmodified tree, one pytest process fails
#: tests/cli/test_cli_model.py::test_two_processes_give_the_ranges_and_metrics_of_one (the hardening tests leave
#: state behind that changes the one-process figures; docs/mutation.md), which counted as a kill in the blind run
USERFILES = ("tests/cli", "tests/hardening")
PROGRESS = ("tests/hardening", "tests/evaluation")
DATA = ("tests/data",)
SYM = ("tests/symbolic",)
CAT = ("tests/catalogue",)
NUM = ("tests/numeric",)
VER = ("tests/verify",)
SPK = ("tests/spiking",)
CONV = ("tests/conversion",)
FAM = ("tests/families",)
ENERGY = ("tests/energy",)
EVAL = ("tests/evaluation",)
#: a weakened refusal of user input (a bound, a check, a guard) also runs against tests/hardening, after its
#: area's folder (with -x, a mutation killed in its area never reaches it)
HARD = ("tests/hardening",)


def _b(name, area, what, path, old, new, tests):
    return Mutation(name, what, ((path, old, new),), ("-x", *tests), area)


P = "ttfs_symbolic/"

BLIND2 = (
    # ------------------------------------------------------------------ cli
    _b("cli_oserror_drops_filename", "cli",
       "an OSError of a file the user named is printed without the file's name (ttfs X: error: No such file "
       "or directory, and no path)",
       P + "cli/main.py",
       '        where = f": {exc.filename}" if exc.filename else ""\n',
       '        where = ""\n', CLI),
    _b("cli_dash_h_becomes_formula", "cli",
       "protect_formulas no longer spares -h: 'ttfs derive -h' turns -h into a formula ' -h' instead of "
       "printing the help",
       P + "cli/main.py",
       'and not a.startswith("--") and a != "-h" and not _NEGATIVE_NUMBER.match(a):',
       'and not a.startswith("--") and not _NEGATIVE_NUMBER.match(a):', CLI),
    _b("cli_param_inf_accepted", "cli",
       "--param eps=inf is accepted (only NaN refused): an infinite constant reaches the derivation",
       P + "cli/derive.py",
       "    if not math.isfinite(num):\n",
       "    if math.isnan(num):\n", CLI + HARD),
    _b("cli_delta_zero_accepted", "cli",
       "ttfs derive --delta 0 is accepted (only negative refused): tau = 0, a derivation on a zero time step",
       P + "cli/derive.py",
       "    if not args.delta > 0 or not math.isfinite(args.delta):\n",
       "    if args.delta < 0 or not math.isfinite(args.delta):\n", CLI + HARD),
    _b("cli_verify_max_examples_zero", "cli",
       "ttfs verify --max-examples 0 passes the CLI's check (off by one)",
       P + "cli/derive.py",
       "    if args.max_examples < 1:\n",
       "    if args.max_examples < 0:\n", CLI + HARD),
    _b("cli_verify_failure_exit_0", "cli",
       "ttfs verify exits 0 when a property fails (the counterexample is printed, but scripts see success)",
       P + "cli/derive.py",
       "          file=sys.stderr)\n    return 1\n\n\ndef _self_test_row",
       "          file=sys.stderr)\n    return 0\n\n\ndef _self_test_row", CLI),
    _b("cli_energy_seq_len_default", "cli",
       "ttfs energy of a text model counts 256 tokens by default instead of the documented 128",
       P + "cli/energy.py",
       "seq_len=128 if seq_len is None else seq_len",
       "seq_len=256 if seq_len is None else seq_len", CLI),
    _b("cli_energy_overrides_ignored", "cli",
       "ttfs energy ignores --product/--residual/--rsqrt: the preset's settings are always counted",
       P + "cli/energy.py",
       "    shape = {k: getattr(args, k, None) or settings[k] for k in STRUCTURE}\n",
       "    shape = {k: settings[k] for k in STRUCTURE}\n", CLI),
    _b("cli_budget_precision_list", "cli",
       "ttfs budget --precision 64,256 is accepted (its first value used) instead of refused",
       P + "cli/budget.py",
       "    if len(p) != 1:\n",
       "    if len(p) < 1:\n", CLI + HARD),
    _b("cli_budget_calib_zero", "cli",
       "--calib 0 passes the bounds check; ttfs budget then silently calibrates on the default 256",
       P + "cli/checks.py",
       '"--calib": (1, 1 << 20)',
       '"--calib": (0, 1 << 20)', CLI + HARD),
    _b("cli_kernel_precision_mixed_modes", "cli",
       "the kernel-mode precision maximum is checked only when kernel is the only mode: "
       "evaluate --modes quantized,kernel --precision 100000 passes",
       P + "cli/checks.py",
       '        if "kernel" in modes and p > MAX_KERNEL_PRECISION:\n',
       '        if list(modes) == ["kernel"] and p > MAX_KERNEL_PRECISION:\n', CLI + HARD),
    _b("cli_out_inside_input_folder", "cli",
       "convert --out inside the --calib folder is no longer refused (only the same path is)",
       P + "cli/checks.py",
       "        inside = p.is_dir() and resolved.is_relative_to(p.resolve())\n",
       "        inside = False\n", CLI + HARD),
    _b("cli_classes_equal_refused", "cli",
       "a data folder with exactly as many class folders as the model has outputs is refused (> became >=)",
       P + "cli/model.py",
       "    if src.classes and num_classes and len(src.classes) > num_classes:\n",
       "    if src.classes and num_classes and len(src.classes) >= num_classes:\n", CLI),
    _b("cli_evaluate_out_inside_data", "cli",
       "evaluate --out inside the --data folder is accepted (only --out equal to it is refused): "
       "the reports become part of the data",
       P + "cli/model.py",
       "    if data.is_dir() and out.resolve().is_relative_to(data.resolve()):\n",
       "    if data.is_dir() and out.resolve() == data.resolve():\n", CLI + HARD),
    _b("cli_demo_precision_zero", "cli",
       "ttfs demo --precisions 0,64 is accepted (the bound starts at 0)",
       P + "cli/demo.py",
       '        if not 1 <= p <= MAX_PRECISION:\n            raise ValueError(f"--precisions:',
       '        if not 0 <= p <= MAX_PRECISION:\n            raise ValueError(f"--precisions:', CLI + HARD),
    _b("cli_demo_margin_ignored", "cli",
       "ttfs demo ignores --margin: it always calibrates with the default 0.2",
       P + "cli/demo.py",
       "    snn = convert(ann, calib_x, margin=args.margin,",
       "    snn = convert(ann, calib_x, margin=MARGIN,", CLI),
    # ------------------------------------------------------------------ pages
    _b("pages_tex_keeps_pipe", "pages",
       "tex() no longer replaces '|' (an absolute value): a Markdown table row of a generated page breaks",
       P + "pages/latex.py",
       '    return _Printer().doprint(sympy.sympify(expr)).replace("|", r"\\vert ")\n',
       '    return _Printer().doprint(sympy.sympify(expr))\n', PAGES),
    _b("pages_summary_const_is_f_a", "pages",
       "ttfs derive's summary prints f(a) as the C term per synapse instead of f(a)/d",
       P + "pages/neuron.py",
       '            f"  C term per synapse (times w): f(a)/d = {tex_approx(it.const)}",\n',
       '            f"  C term per synapse (times w): f(a)/d = {tex_approx(it.f_a)}",\n', PAGES),
    _b("pages_plot_link_file_name", "pages",
       "the page links its plot by file name only: a --plot in another folder than the page is a broken link",
       P + "pages/neuron.py",
       '        link = os.path.relpath(png.resolve(), page_path.resolve().parent).replace(os.sep, "/")\n',
       '        link = png.name\n', PAGES),
    _b("pages_threshold_value_dropped", "pages",
       "the derivation page's summary table drops the threshold's value (row reads only 'theta')",
       P + "pages/neuron.py",
       '        lines.append(rf"| threshold | $\\theta = {tex_value(ot.theta)}$ |")\n',
       '        lines.append(rf"| threshold | $\\theta$ |")\n', PAGES),
    _b("pages_dynamics_const_sign", "pages",
       "the Figure-2 simulation subtracts the constant C's ramp in the receiving stage (sign error): the "
       "potential and the output spike of the plot are wrong",
       P + "pages/dynamics_plot.py",
       "        V_r = (q + const * t_r) / tau_s\n",
       "        V_r = (q - const * t_r) / tau_s\n", PAGES),
    _b("pages_construction_delay", "pages",
       "the construction pages' delay column counts one window too many (the '- 1' of the receiving window "
       "dropped)",
       P + "pages/constructions.py",
       "    return pops[syn.dst].window - 1 - pops[syn.src].window\n",
       "    return pops[syn.dst].window - pops[syn.src].window\n", PAGES),
    _b("pages_construction_counts_inputs", "pages",
       "the construction pages count the input population as neurons: the enumeration no longer equals Table 3",
       P + "pages/constructions.py",
       "        counted = p.name not in inputs\n",
       "        counted = True\n", PAGES),
    _b("pages_papercheck_cases_swapped", "pages",
       "the paper check's verdict names the equal cases as differing and vice versa",
       P + "pages/papercheck.py",
       'out = "differs" + (f" ({cases(bad)}; equal in {cases(good)})" if good else "")',
       'out = "differs" + (f" ({cases(good)}; equal in {cases(bad)})" if good else "")', PAGES),
    _b("pages_readings_c_shift", "pages",
       "the paper check's c of the multiplication network is -a0 instead of 1 - a0 (Section 4.3.4)",
       P + "pages/readings.py",
       "        out[c] = 1 - out[a0]  # c = -a^(0) + 1 (Section 4.3.4)\n",
       "        out[c] = -out[a0]  # c = -a^(0) + 1 (Section 4.3.4)\n", PAGES),
    # ------------------------------------------------------------------ zoo
    _b("zoo_sentences_keep_comments", "zoo",
       "sentences() returns the '#' header lines of assets/sentences.txt as sentences",
       P + "zoo/pretrained.py",
       '    return [s for s in text.splitlines() if s.strip() and not s.startswith("#")]\n',
       '    return [s for s in text.splitlines() if s.strip()]\n', ZOO),
    _b("zoo_mnist_images_std", "zoo",
       "mnist_images multiplies by the ImageNet std instead of dividing: DINOv2 reads wrongly normalised digits",
       P + "zoo/pretrained.py",
       "    return ((x.repeat(1, 3, 1, 1) - mean) / std).contiguous(), y\n",
       "    return ((x.repeat(1, 3, 1, 1) - mean) * std).contiguous(), y\n", ZOO),
    _b("zoo_dinov2_pos_bilinear", "zoo",
       "the DINOv2 position embedding is resized bilinearly, not bicubically as the ONNX graph does",
       P + "zoo/pretrained.py",
       'mode="bicubic", align_corners=False)\n    pos = torch.cat',
       'mode="bilinear", align_corners=False)\n    pos = torch.cat', ZOO),
    # ------------------------------------------------------------------ userfiles / progress
    _b("userfiles_size_boundary", "userfiles",
       "a file of exactly max_bytes is refused (> became >=)",
       P + "userfiles.py",
       "    if max_bytes is not None and st.st_size > max_bytes:\n",
       "    if max_bytes is not None and st.st_size >= max_bytes:\n", USERFILES),
    _b("userfiles_fifo_accepted", "userfiles",
       "only folders are refused: a FIFO or a character device passes check_regular_file",
       P + "userfiles.py",
       "    if not stat.S_ISREG(st.st_mode):\n        raise ValueError(f\"{what} {path} is {_what(",
       "    if stat.S_ISDIR(st.st_mode):\n        raise ValueError(f\"{what} {path} is {_what(", USERFILES),
    _b("progress_log_last_line", "progress",
       "into a log file the final 'n/n' line is written only when n is a multiple of a quarter of the total",
       P + "progress.py",
       "            elif self.done == self.total or self.done % max(1, self.total // 4) == 0:\n",
       "            elif self.done % max(1, self.total // 4) == 0:\n", PROGRESS),
    _b("progress_eta_total", "progress",
       "the remaining time is estimated from the whole total, not what is left (never ~0s at the end)",
       P + "progress.py",
       "            eta = (self.total - self.done) / rate if rate > 0 else 0.0\n",
       "            eta = self.total / rate if rate > 0 else 0.0\n", PROGRESS),
    # ------------------------------------------------------------------ data
    _b("data_kwargs_device_allowed", "data",
       "--model-kwargs device=... is no longer refused (the model placed by a keyword, not --device)",
       P + "data/files.py",
       '"hf_hub_filename", "cache_dir", "device")',
       '"hf_hub_filename", "cache_dir")', DATA + HARD),
    _b("data_mean_one_value", "data",
       "--mean 0.5 (one value for every channel) is refused: the single value is not repeated per channel",
       P + "data/files.py",
       "    if n is not None and len(vals) == 1:\n        vals = vals * n\n",
       "    if n is None and len(vals) == 1:\n        vals = vals * n\n", DATA),
    _b("data_label_equal_classes", "data",
       "a label equal to the number of classes passes check_labels (>= became >)",
       P + "data/files.py",
       "    if num_classes is not None and labels.numel() and float(labels.max()) >= num_classes:\n",
       "    if num_classes is not None and labels.numel() and float(labels.max()) > num_classes:\n", DATA + HARD),
    _b("data_flat_uppercase_ext", "data",
       "a flat image folder ignores upper-case extensions (IMG.JPG)",
       P + "data/files.py",
       "            items = [(p, -1) for p in entries if p.name.lower().endswith(IMAGE_EXTENSIONS)]\n",
       "            items = [(p, -1) for p in entries if p.name.endswith(IMAGE_EXTENSIONS)]\n", DATA),
    _b("data_shard_last_batch", "data",
       "shard_batches lets the last batch run past the end (range(s, s + B))",
       P + "data/files.py",
       "    return [range(s, min(s + batch_size, n)) for k, s in enumerate(starts) if k % world == rank]\n",
       "    return [range(s, s + batch_size) for k, s in enumerate(starts) if k % world == rank]\n", DATA),
    _b("data_count_batches_floor", "data",
       "count_batches rounds down: a last partial batch is not counted (progress totals one short)",
       P + "data/inputs.py",
       "        return (data.shape[0] + batch_size - 1) // batch_size\n",
       "        return data.shape[0] // batch_size\n", DATA),
    _b("data_nonfinite_inf_count", "data",
       "the non-finite pixel message counts NaN pixels again as inf",
       P + "data/inputs.py",
       "            inf = int(bad.sum()) - nan\n",
       "            inf = int(bad.sum())\n", DATA),
    _b("data_half_dtype_accepted", "data",
       "check_dtype accepts torch.float16 as a run dtype",
       P + "data/inputs.py",
       "RUN_DTYPES = (torch.float32, torch.float64)\n",
       "RUN_DTYPES = (torch.float16, torch.float32, torch.float64)\n", DATA + HARD),
    _b("data_onnx_int32_ignored", "data",
       "the ONNX reader ignores int32_data (field 5): an int32 tensor reads as empty",
       P + "data/onnx.py",
       "        elif field in (5, 7):\n",
       "        elif field == 7:\n", DATA),
    # ------------------------------------------------------------------ symbolic / catalogue
    _b("symbolic_bind_params_swapped", "symbolic",
       "bind_params binds a to b and b to a: c = '1 - a' becomes 1 - b",
       P + "symbolic/parse.py",
       '            val = val.subs({sympy.Symbol("a", real=True): a, sympy.Symbol("b", real=True): b})\n',
       '            val = val.subs({sympy.Symbol("a", real=True): b, sympy.Symbol("b", real=True): a})\n', SYM),
    _b("symbolic_keyword_args_dropped", "symbolic",
       "keyword arguments of a call are no longer refused (only ** is): log(x, base=2) silently parses as log(x)",
       P + "symbolic/parse.py",
       "        if node.keywords:\n",
       "        if node.keywords and node.keywords[0].arg is None:\n", SYM + HARD),
    _b("catalogue_empty_range", "catalogue",
       "a definition with range = [1, 1] (empty) is accepted (< became <=)",
       P + "catalogue.py",
       "    if not a < b:\n        raise DefinitionError(",
       "    if not a <= b:\n        raise DefinitionError(", CAT + HARD),
    _b("catalogue_title_default", "catalogue",
       "a definition without 'title' gets an empty title instead of its name",
       P + "catalogue.py",
       '        title=data.get("title", data["name"]),\n',
       '        title=data.get("title", ""),\n', CAT),
    # ------------------------------------------------------------------ numeric / verify
    _b("numeric_precision_zero", "numeric",
       "check_mode accepts time precision 0 for quantized and kernel mode",
       P + "numeric/dynamics.py",
       "and int(precision) == precision and precision >= 1)",
       "and int(precision) == precision and precision >= 0)", NUM + HARD),
    _b("numeric_for_layer_window", "numeric",
       "LayerTiming.for_layer(n) starts layer n one window late (T_emit = (n + 1) delta)",
       P + "numeric/dynamics.py",
       "        return cls(float(a), float(b), float(delta), float(T_emit0 + n * delta))\n",
       "        return cls(float(a), float(b), float(delta), float(T_emit0 + (n + 1) * delta))\n", NUM),
    _b("verify_counterexamples_hidden", "verify",
       "the verify report lists counterexamples of the checks that hold, not of those that fail",
       P + "verify/report.py",
       "        failed = [r for r in self.results if not r.holds and r.counterexample is not None]\n",
       "        failed = [r for r in self.results if r.holds and r.counterexample is not None]\n", VER),
    _b("verify_kernel_params_dropped", "verify",
       "check_neuron runs the sub-range kernel check without the definition's params",
       P + "verify/neuron.py",
       "        results.append(check_input_kernel(nd.f, *nd.range, delta, params, max_examples=max_examples, seed=seed))\n",
       "        results.append(check_input_kernel(nd.f, *nd.range, delta, None, max_examples=max_examples, seed=seed))\n",
       VER),
    # ------------------------------------------------------------------ spiking
    _b("spiking_silent_counted_as_spike", "spiking",
       "a neuron at its least value a (silent) is counted as a spike (> became >=)",
       P + "spiking/emission.py",
       "            st.spikes += int((out > a).sum())\n",
       "            st.spikes += int((out >= a).sum())\n", SPK),
    _b("spiking_clip_count_upper_only", "spiking",
       "the run-time clip counter counts only values above b (those below a are dropped)",
       P + "spiking/emission.py",
       "            st.clipped += int(((V < a) | (V > b)).sum())\n",
       "            st.clipped += int((V > b).sum())\n", SPK),
    _b("spiking_warning_least_layers", "spiking",
       "the ClippingWarning names the three least clipped layers as the worst",
       P + "spiking/context.py",
       "    worst = sorted(layers.items(), key=lambda kv: -kv[1])[:3]\n",
       "    worst = sorted(layers.items(), key=lambda kv: kv[1])[:3]\n", SPK),
    _b("spiking_chan_merge_no_delta", "spiking",
       "PopStats.add_moments drops the between-batch term of Chan's combination: per-neuron spreads "
       "(and the sigma ranges) come out too small",
       P + "spiking/stats.py",
       "        self.m2_t = self.m2_t + m2_t + delta.square() * (na * rows / (na + rows))\n",
       "        self.m2_t = self.m2_t + m2_t\n", SPK),
    _b("spiking_margin_narrows_low", "spiking",
       "a layer's calibration margin moves its lower end up (sign error) instead of widening it",
       P + "spiking/calibration.py",
       "        lo, hi = (lo / (1.0 + margin) if self.scale_low else lo - margin * width), hi + margin * width\n",
       "        lo, hi = (lo / (1.0 + margin) if self.scale_low else lo + margin * width), hi + margin * width\n", SPK),
    # ------------------------------------------------------------------ conversion
    _b("conversion_file_t_ref", "conversion",
       "the conversion file's T_ref is written from a instead of b (window + a/d)",
       P + "conversion/fileformat.py",
       '"T_ref": p.window + p.b / p.d',
       '"T_ref": p.window + p.a / p.d', CONV),
    _b("conversion_old_file_residual", "conversion",
       "a conversion file without 'residual' (before version 4) loads with residual synapses instead of neurons",
       P + "conversion/fileformat.py",
       '    set_residual(snn, data.get("residual", "neuron"))',
       '    set_residual(snn, data.get("residual", "synapses"))', CONV),
    _b("conversion_schema_window_zero", "conversion",
       "a conversion file with window 0 passes the schema",
       P + "conversion/schema.py",
       "            or int(w) != w or not 1 <= w <= MAX_WINDOW:\n",
       "            or int(w) != w or not 0 <= w <= MAX_WINDOW:\n", CONV + HARD),
    _b("conversion_layernorm_2d_accepted", "conversion",
       "a LayerNorm normalised over two dimensions is accepted by the module claims",
       P + "conversion/claims.py",
       "no spiking counterpart here)\")\n        if len(m.normalized_shape) != 1:\n",
       "no spiking counterpart here)\")\n        if len(m.normalized_shape) > 2:\n", CONV + HARD),
    _b("conversion_describe_none", "conversion",
       "describe() prints settings whose value is None ('sigmas None')",
       P + "conversion/presets.py",
       'for k, v in config.items() if k != "preset" and v is not None)',
       'for k, v in config.items() if k != "preset")', CONV),
    # ------------------------------------------------------------------ families
    _b("families_pool_include_prefix", "families",
       "a ViT with global_pool='avg' and pool_include_prefix=True is converted (the refusal applies to token "
       "pooling only): the SNN averages other tokens than the ANN",
       P + "families/vit.py",
       '        if getattr(vit, "pool_include_prefix", False):\n',
       '        if getattr(vit, "pool_include_prefix", False) and vit.global_pool == "token":\n', FAM + HARD),
    _b("families_reg_before_cls", "families",
       "the ViT's prefix tokens are put register tokens first, class token second (timm: class first)",
       P + "families/vit.py",
       "        if vit.cls_token is not None:\n            prefix.append(vit.cls_token.detach())\n"
       "        if getattr(vit, \"reg_token\", None) is not None:\n            prefix.append(vit.reg_token.detach())\n",
       "        if getattr(vit, \"reg_token\", None) is not None:\n            prefix.append(vit.reg_token.detach())\n"
       "        if vit.cls_token is not None:\n            prefix.append(vit.cls_token.detach())\n", FAM),
    _b("families_bert_full_length_refused", "families",
       "a sequence of exactly the model's maximum length is refused (> became >=)",
       P + "families/bert.py",
       "        if ids.shape[1] > self.max_tokens:\n",
       "        if ids.shape[1] >= self.max_tokens:\n", FAM),
    _b("families_roberta_max_tokens", "families",
       "RoBERTa's usable positions are one too many (padding_idx + 1 offset off by one)",
       P + "families/bert.py",
       "n_pos if self.padding_idx is None else n_pos - self.padding_idx - 1\n",
       "n_pos if self.padding_idx is None else n_pos - self.padding_idx\n", FAM + HARD),
    _b("families_head_rate_from_norm", "families",
       "the head's firing rate for the energy count is taken from the final norm before fc_norm or pool",
       P + "families/vit.py",
       '        for last in ("fc_norm", "pool", "norm"):\n',
       '        for last in ("norm", "pool", "fc_norm"):\n', FAM),
    # ------------------------------------------------------------------ energy
    _b("energy_signed_no_corrections", "energy",
       "product_counts(signed) drops the correction synapses from OP_SNN",
       P + "energy/counts.py",
       "    return M * N * (pairs * K + 1), (3 * pairs + corrections) * M * N * K\n",
       "    return M * N * (pairs * K + 1), (3 * pairs) * M * N * K\n", ENERGY),
    _b("energy_table3_not_scaled", "energy",
       "apply_rates scales OP_SNN but not Table 3's printed MatMul count",
       P + "energy/counts.py",
       "            row.op_snn_table3 = row.op_snn_table3 * float(rate)\n",
       "            row.op_snn_table3 = row.op_snn_table3\n", ENERGY),
    _b("energy_rate_above_one", "energy",
       "a spike rate above 1 is accepted by apply_rates",
       P + "energy/counts.py",
       "or not (0.0 <= rate <= 1.0):",
       "or not (0.0 <= rate):", ENERGY + HARD),
    _b("energy_by_kind_ann_from_snn", "energy",
       "by_kind sums OP_SNN into the per-kind OP_ANN column",
       P + "energy/counts.py",
       '            d["op_ann"] += r.op_ann\n',
       '            d["op_ann"] += r.op_snn\n', ENERGY),
    _b("energy_bert_roberta_positions", "energy",
       "count_ops_bert lets a RoBERTa config count one position more than it has (pad_token_id + 1 -> pad_token_id)",
       P + "energy/bert.py",
       '    max_pos -= _size(cfg, "pad_token_id", name, 1, low=0) + 1\n',
       '    max_pos -= _size(cfg, "pad_token_id", name, 1, low=0)\n', ENERGY + HARD),
    _b("energy_bert_pool_neurons", "energy",
       "the mean-pooling row counts T*H neurons instead of H",
       P + "energy/bert.py",
       '        w.add("pooling", "pool", H, T * H, 0,',
       '        w.add("pooling", "pool", T * H, T * H, 0,', ENERGY),
    # ------------------------------------------------------------------ evaluation
    _b("eval_input_layer_counted", "evaluation",
       "the report counts the input layer's neurons and spikes (the data) into the totals",
       P + "evaluation/report.py",
       '        if p.kind == "input":\n            continue\n        neurons += st.neurons\n',
       '        neurons += st.neurons\n', EVAL),
    _b("eval_labels_first_batch", "evaluation",
       "evaluate compares every batch with the first batch's labels",
       P + "evaluation/report.py",
       "                lab = labels[n:n + items]\n",
       "                lab = labels[:items]\n", EVAL),
    _b("eval_budget_share_of_total", "evaluation",
       "the error budget's share divides by the all-layers error, not by the sum of the groups' errors",
       P + "evaluation/report.py",
       '        g["share"] = g["error"] / s if s > 0 else 0.0\n',
       '        g["share"] = g["error"] / total if total > 0 else 0.0\n', EVAL),
    _b("eval_sweep_skipped_lost", "evaluation",
       "evaluate_sweep loses the skipped paths of a batch whose every image was skipped",
       P + "evaluation/sweep.py",
       "        skipped += skip\n        if images.shape[0] == 0:\n            bar.update()\n            continue\n",
       "        if images.shape[0] == 0:\n            bar.update()\n            continue\n        skipped += skip\n",
       EVAL),
    _b("eval_exact_in_float32", "evaluation",
       "configs_for runs exact mode in the sweep's dtype (float32) instead of float64",
       P + "evaluation/sweep.py",
       '            out.append(Config("exact", None, exact_dtype))\n',
       '            out.append(Config("exact", None, dtype))\n', EVAL),
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="run only this mutation (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the mutations and their test folders")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutation (default 300)")
    parser.add_argument("--tests", help="run every mutation against these test folders instead of its area's "
                        "(space-separated, e.g. \"tests/meta tests/hardening\"): where a survivor's test lives")
    args = parser.parse_args(argv)
    chosen = [m for m in BLIND2 if not args.only or m.name in args.only]
    if args.only and len(chosen) != len(set(args.only)):
        parser.error(f"unknown mutation in {args.only}; known: {', '.join(m.name for m in BLIND2)}")
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
    lines = ["| mutation | area | result | seconds |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['mutation'].name}` | {r['mutation'].area} | {r['status']} | {r['seconds']:.0f} |")
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


if __name__ == "__main__":
    sys.exit(main())
