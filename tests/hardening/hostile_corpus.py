"""The hostile-input corpus of issue 12, shared by the tests of every entry point.

Each list holds ``(id, input, pattern)``: the input a hostile or careless
user might give and a regular expression the one-line error (or warning)
must match. The tests in ``tests/hardening/test_hostile_*.py`` run every entry in a
list through every entry point that takes that kind of input; a new entry
point is covered by adding it to the test's ``ENTRY_POINTS``, a new attack
by adding a row here.
"""
from __future__ import annotations

import math

import torch

# --------------------------------------------------------------- formulas and ranges
# (id, formula, a, b, pattern): derive_input(f, a, b) and derive_output(h, a, b) refuse
BAD_FORMULAS = [
    ("import", "__import__('os').system('true')", -1, 1, r"only whitelisted|not allowed|unknown"),
    ("attribute", "x.__class__", -1, 1, r"attribute access"),
    ("lambda", "(lambda: 1)()", -1, 1, r"lambda|not allowed|call"),
    ("caret", "x^2", -1, 1, r"\*\*"),
    ("huge-power", "9**9**9", -1, 1, r"too large|power|bits"),
    ("empty", "", -1, 1, r"empty|formula"),
    ("unknown-function", "gamma(x)", -1, 1, r"unknown function"),
    ("heaviside", "Heaviside(x)", -1, 1, r"jump|Heaviside"),
    ("sign", "sign(x)", -1, 1, r"jump|sign"),
    ("heaviside-in-sum", "x + Heaviside(x)", -1, 2, r"jump|Heaviside"),
]
# (id, a, b, pattern): a range no derivation can use, for the formula "x"
BAD_RANGES = [
    ("reversed", 1, -1, r"a < b"),
    ("empty", 1, 1, r"a < b"),
    ("nan", float("nan"), 1, r"finite|number|nan"),
    ("inf", 0, math.inf, r"finite|number|inf"),
    ("huge", -1e308, 1e308, r"float64"),
    ("tiny-width", 1.0, 1.0 + 1e-300, r"a < b|float64|width"),
]
# (id, formula, a, b, pattern) that derive_input refuses because its compiled kernels overflow float64
OVERFLOWING_INPUT = [
    ("exp-800", "exp(x)", 0, 800, r"overflows float64.*\[0, 709"),
    ("exp-neg", "exp(-x)", -800, 0, r"overflows float64.*\[-709"),
]

# --------------------------------------------------------------- conversion files
# (id, how to damage the good file's dict or bytes, pattern); the loader must name the file in one line


def _set_layer(key, value, which=0):
    def damage(d):
        name = list(d["layers"])[which]
        d["layers"][name][key] = value
        return d
    return damage


def _collapse(d):
    name = next(iter(d["layers"]))
    d["layers"][name]["a"] = d["layers"][name]["b"]
    return d


def _swap(d):
    name = next(iter(d["layers"]))
    e = d["layers"][name]
    e["a"], e["b"] = e["b"] + 1.0, e["a"]
    return d


def _extra_layer(d):
    d["layers"]["not_a_layer"] = dict(next(iter(d["layers"].values())))
    return d


def _per_neuron(a, b):
    def damage(d):
        name = next(iter(d["layers"]))
        d["layers"][name]["a"], d["layers"][name]["b"] = a, b
        return d
    return damage


def _drop(key):
    def damage(d):
        d.pop(key)
        return d
    return damage


