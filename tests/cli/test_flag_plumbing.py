"""Every value-carrying option of the command line reaches the library call it is for, and every documented
bound of an option holds at both of its ends.

Two kinds of survivors of the mutation audits (docs/mutation.md) in one place:

* an option parsed and checked but whose value never reaches the library (``ttfs budget --sigmas``,
  ``ttfs convert --headroom``): each option here is given a value that differs from its default, the
  library function the command calls with it is replaced (pytest's ``monkeypatch``, at the name the command
  looks up) by a recorder, and the recorded argument must be the value given. Every other recorded argument
  must be what it is without the option, so an option passed in another one's place (swapped or crossed
  wires) fails too;
* a bound off by one (``ttfs evaluate --modes kernel --precision 65536`` refused, ``--holdout`` beyond
  [0, 0.5] accepted): both ends stated as accepted (docs/guide/own_model.md's table, docs/guide/energy.md,
  docs/security.md, the help strings) must get past the checks to the first library call, and a value just
  outside each end must be refused the way the command line refuses bad input: exit code 2 and one line
  ``ttfs COMMAND: error: ...`` naming the option, before any work. The bounds are written here as numbers,
  never read from ``ttfs_symbolic.cli.checks``, so a changed bound fails.

Nothing heavy runs: the only model built is a 1-block timm ViT of 32 px images (``convert`` / ``evaluate``
build it before their first recorded call), and every calibration, evaluation, count and derivation is
a recorder.
"""
from __future__ import annotations

import importlib
import math
import os
import types

import pytest
import torch

pytest.importorskip("timm")   # convert / evaluate build a tiny timm ViT

from ttfs_symbolic.cli.main import main  # noqa: E402

NAME = "vit_tiny_patch16_224"
KW = dict(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=3)
KWARGS = ["--model-kwargs"] + [f"{k}={v}" for k, v in KW.items()]
MISSING = "<not called>"


class _Stop(BaseException):
    """Raised by a recorder: the command got as far as this library call. A BaseException, so that neither
    the command line's one-line error reporting nor a command's catch-all around a library call (model
    creation, a derivation, a property check) turns it into an error."""


def _after(x, direction):
    """The float just past ``x`` towards ``direction``, as the command line reads it back (repr round-trips)."""
    return repr(math.nextafter(float(x), direction))


class Recorder:
    """Library functions replaced by recorders of their calls: ``calls[name] = [(args, kwargs), ...]``."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch
        self.calls: dict[str, list] = {}

    def spy(self, module: str, name: str, action="pass", key: str | None = None):
        """``action``: "pass" (call the original), "stop" (raise _Stop) or a callable giving the result."""
        mod = importlib.import_module(module)
        original = getattr(mod, name)
        key = key or name

        def recorder(*args, **kwargs):
            self.calls.setdefault(key, []).append((args, kwargs))
            if action == "stop":
                raise _Stop(key)
            if action == "pass":
                return original(*args, **kwargs)
            return action(*args, **kwargs)

        self.monkeypatch.setattr(mod, name, recorder)

    def get(self, name: str, where):
        """The argument ``where`` (position, keyword or a function of (args, kwargs)) of the first call."""
        if name not in self.calls:
            return MISSING
        args, kwargs = self.calls[name][0]
        if callable(where):
            return where(args, kwargs)
        if isinstance(where, int):
            return args[where] if where < len(args) else MISSING
        return kwargs.get(where, MISSING)


def _run_to_stop(argv):
    """``main(argv)`` that must end in a recorder's _Stop (the name of the call it reached)."""
    with pytest.raises(_Stop) as exc:
        main(argv)
    return exc.value.args[0]


def _check_plumbing(run, flags, expected, baseline_of, also_changed=()):
    """``run(flags)`` -> Recorder; each (call, where) of ``expected`` has its value, everything else observed
    (``baseline_of``'s keys) is as without the flags, and the expected values differ from the defaults."""
    rec = run(list(flags))
    base = baseline_of()
    for (name, where), want in expected.items():
        got = rec.get(name, where)
        assert got == want, f"{' '.join(flags)}: {name}[{where!r}] is {got!r}, expected {want!r}"
        assert base[(name, where)] != want, f"the test's value {want!r} is the default: it proves nothing"
    for (name, where), default in base.items():
        if (name, where) in expected or (name, where) in also_changed:
            continue
        got = rec.get(name, where)
        assert got == default, (f"{' '.join(flags)} changed {name}[{where!r}] from {default!r} to {got!r}: "
                                "an option reached another option's place")


def _refused(capsys, argv, flag, command=None):
    """Exit code 2 and exactly one line ``ttfs COMMAND: error: ...`` naming ``flag`` on stderr."""
    command = command or argv[0]
    try:
        rc = main(argv)
    except SystemExit as exc:   # argparse refusals would be SystemExit(2)
        rc = exc.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, f"{argv}: exit code {rc}, stderr {err!r}"
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"ttfs {command}: error: "), lines[0]
    assert flag in lines[0], f"the error does not name {flag}: {lines[0]}"
    return lines[0]


# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def baselines():
    """command -> what its library calls get without options (computed once per module)."""
    return {}


