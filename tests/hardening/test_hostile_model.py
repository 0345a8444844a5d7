"""The hostile-input corpus (tests/hardening/hostile_corpus.py) through the model entry points (issue 12)."""
from __future__ import annotations

import json
import re

import pytest
import torch
from timm.models.vision_transformer import VisionTransformer

from hostile_corpus import BAD_CALL_ARGS, BAD_CONVERSIONS, BAD_CONVERT_ARGS, BAD_IMAGES
from ttfs_symbolic.conversion.convert import calibrate, convert
from ttfs_symbolic.conversion.fileformat import load_conversion, save_conversion
from ttfs_symbolic.evaluation.report import evaluate

TINY = dict(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=10)


def _one_line(exc) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and len(msg) < 400, msg
    return msg


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    ann = VisionTransformer(**TINY).eval()
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    snn = convert(ann, x, progress=False)
    return ann, snn, x


@pytest.fixture(scope="module")
def good_file(model, tmp_path_factory):
    return save_conversion(model[1], tmp_path_factory.mktemp("conv") / "good.json")


# every entry point that takes images: (name, call(ann, snn, images))
IMAGE_ENTRY_POINTS = {
    "forward": lambda ann, snn, x: snn(x),
    "forward-quantized": lambda ann, snn, x: snn(x, mode="quantized", precision=64),
    "predict": lambda ann, snn, x: snn.predict(x),
    "calibrate": lambda ann, snn, x: calibrate(snn, x, progress=False),
    "convert": lambda ann, snn, x: convert(ann, x, progress=False),
    "evaluate": lambda ann, snn, x: evaluate(snn, ann, x, progress=False),
}


@pytest.mark.parametrize("entry", list(IMAGE_ENTRY_POINTS))
@pytest.mark.parametrize("case", BAD_IMAGES, ids=[c[0] for c in BAD_IMAGES])
def test_bad_images_are_refused_in_one_line(model, entry, case):
    ann, snn, x = model
    _, make, pattern, exc_type = case
    bad = make(x.clone())
    with pytest.raises((exc_type, ValueError, TypeError), match=pattern) as exc:
        IMAGE_ENTRY_POINTS[entry](ann, snn, bad)
    _one_line(exc)


def test_the_other_families_share_the_image_checks():
    from ttfs_symbolic.families.deit import SpikingDeiTDistilled
    from ttfs_symbolic.families.eva import SpikingEva
    from ttfs_symbolic.families.vit import SpikingViT

    assert SpikingEva.check_images is SpikingViT.check_images
    assert issubclass(SpikingDeiTDistilled, SpikingViT)


@pytest.mark.parametrize("entry", ["forward", "evaluate"])
@pytest.mark.parametrize("case", BAD_CALL_ARGS, ids=[c[0] for c in BAD_CALL_ARGS])
def test_bad_call_arguments_are_refused_in_one_line(model, case, entry):
    ann, snn, x = model
    _, kwargs, pattern = case
    with pytest.raises(ValueError, match=pattern) as exc:
        if entry == "forward":
            snn(x, **kwargs)
        else:
            evaluate(snn, ann, x, progress=False, **kwargs)
    _one_line(exc)


@pytest.mark.parametrize("batch_size", [0, -1, 1.5])
def test_evaluate_refuses_a_bad_batch_size(model, batch_size):
    ann, snn, x = model
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(snn, ann, x, batch_size=batch_size, progress=False)


@pytest.mark.parametrize("case", BAD_CONVERT_ARGS, ids=[c[0] for c in BAD_CONVERT_ARGS])
def test_bad_convert_arguments_are_refused_before_any_work(model, case, monkeypatch):
    ann, snn, x = model
    _, kwargs, pattern = case
    import ttfs_symbolic.conversion.convert as conv

    def no_work(*a, **k):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(conv, "resolve_model", no_work)
    with pytest.raises(ValueError, match=pattern) as exc:
        convert(ann, x, progress=False, **kwargs)
    _one_line(exc)
    with pytest.raises(ValueError, match=pattern):
        calibrate(snn, x, progress=False, **kwargs)


