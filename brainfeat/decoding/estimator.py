"""``VoxelSelectRidge``: fastl2lir's per-unit decoders as a scikit-learn estimator."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from brainfeat._checks import check_int
from brainfeat.decoding._solvers import (
    UnitModels, fit_units, normalise_stats, predict_units, prepare_design, standardise)
from brainfeat.decoding.backends import get_backend

__all__ = ["VoxelSelectRidge", "chunk_size", "default_chunk_units"]

#: Bytes of float64 per-chunk temporaries (correlations, right-hand sides, dense weights).
CHUNK_BYTES = 128 * 2**20


def default_chunk_units(n_samples: int, n_voxels: int) -> int:
    """Units per chunk keeping the per-chunk float64 temporaries near 128 MB."""
    per_unit = 8 * (3 * (n_voxels + 1) + n_samples)
    return max(1, min(4096, CHUNK_BYTES // per_unit))


def chunk_size(chunk_units: int | None, n_samples: int, n_voxels: int) -> int:
    """Units fitted together: ``chunk_units`` when given (>= 1), else :func:`default_chunk_units`.

    Raises
    ------
    InvalidValueError
        If ``chunk_units`` is not a whole number >= 1 (None means about 128 MB of
        temporaries per chunk).
    """
    if chunk_units is None:
        return default_chunk_units(n_samples, n_voxels)
    return check_int("chunk_units", chunk_units, minimum=1, example=256)


class VoxelSelectRidge(RegressorMixin, BaseEstimator):
    """One ridge regression per output unit on its most correlated voxels (fastl2lir).

    With ``normalize=False`` the fit and predictions reproduce
    ``fastl2lir.FastL2LiR().fit(X, Y, alpha=alpha, n_feat=n_voxels).predict(X_new)``
    (0.11): per unit, the ``n_voxels`` voxels of largest ``|Pearson r|`` with the unit
    (voxels with variance < 1e-8 count as r = 0), a bias column of ones, and the ridge
    system ``(X_S^T X_S + alpha I) [w; b] = X_S^T y`` whose penalty covers the bias too.

    Parameters
    ----------
    alpha : float, default=100.0
        Ridge penalty (the published decoders use 100).
    n_voxels : int or None, default=500
        Voxels selected per unit. ``None``, 0, or at least the number of voxels uses every
        voxel (one shared system, as fastl2lir does).
    normalize : bool, default=False
        Z-score X and Y with the training means and standard deviations (ddof=1), fit, and
        de-normalise predictions -- the published pipeline around fastl2lir. Constant
        training columns become 0 (the reference would divide by 0); a constant unit is
        then predicted as its training mean.
    backend : {"numpy", "torch"}, default="numpy"
    device : str, optional
        torch device (``"cpu"``, ``"cuda"``); only with ``backend="torch"``.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the per-unit systems; voxel selection is always done in float64.
    chunk_units : int, optional
        Units fitted together; bounds the memory of a fit. Default: about 128 MB of
        temporaries (:func:`default_chunk_units`).

    Attributes
    ----------
    voxel_index_ : ndarray of int64, shape (n_units, n_selected)
        Voxels used by each unit's decoder, ascending.
    coef_ : ndarray, shape (n_units, n_selected)
        Their weights (on the normalised scale when ``normalize``).
    intercept_ : ndarray, shape (n_units,)
        Bias of each decoder (normalised scale when ``normalize``).
    unit_shape_ : tuple of int
        ``Y.shape[1:]``; predictions have shape ``(n_samples, *unit_shape_)``.
    n_features_in_ : int
        Number of voxels of X.
    x_mean_, x_scale_, y_mean_, y_scale_ : ndarray
        Training means and standard deviations (ddof=1), only when ``normalize``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.standard_normal((100, 40)), rng.standard_normal((100, 3, 2))
    >>> model = VoxelSelectRidge(alpha=10.0, n_voxels=5).fit(X, Y)
    >>> model.predict(X[:4]).shape
    (4, 3, 2)
    >>> model.voxel_index_.shape
    (6, 5)
    """

    def __init__(self, alpha: float = 100.0, n_voxels: int | None = 500, normalize: bool = False,
                 backend: str = "numpy", device: str | None = None, dtype: str = "float64",
                 chunk_units: int | None = None) -> None:
        self.alpha = alpha
        self.n_voxels = n_voxels
        self.normalize = normalize
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.chunk_units = chunk_units

    def fit(self, X: Any, Y: Any) -> "VoxelSelectRidge":
        """Fit one decoder per unit.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_voxels)
        Y : array-like, shape (n_samples,), (n_samples, n_units) or (n_samples, *unit_shape)

        Returns
        -------
        self
        """
        x = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        if Y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None: give the features to decode, (n_samples, n_units).")
        shape = np.asarray(Y).shape
        if len(shape) == 0 or shape[0] != x.shape[0]:
            raise ValueError(
                f"Y has shape {shape}: expected (n_samples={x.shape[0]}, n_units) or "
                "(n_samples, *unit_shape), one row per row of X.")
        y = check_array(np.asarray(Y).reshape(shape[0], -1), dtype=np.float64, input_name="Y")
        self.unit_shape_ = tuple(shape[1:])
        if self.normalize:
            self.x_mean_, self.x_scale_ = normalise_stats(x)
            self.y_mean_, self.y_scale_ = normalise_stats(y)
            x = standardise(x, self.x_mean_, self.x_scale_)
            y = standardise(y, self.y_mean_, self.y_scale_)
        backend = self._backend()
        bound = prepare_design(x, self.alpha, self.n_voxels).on(backend)
        step = chunk_size(self.chunk_units, *x.shape)
        parts = [fit_units(bound, y[:, start:start + step]) for start in range(0, y.shape[1], step)]
        self.coef_ = np.concatenate([backend.to_numpy(p.weights) for p in parts])
        self.intercept_ = np.concatenate([backend.to_numpy(p.bias) for p in parts])
        if bound.design.select:
            self.voxel_index_ = np.concatenate([backend.to_numpy(p.index) for p in parts])
        else:
            self.voxel_index_ = np.broadcast_to(np.arange(x.shape[1]), self.coef_.shape)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predict every unit for new samples.

        Parameters
        ----------
        X : array-like, shape (n_new, n_voxels)

        Returns
        -------
        ndarray, shape (n_new, *unit_shape_)
            In the estimator's ``dtype``.
        """
        check_is_fitted(self, "coef_")
        x = validate_data(self, X, dtype=np.float64, reset=False)
        if self.normalize:
            x = standardise(x, self.x_mean_, self.x_scale_)
        backend = self._backend()
        step = chunk_size(self.chunk_units, x.shape[0], self.n_features_in_)
        select = self.coef_.shape[1] < self.n_features_in_
        parts = []
        for start in range(0, self.coef_.shape[0], step):
            stop = start + step
            models = UnitModels(
                index=backend.asarray(self.voxel_index_[start:stop], "int64") if select else None,
                weights=backend.asarray(self.coef_[start:stop]),
                bias=backend.asarray(self.intercept_[start:stop]))
            parts.append(backend.to_numpy(predict_units(backend, models, x)))
        pred = np.concatenate(parts, axis=1) if parts else np.empty((x.shape[0], 0))
        if self.normalize:
            pred = pred * self.y_scale_ + self.y_mean_
        return pred.astype(self.dtype, copy=False).reshape((x.shape[0],) + self.unit_shape_)

    # -- helpers --
    def _backend(self) -> Any:
        return get_backend(self.backend, dtype=self.dtype, device=self.device)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.single_output = False
        tags.target_tags.multi_output = True
        return tags
