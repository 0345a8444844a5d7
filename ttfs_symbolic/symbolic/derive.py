"""Theorems 4.1 and 4.3 as derivations: a formula in, kernels and constants out.

``derive_input(f, a, b, delta)`` (Theorem 4.1, eq. 8-9) gives the input
transform kernel eta(s) and the per-synapse constant of C such that the
potential at the end of the receiving stage is ``sum_j w_j f(x_j)``.

``derive_output(h, a, b, delta)`` (Theorem 4.3, eq. 13-14) gives the output
transform kernel psi(s) and the threshold theta such that the spike encodes
``clip(h(V), a, b)``.

Both check the hypotheses first (a < b, f defined and differentiable on
[a, b], h increasing where it matters), check their own result (symbolically
where SymPy can close the identity, otherwise with mpmath at a stated
precision) and return a frozen record that says which. Pure SymPy + mpmath:
the compiled kernels live in :mod:`ttfs_symbolic.numeric`.

This module is the front door that keeps the old import paths: the code lives in
:mod:`.theorem_4_1` and :mod:`.theorem_4_3` (derivations and proofs),
:mod:`.transforms` (their results), :mod:`.records` (proof records),
:mod:`.calculus` (kinks, quadrature, inverses), :mod:`.hypotheses` and
:mod:`.refusals` (what is checked and refused first) and :mod:`.limits`.
"""
from __future__ import annotations

from .calculus import kinks
from .hypotheses import DomainError, MonotonicityError, RangeError, check_range
from .limits import SYMPY_SECONDS, time_limit
from .mpeval import mp_function
from .parse import V, Y
from .records import PROOF_DPS, PROOF_POINTS, PROOF_TOL, ProofPart, ProofRecord
from .theorem_4_1 import derive_input, input_formulas, prove_input, prove_input_numeric
from .theorem_4_3 import derive_output, output_formulas, prove_output
from .transforms import InputTransform, OutputTransform

__all__ = [
    "ProofRecord",
    "InputTransform",
    "OutputTransform",
    "derive_input",
    "derive_output",
    "input_formulas",
    "output_formulas",
    "prove_input",
    "prove_input_numeric",
    "prove_output",
    "ProofPart",
    "RangeError",
    "DomainError",
    "MonotonicityError",
    "Y",
    "V",
    "kinks",
    "check_range",
    "mp_function",
    "time_limit",
    "SYMPY_SECONDS",
    "PROOF_DPS",
    "PROOF_POINTS",
    "PROOF_TOL",
]
