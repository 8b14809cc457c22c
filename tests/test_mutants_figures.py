"""Behaviour of evaluation/metrics.py, facts.py and figures.py that mutmut's survivors left open.

Written against the survivors of the ``make mutate`` run of ``brainfeat/evaluation/*``
(docs/mutation.md): Figure 2 drawn the same whatever the user's matplotlib style, accuracies
and ranks given as plain lists with None for a missing value (as JSON gives NaN back), Pearson r
of features of any magnitude, a profile line without layers, and a .mat signature read without
reading the file. Every expected value is written by hand or computed with plain numpy.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from brainfeat.evaluation.facts import RankPolicy, mat_flavour, rank_agreements
from brainfeat.evaluation.metrics import intersubject_correlation, rank_ranges, unit_correlation
from brainfeat.evaluation.statistics import LayerFigureStats
from solve_bounds import pearson_error_bound

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _layer(name: str, scatter: tuple[tuple[float, ...], tuple[float, ...]]) -> LayerFigureStats:
    histogram = [0] * 100
    histogram[60] = 3
    return LayerFigureStats(network="AlexNet", layer=name, subjects=("S1", "S2"), source="x",
                            mean_accuracy=0.21, n_scored=3, histogram=tuple(histogram),
                            pairs={"S1-S2": 0.5}, mean_intersubject=0.5, scatter=scatter)


# --- figures.py ---------------------------------------------------------------------------------

def test_figure2_and_its_png_ignore_the_users_matplotlib_style() -> None:
    """A user's matplotlibrc (another colour map, font size, file format) changes nothing the
    figure sets itself; the HTML report embeds figure_png's bytes as image/png."""
    import matplotlib
    from matplotlib.figure import Figure

    from brainfeat.evaluation.figures import figure2, figure_png

    rng = np.random.default_rng(3)
    x = rng.uniform(-0.5, 0.9, 30)
    layer = _layer("fc7", (tuple(x), tuple(0.5 * x + 0.2 * rng.normal(size=30))))
    style = {"image.cmap": "gray", "font.size": 14.0, "figure.titlesize": 20.0,
             "savefig.format": "svg"}
    with matplotlib.rc_context(style):
        figure = figure2([layer])
        png = figure_png(Figure(figsize=(1, 0.5)))
    scatter_panel = figure.subfigs[1]
    (points,) = scatter_panel.axes[0].collections
    assert points.get_cmap().name == "viridis"
    assert scatter_panel._suptitle.get_fontsize() == 10
    assert png.startswith(PNG_SIGNATURE)


def test_a_profile_line_without_layers_draws_nothing_beside_the_others() -> None:
    from brainfeat.evaluation.figures import profile_figure

    figure = profile_figure({"empty (regenerated)": [], "AlexNet": [("fc7", 0.2, 0.4)]},
                            title="T")
    for ax in figure.axes:
        empty, alexnet, _zero = ax.get_lines()
        assert empty.get_label() == "empty (regenerated)"
        assert empty.get_xdata().tolist() == [] and empty.get_ydata().tolist() == []
        assert alexnet.get_xdata().tolist() == [0.0]
        assert [t.get_text() for t in ax.texts] == ["fc7"]
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == [
        "empty (regenerated)", "AlexNet"]


# --- metrics.py and facts.py: lists with None for a missing value ------------------------------

def test_accuracies_given_as_lists_with_none_are_read_as_nan() -> None:
    """JSON writes NaN as null: lists read back from it hold None where a unit has no score."""
    low, high = rank_ranges([0.5, None, 0.5, 0.1])
    assert low.tolist() == [1.0, 4.0, 1.0, 3.0] and high.tolist() == [2.0, 4.0, 2.0, 3.0]
    low, high = rank_ranges([0.5, None, 0.1], nan="keep")
    np.testing.assert_array_equal(low, [1.0, np.nan, 2.0])
    np.testing.assert_array_equal(high, [1.0, np.nan, 2.0])
    pairs = intersubject_correlation({"S1": [0.1, None, 0.3, 0.2, 0.4],
                                      "S2": [0.2, 0.5, 0.6, None, 0.1]})
    shared = np.array([[0.1, 0.3, 0.4], [0.2, 0.6, 0.1]])    # units 0, 2 and 4
    assert list(pairs) == [("S1", "S2")]
    assert pairs[("S1", "S2")] == pytest.approx(np.corrcoef(shared)[0, 1], abs=1e-12)


def test_rank_agreements_read_a_published_rank_list_with_none_as_nan() -> None:
    # accuracy [0.5, NaN, 0.1] against the published ranks [1, NaN, 2], policy by policy
    expected = {(True, "last", 1): 2 / 3, (True, "last", 0): 0.0,
                (True, "first", 1): 0.0, (True, "first", 0): 2 / 3,
                (True, "keep", 1): 1.0, (True, "keep", 0): 1 / 3,
                (False, "last", 1): 0.0, (False, "last", 0): 1 / 3,
                (False, "first", 1): 1 / 3, (False, "first", 0): 0.0,
                (False, "keep", 1): 1 / 3, (False, "keep", 0): 2 / 3}
    agreements = rank_agreements(np.array([0.5, np.nan, 0.1]), [1, None, 2])
    assert agreements == pytest.approx(
        {RankPolicy(*key).label: fraction for key, fraction in expected.items()}, abs=1e-15)


# --- metrics.py: Pearson r of features of any magnitude -----------------------------------------

def test_unit_correlation_is_the_same_at_any_magnitude() -> None:
    """Units of very different magnitudes in one chunk, each scored as if it were of order 1."""
    rng = np.random.default_rng(11)
    true = rng.normal(size=(50, 7))
    pred = true + rng.normal(size=(50, 7))
    pred[:, 6] = 0.25                                    # a constant unit stays NaN
    expected = [np.corrcoef(pred[:, j], true[:, j])[0, 1] for j in range(6)]
    # per unit, the power of two of its decoded and of its true values:
    # squares below the smallest float64 (~1e-163), the product of the sums of squares
    # under- or overflowing (~5e-100, ~3e150), order 1, and the two sides far apart
    pred_exponent = np.array([-540, -330, 0, 500, -540, 500, 0])
    true_exponent = np.array([-540, -330, 0, 500, 500, -540, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = unit_correlation(np.ldexp(pred, pred_exponent), np.ldexp(true, true_exponent))
    assert np.isnan(r[6]) and not np.isnan(r[:6]).any()
    bound = pearson_error_bound(pred[:, :6], true[:, :6])
    assert np.all(np.abs(r[:6] - expected) <= bound)


# --- facts.py -----------------------------------------------------------------------------------

def test_mat_flavour_reads_the_signature_not_the_whole_file(tmp_path, monkeypatch) -> None:
    """Published .mat files run to hundreds of MB; the flavour is in their first 520 bytes."""
    from brainfeat.evaluation import facts

    path = tmp_path / "big.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(2 << 20))
    read = []

    class Counting:
        """An open file that records how many bytes each read returned."""

        def __init__(self, file, mode):
            self.file, self.mode = file, mode

        def __enter__(self):
            self.handle = open(self.file, self.mode)
            return self

        def __exit__(self, *exc_info):
            self.handle.close()

        def read(self, *size):
            data = self.handle.read(*size)
            read.append(len(data))
            return data

    monkeypatch.setattr(facts, "open", Counting, raising=False)
    assert mat_flavour(path) == "v5"
    assert 0 < sum(read) <= 1024
