"""The ``decode`` verb: regenerate one subject's decoded features of one layer."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from brainfeat.cli._options import add_data_options
from brainfeat.errors import InvalidValueError


def _decode(args: argparse.Namespace) -> int:
    import h5py

    from brainfeat.decoding import decode_layer

    fmri = {}
    if args.fmri:
        from brainfeat.fmri.preprocessed import read_fmri
        fmri = {"fmri_train": read_fmri(args.fmri, args.subject, args.roi, "train"),
                "fmri_test": read_fmri(args.fmri, args.subject, args.roi, "test", True)}
    out = Path(args.out or f"decoded-{args.subject}-{args.network}-{args.layer}.h5")
    client = None
    if args.scheduler:
        from distributed import Client
        try:
            client = Client(args.scheduler)
        except (OSError, ValueError) as error:
            raise InvalidValueError(
                f"Cannot reach the Dask scheduler {args.scheduler!r} ({error}): start it "
                "(`dask scheduler`), check the address (tcp://host:8786), or leave "
                "--scheduler out to run here.") from None
    started = time.perf_counter()
    try:
        decode_layer(args.subject, args.network, args.layer, args.train_features, out,
                     test_features=args.test_features, dataset=args.dataset, roi=args.roi,
                     alpha=args.alpha, n_voxels=args.n_voxels, normalize=args.normalize,
                     chunk_units=args.chunk_units, client=client,
                     backend="torch" if args.device else args.backend,
                     device=args.device, dtype=args.dtype, progress=args.progress,
                     data_dir=args.data_dir, download=args.download, **fmri)
    finally:
        if client is not None:
            client.close()
    seconds = time.perf_counter() - started
    with h5py.File(out, "r") as handle:
        n_images, n_units = handle["decoded"].shape
        accuracy = handle["accuracy"][()]
    line = (f"{args.subject} {args.network} {args.layer}: {n_units} units x {n_images} test "
            f"images in {seconds:.1f} s ({n_units / seconds:.0f} units/s) -> {out}")
    if np.isfinite(accuracy).any():
        line += f"; mean accuracy {np.nanmean(accuracy):.3f}"
    print(line)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``decode`` verb."""
    parser = subparsers.add_parser(
        "decode", help="fit fastl2lir decoders for one subject and layer; decode the test fMRI",
        description="Fit one voxel-selecting ridge decoder per unit (fastl2lir, exact) on the "
        "training fMRI and features, decode the repeat-averaged test fMRI, and write decoded "
        "features and per-unit accuracy to HDF5, chunk by chunk. Run the same command again "
        "to resume an interrupted run.")
    parser.add_argument("--subject", required=True, help="S1 ... S5 (1, sub-01, Subject1)")
    parser.add_argument("--network", required=True, help="AlexNet or VGG19")
    parser.add_argument("--layer", required=True, help="layer name, e.g. fc8 or conv5_4")
    parser.add_argument("--train-features", required=True, metavar="H5",
                        help="features file: /image_ids (n_images,) and /layers/<layer> "
                        "(n_images, n_units) float32, as written by brainfeat.features")
    parser.add_argument("--test-features", metavar="H5",
                        help="true features of the test images (same layout) for accuracy")
    parser.add_argument("--dataset", help="dataset of the features files (default layers/<layer>)")
    parser.add_argument("--fmri", metavar="H5",
                        help="a local Subject*.h5 (default: brainfeat.load_fmri from the data folder)")
    parser.add_argument("-o", "--out", help="output HDF5 (default decoded-<S>-<net>-<layer>.h5)")
    parser.add_argument("--roi", default="VC", help="region of interest (default VC)")
    parser.add_argument("--alpha", type=float, default=100.0, help="ridge penalty (default 100)")
    parser.add_argument("--n-voxels", type=int, default=500,
                        help="voxels selected per unit (default 500; 0 = all)")
    parser.add_argument("--no-normalize", dest="normalize", action="store_false",
                        help="do not z-score X and Y (raw fastl2lir)")
    parser.add_argument("--backend", choices=("numpy", "torch"), default="numpy")
    parser.add_argument("--device", help="torch device, e.g. cuda (implies --backend torch)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--chunk-units", type=int, help="units per chunk and checkpoint")
    parser.add_argument("--scheduler", metavar="ADDR",
                        help="Dask scheduler address (tcp://host:8786): spread chunks over it")
    add_data_options(parser, download=True, progress=True)
    parser.set_defaults(handler=_decode)
