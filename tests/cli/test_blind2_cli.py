"""The command line's errors, options and defaults as a user sees them (the second blind mutation audit's
survivors, docs/mutation.md)."""
from __future__ import annotations

import argparse
import json

import pytest

from helpers import run_cli
from ttfs_symbolic.cli import checks
from ttfs_symbolic.cli.derive import parse_param
from ttfs_symbolic.cli.main import _run, protect_formulas


def test_an_oserror_names_the_file(capsys):
    def fails(args):
        raise FileNotFoundError(2, "No such file or directory", "data/missing.pt")

    assert _run(argparse.Namespace(func=fails, command="convert")) == 2
    assert capsys.readouterr().err == "ttfs convert: error: No such file or directory: data/missing.pt\n"


def test_derive_dash_h_prints_the_help(capsys):
    assert protect_formulas(["derive", "-h"]) == ["derive", "-h"]
    assert protect_formulas(["derive", "-x**2", "--range", "-1", "1"]) == ["derive", " -x**2", "--range", "-1", "1"]
    rc, out, err = run_cli(capsys, "derive", "-h")
    assert rc == 0 and out.startswith("usage: ttfs derive") and err == ""


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999"])
def test_a_non_finite_param_is_refused_by_the_cli(capsys, value):
    with pytest.raises(ValueError, match="the value must be finite"):
        parse_param(f"eps={value}")
    rc, out, err = run_cli(capsys, "derive", "x + eps", "--range", "0", "1", "--param", f"eps={value}", "--no-page")
    assert rc == 2 and out == ""
    assert err == f"ttfs derive: error: --param 'eps={value}': the value must be finite\n"


def test_a_param_given_twice_is_refused_instead_of_the_last_winning(capsys):
    rc, out, err = run_cli(capsys, "derive", "c*x", "--range", "-1", "1", "--param", "c=3", "--param", "c=4",
                           "--no-page")
    assert rc == 2 and out == "" and "--param c given more than once" in err
    rc, out, _ = run_cli(capsys, "derive", "c*x + k", "--range", "-1", "1", "--param", "c=3", "--param", "k=4",
                         "--no-page")
    assert rc == 0 and "eta" in out


def test_energy_of_a_text_model_counts_128_tokens_by_default(capsys):
    rc, out, _ = run_cli(capsys, "energy", "bert-base-uncased", "--json")
    assert rc == 0
    d = json.loads(out)
    assert d["tokens"] == 128 and d["model"] == "bert-base-uncased (seq_len 128)"


def test_energy_structure_flags_override_the_preset(capsys):
    def count(*flags):
        rc, out, _ = run_cli(capsys, "energy", "vit_tiny_patch16_224", "--json", *flags)
        assert rc == 0
        return json.loads(out)

    paper = count("--preset", "paper")
    overridden = count("--product", "paper", "--residual", "neuron", "--rsqrt", "neuron")
    accurate = count()
    assert {k: overridden["configuration"][k] for k in ("product", "residual", "rsqrt")} == \
        {"product": "paper", "residual": "neuron", "rsqrt": "neuron"}
    assert overridden["configuration"]["preset"] == "accurate with overrides"
    assert (overridden["neurons"], overridden["op_snn"]) == (paper["neurons"], paper["op_snn"])
    assert (overridden["neurons"], overridden["op_snn"]) != (accurate["neurons"], accurate["op_snn"])
    signed = count("--preset", "paper", "--product", "signed")
    assert signed["configuration"]["product"] == "signed" and signed["op_snn"] != paper["op_snn"]


@pytest.mark.parametrize("flags, words", [
    (("--precision", "64,256"), "--precision takes one value, got '64,256'"),
    (("--calib", "0"), "--calib must be an integer in [1, 1048576], got 0"),
    (("--inputs", "0"), "--inputs must be an integer in [1, 1048576], got 0"),
])
def test_budget_refuses_before_any_work(capsys, tmp_path, flags, words):
    out = tmp_path / "budget"
    rc, stdout, err = run_cli(capsys, "budget", "digits", "--out", str(out), "--no-progress", *flags)
    assert rc == 2 and stdout == ""
    assert err == f"ttfs budget: error: {words}\n"
    assert not out.exists()


def test_kernel_precision_bound_holds_beside_other_modes():
    big = checks.MAX_KERNEL_PRECISION + 1
    checks.check_precisions([big], ["quantized"])   # quantized mode goes higher
    for modes in (["kernel"], ["quantized", "kernel"], ["kernel", "quantized"]):
        with pytest.raises(ValueError, match=f"--precision {big}: kernel mode takes a time precision of at most "
                                             f"{checks.MAX_KERNEL_PRECISION}"):
            checks.check_precisions([64, big], modes)


def test_demo_calibrates_with_the_margin_given(capsys, tmp_path, monkeypatch):
    import ttfs_symbolic.conversion.convert as conv

    seen = {}

    def spy(ann, x, **kw):
        seen.update(kw)
        raise ValueError("stopped after convert's arguments")

    monkeypatch.setattr(conv, "convert", spy)
    rc, _, err = run_cli(capsys, "demo", "--out", str(tmp_path / "out"), "--margin", "0.35", "--no-progress",
                         "--no-deep")
    assert rc == 2 and "stopped after convert's arguments" in err
    assert seen["margin"] == 0.35


def test_energy_counts_a_model_built_with_model_kwargs(capsys):
    """A model converted with --model-kwargs (depth=2 patch_size=8 img_size=32) can be counted on the CLI,
    and the count is that of the same model built in Python."""
    import timm

    from ttfs_symbolic.energy import count_ops

    rc, out, err = run_cli(capsys, "energy", "vit_tiny_patch16_224", "--json", "--preset", "paper",
                           "--model-kwargs", "depth=2", "patch_size=8", "img_size=32")
    assert rc == 0, err
    d = json.loads(out)
    ref = count_ops(timm.create_model("vit_tiny_patch16_224", pretrained=False, depth=2, patch_size=8, img_size=32))
    assert (d["op_snn"], d["op_ann"], d["neurons"]) == (ref.op_snn, ref.op_ann, ref.neurons)
    assert sum(r["name"].endswith("attn.qkv") for r in d["layers"]) == 2
    rc, _, err = run_cli(capsys, "energy", "bert-base-uncased", "--model-kwargs", "depth=2")
    assert rc == 2 and "--model-kwargs is for timm image models" in err
    rc, _, err = run_cli(capsys, "energy", "vit_tiny_patch16_224", "--model-kwargs", "pretrained=True")
    assert rc == 2 and "refused" in err