BAD_CONVERSIONS = [
    ("list", b"[1, 2, 3]", r"JSON object"),
    ("null", b"null", r"JSON object"),
    ("empty-file", b"", r"invalid JSON"),
    ("truncated", lambda raw: raw[: len(raw) // 2], r"invalid JSON"),
    ("deep-nesting", b"[" * 100_000, r"nested too deeply"),
    ("invalid-utf8", b'{"format": "\xff\xfe"}', r"UTF-8"),
    ("no-layers", _drop("layers"), r"'layers'"),
    ("no-format", _drop("format"), r"not a ttfs-symbolic conversion"),
    ("a-equals-b", _collapse, r"empty range"),
    ("a-above-b", _swap, r"empty range"),
    ("a-nan", _set_layer("a", float("nan")), r"finite"),
    ("b-inf", _set_layer("b", float("inf")), r"finite"),
    ("a-string", _set_layer("a", "0"), r"must be a number"),
    ("a-bool", _set_layer("a", True), r"must be a number"),
    ("window-zero", _set_layer("window", 0), r"window"),
    ("window-string", _set_layer("window", "1"), r"window"),
    ("unknown-layer", _extra_layer, r"not a layer"),
    ("layers-list", lambda d: {**d, "layers": [1]}, r"'layers'"),
    ("per-neuron-list-against-number", _set_layer("a", [0.0, 5.0]), r"same shape"),
    ("per-neuron-a-above-b", _per_neuron([0.0, 5.0], [1.0, 2.0]), r"empty range at neuron 1"),
    ("per-neuron-shapes", _per_neuron([0.0, 1.0], [[1.0, 2.0]]), r"same shape"),
    ("per-neuron-nan", _per_neuron([0.0, float("nan")], [1.0, 2.0]), r"finite"),
    ("products-list", lambda d: {**d, "products": [1]}, r"products"),
    ("activations-list", lambda d: {**d, "activations": [1]}, r"activations"),
    ("ragged", _set_layer("a", [[0.0], [0.0, 1.0]]), r"ragged"),
]

# --------------------------------------------------------------- images and call arguments
# (id, make(good_images) -> images, pattern, exception type)
BAD_IMAGES = [
    ("none", lambda x: None, r"tensor", TypeError),
    ("string", lambda x: "images.png", r"tensor", TypeError),
    ("list", lambda x: [[1.0]], r"Tensor", TypeError),
    ("int32", lambda x: (x * 100).to(torch.int32), r"floating point", ValueError),
    ("uint8-raw-pixels", lambda x: (x.clamp(0, 1) * 255).to(torch.uint8), r"floating point", ValueError),
    ("bool", lambda x: x > 0, r"floating point", ValueError),
    ("complex", lambda x: x.to(torch.complex64), r"floating point", ValueError),
    ("inf", lambda x: x.index_put((torch.tensor([0]),), torch.tensor(math.inf)), r"inf", ValueError),
    ("minus-inf", lambda x: torch.where(x > 1.5, -math.inf, x), r"inf", ValueError),
    ("nan", lambda x: torch.where(x > 1.5, math.nan, x), r"NaN", ValueError),
    ("3d", lambda x: x[0], r"shape", ValueError),
    ("channels", lambda x: x[:, :2], r"shape", ValueError),
    ("size", lambda x: x[..., :16, :16], r"shape", ValueError),
]
# (id, keyword arguments of snn(...), pattern)
BAD_CALL_ARGS = [
    ("dtype-int32", dict(dtype=torch.int32), r"floating torch dtype"),
    ("dtype-string", dict(dtype="float32"), r"floating torch dtype"),
    ("precision-nan", dict(mode="quantized", precision=float("nan")), r"positive integer"),
    ("precision-inf", dict(mode="kernel", precision=float("inf")), r"positive integer"),
    ("precision-zero", dict(mode="quantized", precision=0), r"positive integer"),
    ("precision-fraction", dict(mode="quantized", precision=2.5), r"positive integer"),
    ("precision-bool", dict(mode="quantized", precision=True), r"positive integer"),
    ("precision-string", dict(mode="quantized", precision="8"), r"positive integer"),
    ("mode", dict(mode="fast"), r"unknown mode"),
]
# (id, keyword arguments of convert(...), pattern)
BAD_CONVERT_ARGS = [
    ("batch-zero", dict(batch_size=0), r"batch_size"),
    ("batch-negative", dict(batch_size=-3), r"batch_size"),
    ("batch-float", dict(batch_size=2.5), r"batch_size"),
    ("percentile-nan", dict(percentile=float("nan")), r"percentile"),
    ("margin-nan", dict(margin=float("nan")), r"margin"),
    ("margin-negative", dict(margin=-0.1), r"margin"),
]

# =============================================================== user workflows (issue 21)
# The command-line and API surfaces a user drives with their own files: ``ttfs convert / evaluate``,
# ``ttfs budget``, ``ttfs energy``, torchrun, activations, text inputs. Every case runs on the files of
# :func:`build_fixtures` (a tiny timm ViT, two checkpoints of it, 12 PNGs in 3 class folders and a
# conversion file) and each must end in a one-line error matching its pattern (exit code 2 on the
# command line, no traceback) or in a correct answer. ``scripts/hostile_check.py`` runs every case in a
# fresh process with a timeout (hangs, crashes) and counts the failures; tests/hardening/test_hostile_workflow.py
# runs them in this process.

import json as _json
import os as _os
from pathlib import Path as _Path

NAME = "vit_tiny_patch16_224"
KW = dict(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=3)
KWARGS = ["--model-kwargs"] + [f"{k}={v}" for k, v in KW.items()]
COMMON = ["--no-progress", "--threads", "1"] + KWARGS
CONVERT = ["convert", NAME, "--checkpoint", "{r}/model.pt", "--calib", "{r}/images", "--out", "{r}/out/c.json"] + COMMON
EVALUATE = (["evaluate", NAME, "--checkpoint", "{r}/model.pt", "--conversion", "{r}/conv.json", "--data", "{r}/images",
             "--out", "{r}/out/e", "--modes", "exact"] + COMMON)


def build_fixtures(root) -> _Path:
    """The files every workflow case runs on (made once per root; returns it)."""
    import numpy as np
    from PIL import Image
    import timm

    root = _Path(root)
    if (root / "conv.json").exists():
        return root
    (root / "out").mkdir(parents=True, exist_ok=True)
    for seed, name in ((0, "model.pt"), (1, "model2.pt")):
        torch.manual_seed(seed)
        torch.save(timm.create_model(NAME, pretrained=False, **KW).state_dict(), root / name)
    rng = np.random.default_rng(0)
    for c in range(3):
        d = root / "images" / f"class_{c}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(4):
            a = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
            a[..., c] = 230
            Image.fromarray(a).save(d / f"img_{i}.png")
    from ttfs_symbolic.cli import main

    rc = main(["convert", NAME, "--checkpoint", str(root / "model.pt"), "--calib", str(root / "images"),
               "--out", str(root / "conv.json"), "--range-kind", "channel"] + COMMON)
    assert rc == 0, "the fixture conversion failed"
    return root


def _copy_images(root, name):
    import shutil

    dst = _Path(root) / name
    if not dst.exists():
        shutil.copytree(_Path(root) / "images", dst)
    return dst


def _edit_conversion(name, edit):
    def prepare(root):
        d = _json.loads((_Path(root) / "conv.json").read_text())
        edit(d)
        (_Path(root) / name).write_text(_json.dumps(d))
    return prepare


def _first_channel_layer(d):
    return next(e for e in d["layers"].values() if isinstance(e["a"], list))


def _shorten(n):
    def edit(d):
        e = _first_channel_layer(d)
        e["a"], e["b"] = e["a"][:n], e["b"][:n]
    return edit


def _v1(d):
    for k in ("architecture", "weights_fingerprint", "version", "products", "residual", "activations"):
        d.pop(k, None)
    for e in d["layers"].values():
        if isinstance(e["a"], list):
            e["a"], e["b"], e["range_kind"] = min(e["a"]), max(e["b"]), "layer"


def _fifo(name):
    def prepare(root):
        p = _Path(root) / name
        if not p.exists():
            _os.mkfifo(p)
    return prepare


def _folder(name, make):
    def prepare(root):
        make(_copy_images(root, name))
    return prepare


def _bomb(folder):
    from PIL import Image

    p = folder / "class_0" / "bomb.png"
    if not p.exists():   # 1-bit image of 200 million pixels: a few kB on disk
        Image.new("1", (20000, 10000)).save(p, optimize=True)


def _fifo_image(folder):
    p = folder / "class_1" / "pipe.png"
    if not p.exists():
        _os.mkfifo(p)


def _tensor_file(name, labels):
    def prepare(root):
        x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        torch.save({"images": x, "labels": labels}, _Path(root) / name)
    return prepare


def _checkpoint(name, damage):
    def prepare(root):
        sd = torch.load(_Path(root) / "model.pt", weights_only=True)
        torch.save(damage(sd), _Path(root) / name)
    return prepare


def _sd_set(key, value):
    def damage(sd):
        sd = dict(sd)
        sd[key] = value(sd) if callable(value) else value
        return sd
    return damage


def _energy_config(name, cfg):
    def prepare(root):
        text = cfg if isinstance(cfg, str) else _json.dumps(cfg)
        (_Path(root) / name).write_text(text)
    return prepare


_BERT_OK = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128}


def _cfg(**kw):
    return {**_BERT_OK, **kw}


def _evaluate(**replace):
    argv = list(EVALUATE)
    for flag, value in replace.items():
        argv[argv.index("--" + flag.replace("_", "-")) + 1] = value
    return argv


def _convert(**replace):
    argv = list(CONVERT)
    for flag, value in replace.items():
        argv[argv.index("--" + flag.replace("_", "-")) + 1] = value
    return argv


# (id, prepare(root) or None, argv with "{r}" for the fixture root, pattern of the one-line error)
WORKFLOW_CLI = [
    # conversion files: weights, architecture, per-neuron range shapes, bounds, kinds of file
    ("conv-other-weights", None, _evaluate(checkpoint="{r}/model2.pt"), r"calibrated for other weights.*sha256:"),
    ("conv-no-architecture", _edit_conversion("noarch.json", lambda d: d.pop("architecture")),
     _evaluate(conversion="{r}/noarch.json"), r"records the model's architecture, but this file has none"),
    ("conv-version-1-no-architecture", _edit_conversion("v1.json", _v1), _evaluate(conversion="{r}/v1.json"),
     r"records no architecture \(format version 1\).*--force"),
    ("conv-range-list-length-1", _edit_conversion("len1.json", _shorten(1)), _evaluate(conversion="{r}/len1.json"),
     r"ranges have shape \(1,\), but the layer has channel shape \(32,\)"),
    ("conv-range-list-length-31", _edit_conversion("len31.json", _shorten(31)),
     _evaluate(conversion="{r}/len31.json"), r"ranges have shape \(31,\), but the layer has channel shape \(32,\)"),
    ("conv-range-1e300", _edit_conversion("huge.json", lambda d: next(iter(d["layers"].values())).update(
        a=-1e300, b=1e300)), _evaluate(conversion="{r}/huge.json"), r"beyond the \+-1e\+30"),
    ("conv-shift-negative", _edit_conversion("shift.json", lambda d: [e.update(r=-1.0) for e in d["products"].values()]),
     _evaluate(conversion="{r}/shift.json"), r"\.r must be in \(0, 100\]"),
    ("conv-window-1e30", _edit_conversion("window.json", lambda d: next(iter(d["layers"].values())).update(
        window=10 ** 30)), _evaluate(conversion="{r}/window.json"), r"window must be an integer in"),
    ("conv-range-kind-evil", _edit_conversion("kind.json", lambda d: _first_channel_layer(d).update(range_kind="evil")),
     _evaluate(conversion="{r}/kind.json"), r"range_kind must be one of"),
    ("conv-version-99", _edit_conversion("v99.json", lambda d: d.update(version=99)),
     _evaluate(conversion="{r}/v99.json"), r"format version 99, newer than"),
    ("conv-fingerprint-garbage", _edit_conversion("fp.json", lambda d: d.update(weights_fingerprint="md5:x")),
     _evaluate(conversion="{r}/fp.json"), r"weights_fingerprint must be"),
    ("conv-fifo", _fifo("fifo.json"), _evaluate(conversion="{r}/fifo.json"), r"FIFO"),
    ("conv-dev-zero", None, _evaluate(conversion="/dev/zero"), r"character device"),
    ("conv-folder", None, _evaluate(conversion="{r}/images"), r"is a folder, not a regular file"),
    # files and --out
    ("data-fifo-pt", _fifo("fifo.pt"), _evaluate(data="{r}/fifo.pt"), r"FIFO"),
    ("data-dev-zero", None, _evaluate(data="/dev/zero"), r"character device|expected an image folder"),
    ("checkpoint-dev-zero", None, _evaluate(checkpoint="/dev/zero"), r"character device"),
    ("checkpoint-fifo", _fifo("fifo_ckpt.pt"), _convert(checkpoint="{r}/fifo_ckpt.pt"), r"FIFO"),
    ("out-is-checkpoint", None, _convert(out="{r}/model.pt"), r"is the input --checkpoint"),
    ("out-is-calibration-image", None, _convert(out="{r}/images/class_0/img_0.png"), r"inside the input --calib"),
    ("out-exists", None, _convert(out="{r}/conv.json"), r"exists; pass --overwrite"),
    ("out-is-folder", None, _convert(out="{r}/out"), r"is a folder, not a file"),
    ("evaluate-out-inside-data", None, _evaluate(out="{r}/images/results"), r"inside the --data folder"),
    # numbers
    ("std-inf", None, EVALUATE + ["--std", "inf"], r"--std: each value must be a finite number"),
    ("std-1e-300", None, EVALUATE + ["--std", "1e-300"], r"--std: each value must be a finite number"),
    ("std-nan", None, EVALUATE + ["--std", "nan"], r"--std"),
    ("std-negative", None, EVALUATE + ["--std", "-0.5"], r"--std"),
    ("mean-inf", None, EVALUATE + ["--mean", "0.5,inf,0.5"], r"--mean"),
    ("interpolation-evil", None, EVALUATE + ["--interpolation", "evil"], r"--interpolation must be one of"),
    ("threads-negative", None, EVALUATE + ["--threads", "-1"], r"--threads must be an integer"),
    ("threads-zero", None, EVALUATE + ["--threads", "0"], r"--threads must be an integer"),
    ("workers-1000", None, EVALUATE + ["--workers", "1000"], r"--workers must be an integer"),
    ("workers-negative", None, EVALUATE + ["--workers", "-2"], r"--workers must be an integer"),
    ("batch-size-zero", None, EVALUATE + ["--batch-size", "0"], r"--batch-size must be an integer"),
    ("batch-size-huge", None, EVALUATE + ["--batch-size", str(10 ** 12)], r"--batch-size must be an integer"),
    ("limit-zero", None, EVALUATE + ["--limit", "0"], r"--limit must be an integer"),
    ("img-size-huge", None, EVALUATE + ["--img-size", str(10 ** 6)], r"--img-size must be an integer"),
    ("crop-pct-nan", None, EVALUATE + ["--crop-pct", "nan"], r"--crop-pct must be a finite number"),
    ("crop-pct-zero", None, EVALUATE + ["--crop-pct", "0"], r"--crop-pct must be a finite number"),
    ("timeout-zero", None, EVALUATE + ["--timeout", "0"], r"--timeout must be"),
    ("timeout-nan", None, EVALUATE + ["--timeout", "nan"], r"--timeout must be"),
    ("precision-kernel-2**24+1", None, EVALUATE + ["--modes", "kernel", "--precision", "16777217"],
     r"kernel mode takes a time precision of at most 65536"),
    ("precision-quantized-2**30", None, EVALUATE + ["--modes", "quantized", "--precision", str(2 ** 30)],
     r"a time precision is an integer in \[1, 16777216\]"),
    ("modes-empty", None, EVALUATE + ["--modes", ","], r"--modes names no mode"),
    ("precision-exact-only", None, EVALUATE + ["--modes", "exact", "--precision", "256"],
     r"--precision 256 applies to quantized and kernel mode, and --modes exact runs neither"),
    ("percentile-50", None, CONVERT + ["--percentile", "50"], r"--percentile must be in"),
    ("percentile-nan", None, CONVERT + ["--percentile", "nan"], r"--percentile must be in"),
    ("margin-inf", None, CONVERT + ["--margin", "inf"], r"--margin must be a finite number"),
    ("sigmas-nan", None, CONVERT + ["--sigmas", "nan"], r"--sigmas must be a finite number"),
    ("range-kind-evil", None, CONVERT + ["--range-kind", "evil"], r"--range-kind must be one of"),
    # --model-kwargs
    ("kwargs-checkpoint-path", None, CONVERT + ["--model-kwargs", "checkpoint_path={r}/model2.pt"],
     r"checkpoint_path=\.\.\. is refused"),
    ("kwargs-pretrained-cfg", None, CONVERT + ["--model-kwargs", "pretrained_cfg={}"], r"pretrained_cfg=\.\.\. is refused"),
    ("kwargs-pretrained-cfg-overlay", None, CONVERT + ["--model-kwargs", "pretrained_cfg_overlay={'url': 'x'}"],
     r"is refused"),
    ("kwargs-url", None, CONVERT + ["--model-kwargs", "url=http://example.com/w.pth"], r"url=\.\.\. is refused"),
    ("kwargs-pretrained", None, CONVERT + ["--model-kwargs", "pretrained=True"], r"pretrained=\.\.\. is refused"),
    ("kwargs-device-meta", None, CONVERT + ["--model-kwargs", "device=meta"], r"device=\.\.\. is refused"),
    ("kwargs-act-layer", None, CONVERT + ["--model-kwargs", "act_layer=nosuch"], r"cannot create .*act_layer='nosuch'"),
    ("kwargs-patch-size-0", None, CONVERT + ["--model-kwargs", "patch_size=0"], r"cannot create .*patch_size=0"),
    ("kwargs-img-size-1-tuple", None, CONVERT + ["--model-kwargs", "img_size=(32,)"], r"cannot create .*img_size=\(32,\)"),
    ("kwargs-in-chans-1", None, CONVERT + ["--model-kwargs", "in_chans=1"], r"does not match the model"),
    ("kwargs-absurd-width", None, CONVERT + ["--model-kwargs", "embed_dim=10000000"], r"parameters, more than"),
    ("kwargs-negative-depth", None, CONVERT + ["--model-kwargs", "depth=-1"], r"cannot create|does not match"),
    ("kwargs-heads-not-dividing", None, CONVERT + ["--model-kwargs", "num_heads=3"], r"cannot create .*num_heads=3"),
    # image folders
    ("folder-empty-class", _folder("img_empty", lambda f: (f / "class_1b").mkdir(exist_ok=True)),
     _evaluate(data="{r}/img_empty"), r"class_1b hold no image"),
    ("folder-hidden-class", _folder("img_hidden", lambda f: (f / ".cache").mkdir(exist_ok=True)),
     _evaluate(data="{r}/img_hidden"), r"\.cache \(hidden folders count too\) hold no image"),
    ("folder-unsupported-files", _folder("img_txt", lambda f: ((f / "class_1b").mkdir(exist_ok=True),
                                                                (f / "class_1b" / "a.txt").write_text("x"))),
     _evaluate(data="{r}/img_txt"), r"class_1b hold no image"),
    ("folder-decompression-bomb", _folder("img_bomb", _bomb), _evaluate(data="{r}/img_bomb"),
     r"decompression bomb"),
    ("folder-fifo-image", _folder("img_fifo", _fifo_image), _evaluate(data="{r}/img_fifo"), r"not a regular file"),
    # labels of tensor files
    ("labels-fraction", _tensor_file("lab_frac.pt", torch.tensor([0, 1, 0.7, 2, 1, 0])),
     _evaluate(data="{r}/lab_frac.pt"), r"integer class numbers, got 0\.7"),
    ("labels-nan", _tensor_file("lab_nan.pt", torch.tensor([0, 1, math.nan, 2, 1, 0])),
     _evaluate(data="{r}/lab_nan.pt"), r"integer class numbers, got nan"),
    ("labels-negative", _tensor_file("lab_neg.pt", torch.tensor([0, 1, -1, 2, 1, 0])),
     _evaluate(data="{r}/lab_neg.pt"), r"class numbers >= 0, got -1"),
    ("labels-beyond-classes", _tensor_file("lab_big.pt", torch.tensor([0, 1, 3, 2, 1, 0])),
     _evaluate(data="{r}/lab_big.pt"), r"class 3 but the model has 3 classes"),
    ("labels-bool", _tensor_file("lab_bool.pt", torch.tensor([True, False] * 3)),
     _evaluate(data="{r}/lab_bool.pt"), r"integer class numbers, got torch\.bool"),
    # checkpoints
    ("checkpoint-int-key", _checkpoint("ck_int.pt", _sd_set(7, torch.zeros(1))), _convert(checkpoint="{r}/ck_int.pt"),
     r"key 7 is a int, not a parameter name"),
    ("checkpoint-meta", _checkpoint("ck_meta.pt", _sd_set("head.bias", torch.empty(3, device="meta"))),
     _convert(checkpoint="{r}/ck_meta.pt"), r"head\.bias is a meta tensor"),
    ("checkpoint-sparse", _checkpoint("ck_sparse.pt", _sd_set("head.weight", lambda sd: sd["head.weight"].to_sparse())),
     _convert(checkpoint="{r}/ck_sparse.pt"), r"head\.weight is a torch\.sparse_coo tensor"),
    ("checkpoint-nan", _checkpoint("ck_nan.pt", _sd_set("head.bias", torch.tensor([0.0, math.nan, 0.0]))),
     _convert(checkpoint="{r}/ck_nan.pt"), r"head\.bias holds 1 non-finite value"),
    ("checkpoint-weights-1e30", _checkpoint("ck_1e30.pt", lambda sd: {k: v * 1e30 for k, v in sd.items()}),
     _convert(checkpoint="{r}/ck_1e30.pt"), r"beyond the \+-1e\+30|non-finite|NaN"),
    # activations
    ("activation-no-such-class", None, CONVERT + ["--activation", "NoSuchAct=x*2"], r"NoSuchAct match no module"),
    ("activation-wrong-case", None, CONVERT + ["--activation", "Gelu=x"], r"Gelu match no module.*GELU"),
    # budget
    ("budget-resnet18", None, ["budget", "resnet18", "--out", "{r}/out/b", "--no-progress"], r"unsupported model"),
    ("budget-calib-beyond-data", None, ["budget", "digits", "--calib", "100000", "--out", "{r}/out/b", "--no-progress"],
     r"--calib 100000, but digits has only \d+ calibration images"),
    ("budget-inputs-beyond-data", None, ["budget", "digits", "--inputs", "900000", "--out", "{r}/out/b",
                                         "--no-progress"], r"--inputs 900000, but digits has only \d+ test images"),
    ("budget-kernel-precision", None, ["budget", "digits", "--mode", "kernel", "--precision", "16777217", "--out",
                                       "{r}/out/b"], r"kernel mode takes a time precision of at most"),
    ("budget-sigmas-inf", None, ["budget", "digits", "--sigmas", "inf", "--out", "{r}/out/b"], r"--sigmas"),
    # energy configs
    ("energy-negative-width", _energy_config("e1.json", _cfg(hidden_size=-768)), ["energy", "{r}/e1.json", "--json"],
     r"hidden_size must be an integer in \[1, 65536\], got -768"),
    ("energy-zero-layers", _energy_config("e2.json", _cfg(num_hidden_layers=0)), ["energy", "{r}/e2.json", "--json"],
     r"num_hidden_layers must be an integer"),
    ("energy-1e9-layers", _energy_config("e3.json", _cfg(num_hidden_layers=10 ** 9)), ["energy", "{r}/e3.json"],
     r"num_hidden_layers must be an integer"),
    ("energy-zero-heads", _energy_config("e4.json", _cfg(num_attention_heads=0)), ["energy", "{r}/e4.json"],
     r"num_attention_heads must be an integer"),
    ("energy-null-size", _energy_config("e5.json", _cfg(intermediate_size=None)), ["energy", "{r}/e5.json"],
     r"intermediate_size must be an integer.*None"),
    ("energy-1e400", _energy_config("e6.json", '{"hidden_size": 1e400, "num_hidden_layers": 2, '
                                                '"num_attention_heads": 4, "intermediate_size": 128}'),
     ["energy", "{r}/e6.json"], r"hidden_size must be an integer.*inf"),
    ("energy-10**400", _energy_config("e7.json", _cfg(hidden_size=10 ** 400)), ["energy", "{r}/e7.json"],
     r"hidden_size must be an integer"),
    ("energy-heads-not-dividing", _energy_config("e8.json", _cfg(num_attention_heads=5)), ["energy", "{r}/e8.json"],
     r"not a multiple of num_attention_heads 5"),
    ("energy-fractional", _energy_config("e9.json", _cfg(hidden_size=64.5)), ["energy", "{r}/e9.json"],
     r"hidden_size must be an integer"),
    ("energy-not-an-object", _energy_config("e10.json", "[1, 2]"), ["energy", "{r}/e10.json"], r"must be a JSON object"),
    ("energy-fifo-config", _fifo("fifo_cfg.json"), ["energy", "{r}/fifo_cfg.json"], r"FIFO"),
    ("energy-seq-len-huge", _energy_config("e11.json", _cfg()), ["energy", "{r}/e11.json", "--seq-len", str(10 ** 9)],
     r"--seq-len must be between 1 and 1048576, got 1000000000"),
    # below 1 the command refuses it, naming its flag and the value (not the default 128 counted instead)
    ("energy-seq-len-zero", _energy_config("e12.json", _cfg()), ["energy", "{r}/e12.json", "--seq-len", "0"],
     r"--seq-len must be between 1 and 1048576, got 0"),
    ("energy-img-size-huge", None, ["energy", NAME, "--img-size", str(10 ** 9)],
     r"--img-size must be between 1 and 16384, got 1000000000"),
]


# ---------------------------------------------------------------- API and correct-answer cases
# (id, fn(root), pattern): fn raises an error matching pattern, or (pattern None) returns after asserting
# that the answer is right (and, where a guard warns, that it warned).

def _tiny(seed=0):
    import timm

    torch.manual_seed(seed)
    return timm.create_model(NAME, pretrained=False, **KW).eval()


def _images(n=4):
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(3))


