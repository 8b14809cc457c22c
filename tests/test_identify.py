"""``identify`` and ``brainfeat identify`` on a served replica."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from served_replica import small_downstream_replica

import brainfeat
from brainfeat.cli import main
from brainfeat.errors import (
    DataNotFoundError, FormatError, InvalidValueError, ShapeMismatchError, UnknownNameError)
from brainfeat.evaluation.identification import pairwise_identification
from brainfeat.evaluation.identify import identify


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    yield from small_downstream_replica(tmp_path_factory)


@pytest.fixture
def replica(served, monkeypatch: pytest.MonkeyPatch):
    """(catalog, replica folder, options for brainfeat.load) with the mirror set."""
    catalog, url, root = served
    monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={url}")
    return catalog, root, {"data_dir": root / "data", "catalog": catalog, "progress": False}


def _feature_file(path: Path, model: str, layer: str, values: np.ndarray, ids) -> Path:
    """A minimal file in the layout of brainfeat.features.extract."""
    with h5py.File(path, "w") as handle:
        handle.attrs["model"] = model
        handle.attrs["layers"] = json.dumps([layer])
        handle.create_dataset("image_ids", data=np.array(ids, dtype=object),
                              dtype=h5py.string_dtype())
        handle.create_dataset("batches_done", data=np.ones(1, bool))
        dataset = handle.create_group("layers").create_dataset(layer, data=values)
        dataset.attrs["unit_shape"] = np.array([values.shape[1]])
    return path


def test_pairwise_per_subject_and_layer(replica) -> None:
    _, _, options = replica
    result = identify("AlexNet", ["fc8", "conv1"], ["S2", "Averaged"], **options)
    assert result.scores.shape == (2, 2, 50) and result.chance == 0.5
    true = brainfeat.load("true", "AlexNet", "conv1", **options)
    decoded = brainfeat.load("decoded", "AlexNet", "conv1", "Averaged", **options)
    np.testing.assert_array_equal(result.scores[1, 1],
                                  pairwise_identification(decoded.values, true.values))
    table = result.table()
    assert list(table.index) == ["S2", "Averaged"] and list(table.columns) == ["fc8", "conv1"]
    assert table.loc["Averaged", "conv1"] == pytest.approx(result.scores[1, 1].mean())
    frame = result.to_frame()
    assert len(frame) == 200 and set(frame["method"]) == {"pairwise"}
    row = frame[(frame["subject"] == "S2") & (frame["layer"] == "conv1")].iloc[7]
    assert row["image"] == decoded.image_ids[7] and row["score"] == result.scores[0, 1, 7]
    assert "chance level: 0.500" in result.format_table()


def test_nway_chance_and_category_against_single_image_categories(replica) -> None:
    _, _, options = replica
    nway = identify("VGG19", ["fc8"], ["S1"], method="nway", n_way=5, top_k=2, **options)
    assert nway.chance == 0.4 and "5-way top-2" in nway.description
    # each test category holds one image, so its category average is the image's features
    true = brainfeat.load("true", "VGG19", "fc8", **options)
    synsets = [image.split("_")[0] for image in true.image_ids]
    category = identify("VGG19", ["fc8"], ["S1", "S3"], method="category",
                        candidates=(true.values, synsets), **options)
    pairwise = identify("VGG19", ["fc8"], ["S1", "S3"], **options)
    np.testing.assert_array_equal(category.scores, pairwise.scores)


def test_category_candidates_from_a_features_file(replica, tmp_path: Path) -> None:
    _, _, options = replica
    true = brainfeat.load("true", "AlexNet", "fc8", **options)
    # two images per category: the test image and a shifted copy average to true + 1
    ids = [*true.image_ids, *(f"{i.split('_')[0]}_999" for i in true.image_ids)]
    values = np.vstack([true.values, true.values + 2]).astype(np.float32)
    path = _feature_file(tmp_path / "f.h5", "AlexNet", "fc8", values, ids)
    found = identify("AlexNet", ["fc8"], ["S1"], method="category", candidates=path, **options)
    expected = identify("AlexNet", ["fc8"], ["S1"], **options)  # correlation ignores +1
    np.testing.assert_allclose(found.scores, expected.scores)
    other = _feature_file(tmp_path / "g.h5", "VGG19", "fc8", values, ids)
    with pytest.raises(FormatError, match="'VGG19', not AlexNet"):
        identify("AlexNet", ["fc8"], ["S1"], method="category", candidates=other, **options)
    narrow = _feature_file(tmp_path / "h.h5", "AlexNet", "fc8", values[:, :30], ids)
    with pytest.raises(ShapeMismatchError, match="30 units per row .* have 40"):
        identify("AlexNet", ["fc8"], ["S1"], method="category", candidates=narrow, **options)
    with pytest.raises(DataNotFoundError, match="nothere.h5"):
        identify("AlexNet", ["fc8"], ["S1"], method="category",
                 candidates=tmp_path / "nothere.h5", **options)


@pytest.mark.parametrize("kwargs, named", [
    (dict(layers=["fc9"]), "fc9"),
    (dict(subjects=["S9"]), "S9"),
    (dict(method="rank"), "'rank'"),
])
def test_identify_refuses_bad_names(replica, kwargs, named) -> None:
    _, _, options = replica
    with pytest.raises(UnknownNameError, match=named):
        identify("AlexNet", **{"layers": ["fc8"], **kwargs}, **options)


@pytest.mark.parametrize("kwargs", [dict(method="category"), dict(candidates="x.h5")])
def test_candidates_go_with_the_category_method(replica, kwargs) -> None:
    _, _, options = replica
    with pytest.raises(InvalidValueError, match="candidates= is needed by method='category'"):
        identify("AlexNet", **{"layers": ["fc8"], **kwargs}, **options)


def test_cli_prints_the_table_and_writes_csv(replica, tmp_path: Path, capsys) -> None:
    _, root, options = replica
    out = tmp_path / "scores.csv"
    common = ["--catalog", str(root / "catalog.json"), "--data-dir", str(options["data_dir"]),
              "--no-progress"]
    assert main(["identify", "AlexNet", "--layer", "fc8", "--layer", "conv1", "--subject", "S1",
                 "--method", "nway", "--n-way", "4", "--csv", str(out), *common]) == 0
    printed = capsys.readouterr().out
    assert "AlexNet nway identification (4-way top-1, 100 draws, seed 0)" in printed
    assert "chance level: 0.250" in printed and printed.count("\nS1 ") == 1
    frame = pd.read_csv(out)
    assert len(frame) == 100 and set(frame["layer"]) == {"fc8", "conv1"}
    assert main(["identify", "AlexNet", "--layer", "conv7", *common]) == 2
    assert "conv7" in capsys.readouterr().err
