"""Malformed files against every reader: correct data or a BrainfeatError, nothing else.

A generator builds damaged variants of valid files in each format the package reads:

* ``.mat`` v5 (plain and compressed) and v7.3 (HDF5 with MATLAB's user block), read by
  :func:`brainfeat.io.mat.read_mat_array`;
* BData HDF5 (``Subject*.h5``), read by :func:`brainfeat.io.bdata.read_bdata`;
* BIDS event tables, read by :func:`brainfeat.bids.read_events`.

Variants: the file cut at every structural point (headers, tags, field and line ends, mid
value), structural fields overwritten, empty files, random bytes, HTML error pages (with
and without a byte-order mark), wrong types and shapes, missing variables, groups and
columns, NaN and infinity. Each input must end in the original data (or a documented
equivalent) or in a :class:`~brainfeat.errors.BrainfeatError` whose message names the file
and says what was expected or what to do: never a raw exception, never other data.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.io import savemat

from brainfeat.bids import read_events
from brainfeat.errors import BrainfeatError
from brainfeat.io.bdata import BDataBuilder, read_bdata, write_bdata
from brainfeat.io.mat import mat_bytes, read_mat_array

HTML = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body></body></html>\n"
RANDOM = np.random.default_rng(9).integers(0, 256, 3000, dtype=np.uint8).tobytes()
COMMON = {"empty": b"", "html": HTML, "bom + html": b"\xef\xbb\xbf" + HTML, "random": RANDOM,
          "one byte": b"\x00", "text": b"feat = [1 2 3]\n"}
# Words of a message that says what was expected or what to do.
ADVICE = re.compile(r"(?i)expected|fetch|again|rewrite|pass |delete|choose")


@dataclass(frozen=True)
class Case:
    """One input: its bytes, and the data a reader may return for it (None: only an error)."""

    name: str
    content: bytes | Callable[[Path], None]
    expected: object = None


def outcome(read: Callable[[Path], object], path: Path, expected: object,
            same: Callable[[object, object], bool]) -> str:
    """``correct``, ``clean`` (a BrainfeatError naming the file, with advice) or the fault."""
    try:
        result = read(path)
    except BrainfeatError as error:
        message = str(error)
        if path.name not in message:
            return f"error without the file name: {message}"
        return "clean" if ADVICE.search(message) else f"error without advice: {message}"
    except Exception as error:  # what this test exists to rule out
        return f"raw {type(error).__name__}: {error}"
    if expected is not None and same(result, expected):
        return "correct"
    return f"silently wrong: {result!r}"[:300]


def _write(case: Case, path: Path) -> Path:
    if callable(case.content):
        case.content(path)
    else:
        path.write_bytes(case.content)
    return path


def _cuts(data: bytes, points: list[int]) -> list[tuple[str, bytes]]:
    return [(f"cut at {n}", data[:n]) for n in sorted(set(points)) if 0 < n < len(data)]


def _overwrite(data: bytes, offset: int, patch: bytes) -> bytes:
    return data[:offset] + patch + data[offset + len(patch):]


# -- .mat v5 and v7.3 -------------------------------------------------------------------

FEAT = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7


def _v5(compressed: bool = False, **variables: object) -> bytes:
    buffer = io.BytesIO()
    savemat(buffer, variables or {"feat": FEAT}, do_compression=compressed)
    return buffer.getvalue()


def _v73_with(build: Callable[[h5py.File], None]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with h5py.File(path, "w", userblock_size=512) as handle:
            build(handle)
    return write


def _complex_v73(handle: h5py.File) -> None:
    pair = np.zeros((4, 1), dtype=[("real", "<f8"), ("imag", "<f8")])
    handle.create_dataset("feat", data=pair).attrs["MATLAB_class"] = np.bytes_("double")


def mat_cases() -> list[Case]:
    cases = []
    plain, packed, v73 = _v5(), _v5(compressed=True), mat_bytes("feat", FEAT, "v7.3")
    # v5: 128-byte header (text, subsystem offset, version, endianness), then the element tag
    # (type, size), array flags, dimensions, name and the real part, each an 8-byte tag first.
    points = [1, 4, 64, 116, 124, 126, 127, 128, 130, 132, 136, 140, 144, 148, 152, 160,
              168, 176, 184, 192, 200, len(plain) // 2, len(plain) - 8, len(plain) - 1]
    # Damaged copies of FEAT's file: FEAT itself is the only data a reader may return.
    cases += [Case(f"v5 {name}", data, FEAT) for name, data in _cuts(plain, points)]
    cases += [Case(f"v5 compressed {name}", data, FEAT) for name, data in
              _cuts(packed, [128, 132, 136, 140, 150, len(packed) // 2, len(packed) - 4,
                             len(packed) - 1])]
    for name, offset, patch in [("version", 124, b"\xff\xff"), ("endianness", 126, b"XX"),
                                ("element type", 128, b"\xff\xff\xff\x7f"),
                                ("element size", 132, b"\xff\xff\xff\x7f"),
                                ("flags tag", 136, b"\x63\x00\x00\x00"),
                                ("array class", 144, b"\x63"),
                                ("dimensions tag", 152, b"\x00\x00\x00\x00\xff\xff\xff\x7f"),
                                ("negative dimension", 160, b"\xff\xff\xff\xff"),
                                ("name tag", 168, b"\xff\xff\xff\x7f")]:
        cases.append(Case(f"v5 {name} overwritten", _overwrite(plain, offset, patch), FEAT))
    zipped = bytearray(packed)
    zipped[140:148] = b"\x00" * 8  # the zlib stream's header and first block
    cases.append(Case("v5 compressed stream damaged", bytes(zipped), FEAT))
    cases += [Case(f"v73 {name}", data, FEAT) for name, data in
              _cuts(v73, [1, 64, 128, 512, 520, 540, 600, 700, 800, len(v73) // 2,
                          len(v73) - 100, len(v73) - 1])]
    cases += [Case("v73 signature overwritten", _overwrite(v73, 512, b"\x00" * 8), FEAT),
              Case("v73 superblock overwritten", _overwrite(v73, 520, b"\xff" * 40), FEAT),
              Case("v73 root object overwritten", _overwrite(v73, 600, RANDOM[:400]), FEAT)]
    cases += [Case(f"any {name}", data) for name, data in COMMON.items()]
    wrong = {  # well-formed files whose variable is not a real numeric array
        "v5 missing variable": _v5(other=FEAT),
        "v5 text": _v5(feat="not numbers"),
        "v5 cell": _v5(feat=np.array([FEAT, FEAT[0]], dtype=object)),
        "v5 struct": _v5(feat={"a": FEAT}),
        "v5 complex": _v5(feat=FEAT + 1j),
        "v73 missing variable": mat_bytes("other", FEAT, "v7.3"),
        "v73 group": _v73_with(lambda h: h.create_group("feat")),
        "v73 text": _v73_with(lambda h: h.create_dataset("feat", data="not numbers")),
        "v73 char codes": _v73_with(lambda h: h.create_dataset("feat", data=np.frombuffer(
            b"a\x00b\x00", np.uint16)).attrs.__setitem__("MATLAB_class", np.bytes_("char"))),
        "v73 complex": _v73_with(_complex_v73),
        "v73 class an array": _v73_with(lambda h: h.create_dataset("feat", data=FEAT).attrs
                                        .__setitem__("MATLAB_class", np.zeros(3))),
        "v73 references": _v73_with(lambda h: h.create_dataset(
            "feat", data=np.array([h.ref], dtype=h5py.ref_dtype))),
    }
    cases += [Case(name, content) for name, content in wrong.items()]
    special = np.array([[np.nan, np.inf], [-np.inf, 0.0]])  # numbers, even if not finite
    cases += [Case("v5 NaN and inf", _v5(feat=special), special),
              Case("v73 NaN and inf", mat_bytes("feat", special, "v7.3"), special),
              Case("v5 empty array", _v5(feat=np.zeros((0, 3))), np.zeros((0, 3))),
              Case("v5 int16", _v5(feat=np.arange(5, dtype=np.int16)), np.arange(5))]
    return cases


def _same_array(result: object, expected: object) -> bool:
    return (isinstance(result, np.ndarray) and result.shape == np.shape(expected)
            and np.array_equal(result, expected, equal_nan=True))


@pytest.mark.parametrize("case", mat_cases(), ids=lambda case: case.name)
def test_mat_reader(tmp_path: Path, case: Case) -> None:
    path = _write(case, tmp_path / "decoded-AlexNet-fc8-S1-n01443537_22563.mat")
    result = outcome(lambda p: read_mat_array(p, "feat"), path, case.expected, _same_array)
    assert result in ("correct", "clean"), result


# -- BData ---------------------------------------------------------------------------

def _bdata():
    builder = BDataBuilder()
    rng = np.random.default_rng(3)
    builder.add(rng.normal(size=(6, 5)), "VoxelData")
    builder.add(np.array([1, 1, 2, 2, 3, 3.0]), "DataType")
    builder.add(np.array([1, 2, 1, 2, 1, 2.0]), "Run")
    builder.add_metadata("ROI_V1", np.array([1, 1, 0, 0, 1.0]), "1 = V1", where="VoxelData")
    builder.add_vmap("DataType", {1.0: "training", 2.0: "test"})
    return builder.build()


VALID = _bdata()


def _written(flavour: str, tmp: Path) -> bytes:
    return write_bdata(tmp / f"{flavour}.h5", VALID, flavour=flavour).read_bytes()


def _edited(edit: Callable[[h5py.File], None], flavour: str = "bdpy") -> Callable[[Path], None]:
    def write(path: Path) -> None:
        write_bdata(path, VALID, flavour=flavour)
        with h5py.File(path, "r+") as handle:
            edit(handle)
    return write


def _replace(name: str, data: object) -> Callable[[h5py.File], None]:
    def edit(handle: h5py.File) -> None:
        del handle[name]
        handle[name] = data
    return edit


def bdata_cases(tmp: Path) -> list[Case]:
    cases = []
    for flavour in ("bdpy", "matlab"):
        data = _written(flavour, tmp)
        points = [1, 8, 16, 48, 96, 200, 400, 800, 1200, 1600, 2000, 2400, 2800, 3200,
                  len(data) // 2, len(data) - 256, len(data) - 8, len(data) - 1]
        cases += [Case(f"{flavour} {name}", data) for name, data in _cuts(data, points)]
        cases += [Case(f"{flavour} signature overwritten", _overwrite(data, 0, b"\x00" * 8)),
                  Case(f"{flavour} superblock overwritten", _overwrite(data, 8, b"\xff" * 48)),
                  Case(f"{flavour} object headers overwritten",
                       _overwrite(data, 800, RANDOM[:800]))]
    cases += [Case(f"any {name}", data) for name, data in COMMON.items()]
    edits = {
        "no metadata group": lambda h: h.move("metadata", "meta"),
        "no dataset": lambda h: h.__delitem__("dataset"),
        "no key": lambda h: h.__delitem__("metadata/key"),
        "no value": lambda h: h.__delitem__("metadata/value"),
        "metadata a dataset": _replace("metadata", np.zeros(3)),
        "dataset a group": lambda h: (h.__delitem__("dataset"), h.create_group("dataset")),
        "key a group": lambda h: (h.__delitem__("metadata/key"), h.create_group("metadata/key")),
        "dataset of text": _replace("dataset", np.array(["a", "b"], dtype=object).astype("S")),
        "dataset 3-D": _replace("dataset", np.zeros((6, 7, 1))),
        "dataset 1-D": _replace("dataset", np.zeros(7)),
        "dataset scalar": _replace("dataset", 1.0),
        "dataset one column short": _replace("dataset", np.zeros((6, 6))),
        "values of text": _replace("metadata/value", np.array([b"x"] * 4)),
        "values one column short": _replace("metadata/value", np.zeros((4, 6))),
        "values one key short": _replace("metadata/value", np.zeros((3, 7))),
        "keys as numbers": _replace("metadata/key", np.arange(4.0)),
        "keys not text": _replace("metadata/key", np.zeros((4, 2, 2))),
        "one description short": _replace("metadata/description", [b"a"] * 3),
        "header a group of groups": lambda h: h["header"].create_group("g"),
        "vmap value not a number": lambda h: h["vmap"].create_group("Run").create_dataset(
            "one", data=b"first"),
        "vmap a dataset": _replace("vmap", np.zeros(2)),
    }
    cases += [Case(name, _edited(edit)) for name, edit in edits.items()]
    cases.append(Case("valid", _edited(lambda h: None), VALID))
    cases.append(Case("matlab header text as char codes", _edited(
        lambda h: h["header"].create_dataset("ctime", data=np.frombuffer(b"n\x00o\x00w\x00",
                                                                          np.uint16)),
        "matlab"), VALID))
    special = VALID.dataset.copy()
    special[0, 0], special[1, 1] = np.nan, np.inf
    cases.append(Case("NaN and inf voxels",
                      _edited(_replace("dataset", special)), special))
    return cases


def _same_bdata(result: object, expected: object) -> bool:
    dataset = expected if isinstance(expected, np.ndarray) else VALID.dataset
    return (np.array_equal(result.dataset, dataset, equal_nan=True)
            and np.array_equal(result.values, VALID.values, equal_nan=True)
            and result.keys == VALID.keys)


@pytest.fixture(scope="module")
def bdata_inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    return bdata_cases(tmp_path_factory.mktemp("bdata"))


def test_bdata_reader(tmp_path: Path, bdata_inputs: list[Case]) -> None:
    results = {}
    for number, case in enumerate(bdata_inputs):
        path = _write(case, tmp_path / f"Subject{number}.h5")
        results[case.name] = outcome(read_bdata, path, case.expected, _same_bdata)
    assert len(results) > 60
    faults = {name: result for name, result in results.items()
              if result not in ("correct", "clean")}
    assert not faults


# -- feature files written by features.extract --------------------------------------

IDS = ("n01_1", "n02_1", "n03_1")
FC8 = np.arange(12, dtype=np.float32).reshape(3, 4) / 3


def _features(edit: Callable[[h5py.File], None] = lambda handle: None) -> Callable[[Path], None]:
    """A finished feature file in the layout of brainfeat.features.extract, then ``edit``."""
    def write(path: Path) -> None:
        with h5py.File(path, "w") as handle:
            handle.attrs.update({"format": "brainfeat-features/1", "model": "AlexNet",
                                 "layers": '["fc8"]', "batch_size": "2"})
            handle.create_dataset("image_ids", data=np.array(IDS, dtype=object),
                                  dtype=h5py.string_dtype())
            handle.create_dataset("batches_done", data=np.ones(2, bool))
            layer = handle.create_dataset("layers/fc8", data=FC8)
            layer.attrs["unit_shape"] = np.array([4])
            edit(handle)
    return write


def features_cases(tmp: Path) -> list[Case]:
    _features()(tmp / "valid.h5")
    data = (tmp / "valid.h5").read_bytes()
    cases = [Case(f"features {name}", cut) for name, cut in
             _cuts(data, [8, 96, 400, 800, 1600, len(data) // 2, len(data) - 64, len(data) - 1])]
    cases += [Case(f"any {name}", content) for name, content in COMMON.items()]
    edits = {
        "layers attribute not JSON": lambda h: h.attrs.__setitem__("layers", "fc8,"),
        "no layers attribute": lambda h: h.attrs.__delitem__("layers"),
        "no unit shape": lambda h: h["layers/fc8"].attrs.__delitem__("unit_shape"),
        "unit shape of another size": lambda h: h["layers/fc8"].attrs.__setitem__(
            "unit_shape", np.array([2, 3])),
        "one image id more": _replace("image_ids", np.array([*IDS, "n04_1"], dtype=object)
                                      .astype(h5py.string_dtype())),
        "a duplicated image id": _replace("image_ids", np.array(["n01_1", "n01_1", "n03_1"],
                                                                dtype="S")),
        "no image ids": lambda h: h.__delitem__("image_ids"),
        "layers a dataset": lambda h: (h.__delitem__("layers"), h.create_dataset("layers",
                                                                                 data=[1])),
        "layer a group": lambda h: (h.__delitem__("layers/fc8"), h.create_group("layers/fc8")),
        "layer of text": _replace("layers/fc8", np.array([[b"a"] * 4] * 3)),
        "no checkpoint": lambda h: h.__delitem__("batches_done"),
        "checkpoint of text": _replace("batches_done", np.array([b"yes", b"no"])),
        "unfinished": _replace("batches_done", np.array([True, False])),
    }
    cases += [Case(f"features {name}", _features(edit)) for name, edit in edits.items()]
    return cases + [Case("features valid", _features(), FC8)]


def _same_features(result: object, expected: object) -> bool:
    layers, features = result
    return (layers == ("fc8",) and features.image_ids == IDS and features.unit_shape == (4,)
            and np.array_equal(features.values, expected))


def test_feature_file_reader(tmp_path: Path) -> None:
    from brainfeat.features.store import extracted_layers, read_extracted

    def read(path: Path) -> object:
        return extracted_layers(path), read_extracted(path, "fc8")

    results = {}
    for number, case in enumerate(features_cases(tmp_path)):
        path = _write(case, tmp_path / f"features{number}.h5")
        results[case.name] = outcome(read, path, case.expected, _same_features)
    assert results["features valid"] == "correct" and len(results) > 25
    faults = {name: result for name, result in results.items()
              if result not in ("correct", "clean")}
    assert not faults


# -- event tables ---------------------------------------------------------------------

TABLE = ("onset\tduration\ttrial_no\tevent_type\tstim_id\tresponse_time\n"
         "0\t33\t1\trest\tn/a\tn/a\n"
         "33\t9\t2\tstimulus\t1621127.01902\tn/a\n"
         "42\t9\t3\tstimulus\t1518878.010042\t47.25\n"
         "51\t6\t4\trest\tn/a\tn/a\n")


def events_cases() -> list[Case]:
    data = TABLE.encode()
    # Every position inside a line (after a tab, inside a value, just before a newline);
    # a cut right after a newline leaves a valid, shorter table and is not a fault.
    cuts = [n for n in range(1, len(data)) if data[n - 1:n] != b"\n"]
    cases = [Case(name, cut) for name, cut in _cuts(data, cuts)]
    cases += [Case(f"any {name}", content) for name, content in COMMON.items()]
    lines = TABLE.split("\n")

    def replaced(row: int, column: int, value: str) -> bytes:
        cells = lines[row].split("\t")
        cells[column] = value
        return "\n".join([*lines[:row], "\t".join(cells), *lines[row + 1:]]).encode()

    values = {"onset": (1, 0), "duration": (2, 1), "trial_no": (2, 2), "event_type": (2, 3),
              "stim_id": (3, 4), "response_time": (3, 5)}
    for column, (row, index) in values.items():
        for bad in ("nan", "inf", "-inf", "-1", "1_000", "1e400", "0x10", "abc", "1,5", " 3 3",
                    "\x00", "١٢"):
            if column == "response_time" and bad == "nan":
                continue  # a missing response: NaN is its documented value
            cases.append(Case(f"{column} = {bad!r}", replaced(row, index, bad)))
    cases += [Case("stimulus without id", replaced(2, 4, "n/a")),
              Case("header only, cut", b"onset\tduration"),
              Case("latin-1 bytes", TABLE.replace("rest", "r\xe9st").encode("latin-1")),
              Case("NUL bytes", data.replace(b"\t", b"\x00", 3)),
              Case("a blank line inside", TABLE.replace("\n", "\n\n", 2).encode()),
              Case("a column more", TABLE.replace("\n", "\tx\n", 1).encode()),
              Case("a column twice", TABLE.replace("trial_no", "onset", 1).encode()),
              Case("an unnamed column", TABLE.replace("\n", "\t\n").encode())]
    same = read_events_table()
    cases += [Case("CRLF line ends", TABLE.replace("\n", "\r\n").encode(), same),
              Case("byte-order mark", b"\xef\xbb\xbf" + data, same)]
    return cases


def read_events_table() -> object:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sub-01_task-perception_run-01_events.tsv"
        path.write_text(TABLE)
        return read_events(path)


def _same_frame(result: object, expected: object) -> bool:
    return result.equals(expected)


def test_event_table_reader(tmp_path: Path) -> None:
    results = {}
    for case in events_cases():
        path = _write(case, tmp_path / "sub-01_task-perception_run-01_events.tsv")
        results[case.name] = outcome(read_events, path, case.expected, _same_frame)
    assert len(results) > 200
    faults = {name: result for name, result in results.items()
              if result not in ("correct", "clean")}
    assert not faults