def _loaded(root, seed=0, **kw):
    from ttfs_symbolic.conversion.fileformat import load_conversion

    ann = _tiny(seed)
    return ann, load_conversion(ann, _Path(root) / "conv.json", **kw)


def api_other_weights(root):
    _loaded(root, seed=1)


def api_force_warns(root):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, snn = _loaded(root, seed=1, force=True)
    assert any("other weights" in str(w.message) and "loaded anyway" in str(w.message) for w in caught)
    assert torch.isfinite(snn(_images())).all()


def api_fingerprint_stable(root):
    from ttfs_symbolic.conversion.convert import weights_fingerprint

    a = _tiny()
    fp = weights_fingerprint(a)
    assert weights_fingerprint(_tiny().double()) == fp   # float32 and its float64 copy: the same weights
    with torch.no_grad():
        a.head.bias[0] = torch.nextafter(a.head.bias[0], torch.tensor(1.0))   # one float32 ulp
    assert weights_fingerprint(a) != fp


def api_label_map_is_imagefolders(root):
    from torchvision.datasets import ImageFolder

    from ttfs_symbolic.data.files import open_data

    folder = _copy_images(root, "img_nested")
    (folder / ".hidden_class").mkdir(exist_ok=True)
    (folder / "class_1" / "sub").mkdir(exist_ok=True)
    for src, dst in (("class_0/img_0.png", ".hidden_class/x.png"), ("class_2/img_1.png", "class_1/sub/y.PNG")):
        if not (folder / dst).exists():
            (folder / dst).write_bytes((folder / src).read_bytes())
    src, ref = open_data(folder, transform=lambda img: torch.zeros(1)), ImageFolder(str(folder))
    assert src.class_to_idx == ref.class_to_idx and src.classes == ref.classes
    assert [(str(p), y) for p, y in src.items] == [(p, y) for p, y in ref.samples]


