"""Identification of decoded features, as the Kamitani lab defines it.

Every function here is a pure function of arrays ``(n_samples, n_units)`` (trailing unit
axes are flattened) and returns one score per decoded sample:

* :func:`pairwise_identification` -- bdpy's ``pairwise_identification``: per sample, the
  fraction of the distractors whose similarity to the decoded features is lower than that of
  the true target. Distractors are the other test images by default, or any candidate matrix.
* :func:`category_identification` -- Horikawa & Kamitani (2017): decoded features against
  category-averaged candidate features (the true category plus false ones); the correct rate
  of a sample is the fraction of false candidates with a lower correlation. Score perception
  and imagery separately (one call each).
* :func:`nway_identification` -- n-way top-k identification: the target and ``n_way - 1``
  distractors drawn at random (seeded); a hit when the target is among the ``top_k`` most
  similar; the score is the hit rate over the draws.
* :func:`pattern_correlation` -- bdpy's ``pattern_correlation``: per sample, Pearson r
  across units, after z-scoring both sides with training statistics.
* :func:`category_averages` -- category-averaged features of image features (the candidate
  rows of category identification), grouped by the synset of each image id.

Similarity is Pearson correlation across units by default (``metric="correlation"``);
``"cosine"`` and ``"euclidean"`` are bdpy's ``1 - scipy.spatial.distance.cdist``.
A "lower" similarity is strictly lower: exact ties count against the sample, as in bdpy
(GOD's own category-identification script counted them in its favour; the two differ only
on exact ties).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np

from brainfeat._checks import check_int
from brainfeat.errors import InvalidValueError, ShapeMismatchError, UnknownNameError

__all__ = [
    "SIMILARITY_METRICS",
    "category_averages",
    "category_identification",
    "nway_identification",
    "pairwise_identification",
    "pattern_correlation",
    "similarity_matrix",
]

Metric = Literal["correlation", "cosine", "euclidean"]
SIMILARITY_METRICS: tuple[str, ...] = ("correlation", "cosine", "euclidean")


def _matrix(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim < 2 or array.shape[0] == 0:
        raise ShapeMismatchError(
            f"{name} has shape {array.shape}: expected (n_samples, n_units) or "
            "(n_samples, *unit_shape) with at least one sample.")
    return array.reshape(array.shape[0], -1).astype(np.float64, copy=False)


def _same_width(reference: np.ndarray, other: np.ndarray, name: str) -> None:
    if other.shape[1] != reference.shape[1]:
        raise ShapeMismatchError(
            f"{name} have {other.shape[1]} units per row but the decoded features have "
            f"{reference.shape[1]}: candidates must come from the same layer (and the same "
            "network) as the decoded features.")


def _drop_nan_units(decoded: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Drop the units with a NaN in any row of any array, with a warning that says how many."""
    nan = np.isnan(decoded).any(axis=0)
    for other in others:
        nan |= np.isnan(other).any(axis=0)
    if not nan.any():
        return [decoded, *others]
    warnings.warn(f"{int(nan.sum())} of {nan.size} units hold NaN and were dropped before "
                  "identification (bdpy's remove_nan).", RuntimeWarning, stacklevel=3)
    return [array[:, ~nan] for array in (decoded, *others)]


