"""Brain-hierarchy (BH) score of a DNN (Nonaka, Majima, Aoki & Kamitani 2021, iScience 24:103013).

Each unit of each layer is decoded from each ROI of the visual hierarchy, V1, V2, V3, V4
and HVC. A unit's *top ROI* is the ROI from which it is decoded best (highest Pearson r
between decoded and true values across the test images). Only units whose best r is
significant count: r > 0 and p < 0.05 in a t-test on r with ``n_images - 2`` degrees of
freedom (48 for the 50 test images; two-sided p, as ``scipy.stats.pearsonr`` reports it).
The BH score is the Spearman correlation, over the counted units of every layer, between
the layer's position in the network and the top ROI's position in the hierarchy: near 1
when shallow layers are best decoded from early visual cortex and deep layers from HVC.

:func:`bh_score` works on per-ROI accuracy arrays (or :class:`~brainfeat.published.UnitScores`),
whatever produced them; :func:`load_roi_accuracies` reads them from one data folder per ROI
in the published layout (e.g. one ``brainfeat regenerate`` output per ROI).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from brainfeat._checks import check_float, check_int
from brainfeat.catalog import Catalog, Network, SubjectLike, resolve_catalog
from brainfeat.errors import ShapeMismatchError, UnknownNameError

if TYPE_CHECKING:  # pragma: no cover
    import matplotlib.figure
    import pandas

    from brainfeat.published import UnitScores

__all__ = ["BH_ROIS", "BHScore", "bh_score", "correlation_p_value", "load_roi_accuracies"]

#: The ROIs of the visual hierarchy, in order.
BH_ROIS: tuple[str, ...] = ("V1", "V2", "V3", "V4", "HVC")


def correlation_p_value(r: np.ndarray, n_samples: int) -> np.ndarray:
    """Two-sided p-value of Pearson r over ``n_samples`` pairs (t-test, ``n - 2`` dof).

    ``t = r * sqrt((n - 2) / (1 - r**2))``; NaN stays NaN.

    Examples
    --------
    >>> float(np.round(correlation_p_value(np.array(0.2787), 50), 3))
    0.05
    """
    from scipy.stats import t as student_t

    n_samples = check_int("n_samples", n_samples, minimum=3, example=50)
    r = np.asarray(r, dtype=np.float64)
    dof = n_samples - 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t = r * np.sqrt(dof / np.clip(1.0 - r**2, 0.0, None))
    return 2.0 * student_t.sf(np.abs(t), dof)


@dataclass(frozen=True, eq=False)
class BHScore:
    """The BH score of one model, with its per-layer table.

    Attributes
    ----------
    score : float
        Spearman r between layer position and top-ROI position over the counted units;
        NaN when fewer than two units count or all share one layer or one ROI.
    layers, rois : tuple of str
        In hierarchy order.
    counts : numpy.ndarray of int, shape (n_layers, n_rois)
        Counted units of each layer whose top ROI is each ROI.
    n_units : numpy.ndarray of int, shape (n_layers,)
        Units considered per layer (after any subsampling).
    model : str
    """

    score: float
    layers: tuple[str, ...]
    rois: tuple[str, ...]
    counts: np.ndarray
    n_units: np.ndarray
    model: str = ""

    def to_frame(self) -> pandas.DataFrame:
        """Per layer: units, counted units, the fraction of counted units per top ROI, and
        the mean top-ROI position (1 = first ROI)."""
        import pandas

        counted = self.counts.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            fractions = self.counts / counted[:, None]
            mean_roi = (self.counts @ np.arange(1, len(self.rois) + 1)) / counted
        frame = pandas.DataFrame(fractions, index=pandas.Index(self.layers, name="layer"),
                                 columns=[f"top_{roi}" for roi in self.rois])
        frame.insert(0, "n_counted", counted)
        frame.insert(0, "n_units", self.n_units)
        frame["mean_top_roi"] = mean_roi
        return frame

    def plot(self, ax: Any = None) -> matplotlib.figure.Figure:
        """Stacked bars: per layer, the fraction of counted units whose top ROI is each ROI."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(max(4.0, 0.5 * len(self.layers) + 2), 3.5))
        fractions = self.to_frame()[[f"top_{roi}" for roi in self.rois]].fillna(0).to_numpy()
        bottom = np.zeros(len(self.layers))
        colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(self.rois)))
        for k, roi in enumerate(self.rois):
            ax.bar(self.layers, fractions[:, k], bottom=bottom, label=roi, color=colours[k])
            bottom += fractions[:, k]
        ax.set_ylabel("fraction of counted units")
        ax.set_title(f"{self.model + ': ' if self.model else ''}BH score {self.score:.3f}")
        ax.legend(title="top ROI", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.tick_params(axis="x", labelrotation=45)
        return ax.figure

    def __repr__(self) -> str:
        return (f"<BHScore {self.model or 'model'}: {self.score:.3f} over "
                f"{int(self.counts.sum())} units of {len(self.layers)} layers>")


def bh_score(accuracy: Mapping[str, Mapping[str, Any]], *, rois: Sequence[str] = BH_ROIS,
             n_images: int = 50, alpha: float = 0.05, units_per_layer: int | None = None,
             seed: int = 0, model: str = "") -> BHScore:
    """The BH score from per-ROI decoding accuracies of every unit.

    Parameters
    ----------
    accuracy : mapping of layer -> mapping of ROI -> array (n_units,) or UnitScores
        Layers in network order (shallow first); each layer needs every ROI of ``rois``,
        with the same number of units.
    rois : sequence of str
        ROIs in hierarchy order; default V1, V2, V3, V4, HVC.
    n_images : int
        Test images each r was computed over (50): the t-test has ``n_images - 2`` dof.
    alpha : float
        Significance level of the best r.
    units_per_layer : int, optional
        Draw this many units of each larger layer at random (seeded), so that every layer
        weighs the same; default: all units.
    seed : int
        Seed of that draw.
    model : str
        Name shown in the table and the figure.

    Returns
    -------
    BHScore

    Raises
    ------
    UnknownNameError
        A layer without one of the ROIs, or no layer.
    ShapeMismatchError
        ROIs of one layer with different unit counts.
    InvalidValueError
        ``alpha`` outside (0, 1], ``units_per_layer`` below 1 or ``seed`` below 0.

    Notes
    -----
    Units with NaN r in every ROI are not counted; a NaN in some ROIs leaves the unit to the
    others. Ties between ROIs go to the earlier ROI.
    """
    if not accuracy:
        raise UnknownNameError("bh_score needs the accuracies of at least one layer.")
    alpha = check_float("alpha", alpha, positive=True, maximum=1.0, example=0.05)
    if units_per_layer is not None:
        units_per_layer = check_int("units_per_layer", units_per_layer, minimum=1, example=1000)
    rng = np.random.default_rng(check_int("seed", seed, minimum=0, example=0))
    layer_index, roi_index = [], []
    counts = np.zeros((len(accuracy), len(rois)), dtype=np.int64)
    n_units = np.zeros(len(accuracy), dtype=np.int64)
    for position, (layer, by_roi) in enumerate(accuracy.items()):
        r = _layer_matrix(layer, by_roi, rois)
        if units_per_layer is not None and r.shape[1] > units_per_layer:
            r = r[:, np.sort(rng.choice(r.shape[1], units_per_layer, replace=False))]
        n_units[position] = r.shape[1]
        scored = ~np.isnan(r).all(axis=0)
        top = np.full(r.shape[1], -1)
        top[scored] = np.nanargmax(r[:, scored], axis=0)
        best = np.full(r.shape[1], np.nan)
        best[scored] = r[top[scored], np.flatnonzero(scored)]
        counted = (best > 0) & (correlation_p_value(best, n_images) < alpha)
        counts[position] = np.bincount(top[counted], minlength=len(rois))
        layer_index.append(np.full(int(counted.sum()), position))
        roi_index.append(top[counted])
    layers, tops = np.concatenate(layer_index), np.concatenate(roi_index)
    score = float("nan")
    if layers.size >= 2 and np.ptp(layers) > 0 and np.ptp(tops) > 0:
        from scipy.stats import spearmanr

        score = float(spearmanr(layers, tops).statistic)
    return BHScore(score=score, layers=tuple(accuracy), rois=tuple(rois), counts=counts,
                   n_units=n_units, model=model)


def load_roi_accuracies(folders: Mapping[str, str | os.PathLike[str]], network: Network | str,
                        subject: SubjectLike, layers: Sequence[str] | None = None, *,
                        catalog: Catalog | str | os.PathLike[str] | None = None,
                        ) -> dict[str, dict[str, UnitScores]]:
    """Per-ROI accuracy maps of one subject, from one data folder per ROI.

    Each folder holds accuracy files in the published layout, e.g. the output of
    ``brainfeat regenerate`` run with that ROI (``--roi V1`` ...), which is a brainfeat data
    folder; nothing is downloaded.

    Parameters
    ----------
    folders : mapping of ROI -> path
        In hierarchy order, e.g. ``{"V1": "regen-V1", ..., "HVC": "regen-HVC"}``.
    network : {"AlexNet", "VGG19"}
    subject : {1..5, "S1".."S5", "Averaged"}
    layers : sequence of str, optional
        Default: every layer of ``network``, in depth order.
    catalog : Catalog or path, optional

    Returns
    -------
    dict of layer -> dict of ROI -> UnitScores
        Ready for :func:`bh_score` (with ``rois=tuple(folders)``).
    """
    from brainfeat.published import load_accuracy

    catalog = resolve_catalog(catalog)
    names = list(layers) if layers is not None else [
        info.name for info in catalog.layers_of(network)]
    return {layer: {roi: load_accuracy(network, layer, subject, data_dir=folder,
                                       download=False, progress=False, catalog=catalog)
                    for roi, folder in folders.items()}
            for layer in names}


def _layer_matrix(layer: str, by_roi: Mapping[str, Any], rois: Sequence[str]) -> np.ndarray:
    """The accuracies of one layer as (n_rois, n_units) float64."""
    missing = [roi for roi in rois if roi not in by_roi]
    if missing:
        raise UnknownNameError(f"layer {layer!r} has no accuracies of ROI {missing}: it has "
                               f"{', '.join(map(str, by_roi))}; expected {', '.join(rois)}.")
    rows = [np.asarray(getattr(by_roi[roi], "values", by_roi[roi]), np.float64).ravel()
            for roi in rois]
    sizes = {roi: row.size for roi, row in zip(rois, rows)}
    if len(set(sizes.values())) != 1:
        raise ShapeMismatchError(f"layer {layer!r} has different unit counts per ROI {sizes}: "
                                 "every ROI must score the same units.")
    return np.vstack(rows)
