"""Calibration ranges against a hand computation in numpy (float64), for every option that shapes a range.

The blind mutation audits (docs/mutation.md) kept finding range bugs that the default options and
symmetric data hide: a percentile that trims one tail only, per-channel moments merged without the
between-batch term, ``mean - sigmas*std`` with a flipped sign, held-out data left out of the final
ranges, a margin applied as a shift, headroom on the wrong end. Each test here builds skewed or
heavy-tailed data (outliers on the LOW side, several batches of different sizes and means, channels of
very different scales), calibrates the smallest object that calibrates (one :class:`Population`, or a
one-layer :class:`SpikingModel` through :func:`calibrate`), and compares every range end with the
documented definition, written out in numpy below (never with the library's own helpers).

The definitions (``calibrate``'s and ``Population.finalize``'s docstrings, docs/guide/precision.md,
docs/guide/own_model.md):

* layer-wide: ``[lo, hi]`` = the observed min / max, or with ``percentile`` q < 100 the (100 - q)-th and
  q-th percentiles of the calibration samples (both tails trimmed), then widened by ``margin`` times the
  width ``hi - lo`` on BOTH sides;
* per-channel (``range_kind="channel"``: reduced over every dimension but the channel, the batch
  and tokens included; attention scores per head, attention outputs per head and feature) and
  per-neuron (``range_kind="neuron"``: reduced over the batch only): ``lo = min(observed min,
  mean - sigmas*std)``, ``hi = max(observed max, mean + sigmas*std)`` over ALL the calibration data,
  however it was split into batches, then the margin as above; ``percentile`` does not apply;
* ``holdout``: every round(1/holdout)-th item is held out; the ranges fitted on the rest give each layer
  the margin (a fraction of the fitted range's width, at most ``max_margin``) that its held-out values
  need not to clip, and the final ranges are those of ALL the data widened by ``margin`` + that margin;
* ``headroom`` h: a log-coded layer's far ends (``b > 0`` and ``a < 0``) times h, a variance's
  positive least value divided by h; a linear-coded layer's range is unchanged;
* a variance (``scale_low``): relative ends, ``[observed least / (1 + margin), hi * (1 + margin)]``
  with hi the sigma-widened largest; with a proven bound (folded rsqrt) ``variance_end="bound"`` ends
  at the bound, ``"calibrated"`` at that hi capped at the bound;
* ``lower_bound`` / ``upper_bound`` clamp the widened range, ``pin_low`` fixes its low end.

Tolerances: the library and numpy compute the same float64 quantities in a different order (running
Chan et al. sums over batches against one numpy pass over all the data): about 1e-15 relative to the
values is seen, docs/guide/own_model.md promises 1e-12 relative, which is what :func:`close` allows
(relative to the magnitude of each channel's values, since a range end near 0 has no relative scale of
its own). Where both sides take the very same float operations on the very same samples (percentiles),
the tolerance is still 1e-12 relative. Every expected value differs from what each mutation named in a
test's docstring would give by far more (checked by breaking the library in a scratch copy).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ttfs_symbolic.conversion.convert import calibrate
from ttfs_symbolic.spiking import OPTIMAL_TRIMS, Population, SpikingLinear, SpikingModel, seed_samples

D = torch.float64
REL = 1e-12   # float64: see the module docstring


def close(got, want, scale, rel=REL):
    """``got`` equals ``want`` elementwise within ``rel`` times ``scale`` (the magnitude of the values)."""
    got = np.asarray(torch.as_tensor(got, dtype=D).reshape(-1).numpy() if isinstance(got, torch.Tensor) else got,
                     dtype=np.float64).reshape(-1)
    want = np.asarray(want, dtype=np.float64).reshape(-1)
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64).reshape(-1), want.shape)
    assert got.shape == want.shape, (got.shape, want.shape)
    err = np.abs(got - want)
    tol = rel * np.maximum(scale, np.abs(want))
    assert np.all(err <= tol), f"got {got}, want {want}, error {err}, tolerance {tol}"


# ---- the hand computations ------------------------------------------------------------------------------

def widen(lo, hi, margin):
    """``[lo, hi]`` widened by ``margin`` times its width on both sides. The width of a constant range is
    floored at 1e-6 max(1, |hi|) (the code's sliver; only the constant channel below meets it)."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    w = np.maximum(hi - lo, 1e-6 * np.maximum(np.abs(hi), 1.0))
    return lo - margin * w, hi + margin * w


def fine_range(x, keep, sigmas, margin):
    """Per-channel / per-neuron range of the values ``x`` (all of them, one numpy array) keeping the axes
    ``keep``: ``min(min, mean - s std)``, ``max(max, mean + s std)`` (std with divisor n: the code divides
    the sum of squared deviations by the number of rows, ``finalize``; the docs say only "standard
    deviations"), then the margin. A range of zero width gets the sliver ``hi = lo + max(1e-6 |lo|, 1e-6)``
    (``finalize``'s last line) when the margin is 0."""
    red = tuple(d for d in range(x.ndim) if d not in keep)
    lo, hi = x.min(red), x.max(red)
    mean, std = x.mean(red), x.std(red)
    if sigmas > 0:
        lo, hi = np.minimum(lo, mean - sigmas * std), np.maximum(hi, mean + sigmas * std)
    a, b = widen(lo, hi, margin)
    return a, np.maximum(b, a + np.maximum(np.abs(a) * 1e-6, 1e-6))


def magnitude(x, keep):
    red = tuple(d for d in range(x.ndim) if d not in keep)
    return np.abs(x).max(red)


def draws(batches, seed=0, reservoir=20000):
    """The calibration samples of one layer that observed ``batches`` in turn: from each batch,
    min(reservoir/4, n) of its n values drawn uniformly with replacement, by the seeded generator
    (``seed_samples``; calibrate seeds it with 0). Written here from observe's docstring and the generator's
    documented seeding, so the percentile and the least-error range are checked on the same samples."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for v in batches:
        v = v.reshape(-1)
        idx = torch.randint(0, v.numel(), (min(reservoir // 4, v.numel()),), generator=g)
        out.append(v[idx].numpy())
    return np.concatenate(out)


# ---- the smallest model that calibrate() calibrates -----------------------------------------------------

class OneLayer(SpikingModel):
    """An input population and one linear layer of identity weights: the layer's values are the data."""

    def __init__(self, channels: int):
        super().__init__()
        self.input = Population("input", "identity", kind="input", fan_in=0)
        self.lin = SpikingLinear("lin", torch.eye(channels, dtype=D), None)

    def populations(self):
        return [self.input, self.lin.out]

    def check_images(self, x):
        return x

    def run(self, x, ctx):
        return self.lin(self.input.emit(x, ctx), ctx)


def calibrated(x, **kw):
    m = OneLayer(x.shape[-1])
    calibrate(m, x, progress=False, **kw)
    return m


def skewed_channels(n=7, tokens=5, seed=0):
    """(n, tokens, 4) values, float64: channel 0 at scale 1e-3 with a long LOWER tail and one far low
    outlier; channel 1 at scale 1 with a long upper tail (lognormal); channel 2 at scale 1e3, normal, one
    low outlier; channel 3 constant 5. Items 3k..3k+2 are shifted by 2k times the channel's scale, so
    calibration batches of 3 items (3, 3, 1 of them) have different means: the between-batch term of the
    merged variance matters."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, tokens, 3, generator=g, dtype=D)
    x = torch.empty(n, tokens, 4, dtype=D)
    x[..., 0] = 1e-3 * (1.0 - torch.exp(1.2 * z[..., 0]))
    x[..., 1] = torch.exp(0.8 * z[..., 1])
    x[..., 2] = 1e3 * z[..., 2]
    x[..., 3] = 5.0
    x[1, 2, 0] = -0.2            # low outliers, 200x and 8x the scale below
    x[4, 0, 2] = -8e3
    shift = torch.tensor([1e-3, 1.0, 1e3, 0.0], dtype=D)
    for k in range((n + 2) // 3):
        x[3 * k:3 * k + 3] += 2 * k * shift
    return x


# ---- layer-wide ranges ----------------------------------------------------------------------------------

@pytest.mark.parametrize("margin", [0.0, 0.15])
def test_layer_range_is_min_max_of_every_batch_widened_on_both_sides(margin):
    """percentile 100: the range is [min, max] over every batch (the last, short batch holds the global
    minimum), widened by margin*(max - min) at BOTH ends. Catches: a margin applied as a shift (both ends
    moved the same way), a margin on one end only, a batch dropped."""
    g = torch.Generator().manual_seed(1)
    x = torch.exp(torch.randn(9, 6, generator=g, dtype=D))     # positive, long upper tail
    x[8, 3] = -40.0                                            # in the last batch (items 8..8)
    x[4, 1] = 90.0
    m = calibrated(x, batch_size=4, margin=margin, range_kind="layer")
    a, b = widen(x.numpy().min(), x.numpy().max(), margin)
    close([m.lin.out.a, m.lin.out.b], [a, b], 90.0)
    assert m.lin.out.fine_a is None


@pytest.mark.parametrize("percentile, margin", [(99.0, 0.0), (97.5, 0.2), (99.9, 0.05)])
def test_percentile_trims_both_tails_of_skewed_data_with_low_outliers(percentile, margin):
    """percentile q: [P_(100-q), P_q] of the samples of every batch (numpy's linear interpolation, the
    samples drawn as :func:`draws` writes), then the margin. The data are positive and skewed upwards, with
    0.5% far LOW outliers: a percentile q <= 99 that trims the upper tail only keeps -60 as the low end; batches of
    30, 70 (subsampled: 7000 values > 5000 drawn) and 5 rows of 100, of different means."""
    g = torch.Generator().manual_seed(2)
    batches = []
    for rows, shift in ((30, 0.0), (70, 1.5), (5, -0.5)):
        v = torch.exp(0.7 * torch.randn(rows, 100, generator=g, dtype=D)) + shift
        out = torch.rand(rows, 100, generator=g, dtype=D) < 0.005
        v[out] = -60.0 - 10 * torch.rand(int(out.sum()), generator=g, dtype=D)
        batches.append(v)
    pop = Population("x")
    seed_samples(0)
    for v in batches:
        pop.observe(v)
    pop.finalize(percentile=percentile, margin=margin)
    s = draws(batches)
    assert s.size == 3000 + 5000 + 500   # 30, 70 and 5 rows of 100; at most 5000 drawn per batch
    lo, hi = np.percentile(s, 100.0 - percentile), np.percentile(s, percentile)
    a, b = widen(lo, hi, margin)
    close([pop.a, pop.b], [a, b], 70.0)
    if percentile <= 99.0:   # 0.5% below -60: the (100 - q)-th percentile lies above them
        assert pop.a > -60.0 * (1 + margin)
    assert pop.stats.lo < -60.0


def test_least_error_range_on_low_outliers_then_the_margin():
    """optimize_for=p: the candidate [q_lo, q_hi] (sample quantiles at each pair of the trims, trim 0 the
    observed extreme) of least mean clip^2 + ((b - a)/p)^2/12 on the samples, then the margin. Low
    outliers at -100 (0.3%) cost more ticks than clipping them at p = 4 (rounding (101/4)^2/12 = 53 against
    clipping 0.003 * 100^2 = 30): the low end is trimmed."""
    g = torch.Generator().manual_seed(3)
    batches = [torch.rand(40, 50, generator=g, dtype=D), torch.rand(20, 50, generator=g, dtype=D) + 0.5]
    batches[0].view(-1)[:9] = -100.0
    pop = Population("x")
    seed_samples(0)
    for v in batches:
        pop.observe(v)
    pop.finalize(optimize_for=4, margin=0.1)
    x = np.sort(draws(batches))
    lo_all = min(float(v.min()) for v in batches)
    hi_all = max(float(v.max()) for v in batches)
    best, err = None, np.inf
    for tl in OPTIMAL_TRIMS:
        for tu in OPTIMAL_TRIMS:
            a = lo_all if tl == 0 else np.quantile(x, tl)
            b = hi_all if tu == 0 else np.quantile(x, 1.0 - tu)
            if not b > a:
                continue
            e = np.mean((np.clip(x, a, b) - x) ** 2) + ((b - a) / 4) ** 2 / 12.0
            if e < err:
                best, err = (a, b), e
    a, b = widen(*best, 0.1)
    close([pop.a, pop.b], [a, b], 100.0)
    assert pop.stats.lo == -100.0 and pop.a > -1.0   # the outliers seen, and clipped


@pytest.mark.parametrize("kw, data, want", [
    # lower_bound 0: the margin's widening below 0 is cut at 0; the upper end widened by 0.1 * 4.8
    (dict(lower_bound=0.0), [0.2, 1.0, 5.0], (0.0, 5.0 + 0.1 * 4.8)),
    # pin_low 0: the low end is 0 whatever the data and the margin (a probability's "no spike")
    (dict(pin_low=0.0), [0.3, 0.9, 0.6], (0.0, 0.9 + 0.1 * 0.6)),
    # upper_bound 1: the upper end is cut at 1, the lower end widened by 0.1 * 1.2
    (dict(upper_bound=1.0), [-0.2, 0.5, 1.0], (-0.2 - 0.1 * 1.2, 1.0)),
])
def test_bounds_and_pinned_ends_clamp_the_widened_range(kw, data, want):
    pop = Population("x", **kw)
    pop.observe(torch.tensor([data], dtype=D))
    pop.finalize(margin=0.1)
    close([pop.a, pop.b], want, 5.0)


# ---- per-channel and per-neuron ranges ------------------------------------------------------------------

@pytest.mark.parametrize("sigmas", [0.0, 1.5, 6.0])
@pytest.mark.parametrize("margin", [0.0, 0.3])
def test_channel_ranges_of_skewed_channels_over_uneven_batches(sigmas, margin):
    """range_kind="channel": per channel, min(min, mean - s std) and max(max, mean + s std) over ALL 7
    items x 5 tokens, fed as batches of 3, 3 and 1 item with different means, then the margin. At
    sigmas=1.5 some ends come from the extremes and some from the spread (checked), at 6 all from the
    spread. Catches: the between-batch term of the merged variance dropped, mean - s std with a flipped
    sign (the low end would stay at the observed min), a margin shift, a moment over the batch only."""
    x = skewed_channels()
    m = calibrated(x, batch_size=3, range_kind="channel", sigmas=sigmas, margin=margin)
    out = m.lin.out
    assert out.range_kind == "channel" and tuple(out.fine_a.shape) == (4,)
    xn = x.numpy()
    a, b = fine_range(xn, keep=(2,), sigmas=sigmas, margin=margin)
    scale = magnitude(xn, (2,))
    close(out.fine_a, a, scale)
    close(out.fine_b, b, scale)
    if sigmas == 1.5:   # mixed: the spread decides some upper ends (not all), the extremes some lower ends
        red = (0, 1)
        by_spread_hi = xn.mean(red) + 1.5 * xn.std(red) > xn.max(red)
        by_spread_lo = xn.mean(red) - 1.5 * xn.std(red) < xn.min(red)
        assert by_spread_hi[:3].any() and not by_spread_hi[:3].all()
        assert not by_spread_lo[:3].all()
    if sigmas == 6.0:   # the spread: both ends of the three varying channels lie beyond the extremes
        assert np.all(a[:3] < xn.min((0, 1))[:3]) and np.all(b[:3] > xn.max((0, 1))[:3])


def test_channel_ranges_ignore_the_percentile():
    """percentile applies to layer-wide ranges only (calibrate's docstring): channel ranges are the same
    at percentile 90 as at 100."""
    x = skewed_channels()
    m = calibrated(x, batch_size=3, range_kind="channel", sigmas=2.0, percentile=90.0)
    a, b = fine_range(x.numpy(), keep=(2,), sigmas=2.0, margin=0.0)
    scale = magnitude(x.numpy(), (2,))
    close(m.lin.out.fine_a, a, scale)
    close(m.lin.out.fine_b, b, scale)


@pytest.mark.parametrize("sigmas, margin", [(0.0, 0.0), (2.5, 0.0), (6.0, 0.25)])
def test_neuron_ranges_reduce_over_the_batch_only(sigmas, margin):
    """range_kind="neuron": one range per (token, channel), from the 10 items only (batches of 4, 4, 2 with
    different means): the same formula with the batch the one reduced axis."""
    x = skewed_channels(n=10, tokens=3, seed=4)
    m = calibrated(x, batch_size=4, range_kind="neuron", sigmas=sigmas, margin=margin)
    out = m.lin.out
    assert out.range_kind == "neuron" and tuple(out.fine_a.shape) == (3, 4)
    xn = x.numpy()
    a, b = fine_range(xn, keep=(1, 2), sigmas=sigmas, margin=margin)
    scale = magnitude(xn, (1, 2))
    close(out.fine_a, a, scale)
    close(out.fine_b, b, scale)


@pytest.mark.parametrize("kind", ["matmul_qk", "matmul_av"])
def test_head_ranges_of_attention_over_batches_of_different_lengths(kind):
    """Attention scores (batch, heads, tokens, tokens) take one range per head, attention outputs
    (batch, heads, tokens, head_dim) one per head and feature, also with range_kind="channel"; batches of
    other token counts all count (per-channel statistics do not depend on the number of tokens). Heads of
    scales 0.01, 1 and 100, skewed low."""
    g = torch.Generator().manual_seed(5)
    scale = torch.tensor([0.01, 1.0, 100.0], dtype=D).reshape(1, 3, 1, 1)
    batches = []
    for n, t, shift in ((2, 4, 0.0), (3, 6, 3.0), (1, 5, -1.0)):
        last = t if kind == "matmul_qk" else 2
        z = torch.randn(n, 3, t, last, generator=g, dtype=D)
        batches.append(scale * (shift - torch.exp(z)))
    pop = Population("s", kind=kind)
    pop.range_kind = "channel"
    for v in batches:
        pop.observe(v)
    pop.finalize(sigmas=3.0, margin=0.05)
    # each head's (head and feature's) values from every batch, whatever their tokens: one column each,
    # in the order of the ranges (head, then feature)
    feats = 1 if kind == "matmul_qk" else 2
    groups = [np.concatenate([(v[:, h] if kind == "matmul_qk" else v[:, h, :, f]).numpy().reshape(-1)
                              for v in batches])
              for h in range(3) for f in range(feats)]
    assert tuple(pop.fine_a.shape) == ((3, 1, 1) if kind == "matmul_qk" else (3, 1, 2))
    lo = np.array([c.min() for c in groups])
    hi = np.array([c.max() for c in groups])
    mean = np.array([c.mean() for c in groups])
    std = np.array([c.std() for c in groups])
    a, b = widen(np.minimum(lo, mean - 3.0 * std), np.maximum(hi, mean + 3.0 * std), 0.05)
    mag = np.array([np.abs(c).max() for c in groups])
    close(pop.fine_a, a, mag)
    close(pop.fine_b, b, mag)


# ---- held-out margins -----------------------------------------------------------------------------------

def _held_mask(n, holdout):
    every = round(1.0 / holdout)
    return (np.arange(n) % every) == every - 1


@pytest.mark.parametrize("max_margin", [3.0, 0.02])
def test_channel_holdout_margin_from_the_fit_and_final_range_from_all_data(max_margin):
    """holdout=0.3: every round(1/0.3) = 3rd item (items 2, 5, 8, counted across batches of 4) is held out.
    The channel ranges fitted on the other items (sigmas 1, margin 0.1) give the margin the held-out
    values need, max over channels of (a_fit - held min)/w_fit and (held max - b_fit)/w_fit (w_fit the
    fitted range's width), at most max_margin; the final ranges are those of ALL items (held-out ones
    included) widened by 0.1 + that margin. The held-out items hold a far LOW outlier in channel 0 (need
    1.35, the largest) and a high one in channel 2 (need 1.10). Catches: held-out data not merged back, the
    need taken as the least channel's, the need measured on the upper end only, the cap ignored."""
    x = skewed_channels(n=10, tokens=4, seed=6)
    x[5, 1, 0] = -0.6         # held out (item 5): far below channel 0's fitted range (which holds -0.2)
    x[8, 3, 2] = 2.5e4         # held out (item 8): above channel 2's
    m = calibrated(x, batch_size=4, range_kind="channel", sigmas=1.0, margin=0.1, holdout=0.3,
                   max_margin=max_margin)
    xn = x.numpy()
    held = _held_mask(len(xn), 0.3)
    assert held.tolist() == [False, False, True, False, False, True, False, False, True, False]
    af, bf = fine_range(xn[~held], keep=(2,), sigmas=1.0, margin=0.1)
    wf = bf - af
    lo_h, hi_h = xn[held].min((0, 1)), xn[held].max((0, 1))
    low, high = (af - lo_h) / wf, (hi_h - bf) / wf
    need = max(0.0, float(np.max(np.maximum(low, high))))
    assert need == np.max(low) > np.max(high) > 1.0
    need = min(need, max_margin)
    a, b = fine_range(xn, keep=(2,), sigmas=1.0, margin=0.1 + need)
    scale = magnitude(xn, (2,))
    close(m.lin.out.fine_a, a, scale)
    close(m.lin.out.fine_b, b, scale)
    assert m.calibration["holdout_margin_max"] == pytest.approx(max(need, 0.0), rel=1e-9)


def test_layer_holdout_margin_from_a_low_held_out_outlier():
    """Layer-wide ranges with holdout=0.25 (items 3 and 7 held out): min/max of the other items with margin
    0.05 give the need max((a_fit - held min)/w_fit, (held max - b_fit)/w_fit), the final range min/max
    of all items widened by 0.05 + need: the held-out -9 is then inside it on the LOW side. The held-out
    items also hold the largest value, whose need (0.86) is less than the low end's (1.13); max_margin 2."""
    g = torch.Generator().manual_seed(7)
    x = torch.exp(torch.randn(9, 8, generator=g, dtype=D))
    x[7, 2] = -9.0
    m = calibrated(x, batch_size=3, range_kind="layer", margin=0.05, holdout=0.25, max_margin=2.0)
    xn = x.numpy()
    held = _held_mask(9, 0.25)
    af, bf = widen(xn[~held].min(), xn[~held].max(), 0.05)
    wf = bf - af
    need = max(0.0, (af - xn[held].min()) / wf, (xn[held].max() - bf) / wf)
    assert 1.0 < need == (af - xn[held].min()) / wf < 2.0
    a, b = widen(xn.min(), xn.max(), 0.05 + need)
    close([m.lin.out.a, m.lin.out.b], [a, b], 30.0)
    assert m.lin.out.a < -9.0 and m.calibration["holdout_margin_max"] == pytest.approx(need, rel=1e-9)


# ---- headroom -------------------------------------------------------------------------------------------

def _two_signed(n=64, seed=8):
    """(n, 3, 3) heavy-tailed values over decades (the log code's data): channel 0 positive, channel 1
    negative, channel 2 of both signs, its negative side 0.3 of its positive side."""
    g = torch.Generator().manual_seed(seed)
    mag = torch.exp(2.0 * torch.randn(n, 3, 3, generator=g, dtype=D))
    sign = torch.sign(torch.randn(n, 3, generator=g, dtype=D))
    x = mag.clone()
    x[..., 1] = -mag[..., 1]
    x[..., 2] = torch.where(sign > 0, mag[..., 2], -0.3 * mag[..., 2])
    return x


@pytest.mark.parametrize("codes", ["auto", "linear"])
def test_headroom_widens_the_far_ends_of_a_log_coded_layer_only(codes):
    """headroom=2.5 on a layer-wide range of both signs: on the log code (codes="auto" chooses it for this
    data) a = (min - m w) * 2.5 and b = (max + m w) * 2.5, both ends away from 0; on the linear code the
    range is min/max with the margin only. Catches: headroom on one end, on the near end, on a linear
    layer."""
    x = _two_signed()
    m = calibrated(x, batch_size=24, range_kind="layer", codes=codes, headroom=2.5, margin=0.1)
    out = m.lin.out
    a, b = widen(x.numpy().min(), x.numpy().max(), 0.1)
    assert a < 0 < b
    if codes == "auto":
        assert out.code == "log"
        a, b = a * 2.5, b * 2.5
    else:
        assert out.code == "linear"
    close([out.a, out.b], [a, b], abs(x).max().item())


def test_headroom_on_log_coded_channel_ranges_keeps_the_near_ends():
    """Channel ranges (sigmas 0, margin 0) on the log code, headroom 3: a channel's b > 0 is tripled, its
    a < 0 tripled, a positive a (channel 0) and a negative b (channel 1) stay where they are."""
    x = _two_signed()
    m = calibrated(x, batch_size=20, range_kind="channel", sigmas=0.0, codes="auto", headroom=3.0)
    out = m.lin.out
    assert out.code == "log"
    a, b = fine_range(x.numpy(), keep=(2,), sigmas=0.0, margin=0.0)
    assert a[0] > 0 and b[1] < 0 and a[2] < 0 < b[2]
    a, b = np.where(a < 0, 3.0 * a, a), np.where(b > 0, 3.0 * b, b)
    scale = magnitude(x.numpy(), (2,))
    close(out.fine_a, a, scale)
    close(out.fine_b, b, scale)


# ---- a variance: relative ends, proven bound, calibrated end ---------------------------------------------

def _variance(range_kind, bound):
    p = Population("v", kind="ln_var", lower_bound=0.0)
    p.scale_low = True
    p.upper_fn = lambda: bound        # the folded rsqrt's proven bound
    p.range_kind = range_kind
    return p


def _variance_batches(seed=9):
    """Positive skewed values (2, 3, 3), (4, 3, 3), (1, 3, 3) of channel scales 0.01, 1, 50."""
    g = torch.Generator().manual_seed(seed)
    scale = torch.tensor([0.01, 1.0, 50.0], dtype=D)
    return [scale * (0.05 + torch.exp(torch.randn(n, 3, 3, generator=g, dtype=D)) + k)
            for k, n in enumerate((2, 4, 1))]


@pytest.mark.parametrize("end", ["calibrated", "bound"])
@pytest.mark.parametrize("headroom", [1.0, 4.0])
def test_variance_channel_ranges_are_relative_and_capped(end, headroom):
    """A folded variance's channel ranges (sigmas 2, margin 0.2): a = the observed least / 1.2 (relative,
    never sigma-widened), divided by the headroom; b = max(max, mean + 2 std) * 1.2 capped at the bound
    (variance_end="calibrated"; the bound 200 caps channel 2 only) or the bound itself ("bound"); the
    linear code leaves b alone under headroom. Catches: a variance's low end widened by sigmas or the
    linear margin, headroom on b of a linear code or multiplying a, the cap ignored or applied as a
    floor."""
    bound = 200.0
    pop = _variance("channel", bound)
    batches = _variance_batches()
    for v in batches:
        pop.observe(v)
    pop.finalize(sigmas=2.0, margin=0.2, variance_end=end, headroom=headroom)
    assert pop.code == "linear"
    xn = np.concatenate([v.numpy() for v in batches])
    red = (0, 1)
    a = xn.min(red) / 1.2 / headroom
    hi = np.maximum(xn.max(red), xn.mean(red) + 2.0 * xn.std(red)) * 1.2
    assert hi[2] > bound > hi[1]
    b = np.minimum(hi, bound) if end == "calibrated" else np.full(3, bound)
    scale = magnitude(xn, (2,))
    close(pop.fine_a, a, scale)
    close(pop.fine_b, b, np.maximum(scale, bound))


@pytest.mark.parametrize("end, percentile", [("calibrated", 100.0), ("bound", 100.0), ("calibrated", 98.0),
                                             ("neuron", 100.0)])
def test_variance_layer_range_is_relative(end, percentile):
    """The same variance with one range: [lo / (1 + m), min(hi (1 + m), bound)] (or the bound), lo and hi
    the observed extremes or the percentiles of the samples, then a / headroom (2). A variance whose rsqrt
    is its own neuron (no proven bound, "neuron" here) on the linear code goes down to its bound 0
    (docs/guide/precision.md), which headroom leaves at 0, and ends at hi (1 + m)."""
    bound = 500.0
    pop = _variance("layer", bound)
    if end == "neuron":
        pop.upper_fn = None
    batches = _variance_batches(seed=10)
    seed_samples(0)
    for v in batches:
        pop.observe(v)
    pop.finalize(percentile=percentile, margin=0.1, variance_end=end, headroom=2.0)
    if percentile < 100:
        s = draws(batches)
        lo, hi = np.percentile(s, 100 - percentile), np.percentile(s, percentile)
    else:
        lo = min(float(v.min()) for v in batches)
        hi = max(float(v.max()) for v in batches)
    if end == "neuron":
        close([pop.a, pop.b], [0.0, hi * 1.1], hi)
        return
    assert hi * 1.1 < bound
    b = min(hi * 1.1, bound) if end == "calibrated" else bound
    close([pop.a, pop.b], [lo / 1.1 / 2.0, b], max(hi, bound))


# ---- precision-aware calibration ------------------------------------------------------------------------

def test_precision_aware_ranges_are_those_of_the_rounded_values():
    """calibrate(precision=8): a second pass runs every layer at p = 8 with the first pass's ranges, and
    each range is fitted again on the values that reach it. The input layer's range (one per layer,
    margin 0.1) is that of the exact values; it emits each value at the nearest of 8 ticks,
    b - k d/8 with k = clip(round((b - x) 8/d), 0, 8) (dynamics.quantize_values); the identity layer's
    channel ranges (sigmas 2, margin 0.1) are those of these rounded values."""
    x = skewed_channels(n=6, tokens=4, seed=13)[..., 1:3]   # scales 1 and 1e3 in one input range
    m = calibrated(x, batch_size=4, range_kind="channel", sigmas=2.0, margin=0.1, precision=8)
    xn = x.numpy()
    a, b = widen(xn.min(), xn.max(), 0.1)
    close([m.input.a, m.input.b], [a, b], np.abs(xn).max())
    d = b - a
    k = np.clip(np.round((b - xn) * 8 / d), 0, 8)
    q = b - k * (d / 8)
    qa, qb = fine_range(q, keep=(2,), sigmas=2.0, margin=0.1)
    ea, eb = fine_range(xn, keep=(2,), sigmas=2.0, margin=0.1)
    assert np.abs(qa - ea).max() > 1.0   # the rounding moves the ranges: the test tells them apart
    scale = np.abs(xn).max()
    close(m.lin.out.fine_a, qa, scale)
    close(m.lin.out.fine_b, qb, scale)


def test_variance_margin_needed_is_relative():
    """A variance's held-out need is relative: max over channels of a/held least - 1 and held largest/b - 1
    (calibrated end), the bound end needing nothing (variance_end="bound")."""
    batches = _variance_batches(seed=11)
    # held out: channel 0 below its least (need 0.14), channel 2 above its largest (need 0.83)
    held_vals = _variance_batches(seed=12)[0] * torch.tensor([0.3, 1.0, 6.0], dtype=D)
    for end in ("calibrated", "bound"):
        pop = _variance("channel", 1e4)
        for v in batches:
            pop.observe(v)
        pop.finalize(sigmas=0.0, margin=0.0, variance_end=end)
        held = _variance("channel", 1e4)
        held.observe(held_vals)
        xn = np.concatenate([v.numpy() for v in batches])
        a, b = xn.min((0, 1)), xn.max((0, 1))
        lo_h, hi_h = held_vals.numpy().min((0, 1)), held_vals.numpy().max((0, 1))
        low = a / lo_h - 1.0
        high = hi_h / b - 1.0 if end == "calibrated" else np.zeros(3)
        want = max(0.0, float(np.max(np.maximum(low, high))))
        assert want == pytest.approx(0.83 if end == "calibrated" else 0.14, abs=0.01)
        assert pop.margin_needed(held.stats) == pytest.approx(want, rel=REL)
