"""Command line of ttfs-symbolic: derive, verify, energy, demo, budget, convert, evaluate.

Each subcommand lives beside the code it drives and is registered here with
``register(subparsers)``; bad input ends in a one-line error and exit code 2,
never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

from ..symbolic.refusals import shorten

# subcommand name -> module that defines ``register(subparsers)`` and a
# ``run(args)`` function stored as the subparser's default ``func``.
SUBCOMMANDS = {
    "derive": "ttfs_symbolic.cli.derive",
    "verify": "ttfs_symbolic.cli.derive",
    "energy": "ttfs_symbolic.cli.energy",
    "demo": "ttfs_symbolic.cli.demo",
    "budget": "ttfs_symbolic.cli.budget",
    "convert": "ttfs_symbolic.cli.model",
    "evaluate": "ttfs_symbolic.cli.model",
}


class UserError(Exception):
    """An error caused by the user's input; printed as one line."""


#: each subcommand's one-line help, shown by ``ttfs --help`` without importing its module (torch and timm
#: take seconds to load); tests/cli check that each module registers its subcommand with this same line
HELP = {
    "derive": "derive a neuron from a formula (Theorem 4.1 / 4.3) and write its derivation page",
    "verify": "property-check a neuron definition (catalogue name or TOML file)",
    "energy": "operation counts and energy of a converted model: timm ViT, DeiT, EVA or BERT (Table 3, eq. 28)",
    "demo": "convert the bundled digits ViT and report ANN vs SNN",
    "budget": "error budget: each group of layers' share of the error at precision p",
    "convert": "calibrate and convert your own timm model (Algorithm 1)",
    "evaluate": "ANN vs SNN on your own images, per mode and precision",
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``ttfs`` parser. With ``argv``, only the module of the subcommand it names is imported (the others
    get a placeholder with their help line, which ``ttfs --help`` lists); without, every module."""
    parser = argparse.ArgumentParser(prog="ttfs", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    wanted = None
    if argv is not None:
        wanted = next((a for a in argv if not a.startswith("-")), None)
        wanted = SUBCOMMANDS.get(wanted)
    registered = set()
    for name, module_name in SUBCOMMANDS.items():
        if module_name in registered:
            continue
        if wanted is not None and module_name != wanted or argv is not None and wanted is None:
            sub.add_parser(name, help=HELP[name], add_help=False)
            continue
        module = importlib.import_module(module_name)
        module.register(sub)
        registered.add(module_name)
    return parser


#: subcommands whose values may be formulas, which can start with "-" ("-x**2", "--output -1/x")
FORMULA_COMMANDS = ("derive",)
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-inf$")


def protect_formulas(argv: list[str]) -> list[str]:
    """argv with every formula that starts with "-" made unambiguous for argparse.

    In a formula subcommand, an argument that starts with a single "-" and
    is neither ``-h`` nor a number (``-1``, ``-2.5e3``) is a formula such as
    ``-x**2``: argparse would take it for an option, so it gets a leading
    space (the formula parser ignores it). Options all start with "--".
    """
    argv = list(argv)
    cmd = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if cmd is None or argv[cmd] not in FORMULA_COMMANDS:
        return argv
    for i in range(cmd + 1, len(argv)):
        a = argv[i]
        if a == "--":
            break
        if a.startswith("-") and not a.startswith("--") and a != "-h" and not _NEGATIVE_NUMBER.match(a):
            argv[i] = " " + a
    return argv


def _short(text: str, limit: int = 500) -> str:
    """One line of at most ``limit`` characters (:func:`~ttfs_symbolic.symbolic.refusals.shorten`: a longer
    one loses its middle, not its end, where a refusal says what to do)."""
    return shorten(" ".join(str(text).split()), limit)


def _one_line_warnings(command: str):
    """A ``warnings.showwarning`` that prints ``ttfs COMMAND: warning: <message>`` in one line."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"ttfs {command}: warning: {_short(message)}", file=file or sys.stderr)
    return show


def main(argv: list[str] | None = None) -> int:
    # start-up time: a subcommand loads only what it runs (torch among it)
    import warnings

    argv = protect_formulas(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)   # (imports only the named subcommand's module: start-up time)
    args = parser.parse_args(argv)
    shown = warnings.showwarning
    warnings.showwarning = _one_line_warnings(args.command)
    try:
        return _run(args)
    finally:
        warnings.showwarning = shown


def _run(args) -> int:
    try:
        return int(args.func(args) or 0)
    except (UserError, ValueError) as exc:
        print(f"ttfs {args.command}: error: {_short(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:   # the reader went away (ttfs energy ... | head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # (so that Python's final flush of stdout does not fail again)
        return 1
    except OSError as exc:   # a file or folder the user named
        where = f": {exc.filename}" if exc.filename else ""
        print(f"ttfs {args.command}: error: {_short(exc.strerror or exc)}{where}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"ttfs {args.command}: error: out of memory (an input or option far larger than it should be?)",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ttfs {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
