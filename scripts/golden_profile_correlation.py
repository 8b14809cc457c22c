"""Write the golden files of the evaluation tests with the lab's own code (bdpy).

Run in the oracle venv, which holds bdpy 0.26 (``../shared/tools/oracle-venv.sh``)::

    .oracle-venv/bin/python scripts/golden_profile_correlation.py

It draws small seeded synthetic decoded/true arrays and scores them with
``bdpy.evals.metrics.profile_correlation`` (the per-unit accuracy of the dataset) and
``bdpy.evals.metrics.pairwise_identification``. It also writes a miniature "published"
layer set -- five subjects, the Averaged subject, accuracies and ranks -- from which the
tests build a published-layout fixture. Nothing here imports brainfeat, so the golden
numbers are independent of the code they check.

Outputs (``tests/golden/evaluation/``):

* ``profile_correlation.npz``: ``pred``, ``true`` (float32, 12 images x 40 units with
  constant, NaN and badly conditioned columns) and ``accuracy`` (bdpy, float64).
* ``pairwise_identification.npz``: ``pred``, ``true`` (10 x 30), ``accuracy`` (bdpy).
* ``published_layers.npz``: for layers ``conv_a`` (unit shape 3x4x4) and ``fc_b`` (24):
  ``<layer>/true``, ``<layer>/decoded/S1..S5`` and ``Averaged`` (float32, 50 images),
  ``<layer>/accuracy/<subject>`` (bdpy) and ``<layer>/rank/<subject>`` (scipy's
  ``rankdata``, 1 = most accurate, NaN accuracies ranked last), and
  ``<layer>/intersubject/<Si>-<Sj>`` (Pearson r over units both subjects score).
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
from bdpy.evals.metrics import pairwise_identification, profile_correlation
from scipy.stats import rankdata

OUT = Path(__file__).resolve().parents[1] / "tests" / "golden" / "evaluation"
SUBJECTS = ("S1", "S2", "S3", "S4", "S5")
LAYERS = {"conv_a": (3, 4, 4), "fc_b": (24,)}
N_TEST_IMAGES = 50


def _bdpy_accuracy(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant columns -> NaN
        return profile_correlation(pred, true).ravel().astype(np.float64)


def profile_correlation_case(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n_images, n_units = 12, 40
    true = rng.normal(size=(n_images, n_units)).astype(np.float32)
    pred = (0.5 * true + rng.normal(size=true.shape)).astype(np.float32)
    true[:, 3] = 2.5                       # constant true unit -> NaN
    true[:, 7] = 0.0                       # constant zero true unit -> NaN
    pred[:, 11] = -1.0                     # constant prediction -> NaN
    pred[4, 13] = np.nan                   # a NaN prediction propagates
    true[:, 17] = 1000.0 + 1e-3 * rng.normal(size=n_images)  # large offset, small spread
    pred[:, 19] = -pred[:, 19] * 1e4       # large scale
    return {"pred": pred, "true": true, "accuracy": _bdpy_accuracy(pred, true)}


def pairwise_identification_case(rng: np.random.Generator) -> dict[str, np.ndarray]:
    true = rng.normal(size=(10, 30)).astype(np.float32)
    pred = (0.3 * true + rng.normal(size=true.shape)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        accuracy = pairwise_identification(pred, true)
    return {"pred": pred, "true": true, "accuracy": np.asarray(accuracy, np.float64)}


def _rank_descending_nan_last(accuracy: np.ndarray) -> np.ndarray:
    filled = np.where(np.isnan(accuracy), -np.inf, accuracy)
    return rankdata(-filled, method="ordinal").astype(np.float64)


def _pairwise_complete_r(a: np.ndarray, b: np.ndarray) -> float:
    keep = ~(np.isnan(a) | np.isnan(b))
    return float(np.corrcoef(a[keep], b[keep])[0, 1])


def published_layers_case(rng: np.random.Generator) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for layer, shape in LAYERS.items():
        n_units = int(np.prod(shape))
        true = rng.normal(size=(N_TEST_IMAGES, n_units)).astype(np.float32)
        true[:, 5] = 0.0  # a dead unit: NaN accuracy for every subject
        signal = rng.uniform(0.0, 1.0, size=n_units).astype(np.float32)
        arrays[f"{layer}/true"] = true
        decoded_sum = np.zeros(true.shape, np.float64)
        accuracies = {}
        for subject in SUBJECTS:
            noise = rng.normal(size=true.shape).astype(np.float32)
            decoded = (signal * true + noise).astype(np.float32)
            arrays[f"{layer}/decoded/{subject}"] = decoded
            decoded_sum += decoded
            accuracies[subject] = _bdpy_accuracy(decoded, true)
        averaged = (decoded_sum / len(SUBJECTS)).astype(np.float32)
        arrays[f"{layer}/decoded/Averaged"] = averaged
        accuracies["Averaged"] = _bdpy_accuracy(averaged, true)
        for subject, accuracy in accuracies.items():
            arrays[f"{layer}/accuracy/{subject}"] = accuracy
            arrays[f"{layer}/rank/{subject}"] = _rank_descending_nan_last(accuracy)
        for first, second in itertools.combinations(SUBJECTS, 2):
            arrays[f"{layer}/intersubject/{first}-{second}"] = np.float64(
                _pairwise_complete_r(accuracies[first], accuracies[second]))
    return arrays


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20190212)
    np.savez(OUT / "profile_correlation.npz", **profile_correlation_case(rng))
    np.savez(OUT / "pairwise_identification.npz", **pairwise_identification_case(rng))
    np.savez(OUT / "published_layers.npz", **published_layers_case(rng))
    for path in sorted(OUT.glob("*.npz")):
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