def _runner(monkeypatch, recorder, argv_of, stop):
    """``run(flags)``: the command ``argv_of(flags)`` with ``recorder(monkeypatch)``'s recorders, run to the
    library call ``stop``; the recorders are removed again and returned."""
    def run(flags):
        rec = recorder(monkeypatch)
        assert _run_to_stop(argv_of(flags)) == stop
        monkeypatch.undo()
        return rec
    return run


def _baseline(run, baselines, command, observed):
    """``baseline()``: what the ``observed`` (call, where) pairs get without options (once per module)."""
    cache = baselines.setdefault(command, {})

    def baseline():
        if not cache:
            rec = run([])
            cache.update({k: rec.get(*k) for k in observed})
        return cache
    return baseline


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """6 calibration images (a .pt tensor file), a checkpoint path and a conversion file that exist."""
    root = tmp_path_factory.mktemp("plumbing")
    torch.save(torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(0)), root / "calib.pt")
    from PIL import Image   # an image folder for the preprocessing flags, which a tensor file refuses

    for c in ("0", "1"):
        (root / "images" / c).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (32, 32), (40 * i, 100, 200)).save(root / "images" / c / f"{i}.png")
    (root / "model.pt").write_bytes(b"a checkpoint: load_checkpoint is a recorder here")
    (root / "conv.json").write_text("{}")   # read through the schema, a recorder here
    return root


# ---- ttfs convert ----------------------------------------------------------------------------------------------
def _convert_recorder(monkeypatch, stop_at="calibrate"):
    rec = Recorder(monkeypatch)
    conv = "ttfs_symbolic.conversion.convert"
    rec.spy(conv, "resolve_model", "stop" if stop_at == "resolve_model" else "pass")
    rec.spy(conv, "preset_settings")
    rec.spy(conv, "calibrate", "stop")
    rec.spy("ttfs_symbolic.conversion.distributed", "setup")
    rec.spy("ttfs_symbolic.data.files", "load_checkpoint", lambda ann, path: ann)
    rec.spy("ttfs_symbolic.data.files", "data_config")
    rec.spy("ttfs_symbolic.data.files", "open_data")
    rec.spy("ttfs_symbolic.data.files", "iter_batches")
    rec.spy(torch.__name__, "set_num_threads", lambda n: None)
    return rec


#: flags that preprocess the images of a folder (a tensor file is used as it is, and refuses them)
PREPROCESSING = ("--mean", "--std", "--crop-pct", "--interpolation")


def _source(inputs, flags):
    return str(inputs / "images")


def _convert_argv(inputs, tmp_path, flags):
    return ["convert", NAME, "--calib", _source(inputs, flags), "--out", str(tmp_path / "conv.json"),
            *KWARGS, *flags]


#: what ttfs convert passes on, and where it is observed
CALIBRATE_KEYS = ("batch_size", "percentile", "margin", "progress", "precision", "preset", "range_kind",
                  "product", "sigmas", "residual", "rsqrt", "codes", "holdout", "headroom", "variance_end")
DATA_CONFIG_KEYS = ("img_size", "mean", "std", "crop_pct", "interpolation")
COMMON_OBSERVED = ([("data_config", k) for k in DATA_CONFIG_KEYS]
                   + [("open_data", 0), ("open_data", "limit"), ("open_data", "skip_corrupt"),
                      ("iter_batches", 1), ("iter_batches", 4), ("setup", 0), ("setup", "timeout"),
                      ("set_num_threads", 0), ("load_checkpoint", 1)])
CONVERT_OBSERVED = [("calibrate", k) for k in CALIBRATE_KEYS] + [("preset_settings", 0)] + COMMON_OBSERVED

#: options shared by convert and evaluate (_common): flags -> {(call, where): value}
COMMON_CASES = [
    (["--limit", "4"], {("open_data", "limit"): 4}),
    (["--skip-corrupt"], {("open_data", "skip_corrupt"): True}),
    (["--img-size", "32"], {("data_config", "img_size"): 32}),
    (["--mean", "0.3,0.4,0.5"], {("data_config", "mean"): "0.3,0.4,0.5"}),
    (["--std", "0.25"], {("data_config", "std"): "0.25"}),
    (["--crop-pct", "0.7"], {("data_config", "crop_pct"): 0.7}),
    (["--interpolation", "bilinear"], {("data_config", "interpolation"): "bilinear"}),
    (["--workers", "1"], {("iter_batches", 4): 1}),
    (["--device", "cpu"], {("setup", 0): "cpu"}),
    (["--timeout", "42"], {("setup", "timeout"): 42.0}),
    (["--threads", "3"], {("set_num_threads", 0): 3}),
]

CONVERT_CASES = COMMON_CASES + [
    (["--percentile", "97.5"], {("calibrate", "percentile"): 97.5}),
    (["--margin", "0.25"], {("calibrate", "margin"): 0.25}),
    (["--precision", "333"], {("calibrate", "precision"): 333}),
    (["--batch-size", "3"], {("calibrate", "batch_size"): 3, ("iter_batches", 1): 3}),
    (["--no-progress"], {("calibrate", "progress"): False}),
    (["--range-kind", "neuron"], {("calibrate", "range_kind"): "neuron"}),
    (["--product", "paper"], {("calibrate", "product"): "paper"}),
    (["--sigmas", "2.5"], {("calibrate", "sigmas"): 2.5}),
    (["--residual", "neuron"], {("calibrate", "residual"): "neuron"}),
    (["--rsqrt", "neuron"], {("calibrate", "rsqrt"): "neuron"}),
    (["--codes", "linear"], {("calibrate", "codes"): "linear"}),
    (["--holdout", "0.35"], {("calibrate", "holdout"): 0.35}),
    (["--headroom", "3.5"], {("calibrate", "headroom"): 3.5}),
    (["--variance-end", "bound"], {("calibrate", "variance_end"): "bound"}),
]


