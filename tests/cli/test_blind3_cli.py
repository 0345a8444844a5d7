"""``ttfs derive --output-range`` and ``ttfs evaluate``'s preprocessing warning as a user sees them
(the third blind mutation audit's survivors, docs/mutation.md)."""
from __future__ import annotations

import json

import pytest

from helpers import run_cli

pytest.importorskip("timm")   # a dependency of the package; the evaluate tests use the tiny timm ViT

import test_cli_model  # noqa: E402

from ttfs_symbolic.cli import main  # noqa: E402

KWARGS, NAME = test_cli_model.KWARGS, test_cli_model.NAME
files = test_cli_model.files   # the module fixture: the tiny ViT, its checkpoint (.pt, .safetensors), 30 PNGs

OUTPUT_RANGE_ONLY_WITH_BOTH = "--output-range applies only when both f and --output H are given"


@pytest.mark.parametrize("formula", [["x**2"], ["--output", "log(x)"]])
def test_output_range_without_both_transforms_is_refused(capsys, tmp_path, formula):
    """``ttfs derive F --range A B --output-range C D`` without ``--output`` (or ``--output H`` without F) exits 2
    with one line naming --output-range, instead of deriving and silently ignoring the output range."""
    page = tmp_path / "page.md"
    rc, out, err = run_cli(capsys, "derive", *formula, "--range", "0.5", "4", "--output-range", "-1", "1",
                           "--out", str(page), "--no-plot")
    assert rc == 2 and out == ""
    assert err == f"ttfs derive: error: {OUTPUT_RANGE_ONLY_WITH_BOTH}\n"
    assert not page.exists()


def test_output_range_with_both_transforms_is_accepted(capsys):
    """The same flag with both f and --output H is what it is for: the derivation runs (exit 0)."""
    rc, out, err = run_cli(capsys, "derive", "x", "--output", "x", "--range", "0", "1", "--output-range", "0", "2",
                           "--no-page")
    assert rc == 0, err
    assert "[a, b] = [0, 2]" in out


# ---- ttfs evaluate: the warning when the evaluation's preprocessing is not the calibration's ----------------
WARNING = "ttfs evaluate: warning: preprocessing differs from the calibration's"


@pytest.fixture(scope="module")
def small_conversion(files):
    """A conversion file of the tiny ViT calibrated on the first 6 images, default preprocessing."""
    conv = files / "blind3_conv.json"
    rc = main(["convert", NAME, "--checkpoint", str(files / "model.safetensors"), "--calib", str(files / "images"),
               "--out", str(conv), "--limit", "6", "--batch-size", "6", "--threads", "1", "--no-progress"] + KWARGS)
    assert rc == 0
    return conv


def _evaluate(capsys, files, conv, out, *extra):
    rc, stdout, err = run_cli(capsys, "evaluate", NAME, "--checkpoint", str(files / "model.pt"), "--conversion",
                              str(conv), "--data", str(files / "images"), "--limit", "3", "--modes", "exact",
                              "--batch-size", "3", "--threads", "1", "--no-progress", "--out", str(out),
                              *KWARGS, *extra)
    assert rc == 0, err
    return err, json.loads((out / "report.json").read_text())


def test_evaluate_with_the_calibration_preprocessing_does_not_warn(files, small_conversion, tmp_path, capsys):
    """``ttfs evaluate`` with the preprocessing the conversion was calibrated with prints no warning."""
    saved = json.loads(small_conversion.read_text())["preprocessing"]
    err, rep = _evaluate(capsys, files, small_conversion, tmp_path / "same")
    assert rep["preprocessing"] == saved
    assert "warning" not in err and "preprocessing differs" not in err


@pytest.mark.parametrize("flags, keys", [(("--mean", "0.4"), "mean"),
                                         (("--std", "0.25", "--crop-pct", "1.0"), "crop_pct, std")])
def test_evaluate_with_other_preprocessing_warns_naming_what_differs(files, small_conversion, tmp_path, capsys,
                                                                     flags, keys):
    """``ttfs evaluate`` with another --mean / --std / --crop-pct than the calibration's warns on stderr, naming
    the keys that differ (sorted), and still evaluates (exit 0)."""
    saved = json.loads(small_conversion.read_text())["preprocessing"]
    err, rep = _evaluate(capsys, files, small_conversion, tmp_path / "other", *flags)
    assert rep["preprocessing"] != saved
    assert f"{WARNING} in {keys}\n" in err
