"""Conversion (Algorithm 1): the family registry, activations, presets, calibration, the conversion file and torchrun."""
