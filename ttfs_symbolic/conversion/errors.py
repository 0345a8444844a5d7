"""Errors of the conversion that more than one layer raises."""


class UnsupportedModuleError(ValueError):
    """The source model uses a module (or a setting) with no spiking counterpart."""


def typename(obj) -> str:
    """``module.QualifiedName`` of an object's type (or of a type), as every refusal names a module."""
    t = obj if isinstance(obj, type) else type(obj)
    return f"{t.__module__}.{t.__qualname__}"
