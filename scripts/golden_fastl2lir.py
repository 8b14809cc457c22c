"""Write golden inputs and outputs of the lab's fastl2lir 0.11 for brainfeat's decoding tests.

Run in the oracle venv (fastl2lir 0.11 fails on numpy >= 2.4)::

    .oracle-venv/bin/python scripts/golden_fastl2lir.py

Each case is ``tests/golden/fastl2lir/<case>.npz`` with the inputs ``X``, ``Y``, ``X_test``,
``alpha``, ``n_feat`` and fastl2lir's outputs ``W`` (n_voxels, *unit_shape), ``b``
(1, *unit_shape) and ``pred`` = ``predict(X_test)``. Case ``normalised`` also holds
``pred_normalised``: the published pipeline (X and Y z-scored with training mean and std
with ddof=1, fit, predict the z-scored test X, de-normalise).
"""

from __future__ import annotations

import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np

import fastl2lir

OUT = Path(__file__).resolve().parents[1] / "tests" / "golden" / "fastl2lir"


def _inputs(rng: np.random.Generator, n: int, v: int, units: tuple[int, ...], n_test: int,
            offset: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voxels with shared structure; units that depend on a few voxels plus noise."""
    latent = rng.standard_normal((n + n_test, 8))
    x = latent @ rng.standard_normal((8, v)) + rng.standard_normal((n + n_test, v)) + offset
    n_units = int(np.prod(units))
    mixing = rng.standard_normal((v, n_units)) * (rng.random((v, n_units)) < 0.1)
    y = x[:n] @ mixing + 3 * rng.standard_normal((n, n_units)) + rng.uniform(-2, 2, n_units)
    return x[:n], y.reshape((n,) + units), x[n:]


def _fastl2lir(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, alpha: float,
               n_feat: int) -> dict[str, np.ndarray]:
    model = fastl2lir.FastL2LiR()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fastl2lir's own warnings (n_feat > voxels, 0/0)
        model.fit(x, y, alpha=alpha, n_feat=n_feat)
    return {"W": model.W, "b": model.b, "pred": model.predict(x_test)}


def main() -> int:
    rng = np.random.default_rng(20190312)
    OUT.mkdir(parents=True, exist_ok=True)
    cases = {}

    # More samples than voxels, raw (offset) fMRI-like values.
    x, y, xt = _inputs(rng, 120, 60, (7,), 10, offset=50.0)
    cases["tall"] = (x, y, xt, 100.0, 20)
    # More voxels than samples (n_voxels > n_samples).
    x, y, xt = _inputs(rng, 40, 150, (6,), 8)
    cases["wide"] = (x, y, xt, 100.0, 30)
    # Constant voxels (zero and non-zero) and a dead (all-zero) unit.
    x, y, xt = _inputs(rng, 60, 50, (5,), 9)
    x[:, [3, 17]] = 2.5
    x[:, [8, 30]] = 0.0
    y[:, 2] = 0.0
    cases["constant"] = (x, y, xt, 100.0, 15)
    # n_feat equals the number of voxels: no selection, primal form (samples > voxels + 1).
    x, y, xt = _inputs(rng, 80, 30, (5,), 6)
    cases["all_primal"] = (x, y, xt, 100.0, 30)
    # n_feat above the number of voxels: no selection, dual form (samples <= voxels + 1).
    x, y, xt = _inputs(rng, 25, 40, (4,), 6)
    cases["all_dual"] = (x, y, xt, 100.0, 50)
    # Units on a grid (n_samples, 2, 3, 4), small alpha.
    x, y, xt = _inputs(rng, 70, 45, (2, 3, 4), 7)
    cases["unit_grid"] = (x, y, xt, 1.0, 10)
    # The published pipeline's normalisation around fastl2lir.
    x, y, xt = _inputs(rng, 90, 80, (6,), 12, offset=300.0)
    cases["normalised"] = (x, y, xt, 100.0, 25)

    for name, (x, y, xt, alpha, n_feat) in cases.items():
        result = _fastl2lir(x, y, xt, alpha, n_feat)
        if name == "normalised":
            x_mean, x_norm = x.mean(axis=0), x.std(axis=0, ddof=1)
            y_mean, y_norm = y.mean(axis=0), y.std(axis=0, ddof=1)
            norm = _fastl2lir((x - x_mean) / x_norm, (y - y_mean) / y_norm,
                              (xt - x_mean) / x_norm, alpha, n_feat)
            result["pred_normalised"] = norm["pred"] * y_norm + y_mean
        np.savez_compressed(OUT / f"{name}.npz", X=x, Y=y, X_test=xt, alpha=alpha,
                            n_feat=n_feat, **result)
        print(f"{name}: X {x.shape}, Y {y.shape}, n_feat {n_feat} -> {OUT / name}.npz")
    print(f"fastl2lir {version('fastl2lir')} with numpy {np.__version__}, "
          f"python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
