"""BData HDF5 files (the Kamitani lab's format of ``Subject*.h5``), read and written without bdpy.

Layout (bdpy 0.26 writes it this way)::

    /dataset               float64 (n_samples, n_columns)   voxels and label columns
    /metadata/key          strings (n_meta,)
    /metadata/description  strings (n_meta,)
    /metadata/value        float64 (n_meta, n_columns)
    /header/<name>         optional strings
    /vmap/<key>/<value>    optional value -> label strings

A block added under key ``K`` has 1 on its columns and NaN elsewhere; per-voxel
attributes (``voxel_x`` ...) hold numbers on voxel columns and NaN elsewhere.

Variants read as well: the legacy group names ``/metaData`` and ``/dataSet``; files written
by MATLAB, whose arrays are stored transposed (detected by comparing the shapes with the
number of keys) and whose strings are variable-length, ``uint16`` character arrays or
references to them.

:func:`read_bdata` reads a whole file or only some rows and columns (a real
``Subject*.h5`` holds far more columns than one ROI needs); :class:`BDataBuilder` and
:func:`write_bdata` write small files for tests and replicas in any of the three flavours.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from brainfeat.errors import (
    BrainfeatError, DataNotFoundError, FormatError, InvalidValueError, UnknownNameError)

__all__ = ["BData", "BDataBuilder", "read_bdata", "read_bdata_metadata", "write_bdata"]

Flavour = Literal["bdpy", "legacy", "matlab"]
_CHUNK_ROWS = 256


@dataclass(frozen=True)
class BData:
    """The content of a BData file (or of a selection of its rows and columns).

    Attributes
    ----------
    dataset : numpy.ndarray
        float64 (n_samples, n_columns).
    keys, descriptions : tuple of str
        Metadata keys and their descriptions.
    values : numpy.ndarray
        float64 (n_meta, n_columns), one row per key.
    header : dict
        Header strings (``ctime`` ...), when the file has them.
    vmap : dict
        ``{key: {value: label}}`` value maps, when the file has them.
    """

    dataset: np.ndarray
    keys: tuple[str, ...]
    descriptions: tuple[str, ...]
    values: np.ndarray
    header: dict[str, Any] = field(default_factory=dict)
    vmap: dict[str, dict[float, str]] = field(default_factory=dict)

    def metadata(self, key: str) -> np.ndarray:
        """The metadata row of ``key`` (n_columns,).

        Raises
        ------
        UnknownNameError
            If the file has no such key; the message lists the keys it has.
        """
        if key not in self.keys:
            raise UnknownNameError(
                f"BData has no metadata key {key!r}: it has {', '.join(self.keys)}."
            )
        return self.values[self.keys.index(key)]

    def columns(self, *keys: str) -> np.ndarray:
        """Boolean mask of the columns where every one of ``keys`` is 1."""
        mask = np.ones(self.values.shape[1], dtype=bool)
        for key in keys:
            mask &= self.metadata(key) == 1
        return mask

    def get(self, *keys: str) -> np.ndarray:
        """Dataset columns where every one of ``keys`` is 1 (``get("VoxelData", "ROI_VC")``)."""
        return self.dataset[:, self.columns(*keys)]


def _text(item: Any, h5file: Any = None) -> str:
    """Decode one string as h5py returns it (bytes, str, char codes, or a MATLAB reference)."""
    import h5py

    if isinstance(item, bytes):
        return item.decode("utf-8")
    if isinstance(item, str):
        return item
    if isinstance(item, h5py.Reference):
        return _text(np.asarray(h5file[item]), h5file)
    array = np.asarray(item)
    if array.dtype.kind in "ui":  # MATLAB char array: one code per element
        return "".join(chr(int(c)) for c in array.ravel() if c)
    if array.dtype.kind in "SOU" and array.size == 1:
        return _text(array.ravel()[0], h5file)
    raise FormatError(f"Cannot read a string stored as {array.dtype} with shape {array.shape}.")


def _strings(node: Any, h5file: Any) -> tuple[str, ...]:
    array = node[()]
    if isinstance(array, (bytes, str)):
        return (_text(array),)
    array = np.asarray(array)
    if array.dtype.kind in "ui" and array.ndim == 2:  # a char matrix, one string per row
        return tuple(_text(row) for row in array)
    return tuple(_text(item, h5file) for item in array.ravel())


def _group(h5file: Any, path: Path, *names: str) -> Any:
    for name in names:
        if name in h5file:
            return h5file[name]
    raise FormatError(
        f"{path} is not a BData file: it has no {' or '.join('/' + n for n in names)} "
        f"(it has {', '.join('/' + k for k in h5file.keys())}). Expected an HDF5 file "
        "written by bdpy or BrainDecoderToolbox2."
    )


@dataclass(frozen=True)
class _Layout:
    keys: tuple[str, ...]
    descriptions: tuple[str, ...]
    values: np.ndarray
    n_samples: int
    transposed: bool
    header: dict[str, Any]
    vmap: dict[str, dict[float, str]]


def _transposed(values_shape: tuple[int, ...], data_shape: tuple[int, ...], n_keys: int,
                matlab_strings: bool) -> bool | None:
    """Whether a file stores its arrays transposed, as MATLAB writes them; None if neither fits.

    bdpy writes values (n_keys, n_columns) and the dataset (n_samples, n_columns); MATLAB
    writes both transposed. The value array decides unless it is square (n_keys ==
    n_columns); then the dataset decides unless it is square too; then the strings do
    (bdpy writes ASCII strings; MATLAB writes UTF-8 strings, character codes or references).
    """
    rows, columns = values_shape
    if rows != columns:
        if n_keys not in (rows, columns):
            return None
        transposed = columns == n_keys
        n_columns = rows if transposed else columns
        return transposed if data_shape[0 if transposed else 1] == n_columns else None
    if rows != n_keys or n_keys not in data_shape:
        return None
    if data_shape[0] != data_shape[1]:
        return data_shape[0] == n_keys
    return matlab_strings


def _read_layout(h5file: Any, path: Path) -> _Layout:
    import h5py

    meta = _group(h5file, path, "metadata", "metaData")
    data = _group(h5file, path, "dataset", "dataSet")
    parts = {name: meta.get(name) for name in ("key", "description", "value")}
    if not all(isinstance(node, h5py.Dataset) for node in parts.values()):
        raise FormatError(f"{path}: the metadata group lacks one of key, description, value: "
                          "expected the BData layout bdpy writes. Fetch or rewrite the file.")
    for name, node in (("dataset", data), ("metadata value", parts["value"])):
        if not isinstance(node, h5py.Dataset) or node.dtype.kind not in "biuf" \
                or len(node.shape) > 2:
            shape = getattr(node, "shape", None)
            raise FormatError(f"{path}: the {name} is not a numeric array of at most two axes "
                              f"({getattr(node, 'dtype', type(node).__name__)}, shape {shape}): "
                              "expected the BData layout bdpy writes. Fetch or rewrite the file.")
    if len(data.shape) != 2:
        raise FormatError(f"{path}: dataset of shape {data.shape}; expected (n_samples, "
                          "n_columns). Fetch or rewrite the file.")
    keys = _strings(parts["key"], h5file)
    descriptions = _strings(parts["description"], h5file)
    values = np.asarray(parts["value"], dtype=np.float64)
    if values.ndim < 2:
        values = values.reshape((1, -1) if len(keys) == 1 else (-1, 1))
    string = h5py.check_string_dtype(parts["key"].dtype)  # bdpy: ASCII; MATLAB: UTF-8, codes
    transposed = _transposed(values.shape, data.shape, len(keys),
                             string is None or string.encoding != "ascii")
    if transposed is None or len(descriptions) != len(keys):
        raise FormatError(
            f"{path}: {len(keys)} metadata keys, {len(descriptions)} descriptions, a value array "
            f"of shape {values.shape} and a dataset of shape {data.shape}: expected values "
            "(n_keys, n_columns) and a dataset (n_samples, n_columns), or both transposed as "
            "MATLAB writes them. Fetch or rewrite the file.")
    if transposed:
        values = values.T
    shape = data.shape[::-1] if transposed else data.shape
    header = {}
    if "header" in h5file:
        for name, node in h5file["header"].items():
            if node.dtype.kind in "fib":  # numbers (MATLAB chars are unsigned codes)
                header[name] = node[()].tolist()
                continue
            strings = _strings(node, h5file)
            header[name] = strings[0] if node.shape == () else list(strings)
    vmap = {}
    if "vmap" in h5file:
        for key, group in h5file["vmap"].items():
            vmap[key] = {float(value): _text(node[()], h5file) for value, node in group.items()}
    return _Layout(keys, descriptions, values, shape[0], transposed, header, vmap)


@contextmanager
def _reading(path: str | os.PathLike[str]) -> Iterator[Any]:
    """Open a BData file; anything that goes wrong inside is an error naming the file."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"BData file {path} does not exist (or is a folder): pass the "
                                "path of a Subject*.h5, or fetch it with brainfeat.fetch_fmri().")
    try:
        with h5py.File(path, "r") as h5file:
            yield h5file
    except BrainfeatError as error:
        if str(path) in str(error):
            raise
        raise FormatError(f"{path}: {error} Expected a BData file as bdpy writes it; fetch or "
                          "rewrite the file.") from None
    except Exception as error:  # h5py raises OSError, KeyError, ... for damaged files
        raise FormatError(f"{path} is not a readable HDF5 file of BData ({type(error).__name__}: "
                          f"{error}): expected a file such as Subject1.h5; fetch it again if "
                          "it is truncated or damaged.") from None


