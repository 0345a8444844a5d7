"""Evaluation: ANN against SNN (report, sweep over modes and precisions, error budget)."""