@pytest.fixture
def convert_run(inputs, tmp_path, monkeypatch):
    return _runner(monkeypatch, _convert_recorder, lambda flags: _convert_argv(inputs, tmp_path, flags), "calibrate")


@pytest.fixture
def convert_baseline(convert_run, baselines):
    return _baseline(convert_run, baselines, "convert", CONVERT_OBSERVED)


def test_convert_without_options_passes_the_inputs_and_the_preset(convert_run, inputs):
    rec = convert_run([])
    assert rec.get("open_data", 0) == str(inputs / "images")
    assert all(kw == KW for _, kw in rec.calls["resolve_model"])   # --model-kwargs, on meta and for real
    assert rec.get("resolve_model", 0) == NAME
    assert rec.get("calibrate", "preset") == "accurate" == rec.get("preset_settings", 0)
    assert rec.get("load_checkpoint", 1) == MISSING
    assert rec.get("calibrate", 0) is rec.calls["preset_settings"][0][0][1]   # the network the settings are for


@pytest.mark.parametrize("flags, expected", CONVERT_CASES, ids=[" ".join(c[0]) for c in CONVERT_CASES])
def test_convert_option_reaches_the_calibration(convert_run, convert_baseline, flags, expected):
    _check_plumbing(convert_run, flags, expected, convert_baseline)


def test_convert_checkpoint_reaches_the_loader(convert_run, convert_baseline, inputs):
    _check_plumbing(convert_run, ["--checkpoint", str(inputs / "model.pt")],
                    {("load_checkpoint", 1): str(inputs / "model.pt")}, convert_baseline)


def test_convert_preset_paper_reaches_the_calibration_with_every_setting_of_it(convert_run, convert_baseline):
    paper = {"product": "paper", "range_kind": "layer", "residual": "neuron", "rsqrt": "neuron", "codes": "linear",
             "holdout": 0.0, "headroom": 1.0, "variance_end": "bound"}   # docs: the paper's network exactly
    expected = {("calibrate", "preset"): "paper", ("preset_settings", 0): "paper"}
    expected.update({("calibrate", k): v for k, v in paper.items()})
    _check_plumbing(convert_run, ["--preset", "paper"], expected, convert_baseline,
                    also_changed={("calibrate", "sigmas")})   # 6 in both presets


def test_convert_preset_paper_with_overrides_keeps_the_overrides(convert_run):
    rec = convert_run(["--preset", "paper", "--holdout", "0.1", "--headroom", "1.25", "--codes", "auto"])
    assert rec.get("calibrate", "preset") == "paper"
    assert (rec.get("calibrate", "holdout"), rec.get("calibrate", "headroom"), rec.get("calibrate", "codes")) == \
        (0.1, 1.25, "auto")
    assert rec.get("calibrate", "product") == "paper"   # the rest stays the preset's


# ---- ttfs evaluate ---------------------------------------------------------------------------------------------
EVALUATE_OBSERVED = ([("configs_for", 0), ("configs_for", 1), ("configs_for", "dtype"), ("load_conversion", 1),
                      ("load_conversion", "force"), ("evaluate_sweep", "progress")] + COMMON_OBSERVED)

EVALUATE_CASES = COMMON_CASES + [
    (["--modes", "kernel,exact"], {("configs_for", 0): ["kernel", "exact"]}),
    (["--precision", "7,9"], {("configs_for", 1): [7, 9]}),
    (["--dtype", "float64"], {("configs_for", "dtype"): torch.float64}),
    (["--force"], {("load_conversion", "force"): True}),
    (["--batch-size", "5"], {("iter_batches", 1): 5}),
    (["--no-progress"], {("evaluate_sweep", "progress"): False}),
]


def _evaluate_recorder(monkeypatch, stop_at="evaluate_sweep"):
    rec = _convert_recorder(monkeypatch)
    rec.spy("ttfs_symbolic.conversion.schema", "read_conversion", lambda path: {})
    rec.spy("ttfs_symbolic.evaluation.sweep", "configs_for", "stop" if stop_at == "configs_for" else "pass")
    rec.spy("ttfs_symbolic.conversion.fileformat", "load_conversion",
            lambda ann, path, **kw: types.SimpleNamespace(weights_fingerprint=None))
    rec.spy("ttfs_symbolic.evaluation.sweep", "evaluate_sweep", "stop")
    return rec


def _evaluate_argv(inputs, tmp_path, flags):
    return ["evaluate", NAME, "--conversion", str(inputs / "conv.json"), "--data", _source(inputs, flags),
            "--out", str(tmp_path / "eval"), *KWARGS, *flags]


@pytest.fixture
def evaluate_run(inputs, tmp_path, monkeypatch):
    return _runner(monkeypatch, _evaluate_recorder, lambda flags: _evaluate_argv(inputs, tmp_path, flags), "evaluate_sweep")


@pytest.fixture
def evaluate_baseline(evaluate_run, baselines):
    return _baseline(evaluate_run, baselines, "evaluate", EVALUATE_OBSERVED)


