"""Behaviour of god_candidates.py and hierarchy.py that the other evaluation tests leave open.

Written against mutmut's survivors of those two modules (docs/mutation.md): where
``ImageFeatures.h5`` keeps its test rows (after the training rows, in any order), the exact
``min_r`` boundary, NaN correlations of constant units, every refusal's message, reading only
the label and feature columns; what the BH figure draws (bar heights, stacking, colours,
labels, legend, size, tick rotation) read back from matplotlib's artists; which layers
:func:`load_roi_accuracies` reads and that it never downloads or prints.

The GOD-file units are rows of a Sylvester Hadamard matrix on 16 of the 50 test images (zero
elsewhere): each unit has mean 0 and norm 4, so every Pearson r between them is an exact
binary fraction (1 with itself, 0 with another unit, 0.5 after four sign flips) and the
``min_r`` boundary can be hit exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from brainfeat.catalog import Kind, Network, default_catalog
from brainfeat.errors import (
    DataNotFoundError,
    FormatError,
    ShapeMismatchError,
    UnknownNameError,
)
from brainfeat.evaluation import god_candidates
from brainfeat.evaluation.god_candidates import god_category_features
from brainfeat.evaluation.hierarchy import BHScore, load_roi_accuracies
from brainfeat.io.bdata import BDataBuilder, write_bdata
from brainfeat.published import FeatureSet
from brainfeat.stimuli import name_to_id

# --- god_candidates.py ----------------------------------------------------------------------

TEST_IDS = default_catalog().test_image_ids
N_TRAINING = 4
# rows of FeatureType 3 and 4 (in file order) and their synsets
CATEGORY_TYPES = (3, 3, 4, 4, 4)
SYNSETS = ("n01443537", "n01621127", "n09000001", "n09000002", "n09000003")


def _hadamard_units(n_units: int) -> np.ndarray:
    """(50, n_units): rows 1..n_units of the 16 x 16 Sylvester Hadamard matrix on images 0-15."""
    h = np.array([[1.0]])
    for _ in range(4):
        h = np.block([[h, h], [h, -h]])
    units = np.zeros((50, n_units))
    units[:16] = h[1:n_units + 1].T
    return units


def _true(values: np.ndarray) -> FeatureSet:
    return FeatureSet(values.astype(np.float32), TEST_IDS, (values.shape[1],), Network.ALEXNET,
                      "fc8", Kind.TRUE, None)


def _write_god(path: Path, file_columns: np.ndarray, averages: np.ndarray, *,
               drop: tuple[int, ...] = ()) -> Path:
    """An ImageFeatures.h5 layout: training rows, then the test rows shuffled, then categories.

    ``file_columns`` (50, n) are the cnn8 values of the test images in published order;
    ``drop`` leaves those test images out.
    """
    rng = np.random.default_rng(7)
    n = file_columns.shape[1]
    kept = [k for k in range(50) if k not in drop]
    shuffled = rng.permutation(kept)
    rows = np.vstack([rng.normal(size=(N_TRAINING, n)), file_columns[shuffled], averages])
    feature_type = np.r_[np.ones(N_TRAINING), np.full(len(shuffled), 2), CATEGORY_TYPES]
    test_names = [TEST_IDS[k] for k in shuffled]
    cat_id = [1443537.0] * N_TRAINING + [float(name[1:9]) for name in test_names]
    cat_id += [float(s[1:]) for s in SYNSETS]
    image_id = [name_to_id(f"n01443537_{k + 1}") for k in range(N_TRAINING)]
    image_id += [name_to_id(name) for name in test_names] + [np.nan] * len(SYNSETS)
    builder = BDataBuilder()
    builder.add(feature_type, "FeatureType")
    builder.add(np.array(cat_id), "CatID")
    builder.add(np.array(image_id), "ImageID")
    builder.add(rng.normal(size=(len(rows), 7)), "cnn7")
    builder.add(rows, "cnn8")
    builder.add(rng.normal(size=(len(rows), 2)), "gist")
    return write_bdata(path, builder.build())


def _mismatch(path: Path, median: str, below: int, min_r: float, shared: int) -> str:
    return (f"{path}: the columns of cnn8 do not match the units of published AlexNet fc8 one "
            f"to one (median best r {median}, {below} columns below {min_r}, {shared} "
            "shared): refused. The file may come from another network or preprocessing.")


@pytest.fixture
def god(tmp_path: Path):
    """A 5-unit layer whose file columns are stored in another order, and the file."""
    units = _hadamard_units(5)
    permutation = np.array([3, 0, 4, 1, 2])          # file column j holds unit permutation[j]
    averages = np.random.default_rng(3).normal(size=(len(SYNSETS), 5))
    path = _write_god(tmp_path / "ImageFeatures.h5", units[:, permutation],
                      averages[:, permutation])
    return tmp_path, units, permutation, averages, path


def test_test_rows_are_found_after_the_training_rows_in_any_order(god, monkeypatch) -> None:
    _, units, _, averages, path = god
    shapes = []
    real = god_candidates.read_bdata

    def recording(*args, **kwargs):
        data = real(*args, **kwargs)
        shapes.append(data.dataset.shape)
        return data

    monkeypatch.setattr(god_candidates, "read_bdata", recording)
    candidates, categories = god_category_features(path, _true(units))
    np.testing.assert_array_equal(candidates, averages)         # back in published order
    assert candidates.dtype == np.float64 and categories == SYNSETS
    # only the 3 label columns or the 5 cnn8 columns are read, never the whole file
    # (the real one holds every image's and category's cnn1-8, HMAX, GIST and SIFT features)
    assert {columns for _, columns in shapes} == {3, 5}
    assert sorted(rows for rows, columns in shapes if columns == 5) == [5, 50]
    only_other, other_categories = god_category_features(path, _true(units), feature_types=(4,))
    np.testing.assert_array_equal(only_other, averages[2:])
    assert other_categories == SYNSETS[2:]


def test_min_r_is_a_strict_lower_bound(god) -> None:
    folder, units, permutation, averages, _ = god
    columns = units[:, permutation]
    loose = columns[:, 1].copy()                     # unit 0: flip two +1 and two -1
    plus, minus = np.flatnonzero(loose > 0)[:2], np.flatnonzero(loose < 0)[:2]
    loose[np.r_[plus, minus]] *= -1
    columns[:, 1] = loose
    r = np.corrcoef(columns.T, units.T)[:5, 5:]      # file column x published unit
    assert r[1, 0] == 0.5 and np.all(np.delete(r[1], 0) < 0.5)   # exact by construction
    path = _write_god(folder / "loose.h5", columns, averages[:, permutation])
    with pytest.raises(ShapeMismatchError) as error:
        god_category_features(path, _true(units), min_r=0.5)
    assert str(error.value) == _mismatch(path, "1.000", 1, 0.5, 0)
    just_below = float(np.nextafter(0.5, 0.0))
    candidates, _ = god_category_features(path, _true(units), min_r=just_below)
    np.testing.assert_array_equal(candidates, averages)


def test_nan_correlations_never_win_a_match(tmp_path: Path) -> None:
    """A constant published unit correlates NaN with every column: it is nobody's best match."""
    units = np.c_[_hadamard_units(1), np.zeros(50)]
    # column 1 anti-correlates with unit 0 (r = -1) and is NaN against the constant unit 1:
    # its best finite match is unit 0, shared with column 0
    path = _write_god(tmp_path / "flat.h5", np.c_[units[:, 0], -units[:, 0]],
                      np.zeros((len(SYNSETS), 2)))
    with pytest.raises(ShapeMismatchError) as error:
        god_category_features(path, _true(units))
    assert str(error.value) == _mismatch(path, "0.000", 1, 0.99, 1)


