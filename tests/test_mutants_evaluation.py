"""Behaviour of brainfeat.evaluation that the other evaluation tests leave open.

Written against mutmut's mutants of brainfeat/evaluation/ (docs/mutation.md): the exact text
of the report table, findings, error messages and HTML pages (read back tag by tag); the JSON
and DataFrame forms of the results; the boundaries of every tolerance and argument check;
NaN, ties and empty inputs; the float64 and chunk-by-chunk arithmetic; what Figure 2 and the
profile figure draw, read back from matplotlib's artists. Every expected value is written by
hand or computed with plain numpy/scipy, never with the function under test.
"""

from __future__ import annotations

import json
import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pytest

from brainfeat.evaluation.metrics import (
    RunningMean,
    averaged_decoded,
    intersubject_correlation,
    rank_ranges,
    rank_units,
    unit_correlation,
)
from brainfeat.evaluation.results import (
    AveragedCheck,
    Figure2Comparison,
    Finding,
    LayerCheck,
    SubjectCheck,
    VerificationReport,
    format_number,
)
from brainfeat.evaluation.statistics import LayerFigureStats, layer_figure_stats

if TYPE_CHECKING:
    from brainfeat.evaluation.regenerated import RegeneratedCheck

POLICY = "descending (first = most accurate), NaN ranked last, 1-based"


# --- results.py: the report's table, JSON and DataFrame ---------------------------------------

def _report(*, dataset: str = "demo", synthetic: bool = True) -> VerificationReport:
    """Two subjects of one layer (one mismatching, one missing files) and two Figure 2 rows."""
    mismatch = SubjectCheck(
        network="AlexNet", layer="fc8", subject="S1", n_units=24,
        accuracy_max_abs_diff=1.5e-4, accuracy_fraction_within=23 / 24,
        accuracy_nan_mismatches=0, rank_agreement={POLICY: 0.5, "other": 0.25},
        rank_agreement_recomputed={POLICY: 0.75}, rank_policy=POLICY,
        problems=("published accuracy differs",))
    missing = SubjectCheck(network="AlexNet", layer="fc8", subject="S2", n_units=24,
                           missing=("true", "rank"), rank_policy=POLICY,
                           problems=("missing file(s): true, rank", "unreadable: x"))
    figure = LayerFigureStats(
        network="AlexNet", layer="fc8", subjects=("S1", "S2"), source="recomputed",
        mean_accuracy=0.25, n_scored=3, histogram=(1, 2), pairs={"S1-S2": float("nan")},
        mean_intersubject=float("nan"), scatter=((0.5,), (0.25,)))
    layer = LayerCheck(network="AlexNet", layer="fc8", n_units=24, subjects=(mismatch, missing),
                       true_min=-1.5e-5, mat_flavours={"v5": 3},
                       averaged=AveragedCheck(n_subjects=5, decoded_max_relative_diff=0.125),
                       figure=figure)
    return VerificationReport(
        dataset=dataset, synthetic=synthetic, tolerance=1e-4, layers=(layer,),
        findings=(Finding("rank", "descending", "2 of 2 files", True),
                  Finding("mat", "met v5 (3 files)", "", False)),
        figure2=(Figure2Comparison("AlexNet", "fc8", "mean accuracy", 0.48, 0.4912, 0.02),
                 Figure2Comparison("AlexNet", "fc8", "mean inter-subject r", 0.81, 0.7, 0.02)),
        figure2_note="read off the paper", rank_policy=POLICY, outputs={"json": "a.json"})


def test_format_table_is_exactly_the_documented_text() -> None:
    expected = """\
brainfeat verify: demo [SYNTHETIC: numbers mean nothing]
accuracy tolerance 0.0001

network  layer  subject  max|d acc|  within tol  rank agree  status
AlexNet  fc8    S1       1.50e-04    95.83%      50.00%      mismatch
AlexNet  fc8    S2       -           -           -           missing (true, rank)

What the files established:
  rank: descending
  mat: met v5 (3 files)

Figure 2 against the paper (+-0.02): read off the paper
  AlexNet fc8 mean accuracy: recomputed 0.491, published 0.48 -> ok
  AlexNet fc8 mean inter-subject r: recomputed 0.700, published 0.81 -> DIFFERS

4 problem(s):
  AlexNet fc8 S1: published accuracy differs
  AlexNet fc8 S2: missing file(s): true, rank
  AlexNet fc8 S2: unreadable: x
  AlexNet fc8: Figure 2 mean inter-subject r 0.700 vs published 0.81 (beyond +-0.02)"""
    assert _report().format_table() == expected


@pytest.mark.parametrize(("dataset", "synthetic", "first_line"), [
    ("demo", False, "brainfeat verify: demo"),
    ("SYNTHETIC replica", True, "brainfeat verify: SYNTHETIC replica"),
])
def test_format_table_tags_a_synthetic_dataset_once(dataset, synthetic, first_line) -> None:
    assert _report(dataset=dataset, synthetic=synthetic).format_table().splitlines()[0] == (
        first_line)


def test_format_table_of_an_agreeing_report_ends_with_no_problem() -> None:
    report = _report()
    ok_layer = LayerCheck(network="AlexNet", layer="fc8", n_units=24, subjects=(
        SubjectCheck(network="AlexNet", layer="fc8", subject="S1", n_units=24),))
    agreeing = VerificationReport(
        dataset="d", synthetic=False, tolerance=0.5, layers=(ok_layer,), findings=(),
        figure2=report.figure2[:1], figure2_note="", rank_policy=None)
    lines = agreeing.format_table().splitlines()
    assert lines[1] == "accuracy tolerance 0.5"
    assert lines[4] == "AlexNet  fc8    S1       -           -           -           ok"
    assert lines[-2:] == ["", "0 problem(s)."]
    assert "Figure 2 against the paper (+-0.02): " in lines
    assert agreeing.ok and not _report().ok


def test_report_problems_and_findings() -> None:
    report = _report()
    assert report.problems == (
        "AlexNet fc8 S1: published accuracy differs",
        "AlexNet fc8 S2: missing file(s): true, rank",
        "AlexNet fc8 S2: unreadable: x",
        "AlexNet fc8: Figure 2 mean inter-subject r 0.700 vs published 0.81 (beyond +-0.02)")
    assert report.finding("mat").conclusion == "met v5 (3 files)"
    from brainfeat.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match=r"^No finding on 'relu': topics are rank, mat\.$"):
        report.finding("relu")


def test_figure2_comparison_within_is_inclusive_of_the_tolerance() -> None:
    def within(recomputed: float) -> bool:
        return Figure2Comparison("AlexNet", "fc8", "s", 0.5, recomputed, 0.25).within

    # 0.25 and 0.5 are exact in binary: the boundary itself is inside.
    assert within(0.75) and within(0.25) and within(0.5)
    assert not within(0.75 + 1e-9) and not within(0.25 - 1e-9)


def test_subject_check_status_and_rank_fraction() -> None:
    base = {"network": "AlexNet", "layer": "fc8", "subject": "S1", "n_units": 4}
    assert SubjectCheck(**base).status == "ok"
    assert SubjectCheck(**base, problems=("x",)).status == "mismatch"
    assert SubjectCheck(**base, errors=("bad",), problems=("x",)).status == "unreadable"
    assert SubjectCheck(**base, missing=("rank",), errors=("bad",)).status == "missing"
    assert SubjectCheck(**base, rank_agreement={"P": 0.5}).rank_fraction is None
    assert SubjectCheck(**base, rank_agreement={"P": 0.5}, rank_policy="P").rank_fraction == 0.5
    # the recomputed agreement stands in when the published accuracy was not read
    assert SubjectCheck(**base, rank_agreement_recomputed={"P": 0.25},
                        rank_policy="P").rank_fraction == 0.25
    assert SubjectCheck(**base, rank_agreement={"Q": 1.0}, rank_policy="P").rank_fraction is None


def test_to_dict_and_to_json_write_every_field_with_nan_as_null() -> None:
    report = _report()
    data = report.to_dict()
    assert data["dataset"] == "demo" and data["synthetic"] is True
    assert data["tolerance"] == 1e-4 and data["ok"] is False
    assert data["problems"] == list(report.problems)
    assert data["rank_policy"] == POLICY and data["outputs"] == {"json": "a.json"}
    assert data["findings"] == [
        {"topic": "rank", "conclusion": "descending", "evidence": "2 of 2 files", "settled": True},
        {"topic": "mat", "conclusion": "met v5 (3 files)", "evidence": "", "settled": False}]
    assert data["figure2_note"] == "read off the paper"
    assert data["figure2"] == [
        {"network": "AlexNet", "layer": "fc8", "statistic": "mean accuracy", "published": 0.48,
         "recomputed": 0.4912, "tolerance": 0.02, "within": True},
        {"network": "AlexNet", "layer": "fc8", "statistic": "mean inter-subject r",
         "published": 0.81, "recomputed": 0.7, "tolerance": 0.02, "within": False}]
    layer = data["layers"][0]
    assert {k: layer[k] for k in ("network", "layer", "n_units", "true_min", "mat_flavours")} == {
        "network": "AlexNet", "layer": "fc8", "n_units": 24, "true_min": -1.5e-5,
        "mat_flavours": {"v5": 3}}
    assert layer["averaged"] == {
        "n_subjects": 5, "decoded_max_relative_diff": 0.125,
        "mean_then_score_max_abs_diff": None, "mean_then_score_fraction_within": None,
        "mean_of_accuracies_max_abs_diff": None, "mean_of_accuracies_fraction_within": None}
    assert layer["figure"] == {
        "network": "AlexNet", "layer": "fc8", "subjects": ["S1", "S2"], "source": "recomputed",
        "mean_accuracy": 0.25, "n_scored": 3, "histogram": [1, 2], "pairs": {"S1-S2": None},
        "mean_intersubject": None, "scatter": [[0.5], [0.25]]}
    first, second = layer["subjects"]
    assert first == {
        "network": "AlexNet", "layer": "fc8", "subject": "S1", "n_units": 24, "missing": [],
        "errors": [], "accuracy_max_abs_diff": 1.5e-4, "accuracy_fraction_within": 23 / 24,
        "accuracy_nan_mismatches": 0, "rank_agreement": {POLICY: 0.5, "other": 0.25},
        "rank_agreement_recomputed": {POLICY: 0.75}, "rank_policy": POLICY,
        "problems": ["published accuracy differs"], "status": "mismatch", "rank_fraction": 0.5}
    assert second["missing"] == ["true", "rank"] and second["status"] == "missing"
    assert second["rank_fraction"] is None
    text = report.to_json()
    assert json.loads(text) == data
    assert text.splitlines()[1] == ' "dataset": "demo",'  # indent of one space per level
    bare = LayerCheck(network="AlexNet", layer="fc8", n_units=1, subjects=())
    empty = VerificationReport(dataset="d", synthetic=False, tolerance=0.0, layers=(bare,),
                               findings=(), figure2=(), figure2_note="", rank_policy=None)
    assert empty.to_dict()["layers"][0]["averaged"] is None
    assert empty.to_dict()["layers"][0]["figure"] is None


def test_to_json_writes_infinities_as_null() -> None:
    report = _report()
    report = VerificationReport(**{**vars(report), "tolerance": math.inf})
    assert json.loads(report.to_json())["tolerance"] is None


def test_to_frame_one_row_per_subject_with_nan_for_what_was_not_compared() -> None:
    frame = _report().to_frame()
    assert list(frame.columns) == [
        "network", "layer", "subject", "n_units", "accuracy_max_abs_diff",
        "accuracy_fraction_within", "accuracy_nan_mismatches", "rank_policy", "rank_fraction",
        "status", "problems"]
    for column in ("accuracy_max_abs_diff", "accuracy_fraction_within",
                   "accuracy_nan_mismatches", "rank_fraction"):
        assert frame[column].dtype == np.float64, column
    first, second = frame.to_dict("records")
    assert first == {
        "network": "AlexNet", "layer": "fc8", "subject": "S1", "n_units": 24,
        "accuracy_max_abs_diff": 1.5e-4, "accuracy_fraction_within": 23 / 24,
        "accuracy_nan_mismatches": 0.0, "rank_policy": POLICY, "rank_fraction": 0.5,
        "status": "mismatch", "problems": "published accuracy differs"}
    assert np.isnan([second[c] for c in ("accuracy_max_abs_diff", "accuracy_fraction_within",
                                         "accuracy_nan_mismatches", "rank_fraction")]).all()
    assert second["problems"] == "missing file(s): true, rank; unreadable: x"


@pytest.mark.parametrize(("value", "text"), [
    (None, "-"), (float("nan"), "-"), (np.float64("nan"), "-"), (0.5, "50.0%"), (3, "300.0%")])
def test_format_number(value, text) -> None:
    assert format_number(value, ".1%") == text


# --- statistics.py: Figure 2 statistics ------------------------------------------------------

def test_figure_stats_round_trip_through_json_with_nan() -> None:
    stats = LayerFigureStats(
        network="VGG19", layer="conv1_1", subjects=("S1", "S2", "S3"), source="published",
        mean_accuracy=float("nan"), n_scored=0, histogram=(0, 3, 1),
        pairs={"S1-S2": 0.5, "S1-S3": float("nan")}, mean_intersubject=0.5,
        scatter=((0.25, -0.5), (0.125, 1.0)))
    data = json.loads(json.dumps(stats.to_dict(), allow_nan=False))
    assert data == {
        "network": "VGG19", "layer": "conv1_1", "subjects": ["S1", "S2", "S3"],
        "source": "published", "mean_accuracy": None, "n_scored": 0, "histogram": [0, 3, 1],
        "pairs": {"S1-S2": 0.5, "S1-S3": None}, "mean_intersubject": 0.5,
        "scatter": [[0.25, -0.5], [0.125, 1.0]]}
    back = LayerFigureStats.from_dict(data)
    assert back.network == "VGG19" and back.layer == "conv1_1" and back.source == "published"
    assert back.subjects == ("S1", "S2", "S3") and back.n_scored == 0
    assert back.histogram == (0, 3, 1) and back.scatter == ((0.25, -0.5), (0.125, 1.0))
    assert math.isnan(back.mean_accuracy) and back.mean_intersubject == 0.5
    assert back.pairs["S1-S2"] == 0.5 and math.isnan(back.pairs["S1-S3"])
    assert list(back.pairs) == ["S1-S2", "S1-S3"]
    # types as the dataclass declares them, whatever JSON gave back
    typed = LayerFigureStats.from_dict({**data, "n_scored": 2.0, "histogram": [1.0, 2.0],
                                        "mean_accuracy": 1, "network": 5})
    assert typed.n_scored == 2 and type(typed.n_scored) is int
    assert [type(c) for c in typed.histogram] == [int, int]
    assert type(typed.mean_accuracy) is float and typed.mean_accuracy == 1.0
    assert typed.network == "5"


