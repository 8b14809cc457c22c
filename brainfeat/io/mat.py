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

from brainfeat.errors import FormatError, UnknownNameError

__all__ = ["MatFlavour", "mat_bytes", "read_mat_array", "write_mat_array"]

MatFlavour = Literal["v5", "v7.3"]

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
    FormatError
        If the file is not a .mat file or lacks ``variable``.
    """
    import h5py

    path = Path(path)
    if h5py.is_hdf5(path):
        return _read_v73(path, variable)
    return _read_v5(path, variable)


def _read_v5(path: Path, variable: str) -> np.ndarray:
    from scipy.io import loadmat, whosmat

    try:
        content = loadmat(path, variable_names=[variable])
    except (ValueError, TypeError, OSError) as error:
        raise FormatError(f"Cannot read {path} as a MATLAB .mat file: {error}") from error
    if variable not in content:
        found = ", ".join(name for name, _, _ in whosmat(path)) or "none"
        raise FormatError(
            f"{path} has no variable {variable!r} (variables found: {found}); "
            "the file may belong to another kind of the dataset."
        )
    return np.squeeze(np.asarray(content[variable]))


def _read_v73(path: Path, variable: str) -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as handle:
        if variable not in handle or not isinstance(handle[variable], h5py.Dataset):
            found = ", ".join(handle.keys()) or "none"
            raise FormatError(
                f"{path} (MATLAB v7.3) has no variable {variable!r} (variables found: {found})."
            )
        array = handle[variable][()]
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
    return {"f8": "double", "f4": "single", "i4": "int32", "i8": "int64",
            "u1": "uint8"}.get(dtype.str[1:], "double")