def test_refusals_name_the_file_what_was_expected_and_the_way_out(god) -> None:
    from dataclasses import replace

    folder, units, permutation, averages, path = god
    true = _true(units)
    with pytest.raises(FormatError) as error:
        god_category_features(path, true, feature_types=(5,))
    assert str(error.value) == f"{path} has no rows of FeatureType (5,): found [1, 2, 3, 4]."
    with pytest.raises(UnknownNameError) as error:
        god_category_features(path, replace(true, layer="conv5"))
    assert str(error.value) == (
        "ImageFeatures.h5 holds no full layer matching AlexNet conv5: only cnn8 (all 1,000 "
        "units of AlexNet fc8) matches a published layer; cnn1-cnn7 keep 1,000 unrecorded "
        "units of their layer. Use category averages of features from "
        "brainfeat.features.extract instead.")
    dropped = (40, 3, 17, 9, 25, 31)                 # six missing: the first five are named
    partial = _write_god(folder / "partial.h5", units[:, permutation],
                         averages[:, permutation], drop=dropped)
    with pytest.raises(FormatError) as error:
        god_category_features(partial, true)
    first_five = [TEST_IDS[k] for k in sorted(dropped)[:5]]
    assert str(error.value) == (
        f"{partial} lacks test images {first_five} (6 in all) needed to match the columns of "
        "cnn8 to published units.")


