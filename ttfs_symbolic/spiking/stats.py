"""Calibration statistics of a population: running moments, extremes and sample reservoirs (Algorithm 1).

:class:`PopStats` holds what calibration observed of one layer's values
(and the run-time spike and clip counters); :func:`optimal_range` picks the
range that minimises the rounding plus clipping error of a sample at p
ticks; the sample reservoirs draw from one seeded generator
(:func:`seed_samples`), so the same data gives the same ranges.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

OPTIMAL_TRIMS = (0.0, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)


def optimal_range(samples: np.ndarray, p: int, lo: float, hi: float) -> tuple[float, float]:
    """The range [a, b] of least expected squared error at time precision p on ``samples``.

    The error of a value x is its clipping, ``clip(x, a, b) - x``, plus the rounding to the nearest
    of p ticks, uniform with variance ``((b - a)/p)^2 / 12``. Candidates: [q_lo, q_hi] with q the
    sample quantiles at each pair of :data:`OPTIMAL_TRIMS` (0 keeps the observed extreme ``lo`` or
    ``hi``). A few far outliers are clipped when the ticks they would cost everyone else are worth
    more; a range without outliers stays [min, max].
    """
    x = np.sort(np.asarray(samples, dtype=np.float64))
    if x.size == 0:
        return lo, hi
    def q(t, upper):
        if t == 0:
            return hi if upper else lo
        return float(np.quantile(x, 1.0 - t if upper else t))
    best, best_err = (lo, hi), math.inf
    for tl in OPTIMAL_TRIMS:
        a = q(tl, False)
        for tu in OPTIMAL_TRIMS:
            b = q(tu, True)
            if not b > a:
                continue
            clip = np.clip(x, a, b) - x
            err = float(np.mean(clip * clip)) + ((b - a) / p) ** 2 / 12.0
            if err < best_err:
                best, best_err = (a, b), err
    return best


@dataclass
class PopStats:
    """Calibration statistics and run-time counters of one population."""

    lo: float = math.inf
    hi: float = -math.inf
    samples: list = field(default_factory=list)
    #: for each batch of ``samples``, the index of each sample's neuron within one input (the values
    #: without their batch dimension, flattened): which per-channel or per-neuron range it has
    sample_idx: list = field(default_factory=list)
    n_seen: int = 0
    # elementwise extremes over the batch (per-neuron and per-channel ranges)
    lo_t: torch.Tensor | None = None
    hi_t: torch.Tensor | None = None
    sum_t: torch.Tensor | None = None      # elementwise sums over the batch (mean and spread per neuron)
    m2_t: torch.Tensor | None = None       # elementwise sums of squared deviations from the mean (Chan et al.)
    rows: int = 0
    # run-time counters (reset by SpikingModel.reset_counters)
    neurons: int = 0
    spikes: int = 0
    clipped: int = 0
    #: the values the neurons carried (a log-coded value of either sign has two neurons, one of which fires)
    values: int = 0

    #: the run-time counters, in the order evaluation sums them over batches and processes
    COUNTERS = ("neurons", "spikes", "clipped", "values")

    @property
    def spikes_per_value(self) -> float:
        """Spikes per value carried (per neuron where no values are counted: the products' layer I)."""
        return self.spikes / (self.values or self.neurons) if self.neurons else 0.0

    def merge(self, other: "PopStats"):
        """Add ``other``'s calibration statistics (another part of the same data) to these."""
        self.lo, self.hi = min(self.lo, other.lo), max(self.hi, other.hi)
        self.samples += other.samples
        self.sample_idx += other.sample_idx
        self.n_seen += other.n_seen
        if other.lo_t is None:
            return
        self.add_moments(other.lo_t, other.hi_t, other.sum_t, other.m2_t, other.rows)

    def add_moments(self, lo_t, hi_t, sum_t, m2_t, rows: int):
        """Add elementwise extremes, sums and sums of squared deviations of ``rows`` more rows (Chan et
        al.'s parallel combination: every term >= 0, so a nearly constant neuron's spread does not cancel
        as sum(x^2)/n - mean^2 would)."""
        if self.lo_t is None:
            self.lo_t, self.hi_t, self.sum_t, self.m2_t, self.rows = lo_t, hi_t, sum_t, m2_t, rows
            return
        self.lo_t, self.hi_t = torch.minimum(self.lo_t, lo_t), torch.maximum(self.hi_t, hi_t)
        na = self.rows
        delta = sum_t / rows - self.sum_t / na
        self.m2_t = self.m2_t + m2_t + delta.square() * (na * rows / (na + rows))
        self.sum_t = self.sum_t + sum_t
        self.rows = na + rows



SAMPLES = torch.Generator().manual_seed(0)


def seed_samples(seed: int) -> None:
    """Seed the generator of the calibration sample reservoirs (percentiles, product shifts)."""
    SAMPLES.manual_seed(seed)
