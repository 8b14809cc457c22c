"""Behaviour of brainfeat/io/ that mutation testing found unpinned (docs/mutation.md).

The ``.mat`` files ``mat_bytes`` writes, compared with what MATLAB and hdf5storage write (the
v7.3 user block, one ``MATLAB_class`` per numeric class, uncompressed v5); the string, header
and value-map layouts of BData files as bdpy and MATLAB leave them, read through
:func:`~brainfeat.io.bdata.read_bdata` and compared with h5py's own reading; row and column
selections; :class:`~brainfeat.io.bdata.BDataBuilder` against bdpy's rules; and the errors,
each naming the file or value and what to do.
"""

from __future__ import annotations

import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.io import loadmat, savemat
from scipy.io.matlab import matfile_version

from brainfeat.errors import (
    DataNotFoundError,
    FormatError,
    InvalidValueError,
    OutputLockedError,
    UnknownNameError,
)
from brainfeat.io.bdata import (
    BData,
    BDataBuilder,
    read_bdata,
    read_bdata_metadata,
    write_bdata,
)
from brainfeat.io.hdf5 import open_hdf5
from brainfeat.io.jobfile import (
    create_whole,
    exclusive_output,
    lock_path,
    open_to_resume,
    partial_path,
)
from brainfeat.io.mat import mat_bytes, read_mat_array, write_mat_array

GOLDEN = Path(__file__).parent / "golden"
# A v7.3 file written by hdf5storage (scripts/golden_published_layout.py), not by brainfeat.
HDF5STORAGE_V73 = (GOLDEN / "published" / "v7.3" / "decodedDNN" / "rank" / "AlexNet" / "fc8"
                   / "rank-AlexNet-fc8-S1.mat")

# MATLAB's class for each numpy dtype, as hdf5storage 0.1 (matlab_compatible) writes it; MATLAB
# has no half precision (hdf5storage refuses float16): brainfeat falls back to "double".
MATLAB_CLASSES = {"float64": "double", "float32": "single", "int8": "int8", "int16": "int16",
                  "int32": "int32", "int64": "int64", "uint8": "uint8", "uint16": "uint16",
                  "uint32": "uint32", "uint64": "uint64", "float16": "double"}


# -- .mat -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", sorted(MATLAB_CLASSES))
def test_v73_bytes_are_laid_out_as_matlab_writes_them(tmp_path, dtype) -> None:
    array = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    path = tmp_path / "feat.mat"
    path.write_bytes(mat_bytes("feat", array, "v7.3"))
    golden = HDF5STORAGE_V73.read_bytes()
    content = path.read_bytes()
    assert matfile_version(str(path)) == (2, 0)  # scipy reads the header as MATLAB v7.3
    assert content[:19] == golden[:19] == b"MATLAB 7.3 MAT-file"
    assert content[116:128] == golden[116:128]  # subsystem offset, version, endianness
    assert content[:116].rstrip(b" ").endswith(b"HDF5 schema 1.00 .")
    with h5py.File(path, "r") as handle:
        assert handle.userblock_size == 512 and list(handle) == ["feat"]
        stored = handle["feat"]
        assert stored.attrs["MATLAB_class"] == np.bytes_(MATLAB_CLASSES[dtype])
        assert stored.shape == (4, 3, 2) and stored.dtype == array.dtype
        np.testing.assert_array_equal(stored[()], array.transpose())
    found = read_mat_array(path, "feat")
    assert found.dtype == array.dtype
    np.testing.assert_array_equal(found, array)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int16", "uint8"])
def test_v5_bytes_are_an_uncompressed_matlab_file(tmp_path, dtype) -> None:
    array = (np.arange(6).reshape(2, 3) * 3 - 2).astype(dtype)
    path = write_mat_array(tmp_path / "accuracy.mat", "accuracy", array)
    content = path.read_bytes()
    assert content == mat_bytes("accuracy", array)
    assert matfile_version(str(path)) == (1, 0)
    assert struct.unpack("<I", content[128:132]) == (14,)  # miMATRIX: 15 would be compressed
    assert array.tobytes(order="F") in content
    read = loadmat(path)["accuracy"]
    assert read.dtype == array.dtype
    np.testing.assert_array_equal(read, array)


def test_an_unknown_mat_flavour_is_named(tmp_path) -> None:
    with pytest.raises(UnknownNameError, match=r"Unknown \.mat flavour 'v7': expected 'v5' or "
                                               r"'v7\.3'\."):
        write_mat_array(tmp_path / "x.mat", "feat", np.ones(2), "v7")  # type: ignore[arg-type]
    assert not (tmp_path / "x.mat").exists()


def _plain_hdf5(path: Path, array: np.ndarray, matlab_class: object | None) -> Path:
    with h5py.File(path, "w", userblock_size=512) as handle:
        dataset = handle.create_dataset("feat", data=array)
        if matlab_class is not None:
            dataset.attrs["MATLAB_class"] = matlab_class
    return path


@pytest.mark.parametrize("matlab_class", [None, "single", np.bytes_("single"), "logical"],
                         ids=["no class", "class as str", "class as bytes", "logical"])
