"""Array backends of the decoding solvers: numpy (with scipy's LAPACK) and torch (CPU or CUDA).

A backend is a small object holding the array namespace's few operations the solvers need:
moving arrays in and out, top-k selection, gathering principal sub-matrices and solving
symmetric positive-definite (SPD) systems in batches. It is chosen by argument, never by a
process-wide global (:func:`get_backend`).

The numpy backend gathers one triangle of each unit's system and solves it with LAPACK
``?posv``, called without the GIL, on a pool of threads (one per CPU); the torch backend
gathers a block of units and runs one batched Cholesky per block, on the CPU or a CUDA
device.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from brainfeat.errors import BrainfeatError, UnknownNameError

__all__ = ["Backend", "NotPositiveDefiniteError", "NumpyBackend", "TorchBackend", "get_backend",
           "pinned_threads", "thread_count"]

#: Bytes of gathered sub-systems held at once by one batched solve.
BATCH_BYTES = {"cpu": 256 * 2**20, "cuda": 4 * 2**30}

_DTYPES = ("float64", "float32")

#: Units solved per task of the numpy backend's thread pool.
UNITS_PER_TASK = 16


class NotPositiveDefiniteError(BrainfeatError, ValueError):
    """A ridge system was not positive definite (``alpha`` is 0 and the voxels are collinear)."""


def _not_pd(where: str) -> NotPositiveDefiniteError:
    return NotPositiveDefiniteError(
        f"The ridge system of {where} is not positive definite: the selected voxels are "
        "collinear and alpha does not regularise them. Use alpha > 0 (the published "
        "decoders use alpha=100).")


Posv = Callable[[bytes, np.ndarray, np.ndarray], int]


def _check_posv_arguments(uplo: bytes, a: np.ndarray, b: np.ndarray, dtype: np.dtype) -> None:
    """Refuse what LAPACK ``?posv`` would misread or must not write to, before it runs."""
    if uplo not in (b"L", b"U"):
        raise ValueError(f"posv got uplo={uplo!r}: expected b'L' or b'U'.")
    n = a.shape[0] if a.ndim == 2 else -1
    if not (n >= 1 and a.shape == (n, n) and b.shape == (n,) and a.dtype == b.dtype == dtype
            and a.flags.f_contiguous and a.flags.writeable and a.flags.aligned
            and b.flags.c_contiguous and b.flags.writeable and b.flags.aligned):
        raise TypeError(
            f"posv got a {a.shape} {a.dtype} matrix (Fortran-contiguous: "
            f"{a.flags.f_contiguous}, writeable: {a.flags.writeable}) and a {b.shape} {b.dtype} "
            f"right-hand side (contiguous: {b.flags.c_contiguous}, writeable: "
            f"{b.flags.writeable}): expected a writeable Fortran (n, n) matrix and a writeable "
            f"contiguous (n,) vector, both of {dtype.name}, n >= 1.")


@functools.cache
def _posv(dtype: np.dtype) -> Posv:
    """The fastest available ``posv(uplo, a, b) -> info`` for ``dtype`` (see below).

    :func:`_posv_releasing_gil` where this scipy build exposes ``?posv`` in
    ``scipy.linalg.cython_lapack``; otherwise :func:`_posv_holding_gil`, with a warning
    (the results are the same, but the solver threads then take turns).
    """
    try:
        return _posv_releasing_gil(dtype)
    except (ImportError, AttributeError, KeyError, TypeError, ValueError) as error:
        warnings.warn(
            f"LAPACK ?posv cannot be called without the GIL here ({type(error).__name__}: "
            f"{error}); brainfeat solves with scipy.linalg.lapack instead: same results, but "
            "the numpy backend's threads no longer solve at the same time. Upgrade scipy, or "
            "use backend='torch'.", RuntimeWarning, stacklevel=3)
        return _posv_holding_gil(dtype)


def _posv_releasing_gil(dtype: np.dtype) -> Posv:
    """LAPACK ``?posv`` of scipy's LAPACK, called so that other threads run meanwhile.

    scipy's Python wrappers (``scipy.linalg.lapack``) hold the GIL while LAPACK runs, so
    threads solving units one after the other gain nothing. The same routine, taken from
    ``scipy.linalg.cython_lapack`` (as numba does) and called through :mod:`ctypes`,
    releases it. Returns ``posv(uplo, a, b) -> info``: ``a`` (n, n) Fortran-ordered, its
    ``uplo`` triangle read and overwritten by the Cholesky factor; ``b`` (n,) contiguous,
    overwritten by the solution of ``a x = b``; ``info`` as LAPACK's (> 0: not positive
    definite). Arguments of another layout raise :class:`TypeError` before LAPACK runs.

    Raises ImportError, AttributeError, KeyError or ValueError when this scipy build does
    not export the routine (:func:`_posv` then falls back to :func:`_posv_holding_gil`).
    """
    import ctypes
    from scipy.linalg import cython_lapack

    dtype = np.dtype(dtype)
    capsule = cython_lapack.__pyx_capi__[{"float64": "dposv", "float32": "sposv"}[dtype.name]]
    capsule_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(
        ("PyCapsule_GetName", ctypes.pythonapi))
    capsule_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
        ("PyCapsule_GetPointer", ctypes.pythonapi))
    address = capsule_pointer(capsule, capsule_name(capsule))
    if not address:
        raise ValueError(f"scipy.linalg.cython_lapack's {dtype.name} posv capsule is empty")
    int_p = ctypes.POINTER(ctypes.c_int)
    routine = ctypes.CFUNCTYPE(None, ctypes.c_char_p, int_p, int_p, ctypes.c_void_p, int_p,
                               ctypes.c_void_p, int_p, int_p)(address)

    def posv(uplo: bytes, a: np.ndarray, b: np.ndarray) -> int:
        _check_posv_arguments(uplo, a, b, dtype)
        size, one, info = ctypes.c_int(a.shape[0]), ctypes.c_int(1), ctypes.c_int(0)
        routine(uplo, ctypes.byref(size), ctypes.byref(one), a.ctypes.data, ctypes.byref(size),
                b.ctypes.data, ctypes.byref(size), ctypes.byref(info))
        return info.value

    return posv


def _posv_holding_gil(dtype: np.dtype) -> Posv:
    """The same ``posv(uplo, a, b) -> info`` as :func:`_posv_releasing_gil`, through
    ``scipy.linalg.lapack`` (available in every scipy build; holds the GIL while it runs)."""
    from scipy.linalg.lapack import get_lapack_funcs

    dtype = np.dtype(dtype)
    routine = get_lapack_funcs("posv", dtype=dtype)

    def posv(uplo: bytes, a: np.ndarray, b: np.ndarray) -> int:
        _check_posv_arguments(uplo, a, b, dtype)
        _, solution, info = routine(a, b[:, None], lower=uplo == b"L", overwrite_a=True,
                                    overwrite_b=True)
        if not np.shares_memory(solution, b):
            b[:] = solution[:, 0]
        return int(info)

    return posv


def _usable_cpus() -> int:
    """CPUs this process may run on (``os.sched_getaffinity`` exists on Linux only)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _blas_threads() -> int:
    """Threads BLAS would use here (``OMP_NUM_THREADS``, ``threadpoolctl`` limits apply)."""
    from threadpoolctl import threadpool_info
    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return max(blas) if blas else _usable_cpus()


