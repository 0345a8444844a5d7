"""The old path of the page generators, now in :mod:`ttfs_symbolic.pages` (kept for ``ttfs derive`` and old imports)."""
from __future__ import annotations

from .pages.constructions import (construction_pages, layernorm_page, multiplication_page, signed_product_page,
                                  softmax_page)
from .pages.dynamics_plot import Trace, companion_transforms, plot_dynamics, simulate
from .pages.latex import slug, tex
from .pages.neuron import (derivation_page, derivation_summary, derive_pair, neuron_index, neuron_page,
                           proof_methods, write_derivation)

__all__ = ["tex", "derivation_page", "neuron_page", "derivation_summary", "derive_pair", "Trace", "simulate",
           "plot_dynamics", "slug", "companion_transforms", "neuron_index", "proof_methods", "write_derivation",
           "construction_pages", "softmax_page", "layernorm_page", "multiplication_page", "signed_product_page"]
