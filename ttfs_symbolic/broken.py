"""The old path of :mod:`ttfs_symbolic.verify.broken` (``python -m ttfs_symbolic.broken`` runs its self-test)."""
from __future__ import annotations

from .verify.broken import (A_IN, B_IN, CORPUS, DELTA, NAMES, WITH_PROOF, BrokenNeuron, F, SelfTestReport, main,
                            rejected, self_test)

__all__ = ["BrokenNeuron", "CORPUS", "NAMES", "WITH_PROOF", "SelfTestReport", "self_test", "rejected", "main",
           "A_IN", "B_IN", "DELTA", "F"]

if __name__ == "__main__":
    raise SystemExit(main())
