"""Identification against the lab's own code (bdpy golden files) and against exact counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.linalg
import pytest
from scipy.stats import hypergeom

from brainfeat.errors import InvalidValueError, ShapeMismatchError, UnknownNameError
from brainfeat.evaluation.identification import (
    category_averages,
    category_identification,
    nway_identification,
    pairwise_identification,
    pattern_correlation,
)

GOLDEN = Path(__file__).parent / "golden" / "identification"


@pytest.mark.parametrize("metric", ["correlation", "cosine", "euclidean"])
def test_pairwise_matches_bdpy_with_nan_units(metric: str) -> None:
    golden = np.load(GOLDEN / "pairwise.npz")
    with pytest.warns(RuntimeWarning, match="2 of 60 units hold NaN"):
        found = pairwise_identification(golden["pred"], golden["true"], metric=metric)
    # rates are counts / 19: equal exactly unless two similarities tie within rounding
    np.testing.assert_array_equal(found, golden[metric])


def test_pairwise_against_a_candidate_matrix_matches_bdpy() -> None:
    golden = np.load(GOLDEN / "pairwise_candidates.npz")
    found = pairwise_identification(golden["pred"], golden["true"], golden["candidates"])
    np.testing.assert_array_equal(found, golden["accuracy"])
    # the constant candidate is left out: 299 comparisons per sample
    assert set(np.round(found * 299, 9)) <= set(np.arange(300.0))


def test_category_identification_matches_god_code() -> None:
    golden = np.load(GOLDEN / "category.npz")
    found = category_identification(golden["decoded"], golden["categories"],
                                    golden["candidates"], golden["candidate_categories"])
    np.testing.assert_array_equal(found, golden["accuracy"])


def test_pattern_correlation_matches_bdpy() -> None:
    golden = np.load(GOLDEN / "pattern.npz")
    with pytest.warns(RuntimeWarning, match="1 of 30 units"):
        zscored = pattern_correlation(golden["pred"], golden["true"], golden["mean"],
                                      golden["std"])
    # well-conditioned float64 sums of 29 terms: agreement to a few ulps of r ~ 1
    np.testing.assert_allclose(zscored, golden["zscored"], rtol=0, atol=1e-12)
    with pytest.warns(RuntimeWarning):
        raw = pattern_correlation(golden["pred"], golden["true"])
    np.testing.assert_allclose(raw, golden["raw"], rtol=0, atol=1e-12)
    assert not np.allclose(zscored, raw)  # the training statistics matter


def test_pairwise_counts_lower_distractors_exactly() -> None:
    # sample 0: own r = 1; distractor similarities are known by construction
    true = np.array([[0., 1., 2., 3.], [3., 2., 1., 0.], [0., 1., 2., 3.5], [1., 0., 3., 2.]])
    assert pairwise_identification(true, true).tolist()[0] == 1.0
    pred = true[[1, 0, 2, 3]]  # samples 0 and 1 swapped: each beats only the other two?
    found = pairwise_identification(pred, true)
    sim = np.corrcoef(pred, true)[:4, 4:]
    expected = [np.mean(np.delete(sim[i], i) < sim[i, i]) for i in range(4)]
    np.testing.assert_array_equal(found, expected)
    assert found[0] == 0.0  # its own target is the least similar of all


def test_exact_ties_count_against_the_sample() -> None:
    # Rows of a Hadamard matrix (+-1, zero mean, orthogonal): every similarity is a multiple of
    # 1/16 computed exactly in any summation order, so the ties below are exact on every BLAS.
    true = scipy.linalg.hadamard(16)[1:6].astype(float)
    # each target's exact copy sits among the candidates: a tie, not a lower similarity
    np.testing.assert_array_equal(pairwise_identification(true, true, true), 4 / 5)


def test_category_identification_refuses_bad_candidates() -> None:
    rng = np.random.default_rng(0)
    decoded, candidates = rng.normal(size=(3, 10)), rng.normal(size=(5, 10))
    names = ["a", "b", "c", "d", "e"]
    with pytest.raises(ShapeMismatchError, match="have 9 units per row .* have 10"):
        category_identification(decoded, names[:3], candidates[:, :9], names)
    with pytest.raises(UnknownNameError, match=r"\['z'\]"):
        category_identification(decoded, ["a", "z", "c"], candidates, names)
    with pytest.raises(UnknownNameError, match="repeats"):
        category_identification(decoded, names[:3], candidates, ["a", "b", "c", "d", "a"])
    with pytest.raises(ShapeMismatchError, match="2 labels for 3 rows"):
        category_identification(decoded, names[:2], candidates, names)
    decoded[1, 4] = np.nan
    with pytest.raises(ShapeMismatchError, match=r"units \[4\].*drop_nan_units=True"):
        category_identification(decoded, names[:3], candidates, names)
    with pytest.warns(RuntimeWarning, match="1 of 10 units"):
        kept = category_identification(decoded, names[:3], candidates, names,
                                       drop_nan_units=True)
    expected = category_identification(np.delete(decoded, 4, 1), names[:3],
                                       np.delete(candidates, 4, 1), names)
    np.testing.assert_array_equal(kept, expected)


def test_pairwise_refuses_mismatched_shapes_and_metrics() -> None:
    a = np.zeros((4, 6))
    with pytest.raises(ShapeMismatchError, match=r"\(4, 6\).*\(4, 5\)"):
        pairwise_identification(a, a[:, :5])
    with pytest.raises(ShapeMismatchError, match="candidates have 5 units"):
        pairwise_identification(a, a, a[:, :5])
    with pytest.raises(UnknownNameError, match="'spearman'"):
        pairwise_identification(a, a, metric="spearman")  # type: ignore[arg-type]


def test_category_averages_group_by_synset() -> None:
    features = np.arange(12.0).reshape(4, 3)
    averages, categories = category_averages(features, ["n02_1", "n01_5", "n02_7", "n01_2"])
    assert categories == ("n02", "n01")
    np.testing.assert_array_equal(averages, [[3., 4., 5.], [6., 7., 8.]])


def test_nway_identification_is_seeded_and_has_the_right_expectation() -> None:
    rng = np.random.default_rng(3)
    true = rng.normal(size=(30, 40))
    pred = 0.3 * true + rng.normal(size=true.shape)
    first = nway_identification(pred, true, n_way=10, top_k=2, n_draws=400, seed=7)
    np.testing.assert_array_equal(first, nway_identification(pred, true, n_way=10, top_k=2,
                                                            n_draws=400, seed=7))
    assert not np.array_equal(first, nway_identification(pred, true, n_way=10, top_k=2,
                                                         n_draws=400, seed=8))
    # all 29 distractors at once: a hit iff fewer than top_k beat the target
    sim = np.corrcoef(pred, true)[:30, 30:]
    better = np.array([np.sum(np.delete(sim[i], i) > sim[i, i]) for i in range(30)])
    np.testing.assert_array_equal(nway_identification(pred, true, n_way=30, top_k=2, n_draws=3),
                                  (better < 2).astype(float))
    # with 9 of 29 drawn, the number drawn that beat the target is hypergeometric
    expected = hypergeom(29, better, 9).cdf(1)
    standard_error = np.sqrt(expected * (1 - expected) / 400)
    assert np.all(np.abs(first - expected) <= 5 * standard_error + 1e-12)
    with pytest.raises(InvalidValueError, match="n_way=31"):
        nway_identification(pred, true, n_way=31)
    with pytest.raises(InvalidValueError, match="top_k=0"):
        nway_identification(pred, true, top_k=0)


# -- candidates from the GOD release's ImageFeatures.h5 -----------------------------------

def _god_file(path: Path, true, averages, synsets, permutation, noise: float = 0.0) -> Path:
    """A BData file laid out as ImageFeatures.h5, cnn8 columns in ``permutation`` order."""
    from brainfeat.io.bdata import BDataBuilder, write_bdata
    from brainfeat.stimuli import name_to_id

    rng = np.random.default_rng(5)
    test = true.values[:, permutation] + noise * rng.normal(size=true.values.shape)
    rows = np.vstack([test, averages[:, permutation]])
    feature_type = np.r_[np.full(len(test), 2), np.full(50, 3), np.full(len(averages) - 50, 4)]
    cat_id = [int(name.split("_")[0][1:]) for name in true.image_ids]
    cat_id += [int(s[1:]) for s in synsets]
    image_id = [name_to_id(name) for name in true.image_ids] + [np.nan] * len(averages)
    builder = BDataBuilder()
    builder.add(feature_type, "FeatureType")
    builder.add(np.array(cat_id, float), "CatID")
    builder.add(np.array(image_id), "ImageID")
    builder.add(rows, "cnn8")
    builder.add(np.zeros((len(rows), 7)), "cnn7")
    return write_bdata(path, builder.build())


@pytest.fixture
def god_setup(tmp_path: Path):
    from brainfeat.catalog import Kind, Network, default_catalog
    from brainfeat.published import FeatureSet

    rng = np.random.default_rng(11)
    ids = default_catalog().test_image_ids
    true = FeatureSet(rng.gamma(2.0, size=(50, 40)).astype(np.float32), ids, (40,),
                      Network.ALEXNET, "fc8", Kind.TRUE, None)
    test_synsets = list(dict.fromkeys(name.split("_")[0] for name in ids))
    synsets = test_synsets + [f"n{90000000 + k:08d}" for k in range(20)]
    averages = rng.normal(size=(len(synsets), 40))
    return tmp_path, true, averages, synsets, rng.permutation(40)


def test_god_candidates_are_put_back_in_published_unit_order(god_setup) -> None:
    from brainfeat.evaluation.god_candidates import god_category_features

    folder, true, averages, synsets, permutation = god_setup
    path = _god_file(folder / "ImageFeatures.h5", true, averages, synsets, permutation)
    candidates, categories = god_category_features(path, true)
    assert categories == tuple(synsets)
    np.testing.assert_array_equal(candidates, averages)
    only_test, _ = god_category_features(path, true, feature_types=(3,))
    assert only_test.shape == (50, 40)


def test_god_candidates_refuse_what_does_not_match(god_setup) -> None:
    from dataclasses import replace

    from brainfeat.evaluation.god_candidates import god_category_features

    folder, true, averages, synsets, permutation = god_setup
    path = _god_file(folder / "a.h5", true, averages, synsets, permutation)
    with pytest.raises(UnknownNameError, match="AlexNet conv5.*only cnn8"):
        god_category_features(path, replace(true, layer="conv5"))
    with pytest.raises(ShapeMismatchError, match="cnn8 has 40 columns .* 39 units"):
        god_category_features(path, replace(true, values=true.values[:, :39], unit_shape=(39,)))
    noisy = _god_file(folder / "b.h5", true, averages, synsets, permutation, noise=5.0)
    with pytest.raises(ShapeMismatchError, match="do not match the units"):
        god_category_features(noisy, true)
    # matched one to one, but too loosely (r ~ 0.95) to be the same features
    close = _god_file(folder / "c.h5", true, averages, synsets, permutation, noise=0.5)
    with pytest.raises(ShapeMismatchError, match=r"[1-9]\d* columns below 0.99, 0 shared"):
        god_category_features(close, true)
