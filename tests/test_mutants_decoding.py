"""Behaviour of the decoding solvers and of decode_layer that mutation testing found unpinned.

decoding/_solvers.py: the design's documented arrays (float64, z-scored correlation inputs,
fastl2lir's variance threshold), the switch between primal and dual systems at its
boundary, unselected systems never factorised, the per-backend cache, the z-scoring
helpers, and the full text of the argument errors. Numbers are compared with a plain
float64 ridge solve per unit and bounded by :mod:`solve_bounds`.

decoding/layer.py: the output file's header (settings, input hashes) and layout, NaN where
no chunk was written, the counts a resumed run reports (callback and progress bar), the
smallest settings accepted, fMRI loaded per split when not given, decode_jobs' merge of
settings, and features that are refused (another network or layer, rows without ids, NaN,
grids that cannot be streamed), each with its whole message; the published defaults, the
catalog given, feature forms (a FeatureSet's unit grid, arrays with values but no ids), and
the Dask branch's window of chunks in flight and its one data key per chunk. Decoded values
are compared with VoxelSelectRidge fitted in the same chunks (the same computation, so the
same bits).
See docs/mutation.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray

from brainfeat.catalog import Subject, default_catalog
from brainfeat.decoding import layer as layer_module
from brainfeat.decoding import VoxelSelectRidge, decode_jobs, decode_layer
from brainfeat.decoding._solvers import (CONSTANT_VARIANCE, normalise_stats, prepare_design,
                                         standardise)
from brainfeat.decoding.backends import NumpyBackend
from brainfeat.decoding.layer import decode_chunk, network_name
from brainfeat.errors import (DataNotFoundError, FormatError, InvalidValueError,
                              UnknownNameError)
from brainfeat.evaluation.metrics import unit_correlation
from solve_bounds import FLOAT64_EPS, ridge_error_bounds
from test_decoding_layer import SETTINGS, Samples, make_inputs


def _data(n: int, v: int, units: int = 4, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Offset voxels, units that depend on a few of them, and test inputs."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n + 5, v)) + rng.standard_normal(v)
    y = x[:n] @ (rng.standard_normal((v, units)) * (rng.random((v, units)) < 0.3))
    return x[:n], y + rng.standard_normal((n, units)) + 2.0, x[n:]


def _reference(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, alpha: float,
               selected: list[np.ndarray]) -> np.ndarray:
    """Predictions of fastl2lir's primal system per unit, ``(X_S^T X_S + alpha I) w = X_S^T y``
    with the bias column ``S`` ends with, solved by ``np.linalg.solve``."""
    x_aug = np.hstack((x, np.ones((len(x), 1))))
    test_aug = np.hstack((x_test, np.ones((len(x_test), 1))))
    pred = np.empty((len(x_test), y.shape[1]))
    for unit, voxels in enumerate(selected):
        columns = np.append(voxels, x.shape[1])
        chosen = x_aug[:, columns]
        system = chosen.T @ chosen + alpha * np.eye(len(columns))
        pred[:, unit] = test_aug[:, columns] @ np.linalg.solve(system, chosen.T @ y[:, unit])
    return pred


def _check_against_reference(model: VoxelSelectRidge, x, y, x_test, selected) -> None:
    """Our predictions (primal or dual) against :func:`_reference` (primal), each rounded."""
    ours_bound, _ = ridge_error_bounds(x, y, x_test, model.alpha,
                                       None if model.voxel_index_.shape[1] == x.shape[1]
                                       else selected)
    reference_bound, _ = ridge_error_bounds(x, y, x_test, model.alpha, selected)
    tolerance = FLOAT64_EPS * (ours_bound + reference_bound)
    difference = np.abs(model.predict(x_test) - _reference(x, y, x_test, model.alpha, selected))
    assert (difference <= tolerance).all()


@pytest.mark.parametrize("extra_samples", [-1, 0, 1, 2])
def test_unselected_systems_match_a_primal_solve_around_the_dual_switch(extra_samples) -> None:
    """fastl2lir solves in dual form up to n_samples == n_voxels + 1 and in primal form above."""
    v = 12
    n = v + extra_samples
    x, y, x_test = _data(n, v, seed=extra_samples + 10)
    design = prepare_design(x, 3.0, None)
    assert design.dual == (n <= v + 1)
    assert design.gram.shape == ((n, n) if n <= v + 1 else (v + 1, v + 1))
    model = VoxelSelectRidge(alpha=3.0, n_voxels=None).fit(x, y)
    _check_against_reference(model, x, y, x_test, [np.arange(v)] * y.shape[1])


def test_two_samples_are_enough() -> None:
    x, y, x_test = _data(2, 6, seed=1)
    model = VoxelSelectRidge(alpha=1.0, n_voxels=3).fit(x, y)
    assert model.voxel_index_.shape == (4, 3)
    _check_against_reference(model, x, y, x_test, list(model.voxel_index_))


def test_selection_with_alpha_zero_needs_no_full_factorisation() -> None:
    """With alpha=0 the full Gram matrix of 20 samples and 50 voxels is singular; each
    unit's 6 x 6 system is not, so the fit must not factorise the full one."""
    x, y, x_test = _data(20, 50, seed=2)
    assert np.linalg.matrix_rank(prepare_design(x, 0.0, 5).gram) <= 20
    model = VoxelSelectRidge(alpha=0.0, n_voxels=5).fit(x, y)
    _check_against_reference(model, x, y, x_test, list(model.voxel_index_))
    assert prepare_design(x, 0.0, 5).on(NumpyBackend("float64")).factor is None