def test_figure_stats_of_one_subject_and_of_nothing_scored() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no "mean of empty slice" warning
        one = layer_figure_stats({"S3": np.array([0.5, np.nan, -0.25])}, "AlexNet", "fc8",
                                 source="published")
    assert one.subjects == ("S3",) and one.pairs == {} and math.isnan(one.mean_intersubject)
    assert one.n_scored == 2 and one.mean_accuracy == 0.125
    assert one.scatter == ((), ())
    assert (one.network, one.layer, one.source) == ("AlexNet", "fc8", "published")
    nothing = layer_figure_stats({"S1": np.full(3, np.nan), "S2": np.full(3, np.nan)},
                                 "AlexNet", "fc8", source="recomputed")
    assert nothing.n_scored == 0 and math.isnan(nothing.mean_accuracy)
    assert math.isnan(nothing.pairs["S1-S2"]) and math.isnan(nothing.mean_intersubject)
    assert nothing.histogram == (0,) * 100 and nothing.scatter == ((), ())


def test_figure_stats_histogram_covers_minus_one_to_one_in_100_bins() -> None:
    values = np.array([-1.0, -0.99, 0.0, 0.99, 1.0])
    stats = layer_figure_stats({"S1": values.reshape(1, 5)}, "AlexNet", "fc8", source="x")
    counts = [0] * 100
    for bin_index in (0, 0, 50, 99, 99):   # -1 and 1 fall in the first and the last bin
        counts[bin_index] += 1
    assert list(stats.histogram) == counts
    assert all(type(count) is int for count in stats.histogram)


def test_figure_stats_mean_intersubject_ignores_pairs_without_two_shared_units() -> None:
    s1 = np.array([0.1, 0.5, 0.2, np.nan])
    s2 = np.array([0.3, 0.1, 0.4, 0.2])
    s3 = np.array([np.nan, np.nan, np.nan, 0.7])     # shares one unit with each: NaN pairs
    stats = layer_figure_stats({"S1": s1, "S2": s2, "S3": s3}, "AlexNet", "fc8", source="x")
    assert math.isnan(stats.pairs["S1-S3"]) and math.isnan(stats.pairs["S2-S3"])
    expected = np.corrcoef(s1[:3], s2[:3])[0, 1]
    assert stats.mean_intersubject == pytest.approx(expected, rel=1e-12)


def test_figure2b_shows_1000_distinct_sorted_units_scored_by_both() -> None:
    rng = np.random.default_rng(4)
    s1, s2 = rng.uniform(-1, 1, 1500), rng.uniform(-1, 1, 1500)
    s1[:200] = np.nan                                  # 1300 units scored by both
    s2[1400:] = np.nan
    stats = layer_figure_stats({"S1": s1, "S2": s2}, "AlexNet", "fc8", source="x")
    first, second = (np.array(side) for side in stats.scatter)
    assert first.size == second.size == 1000
    units = [int(np.flatnonzero(s1 == value)[0]) for value in first]
    assert units == sorted(set(units))                 # distinct units, in unit order
    assert all(200 <= unit < 1400 for unit in units)
    np.testing.assert_array_equal(second, s2[units])
    again = layer_figure_stats({"S1": s1, "S2": s2}, "AlexNet", "fc8", source="x", seed=0)
    other = layer_figure_stats({"S1": s1, "S2": s2}, "AlexNet", "fc8", source="x", seed=1)
    assert again.scatter == stats.scatter and other.scatter != stats.scatter
    few = layer_figure_stats({"S2": s2[1390:1405], "S1": s1[1390:1405]}, "A", "l", source="x")
    assert few.scatter == (tuple(s1[1390:1400]), tuple(s2[1390:1400]))


# --- metrics.py: argument checks and boundaries ----------------------------------------------

def test_unit_correlation_needs_a_matrix_and_two_images() -> None:
    with pytest.raises(ValueError, match=r"pred has shape \(5,\)"):
        unit_correlation(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match=r"true has shape \(5,\)"):
        unit_correlation(np.zeros((5, 1)), np.zeros(5))
    with pytest.raises(ValueError, match="at least 2 images to correlate, got 1"):
        unit_correlation(np.zeros((1, 3)), np.zeros((1, 3)))
    two = unit_correlation(np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[0.0, 0.0], [2.0, 2.0]]))
    np.testing.assert_array_equal(two, [1.0, -1.0])
    with pytest.raises(ValueError, match="chunk_units must be a positive integer, got 0"):
        unit_correlation(np.eye(3), np.eye(3), chunk_units=0)


def test_unit_correlation_is_clipped_to_one_and_nan_for_constant_pred() -> None:
    rng = np.random.default_rng(2)
    true = rng.normal(size=(50, 200))
    r = unit_correlation(3 * true + 1, true)
    assert r.dtype == np.float64 and r.shape == (200,)
    assert r.max() == 1.0 and r.min() >= 1 - 1e-12      # never above 1 by rounding
    assert unit_correlation(-3 * true, true).min() == -1.0
    # float64 0.1 minus its own mean is not exactly 0: only the constancy test makes these NaN
    pred, constant_true = true.copy(), true.copy()
    pred[:, 7] = 0.1                                     # constant decoded unit
    constant_true[:, 8] = 0.1                            # constant true unit
    r = unit_correlation(pred, constant_true)
    assert np.flatnonzero(np.isnan(r)).tolist() == [7, 8]
    nan_input = true.copy()
    nan_input[3, 9] = np.nan
    assert np.flatnonzero(np.isnan(unit_correlation(nan_input, true))).tolist() == [9]


def test_an_infinite_value_makes_its_unit_nan_without_numpy_warnings() -> None:
    rng = np.random.default_rng(9)
    pred, true = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    expected = unit_correlation(pred, true)
    pred[2, 1], true[4, 3] = np.inf, -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # numpy's "invalid value" included
        r = unit_correlation(pred, true, chunk_units=2)
    assert np.flatnonzero(np.isnan(r)).tolist() == [1, 3]
    np.testing.assert_array_equal(r[[0, 2, 4]], expected[[0, 2, 4]])


def test_unit_correlation_does_not_touch_its_inputs() -> None:
    rng = np.random.default_rng(6)
    pred, true = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    pred_copy, true_copy = pred.copy(), true.copy()
    unit_correlation(pred, true)
    np.testing.assert_array_equal(pred, pred_copy)
    np.testing.assert_array_equal(true, true_copy)


def test_rank_units_ties_go_by_unit_index_and_nan_first_ascending() -> None:
    accuracy = np.array([0.2, 0.5, 0.2, np.nan, 0.5, -0.1])
    np.testing.assert_array_equal(rank_units(accuracy), [3, 1, 4, 6, 2, 5])
    np.testing.assert_array_equal(rank_units(accuracy, descending=False), [2, 4, 3, 6, 5, 1])
    np.testing.assert_array_equal(rank_units(accuracy, nan="first"), [4, 2, 5, 1, 3, 6])
    np.testing.assert_array_equal(rank_units(accuracy, descending=False, nan="first"),
                                  [3, 5, 4, 1, 6, 2])
    np.testing.assert_array_equal(rank_units(accuracy, descending=False, nan="keep"),
                                  [2, 4, 3, np.nan, 5, 1])
    assert rank_units(accuracy.reshape(2, 3)).shape == (6,)
    assert rank_units(accuracy).dtype == np.float64
    np.testing.assert_array_equal(accuracy[:3], [0.2, 0.5, 0.2])   # input untouched


def test_rank_ranges_of_all_nan_and_of_nan_first() -> None:
    low, high = rank_ranges(np.array([np.nan, 0.3, np.nan]), nan="first")
    np.testing.assert_array_equal(low, [1, 3, 1])
    np.testing.assert_array_equal(high, [2, 3, 2])
    low, high = rank_ranges(np.array([np.nan, np.nan]), nan="keep")
    assert np.isnan(low).all() and np.isnan(high).all()
    low, high = rank_ranges(np.array([0.1, 0.1, 0.1]))
    np.testing.assert_array_equal(low, [1, 1, 1])
    np.testing.assert_array_equal(high, [3, 3, 3])
    # +inf and NaN are not tied with each other
    low, high = rank_ranges(np.array([np.inf, np.nan, 0.5]))
    np.testing.assert_array_equal(low, [1, 3, 2])
    np.testing.assert_array_equal(high, [1, 3, 2])
    low, high = rank_ranges(np.array([]))                # a layer without units
    assert low.shape == high.shape == (0,)


def test_running_mean_sums_chunk_by_chunk_in_float64() -> None:
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=(3, 2, 5)).astype(np.float32) for _ in range(3)]
    mean = RunningMean()
    for array in arrays:
        mean.add(array, chunk_units=3)                 # 10 units in chunks of 3, 3, 3, 1
    assert mean.count == 3
    result = mean.result()
    assert result.dtype == np.float64 and result.shape == (3, 10)
    by_hand = sum(a.astype(np.float64) for a in arrays).reshape(3, 10) / 3
    np.testing.assert_array_equal(result, by_hand)
    with pytest.raises(ValueError, match=r"called before any array was added"):
        mean.result()                                  # the sum is handed over once
    with pytest.raises(ValueError, match=r"array has shape \(4,\)"):
        RunningMean().add(np.zeros(4))
    with pytest.raises(ValueError, match="before any array"):
        averaged_decoded([])


def test_intersubject_correlation_refuses_vectors_of_different_lengths() -> None:
    with pytest.raises(ValueError, match=r"differ in length \{'S1': 3, 'S2': 4\}"):
        intersubject_correlation({"S1": np.zeros(3), "S2": np.zeros(4)})
    pairs = intersubject_correlation({"S1": np.array([0.1, 0.2, np.nan]),
                                      "S2": np.array([0.3, np.nan, 0.1]),
                                      "S3": np.array([0.2, 0.1, 0.4])})
    assert math.isnan(pairs[("S1", "S2")])              # one shared unit
    assert pairs[("S1", "S3")] == pytest.approx(-1.0, abs=1e-12)
    assert pairs[("S2", "S3")] == pytest.approx(-1.0, abs=1e-12)
    assert all(type(r) is float for r in pairs.values())


# --- facts.py: what the findings say -----------------------------------------------------------

def _agreements(**fractions: float) -> dict[str, float]:
    """Agreement with every policy: 0 unless given (by label)."""
    from brainfeat.evaluation.facts import RANK_POLICIES

    return {policy.label: fractions.get(policy.label, 0.0) for policy in RANK_POLICIES}


def _rank_layer(*files: dict[str, float], recomputed: bool = False) -> LayerCheck:
    field = "rank_agreement_recomputed" if recomputed else "rank_agreement"
    checks = tuple(SubjectCheck(network="AlexNet", layer="fc8", subject=f"S{i + 1}", n_units=4,
                                **{field: agreements})
                   for i, agreements in enumerate(files))
    return LayerCheck(network="AlexNet", layer="fc8", n_units=4, subjects=checks)


ASCENDING_FIRST_0 = "ascending (first = least accurate), NaN ranked first, 0-based"
DESCENDING_KEEP_1 = "descending (first = most accurate), NaN left unranked, 1-based"
DESCENDING_FIRST_1 = "descending (first = most accurate), NaN ranked first, 1-based"


def test_policy_labels_cover_every_combination_once() -> None:
    from brainfeat.evaluation.facts import RANK_POLICIES

    labels = [policy.label for policy in RANK_POLICIES]
    assert len(set(labels)) == 12
    assert labels[:3] == [POLICY, "descending (first = most accurate), NaN ranked last, 0-based",
                          DESCENDING_FIRST_1]
    assert ASCENDING_FIRST_0 in labels and DESCENDING_KEEP_1 in labels


def test_conclude_rank_names_each_aspect_of_one_established_policy() -> None:
    from brainfeat.evaluation.facts import conclude_rank

    finding, policy = conclude_rank([_rank_layer(_agreements(**{ASCENDING_FIRST_0: 0.999}))])
    assert policy == ASCENDING_FIRST_0 and finding.settled and finding.topic == "rank"
    assert finding.conclusion == ("direction: ascending (rank 1 = least accurate unit); "
                                  "NaN accuracies: ranked first; numbering: 0-based")
    assert finding.evidence == ("1 of 1 rank files match (>= 99.9% of units, ties in either "
                                f"order) under {ASCENDING_FIRST_0}")
    finding, policy = conclude_rank([_rank_layer(_agreements(**{DESCENDING_KEEP_1: 1.0}),
                                                 recomputed=True)])
    assert policy == DESCENDING_KEEP_1
    assert finding.conclusion == ("direction: descending (rank 1 = most accurate unit); "
                                  "NaN accuracies: left unranked (NaN rank); numbering: 1-based")
    finding, _ = conclude_rank([_rank_layer(_agreements(**{POLICY: 1.0}))])
    assert "NaN accuracies: ranked after every scored unit" in finding.conclusion


def test_conclude_rank_takes_the_policy_most_files_match() -> None:
    from brainfeat.evaluation.facts import conclude_rank

    files = [_agreements(**{POLICY: 1.0, DESCENDING_FIRST_1: 1.0}),
             _agreements(**{DESCENDING_FIRST_1: 1.0, POLICY: 0.9989}),  # just below 0.999
             _agreements(**{DESCENDING_FIRST_1: 0.999})]                # exactly at it
    finding, policy = conclude_rank([_rank_layer(*files[:2]), _rank_layer(files[2])])
    assert policy == DESCENDING_FIRST_1 and finding.settled
    assert finding.evidence.startswith("3 of 3 rank files match")
    assert "equally under" not in finding.evidence


def test_conclude_rank_undetermined_aspects_and_no_match() -> None:
    from brainfeat.evaluation.facts import conclude_rank

    tied = _agreements(**{POLICY: 1.0, ASCENDING_FIRST_0: 1.0})
    finding, policy = conclude_rank([_rank_layer(tied)])
    assert policy == POLICY and not finding.settled
    assert finding.conclusion == (
        "direction: undetermined (the files do not tell ascending (rank 1 = least accurate "
        "unit) from descending (rank 1 = most accurate unit)); NaN accuracies: undetermined "
        "(the files do not tell ranked after every scored unit from ranked first); "
        "numbering: undetermined (the files do not tell 0-based from 1-based)")
    assert finding.evidence.endswith(f"under {POLICY}; equally under {ASCENDING_FIRST_0}")
    three = _agreements(**{POLICY: 1.0, DESCENDING_FIRST_1: 1.0, ASCENDING_FIRST_0: 1.0})
    finding, _ = conclude_rank([_rank_layer(three)])
    assert finding.evidence == (
        "1 of 1 rank files match (>= 99.9% of units, ties in either order) under "
        f"{POLICY}; equally under {DESCENDING_FIRST_1}; equally under {ASCENDING_FIRST_0}")
    near = [_agreements(**{POLICY: 0.5, ASCENDING_FIRST_0: 0.9}),
            _agreements(**{POLICY: 0.95, ASCENDING_FIRST_0: 0.998})]
    finding, policy = conclude_rank([_rank_layer(*near)])
    assert policy is None and finding.settled is False and finding.topic == "rank"
    assert finding.conclusion == "no tested rank convention reproduces the rank files"
    assert finding.evidence == f"2 rank files; closest: {ASCENDING_FIRST_0}"
    finding, policy = conclude_rank([_rank_layer(), _rank_layer(
        {}, recomputed=True)])
    assert policy is None
    assert (finding.topic, finding.conclusion, finding.evidence, finding.settled) == (
        "rank", "not tested: no rank file was read", "", False)


