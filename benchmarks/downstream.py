"""Downstream speed and memory: DataLoader throughput and category identification.

1. Writes a SYNTHETIC replica holding one VGG19 conv layer at its published size (decoded,
   one subject, and true features), serves and fetches it through the real download path,
   then iterates :class:`brainfeat.torch.DecodedFeatures` over it with a ``DataLoader`` of
   0, 2 and 4 workers: samples per second and the peak RSS of each process that read items
   (a forked worker's RSS includes the pages it shares with the main process, torch's
   libraries among them).
2. Times :func:`brainfeat.evaluation.identification.category_identification` of 50 decoded
   samples against 15,372 category candidates x 1,000 fc8 units (one subject).

    .venv/bin/python benchmarks/downstream.py --layer conv3_1 --images 20 --workers 0 2 4
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

import brainfeat
from brainfeat.catalog import Network
from brainfeat.demo.replica import replica_catalog, write_replica
from brainfeat.demo.server import serve_folder


class _WithRSS:
    """Wraps a dataset: each item also reports the peak RSS (MB) of the process reading it."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        import torch.utils.data

        item = self.dataset[index]
        info = torch.utils.data.get_worker_info()
        item["worker"] = -1 if info is None else info.id
        item["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return item


def loader_throughput(layer: str, n_images: int, workers: list[int], batch_size: int) -> None:
    import torch
    from torch.utils.data import DataLoader

    from brainfeat.torch import DecodedFeatures

    shape = brainfeat.layer_info("VGG19", layer).unit_shape
    catalog = replica_catalog({(Network.VGG19, layer): shape}, n_subjects=1)
    catalog = replace(catalog, test_image_ids=catalog.test_image_ids[:n_images])
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        start = time.perf_counter()
        # written in a child process, so that the peak RSS measured below is the loader's
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pool.submit(write_replica, work / "replica", catalog,
                        kinds=["decoded", "true"]).result()
        print(f"replica VGG19 {layer} {shape}, {n_images} images, decoded S1 + true: written "
              f"in {time.perf_counter() - start:.1f} s")
        with serve_folder(work / "replica") as url:
            os.environ["BRAINFEAT_MIRRORS"] = f"figshare={url}"
            dataset = DecodedFeatures("VGG19", layer, ["S1"], data_dir=work / "data",
                                      catalog=catalog, progress=False)
        mb_per_item = 2 * int(np.prod(shape)) * 4 / 1e6
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"one item = decoded + true = {mb_per_item:.1f} MB of float32; main process "
              f"peak RSS before any loader (torch imported, layer fetched): {before:.0f} MB")
        for n_workers in workers:
            loader = DataLoader(_WithRSS(dataset), batch_size=batch_size, shuffle=True,
                                num_workers=n_workers,
                                generator=torch.Generator().manual_seed(0))
            peaks: dict[int, float] = {}
            start = time.perf_counter()
            count = 0
            for batch in loader:
                count += len(batch["worker"])
                for worker, rss in zip(batch["worker"].tolist(), batch["peak_rss_mb"].tolist()):
                    peaks[worker] = max(peaks.get(worker, 0.0), rss)
            seconds = time.perf_counter() - start
            listed = ", ".join(f"{'main' if w < 0 else f'worker {w}'} {mb:.0f} MB"
                               for w, mb in sorted(peaks.items()))
            print(f"  {n_workers} workers: {count / seconds:.1f} samples/s "
                  f"({count} in {seconds:.2f} s, worker start included); peak RSS: {listed}")


def category_timing(n_candidates: int, n_units: int, repeats: int) -> None:
    from brainfeat.evaluation.identification import category_identification

    rng = np.random.default_rng(0)
    candidates = rng.normal(size=(n_candidates, n_units)).astype(np.float32)
    synsets = [f"n{k:08d}" for k in range(n_candidates)]
    decoded = candidates[:50] + rng.normal(size=(50, n_units)).astype(np.float32)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        rates = category_identification(decoded, synsets[:50], candidates, synsets)
        times.append(time.perf_counter() - start)
    print(f"category identification, 50 samples x {n_candidates} candidates x {n_units} units: "
          f"{min(times):.3f} s per subject (best of {repeats}), mean correct rate "
          f"{rates.mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layer", default="conv3_1", help="a VGG19 conv layer (full size)")
    parser.add_argument("--images", type=int, default=20, help="test images (published: 50)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2, 4])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=15_372)
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    loader_throughput(args.layer, args.images, args.workers, args.batch_size)
    category_timing(args.candidates, args.units, args.repeats)


if __name__ == "__main__":
    main()
