"""``brainfeat identify``: identification accuracy of the published decoded features."""

from __future__ import annotations

import argparse

from brainfeat.cli._options import add_data_options, catalog_from, path_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``identify`` verb."""
    parser = subparsers.add_parser(
        "identify", help="identification accuracy per subject and layer, with chance level",
        description="Identify the 50 test images from the published decoded features: "
                    "pairwise among the test images (bdpy's definition), n-way top-k with "
                    "seeded random distractors, or category identification against "
                    "category-averaged candidates (Horikawa & Kamitani 2017).")
    parser.add_argument("network", help="AlexNet or VGG19")
    parser.add_argument("--layer", action="append", dest="layers", metavar="LAYER",
                        help="a layer, e.g. fc8 (repeatable; default: every layer)")
    parser.add_argument("--subject", action="append", dest="subjects", metavar="SUBJECT",
                        help="S1..S5 or Averaged (repeatable; default: all)")
    parser.add_argument("--method", choices=("pairwise", "nway", "category"),
                        default="pairwise", help="default: pairwise")
    parser.add_argument("--candidates", type=path_argument, default=None,
                        help="category method: a features file from `brainfeat features` or "
                             "the GOD release's ImageFeatures.h5")
    parser.add_argument("--n-way", type=int, default=10, help="nway method (default 10)")
    parser.add_argument("--top-k", type=int, default=1, help="nway method (default 1)")
    parser.add_argument("--draws", type=int, default=100,
                        help="nway method: random draws per image (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="nway method (default 0)")
    parser.add_argument("--csv", type=path_argument, default=None,
                        help="also write every image's score to this CSV file")
    add_data_options(parser, catalog=True, download=True, progress=True)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from brainfeat.evaluation.identify import identify

    result = identify(args.network, args.layers, args.subjects, method=args.method,
                      candidates=args.candidates, n_way=args.n_way, top_k=args.top_k,
                      n_draws=args.draws, seed=args.seed, data_dir=args.data_dir,
                      download=args.download, progress=args.progress,
                      catalog=catalog_from(args))
    print(result.format_table())
    if args.csv is not None:
        result.to_frame().to_csv(args.csv, index=False)
        print(f"per-image scores: {args.csv}")
    return 0
