"""The demo model: digits split, shipped checkpoint, training smoke test."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits as sk_digits

from ttfs_symbolic.zoo import digits as D

N_DIGITS = 1797  # size of scikit-learn's digits data set


@pytest.fixture(scope="module")
def sk():
    return sk_digits()


@pytest.fixture(scope="module")
def demo():
    return D.load_demo_model()


@pytest.fixture(scope="module")
def meta():
    return D.load_demo_metadata()


# ------------------------------------------------------------------ split

def test_split_is_deterministic_disjoint_and_complete(sk):
    a, b = D.split_indices(), D.split_indices()
    for name in D.SPLITS:
        np.testing.assert_array_equal(a[name], b[name])
    sets = {k: set(v.tolist()) for k, v in a.items()}
    assert all(len(sets[k]) == len(a[k]) for k in sets), "duplicate index inside a split"
    assert not sets["train"] & sets["calib"]
    assert not sets["train"] & sets["test"]
    assert not sets["calib"] & sets["test"]
    assert sets["train"] | sets["calib"] | sets["test"] == set(range(N_DIGITS))
    # 70/10/20 up to the rounding of train_test_split (at most one sample per split)
    assert abs(len(a["test"]) - 0.2 * N_DIGITS) <= 1
    assert abs(len(a["calib"]) - 0.1 * N_DIGITS) <= 1
    # stratified: each class's share in every split within 1.5 samples of its share overall
    y = sk.target
    for name, idx in a.items():
        for c in range(10):
            expected = np.mean(y == c) * len(idx)
            assert abs(np.sum(y[idx] == c) - expected) <= 1.5, (name, c)


@pytest.mark.parametrize("split", D.SPLITS)
def test_load_digits_shapes_dtypes_ranges(split, sk):
    x, y = D.load_digits(split)
    idx = D.split_indices()[split]
    assert x.shape == (len(idx), 1, 8, 8) and x.dtype == torch.float32
    assert y.shape == (len(idx),) and y.dtype == torch.int64
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    # normalization is pixel / 16, the images are the sklearn images at the split's indices
    np.testing.assert_array_equal(x[:, 0].numpy(), (sk.images[idx] / 16.0).astype(np.float32))
    np.testing.assert_array_equal(y.numpy(), sk.target[idx])
    assert set(y.tolist()) == set(range(10))


def test_load_digits_resize_and_bad_input():
    x, _ = D.load_digits("calib", img_size=16)
    assert x.shape[1:] == (1, 16, 16) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    with pytest.raises(ValueError, match="unknown digits split 'val'"):
        D.load_digits("val")
    with pytest.raises(ValueError, match="img_size must be a positive integer"):
        D.load_digits("test", img_size=0)


# ----------------------------------------------------------- shipped model

def test_checkpoint_matches_its_record(meta):
    pt = D.default_checkpoint_path()
    assert pt.is_file()
    assert D.sha256_file(pt) == meta["sha256"]
    assert pt.stat().st_size == meta["bytes"] < 2 * 1024 * 1024
    assert meta["config"] == json.loads(json.dumps(D.DIGITS_CONFIG))
    state = torch.load(pt, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float32 for v in state.values())


def test_demo_model_loads_in_eval_mode(demo):
    from timm.models.vision_transformer import VisionTransformer

    assert isinstance(demo, VisionTransformer) and not demo.training
    assert all(not m.training for m in demo.modules())
    assert demo.patch_embed.num_patches == (D.DIGITS_CONFIG["img_size"] // D.DIGITS_CONFIG["patch_size"]) ** 2
    assert demo.global_pool == "token" and demo.cls_token is not None


def test_recorded_test_accuracy_is_reproduced(demo, meta):
    x, y = D.load_digits("test")
    correct, acc = D.accuracy(demo, x, y)
    # exact: same count of correct test images as recorded at training time
    assert correct == meta["test_correct"]
    assert x.shape[0] == meta["test_total"]
    assert acc == meta["test_accuracy"]
    assert acc >= 0.95


def test_unfused_attention_gives_the_same_predictions(demo):
    """The converter reads the softmax of timm's unfused attention path
    (docs/design.md); the shipped accuracy must hold there too."""
    import copy

    x, y = D.load_digits("test")
    unfused = copy.deepcopy(demo)
    for blk in unfused.blocks:
        blk.attn.fused_attn = False
    with torch.no_grad():
        a, b = demo(x), unfused(x)
    # float32 logits of order 1-10 through 3 blocks: the two paths differ by
    # float32 rounding only (~1e-6); 1e-4 leaves margin for other BLAS orderings
    assert torch.allclose(a, b, atol=1e-4, rtol=0)
    assert torch.equal(a.argmax(-1), b.argmax(-1))
    assert D.accuracy(unfused, x, y)[0] == D.accuracy(demo, x, y)[0]


def test_missing_checkpoint_error_is_clear(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "digits_vit.pt"
    with pytest.raises(FileNotFoundError) as err:
        D.load_demo_model(missing)
    assert str(missing) in str(err.value) and "scripts/train_digits.py" in str(err.value)
    # the default (package asset) path says the same
    monkeypatch.setattr(D, "default_checkpoint_path", lambda: missing)
    with pytest.raises(FileNotFoundError, match="scripts/train_digits.py"):
        D.load_demo_model()
    with pytest.raises(FileNotFoundError, match="scripts/train_digits.py"):
        D.load_demo_metadata()


def test_wrong_checkpoint_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save(D.build_digits_vit(embed_dim=32, num_heads=2).state_dict(), path)
    with pytest.raises(ValueError, match="does not match DIGITS_CONFIG"):
        D.load_demo_model(path)
    torch.save([1, 2, 3], path)
    with pytest.raises(ValueError, match="does not hold a state_dict"):
        D.load_demo_model(path)
    with pytest.raises(ValueError, match="unknown VisionTransformer argument"):
        D.build_digits_vit(embed_size=3)


# --------------------------------------------------------------- training

def test_augmentation():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(200, 1, 8, 8)
    x[:, 0, 3, 4] = 1.0
    out = D.random_shift(x, 1, g)
    assert out.shape == x.shape and torch.equal(out.sum((1, 2, 3)), torch.ones(200))
    pos = out[:, 0].flatten(1).argmax(1)
    dy, dx = pos // 8 - 3, pos % 8 - 4
    assert dy.abs().max() == 1 and dx.abs().max() == 1  # every shift stays within one pixel ...
    assert len(set(zip(dy.tolist(), dx.tolist()))) == 9  # ... and all 9 offsets occur in 200 draws
    assert D.random_affine(x, g, 0.0, 0.0) is x
    xr = D.random_affine(x, g, 15.0, 0.1)
    assert xr.shape == x.shape and float(xr.min()) >= 0.0 and float(xr.max()) <= 1.0


def test_training_smoke_loss_decreases_and_is_seeded():
    # no augmentation or smoothing, so the loss measures fitting alone: 6 epochs on
    # 96 images take it from ~2.36 to ~1.55 (ratio 0.66); with lr=0 the ratio is 1.000
    kw = dict(epochs=6, seed=3, log=None, batch_size=32, warmup_epochs=0, train_subset=96, lr=3e-3,
              shift=0, rotate=0.0, scale=0.0, label_smoothing=0.0)
    m1, met1 = D.train_digits_vit(**kw)
    loss = met1["train_loss"]
    assert len(loss) == 6 and loss[-1] < 0.8 * loss[0]
    assert not m1.training and met1["train_total"] == 96
    m2, met2 = D.train_digits_vit(**kw)
    assert met2["train_loss"] == loss  # same seed, same run
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        D.train_digits_vit(epochs=0)


def test_demo_job_meets_the_targets_end_to_end(tmp_path):
    """The README's main job, through the installed CLI: the report and plot it writes, and
    the issue's targets on the digits test split (exact float64 lossless; quantized and
    kernel at p = 1024 within 0.1 point of the ANN)."""
    import subprocess
    import sys

    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "ttfs_symbolic.cli", "demo", "--out", str(out),
                           "--precisions", "16,1024", "--no-progress", "--no-deep"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "NOT met" not in proc.stdout and proc.stdout.count(": met") == 3
    rep = json.loads((out / "report.json").read_text())
    ex = rep["exact"]
    assert ex["images"] == 360 and ex["agreement"] == 1.0 and ex["max_logit_rel_error"] <= 1e-9
    for mode in ("quantized", "kernel"):
        assert rep[mode]["precision"] == 1024
        assert abs(rep[mode]["snn_accuracy"] - rep[mode]["ann_accuracy"]) <= 0.001 + 1e-12
        assert rep[mode]["spikes_per_neuron"] <= 1.0
    sweep = {(r["mode"], r["precision"]): r["accuracy"] for r in rep["precision_sweep"]}
    assert set(sweep) == {(m, p) for m in ("quantized", "kernel") for p in (16, 1024)}
    assert sweep[("quantized", 16)] < sweep[("quantized", 1024)]   # coarse time precision costs accuracy
    png = out / "accuracy_vs_precision.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "conversion.json").exists()


def test_demo_deep_model_sweep(tmp_path, monkeypatch, capsys):
    """The demo's second part: the 12-block MNIST ViT against p, both product constructions, its plot,
    and the finite-precision targets (here on 200 test images, calibrated on 300)."""
    from ttfs_symbolic.cli import demo

    monkeypatch.setattr(demo, "DEEP_CALIB", 300)
    monkeypatch.setattr(demo, "DEEP_TEST", 200)
    res = demo.deep_sweep(tmp_path, progress=False, precisions=(64, 256, 1024))
    out = capsys.readouterr().out
    assert "deep model: 12-block ViT" in out and "p=1024: relative logit error" in out
    rows = {(r["config"], r["precision"]): r for r in res["sweep"]}
    default, paper, signed = list(res["configs"])
    assert rows[default, 1024]["agreement"] >= 0.995 and rows[default, 1024]["rel_logit_error"] <= 0.02
    assert abs(rows[default, 256]["accuracy"] - res["ann_accuracy"]) <= 0.01 + 1e-12
    # the signed product is the more precise at equal p, the default more precise still; coarser p costs
    for p in (256, 1024):
        assert rows[default, p]["rel_logit_error"] < rows[signed, p]["rel_logit_error"] < rows[paper, p]["rel_logit_error"]
    assert rows[default, 64]["rel_logit_error"] > rows[default, 1024]["rel_logit_error"]
    assert (tmp_path / "accuracy_vs_precision_mnist.png").read_bytes()[:4] == b"\x89PNG"
