"""Bad input at the command line and the API ends in one clear error, never a traceback.

Each row of the tables is one class of bad input found from outside (issue 9): a number out
of range, a file that is missing, a folder, not HDF5 or not JSON, a catalog given as a path,
a subject that names nobody, features or an fMRI file that belong to another network or
subject. The rule checked: exit code 2 (or a ``BrainfeatError`` in Python), a one-line
message that names the value, says what was expected and what to do, no traceback.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import h5py
import numpy as np
import pytest

import brainfeat
from brainfeat.catalog import Subject, default_catalog
from brainfeat.cli import build_parser, main
from brainfeat.errors import BrainfeatError
from brainfeat.io.bdata import BDataBuilder, write_bdata
from brainfeat.stimuli import name_to_id

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Malformed inputs, an AlexNet features file, and a Subject1.h5 without imagery
    samples and with an empty V1."""
    root = tmp_path_factory.mktemp("bad_input")
    paths = {name: root / name for name in
             ("text.h5", "folder", "bad.json", "partial.json", "binary.json", "alexnet.h5",
              "Subject1.h5", "missing.json", "missing.h5")}
    paths["text.h5"].write_text("not HDF5")
    paths["folder"].mkdir()
    paths["bad.json"].write_text("{bad json")
    paths["partial.json"].write_text('{"name": "a catalog without its fields"}')
    paths["binary.json"].write_bytes(b"\xff\xfe{}")
    with h5py.File(paths["alexnet.h5"], "w") as handle:  # what `brainfeat features` writes
        handle.attrs["model"] = "AlexNet"
        handle["image_ids"] = np.array(default_catalog().training_image_ids[:4], dtype=object)
        handle["layers/fc8"] = np.zeros((4, 3), dtype=np.float32)
    train = default_catalog().training_image_ids[:6]
    builder = BDataBuilder()
    builder.add(np.random.default_rng(0).standard_normal((6, 4)), "VoxelData")
    builder.add(np.ones(6), "DataType")  # training samples only: no imagery
    builder.add(np.arange(1.0, 7.0), "Run")
    builder.add(np.array([name_to_id(name) for name in train]), "stimulus_id")
    builder.add_metadata("ROI_VC", np.ones(4), "1 = ROI VC", where="VoxelData")
    builder.add_metadata("ROI_V1", np.zeros(4), "1 = ROI V1", where="VoxelData")  # empty
    write_bdata(paths["Subject1.h5"], builder.build())
    return paths


DECODE = ["decode", "--subject", "S1", "--network", "AlexNet", "--layer", "fc8",
          "--no-download", "--train-features"]
FEATURES = ["features", "AlexNet", "{folder}", "-o", "{folder}/out.h5", "--weights", "random"]

