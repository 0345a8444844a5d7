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
