"""``brainfeat verify`` and ``brainfeat figures``: check the published numbers, draw Figure 2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from brainfeat.catalog import Network
from brainfeat.cli._options import add_data_options, catalog_from, path_argument
from brainfeat.errors import DataNotFoundError, FormatError

if TYPE_CHECKING:  # pragma: no cover
    from brainfeat.evaluation.statistics import LayerFigureStats


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``verify`` and ``figures`` verbs."""
    verify = subparsers.add_parser(
        "verify", help="recompute every published accuracy and rank and compare",
        description="Recompute accuracy and rank from the published decoded and true "
                    "features, compare them with the published files, settle the open "
                    "facts and write a terminal table, a JSON file and an HTML report.")
    _common(verify)
    verify.add_argument("--subject", help="S1..S5 or Averaged (default: all, with Figure 2)")
    verify.add_argument("--tolerance", type=float, default=None,
                        help="absolute tolerance on accuracies (default 1e-4)")
    verify.add_argument("--out", type=path_argument, default=Path("brainfeat-verification"),
                        help="folder for verification.json, verification.html and figures "
                             "(default: ./brainfeat-verification)")
    verify.add_argument("--regenerated", type=path_argument, metavar="DIR",
                        help="compare the folder written by `brainfeat regenerate -o DIR` "
                             "with the published files instead (regenerated.json and "
                             "regenerated.html into --out)")
    verify.set_defaults(handler=_run_verify)

    figures = subparsers.add_parser(
        "figures", help="draw Figure 2 (PNG and SVG)",
        description="Draw Figure 2 (a: accuracy violins, b: S1 vs S2, c: inter-subject "
                    "correlations) from the published accuracy files, or from a "
                    "verification.json written by `brainfeat verify`.")
    _common(figures)
    figures.add_argument("--report", type=path_argument,
                         help="verification.json to draw from instead of the accuracy files")
    figures.add_argument("--out", type=path_argument, default=Path("brainfeat-figures"),
                         help="output folder (default: ./brainfeat-figures)")
    figures.set_defaults(handler=_run_figures)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--network", help="AlexNet or VGG19 (default: both)")
    parser.add_argument("--layer", help="one layer, e.g. conv1 (default: all)")
    add_data_options(parser, catalog=True, download=True, progress=True)


def _run_verify(args: argparse.Namespace) -> int:
    from brainfeat.evaluation.report import DEFAULT_TOLERANCE, verify

    if args.regenerated is not None:
        from brainfeat.cli.regenerate import print_comparison

        return print_comparison(args.regenerated, args, args.out / "regenerated.json",
                                args.tolerance)

    report = verify(args.network, args.layer, args.subject, data_dir=args.data_dir,
                    download=args.download, catalog=catalog_from(args),
                    tolerance=args.tolerance if args.tolerance is not None else DEFAULT_TOLERANCE,
                    out_dir=args.out, progress=args.progress)
    print(report.format_table())
    print()
    print(f"JSON report: {report.outputs['json']}")
    print(f"HTML report: {report.outputs['html']}")
    return 0 if report.ok else 1


def _run_figures(args: argparse.Namespace) -> int:
    from brainfeat.evaluation.figures import save_figure2
    from brainfeat.evaluation.report import figure2_statistics

    catalog = catalog_from(args)
    if args.report:
        stats, synthetic = _report_statistics(args.report, args.network, args.layer)
    else:
        stats = figure2_statistics(args.network, args.layer, data_dir=args.data_dir,
                                   download=args.download, catalog=catalog,
                                   progress=args.progress)
        synthetic = bool(catalog and catalog.synthetic)
    if not stats:
        print("brainfeat figures: no accuracy found for the layers asked for", file=sys.stderr)
        return 1
    for path in save_figure2(stats, args.out, synthetic=synthetic):
        print(path)
    return 0


def _report_statistics(path: Path, network: str | None,
                       layer: str | None) -> tuple[list[LayerFigureStats], bool]:
    """Figure statistics of the layers asked for in a verification.json, and its synthetic flag."""
    from brainfeat.evaluation.statistics import LayerFigureStats

    network = Network.parse(network).value if network else None
    fix = ("expected the verification.json that `brainfeat verify` writes; run `brainfeat "
           "verify` again, or draw from the accuracy files without --report")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DataNotFoundError(f"Cannot read the report {path} ({error.strerror}): "
                                f"{fix}.") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise FormatError(f"The report {path} is not JSON ({error}): {fix}.") from None
    try:
        stats = [LayerFigureStats.from_dict(entry["figure"]) for entry in data["layers"]
                 if entry.get("figure")
                 and network in (None, entry["network"])
                 and layer in (None, entry["layer"])]
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise FormatError(f"The report {path} lacks Figure 2 statistics "
                          f"({type(error).__name__}: {error}): {fix}.") from None
    return stats, bool(data.get("synthetic"))
