"""The energy count's walker: visits a model's modules in forward order and adds one row per layer.

Handlers (``fn(walker, module, path, shape) -> shape``) are registered per
exact module type with :func:`register_handler`; the leaves (Linear,
LayerNorm, activations, pass-through modules) are registered here, the
containers of each model family in its own module (:mod:`.vit`, :mod:`.eva`).
A module no handler claims is refused by name (:meth:`Walker.check_complete`).
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from ..conversion.activations import is_activation
from ..conversion.errors import typename  # noqa: F401 (typename: re-export for the family handlers)
from .counts import LayerOps, Shape, activation_counts, layernorm_counts

# --------------------------------------------------------------------------
# Walker and dispatch table
# --------------------------------------------------------------------------

Handler = Callable[["Walker", nn.Module, str, Shape], Shape]
HANDLERS: dict[type, Handler] = {}


def register_handler(*types: type) -> Callable[[Handler], Handler]:
    """Register ``fn(walker, module, path, shape) -> shape`` for these exact module types."""
    def deco(fn: Handler) -> Handler:
        for t in types:
            HANDLERS[t] = fn
        return fn
    return deco


def label(path: str) -> str:
    return path or "<model>"


def join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class Walker:
    """Visits modules in forward order, tracking the activation shape (rows, features)."""

    def __init__(self, product: str = "paper", residual: str = "neuron", rsqrt: str = "neuron") -> None:
        self.rows: list[LayerOps] = []
        self.visited: set[str] = set()
        #: the product construction counted (spiking.Product): "paper" or "signed"
        self.product = product
        #: how residual sums are carried (convert.set_residual): "neuron" or "synapses"
        self.residual = residual
        #: how LayerNorm forms (v + eps)^(-1/2) (convert.set_rsqrt): "neuron" or "folded"
        self.rsqrt = rsqrt
        #: residual="synapses": the number of layers whose spikes make up the residual stream
        self.summands = 1

    def add(self, name: str, kind: str, neurons: int, op_snn: int, op_ann: int,
            shape: str = "", op_snn_table3: int | None = None) -> None:
        self.rows.append(LayerOps(name=name, kind=kind, neurons=int(neurons), op_snn=int(op_snn),
                                  op_ann=int(op_ann), shape=shape, op_snn_static=int(op_snn),
                                  op_snn_table3=None if op_snn_table3 is None else int(op_snn_table3)))

    def mark(self, path: str) -> None:
        """Record a module as accounted for by its parent's handler."""
        self.visited.add(path)

    def visit(self, module: nn.Module, path: str, shape: Shape) -> Shape:
        handler = HANDLERS.get(type(module))
        if handler is None:
            if is_activation(module):   # a registered activation: one neuron per element (Table 3)
                handler = _activation_all
        if handler is None:
            raise ValueError(
                f"unsupported module {label(path)!r} of type {typename(module)}: energy counts "
                f"cover timm VisionTransformer and Eva layers (Table 3); an activation is counted once its "
                f"formula is registered (ttfs_symbolic.register_activation), another module once a handler "
                f"for it is registered in ttfs_symbolic.energy.HANDLERS")
        self.mark(path)
        return handler(self, module, path, shape)

    def child(self, module: nn.Module, path: str, name: str, shape: Shape) -> Shape:
        return self.visit(getattr(module, name), join(path, name), shape)

    def check_complete(self, root: nn.Module) -> None:
        """Every submodule must have been counted (or passed through) by some handler."""
        for p, m in root.named_modules():
            if p not in self.visited:
                raise ValueError(
                    f"unsupported module {label(p)!r} of type {typename(m)}: it is not part of "
                    f"any layer pattern the energy count knows, so its cost would be missed")


def expect(cond: bool, path: str, msg: str) -> None:
    if not cond:
        raise ValueError(f"module {label(path)!r}: {msg}")


# ---- leaves ---------------------------------------------------------------

def passthrough(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """Identity at inference (Identity, Dropout, DropPath, PatchDropout in eval), or a
    constant per-channel scale folded into the preceding weights (LayerScale)."""
    for p, _ in module.named_modules():
        walker.mark(join(path, p) if p else path)
    return shape


def _linear(walker: Walker, module: nn.Linear, path: str, shape: Shape) -> Shape:
    rows, feat = shape
    expect(feat == module.in_features, path,
            f"Linear expects {module.in_features} input features, the walk reached it with {feat}")
    macs = rows * module.in_features * module.out_features
    walker.add(path, "linear", rows * module.out_features, macs, macs,
               f"{rows}x{module.in_features} -> {rows}x{module.out_features}")
    return rows, module.out_features


def _layernorm(walker: Walker, module: nn.LayerNorm, path: str, shape: Shape) -> Shape:
    rows, feat = shape
    expect(tuple(module.normalized_shape) == (feat,), path,
            f"LayerNorm over {tuple(module.normalized_shape)} but the walk reached it with "
            f"{feat} features (only normalization over the last dimension is supported)")
    n, o = layernorm_counts(feat, walker.product, walker.rsqrt)
    walker.add(path, "layernorm", rows * n, rows * o, 0, f"{rows} rows of {feat}")
    return shape


def _activation(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    rows, feat = shape
    n, o = activation_counts(rows, feat)
    walker.add(path, "activation", n, o, 0, f"{rows}x{feat}")
    return shape


def _activation_all(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """A registered activation (any submodules it has are part of its one neuron)."""
    for p, _ in module.named_modules():
        walker.mark(join(path, p) if p else path)
    return _activation(walker, module, path, shape)


def _sequential(walker: Walker, module: nn.Sequential, path: str, shape: Shape) -> Shape:
    for name, _ in module.named_children():
        shape = walker.child(module, path, name, shape)
    return shape


def _register_leaves() -> None:
    # timm loads on first use (start-up time)
    # timm loads on first use (start-up time)
    from timm.layers import DropPath, LayerScale, PatchDropout   # timm is imported by every caller anyway
    from timm.layers import activations as tact
    from timm.layers import norm as tnorm

    register_handler(nn.Identity, nn.Dropout, DropPath, PatchDropout, LayerScale)(passthrough)
    register_handler(nn.Linear)(_linear)
    register_handler(nn.LayerNorm, tnorm.LayerNorm, tnorm.LayerNormFp32)(_layernorm)
    register_handler(nn.GELU, tact.GELU, tact.GELUTanh, nn.SiLU, tact.Swish, nn.ReLU)(_activation)
    register_handler(nn.Sequential)(_sequential)


_register_leaves()
