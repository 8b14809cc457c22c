"""Write the golden files of the identification tests with the lab's own code (bdpy).

Run in the oracle venv, which holds bdpy 0.26::

    .oracle-venv/bin/python scripts/golden_identification.py

Nothing here imports brainfeat, so the golden numbers are independent of the code they
check. Seeded synthetic arrays, scored by:

* ``bdpy.evals.metrics.pairwise_identification`` with its defaults (correlation, NaN units
  removed, NaN similarities left out), and with ``metric="cosine"`` / ``"euclidean"``;
* the same function called per sample on ``vstack([true[i], candidates])`` -- bdpy's way of
  scoring against a candidate matrix (row 0 is the target, the rest are distractors);
* ``bdpy.stats.corrmat`` and the correct rate of ``get_pwident_correctrate`` of the Generic
  Object Decoding release (code/python/analysis_CategoryIdentification.py): for each sample,
  ``(n - 1 - #{false candidates with a higher correlation}) / (n - 1)``;
* ``bdpy.evals.metrics.pattern_correlation`` with training mean and std.

Outputs (``tests/golden/identification/``): ``pairwise.npz``, ``pairwise_candidates.npz``,
``category.npz``, ``pattern.npz``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from bdpy.evals.metrics import pairwise_identification, pattern_correlation
from bdpy.stats import corrmat

OUT = Path(__file__).resolve().parents[1] / "tests" / "golden" / "identification"


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(function(*args, **kwargs), dtype=np.float64)


def pairwise_case(rng: np.random.Generator) -> dict[str, np.ndarray]:
    true = rng.normal(size=(20, 60)).astype(np.float32)
    pred = (0.4 * true + rng.normal(size=true.shape)).astype(np.float32)
    pred[3, 7] = np.nan     # a NaN unit: dropped from every sample
    true[11, 42] = np.nan   # another one, on the true side
    pred[:, 50] *= 1e3      # a unit of large scale
    return {"pred": pred, "true": true,
            "correlation": _quiet(pairwise_identification, pred, true),
            "cosine": _quiet(pairwise_identification, pred, true, metric="cosine"),
            "euclidean": _quiet(pairwise_identification, pred, true, metric="euclidean")}


def pairwise_candidates_case(rng: np.random.Generator) -> dict[str, np.ndarray]:
    true = rng.normal(size=(12, 40))
    pred = 0.3 * true + rng.normal(size=true.shape)
    candidates = rng.normal(size=(300, 40))
    candidates[17] = 2.0    # a constant candidate: NaN correlation, left out of the count
    accuracy = [_quiet(pairwise_identification, pred[[i]], np.vstack([true[[i]], candidates]))[0]
                for i in range(len(pred))]
    return {"pred": pred, "true": true, "candidates": candidates,
            "accuracy": np.asarray(accuracy)}


def _god_correct_rate(simmat: np.ndarray) -> np.ndarray:
    n = simmat.shape[1] - 1
    return np.array([(n - np.sum(row > row[i])) / n for i, row in enumerate(simmat)])


def category_case(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n_categories, n_units = 200, 50
    averages = rng.normal(size=(n_categories, n_units))
    synsets = np.array([f"n{1000000 + 37 * k:08d}" for k in range(n_categories)])
    order = rng.permutation(n_categories)          # candidates in shuffled order
    candidates, candidate_synsets = averages[order], synsets[order]
    seen = rng.choice(n_categories, size=30, replace=False)
    decoded = 0.25 * averages[seen] + rng.normal(size=(30, n_units))
    # GOD's layout: the true categories' rows first (in sample order), then the others.
    others = np.setdiff1d(np.arange(n_categories), seen)
    simmat = corrmat(decoded, np.vstack([averages[seen], averages[others]]))
    return {"decoded": decoded, "categories": synsets[seen], "candidates": candidates,
            "candidate_categories": candidate_synsets,
            "accuracy": _god_correct_rate(np.asarray(simmat))}


def pattern_case(rng: np.random.Generator) -> dict[str, np.ndarray]:
    train = rng.gamma(2.0, size=(100, 30)) * rng.uniform(0.1, 50, size=30)
    mean, std = train.mean(axis=0), train.std(axis=0, ddof=1)
    true = rng.gamma(2.0, size=(15, 30)) * rng.uniform(0.1, 50, size=30)
    pred = true + rng.normal(scale=20.0, size=true.shape)
    pred[5, 9] = np.nan
    return {"pred": pred, "true": true, "mean": mean, "std": std,
            "zscored": _quiet(pattern_correlation, pred, true, mean=mean, std=std),
            "raw": _quiet(pattern_correlation, pred, true)}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20170522)
    np.savez(OUT / "pairwise.npz", **pairwise_case(rng))
    np.savez(OUT / "pairwise_candidates.npz", **pairwise_candidates_case(rng))
    np.savez(OUT / "category.npz", **category_case(rng))
    np.savez(OUT / "pattern.npz", **pattern_case(rng))
    for path in sorted(OUT.glob("*.npz")):
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