def test_a_design_is_bound_once_per_backend() -> None:
    design = prepare_design(_data(30, 8)[0], 1.0, 4)
    numpy64, numpy32 = NumpyBackend("float64"), NumpyBackend("float32")
    assert design.on(numpy64) is design.on(numpy64)
    assert design.on(numpy32) is not design.on(numpy64)
    assert design.on(numpy32).backend is numpy32


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_the_design_is_float64_with_z_scored_correlation_inputs(dtype) -> None:
    """x_corr: every voxel centred and scaled to std 1 (ddof=1) in float64, whatever the
    input's dtype; voxels constant in training exactly 0; alpha kept as a float."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((40, 9)) * [1, 2, 3, 0.1, 5, 1, 1, 7, 1] + 300).astype(dtype)
    x[:, [2, 6]] = x[0, [2, 6]]                               # constant voxels
    design = prepare_design(x, 7, 3)
    exact = x.astype(np.float64)
    mean, std = exact.mean(axis=0), exact.std(axis=0, ddof=1)
    varying = std > 0
    expected = np.zeros_like(exact)
    expected[:, varying] = (exact[:, varying] - mean[varying]) / std[varying]
    # Rounding of the mean (n terms) and the centring, relative to the column's spread.
    bound = 4 * len(x) * FLOAT64_EPS * np.abs(exact).max(axis=0) / np.where(varying, std, 1.0)
    assert design.x_corr.dtype == design.x_aug.dtype == design.gram.dtype == np.float64
    assert (np.abs(design.x_corr - expected) <= bound).all()
    assert (design.x_corr[:, ~varying] == 0).all()
    np.testing.assert_array_equal(design.x_aug, np.hstack((exact, np.ones((40, 1)))))
    assert design.alpha == 7.0 and type(design.alpha) is float
    assert (design.n_selected, design.select, design.n_voxels) == (3, True, 9)


def test_variance_threshold_keeps_a_voxel_of_exactly_1e_8() -> None:
    """fastl2lir zeroes the correlation of voxels with ``np.var(X, axis=0) < 1e-8``."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 5))
    x[:, 1] = [0.0, 2e-4, 0.0, 2e-4]                          # variance exactly 1e-8
    x[:, 3] = [0.0, 1.9999e-4, 0.0, 1.9999e-4]                # just below
    variance = x.var(axis=0)
    assert variance[1] == CONSTANT_VARIANCE and variance[3] < CONSTANT_VARIANCE
    x_corr = prepare_design(x, 1.0, 2).x_corr
    assert (x_corr[:, 1] != 0).all() and (x_corr[:, 3] == 0).all()


def test_normalise_stats_are_float64_whatever_the_input() -> None:
    values = (np.random.default_rng(5).standard_normal((30, 4)) * 3 + 1000).astype(np.float32)
    mean, std = normalise_stats(values)
    assert mean.dtype == std.dtype == np.float64 and mean.shape == std.shape == (4,)
    exact = values.astype(np.float64)
    for column in range(4):
        expected_mean = sum(exact[:, column].tolist()) / 30
        spread = exact[:, column] - expected_mean
        expected_std = np.sqrt((spread @ spread) / 29)
        # n-term sums rounded in float64, relative to the column's magnitude and spread
        assert abs(mean[column] - expected_mean) <= 30 * FLOAT64_EPS * 1000
        assert abs(std[column] - expected_std) <= 30 * FLOAT64_EPS * 1000


