"""ttfs-symbolic: formulas to provably correct TTFS neurons, timm Transformers to TTFS SNNs.

The method is TTFSFormer (Zhao et al., ICML 2025). The layers, each importing only
those below it (docs/design.md):

* symbolic (:mod:`ttfs_symbolic.symbolic`): ``derive_input`` (Theorem 4.1)
  and ``derive_output`` (Theorem 4.3), pure SymPy;
* numeric (:mod:`ttfs_symbolic.numeric`): compiled kernels and neuron
  dynamics in the exact, quantized and kernel modes;
* spiking (:mod:`ttfs_symbolic.spiking`), conversion
  (:mod:`ttfs_symbolic.conversion`, ``convert``: Algorithm 1), families
  (:mod:`ttfs_symbolic.families`), energy and evaluation (``evaluate``).
"""
from .symbolic.hypotheses import DomainError, MonotonicityError, RangeError
from .symbolic.derive import InputTransform, OutputTransform, ProofRecord, derive_input, derive_output
from .symbolic.parse import FormulaError, parse_formula

__version__ = "0.1.0"

__all__ = [
    "derive_input", "derive_output", "InputTransform", "OutputTransform", "ProofRecord",
    "parse_formula", "FormulaError", "RangeError", "DomainError", "MonotonicityError",
    "convert", "evaluate", "load_conversion", "save_conversion", "LayerTiming", "NeuronLayer",
    "register_activation",
]


def __getattr__(name):
    # the numeric and model layers import torch: load them only when asked for
    if name == "convert":
        # start-up time: torch loads only when these are used
        from .conversion.convert import convert

        return convert
    if name in ("load_conversion", "save_conversion"):
        # start-up time: torch loads only when these are used
        from .conversion import fileformat

        return getattr(fileformat, name)
    if name == "evaluate":
        # start-up time: torch loads only when these are used
        from .evaluation.report import evaluate

        return evaluate
    if name == "register_activation":
        # start-up time: torch loads only when these are used
        from .conversion.activations import register_activation

        return register_activation
    if name in ("LayerTiming", "NeuronLayer"):
        # start-up time: torch loads only when these are used
        from .numeric import dynamics

        return getattr(dynamics, name)
    raise AttributeError(f"module 'ttfs_symbolic' has no attribute {name!r}")
