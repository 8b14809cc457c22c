"""brainfeat's decoders against golden outputs of the lab's fastl2lir 0.11.

The golden files are written by ``scripts/golden_fastl2lir.py`` in the oracle venv. Agreement
is measured as ``max |ours - fastl2lir| / max |fastl2lir|`` over all outputs of a case, and
compared with a bound derived from each case's conditioning and the precision of the solve
(:mod:`solve_bounds`): the bound holds on every CPU kernel and thread count, and it is small
where the problem is well-conditioned (about 1e-13 in float64, 1e-5 in float32) and large
only where it is not (the raw inputs of ``normalised``, whose voxel means of ~300 next to the
bias column leave float32 about two significant digits).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from brainfeat.decoding import VoxelSelectRidge
from solve_bounds import FLOAT64_EPS, ridge_error_bounds, unit_roundoff

GOLDEN = Path(__file__).parent / "golden" / "fastl2lir"
CASES = sorted(path.stem for path in GOLDEN.glob("*.npz"))


def backends() -> list:
    return [pytest.param("numpy", None, id="numpy"),
            pytest.param("torch", "cpu", id="torch-cpu"),
            pytest.param("torch", "cuda", id="torch-cuda", marks=pytest.mark.gpu)]


def _skip_without(device: str | None) -> None:
    if device == "cuda":
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            pytest.skip("no CUDA device")


def _load(case: str) -> dict[str, np.ndarray]:
    with np.load(GOLDEN / f"{case}.npz") as data:
        return dict(data)


def _deviation(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


def _dense(model: VoxelSelectRidge) -> np.ndarray:
    """The fitted weights as fastl2lir's W (n_voxels, *unit_shape)."""
    dense = np.zeros((model.coef_.shape[0], model.n_features_in_))
    np.put_along_axis(dense, np.ascontiguousarray(model.voxel_index_), model.coef_, axis=1)
    return dense.T.reshape((model.n_features_in_,) + model.unit_shape_)


def _fit(golden: dict, backend: str, device: str | None, dtype: str, **kw) -> VoxelSelectRidge:
    return VoxelSelectRidge(alpha=float(golden["alpha"]), n_voxels=int(golden["n_feat"]),
                            backend=backend, device=device, dtype=dtype, **kw
                            ).fit(golden["X"], golden["Y"])


def _correlations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """fastl2lir's voxel scores of one unit: Pearson r, 0 for voxels of variance < 1e-8."""
    return np.array([0.0 if np.var(x[:, v]) < 1e-8 else np.corrcoef(x[:, v], y)[0, 1]
                     for v in range(x.shape[1])])


