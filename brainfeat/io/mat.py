"""MATLAB ``.mat`` files: v5 (scipy) and v7.3 (HDF5, h5py).

The published figshare files come in both flavours. The lab's own loader tries
:func:`scipy.io.loadmat` first and falls back to h5py, reversing the axes because MATLAB
writes column-major arrays; :func:`read_mat_array` does the same and squeezes singleton
axes, so a conv feature map comes back as ``(channels, height, width)``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Literal

import numpy as np

from brainfeat.errors import DataNotFoundError, FormatError, UnknownNameError

__all__ = ["MatFlavour", "mat_bytes", "read_mat_array", "write_mat_array"]

MatFlavour = Literal["v5", "v7.3"]

# dtype kinds of real numbers (bool, signed and unsigned integers, floats).
_REAL_KINDS = "biuf"
# MATLAB classes of real numeric arrays (v7.3 stores a "char" array as uint16 codes).
_NUMERIC_CLASSES = {"double", "single", "logical", "int8", "uint8", "int16", "uint16",
                    "int32", "uint32", "int64", "uint64"}

# The 128-byte text header MATLAB writes into the HDF5 user block of a v7.3 file.
_V73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Thu Jan  1 00:00:00 1970 HDF5 schema 1.00 ."


def read_mat_array(path: str | os.PathLike[str], variable: str) -> np.ndarray:
    """Read one numeric variable of a ``.mat`` file (v5 or v7.3).

    Parameters
    ----------
    path : path-like
        The ``.mat`` file.
    variable : str
        Name of the variable, e.g. ``"feat"``, ``"accuracy"`` or ``"rank"``.

    Returns
    -------
    numpy.ndarray
        The array with singleton axes squeezed. v7.3 arrays have their axes reversed
        (MATLAB order), so both flavours give the same shape for the same data.

    Raises
    ------
    DataNotFoundError
        If the file does not exist.
    FormatError
        If the file is damaged or not a .mat file, lacks ``variable``, or the variable is
        not a real numeric array (complex, text, cell, struct, sparse).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"MATLAB file {path} does not exist (or is a folder): fetch "
                                "the layer again (`brainfeat fetch ...`).")
    array = _read_v73(path, variable) if h5py.is_hdf5(path) else _read_v5(path, variable)
    if array.dtype.kind not in _REAL_KINDS:
        what = "complex numbers" if array.dtype.kind == "c" else f"{array.dtype} values"
        raise FormatError(
            f"{path}: variable {variable!r} holds {what}; expected a real numeric array. "
            "The file is not a published file of this kind: fetch it again.")
    return array


def _damaged(path: Path, error: BaseException) -> FormatError:
    return FormatError(f"Cannot read {path} as a MATLAB .mat file ({type(error).__name__}: "
                       f"{error}). It is damaged or not a .mat file: fetch it again.")


def _read_v5(path: Path, variable: str) -> np.ndarray:
    from scipy.io import loadmat, whosmat

    try:  # scipy raises many types for damaged files (MatReadError, zlib.error, ...)
        content = loadmat(path, variable_names=[variable])
        names = [] if variable in content else [name for name, _, _ in whosmat(path)]
    except Exception as error:
        raise _damaged(path, error) from None
    if variable not in content:
        raise FormatError(
            f"{path} has no variable {variable!r} (variables found: {', '.join(names) or 'none'}):"
            " the file is truncated or belongs to another kind of the dataset; fetch it again."
        )
    return np.squeeze(np.asarray(content[variable]))


def _read_v73(path: Path, variable: str) -> np.ndarray:
    import h5py

    try:  # HDF5 raises OSError, KeyError, ... for damaged files
        with h5py.File(path, "r") as handle:
            node = handle.get(variable)
            if not isinstance(node, h5py.Dataset):
                found = ", ".join(handle.keys()) or "none"
                raise FormatError(f"{path} (MATLAB v7.3) has no variable {variable!r} holding "
                                  f"an array (variables found: {found}): the file belongs to "
                                  "another kind of the dataset or is damaged; fetch it again.")
            matlab_class = node.attrs.get("MATLAB_class", b"double")
            array = np.asarray(node[()])
    except FormatError:
        raise
    except Exception as error:
        raise _damaged(path, error) from None
    matlab_class = (matlab_class.decode("ascii", "replace") if isinstance(matlab_class, bytes)
                    else str(matlab_class))
    if matlab_class not in _NUMERIC_CLASSES or array.dtype.names is not None:
        what = "complex numbers" if array.dtype.names == ("real", "imag") else \
            f"MATLAB class {matlab_class!r}"
        raise FormatError(f"{path}: variable {variable!r} holds {what}; expected a real "
                          "numeric array. Fetch the file again.")
    return np.squeeze(np.asarray(array).transpose())


def write_mat_array(path: str | os.PathLike[str], variable: str, array: np.ndarray,
                    flavour: MatFlavour = "v5") -> Path:
    """Write one array as a ``.mat`` file in the given flavour (for replicas and tests).

    Parameters
    ----------
    path : path-like
        Destination file.
    variable : str
        Variable name.
    array : numpy.ndarray
        Data, in the order :func:`read_mat_array` returns it.
    flavour : {"v5", "v7.3"}
        ``"v5"`` writes with scipy; ``"v7.3"`` writes an HDF5 file with MATLAB's user-block
        header and the axes reversed, as MATLAB does.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    path.write_bytes(mat_bytes(variable, array, flavour))
    return path


def mat_bytes(variable: str, array: np.ndarray, flavour: MatFlavour = "v5") -> bytes:
    """The bytes of a ``.mat`` file holding one array (see :func:`write_mat_array`)."""
    import h5py
    from scipy.io import savemat

    buffer = io.BytesIO()
    array = np.asarray(array)
    if flavour == "v5":
        savemat(buffer, {variable: array}, do_compression=False)
        return buffer.getvalue()
    if flavour != "v7.3":
        raise UnknownNameError(f"Unknown .mat flavour {flavour!r}: expected 'v5' or 'v7.3'.")
    with h5py.File(buffer, "w", userblock_size=512) as handle:
        dataset = handle.create_dataset(variable, data=array.transpose())
        dataset.attrs["MATLAB_class"] = np.bytes_(_matlab_class(array.dtype))
    content = bytearray(buffer.getvalue())
    header = _V73_HEADER.ljust(116) + b"\x00" * 8 + b"\x00\x02IM"
    content[: len(header)] = header
    return bytes(content)


def _matlab_class(dtype: np.dtype) -> str:
    return {"f8": "double", "f4": "single", "i1": "int8", "i2": "int16", "i4": "int32",
            "i8": "int64", "u1": "uint8", "u2": "uint16", "u4": "uint32",
            "u8": "uint64"}.get(dtype.str[1:], "double")
