"""Output files of long jobs: one writer at a time, created whole or not at all.

A long job (:func:`brainfeat.decoding.decode_layer`, :func:`brainfeat.features.extract`)
writes one HDF5 file that a rerun resumes. Two rules keep that file resumable whatever
happens to the process:

* :func:`exclusive_output` holds an advisory lock (``<out>.lock``, POSIX ``flock``) for the
  whole run, so a second process writing the same output stops at once with
  :class:`~brainfeat.errors.OutputLockedError` naming the lock. The operating system
  releases the lock when its holder dies, even by ``kill -9``: a lock file left behind
  never blocks a rerun.
* :func:`create_whole` writes a new file's complete header (every dataset allocated) under
  a temporary name beside the output and renames it into place, so ``out`` either does not
  exist or has a header a rerun can open. After that a job only writes raw bytes at fixed
  places and marks its progress after flushing them.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py

from brainfeat.errors import FormatError, OutputLockedError

__all__ = ["create_whole", "exclusive_output", "lock_path", "open_to_resume", "partial_path"]


def lock_path(out: Path) -> Path:
    """The lock file of an output: ``<out>.lock`` beside it."""
    return out.with_name(f"{out.name}.lock")


def partial_path(out: Path) -> Path:
    """Where a new output's header is written before it is renamed to ``out``."""
    return out.with_name(f".{out.name}.partial")


@contextmanager
def exclusive_output(out: Path) -> Iterator[Path]:
    """Hold the lock of ``out`` while the block runs (creating its folder if needed).

    Raises
    ------
    OutputLockedError
        If another process holds the lock; the message names the lock file.
    """
    lock = lock_path(out)
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise OutputLockedError(
                f"{out} is being written by another process, which holds its lock {lock}: "
                "wait for that run to finish (or stop it), or choose another output file."
            ) from None
        try:  # the previous holder may have removed the file between our open and lock
            same = os.stat(lock).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(descriptor)
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)
        os.close(descriptor)


def create_whole(out: Path, build: Callable[[h5py.File], None]) -> None:
    """Create ``out`` with ``build(handle)`` under a temporary name, then rename it into place.

    Call it inside :func:`exclusive_output`; a temporary file left by a killed run is
    overwritten by the next one.
    """
    partial = partial_path(out)
    with h5py.File(partial, "w") as handle:
        build(handle)
    os.replace(partial, out)


def open_to_resume(out: Path, rerun: str) -> h5py.File:
    """Open an existing output for writing; a file HDF5 cannot open is a FormatError.

    ``rerun`` says how to start the run afresh (e.g. ``"pass overwrite=True"``).
    """
    try:
        return h5py.File(out, "r+")
    except OSError as error:
        raise FormatError(
            f"{out} exists but cannot be opened to resume ({error}): it was not written by "
            f"a brainfeat run, or was damaged outside it. Delete it or {rerun}, and run again."
        ) from None
