"""The ``brainfeat`` command line: a thin layer over the Python API.

Each module of this package that defines ``register(subparsers)`` adds its verbs; a verb's
handler receives the parsed arguments and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from brainfeat.errors import BrainfeatError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every verb of every ``brainfeat.cli`` module."""
    parser = argparse.ArgumentParser(
        prog="brainfeat",
        description="Load, verify and regenerate the Horikawa et al. (2019) DNN-feature dataset.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``brainfeat`` command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except BrainfeatError as error:
        print(f"brainfeat {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