def test_evaluate_without_options_passes_the_inputs_and_the_configurations(evaluate_run, inputs):
    rec = evaluate_run([])
    assert rec.get("open_data", 0) == str(inputs / "images")
    assert rec.get("load_conversion", 1) == str(inputs / "conv.json")
    assert (rec.get("configs_for", 0), rec.get("configs_for", 1)) == (["exact", "quantized", "kernel"], [64, 256, 1024])
    configs = rec.get("evaluate_sweep", 3)
    assert [(c.mode, c.precision) for c in configs] == [("exact", None)] + [
        (m, p) for m in ("quantized", "kernel") for p in (64, 256, 1024)]


@pytest.mark.parametrize("flags, expected", EVALUATE_CASES, ids=[" ".join(c[0]) for c in EVALUATE_CASES])
def test_evaluate_option_reaches_the_library(evaluate_run, evaluate_baseline, flags, expected):
    _check_plumbing(evaluate_run, flags, expected, evaluate_baseline)


def test_evaluate_checkpoint_reaches_the_loader(evaluate_run, evaluate_baseline, inputs):
    _check_plumbing(evaluate_run, ["--checkpoint", str(inputs / "model.pt")],
                    {("load_checkpoint", 1): str(inputs / "model.pt")}, evaluate_baseline)


def test_evaluate_modes_and_precisions_become_the_configurations_run(evaluate_run):
    rec = evaluate_run(["--modes", "kernel", "--precision", "65536,3", "--dtype", "float64"])
    assert [(c.mode, c.precision, c.dtype) for c in rec.get("evaluate_sweep", 3)] == \
        [("kernel", 65536, torch.float64), ("kernel", 3, torch.float64)]


# ---- ttfs budget -----------------------------------------------------------------------------------------------
class _Model(torch.nn.Linear):
    def __init__(self):
        super().__init__(2, 2)


def _digits(split, *a, **kw):
    """Stand-in for load_digits: calibration images are ones, test images twos (300 of each)."""
    return torch.full((300, 1), 1.0 if split == "calib" else 2.0), torch.zeros(300, dtype=torch.long)


def _budget_recorder(monkeypatch, stop_at="error_budget"):
    rec = Recorder(monkeypatch)
    ann, snn = _Model(), types.SimpleNamespace(populations=lambda: [])
    rec.spy("ttfs_symbolic.zoo.digits", "load_demo_model", "stop" if stop_at == "load_demo_model" else (lambda: ann))
    rec.spy("ttfs_symbolic.zoo.digits", "load_digits", _digits)
    rec.spy("ttfs_symbolic.conversion.convert", "convert", lambda *a, **kw: snn)
    rec.spy("ttfs_symbolic.evaluation.report", "error_budget", "stop")
    rec.ann, rec.snn = ann, snn
    return rec


BUDGET_CONVERT_KEYS = ("preset", "range_kind", "product", "margin", "sigmas", "residual", "progress")
BUDGET_OBSERVED = ([("convert", k) for k in BUDGET_CONVERT_KEYS]
                   + [("error_budget", k) for k in ("mode", "precision", "by", "curve", "progress")]
                   + [("convert", lambda a, kw: tuple(a[1].shape)), ("error_budget", lambda a, kw: tuple(a[1].shape))])
CALIB_SHAPE, INPUTS_SHAPE = BUDGET_OBSERVED[-2], BUDGET_OBSERVED[-1]

BUDGET_CASES = [
    (["--mode", "kernel"], {("error_budget", "mode"): "kernel"}),
    (["--precision", "2048"], {("error_budget", "precision"): 2048}),
    (["--by", "block"], {("error_budget", "by"): "block"}),
    (["--curve", "16,32"], {("error_budget", "curve"): [16, 32]}),
    (["--preset", "paper"], {("convert", "preset"): "paper"}),
    (["--calib", "5"], {CALIB_SHAPE: (5, 1)}),
    (["--inputs", "3"], {INPUTS_SHAPE: (3, 1)}),
    (["--no-progress"], {("convert", "progress"): False, ("error_budget", "progress"): False}),
    # also in test_blind4_cli.py; here with the check that nothing else moves
    (["--range-kind", "layer"], {("convert", "range_kind"): "layer"}),
    (["--product", "paper"], {("convert", "product"): "paper"}),
    (["--residual", "neuron"], {("convert", "residual"): "neuron"}),
    (["--sigmas", "2.5"], {("convert", "sigmas"): 2.5}),
    (["--margin", "0.25"], {("convert", "margin"): 0.25}),
]


@pytest.fixture
def budget_run(tmp_path, monkeypatch):
    return _runner(monkeypatch, _budget_recorder,
                   lambda flags: ["budget", "digits", "--out", str(tmp_path / "budget"), *flags], "error_budget")


@pytest.fixture
def budget_baseline(budget_run, baselines):
    return _baseline(budget_run, baselines, "budget", BUDGET_OBSERVED)


def test_budget_converts_the_calibration_split_and_budgets_the_test_split(budget_run):
    rec = budget_run(["--calib", "5", "--inputs", "3"])
    model, cx = rec.calls["convert"][0][0][:2]
    snn, x = rec.calls["error_budget"][0][0][:2]
    assert model is rec.ann and snn is rec.snn
    assert bool((cx == 1).all()) and bool((x == 2).all())   # not swapped