def test_v73_arrays_of_numeric_classes_are_read_with_axes_reversed(tmp_path, matlab_class):
    stored = np.arange(12, dtype=np.float32).reshape(4, 1, 3)
    path = _plain_hdf5(tmp_path / "feat.mat", stored, matlab_class)
    found = read_mat_array(path, "feat")
    np.testing.assert_array_equal(found, stored[:, 0, :].T)
    assert found.shape == (3, 4) and found.dtype == np.float32


@pytest.mark.parametrize("matlab_class", ["char", np.bytes_("cell"), np.bytes_("struct"),
                                          np.bytes_("doub\xe9le".encode("latin-1"))])
def test_v73_arrays_of_other_classes_are_refused(tmp_path, matlab_class):
    path = _plain_hdf5(tmp_path / "feat.mat", np.arange(3, dtype=np.uint16), matlab_class)
    name = matlab_class.decode("ascii", "replace") if isinstance(matlab_class, bytes) \
        else matlab_class
    with pytest.raises(FormatError, match=rf"feat\.mat: variable 'feat' holds MATLAB class "
                                          rf"'{name}'; expected a real numeric array\. "
                                          r"Fetch the file again\."):
        read_mat_array(path, "feat")


def test_v73_complex_numbers_are_named(tmp_path) -> None:
    pair = np.zeros(3, dtype=[("real", "<f8"), ("imag", "<f8")])
    path = _plain_hdf5(tmp_path / "feat.mat", pair, np.bytes_("double"))
    with pytest.raises(FormatError, match="variable 'feat' holds complex numbers; expected a "
                                          "real numeric array"):
        read_mat_array(path, "feat")


@pytest.mark.parametrize(("value", "what"), [(np.arange(3) + 1j, "complex numbers"),
                                             ("eleven char", "<U11 values")])
def test_v5_variables_that_are_not_real_numbers_are_named(tmp_path, value, what) -> None:
    path = tmp_path / "feat.mat"
    savemat(path, {"feat": value})
    with pytest.raises(FormatError, match=rf"^{path}: variable 'feat' holds {what}; expected a "
                                          r"real numeric array\. The file is not a published "
                                          r"file of this kind: fetch it again\.$"):
        read_mat_array(path, "feat")


@pytest.mark.parametrize(("flavour", "cut"), [("v5", 150), ("v7.3", 700)])
def test_damaged_mat_files_are_named(tmp_path, flavour, cut) -> None:
    path = tmp_path / "feat.mat"
    path.write_bytes(mat_bytes("feat", np.arange(50.0), flavour)[:cut])
    with pytest.raises(FormatError, match=rf"^Cannot read {path} as a MATLAB \.mat file "
                                          r"\(OSError: .*\)\. It is damaged or not a \.mat "
                                          r"file: fetch it again\.$"):
        read_mat_array(path, "feat")


V5_MISSING = (r"^{path} has no variable 'feat' \(variables found: {found}\): the file is "
              r"truncated or belongs to another kind of the dataset; fetch it again\.$")
V73_MISSING = (r"^{path} \(MATLAB v7\.3\) has no variable 'feat' holding an array \(variables "
               r"found: {found}\): the file belongs to another kind of the dataset or is "
               r"damaged; fetch it again\.$")


@pytest.mark.parametrize(("flavour", "message"), [("v5", V5_MISSING), ("v7.3", V73_MISSING)])
def test_missing_mat_variables_and_files_are_named(tmp_path, flavour, message) -> None:
    path = write_mat_array(tmp_path / "x.mat", "rank", np.ones(3), flavour)
    with pytest.raises(FormatError, match=message.format(path=path, found="rank")):
        read_mat_array(path, "feat")
    empty = tmp_path / "empty.mat"
    if flavour == "v5":
        savemat(empty, {})
    else:
        _plain_hdf5(empty, np.ones(1), None)
        with h5py.File(empty, "r+") as handle:
            del handle["feat"]
    with pytest.raises(FormatError, match=message.format(path=empty, found="none")):
        read_mat_array(empty, "feat")
    for missing in (tmp_path / "nothing.mat", tmp_path):
        with pytest.raises(DataNotFoundError, match=rf"^MATLAB file {missing} does not exist "
                                                    r"\(or is a folder\): fetch the layer again "
                                                    r"\(`brainfeat fetch \.\.\.`\)\.$"):
            read_mat_array(missing, "feat")


@pytest.mark.parametrize(("flavour", "message"), [("v5", V5_MISSING), ("v7.3", V73_MISSING)])
def test_a_missing_variable_lists_every_variable_found(tmp_path, flavour, message) -> None:
    path = tmp_path / "two.mat"
    if flavour == "v5":
        savemat(path, {"rank": np.ones(3), "accuracy": np.zeros(3)})
    else:
        _plain_hdf5(path, np.ones(1), None)
        with h5py.File(path, "r+") as handle:
            handle.move("feat", "rank")
            handle["accuracy"] = np.zeros(3)
    found = "accuracy, rank" if flavour == "v7.3" else "rank, accuracy"
    with pytest.raises(FormatError, match=message.format(path=path, found=found)):
        read_mat_array(path, "feat")


