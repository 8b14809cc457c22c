"""Error bounds of SPD solves and Pearson correlations, derived from conditioning and precision.

The decoding tests compare solves done in float32 or float64, by LAPACK or torch, on whatever
CPU kernel, with a float64 reference. A fixed tolerance is tuned to one machine; these bounds
follow from first-order perturbation theory instead, so they hold on every machine and are
tight only where the problem itself is ill-conditioned.

A Cholesky solve of ``A x = b`` (size ``m``) in unit roundoff ``eps`` is backward stable: it
returns the exact solution of ``(A + dA) x' = b + db`` with ``|dA| <= m eps |A|`` and
``|db| <= eps |b|`` normwise (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd
ed., Thm. 10.4, without the pessimistic factor from the componentwise to the normwise bound);
rounding ``A`` and ``b`` to the working precision is a perturbation of the same size. To first
order, ``dx = A^-1 (db - dA x)``, so

* the solution: ``|dx| <= m eps |A^-1| (|A| |x| + |b|)``;
* a prediction ``p = t . x``: ``|dp| <= m eps |A^-1 t| (|A| |x| + |b|) + m eps |t| |x|``,
  the last term the rounding of the dot product itself.

Norms are 2-norms; ``|A^-1 t|`` is the exact sensitivity of ``p`` to ``A`` and ``b``,
usually far below ``|A^-1| |t|`` when the ill-conditioned direction (e.g. a large offset
shared by every voxel and the bias column) barely moves predictions.
"""

from __future__ import annotations

import numpy as np

FLOAT64_EPS = float(np.finfo(np.float64).eps) / 2     # unit roundoff


def unit_roundoff(dtype: str) -> float:
    """Unit roundoff of ``dtype`` (half the machine epsilon)."""
    return float(np.finfo(np.dtype(dtype)).eps) / 2


def solve_error_bound(matrix: np.ndarray, rhs: np.ndarray, eps: float) -> float:
    """Bound on ``|x' - x|_2`` for ``x = matrix^-1 rhs`` solved in unit roundoff ``eps``."""
    matrix = np.asarray(matrix, dtype=np.float64)
    x = np.linalg.solve(matrix, rhs)
    size = matrix.shape[0]
    inverse_norm = 1.0 / np.linalg.eigvalsh(matrix)[0]
    return size * eps * inverse_norm * (np.linalg.norm(matrix, 2) * np.linalg.norm(x)
                                        + np.linalg.norm(rhs))


def prediction_error_bound(matrix: np.ndarray, rhs: np.ndarray, tests: np.ndarray,
                           eps: float) -> np.ndarray:
    """Bounds on ``|p' - p|`` for ``p = tests @ matrix^-1 rhs``, one per row of ``tests``.

    Parameters
    ----------
    matrix : ndarray, shape (m, m)
        SPD system matrix (float64, exact).
    rhs : ndarray, shape (m,)
    tests : ndarray, shape (n_tests, m)
        The vectors the solution is multiplied with.
    eps : float
        Unit roundoff of the solve (see :func:`unit_roundoff`).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    tests = np.atleast_2d(np.asarray(tests, dtype=np.float64))
    x = np.linalg.solve(matrix, rhs)
    sensitivity = np.linalg.norm(np.linalg.solve(matrix, tests.T), axis=0)
    size = matrix.shape[0]
    scale = np.linalg.norm(matrix, 2) * np.linalg.norm(x) + np.linalg.norm(rhs)
    return size * eps * (sensitivity * scale + np.linalg.norm(tests, axis=1) * np.linalg.norm(x))


def ridge_error_bounds(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, alpha: float,
                       selected: list[np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    """Bounds for fastl2lir's ridge with bias, per unit, for a solve in unit roundoff 1.

    Multiply by the unit roundoff of the precision used (:func:`unit_roundoff`).

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_voxels)
    y : ndarray, shape (n_samples, n_units)
    x_test : ndarray, shape (n_test, n_voxels)
    alpha : float
    selected : list of ndarray of int, or None
        Each unit's voxels; None: every voxel, solved in primal form, or in dual form when
        samples <= voxels + 1 (as fastl2lir does), where ``w = X^T z`` adds
        ``n |X|_F |z|`` of rounding.

    Returns
    -------
    predictions : ndarray, shape (n_test, n_units)
        Bounds on the prediction errors.
    weights : ndarray, shape (n_units,)
        Bounds on ``|d[w; b]|_2``.
    """
    n_samples, n_voxels = x.shape
    x_aug = np.hstack((x, np.ones((n_samples, 1))))
    test_aug = np.hstack((x_test, np.ones((len(x_test), 1))))
    predictions = np.zeros((len(x_test), y.shape[1]))
    weights = np.zeros(y.shape[1])
    dual = selected is None and n_samples <= n_voxels + 1
    for unit in range(y.shape[1]):
        if not y[:, unit].any():
            continue                                   # y = 0: exactly zero weights
        if dual:
            matrix = x_aug @ x_aug.T + alpha * np.eye(n_samples)
            rhs, tests = y[:, unit], test_aug @ x_aug.T
            dual_norm = np.linalg.norm(np.linalg.solve(matrix, rhs))
            weights[unit] = (np.linalg.norm(x_aug, 2) * solve_error_bound(matrix, rhs, 1.0)
                             + n_samples * np.linalg.norm(x_aug) * dual_norm)
        else:
            columns = np.arange(n_voxels + 1)
            if selected is not None:
                columns = np.append(selected[unit], n_voxels)
            chosen = x_aug[:, columns]
            matrix = chosen.T @ chosen + alpha * np.eye(len(columns))
            rhs, tests = chosen.T @ y[:, unit], test_aug[:, columns]
            weights[unit] = solve_error_bound(matrix, rhs, 1.0)
        predictions[:, unit] = prediction_error_bound(matrix, rhs, tests, 1.0)
    return predictions, weights


def pearson_error_bound(x: np.ndarray, y: np.ndarray, input_eps: float = 0.0) -> np.ndarray:
    """Bound on the difference of two float64 computations of Pearson r per column.

    Each computation rounds the means (a relative perturbation of the centred columns of
    at most ``2 eps max|x| / std(x)``, which moves r by at most twice that) and the three
    n-term sums (``n eps`` each, ``3 n eps`` on r). ``input_eps``: the inputs themselves
    differ by that relative rounding (e.g. float32 storage), moving r by
    ``2 input_eps (max|x| / std(x) + max|y| / std(y))``. NaN-free columns only matter;
    a constant column gets an infinite bound (its r is NaN on both sides).
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.abs(x).max(axis=0) / x.std(axis=0) + np.abs(y).max(axis=0) / y.std(axis=0)
    constant = ~np.isfinite(spread)
    spread = np.where(constant, 0.0, spread)
    bound = 2 * FLOAT64_EPS * (3 * len(x) + 4 * spread) + 2 * input_eps * spread
    return np.where(constant, np.inf, bound)
