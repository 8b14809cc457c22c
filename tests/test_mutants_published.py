"""What `brainfeat.published` promises, pinned where mutation testing found it unchecked.

The loaders run on the oracle-written golden layout (``tests/golden/published/v5``, see
``scripts/golden_published_layout.py``) or on files written here with scipy alone, with
``brainfeat.remote.api.fetch`` replaced by a recorder that returns the layer's folder: no
server, and every option the loaders hand to the fetcher is seen. Expected values come from
the golden writer's formulas (``test_reference_published``) or from numpy, never from
brainfeat.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat
from test_reference_published import (
    GOLDEN,
    GRIDS,
    IMAGES,
    expected_accuracy,
    expected_feat,
    expected_rank,
)

import brainfeat
from brainfeat.catalog import Kind, Network
from brainfeat.demo.replica import replica_catalog
from brainfeat.errors import (
    DataNotFoundError,
    FormatError,
    ShapeMismatchError,
    UnknownNameError,
)
from brainfeat.published import (
    FeatureSet,
    UnitScores,
    read_image_features,
    variable_name,
)

CATALOG = replace(replica_catalog({(Network.ALEXNET, layer): grid for layer, grid in GRIDS.items()},
                                  n_subjects=1), test_image_ids=IMAGES)


class Fetcher:
    """Stands in for ``brainfeat.remote.api.fetch``: records each call, returns a layer folder."""

    def __init__(self, root: Path) -> None:
        self.root = root  # the folder holding decodedDNN/
        self.calls: list[tuple] = []

    def __call__(self, kind, network, layer, **options) -> Path:
        kind, network = Kind.parse(kind), Network.parse(network)
        self.calls.append((kind, network, layer, options))
        return self.root / "decodedDNN" / kind.value / network.value / layer


@pytest.fixture
def fetcher(monkeypatch: pytest.MonkeyPatch) -> Fetcher:
    fake = Fetcher(GOLDEN / "v5")
    monkeypatch.setattr("brainfeat.remote.api.fetch", fake)
    return fake


# -- every loader hands its options to the fetcher and reads the right values -----------

LOADERS = {
    "load decoded": ("decoded", "S1", lambda **o: brainfeat.load(
        "decoded", "AlexNet", "conv1", "S1", **o)),
    "load decoded Averaged": ("decoded", "Averaged", lambda **o: brainfeat.load(
        "decoded", "AlexNet", "conv1", subject="Averaged", **o)),
    "load true": ("true", None, lambda **o: brainfeat.load("true", "AlexNet", "conv1", **o)),
    "load_features decoded": ("decoded", "S1", lambda **o: brainfeat.load_features(
        "decoded", "AlexNet", "conv1", 1, **o)),
    "load_features true": ("true", None, lambda **o: brainfeat.load_features(
        Kind.TRUE, "alexnet", "conv1", **o)),
    "load accuracy": ("accuracy", "Averaged", lambda **o: brainfeat.load(
        "accuracy", "AlexNet", "conv1", "Averaged", **o)),
    "load rank": ("rank", "S1", lambda **o: brainfeat.load("rank", "AlexNet", "conv1", "S1", **o)),
    "load_accuracy": ("accuracy", "S1", lambda **o: brainfeat.load_accuracy(
        "AlexNet", "conv1", "S1", **o)),
    "load_rank": ("rank", "Averaged", lambda **o: brainfeat.load_rank(
        Network.ALEXNET, "conv1", "Averaged", **o)),
}


def expected_values(kind: str, subject: str | None) -> np.ndarray:
    """What the golden writer put in AlexNet conv1's files of ``kind`` (rows x units)."""
    grid = GRIDS["conv1"]
    if kind in ("decoded", "true"):
        return expected_feat(subject, grid)
    return expected_accuracy(subject, grid) if kind == "accuracy" else expected_rank(grid)


