"""Figure 2 statistics of one layer, and the published AlexNet values they are checked against.

Figure 2 of Horikawa et al. (2019): (a) per layer, the accuracies of all units of S1-S5
pooled (NaN dropped), with the mean; (b) S1 against S2 for at most 1,000 random units;
(c) the 10 pairwise Pearson correlations between subjects' unit-accuracy vectors, and their
mean. :class:`LayerFigureStats` holds all three in a few kilobytes, so the figures can be
drawn from a saved report without the accuracy files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from brainfeat.evaluation.metrics import intersubject_correlation

__all__ = [
    "HISTOGRAM_BINS",
    "PUBLISHED_ALEXNET_FIGURE2",
    "PUBLISHED_TOLERANCE",
    "SCATTER_UNITS",
    "LayerFigureStats",
    "layer_figure_stats",
]

#: Bins of the accuracy histogram over [-1, 1] from which the violins are drawn.
HISTOGRAM_BINS = 100
#: Figure 2b shows at most this many random units per layer.
SCATTER_UNITS = 1000
#: The published values are read off the lab's figure: agreement means within this.
PUBLISHED_TOLERANCE = 0.02
#: AlexNet, read off Figure 2 of the paper (DATASET.md section 3): layer ->
#: (mean accuracy over S1-S5 units, mean inter-subject correlation).
PUBLISHED_ALEXNET_FIGURE2: dict[str, tuple[float, float]] = {
    "conv1": (0.05, 0.46), "conv2": (0.25, 0.74), "conv3": (0.29, 0.70),
    "conv4": (0.27, 0.66), "conv5": (0.26, 0.67), "fc6": (0.34, 0.72),
    "fc7": (0.32, 0.70), "fc8": (0.48, 0.81),
}


@dataclass(frozen=True)
class LayerFigureStats:
    """What Figure 2 shows for one layer.

    Attributes
    ----------
    network, layer : str
    subjects : tuple of str
        Subjects whose accuracies were pooled (normally S1-S5).
    source : str
        ``"recomputed"`` (from decoded and true features) or ``"published"`` (accuracy files).
    mean_accuracy : float
        Mean over all scored units of all subjects (Figure 2a's black bar).
    n_scored : int
        Number of (unit, subject) accuracies pooled (NaN excluded).
    histogram : tuple of int
        Counts of the pooled accuracies in :data:`HISTOGRAM_BINS` equal bins over [-1, 1].
    pairs : dict of str -> float
        ``"S1-S2"`` -> Pearson r of the two subjects' unit accuracies (Figure 2c dots).
    mean_intersubject : float
        Mean of ``pairs`` (Figure 2c's bar); NaN when fewer than two subjects.
    scatter : tuple of (tuple of float, tuple of float)
        S1 and S2 accuracies of at most :data:`SCATTER_UNITS` random units (Figure 2b);
        empty when S1 or S2 is missing.
    """

    network: str
    layer: str
    subjects: tuple[str, ...]
    source: str
    mean_accuracy: float
    n_scored: int
    histogram: tuple[int, ...]
    pairs: dict[str, float]
    mean_intersubject: float
    scatter: tuple[tuple[float, ...], tuple[float, ...]]

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dictionary (NaN becomes ``None``)."""
        return {
            "network": self.network, "layer": self.layer, "subjects": list(self.subjects),
            "source": self.source, "mean_accuracy": _none_if_nan(self.mean_accuracy),
            "n_scored": self.n_scored, "histogram": list(self.histogram),
            "pairs": {k: _none_if_nan(v) for k, v in self.pairs.items()},
            "mean_intersubject": _none_if_nan(self.mean_intersubject),
            "scatter": [list(self.scatter[0]), list(self.scatter[1])],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> "LayerFigureStats":
        """Read back what :meth:`to_dict` wrote."""
        scatter = data["scatter"]
        return cls(
            network=str(data["network"]), layer=str(data["layer"]),
            subjects=tuple(data["subjects"]), source=str(data["source"]),  # type: ignore[arg-type]
            mean_accuracy=_nan_if_none(data["mean_accuracy"]),
            n_scored=int(data["n_scored"]),  # type: ignore[arg-type]
            histogram=tuple(int(c) for c in data["histogram"]),  # type: ignore[union-attr]
            pairs={k: _nan_if_none(v) for k, v in data["pairs"].items()},  # type: ignore[union-attr]
            mean_intersubject=_nan_if_none(data["mean_intersubject"]),
            scatter=(tuple(scatter[0]), tuple(scatter[1])),  # type: ignore[index]
        )


def _none_if_nan(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _nan_if_none(value: object) -> float:
    return float("nan") if value is None else float(value)  # type: ignore[arg-type]


def layer_figure_stats(acc_by_subject: Mapping[str, np.ndarray], network: str, layer: str,
                       *, source: str, seed: int = 0) -> LayerFigureStats:
    """Compute Figure 2's statistics of one layer.

    Parameters
    ----------
    acc_by_subject : mapping of subject name -> ndarray (n_units,)
        Unit accuracies of the real subjects (``"S1"`` ... ``"S5"``); never ``Averaged``.
    network, layer : str
    source : str
        Where the accuracies come from (``"recomputed"`` or ``"published"``), recorded.
    seed : int, optional
        Seed of the random choice of Figure 2b's units.

    Returns
    -------
    LayerFigureStats
    """
    vectors = {name: np.asarray(v, dtype=np.float64).ravel() for name, v in acc_by_subject.items()}
    total, count = 0.0, 0
    histogram = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
    for values in vectors.values():
        scored = values[~np.isnan(values)]
        total += float(scored.sum())
        count += scored.size
        histogram += np.histogram(scored, bins=HISTOGRAM_BINS, range=(-1.0, 1.0))[0]
    pairs = {f"{a}-{b}": r for (a, b), r in intersubject_correlation(vectors).items()}
    finite_pairs = [r for r in pairs.values() if not np.isnan(r)]
    return LayerFigureStats(
        network=network, layer=layer, subjects=tuple(vectors), source=source,
        mean_accuracy=total / count if count else float("nan"), n_scored=count,
        histogram=tuple(int(c) for c in histogram), pairs=pairs,
        mean_intersubject=float(np.mean(finite_pairs)) if finite_pairs else float("nan"),
        scatter=_scatter_sample(vectors, seed),
    )


def _scatter_sample(vectors: Mapping[str, np.ndarray], seed: int,
                    ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if "S1" not in vectors or "S2" not in vectors:
        return ((), ())
    s1, s2 = vectors["S1"], vectors["S2"]
    scored = np.flatnonzero(~(np.isnan(s1) | np.isnan(s2)))
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(scored, size=min(SCATTER_UNITS, scored.size), replace=False))
    return (tuple(float(v) for v in s1[chosen]), tuple(float(v) for v in s2[chosen]))
