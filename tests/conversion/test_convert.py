"""Tests of the converter (Algorithm 1): timm ViT -> calibrated TTFS spiking network.

Random-weight models only (``pretrained=False``), calibrated on the very
images they are then run on, so every range covers the data and ``exact``
mode must reproduce the ANN (run in float64 too) to float64 rounding: the
lossless conversion the paper reports (Section 5.1).
"""
from __future__ import annotations

import functools
import json
import math

import pytest
import timm
import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from ttfs_symbolic.conversion.convert import calibrate, convert
from ttfs_symbolic.conversion.fileformat import conversion_dict, load_conversion, save_conversion
from ttfs_symbolic.evaluation.report import evaluate
from ttfs_symbolic.spiking import Ctx, Product
from ttfs_symbolic.families.vit import UnsupportedModuleError

D = torch.float64

# A float64 forward pass of a small ViT is a few hundred operations deep, each
# within ~1 ulp (1.1e-16) of its inputs' scale: the SNN and the ANN agree to
# ~1e-13 relative to the logits. 1e-9 leaves four orders of margin while any
# float32 step (1e-7 relative) or a clipped neuron fails it.
REL_TOL = 1e-9

SMALL = dict(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=3, num_classes=10)


def make_vit(seed: int = 0, **kw) -> VisionTransformer:
    torch.manual_seed(seed)
    return VisionTransformer(**{**SMALL, **kw}).eval().double()


def images(seed: int, n: int, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g, dtype=D)


def assert_lossless(snn, ann, x):
    out = snn(x, mode="exact", dtype=D)
    with torch.no_grad():
        ref = ann.double()(x)
    assert out.shape == ref.shape and out.dtype == D
    rel = float((out - ref).abs().max() / ref.abs().max())
    assert rel <= REL_TOL, f"largest logit error {rel:.3e} of the largest logit"
    assert torch.equal(out.argmax(-1), ref.argmax(-1))  # 100% top-1 agreement


# ---------------------------------------------------------------------------
# exact mode reproduces the ANN
# ---------------------------------------------------------------------------

