"""A SYNTHETIC replica of everything the regeneration loop reads, and of what it should write.

:func:`write_loop_replica` writes into one folder:

* ``images/<stimulus name>.png`` -- small random images named by real stimulus names, for
  the catalog's training and test images (:func:`loop_catalog` restricts both lists, so the
  demo and the tests run in seconds);
* ``fmri/Subject1.h5`` ... -- BData files with the real metadata keys (``VoxelData``,
  ``DataType`` 1/2/3, ``stimulus_id``, ``Run``, ``Block``, ``ROI_V1`` ... ``ROI_VC``,
  ``voxel_x/y/z``): a few voxels whose training and test responses are a random linear
  mixture of the network's (z-scored) true features plus noise, 35 noisy repeats of every
  test image, some imagery samples; each file is also reachable as ``files/<figshare id>``;
* the "published" zips of the catalog's layers (``decodedDNN-<kind>-<net>-<layer>.zip``),
  also as ``files/<figshare id>``: true features computed by :func:`brainfeat.features.extract`
  from the images, and decoded features, accuracies and ranks computed by a plain, separate
  implementation written here (a loop over units: voxel selection by |Pearson r|, z-scoring
  with training statistics, ridge with the bias regularised, test fMRI averaged over the
  repeats) -- not :mod:`brainfeat.decoding` nor :mod:`brainfeat.evaluation.metrics`, so that
  the regenerated and the "published" numbers are two independent computations;
* ``catalog.json`` and ``loop.json`` (the network, weights and decoder settings used).

The numbers mean nothing; the layout, the names and the method are the real ones.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from brainfeat.catalog import AVERAGED, Catalog, Kind, Network, Subject, default_catalog
from brainfeat.demo.replica import (
    CATALOG_FILE, _pearson_per_unit, _rank_descending, _write_zip)
from brainfeat.io.bdata import BDataBuilder, write_bdata
from brainfeat.remote.registry import default_registry
from brainfeat.stimuli import name_to_id

__all__ = ["BATCH_SIZE", "LOOP_FILE", "LOOP_LABEL", "feature_signal", "loop_catalog",
           "plain_decode", "write_loop_replica"]

LOOP_FILE = "loop.json"
LOOP_LABEL = ("SYNTHETIC replica of the Horikawa et al. (2019) inputs and outputs "
              "(images, fMRI, decoded features) - numbers mean nothing")
#: ROIs of the synthetic files: name -> voxel columns (VC is all of them).
_ROIS = {"V1": (0, 12), "V2": (12, 24), "V3": (24, 34), "V4": (34, 42), "LOC": (42, 52),
         "FFA": (52, 58), "PPA": (58, 64)}
_N_VOXELS = 64
_LOWER = ("V1", "V2", "V3")
_TEST_REPEATS = 35
_IMAGE_SIDE = 24
#: Images per forward pass of the true features. The regeneration must use the same: other
#: batches change float32 features by ~1e-7 (torch's kernels depend on the batch), enough
#: to swap a voxel-selection near-tie of a few units.
BATCH_SIZE = 8


def loop_catalog(n_train: int = 100, n_test: int = 50,
                 layers: Sequence[tuple[str, str]] = (("AlexNet", "fc8"),),
                 n_subjects: int = 5) -> Catalog:
    """The published catalog restricted to a few images, layers and subjects.

    Parameters
    ----------
    n_train, n_test : int
        The first ``n_train`` training and ``n_test`` test stimulus names, in published order.
    layers : sequence of (network, layer)
        Published layers, with their real unit shapes.
    n_subjects : int
        S1..Sn.

    Returns
    -------
    Catalog
        ``synthetic=True``.
    """
    published = default_catalog()
    return replace(
        published, name=LOOP_LABEL, synthetic=True,
        layers=tuple(published.layer(network, name) for network, name in layers),
        subjects=tuple(Subject(n) for n in range(1, n_subjects + 1)),
        training_image_ids=published.training_image_ids[:n_train],
        test_image_ids=published.test_image_ids[:n_test])


def write_loop_replica(root: str | os.PathLike[str], catalog: Catalog | None = None, *,
                       weights: str = "random", n_voxels: int = 20, alpha: float = 100.0,
                       seed: int = 0, noise: float = 1.0) -> Catalog:
    """Write images, fMRI and "published" files of the regeneration loop into ``root``.

    Parameters
    ----------
    root : path-like
        Folder to write (created; files already there are overwritten).
    catalog : Catalog, optional
        Images, layers and subjects; defaults to :func:`loop_catalog`.
    weights : str
        Weights of the paper's networks given to :func:`brainfeat.features.extract`
        (``"random"``: seeded random weights, nothing to download).
    n_voxels : int
        Voxels selected per unit by the plain decoder (fewer than the replica's 64 VC voxels,
        so that selection is exercised).
    alpha : float
        Ridge penalty of the plain decoder.
    seed : int
        Seed of the images, voxel mixtures and noise.
    noise : float
        Standard deviation of the fMRI noise (the signal has unit variance per voxel).

    Returns
    -------
    Catalog
        The replica's catalog (also in ``root/catalog.json``).
    """
    root = Path(root)
    catalog = catalog or loop_catalog()
    rng = np.random.default_rng(seed)
    for folder in ("images", "fmri", "files"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    image_ids = catalog.training_image_ids + catalog.test_image_ids
    _write_images(root / "images", image_ids, rng)
    true = _true_features(root / "images", catalog, weights)
    n_features = sum(train.shape[1] for train, _ in true.values())
    shared = rng.normal(size=(n_features, _N_VOXELS))  # what every subject's voxels share
    fmri = {subject: _subject_fmri(root, subject, catalog, true, shared, rng, noise)
            for subject in catalog.subjects}
    for info in catalog.layers:
        train, test = true[info.name]
        decoded = {subject: plain_decode(x_train, train, x_test, n_voxels, alpha)
                   for subject, (x_train, x_test) in fmri.items()}
        _write_published(root, info, catalog, test, decoded)
    (root / CATALOG_FILE).write_text(catalog.to_json(), encoding="utf-8")
    settings = {"weights": weights, "batch_size": BATCH_SIZE, "roi": "VC",
                "n_voxels": n_voxels, "alpha": alpha,
                "seed": seed, "noise": noise, "layers": [[i.network.value, i.name]
                                                         for i in catalog.layers]}
    (root / LOOP_FILE).write_text(json.dumps(settings, indent=1), encoding="utf-8")
    (root / "README.txt").write_text(
        f"{LOOP_LABEL}.\nWritten by brainfeat.demo.loop_replica.write_loop_replica"
        f"(seed={seed}).\nimages/, fmri/Subject*.h5, decodedDNN-*.zip; settings in "
        f"{LOOP_FILE}.\n", encoding="utf-8")
    return catalog


def _write_images(folder: Path, image_ids: Sequence[str], rng: np.random.Generator) -> None:
    from PIL import Image

    for name in image_ids:
        pixels = rng.integers(0, 256, size=(_IMAGE_SIDE, _IMAGE_SIDE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{name}.png")


def _true_features(images: Path, catalog: Catalog, weights: str,
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{layer: (training rows, test rows)}`` of every catalog layer, float32."""
    from brainfeat.features.extraction import extract
    from brainfeat.features.store import read_extracted

    result = {}
    n_train = len(catalog.training_image_ids)
    ids = catalog.training_image_ids + catalog.test_image_ids
    with tempfile.TemporaryDirectory() as scratch:
        for network in catalog.networks:
            names = [info.name for info in catalog.layers_of(network)]
            path = extract(network, images, names, Path(scratch) / f"{network.value}.h5",
                           device="cpu",
                           weights=weights, image_ids=ids, batch_size=BATCH_SIZE, progress=False,
                           catalog=catalog)
            for name in names:
                values = read_extracted(path, name).values.reshape(len(ids), -1)
                result[name] = (values[:n_train], values[n_train:])
    return result