# argv (``{name}`` is a file of the fixture), text the message must name (the value),
# and text that says what to do.
CLI_CASES = [
    # numbers: negative, zero, NaN, infinite, out of range
    (DECODE + ["{alexnet.h5}", "--alpha", "-3"], "alpha=-3", "pass e.g. alpha=100"),
    (DECODE + ["{alexnet.h5}", "--alpha", "nan"], "alpha=nan", "finite"),
    (DECODE + ["{alexnet.h5}", "--alpha", "inf"], "alpha=inf", "finite"),
    (DECODE + ["{alexnet.h5}", "--chunk-units", "0"], "chunk_units=0", "pass e.g."),
    (DECODE + ["{alexnet.h5}", "--n-voxels", "-5"], "n_voxels=-5", "pass e.g."),
    (DECODE + ["{alexnet.h5}", "--alpha", "abc"], "'abc'", "invalid float value"),
    (FEATURES + ["--batch-size", "0"], "batch_size=0", "pass e.g. batch_size=8"),
    (FEATURES + ["--batch-size", "-1"], "batch_size=-1", "pass e.g."),
    (["verify-features", "{alexnet.h5}", "AlexNet", "--min-r", "2"], "min_r=2", ">= -1"),
    (["verify-features", "{alexnet.h5}", "AlexNet", "--tolerance", "nan"], "tolerance=nan",
     "pass e.g."),
    (["demo", "--seed", "-1", "--dir", "{folder}/demo"], "seed=-1", "pass e.g. seed=0"),
    # a device this machine lacks, or that torch does not know
    (DECODE + ["{alexnet.h5}", "--device", "cuda:99"], "cuda:99", "use device='cpu'"),
    (DECODE + ["{alexnet.h5}", "--device", "gpu0"], "gpu0", "expected 'cpu', 'cuda'"),
    (FEATURES + ["--device", "cuda:99"], "cuda:99", "use device='cpu'"),
    # files: not HDF5, missing, a folder
    (DECODE + ["{text.h5}"], "text.h5", "not a readable HDF5 file"),
    (DECODE + ["{missing.h5}"], "missing.h5", "pass a file written by `brainfeat features`"),
    (DECODE + ["{folder}"], "folder", "is a folder"),
    (DECODE + ["{alexnet.h5}", "--test-features", "{text.h5}"], "text.h5", "HDF5"),
    (["verify-features", "{text.h5}", "AlexNet"], "text.h5", "write it with `brainfeat features"),
    (["verify-features", "{folder}", "AlexNet"], "folder", "is a folder"),
    (["fmri", "S1", "--file", "{text.h5}"], "text.h5", "not a readable HDF5 file"),
    (["figures", "--report", "{missing.json}"], "missing.json", "run `brainfeat verify`"),
    (["figures", "--report", "{bad.json}"], "bad.json", "is not JSON"),
    (["figures", "--report", "{partial.json}"], "partial.json", "lacks Figure 2 statistics"),
    (["figures", "--report", "{folder}"], "folder", "run `brainfeat verify`"),
    (["features", "AlexNet", "{folder}", "-o", "{folder}/o.h5", "--mean", "a,b,c"], "a,b,c",
     "--mean 104,117,123"),
    # a catalog that is missing, a folder, not JSON, or lacks fields
    (["load", "true", "AlexNet", "fc8", "--catalog", "{missing.json}"], "missing.json",
     "does not exist"),
    (["verify", "--catalog", "{folder}", "--no-download"], "folder", "is a folder"),
    (["fetch", "true", "AlexNet", "fc8", "--catalog", "{bad.json}"], "bad.json",
     "Catalog.to_json"),
    (FEATURES + ["--catalog", "{partial.json}"], "'synthetic'", "Catalog.to_json"),
    # folders that are files
    (["load", "true", "AlexNet", "fc8", "--data-dir", "{text.h5}", "--no-download"], "text.h5",
     "give a folder"),
    (["info", "--data-dir", "{text.h5}"], "text.h5", "give a folder"),
    (["where", "--data-dir", ""], "''", "give a path"),
    (["regenerate", "AlexNet", "", "-o", "{folder}"], "''", "give a path"),
    (["identify", "AlexNet", "--csv", "", "--no-download"], "''", "give a path"),
    (["events", "S1", "train", "-o", "{folder}", "--no-download"], "folder", "-o events.tsv"),
    (["demo", "--dir", "{text.h5}"], "text.h5", "give a folder"),
    (["verify", "--network", "AlexNet", "--layer", "fc8", "--no-download", "--out",
      "{text.h5}"], "text.h5", "give a folder"),
    # names that name nothing (silently S1 before)
    (["fmri", "-1", "--no-download"], "'-1'", "expected one of S1"),
    (["load", "decoded", "AlexNet", "fc8", "-1", "--no-download"], "'-1'", "expected one of S1"),
    (DECODE[:2] + ["-1"] + DECODE[3:] + ["{alexnet.h5}"], "'-1'", "expected one of S1"),
    (["verify", "--subject", "+1", "--no-download"], "'+1'", "expected one of S1"),
    # data of another network or subject (silently mislabelled before)
    (["decode", "--subject", "S1", "--network", "VGG19", "--layer", "fc8", "--no-download",
      "--train-features", "{alexnet.h5}"], "features of AlexNet, not VGG19",
     "network='AlexNet'"),
    (["fmri", "S2", "--file", "{Subject1.h5}"], "fMRI of S1 but subject S2", "Pass subject S1"),
    (DECODE[:2] + ["S2"] + DECODE[3:] + ["{alexnet.h5}", "--fmri", "{Subject1.h5}"],
     "fMRI of S1 but subject S2", "Subject2.h5"),
    # a split without samples (printed "no samples" and exited 0 before)
    (["fmri", "S1", "--file", "{Subject1.h5}", "--split", "imagery"], "0 imagery samples",
     "choose another --split"),
    (["fmri", "S1", "--file", "{Subject1.h5}", "--roi", "V1"], "ROI_V1 marks no voxel",
     "Fetch the file again"),
]


