"""Command line: ``ttfs derive``, ``ttfs verify``, ``ttfs energy``, ``ttfs demo``, ``ttfs convert``, ``ttfs evaluate``.

Each subcommand lives beside the code it drives and is registered here with
``register(subparsers)``; bad input ends in a one-line error and exit code 2,
never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# subcommand name -> module that defines ``register(subparsers)`` and a
# ``run(args)`` function stored as the subparser's default ``func``.
SUBCOMMANDS = {
    "derive": "ttfs_symbolic.cli_derive",
    "verify": "ttfs_symbolic.cli_derive",
    "energy": "ttfs_symbolic.model.energy",
    "demo": "ttfs_symbolic.demo",
    "budget": "ttfs_symbolic.cli_budget",
    "convert": "ttfs_symbolic.cli_model",
    "evaluate": "ttfs_symbolic.cli_model",
}


class UserError(Exception):
    """An error caused by the user's input; printed as one line."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ttfs", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    registered = set()
    for name, module_name in SUBCOMMANDS.items():
        if module_name in registered:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a subcommand not built yet
            if exc.name != module_name:
                raise
            continue
        module.register(sub)
        registered.add(module_name)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, ValueError) as exc:
        print(f"ttfs {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