@pytest.mark.parametrize("stats_dtype", [np.float64, np.float32])
def test_standardise_divides_every_varying_column_and_zeroes_constant_ones(stats_dtype) -> None:
    """Columns of any positive std (0.5 here) are scaled, constant ones are exactly 0 without
    a division warning, and the result is float64 even for float32 statistics."""
    values = np.array([[1.0, 4.0, 2.0, -3.0], [2.0, 4.0, 3.0, 5.0], [4.5, 4.0, 7.0, 0.25]],
                      dtype=np.float32)
    mean = np.array([2.0, 4.0, 4.0, 0.5], dtype=stats_dtype)
    std = np.array([0.5, 0.0, 2.5, 1.0], dtype=stats_dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                        # no division by zero
        out = standardise(values, mean, std)
    expected = np.array([[-2.0, 0.0, -0.8, -3.5], [0.0, 0.0, -0.4, 4.5], [5.0, 0.0, 1.2, -0.25]])
    assert out.dtype == np.float64
    # values, means and stds are exact binary fractions but 2.5: one rounding per quotient
    np.testing.assert_allclose(out, expected, rtol=2 * FLOAT64_EPS, atol=0)
    assert (out[:, 1] == 0).all()


@pytest.mark.parametrize(("args", "expected"), [
    ((np.ones((5, 3)), "big", 2),
     r"^alpha='big' is not a number: .*; pass e\.g\. alpha=100\.0\.$"),
    ((np.ones((5, 3)), -1.0, 2), r"^alpha=-1\.0 is out of range: .*; pass e\.g\. alpha=100\.0\.$"),
    ((np.ones((5, 3)), 1.0, -1), r"^n_voxels=-1 is out of range: .*; pass e\.g\. n_voxels=500\.$"),
    ((np.ones((5, 3)), 1.0, 2.5), r"^n_voxels=2\.5 is not an integer: .*, e\.g\. n_voxels=500\.$"),
    ((np.ones(5), 1.0, 2), r"^X has shape \(5,\): expected \(n_samples, n_voxels\)"),
    ((np.ones((5, 3, 1)), 1.0, 2), r"^X has shape \(5, 3, 1\): expected"),
    ((np.ones((1, 3)), 1.0, 2), r"^X has shape \(1, 3\): .* at least 2 samples\.$"),
    ((np.array([[1.0, np.nan], [2.0, 3.0]]), 1.0, 1),
     r"^X contains NaN or infinite values: remove or impute them first\.$"),
    ((np.array([[1.0, 2.0], [np.inf, 3.0]]), 1.0, None), r"^X contains NaN or infinite values"),
])
def test_design_errors_name_the_value_and_what_to_pass(args, expected) -> None:
    with pytest.raises(InvalidValueError) as raised:
        prepare_design(*args)
    assert re.search(expected, str(raised.value))


# -- decoding/layer.py ----------------------------------------------------------------------

def _decode(inputs: dict, out: Path, **kw) -> Path:
    """decode_layer on ``inputs`` (make_inputs) with the test settings, overridden by ``kw``."""
    args = {**SETTINGS, "train_features": inputs["features"], "fmri_train": inputs["train"],
            "fmri_test": inputs["test"], "test_features": inputs["features"], **kw}
    return decode_layer("S1", "alexnet", "fc8", out=out, **args)


def _expected(inputs: dict, chunk_units: int = SETTINGS["chunk_units"], **kw) -> np.ndarray:
    """The estimator's predictions for the same inputs (rows matched by stimulus name), in
    the same chunks of units: the same systems and products, so the same bits."""
    rows = [inputs["ids"].index(name) for name in inputs["train"].stimulus_names]
    model = VoxelSelectRidge(alpha=SETTINGS["alpha"], n_voxels=SETTINGS["n_voxels"],
                             chunk_units=chunk_units, **kw)
    return model.fit(inputs["train"].X, inputs["values"][rows]).predict(inputs["test"].X)


@pytest.fixture
def layer_inputs(tmp_path: Path) -> dict:
    return make_inputs(tmp_path)


def test_the_output_holds_the_documented_header_and_layout(layer_inputs, tmp_path) -> None:
    chunks: list[tuple[int, int]] = []
    out = _decode(layer_inputs, tmp_path / "out.h5",
                  on_chunk=lambda index, done: chunks.append((index, done)))
    assert chunks == [(0, 5), (1, 10), (2, 15), (3, 20), (4, 23)]
    train = np.asarray(layer_inputs["train"].X, dtype=np.float64)
    test = np.asarray(layer_inputs["test"].X, dtype=np.float64)
    with h5py.File(out, "r") as handle:
        attrs = dict(handle.attrs)
        assert json.loads(attrs.pop("settings")) == {
            "alpha": 50.0, "n_voxels": 12, "normalize": True, "dtype": "float64",
            "chunk_units": 5, "backend": "numpy", "device": "cpu",
            "fmri_train_sha1": hashlib.sha1(train.tobytes()).hexdigest(),
            "fmri_test_sha1": hashlib.sha1(test.tobytes()).hexdigest()}
        assert attrs.pop("unit_shape").tolist() == [23]
        assert attrs == {"format": "brainfeat-decoded/1", "subject": "S1", "network": "AlexNet",
                         "layer": "fc8", "roi": "VC"}
        decoded = handle["decoded"]
        assert decoded.dtype == np.float64 and decoded.chunks == (9, 5)
        assert handle["accuracy"].dtype == np.float64 and handle["accuracy"].shape == (23,)
        assert handle["chunks_done"][()].tolist() == [True] * 5
        np.testing.assert_array_equal(decoded[()], _expected(layer_inputs, normalize=True))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_without_true_features_accuracy_is_nan_and_decoded_is_unnormalised_on_request(
        layer_inputs, tmp_path, dtype) -> None:
    out = _decode(layer_inputs, tmp_path / "out.h5", test_features=None, normalize=False,
                  chunk_units=40, dtype=dtype)
    expected = _expected(layer_inputs, chunk_units=40, normalize=False, dtype=dtype)
    with h5py.File(out, "r") as handle:
        assert handle["decoded"].dtype == np.dtype(dtype) and handle["decoded"].chunks == (9, 23)
        assert handle["chunks_done"][()].tolist() == [True]
        assert np.isnan(handle["accuracy"][()]).all()
        np.testing.assert_array_equal(handle["decoded"][()], expected)
        assert json.loads(handle.attrs["settings"])["normalize"] is False


def test_a_run_with_other_settings_names_every_difference(layer_inputs, tmp_path) -> None:
    out = _decode(layer_inputs, tmp_path / "out.h5")
    with pytest.raises(FormatError) as raised:
        decode_layer("S2", "AlexNet", "fc8", layer_inputs["features"], out,
                     **{**SETTINGS, "alpha": 1.0, "n_voxels": 10},
                     fmri_train=layer_inputs["train"], fmri_test=layer_inputs["test"])
    assert str(raised.value) == (f"{out} holds a decoding run with other settings (subject, "
                                 "alpha, n_voxels): delete it or choose another output file.")


@pytest.mark.parametrize(("change", "expected"), [
    ({"alpha": "big"}, r"^alpha='big' is not a number: .*; pass e\.g\. alpha=100\.0\.$"),
    ({"alpha": -1}, r"^alpha=-1 is out of range: .*; pass e\.g\. alpha=100\.0\.$"),
    ({"n_voxels": -2}, r"^n_voxels=-2 is out of range: .*; pass e\.g\. n_voxels=500\.$"),
    ({"chunk_units": 0}, r"^chunk_units=0 is out of range: .*; pass e\.g\. chunk_units=256\.$"),
])
def test_bad_settings_are_refused_before_any_file_is_written(layer_inputs, tmp_path, change,
                                                             expected) -> None:
    with pytest.raises(InvalidValueError) as raised:
        _decode(layer_inputs, tmp_path / "out.h5", **change)
    assert re.search(expected, str(raised.value))
    assert not (tmp_path / "out.h5").exists()


@dataclass
class _Labelled:
    """Features with image ids and, optionally, the network and layer they say they are of."""

    values: np.ndarray
    image_ids: tuple
    network: object = None
    layer: object = None


@pytest.mark.parametrize(("network", "layer", "message"), [
    ("VGG19", None, "The training features are features of VGG19, not AlexNet: decode with "
                    "network='VGG19' (--network), or pass AlexNet features; the output is "
                    "labelled with the network."),
    (b"VGG19", None, "The training features are features of VGG19, not AlexNet"),
    ("AlexNet", "fc7", "The training features are of layer fc7, not fc8: decode with "
                       "layer='fc7' (--layer), or pass features of fc8."),
])
def test_features_of_another_network_or_layer_are_refused(layer_inputs, tmp_path, network,
                                                          layer, message) -> None:
    labelled = _Labelled(layer_inputs["values"], tuple(layer_inputs["ids"]), network, layer)
    with pytest.raises(FormatError) as raised:
        _decode(layer_inputs, tmp_path / "out.h5", train_features=labelled, test_features=None)
    assert str(raised.value).startswith(message)


def test_labels_that_agree_are_accepted_whatever_their_case(layer_inputs, tmp_path) -> None:
    reference = _decode(layer_inputs, tmp_path / "file.h5", test_features=None)
    labelled = _Labelled(layer_inputs["values"], tuple(layer_inputs["ids"]), b"AlexNet", "FC8")
    out = _decode(layer_inputs, tmp_path / "labelled.h5", train_features=labelled,
                  test_features=None)
    assert out.read_bytes() == reference.read_bytes()


def test_a_features_file_of_another_model_is_refused(layer_inputs, tmp_path) -> None:
    with h5py.File(layer_inputs["features"], "a") as handle:
        handle.attrs["model"] = "VGG19"
    with pytest.raises(FormatError) as raised:
        _decode(layer_inputs, tmp_path / "out.h5", test_features=None)
    assert str(raised.value).startswith(
        f"The training features file {layer_inputs['features']} holds features of VGG19, "
        "not AlexNet")


def test_feature_sources_that_cannot_be_used_are_refused(layer_inputs, tmp_path) -> None:
    values, ids = layer_inputs["values"], tuple(layer_inputs["ids"])
    short = _Labelled(values, ids[:-1])
    with pytest.raises(FormatError, match="^The training features have 79 rows but 78 image "
                                          "ids: expected one row per image id"):
        _decode(layer_inputs, tmp_path / "a.h5", train_features=short, test_features=None)
    fewer_units = _Labelled(values[:, :22], ids)
    with pytest.raises(FormatError, match="^The test features have 22 units, the training "
                                          "features 23: give the same layer.$"):
        _decode(layer_inputs, tmp_path / "b.h5", test_features=fewer_units)
    poisoned = values.copy()
    poisoned[3, 7] = np.nan
    with pytest.raises(FormatError, match=r"^The training features of units 5\.\.9 hold NaN"):
        _decode(layer_inputs, tmp_path / "c.h5", train_features=_Labelled(poisoned, ids),
                test_features=None)
    with h5py.File(layer_inputs["features"], "a") as handle:
        handle.create_dataset("grid", data=values.reshape(79, 23, 1))
    with pytest.raises(FormatError, match=r"^Streamed features must be stored as "
                                          r"\(n_images, n_units\), not \(79, 23, 1\)"):
        _decode(layer_inputs, tmp_path / "d.h5", dataset="grid", test_features=None)


def test_nan_in_true_features_only_blanks_that_unit_s_accuracy(layer_inputs, tmp_path) -> None:
    true = layer_inputs["values"].copy()
    true[72, 9] = np.nan
    out = _decode(layer_inputs, tmp_path / "out.h5",
                  test_features=_Labelled(true, tuple(layer_inputs["ids"])))
    with h5py.File(out, "r") as handle:
        accuracy = handle["accuracy"][()]
        decoded = handle["decoded"][()]
    np.testing.assert_array_equal(accuracy, unit_correlation(decoded, true[70:]))
    assert np.isnan(accuracy[[4, 9]]).all() and np.isfinite(np.delete(accuracy, [4, 9])).all()


def test_unit_grids_are_labelled_and_decoded_channel_major(layer_inputs, tmp_path) -> None:
    grid = layer_inputs["values"][:, :18].reshape(79, 2, 3, 3)
    flat = _Labelled(grid.reshape(79, 18), tuple(layer_inputs["ids"]))
    out = _decode(layer_inputs, tmp_path / "grid.h5",
                  train_features=_Labelled(grid, tuple(layer_inputs["ids"])), test_features=None)
    same = _decode(layer_inputs, tmp_path / "flat.h5", train_features=flat, test_features=None)
    with h5py.File(out, "r") as handle, h5py.File(same, "r") as other:
        assert handle.attrs["unit_shape"].tolist() == [2, 3, 3]
        assert other.attrs["unit_shape"].tolist() == [18]
        np.testing.assert_array_equal(handle["decoded"][()], other["decoded"][()])
    with h5py.File(layer_inputs["features"], "a") as handle:
        handle["layers/fc8"].attrs["unit_shape"] = [23, 1, 1]
    with h5py.File(_decode(layer_inputs, tmp_path / "file.h5"), "r") as handle:
        assert handle.attrs["unit_shape"].tolist() == [23, 1, 1]


@pytest.mark.parametrize(("name", "expected"), [("alexnet", "AlexNet"), ("VGG19", "VGG19"),
                                                ("torchvision:resnet18", "torchvision:resnet18")])
def test_outputs_are_labelled_with_the_canonical_network_name(name, expected) -> None:
    assert network_name(name) == expected


def test_a_resumed_run_counts_on_from_the_units_already_done(layer_inputs, tmp_path,
                                                             capsys) -> None:
    def stop_after_two(index: int, done: int) -> None:
        if index == 1:
            raise KeyboardInterrupt("simulated kill")

    out = tmp_path / "out.h5"
    with pytest.raises(KeyboardInterrupt):
        _decode(layer_inputs, out, on_chunk=stop_after_two)
    assert capsys.readouterr().err == ""                        # progress=False: silent
    chunks: list[tuple[int, int]] = []
    _decode(layer_inputs, out, progress=True,
            on_chunk=lambda index, done: chunks.append((index, done)))
    assert chunks == [(2, 15), (3, 20), (4, 23)]
    bar = capsys.readouterr().err
    frames = bar.strip().split("\r")                           # tqdm redraws the line
    assert frames[0].startswith("S1 AlexNet fc8:  43%|") and " 10.0/23.0 " in frames[0]
    assert frames[-1].startswith("S1 AlexNet fc8: 100%|") and " 23.0/23.0 " in frames[-1]
    assert frames[-1].endswith("unit/s]")


def test_an_interrupted_file_holds_nan_where_no_chunk_was_written(layer_inputs,
                                                                  tmp_path) -> None:
    def stop_after_two(index: int, done: int) -> None:
        if index == 1:
            raise KeyboardInterrupt("simulated kill")

    with pytest.raises(KeyboardInterrupt):
        _decode(layer_inputs, tmp_path / "out.h5", on_chunk=stop_after_two)
    with h5py.File(tmp_path / "out.h5", "r") as handle:
        assert handle["chunks_done"][()].tolist() == [True, True, False, False, False]
        assert np.isfinite(handle["decoded"][:, :10]).all()
        assert np.isnan(handle["decoded"][:, 10:]).all()
        assert np.isnan(handle["accuracy"][10:]).all()
        assert handle.attrs["settings"] == json.dumps(json.loads(handle.attrs["settings"]),
                                                      sort_keys=True)


def test_missing_stimuli_are_counted_and_the_first_three_named(layer_inputs, tmp_path) -> None:
    names = ("a", "b", "a", "c", "d", "e") + layer_inputs["train"].stimulus_names[6:]
    fmri = type(layer_inputs["train"])(layer_inputs["train"].X, names)
    with pytest.raises(FormatError) as raised:
        _decode(layer_inputs, tmp_path / "out.h5", fmri_train=fmri)
    assert str(raised.value) == ("5 training stimuli have no features, e.g. ['a', 'b', 'c']: "
                                 "extract features for every stimulus of the fMRI.")
    with pytest.raises(FormatError) as raised:
        _decode(layer_inputs, tmp_path / "b.h5", train_features=layer_inputs["values"][:69],
                test_features=None)
    assert str(raised.value).startswith("The training features have 69 rows but the training "
                                        "fMRI has 70 samples: give features in sample order")


def test_a_features_file_without_image_ids_is_refused(layer_inputs, tmp_path) -> None:
    path = tmp_path / "no_ids.h5"
    with h5py.File(path, "w") as handle:
        handle["layers/fc8"] = layer_inputs["values"]
    with pytest.raises(FormatError) as raised:
        _decode(layer_inputs, tmp_path / "out.h5", train_features=path)
    assert str(raised.value).startswith(f"{path} has no dataset 'layers/fc8' with /image_ids: "
                                        "expected the features layout")


def test_true_features_of_another_network_are_refused(layer_inputs, tmp_path) -> None:
    labelled = _Labelled(layer_inputs["values"], tuple(layer_inputs["ids"]), "VGG19")
    with pytest.raises(FormatError, match="^The test features are features of VGG19, not "
                                          "AlexNet"):
        _decode(layer_inputs, tmp_path / "out.h5", test_features=labelled)
    assert not (tmp_path / "out.h5").exists()


def test_an_unknown_backend_fails_before_any_features_file_is_read(layer_inputs,
                                                                   tmp_path) -> None:
    with pytest.raises(UnknownNameError, match="backend 'jax'"):
        _decode(layer_inputs, tmp_path / "out.h5", train_features=tmp_path / "missing.h5",
                backend="jax")


class _InlineClient:
    """The two calls decode_jobs makes of a Dask client, run in this process."""

    def submit(self, function, *args, pure: bool = True):
        assert pure is False                                  # every job has side effects
        return function(*args)

    def gather(self, futures):
        return list(futures)


def test_jobs_override_the_common_settings_and_show_no_progress(layer_inputs, tmp_path,
                                                                capsys) -> None:
    job = {"subject": "S1", "network": "AlexNet", "layer": "fc8",
           "train_features": layer_inputs["features"], "out": tmp_path / "job.h5",
           "fmri_train": layer_inputs["train"], "fmri_test": layer_inputs["test"],
           "alpha": 50.0}
    outs = decode_jobs([job], client=_InlineClient(),
                       **{**SETTINGS, "alpha": 1.0, "progress": True})
    assert outs == [tmp_path / "job.h5"] and capsys.readouterr().err == ""
    reference = decode_layer(**{**job, "out": tmp_path / "local.h5"}, **{
        key: value for key, value in SETTINGS.items() if key != "alpha"})
    assert outs[0].read_bytes() == reference.read_bytes()


def test_an_unrelated_hdf5_output_is_refused_and_left_alone(layer_inputs, tmp_path) -> None:
    out = tmp_path / "other.h5"
    with h5py.File(out, "w") as handle:
        handle["data"] = np.arange(3)
    before = out.read_bytes()
    with pytest.raises(FormatError) as raised:
        _decode(layer_inputs, out)
    assert str(raised.value) == (
        f"{out} holds a decoding run with other settings (format, subject, network, layer, "
        "roi, unit_shape, alpha, backend, chunk_units, device, dtype, fmri_test_sha1, "
        "fmri_train_sha1, n_voxels, normalize): delete it or choose another output file.")
    assert out.read_bytes() == before


def test_a_missing_features_file_says_what_to_pass(layer_inputs, tmp_path) -> None:
    missing = tmp_path / "missing.h5"
    with pytest.raises(DataNotFoundError) as raised:
        _decode(layer_inputs, tmp_path / "out.h5", train_features=missing)
    assert str(raised.value) == (
        f"The training features file {missing} does not exist: pass a file written by "
        "`brainfeat features` (/image_ids, /layers/<layer>), or a FeatureSet or array.")
    with pytest.raises(DataNotFoundError, match=f"^The test features file {missing} does not"):
        _decode(layer_inputs, tmp_path / "out.h5", test_features=missing)


def test_an_output_hdf5_cannot_open_says_how_to_start_again(layer_inputs, tmp_path) -> None:
    out = tmp_path / "damaged.h5"
    out.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(300))
    with pytest.raises(FormatError) as raised:
        _decode(layer_inputs, out)
    assert str(raised.value).endswith("Delete it or choose another output file, and run again.")