def _averaged_layer(then_score: float | None, of_maps: float | None,
                    decoded: float | None = None) -> LayerCheck:
    averaged = AveragedCheck(n_subjects=5, decoded_max_relative_diff=decoded,
                             mean_then_score_fraction_within=then_score,
                             mean_of_accuracies_fraction_within=of_maps)
    return LayerCheck(network="AlexNet", layer="fc8", n_units=4, subjects=(), averaged=averaged)


@pytest.mark.parametrize(("layers", "conclusion"), [
    ([(1.0, 0.5), (1.0, 1.0)], ("Averaged = the subjects' decoded features averaged, then "
                               "scored (not the mean of their accuracy maps)")),
    ([(0.5, 1.0), (1.0, 1.0)], "Averaged = the mean of the subjects' accuracy maps"),
    ([(1.0, 1.0), (1.0, 1.0)], "undetermined: both hypotheses reproduce the Averaged accuracy"),
    ([(1.0, 0.5), (0.5, 1.0)], ("neither hypothesis reproduces the Averaged accuracy in every "
                               "layer")),
    ([(0.5, 0.5), (0.5, 0.5)], ("neither hypothesis reproduces the Averaged accuracy in every "
                               "layer")),
])
def test_conclude_averaged(layers, conclusion) -> None:
    from brainfeat.evaluation.facts import conclude_averaged

    finding = conclude_averaged([_averaged_layer(*pair) for pair in layers], 1e-4)
    assert finding.topic == "averaged" and finding.conclusion == conclusion
    assert finding.settled is conclusion.startswith("Averaged =")


def test_conclude_averaged_evidence_counts_layers() -> None:
    from brainfeat.evaluation.facts import DECODED_RELATIVE_TOLERANCE, conclude_averaged

    layers = [_averaged_layer(1.0, 0.5, decoded=DECODED_RELATIVE_TOLERANCE),  # at the limit
              _averaged_layer(1.0, 1.0, decoded=2 * DECODED_RELATIVE_TOLERANCE),
              _averaged_layer(None, None),             # not decided; decoded not compared
              LayerCheck(network="AlexNet", layer="fc7", n_units=4, subjects=())]
    finding = conclude_averaged(layers, 0.5)
    assert finding.evidence == (
        "published Averaged accuracy within 0.5 of: decoded-mean-then-scored in 2 of 2 "
        "layers, mean of the subjects' accuracy maps in 1 of 2; published Averaged decoded "
        "= mean of the subjects' decoded in 2 of 3 layers")
    assert finding.settled
    for untested in ([_averaged_layer(None, 1.0)], []):
        finding = conclude_averaged(untested, 1e-4)
        assert (finding.topic, finding.conclusion, finding.evidence, finding.settled) == (
            "averaged", ("not tested: the Averaged accuracy or the subjects' decoded features "
            "were not all available"), "", False)


def _relu_layer(name: str, true_min: float | None) -> LayerCheck:
    return LayerCheck(network="AlexNet", layer=name, n_units=4, subjects=(), true_min=true_min)


@pytest.mark.parametrize(("minima", "conclusion", "evidence"), [
    ({"conv1": -0.5, "fc8": -1e-30, "fc7": None},
     "true features are pre-ReLU (every layer checked has negative values)",
     "negative true values in 2 of 2 layers"),
    ({"conv1": 0.0, "fc8": 2.0},
     "no negative true value: consistent with post-ReLU features (or non-negative by chance)",
     "negative true values in 0 of 2 layers; none in AlexNet conv1, AlexNet fc8"),
    ({"conv1": -0.5, "fc6": 0.0, "fc8": 1.0},
     "pre-ReLU in AlexNet conv1; no negative value in AlexNet fc6, AlexNet fc8",
     "negative true values in 1 of 3 layers; none in AlexNet fc6, AlexNet fc8"),
    ({"conv1": -0.5, "conv2": -0.25, "fc8": 1.0},
     "pre-ReLU in AlexNet conv1, AlexNet conv2; no negative value in AlexNet fc8",
     "negative true values in 2 of 3 layers; none in AlexNet fc8"),
])
def test_conclude_relu(minima, conclusion, evidence) -> None:
    from brainfeat.evaluation.facts import conclude_relu

    finding = conclude_relu([_relu_layer(name, value) for name, value in minima.items()])
    assert (finding.topic, finding.conclusion, finding.evidence, finding.settled) == (
        "relu", conclusion, evidence, True)


def test_conclude_relu_and_mat_without_files() -> None:
    from brainfeat.evaluation.facts import conclude_mat, conclude_relu

    finding = conclude_relu([_relu_layer("fc8", None)])
    assert (finding.topic, finding.conclusion, finding.evidence, finding.settled) == (
        "relu", "not tested: no true features were read", "", False)
    finding = conclude_mat([_relu_layer("fc8", None)])
    assert (finding.topic, finding.conclusion, finding.evidence, finding.settled) == (
        "mat", "not tested: no .mat file was found", "", False)


def test_conclude_mat_totals_flavours_over_layers() -> None:
    from brainfeat.evaluation.facts import conclude_mat

    layers = [LayerCheck(network="AlexNet", layer="fc8", n_units=4, subjects=(),
                         mat_flavours={"v7.3": 2, "v5": 3}),
              LayerCheck(network="AlexNet", layer="fc7", n_units=4, subjects=()),
              LayerCheck(network="VGG19", layer="fc8", n_units=4, subjects=(),
                         mat_flavours={"v5": 4})]
    finding = conclude_mat(layers)
    assert finding.conclusion == "met v5 (7 files), v7.3 (2 files)"
    assert finding.topic == "mat" and finding.settled is True
    assert finding.evidence == "AlexNet fc8: v5 3, v7.3 2; VGG19 fc8: v5 4"


@pytest.mark.parametrize(("head", "flavour"), [
    (b"MATLAB 7.3 MAT-file, Platform: GLNXA64", "v7.3"),
    (b"\x89HDF\r\n\x1a\n" + bytes(600), "v7.3"),
    (bytes(512) + b"\x89HDF\r\n\x1a\n", "v7.3"),         # after a 512-byte user block, to the end
    (bytes(511) + b"\x89HDF\r\n\x1a\n", "v4 or unknown"),
    (b"MATLAB 5.0 MAT-file, written by scipy" + bytes(200), "v5"),
    (b"matlab 5.0", "v4 or unknown"),
    (b"", "v4 or unknown"),
])
def test_mat_flavour_from_the_signature(tmp_path, head, flavour) -> None:
    from brainfeat.evaluation.facts import mat_flavour

    path = tmp_path / "x.mat"
    path.write_bytes(head)
    assert mat_flavour(path) == flavour
    assert mat_flavour(str(path)) == flavour


# --- report.py: the numbers and sentences of one check ----------------------------------------

def test_compare_accuracy_counts_the_tolerance_boundary_and_nan() -> None:
    from brainfeat.evaluation.report import _compare_accuracy

    # exact binary fractions: |0.75 - 0.5| is exactly the tolerance 0.25 (inside)
    mine = np.array([0.5, 0.25, np.nan, np.nan, 1.0, 0.0], dtype=np.float32)
    theirs = np.array([[0.75, 0.25, np.nan], [0.5, 0.5, -0.5]])
    found = _compare_accuracy(mine, theirs, 0.25, "accuracy_")
    assert found == {"accuracy_max_abs_diff": 0.5, "accuracy_fraction_within": 0.5,
                     "accuracy_nan_mismatches": 1}
    assert [type(v) for v in found.values()] == [float, float, int]
    assert _compare_accuracy(mine, theirs, 0.2499, "p_", ("fraction_within",)) == {
        "p_fraction_within": 2 / 6}
    nothing = _compare_accuracy(np.array([np.nan, np.nan, 0.25]),
                                np.array([np.nan, 0.5, np.nan]), 0.1, "")
    assert nothing == {"max_abs_diff": 0.0, "fraction_within": 1 / 3, "nan_mismatches": 2}


def test_max_relative_diff_and_min_read_every_chunk() -> None:
    from brainfeat.evaluation.metrics import DEFAULT_CHUNK_UNITS
    from brainfeat.evaluation.report import _max_relative_diff, _min

    n = DEFAULT_CHUNK_UNITS + 3                        # the last chunk holds 3 units
    reference = np.full((2, n), 0.5)
    reference[1, -1] = -4.0                            # largest magnitude in the last chunk
    values = reference.copy()
    values[0, 0] += 0.25
    values[1, -2] += 1.0                               # largest difference in the last chunk
    assert _max_relative_diff(values, reference) == 1.0 / 4.0
    assert _max_relative_diff(np.full((2, n), 0.5), np.zeros((2, n))) == 0.5  # no scale: absolute
    assert _max_relative_diff(reference, reference) == 0.0
    assert _max_relative_diff(np.full((2, 3), 0.75), np.full((2, 3), 0.5)) == 0.5   # / 0.5
    first = np.zeros((2, 3))
    first[1, 0] = 2.0                                  # all in column 0
    assert _max_relative_diff(first * 1.5, first) == 0.5
    with_nan = reference.copy()
    with_nan[0, 5] = np.nan
    assert _min(with_nan) == -4.0
    with_nan[1, -1] = 0.5
    with_nan[0, 1] = -0.125
    assert _min(with_nan) == -0.125
    assert type(_min(with_nan)) is float


def test_closest_names_every_tied_convention() -> None:
    from brainfeat.evaluation.report import _closest

    assert _closest({"A": 0.5, "B": 0.97, "C": 0.25}) == "B (97.0%)"
    assert _closest({"A": 0.97, "B": 0.5, "C": 0.97, "D": 0.97}) == (
        "A (97.0%), tied with C; D")
    assert _closest({"A": 0.5, "B": 0.25, "C": 0.5}) == "A (50.0%), tied with C"


def _subject(**fields) -> SubjectCheck:
    return SubjectCheck(**{"network": "AlexNet", "layer": "fc8", "subject": "S1",
                           "n_units": 24, **fields})


def test_problems_say_what_disagrees_in_one_sentence_each() -> None:
    from brainfeat.evaluation.report import _problems

    assert _problems(_subject(), 1e-4) == []
    assert _problems(_subject(accuracy_fraction_within=1.0, rank_agreement={POLICY: 0.999},
                              rank_policy=POLICY), 1e-4) == []
    check = _subject(missing=("rank", "true"), errors=("accuracy: bad", "decoded: worse"),
                     accuracy_fraction_within=21 / 24, accuracy_max_abs_diff=0.0123456,
                     accuracy_nan_mismatches=2,
                     rank_agreement={POLICY: 0.998, ASCENDING_FIRST_0: 0.5},
                     rank_policy=POLICY)
    assert _problems(check, 2.5e-4) == [
        "missing file(s): rank, true",
        "unreadable: accuracy: bad",
        "unreadable: decoded: worse",
        ("published accuracy differs from the recomputation in 3 of 24 units (max |diff| "
        "0.0123, tolerance 0.00025; 2 NaN on one side only)"),
        (f"rank file follows the established convention ({POLICY}) for only 99.8% of units; "
        f"closest convention: {POLICY} (99.8%)")]
    unmatched = _subject(rank_agreement_recomputed={POLICY: 0.5, ASCENDING_FIRST_0: 0.75})
    assert _problems(unmatched, 1e-4) == [
        f"rank file matches no tested convention (closest: {ASCENDING_FIRST_0} (75.0%) of units)"]
    # a policy the file was not compared under: nothing to say about it
    assert _problems(_subject(rank_agreement={"other": 0.5}, rank_policy=POLICY), 1e-4) == []


def test_averaged_problem_beyond_the_decoded_tolerance_only() -> None:
    from brainfeat.evaluation.facts import DECODED_RELATIVE_TOLERANCE
    from brainfeat.evaluation.report import _averaged_problems

    assert _averaged_problems(AveragedCheck(n_subjects=5)) == []
    assert _averaged_problems(AveragedCheck(
        n_subjects=5, decoded_max_relative_diff=DECODED_RELATIVE_TOLERANCE)) == []
    assert _averaged_problems(AveragedCheck(n_subjects=4, decoded_max_relative_diff=0.5)) == [
        ("published Averaged decoded features differ from the mean of the 4 subjects' decoded "
        "features (max |diff| / max |mean| = 0.5 > 1e-05)")]


def test_settle_attaches_the_policy_and_each_subjects_problems() -> None:
    from brainfeat.evaluation.report import _settle

    subjects = (_subject(accuracy_fraction_within=0.5, accuracy_max_abs_diff=1.0,
                         accuracy_nan_mismatches=0),
                _subject(subject="Averaged", missing=("rank",)), _subject(subject="S2"))
    averaged = AveragedCheck(n_subjects=5, decoded_max_relative_diff=0.5)
    layer = LayerCheck(network="AlexNet", layer="fc8", n_units=24, subjects=subjects,
                       averaged=averaged)
    settled = _settle(layer, POLICY, 0.125)
    assert [c.rank_policy for c in settled.subjects] == [POLICY] * 3
    first, mean, second = settled.subjects
    assert first.problems == (
        ("published accuracy differs from the recomputation in 12 of 24 units (max |diff| 1, "
        "tolerance 0.125; 0 NaN on one side only)"),)
    assert mean.problems == (
        "missing file(s): rank",
        ("published Averaged decoded features differ from the mean of the 5 subjects' decoded "
        "features (max |diff| / max |mean| = 0.5 > 1e-05)"),)
    assert second.problems == ()
    assert settled.averaged is averaged and settled.layer == "fc8"
    unaveraged = _settle(LayerCheck(network="AlexNet", layer="fc8", n_units=24,
                                    subjects=subjects[2:]), None, 0.1)
    assert unaveraged.subjects[0].problems == () and unaveraged.subjects[0].rank_policy is None


def _figure(mean_accuracy: float, mean_intersubject: float) -> LayerFigureStats:
    return LayerFigureStats(network="AlexNet", layer="fc8", subjects=("S1", "S2"),
                            source="recomputed", mean_accuracy=mean_accuracy, n_scored=2,
                            histogram=(), pairs={}, mean_intersubject=mean_intersubject,
                            scatter=((), ()))


def test_compare_figure2_only_for_alexnet_layers_of_the_paper() -> None:
    from types import SimpleNamespace

    from brainfeat.evaluation.report import _compare_figure2

    layers = [LayerCheck(network="VGG19", layer="fc8", n_units=4, subjects=(),
                         figure=_figure(0.25, 0.5)),
              LayerCheck(network="AlexNet", layer="conv1", n_units=4, subjects=(),
                         figure=_figure(0.25, 0.5)),
              LayerCheck(network="AlexNet", layer="fc9", n_units=4, subjects=(),
                         figure=_figure(0.25, 0.5)),
              LayerCheck(network="AlexNet", layer="fc8", n_units=4, subjects=())]
    comparisons, note = _compare_figure2(layers, SimpleNamespace(synthetic=False))
    assert comparisons == (
        Figure2Comparison("AlexNet", "conv1", "mean accuracy", 0.05, 0.25, 0.02),
        Figure2Comparison("AlexNet", "conv1", "mean inter-subject r", 0.46, 0.5, 0.02))
    assert note == ("AlexNet values read off the paper's Figure 2; VGG19 has no published "
                    "reference")
    assert _compare_figure2(layers[:1] + layers[2:], SimpleNamespace(synthetic=False)) == (
        (), "no AlexNet layer verified with all subjects")
    assert _compare_figure2(layers, SimpleNamespace(synthetic=True)) == (
        (), "not applicable (synthetic)")


