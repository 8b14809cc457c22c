"""Figure 2 of Horikawa et al. (2019), drawn from :class:`LayerFigureStats`.

* 2a -- per layer, a violin of the pooled unit accuracies of S1-S5 with the mean as a black bar;
* 2b -- per layer, S1 against S2 for at most 1,000 random units, coloured by point density;
* 2c -- per layer, the 10 inter-subject correlations (one dot per pair) and their mean.

matplotlib is imported inside the functions, and figures are built on
:class:`matplotlib.figure.Figure` directly (Agg canvas), so nothing here touches pyplot's
global state or needs a display.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from brainfeat._checks import check_output_folder
from brainfeat.errors import InvalidValueError
from brainfeat.evaluation.statistics import HISTOGRAM_BINS, SCATTER_UNITS, LayerFigureStats

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["figure2", "figure_png", "plot_intersubject", "plot_scatter", "plot_violins",
           "profile_figure", "save_figure2"]

#: One decodability profile: ``(layer, mean accuracy, mean inter-subject r)`` in depth order.
ProfileLine = Sequence[tuple[str, float | None, float | None]]

SYNTHETIC_CAPTION = "SYNTHETIC replica: random numbers, not the published data"
_BIN_CENTRES = np.linspace(-1, 1, HISTOGRAM_BINS + 1)[:-1] + 1.0 / HISTOGRAM_BINS
# Gaussian kernel (sd 1.5 bins = 0.03 in r) that smooths the histogram into a violin outline.
_SMOOTHING = np.exp(-0.5 * (np.arange(-5, 6) / 1.5) ** 2)


def plot_violins(ax: Any, stats: Sequence[LayerFigureStats]) -> None:
    """Figure 2a on ``ax``: one violin per layer (from the accuracy histogram), mean as a bar."""
    low = 0.0
    for position, layer in enumerate(stats):
        counts = np.asarray(layer.histogram, dtype=float)
        if counts.sum() == 0:
            continue
        density = np.convolve(counts, _SMOOTHING, mode="same")
        width = 0.42 * density / density.max()
        occupied = np.flatnonzero(counts)
        span = slice(max(occupied[0] - 1, 0), occupied[-1] + 2)
        ax.fill_betweenx(_BIN_CENTRES[span], position - width[span], position + width[span],
                         color="#9db4d6", edgecolor="#4a6a9a", linewidth=0.6)
        ax.hlines(layer.mean_accuracy, position - 0.3, position + 0.3, color="black",
                  linewidth=2.5)
        low = min(low, float(_BIN_CENTRES[occupied[0]]))
    _layer_axis(ax, stats, bottom=low - 0.05)
    ax.axhline(0, color="grey", linewidth=0.5, zorder=0)
    ax.set_ylabel("Decoding accuracy (r)")
    ax.set_title("a  Unit accuracies of S1-S5 pooled (bar: mean)", loc="left")


def plot_scatter(figure: Any, stats: Sequence[LayerFigureStats]) -> None:
    """Figure 2b in ``figure`` (a Figure or SubFigure): one S1-vs-S2 panel per layer."""
    from scipy.stats import gaussian_kde

    axes = np.atleast_1d(figure.subplots(1, len(stats), sharex=True, sharey=True))
    for ax, layer in zip(axes, stats):
        x, y = (np.asarray(v, dtype=float) for v in layer.scatter)
        if x.size > 2 and np.ptp(x) > 0 and np.ptp(y) > 0:
            density = gaussian_kde(np.vstack([x, y]))(np.vstack([x, y]))
            order = np.argsort(density)
            ax.scatter(x[order], y[order], c=density[order], s=3, cmap="viridis",
                       linewidths=0, rasterized=True)
        ax.plot([-1, 1], [-1, 1], color="grey", linewidth=0.5)
        ax.set_title(f"{layer.layer} (n={x.size})", fontsize=8)
        ax.set_xlim(-1, 1)
        ax.set_ylim(-1, 1)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=6)
    axes[0].set_ylabel("S2 accuracy", fontsize=8)
    axes[0].set_xlabel("S1 accuracy", fontsize=8)
    figure.suptitle(f"b  S1 vs S2 accuracy of up to {SCATTER_UNITS:,} random units per layer "
                    "(colour: point density)", x=0.01, ha="left", fontsize=10)


def plot_intersubject(ax: Any, stats: Sequence[LayerFigureStats]) -> None:
    """Figure 2c on ``ax``: one dot per subject pair, the mean as a black bar."""
    low = 0.0
    for position, layer in enumerate(stats):
        values = np.array([v for v in layer.pairs.values() if not np.isnan(v)])
        if values.size == 0:
            continue
        low = min(low, float(values.min()))
        offsets = np.linspace(-0.2, 0.2, values.size) if values.size > 1 else np.zeros(1)
        ax.scatter(position + offsets, values, s=14, color="#d9822b", zorder=2)
        ax.hlines(layer.mean_intersubject, position - 0.3, position + 0.3, color="black",
                  linewidth=2.5, zorder=3)
    _layer_axis(ax, stats, bottom=low - 0.05)
    ax.set_ylabel("Inter-subject correlation (r)")
    ax.set_title("c  Correlation of unit accuracies between subjects (dots: pairs, bar: mean)",
                 loc="left")


def _layer_axis(ax: Any, stats: Sequence[LayerFigureStats], bottom: float) -> None:
    ax.set_xticks(range(len(stats)))
    ax.set_xticklabels([s.layer for s in stats], rotation=45 if len(stats) > 10 else 0,
                       fontsize=8)
    ax.set_xlim(-0.6, len(stats) - 0.4)
    ax.set_ylim(max(bottom, -1.02), 1.02)


def figure2(stats: Sequence[LayerFigureStats], *, synthetic: bool = False) -> "Figure":
    """Figure 2 (a, b, c) of one network.

    Parameters
    ----------
    stats : sequence of LayerFigureStats
        The layers of one network, in depth order.
    synthetic : bool, optional
        Caption the figure as a synthetic replica.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    if not stats:
        raise InvalidValueError("figure2 needs the statistics of at least one layer: pass "
                                "layer_figure_stats() of each layer to draw.")
    networks = {s.network for s in stats}
    if len(networks) != 1:
        raise InvalidValueError(f"figure2 draws one network at a time, got {sorted(networks)}: "
                                "call it once per network.")
    width = max(8.0, 0.9 * len(stats) + 3)
    figure = Figure(figsize=(width, 9.5), layout="constrained")
    top, middle, bottom = figure.subfigures(3, 1, height_ratios=[1.2, 0.9, 1.0])
    plot_violins(top.subplots(), stats)
    plot_scatter(middle, stats)
    plot_intersubject(bottom.subplots(), stats)
    title = f"Figure 2, {stats[0].network}: decoding accuracy of DNN units"
    figure.suptitle(f"{title}\n{SYNTHETIC_CAPTION}" if synthetic else title,
                    color="#b00020" if synthetic else "black")
    return figure


