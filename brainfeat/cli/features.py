"""CLI verbs ``features`` (extract DNN features to HDF5) and ``verify-features``."""

from __future__ import annotations

import argparse

from brainfeat.catalog import resolve_catalog
from brainfeat.cli._options import add_data_options, catalog_from, path_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``features`` and ``verify-features`` verbs."""
    extract_parser = subparsers.add_parser(
        "features", help="compute DNN features of a folder of images into one HDF5 file",
        description=(
            "Compute features of every image in IMAGES (JPEG/PNG, taken in stimulus-name order) "
            "with NETWORK and write every layer to OUT (HDF5, float32, channel-major units). "
            "NETWORK is AlexNet or VGG19 (the paper's Caffe models and preprocessing) or a "
            "torchvision model name such as resnet18. Rerunning an interrupted command "
            "continues it."))
    extract_parser.add_argument("network", help="AlexNet, VGG19, or a torchvision model name")
    extract_parser.add_argument("images", type=path_argument, help="folder of stimulus images")
    extract_parser.add_argument("-o", "--out", type=path_argument, required=True,
                                help="HDF5 file to write")
    extract_parser.add_argument("--layers", nargs="+", help="layers to keep (default: all "
                                "published layers; torchvision: top-level modules)")
    extract_parser.add_argument("--weights", help="AlexNet/VGG19: .caffemodel, .pt or the lab's "
                                "VGG19 zip, 'download' (VGG19: the lab's conversion), or "
                                "'random' (default: <data_dir>/weights/<network>/); "
                                "torchvision: a weights name such as DEFAULT (default: random)")
    extract_parser.add_argument("--images-from", choices=["test", "training", "all"],
                                default="all", help="take the published test or training "
                                "images, in published order (default: every image found)")
    extract_parser.add_argument("--relu", action="store_true",
                                help="AlexNet/VGG19: record after ReLU (default: before)")
    extract_parser.add_argument("--mean", type=_mean, help="BGR mean: three comma-separated "
                                "numbers or a .npy file (default 104,117,123)")
    extract_parser.add_argument("--batch-size", type=int, default=8)
    extract_parser.add_argument("--device", help="cuda, cuda:1, cpu (default: cuda if present)")
    extract_parser.add_argument("--overwrite", action="store_true",
                                help="replace OUT if it holds another run")
    add_data_options(extract_parser, catalog=True, progress=True)
    extract_parser.set_defaults(handler=run_extract)

    verify_parser = subparsers.add_parser(
        "verify-features", help="compare regenerated features with the published true features",
        description=(
            "For each layer in FEATURES (written by `brainfeat features`), compare the 50 test "
            "images with the published true features: max absolute difference, Pearson r per "
            "image, pass/fail. Exit code 0 when every layer passes, 1 otherwise."))
    verify_parser.add_argument("features", type=path_argument,
                               help="HDF5 file written by `features`")
    verify_parser.add_argument("network", help="AlexNet or VGG19")
    verify_parser.add_argument("--layers", nargs="+", help="default: every layer in the file")
    verify_parser.add_argument("--tolerance", type=float, default=None,
                               help="max |diff| relative to max |true| (default 1e-3)")
    verify_parser.add_argument("--min-r", type=float, default=None,
                               help="smallest per-image Pearson r (default 0.999)")
    add_data_options(verify_parser, catalog=True, download=True, progress=True)
    verify_parser.set_defaults(handler=run_verify)


def _mean(text: str) -> str | tuple[float, ...]:
    """Argument type of ``--mean``: a .npy path, or comma-separated numbers."""
    if text.endswith(".npy"):
        return text
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither comma-separated numbers nor a .npy file: pass e.g. "
            "--mean 104,117,123 (BGR) or --mean mean.npy") from None


def run_extract(args: argparse.Namespace) -> int:
    """Handler of ``brainfeat features``."""
    from brainfeat.features.extraction import extract
    from brainfeat.features.store import extracted_layers

    catalog = resolve_catalog(args.catalog)
    image_ids = {"test": catalog.test_image_ids, "training": catalog.training_image_ids,
                 "all": None}[args.images_from]
    out = extract(args.network, args.images, layers=args.layers, out=args.out,
                  device=args.device, batch_size=args.batch_size, weights=args.weights,
                  relu=args.relu, image_ids=image_ids, mean_bgr=args.mean,
                  overwrite=args.overwrite, progress=args.progress,
                  data_dir=args.data_dir, catalog=catalog)
    print(f"wrote {out}: layers {' '.join(extracted_layers(out))}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Handler of ``brainfeat verify-features``."""
    from brainfeat.features.verify import DEFAULT_MIN_R, DEFAULT_TOLERANCE, verify_features

    report = verify_features(
        args.features, args.network, layers=args.layers,
        tolerance=DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance,
        min_r=DEFAULT_MIN_R if args.min_r is None else args.min_r,
        data_dir=args.data_dir, download=args.download,
        progress=args.progress, catalog=catalog_from(args))
    print(report)
    return 0 if report.passed else 1
