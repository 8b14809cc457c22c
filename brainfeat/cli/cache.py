"""The ``cache`` verb: list, check, forget, re-fetch and adopt cached files."""

from __future__ import annotations

import argparse

from brainfeat.cli._options import add_data_options, catalog_from, path_argument

_NAME_HELP = ("registry name: a figshare file name (Subject1.h5, "
              "decodedDNN-true-AlexNet-fc8.zip) or ds001246/<path>")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``brainfeat cache ACTION`` to the ``brainfeat`` parser."""
    cache = subparsers.add_parser(
        "cache", help="list, check, forget, re-fetch or adopt cached files",
        description="Manage the data folder. `list` shows what is cached; `check` re-verifies "
                    "every file, records verified files the manifest lacks and deletes "
                    "temporary files of killed fetches; `forget NAME...` deletes files; "
                    "`refetch NAME...` downloads them again; `adopt PATH` takes a file you "
                    "already have (a Subject1.h5, a zip downloaded by hand) after verifying it.")
    actions = cache.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    listing = actions.add_parser("list", help="what is cached, verified or not",
                                 description="List the cached entries and partial downloads.")
    add_data_options(listing)
    listing.set_defaults(handler=_list)

    check = actions.add_parser("check", help="re-verify the cache and repair its bookkeeping",
                               description="Re-verify every cached file (sizes, SHA-256, member "
                                           "CRCs), record verified files the manifest lacks, "
                                           "delete temporary files of killed fetches.")
    add_data_options(check, catalog=True, progress=True)
    check.set_defaults(handler=_check)

    forget = actions.add_parser("forget", help="delete cached files",
                                description="Delete cached files (all files of a layer's zip) "
                                            "and their manifest entries.")
    forget.add_argument("names", nargs="+", metavar="NAME", help=_NAME_HELP)
    add_data_options(forget)
    forget.set_defaults(handler=_forget)

    refetch = actions.add_parser("refetch", help="download cached files again",
                                 description="Forget, then download and verify files again.")
    refetch.add_argument("names", nargs="+", metavar="NAME", help=_NAME_HELP)
    add_data_options(refetch, catalog=True, progress=True)
    refetch.set_defaults(handler=_refetch)

    adopt = actions.add_parser("adopt", help="take a file you already have into the cache",
                               description="Copy a file you downloaded yourself into the cache "
                                           "after verifying it as a download would be (a "
                                           "layer's zip is unpacked); your file is left as is.")
    adopt.add_argument("path", type=path_argument, help="the file")
    adopt.add_argument("--as", dest="name", default=None, metavar="NAME",
                       help=f"{_NAME_HELP}; default: the file's name")
    add_data_options(adopt, catalog=True, progress=True)
    adopt.set_defaults(handler=_adopt)


def _list(args: argparse.Namespace) -> int:
    from brainfeat.cli.data import print_cache_listing

    return print_cache_listing(args.data_dir)


def _check(args: argparse.Namespace) -> int:
    from brainfeat.config import data_dir
    from brainfeat.remote.cache import check_cache

    report = check_cache(args.data_dir, progress=args.progress, catalog=catalog_from(args))
    for name in report.recovered:
        print(f"recorded {name}: found on disk and verified")
    for problem in report.problems:
        print(f"CORRUPT {problem.path}: {problem.reason}")
    for path in report.swept:
        print(f"deleted {path} (left by a killed fetch)")
    print(f"{report.checked} cached entries checked in {data_dir(args.data_dir)}: "
          + ("all intact" if not report.problems else
             f"{len(report.problems)} corrupt, marked for download again at the next fetch"))
    return 1 if report.problems else 0


def _forget(args: argparse.Namespace) -> int:
    from brainfeat.remote.cache import forget

    for name in args.names:
        removed = forget(name, args.data_dir)
        print(f"{name}: {len(removed)} files deleted" if removed else f"{name}: not cached")
    return 0


def _refetch(args: argparse.Namespace) -> int:
    from brainfeat.remote.cache import refetch

    for name in args.names:
        print(refetch(name, args.data_dir, progress=args.progress, catalog=catalog_from(args)))
    return 0


def _adopt(args: argparse.Namespace) -> int:
    from brainfeat.remote.cache import adopt

    print(adopt(args.path, args.name, args.data_dir, progress=args.progress,
                catalog=catalog_from(args)))
    return 0