@pytest.mark.parametrize("loader", list(LOADERS))
def test_loaders_pass_their_options_and_read_the_golden_values(fetcher, tmp_path, loader) -> None:
    kind, subject, load = LOADERS[loader]
    defaults = load(catalog=CATALOG)
    given = load(catalog=CATALOG, data_dir=tmp_path, download=False, progress=False)
    asked = (Kind(kind), Network.ALEXNET, "conv1")
    assert fetcher.calls == [
        (*asked, {"data_dir": None, "download": True, "progress": True, "catalog": CATALOG}),
        (*asked, {"data_dir": tmp_path, "download": False, "progress": False,
                  "catalog": CATALOG})]
    for result in (defaults, given):
        assert (result.kind, result.network, result.layer) == asked
        assert result.unit_shape == GRIDS["conv1"]
        assert (result.subject and result.subject.name) == subject
        np.testing.assert_array_equal(result.values, expected_values(kind, subject))
        if kind in ("decoded", "true"):
            assert isinstance(result, FeatureSet) and result.image_ids == IMAGES
            assert result.values.dtype == np.float32  # the golden v5 files hold float32
        else:
            assert isinstance(result, UnitScores)
            assert result.values.dtype == np.float64 and result.values.flags.c_contiguous


def test_read_image_features_reads_one_image_as_its_grid(fetcher) -> None:
    folder = GOLDEN / "v5" / "decodedDNN" / "decoded" / "AlexNet" / "conv1"
    info = CATALOG.layer("AlexNet", "conv1")
    subject = CATALOG.subject("Averaged")
    grid = read_image_features(folder, Kind.DECODED, info, subject, IMAGES[2])
    assert grid.shape == (3, 2, 4) and grid.dtype == np.float32
    np.testing.assert_array_equal(grid.reshape(-1), expected_feat("Averaged", (3, 2, 4))[2])
    assert fetcher.calls == []  # reads the folder it is given, fetches nothing


@pytest.mark.parametrize("kind,variable", [
    ("decoded", "feat"), ("true", "feat"), ("accuracy", "accuracy"), ("rank", "rank"),
    (Kind.RANK, "rank"), ("Accuracy", "accuracy")])
def test_variable_names_follow_the_published_files(kind, variable) -> None:
    assert variable_name(kind) == variable


# -- files written here with scipy alone ------------------------------------------------

def _save(root: Path, kind: str, name: str, array: np.ndarray) -> Path:
    """``array`` as ``root/decodedDNN/<kind>/AlexNet/<layer>/<name>`` (MATLAB v5, scipy)."""
    layer = name.split("-")[2]
    path = root / "decodedDNN" / kind / "AlexNet" / layer / name
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {variable_name(kind): array})
    return path


@pytest.fixture
def written(fetcher: Fetcher, tmp_path: Path) -> Path:
    """An empty published tree under ``tmp_path`` that the loaders read instead of the golden one."""
    fetcher.root = tmp_path
    return tmp_path


@pytest.mark.parametrize("kind,dtype,expected_dtype", [
    ("accuracy", np.float32, np.float32), ("accuracy", np.float64, np.float64),
    ("rank", np.int32, np.float64), ("rank", np.uint16, np.float64), ("rank", np.float32, np.float32)])
def test_scores_keep_a_published_float_type_and_turn_integers_into_float64(
        written, kind, dtype, expected_dtype) -> None:
    values = np.arange(24)[::-1] + 1
    _save(written, kind, f"{kind}-AlexNet-conv1-S1.mat", values.reshape(3, 2, 4).astype(dtype))
    scores = brainfeat.load(kind, "AlexNet", "conv1", "S1", catalog=CATALOG)
    assert scores.values.dtype == expected_dtype and scores.values.shape == (24,)
    np.testing.assert_array_equal(scores.values, values)


def test_scores_stored_flat_or_hwc_are_read_channel_major(written) -> None:
    chw = (np.arange(24, dtype=np.float64) / 10).reshape(3, 2, 4)
    _save(written, "rank", "rank-AlexNet-conv1-S1.mat", chw.reshape(1, -1))  # a row vector
    rank = brainfeat.load_rank("AlexNet", "conv1", "S1", catalog=CATALOG)
    np.testing.assert_array_equal(rank.reshape_units(), chw)
    path = _save(written, "accuracy", "accuracy-AlexNet-conv1-S1.mat", chw.transpose(1, 2, 0))
    with pytest.warns(UserWarning) as caught:
        accuracy = brainfeat.load_accuracy("AlexNet", "conv1", "S1", catalog=CATALOG)
    assert len(caught) == 1
    assert str(caught[0].message) == (f"{path} holds an (H, W, C) array (2, 4, 3); transposed to "
                                      "channel-major (3, 2, 4).")
    np.testing.assert_array_equal(accuracy.values, chw.reshape(-1))
    assert accuracy.values.flags.c_contiguous