def test_figure_stats_prefer_recomputed_accuracies_and_say_so() -> None:
    from types import SimpleNamespace

    from brainfeat.catalog import Network
    from brainfeat.evaluation.report import _figure_stats

    info = SimpleNamespace(network=Network.ALEXNET, name="fc8")
    recomputed = {"S1": np.array([0.5, 0.25, 0.0]), "Averaged": np.array([9.0, 9.0, 9.0])}
    published = {"S1": np.array([-0.5, -0.5, -0.5]), "S2": np.array([0.25, 0.5, 0.75])}
    stats = _figure_stats(info, ["S1", "S2", "S3"], recomputed, published)
    assert stats.subjects == ("S1", "S2") and stats.source == "published+recomputed"
    assert (stats.network, stats.layer) == ("AlexNet", "fc8")
    assert stats.mean_accuracy == 2.25 / 6             # S1 recomputed, S2 published
    only = _figure_stats(info, ["S1"], recomputed, published)
    assert only.source == "recomputed" and only.subjects == ("S1",)
    assert _figure_stats(info, ["S2"], {}, published).source == "published"
    assert _figure_stats(info, ["S3"], recomputed, published) is None


def test_select_layers_by_name_across_networks() -> None:
    from brainfeat.catalog import default_catalog
    from brainfeat.errors import UnknownNameError
    from brainfeat.evaluation.report import _select_layers

    catalog = default_catalog()
    both = _select_layers(catalog, None, "fc8")
    assert [(i.network.value, i.name) for i in both] == [("AlexNet", "fc8"), ("VGG19", "fc8")]
    assert [i.name for i in _select_layers(catalog, None, "conv5_4")] == ["conv5_4"]
    assert [i.network.value for i in _select_layers(catalog, "vgg19", "fc8")] == ["VGG19"]
    assert _select_layers(catalog, "AlexNet", None) == catalog.layers_of("AlexNet")
    assert _select_layers(catalog, None, None) == catalog.layers
    with pytest.raises(UnknownNameError, match="Unknown layer 'fc9': expected one of .*conv1 "):
        _select_layers(catalog, None, "fc9")
    with pytest.raises(UnknownNameError, match="'conv5_4' of AlexNet"):
        _select_layers(catalog, "AlexNet", "conv5_4")


# --- html.py: the pages, read back as a sequence of tags and texts ----------------------------

def _page_tokens(page: str) -> list[str]:
    """``<tag#id.class>`` for each start tag and ``/tag`` for each end tag (script and style
    bodies skipped), and each text between tags, in document order."""
    from html.parser import HTMLParser

    tokens: list[str] = []

    class Reader(HTMLParser):
        skip = False

        def handle_starttag(self, tag, attrs):
            attributes = dict(attrs)
            tokens.append(f"<{tag}" + (f"#{attributes['id']}" if "id" in attributes else "")
                          + (f".{attributes['class']}" if "class" in attributes else "") + ">")
            self.skip = tag in ("script", "style")

        def handle_endtag(self, tag):
            tokens.append(f"/{tag}")
            self.skip = False

        def handle_data(self, data):
            if not self.skip and data.strip():
                tokens.append(data.strip())

    Reader().feed(page)
    return tokens


def _cells(tokens: list[str], table_id: str) -> list[list[str]]:
    """Rows of one table: each cell as ``text`` or ``text.class`` (its td class)."""
    start = tokens.index(f"<table#{table_id}>")
    rows: list[list[str]] = []
    for token in tokens[start + 1:tokens.index("/table", start)]:
        if token == "<tr>":
            rows.append([])
        elif token.startswith(("<td", "<th")):
            cell_class = token[4:-1]                   # "<td.ok>" -> "ok"
            rows[-1].append("." + cell_class if cell_class else "")
        elif not token.startswith(("/", "<")):
            rows[-1][-1] = token + rows[-1][-1]
    return rows


def test_report_page_says_what_the_report_says() -> None:
    from brainfeat.evaluation.html import render_html

    report = _report()
    report = VerificationReport(**{**vars(report), "dataset": "demo <b>&",
                                   "layers": (LayerCheck(**{**vars(report.layers[0]),
                                                            "figure": None}),)})
    page = render_html(report)
    assert page.startswith('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">')
    assert page.endswith("</script></body></html>")
    tokens = _page_tokens(page)
    assert tokens[:14] == [
        '<html>', '<head>', '<meta>', '<title>', 'brainfeat verify: demo <b>&', '/title',
        '<style>', '/style', '/head', '<body>', '<h1>', 'brainfeat verify: demo <b>&', '/h1',
        '<p.banner>']
    assert tokens[14:22] == [
        'SYNTHETIC replica: the numbers below check the machinery, not the published data.',
        '/p', '<p#verdict.verdict-bad>', '<strong>', '4 problem(s) found', '/strong',
        '(accuracy tolerance 0.0001)', '/p']
    problems = tokens[tokens.index("<ul#problems>"):tokens.index("/ul") + 1]
    assert [t for t in problems if not t.startswith(("<", "/"))] == list(report.problems)
    headings = [tokens[i + 1] for i, t in enumerate(tokens) if t in ("<h2>", "<h3>")]
    assert headings == ["What the files established", "Published accuracy and rank, recomputed",
                        "Figure 2 against the paper (±0.02)", "Figure 2", "Layers"]
    assert _cells(tokens, "findings") == [
        ["fact", "conclusion", "evidence", "settled"],
        ["rank", "descending", "2 of 2 files", "yes"], ["mat", "met v5 (3 files)", "", "no"]]
    assert f"Rank convention: {POLICY}" in tokens
    assert _cells(tokens, "summary-table") == [
        ["network", "layer", "subject", "units", "max |d accuracy|", "within tolerance",
         "rank agreement", "status"],
        ["AlexNet", "fc8", "S1", "24", "1.50e-04", "95.83%", "50.00%", "mismatch.mismatch"],
        ["AlexNet", "fc8", "S2", "24", "-", "-", "-", "missing (true, rank).missing"]]
    assert "read off the paper" in tokens
    assert _cells(tokens, "figure2-table") == [
        ["network", "layer", "statistic", "paper", "recomputed", "agreement"],
        ["AlexNet", "fc8", "mean accuracy", "0.48", "0.491", "ok.ok"],
        ["AlexNet", "fc8", "mean inter-subject r", "0.81", "0.700", "differs.mismatch"]]
    # each section follows the table before it directly (no stray text between them)
    for heading, before in (("Published accuracy and rank, recomputed", "/table"),
                            ("Figure 2", "/table"), ("Layers", "/p")):
        at = tokens.index(heading)
        assert tokens[at - 2:at + 2] == [before, "<h2>", heading, "/h2"], heading
    at = tokens.index("Not drawn: verify all subjects of a layer to draw it.")
    assert tokens[at - 1:at + 3] == ["<p>", tokens[at], "/p", "<h2>"]
    assert _cells(tokens, "layers-table") == [
        ["network", "layer", "units", "min true value", ".mat files", "Averaged"],
        ["AlexNet", "fc8", "24", "-1.5e-05", "v5: 3",
         ("decoded vs mean rel. diff 1.2e-01; mean-then-score within tol. -; mean of maps "
         "within tol. -")]]
    assert tokens[-8:] == ['/table', '<p#render-check>', 'figures not checked', '/p', '<script>',
                           '/script', '/body', '/html']
    assert 'data-figures-total="0" data-figures-loaded="0"' in page


def test_report_page_of_an_agreeing_report() -> None:
    from brainfeat.evaluation.html import render_html

    layer = LayerCheck(network="AlexNet", layer="fc8", n_units=24, subjects=(
        SubjectCheck(network="AlexNet", layer="fc8", subject="S1", n_units=24),),
        mat_flavours={"v7.3": 1, "v5": 2},
        averaged=AveragedCheck(n_subjects=5, mean_then_score_fraction_within=1.0,
                               mean_of_accuracies_fraction_within=0.25))
    report = VerificationReport(dataset="real", synthetic=False, tolerance=0.5,
                                layers=(layer, LayerCheck(network="VGG19", layer="fc8",
                                                          n_units=2, subjects=())),
                                findings=(), figure2=(), figure2_note="none",
                                rank_policy=None)
    tokens = _page_tokens(render_html(report))
    assert "<p.banner>" not in tokens and "<ul#problems>" not in tokens
    verdict = tokens.index("<p#verdict.verdict-ok>")
    assert tokens[verdict + 1:verdict + 5] == ["<strong>", "every check agreed", "/strong",
                                               "(accuracy tolerance 0.5)"]
    assert "Rank convention: none established" in tokens
    assert "<table#figure2-table>" not in tokens and "none" in tokens
    assert _cells(tokens, "summary-table")[1][-1] == "ok.ok"
    assert _cells(tokens, "layers-table")[1:] == [
        ["AlexNet", "fc8", "24", "-", "v5: 2, v7.3: 1",
         ("decoded vs mean rel. diff -; mean-then-score within tol. 100.0%; mean of maps "
         "within tol. 25.0%")],
        ["VGG19", "fc8", "2", "-", "-", "-"]]


# --- regenerated.py: regenerated vs published, number by number ------------------------------

def _pearson(x, y) -> float:
    return float(np.corrcoef(np.asarray(x, float), np.asarray(y, float))[0, 1])


def test_regenerated_check_of_one_subject_against_plain_numpy() -> None:
    from brainfeat.evaluation.regenerated import _check

    rng = np.random.default_rng(9)
    theirs_decoded = rng.normal(size=(5, 6)).astype(np.float32)
    ours_decoded = (theirs_decoded + 0.1 * rng.normal(size=(5, 6))).astype(np.float32)
    ours_decoded[:, 4] = 1.0                                     # constant: no unit r
    accuracy = np.array([0.5, np.nan, 0.25, 0.75, np.nan, 0.0])
    published = np.array([0.5, np.nan, 0.0, np.nan, 0.0, 0.5])
    rank = np.array([1, np.nan, 2, 3, np.nan, 4.0])
    published_rank = np.array([1, np.nan, 3, 2, 5, 4.0])
    check = _check("AlexNet", "fc8", "S2", [ours_decoded, accuracy, rank],
                   [theirs_decoded, published, published_rank], 0.25)
    unit_r = [_pearson(ours_decoded[:, j], theirs_decoded[:, j]) for j in (0, 1, 2, 3, 5)]
    difference = np.abs(ours_decoded.astype(float) - theirs_decoded.astype(float))
    assert (check.network, check.layer, check.subject, check.n_units) == ("AlexNet", "fc8",
                                                                          "S2", 6)
    assert check.decoded_unit_r_median == pytest.approx(np.median(unit_r), rel=1e-9)
    assert check.decoded_unit_r_min == pytest.approx(min(unit_r), rel=1e-9)
    assert check.decoded_max_abs_diff == difference.max()
    assert check.decoded_max_rel_diff == pytest.approx(
        difference.max() / np.abs(theirs_decoded).max(), rel=1e-15)
    # units 0, 2 and 5 scored by both (|d| 0, 0.25, 0.5); unit 1 NaN on both sides agrees
    assert check.accuracy_r == pytest.approx(_pearson([0.5, 0.25, 0.0], [0.5, 0.0, 0.5]),
                                             rel=1e-12)
    assert check.accuracy_mean_abs_diff == 0.25
    assert check.accuracy_fraction_within == 0.5
    assert check.rank_fraction_equal == 0.5
    assert not check.agrees