def read_bdata_metadata(path: str | os.PathLike[str]) -> BData:
    """Read a BData file's metadata only; ``dataset`` is an empty (0, n_columns) array.

    Use it to decide which rows and columns to read with :func:`read_bdata`.
    """
    with _reading(path) as h5file:
        layout = _read_layout(h5file, Path(path))
    empty = np.empty((0, layout.values.shape[1]))
    return BData(empty, layout.keys, layout.descriptions, layout.values, layout.header, layout.vmap)


def _index(selection: np.ndarray | Sequence[int] | None, size: int, what: str, path: Path) -> np.ndarray:
    if selection is None:
        return np.arange(size)
    array = np.asarray(selection)
    if array.dtype == bool:
        if array.shape != (size,):
            raise FormatError(f"{path}: a {what} mask of shape {array.shape}; expected ({size},).")
        return np.flatnonzero(array)
    if array.dtype.kind not in "iu" or array.ndim != 1 or (
            array.size and not 0 <= array.min() <= array.max() < size):
        raise InvalidValueError(f"{path}: {what} indices must be integers from 0 to {size - 1}"
                                f" (or a boolean mask of length {size}); got {selection!r}.")
    return np.sort(array.astype(np.int64))


def read_bdata(path: str | os.PathLike[str], *, rows: np.ndarray | Sequence[int] | None = None,
               columns: np.ndarray | Sequence[int] | None = None) -> BData:
    """Read a BData HDF5 file, whole or only some of its rows and columns.

    Parameters
    ----------
    path : path-like
        A ``.h5`` file written by bdpy, by BrainDecoderToolbox2 (MATLAB) or by
        :func:`write_bdata`.
    rows, columns : boolean mask or integer indices, optional
        Samples and columns to read (all by default), returned in file order
        (integer indices are sorted). The result's metadata values are restricted to the
        same columns. The file is read in blocks of rows, so a few ROI columns of a
        large file cost little memory.

    Returns
    -------
    BData

    Raises
    ------
    DataNotFoundError
        If the file does not exist.
    FormatError
        If it is not HDF5 or not BData (missing groups, inconsistent shapes).

    Examples
    --------
    >>> meta = read_bdata_metadata("Subject1.h5")  # doctest: +SKIP
    >>> vc = read_bdata("Subject1.h5", columns=meta.columns("ROI_VC"))  # doctest: +SKIP
    """
    path = Path(path)
    with _reading(path) as h5file:
        layout = _read_layout(h5file, path)
        data = _group(h5file, path, "dataset", "dataSet")
        row_index = _index(rows, layout.n_samples, "row", path)
        column_index = _index(columns, layout.values.shape[1], "column", path)
        out = np.empty((len(row_index), len(column_index)), dtype=np.float64)
        for start in range(0, len(row_index), _CHUNK_ROWS):
            chunk = row_index[start:start + _CHUNK_ROWS]
            low, high = int(chunk[0]), int(chunk[-1]) + 1
            if layout.transposed:
                block = np.asarray(data[:, low:high], dtype=np.float64).T
            else:
                block = np.asarray(data[low:high], dtype=np.float64)
            block = block.reshape(high - low, -1)
            out[start:start + len(chunk)] = block[np.ix_(chunk - low, column_index)]
    return BData(out, layout.keys, layout.descriptions, layout.values[:, column_index],
                 layout.header, layout.vmap)


