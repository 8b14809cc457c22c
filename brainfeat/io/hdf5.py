"""Open an HDF5 file for reading, or fail with an error that names it and says what to do."""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from brainfeat.errors import DataNotFoundError, FormatError

__all__ = ["open_hdf5"]


def open_hdf5(path: str | os.PathLike[str], *, what: str, fix: str) -> h5py.File:
    """Open ``path`` read-only.

    Parameters
    ----------
    path : path-like
    what : str
        What the file should be, for messages (``"Feature file"``).
    fix : str
        What the user should do, for messages (``"write it with `brainfeat features`"``).

    Raises
    ------
    DataNotFoundError
        If ``path`` does not exist or is a folder.
    FormatError
        If it is not a readable HDF5 file (truncated, another format, no permission).
    """
    path = Path(path)
    if not path.is_file():
        state = "is a folder" if path.is_dir() else "does not exist"
        raise DataNotFoundError(f"{what} {path} {state}: {fix}.")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise FormatError(f"{what} {path} is not a readable HDF5 file ({error}): expected "
                          f"HDF5; {fix}.") from None
