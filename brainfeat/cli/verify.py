"""``brainfeat verify`` and ``brainfeat figures``: check the published numbers, draw Figure 2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from brainfeat.catalog import Network
from brainfeat.cli._options import add_data_options, catalog_from


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
    verify.add_argument("--out", type=Path, default=Path("brainfeat-verification"),
                        help="folder for verification.json, verification.html and figures "
                             "(default: ./brainfeat-verification)")
    verify.set_defaults(handler=_run_verify)

    figures = subparsers.add_parser(
        "figures", help="draw Figure 2 (PNG and SVG)",
        description="Draw Figure 2 (a: accuracy violins, b: S1 vs S2, c: inter-subject "
                    "correlations) from the published accuracy files, or from a "
                    "verification.json written by `brainfeat verify`.")
    _common(figures)
    figures.add_argument("--report", type=Path,
                         help="verification.json to draw from instead of the accuracy files")
    figures.add_argument("--out", type=Path, default=Path("brainfeat-figures"),
                         help="output folder (default: ./brainfeat-figures)")
    figures.set_defaults(handler=_run_figures)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--network", help="AlexNet or VGG19 (default: both)")
    parser.add_argument("--layer", help="one layer, e.g. conv1 (default: all)")
    add_data_options(parser, catalog=True, download=True)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _run_verify(args: argparse.Namespace) -> int:
    from brainfeat.evaluation.report import DEFAULT_TOLERANCE, verify

    report = verify(args.network, args.layer, args.subject, data_dir=args.data_dir,
                    download=args.download, catalog=catalog_from(args),
                    tolerance=args.tolerance if args.tolerance is not None else DEFAULT_TOLERANCE,
                    out_dir=args.out, progress=not args.quiet)
    print(report.format_table())
    print()
    print(f"JSON report: {report.outputs['json']}")
    print(f"HTML report: {report.outputs['html']}")
    return 0 if report.ok else 1


def _run_figures(args: argparse.Namespace) -> int:
    from brainfeat.evaluation.figures import save_figure2
    from brainfeat.evaluation.report import figure2_statistics
    from brainfeat.evaluation.statistics import LayerFigureStats

    catalog = catalog_from(args)
    if args.report:
        data = json.loads(args.report.read_text(encoding="utf-8"))
        network = Network.parse(args.network).value if args.network else None
        stats = [LayerFigureStats.from_dict(layer["figure"]) for layer in data["layers"]
                 if layer.get("figure")
                 and network in (None, layer["network"])
                 and args.layer in (None, layer["layer"])]
        synthetic = bool(data.get("synthetic"))
    else:
        stats = figure2_statistics(args.network, args.layer, data_dir=args.data_dir,
                                   download=args.download, catalog=catalog,
                                   progress=not args.quiet)
        synthetic = bool(catalog and catalog.synthetic)
    if not stats:
        print("brainfeat figures: no accuracy found for the layers asked for", file=sys.stderr)
        return 1
    for path in save_figure2(stats, args.out, synthetic=synthetic):
        print(path)
    return 0
