"""Typed loading of the published decoded/true features, accuracies and ranks.

One call downloads (once, verified), reads and labels a published result::

    import brainfeat
    decoded = brainfeat.load("decoded", "AlexNet", "fc8", subject="S1")   # FeatureSet
    accuracy = brainfeat.load("accuracy", "AlexNet", "fc8", subject="S1")  # UnitScores

File layout inside a layer folder (the figshare zip members after ``decodedDNN/``):

* ``decoded/<net>/<layer>/<subject>/decoded-<net>-<layer>-<subject>-<image>.mat`` (``feat``)
* ``true/<net>/<layer>/true-<net>-<layer>-<image>.mat`` (``feat``)
* ``accuracy/<net>/<layer>/accuracy-<net>-<layer>-<subject>.mat`` (``accuracy``)
* ``rank/<net>/<layer>/rank-<net>-<layer>-<subject>.mat`` (``rank``)
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from brainfeat.catalog import (
    Catalog, Kind, LayerInfo, Network, Subject, SubjectLike, resolve_catalog)
from brainfeat.errors import (
    DataNotFoundError, FormatError, ShapeMismatchError, UnknownNameError)
from brainfeat.io.mat import read_mat_array
from brainfeat.remote.registry import published_path

if TYPE_CHECKING:  # pragma: no cover
    import pandas
    import xarray

__all__ = [
    "FeatureSet", "UnitScores", "load", "load_accuracy", "load_features", "load_rank",
    "published_path", "read_image_features", "variable_name",
]

PathLike = str | os.PathLike[str]

_VARIABLES = {Kind.DECODED: "feat", Kind.TRUE: "feat", Kind.ACCURACY: "accuracy",
              Kind.RANK: "rank"}


@dataclass(frozen=True, eq=False)
class FeatureSet:
    """Decoded or true DNN features of the test images for one layer.

    Attributes
    ----------
    values : numpy.ndarray of float32, shape (n_images, n_units)
        One row per test image, units numbered channel-major (``c*H*W + h*W + w``).
    image_ids : tuple of str
        Stimulus names of the rows, in published order.
    unit_shape : tuple of int
        ``(C, H, W)`` for conv layers, ``(n,)`` for fc layers.
    network : Network
    layer : str
    kind : Kind
        ``Kind.DECODED`` or ``Kind.TRUE``.
    subject : Subject or None
        ``None`` for true features.
    """

    values: np.ndarray
    image_ids: tuple[str, ...]
    unit_shape: tuple[int, ...]
    network: Network
    layer: str
    kind: Kind
    subject: Subject | None

    @property
    def n_units(self) -> int:
        """Number of units (columns of ``values``)."""
        return int(self.values.shape[1])

    @property
    def n_images(self) -> int:
        """Number of images (rows of ``values``)."""
        return int(self.values.shape[0])

    def reshape_units(self) -> np.ndarray:
        """``values`` as ``(n_images, *unit_shape)`` (a view, no copy)."""
        return self.values.reshape((self.n_images, *self.unit_shape))

    def to_xarray(self) -> "xarray.DataArray":
        """A labelled ``xarray.DataArray``: ``(image, channel, y, x)`` or ``(image, unit)``.

        See :func:`brainfeat.exports.to_xarray`.
        """
        from brainfeat.exports import to_xarray

        return to_xarray(self)

    def to_frame(self) -> "pandas.DataFrame":
        """A long table, one row per (image, unit); see :func:`brainfeat.exports.to_frame`."""
        from brainfeat.exports import to_frame

        return to_frame(self)

    def with_values(self, values: np.ndarray) -> "FeatureSet":
        """The same images, units and labels with new ``values`` (e.g. z-scored features).

        ``fs.values -= m`` fails because the result is frozen; write
        ``fs.with_values(fs.values - m)`` instead.

        Parameters
        ----------
        values : array-like, shape (n_images, n_units) or (n_images, *unit_shape)

        Returns
        -------
        FeatureSet
            A new result holding ``values`` as ``(n_images, n_units)``, not copied when
            already of that shape.
        """
        return replace(self, values=_matching_values(self, values))

    def copy(self) -> "FeatureSet":
        """A result with a writable copy of ``values`` (independent of this one)."""
        return replace(self, values=self.values.copy())

    def __repr__(self) -> str:
        return (f"<FeatureSet {_title(self)}: {self.n_images} images x {self.n_units} units "
                f"{self.unit_shape} {self.values.dtype}>")

    def summary(self) -> str:
        """One line describing this result."""
        return (f"{_title(self)}: {self.n_images} images x {self.n_units} units {self.unit_shape}, "
                f"mean {float(np.nanmean(self.values)):.4g}, sd {float(np.nanstd(self.values)):.4g}")


@dataclass(frozen=True, eq=False)
class UnitScores:
    """One number per unit of one layer: a published accuracy or rank map.

    Attributes
    ----------
    values : numpy.ndarray, shape (n_units,)
        float32 or float64 as published; NaN where a unit's true values are constant.
    unit_shape : tuple of int
    network : Network
    layer : str
    kind : Kind
        ``Kind.ACCURACY`` or ``Kind.RANK``.
    subject : Subject
    """

    values: np.ndarray
    unit_shape: tuple[int, ...]
    network: Network
    layer: str
    kind: Kind
    subject: Subject | None

    @property
    def n_units(self) -> int:
        """Number of units."""
        return int(self.values.shape[0])

    def reshape_units(self) -> np.ndarray:
        """``values`` as ``unit_shape`` (a view, no copy)."""
        return self.values.reshape(self.unit_shape)

    def to_xarray(self) -> "xarray.DataArray":
        """A labelled ``xarray.DataArray``: dims ``(channel, y, x)`` or ``(unit,)``.

        See :func:`brainfeat.exports.to_xarray`.
        """
        from brainfeat.exports import to_xarray

        return to_xarray(self)

    def to_frame(self) -> "pandas.DataFrame":
        """A long table, one row per unit; see :func:`brainfeat.exports.to_frame`."""
        from brainfeat.exports import to_frame

        return to_frame(self)

    def with_values(self, values: np.ndarray) -> "UnitScores":
        """The same units and labels with new ``values``: ``(n_units,)`` or ``unit_shape``."""
        return replace(self, values=_matching_values(self, values))

    def copy(self) -> "UnitScores":
        """A result with a writable copy of ``values`` (independent of this one)."""
        return replace(self, values=self.values.copy())

    def __repr__(self) -> str:
        return (f"<UnitScores {_title(self)}: {self.n_units} units {self.unit_shape} "
                f"{self.values.dtype}>")

    def summary(self) -> str:
        """One line describing this result."""
        finite = int(np.isfinite(self.values).sum())
        mean = float(np.nanmean(self.values)) if finite else float("nan")
        return (f"{_title(self)}: {self.n_units} units {self.unit_shape}, mean {mean:.4g}, "
                f"{self.n_units - finite} NaN")


def _title(result: FeatureSet | UnitScores) -> str:
    """``<kind> <network> <layer>[ <subject>]``, the start of every summary line."""
    who = f" {result.subject.name}" if result.subject is not None else ""
    return f"{result.kind.value} {result.network.value} {result.layer}{who}"


def _matching_values(result: FeatureSet | UnitScores, values: np.ndarray) -> np.ndarray:
    """``values`` flattened to the shape of ``result.values``; a ShapeMismatchError otherwise."""
    values = np.asarray(values)
    leading = result.values.shape[:-1]
    if values.shape not in (result.values.shape, (*leading, *result.unit_shape)):
        raise ShapeMismatchError(
            f"new values of shape {values.shape} do not fit {_title(result)}: expected "
            f"{result.values.shape} or {(*leading, *result.unit_shape)}; keep one row per "
            "image and one column per unit.")
    return values.reshape(result.values.shape)


# ----------------------------------------------------------------------------------------
# The published file layout


def variable_name(kind: Kind | str) -> str:
    """The .mat variable holding data of ``kind`` (``feat``, ``accuracy`` or ``rank``)."""
    return _VARIABLES[Kind.parse(kind)]


# ----------------------------------------------------------------------------------------
# Loaders


def load_features(kind: Kind | str, network: Network | str, layer: str,
                  subject: SubjectLike | None = None, *, data_dir: PathLike | None = None,
                  download: bool = True, progress: bool = True,
                  catalog: Catalog | None = None) -> FeatureSet:
    """Load the decoded or true features of one layer for the 50 test images.

    Parameters
    ----------
    kind : {"decoded", "true"}
    network : {"AlexNet", "VGG19"}
    layer : str
        Layer name, e.g. ``"conv1"`` or ``"fc8"``.
    subject : {1..5, "S1".."S5", "Averaged"}, optional
        Required for decoded features; must be omitted for true features.
    data_dir : path-like, optional
        Data folder; defaults to ``BRAINFEAT_DATA`` or ``~/brainfeat_data``.
    download : bool
        Download the layer's zip if it is not cached; with False a missing file is an error.
    progress : bool
        Show a progress bar while downloading.
    catalog : Catalog, optional
        Dataset description (unit shapes, image ids); defaults to the published dataset.

    Returns
    -------
    FeatureSet
        ``values`` is float32 ``(n_images, n_units)``, rows in published image order.
    """
    catalog = resolve_catalog(catalog)
    kind = Kind.parse(kind)
    if not kind.per_image:
        raise UnknownNameError(
            f"load_features reads 'decoded' or 'true' features, not {kind.value!r}: "
            f"use load_{kind.value}(network, layer, subject).")
    info = catalog.layer(network, layer)
    who = _subject_for(kind, subject, catalog)
    folder = _fetch_folder(kind, info, data_dir, download, progress, catalog)
    values = np.empty((len(catalog.test_image_ids), info.n_units), dtype=np.float32)
    for row, image in enumerate(catalog.test_image_ids):
        # Fill the preallocated row in place: the file's array is the only transient copy.
        grid = read_image_features(folder, kind, info, who, image)
        np.copyto(values[row].reshape(info.unit_shape), grid, casting="same_kind")
        del grid  # freed before the next file is read
    return FeatureSet(values=values, image_ids=catalog.test_image_ids,
                      unit_shape=info.unit_shape, network=info.network, layer=info.name,
                      kind=kind, subject=who)


def load_accuracy(network: Network | str, layer: str, subject: SubjectLike, *,
                  data_dir: PathLike | None = None, download: bool = True,
                  progress: bool = True, catalog: Catalog | None = None) -> UnitScores:
    """Load the published per-unit decoding accuracy (Pearson r over the test images).

    Parameters
    ----------
    network, layer, subject, data_dir, download, progress, catalog
        As in :func:`load_features`; ``subject`` is required (S1..S5 or Averaged).

    Returns
    -------
    UnitScores
    """
    return _load_scores(Kind.ACCURACY, network, layer, subject, data_dir=data_dir,
                        download=download, progress=progress, catalog=catalog)


def load_rank(network: Network | str, layer: str, subject: SubjectLike, *,
              data_dir: PathLike | None = None, download: bool = True,
              progress: bool = True, catalog: Catalog | None = None) -> UnitScores:
    """Load the published per-unit rank map.

    Parameters
    ----------
    network, layer, subject, data_dir, download, progress, catalog
        As in :func:`load_accuracy`.

    Returns
    -------
    UnitScores
    """
    return _load_scores(Kind.RANK, network, layer, subject, data_dir=data_dir,
                        download=download, progress=progress, catalog=catalog)


def load(kind: Kind | str, network: Network | str, layer: str,
         subject: SubjectLike | None = None, **kwargs: Any) -> FeatureSet | UnitScores:
    """Load any published result: dispatches on ``kind``.

    Parameters
    ----------
    kind : {"decoded", "true", "accuracy", "rank"}
    network, layer, subject
        As in :func:`load_features`.
    **kwargs
        ``data_dir``, ``download``, ``progress``, ``catalog``.

    Returns
    -------
    FeatureSet or UnitScores
        A :class:`FeatureSet` for decoded/true, :class:`UnitScores` for accuracy/rank.

    Examples
    --------
    >>> decoded = brainfeat.load("decoded", "AlexNet", "fc8", subject="S1")  # doctest: +SKIP
    """
    kind = Kind.parse(kind)
    if kind.per_image:
        return load_features(kind, network, layer, subject, **kwargs)
    return _load_scores(kind, network, layer, subject, **kwargs)


def _load_scores(kind: Kind, network: Network | str, layer: str,
                 subject: SubjectLike | None, *, data_dir: PathLike | None = None,
                 download: bool = True, progress: bool = True,
                 catalog: Catalog | None = None) -> UnitScores:
    catalog = resolve_catalog(catalog)
    info = catalog.layer(network, layer)
    who = _subject_for(kind, subject, catalog)
    folder = _fetch_folder(kind, info, data_dir, download, progress, catalog)
    path = _local(folder, published_path(kind, info.network, info.name, who))
    grid = _unit_grid(read_mat_array(path, variable_name(kind)), info, path)
    values = np.ascontiguousarray(grid).reshape(-1)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    return UnitScores(values=values, unit_shape=info.unit_shape, network=info.network,
                      layer=info.name, kind=kind, subject=who)


def _subject_for(kind: Kind, subject: SubjectLike | None, catalog: Catalog) -> Subject | None:
    if not kind.has_subject:
        if subject is not None:
            raise UnknownNameError(
                f"true features do not depend on the subject; got subject={subject!r}: "
                "omit it.")
        return None
    if subject is None:
        valid = ", ".join(s.name for s in catalog.subjects_for(kind))
        raise UnknownNameError(f"{kind.value} files are per subject: pass subject= one of {valid}.")
    return catalog.subject(subject)


def read_image_features(folder: Path, kind: Kind, info: LayerInfo, subject: Subject | None,
                        image: str) -> np.ndarray:
    """One image's decoded or true features of one layer, read from a fetched layer folder.

    Parameters
    ----------
    folder : Path
        The folder :func:`brainfeat.fetch` returned for ``kind`` and the layer.
    kind : Kind
        ``Kind.DECODED`` or ``Kind.TRUE``.
    info : LayerInfo
    subject : Subject or None
        None for true features.
    image : str
        Stimulus name of a test image.

    Returns
    -------
    numpy.ndarray, shape ``info.unit_shape``
        As stored (float32 or float64), possibly a strided view; only this image is read,
        so a dataset can read one sample at a time.
    """
    path = _local(folder, published_path(kind, info.network, info.name, subject, image))
    return _unit_grid(read_mat_array(path, variable_name(kind)), info, path)


def _fetch_folder(kind: Kind, info: LayerInfo, data_dir: PathLike | None, download: bool,
                  progress: bool, catalog: Catalog) -> Path:
    from brainfeat.remote.api import fetch

    return fetch(kind, info.network, info.name, data_dir=data_dir, download=download,
                 progress=progress, catalog=catalog)


def _local(folder: Path, relative: PurePosixPath) -> Path:
    """The file of ``relative`` (a path under ``decodedDNN/``) inside a fetched layer folder."""
    path = folder.joinpath(*relative.parts[3:])
    if not path.is_file():
        raise DataNotFoundError(
            f"Published file {relative} is missing from {folder}. The download may be "
            "incomplete: run `brainfeat verify-cache`, then fetch the layer again.")
    return path


def _unit_grid(array: np.ndarray, info: LayerInfo, path: Path) -> np.ndarray:
    """One file's array as a (possibly strided) view of shape ``unit_shape``.

    Accepts the catalog's shape, a flat vector of the right length, or an (H, W, C) conv
    map (transposed to channel-major with a warning); anything else is a FormatError.
    """
    shape = info.unit_shape
    if array.shape == shape:
        return array
    if array.ndim == 1 and array.size == info.n_units:
        return array.reshape(shape)
    if info.is_conv and array.shape == (shape[1], shape[2], shape[0]):
        warnings.warn(
            f"{path} holds an (H, W, C) array {array.shape}; transposed to channel-major "
            f"{shape}.", stacklevel=4)
        return array.transpose(2, 0, 1)
    raise FormatError(
        f"{path} holds an array of shape {array.shape}; expected {shape} "
        f"({info.n_units} units of {info.network.value} {info.name}) after squeezing.")
