"""fastl2lir's voxel-selecting ridge regression, for many units at once.

For each unit ``u`` (a column of ``Y``), fastl2lir 0.11 (``FastL2LiR.fit(X, Y, alpha, n_feat)``)

1. computes the Pearson correlation of every voxel (column of ``X``) with the unit over the
   training samples; voxels with variance < 1e-8 get correlation 0;
2. keeps the ``k = n_feat`` voxels ``S_u`` of largest ``|r|``;
3. appends a bias column of ones to ``X`` and solves the ridge system, bias regularised too::

       (X_S^T X_S + alpha I) [w_u; b_u] = X_S^T y_u,    X_S = [X[:, S_u], 1]

and predicts ``X_new @ W + b``. When ``n_feat`` is 0 or at least the number of voxels, no
selection is done and one system for all voxels is solved, in primal form when there are
more samples than voxels + 1 and in dual form otherwise -- as here.

The work shared by all units is done once per fit (:func:`prepare_design`): the Gram matrix
``G = X_1^T X_1 + alpha I`` with the bias, and the standardised ``X`` used for correlations.
Per chunk of units, :func:`fit_units` computes the correlations with one matrix product,
picks the top voxels, gathers the principal sub-matrices ``G[S_u, S_u]`` and solves them
with a batched Cholesky factorisation. Voxel selection is done in float64 whatever the
backend's precision, so that float32 runs select the same voxels as the reference.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from brainfeat._checks import check_float, check_int
from brainfeat.decoding.backends import Backend
from brainfeat.errors import InvalidValueError

__all__ = ["BoundDesign", "Design", "UnitModels", "fit_units", "normalise_stats",
           "predict_units", "prepare_design", "standardise"]

#: fastl2lir's threshold: voxels with variance (ddof=0) below it get correlation 0.
CONSTANT_VARIANCE = 1e-8


def normalise_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (ddof=1), as the published pipeline uses them.

    Returns ``(mean, std)``, both of shape (n_columns,), float64.
    """
    values = np.asarray(values, dtype=np.float64)
    return values.mean(axis=0), values.std(axis=0, ddof=1)


