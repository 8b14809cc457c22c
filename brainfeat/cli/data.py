"""Verbs for data: ``fetch``, ``load``, ``info``, ``where``, ``verify-cache``."""

from __future__ import annotations

import argparse
from pathlib import Path

from brainfeat.catalog import Kind
from brainfeat.cli._options import add_data_options, catalog_from

_KINDS = tuple(kind.value for kind in Kind)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the data verbs to the ``brainfeat`` parser."""
    fetch = subparsers.add_parser(
        "fetch", help="download published files (once, verified)",
        description="Download published files into the data folder. Examples: "
                    "`brainfeat fetch decoded AlexNet conv1`, `brainfeat fetch fmri S1 S2`, "
                    "`brainfeat fetch bids sub-01 --include '*_events.tsv'`, "
                    "`brainfeat fetch file ImageFeatures.h5`.")
    fetch.add_argument("what", choices=(*_KINDS, "fmri", "bids", "file"))
    fetch.add_argument("names", nargs="*",
                       help="NETWORK LAYER for a kind; SUBJECT... for fmri/bids; NAME for file")
    fetch.add_argument("--include", action="append", default=None, metavar="PATTERN",
                       help="bids only: glob of paths inside ds001246 (repeatable)")
    add_data_options(fetch, catalog=True, progress=True)
    fetch.set_defaults(handler=_fetch)

    load = subparsers.add_parser(
        "load", help="load one result, print a summary",
        description="Load one published result (fetched once, verified) and print a one-line "
                    "summary. Examples: `brainfeat load accuracy VGG19 fc8 Averaged`, "
                    "`brainfeat load true AlexNet conv1` (true features have no subject).")
    load.add_argument("kind", choices=_KINDS)
    load.add_argument("network")
    load.add_argument("layer")
    load.add_argument("subject", nargs="?", default=None)
    add_data_options(load, catalog=True, download=True)
    load.set_defaults(handler=_load)

    info = subparsers.add_parser(
        "info", help="what is cached, verified or not",
        description="List every file in the data folder's manifest with its size, state "
                    "(verified or corrupt) and who pinned its hash, and any partial download.")
    add_data_options(info)
    info.set_defaults(handler=_info)

    where = subparsers.add_parser(
        "where", help="the data folder and download sources",
        description="Print the data folder (and whether --data-dir, $BRAINFEAT_DATA or the "
                    "default chose it) and the base URL of each download source, with "
                    "$BRAINFEAT_MIRRORS overrides.")
    add_data_options(where)
    where.set_defaults(handler=_where)

    verify = subparsers.add_parser(
        "verify-cache", help="re-check sizes, SHA-256 and CRCs of cached files",
        description="Re-check every cached file against its pinned size and SHA-256 (and "
                    "each zip member's CRC); corrupt entries are marked for download again. "
                    "Exit code 0 when all are intact, 1 otherwise. `brainfeat cache check` also "
                    "records verified files the manifest lacks.")
    add_data_options(verify, progress=True)
    verify.set_defaults(handler=_verify_cache)


def _fetch(args: argparse.Namespace) -> int:
    from brainfeat.errors import UnknownNameError
    from brainfeat.remote import api

    kw = dict(data_dir=args.data_dir, progress=args.progress)
    if args.what in _KINDS:
        if len(args.names) != 2:
            raise UnknownNameError(
                f"`brainfeat fetch {args.what}` takes NETWORK LAYER, e.g. "
                f"`brainfeat fetch {args.what} AlexNet conv1`; got {args.names}.")
        paths = [api.fetch(args.what, *args.names, catalog=catalog_from(args), **kw)]
    elif args.what == "fmri":
        if not args.names:
            raise UnknownNameError("`brainfeat fetch fmri` takes subjects, e.g. S1 S2.")
        paths = [api.fetch_fmri(subject, **kw) for subject in args.names]
    elif args.what == "bids":
        paths = [api.fetch_bids(args.names or None, args.include, **kw)]
    else:
        if len(args.names) != 1:
            raise UnknownNameError("`brainfeat fetch file` takes one registry name, "
                                   "e.g. ImageFeatures.h5.")
        paths = [api.fetch_registered(args.names[0], **kw)]
    for path in paths:
        print(path)
    return 0


def _load(args: argparse.Namespace) -> int:
    from brainfeat.published import FeatureSet, load

    result = load(args.kind, args.network, args.layer, args.subject, data_dir=args.data_dir,
                  download=args.download, catalog=catalog_from(args))
    print(result.summary())
    if isinstance(result, FeatureSet):
        print(f"images: {', '.join(result.image_ids[:3])}, ... ({result.n_images} in all)")
    return 0


def _human(size: float) -> str:
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _info(args: argparse.Namespace) -> int:
    return print_cache_listing(args.data_dir)


def print_cache_listing(folder: Path | None) -> int:
    """Print what the data folder holds (``info`` and ``cache list``); returns 0."""
    from brainfeat.config import data_dir
    from brainfeat.remote.cache import cache_entries

    root = data_dir(folder)
    entries = cache_entries(root)
    print(f"data folder: {root}")
    if not entries:
        print("nothing cached yet: `brainfeat fetch ...` downloads published files.")
    total = 0
    for _, entry in sorted(entries.items()):
        size = sum(m[0] for m in entry["members"].values()) if "members" in entry else entry["size"]
        total += size
        what = f"{len(entry['members'])} files extracted" if "members" in entry else "file"
        state = "verified" if entry["state"] == "ok" else "CORRUPT (fetch again)"
        print(f"{entry['name']:<45} {_human(size):>9}  {state:<9}  {what}; "
              f"hash pinned by {entry['pinned_by']}")
    partial = sorted(root.rglob("*.part")) if root.is_dir() else []
    for path in partial:
        print(f"{path.relative_to(root)}  {_human(path.stat().st_size)}  partial download "
              "(resumed by the next fetch)")
    print(f"{len(entries)} entries, {_human(total)} on disk")
    return 0


def _where(args: argparse.Namespace) -> int:
    import os

    from brainfeat.config import CATALOG_ENV, DATA_ENV, PINS_ENV, data_dir, mirrors
    from brainfeat.remote.registry import SOURCES

    origin = ("--data-dir" if args.data_dir is not None else
              f"${DATA_ENV}" if os.environ.get(DATA_ENV) else "default")
    print(f"data folder: {data_dir(args.data_dir)} (from {origin})")
    overrides = mirrors()
    for source, url in SOURCES.items():
        mirror = overrides.get(source)
        print(f"{source}: {mirror or url}" + (" (BRAINFEAT_MIRRORS)" if mirror else ""))
    for name, what in ((CATALOG_ENV, "catalog"), (PINS_ENV, "pins")):
        if os.environ.get(name, "").strip():
            print(f"{what}: {os.environ[name]} (${name}; unset it for the published dataset)")
    return 0


def _verify_cache(args: argparse.Namespace) -> int:
    from brainfeat.config import data_dir
    from brainfeat.remote.download import verify_cache

    root = data_dir(args.data_dir)
    checked, problems = verify_cache(root, progress=args.progress)
    for problem in problems:
        print(f"CORRUPT {problem.path}: {problem.reason}")
    print(f"{checked} cached entries checked in {root}: "
          + ("all intact" if not problems else
             f"{len(problems)} corrupt, marked for download again at the next fetch"))
    return 1 if problems else 0
