"""The ``brainfeat`` command line: a thin layer over the Python API.

Each module of this package that defines ``register(subparsers)`` adds its verbs; a verb's
handler receives the parsed arguments and returns an exit code.

Exit codes: 0 success; 1 a check that ran and failed (verification, design check); 2 bad
input or a :class:`~brainfeat.errors.BrainfeatError` (one line on stderr, no traceback), and
a bare ``brainfeat`` (which prints its help: a script that calls it with an empty variable
must not believe it succeeded); 130 interrupted with Ctrl-C; 141 (128 + SIGPIPE) when the
reader of the output went away, e.g. ``brainfeat info | head -1``, quietly, as Unix tools do.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from brainfeat import __version__
from brainfeat.errors import BrainfeatError

EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 2, 130, 141


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every verb of every ``brainfeat.cli`` module."""
    parser = argparse.ArgumentParser(
        prog="brainfeat",
        description="Load, verify and regenerate the Horikawa et al. (2019) DNN-feature dataset.",
        epilog="`brainfeat COMMAND --help` describes one command.",
    )
    parser.add_argument("--version", action="version", version=f"brainfeat {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``brainfeat`` command; returns the process exit code (see the module doc)."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in Python's final flush
        return code
    except BrainfeatError as error:
        print(f"brainfeat {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"brainfeat {args.command}: interrupted; run the same command again to continue "
              "(downloads, decode and features resume where they stopped).", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE


def _discard_stdout() -> None:
    """Point stdout at /dev/null so that Python's final flush does not fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file descriptor (captured in tests)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
