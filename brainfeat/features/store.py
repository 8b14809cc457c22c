"""Read the feature files written by :func:`brainfeat.features.extract` (no torch needed)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import h5py
import numpy as np

from brainfeat.errors import BrainfeatError, FormatError, UnknownNameError
from brainfeat.io.hdf5 import open_hdf5

__all__ = ["ExtractedFeatures", "extracted_layer_header", "extracted_layers", "read_extracted",
           "read_image_ids"]


@dataclass(frozen=True)
class ExtractedFeatures:
    """One layer of a feature file.

    Attributes
    ----------
    values : numpy.ndarray
        float32 ``(n_images, n_units)``, channel-major units.
    image_ids : tuple of str
        Stimulus names, one per row.
    unit_shape : tuple of int
        ``(channels, height, width)`` or ``(units,)``.
    layer : str
    model : str
        ``"AlexNet"``, ``"VGG19"``, ``"torchvision:resnet18"``, ...
    provenance : dict of str to str
        The file's attributes: weights, ReLU choice, preprocessing, batch size.
    """

    values: np.ndarray
    image_ids: tuple[str, ...]
    unit_shape: tuple[int, ...]
    layer: str
    model: str
    provenance: dict[str, str]

    @property
    def n_units(self) -> int:
        """Units per image."""
        return int(self.values.shape[1])

    def reshape_units(self) -> np.ndarray:
        """Values as ``(n_images, *unit_shape)``."""
        return self.values.reshape((self.values.shape[0], *self.unit_shape))


def read_image_ids(dataset: h5py.Dataset) -> tuple[str, ...]:
    """The stimulus names stored in an HDF5 dataset such as a feature file's ``/image_ids``.

    Parameters
    ----------
    dataset : h5py.Dataset
        One-dimensional; variable- or fixed-length strings (read as bytes by h5py) or any
        values, which are converted with :class:`str`.

    Returns
    -------
    tuple of str
    """
    return tuple(s.decode() if isinstance(s, bytes) else str(s) for s in dataset[()])


@contextmanager
def _reading(path: str | os.PathLike[str]) -> Iterator[h5py.File]:
    """Open a feature file; anything that goes wrong inside is an error naming the file."""
    with open_hdf5(path, what="Feature file",
                   fix="write it with `brainfeat features NETWORK IMAGES -o FILE`") as handle:
        done = handle.get("batches_done")
        if not isinstance(handle.get("layers"), h5py.Group) or \
                not isinstance(done, h5py.Dataset) or done.dtype != bool:
            raise FormatError(f"{path} is not a brainfeat feature file (no /layers group, "
                              "no boolean /batches_done): pass a file written by "
                              "brainfeat.features.extract (`brainfeat features`).")
        try:
            yield handle
        except BrainfeatError:
            raise
        except Exception as error:  # h5py, json: a damaged file, whatever the part
            raise FormatError(f"{path} is a damaged feature file ({type(error).__name__}: "
                              f"{error}): write it again with `brainfeat features` "
                              "(--overwrite).") from None


def extracted_layers(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """Names of the layers in a feature file, in the order they were requested."""
    with _reading(path) as handle:
        return tuple(json.loads(handle.attrs["layers"]))


def _complete_layer(handle: h5py.File, path: str | os.PathLike[str], layer: str,
                    ) -> tuple[tuple[str, ...], h5py.Dataset, tuple[int, ...]]:
    """Image ids, dataset and unit shape of ``layer`` in an open, complete feature file."""
    done = handle["batches_done"][()]
    if not done.all():
        raise FormatError(f"{path} is incomplete ({int(done.sum())} of {done.size} batches):"
                          " run the same extraction again to finish it.")
    if layer not in handle["layers"]:
        raise UnknownNameError(f"No layer {layer!r} in {path}: it holds "
                               f"{', '.join(handle['layers'])}.")
    ids = read_image_ids(handle["image_ids"])
    dataset = handle["layers"][layer]
    unit_shape = tuple(int(d) for d in dataset.attrs["unit_shape"])
    if dataset.shape != (len(ids), math.prod(unit_shape)) or len(set(ids)) != len(ids):
        raise FormatError(
            f"{path}: layer {layer!r} has shape {dataset.shape} for {len(ids)} image ids "
            f"({len(set(ids))} distinct) and unit shape {unit_shape}: expected one row per "
            "distinct image and one column per unit. Write the file again with "
            "`brainfeat features` (--overwrite).")
    return ids, dataset, unit_shape


def extracted_layer_header(path: str | os.PathLike[str],
                           layer: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Image ids and unit shape of one layer of a complete feature file, values left unread.

    Raises
    ------
    FormatError, UnknownNameError
        As :func:`read_extracted`.
    """
    with _reading(path) as handle:
        ids, _, unit_shape = _complete_layer(handle, path, layer)
        return ids, unit_shape


def read_extracted(path: str | os.PathLike[str], layer: str,
                   image_ids: tuple[str, ...] | list[str] | None = None) -> ExtractedFeatures:
    """Read one layer of a complete feature file.

    Parameters
    ----------
    path : path-like
    layer : str
    image_ids : sequence of str, optional
        Rows to read, in this order (default: all, in file order).

    Raises
    ------
    FormatError
        If the extraction has not finished (rerun it with the same arguments to finish).
    UnknownNameError
        If the layer or an image id is not in the file.
    """
    with _reading(path) as handle:
        ids, dataset, unit_shape = _complete_layer(handle, path, layer)
        if image_ids is None:
            rows, values = ids, dataset[()]
        else:
            position = {name: i for i, name in enumerate(ids)}
            missing = [i for i in image_ids if i not in position]
            if missing:
                more = " ..." if len(missing) > 5 else ""
                raise UnknownNameError(f"{len(missing)} images are not in {path}: "
                                       f"{', '.join(missing[:5])}{more}.")
            index = np.array([position[i] for i in image_ids], dtype=np.int64)
            # h5py reads increasing, distinct rows: read each once, then order (and repeat).
            unique, inverse = np.unique(index, return_inverse=True)
            values = (dataset[unique][inverse] if index.size
                      else np.empty((0, dataset.shape[1]), dtype=np.float32))
            rows = tuple(image_ids)
        return ExtractedFeatures(
            values=np.asarray(values, dtype=np.float32), image_ids=rows,
            unit_shape=unit_shape, layer=layer,
            model=str(handle.attrs["model"]),
            provenance={k: str(v) for k, v in handle.attrs.items()})