def test_a_v5_file_is_read_for_the_one_variable_asked(tmp_path, monkeypatch) -> None:
    import scipy.io

    path = tmp_path / "two.mat"
    savemat(path, {"feat": np.arange(3.0), "other": np.ones((400, 400))})
    asked = []

    def loadmat_spy(file, **options):
        asked.append(options.get("variable_names"))
        return loadmat(file, **options)

    def whosmat_spy(file, **options):
        asked.append("whosmat")  # lists the variables: needed for a missing one only
        return scipy.io.matlab.whosmat(file, **options)

    monkeypatch.setattr(scipy.io, "loadmat", loadmat_spy)
    monkeypatch.setattr(scipy.io, "whosmat", whosmat_spy)
    np.testing.assert_array_equal(read_mat_array(path, "feat"), [0.0, 1.0, 2.0])
    assert asked == [["feat"]]  # never every array of a file to get one


# -- BData: what the file holds ---------------------------------------------------------

def _by_h5py(path: Path) -> dict:
    """The golden file's header, read with h5py alone."""
    with h5py.File(path, "r") as handle:
        return {name: node[()] for name, node in handle["header"].items()}


def test_the_golden_header_and_metadata_only_reading(tmp_path) -> None:
    path = GOLDEN / "bdata" / "bdpy_god_like.h5"
    raw = _by_h5py(path)
    meta = read_bdata_metadata(path)
    assert set(meta.header) == set(raw) == {"callstack", "callstack_code", "ctime", "ctime_epoch"}
    assert meta.header["ctime"] == raw["ctime"].decode()
    assert meta.header["ctime_epoch"] == float(raw["ctime_epoch"])
    assert isinstance(meta.header["ctime_epoch"], float)
    assert meta.header["callstack"] == [item.decode() for item in raw["callstack"]]
    full = read_bdata(path)
    assert meta.dataset.shape == (0, 10) and meta.dataset.dtype == np.float64
    assert (meta.keys, meta.descriptions, meta.header, meta.vmap) == \
        (full.keys, full.descriptions, full.header, full.vmap)
    np.testing.assert_array_equal(meta.values, full.values)


TEXTS = {"key": ["VoxelData", "ROI_Größe"], "description": ["1 = VoxelData", "Fläche µm²"]}


def _two_keys(path: Path, write_strings) -> None:
    """A BData of 2 samples x 3 columns whose key and description strings ``write_strings``
    stores; values (2, 3) or, MATLAB-like, transposed."""
    with h5py.File(path, "w") as handle:
        handle.create_dataset("dataset", data=np.arange(6.0).reshape(2, 3))
        meta = handle.create_group("metadata")
        meta.create_dataset("value", data=[[1.0, 1.0, 1.0], [1.0, 0.0, np.nan]])
        for field, texts in TEXTS.items():
            write_strings(handle, meta, field, texts)


def _fixed_bytes(handle, meta, field, texts):
    meta.create_dataset(field, data=[text.encode("utf-8") for text in texts])


def _variable_utf8(handle, meta, field, texts):
    meta.create_dataset(field, data=texts, dtype=h5py.string_dtype("utf-8"))


def _char_matrix(handle, meta, field, texts):
    """MATLAB's char matrix: one row per string, padded with zeros."""
    width = max(len(text) for text in texts)
    codes = np.zeros((len(texts), width), dtype=np.uint16)
    for row, text in enumerate(texts):
        codes[row, :len(text)] = [ord(c) for c in text]
    meta.create_dataset(field, data=codes)


def _references(handle, meta, field, texts):
    refs = handle.require_group("#refs#")
    nodes = [refs.create_dataset(f"{field}{i}", data=np.array([[ord(c)] for c in text],
                                                              dtype=np.uint16))
             for i, text in enumerate(texts)]
    meta.create_dataset(field, data=np.array([[n.ref for n in nodes]], dtype=h5py.ref_dtype))


def _references_to_strings(handle, meta, field, texts):
    refs = handle.require_group("#refs#")
    nodes = [refs.create_dataset(f"{field}{i}", data=text.encode("utf-8"))
             for i, text in enumerate(texts)]
    meta.create_dataset(field, data=np.array([n.ref for n in nodes], dtype=h5py.ref_dtype))


def _nested_references(handle, meta, field, texts):
    """A MATLAB cell of one-element cells: each reference leads to a reference."""
    refs = handle.require_group("#refs#")
    outer = []
    for i, text in enumerate(texts):
        inner = refs.create_dataset(f"{field}{i}", data=np.array([[ord(c) for c in text]],
                                                                 dtype=np.uint16).T)
        cell = refs.create_dataset(f"{field}{i}cell", data=np.array([[inner.ref]],
                                                                    dtype=h5py.ref_dtype))
        outer.append(cell.ref)
    meta.create_dataset(field, data=np.array([outer], dtype=h5py.ref_dtype))


@pytest.mark.parametrize("write_strings", [_fixed_bytes, _variable_utf8, _char_matrix,
                                           _references, _references_to_strings,
                                           _nested_references])