# --- hierarchy.py: arithmetic in float64 whatever the input --------------------------------

def test_p_values_of_float32_accuracies_are_computed_in_float64() -> None:
    """Published accuracies are float32; 1 - r**2 in float32 would lose 0.1 % of p at 0.9999."""
    from scipy.stats import t as student_t

    from brainfeat.evaluation.hierarchy import correlation_p_value

    r32 = np.array([0.3, 0.2787, 0.9999, -0.6], dtype=np.float32)
    r = r32.astype(np.float64)                       # the same numbers, exactly
    expected = 2 * student_t.sf(np.abs(r) * np.sqrt(48 / (1 - r**2)), 48)
    # float64 round-off of t (1e-16) grows at most ~50-fold through the t tail: 1e-12 is loose
    np.testing.assert_allclose(correlation_p_value(r32, 50), expected, rtol=1e-12)


def test_bh_score_reads_none_as_an_unscored_unit() -> None:
    """brainfeat's JSON writes NaN as null: accuracies read back from it hold None."""
    from brainfeat.evaluation.hierarchy import bh_score

    result = bh_score({"l": {"V1": [0.9, None, None], "V2": [0.1, 0.9, None]}},
                      rois=("V1", "V2"))
    assert result.counts.tolist() == [[1, 1]] and result.n_units.tolist() == [3]


ALPHA_RANGE = "expected a finite number > 0 and <= 1; pass e.g. alpha=0.05."


@pytest.mark.parametrize(("argument", "message"), [
    ({"alpha": 0.0}, f"alpha=0.0 is out of range: {ALPHA_RANGE}"),
    ({"alpha": 1.5}, f"alpha=1.5 is out of range: {ALPHA_RANGE}"),
    ({"alpha": float("nan")}, f"alpha=nan is out of range: {ALPHA_RANGE}"),
    ({"units_per_layer": 0}, ("units_per_layer=0 is out of range: expected a whole number "
                              ">= 1; pass e.g. units_per_layer=1000.")),
    ({"units_per_layer": 2.5}, ("units_per_layer=2.5 is not an integer: pass a whole number "
                                ">= 1, e.g. units_per_layer=1000.")),
    ({"seed": -1}, "seed=-1 is out of range: expected a whole number >= 0; pass e.g. seed=0."),
])
def test_bh_score_refuses_arguments_out_of_range(argument, message) -> None:
    from brainfeat.errors import InvalidValueError
    from brainfeat.evaluation.hierarchy import bh_score

    with pytest.raises(InvalidValueError) as error:
        bh_score({"l": {"V1": [0.9, 0.9]}}, rois=("V1",), **argument)
    assert str(error.value) == message


def test_bh_score_accepts_the_edges_of_each_range() -> None:
    from brainfeat.evaluation.hierarchy import bh_score

    layer = {"l": {"V1": [0.9, 0.0, 0.9]}}
    # alpha = 1: everything positive counts; r = 0 has p = 1, which is not below 1
    assert bh_score(layer, rois=("V1",), alpha=1.0).counts.tolist() == [[2]]
    assert bh_score(layer, rois=("V1",), units_per_layer=1, seed=0).n_units.tolist() == [1]


# --- hierarchy.py: the BH figure ------------------------------------------------------------

ROIS = ("V1", "V2", "HVC")
# l2 counted nothing (its bars are empty); fractions are binary, so sums are exact
COUNTS = np.array([[3, 1, 0], [0, 0, 0], [1, 2, 5]])
FRACTIONS = np.array([[0.75, 0.25, 0.0], [0.0, 0.0, 0.0], [0.125, 0.25, 0.625]])
BOTTOMS = np.array([[0.0, 0.75, 1.0], [0.0, 0.0, 0.0], [0.0, 0.125, 0.375]])


def _score(layers: tuple[str, ...], counts: np.ndarray, model: str = "") -> BHScore:
    return BHScore(score=0.5, layers=layers, rois=ROIS, counts=counts,
                   n_units=np.full(len(layers), 10), model=model)


