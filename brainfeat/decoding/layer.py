"""Decode a whole DNN layer for one subject: streamed, checkpointed, optionally on Dask.

Output file layout (format ``brainfeat-decoded/1``)::

    /               attrs: format, subject, network, layer, roi, unit_shape, settings (JSON:
                    alpha, n_voxels, normalize, dtype, chunk_units, backend, device type,
                    SHA-1 of the training and test fMRI)
    /image_ids      (n_test,) str -- test images, row order of /decoded (published order)
    /decoded        (n_test, n_units) dtype -- decoded test features, channel-major units
    /accuracy       (n_units,) float64 -- Pearson r with the true test features (NaN when
                    no true features were given, or where a unit is constant)
    /chunks_done    (n_chunks,) bool -- the checkpoint: chunks whose rows are written

Every dataset's file space is allocated when the file is created, so writing a chunk only
writes raw bytes at fixed places, a chunk is marked done after its bytes are flushed, and
the finished file does not depend on the order in which chunks were written: a run killed
at any moment and started again with the same arguments redoes only the chunks not marked
done and ends with the same bytes as an uninterrupted run. A new file is written under a
temporary name and renamed once its header is complete, and a run holds ``<out>.lock``
while it writes (:mod:`brainfeat.io.jobfile`): a second process writing the same output
stops with :class:`~brainfeat.errors.OutputLockedError`.

Training features (``train_features`` / ``test_features``) may be

* a path to an HDF5 file in the features layout of :mod:`brainfeat.features.extraction`:
  ``/image_ids`` (n_images,) str and ``/layers/<layer>`` (n_images, n_units) float32
  (another dataset is named with ``dataset=``); rows are matched to fMRI samples by
  stimulus name;
* an object with ``.values`` (n_images, n_units or *unit_shape) and ``.image_ids`` (a
  :class:`brainfeat.FeatureSet`), matched by stimulus name as well;
* any array-like (h5py dataset, numpy array, memmap) of shape (n_samples, n_units or
  *unit_shape) whose rows are already in the order of the fMRI samples.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from brainfeat._checks import check_float, check_int
from brainfeat.catalog import Catalog, Network, Subject, resolve_catalog
from brainfeat.decoding._solvers import (
    Design, fit_units, normalise_stats, predict_units, prepare_design, standardise)
from brainfeat.decoding.backends import Backend, get_backend, pinned_threads, thread_count
from brainfeat.decoding.estimator import chunk_size
from brainfeat.errors import FormatError, UnknownNameError
from brainfeat.evaluation.metrics import unit_correlation
from brainfeat.features.store import read_image_ids
from brainfeat.io.hdf5 import open_hdf5
from brainfeat.io.jobfile import create_whole, exclusive_output, open_to_resume

__all__ = ["FORMAT", "decode_chunk", "decode_jobs", "decode_layer", "network_name"]

FORMAT = "brainfeat-decoded/1"
_STR = h5py.string_dtype()


@lru_cache(maxsize=None)
def _backend(name: str, dtype: str, device: str | None) -> Backend:
    """One backend object per setting and process, so bound designs are reused."""
    return get_backend(name, dtype=dtype, device=device)


def decode_chunk(design: Design, x_test: np.ndarray, y: np.ndarray, *, normalize: bool,
                 backend: str = "numpy", dtype: str = "float64",
                 device: str | None = None, threads: int | None = None) -> np.ndarray:
    """Fit the decoders of a block of units and decode the test samples.

    Parameters
    ----------
    design : Design
        From :func:`brainfeat.decoding._solvers.prepare_design` on the (normalised)
        training fMRI.
    x_test : ndarray, shape (n_test, n_voxels)
        Test fMRI on the scale of the design.
    y : ndarray, shape (n_samples, n_units)
        Training features of the block, raw.
    normalize : bool
        Z-score ``y`` with its own training statistics and de-normalise the predictions.
    threads : int, optional
        Threads of the backend's CPU kernels for this chunk (:func:`pinned_threads`);
        :func:`decode_layer` passes its own count, so that chunks computed on Dask workers
        equal the local run byte for byte. ``None`` keeps this process's count.

    Returns
    -------
    ndarray, shape (n_test, n_units), in ``dtype``
    """
    array = _backend(backend, dtype, device)
    y = np.asarray(y, dtype=np.float64)
    if normalize:
        mean, std = normalise_stats(y)
        y = standardise(y, mean, std)
    with pinned_threads(array, threads):
        models = fit_units(design.on(array), y)
        pred = array.to_numpy(predict_units(array, models, x_test)).astype(np.float64)
    if normalize:
        pred = pred * std + mean
    return pred.astype(dtype)


class _Features:
    """Column blocks of a training or test feature source, rows in the fMRI's sample order."""

    def __init__(self, source: Any, layer: str, dataset: str | None,
                 sample_names: Sequence[str], role: str) -> None:
        self._file = None
        if isinstance(source, str | os.PathLike):
            self._file = open_hdf5(source, what=f"The {role} features file", fix=_FEATURES_FIX)
            name = dataset or f"layers/{layer}"
            if name not in self._file or "image_ids" not in self._file:
                self._file.close()
                raise FormatError(
                    f"{source} has no dataset {name!r} with /image_ids: expected the features "
                    "layout (/image_ids, /layers/<layer>) or name the dataset with dataset=.")
            values = self._file[name]
            ids = list(read_image_ids(self._file["image_ids"]))
            shape = tuple(int(n) for n in values.attrs.get("unit_shape", values.shape[1:]))
        elif hasattr(source, "values") and hasattr(source, "image_ids"):
            values, ids = source.values, list(source.image_ids)
            shape = tuple(getattr(source, "unit_shape", values.shape[1:]))
        else:
            values, ids, shape = source, None, tuple(source.shape[1:])
        if ids is not None and len(ids) != values.shape[0]:
            raise FormatError(
                f"The {role} features have {values.shape[0]} rows but {len(ids)} image ids: "
                "expected one row per image id; write the features again.")
        self.values = values
        self.role = role
        self.unit_shape = shape
        self.n_units = math.prod(values.shape[1:])
        self.rows = self._rows(ids, list(sample_names), values.shape[0], role)

    @staticmethod
    def _rows(ids: list[str] | None, names: list[str], n_rows: int, role: str) -> np.ndarray:
        if ids is None:
            if n_rows != len(names):
                raise FormatError(
                    f"The {role} features have {n_rows} rows but the {role} fMRI has "
                    f"{len(names)} samples: give features in sample order, or a file or "
                    "FeatureSet with image ids.")
            return np.arange(n_rows)
        position = {name: i for i, name in enumerate(ids)}
        missing = [name for name in dict.fromkeys(names) if name not in position]
        if missing:
            raise FormatError(
                f"{len(missing)} {role} stimuli have no features, e.g. {missing[:3]}: "
                "extract features for every stimulus of the fMRI.")
        return np.array([position[name] for name in names])

    def block(self, start: int, stop: int) -> np.ndarray:
        """Units ``start:stop`` of every sample, float64, shape (n_samples, stop - start).

        Training features must be finite: no decoder can be fitted to NaN.
        """
        if isinstance(self.values, np.ndarray):
            flat = self.values.reshape(self.values.shape[0], -1)
            block = np.asarray(flat[:, start:stop][self.rows], dtype=np.float64)
        elif self.values.ndim != 2:
            raise FormatError(
                f"Streamed features must be stored as (n_images, n_units), not "
                f"{self.values.shape}: flatten the unit axes (channel-major) first.")
        else:
            block = np.asarray(self.values[:, start:stop], dtype=np.float64)[self.rows]
        if self.role == "training" and not np.isfinite(block).all():
            raise FormatError(
                f"The training features of units {start}..{stop - 1} hold NaN or infinite "
                "values: no decoder can be fitted to them; extract the features again.")
        return block

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