@pytest.mark.parametrize("flags, expected", BUDGET_CASES, ids=[" ".join(c[0]) for c in BUDGET_CASES])
def test_budget_option_reaches_the_library(budget_run, budget_baseline, flags, expected):
    _check_plumbing(budget_run, flags, expected, budget_baseline)


# ---- ttfs demo -------------------------------------------------------------------------------------------------
class _Report:
    max_logit_rel_error, agreement, ann_accuracy, snn_accuracy, clip_rate = 0.0, 1.0, 1.0, 1.0, 0.0

    def summary(self):
        return ""

    def layer_table(self):
        return ""

    def to_dict(self):
        return {}


def _demo_recorder(monkeypatch, stop_at=None):
    rec = Recorder(monkeypatch)
    snn = types.SimpleNamespace(populations=lambda: [])
    rec.spy("ttfs_symbolic.zoo.digits", "load_demo_model", "stop" if stop_at == "load_demo_model" else _Model)
    rec.spy("ttfs_symbolic.zoo.digits", "load_digits", _digits)
    rec.spy("ttfs_symbolic.conversion.convert", "convert", lambda *a, **kw: snn)
    rec.spy("ttfs_symbolic.conversion.fileformat", "save_conversion", lambda *a, **kw: None)
    rec.spy("ttfs_symbolic.evaluation.report", "evaluate", lambda *a, **kw: _Report())
    rec.spy("ttfs_symbolic.cli.demo", "plot_precision_sweep", lambda rows, acc, path, **kw: path)
    rec.spy("ttfs_symbolic.cli.demo", "deep_sweep", lambda *a, **kw: {})
    return rec


def _demo_sweep(rec):
    """(mode, precision) of the sweep's evaluations (those with warn=False), in order."""
    return [(kw["mode"], kw["precision"]) for _, kw in rec.calls.get("evaluate", []) if kw.get("warn") is False]


def _demo_main(rec):
    """(mode, precision) of the three evaluations of the report (before the sweep)."""
    return [(kw["mode"], kw["precision"]) for _, kw in rec.calls.get("evaluate", []) if "warn" not in kw]


@pytest.fixture
def demo_run(tmp_path, monkeypatch):
    def run(flags):
        rec = _demo_recorder(monkeypatch)
        assert main(["demo", "--out", str(tmp_path / "demo"), *flags]) == 0
        monkeypatch.undo()
        rec.sweep, rec.main = _demo_sweep(rec), _demo_main(rec)
        return rec
    return run


def test_demo_options_reach_the_library(demo_run, tmp_path):
    base = demo_run([])
    assert base.get("convert", "preset") == "accurate" and base.get("convert", "margin") == 0.2
    assert base.get("convert", "progress") is True and base.get("convert", "activations") == {}
    assert base.main == [("exact", None), ("quantized", 1024), ("kernel", 1024)]
    assert base.sweep == [(m, p) for m in ("quantized", "kernel") for p in (8, 16, 32, 64, 128, 256, 512, 1024,
                                                                            2048, 4096)]
    assert base.get("deep_sweep", 1) is True
    assert base.get("save_conversion", 1) == tmp_path / "demo" / "conversion.json"

    rec = demo_run(["--preset", "paper"])
    assert rec.get("convert", "preset") == "paper" and rec.get("convert", "margin") == 0.2

    rec = demo_run(["--margin", "0.35"])
    assert rec.get("convert", "margin") == 0.35 and rec.get("convert", "preset") == "accurate"

    rec = demo_run(["--precisions", "3,5"])
    assert rec.sweep == [("quantized", 3), ("quantized", 5), ("kernel", 3), ("kernel", 5)]
    assert rec.main == base.main   # the report's own p = 1024 stays

    rec = demo_run(["--no-progress"])
    assert rec.get("convert", "progress") is False and rec.get("deep_sweep", 1) is False
    assert all(kw["progress"] is False for _, kw in rec.calls["evaluate"])

    rec = demo_run(["--no-deep"])
    assert rec.get("deep_sweep", 1) == MISSING and rec.get("convert", "progress") is True

    rec = demo_run(["--activation", "GELU=gelu"])
    assert rec.get("convert", "activations") == {"GELU": "gelu"}


# ---- ttfs energy -----------------------------------------------------------------------------------------------
_COUNT = types.SimpleNamespace(table=lambda: "", to_dict=lambda: {})


def _energy_recorder(monkeypatch, stop=False):
    rec = Recorder(monkeypatch)
    rec.spy("ttfs_symbolic.cli.energy", "count_ops", "stop" if stop else (lambda *a, **kw: _COUNT))
    rec.spy("ttfs_symbolic.cli.energy", "count_ops_bert", "stop" if stop else (lambda *a, **kw: _COUNT))
    return rec


