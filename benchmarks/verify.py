"""Peak memory of ``brainfeat.verify`` on one synthetic conv layer, extrapolated to VGG19 conv1_1.

Usage::

    .venv/bin/python benchmarks/verify.py [--shapes 64 40 40 64 80 80]
    .venv/bin/python benchmarks/verify.py --shapes 64 224 224   # the real conv1_1 size, ~7 min

For each unit shape, writes a synthetic replica holding one VGG19 conv1_1-named layer of
that shape (.mat v7.3, 50 images, S1-S5 + Averaged), fetches it through the loopback
server, then runs ``verify`` in a fresh process with ``download=False`` and reads its peak
resident memory (``VmHWM`` of /proc/self/status). A line through the (array size, peak)
points separates the fixed cost (interpreter, numpy, matplotlib, bounded chunk temporaries)
from the cost per byte of one subject's decoded array (50 x n_units float32), and is
extrapolated to the real conv1_1 (64 x 224 x 224 = 3,211,264 units, 612 MiB per array).
The issue's budget is 4 GB.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REAL_CONV1_1_UNITS = 64 * 224 * 224
N_IMAGES = 50


def _prepare(workdir: Path, shape: tuple[int, ...]) -> Path:
    from brainfeat.catalog import Network
    from brainfeat.demo.replica import replica_catalog, write_replica
    from brainfeat.demo.server import serve_folder
    from brainfeat.published import load_accuracy, load_features, load_rank

    catalog = write_replica(workdir / "replica",
                            replica_catalog({(Network.VGG19, "conv1_1"): shape}), seed=1)
    with serve_folder(workdir / "replica") as url:
        os.environ["BRAINFEAT_MIRRORS"] = f"figshare={url}"
        options = dict(data_dir=workdir / "data", progress=False, catalog=catalog)
        load_features("true", "VGG19", "conv1_1", **options)
        for subject in ("S1", "Averaged"):  # one call per kind downloads the whole zip
            load_features("decoded", "VGG19", "conv1_1", subject, **options)
        load_accuracy("VGG19", "conv1_1", "S1", **options)
        load_rank("VGG19", "conv1_1", "S1", **options)
    return workdir / "replica" / "catalog.json"


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (``VmHWM`` = peak RSS), in MB.

    (``ru_maxrss`` is not used: after fork + exec it can report the parent's peak.)
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field} line (Linux only)")


def _measure(workdir: Path, catalog_file: Path) -> dict[str, float]:
    """Run in a fresh process: baseline RSS after imports, then verify's peak."""
    import numpy  # noqa: F401  (part of the baseline)

    from brainfeat.catalog import Catalog
    from brainfeat.evaluation import figures, report  # noqa: F401

    baseline = _status_mb("VmHWM")
    start = time.perf_counter()
    result = report.verify(data_dir=workdir / "data", download=False,
                           catalog=Catalog.load(catalog_file), out_dir=workdir / "out",
                           progress=False)
    seconds = time.perf_counter() - start
    peak = _status_mb("VmHWM")
    return {"baseline_mb": baseline, "peak_mb": peak, "seconds": seconds,
            "problems": len(result.problems)}


def _run(shape: tuple[int, ...]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as temporary:
        workdir = Path(temporary)
        started = time.perf_counter()
        catalog_file = _prepare(workdir, shape)
        print(f"{shape}: replica written and fetched in {time.perf_counter() - started:.1f} s")
        output = subprocess.run(
            [sys.executable, __file__, "--workdir", str(workdir), "--measure", str(catalog_file)],
            check=True, capture_output=True, text=True).stdout
    figures = json.loads(output.strip().splitlines()[-1])
    figures["array_mb"] = N_IMAGES * math.prod(shape) * 4 / 2**20
    print(f"{shape}: {math.prod(shape):,} units, one subject's decoded array "
          f"{figures['array_mb']:.1f} MB; verify {figures['seconds']:.1f} s, "
          f"{figures['problems']} problems; RSS after imports {figures['baseline_mb']:.0f} MB, "
          f"peak {figures['peak_mb']:.0f} MB")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, nargs="+", default=[64, 40, 40, 64, 80, 80],
                        help="(C, H, W) unit shapes, flattened; two or more are fitted and "
                             "extrapolated, one is measured as it is")
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(_measure(args.workdir, args.measure)))
        return
    shapes = [tuple(args.shapes[i:i + 3]) for i in range(0, len(args.shapes), 3)]
    runs = [_run(shape) for shape in shapes]
    sizes = [run["array_mb"] for run in runs]
    peaks = [run["peak_mb"] for run in runs]
    if len(set(sizes)) < 2:  # one size (e.g. the real conv1_1 shape): the peak is the answer
        print(f"peak {max(peaks):.0f} MB at {sizes[0]:.0f} MB per array (budget 4096 MB)")
        return
    slope = (peaks[-1] - peaks[0]) / (sizes[-1] - sizes[0])
    fixed = peaks[0] - slope * sizes[0]
    real_array_mb = N_IMAGES * REAL_CONV1_1_UNITS * 4 / 2**20
    print(f"fit: peak = {fixed:.0f} MB + {slope:.2f} x (one subject's decoded array)")
    print(f"extrapolated to VGG19 conv1_1 ({REAL_CONV1_1_UNITS:,} units, {real_array_mb:.0f} MB "
          f"per array): peak ~ {fixed + slope * real_array_mb:.0f} MB (budget 4096 MB)")


if __name__ == "__main__":
    main()