_FEATURES_FIX = ("pass a file written by `brainfeat features` (/image_ids, /layers/<layer>), "
                 "or a FeatureSet or array")


def network_name(network: Network | str) -> str:
    """The name that labels a decoding output: a paper network's canonical name (any case
    accepted), or any other model's name as given (``"torchvision:resnet18"``, a class name)."""
    try:
        return Network.parse(network).value
    except UnknownNameError:
        return str(network)


def _check_identity(source: Any, network: str, layer: str, role: str) -> None:
    """Refuse features that say they belong to another network or layer than the output.

    A features file written by :func:`brainfeat.features.extract` names its network in the
    ``model`` attribute; a :class:`brainfeat.FeatureSet` has ``network`` and ``layer``.
    Sources that do not say are taken as they are.
    """
    if isinstance(source, str | os.PathLike):
        with open_hdf5(source, what=f"The {role} features file", fix=_FEATURES_FIX) as handle:
            found_network, found_layer = handle.attrs.get("model"), None
        label = f"The {role} features file {source} holds"
    else:
        found_network = getattr(source, "network", None)
        found_layer = getattr(source, "layer", None)
        label = f"The {role} features are"
    if isinstance(found_network, bytes):
        found_network = found_network.decode()
    if found_network is not None and str(found_network) != network:
        raise FormatError(
            f"{label} features of {found_network}, not {network}: decode with "
            f"network={str(found_network)!r} (--network), or pass {network} features; "
            "the output is labelled with the network.")
    if found_layer is not None and str(found_layer).lower() != str(layer).lower():
        raise FormatError(
            f"{label} of layer {found_layer}, not {layer}: decode with layer="
            f"{str(found_layer)!r} (--layer), or pass features of {layer}.")


