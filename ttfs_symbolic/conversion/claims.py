"""The module claims: every module of the source model is accounted for by a spiking layer, or refused.

One rule, two ways to apply it. A family whose layers are few and fixed
(ViT, BERT) lists what it converts and :func:`refuse_unlisted` walks the
model once before building; a family with many optional parts (EVA) claims
each module as its builder converts it (or proves it an identity at
inference) and :meth:`ModuleClaims.check_complete` refuses any module left
over. Either way the refusal names the module's path and type: nothing
silently stays an ANN operation. Registered activations
(:mod:`.activations`) are accepted whatever their submodules (the
conversion checks the whole module against its formula).
"""
from __future__ import annotations

from torch import nn

from .activations import is_activation
from .errors import UnsupportedModuleError, typename  # noqa: F401 (typename: re-export)


def is_identity(m) -> bool:
    """True for a module that is the identity at inference (None, Identity, Dropout, DropPath)."""
    return m is None or isinstance(m, (nn.Identity, nn.Dropout)) or type(m).__name__ == "DropPath"


def refuse_unlisted(model: nn.Module, allowed, supported: str) -> None:
    """Raise UnsupportedModuleError at the first module of ``model`` that ``allowed(path, module)`` refuses.

    ``allowed`` returns True (converted), False (refused: "has no spiking
    counterpart (``supported``)") or a string, the refusal's own reason.
    A registered activation and everything inside it count as one module.
    """
    inside_activation = []
    for path, m in model.named_modules():
        if any(path.startswith(p + ".") for p in inside_activation):
            continue
        if is_activation(m):
            inside_activation.append(path)
            continue
        verdict = allowed(path, m)
        if verdict is True:
            continue
        where = f"unsupported module at '{path or '<root>'}': "
        raise UnsupportedModuleError(where + (verdict if isinstance(verdict, str) else
                                              f"{typename(m)} has no spiking counterpart ({supported})"))


class ModuleClaims:
    """Paths of the source model's modules that a spiking layer stands for.

    Construction claims every module it converts (or proves to be an identity
    at inference); :meth:`check_complete` then refuses any module left over,
    so nothing silently stays an ANN operation.
    """

    def __init__(self, root: nn.Module, family: str = "EVA"):
        self.root = root
        self.family = family
        self.paths: set[str] = set()

    def claim(self, path: str, module: nn.Module | None = None, recurse: bool = False):
        self.paths.add(path)
        if recurse and module is not None:
            for p, _ in module.named_modules():
                if p:
                    self.paths.add(f"{path}.{p}" if path else p)

    def identity(self, path: str, m):
        """Claim an inference-time identity (Identity, Dropout, DropPath) or refuse."""
        if m is None:
            return
        if not is_identity(m):
            raise UnsupportedModuleError(
                f"unsupported module at '{path}': {typename(m)} has no spiking counterpart in this position "
                "(expected an identity at inference: Identity, Dropout or DropPath)")
        self.claim(path, m, recurse=True)

    def layernorm(self, path: str, m):
        """A LayerNorm over the last dimension (claimed), None for an identity, else refuse."""
        import timm.layers as tl   # timm: an optional import for a model built without it

        if m is None or is_identity(m):
            self.identity(path, m)
            return None
        if type(m) not in (nn.LayerNorm, tl.LayerNorm):
            raise UnsupportedModuleError(
                f"unsupported norm at '{path}': {typename(m)} (supported: torch.nn.LayerNorm and "
                "timm.layers.LayerNorm; RmsNorm and float32-forcing norms have no spiking counterpart here)")
        if len(m.normalized_shape) != 1:
            raise UnsupportedModuleError(f"unsupported LayerNorm at '{path}': normalized over {m.normalized_shape}")
        self.claim(path, m)
        return m

    def linear(self, path: str, m) -> nn.Linear:
        if type(m) is not nn.Linear:
            raise UnsupportedModuleError(
                f"unsupported module at '{path}': {typename(m)} (expected torch.nn.Linear)")
        self.claim(path, m)
        return m

    def check_complete(self):
        for p, m in self.root.named_modules():
            if p and p not in self.paths:
                raise UnsupportedModuleError(
                    f"unsupported module at '{p}': {typename(m)} is not part of any layer the "
                    f"{self.family} converter knows, so it would stay an ANN operation")