def test_hwc_features_are_transposed_with_one_warning_per_file(written) -> None:
    for row, image in enumerate(IMAGES):
        chw = expected_feat(None, (3, 2, 4))[row].reshape(3, 2, 4)
        _save(written, "true", f"true-AlexNet-conv1-{image}.mat", chw.transpose(1, 2, 0))
    with pytest.warns(UserWarning, match=r"\(H, W, C\) array \(2, 4, 3\)") as caught:
        true = brainfeat.load_features("true", "AlexNet", "conv1", catalog=CATALOG)
    assert len(caught) == len(IMAGES)
    np.testing.assert_array_equal(true.values, expected_feat(None, (3, 2, 4)))


def test_features_stored_flat_are_read_as_their_grid(written) -> None:
    feat = expected_feat("S1", (3, 2, 4))
    for row, image in enumerate(IMAGES):
        _save(written, "decoded", f"S1/decoded-AlexNet-conv1-S1-{image}.mat", feat[row][None])
    folder = written / "decodedDNN" / "decoded" / "AlexNet" / "conv1"
    info, subject = CATALOG.layer("AlexNet", "conv1"), CATALOG.subject("S1")
    grid = read_image_features(folder, Kind.DECODED, info, subject, IMAGES[1])
    assert grid.shape == (3, 2, 4)
    np.testing.assert_array_equal(grid, feat[1].reshape(3, 2, 4))
    decoded = brainfeat.load_features("decoded", "AlexNet", "conv1", "S1", catalog=CATALOG)
    np.testing.assert_array_equal(decoded.values, feat)


@pytest.mark.parametrize("stored", [(4, 3, 2), (2, 3, 4), (25,), (23,), (4, 6)])
def test_score_grids_of_another_shape_are_refused_naming_the_file(written, stored) -> None:
    path = _save(written, "accuracy", "accuracy-AlexNet-conv1-S1.mat",
                 np.zeros(stored, dtype=np.float32))
    message = (f"{path} holds an array of shape {stored}; expected (3, 2, 4) (24 units of "
               "AlexNet conv1) after squeezing.")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not mistaken for an (H, W, C) map
        with pytest.raises(FormatError) as error:
            brainfeat.load_accuracy("AlexNet", "conv1", "S1", catalog=CATALOG)
    assert str(error.value) == message


def test_an_fc_layer_is_never_read_as_hwc(written) -> None:
    _save(written, "rank", "rank-AlexNet-fc8-S1.mat", np.zeros((1, 6), dtype=np.float32))
    with pytest.raises(FormatError, match=r"rank-AlexNet-fc8-S1\.mat holds an array of shape "
                                          r"\(6,\); expected \(7,\) \(7 units"):
        brainfeat.load_rank("AlexNet", "fc8", "S1", catalog=CATALOG)


def test_a_missing_file_names_itself_its_folder_and_the_fix(written) -> None:
    folder = written / "decodedDNN" / "rank" / "AlexNet" / "fc8"
    folder.mkdir(parents=True)
    with pytest.raises(DataNotFoundError) as error:
        brainfeat.load_rank("AlexNet", "fc8", "Averaged", catalog=CATALOG)
    assert str(error.value) == (
        f"Published file rank/AlexNet/fc8/rank-AlexNet-fc8-Averaged.mat is missing "
        f"from {folder}. The download may be incomplete: run `brainfeat verify-cache`, then "
        "fetch the layer again.")


def test_a_subject_is_asked_for_with_the_valid_names(fetcher) -> None:
    for kind in ("decoded", "accuracy", "rank"):
        with pytest.raises(UnknownNameError) as error:
            brainfeat.load(kind, "AlexNet", "fc8", catalog=CATALOG)
        assert str(error.value) == f"{kind} files are per subject: pass subject= one of S1, Averaged."
    with pytest.raises(UnknownNameError) as error:
        brainfeat.load_features("true", "AlexNet", "fc8", "S1", catalog=CATALOG)
    assert str(error.value) == ("true features do not depend on the subject; got subject='S1': "
                                "omit it.")
    for kind in ("accuracy", "rank"):
        with pytest.raises(UnknownNameError) as error:
            brainfeat.load_features(kind, "AlexNet", "fc8", "S1", catalog=CATALOG)
        assert str(error.value) == (f"load_features reads 'decoded' or 'true' features, not "
                                    f"'{kind}': use load_{kind}(network, layer, subject).")
    assert fetcher.calls == []  # refused before any fetch