# (timm kwargs, a check that the variation reached the spiking model)
VARIANTS = {
    "base": ({}, lambda s: s.global_pool == "token" and s.num_prefix == 1),
    "patch32": (dict(img_size=64, patch_size=32), lambda s: s.n_tokens == 5),
    "avg_fc_norm": (dict(global_pool="avg", fc_norm=True),
                    lambda s: s.pool is not None and s.fc_norm is not None and s.norm is None),
    "no_class_token": (dict(class_token=False, global_pool="avg"), lambda s: s.num_prefix == 0 and s.prefix is None),
    "no_qkv_bias": ({"qkv_bias": False}, lambda s: s.blocks[0].attn.q.bias is None),
    "reg_tokens": (dict(reg_tokens=2), lambda s: s.num_prefix == 3 and s.n_tokens == 19),
    "qk_norm": (dict(qk_norm=True), lambda s: s.blocks[0].attn.sq is not None and s.blocks[0].attn.sk is not None),
    "layerscale": (dict(init_values=1e-5), lambda s: True),
    "pre_norm": (dict(pre_norm=True), lambda s: s.norm_pre is not None),
    "no_embed_class": (dict(no_embed_class=True, reg_tokens=1), lambda s: s.no_embed_class and s.num_prefix == 2),
    "silu": (dict(act_layer=nn.SiLU), lambda s: s.blocks[0].act.neuron_name == "silu"),
    "relu": (dict(act_layer=nn.ReLU), lambda s: s.blocks[0].act.neuron_name == "relu"),
    "gelu_tanh": (dict(act_layer=functools.partial(nn.GELU, approximate="tanh")),
                  lambda s: s.blocks[0].act.neuron_name == "gelu_tanh"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_exact_mode_is_lossless_on_variants(variant):
    kw, reached = VARIANTS[variant]
    ann = make_vit(seed=len(variant), **kw)
    if variant == "layerscale":
        # LayerScale's gamma must really be folded into proj / fc2: make it matter
        with torch.no_grad():
            for blk in ann.blocks:
                blk.ls1.gamma.uniform_(0.5, 2.0)
                blk.ls2.gamma.uniform_(0.5, 2.0)
    x = images(1, 4, ann.patch_embed.img_size[0])
    snn = convert(ann, x, progress=False, preset="paper")
    assert reached(snn), f"the {variant} setting did not reach the spiking model"
    assert_lossless(snn, ann, x)


@pytest.mark.parametrize("name,kw", [("vit_tiny_patch16_224", {}),
                                     # vit_small at its own depth, width and heads, on 96x96 images
                                     # (36 patches) to keep the test fast
                                     ("vit_small_patch16_224", {"img_size": 96})])
def test_named_timm_models_are_lossless(name, kw):
    size = kw.get("img_size", 224)
    x = images(2, 2, size)
    torch.manual_seed(123)
    snn = convert(name, x, progress=False, preset="paper", **kw)
    torch.manual_seed(123)  # the same random initialisation, for the reference ANN
    ann = timm.create_model(name, pretrained=False, **kw).eval()
    assert torch.equal(snn.patch_w, ann.patch_embed.proj.weight.detach())
    assert snn.source_name == name
    assert_lossless(snn, ann, x)


def test_float32_ann_folding_is_lossless_in_float64():
    torch.manual_seed(0)
    ann = VisionTransformer(**SMALL, init_values=0.3).eval()  # float32, gamma = 0.3 is not a power of two
    x = images(3, 4)
    snn = convert(ann, x, progress=False, preset="paper")
    assert_lossless(snn, ann, x)


# ---------------------------------------------------------------------------
# unsupported models stop the conversion, naming the module
# ---------------------------------------------------------------------------


def _with_selu():
    m = make_vit()
    m.blocks[0].mlp.act = nn.SELU()   # no registered neuron (Tanh and others are: tests/conversion/test_activations.py)
    return m


def _with_batchnorm():
    m = make_vit()
    m.blocks[1].norm2 = nn.BatchNorm1d(48)
    return m


@pytest.mark.parametrize("build,words", [
    (_with_selu, ["blocks.0.mlp.act", "SELU", "register_activation"]),
    (_with_batchnorm, ["blocks.1.norm2", "BatchNorm1d"]),
    (lambda: make_vit(global_pool="map"), ["attn_pool", "AttentionPoolLatent"]),
    (lambda: make_vit(dynamic_img_size=True), ["dynamic_img_size"]),
    (lambda: timm.create_model("resnet18", pretrained=False, num_classes=10), ["ResNet", "VisionTransformer"]),
])
def test_unsupported_modules_are_named(build, words):
    model = build()
    with pytest.raises(UnsupportedModuleError) as err:
        convert(model, images(0, 2), progress=False, preset="paper")
    for w in words:
        assert w in str(err.value), (w, str(err.value))


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown timm model 'vit_no_such_model'"):
        convert("vit_no_such_model", images(0, 1), progress=False, preset="paper")


# ---------------------------------------------------------------------------
# saving and loading a conversion
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def converted():
    ann = make_vit(seed=7)
    x = images(7, 6)
    snn = convert(ann, x, progress=False, preset="paper")
    return ann, snn, x


def test_save_load_round_trip_identical_in_all_modes(converted, tmp_path):
    ann, snn, x = converted
    path = save_conversion(snn, tmp_path / "conv.json")
    again = load_conversion(ann, path)
    assert conversion_dict(again)["layers"] == conversion_dict(snn)["layers"]
    x = x[:2]
    for mode, p in [("exact", None), ("quantized", 64), ("kernel", 64)]:
        assert torch.equal(snn(x, mode=mode, precision=p, dtype=D), again(x, mode=mode, precision=p, dtype=D)), mode


def test_conversion_json_timing_is_consistent(converted, tmp_path):
    _, snn, _ = converted
    data = json.loads(save_conversion(snn, tmp_path / "conv.json").read_text())
    delta = data["delta"]
    assert set(data["layers"]) == {p.pname for p in snn.populations()}
    for name, e in data["layers"].items():
        a, b, tau = e["a"], e["b"], e["tau"]
        assert math.isfinite(a) and math.isfinite(b) and a < b, name
        # eq. 7 / eq. 29: tau = delta/(b - a), T_ref = T_emit + b*tau, T_end = T_emit + delta,
        # and the window's ends stand for b and a. Float64, a few operations: 1e-12 relative.
        assert tau == pytest.approx(delta / (b - a), rel=1e-12), name
        assert e["T_ref"] == pytest.approx(e["T_emit"] + b * tau, rel=1e-12, abs=1e-12), name
        assert e["T_end"] == pytest.approx(e["T_emit"] + delta, rel=1e-12), name
        assert (e["T_ref"] - e["T_emit"]) / tau == pytest.approx(b, rel=1e-9, abs=1e-9), name
        assert (e["T_ref"] - e["T_end"]) / tau == pytest.approx(a, rel=1e-9, abs=1e-9), name
    windows = [e["window"] for e in data["layers"].values()]
    assert len(set(windows)) == len(windows)


def test_every_layer_emits_after_its_senders(converted):
    _, snn, _ = converted
    for prod in (m for m in snn.modules() if isinstance(m, Product)):
        assert prod.p1.window < prod.y.window, prod.y.pname
        assert prod.p2.window < prod.y.window, prod.y.pname
        assert prod.y.window < prod.out.window, (prod.y.pname, prod.out.pname)


def test_windows_follow_the_order_of_emission(converted):
    # every layer's window comes after those of all its senders: the windows increase
    # along the order in which an exact pass first emits each layer (a layer emits
    # only once its inputs exist), every layer has a window, and no two share one
    _, snn, x = converted
    ctx = Ctx(mode="exact", order=[])
    with torch.no_grad():
        snn.run(x[:1], ctx)
    windows = [p.window for p in ctx.order]
    assert windows == sorted(windows) and len(set(windows)) == len(windows)
    assert {p.pname for p in ctx.order} == {p.pname for p in snn.populations()}
    assert [p.window for p in snn.populations()] == sorted(windows)
    # LayerNorm and softmax chains, senders first (Sections 4.3.2, 4.3.3)
    ln, sm = snn.blocks[0].norm1, snn.blocks[0].attn.softmax
    chain = [ln.src, ln.mean, ln.centred, ln.var, ln.rsqrt, ln.product.y, ln.out,
             snn.blocks[0].attn.scores, sm.max, sm.z, sm.lse, sm.out, snn.blocks[0].attn.av.y,
             snn.blocks[0].attn.context, snn.blocks[0].attn.proj.out, snn.blocks[0].res1]
    assert [p.window for p in chain] == sorted(p.window for p in chain), [p.pname for p in chain]


def test_load_rejects_other_files_and_models(converted, tmp_path):
    _, snn, _ = converted
    path = save_conversion(snn, tmp_path / "conv.json")
    with pytest.raises(ValueError, match="does not match this model"):
        load_conversion(make_vit(depth=3), path)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not a ttfs-symbolic conversion"):
        load_conversion(make_vit(seed=7), other)


@pytest.mark.parametrize("other", [dict(embed_dim=96), dict(depth=1)])
def test_load_rejects_json_of_a_different_architecture(converted, tmp_path, other):
    _, snn, _ = converted
    path = save_conversion(snn, tmp_path / "conv.json")
    with pytest.raises(ValueError):
        load_conversion(make_vit(**other), path)


# ---------------------------------------------------------------------------
# calibration options
# ---------------------------------------------------------------------------


def _free(snn):
    """Populations whose range comes from calibration alone (no proven or derived range)."""
    return [p for p in snn.populations() if p.fixed_range is None and p.range_fn is None]


def test_calibration_covers_data_percentile_and_margin(converted):
    ann, snn, x = converted
    full = {p.pname: (p.a, p.b) for p in snn.populations()}
    # percentile 100 on the images run: no neuron clips in exact float64
    rep = evaluate(snn, ann, x, mode="exact", dtype=D, progress=False)
    assert all(r.clip_rate == 0.0 for r in rep.layers), [r.name for r in rep.layers if r.clip_rate]
    try:
        calibrate(snn, x, percentile=99.0, progress=False)
        narrower = 0
        for p in _free(snn):
            a, b = full[p.pname]
            assert p.a >= a and p.b <= b, p.pname
            narrower += (p.a > a) or (p.b < b)
        assert narrower > len(_free(snn)) // 2
        rep = evaluate(snn, ann, x, mode="exact", dtype=D, progress=False)
        assert max(r.clip_rate for r in rep.layers) > 0.0

        calibrate(snn, x, margin=0.25, progress=False)
        for p in _free(snn):
            a, b = full[p.pname]
            assert p.a <= a and p.b >= b, p.pname
            if p.lower_bound is None and p.upper_bound is None:
                # each side widened by margin * width
                assert p.d == pytest.approx(1.5 * (b - a), rel=1e-9), p.pname
    finally:
        calibrate(snn, x, progress=False)  # back to the module fixture's state
    assert {p.pname: (p.a, p.b) for p in snn.populations()} == full


@pytest.mark.parametrize("kw,word", [({"percentile": 50.0}, "percentile"), ({"percentile": 100.5}, "percentile"),
                                     ({"margin": -0.1}, "margin")])
def test_calibration_rejects_bad_options(kw, word):
    with pytest.raises(ValueError, match=word):
        convert(make_vit(), images(0, 2), progress=False, preset="paper", **kw)


@pytest.mark.parametrize("data", [torch.empty(0, 3, 32, 32, dtype=D), []])
def test_calibration_rejects_empty_set(data):
    with pytest.raises(ValueError, match="empty"):
        convert(make_vit(), data, progress=False, preset="paper")


def test_calibration_progress_on_stderr(capsys):
    convert(make_vit(), images(0, 4), batch_size=2, progress=True, preset="paper")
    captured = capsys.readouterr()
    assert "calibrating" in captured.err and "2/2" in captured.err
    assert captured.out == ""
    convert(make_vit(), images(0, 4), batch_size=2, progress=False, preset="paper")
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------
# evaluate() and the modes
# ---------------------------------------------------------------------------


def test_evaluate_report_fields(converted, tmp_path):
    ann, snn, x = converted
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    with torch.no_grad():
        ref = ann.double()(x)
    rep = evaluate(snn, ann, x, labels, mode="exact", dtype=D, progress=False)
    assert rep.images == 6 and rep.mode == "exact" and rep.dtype == "float64"
    assert rep.agreement == 1.0
    assert rep.ann_accuracy == pytest.approx(float((ref.argmax(-1) == labels).double().mean()))
    assert rep.snn_accuracy == rep.ann_accuracy  # lossless: same predictions
    assert rep.max_logit_error <= REL_TOL * float(ref.abs().max())
    assert rep.max_logit_rel_error <= REL_TOL
    assert 0 < rep.spikes <= rep.neurons and rep.spikes_per_neuron == pytest.approx(rep.spikes / rep.neurons)
    assert rep.spikes_per_neuron <= 1.0
    # eq. 28 with E_AC = 0.9 pJ, E_MAC = 4.6 pJ (Section 5.2); a few float ops: 1e-12
    assert rep.energy_ratio == pytest.approx(rep.op_snn * 0.9 / (rep.op_ann * 4.6), rel=1e-12)
    assert rep.op_snn > 0 and rep.op_ann > 0
    names = [p.pname for p in snn.populations() if p.kind != "input"]
    assert [r.name for r in rep.layers] == names
    for r in rep.layers:
        assert 0.0 <= r.clip_rate <= 1.0 and 0.0 <= r.spikes_per_neuron <= 1.0, r.name
        assert r.neurons > 0, r.name
    saved = json.loads(rep.save(tmp_path / "report.json").read_text())
    assert saved["agreement"] == rep.agreement and saved["energy_ratio"] == rep.energy_ratio
    assert len(saved["layers"]) == len(rep.layers) and "clip_rate" in saved["layers"][0]
    assert "top-1 agreement" in str(rep)
    # without labels there is no accuracy; mismatched labels are refused
    rep = evaluate(snn, ann, x, mode="exact", dtype=D, progress=False)
    assert rep.ann_accuracy is None and rep.snn_accuracy is None
    with pytest.raises(ValueError, match="labels"):
        evaluate(snn, ann, x, labels[:3], progress=False)
    assert next(ann.parameters()).dtype == D  # evaluate gives the ANN back in its dtype
    with pytest.raises(ValueError, match="precision"):
        evaluate(snn, ann, x, mode="quantized", progress=False)


def test_evaluate_coarse_precision_is_worse(converted):
    ann, snn, x = converted
    labels = torch.arange(6)
    coarse = evaluate(snn, ann, x, labels, mode="quantized", precision=8, dtype=D, progress=False)
    fine = evaluate(snn, ann, x, labels, mode="quantized", precision=4096, dtype=D, progress=False)
    assert coarse.max_logit_error > fine.max_logit_error
    assert coarse.agreement <= fine.agreement
    assert coarse.spikes_per_neuron <= 1.0 and fine.spikes_per_neuron <= 1.0


@pytest.mark.parametrize("mode", ["quantized", "kernel"])
def test_modes_approach_exact_as_precision_grows(mode, converted):
    _, snn, x = converted
    exact = snn(x, mode="exact", dtype=D)
    errs, agree = {}, {}
    for p in (64, 4096):
        out = snn(x, mode=mode, precision=p, dtype=D)
        errs[p] = float((out - exact).abs().max())
        agree[p] = float((out.argmax(-1) == exact.argmax(-1)).double().mean())
    assert errs[4096] < errs[64]
    # "most images": at p = 4096 the logit error is ~10% of the logits' spread on
    # this random model (its class token's LayerNorm has a huge rsqrt range), so
    # ask for 3 in 4 (5 of the 6 images), not all.
    assert agree[4096] >= 0.75, agree


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mode", ["quantized", "kernel"])
def test_torch_loops_run_the_same_network_as_the_c_loops(mode, dtype, converted, monkeypatch):
    """TTFS_NATIVE=0 (and every GPU) runs the torch reference of the per-spike loops.
    A whole ViT forward through it gives the C loops' logits: the same spikes
    everywhere, the attention sums added in another order (a few ulps)."""
    from ttfs_symbolic.numeric import native

    if not native.available():
        pytest.skip(f"no native loops here: {native.build_info()['error']}")
    _, snn, x = converted
    x = x[:3]
    with_c = snn(x, mode=mode, precision=256, dtype=dtype)
    monkeypatch.setenv("TTFS_NATIVE", "0")
    with_torch = snn(x, mode=mode, precision=256, dtype=dtype)
    spread = float(with_c.abs().max())
    # a rounding-order difference can move a later spike by one tick at most rarely;
    # float64 must agree to a few ulps, float32 to a small fraction of the logits
    tol = 1e-12 if dtype == torch.float64 else 1e-3
    assert float((with_c - with_torch).abs().max()) <= tol * (1 + spread)
