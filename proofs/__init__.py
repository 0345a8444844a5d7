"""Symbolic proofs of the paper's theorems and constructions (pure SymPy).

Each module exposes ``prove() -> ProofResult`` and runs alone as
``python -m proofs.<module>``; ``python -m proofs`` runs them all. Each
check computes one lhs - rhs and requires ``sympy.simplify(diff) == 0``.
Every eta, C, psi and theta is the library's own
(``ttfs_symbolic.symbolic.derive.input_formulas`` / ``output_formulas``, what ``derive_input``
and ``derive_output`` compute; the model's ``InputKernel`` is proved in
``library``), with f, h and
g = h^-1 undefined SymPy functions where the theorem is general; Theorems
4.1 and 4.6, softmax and LayerNorm are proved for general n (a SymPy
``Sum``), LayerNorm and Theorem 4.1 also for n = 3 written out.
Printed equations of the paper are compared with the derived forms in
``ProofResult.comparisons`` (eq. 10, 15, 19, 22-24, 26, 27, 36, C.1).

Modules: theorem_4_1 (eq. 8-9), corollary_4_2 (eq. 10-11), theorem_4_3
(eq. 13-14, 31-35), corollary_4_4 (eq. 15), theorem_4_6 (eq. 19),
multiplication (eq. 24-27, Appendix C.1), layernorm (eq. 21-23),
softmax (eq. 36-37), signed_product (this library's low-error product network),
library (the kernels and constants ttfs_symbolic itself returns: InputKernel
with an undefined f, derive_input / derive_output on catalogue neurons).
"""
from __future__ import annotations

import importlib

from ._common import Comparison, ProofResult

#: the proof modules, in the paper's order
NAMES = (
    "theorem_4_1",
    "corollary_4_2",
    "theorem_4_3",
    "corollary_4_4",
    "theorem_4_6",
    "softmax",
    "layernorm",
    "multiplication",
    "signed_product",
    "library",
)

__all__ = ["ALL", "NAMES", "ProofResult", "Comparison", "run_all"]


def __getattr__(name: str):
    """``proofs.ALL``: every proof module, imported on first use.

    Lazy so that ``python -m proofs.<module>`` does not import the module
    twice (once through the package, once as ``__main__``).
    """
    if name == "ALL":
        return [importlib.import_module(f"{__name__}.{module}") for module in NAMES]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run_all() -> list[ProofResult]:
    """Run every proof in :data:`ALL`."""
    return [module.prove() for module in __getattr__("ALL")]
