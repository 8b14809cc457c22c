"""Peak memory of loading a full-size VGG19 conv1_1 decoded layer (3.2 M units per image).

Writes a replica holding only that layer at its published size (for ``--images`` test
images, one subject), serves and fetches it through the real download path, then measures
with tracemalloc the peak memory of ``brainfeat.load_features`` beyond its float32 output.
The claim checked: at most one transient copy of one file's array.

    .venv/bin/python benchmarks/load_memory.py --images 10 [--flavour v5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import brainfeat
from brainfeat.catalog import Network
from brainfeat.demo.replica import replica_catalog, write_replica
from brainfeat.demo.server import serve_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10, help="test images (published: 50)")
    parser.add_argument("--flavour", choices=["v5", "v7.3"], default="v7.3")
    args = parser.parse_args()

    shape = brainfeat.layer_info("VGG19", "conv1_1").unit_shape
    catalog = replica_catalog({(Network.VGG19, "conv1_1"): shape}, n_subjects=1)
    catalog = replace(catalog, test_image_ids=catalog.test_image_ids[: args.images])
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        start = time.perf_counter()
        write_replica(work / "replica", catalog, kinds=["decoded"],
                      flavours={Network.VGG19: args.flavour})
        print(f"replica written in {time.perf_counter() - start:.1f} s")
        with serve_folder(work / "replica") as url:
            os.environ["BRAINFEAT_MIRRORS"] = f"figshare={url}"
            start = time.perf_counter()
            brainfeat.fetch("decoded", "VGG19", "conv1_1", data_dir=work / "data",
                            catalog=catalog, progress=False)
            print(f"fetched (download, CRC check, extraction) in "
                  f"{time.perf_counter() - start:.1f} s")
        tracemalloc.start()
        start = time.perf_counter()
        features = brainfeat.load_features("decoded", "VGG19", "conv1_1", "S1",
                                           data_dir=work / "data", catalog=catalog,
                                           download=False)
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    output = features.values.nbytes
    one_file = features.values[0].nbytes  # the replica stores float32
    print(f"loaded {features.values.shape} float32 ({args.flavour}) in {seconds:.1f} s")
    print(f"output {output / 1e6:.1f} MB; peak traced {peak / 1e6:.1f} MB; "
          f"beyond the output {(peak - output) / 1e6:.1f} MB "
          f"= {(peak - output) / one_file:.2f} x one file's array ({one_file / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
