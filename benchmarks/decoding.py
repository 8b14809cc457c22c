"""Decoding speed and memory: fastl2lir vs brainfeat (numpy, torch CPU, torch CUDA).

Run from the repository root with the project venv::

    .venv/bin/python benchmarks/decoding.py [--units 200] [--stream-units 2000 8000]
        [--rows numpy torch] [--chunk-units N] [--repeat 2]

All rows decode the same synthetic data (``--samples`` x ``--voxels`` training fMRI, seed 0)
with alpha=100 and ``--n-voxels`` voxels per unit, in chunks of ``--chunk-units`` units
(default: the library's default); ``--rows`` picks the brainfeat backends timed. fastl2lir
0.11 does not import with numpy >= 2.4; when it is missing here the script runs its own
fastl2lir row in the oracle venv (``.oracle-venv/bin/python``), on the same data regenerated
from the same seed. Throughput is per unit after the once-per-fit set-up (Gram matrix),
which is reported separately (so ``--units`` must be large enough, 200 or more, for the
per-unit time to dominate the set-up's noise). fastl2lir is timed twice: with one BLAS
thread (the single-core reference of the ``x fastl2lir`` column) and with BLAS's default
threads (``x default``, as it runs out of the box); its per-unit loop runs on one BLAS
thread either way, its correlation and ``Y^T X`` products do not. The machine is shared:
each row keeps its best of ``--repeat`` interleaved rounds. The memory part runs
:func:`brainfeat.decoding.decode_layer` in a fresh process per unit count, streaming lazily
generated training features, and prints the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ORACLE = ROOT / ".oracle-venv" / "bin" / "python"


def make_data(samples: int, voxels: int, units: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, voxels))
    y = x[:, :50] @ rng.standard_normal((50, units)) + rng.standard_normal((samples, units))
    return x, y


def time_fastl2lir(args: argparse.Namespace) -> dict:
    """Seconds of fastl2lir's fit for 1 unit and for ``args.units`` units (same X), with
    ``args.fastl2lir_threads`` BLAS threads (0: BLAS's default)."""
    import contextlib
    import warnings

    import fastl2lir
    from threadpoolctl import threadpool_limits

    x, y = make_data(args.samples, args.voxels, args.units)
    times = []
    limit = (threadpool_limits(limits=args.fastl2lir_threads, user_api="blas")
             if args.fastl2lir_threads else contextlib.nullcontext())
    for n in (1, args.units):
        started = time.perf_counter()
        with limit, warnings.catch_warnings(), open(os.devnull, "w") as sink:
            warnings.simplefilter("ignore")
            stderr, sys.stderr = sys.stderr, sink  # fastl2lir's own tqdm bar
            try:
                fastl2lir.FastL2LiR().fit(x, y[:, :n], alpha=100.0, n_feat=args.n_voxels)
            finally:
                sys.stderr = stderr
        times.append(time.perf_counter() - started)
    return {"setup_s": times[0], "per_unit_s": (times[1] - times[0]) / (args.units - 1)}


def time_brainfeat(args: argparse.Namespace, backend: str, device: str | None,
                   dtype: str) -> dict:
    """Seconds of brainfeat's set-up and per unit (fit + predict of 50 test samples)."""
    from brainfeat.decoding._solvers import fit_units, predict_units, prepare_design
    from brainfeat.decoding.backends import get_backend

    x, y = make_data(args.samples, args.voxels, args.units)
    x_test = np.random.default_rng(1).standard_normal((50, args.voxels))
    array = get_backend(backend, dtype=dtype, device=device)
    started = time.perf_counter()
    bound = prepare_design(x, 100.0, args.n_voxels).on(array)
    setup = time.perf_counter() - started
    fit_units(bound, y[:, :8])  # warm-up (thread pools, CUDA context)
    _sync(array)
    started = time.perf_counter()
    step = args.chunk_units
    for start in range(0, args.units, step):
        models = fit_units(bound, y[:, start:start + step])
        array.to_numpy(predict_units(array, models, x_test))
    _sync(array)
    return {"setup_s": setup, "per_unit_s": (time.perf_counter() - started) / args.units}


def _sync(array) -> None:
    if getattr(array, "name", "") == "torch" and array.device.type == "cuda":
        array.torch.cuda.synchronize()


class LazyFeatures:
    """(n_images, n_units) float32 features made up on demand, column block by block."""

    def __init__(self, n_images: int, n_units: int) -> None:
        self.shape, self.ndim = (n_images, n_units), 2

    def __getitem__(self, key):
        rows, columns = key
        start, stop, _ = columns.indices(self.shape[1])
        rng = np.random.default_rng(start)
        return rng.standard_normal((self.shape[0], stop - start)).astype(np.float32)[rows]


def stream_peak_rss(args: argparse.Namespace, units: int) -> dict:
    """In this (fresh) process: decode_layer over ``units`` lazy units; peak RSS in MB."""
    from brainfeat.decoding import decode_layer

    rng = np.random.default_rng(0)
    names = tuple(f"n{i:08d}_1" for i in range(args.samples))
    train = SimpleNamespace(X=rng.standard_normal((args.samples, args.voxels)).astype(np.float32),
                            stimulus_names=names)
    test = SimpleNamespace(X=rng.standard_normal((50, args.voxels)).astype(np.float32),
                           stimulus_names=tuple(f"t{i}" for i in range(50)))
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        decode_layer("S1", "VGG19", "conv1_1", LazyFeatures(args.samples, units),
                     Path(folder) / "out.h5", fmri_train=train, fmri_test=test,
                     n_voxels=args.n_voxels, chunk_units=args.chunk_units,
                     backend=args.backend, progress=False)
        seconds = time.perf_counter() - started
    return {"units": units, "peak_rss_mb": _peak_rss_mb(), "seconds": seconds}


def _peak_rss_mb() -> float:
    """This process's peak RSS. ``VmHWM`` restarts at exec, unlike ``ru_maxrss``, which
    keeps the high-water mark of the forking parent."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fastl2lir_row(args: argparse.Namespace) -> dict | None:
    """fastl2lir's timings, here or in the oracle venv; None when it is nowhere."""
    try:
        return time_fastl2lir(args)
    except ImportError:
        if not ORACLE.exists():
            return None
    common = [f"--{k.replace('_', '-')}={getattr(args, k)}"
              for k in ("samples", "voxels", "n_voxels", "units", "fastl2lir_threads")]
    done = subprocess.run([str(ORACLE), __file__, "--only", "fastl2lir", *common],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


SINGLE = "fastl2lir 0.11 (1 BLAS thread)"
ALL = "fastl2lir 0.11 (default BLAS threads)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1200)
    parser.add_argument("--voxels", type=int, default=5000)
    parser.add_argument("--n-voxels", type=int, default=500)
    parser.add_argument("--units", type=int, default=200, help="units timed per row")
    parser.add_argument("--chunk-units", type=int,
                        help="units per chunk (default: the library's default_chunk_units)")
    parser.add_argument("--stream-units", type=int, nargs="*", default=[1000, 4000],
                        help="unit counts of the streamed peak-RSS runs (none: skip)")
    parser.add_argument("--backend", default="numpy", help="backend of the streamed runs")
    parser.add_argument("--rows", nargs="*", choices=("numpy", "torch"),
                        default=["numpy", "torch"], help="backends timed (fastl2lir always)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="rounds over all rows; the best per row is shown (shared CPUs)")
    parser.add_argument("--only", choices=("fastl2lir", "stream"), help=argparse.SUPPRESS)
    parser.add_argument("--fastl2lir-threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--stream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only == "fastl2lir":
        print(json.dumps(time_fastl2lir(args)))
        return 0
    if args.chunk_units is None:
        from brainfeat.decoding.estimator import default_chunk_units
        args.chunk_units = default_chunk_units(args.samples, args.voxels)
    if args.only == "stream":
        print(json.dumps(stream_peak_rss(args, args.stream)))
        return 0

    shape = f"{args.samples} samples x {args.voxels} voxels, {args.n_voxels} per unit"
    print(f"Decoding benchmark: {shape}, alpha=100, {args.units} units per row, "
          f"{len(os.sched_getaffinity(0))} CPUs available")
    configs = [("numpy", None, "float64"), ("numpy", None, "float32"),
               ("torch", "cpu", "float64"), ("torch", "cpu", "float32")]
    try:
        import torch
        if torch.cuda.is_available():
            configs += [("torch", "cuda", "float64"), ("torch", "cuda", "float32")]
    except ImportError:
        configs = configs[:2]
    configs = [config for config in configs if config[0] in args.rows]
    rows: dict[str, dict] = {}
    for _ in range(args.repeat):  # rounds interleave the rows; each row keeps its best round
        measured = {SINGLE: _fastl2lir_row(args),
                    ALL: _fastl2lir_row(argparse.Namespace(**{**vars(args),
                                                              "fastl2lir_threads": 0}))}
        for backend, device, dtype in configs:
            name = f"brainfeat {backend}{'/' + device if device else ''} {dtype}"
            measured[name] = time_brainfeat(args, backend, device, dtype)
        for name, row in measured.items():
            if row is not None and (name not in rows
                                    or row["per_unit_s"] < rows[name]["per_unit_s"]):
                rows[name] = row
    reference, all_threads = rows.get(SINGLE), rows.get(ALL)
    print(f"\n{'':38s} {'set-up s':>9s} {'ms/unit':>9s} {'units/s':>9s} {'x fastl2lir':>12s} "
          f"{'x default':>12s}")
    for name, row in rows.items():
        ratios = [base["per_unit_s"] / row["per_unit_s"] if base else float("nan")
                  for base in (reference, all_threads)]
        print(f"{name:38s} {row['setup_s']:9.2f} {1e3 * row['per_unit_s']:9.2f} "
              f"{1 / row['per_unit_s']:9.1f} {ratios[0]:12.2f} {ratios[1]:12.2f}")
    best = min(row["per_unit_s"] for name, row in rows.items() if "float64" in name)
    print(f"\n3.2 M units at the best float64 rate: {3.2e6 * best / 3600:.1f} h "
          f"(fastl2lir: {3.2e6 * reference['per_unit_s'] / 3600:.1f} h)" if reference else "")

    if args.stream_units:
        print(f"\nStreamed decode_layer ({args.backend}, chunk {args.chunk_units} units), "
              "fresh process each:")
        for units in args.stream_units:
            done = subprocess.run([sys.executable, __file__, "--only", "stream",
                                   f"--stream={units}", f"--samples={args.samples}",
                                   f"--voxels={args.voxels}", f"--n-voxels={args.n_voxels}",
                                   f"--chunk-units={args.chunk_units}",
                                   f"--backend={args.backend}"],
                                  capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.splitlines()[-1])
            print(f"  {row['units']:>9,d} units: peak RSS {row['peak_rss_mb']:7.0f} MB, "
                  f"{row['seconds']:6.1f} s ({row['units'] / row['seconds']:.0f} units/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
