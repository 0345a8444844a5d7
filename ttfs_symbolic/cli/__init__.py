"""The ``ttfs`` command line: one module per group of subcommands (:mod:`.main` dispatches)."""
from .main import SUBCOMMANDS, UserError, build_parser, main, protect_formulas

__all__ = ["SUBCOMMANDS", "UserError", "build_parser", "main", "protect_formulas"]
