"""VoxelSelectRidge as a scikit-learn estimator, on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from brainfeat.decoding import VoxelSelectRidge
from brainfeat.decoding.backends import NotPositiveDefiniteError
from brainfeat.errors import UnknownNameError
from solve_bounds import FLOAT64_EPS, ridge_error_bounds, unit_roundoff

BACKENDS = [pytest.param({"backend": "numpy"}, id="numpy"),
            pytest.param({"backend": "torch", "device": "cpu"}, id="torch-cpu"),
            pytest.param({"backend": "torch", "device": "cuda"}, id="torch-cuda",
                         marks=pytest.mark.gpu)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> dict:
    if request.param.get("device") == "cuda":
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            pytest.skip("no CUDA device")
    return request.param


def _data(seed: int = 0, n: int = 60, v: int = 30, units: tuple = (7,)):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, v)) + rng.standard_normal(v)
    y = (x @ rng.standard_normal((v, int(np.prod(units)))) + rng.standard_normal(
        (n, int(np.prod(units))))).reshape((n,) + units)
    return x, y


def _prediction_bound(model: VoxelSelectRidge, x: np.ndarray, y: np.ndarray,
                      x_new: np.ndarray, eps: float) -> np.ndarray:
    """Bound on |model.predict(x_new) - exact|, (n_new, n_units), for unit roundoff ``eps``
    (:mod:`solve_bounds`), on the z-scored problem when the model normalises."""
    y = y.reshape(len(y), -1)
    y_std = np.ones(y.shape[1])
    if model.normalize:
        x_mean, x_std = x.mean(axis=0), x.std(axis=0, ddof=1)
        x_std = np.where(x_std > 0, x_std, np.inf)          # constant voxels become 0
        x, x_new = (x - x_mean) / x_std, (x_new - x_mean) / x_std
        y_std = y.std(axis=0, ddof=1)
        y = (y - y.mean(axis=0)) / np.where(y_std > 0, y_std, np.inf)
    every = model.voxel_index_.shape[1] == x.shape[1]
    selected = None if every else list(model.voxel_index_)
    bound, _ = ridge_error_bounds(x, y, x_new, model.alpha, selected)
    return eps * bound * y_std


@parametrize_with_checks([VoxelSelectRidge(alpha=1.0, n_voxels=3),
                          VoxelSelectRidge(alpha=1.0, n_voxels=3, backend="torch")])
def test_scikit_learn_contract(estimator, check) -> None:
    check(estimator)


def test_predictions_keep_the_unit_shape(backend: dict) -> None:
    x, y = _data(units=(2, 3, 4))
    model = VoxelSelectRidge(alpha=5.0, n_voxels=8, **backend).fit(x, y)
    assert model.predict(x[:5]).shape == (5, 2, 3, 4)
    assert model.voxel_index_.shape == model.coef_.shape == (24, 8)
    flat = VoxelSelectRidge(alpha=5.0, n_voxels=8, **backend).fit(x, y.reshape(60, -1))
    difference = np.abs(model.predict(x).reshape(60, -1) - flat.predict(x))
    assert (difference <= _prediction_bound(flat, x, y, x, 2 * FLOAT64_EPS)).all()
    single = VoxelSelectRidge(alpha=5.0, n_voxels=8, **backend).fit(x, y[:, 1, 2, 3])
    assert single.predict(x[:3]).shape == (3,)


def test_chunking_does_not_change_the_result(backend: dict) -> None:
    x, y = _data(seed=1)
    whole = VoxelSelectRidge(alpha=2.0, n_voxels=10, **backend).fit(x, y)
    chunked = VoxelSelectRidge(alpha=2.0, n_voxels=10, chunk_units=2, **backend).fit(x, y)
    np.testing.assert_array_equal(whole.voxel_index_, chunked.voxel_index_)
    difference = np.abs(chunked.predict(x) - whole.predict(x))
    assert (difference <= _prediction_bound(whole, x, y, x, 2 * FLOAT64_EPS)).all()


def test_normalize_handles_constant_units_and_voxels(backend: dict) -> None:
    x, y = _data(seed=2)
    x[:, 4] = 7.0
    y[:, 3] = -1.5
    model = VoxelSelectRidge(alpha=10.0, n_voxels=6, normalize=True, **backend).fit(x, y)
    assert 4 not in model.voxel_index_
    x_new = _data(seed=3)[0]
    pred = model.predict(x_new)
    np.testing.assert_array_equal(pred[:, 3], -1.5)
    assert np.isfinite(pred).all()
    x_new[:, 4] = 100.0  # a voxel constant in training is 0 after z-scoring: no effect at all
    np.testing.assert_array_equal(model.predict(x_new), pred)


def test_float32_follows_float64(backend: dict) -> None:
    x, y = _data(seed=4)
    double = VoxelSelectRidge(alpha=10.0, n_voxels=12, normalize=True, **backend).fit(x, y)
    single = VoxelSelectRidge(alpha=10.0, n_voxels=12, normalize=True, dtype="float32",
                              **backend).fit(x, y)
    np.testing.assert_array_equal(double.voxel_index_, single.voxel_index_)
    assert single.predict(x).dtype == np.float32
    difference = np.abs(single.predict(x) - double.predict(x))
    bound = _prediction_bound(double, x, y, x, unit_roundoff("float32") + FLOAT64_EPS)
    # plus the rounding of the float32 output itself
    assert (difference <= bound + unit_roundoff("float32") * np.abs(double.predict(x))).all()


def test_parameters_round_trip() -> None:
    model = VoxelSelectRidge(alpha=3.0, n_voxels=None, chunk_units=5)
    params = model.get_params()
    assert params["alpha"] == 3.0 and params["n_voxels"] is None and params["chunk_units"] == 5
    other = clone(model).set_params(alpha=7.0, dtype="float32")
    assert (other.alpha, other.dtype, model.alpha) == (7.0, "float32", 3.0)


def test_all_voxels_when_n_voxels_is_none_zero_or_too_large(backend: dict) -> None:
    x, y = _data(seed=5, n=50, v=12)
    preds = [VoxelSelectRidge(alpha=1.0, n_voxels=n, **backend).fit(x, y).predict(x)
             for n in (None, 0, 12, 40)]
    for pred in preds[1:]:   # the same unselected system, solved the same way
        np.testing.assert_array_equal(pred, preds[0])


def test_errors_name_the_problem(backend: dict) -> None:
    x, y = _data(seed=6)
    model = VoxelSelectRidge(n_voxels=5, **backend).fit(x, y)
    with pytest.raises(ValueError, match="30 features"):
        model.predict(x[:, :20])
    with pytest.raises(ValueError, match="alpha=-1"):
        VoxelSelectRidge(alpha=-1, **backend).fit(x, y)
    with pytest.raises(ValueError, match="n_samples=60"):
        VoxelSelectRidge(**backend).fit(x, y[:10])
    with pytest.raises(UnknownNameError, match="dtype 'float16'"):
        VoxelSelectRidge(dtype="float16", **backend).fit(x, y)
    duplicated = np.hstack((x, x[:, :1]))
    with pytest.raises(NotPositiveDefiniteError, match="alpha > 0"):
        VoxelSelectRidge(alpha=0.0, n_voxels=31, **backend).fit(duplicated, y)


def test_backend_names_are_checked() -> None:
    x, y = _data()
    with pytest.raises(UnknownNameError, match="backend 'jax'"):
        VoxelSelectRidge(backend="jax").fit(x, y)
    with pytest.raises(UnknownNameError, match="CPU only"):
        VoxelSelectRidge(device="cuda").fit(x, y)
