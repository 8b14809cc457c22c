"""Candidates of category identification from the Generic Object Decoding release.

``ImageFeatures.h5`` (figshare file 15015971, ``brainfeat.fetch_file("ImageFeatures.h5")``)
is a BData file with one row per image or category. Its metadata keys, as GOD's own code
(``makedata_features.py``, ``analysis_FeaturePrediction.py``,
``analysis_CategoryIdentification.py``) writes and reads them:

* ``FeatureType``: 1 training images, 2 test images, 3 category averages of the test
  (and imagery) categories, 4 category averages of further candidate categories;
* ``CatID``: the synset number; ``ImageID``: the stimulus id (NaN on category rows);
* ``cnn1`` ... ``cnn8``: CaffeNet (AlexNet) conv1 ... conv5, fc6, fc7, fc8; ``hmax1``
  ... ``hmax3``, ``gist``, ``sift``: non-DNN features.

**Which feature type matches which published layer.** GOD kept 1,000 units of each CaffeNet
layer, chosen by a seeded random permutation of the layer's units, and did not store which.
So ``cnn1`` ... ``cnn7`` (1,000 of 290,400 ... 4,096 units) match no published layer and are
refused; ``cnn8`` has the width of the published AlexNet ``fc8`` (1,000 units), but its
columns may be in permuted order. :func:`god_category_features` therefore re-orders the
columns by matching the file's test-image rows (``FeatureType`` 2) against the published
true features of the same images, and refuses the file unless every column matches exactly
one published unit with r above ``min_r``. HMAX, GIST and SIFT match no DNN layer. VGG19
layers have no counterpart in the file.
"""

from __future__ import annotations

import os

import numpy as np

from brainfeat.catalog import Network
from brainfeat.errors import FormatError, ShapeMismatchError, UnknownNameError
from brainfeat.evaluation.identification import similarity_matrix
from brainfeat.io.bdata import read_bdata, read_bdata_metadata
from brainfeat.published import FeatureSet
from brainfeat.stimuli import category_name, id_to_name

__all__ = ["GOD_FEATURES", "god_category_features"]

#: GOD feature type -> the published AlexNet layer it was computed from (1,000 units each).
GOD_FEATURES = {"cnn1": "conv1", "cnn2": "conv2", "cnn3": "conv3", "cnn4": "conv4",
                "cnn5": "conv5", "cnn6": "fc6", "cnn7": "fc7", "cnn8": "fc8"}

TEST_IMAGES, CATEGORY_AVERAGES, OTHER_CATEGORIES = 2, 3, 4


def god_category_features(path: str | os.PathLike[str], true: FeatureSet, *,
                          feature_types: tuple[int, ...] = (CATEGORY_AVERAGES, OTHER_CATEGORIES),
                          min_r: float = 0.99) -> tuple[np.ndarray, tuple[str, ...]]:
    """Category-averaged candidate features of ``ImageFeatures.h5``, in published unit order.

    Parameters
    ----------
    path : path-like
        The GOD release's ``ImageFeatures.h5`` (or a BData file of the same layout).
    true : FeatureSet
        Published true features of the layer to match (AlexNet fc8): they pick the feature
        type and fix the unit order.
    feature_types : tuple of int
        Rows to return: 3 (test categories) and 4 (other candidate categories) by default.
    min_r : float
        Smallest correlation, across the test images, between a file column and the
        published unit it is matched to.

    Returns
    -------
    candidates : ndarray of float64, shape (n_categories, n_units)
        Columns re-ordered to the published units of ``true``.
    categories : tuple of str
        The synset of each row (``"n01443537"``).

    Raises
    ------
    UnknownNameError
        ``true`` is not a layer that the file holds (only AlexNet fc8 is), or the file lacks
        the metadata keys above.
    ShapeMismatchError
        The feature type's width differs from the layer's, or its columns cannot be matched
        one to one to the published units (the message gives the correlations found).
    FormatError
        The file has no rows of the requested types, or misses test images.
    """
    feature = _feature_of(true)
    meta = read_bdata_metadata(path)
    for key in ("FeatureType", "CatID", "ImageID", feature):
        meta.metadata(key)  # an error lists the keys the file has
    columns = meta.columns(feature)
    if int(columns.sum()) != true.n_units:
        raise ShapeMismatchError(
            f"{path}: {feature} has {int(columns.sum())} columns but published "
            f"{true.network.value} {true.layer} has {true.n_units} units: refused.")
    labels = read_bdata(path, columns=meta.columns("FeatureType") | meta.columns("CatID")
                        | meta.columns("ImageID"))
    kind = labels.get("FeatureType").ravel()
    order = _unit_order(path, feature, columns, kind == TEST_IMAGES, labels.get("ImageID"),
                        true, min_r)
    rows = np.isin(kind, feature_types)
    if not rows.any():
        raise FormatError(f"{path} has no rows of FeatureType {feature_types}: found "
                          f"{sorted(set(kind.astype(int).tolist()))}.")
    values = read_bdata(path, rows=rows, columns=columns).dataset
    categories = tuple(category_name(int(c)) for c in labels.get("CatID").ravel()[rows])
    candidates = np.empty_like(values)
    candidates[:, order] = values
    return candidates, categories


def _feature_of(true: FeatureSet) -> str:
    if true.network is Network.ALEXNET and true.layer == GOD_FEATURES["cnn8"]:
        return "cnn8"
    raise UnknownNameError(
        f"ImageFeatures.h5 holds no full layer matching {true.network.value} {true.layer}: "
        "only cnn8 (all 1,000 units of AlexNet fc8) matches a published layer; cnn1-cnn7 keep "
        "1,000 unrecorded units of their layer. Use category averages of features from "
        "brainfeat.features.extract instead.")


def _unit_order(path: str | os.PathLike[str], feature: str, columns: np.ndarray,
                test_rows: np.ndarray, image_ids: np.ndarray, true: FeatureSet,
                min_r: float) -> np.ndarray:
    """The published unit of each file column, matched on the test images."""
    names = [id_to_name(float(i)) for i in image_ids.ravel()[test_rows]]
    position = {name: row for row, name in enumerate(names)}
    missing = [name for name in true.image_ids if name not in position]
    if missing:
        raise FormatError(f"{path} lacks test images {missing[:5]} ({len(missing)} in all) "
                          f"needed to match the columns of {feature} to published units.")
    rows = np.flatnonzero(test_rows)[[position[name] for name in true.image_ids]]
    in_file_order = np.sort(rows)
    file_test = read_bdata(path, rows=in_file_order, columns=columns).dataset
    file_test = file_test[np.searchsorted(in_file_order, rows)]
    r = similarity_matrix(file_test.T, true.values.T.astype(np.float64))
    order = np.nanargmax(np.nan_to_num(r, nan=-np.inf), axis=1)
    best = r[np.arange(len(order)), order]
    if np.unique(order).size != order.size or not np.all(best > min_r):
        raise ShapeMismatchError(
            f"{path}: the columns of {feature} do not match the units of published "
            f"{true.network.value} {true.layer} one to one (median best r "
            f"{float(np.nanmedian(best)):.3f}, {int(np.sum(~(best > min_r)))} columns below "
            f"{min_r}, {order.size - np.unique(order).size} shared): refused. The file may "
            "come from another network or preprocessing.")
    return order
