"""brainfeat's readers against published-layout files written by MATLAB-file writers alone.

``tests/golden/published/{v5,v7.3}/decodedDNN/`` was written by
``scripts/golden_published_layout.py`` with scipy (MATLAB v5) and hdf5storage (MATLAB v7.3),
without brainfeat. Every value encodes where it belongs (kind, subject, image row, unit), so
a row shifted by one image, a unit grid read in the wrong order or a subject mixed up fails
value by value. The files are zipped as figshare's ``decodedDNN-<kind>-<net>-<layer>.zip``
and served from 127.0.0.1, so they are read through the real fetch and load path.
"""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import brainfeat
from brainfeat.catalog import Network
from brainfeat.demo.replica import replica_catalog
from brainfeat.demo.server import serve_folder
from brainfeat.io.mat import read_mat_array
from brainfeat.remote.registry import default_registry, layer_archive_name

GOLDEN = Path(__file__).resolve().parent / "golden" / "published"
IMAGES = ("n01443537_22563", "n01621127_19020", "n01677366_18182")
GRIDS = {"conv1": (3, 2, 4), "fc8": (7,)}
KINDS = ("decoded", "true", "accuracy", "rank")
# what the writer put in the files (see the script's docstring)
FEAT_BASE = {None: 0.0, "S1": 100000.0, "Averaged": 900000.0}
SUBJECT_CODE = {"S1": 1, "Averaged": 2}


def expected_feat(subject: str | None, grid: tuple[int, ...]) -> np.ndarray:
    n_units = int(np.prod(grid))
    rows = np.arange(len(IMAGES))[:, None]
    return FEAT_BASE[subject] + 1000.0 * (rows + 1) + np.arange(n_units)[None, :]


def expected_accuracy(subject: str, grid: tuple[int, ...]) -> np.ndarray:
    values = (np.arange(int(np.prod(grid))) + 1) / 100 - 0.5 * SUBJECT_CODE[subject]
    values[1] = np.nan
    return values


def expected_rank(grid: tuple[int, ...]) -> np.ndarray:
    n_units = int(np.prod(grid))
    return n_units - np.arange(n_units, dtype=np.float64)


@pytest.fixture(params=["v5", "v7.3"])
def catalog(request, tmp_path, monkeypatch):
    """The golden files of one .mat flavour, zipped and served as the figshare mirror."""
    tree = GOLDEN / request.param
    (tmp_path / "files").mkdir()
    for kind in KINDS:
        for layer in GRIDS:
            folder = tree / "decodedDNN" / kind / "AlexNet" / layer
            name = layer_archive_name(kind, "AlexNet", layer)
            file_id = default_registry().get(name).remote_path.rsplit("/", 1)[-1]
            with zipfile.ZipFile(tmp_path / "files" / file_id, "w") as archive:
                for path in sorted(folder.rglob("*.mat")):
                    archive.write(path, path.relative_to(tree).as_posix())
    published = replica_catalog({(Network.ALEXNET, layer): grid for layer, grid in GRIDS.items()},
                                n_subjects=1)
    with serve_folder(tmp_path) as url:
        monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={url}")
        yield replace(published, test_image_ids=IMAGES)


@pytest.mark.parametrize("layer", list(GRIDS))
def test_features_are_read_value_by_value(catalog, layer) -> None:
    grid = GRIDS[layer]
    for subject in (None, "S1", "Averaged"):
        kind = "true" if subject is None else "decoded"
        loaded = brainfeat.load(kind, "AlexNet", layer, subject=subject, catalog=catalog,
                                progress=False)
        assert loaded.image_ids == IMAGES and loaded.unit_shape == grid
        assert loaded.values.dtype == np.float32
        np.testing.assert_array_equal(loaded.values, expected_feat(subject, grid),
                                      err_msg=f"{kind} {subject}")


@pytest.mark.parametrize("layer", list(GRIDS))
def test_accuracies_and_ranks_are_read_value_by_value(catalog, layer) -> None:
    grid = GRIDS[layer]
    for subject in ("S1", "Averaged"):
        accuracy = brainfeat.load("accuracy", "AlexNet", layer, subject=subject,
                                  catalog=catalog, progress=False)
        assert accuracy.unit_shape == grid and accuracy.subject.name == subject
        np.testing.assert_array_equal(accuracy.values, expected_accuracy(subject, grid))
        rank = brainfeat.load("rank", "AlexNet", layer, subject=subject, catalog=catalog,
                              progress=False)
        np.testing.assert_array_equal(rank.values, expected_rank(grid))


@pytest.mark.parametrize("flavour", ["v5", "v7.3"])
def test_read_mat_array_squeezes_the_sample_axis_and_keeps_channel_major(flavour) -> None:
    tree = GOLDEN / flavour / "decodedDNN"
    conv = read_mat_array(tree / "true/AlexNet/conv1/true-AlexNet-conv1-n01621127_19020.mat",
                          "feat")
    np.testing.assert_array_equal(conv, expected_feat(None, (3, 2, 4))[1].reshape(3, 2, 4))
    rank = read_mat_array(tree / "rank/AlexNet/fc8/rank-AlexNet-fc8-S1.mat", "rank")
    np.testing.assert_array_equal(rank, expected_rank((7,)))