@pytest.mark.parametrize("case", BAD_CONVERSIONS, ids=[c[0] for c in BAD_CONVERSIONS])
def test_damaged_conversion_files_are_refused_naming_the_file(model, good_file, tmp_path, case):
    ann = model[0]
    name, damage, pattern = case
    raw = good_file.read_bytes()
    if isinstance(damage, bytes):
        content = damage
    elif name in ("truncated",):
        content = damage(raw)
    else:
        content = json.dumps(damage(json.loads(raw))).encode()
    path = tmp_path / f"{name}.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=pattern) as exc:
        load_conversion(ann, path)
    msg = _one_line(exc)
    assert msg.startswith(str(path)), msg


def test_a_good_conversion_file_and_per_neuron_ranges_load(model, good_file, tmp_path):
    """The schema accepts what save_conversion writes, per-neuron lists (issue 10) and unknown extra keys."""
    from ttfs_symbolic.conversion.schema import validate_conversion

    ann, snn, x = model
    again = load_conversion(ann, good_file)
    assert torch.equal(again(x), snn(x))
    data = json.loads(good_file.read_text())
    data["activations"] = {"anything": [1, 2]}
    name = next(iter(data["layers"]))
    e = data["layers"][name]
    e["a"], e["b"] = [e["a"], e["a"] - 1.0], [e["b"], e["b"] + 1.0]
    assert validate_conversion(data, "x.json") is data
    e["b"] = [e["a"][1], e["b"][1]]   # b[0] below a[0]
    with pytest.raises(ValueError, match=re.escape("x.json: invalid conversion file: layer") + ".*neuron 0"):
        validate_conversion(data, "x.json")


@pytest.mark.parametrize("content,pattern", [(b"", "EOFError|not a readable"), (b"PK\x03\x04garbage", "not a readable"),
                                             ("truncated", "not a readable")])
def test_damaged_checkpoints_are_refused_naming_the_file(tmp_path, content, pattern):
    from ttfs_symbolic.zoo.digits import default_checkpoint_path, load_demo_model

    if content == "truncated":
        raw = default_checkpoint_path().read_bytes()
        content = raw[: len(raw) // 3]
    path = tmp_path / "damaged.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=pattern) as exc:
        load_demo_model(path)
    assert _one_line(exc).startswith(str(path))


@pytest.mark.parametrize("range_kind", ["channel", "neuron"])
def test_per_channel_and_per_neuron_conversion_files_pass_the_schema(model, tmp_path, range_kind):
    ann, _, x = model
    snn = convert(ann, x, progress=False, range_kind=range_kind)
    path = save_conversion(snn, tmp_path / f"{range_kind}.json")
    again = load_conversion(ann, path)
    assert torch.equal(again(x), snn(x))


def _materialise(case, good_file, tmp_path):
    name, damage, _ = case
    raw = good_file.read_bytes()
    if isinstance(damage, bytes):
        content = damage
    elif name == "truncated":
        content = damage(raw)
    else:
        content = json.dumps(damage(json.loads(raw))).encode()
    path = tmp_path / f"{name}.json"
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("case", BAD_CONVERSIONS, ids=[c[0] for c in BAD_CONVERSIONS])
def test_damaged_conversion_files_through_ttfs_evaluate(good_file, tmp_path, capsys, case):
    """The CLI entry point of conversion files: exit 2, one line naming the file, before any model is built."""
    from ttfs_symbolic.cli import main

    path = _materialise(case, good_file, tmp_path)
    rc = main(["evaluate", "vit_tiny_patch16_224", "--conversion", str(path), "--data", str(tmp_path),
               "--out", str(tmp_path / "out"), "--no-progress", "--threads", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert str(path) in err and re.search(case[2], err), err


def test_ttfs_evaluate_checks_out_before_any_work(good_file, tmp_path, capsys):
    from ttfs_symbolic.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out, pattern in ((blocker, "a file of that name exists"), (blocker / "sub", "is a file, not a folder")):
        rc = main(["evaluate", "vit_tiny_patch16_224", "--conversion", str(good_file), "--data", str(tmp_path),
                   "--out", str(out), "--no-progress", "--threads", "1"])
        err = capsys.readouterr().err
        assert rc == 2 and pattern in err and err.count("\n") == 1, err
