"""``ttfs convert`` / ``ttfs evaluate`` on a user's own model, checkpoint and images (issue 14).

A tiny timm ViT (img_size 32, patch 8, width 32, depth 1, 2 heads, 3 classes)
with a checkpoint written here and an image folder of 30 PNGs (3 class
folders) generated here; the CLI is driven in-process through
``cli.main`` and, for two processes, through ``torchrun`` (gloo on
127.0.0.1). Errors are checked to be one line, exit code 2.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

timm = pytest.importorskip("timm")

from ttfs_symbolic.cli import main  # noqa: E402
from ttfs_symbolic.data.files import (DataError, load_checkpoint, parse_model_kwargs,  # noqa: E402
                                      shard_batches)

NAME = "vit_tiny_patch16_224"
KW = dict(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=3)
KWARGS = ["--model-kwargs"] + [f"{k}={v}" for k, v in KW.items()]
N_IMAGES = 30


def make_model(seed=0):
    torch.manual_seed(seed)
    return timm.create_model(NAME, pretrained=False, **KW).eval()


def write_pngs(root: Path, per_class: int = 10, size: int = 40):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(3):
        d = root / f"class_{c}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            a[..., c] = 230   # some class signal
            Image.fromarray(a).save(d / f"img_{i:02d}.png")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("cli_model")
    ann = make_model()
    save_file(ann.state_dict(), str(root / "model.safetensors"))
    torch.save(ann.state_dict(), root / "model.pt")
    write_pngs(root / "images")
    threads = torch.get_num_threads()
    yield root
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def converted(files):
    conv = files / "conv.json"
    rc = main(["convert", NAME, "--checkpoint", str(files / "model.safetensors"), "--calib", str(files / "images"),
               "--out", str(conv), "--margin", "0.1", "--batch-size", "7", "--threads", "1", "--no-progress",
               "--range-kind", "channel", "--residual", "synapses"] + KWARGS)
    assert rc == 0
    return conv


@pytest.fixture(scope="module")
def evaluated(files, converted):
    out = files / "eval1"
    rc = main(["evaluate", NAME, "--checkpoint", str(files / "model.pt"), "--conversion", str(converted),
               "--data", str(files / "images"), "--modes", "exact,quantized,kernel", "--precision", "64,1024",
               "--batch-size", "8", "--threads", "1", "--no-progress", "--out", str(out)] + KWARGS)
    assert rc == 0
    return out


def reference_images(files):
    """The folder through timm's own transform, built here independently of the CLI."""
    from PIL import Image
    from timm.data import create_transform

    t = create_transform(input_size=(3, 32, 32), interpolation="bicubic", mean=(0.5,) * 3, std=(0.5,) * 3,
                         crop_pct=0.9, is_training=False)
    xs, ys = [], []
    for c, d in enumerate(sorted((files / "images").iterdir())):
        for p in sorted(d.iterdir()):
            xs.append(t(Image.open(p).convert("RGB")))
            ys.append(c)
    return torch.stack(xs), torch.tensor(ys)


def test_convert_writes_the_ranges_of_the_library_converter(files, converted):
    """The CLI's file = the library's calibrate on the same batches (each seeded by its number)."""
    from ttfs_symbolic.conversion.convert import build_spiking, calibrate, preset_settings
    from ttfs_symbolic.conversion.fileformat import conversion_dict
    from ttfs_symbolic.conversion.distributed import CalibrationBatches

    data = json.loads(converted.read_text())
    cal = data["calibration"]
    assert (cal["images"], cal["margin"], cal["range_kind"]) == (N_IMAGES, 0.1, "channel")
    assert data["preprocessing"]["input_size"] == [3, 32, 32]   # the model's size, not the pretrained cfg's 224
    x, _ = reference_images(files)
    snn = build_spiking(make_model())
    # the CLI's default preset (accurate) with its --range-kind and --residual on top
    calibrate(snn, CalibrationBatches(list(x.split(7)), snn), margin=0.1, progress=False, preset="accurate",
              **preset_settings("accurate", snn, range_kind="channel", residual="synapses"))
    ref = json.loads(json.dumps(conversion_dict(snn)))
    assert data["layers"] == ref["layers"] and data["products"] == ref["products"]
    assert data["residual"] == ref["residual"] == "synapses"   # --residual reached the converter
    assert any(isinstance(v["a"], list) for v in data["layers"].values())   # per-channel ranges were made


