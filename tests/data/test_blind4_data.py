"""The preprocessing of a model built for another size than its pretrained weights' (the fourth blind mutation
audit's survivor in the data readers, docs/mutation.md): the size it was built for wins, --img-size over it."""
from __future__ import annotations

import timm

from ttfs_symbolic.data.files import data_config, model_input_size


def test_the_size_the_model_was_built_for_wins_over_its_pretrained_config():
    model = timm.create_model("vit_tiny_patch16_224", img_size=32, pretrained=False)
    assert model.pretrained_cfg["input_size"] == (3, 224, 224)
    assert model_input_size(model) == (3, 32, 32)
    assert data_config(model)["input_size"] == (3, 32, 32)
    assert data_config(model, img_size=48)["input_size"] == (3, 48, 48)
    grey = timm.create_model("vit_tiny_patch16_224", img_size=32, in_chans=1, pretrained=False)
    assert data_config(grey)["input_size"] == (1, 32, 32)