ENERGY_CASES = [
    (NAME, [], "count_ops", {0: NAME, "img_size": None, "preset": "accurate", "product": "signed",
                             "residual": "synapses", "rsqrt": "folded"}),
    (NAME, ["--img-size", "64"], "count_ops", {"img_size": 64}),
    (NAME, ["--preset", "paper"], "count_ops", {"preset": "paper", "product": "paper", "residual": "neuron",
                                                "rsqrt": "neuron", "img_size": None}),
    (NAME, ["--product", "paper"], "count_ops", {"preset": "accurate with overrides", "product": "paper",
                                                 "residual": "synapses", "rsqrt": "folded"}),
    (NAME, ["--residual", "neuron"], "count_ops", {"preset": "accurate with overrides", "product": "signed",
                                                   "residual": "neuron", "rsqrt": "folded"}),
    (NAME, ["--rsqrt", "neuron"], "count_ops", {"preset": "accurate with overrides", "product": "signed",
                                                "residual": "synapses", "rsqrt": "neuron"}),
    ("bert-base-uncased", [], "count_ops_bert", {0: "bert-base-uncased", "seq_len": 128, "preset": "accurate"}),
    ("bert-base-uncased", ["--seq-len", "77"], "count_ops_bert", {"seq_len": 77, "product": "signed"}),
    ("bert-base-uncased", ["--preset", "paper", "--seq-len", "9"], "count_ops_bert",
     {"seq_len": 9, "preset": "paper", "product": "paper", "residual": "neuron", "rsqrt": "neuron"}),
]


@pytest.mark.parametrize("model, flags, call, expected", ENERGY_CASES,
                         ids=[f"{c[0]} {' '.join(c[1])}".strip() for c in ENERGY_CASES])
def test_energy_option_reaches_the_count(monkeypatch, capsys, model, flags, call, expected):
    rec = _energy_recorder(monkeypatch)
    assert main(["energy", model, *flags]) == 0
    other = "count_ops_bert" if call == "count_ops" else "count_ops"
    assert other not in rec.calls and len(rec.calls[call]) == 1
    for where, want in expected.items():
        assert rec.get(call, where) == want, (flags, where)


# ---- ttfs derive and ttfs verify --self-test -------------------------------------------------------------------
DERIVE_CASES = [
    (["x", "--range", "0.5", "4"], {0: "x", 1: None, 2: [0.5, 4.0], 3: None, 4: 1.0, 5: None}),
    (["x", "--range", "0.5", "4", "--delta", "0.25"], {4: 0.25}),
    (["x*c + eps", "--range", "0.5", "4", "--param", "eps=0.125", "--param", "c=1 - a"],
     {0: "x*c + eps", 5: {"eps": 0.125, "c": "1 - a"}}),
    (["x", "--output", "log(x)", "--range", "-1", "1", "--output-range", "0.5", "3"],
     {0: "x", 1: "log(x)", 2: [-1.0, 1.0], 3: [0.5, 3.0]}),
    (["--output", "log(x)", "--range", "0.5", "3"], {0: None, 1: "log(x)", 2: [0.5, 3.0], 3: None}),
]


def _derive_recorder(monkeypatch):
    """derive turns any exception of the derivation into its one-line error: recorders that return instead."""
    rec = Recorder(monkeypatch)
    rec.spy("ttfs_symbolic.pages.neuron", "derive_pair", lambda *a: (None, None))
    rec.spy("ttfs_symbolic.pages.neuron", "derivation_summary", lambda it, ot: "")
    rec.spy("ttfs_symbolic.pages.neuron", "write_derivation", lambda page, *a, **kw: (page, None, None, None))
    return rec


@pytest.mark.parametrize("argv, expected", DERIVE_CASES, ids=[" ".join(c[0]) for c in DERIVE_CASES])
def test_derive_option_reaches_the_derivation(monkeypatch, argv, expected):
    rec = _derive_recorder(monkeypatch)
    assert main(["derive", *argv, "--no-page"]) == 0
    for where, want in expected.items():
        assert rec.get("derive_pair", where) == want, where


@pytest.mark.parametrize("flags, expected", [
    ([], {"title": None, "plot_path": None, "plot": True}),
    (["--title", "My neuron", "--plot", "fig/p.png"], {"title": "My neuron", "plot_path": "fig/p.png", "plot": True}),
    (["--no-plot"], {"title": None, "plot_path": None, "plot": False}),
])
def test_derive_page_options_reach_the_writer(monkeypatch, tmp_path, flags, expected):
    rec = _derive_recorder(monkeypatch)
    page = tmp_path / "pages" / "n.md"
    flags = [f if f != "fig/p.png" else str(tmp_path / f) for f in flags]
    assert main(["derive", "x", "--range", "0.5", "4", "--delta", "0.5", "--out", str(page), *flags]) == 0
    assert rec.get("write_derivation", 0) == page
    assert [rec.get("write_derivation", i) for i in range(1, 6)] == ["x", None, [0.5, 4.0], None, 0.5]
    if expected["plot_path"] is not None:
        expected = {**expected, "plot_path": str(tmp_path / expected["plot_path"])}
    assert {k: rec.get("write_derivation", k) for k in expected} == expected


@pytest.mark.parametrize("flags, expected", [([], {"max_examples": 50, "seed": 0}),
                                             (["--seed", "5", "--max-examples", "3"], {"max_examples": 3, "seed": 5})])
def test_verify_self_test_options_reach_the_corpus_run(monkeypatch, capsys, flags, expected):
    rec = Recorder(monkeypatch)
    rec.spy("ttfs_symbolic.verify.broken", "self_test", lambda **kw: types.SimpleNamespace(rows=[], passed=True))
    assert main(["verify", "--self-test", *flags]) == 0
    assert rec.calls["self_test"][0][1] == expected