def test_evaluate_reports_every_mode_and_precision(files, evaluated, capsys):
    rep = json.loads((evaluated / "report.json").read_text())
    assert rep["images"] == N_IMAGES and rep["labels"] and rep["classes"] == ["class_0", "class_1", "class_2"]
    got = [(r["mode"], r["precision"]) for r in rep["results"]]
    assert got == [("exact", None), ("quantized", 64), ("quantized", 1024), ("kernel", 64), ("kernel", 1024)]
    ann = make_model()
    x, y = reference_images(files)
    with torch.no_grad():
        ann_acc = int((ann.double()(x.double()).argmax(-1) == y).sum()) / len(y)
    exact = rep["results"][0]
    assert exact["ann_accuracy"] == pytest.approx(ann_acc, abs=1e-12)
    assert exact["agreement"] == 1.0 and exact["max_logit_rel_error"] <= 1e-9
    assert exact["snn_accuracy"] == exact["ann_accuracy"]
    for r in rep["results"]:
        assert r["images"] == N_IMAGES and 0 < r["spikes_per_neuron"] <= 1 and r["energy_snn_mj"] > 0
        assert 0 <= r["clip_rate"] <= 1
        assert (evaluated / f"report_{r['mode']}{'' if r['precision'] is None else '_p%d' % r['precision']}.json"
                ).exists()
    # coarse time precision loses more than fine precision (Figure 4)
    q = {r["precision"]: r for r in rep["results"] if r["mode"] == "quantized"}
    assert q[64]["max_logit_error"] > q[1024]["max_logit_error"]
    assert (evaluated / "accuracy_vs_precision.png").stat().st_size > 1000


def test_tensor_file_with_labels_gives_the_folder_results(files, converted, tmp_path):
    x, y = reference_images(files)
    torch.save({"images": x, "labels": y}, tmp_path / "data.pt")
    np.save(tmp_path / "data.npy", x.numpy())
    for data, labelled in (("data.pt", True), ("data.npy", False)):
        rc = main(["evaluate", NAME, "--checkpoint", str(files / "model.pt"), "--conversion", str(converted),
                   "--data", str(tmp_path / data), "--modes", "exact", "--limit", "20", "--no-progress",
                   "--out", str(tmp_path / data)[:-3]] + KWARGS)
        assert rc == 0
        rep = json.loads((tmp_path / data[:-3] / "report.json").read_text())
        assert rep["images"] == 20 and rep["labels"] is labelled
        assert (rep["results"][0]["ann_accuracy"] is None) is (not labelled)


def test_each_configurations_report_file_has_the_summarys_clip_rate(files, converted, tmp_path):
    """Images 30x brighter than the calibration's drive neurons past their ranges: every configuration's
    report_<mode>[_p<p>].json gives the clip rate of report.json's row for it, and it is not 0 (the fifth
    blind mutation audit's survivor: the per-configuration files gave 0)."""
    x, y = reference_images(files)
    torch.save({"images": 30.0 * x[:12], "labels": y[:12]}, tmp_path / "bright.pt")
    out = tmp_path / "bright"
    rc = main(["evaluate", NAME, "--checkpoint", str(files / "model.pt"), "--conversion", str(converted),
               "--data", str(tmp_path / "bright.pt"), "--modes", "exact,quantized", "--precision", "64",
               "--no-progress", "--out", str(out)] + KWARGS)
    assert rc == 0
    rows = json.loads((out / "report.json").read_text())["results"]
    assert [(r["mode"], r["precision"]) for r in rows] == [("exact", None), ("quantized", 64)]
    for r in rows:
        name = f"report_{r['mode']}{'' if r['precision'] is None else '_p%d' % r['precision']}.json"
        assert r["clip_rate"] > 0
        assert json.loads((out / name).read_text())["clip_rate"] == r["clip_rate"], name


