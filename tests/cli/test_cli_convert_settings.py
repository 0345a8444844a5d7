"""``ttfs convert``'s flags for every setting of a preset (rsqrt, codes, holdout, headroom, variance_end):
each reaches the converter (the file equals the library's calibrate with the same settings) and a bad
value is a one-line error naming the flag, before any work."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("timm")

from test_cli_model import KWARGS, N_IMAGES, NAME, _one_line_error, files, make_model, reference_images  # noqa: E402,F401

from ttfs_symbolic.cli import main  # noqa: E402

FLAGS = ["--rsqrt", "neuron", "--codes", "linear", "--holdout", "0", "--headroom", "1.5",
         "--variance-end", "calibrated"]


def test_every_preset_setting_reaches_the_converter(files, tmp_path):
    from ttfs_symbolic.conversion.convert import build_spiking, calibrate, preset_settings
    from ttfs_symbolic.conversion.distributed import CalibrationBatches
    from ttfs_symbolic.conversion.fileformat import conversion_dict

    conv = tmp_path / "conv.json"
    rc = main(["convert", NAME, "--checkpoint", str(files / "model.safetensors"), "--calib", str(files / "images"),
               "--out", str(conv), "--batch-size", "7", "--threads", "1", "--no-progress"] + FLAGS + KWARGS)
    assert rc == 0
    data = json.loads(conv.read_text())
    cal = data["calibration"]
    assert cal["images"] == N_IMAGES
    assert (cal["codes"], cal["holdout"], cal["headroom"], cal["variance_end"]) == ("linear", 0.0, 1.5, "calibrated")
    assert data["rsqrt"] == "neuron"
    x, _ = reference_images(files)
    snn = build_spiking(make_model())
    settings = preset_settings("accurate", snn, rsqrt="neuron", codes="linear", holdout=0.0, headroom=1.5,
                               variance_end="calibrated")
    calibrate(snn, CalibrationBatches(list(x.split(7)), snn), progress=False, preset="accurate", **settings)
    ref = json.loads(json.dumps(conversion_dict(snn)))
    assert data["layers"] == ref["layers"] and data["products"] == ref["products"]
    # the default (accurate: rsqrt folded, auto codes, holdout 0.2, the bound) gives another file
    default = preset_settings("accurate", snn)
    assert (default["rsqrt"], default["codes"], default["holdout"], default["variance_end"]) != \
        ("neuron", "linear", 0.0, "calibrated")


@pytest.mark.parametrize("flag,value,words", [
    ("--holdout", "0.6", ("--holdout must be a finite number in [0.0, 0.5]",)),
    ("--holdout", "nan", ("--holdout",)),
    ("--headroom", "0.5", ("--headroom must be a finite number in [1.0",)),
    ("--headroom", "inf", ("--headroom",)),
])
def test_bad_setting_is_a_one_line_error(files, tmp_path, capsys, flag, value, words):
    out = tmp_path / "c.json"
    args = ["convert", NAME, "--checkpoint", str(files / "model.pt"), "--calib", str(files / "images"),
            "--out", str(out), "--no-progress", flag, value] + KWARGS
    _one_line_error(capsys, args, *words)
    assert not out.exists()


@pytest.mark.parametrize("flag,value", [("--variance-end", "upper"), ("--codes", "log"), ("--rsqrt", "fused")])
def test_unknown_choice_is_refused_by_the_parser(files, tmp_path, capsys, flag, value):
    out = tmp_path / "c.json"
    with pytest.raises(SystemExit) as exc:   # argparse: usage, then one error line, exit 2
        main(["convert", NAME, "--checkpoint", str(files / "model.pt"), "--calib", str(files / "images"),
              "--out", str(out), "--no-progress", flag, value] + KWARGS)
    assert exc.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("ttfs convert: error: argument " + flag) and f"invalid choice: '{value}'" in last
    assert not out.exists()


def test_the_library_and_the_command_line_give_the_same_file_on_the_same_images(files, tmp_path):
    """ts.convert(model, images) and ttfs convert on the same images and batch size calibrate the same
    ranges, codes and product shifts: both seed each batch's samples by its number (stop 40 noted that the
    API drew from one stream, so a log-code shift could differ in a few layers)."""
    import ttfs_symbolic as ts
    from ttfs_symbolic.conversion.fileformat import conversion_dict

    conv = tmp_path / "conv.json"
    assert main(["convert", NAME, "--checkpoint", str(files / "model.safetensors"), "--calib", str(files / "images"),
                 "--out", str(conv), "--batch-size", "7", "--threads", "1", "--no-progress"] + KWARGS) == 0
    data = json.loads(conv.read_text())
    x, _ = reference_images(files)
    snn = ts.convert(make_model(), x, batch_size=7, progress=False)
    ref = json.loads(json.dumps(conversion_dict(snn)))
    assert data["layers"] == ref["layers"] and data["products"] == ref["products"]
    assert any(layer.get("code") == "log" for layer in ref["layers"].values())   # samples chose codes here


def test_precision_aware_calibration_from_the_command_line(files, tmp_path):
    """ttfs convert --precision P calibrates in two passes over the images, as ts.convert(..., precision=P)
    does, and writes the same file (a probe found every --precision refused: 'the calibration set is
    empty', its batches a generator read once)."""
    import ttfs_symbolic as ts
    from ttfs_symbolic.conversion.fileformat import conversion_dict

    conv = tmp_path / "conv.json"
    assert main(["convert", NAME, "--checkpoint", str(files / "model.safetensors"), "--calib", str(files / "images"),
                 "--out", str(conv), "--batch-size", "7", "--threads", "1", "--no-progress", "--precision", "64"]
                + KWARGS) == 0
    data = json.loads(conv.read_text())
    assert data["calibration"]["precision"] == 64 and data["calibration"]["images"] == N_IMAGES
    x, _ = reference_images(files)
    ref = json.loads(json.dumps(conversion_dict(ts.convert(make_model(), x, batch_size=7, precision=64,
                                                           progress=False))))
    assert data["layers"] == ref["layers"] and data["products"] == ref["products"]