@pytest.fixture
def pyplot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_bh_figure_stacks_each_layers_fractions_in_roi_colours(pyplot) -> None:
    from matplotlib import colormaps, rc_context
    from matplotlib.colors import to_rgba

    layers = ("l1", "l2", "l3")
    with rc_context({"image.cmap": "gray"}):          # the user's default colormap is not used
        figure = _score(layers, COUNTS).plot()
    ax = figure.axes[0]
    viridis = colormaps["viridis"]
    assert len(ax.containers) == len(ROIS)
    for k, (roi, bars) in enumerate(zip(ROIS, ax.containers)):
        assert bars.get_label() == roi
        assert [bar.get_height() for bar in bars] == FRACTIONS[:, k].tolist()
        assert [bar.get_y() for bar in bars] == BOTTOMS[:, k].tolist()
        colour = viridis(0.9 * k / (len(ROIS) - 1))  # evenly from 0 to 0.9 of viridis
        assert {to_rgba(bar.get_facecolor()) for bar in bars} == {to_rgba(colour)}
    assert [label.get_text() for label in ax.get_xticklabels()] == list(layers)
    assert ax.get_ylabel() == "fraction of counted units"
    assert ax.get_title() == "BH score 0.500"


def test_bh_figure_legend_title_size_and_ticks(pyplot) -> None:
    # the last layer counted nothing: matplotlib's "best" spot would be inside, over it
    figure = _score(("l1", "l2", "l3"), COUNTS[[0, 2, 1]], model="toy").plot()
    assert figure.get_size_inches().tolist() == [4.0, 3.5]       # at least 4 inches wide
    ax = figure.axes[0]
    assert ax.get_title() == "toy: BH score 0.500"
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "top ROI"
    assert [text.get_text() for text in legend.get_texts()] == list(ROIS)
    figure.canvas.draw()
    box = legend.get_window_extent().transformed(ax.transAxes.inverted())
    # outside the bars, to the right of the axes, its top level with the axes' top
    # (less matplotlib's border pad of half a font size)
    assert 1.0 < box.x0 < 1.05 and 0.95 < box.y1 < 1.0
    assert {label.get_rotation() for label in ax.get_xticklabels()} == {45.0}
    assert {label.get_rotation() for label in ax.get_yticklabels()} == {0.0}
    eight = _score(tuple(f"l{k}" for k in range(8)), np.ones((8, 3), int)).plot()
    assert eight.get_size_inches().tolist() == [6.0, 3.5]        # half an inch per layer + 2
    _, own = pyplot.subplots()
    assert _score(("l1", "l2", "l3"), COUNTS).plot(ax=own) is own.figure


# --- hierarchy.py: load_roi_accuracies -------------------------------------------------------

def test_roi_accuracies_read_the_named_layers_without_downloading(tmp_path, monkeypatch,
                                                                   capfd) -> None:
    """Each ROI's zip lies in its folder (copied, not fetched): it is checked and unpacked
    quietly; a folder without the layer is refused, not downloaded from."""
    import io
    import shutil
    import zipfile

    from scipy.io import loadmat

    from brainfeat.demo.replica import write_replica
    from brainfeat.remote.api import layer_archive

    replica = tmp_path / "replica"
    catalog = write_replica(replica, seed=1, kinds=["accuracy"])
    folders = {roi: tmp_path / roi for roi in ("V1", "HVC")}
    for folder in folders.values():
        row, _ = layer_archive("accuracy", "AlexNet", "fc8", catalog, data_dir=folder)
        (folder / row.local_path).parent.mkdir(parents=True)
        shutil.copy(replica / row.remote_path, folder / row.local_path)
    capfd.readouterr()
    accuracy = load_roi_accuracies(folders, "AlexNet", "S2", ["fc8"], catalog=catalog)
    assert capfd.readouterr().err == ""                          # no progress bars
    assert list(accuracy) == ["fc8"] and list(accuracy["fc8"]) == ["V1", "HVC"]
    with zipfile.ZipFile(replica / row.remote_path) as archive:   # read apart, with scipy
        member = archive.read("decodedDNN/accuracy/AlexNet/fc8/accuracy-AlexNet-fc8-S2.mat")
    expected = loadmat(io.BytesIO(member))["accuracy"].ravel()
    for roi in folders:
        np.testing.assert_array_equal(accuracy["fc8"][roi].values, expected)
    # conv1 is in no folder: refused, with no attempt to reach the (dead) mirror
    monkeypatch.setenv("BRAINFEAT_MIRRORS", "figshare=http://127.0.0.1:9")
    with pytest.raises(DataNotFoundError, match=r"is not in the local cache .* and "
                                                r"download=False\."):
        load_roi_accuracies(folders, "AlexNet", "S2", catalog=catalog)
