"""A value given twice in a list option is refused: `ttfs evaluate --precision 64,16,64` ran p = 64 twice
and wrote one report file for both while saying it wrote one per configuration."""
from __future__ import annotations

import pytest

from helpers import run_cli
from ttfs_symbolic.cli import checks


def test_check_unique_names_the_repeated_value():
    checks.check_unique([64, 16, 256], "--precision")
    with pytest.raises(ValueError, match="--precision names 64 twice"):
        checks.check_unique([64, 16, 64], "--precision")
    with pytest.raises(ValueError, match="--curve names 256 twice"):
        checks.check_precisions([256, 256], ["quantized"], "--curve")


def test_demo_refuses_a_repeated_precision_before_any_work(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "demo", "--precisions", "64,256,64", "--out", str(tmp_path / "o"))
    assert rc == 2 and "--precisions names 64 twice" in err, (out, err)
