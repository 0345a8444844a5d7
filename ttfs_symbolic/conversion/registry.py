"""The registry of model families: which source models convert, and to what.

A family is a name, a test ``matches(model) -> bool`` and a builder
``build(model, **kw) -> spiking model`` (not yet calibrated). Each family
registers itself from its own module (:mod:`.vit` registers timm ViT,
:mod:`.eva` timm Eva / EVA-02 and DeiT with a distillation token,
:mod:`.bert` Hugging Face BERT / RoBERTa and sentence-transformers), so
adding a family touches only its own file and the import list
:data:`FAMILY_MODULES` below; :func:`ttfs_symbolic.conversion.convert.build_spiking`
dispatches through :func:`build_spiking`.

A spiking model built by a family is an ``nn.Module`` with ``populations()``
and ``_forward(x, ctx)``. The converter reaches its input through three
optional methods, with image defaults when a model has none:

* ``prepare_input(batch, dtype)``: check one batch and return what
  ``_forward`` takes (images: ``check_images(batch).to(dtype)``);
* ``input_batches(data, batch_size)``: iterate over the calibration or
  evaluation data (images: :func:`ttfs_symbolic.conversion.convert.batches`);
* ``batch_len(x)``: the number of items (images, sentences) in a prepared batch.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from torch import nn

from .errors import UnsupportedModuleError

#: the modules that register families, imported on first use (in this order)
FAMILY_MODULES = (
    "ttfs_symbolic.families.vit",
    "ttfs_symbolic.families.eva",
    "ttfs_symbolic.families.deit",
    "ttfs_symbolic.families.bert",
    "ttfs_symbolic.families.sentence",
)


@dataclass(frozen=True)
class Family:
    name: str
    matches: Callable[[nn.Module], bool]
    build: Callable[..., nn.Module]
    description: str = ""
    priority: int = 0   # families with a higher priority are tried first (a subclass before its base)


_FAMILIES: dict[str, Family] = {}
_loaded = False


def register_family(name: str, matches: Callable[[nn.Module], bool], build: Callable[..., nn.Module],
                    description: str = "", priority: int = 0) -> Family:
    """Register (or replace) the family ``name``; returns it."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a family needs a non-empty name, got {name!r}")
    if not callable(matches) or not callable(build):
        raise TypeError(f"family {name!r}: matches and build must be callables")
    fam = Family(name, matches, build, description or name, priority)
    _FAMILIES[name] = fam
    return fam


def load_families() -> None:
    """Import every module of :data:`FAMILY_MODULES` (each registers its families).

    A module whose optional dependency is missing (``transformers`` for bert)
    is skipped: its models then cannot be passed in anyway.
    """
    global _loaded
    if _loaded:
        return
    for mod in FAMILY_MODULES:
        try:
            importlib.import_module(mod)
        except ImportError as exc:   # an optional extra not installed
            if str(getattr(exc, "name", "") or "").startswith("ttfs_symbolic"):
                raise
    _loaded = True


def families() -> list[Family]:
    """The registered families, in the order they are tried."""
    load_families()
    return sorted(_FAMILIES.values(), key=lambda f: -f.priority)


def find_family(model: nn.Module) -> Family:
    """The first family whose ``matches`` accepts ``model``; UnsupportedModuleError if none."""
    for fam in families():
        if fam.matches(model):
            return fam
    supported = "; ".join(f.description for f in families())
    raise UnsupportedModuleError(
        f"unsupported model: {type(model).__module__}.{type(model).__name__} (supported: {supported})")


def refuse_hooks(model: nn.Module) -> None:
    """UnsupportedModuleError at the first module carrying a forward hook or pre-hook: a hook may change what
    the module computes, and the spiking counterpart is built from the module's weights and type alone (a
    probe's hook doubling the head's logits was converted without a word)."""
    for path, m in model.named_modules():
        hooks = [kind for kind, attr in (("forward hook", "_forward_hooks"), ("forward pre-hook", "_forward_pre_hooks"))
                 if getattr(m, attr, None)]
        if hooks:
            raise UnsupportedModuleError(
                f"unsupported module at '{path or '<root>'}': it carries a {' and a '.join(hooks)}, which may change "
                "what it computes and has no spiking counterpart; remove the hook (handle.remove()) before "
                "converting")


def build_spiking(model: nn.Module, **kw) -> nn.Module:
    """The spiking counterpart of ``model`` from its family, not yet calibrated (a model with forward hooks
    refused: :func:`refuse_hooks`)."""
    family = find_family(model)
    refuse_hooks(model)
    return family.build(model, **kw)
