"""Write the BData golden file with the lab's own bdpy (run in the oracle venv).

    /work/main/.oracle-venv/bin/python scripts/golden_bdata.py tests/golden/bdata

Writes ``bdpy_god_like.h5`` (saved by ``bdpy.BData.save``) and ``expected.npz`` (the arrays
the file was built from, as bdpy itself reads them back). brainfeat's reader must give the
same numbers, keys and descriptions; tests/test_bdata.py checks it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from bdpy import BData

N_RUNS, PER_RUN = 3, 4  # training-like samples
N_VOXELS = 7


def build() -> BData:
    rng = np.random.default_rng(20190012)
    n_samples = N_RUNS * PER_RUN
    bdata = BData()
    bdata.add(rng.normal(100.0, 10.0, size=(n_samples, N_VOXELS)), "VoxelData")
    bdata.add(np.repeat([1, 2, 3], PER_RUN).astype(float), "DataType")
    bdata.add(np.repeat(np.arange(1, N_RUNS + 1), PER_RUN).astype(float), "Run")
    ids = [1518878.010042, 1518878.012028, 1621127.01902, 3626115.019498]
    bdata.add(np.array(ids * N_RUNS), "stimulus_id")
    bdata.add_metadata("ROI_V1", np.array([1, 1, 1, 0, 0, 0, 0]), "1 = ROI V1", where="VoxelData")
    bdata.add_metadata("ROI_VC", np.ones(N_VOXELS), "1 = ROI VC", where="VoxelData")
    for axis, values in zip("xyz", rng.integers(-90, 90, size=(3, N_VOXELS))):
        bdata.add_metadata(f"voxel_{axis}", values.astype(float), f"Voxel {axis} coordinate",
                           where="VoxelData")
    bdata.add_vmap("DataType", {1: "training", 2: "test", 3: "imagery"})
    return bdata


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    build().save(str(out / "bdpy_god_like.h5"))
    reread = BData(str(out / "bdpy_god_like.h5"))
    np.savez(out / "expected.npz", dataset=reread.dataset, values=reread.metadata.value,
             keys=np.array(reread.metadata.key), descriptions=np.array(reread.metadata.description))
    print(f"wrote {out / 'bdpy_god_like.h5'} with bdpy, dataset {reread.dataset.shape}, "
          f"{len(reread.metadata.key)} metadata keys")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/bdata")