def test_flat_folder_has_no_labels(files, converted, tmp_path):
    import shutil

    flat = tmp_path / "flat"
    shutil.copytree(files / "images" / "class_2", flat)
    rc = main(["evaluate", NAME, "--checkpoint", str(files / "model.pt"), "--conversion", str(converted),
               "--data", str(flat), "--modes", "exact,quantized", "--precision", "128", "--no-progress",
               "--out", str(tmp_path / "out")] + KWARGS)
    assert rc == 0
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rep["images"] == 10 and rep["labels"] is False and rep["classes"] is None
    assert all(r["ann_accuracy"] is None and r["snn_accuracy"] is None for r in rep["results"])
    assert rep["results"][0]["agreement"] == 1.0
    assert (tmp_path / "out" / "accuracy_vs_precision.png").exists()   # agreement against p


def test_a_subset_of_the_classes_is_warned_about(files, converted, tmp_path, capsys):
    """Folders class_1/ and class_2/ alone are labelled 0 and 1, not the calibration folder's 1 and 2."""
    import shutil

    for c in ("class_1", "class_2"):
        shutil.copytree(files / "images" / c, tmp_path / "subset" / c)
    for data, warned in ((tmp_path / "subset", True), (files / "images", False)):
        capsys.readouterr()
        rc = main(["evaluate", NAME, "--checkpoint", str(files / "model.pt"), "--conversion", str(converted),
                   "--data", str(data), "--modes", "exact", "--limit", "6", "--no-progress",
                   "--out", str(tmp_path / f"out_{warned}")] + KWARGS)
        assert rc == 0
        err = capsys.readouterr().err
        assert ("number their labels otherwise" in err) is warned, err
        if warned:
            assert "class_1 -> 0 (calibration: 1)" in err and "class_2 -> 1 (calibration: 2)" in err


def _nearly_equal(x, y, rtol=1e-12) -> bool:
    """Equal structure and non-float values; floats within rtol (relative to max(1, |x|))."""
    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(_nearly_equal(x[k], y[k], rtol) for k in x)
    if isinstance(x, list):
        return isinstance(y, list) and len(x) == len(y) and all(_nearly_equal(u, v, rtol) for u, v in zip(x, y))
    if isinstance(x, float) and isinstance(y, float):
        return abs(x - y) <= rtol * max(1.0, abs(x))
    return x == y


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(args, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), "-m", "ttfs_symbolic"] + args
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def test_two_processes_give_the_ranges_and_metrics_of_one(files, converted, evaluated):
    """torchrun with 2 gloo ranks: the conversion file and the metrics of one process.

    30 images in batches of 7 (calibration: ranks get 3 and 2 batches) and of
    8 (evaluation: the last batch has 6): N does not divide the data.
    Calibration: layer ranges and product shifts exactly those of one
    process; per-channel ranges within float64 rounding (their mean +- sigmas
    std comes from sums over ranks). Evaluation of the same file: each image
    is evaluated in the same batch as in one process (batch k goes to rank k
    mod N), so every number is bitwise that of one process, in every mode;
    the test asserts it for all rows.
    """
    repo = Path(__file__).resolve().parents[2]
    conv2 = files / "conv2.json"
    _torchrun(["convert", NAME, "--checkpoint", str(files / "model.safetensors"), "--calib", str(files / "images"),
               "--out", str(conv2), "--margin", "0.1", "--batch-size", "7", "--no-progress",
               "--range-kind", "channel", "--residual", "synapses"] + KWARGS, repo)
    one, two = json.loads(converted.read_text()), json.loads(conv2.read_text())
    assert one["residual"] == two["residual"] == "synapses"
    assert two["calibration"]["world_size"] == 2 and two["calibration"]["images"] == N_IMAGES
    assert one["products"] == two["products"]    # shifts chosen from the samples merged in batch order
    # ranges from minima and maxima are exact; those that depend on per-channel means +- sigmas std
    # (sums over ranks, so float64 rounding of the summation order) agree to 1e-12 (docs/guide/own_model.md)
    assert _nearly_equal(one["layers"], two["layers"])
    exact = [n for n, e in one["layers"].items() if e == two["layers"][n]]
    assert "input" in exact and len(exact) >= 10
    assert any(isinstance(e["a"], list) for e in one["layers"].values())
    # evaluation of the same conversion file: every number bitwise that of one process
    out2 = files / "eval2"
    res = _torchrun(["evaluate", NAME, "--checkpoint", str(files / "model.pt"), "--conversion", str(converted),
                     "--data", str(files / "images"), "--modes", "exact,quantized,kernel", "--precision", "64,1024",
                     "--batch-size", "8", "--out", str(out2)] + KWARGS, repo)
    assert res.stdout.count("images") >= 1 and res.stdout.count("wrote ") == 1   # rank 0 alone prints
    r1 = json.loads((evaluated / "report.json").read_text())
    r2 = json.loads((out2 / "report.json").read_text())
    assert r2["world_size"] == 2 and r2["images"] == N_IMAGES
    assert r1["results"] == r2["results"]
    for f in evaluated.glob("report_*.json"):
        assert json.loads(f.read_text()) == json.loads((out2 / f.name).read_text()), f.name


