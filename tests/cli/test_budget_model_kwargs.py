"""``ttfs budget MODEL --model-kwargs ...`` builds the timm model it budgets as ``ttfs convert`` does (stop 40
noted that the budget ran only on the bundled and named models), and refuses the flag for the bundled
models, whose architecture is their own, before any work."""
from __future__ import annotations

import json

import pytest

from helpers import run_cli

SMALL = ["img_size=28", "patch_size=7", "embed_dim=32", "depth=1", "num_heads=2", "num_classes=4"]


def test_budget_builds_the_model_its_kwargs_describe(capsys, tmp_path):
    out = tmp_path / "b"
    rc, stdout, err = run_cli(capsys, "budget", "vit_tiny_patch16_224", "--model-kwargs", *SMALL, "--calib", "6",
                              "--inputs", "2", "--precision", "64", "--curve", "64", "--out", str(out),
                              "--no-progress")
    assert rc == 0, err
    layers = [n for g in json.loads((out / "budget.json").read_text())["groups"].values() for n in g["layers"]]
    assert "blocks.0.attn.qk.layer1" in layers                  # depth=1: one block, not the named model's 12
    assert not any(n.startswith("blocks.1.") for n in layers)
    assert "2 inputs" in stdout


@pytest.mark.parametrize("args, words", [
    (("digits", "--model-kwargs", "depth=2"), "--model-kwargs builds a timm model; digits is a bundled trained "
                                               "model of its own architecture"),
    (("vit_tiny_patch16_224", "--model-kwargs", "pretrained=True"), "--model-kwargs pretrained=... is refused"),
    (("vit_tiny_patch16_224", "--model-kwargs", "depth"), "--model-kwargs expects key=value pairs, got 'depth'"),
])
def test_budget_refuses_model_kwargs_it_cannot_use_before_any_work(capsys, tmp_path, args, words):
    out = tmp_path / "b"
    rc, stdout, err = run_cli(capsys, "budget", *args, "--out", str(out), "--no-progress")
    assert rc == 2 and stdout == ""
    assert err.startswith(f"ttfs budget: error: {words}") and err.count("\n") == 1
    assert not out.exists()


def test_budget_names_a_model_kwarg_timm_does_not_take(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "budget", "vit_tiny_patch16_224", "--model-kwargs", "no_such_setting=3",
                         "--out", str(tmp_path / "b"), "--no-progress")
    assert rc == 2
    assert err.startswith("ttfs budget: error: cannot create vit_tiny_patch16_224 with --model-kwargs "
                          "no_such_setting=3") and err.count("\n") == 1