class BDataBuilder:
    """Assemble a BData the way bdpy does (``add`` data blocks, ``add_metadata``), then build it.

    Examples
    --------
    >>> builder = BDataBuilder()
    >>> builder.add(np.zeros((3, 2)), "VoxelData")
    >>> builder.add_metadata("ROI_V1", np.array([1, 0]), "1 = ROI V1", where="VoxelData")
    >>> builder.build().get("VoxelData", "ROI_V1").shape
    (3, 1)
    """

    def __init__(self) -> None:
        self._blocks: list[np.ndarray] = []
        self._keys: list[str] = []
        self._descriptions: list[str] = []
        self._rows: list[np.ndarray] = []
        self._vmap: dict[str, dict[float, str]] = {}

    @property
    def n_columns(self) -> int:
        """Columns added so far (the width of the dataset and of every metadata row)."""
        return sum(block.shape[1] for block in self._blocks)

    def _set(self, key: str, row: np.ndarray, description: str) -> None:
        if key in self._keys:  # bdpy replaces the row and the description
            index = self._keys.index(key)
            self._rows[index] = row
            self._descriptions[index] = description
        else:
            self._keys.append(key)
            self._descriptions.append(description)
            self._rows.append(row)

    def add(self, x: np.ndarray, name: str) -> None:
        """Append the columns of ``x`` (n_samples, k) under metadata key ``name``."""
        x = np.asarray(x, dtype=np.float64)
        x = x[:, np.newaxis] if x.ndim == 1 else x
        if self._blocks and x.shape[0] != self._blocks[0].shape[0]:
            raise FormatError(f"Block {name!r} has {x.shape[0]} samples, the others "
                              f"{self._blocks[0].shape[0]}.")
        before = self.n_columns
        self._blocks.append(x)
        self._rows = [np.concatenate([r, np.full(x.shape[1], np.nan)]) for r in self._rows]
        row = np.concatenate([np.full(before, np.nan), np.ones(x.shape[1])])
        if name in self._keys:  # a block added again under its name: bdpy keeps both marked
            row[:before] = self._rows[self._keys.index(name)][:before]
        self._set(name, row, f"1 = {name}")

    def add_metadata(self, key: str, value: np.ndarray, description: str = "",
                     where: str | None = None) -> None:
        """Add a metadata row; with ``where``, ``value`` covers only that block's columns."""
        value = np.asarray(value, dtype=np.float64)
        if where is not None:
            if where not in self._keys:
                raise UnknownNameError(f"Cannot add metadata {key!r} where {where!r} is 1: no "
                                       f"such key (the keys are {', '.join(self._keys)}).")
            columns = self._rows[self._keys.index(where)] == 1
            if value.shape not in ((), (int(columns.sum()),)):
                raise FormatError(f"Metadata {key!r} has shape {value.shape}; {where!r} marks "
                                  f"{int(columns.sum())} columns: pass one value per column.")
            row = np.full(self.n_columns, np.nan)
            row[columns] = value
            value = row
        if value.shape != (self.n_columns,):
            raise FormatError(f"Metadata {key!r} has shape {value.shape}; expected ({self.n_columns},).")
        self._set(key, value, description)

    def add_vmap(self, key: str, vmap: dict[float, str]) -> None:
        """Attach labels to the values of ``key``."""
        self._vmap[key] = dict(vmap)

    def build(self) -> BData:
        """The assembled :class:`BData`."""
        dataset = np.hstack(self._blocks) if self._blocks else np.empty((0, 0))
        values = np.vstack(self._rows) if self._rows else np.empty((0, dataset.shape[1]))
        return BData(dataset, tuple(self._keys), tuple(self._descriptions), values,
                     {}, {k: dict(v) for k, v in self._vmap.items()})


