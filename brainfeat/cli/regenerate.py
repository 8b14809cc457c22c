"""Verbs ``regenerate`` (the loop) and ``verify-regenerated`` (``brainfeat demo`` runs both on
a SYNTHETIC replica)."""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
from pathlib import Path

from brainfeat.cli._options import add_data_options, catalog_from, path_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``regenerate`` and ``verify-regenerated`` verbs."""
    loop = subparsers.add_parser(
        "regenerate", help="images + weights + fMRI -> decoded features, accuracies, ranks",
        description=(
            "Extract the true features of the training and test images, fit one decoder per "
            "unit per subject (VC, 500 voxels, alpha 100, z-scored, test fMRI averaged over "
            "repeats), decode the test images, average the subjects, score and rank; write "
            "OUT in the published layout (AlexNet/VGG19; read it with --data-dir OUT "
            "--no-download) or a decodability profile (any torchvision model). Rerunning an "
            "interrupted command resumes it."))
    loop.add_argument("network", help="AlexNet, VGG19, or a torchvision model name")
    loop.add_argument("images", type=path_argument,
                      help="folder of stimulus images named by stimulus")
    loop.add_argument("-o", "--out", type=path_argument, required=True, help="output folder")
    loop.add_argument("--layers", nargs="+", help="default: every published layer "
                      "(required for torchvision models: module names)")
    loop.add_argument("--subjects", nargs="+", help="default: S1 .. S5")
    loop.add_argument("--weights", help="as for `brainfeat features` ('random' for tests)")
    loop.add_argument("--roi", default="VC")
    loop.add_argument("--n-voxels", type=int, default=500)
    loop.add_argument("--alpha", type=float, default=100.0)
    loop.add_argument("--fmri", type=path_argument,
                      help="folder with the preprocessed Subject1.h5 ... (default: fetched)")
    loop.add_argument("--bids", type=bids_argument, metavar="PATH|fetch",
                      help="take the fMRI from raw ds001246 instead of Subject*.h5: the root of "
                      "a local tree (event tables, masks, derivatives/preproc-spm BOLD), or "
                      "'fetch' to download those files; block samples by build_samples "
                      "(not with --fmri; a folder named fetch: ./fetch)")
    loop.add_argument("--scheduler", help="address of a Dask scheduler (default: local threads)")
    loop.add_argument("--device", help="torch device of the extraction and the decoders "
                      "(torch backend), e.g. cuda; default CPU, decoders on numpy")
    loop.add_argument("--batch-size", type=int, default=8)
    loop.add_argument("--chunk-units", type=int,
                      help="units per decoder chunk (one cluster task each with --scheduler)")
    loop.add_argument("--dry-run", action="store_true",
                      help="print the plan (jobs, units, disk needed) and stop")
    add_data_options(loop, catalog=True, download=True)
    loop.set_defaults(handler=run_regenerate)

    check = subparsers.add_parser(
        "verify-regenerated", help="regenerated vs published, per layer and subject",
        description=(
            "Compare a folder written by `brainfeat regenerate` with the published files: "
            "decoded features (per-unit r, max and relative difference), accuracies (r "
            "between maps, mean |difference|, fraction within tolerance), ranks, true "
            "features, with the folder's provenance. Exit code 0 when everything agrees."))
    check.add_argument("regenerated", type=path_argument,
                       help="the --out folder of `regenerate`")
    check.add_argument("--json", type=path_argument, help="also write the comparison as JSON, and "
                       "as HTML beside it (same name, .html)")
    add_data_options(check, catalog=True, download=True)
    check.set_defaults(handler=run_verify_regenerated)


def bids_argument(text: str) -> Path | bool:
    """Argument type of ``--bids``: ``fetch`` (True, the files are fetched) or a path."""
    return True if text == "fetch" else path_argument(text)


def run_regenerate(args: argparse.Namespace) -> int:
    """Handler of ``brainfeat regenerate``."""
    from brainfeat.evaluation.regenerated import draw_profile
    from brainfeat.regeneration.loop import regenerate

    catalog = catalog_from(args)
    client = None
    if args.scheduler:
        from distributed import Client

        client = Client(args.scheduler)
    result = regenerate(
        args.network, args.images, out=args.out, layers=args.layers, subjects=args.subjects,
        weights=args.weights, roi=args.roi, n_voxels=args.n_voxels, alpha=args.alpha,
        fmri=args.fmri, bids=args.bids, client=client, device=args.device, batch_size=args.batch_size,
        chunk_units=args.chunk_units,
        data_dir=args.data_dir, download=args.download, catalog=catalog,
        command=shlex.join(["brainfeat", *sys.argv[1:]]), dry_run=args.dry_run)
    print(result.plan.describe())
    if not args.dry_run:
        print(result.format_profile())
        print(f"wrote {result.out}")
        if importlib.util.find_spec("matplotlib") is None:
            print("profile figure not drawn: matplotlib is not installed "
                  "(pip install 'brainfeat[plots]', then run the same command again)")
        else:
            figure = draw_profile(result.out, data_dir=args.data_dir, catalog=catalog)
            print(f"profile beside the published ones: {figure}")
    return 0


def run_verify_regenerated(args: argparse.Namespace) -> int:
    """Handler of ``brainfeat verify-regenerated``."""
    return print_comparison(args.regenerated, args, args.json)


def print_comparison(regenerated: Path, args: argparse.Namespace, json_path: Path | None,
                     tolerance: float | None = None) -> int:
    """Compare ``regenerated`` with the published files, print the table, write JSON and HTML.

    ``args`` gives the data options (``--data-dir``, ``--no-download``, ``--catalog``); also
    the body of ``brainfeat verify --regenerated DIR``. The HTML page goes beside the JSON
    file (same name, ``.html``). Returns the exit code.
    """
    from brainfeat.evaluation.regenerated import compare_regenerated, write_comparison

    extra = {} if tolerance is None else {"tolerance": tolerance}
    comparison = compare_regenerated(regenerated, data_dir=args.data_dir,
                                     download=args.download, catalog=catalog_from(args), **extra)
    print(comparison.format_table())
    if json_path is not None:
        written = write_comparison(comparison, json_path)
        print(f"JSON: {written[0]}\nHTML: {written[1]}")
    return 0 if comparison.ok else 1