def test_strings_in_every_stored_form_read_as_text(tmp_path, write_strings) -> None:
    path = tmp_path / "Subject1.h5"
    _two_keys(path, write_strings)
    bdata = read_bdata(path)
    assert bdata.keys == tuple(TEXTS["key"])
    assert bdata.descriptions == tuple(TEXTS["description"])
    np.testing.assert_array_equal(bdata.get("VoxelData", "ROI_Größe"), [[0.0], [3.0]])


def test_a_single_key_file_may_store_a_string_and_a_row_of_values(tmp_path) -> None:
    path = tmp_path / "Subject1.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("dataset", data=np.arange(6.0).reshape(3, 2))
        meta = handle.create_group("metadata")
        meta.create_dataset("key", data=b"VoxelData")
        meta.create_dataset("description", data="1 = VoxelData", dtype=h5py.string_dtype())
        meta.create_dataset("value", data=[1.0, 1.0])
    bdata = read_bdata(path)
    assert (bdata.keys, bdata.descriptions) == (("VoxelData",), ("1 = VoxelData",))
    assert bdata.values.shape == (1, 2)
    np.testing.assert_array_equal(bdata.get("VoxelData"), np.arange(6.0).reshape(3, 2))


def test_a_one_column_file_may_store_its_values_as_a_column(tmp_path) -> None:
    path = tmp_path / "Subject1.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("dataset", data=[[5.0], [6.0], [7.0]])
        meta = handle.create_group("metadata")
        meta.create_dataset("key", data=[b"Label", b"ROI"])
        meta.create_dataset("description", data=[b"1 = Label", b""])
        meta.create_dataset("value", data=np.array([1, 0], dtype=np.int8))
    bdata = read_bdata(path)
    assert bdata.values.dtype == np.float64
    np.testing.assert_array_equal(bdata.values, [[1.0], [0.0]])
    np.testing.assert_array_equal(bdata.get("Label")[:, 0], [5.0, 6.0, 7.0])
    assert bdata.get("Label", "ROI").shape == (3, 0)


def test_headers_and_value_maps_of_every_kind(tmp_path) -> None:
    path = write_bdata(tmp_path / "Subject1.h5", BData(
        np.zeros((1, 1)), ("Run",), ("1 = Run",), np.ones((1, 1)), {},
        {"Run": {1.0: "first", 2.5: "zwölf"}}))
    with h5py.File(path, "r+") as handle:
        header = handle["header"]
        header.create_dataset("count", data=3)
        header.create_dataset("flags", data=np.array([True, False]))
        header.create_dataset("shape", data=np.array([[1.5, 2.0]]))
        header.create_dataset("names", data=["a", "bé"], dtype=h5py.string_dtype())
        header.create_dataset("one_name", data=["solo"], dtype=h5py.string_dtype())
        texts = handle.create_group("#refs#")  # MATLAB keeps strings apart, behind references
        where = texts.create_dataset("where", data=np.array([[ord(c)] for c in "Kyoto"],
                                                            dtype=np.uint16))
        header.create_dataset("site", data=np.array([where.ref], dtype=h5py.ref_dtype))
        label = texts.create_dataset("label", data=np.array([[ord(c)] for c in "third"],
                                                            dtype=np.uint16))
        handle["vmap/Run"].create_dataset("3.0", data=label.ref, dtype=h5py.ref_dtype)
    bdata = read_bdata(path)
    assert bdata.header == {"count": 3, "flags": [True, False], "shape": [[1.5, 2.0]],
                            "names": ["a", "bé"], "one_name": ["solo"], "site": ["Kyoto"]}
    assert type(bdata.header["count"]) is int
    assert bdata.vmap == {"Run": {1.0: "first", 2.5: "zwölf", 3.0: "third"}}


# -- BData: the files write_bdata leaves ------------------------------------------------

def _sample() -> BData:
    builder = BDataBuilder()
    builder.add(np.arange(12.0).reshape(4, 3), "VoxelData")
    builder.add(np.array([1.0, 2.0, 1.0, 2.0]), "DataType")
    builder.add_metadata("voxel_x", np.array([-3.5, 0.0, 7.25]), "Voxel x (µm)",
                         where="VoxelData")
    builder.add_vmap("DataType", {1.0: "training", 2.0: "test"})
    bdata = builder.build()
    return BData(bdata.dataset, bdata.keys, bdata.descriptions, bdata.values,
                 {"ctime": "2019-01-22 10:00:00", "callstack": ["a.py:1", "b.py:2"]},
                 bdata.vmap)


@pytest.mark.parametrize(("flavour", "groups"), [("bdpy", ("dataset", "metadata")),
                                                  ("legacy", ("dataSet", "metaData")),
                                                  ("matlab", ("dataSet", "metaData"))])
