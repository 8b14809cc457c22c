"""What ``identify`` hands on to the identification functions, and what they return.

Written against mutmut's survivors of ``brainfeat/evaluation/identify.py`` and
``identification.py`` (docs/mutation.md): the defaults of ``identify`` (every layer, every
decoded subject, 10-way top-1 with 100 draws and seed 0, downloads with a progress bar), every
parameter passed through to the scorer, candidates read from a GOD ``ImageFeatures.h5`` of
either BData flavour, the whole text of each refusal, and the float64 result of
``pattern_correlation`` whatever the dtype of the training statistics. Expected scores are
counted by hand from ``numpy.corrcoef`` or cosines written here, except where a test checks
only that ``identify`` passes its parameters on unchanged (there the lower-level function,
tested on its own in test_identification.py, is called with the same explicit values).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from test_identification import _god_file
from test_identify import replica, served  # noqa: F401  (fixtures: the served replica)

import brainfeat
from brainfeat.errors import (
    DataNotFoundError,
    FormatError,
    InvalidValueError,
    UnknownNameError,
)
from brainfeat.evaluation.identification import nway_identification, pattern_correlation
from brainfeat.evaluation.identify import identify


def _rates(similarity: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per row, the fraction of the other columns strictly less similar than column ``target``."""
    rows = np.arange(len(target))
    own = similarity[rows, target]
    lower = (similarity < own[:, None]).sum(axis=1)
    return lower / (similarity.shape[1] - 1)


def _correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    flat_a, flat_b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return np.corrcoef(flat_a, flat_b)[:len(a), len(a):]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    flat_a, flat_b = a.reshape(len(a), -1).astype(float), b.reshape(len(b), -1).astype(float)
    return (flat_a @ flat_b.T) / np.outer(np.linalg.norm(flat_a, axis=1),
                                          np.linalg.norm(flat_b, axis=1))