def test_regenerated_check_without_shared_units() -> None:
    from brainfeat.evaluation.regenerated import _check

    constant = np.ones((3, 2), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # nothing to take a median or mean of
        check = _check("AlexNet", "fc8", "S1", [constant, np.array([0.5, np.nan]), np.ones(2)],
                       [constant, np.array([np.nan, 0.25]), np.ones(2)], 0.1)
    assert math.isnan(check.decoded_unit_r_median) and math.isnan(check.decoded_unit_r_min)
    assert math.isnan(check.accuracy_r) and math.isnan(check.accuracy_mean_abs_diff)
    assert check.decoded_max_abs_diff == 0.0 and check.decoded_max_rel_diff == 0.0
    assert check.accuracy_fraction_within == 0.0 and check.rank_fraction_equal == 1.0
    two = _check("AlexNet", "fc8", "S1", [constant, np.array([0.5, 0.25]), np.ones(2)],
                 [constant, np.array([0.25, 0.5]), np.ones(2)], 0.1)
    assert two.accuracy_r == pytest.approx(-1.0, abs=1e-12)     # two units: r = +-1


def test_relative_difference_scales_by_the_largest_published_magnitude() -> None:
    from brainfeat.evaluation.regenerated import _relative

    theirs = np.array([[1.0, -8.0], [2.0, 4.0]], np.float32)
    ours = theirs + np.array([[0.5, 0.0], [-2.0, 0.0]], np.float32)
    assert _relative(ours, theirs) == 2.0 / 8.0
    assert _relative(np.full(3, 0.25), np.zeros(3)) == 0.25           # nothing to scale by
    assert _relative(np.full(3, 0.75), np.full(3, 0.5)) == 0.5         # a scale below 1
    assert _relative(np.zeros((0, 2)), np.zeros((0, 2))) == 0.0


def _regenerated_check(subject: str, rel: float, within: float,
                       r_min: float = float("nan")) -> RegeneratedCheck:
    from brainfeat.evaluation.regenerated import RegeneratedCheck

    return RegeneratedCheck(
        network="AlexNet", layer="fc8", subject=subject, n_units=1000,
        decoded_unit_r_median=0.9999994, decoded_unit_r_min=r_min,
        decoded_max_abs_diff=0.00125, decoded_max_rel_diff=rel, accuracy_r=0.99996,
        accuracy_mean_abs_diff=2.5e-7, accuracy_fraction_within=within,
        rank_fraction_equal=0.875)


def test_regenerated_agrees_within_both_tolerances_inclusive() -> None:
    from brainfeat.evaluation.facts import DECODED_RELATIVE_TOLERANCE

    assert _regenerated_check("S1", DECODED_RELATIVE_TOLERANCE, 1.0).agrees
    assert not _regenerated_check("S1", DECODED_RELATIVE_TOLERANCE * 1.01, 1.0).agrees
    assert not _regenerated_check("S1", 0.0, 0.999).agrees


def _comparison(**changes):
    from brainfeat.evaluation.regenerated import RegeneratedComparison, TrueFeatureCheck

    figure = LayerFigureStats(network="AlexNet", layer="fc8", subjects=("S1",), source="x",
                              mean_accuracy=0.25, n_scored=1, histogram=(), pairs={},
                              mean_intersubject=float("nan"), scatter=((), ()))
    published = LayerFigureStats(**{**vars(figure), "mean_accuracy": 0.5,
                                    "mean_intersubject": 0.125})
    fields = {
        "checks": (_regenerated_check("S1", 1e-6, 1.0),
                _regenerated_check("Averaged", 0.5, 0.5, r_min=0.5)),
        "true": (TrueFeatureCheck("fc8", 1.25e-5, 0.25, 0.9990012, False, "image r below 0.999"),
              TrueFeatureCheck("fc7", 0.0, 0.0, 1.0, True)),
        "figure2": {"fc8": (figure, published)},
        "provenance": {"regenerated": {"versions": {"brainfeat": "0.1.0"}, "date": "2026-01-02",
                                    "command": "brainfeat regenerate", "model": "AlexNet",
                                    "inputs_sha256": {"Subject1.h5": "ab", "x.jpg": "cd"},
                                    "settings": {"b": 1, "a": [2]}},
                    "comparison": {"published_sha256": {"z.zip": "ef"}, "date": "2026-01-03",
                                   "versions": {"numpy": "2"}}},
        "tolerance": 0.5, "synthetic": True}
    return RegeneratedComparison(**{**fields, **changes})


def test_regenerated_table_is_exactly_the_documented_text() -> None:
    expected = [
        ("network  layer    subject     units dec r med  dec rel   acc r  acc |d|  within  "
        "rank =  ok"),
        ("AlexNet  fc8      S1           1000  0.999999  1.0e-06  1.0000  2.5e-07  100.0%   "
        "87.5%  yes"),
        ("AlexNet  fc8      Averaged     1000  0.999999  5.0e-01  1.0000  2.5e-07   50.0%   "
        "87.5%  NO"),
        ("true features fc8 (verify-features): max relative difference 2.5e-01, min image r "
        "0.999001  FAIL image r below 0.999"),
        ("true features fc7 (verify-features): max relative difference 0.0e+00, min image r "
        "1.000000  PASS"),
        "Figure 2          mean acc regen published inter-r regen published",
        "fc8                       0.2500    0.5000           nan    0.1250",
        ("regenerated by brainfeat 0.1.0 on 2026-01-02: brainfeat regenerate; 2 input files "
        "hashed (SHA-256); 1 published zips compared (SHA-256)"),
        "1/2 (layer, subject) agree (accuracy tolerance 0.5, decoded relative 1e-05)."]
    assert _comparison().format_table().splitlines() == expected
    bare = _comparison(provenance={}, figure2={}, true=(), checks=()).format_table()
    assert bare.splitlines()[-2:] == [
        ("regenerated by brainfeat ? on ?: Python call; 0 input files hashed (SHA-256); "
        "0 published zips compared (SHA-256)"),
        "0/0 (layer, subject) agree (accuracy tolerance 0.5, decoded relative 1e-05)."]


def test_regenerated_ok_needs_every_subject_and_every_true_layer() -> None:
    comparison = _comparison()
    assert [c.subject for c in comparison.disagreements] == ["Averaged"]
    assert not comparison.ok
    assert not _comparison(checks=comparison.checks[:1]).ok           # fc8's true features fail
    assert _comparison(checks=comparison.checks[:1], true=comparison.true[1:]).ok
    assert _comparison(checks=(), true=()).ok


def test_regenerated_json_keeps_nan_and_every_field() -> None:
    comparison = _comparison()
    text = comparison.to_json()
    assert text.splitlines()[1] == ' "checks": ['
    data = json.loads(text)                      # Python's json reads NaN back as float nan
    assert data["tolerance"] == 0.5 and data["ok"] is False and data["synthetic"] is True
    assert data["provenance"] == comparison.provenance
    assert [c["subject"] for c in data["checks"]] == ["S1", "Averaged"]
    assert math.isnan(data["checks"][0]["decoded_unit_r_min"])
    assert data["checks"][1]["decoded_max_rel_diff"] == 0.5
    assert data["true_features"][0] == {"layer": "fc8", "max_abs_diff": 1.25e-5,
                                        "relative_diff": 0.25, "min_r": 0.9990012,
                                        "passed": False, "note": "image r below 0.999"}
    assert data["figure2"]["fc8"]["regenerated"]["mean_accuracy"] == 0.25
    assert data["figure2"]["fc8"]["regenerated"]["mean_intersubject"] is None
    assert data["figure2"]["fc8"]["published"]["mean_intersubject"] == 0.125


def test_regenerated_page_and_its_files(tmp_path) -> None:
    from brainfeat.evaluation.regenerated import write_comparison

    comparison = _comparison(figure2={})             # no figure: nothing drawn
    json_path, html_path = write_comparison(comparison, tmp_path / "new" / "sub" / "check.json")
    assert json_path == tmp_path / "new" / "sub" / "check.json"
    assert html_path == tmp_path / "new" / "sub" / "check.html"
    assert write_comparison(comparison, json_path) == (json_path, html_path)  # folder exists
    assert json.loads(json_path.read_text(encoding="utf-8"))["ok"] is False
    page = html_path.read_text(encoding="utf-8")
    assert page.startswith('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">')
    assert page.endswith("</script></body></html>")
    tokens = _page_tokens(page)
    assert tokens[:10] == ["<html>", "<head>", "<meta>", "<title>",
                           "brainfeat verify --regenerated", "/title", "<style>", "/style",
                           "/head", "<body>"]
    assert tokens[10:17] == ["<h1>", "brainfeat verify --regenerated", "/h1", "<p.banner>",
                             ("SYNTHETIC replica: the numbers below check the machinery, not "
                             "the published data."), "/p", "<p#verdict.verdict-bad>"]
    assert tokens[17:21] == ["<strong>", "1/2 (layer, subject) agree", "/strong",
                             "(accuracy tolerance 0.5, decoded features relative 1e-05)"]
    headings = [tokens[i + 1] for i, t in enumerate(tokens) if t in ("<h2>", "<h3>")]
    assert headings == ["Decoded features, accuracies and ranks",
                        "True features (the check of verify-features)",
                        "Figure 2 statistics, side by side", "Provenance"]
    assert _cells(tokens, "regenerated-table") == [
        ["network", "layer", "subject", "units", "decoded unit r (median)",
         "decoded unit r (min)", "decoded max |d|", "decoded max rel. d", "accuracy map r",
         "accuracy mean |d|", "accuracies within tolerance", "ranks equal", "agrees"],
        ["AlexNet", "fc8", "S1", "1000", "0.999999", "-", "1.25e-03", "1.00e-06", "0.99996",
         "2.50e-07", "100.00%", "87.50%", "yes.ok"],
        ["AlexNet", "fc8", "Averaged", "1000", "0.999999", "0.500000", "1.25e-03", "5.00e-01",
         "0.99996", "2.50e-07", "50.00%", "87.50%", "NO.mismatch"]]
    assert _cells(tokens, "true-table") == [
        ["layer", "max |d|", "relative", "min image r", "note", "passes"],
        ["fc8", "1.25e-05", "2.50e-01", "0.999001", "image r below 0.999", "NO.mismatch"],
        ["fc7", "0", "0.00e+00", "1.000000", "", "yes.ok"]]
    assert _cells(tokens, "figure2-side-by-side") == [
        ["layer", "mean accuracy (regenerated)", "mean accuracy (published)",
         "mean inter-subject r (regenerated)", "mean inter-subject r (published)"]]
    assert _cells(tokens, "provenance") == [
        ["regenerated on", "2026-01-02"], ["command", "brainfeat regenerate"],
        ["model", "AlexNet"], ["settings", '{"a": [2], "b": 1}'],
        ["versions (regeneration)", '{"brainfeat": "0.1.0"}'], ["compared on", "2026-01-03"],
        ["versions (comparison)", '{"numpy": "2"}']]
    assert "3 input files (SHA-256)" in tokens
    at = tokens.index("Provenance")                  # no figure: nothing between the tables
    assert tokens[at - 2:at + 2] == ["/table", "<h2>", "Provenance", "/h2"]
    assert _cells(tokens, "inputs") == [["file", "SHA-256"], ["Subject1.h5", "ab"],
                                        ["x.jpg", "cd"], ["z.zip", "ef"]]
    assert tokens[-8:] == ["/details", "<p#render-check>", "figures not checked", "/p",
                           "<script>", "/script", "/body", "/html"]


def test_regenerated_page_of_an_agreeing_real_comparison() -> None:
    from brainfeat.evaluation.html import render_regenerated_html

    comparison = _comparison(checks=_comparison().checks[:1], true=(), figure2={},
                             synthetic=False, provenance={})
    tokens = _page_tokens(render_regenerated_html(comparison))
    assert "<p.banner>" not in tokens
    verdict = tokens.index("<p#verdict.verdict-ok>")
    assert tokens[verdict + 2] == "1/1 (layer, subject) agree"
    assert _cells(tokens, "provenance") == [
        ["regenerated on", "?"], ["command", "Python call"], ["model", "None"],
        ["settings", "{}"], ["versions (regeneration)", "{}"], ["compared on", "?"],
        ["versions (comparison)", "{}"]]
    assert "0 input files (SHA-256)" in tokens


def test_provenance_is_read_or_its_absence_explained(tmp_path) -> None:
    from brainfeat.errors import DataNotFoundError, UnknownNameError
    from brainfeat.evaluation.regenerated import compare_regenerated, read_provenance

    with pytest.raises(DataNotFoundError) as error:
        read_provenance(tmp_path)
    assert str(error.value) == (
        f"{tmp_path} has no regenerated.json: pass the out= folder of a finished "
        "brainfeat.regenerate run (rerun it to finish an interrupted one).")
    (tmp_path / "regenerated.json").write_text(
        json.dumps({"network": None, "model": "resnet50"}), encoding="utf-8")
    assert read_provenance(str(tmp_path)) == {"network": None, "model": "resnet50"}
    with pytest.raises(UnknownNameError, match="features of 'resnet50', which has no published"):
        compare_regenerated(tmp_path, download=False)


def test_library_versions_name_every_library_and_python(monkeypatch) -> None:
    import platform
    from importlib import metadata

    from brainfeat.evaluation.regenerated import VERSIONED, library_versions

    real = metadata.version

    def version(name: str) -> str:
        if name == "dask":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    versions = library_versions()
    assert list(versions) == [*VERSIONED, "python"]
    assert versions["dask"] == "not installed"
    assert versions["numpy"] == np.__version__
    assert versions["python"] == platform.python_version()


# --- messages: the whole sentence, as the user reads it ----------------------------------------

def _assert_refusals(cases) -> None:
    """Each ``(call, error type, message)``: the call raises that type with exactly that text."""
    for call, error_type, message in cases:
        with pytest.raises(error_type) as error:
            call()
        assert str(error.value) == message


def test_metric_messages_name_the_value_and_what_is_expected() -> None:
    from brainfeat.errors import InvalidValueError, ShapeMismatchError
    from brainfeat.evaluation.figures import figure2

    matrix = np.zeros((3, 2))
    cases = [
        (lambda: unit_correlation(np.zeros(3), np.zeros(3)), ShapeMismatchError,
         "pred has shape (3,): expected (n_images, n_units) or (n_images, *unit_shape)."),
        (lambda: unit_correlation(matrix, np.zeros((3, 1))), ShapeMismatchError,
         ("pred has shape (3, 2) but true has shape (3, 1): both must be (n_images, n_units) "
          "for the same images and units.")),
        (lambda: unit_correlation(matrix[:1], matrix[:1]), ShapeMismatchError,
         "Need at least 2 images to correlate, got 1: pass every test image of the layer."),
        (lambda: unit_correlation(matrix, matrix, chunk_units=0), InvalidValueError,
         "chunk_units must be a positive integer, got 0."),
        (lambda: rank_units(np.zeros(3), nan="middle"), InvalidValueError,
         "nan='middle': expected 'last', 'first' or 'keep'."),
        (lambda: RunningMean().result(), InvalidValueError,
         ("RunningMean.result() called before any array was added: add() at least one array "
          "first.")),
        (lambda: intersubject_correlation({"S1": np.zeros(3), "S2": np.zeros(4)}),
         ShapeMismatchError,
         ("Accuracy vectors differ in length {'S1': 3, 'S2': 4}: expected one layer, the same "
          "units for every subject.")),
        (lambda: figure2([]), InvalidValueError,
         ("figure2 needs the statistics of at least one layer: pass layer_figure_stats() of "
          "each layer to draw.")),
    ]
    _assert_refusals(cases)
    running = RunningMean()
    running.add(matrix)
    with pytest.raises(ShapeMismatchError, match=r"shape \(3, 1\) with earlier arrays"):
        running.add(np.zeros((3, 1)))


def test_identification_messages_name_the_value_and_what_to_do() -> None:
    from brainfeat.errors import InvalidValueError, ShapeMismatchError, UnknownNameError
    from brainfeat.evaluation.identification import (
        category_identification,
        nway_identification,
        pairwise_identification,
        pattern_correlation,
    )

    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 6))
    cases = [
        (lambda: pairwise_identification(np.zeros((0, 3)), np.zeros((0, 3))), ShapeMismatchError,
         ("pred has shape (0, 3): expected (n_samples, n_units) or (n_samples, *unit_shape) "
         "with at least one sample.")),
        (lambda: pairwise_identification(a, a, a[:, :5]), ShapeMismatchError,
         ("candidates have 5 units per row but the decoded features have 6: candidates must "
         "come from the same layer (and the same network) as the decoded features.")),
        (lambda: pairwise_identification(a, a[:3]), ShapeMismatchError,
         ("pred has shape (4, 6) but true has shape (3, 6): both must be (n_samples, n_units) "
         "for the same samples and units.")),
        (lambda: category_identification(a, list("abcd"), a, list("abca")), UnknownNameError,
         "candidate_categories repeats ['a']: expected one averaged row per category."),
        (lambda: category_identification(a, list("abcz"), a, list("abcd")), UnknownNameError,
         ("categories ['z'] are not among the 4 candidate categories: the true category of "
         "every sample must be a candidate.")),
        (lambda: nway_identification(a, a, n_way=5), InvalidValueError,
         ("n_way=5, top_k=1: expected n_way <= 4 (the distractors available to every sample, "
         "plus its target) and top_k < n_way.")),
        (lambda: pairwise_identification(a, a, metric="cityblock"), UnknownNameError,
         "metric='cityblock': expected one of correlation, cosine, euclidean."),
        (lambda: pattern_correlation(a, a, mean=np.zeros(6)), InvalidValueError,
         "pass both mean and std (training statistics), or neither."),
        (lambda: pattern_correlation(a, a, np.zeros(5), np.ones(6)), ShapeMismatchError,
         "mean has 5 and std 6 values for 6 units."),
    ]
    _assert_refusals(cases)
    nan = a.copy()
    nan[:, [1, 4]] = np.nan
    with pytest.raises(ShapeMismatchError) as error:
        category_identification(nan, list("abcd"), a, list("abcd"))
    assert str(error.value) == (
        "units [1, 4] (2 in all) hold NaN: the lab's category identification drops no unit; "
        "pass drop_nan_units=True to drop them.")
    with pytest.warns(RuntimeWarning) as record:
        category_identification(nan, list("abcd"), a, list("abcd"), drop_nan_units=True)
    assert str(record[0].message) == ("2 of 6 units hold NaN and were dropped before "
                                      "identification (bdpy's remove_nan).")