def api_evaluate_labels_fraction(root):
    from ttfs_symbolic.evaluation.report import evaluate

    ann, snn = _loaded(root)
    evaluate(snn, ann, _images(), labels=[0, 1, 0.7, 2], progress=False)


def api_evaluate_labels_beyond_classes(root):
    from ttfs_symbolic.evaluation.report import evaluate

    ann, snn = _loaded(root)
    evaluate(snn, ann, _images(), labels=[0, 1, 5, 2], progress=False)


def api_activation_zero_on_grid(root):
    """A formula equal to GELU on the check's 4097-point grid and off by up to 0.5 between."""
    from torch import nn

    from ttfs_symbolic.conversion.activations import ActivationNeuron, check_activation

    a, b = -4.0, 4.0
    f = f"x*(1 + erf(x/sqrt(2)))/2 + sin(4096*pi*(x - ({a}))/({b - a}))/2"
    check_activation(nn.GELU(), ActivationNeuron("crafted", f), a, b, "blocks.0.mlp.act")


def api_activation_unused_warns(root):
    import warnings

    from ttfs_symbolic.conversion.convert import convert

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        convert(_tiny(), _images(), progress=False, activations={"NoSuchAct": "x"})
    assert any("NoSuchAct match no module" in str(w.message) for w in caught)


