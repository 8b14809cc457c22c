"""Our BData reader against a file written by bdpy itself, and the legacy/MATLAB variants."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from brainfeat.errors import DataNotFoundError, FormatError, InvalidValueError, UnknownNameError
from brainfeat.io.bdata import BData, BDataBuilder, read_bdata, read_bdata_metadata, write_bdata

GOLDEN = Path(__file__).parent / "golden" / "bdata"


@pytest.fixture(scope="module")
def expected():
    with np.load(GOLDEN / "expected.npz") as data:
        return {k: data[k] for k in data.files}


def test_golden_file_written_by_bdpy(expected):
    bdata = read_bdata(GOLDEN / "bdpy_god_like.h5")
    np.testing.assert_array_equal(bdata.dataset, expected["dataset"])
    np.testing.assert_array_equal(bdata.values, expected["values"])
    assert bdata.keys == tuple(str(k) for k in expected["keys"])
    assert bdata.descriptions == tuple(str(d) for d in expected["descriptions"])
    assert bdata.vmap == {"DataType": {1.0: "training", 2.0: "test", 3.0: "imagery"}}
    assert isinstance(bdata.header["ctime"], str)
    v1 = bdata.get("VoxelData", "ROI_V1")
    voxels = expected["values"][list(bdata.keys).index("VoxelData")] == 1
    roi = expected["values"][list(bdata.keys).index("ROI_V1")] == 1
    np.testing.assert_array_equal(v1, expected["dataset"][:, voxels & roi])


def _matlab_style(path: Path, bdata: BData) -> None:
    """As MATLAB v7.3 leaves it: transposed arrays, strings as references to uint16 char arrays."""
    with h5py.File(path, "w") as f:
        f.create_dataset("dataSet", data=bdata.dataset.T)
        meta = f.create_group("metaData")
        meta.create_dataset("value", data=bdata.values.T)
        refs = f.create_group("#refs#")
        for field in ("key", "description"):
            texts = bdata.keys if field == "key" else bdata.descriptions
            handles = []
            for i, text in enumerate(texts):
                node = refs.create_dataset(f"{field}{i}", data=np.array([[ord(c)] for c in text], dtype=np.uint16))
                handles.append(node.ref)
            meta.create_dataset(field, data=np.array([handles], dtype=h5py.ref_dtype))


@pytest.mark.parametrize("flavour", ["bdpy", "legacy", "matlab", "matlab-references"])
def test_every_flavour_reads_back_the_same_content(tmp_path, flavour):
    original = read_bdata(GOLDEN / "bdpy_god_like.h5")
    path = tmp_path / f"{flavour}.h5"
    if flavour == "matlab-references":
        _matlab_style(path, original)
    else:
        write_bdata(path, original, flavour=flavour)
    with h5py.File(path) as f:
        assert ("dataset" in f) == (flavour == "bdpy")
        stored = f["dataset" if flavour == "bdpy" else "dataSet"].shape
        assert stored == (original.dataset.shape[::-1] if "matlab" in flavour else original.dataset.shape)
    again = read_bdata(path)
    np.testing.assert_array_equal(again.dataset, original.dataset)
    np.testing.assert_array_equal(again.values, original.values)
    assert (again.keys, again.descriptions) == (original.keys, original.descriptions)


def _square(n_samples: int, n_voxels: int, extra_keys: int) -> BData:
    """A BData with ``n_voxels + 1`` columns and ``2 + extra_keys`` keys, distinct values."""
    builder = BDataBuilder()
    builder.add(np.arange(n_samples * n_voxels, dtype=float).reshape(n_samples, n_voxels), "VoxelData")
    builder.add(100.0 + np.arange(n_samples), "Label")
    for i in range(extra_keys):
        builder.add_metadata(f"ROI_{i}", np.arange(n_voxels) % 2, "", where="VoxelData")
    return builder.build()


@pytest.mark.parametrize("flavour", ["bdpy", "legacy", "matlab", "matlab-references"])
@pytest.mark.parametrize("shape", [pytest.param((5, 4, 1), id="samples=columns"),
                                   pytest.param((3, 2, 1), id="samples=columns=keys"),
                                   pytest.param((4, 2, 1), id="columns=keys")])
def test_square_files_are_read_in_their_own_orientation(tmp_path, flavour, shape):
    original = _square(*shape)
    path = tmp_path / "square.h5"
    if flavour == "matlab-references":
        _matlab_style(path, original)
    else:
        write_bdata(path, original, flavour=flavour)
    again = read_bdata(path)
    np.testing.assert_array_equal(again.dataset, original.dataset)
    np.testing.assert_array_equal(again.values, original.values)
    np.testing.assert_array_equal(again.get("Label")[:, 0], 100.0 + np.arange(shape[0]))


@pytest.mark.parametrize("flavour", ["bdpy", "matlab"])
def test_reading_some_rows_and_columns(tmp_path, flavour):
    rng = np.random.default_rng(0)
    builder = BDataBuilder()
    builder.add(rng.normal(size=(700, 40)), "VoxelData")  # more rows than one read block
    builder.add(np.arange(700.0), "Run")
    builder.add_metadata("ROI_X", (np.arange(40) % 3 == 0).astype(float), "1 = ROI X", where="VoxelData")
    full = builder.build()
    path = write_bdata(tmp_path / "big.h5", full, flavour=flavour)
    meta = read_bdata_metadata(path)
    assert meta.dataset.shape == (0, 41) and meta.keys == ("VoxelData", "Run", "ROI_X")
    rows = (np.arange(700) % 5 == 1) | (np.arange(700) > 650)
    columns = meta.columns("VoxelData", "ROI_X")
    part = read_bdata(path, rows=rows, columns=columns)
    np.testing.assert_array_equal(part.dataset, full.dataset[rows][:, columns])
    np.testing.assert_array_equal(part.values, full.values[:, columns])
    assert part.get("ROI_X").shape == (rows.sum(), columns.sum())
    unsorted = read_bdata(path, rows=[600, 3, 300], columns=[40, 0])  # come back in file order
    np.testing.assert_array_equal(unsorted.dataset, full.dataset[[3, 300, 600]][:, [0, 40]])


@pytest.mark.parametrize("selection", [{"rows": [700]}, {"rows": [-1]}, {"columns": [0.5]},
                                       {"columns": [[0, 1]]}])
def test_selections_outside_the_file_are_refused(tmp_path, selection):
    path = write_bdata(tmp_path / "Subject1.h5", read_bdata(GOLDEN / "bdpy_god_like.h5"))
    with pytest.raises(InvalidValueError, match=f"{path}: (row|column) indices must be integers"):
        read_bdata(path, **selection)


def test_builder_marks_blocks_like_bdpy():
    builder = BDataBuilder()
    builder.add(np.ones((2, 3)), "VoxelData")
    builder.add(np.array([5.0, 6.0]), "Label")
    builder.add_metadata("voxel_x", np.array([1.0, 2.0, 3.0]), "x", where="VoxelData")
    bdata = builder.build()
    np.testing.assert_array_equal(bdata.metadata("VoxelData"), [1, 1, 1, np.nan])
    np.testing.assert_array_equal(bdata.metadata("Label"), [np.nan, np.nan, np.nan, 1])
    np.testing.assert_array_equal(bdata.metadata("voxel_x"), [1, 2, 3, np.nan])
    with pytest.raises(FormatError, match="has 3 samples, the others 2"):
        builder.add(np.ones((3, 1)), "Other")


def test_errors_name_the_file_and_what_was_expected(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_bdata(tmp_path / "Subject9.h5")
    (tmp_path / "text.h5").write_text("<html>not found</html>")
    with pytest.raises(FormatError, match="not a readable HDF5 file"):
        read_bdata(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("x", data=[1])
    with pytest.raises(FormatError, match=r"no /metadata or /metaData"):
        read_bdata(tmp_path / "other.h5")
    bad = read_bdata(GOLDEN / "bdpy_god_like.h5")
    broken = BData(bad.dataset[:, :-1], bad.keys, bad.descriptions, bad.values)
    write_bdata(tmp_path / "broken.h5", broken)
    with pytest.raises(FormatError, match=r"value array of shape \(9, 10\) and a dataset of shape \(12, 9\): expected"):
        read_bdata(tmp_path / "broken.h5")
    with pytest.raises(UnknownNameError, match="no metadata key 'ROI_V9'.*VoxelData"):
        bad.metadata("ROI_V9")
    with pytest.raises(UnknownNameError, match="flavour"):
        write_bdata(tmp_path / "x.h5", bad, flavour="mat")
