"""Metrics against the lab's own code (bdpy golden files) and against naive loops."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from brainfeat.evaluation.facts import RANK_MATCH_FRACTION, conclude_rank, rank_agreements
from brainfeat.evaluation.identification import pairwise_identification
from brainfeat.evaluation.metrics import (
    RunningMean,
    averaged_decoded,
    intersubject_correlation,
    rank_ranges,
    rank_units,
    unit_correlation,
)
from brainfeat.evaluation.results import LayerCheck, SubjectCheck
from brainfeat.evaluation.statistics import layer_figure_stats
from solve_bounds import pearson_error_bound, unit_roundoff

GOLDEN = Path(__file__).parent / "golden" / "evaluation"
FLOAT32_EPS = unit_roundoff("float32")


def _assert_within(values, expected, tolerance) -> None:
    """Same NaN pattern, and |values - expected| <= tolerance (same shape, or per column)."""
    values, expected = np.ravel(values).astype(np.float64), np.ravel(expected).astype(np.float64)
    np.testing.assert_array_equal(np.isnan(values), np.isnan(expected))
    scored = ~np.isnan(expected)
    bound = np.broadcast_to(np.ravel(tolerance), values.shape)
    assert (np.abs(values - expected)[scored] <= bound[scored]).all()


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
    _assert_within(r, golden["accuracy"], pearson_error_bound(golden["pred"], golden["true"]))


@pytest.mark.parametrize("chunk_units", [1, 7, 64, 10_000])
def test_unit_correlation_chunking_does_not_change_result(chunk_units: int) -> None:
    golden = np.load(GOLDEN / "profile_correlation.npz")
    whole = unit_correlation(golden["pred"], golden["true"])
    chunked = unit_correlation(golden["pred"], golden["true"], chunk_units=chunk_units)
    _assert_within(chunked, whole, pearson_error_bound(golden["pred"], golden["true"]))


def test_unit_correlation_matches_naive_loop_and_nan_for_constant_units() -> None:
    rng = np.random.default_rng(3)
    true = rng.normal(size=(50, 6, 2, 2)).astype(np.float32)
    pred = (true + rng.normal(size=true.shape)).astype(np.float32)
    true[:, 1, 0, 1] = 0.1  # constant: the float mean is not exactly 0.1 -> must still be NaN
    r = unit_correlation(pred, true)
    flat_pred, flat_true = pred.reshape(50, -1), true.reshape(50, -1)
    expected = [_naive_pearson(flat_pred[:, j], flat_true[:, j]) for j in range(24)]
    _assert_within(r, expected, pearson_error_bound(pred, true))
    assert np.isnan(r[1 * 4 + 0 * 2 + 1]) and np.isnan(r).sum() == 1


def test_unit_correlation_accumulates_in_float64() -> None:
    rng = np.random.default_rng(5)
    base = rng.normal(size=(50, 3))
    true = (1e4 + base).astype(np.float32)
    pred = (1e4 + base + 0.1 * rng.normal(size=base.shape)).astype(np.float32)
    expected = [_naive_pearson(pred[:, j], true[:, j]) for j in range(3)]
    # The bound (~2e-11 for offsets of 1e4) is far below what float32 sums would lose (~1e-3).
    _assert_within(unit_correlation(pred, true), expected, pearson_error_bound(pred, true))


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
        subjects = [golden[f"{layer}/decoded/S{n}"] for n in range(1, 6)]
        mean = averaged_decoded(iter(subjects))
        # The stored mean was summed and rounded in float32: (5 + 1) roundings of mean |x|.
        scale = np.mean([np.abs(s.astype(np.float64)) for s in subjects], axis=0)
        _assert_within(mean, golden[f"{layer}/decoded/Averaged"], 6 * FLOAT32_EPS * scale)
        accuracy = unit_correlation(mean, golden[f"{layer}/true"])
        _assert_within(accuracy, golden[f"{layer}/accuracy/Averaged"],
                       pearson_error_bound(mean, golden[f"{layer}/true"], 6 * FLOAT32_EPS))


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
            a, b = accuracies[first], accuracies[second]
            keep = ~(np.isnan(a) | np.isnan(b))
            _assert_within(r, golden[f"{layer}/intersubject/{first}-{second}"],
                           pearson_error_bound(a[keep], b[keep]))


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


# --- Rank conventions and Figure 2 statistics on hand-made arrays ----------------------------

DESCENDING_1 = "descending (first = most accurate), NaN ranked last, 1-based"
DESCENDING_0 = "descending (first = most accurate), NaN ranked last, 0-based"


def test_rank_ranges_span_each_tied_group() -> None:
    accuracy = np.array([0.5, 0.1, 0.5, np.nan, 0.9, 0.1, 0.5])
    low, high = rank_ranges(accuracy)
    # 0.9 first; the three 0.5 take ranks 2-4; the two 0.1 take 5-6; NaN last.
    np.testing.assert_array_equal(low, [2, 5, 2, 7, 1, 5, 2])
    np.testing.assert_array_equal(high, [4, 6, 4, 7, 1, 6, 4])
    low, high = rank_ranges(accuracy, descending=False, nan="keep")
    np.testing.assert_array_equal(low, [3, 1, 3, np.nan, 6, 1, 3])
    np.testing.assert_array_equal(high, [5, 2, 5, np.nan, 6, 2, 5])


def test_rank_agreement_counts_tied_units_in_either_order() -> None:
    accuracy = np.array([0.5, 0.1, 0.5, np.nan, 0.9, 0.1])
    swapped = np.array([3, 5, 2, 6, 1, 4.0])       # both tied pairs in the other order
    assert rank_agreements(accuracy, swapped)[DESCENDING_1] == 1.0
    assert rank_agreements(accuracy, swapped - 1)[DESCENDING_0] == 1.0
    # 0.5 ranked 4th is outside its group's ranks 2-3: that unit (and the one displaced) disagree.
    assert rank_agreements(accuracy, np.array([4, 5, 2, 6, 1, 3.0]))[DESCENDING_1] == 4 / 6


def test_float64_ranks_stored_with_float32_accuracies_agree() -> None:
    """The lab may have ranked float64 accuracies and stored them as float32 (ties)."""
    rng = np.random.default_rng(0)
    exact = np.repeat(rng.uniform(-0.1, 0.6, 500), 8) + rng.uniform(0, 1e-9, 4000)
    lab_ranks = rank_units(exact)
    stored = exact.astype(np.float32)
    assert np.unique(stored).size < 600                          # float32 made ties
    assert (rank_units(stored) == lab_ranks).mean() < RANK_MATCH_FRACTION
    assert rank_agreements(stored, lab_ranks)[DESCENDING_1] == 1.0


def test_zero_and_one_based_rank_files_are_told_apart() -> None:
    accuracy = np.array([0.3, -0.2, 0.7, np.nan, 0.1])
    one_based = np.array([2, 4, 1, 5, 3.0])
    for shift, label, other in ((0, DESCENDING_1, DESCENDING_0), (1, DESCENDING_0, DESCENDING_1)):
        agreements = rank_agreements(accuracy, one_based - shift)
        assert agreements[label] == 1.0
        assert agreements[other] == 0.0


def _layer_with_rank_agreements(*files: dict[str, float]) -> LayerCheck:
    checks = tuple(SubjectCheck(network="AlexNet", layer="fc8", subject=f"S{i + 1}", n_units=5,
                                rank_agreement=agreements)
                   for i, agreements in enumerate(files))
    return LayerCheck(network="AlexNet", layer="fc8", n_units=5, subjects=checks)


def test_tied_conventions_are_all_named() -> None:
    # No NaN accuracy: "NaN last" and "NaN first" rank the same, and the finding says so.
    accuracy = np.array([0.3, -0.2, 0.7, 0.1])
    agreements = rank_agreements(accuracy, np.array([2, 4, 1, 3.0]))
    finding, policy = conclude_rank([_layer_with_rank_agreements(agreements)])
    assert policy == DESCENDING_1 and not finding.settled
    assert "equally under descending (first = most accurate), NaN ranked first, 1-based" in (
        finding.evidence)
    assert "NaN accuracies: undetermined" in finding.conclusion


def test_figure2_statistics_equal_plain_numpy() -> None:
    # Values in the middle of Figure 2a's histogram bins (width 0.02 from -1).
    s1 = np.array([0.11, 0.51, -0.19, np.nan, 0.81, 0.31])
    s2 = np.array([0.21, 0.41, -0.09, 0.61, 0.71, np.nan])
    s3 = np.array([0.91, -0.29, 0.11, 0.21, 0.01, 0.41])
    stats = layer_figure_stats({"S1": s1, "S2": s2, "S3": s3}, "AlexNet", "fc8",
                               source="published")
    pooled = [v for s in (s1, s2, s3) for v in s if v == v]
    assert stats.n_scored == len(pooled) == 16
    assert stats.mean_accuracy == pytest.approx(sum(pooled) / 16, rel=1e-15)
    expected = {}
    for name, (a, b) in {"S1-S2": (s1, s2), "S1-S3": (s1, s3), "S2-S3": (s2, s3)}.items():
        keep = ~(np.isnan(a) | np.isnan(b))
        expected[name] = _naive_pearson(a[keep], b[keep])
        assert stats.pairs[name] == pytest.approx(expected[name], rel=1e-12)
    # The three r differ enough that their mean is not their median.
    mean = sum(expected.values()) / 3
    assert abs(mean - sorted(expected.values())[1]) > 0.1
    assert stats.mean_intersubject == pytest.approx(mean, rel=1e-12)
    counts = [0] * 100
    for value in pooled:
        counts[int((value + 1) * 50)] += 1                    # bin of width 0.02 from -1
    assert list(stats.histogram) == counts
    assert stats.scatter == ((0.11, 0.51, -0.19, 0.81), (0.21, 0.41, -0.09, 0.71))