def test_each_flavour_leaves_its_layout_on_disk(tmp_path, flavour, groups):
    sample = _sample()
    path = write_bdata(tmp_path / "Subject1.h5", sample, flavour=flavour)
    assert path == tmp_path / "Subject1.h5"
    transposed = flavour == "matlab"
    with h5py.File(path, "r") as handle:
        assert sorted(handle) == sorted([*groups, "header", "vmap"])
        data, meta = handle[groups[0]][()], handle[groups[1]]
        np.testing.assert_array_equal(data, sample.dataset.T if transposed else sample.dataset)
        np.testing.assert_array_equal(meta["value"][()],
                                      sample.values.T if transposed else sample.values)
        for field in ("key", "description"):  # bdpy: ASCII-tagged bytes; MATLAB: UTF-8
            encoding = h5py.check_string_dtype(meta[field].dtype).encoding
            assert encoding == ("utf-8" if transposed else "ascii")
        description = meta["description"][2]
        assert description == "Voxel x (µm)".encode()
        assert handle["header/ctime"][()] == b"2019-01-22 10:00:00"
        assert list(handle["header/callstack"][()]) in ([b"a.py:1", b"b.py:2"],)
        assert sorted(handle["vmap/DataType"]) == ["1.0", "2.0"]
        assert handle["vmap/DataType/2.0"][()] == b"test"
    again = read_bdata(path)
    np.testing.assert_array_equal(again.dataset, sample.dataset)
    np.testing.assert_array_equal(again.values, sample.values)
    assert (again.keys, again.descriptions) == (sample.keys, sample.descriptions)
    assert again.header == sample.header and again.vmap == sample.vmap


# -- BData: selections and errors -------------------------------------------------------

@pytest.mark.parametrize("flavour", ["bdpy", "matlab"])
def test_selections_of_every_form(tmp_path, flavour) -> None:
    sample = _sample()
    path = write_bdata(tmp_path / "Subject1.h5", sample, flavour=flavour)
    cases = [({"rows": np.array([3], dtype=np.uint8)}, [3], [0, 1, 2, 3]),
             ({"rows": [0, 3], "columns": [3]}, [0, 3], [3]),
             ({"columns": np.array([False, True, False, True])}, [0, 1, 2, 3], [1, 3]),
             ({"rows": np.array([], dtype=int)}, [], [0, 1, 2, 3])]
    for selection, rows, columns in cases:
        part = read_bdata(path, **selection)
        np.testing.assert_array_equal(part.dataset, sample.dataset[np.ix_(rows, columns)])
        np.testing.assert_array_equal(part.values, sample.values[:, columns])
        assert part.dataset.dtype == np.float64
    part = read_bdata(path, rows=[3, 1], columns=[2])
    np.testing.assert_array_equal(part.dataset, [[sample.dataset[1, 2]], [sample.dataset[3, 2]]])
    np.testing.assert_array_equal(part.values, sample.values[:, [2]])


@pytest.mark.parametrize(("selection", "message"), [
    ({"rows": np.ones(3, dtype=bool)}, r"a row mask of shape \(3,\); expected \(4,\)\."),
    ({"columns": np.ones((1, 4), dtype=bool)},
     r"a column mask of shape \(1, 4\); expected \(4,\)\."),
    ({"rows": [4]}, (r"row indices must be integers from 0 to 3 \(or a boolean mask of length 4\)"
                    r"; got \[4\]\.")),
    ({"columns": [0, 4]}, r"column indices must be integers from 0 to 3 .*got \[0, 4\]\."),
    ({"columns": np.array([[1]])}, r"column indices must be integers"),
])
def test_selections_outside_the_file_name_it_and_the_limit(tmp_path, selection, message):
    path = write_bdata(tmp_path / "Subject1.h5", _sample())
    with pytest.raises((FormatError, InvalidValueError), match=rf"{path}: {message}"):
        read_bdata(path, **selection)


def test_the_last_row_and_column_can_be_selected(tmp_path) -> None:
    sample = _sample()
    path = write_bdata(tmp_path / "Subject1.h5", sample)
    part = read_bdata(path, rows=[3], columns=[3])
    assert part.dataset.tolist() == [[sample.dataset[3, 3]]]


def _edited_sample(path: Path, edit) -> Path:
    write_bdata(path, _sample())
    with h5py.File(path, "r+") as handle:
        edit(handle)
    return path


def _replace(name: str, data: object):
    def edit(handle: h5py.File) -> None:
        del handle[name]
        handle[name] = data
    return edit


