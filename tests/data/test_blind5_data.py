"""Labels stay with their images when corrupt files are skipped (the fifth blind mutation audit's survivor
in the data readers, docs/mutation.md)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ttfs_symbolic.data.files import open_data


def _png(path, value):
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(path)


@pytest.mark.parametrize("order", ["middle", "first", "last"])
def test_a_skipped_image_takes_its_label_with_it(tmp_path, order):
    """class_a holds three images and a corrupt file (placed first, in the middle or last by its name),
    class_b two images. With skip_corrupt every batch has one label per decoded image, the labels of the
    images it holds (class_a's 0 and class_b's 1, told apart by pixel value), and names the skipped file."""
    names = {"first": "0_broken.png", "middle": "2_broken.png", "last": "9_broken.png"}
    a, b = tmp_path / "class_a", tmp_path / "class_b"
    a.mkdir()
    b.mkdir()
    for n in ("1.png", "3.png", "5.png"):
        _png(a / n, 40)
    for n in ("1.png", "3.png"):
        _png(b / n, 200)
    (a / names[order]).write_bytes(b"\x89PNG not really")
    to_tensor = lambda img: torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)  # noqa: E731
    src = open_data(tmp_path, to_tensor, skip_corrupt=True)
    assert src.has_labels and len(src) == 6
    for chunk in (range(0, 6), range(0, 3), range(3, 6)):
        batch = src.batch(chunk)
        assert batch.labels.shape[0] == batch.images.shape[0]
        # the label of each decoded image from its pixels: class_a's are dark (40/255), class_b's light
        from_pixels = (batch.images.mean(dim=(1, 2, 3)) > 0.5).long()
        assert torch.equal(batch.labels, from_pixels), (order, chunk, batch.labels, from_pixels)
    whole = src.batch(range(6))
    assert whole.images.shape[0] == 5 and whole.skipped == [str(a / names[order])]