# ===============================================================================================================
# Bounds: both documented ends accepted (the command reaches its first library call), just outside refused.
# ===============================================================================================================
def _workers_max():
    return min(64, 2 * (os.cpu_count() or 1))   # "two per CPU core (at most 64)"


#: docs/guide/own_model.md's table: flag -> (accepted values, refused values); for convert and evaluate alike
COMMON_BOUNDS = {
    "--batch-size": (["1", str(1 << 20)], ["0", str((1 << 20) + 1)]),
    "--limit": (["1", str(1 << 40)], ["0"]),                      # "at least 1"
    "--img-size": (["1", "16384"], ["0", "16385"]),
    "--mean": (["-1e6", "1e6"], [_after(-1e6, -math.inf), _after(1e6, math.inf)]),
    "--std": (["1e-6", "1e6"], [_after(1e-6, 0), _after(1e6, math.inf), "0"]),
    "--crop-pct": (["0.01", "4"], [_after(0.01, 0), _after(4, math.inf)]),
    "--threads": (["1", "4096"], ["0", "4097"]),
    "--workers": (["0", str(_workers_max())], ["-1", str(_workers_max() + 1)]),
    "--timeout": (["1", "86400"], [_after(1, 0), _after(86400, math.inf)]),
}
CONVERT_BOUNDS = {
    **COMMON_BOUNDS,
    "--precision": (["1", str(1 << 24)], ["0", str((1 << 24) + 1)]),
    "--percentile": ([_after(50, math.inf), "100"], ["50", _after(100, math.inf)]),   # (50, 100]
    "--margin": (["0", "100"], [_after(0, -1), _after(100, math.inf)]),
    "--sigmas": (["0", "1000"], [_after(0, -1), _after(1000, math.inf)]),
    "--holdout": (["0", "0.5"], [_after(0, -1), _after(0.5, 1)]),                       # "fraction in [0, 0.5]"
    "--headroom": (["1", "1000"], [_after(1, 0), _after(1000, math.inf)]),               # "factor >= 1"
}


def _cases(bounds, accepted: bool):
    return [(flag, v) for flag, (ok, bad) in bounds.items() for v in (ok if accepted else bad)]


@pytest.mark.parametrize("flag, value", _cases(CONVERT_BOUNDS, True))
def test_convert_accepts_the_documented_ends(inputs, tmp_path, monkeypatch, flag, value):
    _convert_recorder(monkeypatch, stop_at="resolve_model")
    assert _run_to_stop(_convert_argv(inputs, tmp_path, [f"{flag}={value}"])) == "resolve_model"


@pytest.mark.parametrize("flag, value", _cases(CONVERT_BOUNDS, False))
def test_convert_refuses_just_outside_the_documented_ends(inputs, tmp_path, monkeypatch, capsys, flag, value):
    rec = _convert_recorder(monkeypatch, stop_at="resolve_model")
    _refused(capsys, _convert_argv(inputs, tmp_path, [f"{flag}={value}"]), flag)
    assert "resolve_model" not in rec.calls and not (tmp_path / "conv.json").exists()   # before any work


EVALUATE_BOUNDS = {
    **COMMON_BOUNDS,
    # "in kernel mode at most 2^16 = 65536", otherwise 1 .. 2^24
    "--modes=kernel --precision": (["1", "65536", "64,65536"], ["0", "65537", "64,65537"]),
    "--modes=quantized --precision": (["1", str(1 << 24)], ["0", str((1 << 24) + 1)]),
    "--modes=quantized,kernel --precision": (["65536"], ["65537"]),
    "--modes=exact,kernel --precision": (["65536"], ["65537"]),
}


def _evaluate_flags(flag, value):
    *modes, flag = flag.split()
    return [*modes, f"{flag}={value}"], flag


@pytest.mark.parametrize("flag, value", _cases(EVALUATE_BOUNDS, True))
def test_evaluate_accepts_the_documented_ends(inputs, tmp_path, monkeypatch, flag, value):
    rec = _evaluate_recorder(monkeypatch, stop_at="configs_for")
    flags, flag = _evaluate_flags(flag, value)
    assert _run_to_stop(_evaluate_argv(inputs, tmp_path, flags)) == "configs_for"
    if flag == "--precision":
        assert rec.get("configs_for", 1) == [int(p) for p in value.split(",")]


@pytest.mark.parametrize("flag, value", _cases(EVALUATE_BOUNDS, False))
def test_evaluate_refuses_just_outside_the_documented_ends(inputs, tmp_path, monkeypatch, capsys, flag, value):
    rec = _evaluate_recorder(monkeypatch, stop_at="configs_for")
    flags, flag = _evaluate_flags(flag, value)
    _refused(capsys, _evaluate_argv(inputs, tmp_path, flags), flag)
    assert "configs_for" not in rec.calls and not (tmp_path / "eval").exists()


BUDGET_BOUNDS = {
    "--mode=quantized --precision": (["1", str(1 << 24)], ["0", str((1 << 24) + 1)]),
    "--mode=kernel --precision": (["65536"], ["65537"]),
    "--mode=quantized --curve": (["1," + str(1 << 24)], ["0,64", "64," + str((1 << 24) + 1)]),
    "--mode=kernel --curve": (["64,65536"], ["64,65537"]),
    "--calib": (["1", str(1 << 20)], ["0", str((1 << 20) + 1)]),
    "--inputs": (["1", str(1 << 20)], ["0", str((1 << 20) + 1)]),
    "--margin": (["0", "100"], [_after(0, -1), _after(100, math.inf)]),
    "--sigmas": (["0", "1000"], [_after(0, -1), _after(1000, math.inf)]),
}


