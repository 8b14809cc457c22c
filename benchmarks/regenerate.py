"""Regeneration loop: time per stage, units/s, peak RSS, and the projected full dataset.

Run from the repository root with the project venv::

    .venv/bin/python benchmarks/regenerate.py [--train 100] [--units 1105 2210] [--skip-demo]

1. The demo loop (``brainfeat.demo.run.regenerate_replica``: SYNTHETIC replica, AlexNet
   fc8 with random weights, 5 subjects, ``--train`` training + 50 test images, fMRI fetched
   from a local mirror): seconds of every job of the task graph (as recorded in the
   ``work/done`` markers), decoded units per second, peak RSS of this process.
2. One full-size layer (``--units`` units of a VGG19 conv1_1-sized layer, one subject):
   :func:`brainfeat.decoding.decode_layer` with the paper's settings and its default unit
   chunks (what a regeneration worker runs) on synthetic data of the real sizes (1,200
   training samples, 50 averaged test samples, ``--voxels`` VC voxels, 500 selected per
   unit, alpha 100), the training features streamed from an HDF5 file in the features
   layout as the loop's ``work/features.h5``; units per second, then the time projected
   for conv1_1 (3,211,264 units) and for the whole dataset (5 subjects x AlexNet + VGG19,
   15,520,560 units) on this machine at that rate. Peak RSS is measured in a fresh process
   per unit count (``--full-only``): with one and with two default chunks it stays the
   same, so it is the peak of a worker on the whole 3,211,264-unit layer, and it is
   checked against the 4 GB per worker budget.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONV1_1_UNITS = 64 * 224 * 224
#: Peak memory allowed per worker (issue 10).
WORKER_BUDGET_MB = 4096
DATASET_UNITS = 659_272 + 14_861_288  # AlexNet + VGG19 (DATASET.md 1.3)
N_SUBJECTS = 5


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def demo_loop(n_train: int) -> dict:
    from brainfeat.demo.run import regenerate_replica

    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        result, comparison = regenerate_replica(work, n_train=n_train)
        total = time.perf_counter() - start
    timings = result.timings
    decode = sum(s for job, s in timings.items() if job.startswith("decode-"))
    units = sum(layer.n_units for layer in result.plan.layers) * len(result.plan.subjects)
    return {"total_s (replica + loop + comparison)": round(total, 2),
            "jobs_s": {job: round(s, 3) for job, s in timings.items()},
            "decoded units": units, "decode units/s (sum of job times)": round(units / decode),
            "agrees": comparison.ok, "peak_rss_mb": round(peak_rss_mb())}


def _write_features(path: Path, x_train: np.ndarray, names: tuple[str, ...], units: int,
                    rng: np.random.Generator, block: int = 512) -> Path:
    """Training features in the features layout, written block by block (never all in RAM)."""
    import h5py

    with h5py.File(path, "w") as handle:
        handle["image_ids"] = np.array(names, dtype="S")
        values = handle.create_dataset("layers/conv1_1", (len(names), units), dtype="f4")
        for start in range(0, units, block):
            stop = min(start + block, units)
            values[:, start:stop] = (x_train[:, :50] @ rng.standard_normal((50, stop - start))
                                     + rng.standard_normal((len(names), stop - start)))
    return path


def full_layer(units: int, voxels: int) -> dict:
    from brainfeat.decoding.layer import chunk_size, decode_layer

    rng = np.random.default_rng(0)
    x_train = rng.standard_normal((1200, voxels)).astype(np.float32)
    x_test = rng.standard_normal((50, voxels)).astype(np.float32)
    train_names = tuple(f"n{i:08d}_2" for i in range(1200))
    fmri_train = SimpleNamespace(X=x_train, stimulus_names=train_names)
    fmri_test = SimpleNamespace(X=x_test, stimulus_names=tuple(f"n{i:08d}_1" for i in range(50)))
    with tempfile.TemporaryDirectory() as work:
        features = _write_features(Path(work) / "features.h5", x_train, train_names, units, rng)
        start = time.perf_counter()
        decode_layer("S1", "VGG19", "conv1_1", features, Path(work) / "decoded.h5",
                     fmri_train=fmri_train, fmri_test=fmri_test, progress=False)
        seconds = time.perf_counter() - start
    rate = units / seconds
    return {"units": units, "voxels": voxels,
            "default chunk (units)": chunk_size(None, 1200, voxels),
            "seconds": round(seconds, 2), "units/s": round(rate, 1),
            "projected conv1_1, one subject (h)": round(CONV1_1_UNITS / rate / 3600, 1),
            "projected dataset, 5 subjects (h)":
                round(N_SUBJECTS * DATASET_UNITS / rate / 3600, 1),
            "peak_rss_mb": round(peak_rss_mb())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=100, help="demo training images")
    parser.add_argument("--units", type=int, nargs="+", default=[1105, 2210],
                        help="units of the full-size slices (default: one and two default "
                             "chunks at 4,656 voxels)")
    parser.add_argument("--voxels", type=int, default=4656, help="VC voxels (S4's, reported)")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--full-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.full_only:
        print(json.dumps(full_layer(args.units[0], args.voxels)))
        return
    # The children first: Linux keeps a process's peak RSS across exec, so a child started
    # after the demo would report the demo's peak.
    peaks = []
    for units in args.units:
        child = subprocess.run([sys.executable, __file__, "--full-only", "--units", str(units),
                                "--voxels", str(args.voxels)], capture_output=True, text=True,
                               check=True, cwd=ROOT)
        result = json.loads(child.stdout)
        peaks.append(result["peak_rss_mb"])
        print("full-size layer slice:", json.dumps(result, indent=1))
    print(f"peak RSS per worker by units {dict(zip(args.units, peaks))} MB; budget "
          f"{WORKER_BUDGET_MB} MB: {'within' if max(peaks) <= WORKER_BUDGET_MB else 'OVER'}")
    if not args.skip_demo:
        print("demo loop:", json.dumps(demo_loop(args.train), indent=1))


if __name__ == "__main__":
    main()