def test_true_features_with_rows_but_no_ids_name_their_role(layer_inputs, tmp_path) -> None:
    short = _Labelled(layer_inputs["values"], tuple(layer_inputs["ids"])[:-1])
    with pytest.raises(FormatError, match="^The test features have 79 rows but 78 image ids"):
        _decode(layer_inputs, tmp_path / "out.h5", test_features=short)


def test_the_smallest_settings_are_accepted(layer_inputs, tmp_path) -> None:
    """chunk_units=1, n_voxels=0 (every voxel) and alpha=0 are in range."""
    out = _decode(layer_inputs, tmp_path / "out.h5", chunk_units=1, n_voxels=0, alpha=0.0,
                  normalize=False, test_features=None)
    rows = [layer_inputs["ids"].index(name) for name in layer_inputs["train"].stimulus_names]
    x, x_test = (np.asarray(layer_inputs[split].X, dtype=np.float64)
                 for split in ("train", "test"))
    y = layer_inputs["values"][rows].astype(np.float64)
    expected = _reference(x, y, x_test, 0.0, [np.arange(40)] * 23)
    # Two float64 solves of the same unregularised system (raw voxels offset by 100).
    bound, _ = ridge_error_bounds(x, y, x_test, 0.0, [np.arange(40)] * 23)
    with h5py.File(out, "r") as handle:
        settings = json.loads(handle.attrs["settings"])
        assert (settings["chunk_units"], settings["n_voxels"], settings["alpha"]) == (1, 0, 0.0)
        assert handle["chunks_done"].shape == (23,)
        assert (np.abs(handle["decoded"][()] - expected) <= 2 * FLOAT64_EPS * bound).all()