def write_bdata(path: str | os.PathLike[str], bdata: BData, *, flavour: Flavour = "bdpy") -> Path:
    """Write ``bdata`` as an HDF5 BData file.

    Parameters
    ----------
    path : path-like
    bdata : BData
    flavour : {"bdpy", "legacy", "matlab"}
        ``"bdpy"``: the layout bdpy 0.26 writes (lists of bytes, which h5py stores as
        variable-length ASCII strings);
        ``"legacy"``: ``/metaData`` and ``/dataSet``;
        ``"matlab"``: ``/metaData`` and ``/dataSet`` stored transposed, with
        variable-length strings, as MATLAB v7.3 writers leave them.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import h5py

    if flavour not in ("bdpy", "legacy", "matlab"):
        raise UnknownNameError(f"Unknown BData flavour {flavour!r}: expected 'bdpy', 'legacy' or 'matlab'.")
    path = Path(path)
    meta_name, data_name = ("metadata", "dataset") if flavour == "bdpy" else ("metaData", "dataSet")
    transpose = flavour == "matlab"
    if flavour == "matlab":
        def strings(items: Sequence[str]) -> Any:
            return np.array(list(items), dtype=h5py.string_dtype("utf-8"))
    else:
        def strings(items: Sequence[str]) -> Any:
            return [item.encode("utf-8") for item in items]
    with h5py.File(path, "w") as h5file:
        h5file.create_dataset(data_name, data=bdata.dataset.T if transpose else bdata.dataset)
        meta = h5file.create_group(meta_name)
        meta.create_dataset("key", data=strings(bdata.keys))
        meta.create_dataset("description", data=strings(bdata.descriptions))
        meta.create_dataset("value", data=bdata.values.T if transpose else bdata.values)
        header = h5file.create_group("header")
        for name, value in bdata.header.items():
            header.create_dataset(name, data=strings(value) if isinstance(value, list)
                                  else str(value).encode("utf-8"))
        vmap = h5file.create_group("vmap")
        for key, labels in bdata.vmap.items():
            group = vmap.create_group(key)
            for value, label in labels.items():
                group.create_dataset(str(value), data=label.encode("utf-8"))
    return path
