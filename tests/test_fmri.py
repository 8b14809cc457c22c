"""load_fmri / read_fmri on GOD-like BData files (bdpy-written golden, ours, legacy, MATLAB)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import brainfeat
from brainfeat.catalog import Split, default_catalog
from brainfeat.demo.server import serve_folder
from brainfeat.errors import FormatError, IntegrityError, UnknownNameError
from brainfeat.fmri.preprocessed import read_fmri
from brainfeat.io.bdata import BData, BDataBuilder, read_bdata, write_bdata
from brainfeat.stimuli import name_to_id

GOLDEN = Path(__file__).parent / "golden" / "bdata" / "bdpy_god_like.h5"
N_VOXELS = 30
ROI_MEMBERS = {"V1": range(0, 8), "V2": range(8, 14), "V4": range(14, 18), "LOC": range(18, 24),
               "FFA": range(20, 26), "PPA": range(26, 30)}


def god_like(seed: int = 0, *, test_repeats: int = 3, id_key: str = "stimulus_id"):
    """A small Subject*.h5-like BData: 10 training, 50 x test_repeats test (shuffled), 2 x 50 imagery."""
    catalog = default_catalog()
    rng = np.random.default_rng(seed)
    train = list(catalog.training_image_ids[:10])
    test = [name for _ in range(test_repeats) for name in rng.permutation(catalog.test_image_ids)]
    imagery = [name for _ in range(2) for name in rng.permutation(catalog.imagery_categories)]
    ids = [name_to_id(n) for n in train + test] + [float(int(c[1:])) for c in imagery]
    types = [1] * len(train) + [2] * len(test) + [3] * len(imagery)
    runs = [1 + i // 5 for i in range(len(train))] + [1 + i // 50 for i in range(len(test))] + \
           [1 + i // 25 for i in range(len(imagery))]
    builder = BDataBuilder()
    builder.add(rng.normal(size=(len(ids), N_VOXELS)), "VoxelData")
    builder.add(np.array(types, float), "DataType")
    builder.add(np.array(runs, float), "Run")
    builder.add(np.array(ids), id_key)
    for roi, members in ROI_MEMBERS.items():
        row = np.zeros(N_VOXELS)
        row[list(members)] = 1
        builder.add_metadata(f"ROI_{roi}", row, f"1 = ROI {roi}", where="VoxelData")
    builder.add_metadata("ROI_VC", np.ones(N_VOXELS), "1 = ROI VC", where="VoxelData")
    for axis in "xyz":
        builder.add_metadata(f"voxel_{axis}", rng.integers(-60, 60, N_VOXELS).astype(float), "", where="VoxelData")
    return builder.build(), train, test, imagery


@pytest.fixture(scope="module")
def subject_file(tmp_path_factory):
    bdata, train, test, imagery = god_like()
    path = write_bdata(tmp_path_factory.mktemp("fmri") / "Subject1.h5", bdata)
    return path, bdata, train, test, imagery


def test_training_split(subject_file):
    path, bdata, train, _, _ = subject_file
    fmri = read_fmri(path, "S1", "V1", "train")
    types = bdata.get("DataType")[:, 0]
    voxels = (bdata.metadata("VoxelData") == 1) & (bdata.metadata("ROI_V1") == 1)
    np.testing.assert_array_equal(fmri.X, bdata.dataset[types == 1][:, voxels].astype(np.float32))
    assert fmri.X.dtype == np.float32 and fmri.X.shape == (10, 8)
    assert fmri.stimulus_names == tuple(train)
    assert fmri.runs.tolist() == [1] * 5 + [2] * 5
    assert (fmri.subject, fmri.roi, fmri.split) == (brainfeat.Subject(1), "V1", Split.TRAIN)
    expected_xyz = np.stack([bdata.metadata(f"voxel_{a}")[voxels] for a in "xyz"], axis=1)
    assert len({tuple(column) for column in expected_xyz.T}) == 3  # x, y, z tell apart
    np.testing.assert_array_equal(fmri.voxel_xyz, expected_xyz)


def test_hv4_is_read_from_roi_v4_and_vc_from_roi_vc(subject_file):
    path, *_ = subject_file
    assert read_fmri(path, 1, "hV4", "test").n_voxels == 4
    assert read_fmri(path, 1, "V4", "test").roi == "hV4"
    assert read_fmri(path, 1, "VC", "imagery").n_voxels == N_VOXELS


def test_test_split_averaged_in_published_order(subject_file):
    path, _, _, test, _ = subject_file
    every = read_fmri(path, "S1", "FFA", "test")
    assert every.stimulus_names == tuple(test) and every.n_samples == 150
    averaged = read_fmri(path, "S1", "FFA", "test", average_repeats=True)
    order = default_catalog().test_image_ids
    assert averaged.stimulus_names == order and (averaged.runs == -1).all()
    names = np.array(every.stimulus_names)
    for row in (0, 17, 49):
        np.testing.assert_allclose(averaged.X[row], every.X[names == order[row]].mean(axis=0), rtol=1e-6)


def test_imagery_category_ids_become_synsets(subject_file):
    path, _, _, _, imagery = subject_file
    fmri = read_fmri(path, "S1", "PPA", "imagery")
    assert fmri.stimulus_names == tuple(imagery)
    averaged = read_fmri(path, "S1", "PPA", "imagery", average_repeats=True)
    assert averaged.stimulus_names == default_catalog().imagery_categories
    names = np.array(fmri.stimulus_names)
    np.testing.assert_allclose(averaged.X[3], fmri.X[names == averaged.stimulus_names[3]].mean(axis=0), rtol=1e-6)


@pytest.mark.parametrize("flavour", ["legacy", "matlab"])
def test_legacy_label_and_matlab_files_give_the_same_samples(tmp_path, subject_file, flavour):
    path, *_ = subject_file
    bdata, *_ = god_like(id_key="Label")
    other = write_bdata(tmp_path / "Subject1.h5", bdata, flavour=flavour)
    for split in ("train", "test", "imagery"):
        a, b = read_fmri(path, "S1", "LOC", split), read_fmri(other, "S1", "LOC", split)
        np.testing.assert_array_equal(a.X, b.X)
        assert a.stimulus_names == b.stimulus_names


def test_the_file_written_by_bdpy(tmp_path):
    golden = read_bdata(GOLDEN)
    fmri = read_fmri(GOLDEN, "S2", "V1", "train")
    types = golden.get("DataType")[:, 0]
    np.testing.assert_array_equal(fmri.X, golden.get("VoxelData", "ROI_V1")[types == 1].astype(np.float32))
    assert fmri.stimulus_names == ("n01518878_10042", "n01518878_12028", "n01621127_19020", "n03626115_19498")


def test_errors(subject_file, tmp_path):
    path, bdata, *_ = subject_file
    with pytest.raises(UnknownNameError, match="Unknown ROI 'IPS'"):
        read_fmri(path, "S1", "IPS")
    with pytest.raises(UnknownNameError, match="Unknown subject 'S6'"):
        read_fmri(path, "S6")
    with pytest.raises(UnknownNameError, match="Averaged pseudo-subject has no fMRI"):
        read_fmri(path, "Averaged")
    with pytest.raises(UnknownNameError, match="average_repeats applies to split 'test' or 'imagery'"):
        read_fmri(path, "S1", "VC", "train", average_repeats=True)
    with pytest.raises(UnknownNameError, match="Unknown split"):
        read_fmri(path, "S1", "VC", "rest")
    with pytest.raises(FormatError, match="has no 'ROI_HVC' metadata"):
        read_fmri(path, "S1", "HVC")
    few, *_ = god_like(test_repeats=1)
    rows = np.ones(len(few.dataset), bool)
    rows[10] = False  # drop one test sample: its image can no longer be averaged
    write_bdata(tmp_path / "few.h5", BData(few.dataset[rows], few.keys, few.descriptions, few.values))
    with pytest.raises(IntegrityError, match="no test sample of n"):
        read_fmri(tmp_path / "few.h5", "S1", "VC", "test", average_repeats=True)


def _altered(bdata: BData, *, key: str | None = None, row: int = 0, value: float = np.nan,
             mark: tuple[str, int, float] | None = None) -> BData:
    """``bdata`` with one label cell (``key`` at ``row``) or one metadata mark changed."""
    dataset, values = bdata.dataset.copy(), bdata.values.copy()
    if key is not None:
        dataset[row, bdata.columns(key)] = value
    if mark is not None:
        name, column, new = mark
        values[bdata.keys.index(name), column] = new
    return BData(dataset, bdata.keys, bdata.descriptions, values)


FAULTS = {  # case: (change, split, expected message)
    "NaN run": ({"key": "Run", "row": 3}, "train", r"1 sample\(s\) have a Run that is not a whole"),
    "fractional run": ({"key": "Run", "row": 3, "value": 1.5}, "train", r"Run .*row 3: 1.5"),
    "NaN data type": ({"key": "DataType", "row": 12}, "test", r"DataType .*row 12: nan"),
    "negative id": ({"key": "stimulus_id", "row": 2, "value": -1.0}, "train",
                    r"sample's stimulus id: Stimulus id -1.0 is not a finite number from 0"),
    "id without image": ({"key": "stimulus_id", "row": 2, "value": 1970164.0}, "train",
                         r"id 1970164.0, which names no image"),
    "ROI mark 2": ({"mark": ("ROI_V1", 2, 2.0)}, "train", r"ROI_V1 marks 1 voxel\(s\) with \[2.0\]"),
    "ROI mark 0.5": ({"mark": ("ROI_V1", 2, 0.5)}, "train", r"ROI_V1 marks 1 voxel\(s\) with \[0.5\]"),
    "ROI without voxels": ({"mark": ("ROI_V1", slice(None), 0.0)}, "train", r"ROI_V1 marks no voxel"),
}


@pytest.mark.parametrize("case", sorted(FAULTS))
def test_damaged_labels_and_marks_are_refused(subject_file, tmp_path, case):
    _, bdata, *_ = subject_file
    change, split, message = FAULTS[case]
    path = write_bdata(tmp_path / "Subject1.h5", _altered(bdata, **change))
    with pytest.raises(FormatError, match=message) as error:
        read_fmri(path, "S1", "V1", split, average_repeats=split == "test")
    assert str(path) in str(error.value) and "etch" in str(error.value)


def test_a_test_image_with_fewer_repeats_is_refused(tmp_path):
    bdata, *_ = god_like(test_repeats=3)
    types = bdata.get("DataType")[:, 0]
    rows = np.ones(len(types), bool)
    rows[np.flatnonzero(types == 2)[7]] = False  # one image now has 2 repeats, the others 3
    path = write_bdata(tmp_path / "Subject1.h5",
                       BData(bdata.dataset[rows], bdata.keys, bdata.descriptions, bdata.values))
    with pytest.raises(IntegrityError, match=r"have 2 to 3 samples each.*fetch the file again"):
        read_fmri(path, "S1", "VC", "test", average_repeats=True)


def test_load_fmri_checks_names_before_any_download():
    with pytest.raises(UnknownNameError, match="Unknown subject"):
        brainfeat.load_fmri("S0")
    with pytest.raises(UnknownNameError, match="Unknown ROI"):
        brainfeat.load_fmri("S1", "MT")
    with pytest.raises(UnknownNameError, match="average_repeats applies to split 'test'"):
        brainfeat.load_fmri("S1", "VC", "train", average_repeats=True)


def test_cli_fmri_summary(subject_file, capsys):
    from brainfeat.cli import main

    path, *_ = subject_file
    assert main(["fmri", "S1", "--file", str(path), "--roi", "V2", "--split", "test", "--average-repeats"]) == 0
    printed = capsys.readouterr().out
    assert "S1 V2 test: 50 samples x 6 voxels, 50 distinct stimuli" in printed
    assert main(["fmri", "S1", "--file", str(path), "--roi", "MT"]) == 2
    assert "Unknown ROI 'MT'" in capsys.readouterr().err


def test_load_fmri_through_the_download_path(monkeypatch, tmp_path, subject_file):
    """load_fmri fetches Subject1.h5 from a figshare mirror on 127.0.0.1, then reads it."""
    path, *_ = subject_file
    served = tmp_path / "mirror" / "files"
    served.mkdir(parents=True)
    (served / "24080120").write_bytes(path.read_bytes())  # Subject1.h5's figshare file id
    with serve_folder(served.parent) as url:
        monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={url}")
        fmri = brainfeat.load_fmri("sub-01", "LOC", "test", average_repeats=True, data_dir=tmp_path / "data")
    expected = read_fmri(path, "S1", "LOC", "test", average_repeats=True)
    np.testing.assert_array_equal(fmri.X, expected.X)
    assert fmri.stimulus_names == default_catalog().test_image_ids
    again = brainfeat.load_fmri(1, "LOC", "test", data_dir=tmp_path / "data", download=False)
    assert again.n_samples == 150