@pytest.mark.parametrize(("edit", "message"), [
    (lambda h: h.move("metadata", "meta"),
     (r"{path} is not a BData file: it has no /metadata or /metaData \(it has /dataset, /header, "
     r"/meta, /vmap\)\. Expected an HDF5 file written by bdpy or BrainDecoderToolbox2\.$")),
    (lambda h: h.move("dataset", "data"),
     (r"{path} is not a BData file: it has no /dataset or /dataSet \(it has /data, /header, "
     r"/metadata, /vmap\)\. Expected an HDF5 file written by bdpy or BrainDecoderToolbox2\.$")),
    (lambda h: h.__delitem__("metadata/description"),
     (r"{path}: the metadata group lacks one of key, description, value: expected the BData "
     r"layout bdpy writes\. Fetch or rewrite the file\.$")),
    (_replace("dataset", np.array([b"a", b"b"])),
     (r"{path}: the dataset is not a numeric array of at most two axes \(\|S1, shape \(2,\)\): "
     r"expected the BData layout bdpy writes\. Fetch or rewrite the file\.$")),
    (_replace("metadata/value", np.zeros((3, 4, 1))),
     (r"{path}: the metadata value is not a numeric array of at most two axes \(float64, shape "
     r"\(3, 4, 1\)\)")),
    (lambda h: (h.__delitem__("dataset"), h.create_group("dataset")),
     r"{path}: the dataset is not a numeric array of at most two axes \(Group, shape None\)"),
    (_replace("dataset", np.zeros(4)),
     (r"{path}: dataset of shape \(4,\); expected \(n_samples, n_columns\)\. Fetch or rewrite "
     r"the file\.$")),
    (_replace("metadata/key", np.arange(3.0)),
     (r"{path}: Cannot read a string stored as float64 with shape \(\)\. Expected a BData file "
     r"as bdpy writes it; fetch or rewrite the file\.$")),
    (_replace("metadata/description", [b"a", b"b"]),
     (r"{path}: 3 metadata keys, 2 descriptions, a value array of shape \(3, 4\) and a dataset "
     r"of shape \(4, 4\): expected values \(n_keys, n_columns\) and a dataset \(n_samples, "
     r"n_columns\), or both transposed as MATLAB writes them\. Fetch or rewrite the file\.$")),
], ids=["no metadata", "no dataset", "no description", "text dataset", "3-D values", "dataset a group",
        "1-D dataset", "numeric keys", "descriptions short"])
def test_malformed_bdata_errors_name_the_file_once(tmp_path, edit, message) -> None:
    path = _edited_sample(tmp_path / "Subject1.h5", edit)
    for read in (read_bdata, read_bdata_metadata):
        with pytest.raises(FormatError, match="^" + message.format(path=path)) as caught:
            read(path)
        assert str(caught.value).count(str(path)) == 1


def test_unreadable_and_missing_bdata_files_say_what_to_do(tmp_path) -> None:
    path = tmp_path / "Subject1.h5"
    path.write_bytes(b"<html>404</html>")
    with pytest.raises(FormatError, match=rf"^{path} is not a readable HDF5 file of BData "
                                          r"\(OSError: .*\): expected a file such as "
                                          r"Subject1\.h5; fetch it again if it is truncated or "
                                          r"damaged\.$"):
        read_bdata(path)
    for missing in (tmp_path / "Subject2.h5", tmp_path):
        for read in (read_bdata, read_bdata_metadata):
            with pytest.raises(DataNotFoundError, match=rf"^BData file {missing} does not exist "
                                                        r"\(or is a folder\): pass the path of a "
                                                        r"Subject\*\.h5, or fetch it with "
                                                        r"brainfeat\.fetch_fmri\(\)\.$"):
                read(missing)


def test_metadata_lookups_by_key() -> None:
    bdata = _sample()
    np.testing.assert_array_equal(bdata.metadata("voxel_x"), [-3.5, 0.0, 7.25, np.nan])
    assert bdata.columns().dtype == bool and bdata.columns().tolist() == [True] * 4
    np.testing.assert_array_equal(bdata.columns("VoxelData"), [True, True, True, False])
    np.testing.assert_array_equal(bdata.columns("DataType", "VoxelData"), [False] * 4)
    np.testing.assert_array_equal(bdata.get("DataType"), bdata.dataset[:, [3]])
    with pytest.raises(UnknownNameError, match=r"^BData has no metadata key 'ROI_V1': it has "
                                               r"VoxelData, DataType, voxel_x\.$"):
        bdata.get("VoxelData", "ROI_V1")


def test_an_unknown_bdata_flavour_is_named(tmp_path) -> None:
    with pytest.raises(UnknownNameError, match=r"^Unknown BData flavour 'hdf5': expected 'bdpy',"
                                               r" 'legacy' or 'matlab'\.$"):
        write_bdata(tmp_path / "x.h5", _sample(), flavour="hdf5")  # type: ignore[arg-type]
    assert not (tmp_path / "x.h5").exists()


# -- BDataBuilder against bdpy ----------------------------------------------------------

def test_the_builder_assembles_what_bdpy_assembled_from_the_same_calls() -> None:
    """The calls of scripts/golden_bdata.py's build(), whose bdpy result is expected.npz."""
    rng = np.random.default_rng(20190012)
    builder = BDataBuilder()
    assert builder.n_columns == 0
    builder.add(rng.normal(100.0, 10.0, size=(12, 7)), "VoxelData")
    builder.add(np.repeat([1, 2, 3], 4), "DataType")  # integers, stored as float64
    builder.add(np.repeat(np.arange(1, 4), 4).astype(float), "Run")
    builder.add(np.array([1518878.010042, 1518878.012028, 1621127.01902, 3626115.019498] * 3),
                "stimulus_id")
    assert builder.n_columns == 10
    builder.add_metadata("ROI_V1", np.array([1, 1, 1, 0, 0, 0, 0]), "1 = ROI V1",
                         where="VoxelData")
    builder.add_metadata("ROI_VC", np.ones(7), "1 = ROI VC", where="VoxelData")
    for axis, values in zip("xyz", rng.integers(-90, 90, size=(3, 7))):
        builder.add_metadata(f"voxel_{axis}", values.astype(float), f"Voxel {axis} coordinate",
                             where="VoxelData")
    labels = {1: "training", 2: "test", 3: "imagery"}
    builder.add_vmap("DataType", labels)
    labels[4] = "changed afterwards"
    built = builder.build()
    with np.load(GOLDEN / "bdata" / "expected.npz") as bdpy:
        np.testing.assert_array_equal(built.dataset, bdpy["dataset"])
        np.testing.assert_array_equal(built.values, bdpy["values"])
        assert built.keys == tuple(bdpy["keys"]) and built.descriptions == tuple(
            bdpy["descriptions"])
    assert built.dataset.dtype == built.values.dtype == np.float64
    assert built.vmap == {"DataType": {1: "training", 2: "test", 3: "imagery"}}
    assert built.header == {}