def standardise(values: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(values - mean) / std`` per column; columns with ``std == 0`` become exactly 0.

    The reference pipeline divides by 0 there (inf, later set to 0, or NaN); a constant
    training column carries no information, so brainfeat zeroes it in every split.
    """
    constant = ~(std > 0)
    out = (np.asarray(values, dtype=np.float64) - mean) / np.where(constant, 1.0, std)
    out[:, constant] = 0.0
    return out


@dataclass(frozen=True, eq=False)
class Design:
    """The training inputs shared by every unit of one fit (host numpy arrays, picklable).

    Attributes
    ----------
    alpha : float
        Ridge penalty, applied to the bias too.
    n_selected : int
        Voxels per unit, ``k``; equal to ``n_voxels`` when nothing is selected.
    select : bool
        Whether voxels are selected per unit.
    x_aug : ndarray, shape (n_samples, n_voxels + 1)
        Training inputs with the bias column of ones appended (float64).
    x_corr : ndarray, shape (n_samples, n_voxels)
        Training inputs centred and scaled to unit standard deviation; constant voxels are
        0 (float64). Only used when ``select``.
    gram : ndarray, shape (n_voxels + 1, n_voxels + 1) or (n_samples, n_samples)
        ``x_aug.T @ x_aug + alpha I``; the dual ``x_aug @ x_aug.T + alpha I`` when no voxel
        is selected and there are no more samples than voxels + 1 (float64).
    """

    alpha: float
    n_selected: int
    select: bool
    x_aug: np.ndarray
    x_corr: np.ndarray | None
    gram: np.ndarray

    @property
    def n_voxels(self) -> int:
        """Number of input voxels (without the bias)."""
        return self.x_aug.shape[1] - 1

    @property
    def dual(self) -> bool:
        """True when the unselected system is solved in dual form (fastl2lir's choice)."""
        return not self.select and self.x_aug.shape[0] <= self.x_aug.shape[1]

    def on(self, backend: Backend) -> "BoundDesign":
        """This design's arrays on ``backend`` (cached per backend object)."""
        cache = _BOUND.setdefault(self, {})
        if id(backend) not in cache:
            cache[id(backend)] = BoundDesign(self, backend)
        return cache[id(backend)]


_BOUND: "weakref.WeakKeyDictionary[Design, dict[int, BoundDesign]]" = weakref.WeakKeyDictionary()


def prepare_design(x_train: np.ndarray, alpha: float, n_voxels: int | None) -> Design:
    """Compute the per-fit quantities of fastl2lir for ``x_train`` (n_samples, n_voxels).

    Parameters
    ----------
    x_train : ndarray, shape (n_samples, n_voxels)
        Training inputs, already normalised if they are to be.
    alpha : float
        Ridge penalty (>= 0).
    n_voxels : int or None
        Voxels kept per unit; ``None``, 0 or at least ``x_train.shape[1]`` keeps all of them.
    """
    alpha = check_float("alpha", alpha, example=100.0)
    if n_voxels is not None:
        n_voxels = check_int("n_voxels", n_voxels, minimum=0, example=500)
    x = np.asarray(x_train, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise InvalidValueError(
            f"X has shape {x.shape}: expected (n_samples, n_voxels) with at least 2 samples.")
    if not np.isfinite(x).all():
        raise InvalidValueError("X contains NaN or infinite values: remove or impute them first.")
    n_samples, n_features = x.shape
    select = bool(n_voxels) and n_voxels < n_features
    x_aug = np.hstack((x, np.ones((n_samples, 1))))
    x_corr = None
    if select:
        mean = x.mean(axis=0)
        std = x.std(axis=0, ddof=1)
        keep = x.var(axis=0) >= CONSTANT_VARIANCE
        x_corr = np.where(keep, (x - mean) / np.where(keep, std, 1.0), 0.0)
    if not select and n_samples <= n_features + 1:
        gram = x_aug @ x_aug.T
    else:
        gram = x_aug.T @ x_aug
    gram[np.diag_indices_from(gram)] += alpha
    return Design(alpha=float(alpha), n_selected=int(n_voxels) if select else n_features,
                  select=select, x_aug=x_aug, x_corr=x_corr, gram=gram)


class BoundDesign:
    """A :class:`Design` with its arrays moved to a backend (and factorised when unselected)."""

    def __init__(self, design: Design, backend: Backend) -> None:
        self.design = design
        self.backend = backend
        self.x_aug = backend.asarray(design.x_aug, "float64")
        self.x_corr = None if design.x_corr is None else backend.asarray(design.x_corr, "float64")
        self.gram = backend.asarray(design.gram)
        self.factor = None if design.select else backend.cholesky(self.gram)


@dataclass(frozen=True)
class UnitModels:
    """Fitted decoders of a chunk of units (backend arrays).

    Attributes
    ----------
    index : array of int64, shape (n_units, k) or None
        Selected voxels per unit, ascending; ``None`` when every voxel is used.
    weights : array, shape (n_units, k)
        Weights of the selected voxels (all voxels when ``index`` is None).
    bias : array, shape (n_units,)
    """

    index: Any
    weights: Any
    bias: Any


def fit_units(bound: BoundDesign, y: Any) -> UnitModels:
    """Fit the decoders of the units ``y`` (n_samples, n_units) on ``bound``'s design.

    ``y`` is a host or backend array; it is read in float64 for voxel selection and the
    right-hand sides, which are then cast to the backend's precision.
    """
    backend, design = bound.backend, bound.design
    y = backend.asarray(y, "float64")
    rhs_all = y.T @ bound.x_aug                                    # (n_units, n_voxels + 1)
    if not design.select:
        if design.dual:
            inner = backend.cholesky_solve(bound.factor, backend.asarray(y))
            solution = bound.x_aug.T @ backend.asarray(inner, "float64")
        else:
            solution = backend.cholesky_solve(bound.factor, backend.asarray(rhs_all.T))
        solution = solution.T
        return UnitModels(index=None, weights=solution[:, :-1], bias=solution[:, -1])
    centred = y - y.mean(axis=0)
    scores = abs(centred.T @ bound.x_corr)                         # (n_units, n_voxels)
    top = backend.top_k(scores, design.n_selected)
    index = backend.append_constant(top, design.n_voxels)         # the bias is the last column
    rhs = backend.asarray(backend.take_rows(rhs_all, index))
    solution = backend.solve_principal(bound.gram, index, rhs)
    return UnitModels(index=index[:, :-1], weights=solution[:, :-1], bias=solution[:, -1])


def predict_units(backend: Backend, models: UnitModels, x_new: Any) -> Any:
    """Predictions ``x_new @ W + b`` of fitted decoders, shape (n_new, n_units).

    ``x_new`` (n_new, n_voxels) is a host or backend array, on the training scale. As in
    fastl2lir, the sparse weights are expanded to a dense (n_voxels, n_units) matrix.
    """
    weights = models.weights
    if models.index is not None:
        weights = backend.dense_rows(models.index, weights, x_new.shape[1])
    return backend.asarray(x_new) @ weights.T + models.bias[None, :]