def _unit_rows(array: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit norm (NaN for constant rows)."""
    centred = array - array.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return centred / np.linalg.norm(centred, axis=1, keepdims=True)


def similarity_matrix(decoded: np.ndarray, candidates: np.ndarray,
                      metric: Metric = "correlation") -> np.ndarray:
    """Similarity of every decoded row to every candidate row.

    Parameters
    ----------
    decoded : ndarray, shape (n_samples, n_units)
    candidates : ndarray, shape (n_candidates, n_units)
    metric : {"correlation", "cosine", "euclidean"}
        Pearson correlation across units, or bdpy's ``1 - cdist(decoded, candidates, metric)``.

    Returns
    -------
    ndarray of float64, shape (n_samples, n_candidates)
        NaN where a row is constant (correlation) or all zero (cosine).
    """
    if metric not in SIMILARITY_METRICS:
        raise UnknownNameError(
            f"metric={metric!r}: expected one of {', '.join(SIMILARITY_METRICS)}.")
    if metric == "correlation":
        return _unit_rows(decoded) @ _unit_rows(candidates).T
    from scipy.spatial.distance import cdist

    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - cdist(decoded, candidates, metric=metric)


def _correct_rates(own: np.ndarray, distractors: np.ndarray) -> np.ndarray:
    """Per row, the fraction of finite ``distractors`` strictly below ``own``.

    NaN distractors are left out of the comparison (bdpy's ``remove_nan_dist``); a row whose
    own similarity is NaN, or that has no finite distractor, scores NaN.
    """
    valid = ~np.isnan(distractors)
    lower = np.sum((distractors < own[:, None]) & valid, axis=1)
    n_valid = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = lower / n_valid
    rates[np.isnan(own) | (n_valid == 0)] = np.nan
    return rates


def pairwise_identification(pred: np.ndarray, true: np.ndarray,
                            candidates: np.ndarray | None = None, *,
                            metric: Metric = "correlation") -> np.ndarray:
    """Pairwise identification accuracy of each decoded sample (bdpy's definition).

    For sample ``i``, the fraction of distractors ``j`` with
    ``sim(pred[i], distractor[j]) < sim(pred[i], true[i])``. Units holding NaN in any row of
    ``pred``, ``true`` or ``candidates`` are dropped first, with a warning (bdpy's
    ``remove_nan``); NaN similarities are left out of the comparison and out of the count
    (``remove_nan_dist``). With ``candidates=None`` this equals bdpy's
    ``pairwise_identification(pred, true)``.

    Parameters
    ----------
    pred : ndarray, shape (n_samples, n_units) or (n_samples, ``*unit_shape``)
        Decoded features.
    true : ndarray, same shape as ``pred``
        True features of the same samples, in the same order.
    candidates : ndarray, shape (n_candidates, n_units), optional
        Distractors; defaults to the other rows of ``true`` (``n_samples - 1`` per sample).
        When given, every row of ``candidates`` is a distractor of every sample, and the
        other test images are not (stack them in yourself to keep them).
    metric : {"correlation", "cosine", "euclidean"}
        Similarity, see :func:`similarity_matrix`.

    Returns
    -------
    ndarray of float64, shape (n_samples,)
        Values in [0, 1]; chance is 0.5. NaN for a sample whose own similarity is NaN (bdpy
        returns 0 there).

    Raises
    ------
    ShapeMismatchError
        If ``pred`` and ``true`` differ in shape, or ``candidates`` in width.

    Examples
    --------
    >>> true = np.array([[0., 1., 2.], [2., 1., 0.], [1., 2., 0.]])
    >>> pairwise_identification(true + 0.1 * true[::-1], true)
    array([1., 1., 1.])
    """
    return _correct_rates(*_own_and_distractors(pred, true, candidates, metric))


def _own_and_distractors(pred: np.ndarray, true: np.ndarray, candidates: np.ndarray | None,
                         metric: Metric) -> tuple[np.ndarray, np.ndarray]:
    """Similarity of each sample to its target, and to each distractor (NaN: not one)."""
    pred, true = _matrix(pred, "pred"), _matrix(true, "true")
    if pred.shape != true.shape:
        raise ShapeMismatchError(
            f"pred has shape {pred.shape} but true has shape {true.shape}: both must be "
            "(n_samples, n_units) for the same samples and units.")
    if candidates is None:
        pred, true = _drop_nan_units(pred, true)
        similarity = similarity_matrix(pred, true, metric)
        own = np.diag(similarity).copy()
        np.fill_diagonal(similarity, np.nan)
        return own, similarity
    candidates = _matrix(candidates, "candidates")
    _same_width(pred, candidates, "candidates")
    pred, true, candidates = _drop_nan_units(pred, true, candidates)
    # one product for targets and candidates (a copy of a target ties exactly only where the
    # arithmetic is exact: which of two equal-in-theory similarities is larger can depend on BLAS)
    similarity = similarity_matrix(pred, np.vstack([true, candidates]), metric)
    return np.diag(similarity).copy(), similarity[:, len(true):]


def category_identification(decoded: np.ndarray, categories: Sequence[str],
                            candidates: np.ndarray, candidate_categories: Sequence[str], *,
                            metric: Metric = "correlation",
                            drop_nan_units: bool = False) -> np.ndarray:
    """Category identification (Horikawa & Kamitani 2017), one correct rate per sample.

    Each decoded sample is compared with every candidate row: category-averaged features,
    one row per category, the sample's true category among them. The correct rate is the
    fraction of the false candidates whose correlation with the decoded features is lower
    than the true category's. Chance is 0.5. Perception and imagery are scored separately:
    call once per condition.

    Parameters
    ----------
    decoded : ndarray, shape (n_samples, n_units)
        Decoded features (the lab averages them per category first).
    categories : sequence of str, length n_samples
        True category of each sample (a synset such as ``"n01443537"``, or any label that
        ``candidate_categories`` uses).
    candidates : ndarray, shape (n_categories, n_units)
        Category-averaged features, e.g. from :func:`category_averages` or
        :func:`brainfeat.evaluation.god_candidates.god_category_features`.
    candidate_categories : sequence of str, length n_categories
        The category of each candidate row; no repeats.
    metric : {"correlation", "cosine", "euclidean"}
    drop_nan_units : bool
        The lab's definition drops no unit: with False, a NaN anywhere is an error naming
        the units; with True, units holding NaN are dropped on both sides, with a warning.

    Returns
    -------
    ndarray of float64, shape (n_samples,)

    Raises
    ------
    ShapeMismatchError
        Candidates of another width, or label counts that do not match the rows.
    UnknownNameError
        A sample's category that is not among the candidates, or a repeated candidate.
    """
    decoded, candidates = _matrix(decoded, "decoded"), _matrix(candidates, "candidates")
    _same_width(decoded, candidates, "candidates")
    labels, candidate_labels = list(map(str, categories)), list(map(str, candidate_categories))
    for name, values, rows in (("categories", labels, decoded.shape[0]),
                               ("candidate_categories", candidate_labels, candidates.shape[0])):
        if len(values) != rows:
            raise ShapeMismatchError(f"{name} has {len(values)} labels for {rows} rows.")
    position = {label: row for row, label in enumerate(candidate_labels)}
    if len(position) != len(candidate_labels):
        repeated = sorted({x for x in candidate_labels if candidate_labels.count(x) > 1})
        raise UnknownNameError(
            f"candidate_categories repeats {repeated[:5]}: expected one averaged row per "
            "category.")
    missing = sorted({label for label in labels if label not in position})
    if missing:
        raise UnknownNameError(
            f"categories {missing[:5]} are not among the {len(position)} candidate categories:"
            " the true category of every sample must be a candidate.")
    if not drop_nan_units:
        nan = np.flatnonzero(np.isnan(decoded).any(axis=0) | np.isnan(candidates).any(axis=0))
        if nan.size:
            raise ShapeMismatchError(
                f"units {nan[:10].tolist()} ({nan.size} in all) hold NaN: the lab's category "
                "identification drops no unit; pass drop_nan_units=True to drop them.")
    decoded, candidates = _drop_nan_units(decoded, candidates)
    similarity = similarity_matrix(decoded, candidates, metric)
    target = np.array([position[label] for label in labels])
    rows = np.arange(len(target))
    own = similarity[rows, target].copy()
    similarity[rows, target] = np.nan
    return _correct_rates(own, similarity)


def category_averages(features: np.ndarray, image_ids: Sequence[str],
                      ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Average image features per category (the synset before ``_`` in each image id).

    Parameters
    ----------
    features : ndarray, shape (n_images, n_units)
    image_ids : sequence of str
        Stimulus names such as ``"n01443537_22563"``.

    Returns
    -------
    averages : ndarray of float64, shape (n_categories, n_units)
    categories : tuple of str
        The synset of each row, in order of first appearance.
    """
    features = _matrix(features, "features")
    if len(image_ids) != features.shape[0]:
        raise ShapeMismatchError(
            f"{len(image_ids)} image ids for {features.shape[0]} rows of features.")
    synsets = [str(image).split("_")[0] for image in image_ids]
    categories = tuple(dict.fromkeys(synsets))
    index = np.array([categories.index(s) for s in synsets])
    sums = np.zeros((len(categories), features.shape[1]))
    np.add.at(sums, index, features)
    return sums / np.bincount(index)[:, None], categories


def nway_identification(pred: np.ndarray, true: np.ndarray,
                        candidates: np.ndarray | None = None, *, n_way: int = 50,
                        top_k: int = 1, n_draws: int = 100, seed: int = 0,
                        metric: Metric = "correlation") -> np.ndarray:
    """n-way top-k identification with distractors drawn at random (seeded).

    For each sample and each of ``n_draws`` draws, ``n_way - 1`` distractors are drawn
    without replacement from the distractor pool (as in :func:`pairwise_identification`);
    the draw is a hit when fewer than ``top_k`` of them are strictly more similar to the
    decoded features than the true target. NaN units are dropped as in
    :func:`pairwise_identification`.

    Parameters
    ----------
    pred, true, candidates, metric
        As in :func:`pairwise_identification`.
    n_way : int
        Candidates per draw, target included (2 <= n_way <= pool size + 1).
    top_k : int
        A hit when the target ranks among the ``top_k`` most similar (1 <= top_k < n_way).
    n_draws : int
        Random draws per sample.
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same draws.

    Returns
    -------
    ndarray of float64, shape (n_samples,)
        Hit rate per sample; chance is ``top_k / n_way``. NaN where the own similarity is NaN.
    """
    n_way = check_int("n_way", n_way, minimum=2, example=10)
    top_k = check_int("top_k", top_k, minimum=1, example=1)
    n_draws = check_int("n_draws", n_draws, minimum=1, example=100)
    own, distractors = _own_and_distractors(pred, true, candidates, metric)
    pools = [row[~np.isnan(row)] for row in distractors]
    smallest = min(len(pool) for pool in pools)
    if n_way > smallest + 1 or top_k >= n_way:
        raise InvalidValueError(
            f"n_way={n_way}, top_k={top_k}: expected n_way <= {smallest + 1} (the distractors "
            "available to every sample, plus its target) and top_k < n_way.")
    rng = np.random.default_rng(seed)
    hits = np.empty(len(pools))
    for i, pool in enumerate(pools):
        drawn = np.stack([rng.choice(len(pool), n_way - 1, replace=False)
                          for _ in range(n_draws)])
        hits[i] = np.mean(np.sum(pool[drawn] > own[i], axis=1) < top_k)
    hits[np.isnan(own)] = np.nan
    return hits


def pattern_correlation(pred: np.ndarray, true: np.ndarray, mean: np.ndarray | None = None,
                        std: np.ndarray | None = None) -> np.ndarray:
    """Pearson r across units between decoded and true features of each sample (bdpy's).

    Parameters
    ----------
    pred, true : ndarray, shape (n_samples, n_units)
    mean, std : ndarray, shape (n_units,) or unit_shape, optional
        Training statistics of each unit; when both are given, both sides are z-scored with
        them first (so that high-variance units do not dominate). Units holding NaN (after
        z-scoring, e.g. ``std == 0``) are dropped with a warning, as bdpy does.

    Returns
    -------
    ndarray of float64, shape (n_samples,)
        NaN where a row is constant.
    """
    pred, true = _matrix(pred, "pred"), _matrix(true, "true")
    if pred.shape != true.shape:
        raise ShapeMismatchError(f"pred has shape {pred.shape} but true has shape {true.shape}.")
    if (mean is None) != (std is None):
        raise InvalidValueError("pass both mean and std (training statistics), or neither.")
    if mean is not None and std is not None:
        mean, std = np.asarray(mean, np.float64).ravel(), np.asarray(std, np.float64).ravel()
        if mean.size != pred.shape[1] or std.size != pred.shape[1]:
            raise ShapeMismatchError(
                f"mean has {mean.size} and std {std.size} values for {pred.shape[1]} units.")
        with np.errstate(invalid="ignore", divide="ignore"):
            pred, true = (pred - mean) / std, (true - mean) / std
        pred[np.isinf(pred)] = np.nan
        true[np.isinf(true)] = np.nan
    pred, true = _drop_nan_units(pred, true)
    return np.sum(_unit_rows(pred) * _unit_rows(true), axis=1)
