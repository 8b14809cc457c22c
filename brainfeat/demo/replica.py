"""A miniature, SYNTHETIC replica of the published figshare files.

The replica has exactly the published layout — the zip names
``decodedDNN-<kind>-<net>-<layer>.zip``, members under a ``decodedDNN/`` component, the .mat
variables ``feat``/``accuracy``/``rank`` in both .mat flavours, the real 50 test image ids —
but small unit grids and random numbers. Each zip is also reachable as ``files/<figshare id>``
so a local HTTP server over the replica folder answers the registry's own URLs; the
replica's :class:`~brainfeat.catalog.Catalog` is written beside it as ``catalog.json``.

Its numbers mean nothing; its accuracy files are the per-unit Pearson correlation of its
decoded and true features across the 50 images (``Averaged`` = mean of the subjects'
decoded features, then scored), and its rank files rank units by accuracy (1 = best, NaN
where the accuracy is NaN).
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from brainfeat.catalog import (
    AVERAGED, Catalog, Kind, LayerInfo, Network, Subject, default_catalog)
from brainfeat.io.mat import MatFlavour, mat_bytes
from brainfeat.published import published_path, variable_name
from brainfeat.remote.api import ARCHIVE_ROOT
from brainfeat.remote.registry import default_registry, layer_archive_name

__all__ = ["CATALOG_FILE", "replica_catalog", "write_replica"]

CATALOG_FILE = "catalog.json"
LABEL = "SYNTHETIC replica of the Horikawa et al. (2019) figshare files - numbers mean nothing"

#: The default miniature grid of each replicated layer.
_SMALL_LAYERS = {
    (Network.ALEXNET, "conv1"): (8, 6, 6),
    (Network.ALEXNET, "fc8"): (40,),
    (Network.VGG19, "conv1_1"): (4, 7, 7),
    (Network.VGG19, "fc8"): (40,),
}
#: .mat flavour used for each network (both flavours appear in every default replica).
_FLAVOURS: dict[Network, MatFlavour] = {Network.ALEXNET: "v5", Network.VGG19: "v7.3"}


def replica_catalog(layers: Mapping[tuple[Network, str], tuple[int, ...]] | None = None,
                    n_subjects: int = 5) -> Catalog:
    """The catalog of a miniature replica: real image ids and run table, small layers.

    Parameters
    ----------
    layers : mapping of (Network, layer name) to unit shape, optional
        Layers to replicate; names must be published layer names. Defaults to AlexNet
        conv1/fc8 and VGG19 conv1_1/fc8 with small grids.
    n_subjects : int
        Number of subjects (S1..Sn).

    Returns
    -------
    Catalog
        ``synthetic=True``, named as a synthetic replica.
    """
    layers = dict(layers or _SMALL_LAYERS)
    published = default_catalog()
    for network, name in layers:
        published.layer(network, name)  # an error names the valid layers
    return replace(
        published, name=LABEL, synthetic=True,
        layers=tuple(LayerInfo(Network.parse(n), name, tuple(shape))
                     for (n, name), shape in layers.items()),
        subjects=tuple(Subject(n) for n in range(1, n_subjects + 1)),
    )


def write_replica(root: str | os.PathLike[str], catalog: Catalog | None = None, *,
                  seed: int = 0, flavours: Mapping[Network, MatFlavour] | None = None,
                  hwc_layers: Iterable[str] = (), kinds: Iterable[Kind | str] | None = None,
                  ) -> Catalog:
    """Write a synthetic replica of the figshare decodedDNN files into ``root``.

    Parameters
    ----------
    root : path-like
        Folder to write (created; existing replica files are overwritten).
    catalog : Catalog, optional
        Layers, unit shapes, subjects and image ids to replicate; defaults to
        :func:`replica_catalog`. Layer names must be published ones (they pick the zip
        names and figshare ids).
    seed : int
        Seed of the random numbers.
    flavours : mapping of Network to {"v5", "v7.3"}, optional
        .mat flavour per network; defaults to v5 for AlexNet and v7.3 for VGG19.
    hwc_layers : iterable of str
        Conv layers whose feature files are stored as (H, W, C) instead of channel-major
        (to exercise the loader's normalisation).
    kinds : iterable of Kind, optional
        Kinds whose zips are written; defaults to all four.

    Returns
    -------
    Catalog
        The replica's catalog (also written to ``root/catalog.json``).
    """
    root = Path(root)
    catalog = catalog or replica_catalog()
    flavours = {**_FLAVOURS, **(flavours or {})}
    hwc = set(hwc_layers)
    wanted = set(Kind) if kinds is None else {Kind.parse(k) for k in kinds}
    rng = np.random.default_rng(seed)
    (root / "files").mkdir(parents=True, exist_ok=True)
    (root / "README.txt").write_text(
        f"{LABEL}.\nWritten by brainfeat.demo.replica.write_replica(seed={seed}).\n"
        f"Catalog: {CATALOG_FILE}. Zips are also served as files/<figshare id>.\n",
        encoding="utf-8")
    (root / CATALOG_FILE).write_text(catalog.to_json(), encoding="utf-8")
    for info in catalog.layers:
        arrays = _layer_arrays(info, catalog, rng)
        flavour = flavours[info.network]
        for kind, files in arrays.items():
            if kind in wanted:
                _write_zip(root, kind, info, files, flavour, info.name in hwc)
    return catalog


def _layer_arrays(info: LayerInfo, catalog: Catalog, rng: np.random.Generator,
                  ) -> dict[Kind, dict[tuple[Subject | None, str | None], np.ndarray]]:
    """All arrays of one layer: ``{kind: {(subject, image): array (n_units,)}}``."""
    n_images = len(catalog.test_image_ids)
    true = rng.normal(size=(n_images, info.n_units)).astype(np.float32)
    true[:, 0] = 1.0  # one unit with constant true values: its accuracy is NaN
    quality = rng.uniform(0.0, 0.9, size=info.n_units)
    decoded = {}
    for subject in catalog.subjects:
        noise = rng.normal(size=true.shape)
        decoded[subject] = (quality * true + np.sqrt(1 - quality**2) * noise).astype(np.float32)
    decoded[AVERAGED] = np.mean(list(decoded.values()), axis=0, dtype=np.float64).astype(np.float32)
    arrays: dict[Kind, dict] = {Kind.TRUE: {}, Kind.DECODED: {}, Kind.ACCURACY: {}, Kind.RANK: {}}
    for row, image in enumerate(catalog.test_image_ids):
        arrays[Kind.TRUE][(None, image)] = true[row]
        for subject, values in decoded.items():
            arrays[Kind.DECODED][(subject, image)] = values[row]
    for subject, values in decoded.items():
        accuracy = _pearson_per_unit(values, true)
        arrays[Kind.ACCURACY][(subject, None)] = accuracy
        arrays[Kind.RANK][(subject, None)] = _rank_descending(accuracy)
    return arrays


def _pearson_per_unit(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    pred = pred.astype(np.float64) - pred.mean(axis=0, dtype=np.float64)
    true = true.astype(np.float64) - true.mean(axis=0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pred * true).sum(axis=0) / np.sqrt((pred**2).sum(axis=0) * (true**2).sum(axis=0))


def _rank_descending(accuracy: np.ndarray) -> np.ndarray:
    rank = np.full(accuracy.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(accuracy))
    order = finite[np.argsort(-accuracy[finite], kind="stable")]
    rank[order] = np.arange(1, order.size + 1)
    return rank


def _write_zip(root: Path, kind: Kind, info: LayerInfo,
               files: Mapping[tuple[Subject | None, str | None], np.ndarray],
               flavour: MatFlavour, hwc: bool) -> None:
    name = layer_archive_name(kind, info.network, info.name)
    with zipfile.ZipFile(root / name, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for (subject, image), values in files.items():
            member = f"{ARCHIVE_ROOT}/{published_path(kind, info.network, info.name, subject, image)}"
            array = values.reshape(info.unit_shape)
            if hwc and info.is_conv:
                array = array.transpose(1, 2, 0)
            if kind.per_image and flavour == "v5":
                array = array[np.newaxis]  # a leading sample axis, squeezed by the loader
            archive.writestr(member, mat_bytes(variable_name(kind), array, flavour))
    file_id = default_registry().get(name).remote_path.rsplit("/", 1)[-1]
    served = root / "files" / file_id
    served.unlink(missing_ok=True)
    try:
        os.link(root / name, served)
    except OSError:
        shutil.copyfile(root / name, served)