def test_figure_stats_pool_float32_accuracies_in_float64() -> None:
    rng = np.random.default_rng(12)
    s1 = rng.uniform(0.05, 0.15, 20_000).astype(np.float32)
    s2 = rng.uniform(0.05, 0.15, 20_000).astype(np.float32)
    stats = layer_figure_stats({"S1": s1, "S2": s2}, "AlexNet", "fc8", source="x")
    exact = math.fsum(float(v) for v in np.concatenate([s1, s2])) / 40_000
    # float64 sums of 20,000 terms stay within ~1e-12 of the exact mean; float32 sums do not
    assert stats.mean_accuracy == pytest.approx(exact, rel=1e-12, abs=0)


def test_rank_agreements_under_every_policy() -> None:
    from brainfeat.evaluation.facts import rank_agreements

    accuracy = np.array([0.3, np.nan, -0.2, 0.7])
    published = np.array([2, 0, 1, 3])   # ascending, NaN first, 0-based
    # Each policy's 1-based ranks of (0.3, NaN, -0.2, 0.7), by hand, against the file:
    # descending: NaN last 2 4 3 1, NaN first 3 1 4 2, NaN kept 2 - 3 1
    # ascending:  NaN last 2 4 1 3, NaN first 3 1 2 4, NaN kept 2 - 1 3
    descending, ascending = ("descending (first = most accurate)",
                             "ascending (first = least accurate)")
    fractions = {  # direction -> NaN policy -> (1-based, 0-based)
        descending: {"ranked last": (0.25, 0.0), "ranked first": (0.0, 0.5),
                     "left unranked": (0.25, 0.0)},
        ascending: {"ranked last": (0.75, 0.0), "ranked first": (0.0, 1.0),
                    "left unranked": (0.75, 0.0)}}
    expected = {f"{direction}, NaN {nan}, {base}-based": pair[1 - base]
                for direction, by_nan in fractions.items() for nan, pair in by_nan.items()
                for base in (1, 0)}
    assert rank_agreements(accuracy, published) == expected
    # a NaN in the rank file agrees only where the policy leaves the unit unranked
    found = rank_agreements(accuracy, [2, np.nan, 3, 1])
    assert found[f"{descending}, NaN left unranked, 1-based"] == 1.0
    assert found[f"{descending}, NaN ranked last, 1-based"] == 0.75
    assert found[f"{ascending}, NaN left unranked, 1-based"] == 0.5


# --- figures.py: what Figure 2 draws, read back from the artists ------------------------------

def _drawn_stats(layer: str, histogram_bins: dict[int, int], mean: float,
                 pairs: dict[str, float], scatter) -> LayerFigureStats:
    histogram = [0] * 100
    for index, count in histogram_bins.items():
        histogram[index] = count
    finite = [r for r in pairs.values() if not math.isnan(r)]
    return LayerFigureStats(network="AlexNet", layer=layer, subjects=("S1", "S2", "S3"),
                            source="x", mean_accuracy=mean, n_scored=sum(histogram),
                            histogram=tuple(histogram), pairs=pairs,
                            mean_intersubject=sum(finite) / len(finite) if finite else math.nan,
                            scatter=scatter)


def _figure2_stats() -> list[LayerFigureStats]:
    rng = np.random.default_rng(7)
    x = rng.uniform(-0.5, 0.9, 40)
    return [
        # bins 40-42 (centres -0.19, -0.17, -0.15), mean -0.17
        _drawn_stats("fc7", {40: 1, 41: 4, 42: 1}, -0.17,
                     {"S1-S2": 0.5, "S1-S3": 0.25, "S2-S3": math.nan},
                     (tuple(x), tuple(0.5 * x + 0.2 * rng.normal(size=40)))),
        _drawn_stats("fc8", {}, math.nan, {"S1-S2": math.nan}, ((), ())),   # nothing scored
        # bins 0 and 75 (centres -0.99 and 0.51); three S1/S2 points spread over less than 1
        _drawn_stats("fc9", {0: 1, 75: 2}, 0.51, {"S1-S2": -0.75},
                     ((0.5, 0.55, 0.6), (0.25, 0.3, 0.27))),
    ]


def test_figure2_draws_each_panel_from_the_statistics() -> None:
    from matplotlib.colors import to_hex

    from brainfeat.evaluation.figures import SYNTHETIC_CAPTION, figure2

    stats = _figure2_stats()
    figure = figure2(stats, synthetic=True)
    assert figure.get_size_inches().tolist() == [8.0, 9.5]
    assert figure._suptitle.get_text() == (
        f"Figure 2, AlexNet: decoding accuracy of DNN units\n{SYNTHETIC_CAPTION}")
    assert to_hex(figure._suptitle.get_color()) == "#b00020"
    top, middle, bottom = figure.subfigs
    (violins,) = top.axes
    assert violins.get_title(loc="left") == "a  Unit accuracies of S1-S5 pooled (bar: mean)"
    assert violins.get_ylabel() == "Decoding accuracy (r)"
    assert [t.get_text() for t in violins.get_xticklabels()] == ["fc7", "fc8", "fc9"]
    assert violins.get_xlim() == pytest.approx((-0.6, 2.6), abs=1e-12)
    # lowest occupied bin centre -0.99, minus a margin of 0.05, but never below -1.02
    assert violins.get_ylim() == pytest.approx((-1.02, 1.02), abs=1e-12)
    outlines = [c for c in violins.collections
                if type(c).__name__ == "FillBetweenPolyCollection"]
    assert len(outlines) == 2                                # fc8 scored nothing: no violin
    for outline, position, (low, high) in zip(outlines, (0, 2),
                                              ((-0.21, -0.13), (-0.99, 0.53))):
        vertices = outline.get_paths()[0].vertices
        assert vertices[:, 0].min() == pytest.approx(position - 0.42, abs=1e-12)
        assert vertices[:, 0].max() == pytest.approx(position + 0.42, abs=1e-12)
        # the outline spans one bin beyond the occupied ones on each side
        assert vertices[:, 1].min() == pytest.approx(low, abs=1e-12)
        assert vertices[:, 1].max() == pytest.approx(high, abs=1e-12)
        assert to_hex(outline.get_facecolor()[0]) == "#9db4d6"
        assert to_hex(outline.get_edgecolor()[0]) == "#4a6a9a"
        assert outline.get_linewidth()[0] == 0.6
    (zero,) = violins.get_lines()
    assert list(zero.get_ydata()) == [0, 0] and to_hex(zero.get_color()) == "#808080"
    assert zero.get_linewidth() == 0.5 and zero.get_zorder() == 0
    assert figure.get_layout_engine().__class__.__name__ == "ConstrainedLayoutEngine"
    heights = [sub.bbox_relative.height for sub in figure.subfigs]
    np.testing.assert_allclose(heights, np.array([1.2, 0.9, 1.0]) / 3.1, rtol=1e-12)
    bars = [c for c in violins.collections if type(c).__name__ == "LineCollection"]
    segments = [segment.tolist() for bar in bars for segment in bar.get_segments()]
    np.testing.assert_allclose(segments, [[[-0.3, -0.17], [0.3, -0.17]],
                                          [[1.7, 0.51], [2.3, 0.51]]], rtol=0, atol=1e-12)
    assert all(bar.get_linewidth()[0] == 2.5 and to_hex(bar.get_color()[0]) == "#000000"
               for bar in bars)
    panels = middle.axes
    assert [ax.get_title() for ax in panels] == ["fc7 (n=40)", "fc8 (n=0)", "fc9 (n=3)"]
    assert [ax.get_subplotspec().colspan.start for ax in panels] == [0, 1, 2]   # one row
    assert panels[0].get_shared_x_axes().joined(panels[0], panels[2])
    assert panels[0].get_shared_y_axes().joined(panels[0], panels[2])
    for ax in panels:
        (diagonal,) = ax.get_lines()
        assert diagonal.get_xydata().tolist() == [[-1, -1], [1, 1]]
        assert to_hex(diagonal.get_color()) == "#808080" and diagonal.get_linewidth() == 0.5
        assert ax.title.get_fontsize() == 8 and ax.get_aspect() == 1.0
        assert ax.xaxis.get_major_ticks()[0].label1.get_fontsize() == 6
    assert panels[0].xaxis.label.get_fontsize() == panels[0].yaxis.label.get_fontsize() == 8
    assert all(ax.get_xlim() == (-1, 1) and ax.get_ylim() == (-1, 1) for ax in panels)
    assert panels[0].get_xlabel() == "S1 accuracy" and panels[0].get_ylabel() == "S2 accuracy"
    (points,) = panels[0].collections                        # fc8: nothing to draw
    assert not panels[1].collections and len(panels[2].collections) == 1
    assert points.get_sizes().tolist() == [3] and points.get_linewidths().tolist() == [0]
    assert points.get_cmap().name == "viridis" and points.get_rasterized() is True
    drawn = points.get_offsets()
    assert sorted(map(tuple, drawn.tolist())) == sorted(zip(*stats[0].scatter))
    density = points.get_array()
    assert np.all(np.diff(density) >= 0)                     # densest points drawn last
    assert middle._suptitle.get_text() == (
        "b  S1 vs S2 accuracy of up to 1,000 random units per layer (colour: point density)")
    assert middle._suptitle.get_position()[0] == 0.01 and middle._suptitle.get_ha() == "left"
    assert middle._suptitle.get_fontsize() == 10
    (pairs_ax,) = bottom.axes
    assert pairs_ax.get_title(loc="left") == (
        "c  Correlation of unit accuracies between subjects (dots: pairs, bar: mean)")
    assert pairs_ax.get_ylabel() == "Inter-subject correlation (r)"
    assert pairs_ax.get_ylim() == pytest.approx((-0.8, 1.02), abs=1e-12)
    dots = [c for c in pairs_ax.collections if type(c).__name__ == "PathCollection"]
    assert [d.get_offsets().tolist() for d in dots] == [[[-0.2, 0.5], [0.2, 0.25]],
                                                        [[2.0, -0.75]]]
    assert all(d.get_sizes().tolist() == [14] and d.get_zorder() == 2
               and to_hex(d.get_facecolor()[0]) == "#d9822b" for d in dots)
    bars = [c for c in pairs_ax.collections if type(c).__name__ == "LineCollection"]
    np.testing.assert_allclose([segment for bar in bars for segment in bar.get_segments()],
                               [[[-0.3, 0.375], [0.3, 0.375]], [[1.7, -0.75], [2.3, -0.75]]],
                               rtol=0, atol=1e-12)
    assert all(bar.get_zorder() == 3 and bar.get_linewidth()[0] == 2.5
               and to_hex(bar.get_color()[0]) == "#000000" for bar in bars)


def test_figure2_of_a_real_network_and_what_it_refuses() -> None:
    from matplotlib.colors import to_hex
    from matplotlib.figure import Figure

    from brainfeat.errors import InvalidValueError
    from brainfeat.evaluation.figures import _layer_axis, figure2

    stats = _figure2_stats()
    plain = LayerFigureStats(**{**vars(stats[1]), "scatter": ((), ())})
    too_few = [((0.1, 0.2), (0.3, 0.4)), ((0.1, 0.2, 0.3), (0.3, 0.3, 0.3)),
               ((0.2, 0.2, 0.2), (0.1, 0.2, 0.3))]                # 2 points, constant y or x
    layers = [LayerFigureStats(**{**vars(plain), "layer": f"l{k}",
                                  "scatter": too_few[k] if k < 3 else ((), ())})
              for k in range(6)]
    figure = figure2(layers)
    assert not any(ax.collections for ax in figure.subfigs[1].axes)   # no density to draw
    assert figure.subfigs[0].axes[0].get_ylim() == pytest.approx((-0.05, 1.02))  # no violin
    assert figure.subfigs[2].axes[0].get_ylim() == pytest.approx((-0.05, 1.02))  # no pair
    one = figure2(stats[2:])                               # a single layer
    assert one._suptitle.get_text() == "Figure 2, AlexNet: decoding accuracy of DNN units"
    assert figure._suptitle.get_text() == "Figure 2, AlexNet: decoding accuracy of DNN units"
    assert to_hex(figure._suptitle.get_color()) == "#000000"
    assert figure.get_size_inches().tolist() == pytest.approx([0.9 * 6 + 3, 9.5])
    for n_layers, rotation in ((10, 0), (11, 45)):       # names slanted beyond 10 layers
        ax = Figure().subplots()
        _layer_axis(ax, [plain] * n_layers, bottom=-2.0)
        assert ax.get_xticklabels()[0].get_rotation() == rotation
        assert ax.get_xticklabels()[0].get_fontsize() == 8
        assert ax.get_ylim() == (-1.02, 1.02)             # never below -1.02
    other = LayerFigureStats(**{**vars(stats[0]), "network": "VGG19"})
    with pytest.raises(InvalidValueError) as error:
        figure2([stats[0], other])
    assert str(error.value) == ("figure2 draws one network at a time, got ['AlexNet', "
                                "'VGG19']: call it once per network.")


def test_pages_embed_one_png_per_network_and_side(monkeypatch) -> None:
    """The drawing is replaced by bytes that say what was drawn (tested above and in
    test_evaluation_report.py); here: which statistics go into which embedded image."""
    import base64
    import re

    from brainfeat.evaluation import figures
    from brainfeat.evaluation.html import render_html, render_regenerated_html

    monkeypatch.setattr(figures, "figure2", lambda stats, synthetic: json.dumps(
        [[s.network, s.layer, s.mean_accuracy] for s in stats] + [synthetic]))
    monkeypatch.setattr(figures, "figure_png", lambda drawn: drawn.encode())

    def embedded(page: str, alt: str) -> list[tuple[str, object]]:
        found = re.findall(f'<img class="figure" alt="({alt})" src="data:image/png;base64,'
                           '([^"]*)">', page)
        return [(name, json.loads(base64.b64decode(data))) for name, data in found]

    stats = _figure2_stats()[2]
    report = _report()
    layer = LayerCheck(**{**vars(report.layers[0]), "figure": stats})
    vgg = LayerCheck(**{**vars(layer), "network": "VGG19",
                        "figure": LayerFigureStats(**{**vars(stats), "network": "VGG19"})})
    page = render_html(VerificationReport(**{**vars(report), "layers": (layer, vgg, layer)}))
    assert embedded(page, "Figure 2, [A-Za-z0-9]+") == [
        ("Figure 2, AlexNet", [["AlexNet", "fc9", 0.51], ["AlexNet", "fc9", 0.51], True]),
        ("Figure 2, VGG19", [["VGG19", "fc9", 0.51], True])]
    tokens = _page_tokens(page)
    assert tokens[tokens.index("Figure 2") + 2:tokens.index("Figure 2") + 4] == [
        "<img.figure>", "<img.figure>"]
    published = LayerFigureStats(**{**vars(stats), "mean_accuracy": 0.25})
    comparison = _comparison(figure2={"fc9": (stats, published)}, synthetic=False)
    page = render_regenerated_html(comparison)
    tokens = _page_tokens(page)
    start = tokens.index("Figure 2: regenerated, then published")
    assert tokens[start - 1:start + 10] == [
        "<h2>", "Figure 2: regenerated, then published", "/h2", "<h3>", "regenerated", "/h3",
        "<img.figure>", "<h3>", "published", "/h3", "<img.figure>"]
    assert embedded(page, "Figure 2, [a-z]+") == [
        ("Figure 2, regenerated", [["AlexNet", "fc9", 0.51], False]),
        ("Figure 2, published", [["AlexNet", "fc9", 0.25], False])]
    assert _cells(tokens, "figure2-side-by-side")[1:] == [
        ["fc9", "0.5100", "0.2500", "-0.7500", "-0.7500"]]