def test_decode_chunk_returns_its_dtype(layer_inputs) -> None:
    x = np.asarray(layer_inputs["train"].X, dtype=np.float64)
    y = np.random.default_rng(7).standard_normal((70, 6))
    design = prepare_design(x, 50.0, 12)
    for dtype in ("float64", "float32"):
        pred = decode_chunk(design, layer_inputs["test"].X, y, normalize=False, dtype=dtype)
        model = VoxelSelectRidge(alpha=50.0, n_voxels=12, dtype=dtype).fit(x, y)
        assert pred.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(pred, model.predict(layer_inputs["test"].X))


def test_missing_fmri_is_loaded_per_split_after_the_settings_are_checked(
        layer_inputs, tmp_path, monkeypatch) -> None:
    calls = []

    def load_fmri(subject, *, roi, split, average_repeats, data_dir, download, catalog):
        calls.append((subject.name, roi, split, average_repeats, data_dir, download))
        return layer_inputs[split]

    monkeypatch.setattr("brainfeat.fmri.preprocessed.load_fmri", load_fmri)
    with pytest.raises(InvalidValueError, match="chunk_units=0"):
        _decode(layer_inputs, tmp_path / "bad.h5", fmri_train=None, fmri_test=None,
                chunk_units=0)
    assert calls == []
    out = _decode(layer_inputs, tmp_path / "out.h5", fmri_train=None, fmri_test=None,
                  roi="V1", data_dir=tmp_path, download=False)
    assert calls == [("S1", "V1", "train", False, tmp_path, False),
                     ("S1", "V1", "test", True, tmp_path, False)]
    with h5py.File(out, "r") as handle:
        assert handle.attrs["roi"] == "V1" and handle["chunks_done"][()].all()


