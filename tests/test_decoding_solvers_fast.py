"""The numpy backend's fast path: one-triangle gathers and ``?posv`` without the GIL.

Both ``posv`` routines are checked: the GIL-free one taken from
``scipy.linalg.cython_lapack`` and the ``scipy.linalg.lapack`` one the backend falls back
to on a scipy build that does not export it.
"""

from __future__ import annotations

import numpy as np
import pytest

from brainfeat.decoding.backends import (NotPositiveDefiniteError, NumpyBackend,
                                         _posv_holding_gil, _posv_releasing_gil)
from solve_bounds import FLOAT64_EPS, solve_error_bound, unit_roundoff

POSV = [pytest.param(_posv_releasing_gil, id="gil-free"),
        pytest.param(_posv_holding_gil, id="fallback")]


def _spd(size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3 * size, size))
    return x.T @ x + 10.0 * np.eye(size)


def _tolerance(matrix: np.ndarray, rhs: np.ndarray, dtype: str) -> float:
    """Bound on ``|x - expected|_2``: the solve's rounding plus numpy's reference solve's."""
    return solve_error_bound(matrix, rhs, unit_roundoff(dtype) + FLOAT64_EPS)


@pytest.mark.parametrize("posv_of", POSV)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("uplo", [b"L", b"U"])
def test_posv_reads_one_triangle_and_solves(posv_of, dtype: str, uplo: bytes) -> None:
    matrix = _spd(40)
    rhs = np.random.default_rng(1).standard_normal(40)
    expected = np.linalg.solve(matrix, rhs)
    garbage = np.asfortranarray(matrix.astype(dtype))
    unused = np.triu_indices(40, 1) if uplo == b"L" else np.tril_indices(40, -1)
    garbage[unused] = np.nan                     # LAPACK must not read that triangle
    solution = rhs.astype(dtype)
    assert posv_of(np.dtype(dtype))(uplo, garbage, solution) == 0
    assert np.linalg.norm(solution - expected) <= _tolerance(matrix, rhs, dtype)


@pytest.mark.parametrize("posv_of", POSV)
def test_posv_reports_a_matrix_that_is_not_positive_definite(posv_of) -> None:
    matrix = np.asfortranarray(np.diag([1.0, -1.0, 1.0]))
    assert posv_of(np.dtype("float64"))(b"L", matrix, np.ones(3)) == 2


@pytest.mark.parametrize("posv_of", POSV)
def test_posv_refuses_a_layout_it_would_misread(posv_of) -> None:
    posv = posv_of(np.dtype("float64"))
    spd = np.asfortranarray(_spd(4))
    with pytest.raises(TypeError, match="Fortran"):
        posv(b"L", np.ascontiguousarray(_spd(4)[:, :3]), np.ones(4))
    with pytest.raises(TypeError, match="Fortran"):
        posv(b"L", np.ascontiguousarray(_spd(4) + np.triu(np.ones((4, 4)))), np.ones(4))
    with pytest.raises(TypeError, match="float64"):
        posv(b"L", np.asfortranarray(_spd(4), dtype=np.float32), np.ones(4))
    with pytest.raises(TypeError, match=r"\(4,\) float32"):
        posv(b"L", spd, np.ones(4, dtype=np.float32))
    with pytest.raises(TypeError, match=r"\(3,\)"):
        posv(b"L", spd, np.ones(3))
    with pytest.raises(TypeError, match=r"\(4,\)"):
        posv(b"L", spd, np.ones((4, 2))[:, 0])              # strided right-hand side
    with pytest.raises(TypeError, match=r"\(\)"):
        posv(b"L", np.float64(1.0), np.ones(1))
    with pytest.raises(TypeError, match=r"\(0, 0\)"):
        posv(b"L", np.zeros((0, 0), order="F"), np.ones(0))
    read_only = spd.copy(order="F")
    read_only.flags.writeable = False
    with pytest.raises(TypeError, match="writeable: False"):
        posv(b"L", read_only, np.ones(4))
    with pytest.raises(TypeError, match="writeable"):
        posv(b"L", spd, np.broadcast_to(1.0, (4,)))
    with pytest.raises(ValueError, match="uplo=b'l'"):
        posv(b"l", spd, np.ones(4))
    np.testing.assert_array_equal(spd, np.asfortranarray(_spd(4)))  # nothing was written


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_solve_principal_equals_solving_each_gathered_system(dtype: str) -> None:
    gram = _spd(60, seed=2)
    rng = np.random.default_rng(3)
    # Sorted rows like the solvers' and one unsorted row: the gather does not rely on order.
    index = np.stack([np.sort(rng.choice(60, 25, replace=False)) for _ in range(36)])
    index[5] = index[5][::-1]
    rhs = rng.standard_normal(index.shape)
    backend = NumpyBackend(dtype, n_threads=2)
    solution = backend.solve_principal(backend.asarray(gram), index, backend.asarray(rhs))
    assert solution.dtype == np.dtype(dtype)
    for unit in range(index.shape[0]):
        selected = index[unit]
        system = gram[np.ix_(selected, selected)]
        expected = np.linalg.solve(system, rhs[unit])
        assert np.linalg.norm(solution[unit] - expected) <= _tolerance(system, rhs[unit], dtype)


def test_solve_principal_is_the_same_on_one_or_several_threads() -> None:
    gram = _spd(50, seed=4)
    rng = np.random.default_rng(5)
    index = np.stack([np.sort(rng.choice(50, 20, replace=False)) for _ in range(70)])
    rhs = rng.standard_normal(index.shape)
    one = NumpyBackend("float64", n_threads=1).solve_principal(gram, index, rhs)
    three = NumpyBackend("float64", n_threads=3).solve_principal(gram, index, rhs)
    np.testing.assert_array_equal(one, three)


def test_solve_principal_names_the_unit_that_is_not_positive_definite() -> None:
    gram = _spd(5, seed=6)
    gram[4, :] = gram[:, 4] = 0.0
    gram[4, 4] = -1.0                                  # only systems with voxel 4 fail
    index = np.array([[1, 2, 3], [0, 2, 4], [1, 2, 3]])
    with pytest.raises(NotPositiveDefiniteError, match="unit 1 of the chunk"):
        NumpyBackend("float64", n_threads=2).solve_principal(gram, index, np.ones((3, 3)))