# --- identify.py and hierarchy.py: the result objects ------------------------------------------

def _identification_result():
    from brainfeat.evaluation.identify import IdentificationResult

    scores = np.array([[[1.0, 0.5, np.nan], [0.25, 0.25, 0.5]],
                       [[0.0, 0.0, 0.75], [1.0, np.nan, np.nan]]])
    return IdentificationResult(method="nway", description="10-way top-1", network="AlexNet",
                                layers=("conv1", "a_long_layer"), subjects=("S1", "Averaged"),
                                image_ids=("n1_1", "n2_2", "n3_3"), scores=scores, chance=0.1)


def test_identification_result_tables() -> None:
    result = _identification_result()
    table = result.table()
    assert list(table.index) == ["S1", "Averaged"]
    assert list(table.columns) == ["conv1", "a_long_layer"]
    np.testing.assert_array_equal(table.to_numpy(), [[0.75, 1 / 3], [0.25, 1.0]])
    assert result.format_table().splitlines() == [
        "AlexNet nway identification (10-way top-1), mean over 3 images",
        "subject          conv1 a_long_layer",
        "S1               0.750        0.333",
        "Averaged         0.250        1.000",
        "chance level: 0.100"]
    frame = result.to_frame()
    assert list(frame.columns) == ["subject", "layer", "image", "score", "method", "chance"]
    assert frame.iloc[4].tolist() == ["S1", "a_long_layer", "n2_2", 0.25, "nway", 0.1]
    assert frame.iloc[8].tolist()[:3] == ["Averaged", "conv1", "n3_3"]
    assert frame.shape == (12, 6) and frame["score"].isna().sum() == 3
    assert repr(result) == ("<IdentificationResult AlexNet nway: 2 subjects x 2 layers x 3 "
                            "images>")
    short = _identification_result()
    short = type(short)(**{**vars(short), "layers": ("c1", "c2")})
    assert short.format_table().splitlines()[1] == "subject         c1       c2"


def _hierarchy(score: float = 0.5, model: str = ""):
    from brainfeat.evaluation.hierarchy import BHScore

    return BHScore(score=score, layers=("l1", "l2"), rois=("V1", "V2", "HVC"),
                   counts=np.array([[3, 1, 0], [0, 0, 0]]), n_units=np.array([10, 20]),
                   model=model)


def test_bh_score_table_and_repr() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # l2 counted nothing: 0 / 0 is expected
        frame = _hierarchy().to_frame()
    assert frame.index.name == "layer" and list(frame.index) == ["l1", "l2"]
    assert list(frame.columns) == ["n_units", "n_counted", "top_V1", "top_V2", "top_HVC",
                                   "mean_top_roi"]
    assert frame.loc["l1"].tolist() == [10, 4, 0.75, 0.25, 0.0, 1.25]
    assert frame.loc["l2", ["n_units", "n_counted"]].tolist() == [20, 0]
    assert frame.loc["l2"].iloc[2:].isna().all()              # nothing counted: no fractions
    assert repr(_hierarchy(model="vgg")) == "<BHScore vgg: 0.500 over 4 units of 2 layers>"
    assert repr(_hierarchy()) == "<BHScore model: 0.500 over 4 units of 2 layers>"


def test_correlation_p_value_edges() -> None:
    from scipy.stats import t as student_t

    from brainfeat.errors import InvalidValueError
    from brainfeat.evaluation.hierarchy import correlation_p_value

    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # |r| = 1 divides by 0 on purpose
        p = correlation_p_value([1.0, -1.0, 0.0, np.nan, 0.5, 1 + 1e-12], 3)
    assert p[:3].tolist() == [0.0, 0.0, 1.0] and np.isnan(p[3])
    assert p[5] == 0.0                                 # r rounded above 1 counts as 1
    t = 0.5 * math.sqrt(1 / 0.75)                            # 1 dof
    assert p[4] == pytest.approx(2 * student_t.sf(t, 1), rel=1e-12)
    with pytest.raises(InvalidValueError) as error:
        correlation_p_value(np.array([0.5]), 2)
    assert str(error.value) == ("n_samples=2 is out of range: expected a whole number >= 3; "
                                "pass e.g. n_samples=50.")


def test_bh_score_ties_nan_and_degenerate_cases() -> None:
    from brainfeat.errors import ShapeMismatchError, UnknownNameError
    from brainfeat.evaluation.hierarchy import bh_score

    strong = 0.9
    # unit 0: tie V1 = V2 -> V1; unit 1: NaN in V1 -> V2; unit 2: NaN everywhere -> not counted
    layer = {"V1": np.array([strong, np.nan, np.nan]), "V2": np.array([strong, strong, np.nan])}
    result = bh_score({"l1": layer}, rois=("V1", "V2"))
    assert result.counts.tolist() == [[1, 1]] and result.n_units.tolist() == [3]
    assert math.isnan(result.score)                          # one layer: no spread
    assert result.layers == ("l1",) and result.rois == ("V1", "V2")
    assert result.counts.dtype == np.int64 and result.n_units.dtype == np.int64
    two = bh_score({"l1": {"V1": [strong], "V2": [0.0]}, "l2": {"V1": [0.0], "V2": [strong]}},
                   rois=("V1", "V2"), model="m")
    assert two.score == pytest.approx(1.0) and two.model == "m"
    # alpha and n_images reach the test: 0.5 is significant over 50 images, not over 5
    assert bh_score({"l": {"V1": [0.5]}}, rois=("V1",), n_images=5).counts.tolist() == [[0]]
    assert bh_score({"l": {"V1": [0.5]}}, rois=("V1",)).counts.tolist() == [[1]]
    assert bh_score({"l": {"V1": [0.5]}}, rois=("V1",), alpha=1e-6).counts.tolist() == [[0]]
    exact = bh_score({"l": {"V1": np.full(4, strong)}}, rois=("V1",), units_per_layer=4)
    assert exact.n_units.tolist() == [4]
    same_roi = bh_score({"a": {"V1": [strong]}, "b": {"V1": [strong]}}, rois=("V1",))
    assert math.isnan(same_roi.score)                        # every unit in one ROI
    with pytest.raises(UnknownNameError) as error:
        bh_score({"fc8": {"V1": [0.1], "V4": [0.2]}}, rois=("V1", "V2", "V3"))
    assert str(error.value) == ("layer 'fc8' has no accuracies of ROI ['V2', 'V3']: it has V1, "
                                "V4; expected V1, V2, V3.")
    with pytest.raises(ShapeMismatchError) as error:
        bh_score({"fc8": {"V1": [0.1], "V2": [0.2, 0.3]}}, rois=("V1", "V2"))
    assert str(error.value) == ("layer 'fc8' has different unit counts per ROI {'V1': 1, "
                                "'V2': 2}: every ROI must score the same units.")
    with pytest.raises(UnknownNameError) as error:
        bh_score({})
    assert str(error.value) == "bh_score needs the accuracies of at least one layer."


def test_unit_correlation_scores_each_chunk_of_units_once(monkeypatch) -> None:
    """The float64 temporaries are bounded by ``chunk_units`` columns (module docstring)."""
    from brainfeat.evaluation import metrics

    widths = []
    real = metrics._correlate_chunk

    def counted(pred, true):
        widths.append(pred.shape[1])
        return real(pred, true)

    monkeypatch.setattr(metrics, "_correlate_chunk", counted)
    rng = np.random.default_rng(3)
    true = rng.normal(size=(4, 10))
    r = unit_correlation(true + rng.normal(size=true.shape), true, chunk_units=4)
    assert widths == [4, 4, 2]
    widths.clear()
    assert unit_correlation(true + 1, true).shape == (10,)    # default: one chunk of 65,536
    assert widths == [10] and r.shape == (10,)


def test_constant_units_give_nan_without_a_warning() -> None:
    true = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # 0 / 0 is expected, not reported
        r = unit_correlation(true, true)
    assert r[0] == 1.0 and np.isnan(r[1])


def test_rank_units_takes_any_real_numbers() -> None:
    np.testing.assert_array_equal(rank_units(np.array([3, 1, 2])), [1, 3, 2])
    np.testing.assert_array_equal(rank_units([0.5, 0.25], descending=False), [2, 1])


def test_compare_accuracy_subtracts_in_float64() -> None:
    from brainfeat.evaluation.report import _compare_accuracy

    mine, theirs = np.array([1.0], np.float32), np.array([1e-8], np.float32)
    exact = 1.0 - float(np.float32(1e-8))                 # float32 would round it to 1.0
    for a, b in ((mine, theirs), (theirs, mine)):
        found = _compare_accuracy(a, b, exact, "")
        assert found["max_abs_diff"] == exact and exact != 1.0
        assert found["fraction_within"] == 1.0


class _SliceLog(np.ndarray):
    """An array that records the keys it is indexed with (its views do not)."""

    def __getitem__(self, key):
        if "log" in self.__dict__:
            self.log.append(key)
        return super().__getitem__(key)


def test_layer_wide_reductions_read_chunk_by_chunk() -> None:
    """No full-size float64 temporary of a layer (VGG19 conv1_1 is 50 x 3.2 M)."""
    from brainfeat.evaluation.metrics import DEFAULT_CHUNK_UNITS as CHUNK
    from brainfeat.evaluation.report import _max_relative_diff, _min

    def keys(array: _SliceLog) -> list[str]:
        return list(dict.fromkeys(map(str, array.log)))     # each key once, in order

    def logged(array: np.ndarray) -> _SliceLog:
        view = array.view(_SliceLog)
        view.log = []
        return view

    base = np.zeros((2, CHUNK + 3))
    base[0, 0] = -1.0                                   # smallest value and scale in column 0
    chunks = [str((slice(None), slice(0, CHUNK))), str((slice(None), slice(CHUNK, 2 * CHUNK)))]
    values, reference = logged(base + 0.5), logged(base)
    assert _max_relative_diff(values, reference) == 0.5
    assert keys(values) == keys(reference) == chunks
    values = logged(base)
    assert _min(values) == -1.0 and keys(values) == chunks
    assert _min(np.array([[0.5, -0.25], [np.nan, 0.0]])) == -0.25


# --- identification.py: similarities and undefined scores --------------------------------------

def test_similarity_matrix_values_of_each_metric() -> None:
    from brainfeat.evaluation.identification import similarity_matrix

    rng = np.random.default_rng(5)
    decoded, candidates = rng.normal(size=(3, 7)), rng.normal(size=(4, 7))
    expected = {
        "correlation": [[np.corrcoef(d, c)[0, 1] for c in candidates] for d in decoded],
        "cosine": [[d @ c / np.sqrt((d @ d) * (c @ c)) for c in candidates] for d in decoded],
        "euclidean": [[1 - np.sqrt(np.sum((d - c) ** 2)) for c in candidates] for d in decoded],
    }
    for metric, values in expected.items():
        found = similarity_matrix(decoded, candidates, metric)
        assert found.shape == (3, 4)
        np.testing.assert_allclose(found, values, rtol=0, atol=1e-12, err_msg=metric)


def test_undefined_identification_scores_are_nan_without_a_warning() -> None:
    from brainfeat.evaluation.identification import pairwise_identification

    rng = np.random.default_rng(2)
    true = rng.normal(size=(4, 6))
    pred = true + 0.1 * rng.normal(size=true.shape)
    flat_true, flat_pred = true.copy(), pred.copy()
    flat_true[0] = 1.0          # its own similarity is undefined, its distractors are not
    flat_pred[2] = 1.0          # every similarity of this sample is undefined
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = pairwise_identification(flat_pred, flat_true)
        single = pairwise_identification(pred[:1], true[:1])     # no distractor at all
    assert np.isnan(scores[0]) and np.isnan(scores[2])
    assert scores[1] == scores[3] == 1.0
    assert np.isnan(single).tolist() == [True]