def _fill(argv: list[str], files: dict[str, Path]) -> list[str]:
    filled = []
    for arg in argv:
        for name, path in files.items():
            arg = arg.replace(f"{{{name}}}", str(path))
        filled.append(arg)
    return filled


@pytest.mark.parametrize("argv, value, fix", CLI_CASES,
                         ids=[" ".join(case[0][:1] + case[0][-2:]) for case in CLI_CASES])
def test_bad_cli_input_is_one_clear_error(files, capsys, argv, value, fix) -> None:
    try:
        code = main(_fill(argv, files))
    except SystemExit as refused:  # argparse's own refusals
        code = refused.code
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err
    line = err.splitlines()[-1]
    assert line.startswith(f"brainfeat {argv[0]}: error: ")
    assert value in line and fix in line, line


API_CASES = [
    (lambda f: brainfeat.load("true", "AlexNet", "fc8", catalog=str(f["missing.json"]),
                            download=False),
     "missing.json"),
    (lambda f: brainfeat.load("true", "AlexNet", "fc8", catalog=f["bad.json"], download=False),
     "bad.json"),
    (lambda f: brainfeat.load("true", "AlexNet", "fc8", catalog=3, download=False), "catalog=3"),
    (lambda f: brainfeat.load("true", "AlexNet", "fc8", data_dir=5, download=False), "data_dir=5"),
    (lambda f: brainfeat.load_fmri("S1", catalog=str(f["partial.json"]), download=False),
     "partial.json"),
    (lambda f: brainfeat.layer_info("AlexNet", "fc8", catalog=str(f["folder"])), "folder"),
    (lambda f: brainfeat.Catalog.load(f["binary.json"]), "not UTF-8"),
    (lambda f: brainfeat.Catalog.from_json('{"name": 1, "layers": 5}'), "'synthetic'"),
    (lambda f: brainfeat.Catalog.from_json("[1, 2]"), "list indices"),
    (lambda f: brainfeat.load("decoded", "AlexNet", "fc8", "-1", download=False), "'-1'"),
    (lambda f: brainfeat.load("decoded", "AlexNet", "fc8", 2.0, download=False), "2.0"),
    (lambda f: brainfeat.load_fmri(True, download=False), "True"),
    (lambda f: brainfeat.verify("AlexNet", "fc8", tolerance=float("nan"), download=False,
                                progress=False), "tolerance=nan"),
    (lambda f: _decode(f, alpha=-3), "alpha=-3"),
    (lambda f: _decode(f, n_voxels=2.5), "n_voxels=2.5"),
    (lambda f: _decode(f, chunk_units=0), "chunk_units=0"),
    (lambda f: _decode(f, dtype="float16"), "float16"),
    (lambda f: _decode(f, network="VGG19"), "not VGG19"),
    (lambda f: _decode(f, train=_FeatureSetLike("VGG19", "fc8")), "not AlexNet"),
    (lambda f: _decode(f, train=_FeatureSetLike("AlexNet", "fc7")), "not fc8"),
    (lambda f: brainfeat.decoding.VoxelSelectRidge(alpha=float("nan")).fit(
        np.eye(4), np.eye(4)), "alpha=nan"),
    (lambda f: _decode_in_memory(f, "nan.h5", np.full((6, 3), np.nan)), "hold NaN"),
    (lambda f: _decode_in_memory(f, "short.h5", np.zeros((5, 3))), "5 rows but 6 image ids"),
]


class _FeatureSetLike:
    """The fields of a FeatureSet that decode_layer reads."""

    def __init__(self, network: str, layer: str) -> None:
        self.network, self.layer = network, layer
        self.values = np.zeros((4, 3), dtype=np.float32)
        self.image_ids = default_catalog().training_image_ids[:4]


def _decode(files: dict[str, Path], *, network: str = "AlexNet", train: object = None,
            **settings: object) -> Path:
    import brainfeat.decoding

    return brainfeat.decoding.decode_layer(
        "S1", network, "fc8", files["alexnet.h5"] if train is None else train,
        files["folder"] / "never.h5", download=False, progress=False, **settings)