def _bounds_of(golden: dict, **inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Error bounds of fastl2lir's systems for the golden inputs (or ``inputs`` instead)."""
    x, y, x_test = (inputs.get(name, golden[name]) for name in ("X", "Y", "X_test"))
    y = y.reshape(len(y), -1)
    n_feat = int(golden["n_feat"])
    selected = None
    if 0 < n_feat < x.shape[1]:   # the voxels of largest |r| (fastl2lir's choice), per unit
        scores = [np.abs(_correlations(x, unit)) if np.ptp(unit) else np.zeros(x.shape[1])
                  for unit in y.T]                    # a constant unit: any voxels
        selected = [np.sort(np.argsort(-score)[:n_feat]) for score in scores]
    return ridge_error_bounds(x, y, x_test, float(golden["alpha"]), selected)


@cache
def _case_bounds(case: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_bounds_of` a case's own golden inputs, computed once per session."""
    return _bounds_of(_load(case))


def test_golden_files_cover_the_required_shapes() -> None:
    assert {"tall", "wide", "constant", "all_primal", "all_dual", "unit_grid",
            "normalised"} <= set(CASES)
    shapes = {case: (_load(case)["X"].shape, int(_load(case)["n_feat"])) for case in CASES}
    assert shapes["wide"][0][1] > shapes["wide"][0][0]                    # voxels > samples
    assert shapes["all_primal"][1] == shapes["all_primal"][0][1]          # no selection
    assert shapes["all_dual"][1] > shapes["all_dual"][0][1]
    assert shapes["all_dual"][0][0] <= shapes["all_dual"][0][1] + 1       # dual form
    x = _load("constant")["X"]
    assert (np.ptp(x, axis=0) == 0).sum() >= 2                            # constant voxels


@pytest.mark.parametrize("case", CASES)
def test_derived_bounds_are_tight_where_the_problem_is_well_conditioned(case: str) -> None:
    """The bounds can fail a test: a wrong voxel, alpha or bias moves predictions by far more
    (float32 keeps two digits even on the raw ``normalised`` inputs, float64 nine)."""
    golden = _load(case)
    predictions, weights = _case_bounds(case)
    float32 = unit_roundoff("float32") * predictions.max() / np.abs(golden["pred"]).max()
    reference = np.concatenate((golden["W"], golden["b"]))
    assert float32 < 0.05
    assert FLOAT64_EPS * predictions.max() / np.abs(golden["pred"]).max() < 1e-9
    assert FLOAT64_EPS * weights.max() / np.abs(reference).max() < 1e-6


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend, device", backends())
def test_float64_matches_fastl2lir(case: str, backend: str, device: str | None) -> None:
    _skip_without(device)
    golden = _load(case)
    model = _fit(golden, backend, device, "float64", chunk_units=3)
    pred = model.predict(golden["X_test"])
    assert pred.shape == golden["pred"].shape
    predictions, weights = _case_bounds(case)
    eps = unit_roundoff("float64") + FLOAT64_EPS        # ours and fastl2lir's own rounding
    scale = np.abs(golden["pred"]).max()
    assert _deviation(pred, golden["pred"]) <= eps * predictions.max() / scale
    # The solution vectors [W; b] (the bias of raw, offset inputs alone is ill-determined).
    ours = np.concatenate((_dense(model), model.intercept_.reshape(golden["b"].shape)))
    reference = np.concatenate((golden["W"], golden["b"]))
    assert _deviation(ours, reference) <= eps * weights.max() / np.abs(reference).max()


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend, device", backends())
def test_float32_predictions_match_fastl2lir(case: str, backend: str, device: str | None) -> None:
    _skip_without(device)
    golden = _load(case)
    pred = _fit(golden, backend, device, "float32").predict(golden["X_test"])
    assert pred.dtype == np.float32
    predictions, _ = _case_bounds(case)
    # The float32 result itself is rounded once more when stored.
    eps = unit_roundoff("float32") + FLOAT64_EPS
    tolerance = eps * predictions.max() / np.abs(golden["pred"]).max() + unit_roundoff("float32")
    assert _deviation(pred, golden["pred"]) <= tolerance


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend, device", backends())
def test_normalised_pipeline_matches_reference(backend: str, device: str | None,
                                               dtype: str) -> None:
    _skip_without(device)
    golden = _load("normalised")
    pred = _fit(golden, backend, device, dtype, normalize=True).predict(golden["X_test"])
    # The published pipeline solves on z-scored inputs and scales predictions back by std(Y).
    x, y = golden["X"], golden["Y"]
    x_mean, x_std = x.mean(axis=0), x.std(axis=0, ddof=1)
    y_mean, y_std = y.mean(axis=0), y.std(axis=0, ddof=1)
    predictions, _ = _bounds_of(golden, X=(x - x_mean) / x_std, Y=(y - y_mean) / y_std,
                                X_test=(golden["X_test"] - x_mean) / x_std)
    reference = golden["pred_normalised"]
    eps = unit_roundoff(dtype) + FLOAT64_EPS
    tolerance = (eps * (predictions * y_std).max() / np.abs(reference).max()
                 + 2 * unit_roundoff(dtype))                # de-normalisation and storage
    assert _deviation(pred, reference) <= tolerance


@pytest.mark.parametrize("backend, device", backends())
def test_selected_voxels_are_those_of_largest_correlation(backend: str,
                                                          device: str | None) -> None:
    _skip_without(device)
    golden = _load("constant")
    model = _fit(golden, backend, device, "float64")
    x, y = golden["X"], golden["Y"].reshape(len(golden["Y"]), -1)
    for unit in range(y.shape[1]):
        if np.ptp(y[:, unit]) == 0:
            assert np.all(model.coef_[unit] == 0) and model.intercept_[unit] == 0
            continue
        r = _correlations(x, y[:, unit])
        expected = np.sort(np.argsort(-np.abs(r))[:int(golden["n_feat"])])
        np.testing.assert_array_equal(model.voxel_index_[unit], expected)