def thread_count(backend: "Backend") -> int:
    """Threads of ``backend``'s CPU kernels in this process: torch's intra-op count, or BLAS's.

    Pass it to :func:`pinned_threads` in another process to compute with the same count.
    """
    if backend.name == "torch":
        return int(backend.torch.get_num_threads())
    return _blas_threads()


_PINNED = threading.Lock()


@contextlib.contextmanager
def pinned_threads(backend: "Backend", n_threads: int | None) -> Iterator[None]:
    """Run the block with ``backend``'s CPU kernels (BLAS, torch intra-op) on ``n_threads``.

    How a matrix product splits its sums over threads (MKL in torch, some BLAS kernels)
    changes the last bits of float results, so a chunk computed on a Dask worker (one
    thread by default) can differ from the same chunk computed by the process that planned
    the run. Pinning the planner's count (:func:`thread_count`) makes them equal. The
    counts are process-wide, so pinned blocks of one process run one at a time; the
    previous counts are restored afterwards. ``None`` changes nothing.
    """
    if n_threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with _PINNED, threadpool_limits(limits=n_threads, user_api="blas"):
        if backend.name != "torch":
            yield
            return
        previous = backend.torch.get_num_threads()
        backend.torch.set_num_threads(n_threads)
        try:
            yield
        finally:
            backend.torch.set_num_threads(previous)


