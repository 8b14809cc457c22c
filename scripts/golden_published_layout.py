"""Write published-layout .mat files with known values, with MATLAB-file writers only.

Run in the oracle venv (scipy for MATLAB v5 files, hdf5storage for MATLAB v7.3 files)::

    .oracle-venv/bin/python scripts/golden_published_layout.py

Nothing here imports brainfeat: the folder layout and the variable names are written from
the dataset's description (``decodedDNN/<kind>/<net>/<layer>/...``, variables ``feat``,
``accuracy``, ``rank``), the arrays with the writers the lab's own files come from. Two
copies of the same content are written, ``tests/golden/published/v5/`` and ``.../v7.3/``,
each with a ``decodedDNN/`` tree for AlexNet ``conv1`` (unit grid 3 x 2 x 4, channel-major)
and ``fc8`` (7 units), subjects S1 and Averaged, the first three test images:

* decoded/true ``feat``, shape ``(1, *unit_grid)`` (a leading sample axis, as Caffe blobs),
  value ``FEAT(kind, subject, image, unit) = base + 1000 * (image + 1) + unit`` with ``base``
  0 for true, 100000 for S1, 900000 for Averaged, ``image`` the 0-based row of the image in
  the test list and ``unit`` the 0-based C-order unit index; float32 in v5, float64 in v7.3;
* ``accuracy``, shape ``unit_grid``: ``(unit + 1) / 100 - 0.5 * subject_code`` (S1 code 1,
  Averaged 2), NaN at unit 1;
* ``rank``, shape ``(1, n_units)``: ``n_units - unit`` (float64).

``tests/test_reference_published.py`` reads them through brainfeat and checks every value.
"""

from __future__ import annotations

import shutil
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import scipy
import scipy.io

import hdf5storage

OUT = Path(__file__).resolve().parents[1] / "tests" / "golden" / "published"
NETWORK = "AlexNet"
LAYERS = {"conv1": (3, 2, 4), "fc8": (7,)}
IMAGES = ("n01443537_22563", "n01621127_19020", "n01677366_18182")  # stimulus_ImageNetTest.tsv
SUBJECT_BASE = {"S1": 100000.0, "Averaged": 900000.0}
SUBJECT_CODE = {"S1": 1, "Averaged": 2}


def feat(base: float, row: int, grid: tuple[int, ...]) -> np.ndarray:
    units = np.arange(int(np.prod(grid)), dtype=np.float64).reshape(grid)
    return (base + 1000.0 * (row + 1) + units)[None]


def accuracy(subject: str, grid: tuple[int, ...]) -> np.ndarray:
    values = (np.arange(int(np.prod(grid)), dtype=np.float64) + 1) / 100 - 0.5 * SUBJECT_CODE[subject]
    values[1] = np.nan
    return values.reshape(grid)


def rank(grid: tuple[int, ...]) -> np.ndarray:
    n_units = int(np.prod(grid))
    return (n_units - np.arange(n_units, dtype=np.float64))[None]


def save(path: Path, variable: str, array: np.ndarray, flavour: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if flavour == "v5":
        scipy.io.savemat(path, {variable: array}, do_compression=False)
    else:
        hdf5storage.savemat(str(path), {variable: array}, format="7.3",
                            store_python_metadata=False, matlab_compatible=True)


def write(flavour: str) -> None:
    root = OUT / flavour / "decodedDNN"
    feat_dtype = np.float32 if flavour == "v5" else np.float64
    for layer, grid in LAYERS.items():
        stem = f"{NETWORK}-{layer}"
        for row, image in enumerate(IMAGES):
            save(root / "true" / NETWORK / layer / f"true-{stem}-{image}.mat", "feat",
                 feat(0.0, row, grid).astype(feat_dtype), flavour)
            for subject, base in SUBJECT_BASE.items():
                save(root / "decoded" / NETWORK / layer / subject
                     / f"decoded-{stem}-{subject}-{image}.mat", "feat",
                     feat(base, row, grid).astype(feat_dtype), flavour)
        for subject in SUBJECT_BASE:
            save(root / "accuracy" / NETWORK / layer / f"accuracy-{stem}-{subject}.mat",
                 "accuracy", accuracy(subject, grid), flavour)
            save(root / "rank" / NETWORK / layer / f"rank-{stem}-{subject}.mat", "rank",
                 rank(grid), flavour)


def main() -> int:
    if OUT.exists():
        shutil.rmtree(OUT)
    for flavour in ("v5", "v7.3"):
        write(flavour)
    print(f"scipy {scipy.__version__}, hdf5storage {version('hdf5storage')}, numpy "
          f"{np.__version__}, python {sys.version.split()[0]}: wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