def _sha1(array: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()


def _open_output(out: Path, attrs: dict[str, Any], image_ids: Sequence[str], n_units: int,
                 n_chunks: int, chunk_units: int, dtype: str) -> h5py.File:
    """Open ``out`` to resume (settings must match) or create it with every byte allocated.

    Call inside :func:`~brainfeat.io.jobfile.exclusive_output`: a new file appears only
    once its header is complete (:func:`~brainfeat.io.jobfile.create_whole`).
    """
    if out.exists():
        handle = open_to_resume(out, "choose another output file")
        differing = _differing(dict(handle.attrs), attrs)
        if differing:
            handle.close()
            raise FormatError(
                f"{out} holds a decoding run with other settings ({', '.join(differing)}): "
                "delete it or choose another output file.")
        return handle

    def build(handle: h5py.File) -> None:
        handle.attrs.update(attrs)
        handle.create_dataset("image_ids", data=np.array(list(image_ids), dtype=object),
                              dtype=_STR)
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        dcpl.set_fill_time(h5py.h5d.FILL_TIME_ALLOC)
        dcpl.set_fill_value(np.array(np.nan, dtype=dtype))
        handle.create_dataset("decoded", shape=(len(image_ids), n_units), dtype=dtype,
                              chunks=(len(image_ids), min(chunk_units, n_units)), dcpl=dcpl)
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        dcpl.set_fill_value(np.array(np.nan))
        handle.create_dataset("accuracy", shape=(n_units,), dtype=np.float64, dcpl=dcpl)
        handle.create_dataset("chunks_done", data=np.zeros(n_chunks, dtype=bool))

    create_whole(out, build)
    return open_to_resume(out, "choose another output file")


def _differing(found: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """Names of the attributes (and of the settings inside ``settings``) that differ."""
    def plain(value: Any) -> Any:
        value = value.tolist() if isinstance(value, np.ndarray) else value
        return list(value) if isinstance(value, tuple) else value

    names = [key for key in expected if key != "settings"
             and plain(found.get(key)) != plain(expected[key])]
    old = json.loads(found.get("settings", "{}"))
    new = json.loads(expected["settings"])
    return names + sorted(key for key in new.keys() | old.keys() if old.get(key) != new.get(key))


def _load_split(subject: Subject, roi: str, split: str, data_dir: Any, download: bool,
                catalog: Catalog) -> Any:
    from brainfeat.fmri.preprocessed import load_fmri
    return load_fmri(subject, roi=roi, split=split, average_repeats=split == "test",
                     data_dir=data_dir, download=download, catalog=catalog)


def decode_layer(subject: Any, network: Network | str, layer: str, train_features: Any,
                 out: str | Path, *, fmri_train: Any = None, fmri_test: Any = None,
                 test_features: Any = None, dataset: str | None = None, roi: str = "VC",
                 alpha: float = 100.0, n_voxels: int | None = 500, normalize: bool = True,
                 chunk_units: int | None = None, client: Any = None, backend: str = "numpy",
                 device: str | None = None, dtype: str = "float64", progress: bool = True,
                 catalog: Catalog | None = None, data_dir: Any = None, download: bool = True,
                 on_chunk: Callable[[int, int], None] | None = None) -> Path:
    """Decode every unit of one layer from one subject's fMRI into an HDF5 file.

    The published pipeline: per unit, the ``n_voxels`` voxels of ``roi`` most correlated
    with the unit over the training samples, X and Y z-scored with training statistics,
    ridge regression with penalty ``alpha`` (bias included, fastl2lir), prediction of the
    repeat-averaged test fMRI, de-normalisation. Units are processed ``chunk_units`` at a
    time; memory does not grow with the number of units.

    Parameters
    ----------
    subject : str or int or Subject
        ``"S1"`` ... (used to load the fMRI and to label the output).
    network : str
        ``"AlexNet"`` or ``"VGG19"`` (any case), or any other model's name (labels the output;
        features files must name the same model).
    layer : str
        Layer name; with an HDF5 ``train_features`` path, the dataset ``/layers/<layer>``.
    train_features : path, FeatureSet-like or array-like
        Features of the training images (see the module docstring for the forms).
    out : path
        Output HDF5 file. If it exists and holds a run with the same settings, the run
        resumes from its checkpoint; with other settings, an error is raised. While the
        run writes it, another process writing ``out`` gets
        :class:`~brainfeat.errors.OutputLockedError` (naming ``<out>.lock``).
    fmri_train, fmri_test : FMRI, optional
        Objects with ``X`` (n_samples, n_voxels) and ``stimulus_names``; the test data
        averaged over repeats, one sample per image. Loaded with
        :func:`brainfeat.load_fmri` when not given.
    test_features : path, FeatureSet-like or array-like, optional
        True features of the test images; when given, ``/accuracy`` holds the per-unit
        Pearson r between decoded and true features.
    dataset : str, optional
        HDF5 dataset of the features in the file(s), instead of ``layers/<layer>``.
    roi : str, default="VC"
    alpha : float, default=100.0
    n_voxels : int or None, default=500
    normalize : bool, default=True
        The published z-scoring (see :class:`VoxelSelectRidge`).
    chunk_units : int, optional
        Units per chunk (and per checkpoint); default about 128 MB of temporaries.
    client : distributed.Client, optional
        Spread the chunks over a Dask cluster; results are identical to a local run.
    backend : {"numpy", "torch"}, default="numpy"
    device : str, optional
        torch device, e.g. ``"cuda"``.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the per-unit solves and of ``/decoded``.
    progress : bool, default=True
        Show a progress bar with units per second.
    catalog : Catalog, optional
    data_dir : path, optional
        Where :func:`brainfeat.load_fmri` finds the fMRI files.
    download : bool, default=True
        Whether :func:`brainfeat.load_fmri` may download a missing fMRI file.
    on_chunk : callable, optional
        Called as ``on_chunk(chunk_index, n_units_done)`` after each chunk is committed
        (also a test hook: raising from it interrupts the run like a kill would).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    InvalidValueError
        A negative or non-finite ``alpha``, ``n_voxels`` < 0, ``chunk_units`` < 1, or a
        ``device`` this machine lacks (before any file is read).
    FormatError
        Features that are not HDF5, or that name another network or layer than
        ``network``/``layer`` (which label the output).
    """
    from tqdm.auto import tqdm

    catalog = resolve_catalog(catalog)
    subject = Subject.parse(subject, catalog)
    network = network_name(network)
    alpha = check_float("alpha", alpha, example=100.0)
    if n_voxels is not None:
        n_voxels = check_int("n_voxels", n_voxels, minimum=0, example=500)
    if chunk_units is not None:
        chunk_units = check_int("chunk_units", chunk_units, minimum=1, example=256)
    _backend(backend, dtype, device)  # an unknown backend, dtype or device fails before any work
    _check_identity(train_features, network, layer, "training")
    if test_features is not None:
        _check_identity(test_features, network, layer, "test")
    if fmri_train is None:
        fmri_train = _load_split(subject, roi, "train", data_dir, download, catalog)
    if fmri_test is None:
        fmri_test = _load_split(subject, roi, "test", data_dir, download, catalog)
    x_train = np.asarray(fmri_train.X, dtype=np.float64)
    x_test = np.asarray(fmri_test.X, dtype=np.float64)
    train = _Features(train_features, layer, dataset, fmri_train.stimulus_names, "training")
    true = None if test_features is None else _Features(
        test_features, layer, dataset, fmri_test.stimulus_names, "test")
    try:
        if true is not None and true.n_units != train.n_units:
            raise FormatError(f"The test features have {true.n_units} units, the training "
                              f"features {train.n_units}: give the same layer.")
        if normalize:
            x_mean, x_std = normalise_stats(x_train)
            x_fit, x_new = standardise(x_train, x_mean, x_std), standardise(x_test, x_mean, x_std)
        else:
            x_fit, x_new = x_train, x_test
        n_units = train.n_units
        step = chunk_size(chunk_units, *x_train.shape)
        n_chunks = max(1, math.ceil(n_units / step))
        settings = {"alpha": float(alpha), "n_voxels": n_voxels, "normalize": bool(normalize),
                    "dtype": dtype, "chunk_units": step, "backend": backend,
                    "device": str(_backend(backend, dtype, device).device).split(":")[0],
                    "fmri_train_sha1": _sha1(x_train), "fmri_test_sha1": _sha1(x_test)}
        attrs = {"format": FORMAT, "subject": subject.name, "network": network,
                 "layer": layer, "roi": roi, "unit_shape": tuple(train.unit_shape),
                 "settings": json.dumps(settings, sort_keys=True)}
        design = prepare_design(x_fit, alpha, n_voxels)
        with exclusive_output(Path(out)), _open_output(
                Path(out), attrs, fmri_test.stimulus_names, n_units, n_chunks, step,
                dtype) as handle:
            done = handle["chunks_done"][()]
            todo = [i for i in range(n_chunks) if not done[i]]
            finished = n_units - sum(stop - start for start, stop in
                                     (_bounds(i, step, n_units) for i in todo))
            bar = tqdm(total=n_units, initial=finished, unit="unit", unit_scale=True,
                       disable=not progress, desc=f"{subject.name} {network} {layer}")
            kwargs = {"normalize": normalize, "backend": backend, "dtype": dtype,
                      "device": device,
                      "threads": thread_count(_backend(backend, dtype, device))}
            results = _run_chunks(design, x_new, train, todo, step, kwargs, client)
            for index, pred in results:
                start, stop = _bounds(index, step, n_units)
                handle["decoded"][:, start:stop] = pred
                if true is not None:
                    handle["accuracy"][start:stop] = unit_correlation(pred, true.block(start, stop))
                handle.flush()
                handle["chunks_done"][index] = True
                handle.flush()
                bar.update(stop - start)
                finished += stop - start
                if on_chunk is not None:
                    on_chunk(index, int(finished))
            bar.close()
    finally:
        train.close()
        if true is not None:
            true.close()
    return Path(out)


def _bounds(index: int, step: int, n_units: int) -> tuple[int, int]:
    return index * step, min((index + 1) * step, n_units)


def _run_chunks(design: Design, x_new: np.ndarray, train: _Features, todo: list[int],
                step: int, kwargs: dict[str, Any], client: Any) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(chunk_index, decoded)`` for every chunk in ``todo``, locally or on Dask."""
    n_units = train.n_units
    if client is None:
        for index in todo:
            start, stop = _bounds(index, step, n_units)
            yield index, decode_chunk(design, x_new, train.block(start, stop), **kwargs)
        return
    from distributed import as_completed

    design_future, x_future = client.scatter([design, x_new], broadcast=True)
    window = 2 * max(1, sum(client.nthreads().values()))
    pending = iter(todo)

    chunk_of: dict[str, int] = {}

    def submit(index: int) -> Any:
        start, stop = _bounds(index, step, n_units)
        # hash=False: equal blocks (all-zero units, say) must not share a key; a key shared
        # by two chunks is forgotten when the first is done, and the second loses its input.
        block = client.scatter(train.block(start, stop), hash=False)
        future = client.submit(decode_chunk, design_future, x_future, block, **kwargs,
                               pure=False)
        chunk_of[future.key] = index
        return future

    running = as_completed([submit(i) for i in itertools.islice(pending, window)])
    for future in running:
        yield chunk_of.pop(future.key), future.result()
        future.release()
        for index in itertools.islice(pending, 1):
            running.add(submit(index))


def decode_jobs(jobs: Iterable[Mapping[str, Any]], *, client: Any,
                **common: Any) -> list[Path]:
    """Run several :func:`decode_layer` jobs, one per Dask worker task.

    Parameters
    ----------
    jobs : iterable of mapping
        Keyword arguments of :func:`decode_layer` per job (``subject``, ``network``,
        ``layer``, ``train_features``, ``out``, ...); each job's ``out`` must be a distinct
        file on a file system the workers share.
    client : distributed.Client
    **common
        Keyword arguments given to every job (a job's own values win).

    Returns
    -------
    list of Path
        The output files, in the order of ``jobs``.
    """
    futures = [client.submit(_decode_job, {**common, **job, "progress": False}, pure=False)
               for job in jobs]
    return client.gather(futures)


def _decode_job(job: dict[str, Any]) -> Path:
    return decode_layer(**job)
