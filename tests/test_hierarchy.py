"""BH score on synthetic accuracy maps whose hierarchy is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from brainfeat.errors import ShapeMismatchError, UnknownNameError
from brainfeat.evaluation.hierarchy import BH_ROIS, bh_score, correlation_p_value


def _peaked(top: np.ndarray, peak: float = 0.6, rest: float = 0.1) -> dict[str, np.ndarray]:
    """Accuracies per ROI: ``peak`` at each unit's top ROI, ``rest`` elsewhere."""
    return {roi: np.where(top == k, peak, rest) for k, roi in enumerate(BH_ROIS)}


def test_p_value_is_pearsons_t_test_with_48_dof() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 50))
    y = 0.3 * x + rng.normal(size=x.shape)
    results = [pearsonr(a, b) for a, b in zip(x, y)]
    r = np.array([res.statistic for res in results])
    # the same t-distribution tail two ways: agreement to float64 round-off of the tail
    np.testing.assert_allclose(correlation_p_value(r, 50), [res.pvalue for res in results],
                               rtol=1e-9)
    # r = 0.2787 is the two-sided 5 % threshold at 48 dof
    assert correlation_p_value(np.array([0.278]), 50)[0] > 0.05
    assert correlation_p_value(np.array([0.280]), 50)[0] < 0.05


def test_a_perfect_hierarchy_scores_one_and_its_reverse_minus_one() -> None:
    layers = [f"layer{k}" for k in range(5)]
    ordered = {name: _peaked(np.full(20, k)) for k, name in enumerate(layers)}
    result = bh_score(ordered, model="ideal")
    assert result.score == pytest.approx(1.0)
    np.testing.assert_array_equal(result.counts, 20 * np.eye(5, dtype=int))
    reverse = {name: _peaked(np.full(20, 4 - k)) for k, name in enumerate(layers)}
    assert bh_score(reverse).score == pytest.approx(-1.0)
    frame = result.to_frame()
    assert list(frame.index) == layers and frame["mean_top_roi"].tolist() == [1, 2, 3, 4, 5]


def test_only_significant_positive_best_units_count() -> None:
    rng = np.random.default_rng(4)
    tops = [rng.integers(0, 5, size=40) for _ in range(3)]
    accuracy = {f"l{k}": _peaked(top) for k, top in enumerate(tops)}
    weak = accuracy["l0"]
    weak["V1"][:10] = 0.27           # units 0-9: best r below the 48-dof threshold (0.2787)
    for roi in BH_ROIS:
        weak[roi][:10] = np.minimum(weak[roi][:10], 0.27)
        weak[roi][10] = -0.5         # unit 10: negative everywhere
        weak[roi][11] = np.nan       # unit 11: never scored
    weak["V3"][12] = np.nan          # unit 12: NaN in one ROI only, still counted
    result = bh_score(accuracy)
    counted = np.ones(40, bool)
    counted[:12] = False
    expected_layers = np.r_[np.zeros(counted.sum()), np.ones(40), 2 * np.ones(40)]
    expected_tops = np.r_[tops[0][counted], tops[1], tops[2]]
    assert result.counts.sum(axis=1).tolist() == [28, 40, 40]
    assert result.score == pytest.approx(spearmanr(expected_layers, expected_tops).statistic,
                                         rel=1e-12)


def test_units_per_layer_draws_equal_numbers_with_a_seed() -> None:
    big = {f"l{k}": _peaked(np.random.default_rng(k).integers(0, 5, 500)) for k in range(3)}
    drawn = bh_score(big, units_per_layer=50, seed=3)
    assert drawn.n_units.tolist() == [50, 50, 50]
    assert bh_score(big, units_per_layer=50, seed=3).score == drawn.score
    assert not np.array_equal(bh_score(big, units_per_layer=50, seed=4).counts, drawn.counts)


def test_bad_input_names_the_layer_and_roi() -> None:
    with pytest.raises(UnknownNameError, match=r"'conv1' has no accuracies of ROI \['HVC'\]"):
        bh_score({"conv1": {roi: np.zeros(3) for roi in BH_ROIS[:4]}})
    uneven = {roi: np.zeros(3) for roi in BH_ROIS}
    uneven["V2"] = np.zeros(4)
    with pytest.raises(ShapeMismatchError, match="'fc8'.*'V2': 4"):
        bh_score({"fc8": uneven})
    with pytest.raises(UnknownNameError, match="at least one layer"):
        bh_score({})


def test_plot_draws_one_bar_per_layer_and_roi(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    result = bh_score({f"l{k}": _peaked(np.full(5, k)) for k in range(3)}, model="toy")
    figure = result.plot()
    axes = figure.axes[0]
    assert len(axes.patches) == 3 * 5 and "toy: BH score 1.000" in axes.get_title()
    figure.savefig(tmp_path / "bh.png")


def test_roi_accuracies_from_one_data_folder_per_roi(tmp_path, monkeypatch) -> None:
    import brainfeat
    from brainfeat.demo.replica import write_replica
    from brainfeat.demo.server import serve_folder
    from brainfeat.evaluation.hierarchy import load_roi_accuracies

    folders = {}
    for seed, roi in enumerate(("V1", "HVC")):  # two "regenerated" outputs
        catalog = write_replica(tmp_path / roi / "replica", seed=seed, kinds=["accuracy"])
        with serve_folder(tmp_path / roi / "replica") as url:
            monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={url}")
            for layer in ("conv1", "fc8"):
                brainfeat.fetch("accuracy", "AlexNet", layer, data_dir=tmp_path / roi / "data",
                                catalog=catalog, progress=False)
        folders[roi] = tmp_path / roi / "data"
    monkeypatch.delenv("BRAINFEAT_MIRRORS")
    accuracy = load_roi_accuracies(folders, "AlexNet", "S2", catalog=catalog)
    assert list(accuracy) == ["conv1", "fc8"] and list(accuracy["fc8"]) == ["V1", "HVC"]
    hvc = brainfeat.load_accuracy("AlexNet", "fc8", "S2", data_dir=folders["HVC"],
                                  download=False, catalog=catalog)
    np.testing.assert_array_equal(accuracy["fc8"]["HVC"].values, hvc.values)
    assert not np.array_equal(accuracy["fc8"]["V1"].values, hvc.values, equal_nan=True)
    result = bh_score(accuracy, rois=("V1", "HVC"))
    r = np.vstack([accuracy["fc8"]["V1"].values, hvc.values])
    best = np.fmax(r[0], r[1])  # NaN only where both are
    assert result.counts[1].sum() == np.sum((best > 0) & (correlation_p_value(best, 50) < 0.05))