@pytest.mark.parametrize("flag, value", _cases(BUDGET_BOUNDS, True))
def test_budget_accepts_the_documented_ends(tmp_path, monkeypatch, flag, value):
    _budget_recorder(monkeypatch, stop_at="load_demo_model")
    flags, _ = _evaluate_flags(flag, value)
    assert _run_to_stop(["budget", "digits", "--out", str(tmp_path / "b"), *flags]) == "load_demo_model"


@pytest.mark.parametrize("flag, value", _cases(BUDGET_BOUNDS, False))
def test_budget_refuses_just_outside_the_documented_ends(tmp_path, monkeypatch, capsys, flag, value):
    rec = _budget_recorder(monkeypatch, stop_at="load_demo_model")
    flags, flag = _evaluate_flags(flag, value)
    _refused(capsys, ["budget", "digits", "--out", str(tmp_path / "b"), *flags], flag)
    assert "load_demo_model" not in rec.calls and not (tmp_path / "b").exists()


DEMO_BOUNDS = {   # docs/security.md: "--precisions (integers in [1, 2^24]) and --margin before it loads anything"
    "--precisions": (["1", str(1 << 24), "1,16777216"], ["0", str((1 << 24) + 1), "8,16777217"]),
    "--margin": (["0", "100"], [_after(0, -1), _after(100, math.inf), "nan", "inf"]),
}


@pytest.mark.parametrize("flag, value", _cases(DEMO_BOUNDS, True))
def test_demo_accepts_the_documented_ends(tmp_path, monkeypatch, flag, value):
    _demo_recorder(monkeypatch, stop_at="load_demo_model")
    assert _run_to_stop(["demo", "--out", str(tmp_path / "d"), f"{flag}={value}"]) == "load_demo_model"


@pytest.mark.parametrize("flag, value", _cases(DEMO_BOUNDS, False))
def test_demo_refuses_just_outside_the_documented_ends(tmp_path, monkeypatch, capsys, flag, value):
    rec = _demo_recorder(monkeypatch, stop_at="load_demo_model")
    _refused(capsys, ["demo", "--out", str(tmp_path / "d"), f"{flag}={value}"], flag)
    assert "load_demo_model" not in rec.calls and not (tmp_path / "d").exists()


ENERGY_BOUNDS = [   # docs/guide/energy.md: "--img-size is at most 16384 and --seq-len (text models) at most 2^20"
    (NAME, "--img-size", "16384", "16385"),
    ("bert-base-uncased", "--seq-len", str(1 << 20), str((1 << 20) + 1)),
]


@pytest.mark.parametrize("model, flag, ok, bad", ENERGY_BOUNDS, ids=[b[1] for b in ENERGY_BOUNDS])
def test_energy_takes_its_stated_largest_size_and_refuses_one_more(monkeypatch, capsys, model, flag, ok, bad):
    rec = _energy_recorder(monkeypatch, stop=True)
    _run_to_stop(["energy", model, f"{flag}={ok}"])
    n = len(rec.calls)
    _refused(capsys, ["energy", model, f"{flag}={bad}"], flag)
    assert len(rec.calls) == n   # refused before counting


@pytest.mark.parametrize("model, flag", [(NAME, "--img-size"), ("bert-base-uncased", "--seq-len")])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_energy_refuses_a_size_below_one(monkeypatch, capsys, model, flag, value):
    """Below 1 the command refuses before counting, naming its flag and the value, not the default size
    counted instead."""
    rec = _energy_recorder(monkeypatch, stop=True)
    _refused(capsys, ["energy", model, f"{flag}={value}"], f"{flag} must be between 1 and")
    _refused(capsys, ["energy", model, f"{flag}={value}"], f"got {value}")
    assert not rec.calls


@pytest.mark.parametrize("value, accepted", [("1e-300", True), ("0.5", True), ("0", False), ("-0.5", False),
                                             ("nan", False), ("inf", False)])
def test_derive_delta_must_be_positive_and_finite(monkeypatch, capsys, value, accepted):
    rec = _derive_recorder(monkeypatch)
    argv = ["derive", "x", "--range", "0", "1", f"--delta={value}", "--no-page"]
    if accepted:
        assert main(argv) == 0
        assert rec.get("derive_pair", 4) == float(value)
    else:
        _refused(capsys, argv, "--delta")
        assert "derive_pair" not in rec.calls


@pytest.mark.parametrize("argv", [["verify", "relu"], ["verify", "--self-test"]])
def test_verify_max_examples_is_at_least_one(monkeypatch, capsys, argv):
    rec = Recorder(monkeypatch)
    rec.spy("ttfs_symbolic.verify", "check_neuron", "stop")
    rec.spy("ttfs_symbolic.verify.broken", "self_test", "stop")
    _refused(capsys, [*argv, "--max-examples=0"], "--max-examples")
    assert not rec.calls
    _run_to_stop([*argv, "--max-examples=1"])
    assert next(iter(rec.calls.values()))[0][1]["max_examples"] == 1