def test_identify_defaults_to_every_layer_and_subject_downloading_with_progress(
        replica, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog, _, _ = replica
    data_dir = tmp_path / "data"          # nothing cached: the default download=True fetches
    result = identify("AlexNet", data_dir=data_dir, catalog=catalog)
    assert "decodedDNN-decoded-AlexNet-fc8.zip" in capsys.readouterr().err  # progress=True
    assert result.layers == ("conv1", "fc8")
    assert result.subjects == ("S1", "S2", "S3", "Averaged")
    assert (result.method, result.chance, result.network) == ("pairwise", 0.5, "AlexNet")
    assert result.description == "each image against the other test images"
    assert result.scores.shape == (4, 2, 50)
    options = {"data_dir": data_dir, "catalog": catalog, "download": False}
    for column, layer in enumerate(result.layers):
        true = brainfeat.load("true", "AlexNet", layer, **options)
        for row, subject in enumerate(result.subjects):
            decoded = brainfeat.load("decoded", "AlexNet", layer, subject, **options)
            expected = _rates(_correlations(decoded.values, true.values), np.arange(50))
            np.testing.assert_array_equal(result.scores[row, column], expected,
                                          err_msg=f"{subject} {layer}")


def test_identify_nway_defaults_and_every_parameter_passed_on(replica) -> None:
    _, _, options = replica
    true = brainfeat.load("true", "VGG19", "fc8", **options)
    decoded = brainfeat.load("decoded", "VGG19", "fc8", "S2", **options)
    default = identify("VGG19", ["fc8"], ["S2"], method="nway", **options)
    assert default.description == "10-way top-1, 100 draws, seed 0"
    assert default.chance == 0.1
    np.testing.assert_array_equal(default.scores[0, 0], nway_identification(
        decoded.values, true.values, n_way=10, top_k=1, n_draws=100, seed=0))
    given = identify("VGG19", ["fc8"], ["S2"], method="nway", n_way=5, top_k=2, n_draws=7,
                     seed=3, metric="cosine", **options)
    assert given.description == "5-way top-2, 7 draws, seed 3" and given.chance == 0.4
    np.testing.assert_array_equal(given.scores[0, 0], nway_identification(
        decoded.values, true.values, n_way=5, top_k=2, n_draws=7, seed=3, metric="cosine"))


def test_identify_pairwise_and_category_use_the_metric_given(replica) -> None:
    _, _, options = replica
    # fc8 of S3: a few images are not identified, and which differs between the metrics
    true = brainfeat.load("true", "AlexNet", "fc8", **options)
    decoded = brainfeat.load("decoded", "AlexNet", "fc8", "S3", **options)
    pairwise = identify("AlexNet", ["fc8"], ["S3"], metric="cosine", **options)
    np.testing.assert_array_equal(pairwise.scores[0, 0],
                                  _rates(_cosines(decoded.values, true.values), np.arange(50)))
    # one candidate per test synset, shifted: the shift changes cosines, not correlations
    synsets = [image.split("_")[0] for image in true.image_ids]
    candidates = true.values.reshape(50, -1).astype(np.float64)[::-1] + 3.0
    category = identify("AlexNet", ["fc8"], ["S3"], method="category", metric="cosine",
                        candidates=(candidates, synsets[::-1]), **options)
    assert category.description == "each image's synset among category-averaged candidates"
    np.testing.assert_array_equal(category.scores[0, 0], _rates(
        _cosines(decoded.values, candidates), np.arange(50)[::-1]))


@pytest.mark.parametrize("flavour", ["bdpy", "legacy"])
def test_identify_category_against_god_image_features(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path, flavour: str) -> None:
    """Published features stand in for the replica's, whose fc8 has a constant unit (a GOD
    column cannot be matched to a unit without variance, and such a file is refused)."""
    from brainfeat.catalog import Kind, Network, default_catalog
    from brainfeat.published import FeatureSet

    rng = np.random.default_rng(21)
    ids = default_catalog().test_image_ids
    true_values = rng.gamma(2.0, size=(50, 40))
    decoded_values = true_values + 2.0 * rng.normal(size=true_values.shape)

    def load_features(kind, network, layer, subject=None, **options):
        values = true_values if kind is Kind.TRUE else decoded_values
        return FeatureSet(values.astype(np.float32), ids, (40,), Network.ALEXNET, layer, kind,
                          subject)

    monkeypatch.setattr("brainfeat.evaluation.identify.load_features", load_features)
    true = load_features(Kind.TRUE, "AlexNet", "fc8")
    synsets = [image.split("_")[0] for image in ids] + [f"n{90000000 + k:08d}" for k in range(7)]
    averages = rng.normal(size=(len(synsets), 40))
    path = _god_file(tmp_path / "ImageFeatures.h5", true, averages, synsets,
                     rng.permutation(40))
    if flavour == "legacy":               # the group names of older BData files
        with h5py.File(path, "a") as handle:
            handle.move("metadata", "metaData")
            handle.move("dataset", "dataSet")
    result = identify("AlexNet", ["fc8"], ["S1"], method="category", candidates=path,
                      download=False, progress=False)
    decoded = decoded_values.astype(np.float32)
    expected = _rates(_correlations(decoded, averages), np.arange(50))
    np.testing.assert_array_equal(result.scores[0, 0], expected)


def test_identify_refusals_say_what_was_given_and_what_is_expected(replica,
                                                                   tmp_path: Path) -> None:
    _, _, options = replica
    cases = [
        ({"layers": ["fc8"], "method": "rank"}, UnknownNameError,
         "method='rank': expected one of pairwise, nway, category."),
        ({"layers": ["fc8"], "candidates": "x.h5"}, InvalidValueError,
         ("candidates= is needed by method='category' and used by no other method; got "
          "method='pairwise' with candidates=given.")),
        ({"layers": ["fc8"], "method": "category"}, InvalidValueError,
         ("candidates= is needed by method='category' and used by no other method; got "
          "method='category' with candidates=None.")),
        ({"layers": [], "subjects": ["S1"]}, UnknownNameError,
         ("identify needs at least one layer and one subject; got layers=[], "
          "subjects=['S1'].")),
        ({"layers": ["fc8"], "subjects": []}, UnknownNameError,
         ("identify needs at least one layer and one subject; got layers=['fc8'], "
          "subjects=[].")),
        ({"layers": ["fc8"], "subjects": ["S1"], "method": "category",
          "candidates": tmp_path / "nothere.h5"}, DataNotFoundError,
         (f"candidates file {tmp_path / 'nothere.h5'} does not exist: pass a features file "
          "written by brainfeat.features.extract or the GOD release's ImageFeatures.h5.")),
    ]
    for kwargs, error_type, message in cases:
        with pytest.raises(error_type) as error:
            identify("AlexNet", **kwargs, **options)
        assert str(error.value) == message
    # a file of another format: h5py's OSError, once let through, now a FormatError
    table = tmp_path / "candidates.csv"
    table.write_text("synset,unit0\nn01443537,0.5\n")
    with pytest.raises(FormatError) as error:
        identify("AlexNet", ["fc8"], ["S1"], method="category", candidates=table, **options)
    assert str(error.value).startswith(f"candidates file {table} is not a readable HDF5 file (")
    assert str(error.value).endswith(
        "): expected HDF5; pass a features file written by brainfeat.features.extract or the "
        "GOD release's ImageFeatures.h5.")


@pytest.mark.parametrize("dtype", [np.int64, np.longdouble])
def test_pattern_correlation_is_float64_whatever_the_statistics_dtype(dtype) -> None:
    rng = np.random.default_rng(9)
    pred, true = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
    mean, std = np.arange(8).astype(dtype), np.arange(1, 9).astype(dtype)
    found = pattern_correlation(pred, true, mean, std)
    assert found.dtype == np.float64
    z_mean, z_std = np.arange(8.0), np.arange(1.0, 9.0)
    expected = [np.corrcoef((p - z_mean) / z_std, (t - z_mean) / z_std)[0, 1]
                for p, t in zip(pred, true)]
    # float64 sums of 8 terms with |r| <= 1: a few ulps
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-12)
