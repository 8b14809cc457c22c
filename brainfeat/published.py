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
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from brainfeat.catalog import (
    Catalog, Kind, LayerInfo, Network, Subject, SubjectLike, default_catalog)
from brainfeat.errors import DataNotFoundError, FormatError, UnknownNameError
from brainfeat.io.mat import read_mat_array

if TYPE_CHECKING:  # pragma: no cover
    import xarray

__all__ = [
    "FeatureSet", "UnitScores", "load", "load_accuracy", "load_features", "load_rank",
    "published_path", "variable_name",
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
        """A labelled ``xarray.DataArray`` with dims ``image`` and ``unit``."""
        import xarray

        return xarray.DataArray(
            self.values, dims=("image", "unit"),
            coords={"image": list(self.image_ids), "unit": np.arange(self.n_units)},
            name=f"{self.kind.value}-{self.network.value}-{self.layer}",
            attrs=_attrs(self),
        )

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
        """A labelled ``xarray.DataArray`` with dim ``unit``."""
        import xarray

        return xarray.DataArray(
            self.values, dims=("unit",), coords={"unit": np.arange(self.n_units)},
            name=f"{self.kind.value}-{self.network.value}-{self.layer}", attrs=_attrs(self))

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


def _attrs(result: FeatureSet | UnitScores) -> dict[str, Any]:
    return {"network": result.network.value, "layer": result.layer, "kind": result.kind.value,
            "subject": result.subject.name if result.subject is not None else "",
            "unit_shape": list(result.unit_shape),
            "citation": "Horikawa et al. (2019) Sci Data 6:190012, doi:10.1038/sdata.2019.12"}


# ----------------------------------------------------------------------------------------
# The published file layout


def variable_name(kind: Kind | str) -> str:
    """The .mat variable holding data of ``kind`` (``feat``, ``accuracy`` or ``rank``)."""
    return _VARIABLES[Kind.parse(kind)]


def published_path(kind: Kind | str, network: Network | str, layer: str,
                   subject: Subject | None = None, image: str | None = None) -> PurePosixPath:
    """Path of one published file relative to the ``decodedDNN/`` folder.

    Parameters
    ----------
    kind, network, layer : the result; ``layer`` is written as given.
    subject : Subject, optional
        Required for decoded, accuracy and rank; must be None for true.
    image : str, optional
        Stimulus name; required for decoded and true.

    Examples
    --------
    >>> str(published_path("true", "AlexNet", "fc8", image="n01443537_22563"))
    'true/AlexNet/fc8/true-AlexNet-fc8-n01443537_22563.mat'
    """
    kind, network = Kind.parse(kind), Network.parse(network)
    folder = PurePosixPath(kind.value, network.value, layer)
    stem = f"{kind.value}-{network.value}-{layer}"
    if kind is Kind.TRUE:
        return folder / f"{stem}-{image}.mat"
    if subject is None:
        raise UnknownNameError(
            f"{kind.value} files are per subject: pass subject='S1' ... 'S5' or 'Averaged'.")
    if kind is Kind.DECODED:
        return folder / subject.name / f"{stem}-{subject.name}-{image}.mat"
    return folder / f"{stem}-{subject.name}.mat"


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
    catalog = catalog or default_catalog()
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
        path = _local(folder, published_path(kind, info.network, info.name, who, image))
        # Fill the preallocated row in place: the file's array is the only transient copy.
        grid = _unit_grid(read_mat_array(path, variable_name(kind)), info, path)
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
    catalog = catalog or default_catalog()
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