def feature_signal(true: dict[str, tuple[np.ndarray, np.ndarray]], shared: np.ndarray,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One subject's voxel signal: a random linear mixture of the z-scored true features.

    Parameters
    ----------
    true : dict of str to (ndarray, ndarray)
        ``{layer: (training rows, test rows)}``, one row per image in catalog order.
    shared : ndarray, shape (n_features, n_voxels)
        Mixing weights every subject shares (features of all layers, stacked).
    rng : numpy.random.Generator
        Draws the subject's own weights, added to the shared ones (so units are decodable
        in similar, not identical, ways across subjects).

    Returns
    -------
    (ndarray, ndarray)
        float64 signal of the training and the test images, (n_images, n_voxels), of
        about unit variance per voxel; features are z-scored with the training statistics.
    """
    train = np.hstack([t for t, _ in true.values()]).astype(np.float64)
    test = np.hstack([t for _, t in true.values()]).astype(np.float64)
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    mix = (shared + 0.5 * rng.normal(size=shared.shape)) / np.sqrt(shared.shape[0])
    return (train - mean) / std @ mix, (test - mean) / std @ mix


def _subject_fmri(root: Path, subject: Subject, catalog: Catalog,
                  true: dict[str, tuple[np.ndarray, np.ndarray]], shared: np.ndarray,
                  rng: np.random.Generator, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Write ``SubjectN.h5``; return its training and repeat-averaged test VC fMRI.

    Both are returned as a reader of the file sees them (float32, averaged in float32).
    """
    signal_train, signal_test = feature_signal(true, shared, rng)
    n_test = len(catalog.test_image_ids)
    order = np.concatenate([rng.permutation(n_test) for _ in range(_TEST_REPEATS)])
    x_train = signal_train + noise * rng.normal(size=signal_train.shape)
    x_test = signal_test[order] + noise * rng.normal(size=(order.size, _N_VOXELS))
    categories = catalog.imagery_categories
    x_imagery = rng.normal(size=(len(categories), _N_VOXELS))
    names = list(catalog.training_image_ids) + [catalog.test_image_ids[i] for i in order]
    ids = [name_to_id(n) for n in names] + [float(int(c[1:])) for c in categories]
    types = [1] * len(x_train) + [2] * len(x_test) + [3] * len(categories)
    runs = ([1 + i // 50 for i in range(len(x_train))]
            + [1 + i // n_test for i in range(len(x_test))] + [1] * len(categories))
    blocks = [float(i % 50 + 1) for i in range(len(x_train))] + \
             [float(i % n_test + 1) for i in range(len(x_test))] + \
             [float(i + 1) for i in range(len(categories))]
    builder = BDataBuilder()
    builder.add(np.vstack([x_train, x_test, x_imagery]), "VoxelData")
    for key, values in (("Run", runs), ("Block", blocks), ("DataType", types),
                        ("stimulus_id", ids)):
        builder.add(np.asarray(values, dtype=np.float64), key)
    rois = {name: range(*bounds) for name, bounds in _ROIS.items()}
    rois["LVC"] = range(0, _ROIS["V4"][1])
    rois["HVC"] = range(_ROIS["V4"][1], _N_VOXELS)
    rois["VC"] = range(_N_VOXELS)
    for name, members in rois.items():
        row = np.zeros(_N_VOXELS)
        row[list(members)] = 1
        builder.add_metadata(f"ROI_{name}", row, f"1 = ROI {name}", where="VoxelData")
    grid = np.indices((4, 4, 4)).reshape(3, -1).T * 3.0
    for axis, column in zip("xyz", grid.T):
        builder.add_metadata(f"voxel_{axis}", column, f"voxel {axis} (mm)", where="VoxelData")
    path = write_bdata(root / "fmri" / f"{subject.h5_name}.h5", builder.build())
    _serve(root, path, f"{subject.h5_name}.h5")
    x32 = x_test.astype(np.float32)
    averaged = np.stack([x32[order == i].mean(axis=0) for i in range(n_test)])
    return x_train.astype(np.float32), averaged


def plain_decode(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                 n_voxels: int, alpha: float) -> np.ndarray:
    """The published decoder, written plainly one unit at a time (the replica's reference).

    Parameters
    ----------
    x_train : ndarray, shape (n_samples, n_voxels_total)
    y_train : ndarray, shape (n_samples, n_units)
    x_test : ndarray, shape (n_test, n_voxels_total)
        Test fMRI already averaged over repeats.
    n_voxels : int
        Voxels kept per unit (largest |Pearson r| with the unit on the training samples).
    alpha : float
        Ridge penalty, bias included.

    Returns
    -------
    ndarray of float32, shape (n_test, n_units)
    """
    x_train, x_test = np.asarray(x_train, np.float64), np.asarray(x_test, np.float64)
    x_mean, x_std = x_train.mean(axis=0), x_train.std(axis=0, ddof=1)
    xz, xz_test = (x_train - x_mean) / x_std, (x_test - x_mean) / x_std
    ones, ones_test = np.ones((len(xz), 1)), np.ones((len(xz_test), 1))
    y = np.asarray(y_train, dtype=np.float64)
    out = np.empty((len(x_test), y.shape[1]))
    for unit in range(y.shape[1]):
        mean, std = y[:, unit].mean(), y[:, unit].std(ddof=1)
        if std == 0:
            out[:, unit] = mean
            continue
        target = (y[:, unit] - mean) / std
        r = xz.T @ target / (np.linalg.norm(xz, axis=0) * np.linalg.norm(target))
        chosen = np.argsort(-np.abs(r), kind="stable")[:n_voxels]
        a = np.hstack([xz[:, chosen], ones])
        w = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ target)
        out[:, unit] = (np.hstack([xz_test[:, chosen], ones_test]) @ w) * std + mean
    return out.astype(np.float32)


def _write_published(root: Path, info: Any, catalog: Catalog, test: np.ndarray,
                     decoded: dict[Subject, np.ndarray]) -> None:
    decoded = dict(decoded)
    decoded[AVERAGED] = np.mean(list(decoded.values()), axis=0, dtype=np.float64).astype(np.float32)
    files: dict[Kind, dict] = {Kind.TRUE: {}, Kind.DECODED: {}, Kind.ACCURACY: {}, Kind.RANK: {}}
    for row, image in enumerate(catalog.test_image_ids):
        files[Kind.TRUE][(None, image)] = test[row]
        for subject, values in decoded.items():
            files[Kind.DECODED][(subject, image)] = values[row]
    for subject, values in decoded.items():
        accuracy = _pearson_per_unit(values, test)
        files[Kind.ACCURACY][(subject, None)] = accuracy
        files[Kind.RANK][(subject, None)] = _rank_descending(accuracy)
    flavour = "v5" if info.network is Network.ALEXNET else "v7.3"
    for kind, members in files.items():
        _write_zip(root, kind, info, members, flavour, hwc=False)


def _serve(root: Path, path: Path, registry_name: str) -> None:
    """Make ``path`` reachable as ``files/<figshare id>`` of the registry row."""
    file_id = default_registry().get(registry_name).remote_path.rsplit("/", 1)[-1]
    served = root / "files" / file_id
    served.unlink(missing_ok=True)
    try:
        os.link(path, served)
    except OSError:
        shutil.copyfile(path, served)
