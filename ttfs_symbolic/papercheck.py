"""The old path of the paper check: :mod:`ttfs_symbolic.pages.papercheck` and :mod:`ttfs_symbolic.pages.readings`."""
from __future__ import annotations

from .pages.papercheck import (DPS, EQUATIONS, SIMPLIFY_OPS, TOL, CaseResult, ReadingResult, Verdict, compare,
                               paper_check_page, run, run_reading)
from .pages.readings import READINGS, Reading

__all__ = ["Verdict", "Reading", "CaseResult", "ReadingResult", "compare", "READINGS", "run", "run_reading",
           "paper_check_page", "EQUATIONS", "DPS", "TOL", "SIMPLIFY_OPS"]
