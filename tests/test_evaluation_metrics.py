"""Metrics against the lab's own code (bdpy golden files) and against naive loops."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from brainfeat.evaluation.metrics import (
    RunningMean,
    averaged_decoded,
    intersubject_correlation,
    pairwise_identification,
    rank_units,
    unit_correlation,
)

GOLDEN = Path(__file__).parent / "golden" / "evaluation"


def _naive_pearson(x: np.ndarray, y: np.ndarray) -> float:
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if max(x) == min(x) or max(y) == min(y):
        return float("nan")
    return sxy / (sxx * syy) ** 0.5


def test_unit_correlation_matches_bdpy_profile_correlation() -> None:
    golden = np.load(GOLDEN / "profile_correlation.npz")
    r = unit_correlation(golden["pred"], golden["true"])
    assert r.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(r), np.isnan(golden["accuracy"]))
    np.testing.assert_allclose(r, golden["accuracy"], rtol=0, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("chunk_units", [1, 7, 64, 10_000])
def test_unit_correlation_chunking_does_not_change_result(chunk_units: int) -> None:
    golden = np.load(GOLDEN / "profile_correlation.npz")
    whole = unit_correlation(golden["pred"], golden["true"])
    chunked = unit_correlation(golden["pred"], golden["true"], chunk_units=chunk_units)
    np.testing.assert_allclose(whole, chunked, rtol=0, atol=1e-14, equal_nan=True)


def test_unit_correlation_matches_naive_loop_and_nan_for_constant_units() -> None:
    rng = np.random.default_rng(3)
    true = rng.normal(size=(50, 6, 2, 2)).astype(np.float32)
    pred = (true + rng.normal(size=true.shape)).astype(np.float32)
    true[:, 1, 0, 1] = 0.1  # constant: the float mean is not exactly 0.1 -> must still be NaN
    r = unit_correlation(pred, true)
    flat_pred, flat_true = pred.reshape(50, -1), true.reshape(50, -1)
    expected = [_naive_pearson(flat_pred[:, j], flat_true[:, j]) for j in range(24)]
    np.testing.assert_allclose(r, expected, atol=1e-12, equal_nan=True)
    assert np.isnan(r[1 * 4 + 0 * 2 + 1]) and np.isnan(r).sum() == 1


def test_unit_correlation_accumulates_in_float64() -> None:
    rng = np.random.default_rng(5)
    base = rng.normal(size=(50, 3))
    true = (1e4 + base).astype(np.float32)
    pred = (1e4 + base + 0.1 * rng.normal(size=base.shape)).astype(np.float32)
    expected = [_naive_pearson(pred[:, j], true[:, j]) for j in range(3)]
    np.testing.assert_allclose(unit_correlation(pred, true), expected, atol=1e-12)


def test_unit_correlation_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(50, 4\).*\(49, 4\)"):
        unit_correlation(np.zeros((50, 4)), np.zeros((49, 4)))


def test_rank_units_policies_against_sorting_by_hand() -> None:
    rng = np.random.default_rng(11)
    accuracy = rng.uniform(-1, 1, size=30)
    accuracy[[4, 9]] = np.nan
    scored = [j for j in range(30) if not np.isnan(accuracy[j])]
    by_hand_desc = sorted(scored, key=lambda j: -accuracy[j])
    ranks = rank_units(accuracy)  # descending, NaN last
    for position, unit in enumerate(by_hand_desc, start=1):
        assert ranks[unit] == position
    assert sorted(ranks[[4, 9]]) == [29.0, 30.0]
    ascending_first = rank_units(accuracy, descending=False, nan="first")
    assert sorted(ascending_first[[4, 9]]) == [1.0, 2.0]
    assert ascending_first[by_hand_desc[-1]] == 3.0
    kept = rank_units(accuracy, nan="keep")
    assert np.isnan(kept[[4, 9]]).all()
    np.testing.assert_array_equal(np.sort(kept[~np.isnan(kept)]), np.arange(1, 29))


def test_rank_units_matches_golden_scipy_rankdata() -> None:
    golden = np.load(GOLDEN / "published_layers.npz")
    for key in golden.files:
        if "/rank/" in key:
            accuracy = golden[key.replace("/rank/", "/accuracy/")]
            np.testing.assert_array_equal(rank_units(accuracy), golden[key], err_msg=key)


def test_rank_units_rejects_unknown_nan_policy() -> None:
    with pytest.raises(ValueError, match="nan='middle'"):
        rank_units(np.zeros(3), nan="middle")  # type: ignore[arg-type]


def test_averaged_decoded_matches_golden_average_and_accuracy() -> None:
    golden = np.load(GOLDEN / "published_layers.npz")
    for layer in ("conv_a", "fc_b"):
        subjects = (golden[f"{layer}/decoded/S{n}"] for n in range(1, 6))
        mean = averaged_decoded(subjects)
        np.testing.assert_allclose(mean, golden[f"{layer}/decoded/Averaged"], atol=1e-6)
        accuracy = unit_correlation(mean, golden[f"{layer}/true"])
        np.testing.assert_allclose(accuracy, golden[f"{layer}/accuracy/Averaged"],
                                   atol=1e-6, equal_nan=True)


def test_running_mean_rejects_mismatched_shapes() -> None:
    mean = RunningMean()
    mean.add(np.zeros((50, 4)))
    with pytest.raises(ValueError, match=r"\(50, 5\)"):
        mean.add(np.zeros((50, 5)))


def test_intersubject_correlation_matches_golden_pairs() -> None:
    golden = np.load(GOLDEN / "published_layers.npz")
    for layer in ("conv_a", "fc_b"):
        accuracies = {f"S{n}": golden[f"{layer}/accuracy/S{n}"] for n in range(1, 6)}
        pairs = intersubject_correlation(accuracies)
        assert list(pairs) == list(itertools.combinations(accuracies, 2))
        for (first, second), r in pairs.items():
            assert r == pytest.approx(float(golden[f"{layer}/intersubject/{first}-{second}"]),
                                      abs=1e-12)


def test_intersubject_correlation_uses_pairwise_complete_units() -> None:
    a = np.array([0.1, 0.2, np.nan, 0.4, 0.5])
    b = np.array([0.0, np.nan, 0.3, 0.5, 0.4])
    pairs = intersubject_correlation({"S1": a, "S2": b})
    assert pairs[("S1", "S2")] == pytest.approx(_naive_pearson([0.1, 0.4, 0.5], [0.0, 0.5, 0.4]))


def test_pairwise_identification_matches_bdpy() -> None:
    golden = np.load(GOLDEN / "pairwise_identification.npz")
    np.testing.assert_allclose(pairwise_identification(golden["pred"], golden["true"]),
                               golden["accuracy"], atol=1e-12)


def test_pairwise_identification_perfect_and_naive() -> None:
    rng = np.random.default_rng(8)
    true = rng.normal(size=(6, 20))
    assert np.all(pairwise_identification(true, true) == 1.0)
    pred = true + 2 * rng.normal(size=true.shape)
    sims = [[_naive_pearson(pred[i], true[j]) for j in range(6)] for i in range(6)]
    expected = [sum(sims[i][j] < sims[i][i] for j in range(6) if j != i) / 5 for i in range(6)]
    np.testing.assert_allclose(pairwise_identification(pred, true), expected)
