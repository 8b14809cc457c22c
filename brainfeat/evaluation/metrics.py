"""Scores of decoded DNN features: the numbers the dataset publishes, recomputed.

* :func:`unit_correlation` -- the published *accuracy*: per unit, Pearson r between decoded
  and true values across the test images (bdpy's ``profile_correlation``).
* :func:`rank_units` -- rank of each unit's accuracy within its layer, with the direction and
  the place of NaN as parameters (the published convention is verified, not assumed).
* :func:`averaged_decoded` / :class:`RunningMean` -- the ``Averaged`` subject: decoded
  features averaged over the subjects (scored afterwards like any subject).
* :func:`intersubject_correlation` -- Figure 2c: Pearson r between two subjects' unit
  accuracies, for every pair, over the units both subjects score.

Identification (pairwise, category, n-way) lives in :mod:`brainfeat.evaluation.identification`.

Arrays are ``(n_images, n_units)``; trailing unit axes are flattened. Sums are taken in
float64 whatever the input dtype, unit chunk by unit chunk, so a 50 x 3.2 M float32 layer
never needs a float64 copy of itself; each centred unit is scaled by a power of two first
(exact), so features as small as 1e-160 or as large as 1e150 give the same r.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Literal

import numpy as np

from brainfeat.errors import InvalidValueError, ShapeMismatchError

__all__ = [
    "DEFAULT_CHUNK_UNITS",
    "RunningMean",
    "averaged_decoded",
    "intersubject_correlation",
    "rank_ranges",
    "rank_units",
    "unit_correlation",
]

#: Units scored per chunk: 50 images x 65,536 units x 8 bytes = 26 MB per float64 temporary.
DEFAULT_CHUNK_UNITS = 65_536

NanPolicy = Literal["last", "first", "keep"]


def _as_matrix(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim < 2:
        raise ShapeMismatchError(
            f"{name} has shape {array.shape}: expected (n_images, n_units) or "
            "(n_images, *unit_shape).")
    return array.reshape(array.shape[0], -1)


def unit_correlation(pred: np.ndarray, true: np.ndarray, *,
                     chunk_units: int = DEFAULT_CHUNK_UNITS) -> np.ndarray:
    """Per-unit Pearson correlation across images (the dataset's decoding accuracy).

    Parameters
    ----------
    pred, true : ndarray, shape (n_images, n_units) or (n_images, ``*unit_shape``)
        Decoded and true features of the same images in the same order.
    chunk_units : int, optional
        Units scored at a time; bounds the float64 temporaries to
        ``n_images * chunk_units * 8`` bytes each.

    Returns
    -------
    ndarray of float64, shape (n_units,)
        ``r[j] = sum_i (p_ij - mean p_j)(t_ij - mean t_j) / sqrt(sum (p_ij - mean p_j)^2
        * sum (t_ij - mean t_j)^2)``, clipped to [-1, 1]. NaN where ``true`` or ``pred``
        is constant across images (max == min) and where an input value is NaN or infinite.

    Examples
    --------
    >>> import numpy as np
    >>> true = np.array([[0., 1.], [1., 1.], [2., 1.]])
    >>> unit_correlation(2 * true + 1, true)
    array([ 1., nan])
    """
    pred = _as_matrix(pred, "pred")
    true = _as_matrix(true, "true")
    if pred.shape != true.shape:
        raise ShapeMismatchError(
            f"pred has shape {pred.shape} but true has shape {true.shape}: both must be "
            "(n_images, n_units) for the same images and units.")
    if pred.shape[0] < 2:
        raise ShapeMismatchError(f"Need at least 2 images to correlate, got {pred.shape[0]}: "
                                 "pass every test image of the layer.")
    if chunk_units < 1:
        raise InvalidValueError(f"chunk_units must be a positive integer, got {chunk_units}.")
    result = np.empty(pred.shape[1], dtype=np.float64)
    for start in range(0, pred.shape[1], chunk_units):
        stop = min(start + chunk_units, pred.shape[1])
        result[start:stop] = _correlate_chunk(pred[:, start:stop], true[:, start:stop])
    return result


def _correlate_chunk(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    p = pred.astype(np.float64)
    t = true.astype(np.float64)
    constant = (np.ptp(p, axis=0) == 0) | (np.ptp(t, axis=0) == 0)
    # Invalid operations make NaN, the documented result: an infinite value (inf - inf in
    # the centring) and 0 / 0 for a constant unit.
    with np.errstate(invalid="ignore"):
        p -= p.mean(axis=0)
        t -= t.mean(axis=0)
        for centred in (p, t):   # each unit times a power of two (exact): no sum under/overflows
            largest = np.maximum(centred.max(axis=0), -centred.min(axis=0))
            np.ldexp(centred, -np.frexp(largest)[1], out=centred)
        numerator = np.einsum("ij,ij->j", p, t)
        denominator = np.sqrt(np.einsum("ij,ij->j", p, p) * np.einsum("ij,ij->j", t, t))
        r = numerator / denominator
    r[constant] = np.nan
    return np.clip(r, -1.0, 1.0)


def rank_units(accuracy: np.ndarray, descending: bool = True,
               nan: NanPolicy = "last") -> np.ndarray:
    """Rank units by accuracy within a layer (1 = first).

    Parameters
    ----------
    accuracy : ndarray, shape (n_units,) or unit_shape
        One subject's accuracies of one layer.
    descending : bool, optional
        True: rank 1 is the most accurate unit; False: the least accurate.
    nan : {"last", "first", "keep"}, optional
        Where units with NaN accuracy go: after every scored unit, before them, or
        nowhere (their rank is NaN and the scored units are ranked 1..n_scored).

    Returns
    -------
    ndarray of float64, shape (n_units,)
        Ranks ``1..n``; ties are broken by unit index (the lower index ranks first).

    Examples
    --------
    >>> rank_units(np.array([0.1, np.nan, 0.5, -0.2]))
    array([2., 4., 1., 3.])
    >>> rank_units(np.array([0.1, np.nan, 0.5, -0.2]), descending=False, nan="keep")
    array([ 2., nan,  3.,  1.])
    """
    if nan not in ("last", "first", "keep"):
        raise InvalidValueError(f"nan={nan!r}: expected 'last', 'first' or 'keep'.")
    values = np.asarray(accuracy, dtype=np.float64).ravel()
    missing = np.isnan(values)
    key = -values if descending else values.copy()
    key[missing] = np.inf if nan in ("last", "keep") else -np.inf
    order = np.argsort(key, kind="stable")
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.arange(1, values.size + 1, dtype=np.float64)
    if nan == "keep":
        ranks[missing] = np.nan
    return ranks


def rank_ranges(accuracy: np.ndarray, descending: bool = True,
                nan: NanPolicy = "last") -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest rank each unit can take when tied units may come in any order.

    Units with equal accuracy (and, unless ``nan="keep"``, all NaN units) form a tied
    group; every order within a group is an equally valid ranking, so each unit of a group
    of ``m`` units starting at rank ``r`` can take any rank in ``r .. r + m - 1``.

    Parameters
    ----------
    accuracy, descending, nan
        As in :func:`rank_units`.

    Returns
    -------
    (ndarray, ndarray) of float64, shape (n_units,)
        Lowest and highest rank per unit (1-based); NaN for NaN units under ``nan="keep"``.

    Examples
    --------
    >>> rank_ranges(np.array([0.5, 0.1, 0.5, np.nan]))
    (array([1., 3., 1., 4.]), array([2., 3., 2., 4.]))
    """
    ranks = rank_units(accuracy, descending=descending, nan=nan)
    values = np.asarray(accuracy, dtype=np.float64).ravel()
    # One group label per distinct value; the NaNs get one group of their own, after all the
    # others (mapped to inf first, so that np.unique's treatment of NaN does not matter).
    labels = np.unique(np.where(np.isnan(values), np.inf, values), return_inverse=True)[1]
    labels = np.where(np.isnan(values), labels.max(initial=0) + 1, labels)
    ranked = ~np.isnan(ranks)                          # all but NaN units under "keep"
    low = np.full(labels.max(initial=0) + 1, np.inf)
    high = np.full(low.shape, -np.inf)
    np.minimum.at(low, labels[ranked], ranks[ranked])
    np.maximum.at(high, labels[ranked], ranks[ranked])
    return np.where(ranked, low[labels], np.nan), np.where(ranked, high[labels], np.nan)


class RunningMean:
    """Mean of equally shaped arrays added one at a time, summed in float64.

    Holds one float64 array of the common shape, never the arrays themselves, so the
    ``Averaged`` subject of a layer costs one float64 copy of a subject's features.

    Examples
    --------
    >>> mean = RunningMean()
    >>> mean.add(np.ones((2, 3), np.float32)); mean.add(np.zeros((2, 3), np.float32))
    >>> float(mean.result()[0, 0]), mean.count
    (0.5, 2)
    """

    def __init__(self) -> None:
        self._sum: np.ndarray | None = None
        self.count = 0

    def add(self, array: np.ndarray, *, chunk_units: int = DEFAULT_CHUNK_UNITS) -> None:
        """Add one array (e.g. one subject's decoded features)."""
        matrix = _as_matrix(array, "array")
        if self._sum is None:
            self._sum = np.zeros(matrix.shape, dtype=np.float64)
        elif self._sum.shape != matrix.shape:
            raise ShapeMismatchError(
                f"Cannot average an array of shape {matrix.shape} with earlier arrays of "
                f"shape {self._sum.shape}: every subject must have the same images and units.")
        for start in range(0, matrix.shape[1], chunk_units):
            self._sum[:, start:start + chunk_units] += matrix[:, start:start + chunk_units]
        self.count += 1

    def result(self) -> np.ndarray:
        """The float64 mean ``(n_images, n_units)``; the running sum is divided in place."""
        if self._sum is None:
            raise InvalidValueError("RunningMean.result() called before any array was added: "
                                    "add() at least one array first.")
        total, self._sum = self._sum, None
        total /= self.count
        return total


def averaged_decoded(decoded_by_subject: Iterable[np.ndarray]) -> np.ndarray:
    """Decoded features averaged over subjects, image by image and unit by unit.

    Parameters
    ----------
    decoded_by_subject : iterable of ndarray, each (n_images, n_units)
        One array per subject (a generator keeps only one subject in memory at a time).

    Returns
    -------
    ndarray of float64, shape (n_images, n_units)
        The mean; score it with :func:`unit_correlation` to get the ``Averaged`` accuracy.
    """
    mean = RunningMean()
    for decoded in decoded_by_subject:
        mean.add(decoded)
    return mean.result()


def intersubject_correlation(acc_by_subject: Mapping[str, np.ndarray],
                             ) -> dict[tuple[str, str], float]:
    """Pearson r between every pair of subjects' unit accuracies (Figure 2c).

    Parameters
    ----------
    acc_by_subject : mapping of subject name -> ndarray (n_units,)
        Accuracies of one layer, e.g. ``{"S1": ..., ..., "S5": ...}`` (10 pairs for 5).

    Returns
    -------
    dict of (str, str) -> float
        One entry per pair in mapping order; each r uses the units that both subjects
        score (pairwise-complete); NaN where fewer than 2 such units remain or one side
        is constant.
    """
    vectors = {name: np.asarray(values, dtype=np.float64).ravel()
               for name, values in acc_by_subject.items()}
    sizes = {name: v.size for name, v in vectors.items()}
    if len(set(sizes.values())) > 1:
        raise ShapeMismatchError(f"Accuracy vectors differ in length {sizes}: expected one "
                                 "layer, the same units for every subject.")
    result = {}
    for first, second in itertools.combinations(vectors, 2):
        a, b = vectors[first], vectors[second]
        keep = ~(np.isnan(a) | np.isnan(b))
        if keep.sum() < 2:
            result[(first, second)] = float("nan")
            continue
        r = unit_correlation(a[keep, None], b[keep, None])
        result[(first, second)] = float(r[0])
    return result