# ------------------------------------------------------------------ pieces
@pytest.mark.parametrize("n,batch,world", [(30, 8, 2), (30, 7, 2), (5, 2, 4), (1, 4, 3), (0, 3, 2), (100, 9, 7)])
def test_sharding_counts_every_image_once(n, batch, world):
    seen = [i for r in range(world) for b in shard_batches(n, batch, r, world) for i in b]
    assert sorted(seen) == list(range(n))
    # and each rank's batches are batches of one process
    single = [list(b) for b in shard_batches(n, batch)]
    assert sorted(list(b) for r in range(world) for b in shard_batches(n, batch, r, world)) == sorted(single)


def test_model_kwargs_are_literals_never_code(tmp_path):
    marker = tmp_path / "pwned"
    kw = parse_model_kwargs(["num_classes=3", "img_size=(32, 32)", "global_pool=avg", "drop_rate=0.1",
                             f"x=__import__('os').system('touch {marker}')"])
    assert kw["num_classes"] == 3 and kw["img_size"] == (32, 32) and kw["global_pool"] == "avg"
    assert isinstance(kw["x"], str) and not marker.exists()
    with pytest.raises(DataError, match="key=value"):
        parse_model_kwargs(["depth"])


def test_checkpoint_mismatch_names_the_keys(files):
    other = timm.create_model(NAME, pretrained=False, **dict(KW, depth=2, num_classes=5))
    with pytest.raises(DataError) as e:
        load_checkpoint(other, files / "model.safetensors")
    msg = str(e.value)
    assert "missing keys: blocks.1." in msg and "head.weight (checkpoint (3, 32), model (5, 32))" in msg
    assert "\n" not in msg


def _one_line_error(capsys, args, *words):
    rc = main(args)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    last = err.splitlines()[-1]
    assert "Traceback" not in err and last.startswith(f"ttfs {args[0]}: error:"), err
    for w in words:
        assert w in last, last
    return last


def test_bad_input_is_a_one_line_error(files, converted, tmp_path, capsys):
    base = ["convert", NAME, "--checkpoint", str(files / "model.pt"), "--out", str(tmp_path / "c.json"),
            "--no-progress"]
    (tmp_path / "empty").mkdir()
    _one_line_error(capsys, base + ["--calib", str(tmp_path / "empty")] + KWARGS, "no images in")
    _one_line_error(capsys, base + ["--calib", str(tmp_path / "nothing")] + KWARGS, "does not exist")
    _one_line_error(capsys, base + ["--calib", str(files / "images"), "--model-kwargs", "img_size=32",
                                    "patch_size=8", "embed_dim=32", "depth=2", "num_heads=2", "num_classes=3"],
                    "does not match the model", "missing keys: blocks.1.")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    _one_line_error(capsys, ["convert", NAME, "--checkpoint", str(tmp_path / "junk.pt"), "--calib",
                             str(files / "images"), "--out", str(tmp_path / "c.json")] + KWARGS,
                    "cannot read checkpoint")
    # a conversion file of another architecture (4 heads instead of 2: the same weights' shapes)
    ev = ["evaluate", NAME, "--checkpoint", str(files / "model.pt"), "--conversion", str(converted), "--data",
          str(files / "images"), "--out", str(tmp_path / "e"), "--no-progress", "--modes", "exact"]
    _one_line_error(capsys, ev + ["--model-kwargs"] + [f"{k}={v}" for k, v in dict(KW, num_heads=4).items()],
                    "made for another architecture", "num_heads")
    (tmp_path / "x.json").write_text("{not json")
    _one_line_error(capsys, [a if a != str(converted) else str(tmp_path / "x.json") for a in ev] + KWARGS,
                    "x.json: not a conversion file: invalid JSON")   # the schema reader (issue 12)
    _one_line_error(capsys, ev + KWARGS + ["--modes", "fast"], "unknown mode 'fast'")