def _decode_in_memory(files: dict[str, Path], out: str, values: np.ndarray) -> Path:
    """decode_layer on a 6-sample training fMRI and features of those 6 images."""
    import brainfeat.decoding

    rng = np.random.default_rng(0)
    names = default_catalog().training_image_ids[:6]
    train = argparse.Namespace(X=rng.standard_normal((6, 4)), stimulus_names=names)
    test = argparse.Namespace(X=rng.standard_normal((2, 4)),
                              stimulus_names=default_catalog().test_image_ids[:2])
    features = argparse.Namespace(values=values, image_ids=names)
    return brainfeat.decoding.decode_layer("S1", "AlexNet", "fc8", features,
                                           files["folder"] / out, fmri_train=train,
                                           fmri_test=test, progress=False)


@pytest.mark.parametrize("call, value", API_CASES, ids=[case[1] for case in API_CASES])
def test_bad_api_input_raises_a_brainfeat_error_naming_it(files, call, value) -> None:
    import brainfeat.decoding  # noqa: F401 - the table's lambdas reach it as an attribute

    with pytest.raises(BrainfeatError) as raised:
        call(files)
    assert value in str(raised.value)


def test_numpy_integers_name_subjects() -> None:
    assert Subject.parse(np.int64(2)) == Subject.parse("S2") == Subject(2)
    assert Subject.parse(np.uint8(5)).name == "S5"
    with pytest.raises(BrainfeatError, match="Subject3.h5"):  # parsed as S3, then not cached
        brainfeat.load_fmri(np.int32(3), download=False)


@pytest.mark.parametrize("text", ["1", "01", "S1", "s01", "sub-01", "sub_1", "Subject1",
                                  "subject 1", " S1 "])
def test_every_documented_spelling_still_names_s1(text) -> None:
    assert Subject.parse(text) == Subject(1)


@pytest.mark.parametrize("text", ["-1", "+1", "1-", "s-u-b-1", "S1.0", "1e0", "0", "S 1 1"])
def test_subject_spellings_that_name_nobody_are_refused(text) -> None:
    with pytest.raises(BrainfeatError, match="Unknown subject"):
        Subject.parse(text)


def test_a_good_file_still_passes_the_checks(files, capsys) -> None:
    assert main(["fmri", "S1", "--file", str(files["Subject1.h5"])]) == 0
    assert "S1 VC train: 6 samples x 4 voxels" in capsys.readouterr().out


# -- polish ---------------------------------------------------------------------------------

def _verbs() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--version"])
    assert raised.value.code == 0
    assert capsys.readouterr().out.strip() == f"brainfeat {brainfeat.__version__}"


def test_bare_brainfeat_prints_its_help_and_exits_2(capsys) -> None:
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: brainfeat") and "verify-cache" in err and "--version" in err


@pytest.mark.parametrize("verb", sorted(_verbs()))
def test_every_verb_has_a_description(verb) -> None:
    description = _verbs()[verb].description
    assert description and len(description.split()) >= 8, f"`brainfeat {verb} --help`"


@pytest.mark.parametrize("verb", sorted(_verbs()))
def test_the_progress_flag_has_one_spelling(verb) -> None:
    parser = _verbs()[verb]
    shown = {word.strip("[],") for word in parser.format_help().split()
             if "progress" in word or "quiet" in word}
    assert shown <= {"--no-progress", "progress"}, shown
    # brainfeat 0.1's spelling of decode, verify and figures still works, unlisted
    quiet = [a for a in parser._actions if "--quiet" in a.option_strings]
    assert all(a.dest == "progress" and a.const is False for a in quiet)


def test_the_package_is_typed() -> None:
    assert resources.files("brainfeat").joinpath("py.typed").is_file()
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "py.typed" in setup["package-data"]["brainfeat"]


def _raising(error: BaseException):
    def handler(args: argparse.Namespace) -> int:
        print("partial output")
        raise error
    return handler


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys) -> None:
    monkeypatch.setattr("brainfeat.cli.data._where", _raising(KeyboardInterrupt()))
    assert main(["where"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("brainfeat where: interrupted; run the same")


def test_a_closed_pipe_ends_quietly_with_141(monkeypatch, capsys) -> None:
    monkeypatch.setattr("brainfeat.cli.data._where", _raising(BrokenPipeError()))
    assert main(["where"]) == 141
    assert capsys.readouterr().err == ""


def test_a_reader_that_goes_away_gets_no_traceback(tmp_path: Path) -> None:
    """`brainfeat where | head -0`, for real: the pipe is closed before brainfeat writes."""
    proc = subprocess.Popen([sys.executable, "-m", "brainfeat", "where"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert err == ""