def figure_png(figure: "Figure", dpi: int = 100) -> bytes:
    """``figure`` rendered as PNG bytes (for embedding in HTML)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_figure2(stats: Sequence[LayerFigureStats], out_dir: str | Path, *,
                 synthetic: bool = False, formats: Sequence[str] = ("png", "svg"),
                 ) -> list[Path]:
    """Write Figure 2 of every network in ``stats``: the whole figure and each panel.

    Files: ``figure2-<net>``, ``figure2a-<net>``, ``figure2b-<net>``, ``figure2c-<net>``,
    one per format.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from matplotlib.figure import Figure

    out = check_output_folder("out_dir", out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for network in dict.fromkeys(s.network for s in stats):
        layers = [s for s in stats if s.network == network]
        panels = {"figure2": figure2(layers, synthetic=synthetic)}
        for name, draw, size in (("figure2a", plot_violins, (8, 4)),
                                 ("figure2c", plot_intersubject, (8, 4))):
            panels[name] = Figure(figsize=size, layout="constrained")
            draw(panels[name].subplots(), layers)
        panels["figure2b"] = Figure(figsize=(max(8.0, 0.9 * len(layers)), 2.2),
                                    layout="constrained")
        plot_scatter(panels["figure2b"], layers)
        for name, figure in panels.items():
            if synthetic and name != "figure2":
                figure.text(0.99, 0.01, SYNTHETIC_CAPTION, ha="right", fontsize=7,
                            color="#b00020")
            for extension in formats:
                path = out / f"{name}-{network}.{extension}"
                figure.savefig(path, dpi=120)
                written.append(path)
    return written


def profile_figure(lines: dict[str, ProfileLine], *, title: str,
                   subject_means: dict[str, Sequence[Sequence[float]]] | None = None,
                   synthetic: bool = False) -> "Figure":
    """Decodability profiles side by side: mean accuracy and inter-subject r per layer.

    Parameters
    ----------
    lines : dict of str to sequence of (layer, mean accuracy, mean inter-subject r)
        One profile per label (``"resnet18 (regenerated)"``, ``"AlexNet (published
        accuracy files)"`` ...), layers in depth order; None where a value is missing.
        Layers are placed at their relative depth (first 0, last 1), so networks of
        different depths share the axis; each point is labelled with its layer.
    title : str
    subject_means : dict of str to sequence of sequence of float, optional
        For some labels, each layer's per-subject mean accuracies, drawn as small dots
        around the line.
    synthetic : bool, optional
        Caption the figure as a synthetic replica.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    subject_means = subject_means or {}
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    accuracy_ax, intersubject_ax = figure.subplots(1, 2)
    for label, line in lines.items():
        depth = np.linspace(0, 1, len(line))       # [0.] for one layer, [] for none
        for ax, column in ((accuracy_ax, 1), (intersubject_ax, 2)):
            values = np.array([np.nan if row[column] is None else row[column] for row in line],
                              dtype=float)
            drawn = ax.plot(depth, values, marker="o", label=label)[0]
            if column == 1 and label in subject_means:
                for x, means in zip(depth, subject_means[label]):
                    ax.scatter(np.full(len(means), x), means, s=8, alpha=0.6,
                               color=drawn.get_color())
            for x, y, row in zip(depth, values, line):
                if np.isfinite(y):
                    ax.annotate(row[0], (x, y), fontsize=6, xytext=(2, 3),
                                textcoords="offset points")
    for ax, ylabel in ((accuracy_ax, "Mean decoding accuracy (r)"),
                       (intersubject_ax, "Mean inter-subject r of unit accuracies")):
        ax.set_xlabel("Relative layer depth (first 0, last 1)")
        ax.set_ylabel(ylabel)
        ax.axhline(0, color="#999", linewidth=0.8)
    accuracy_ax.legend(fontsize=7)
    figure.suptitle(f"{title}\n{SYNTHETIC_CAPTION}" if synthetic else title,
                    color="#b00020" if synthetic else "black")
    return figure
