"""Verb ``demo``: the end-to-end demo on a synthetic replica (what ``make demo`` runs)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from brainfeat.cli._options import path_argument

DEFAULT_DIR = Path("brainfeat_demo")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` verb."""
    demo = subparsers.add_parser(
        "demo", help="write, serve, fetch and check a SYNTHETIC replica of the dataset",
        description="Write a miniature SYNTHETIC replica of the published figshare files, "
                    "serve it on 127.0.0.1, fetch it through the real download path, load "
                    "it, recompute its accuracies and verify it; then run the regeneration "
                    "loop (images + fMRI -> decoded features, accuracies, ranks) on a "
                    "SYNTHETIC replica of its inputs and verify the result against that "
                    "replica's 'published' files. No internet needed.")
    demo.add_argument("--dir", type=path_argument, default=DEFAULT_DIR,
                      help=f"work folder (default: ./{DEFAULT_DIR}); its replica/, data/, "
                           "loop-replica/, loop-data/ and regenerated/ are replaced")
    demo.add_argument("--seed", type=int, default=0, help="seed of the replica")
    demo.add_argument("--serve", action="store_true",
                      help="instead: write a SYNTHETIC mirror of every source (figshare "
                           "files, fMRI, images, ds001246 events and masks), serve it until "
                           "Ctrl-C and print the one line that points brainfeat at it")
    demo.set_defaults(handler=_demo)


def _serve(args: argparse.Namespace) -> int:
    import threading

    from brainfeat.demo.serve import serve_mirror

    print("brainfeat demo --serve - SYNTHETIC mirror: the numbers mean nothing.", flush=True)
    with serve_mirror(args.dir, seed=args.seed) as mirror:
        print(f"Serving {mirror.root} on {mirror.url} (images: {mirror.images}).\n"
              "Point every brainfeat command and call at it with:\n\n"
              f"{mirror.export_line()}\n\nCtrl-C stops it.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("Stopped.")
    return 0


def _demo(args: argparse.Namespace) -> int:
    if args.serve:
        return _serve(args)
    from brainfeat.demo.run import (
        check_accuracies, fetch_replica, regenerate_replica, verify_replica)
    from brainfeat.evaluation.regenerated import PROFILE_FIGURE, write_comparison

    start = time.perf_counter()
    print("brainfeat demo - SYNTHETIC replica: the numbers mean nothing, the code path is real.")
    data = fetch_replica(args.dir, seed=args.seed)
    n_zips = len(list(data.replica_dir.glob("decodedDNN-*.zip")))
    print(f"1. wrote {n_zips} zips in the published layout to {data.replica_dir}")
    print(f"2. served them on 127.0.0.1 (BRAINFEAT_MIRRORS=figshare=...), fetched, verified "
          f"and pinned them into {data.data_dir}")
    checks = check_accuracies(data)
    print("3. loaded every layer/subject with brainfeat.load(...) and recomputed accuracy "
          "(Pearson r per unit, decoded vs true, 50 test images):\n")
    print(f"{'network':<8} {'layer':<8} {'subject':<9} {'units':>5} {'NaN':>3} "
          f"{'mean r (recomputed)':>19} {'mean r (file)':>13} {'max |diff|':>10}")
    for c in checks:
        print(f"{c.network:<8} {c.layer:<8} {c.subject:<9} {c.n_units:>5} {c.n_nan:>3} "
              f"{c.mean_recomputed:>19.4f} {c.mean_published:>13.4f} "
              f"{c.max_abs_difference:>10.1e}")
    agree = sum(c.agrees for c in checks)
    print(f"\n{agree}/{len(checks)} accuracy files agree with the recomputation.")
    report = verify_replica(data)
    print("\n4. brainfeat.verify on the replica: accuracies and ranks recomputed from decoded "
          "+ true, the open facts settled, Figure 2 drawn:\n")
    print(report.format_table())
    print(f"\nHTML report: {report.outputs['html']}")
    print("\n5. the regeneration loop on a SYNTHETIC replica of its inputs (images named by "
          "stimulus, Subject1-5.h5 fetched from 127.0.0.1): true features, one decoder per "
          "unit per subject, Averaged, accuracies, ranks (brainfeat.regenerate):\n")
    result, comparison = regenerate_replica(args.dir, seed=args.seed)
    print(result.plan.describe())
    print("\nDecodability profile (mean accuracy per subject, mean inter-subject r):")
    print(result.format_profile())
    print(f"Drawn beside the replica's 'published' profile: {result.out / PROFILE_FIGURE}")
    print("\n6. brainfeat verify --regenerated: regenerated vs the replica's 'published' files "
          "(made by a separate plain decoder):\n")
    print(comparison.format_table())
    written = write_comparison(comparison, Path(args.dir) / "verification" / "regenerated.json")
    print(f"\nJSON and HTML report: {written[0]}, {written[1]}")
    print(f"\nDone in {time.perf_counter() - start:.1f} s. Try: brainfeat load true AlexNet fc8 "
          f"--data-dir {data.data_dir} --catalog {data.replica_dir / 'catalog.json'}")
    return 0 if agree == len(checks) and report.ok and comparison.ok else 1