def test_rows_follow_the_test_fmri_and_a_grid_run_resumes(layer_inputs, tmp_path) -> None:
    """/image_ids and /decoded keep the order of the test samples given; rerunning a finished
    run on a unit grid (its unit_shape read back as an array) resumes instead of refusing."""
    test = layer_inputs["test"]
    backward = type(test)(test.X[::-1], test.stimulus_names[::-1])
    values = layer_inputs["values"][:, :18]
    grid = _Labelled(values.reshape(79, 2, 3, 3), tuple(layer_inputs["ids"]))
    out = tmp_path / "backward.h5"
    for _ in range(2):
        _decode(layer_inputs, out, train_features=grid, fmri_test=backward, normalize=np.True_,
                test_features=None)
    rows = [layer_inputs["ids"].index(name) for name in layer_inputs["train"].stimulus_names]
    model = VoxelSelectRidge(alpha=SETTINGS["alpha"], n_voxels=SETTINGS["n_voxels"],
                             chunk_units=SETTINGS["chunk_units"], normalize=True)
    expected = model.fit(layer_inputs["train"].X, values[rows]).predict(backward.X)
    with h5py.File(out, "r") as handle:
        assert [name.decode() for name in handle["image_ids"][()]] == list(backward.stimulus_names)
        np.testing.assert_array_equal(handle["decoded"][()], expected)
        assert json.loads(handle.attrs["settings"])["normalize"] is True


