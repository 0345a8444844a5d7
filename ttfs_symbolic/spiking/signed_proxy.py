"""The signed construction's expected layer-I rounding error (the proxy by which calibration picks the
shift r of :class:`~.product.Product`): numpy only, on calibration samples of the two factors."""
from __future__ import annotations

import numpy as np


def signed_error_proxy(r: float, x1: np.ndarray, x2: np.ndarray, a1, b1, a2, b2,
                       split1: bool | None = None, split2: bool | None = None) -> float:
    """Expected squared layer-I rounding error of the signed construction with shift r, up to a factor 1/(12 p^2).

    Each layer-I neuron's potential is off by up to d_y/(2p) (uniform), so its
    exp-term E is off by about E * d_y/(2p). Per term of the product: the main
    neuron (m1 + e1)(m2 + e2), and where a factor is split, the neurons with
    one silent part, (m1 + e1) e2 and e1 (m2 + e2). ``x1``, ``x2``: samples of
    the two factors (pairs drawn independently). ``a1, b1, a2, b2``: the
    factors' ranges, one each (floats), or each sample's own range (arrays like
    ``x1``, ``x2``: per-channel / per-neuron ranges, whose elements get the
    shifts e = r max|x| and the layer-I ranges of their own neurons, as
    :meth:`Product._signed_elementwise_fine` builds them). ``split1``,
    ``split2``: whether a factor is split in two parts (default: from its
    range; per-element ranges follow the envelope's split, as the product does).
    """
    def operand(a, b, split):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if split is None:
            split = bool(a.min() < 0 < b.max())   # (SignedOperand.of's split, over the envelope)
        M = np.maximum(np.abs(a), np.abs(b))
        low = np.zeros_like(M) if split else np.minimum(np.abs(a), np.abs(b))
        return split, M, low, r * M

    s1, M1, low1, e1 = operand(a1, b1, split1)
    s2, M2, low2, e2 = operand(a2, b2, split2)
    d = np.log(M1 + e1) - np.log(low1 + e1) + np.log(M2 + e2) - np.log(low2 + e2)
    m1, m2 = np.abs(x1) + e1, np.abs(x2) + e2
    sq = (m1 * m2) ** 2
    if s2:
        sq = sq + (m1 * e2) ** 2
    if s1:
        sq = sq + (e1 * m2) ** 2
    return float(np.mean(sq * d ** 2))