# -- the result objects -------------------------------------------------------------------

@pytest.fixture
def results(fetcher) -> tuple[FeatureSet, FeatureSet, UnitScores]:
    """Decoded S1, true and accuracy S1 of AlexNet conv1 (3 images, grid 3 x 2 x 4)."""
    options = {"catalog": CATALOG}
    return (brainfeat.load("decoded", "AlexNet", "conv1", "S1", **options),
            brainfeat.load("true", "AlexNet", "conv1", **options),
            brainfeat.load("accuracy", "AlexNet", "conv1", "S1", **options))


def test_repr_and_summary_name_the_result_and_its_statistics(results) -> None:
    decoded, true, accuracy = results
    assert repr(decoded) == ("<FeatureSet decoded AlexNet conv1 S1: 3 images x 24 units "
                             "(3, 2, 4) float32>")
    assert repr(accuracy) == "<UnitScores accuracy AlexNet conv1 S1: 24 units (3, 2, 4) float64>"
    feat = expected_feat(None, (3, 2, 4))
    feat[0, 5] = np.nan  # NaN is left out of the mean and the sd
    planted = true.with_values(feat)
    kept = np.delete(feat.reshape(-1), 5)
    assert planted.summary() == (f"true AlexNet conv1: 3 images x 24 units (3, 2, 4), "
                                 f"mean {kept.mean():.4g}, sd {kept.std():.4g}")
    scores = expected_accuracy("S1", (3, 2, 4))
    assert accuracy.summary() == (f"accuracy AlexNet conv1 S1: 24 units (3, 2, 4), "
                                  f"mean {np.delete(scores, 1).mean():.4g}, 1 NaN")


def test_summary_of_all_nan_scores_says_so_without_a_warning(results) -> None:
    empty = results[2].with_values(np.full(24, np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "Mean of empty slice" must not reach the user
        line = empty.summary()
    assert line == "accuracy AlexNet conv1 S1: 24 units (3, 2, 4), mean nan, 24 NaN"


@pytest.mark.parametrize("which", [0, 2])
def test_new_values_keep_every_label_and_take_the_flat_shape(results, which) -> None:
    result = results[which]
    grid = result.reshape_units() * -2.0
    changed = result.with_values(grid)
    assert type(changed) is type(result) and changed.values.shape == result.values.shape
    np.testing.assert_array_equal(changed.values, result.values * -2.0)
    for field in ("unit_shape", "network", "layer", "kind", "subject"):
        assert getattr(changed, field) == getattr(result, field)
    flat = result.values * 3.0
    assert np.shares_memory(result.with_values(flat).values, flat)  # already flat: no copy
    with pytest.raises(ShapeMismatchError, match=r"new values of shape \(23,\) do not fit"):
        result.with_values(np.zeros(23))


TITLES = ("decoded AlexNet conv1 S1", "true AlexNet conv1", "accuracy AlexNet conv1 S1")


@pytest.mark.parametrize("which,shape,expected", [
    (2, (4, 3, 2), "(24,) or (3, 2, 4)"), (2, (2, 4, 3), "(24,) or (3, 2, 4)"),
    (2, (1, 24), "(24,) or (3, 2, 4)"), (0, (3, 2, 4, 3), "(3, 24) or (3, 3, 2, 4)"),
    (0, (3, 24, 1), "(3, 24) or (3, 3, 2, 4)"), (0, (72,), "(3, 24) or (3, 3, 2, 4)")])
def test_new_values_of_the_right_size_but_another_grid_are_refused(results, which, shape,
                                                                    expected) -> None:
    """An (H, W, C) grid, say, would otherwise be read in the wrong unit order."""
    result = results[which]
    with pytest.raises(ShapeMismatchError) as error:
        result.with_values(np.zeros(shape))
    assert str(error.value) == (
        f"new values of shape {shape} do not fit {TITLES[which]}: expected "
        f"{expected}; keep one row per image and one column per unit.")


@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_copy_is_independent_and_keeps_the_labels(results, which) -> None:
    result = results[which]
    before = result.values.copy()
    copied = result.copy()
    assert type(copied) is type(result) and copied.layer == result.layer
    assert copied.subject == result.subject and copied.unit_shape == result.unit_shape
    copied.values[...] = 0
    np.testing.assert_array_equal(result.values, before)