def test_chunks_on_an_in_process_dask_client_equal_the_local_run(tmp_path: Path) -> None:
    # The Dask branch of decode_layer's chunk loop (scatter, a window of futures, one new
    # future per finished one) on a cheap in-process client: 23 units in chunks of 2 give 12
    # chunks, more than the window of 2 x threads, so the loop must refill it to the end.
    # (test_decoding_dask.py checks the same on worker processes.)
    distributed = pytest.importorskip("distributed")
    inputs = make_inputs(tmp_path)
    args = {**SETTINGS, "chunk_units": 2, "fmri_train": inputs["train"],
            "fmri_test": inputs["test"], "test_features": inputs["features"]}
    local = decode_layer("S1", "AlexNet", "fc8", inputs["features"], tmp_path / "local.h5",
                         **args)
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=2,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        spread = decode_layer("S1", "AlexNet", "fc8", inputs["features"],
                              tmp_path / "dask.h5", client=client, **args)
    with h5py.File(local, "r") as expected, h5py.File(spread, "r") as got:
        assert got["chunks_done"][()].all()
        np.testing.assert_array_equal(got["decoded"][()], expected["decoded"][()])
        np.testing.assert_array_equal(got["accuracy"][()], expected["accuracy"][()])


# -- decode_layer: defaults, catalog, feature forms and the Dask window ---------------------

def test_the_defaults_are_the_published_settings_with_a_progress_bar(tmp_path, capsys) -> None:
    # 520 voxels, so that the default n_voxels=500 selects; alpha=100 and downloads allowed.
    rng = np.random.default_rng(11)
    x, x_test = rng.standard_normal((30, 520)), rng.standard_normal((4, 520))
    y = x[:, :3] @ rng.standard_normal((3, 3)) + rng.standard_normal((30, 3))
    train = Samples(x, tuple(f"n0000000{i}_{i:04d}" for i in range(30)))
    test = Samples(x_test, tuple(f"n0999999{i}_{i:04d}" for i in range(4)))
    for n_voxels, extra in [(500, {}), (None, {"n_voxels": None})]:
        out = decode_layer("S1", "AlexNet", "fc8", y, tmp_path / f"{n_voxels}.h5",
                           fmri_train=train, fmri_test=test, chunk_units=3, **extra)
        model = VoxelSelectRidge(alpha=100.0, n_voxels=n_voxels, normalize=True, chunk_units=3)
        expected = model.fit(x, y).predict(x_test)
        with h5py.File(out, "r") as handle:
            np.testing.assert_array_equal(handle["decoded"][()], expected)
            assert json.loads(handle.attrs["settings"])["n_voxels"] == n_voxels
    assert "S1 AlexNet fc8" in capsys.readouterr().err


def test_the_catalog_given_parses_the_subject_and_loads_its_fmri(layer_inputs, tmp_path,
                                                                 monkeypatch) -> None:
    default = default_catalog()
    catalog = dataclasses.replace(default, subjects=(*default.subjects, Subject(6)))
    seen = []

    def load_fmri(subject, *, roi, split, average_repeats, data_dir, download, catalog):
        seen.append((subject.name, split, download, catalog))
        return layer_inputs[split]

    monkeypatch.setattr("brainfeat.fmri.preprocessed.load_fmri", load_fmri)
    out = decode_layer("S6", "AlexNet", "fc8", layer_inputs["features"], tmp_path / "out.h5",
                       catalog=catalog, **SETTINGS)
    assert [entry[:3] for entry in seen] == [("S6", "train", True), ("S6", "test", True)]
    assert all(entry[3] is catalog for entry in seen)
    with h5py.File(out, "r") as handle:
        assert handle.attrs["subject"] == "S6"
    with pytest.raises(UnknownNameError, match="S6"):
        decode_layer("S6", "AlexNet", "fc8", layer_inputs["features"], tmp_path / "no.h5",
                     **SETTINGS)


def test_a_device_this_backend_lacks_fails_before_any_features_file_is_read(layer_inputs,
                                                                            tmp_path) -> None:
    with pytest.raises(UnknownNameError, match="device='cuda'"):
        _decode(layer_inputs, tmp_path / "out.h5", train_features=tmp_path / "missing.h5",
                backend="numpy", device="cuda")


def test_the_settings_record_the_device_type_without_its_index(layer_inputs, tmp_path) -> None:
    out = _decode(layer_inputs, tmp_path / "out.h5", backend="torch", device="cpu:0",
                  test_features=None)
    with h5py.File(out, "r") as handle:
        assert json.loads(handle.attrs["settings"])["device"] == "cpu"


@dataclass
class _FlatGrid:
    """A FeatureSet's form: flat values, (n_images, n_units), and the unit grid apart."""

    values: np.ndarray
    image_ids: tuple
    unit_shape: tuple
    layer: str = "fc8"


