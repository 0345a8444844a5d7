"""Checkpoint files with non-finite weights (the third blind mutation audit's survivors, docs/mutation.md)."""
from __future__ import annotations

import pytest
import torch

from ttfs_symbolic.data.files import DataError, load_checkpoint, read_state_dict


@pytest.mark.parametrize("bad", [float("inf"), -float("inf"), float("nan")])
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_a_checkpoint_with_inf_or_nan_weights_is_refused(tmp_path, bad, suffix):
    """A checkpoint holding +inf, -inf or NaN weights is refused with a DataError naming the file, the tensor and
    the count ('holds 1 non-finite value(s)'), never loaded: an inf weight would make every spike time inf."""
    model = torch.nn.Linear(3, 2)
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    sd["weight"][1, 2] = bad
    path = tmp_path / f"model{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(sd, str(path))
    else:
        torch.save(sd, path)
    with pytest.raises(DataError, match=r"checkpoint .*model\S*: weight holds 1 non-finite value\(s\)"):
        read_state_dict(path)
    before = model.weight.detach().clone()
    with pytest.raises(DataError, match="weight holds 1 non-finite value"):
        load_checkpoint(model, path)
    assert torch.equal(model.weight.detach(), before)   # the model keeps its own weights


def test_a_finite_checkpoint_still_loads(tmp_path):
    """The refusal is of non-finite values only: a checkpoint of large but finite weights loads as it is."""
    model = torch.nn.Linear(3, 2)
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    sd["weight"][0, 0] = 3e38
    torch.save(sd, tmp_path / "big.pt")
    got = read_state_dict(tmp_path / "big.pt")
    assert torch.equal(got["weight"], sd["weight"])


@pytest.mark.parametrize("keys, wins", [(("state_dict", "state_dict_ema"), "state_dict_ema"),
                                        (("model", "model_ema"), "model_ema"),
                                        (("state_dict", "model_ema"), "model_ema"),
                                        (("state_dict_ema", "model_ema"), "state_dict_ema"),
                                        (("model", "state_dict"), "state_dict")])
def test_a_training_checkpoint_gives_its_ema_weights_first(tmp_path, keys, wins):
    """A checkpoint wrapping several copies of the weights gives the EMA's (state_dict_ema, then model_ema),
    then state_dict, then model (documented: timm's load_checkpoint default), each copy told apart by value."""
    ckpt = {k: {"weight": torch.full((2, 3), float(i + 1)), "bias": torch.zeros(2)} for i, k in enumerate(keys)}
    ckpt["epoch"] = 7
    torch.save(ckpt, tmp_path / "train.pt")
    got = read_state_dict(tmp_path / "train.pt")
    assert torch.equal(got["weight"], ckpt[wins]["weight"])