def test_an_empty_builder_and_metadata_of_the_wrong_width() -> None:
    empty = BDataBuilder().build()
    assert empty.dataset.shape == (0, 0) and empty.values.shape == (0, 0) and empty.keys == ()
    builder = BDataBuilder()
    builder.add(np.ones((2, 3), dtype=np.int8), "VoxelData")
    assert builder.build().dataset.dtype == np.float64
    builder.add_metadata("voxel_x", np.arange(3.0))
    builder.add_metadata("ROI_V1", np.array([1, 0, 1]), "1 = ROI V1", where="VoxelData")
    builder.add_metadata("ROI_V1", np.array([0, 1, 1]), "1 = ROI V1", where="VoxelData")
    built = builder.build()
    assert built.keys == ("VoxelData", "voxel_x", "ROI_V1")
    assert built.descriptions == ("1 = VoxelData", "", "1 = ROI V1")
    np.testing.assert_array_equal(built.metadata("voxel_x"), [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(built.metadata("ROI_V1"), [0.0, 1.0, 1.0])  # replaced
    with pytest.raises(FormatError, match=r"^Metadata 'voxel_y' has shape \(2,\); expected "
                                          r"\(3,\)\.$"):
        builder.add_metadata("voxel_y", np.arange(2.0), "y")
    with pytest.raises(FormatError, match=r"^Block 'Label' has 3 samples, the others 2\.$"):
        builder.add(np.ones(3), "Label")
    assert builder.build().keys == ("VoxelData", "voxel_x", "ROI_V1")


# -- output files of long jobs, and HDF5 inputs -----------------------------------------

def test_a_job_output_is_locked_created_whole_and_reopened_for_writing(tmp_path) -> None:
    out = tmp_path / "new" / "fc8.h5"
    assert lock_path(out) == tmp_path / "new" / "fc8.h5.lock"
    assert partial_path(out) == tmp_path / "new" / ".fc8.h5.partial"
    with exclusive_output(out) as lock:
        assert lock == lock_path(out) and lock.is_file()
        refused = rf"^{out} is being written by another process, which holds its lock {lock}:"
        with pytest.raises(OutputLockedError, match=refused), exclusive_output(out):
            pass
        seen = []

        def build(handle: h5py.File) -> None:
            seen.append(Path(handle.filename))
            handle["x"] = np.arange(3)

        create_whole(out, build)
        assert seen == [partial_path(out)] and not partial_path(out).exists()
        with open_to_resume(out, "pass overwrite=True") as handle:
            handle["x"][0] = 7
        with h5py.File(out, "r") as handle:
            assert handle["x"][()].tolist() == [7, 1, 2]
    assert not lock.exists()
    out.write_bytes(b"not hdf5")
    with pytest.raises(FormatError, match=rf"^{out} exists but cannot be opened to resume "
                                          r"\(.*\): it was not written by a brainfeat run, or was "
                                          r"damaged outside it\. Delete it or pass "
                                          r"overwrite=True, and run again\.$"):
        open_to_resume(out, "pass overwrite=True")


def test_hdf5_inputs_are_opened_read_only_or_named(tmp_path) -> None:
    path = tmp_path / "features.h5"
    with h5py.File(path, "w") as handle:
        handle["x"] = [1.0]
    with open_hdf5(path, what="Feature file", fix="write it again") as handle:
        assert handle.mode == "r" and handle["x"][0] == 1.0
    for missing, state in ((tmp_path / "none.h5", "does not exist"), (tmp_path, "is a folder")):
        with pytest.raises(DataNotFoundError, match=rf"^Feature file {missing} {state}: write "
                                                    r"it again\.$"):
            open_hdf5(missing, what="Feature file", fix="write it again")
    path.write_bytes(b"\x89HDF\r\n")
    with pytest.raises(FormatError, match=rf"^Feature file {path} is not a readable HDF5 file "
                                          r"\(.*\): expected HDF5; write it again\.$"):
        open_hdf5(path, what="Feature file", fix="write it again")


# -- BData: which files are stored transposed --------------------------------------------

def _shaped(path: Path, n_keys: int, values_shape: tuple[int, int],
            data_shape: tuple[int, int], encoding: str = "ascii") -> None:
    """A BData-like file with ``n_keys`` keys and arrays of the given stored shapes."""
    with h5py.File(path, "w") as handle:
        handle["dataset"] = np.arange(np.prod(data_shape), dtype=float).reshape(data_shape)
        meta = handle.create_group("metadata")
        meta["value"] = 1000 + np.arange(np.prod(values_shape), dtype=float).reshape(values_shape)
        for field in ("key", "description"):
            meta.create_dataset(field, data=[f"{field}{i}" for i in range(n_keys)],
                                dtype=h5py.string_dtype(encoding))


@pytest.mark.parametrize(("n_keys", "values_shape", "data_shape", "encoding", "transposed"), [
    (2, (2, 3), (4, 3), "ascii", False),
    (2, (3, 2), (3, 4), "ascii", True),
    (3, (3, 3), (4, 3), "utf-8", False),  # square values: the dataset decides
    (3, (3, 3), (3, 4), "ascii", True),
    (3, (3, 3), (3, 3), "ascii", False),  # all square: bdpy writes ASCII
    (3, (3, 3), (3, 3), "utf-8", True),
    (2, (2, 3), (4, 2), "ascii", None),  # the dataset lacks a column
    (2, (2, 3), (3, 4), "ascii", None),  # the dataset alone transposed
    (2, (3, 2), (4, 3), "ascii", None),  # the values alone transposed
    (2, (3, 2), (2, 4), "ascii", None),
    (3, (2, 4), (5, 4), "ascii", None),  # one key too many
    (2, (3, 3), (4, 3), "ascii", None),
    (2, (3, 3), (2, 3), "ascii", None),
    (3, (3, 3), (4, 5), "ascii", None),
    (3, (3, 3), (5, 5), "ascii", None),
])
def test_the_orientation_comes_from_the_shapes(tmp_path, n_keys, values_shape, data_shape,
                                               encoding, transposed) -> None:
    path = tmp_path / "Subject1.h5"
    _shaped(path, n_keys, values_shape, data_shape, encoding)
    if transposed is None:
        with pytest.raises(FormatError, match=rf"{n_keys} metadata keys, {n_keys} descriptions, "
                                              rf"a value array of shape \({values_shape[0]}, "
                                              rf"{values_shape[1]}\)"):
            read_bdata(path)
        return
    bdata = read_bdata(path)
    with h5py.File(path, "r") as handle:
        data, values = handle["dataset"][()], handle["metadata/value"][()]
    np.testing.assert_array_equal(bdata.dataset, data.T if transposed else data)
    np.testing.assert_array_equal(bdata.values, values.T if transposed else values)
    assert bdata.keys == tuple(f"key{i}" for i in range(n_keys))


def test_the_builder_follows_bdpy_when_a_key_comes_again() -> None:
    """bdpy 0.26 (BData.add, MetaData.set): a block added again under its name keeps the
    earlier block's columns marked; a metadata key set again takes the new row and the new
    description. Expected values: what bdpy 0.26 builds from these calls."""
    builder = BDataBuilder()
    builder.add(np.ones((2, 2)), "VoxelData")
    builder.add(np.array([5.0, 6.0]), "Label")
    builder.add(np.full((2, 1), 2.0), "VoxelData")
    builder.add_metadata("ROI", np.array([1, 0, 1]), "first", where="VoxelData")
    builder.add_metadata("ROI", np.array([0, 1, 1]), "second", where="VoxelData")
    built = builder.build()
    assert built.keys == ("VoxelData", "Label", "ROI")
    assert built.descriptions == ("1 = VoxelData", "1 = Label", "second")
    np.testing.assert_array_equal(built.values, [[1, 1, np.nan, 1], [np.nan, np.nan, 1, np.nan],
                                                 [0, 1, np.nan, 1]])
    np.testing.assert_array_equal(built.get("VoxelData"), [[1, 1, 2], [1, 1, 2]])


def test_metadata_for_an_unknown_or_mismatched_block_is_refused() -> None:
    builder = BDataBuilder()
    builder.add(np.ones((2, 3)), "VoxelData")
    with pytest.raises(UnknownNameError, match=r"^Cannot add metadata 'ROI_V1' where 'Voxels' "
                                               r"is 1: no such key \(the keys are VoxelData\)\.$"):
        builder.add_metadata("ROI_V1", np.ones(3), "", where="Voxels")
    two = BDataBuilder()
    two.add(np.ones((2, 3)), "VoxelData")
    two.add(np.ones((2, 1)), "Label")
    with pytest.raises(UnknownNameError, match=r"\(the keys are VoxelData, Label\)\.$"):
        two.add_metadata("ROI_V1", np.ones(4), "", where="Voxels")
    with pytest.raises(FormatError, match=r"^Metadata 'ROI_V1' has shape \(2,\); 'VoxelData' "
                                          r"marks 3 columns: pass one value per column\.$"):
        builder.add_metadata("ROI_V1", np.ones(2), "", where="VoxelData")
    builder.add_metadata("ROI_VC", 1, "every voxel", where="VoxelData")
    np.testing.assert_array_equal(builder.build().metadata("ROI_VC"), [1.0, 1.0, 1.0])
