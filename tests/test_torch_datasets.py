"""brainfeat.torch datasets through real DataLoaders with workers, shuffling and batching."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
from served_replica import small_downstream_replica

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

import brainfeat  # noqa: E402
from brainfeat.demo.server import serve_folder  # noqa: E402
from brainfeat.errors import (  # noqa: E402
    InvalidValueError, ShapeMismatchError, UnknownNameError)
from brainfeat.io.bdata import write_bdata  # noqa: E402
from brainfeat.torch import DecodedFeatures, FMRISamples, ZScore  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    yield from small_downstream_replica(tmp_path_factory)


@pytest.fixture
def options(served, monkeypatch: pytest.MonkeyPatch):
    catalog, url, root = served
    monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={url}")
    return {"data_dir": root / "data", "catalog": catalog, "progress": False}


def test_decoded_features_through_a_shuffling_loader_with_workers(options) -> None:
    dataset = DecodedFeatures("AlexNet", ["conv1", "fc8"], ["S1", "S3"], **options)
    assert len(dataset) == 100
    expected = {(s, layer): brainfeat.load("decoded", "AlexNet", layer, s, **options).values
                for s in ("S1", "S3") for layer in ("conv1", "fc8")}
    true = brainfeat.load("true", "AlexNet", "conv1", **options)
    item = dataset[57]  # subject-major: S3, image 7
    assert (item["subject"], item["image_index"], item["image_id"]) == (
        "S3", 7, true.image_ids[7])
    assert item["decoded"]["conv1"].shape == (8, 6, 6) and item["synset"] == true.image_ids[7][:9]
    loader = DataLoader(dataset, batch_size=8, shuffle=True, num_workers=2,
                        generator=torch.Generator().manual_seed(0))
    seen = []
    for batch in loader:
        assert batch["decoded"]["conv1"].shape[1:] == (8, 6, 6)
        for k, (subject, row) in enumerate(zip(batch["subject"], batch["image_index"].tolist())):
            seen.append((subject, row))
            for layer in ("conv1", "fc8"):
                np.testing.assert_array_equal(batch["decoded"][layer][k].reshape(-1).numpy(),
                                              expected[(subject, layer)][row])
            np.testing.assert_array_equal(batch["true"]["conv1"][k].reshape(-1).numpy(),
                                          true.values[row])
            assert batch["category_index"][k] == dataset.categories.index(
                true.image_ids[row].split("_")[0])
    assert sorted(seen) == sorted((s, r) for s in ("S1", "S3") for r in range(50))
    assert seen != sorted(seen)  # shuffled


def test_zscore_transform_uses_the_given_statistics(options) -> None:
    true = brainfeat.load("true", "VGG19", "fc8", **options).values
    mean, std = true.mean(axis=0), true.std(axis=0)
    std[3] = 0.0  # a constant unit is divided by 1, as the lab's decoders do
    dataset = DecodedFeatures("VGG19", "fc8", [2], transform=ZScore({"fc8": mean}, {"fc8": std}),
                              **options)
    item = dataset[4]
    np.testing.assert_allclose(item["true"]["fc8"].numpy(),
                               (true[4] - mean) / np.where(std == 0, 1, std), rtol=1e-6)
    with pytest.raises(ShapeMismatchError, match="39 units"):
        ZScore({"fc8": mean[:39]}, {"fc8": std[:39]})(item)
    with pytest.raises(UnknownNameError, match="'fc8'"):
        ZScore({"fc7": mean}, {"fc7": std})(item)


@pytest.mark.parametrize("call, named", [
    (dict(layers=["conv9"]), "conv9"),
    (dict(layers=["fc8"], subjects=["S8"]), "S8"),
    (dict(layers=["fc8"], split="train"), "test images only"),
])
def test_decoded_features_refuse_unknown_names(options, call, named) -> None:
    with pytest.raises(UnknownNameError, match=named):
        DecodedFeatures("AlexNet", **call, **options)


# -- fMRI samples -------------------------------------------------------------------------

def _feature_file(path: Path, ids: list[str], values: np.ndarray, unit_shape) -> Path:
    """A file in the layout of brainfeat.features.extract, one layer ``fc``."""
    with h5py.File(path, "w") as handle:
        handle.attrs["model"] = "AlexNet"
        handle.attrs["layers"] = json.dumps(["fc"])
        handle.create_dataset("image_ids", data=np.array(ids, dtype=object),
                              dtype=h5py.string_dtype())
        handle.create_dataset("batches_done", data=np.ones(1, bool))
        layer = handle.create_group("layers").create_dataset("fc", data=values)
        layer.attrs["unit_shape"] = np.array(unit_shape)
    return path


@pytest.fixture
def fmri_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from test_fmri import god_like

    bdata, train, test, _ = god_like()
    served = tmp_path / "mirror" / "files"
    served.mkdir(parents=True)
    write_bdata(served / "24080120", bdata)  # Subject1.h5's figshare file id
    ids = [*train[::-1], "n01443537_1", "n01443537_2"]  # other order, extra images
    values = np.random.default_rng(2).normal(size=(len(ids), 24)).astype(np.float32)
    features = _feature_file(tmp_path / "features.h5", ids, values, (2, 3, 4))
    with serve_folder(served.parent) as url:
        monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={url}")
        yield tmp_path / "data", features, dict(zip(ids, values)), train


def test_fmri_samples_pair_voxels_with_features_in_workers(fmri_files) -> None:
    data_dir, features, by_name, train = fmri_files
    dataset = FMRISamples("S1", "V1", "train", features, "fc", data_dir=data_dir)
    fmri = brainfeat.load_fmri("S1", "V1", "train", data_dir=data_dir)
    assert len(dataset) == 10 and fmri.stimulus_names == tuple(train)
    voxels, target = dataset[3]  # opens the file in this process before the workers fork
    assert voxels.shape == (8,) and target.shape == (2, 3, 4)
    # what a spawned worker receives: a pickled copy, without the open file
    copy = pickle.loads(pickle.dumps(dataset))
    torch.testing.assert_close(copy[3][1], target)
    loader = DataLoader(dataset, batch_size=3, shuffle=True, num_workers=2,
                        generator=torch.Generator().manual_seed(1))
    rows = []
    for x, y in loader:
        for k in range(len(x)):
            row = int(np.flatnonzero((fmri.X == x[k].numpy()).all(axis=1))[0])
            rows.append(row)
            np.testing.assert_array_equal(y[k].reshape(-1).numpy(),
                                          by_name[fmri.stimulus_names[row]])
    assert sorted(rows) == list(range(10))


def test_fmri_samples_averaged_test_and_bad_input(fmri_files) -> None:
    data_dir, features, _, _ = fmri_files
    averaged = FMRISamples(1, "VC", "test", average_repeats=True, data_dir=data_dir,
                           transform=lambda x: 2 * x)
    single = FMRISamples(1, "VC", "test", data_dir=data_dir)
    assert len(averaged) == 50 and len(single) == 150
    voxels, name = averaged[0]
    assert name == brainfeat.default_catalog().test_image_ids[0]
    repeats = [single[i][0] for i in range(150) if single[i][1] == name]
    assert len(repeats) == 3
    torch.testing.assert_close(voxels, 2 * torch.stack(repeats).mean(0))
    with pytest.raises(InvalidValueError, match="together"):
        FMRISamples(1, "VC", "train", features, data_dir=data_dir)
    with pytest.raises(InvalidValueError, match="labelled by category"):
        FMRISamples(1, "VC", "imagery", features, "fc", data_dir=data_dir)
    with pytest.raises(UnknownNameError, match="No layer 'fc9'"):
        FMRISamples(1, "VC", "train", features, "fc9", data_dir=data_dir)
    with pytest.raises(UnknownNameError, match="50 stimuli of S1 test are not in"):
        FMRISamples(1, "VC", "test", features, "fc", average_repeats=True, data_dir=data_dir)