def test_bh_score_defaults_draws_and_thresholds() -> None:
    from types import SimpleNamespace

    from brainfeat.evaluation.hierarchy import bh_score, correlation_p_value

    # between the 5 % thresholds of 50 images (r = 0.2787) and of 51 (0.2759)
    assert bh_score({"l": {"V1": [0.277]}}, rois=("V1",)).counts.tolist() == [[0]]
    assert bh_score({"l": {"V1": [0.277]}}, rois=("V1",), n_images=51).counts.tolist() == [[1]]
    r = 0.5
    at_alpha = float(correlation_p_value(np.array([r]), 50)[0])
    assert bh_score({"l": {"V1": [r]}}, rois=("V1",), alpha=at_alpha).counts.tolist() == [[0]]
    assert bh_score({"l": {"V1": [r]}}, rois=("V1",)).model == ""
    # UnitScores-like values are read from .values
    scores = {"V1": SimpleNamespace(values=np.array([0.9, 0.0])),
              "V2": SimpleNamespace(values=np.array([0.0, 0.9]))}
    assert bh_score({"l": scores}, rois=("V1", "V2")).counts.tolist() == [[1, 1]]
    # 19 of 20 units drawn without replacement: one ROI loses exactly one unit
    tops = np.arange(20) % 5
    layer = {roi: np.where(tops == k, 0.9, 0.1) for k, roi in enumerate("ABCDE")}
    drawn = bh_score({"l": layer}, rois=tuple("ABCDE"), units_per_layer=19)
    assert sorted(drawn.counts[0].tolist()) == [3, 4, 4, 4, 4]
    # a layer of exactly units_per_layer units is taken whole and draws nothing, so the
    # next layer's draw is the seed's first (one ROI per unit: the counts show which unit)
    rois = tuple(f"R{k}" for k in range(20))
    one_each = {roi: np.where(np.arange(20) == k, 0.9, 0.1) for k, roi in enumerate(rois)}
    small = {roi: values[:19] for roi, values in one_each.items()}
    both = bh_score({"a": small, "b": one_each}, rois=rois, units_per_layer=19, seed=5)
    first = np.sort(np.random.default_rng(5).choice(20, 19, replace=False))
    assert np.flatnonzero(both.counts[1]).tolist() == first.tolist()
    assert np.array_equal(bh_score({"l": layer}, rois=tuple("ABCDE"), units_per_layer=7).counts,
                          bh_score({"l": layer}, rois=tuple("ABCDE"), units_per_layer=7,
                                   seed=0).counts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no Spearman r of a constant
        assert math.isnan(bh_score({"a": {"V1": [0.9, 0.1], "V2": [0.1, 0.9]}},
                                   rois=("V1", "V2")).score)     # one layer
        assert math.isnan(bh_score({"a": {"V1": [0.9], "V2": [0.1]},
                                    "b": {"V1": [0.9], "V2": [0.1]}}, rois=("V1", "V2")).score)


def test_identification_messages_name_each_argument() -> None:
    from brainfeat.errors import InvalidValueError, ShapeMismatchError, UnknownNameError
    from brainfeat.evaluation.identification import (
        category_averages,
        category_identification,
        nway_identification,
        pairwise_identification,
        pattern_correlation,
    )

    rng = np.random.default_rng(1)
    a, flat = rng.normal(size=(3, 10)), np.zeros(3)
    shape = "has shape (3,): expected (n_samples, n_units) or (n_samples, *unit_shape) with " \
            "at least one sample."
    labels = list("abc")
    cases = [
        (lambda: pairwise_identification(a, flat), ShapeMismatchError, f"true {shape}"),
        (lambda: pairwise_identification(a, a, flat), ShapeMismatchError, f"candidates {shape}"),
        (lambda: nway_identification(a, flat), ShapeMismatchError, f"true {shape}"),
        (lambda: pattern_correlation(flat, a), ShapeMismatchError, f"pred {shape}"),
        (lambda: pattern_correlation(a, flat), ShapeMismatchError, f"true {shape}"),
        (lambda: pattern_correlation(a, a[:2]), ShapeMismatchError,
         "pred has shape (3, 10) but true has shape (2, 10)."),
        (lambda: category_identification(flat, labels, a, labels), ShapeMismatchError,
         f"decoded {shape}"),
        (lambda: category_identification(a, labels, flat, labels), ShapeMismatchError,
         f"candidates {shape}"),
        (lambda: category_identification(a, labels, a[:, :9], labels), ShapeMismatchError,
         ("candidates have 9 units per row but the decoded features have 10: candidates must "
         "come from the same layer (and the same network) as the decoded features.")),
        (lambda: category_identification(a, labels[:2], a, labels), ShapeMismatchError,
         "categories has 2 labels for 3 rows."),
        (lambda: category_identification(a, labels, a, labels[:2]), ShapeMismatchError,
         "candidate_categories has 2 labels for 3 rows."),
        (lambda: category_identification(np.zeros((7, 2)), list("abcdefa"), np.zeros((12, 2)),
                                          list("abcdef") * 2), UnknownNameError,
         ("candidate_categories repeats ['a', 'b', 'c', 'd', 'e']: expected one averaged row "
         "per category.")),
        (lambda: category_identification(np.zeros((7, 2)), list("uvwxyzq"), np.zeros((1, 2)),
                                          ["a"]), UnknownNameError,
         ("categories ['q', 'u', 'v', 'w', 'x'] are not among the 1 candidate categories: the "
         "true category of every sample must be a candidate.")),
        (lambda: category_averages(flat, labels), ShapeMismatchError, f"features {shape}"),
        (lambda: category_averages(a, labels[:2]), ShapeMismatchError,
         "2 image ids for 3 rows of features."),
        (lambda: nway_identification(a, a, n_way=1), InvalidValueError,
         "n_way=1 is out of range: expected a whole number >= 2; pass e.g. n_way=10."),
        (lambda: nway_identification(a, a, top_k=0), InvalidValueError,
         "top_k=0 is out of range: expected a whole number >= 1; pass e.g. top_k=1."),
        (lambda: nway_identification(a, a, n_draws=0), InvalidValueError,
         "n_draws=0 is out of range: expected a whole number >= 1; pass e.g. n_draws=100."),
        (lambda: nway_identification(a, a, n_way=3, top_k=3), InvalidValueError,
         ("n_way=3, top_k=3: expected n_way <= 3 (the distractors available to every sample, "
         "plus its target) and top_k < n_way.")),
    ]
    _assert_refusals(cases)
    wide = rng.normal(size=(3, 14))
    wide[0, :12] = np.nan
    with pytest.raises(ShapeMismatchError) as error:
        category_identification(wide, labels, rng.normal(size=(3, 14)), labels)
    assert str(error.value) == (
        "units [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] (12 in all) hold NaN: the lab's category "
        "identification drops no unit; pass drop_nan_units=True to drop them.")
    candidates = rng.normal(size=(3, 10))
    candidates[1, 4] = np.nan                     # NaN in one candidate unit: only that unit
    with pytest.raises(ShapeMismatchError, match=r"^units \[4\] \(1 in all\)"):
        category_identification(a, labels, candidates, labels)
    # the smallest accepted values
    assert nway_identification(a, a, n_way=2, n_draws=1).shape == (3,)


def test_identification_uses_the_metric_and_the_candidates_given() -> None:
    from brainfeat.evaluation.identification import (
        category_identification,
        nway_identification,
        pairwise_identification,
    )

    rng = np.random.default_rng(8)
    true, candidates = rng.normal(size=(5, 9)), rng.normal(size=(6, 9))
    pred = true + rng.normal(size=true.shape)

    def cosine(x, y):
        return x @ y / np.sqrt((x @ x) * (y @ y))

    own = np.array([cosine(p, t) for p, t in zip(pred, true)])
    others = np.array([[cosine(p, c) for c in candidates] for p in pred])
    expected = (others < own[:, None]).mean(axis=1)
    np.testing.assert_array_equal(
        pairwise_identification(pred, true, candidates, metric="cosine"), expected)
    labels = [f"c{k}" for k in range(6)]
    truth = labels[:5]
    rates = category_identification(pred, truth, candidates, labels, metric="cosine")
    by_hand = [np.mean([others[i, j] < others[i, i] for j in range(6) if j != i])
               for i in range(5)]
    np.testing.assert_array_equal(rates, by_hand)
    # every candidate drawn (n_way = 6 + 1): a hit iff no candidate beats the target
    hits = nway_identification(pred, true, candidates, n_way=7, n_draws=2, metric="cosine")
    np.testing.assert_array_equal(hits, (others > own[:, None]).sum(axis=1) < 1)
    # the pool: 2 distractors, both drawn at n_way = 3 -> 0 or 1, never in between
    few = nway_identification(pred[:3], true[:3], n_way=3, n_draws=20)
    assert set(few.tolist()) <= {0.0, 1.0}


def test_nway_ties_with_the_target_do_not_beat_it() -> None:
    import scipy.linalg

    from brainfeat.evaluation.identification import nway_identification

    # Hadamard rows: every similarity exact; each target's copy among the candidates ties it
    true = scipy.linalg.hadamard(16)[1:6].astype(float)
    np.testing.assert_array_equal(
        nway_identification(true, true, true, n_way=3, n_draws=10), np.ones(5))


def test_pattern_correlation_zscores_without_floating_point_warnings() -> None:
    from brainfeat.evaluation.identification import pattern_correlation

    rng = np.random.default_rng(4)
    pred, true = rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
    mean, std = np.zeros(6), np.ones(6)
    std[2] = 0.0                                       # a unit without training variance
    pred[0, 2] = 0.0                                   # 0 / 0 as well as x / 0
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*encountered")   # numpy's fp warnings
        with pytest.warns(RuntimeWarning, match="1 of 6 units"):
            found = pattern_correlation(pred, true, mean, std)
    keep = [0, 1, 3, 4, 5]
    expected = [np.corrcoef(p[keep], t[keep])[0, 1] for p, t in zip(pred, true)]
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-12)


def test_nway_defaults_and_draws_of_every_distractor() -> None:
    from brainfeat.evaluation.identification import (
        nway_identification,
        pairwise_identification,
    )

    rng = np.random.default_rng(6)
    true = rng.normal(size=(50, 5))
    pred = true + rng.normal(size=true.shape)
    np.testing.assert_array_equal(          # 50-way top-1, 100 draws, seed 0
        nway_identification(pred, true),
        nway_identification(pred, true, n_way=50, top_k=1, n_draws=100, seed=0))
    np.testing.assert_array_equal(          # random draws: 100 of them, seed 0
        nway_identification(pred, true, n_way=10),
        nway_identification(pred, true, n_way=10, n_draws=100, seed=0))
    # one candidate beats the target (a copy of the decoded row), one does not (its negative):
    # with both drawn every draw is a miss
    p, t = np.array([[0.0, 1.0, 2.0, 3.0]]), np.array([[0.0, 2.0, 1.0, 3.0]])
    assert nway_identification(p, t, np.vstack([p, -p]), n_way=3, n_draws=20).tolist() == [0.0]
    # two samples: one distractor each, a score of 0 or 1
    assert pairwise_identification(true[:2], true[:2]).tolist() == [1.0, 1.0]


def test_save_figure2_writes_each_panel_of_each_network(tmp_path, monkeypatch) -> None:
    """Saving is replaced by a record of what would be written (writing is tested in
    test_evaluation_report.py)."""
    from matplotlib.colors import to_hex
    from matplotlib.figure import Figure

    from brainfeat.errors import InvalidValueError
    from brainfeat.evaluation.figures import SYNTHETIC_CAPTION, save_figure2

    saved = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, path, dpi: saved.append(
        (figure, path, dpi)))
    alexnet = _figure2_stats()[2]
    vgg = LayerFigureStats(**{**vars(alexnet), "network": "VGG19"})
    written = save_figure2([alexnet, vgg, alexnet], tmp_path / "a" / "b", synthetic=True,
                           formats=("png",))
    names = [f"{panel}-{net}.png" for net in ("AlexNet", "VGG19")
             for panel in ("figure2", "figure2a", "figure2c", "figure2b")]
    assert written == [tmp_path / "a" / "b" / name for name in names]
    assert (tmp_path / "a" / "b").is_dir()
    assert [path for _, path, _ in saved] == written and {dpi for *_, dpi in saved} == {120}
    figures = {path.name: figure for figure, path, _ in saved}
    assert len(figures["figure2-AlexNet.png"].subfigs[1].axes) == 2       # both fc9 layers
    assert figures["figure2a-AlexNet.png"].get_size_inches().tolist() == [8, 4]
    assert figures["figure2c-AlexNet.png"].get_size_inches().tolist() == [8, 4]
    assert figures["figure2b-AlexNet.png"].get_size_inches().tolist() == [8.0, 2.2]
    for name, figure in figures.items():
        assert figure.get_layout_engine().__class__.__name__ == "ConstrainedLayoutEngine"
        captions = [t for t in figure.texts if t.get_text() == SYNTHETIC_CAPTION]
        if name.startswith("figure2-"):
            assert not captions                            # in its title instead
            assert figure._suptitle.get_text().endswith(SYNTHETIC_CAPTION)
            continue
        (caption,) = captions
        assert caption.get_position() == (0.99, 0.01) and caption.get_ha() == "right"
        assert caption.get_fontsize() == 7 and to_hex(caption.get_color()) == "#b00020"
    assert figures["figure2a-AlexNet.png"].axes[0].get_title(loc="left").startswith("a  ")
    assert figures["figure2c-AlexNet.png"].axes[0].get_title(loc="left").startswith("c  ")
    saved.clear()
    real = save_figure2([alexnet], tmp_path / "c")
    assert [path.name for path in real] == [f"{panel}-AlexNet.{extension}"
                                            for panel in ("figure2", "figure2a", "figure2c",
                                                          "figure2b")
                                            for extension in ("png", "svg")]
    assert not any(t.get_text() == SYNTHETIC_CAPTION for figure, *_ in saved
                   for t in figure.texts)
    many = [LayerFigureStats(**{**vars(alexnet), "layer": f"l{k}"}) for k in range(10)]
    saved.clear()
    save_figure2(many, tmp_path / "d", formats=("svg",))
    sizes = {path.name: figure.get_size_inches().tolist() for figure, path, _ in saved}
    assert sizes["figure2b-AlexNet.svg"] == pytest.approx([9.0, 2.2])
    assert save_figure2(many[:1], tmp_path / "d", formats=()) == []      # the folder exists
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidValueError, match=r"^out_dir='"):
        save_figure2([alexnet], tmp_path / "file")


def test_profile_figure_draws_every_line_with_its_layers() -> None:
    from matplotlib.colors import to_hex

    from brainfeat.evaluation.figures import SYNTHETIC_CAPTION, profile_figure

    lines = {"net (regenerated)": [("c1", 0.1, 0.5), ("c2", None, 0.6), ("fc", 0.3, None)],
             "one layer": [("only", 0.2, 0.4)]}
    figure = profile_figure(lines, title="T", subject_means={"net (regenerated)": [
        [0.05, 0.15], [], [0.25, 0.3, 0.35]]}, synthetic=True)
    assert figure.get_size_inches().tolist() == [11, 4.5]
    assert figure.get_layout_engine().__class__.__name__ == "ConstrainedLayoutEngine"
    assert figure._suptitle.get_text() == f"T\n{SYNTHETIC_CAPTION}"
    assert to_hex(figure._suptitle.get_color()) == "#b00020"
    accuracy_ax, intersubject_ax = figure.axes
    assert [ax.get_subplotspec().colspan.start for ax in figure.axes] == [0, 1]   # side by side
    for ax, column, ylabel in ((accuracy_ax, 1, "Mean decoding accuracy (r)"),
                               (intersubject_ax, 2, "Mean inter-subject r of unit accuracies")):
        assert ax.get_xlabel() == "Relative layer depth (first 0, last 1)"
        assert ax.get_ylabel() == ylabel
        first, second, zero = ax.get_lines()
        assert first.get_label() == "net (regenerated)" and first.get_marker() == "o"
        np.testing.assert_array_equal(first.get_xdata(), [0, 0.5, 1])
        np.testing.assert_array_equal(
            first.get_ydata(), [np.nan if row[column] is None else row[column]
                                for row in lines["net (regenerated)"]])
        assert second.get_xdata().tolist() == [0.0] and second.get_label() == "one layer"
        assert list(zero.get_ydata()) == [0, 0] and to_hex(zero.get_color()) == "#999999"
        assert zero.get_linewidth() == 0.8
        labelled = [(t.get_text(), t.xy) for t in ax.texts]
        expected = [(row[0], (x, row[column]))
                    for rows, depths in ((lines["net (regenerated)"], (0, 0.5, 1)),
                                         (lines["one layer"], (0,)))
                    for row, x in zip(rows, depths) if row[column] is not None]
        assert labelled == expected                        # missing values are not labelled
        assert all(t.get_fontsize() == 6 and t.xyann == (2, 3) for t in ax.texts)
        assert all(t.anncoords == "offset points" for t in ax.texts)
    dots = accuracy_ax.collections
    assert [d.get_offsets().tolist() for d in dots] == [
        [[0.0, 0.05], [0.0, 0.15]], [], [[1.0, 0.25], [1.0, 0.3], [1.0, 0.35]]]
    colour = accuracy_ax.get_lines()[0].get_color()
    assert all(d.get_sizes().tolist() == [8] and d.get_alpha() == 0.6 for d in dots)
    assert all(to_hex(d.get_facecolor()[0]) == to_hex(colour) for d in dots if len(
        d.get_offsets()))
    assert not intersubject_ax.collections
    legend = accuracy_ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["net (regenerated)", "one layer"]
    assert legend.get_texts()[0].get_fontsize() == 7
    plain = profile_figure({"x": [("a", 0.1, 0.2), ("b", 0.3, 0.4)]}, title="P")
    assert plain._suptitle.get_text() == "P"
    assert to_hex(plain._suptitle.get_color()) == "#000000"


def test_figure_png_renders_at_100_dpi_by_default() -> None:
    import struct

    from matplotlib.figure import Figure

    from brainfeat.evaluation.figures import figure_png

    def png_size(data: bytes) -> tuple[int, int]:
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        return struct.unpack(">II", data[16:24])          # IHDR width, height

    assert png_size(figure_png(Figure(figsize=(1, 0.5)))) == (100, 50)
    assert png_size(figure_png(Figure(figsize=(1, 0.5)), dpi=30)) == (30, 15)