def test_a_featureset_s_unit_grid_labels_the_output_and_test_labels_are_checked(
        layer_inputs, tmp_path) -> None:
    grid = _FlatGrid(layer_inputs["values"][:, :18], tuple(layer_inputs["ids"]), (2, 3, 3))
    out = _decode(layer_inputs, tmp_path / "out.h5", train_features=grid, test_features=grid)
    with h5py.File(out, "r") as handle:
        assert handle.attrs["unit_shape"].tolist() == [2, 3, 3]
        assert np.isfinite(handle["accuracy"][()][5:]).all()
    wrong = _FlatGrid(grid.values, grid.image_ids, grid.unit_shape, layer="fc7")
    with pytest.raises(FormatError, match="^The test features are of layer fc7, not fc8"):
        _decode(layer_inputs, tmp_path / "wrong.h5", train_features=grid, test_features=wrong)


def test_an_array_with_values_but_no_image_ids_is_taken_in_sample_order(layer_inputs,
                                                                        tmp_path) -> None:
    rows = [layer_inputs["ids"].index(name) for name in layer_inputs["train"].stimulus_names]
    in_order = layer_inputs["values"][rows]
    plain = _decode(layer_inputs, tmp_path / "plain.h5", train_features=in_order,
                    test_features=None)
    labelled = _decode(layer_inputs, tmp_path / "xarray.h5", test_features=None,
                       train_features=xarray.DataArray(in_order, dims=("image", "unit")))
    assert labelled.read_bytes() == plain.read_bytes()


def test_the_test_features_are_read_from_the_dataset_named(layer_inputs, tmp_path) -> None:
    with h5py.File(layer_inputs["features"], "a") as handle:
        handle["custom"] = handle["layers/fc8"][()]
        del handle["layers/fc8"]
    out = _decode(layer_inputs, tmp_path / "out.h5", dataset="custom")
    with h5py.File(out, "r") as handle:
        assert np.isfinite(np.delete(handle["accuracy"][()], 4)).all()


def test_the_checkpoint_and_image_ids_have_their_documented_types(layer_inputs,
                                                                  tmp_path) -> None:
    with h5py.File(_decode(layer_inputs, tmp_path / "out.h5"), "r") as handle:
        assert handle["chunks_done"].dtype == np.bool_
        assert h5py.check_string_dtype(handle["image_ids"].dtype) is not None


def test_decode_chunk_defaults_to_float64_whatever_the_feature_dtype(layer_inputs,
                                                                    monkeypatch) -> None:
    x = np.asarray(layer_inputs["train"].X, dtype=np.float64)
    y = np.random.default_rng(7).standard_normal((70, 6)).astype(np.float32)
    design = prepare_design(x, 50.0, 12)
    pred = decode_chunk(design, layer_inputs["test"].X, y, normalize=True)
    assert pred.dtype == np.float64
    np.testing.assert_array_equal(
        pred, decode_chunk(design, layer_inputs["test"].X, y.astype(np.float64), normalize=True))
    pinned = []
    real = layer_module.pinned_threads

    def recording(array, threads):
        pinned.append(threads)
        return real(array, threads)

    monkeypatch.setattr(layer_module, "pinned_threads", recording)
    decode_chunk(design, layer_inputs["test"].X, y, normalize=True, threads=1)
    assert pinned == [1]


class _CountingClient:
    """A Dask client whose submissions are counted and the keys of its blocks kept."""

    def __init__(self, client) -> None:
        self.client, self.submitted, self.block_keys = client, 0, []

    def scatter(self, data, **kwargs):
        scattered = self.client.scatter(data, **kwargs)
        if not isinstance(data, list):  # a block of training features
            self.block_keys.append(scattered.key)
        return scattered

    def nthreads(self):
        return self.client.nthreads()

    def submit(self, *args, **kwargs):
        self.submitted += 1
        return self.client.submit(*args, **kwargs)


def test_dask_keeps_two_chunks_per_thread_in_flight_and_decodes_equal_chunks(
        tmp_path: Path) -> None:
    # One worker thread: a window of 2 chunks, refilled by one per finished chunk. Chunks whose
    # training features are equal each get their own data key: with a shared key, the data
    # was forgotten once the first chunk was done and a later one failed ("lost
    # dependencies", about one run in three before the fix).
    distributed = pytest.importorskip("distributed")
    inputs = make_inputs(tmp_path)
    twice = np.concatenate([inputs["values"][:, :4]] * 3, axis=1)  # 6 equal chunks of 2
    args = {**SETTINGS, "chunk_units": 2, "fmri_train": inputs["train"],
            "fmri_test": inputs["test"], "test_features": None}
    local = decode_layer("S1", "AlexNet", "fc8", _Labelled(twice, tuple(inputs["ids"])),
                         tmp_path / "local.h5", **args)
    in_flight = []
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=1,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        counting = _CountingClient(client)
        spread = decode_layer("S1", "AlexNet", "fc8", _Labelled(twice, tuple(inputs["ids"])),
                              tmp_path / "dask.h5", client=counting,
                              on_chunk=lambda index, done: in_flight.append(
                                  counting.submitted - done // 2 + 1), **args)
    assert in_flight == [2, 2, 2, 2, 2, 1]
    assert len(set(counting.block_keys)) == len(counting.block_keys) == 6
    with h5py.File(local, "r") as expected, h5py.File(spread, "r") as got:
        assert got["chunks_done"][()].all()
        np.testing.assert_array_equal(got["decoded"][()], expected["decoded"][()])