def test_activation_flag_reaches_convert_and_evaluate(files, tmp_path, capsys):
    """``--activation NAME=FORMULA`` (the registry's flag) is recorded by convert and checked by evaluate."""
    pytest.importorskip("ttfs_symbolic.conversion.activations")
    conv = tmp_path / "c.json"
    gelu = "GELU=x*(1+erf(x/sqrt(2)))/2"
    base = ["--checkpoint", str(files / "model.pt"), "--no-progress", "--limit", "8"] + KWARGS
    assert main(["convert", NAME, "--calib", str(files / "images"), "--out", str(conv), "--activation", gelu]
                + base) == 0
    saved = json.loads(conv.read_text())["activations"]
    assert any("erf" in json.dumps(v) for v in saved.values())
    ev = ["evaluate", NAME, "--conversion", str(conv), "--data", str(files / "images"), "--modes", "exact",
          "--out", str(tmp_path / "e")] + base
    assert main(ev + ["--activation", gelu]) == 0
    _one_line_error(capsys, ev + ["--activation", "GELU=x*tanh(x)"], "x*tanh(x)")


def test_corrupt_image_error_names_it_or_is_skipped_and_counted(files, converted, tmp_path, capsys):
    import shutil

    folder = tmp_path / "images"
    shutil.copytree(files / "images", folder)
    bad = folder / "class_1" / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    ev = ["evaluate", NAME, "--checkpoint", str(files / "model.pt"), "--conversion", str(converted), "--data",
          str(folder), "--out", str(tmp_path / "e"), "--no-progress", "--modes", "exact"] + KWARGS
    _one_line_error(capsys, ev, "cannot decode image", str(bad), "--skip-corrupt")
    assert main(ev + ["--skip-corrupt"]) == 0
    rep = json.loads((tmp_path / "e" / "report.json").read_text())
    assert rep["images"] == N_IMAGES and rep["skipped"] == 1 and rep["skipped_paths"] == [str(bad)]


def test_a_backbone_is_evaluated_by_its_features_and_its_labels_are_skipped(files, tmp_path, capsys):
    """num_classes=0 (a feature model, as DINOv2 is used): the class folder's labels are not compared with the
    features' argmax; the report compares features (nearest-item agreement, cosine) and says so."""
    from safetensors.torch import save_file

    kwargs = ["--model-kwargs"] + [f"{k}={v}" for k, v in {**KW, "num_classes": 0}.items()]
    torch.manual_seed(0)
    save_file(timm.create_model(NAME, pretrained=False, **{**KW, "num_classes": 0}).state_dict(),
              str(tmp_path / "backbone.safetensors"))
    conv, out = tmp_path / "conv.json", tmp_path / "eval"
    common = ["--checkpoint", str(tmp_path / "backbone.safetensors"), "--threads", "1", "--no-progress"] + kwargs
    assert main(["convert", NAME, "--calib", str(files / "images"), "--out", str(conv), "--margin", "0.1"]
                + common) == 0
    assert main(["evaluate", NAME, "--conversion", str(conv), "--data", str(files / "images"), "--modes",
                 "exact,quantized", "--precision", "64", "--out", str(out)] + common) == 0
    captured = capsys.readouterr()
    assert "were not compared" in captured.err and "nearest-item agreement" in captured.out
    rep = json.loads((out / "report.json").read_text())
    assert rep["labels"] is False and rep["labels_ignored"] is True
    exact, quant = rep["results"]
    assert exact["outputs"] == quant["outputs"] == "features"
    assert exact["ann_accuracy"] is None and quant["snn_accuracy"] is None
    assert exact["agreement"] == 1.0 and exact["min_cosine"] > 1 - 1e-9 and exact["rel_error"] < 1e-9
    assert 0.0 <= quant["agreement"] <= 1.0 and quant["rel_error"] > exact["rel_error"]