class NumpyBackend:
    """numpy arrays on the CPU; SPD solves by LAPACK ``?posv``, one thread per unit.

    Parameters
    ----------
    dtype : {"float64", "float32"}
        Precision of the gathered sub-systems and their solves.
    n_threads : int, optional
        Units solved concurrently; defaults to the number of threads BLAS would use (so
        ``OMP_NUM_THREADS`` and ``threadpoolctl`` limits, e.g. 1 per Dask worker, apply).
        LAPACK is called single-threaded inside each thread.
    """

    name = "numpy"

    def __init__(self, dtype: str = "float64", n_threads: int | None = None) -> None:
        self.dtype = np.dtype(dtype)
        self.device = "cpu"
        self.n_threads = _blas_threads() if n_threads is None else n_threads

    def asarray(self, array: Any, dtype: str | None = None) -> np.ndarray:
        """``array`` as a numpy array of ``dtype`` (a name; default: the backend's)."""
        return np.asarray(array, dtype=self.dtype if dtype is None else dtype)

    def to_numpy(self, array: Any) -> np.ndarray:
        """``array`` as a numpy array (no copy)."""
        return np.asarray(array)

    def top_k(self, scores: np.ndarray, k: int) -> np.ndarray:
        """Per row, the column indices of the ``k`` largest scores, ascending.

        ``scores`` has shape (n_units, n_voxels) and ``k < n_voxels``; returns (n_units, k)
        int64. Order among exactly tied scores at the boundary is unspecified.
        """
        index = np.argpartition(scores, scores.shape[1] - k, axis=1)[:, scores.shape[1] - k:]
        return np.sort(index, axis=1)

    def take_rows(self, matrix: np.ndarray, index: np.ndarray) -> np.ndarray:
        """``out[u, j] = matrix[u, index[u, j]]``."""
        return np.take_along_axis(matrix, index, axis=1)

    def append_constant(self, matrix: np.ndarray, value: int) -> np.ndarray:
        """``matrix`` (n, m) with a last column of ``value`` appended: (n, m + 1)."""
        return np.concatenate((matrix, np.full((matrix.shape[0], 1), value, matrix.dtype)), axis=1)

    def dense_rows(self, index: np.ndarray, values: np.ndarray, width: int) -> np.ndarray:
        """``out`` of shape (n_units, width), zero but ``out[u, index[u, j]] = values[u, j]``."""
        out = np.zeros((index.shape[0], width), dtype=values.dtype)
        np.put_along_axis(out, index, values, axis=1)
        return out

    def solve_principal(self, gram: np.ndarray, index: np.ndarray,
                        rhs: np.ndarray) -> np.ndarray:
        """Solve ``gram[S_u, S_u] w_u = rhs_u`` for every unit ``u`` with ``S_u = index[u]``.

        Parameters
        ----------
        gram : ndarray, shape (p, p)
            SPD matrix (the regularised Gram matrix, bias included).
        index : ndarray of int, shape (n_units, k)
        rhs : ndarray, shape (n_units, k)

        Returns
        -------
        ndarray, shape (n_units, k)

        Notes
        -----
        Each unit's ``A = gram[S, S]`` is gathered by one flat ``take`` into a reused
        buffer, one triangle only: entry ``(i, j)`` of the triangle reads
        ``gram.flat[S_i * p + S_j]``, every entry of the other triangle reads
        ``gram.flat[0]`` (a cached re-read, never used). LAPACK ``?posv`` reads only the
        triangle it is told to, so the solution is exactly that of a full gather, with
        half the reads from ``gram``. The buffer is C-ordered and passed transposed
        (Fortran order, no copy); float64 gathers ``A``'s lower triangle in that Fortran
        view (``uplo="L"``, about 20 % faster than ``"U"`` here). float32 keeps
        ``uplo="U"``, whose rounding the float32 golden tests were measured with.
        Units are spread over ``n_threads`` threads; ``take``, the ufuncs and ``?posv``
        (see :func:`_posv`) all run without the GIL.
        """
        from threadpoolctl import threadpool_limits

        posv = _posv(gram.dtype)
        solution = np.array(rhs, dtype=gram.dtype)   # solved in place
        n_units, k = index.shape
        gram_flat = gram.reshape(-1)
        lower = gram.dtype == np.float64
        # The Fortran view's lower triangle is the C buffer's upper one (j >= i).
        triangle = np.triu(np.ones((k, k), dtype=bool))
        if not lower:
            triangle = triangle.T

        workspace = threading.local()

        def solve_units(units: range) -> None:
            if not hasattr(workspace, "system"):                 # once per thread
                workspace.offsets = np.zeros((k, k), dtype=np.intp)  # other triangle: 0
                workspace.row_starts = np.empty(k, dtype=np.intp)
                workspace.system = np.empty((k, k), dtype=gram.dtype)
            offsets, row_starts, system = (workspace.offsets, workspace.row_starts,
                                           workspace.system)
            for unit in units:
                selected = index[unit]
                np.multiply(selected, gram.shape[1], out=row_starts)
                np.add(row_starts[:, None], selected[None, :], out=offsets, where=triangle)
                np.take(gram_flat, offsets, out=system, mode="clip")  # valid offsets: no checks
                if posv(b"L" if lower else b"U", system.T, solution[unit]) != 0:
                    raise _not_pd(f"unit {unit} of the chunk")

        # Small blocks keep every thread busy to the end on CPUs shared with other work.
        step = max(1, min(UNITS_PER_TASK, -(-n_units // self.n_threads)))
        blocks = [range(start, min(start + step, n_units)) for start in range(0, n_units, step)]
        with threadpool_limits(limits=1, user_api="blas"):
            if self.n_threads <= 1 or len(blocks) <= 1:
                for block in blocks:
                    solve_units(block)
            else:
                with ThreadPoolExecutor(min(self.n_threads, len(blocks))) as pool:
                    list(pool.map(solve_units, blocks))
        return solution

    def cholesky(self, matrix: np.ndarray) -> np.ndarray:
        """Lower Cholesky factor of one SPD matrix."""
        from scipy.linalg import LinAlgError, cholesky
        try:
            return cholesky(matrix, lower=True, check_finite=False)
        except LinAlgError:
            raise _not_pd("the full voxel set") from None

    def cholesky_solve(self, factor: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """Solve ``L L^T x = rhs`` for the lower factor ``L`` (rhs: (p, m))."""
        from scipy.linalg import cho_solve
        return cho_solve((factor, True), rhs, check_finite=False)


class TorchBackend:
    """torch tensors on a CPU or CUDA device; batched Cholesky solves.

    Parameters
    ----------
    dtype : {"float64", "float32"}
        Precision of the gathered sub-systems and their solves.
    device : str or torch.device, optional
        ``"cpu"`` (default), ``"cuda"``, ``"cuda:1"`` ...
    """

    name = "torch"

    def __init__(self, dtype: str = "float64", device: Any = None) -> None:
        import torch

        from brainfeat.config import torch_device

        self.torch = torch
        self.device = torch_device(device or "cpu")
        self.dtype = getattr(torch, dtype)
        self.batch_bytes = BATCH_BYTES.get(self.device.type, BATCH_BYTES["cpu"])

    def asarray(self, array: Any, dtype: str | None = None) -> Any:
        """``array`` as a tensor of ``dtype`` (a name; default: the backend's) on the device."""
        target = self.dtype if dtype is None else getattr(self.torch, dtype)
        if not isinstance(array, self.torch.Tensor):
            array = self.torch.from_numpy(np.ascontiguousarray(array))
        return array.to(device=self.device, dtype=target)

    def to_numpy(self, array: Any) -> np.ndarray:
        """``array`` copied to host memory as a numpy array."""
        return array.detach().cpu().numpy()

    def top_k(self, scores: Any, k: int) -> Any:
        """Per row, the column indices of the ``k`` largest scores, ascending (see numpy)."""
        return self.torch.topk(scores, k, dim=1, sorted=False).indices.sort(dim=1).values

    def take_rows(self, matrix: Any, index: Any) -> Any:
        """``out[u, j] = matrix[u, index[u, j]]``."""
        return self.torch.take_along_dim(matrix, index, dim=1)

    def append_constant(self, matrix: Any, value: int) -> Any:
        """``matrix`` (n, m) with a last column of ``value`` appended: (n, m + 1)."""
        column = self.torch.full((matrix.shape[0], 1), value, dtype=matrix.dtype,
                                 device=matrix.device)
        return self.torch.cat((matrix, column), dim=1)

    def dense_rows(self, index: Any, values: Any, width: int) -> Any:
        """``out`` of shape (n_units, width), zero but ``out[u, index[u, j]] = values[u, j]``."""
        out = self.torch.zeros((index.shape[0], width), dtype=values.dtype, device=values.device)
        return out.scatter_(1, index, values)

    def solve_principal(self, gram: Any, index: Any, rhs: Any) -> Any:
        """Solve ``gram[S_u, S_u] w_u = rhs_u`` for every unit (see :class:`NumpyBackend`)."""
        torch = self.torch
        n_units, k = index.shape
        per_unit = k * k * gram.element_size()
        step = max(1, self.batch_bytes // per_unit)
        solution = torch.empty(rhs.shape, dtype=gram.dtype, device=gram.device)
        for start in range(0, n_units, step):
            block = index[start:start + step]
            systems = gram[block[:, :, None], block[:, None, :]]
            factor, info = torch.linalg.cholesky_ex(systems)
            if bool((info != 0).any()):
                raise _not_pd(f"unit {start + int(info.nonzero()[0, 0])} of the chunk")
            solution[start:start + step] = torch.cholesky_solve(
                rhs[start:start + step, :, None], factor)[..., 0]
        return solution

    def cholesky(self, matrix: Any) -> Any:
        """Lower Cholesky factor of one SPD matrix."""
        factor, info = self.torch.linalg.cholesky_ex(matrix)
        if int(info) != 0:
            raise _not_pd("the full voxel set")
        return factor

    def cholesky_solve(self, factor: Any, rhs: Any) -> Any:
        """Solve ``L L^T x = rhs`` for the lower factor ``L`` (rhs: (p, m))."""
        return self.torch.cholesky_solve(rhs, factor)


Backend = NumpyBackend | TorchBackend


def get_backend(name: str = "numpy", *, dtype: str = "float64", device: Any = None) -> Backend:
    """The backend called ``name``.

    Parameters
    ----------
    name : {"numpy", "torch"}
    dtype : {"float64", "float32"}
        Precision of the per-unit systems (voxel selection is always done in float64).
    device : str, optional
        torch device (``"cpu"``, ``"cuda"``, ``"cuda:0"``); the numpy backend accepts only
        ``None`` or ``"cpu"``.
    """
    if dtype not in _DTYPES:
        raise UnknownNameError(f"Unknown dtype {dtype!r}: expected one of {', '.join(_DTYPES)}.")
    if name == "numpy":
        if device not in (None, "cpu"):
            raise UnknownNameError(
                f"The numpy backend runs on the CPU only, not device={device!r}: "
                "use backend='torch' for a GPU.")
        return NumpyBackend(dtype)
    if name == "torch":
        return TorchBackend(dtype, device)
    raise UnknownNameError(f"Unknown backend {name!r}: expected 'numpy' or 'torch'.")