def api_dtype_bfloat16(root):
    _, snn = _loaded(root)
    snn(_images(), dtype=torch.bfloat16)


def api_dtype_float16_quantized(root):
    _, snn = _loaded(root)
    snn(_images(), mode="quantized", precision=64, dtype=torch.float16)


def api_half_images_are_upcast_exactly(root):
    _, snn = _loaded(root)
    x = _images().to(torch.bfloat16)
    assert torch.equal(snn(x, dtype=torch.float64), snn(x.to(torch.float64), dtype=torch.float64))


def _bert():
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=30, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=24, pad_token_id=0, type_vocab_size=2)
    torch.manual_seed(0)
    model = BertModel(cfg).eval()
    ids = torch.randint(5, 30, (3, 8), generator=torch.Generator().manual_seed(0))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    return model, batch


def _bert_snn(model, batch):
    from ttfs_symbolic.conversion.convert import convert

    cal = dict(batch, position_ids=torch.arange(8).expand(3, 8) + 9)   # calibrated on shifted positions too
    return convert(model, [batch, cal], progress=False, margin=0.1)


def api_bert_position_ids_honoured(root):
    model, batch = _bert()
    snn = _bert_snn(model, batch)
    shifted = dict(batch, position_ids=torch.arange(8).expand(3, 8) + 9)
    with torch.no_grad():
        ref = model.double()(**shifted).last_hidden_state
    out = snn(shifted, dtype=torch.float64)
    assert float((out - ref).abs().max()) < 1e-6 * float(ref.abs().max()), float((out - ref).abs().max())


