"""A new user's first commands (a probe from a wheel): ``ttfs --help`` answers without loading torch, ``ttfs
verify`` leaves no hypothesis cache in the current folder, a failed ``ttfs budget`` leaves no empty --out
folder, and the help lines are those the subcommands register."""
from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import run_cli
from ttfs_symbolic.cli.main import HELP, build_parser


def test_top_level_help_loads_no_torch():
    code = ("import sys\nfrom ttfs_symbolic.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
            "    pass\nprint('TORCH' if 'torch' in sys.modules else 'NO TORCH')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True).stdout
    assert out.strip().endswith("NO TORCH")
    for name, line in HELP.items():
        assert name in out and line.split(":")[0][:30] in " ".join(out.split())


def test_every_subcommand_registers_the_help_line_the_top_level_shows():
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    assert {c.dest: c.help for c in sub._choices_actions} == HELP


def test_verify_keeps_hypothesis_out_of_the_current_folder(capsys, tmp_path, monkeypatch):
    from hypothesis.configuration import set_hypothesis_home_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HYPOTHESIS_STORAGE_DIRECTORY", raising=False)
    try:
        rc, out, err = run_cli(capsys, "verify", "relu", "--max-examples", "3")
    finally:
        set_hypothesis_home_dir(None)   # (the suite's own default again)
    assert rc == 0, err
    assert list(tmp_path.iterdir()) == []


def test_a_failed_budget_leaves_no_folder_it_made(capsys, tmp_path):
    out = tmp_path / "new" / "budget"
    rc, _, err = run_cli(capsys, "budget", "nosuch_model_xyz", "--out", str(out), "--no-progress")
    assert rc == 2 and "nosuch_model_xyz" in err
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    rc, _, _ = run_cli(capsys, "budget", "nosuch_model_xyz", "--out", str(kept), "--no-progress")
    assert rc == 2 and kept.is_dir()   # a folder that was there stays


@pytest.mark.parametrize("text, words", [
    ('name = "am"\nf = "x**2"\naggregate = "max"\n', "aggregate = \"max\" emits the earliest input's value"),
    ('name = "r"\nf = "x"\noutput_range = [-inf, inf]\n', "'output_range' must be finite numbers"),
    ('name = "r"\nf = "x"\nrange = [nan, 1.0]\n', "'range' must be finite numbers"),
])
def test_a_definition_file_names_its_fault(capsys, tmp_path, text, words):
    f = tmp_path / "n.toml"
    f.write_text(text)
    rc, _, err = run_cli(capsys, "verify", str(f))
    assert rc == 2 and str(f) in err and words in err


def test_a_file_that_is_not_utf8_or_missing_is_named(capsys, tmp_path):
    f = tmp_path / "bad.toml"
    f.write_bytes(b'name = "a\xff"\n')
    rc, _, err = run_cli(capsys, "verify", str(f))
    assert rc == 2 and f"{f}: not UTF-8 text" in err
    rc, _, err = run_cli(capsys, "verify", str(tmp_path / "mish.toml"))
    assert rc == 2 and "(the catalogue's neuron of that name is `ttfs verify mish`)" in err


@pytest.mark.parametrize("args, words", [
    (("x*k", "--range", "0", "1", "--param", "k=2", "--param", "kk=1", "--no-page"),
     "--param kk: no formula given uses it"),
    (("x", "--range", "0", "1", "--no-page", "--out", "a.md", "--title", "T"),
     "--out, --title name the page, which --no-page does not write"),
])
def test_derive_refuses_options_it_would_ignore(capsys, tmp_path, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_cli(capsys, "derive", *args)
    assert rc == 2 and out == "" and err == f"ttfs derive: error: {words}\n"
    assert list(tmp_path.iterdir()) == []


MK = ["--model-kwargs", "img_size=32", "patch_size=8", "embed_dim=32", "depth=1", "num_heads=2", "num_classes=4"]


@pytest.fixture(scope="module")
def tensor_files(tmp_path_factory):
    import timm
    import torch

    root = tmp_path_factory.mktemp("tensors")
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=1,
                              num_heads=2, num_classes=4)
    torch.save(model.state_dict(), root / "model.pt")
    x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    torch.save({"images": x, "labels": torch.tensor([0, 1, 2, 3, 0, 1])}, root / "data.pt")
    return root


def test_tensor_files_take_no_preprocessing_flags_and_record_none(capsys, tmp_path, tensor_files):
    import json

    base = ["convert", "vit_tiny_patch16_224", "--checkpoint", str(tensor_files / "model.pt"), "--calib",
            str(tensor_files / "data.pt"), "--no-progress", *MK]
    rc, _, err = run_cli(capsys, *base, "--out", str(tmp_path / "a.json"), "--mean", "0.1")
    assert rc == 2 and "--mean preprocesses the images of a folder" in err and "is a tensor file" in err
    assert not (tmp_path / "a.json").exists()
    rc, _, err = run_cli(capsys, *base, "--out", str(tmp_path / "b.json"))
    assert rc == 0, err
    assert json.loads((tmp_path / "b.json").read_text())["preprocessing"] is None
    # evaluated on the same tensors: no preprocessing warning
    rc, _, err = run_cli(capsys, "evaluate", "vit_tiny_patch16_224", "--checkpoint", str(tensor_files / "model.pt"),
                         "--conversion", str(tmp_path / "b.json"), "--data", str(tensor_files / "data.pt"),
                         "--modes", "exact", "--out", str(tmp_path / "e"), "--no-progress", *MK)
    assert rc == 0, err
    assert "preprocess" not in err


def test_convert_checks_where_it_will_write_before_any_work(capsys, tmp_path, tensor_files):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    rc, out, err = run_cli(capsys, "convert", "vit_tiny_patch16_224", "--checkpoint", str(tensor_files / "model.pt"),
                           "--calib", str(tensor_files / "data.pt"), "--out", str(blocker / "c.json"),
                           "--no-progress", *MK)
    assert rc == 2 and "calibrating" not in out + err.split("error:")[0]
    assert err.strip().endswith(f"--out {blocker / 'c.json'}: {blocker} is a file, not a folder")


def test_evaluate_clip_rate_is_the_librarys_and_names_the_layers(capsys, tmp_path, tensor_files):
    """The command line's clip rate is evaluate()'s (neurons checked in the run; a probe found it 5x lower, over
    every neuron counter), it warns naming the worst layers, and reports of an earlier run's configurations
    are removed rather than left beside a report.json that does not list them."""
    import json

    import timm
    import torch

    import ttfs_symbolic as ts

    conv = tmp_path / "c.json"
    rc, _, err = run_cli(capsys, "convert", "vit_tiny_patch16_224", "--checkpoint", str(tensor_files / "model.pt"),
                         "--calib", str(tensor_files / "data.pt"), "--limit", "1", "--out", str(conv), "--no-progress",
                         *MK)
    assert rc == 0, err
    ev = ["evaluate", "vit_tiny_patch16_224", "--checkpoint", str(tensor_files / "model.pt"), "--conversion",
          str(conv), "--data", str(tensor_files / "data.pt"), "--out", str(tmp_path / "e"), "--no-progress", *MK]
    rc, _, err = run_cli(capsys, *ev, "--modes", "exact,quantized", "--precision", "64")
    assert rc == 0, err
    assert "ttfs evaluate: warning: exact: " in err and "worst layers: " in err
    cli_rate = json.loads((tmp_path / "e" / "report_exact.json").read_text())["clip_rate"]
    model = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2,
                              num_classes=4)
    model.load_state_dict(torch.load(tensor_files / "model.pt"))
    data = torch.load(tensor_files / "data.pt")
    report = ts.evaluate(ts.load_conversion(model.eval(), conv), model, data["images"], data["labels"], mode="exact",
                         dtype=torch.float64, progress=False, warn=False)
    assert cli_rate > 0 and cli_rate == pytest.approx(report.clip_rate, rel=1e-12)
    rc, _, err = run_cli(capsys, *ev, "--modes", "exact")
    assert rc == 0, err
    assert sorted(f.name for f in (tmp_path / "e").glob("report_*.json")) == ["report_exact.json"]
    assert "removed 1 per-configuration report(s) of an earlier run" in err
