"""Errors of the conversion that more than one layer raises."""


class UnsupportedModuleError(ValueError):
    """The source model uses a module (or a setting) with no spiking counterpart."""