def api_bert_position_ids_out_of_range(root):
    model, batch = _bert()
    snn = _bert_snn(model, batch)
    snn(dict(batch, position_ids=torch.arange(8).expand(3, 8) + 20))


def api_bert_float_token_types(root):
    model, batch = _bert()
    snn = _bert_snn(model, batch)
    snn(dict(batch, token_type_ids=torch.full((3, 8), 0.7)))


def api_bert_small_int_ids(root):
    model, batch = _bert()
    snn = _bert_snn(model, batch)
    want = snn(batch, dtype=torch.float64)
    for dt in (torch.uint8, torch.int16, torch.int32):
        got = snn(dict(batch, input_ids=batch["input_ids"].to(dt)), dtype=torch.float64)
        assert torch.equal(got, want), dt


def api_bert_float16_dtype(root):
    model, batch = _bert()
    _bert_snn(model, batch)(batch, dtype=torch.float16)


def api_energy_json_is_strict(root):
    import contextlib
    import io

    from ttfs_symbolic.cli import main

    (_Path(root) / "ok_cfg.json").write_text(_json.dumps(_BERT_OK))
    for argv in (["energy", str(_Path(root) / "ok_cfg.json"), "--json"], ["energy", NAME, "--json"]):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(argv) == 0
        data = _json.loads(buf.getvalue(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        assert data["op_snn"] > 0 and data["op_ann"] > 0


def api_native_truncated_library(root):
    """A truncated cached library whose checksum file was rewritten to match: rebuilt, no SIGBUS."""
    import hashlib
    import subprocess
    import sys

    cache = _Path(root) / "native_cache"
    cache.mkdir(mode=0o700, exist_ok=True)
    _os.chmod(cache, 0o700)
    code = ("import torch\nfrom ttfs_symbolic.numeric import native, native_build\nnative_build.FLAG_SETS = (['-O0'],)\n"
            "x = torch.linspace(-1, 2, 50, dtype=torch.float64)\n"
            "print(native.tick_lookup(x, 1.0, 4.0, 4, step=0.25, backend='native')[1])\n")
    env = {**_os.environ, "TTFS_CACHE_DIR": str(cache)}
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0, first.stderr
    lib = next(p for p in cache.glob("*.so"))
    cut = lib.read_bytes()[:8192]
    lib.write_bytes(cut)
    (cache / (lib.name + ".sha256")).write_text(hashlib.sha256(cut).hexdigest() + "\n")
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0 and again.stdout.strip() == first.stdout.strip(), (again.returncode, again.stderr)
    assert "failed its check" in again.stderr and "truncated" in again.stderr


WORKFLOW_API = [
    ("api-other-weights", api_other_weights, r"calibrated for other weights \(weights fingerprint sha256:"),
    ("api-force-warns", api_force_warns, None),
    ("api-fingerprint-stable", api_fingerprint_stable, None),
    ("api-label-map-is-imagefolders", api_label_map_is_imagefolders, None),
    ("api-evaluate-labels-fraction", api_evaluate_labels_fraction, r"integer class numbers, got 0\.7"),
    ("api-evaluate-labels-beyond-classes", api_evaluate_labels_beyond_classes, r"class 5 but the model has 3"),
    ("api-activation-zero-on-grid", api_activation_zero_on_grid, r"does not compute its neuron's f.*random points"),
    ("api-activation-unused-warns", api_activation_unused_warns, None),
    ("api-dtype-bfloat16", api_dtype_bfloat16, r"torch\.float32 or torch\.float64, got torch\.bfloat16"),
    ("api-dtype-float16", api_dtype_float16_quantized, r"torch\.float32 or torch\.float64, got torch\.float16"),
    ("api-half-images", api_half_images_are_upcast_exactly, None),
    ("api-bert-position-ids", api_bert_position_ids_honoured, None),
    ("api-bert-position-ids-range", api_bert_position_ids_out_of_range, r"position_ids out of range 0\.\.23"),
    ("api-bert-float-token-types", api_bert_float_token_types, r"token_type_ids must be an integer tensor"),
    ("api-bert-small-int-ids", api_bert_small_int_ids, None),
    ("api-bert-float16-dtype", api_bert_float16_dtype, r"torch\.float32 or torch\.float64, got torch\.float16"),
    ("api-energy-json-strict", api_energy_json_is_strict, None),
    ("api-native-truncated-library", api_native_truncated_library, None),
]


# ---------------------------------------------------------------- torchrun (2 ranks, gloo on 127.0.0.1)
# (id, prepare(root) or None, environment, argv, pattern). ``rank_wrapper.py`` (written by
# :func:`write_rank_wrapper`) runs ``ttfs`` with TTFS_RANK<r>_ARGS appended on rank r, or with rank r
# hanging (``TTFS_RANK<r>_HANG``: sleeping before its first collective).
RANK_WRAPPER = '''"""ttfs under torchrun with per-rank changes (tests/hardening/hostile_corpus.py)."""
import os, sys, time
from ttfs_symbolic.cli import main
from ttfs_symbolic.conversion import distributed
rank = int(os.environ.get("RANK", "0"))
argv = sys.argv[1:] + os.environ.get(f"TTFS_RANK{rank}_ARGS", "").split()
if os.environ.get(f"TTFS_RANK{rank}_HANG"):
    gather = distributed.all_gather_objects
    def hang(obj):
        time.sleep(float(os.environ[f"TTFS_RANK{rank}_HANG"]))
        return gather(obj)
    distributed.all_gather_objects = hang
sys.exit(main(argv))
'''


def write_rank_wrapper(root) -> _Path:
    p = _Path(root) / "rank_wrapper.py"
    p.write_text(RANK_WRAPPER)
    return p


def _corrupt_in_rank1(root):
    folder = _copy_images(root, "img_corrupt")
    (folder / "class_2" / "zz_broken.png").write_bytes(b"\x89PNG not really")   # image 12: batch 3 -> rank 1


TR_EVALUATE = _evaluate(out="{r}/out/tr") + ["--batch-size", "4", "--timeout", "20"]
WORKFLOW_TORCHRUN = [
    ("torchrun-batch-size-differs", None, {"TTFS_RANK1_ARGS": "--batch-size 3"}, TR_EVALUATE,
     r"did not get the same arguments: batch_size is 4 on rank 0 but 3 on rank 1"),
    ("torchrun-modes-differ", None, {"TTFS_RANK1_ARGS": "--modes quantized --precision 64"}, TR_EVALUATE,
     r"did not get the same arguments: modes is 'exact' on rank 0 but 'quantized' on rank 1"),
    ("torchrun-dtype-differs", None, {"TTFS_RANK1_ARGS": "--dtype float64"}, TR_EVALUATE,
     r"did not get the same arguments: dtype is 'float32' on rank 0 but 'float64' on rank 1"),
    ("torchrun-limit-differs", None, {"TTFS_RANK1_ARGS": "--limit 8"}, TR_EVALUATE,
     r"did not get the same arguments: limit is None on rank 0 but 8 on rank 1"),
    ("torchrun-data-differs", lambda r: _copy_images(r, "img_copy"), {"TTFS_RANK1_ARGS": "--data {r}/img_copy"},
     TR_EVALUATE, r"did not get the same arguments: data is"),
    ("torchrun-rank-hangs", None, {"TTFS_RANK1_HANG": "3600"}, TR_EVALUATE[:-1] + ["5"],
     r"rank 0: collective #1 did not complete within 5 s: rank 1 .* never arrived"),
    ("torchrun-rank-fails", _corrupt_in_rank1, {}, _evaluate(data="{r}/img_corrupt", out="{r}/out/tr")
     + ["--batch-size", "4", "--timeout", "20"], r"rank 1: cannot decode image .*zz_broken\.png"),
]
