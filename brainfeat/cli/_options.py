"""Options that many verbs share, written once: the data folder, a replica's catalog,
whether to download, and progress bars."""

from __future__ import annotations

import argparse
from pathlib import Path

from brainfeat.catalog import Catalog


def path_argument(text: str) -> Path:
    """Argument type of a path option: refuses an empty text (an unset shell variable?),
    which ``Path`` would silently read as the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is empty: give a path (is a shell variable unset?).")
    return Path(text)


def add_data_options(parser: argparse.ArgumentParser, *, catalog: bool = False,
                     download: bool = False, progress: bool = False) -> None:
    """Add ``--data-dir`` and, as asked, ``--catalog``, ``--no-download``, ``--no-progress``.

    They land in ``args.data_dir`` (Path or None), ``args.catalog`` (Path or None),
    ``args.download`` and ``args.progress`` (bools, True unless the flag is given).
    """
    parser.add_argument("--data-dir", type=path_argument, default=None,
                        help="brainfeat's data folder (default: $BRAINFEAT_DATA, else "
                             "~/brainfeat_data)")
    if catalog:
        parser.add_argument("--catalog", type=path_argument, default=None,
                            help="catalog JSON of a replica, e.g. "
                                 "brainfeat_demo/replica/catalog.json (default: the published "
                                 "dataset)")
    if download:
        parser.add_argument("--no-download", dest="download", action="store_false",
                            help="use cached files only; fail (or report) the missing ones")
    if progress:
        parser.add_argument("--no-progress", dest="progress", action="store_false",
                            help="hide progress bars")
        # The spelling of brainfeat 0.1's decode, verify and figures, kept working unlisted.
        parser.add_argument("-q", "--quiet", dest="progress", action="store_false",
                            help=argparse.SUPPRESS)


def catalog_from(args: argparse.Namespace) -> Catalog | None:
    """The catalog named by ``--catalog``, or None for the published dataset."""
    return Catalog.load(args.catalog) if args.catalog is not None else None
