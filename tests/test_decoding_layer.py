"""decode_layer: streamed by unit chunks into HDF5, checkpointed, resumable byte for byte."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

from brainfeat.decoding import VoxelSelectRidge, decode_layer
from brainfeat.errors import FormatError
from brainfeat.evaluation.metrics import unit_correlation

BACKENDS = [pytest.param({"backend": "numpy"}, id="numpy"),
            pytest.param({"backend": "torch", "device": "cpu"}, id="torch-cpu"),
            pytest.param({"backend": "torch", "device": "cuda"}, id="torch-cuda",
                         marks=pytest.mark.gpu)]
SETTINGS = {"alpha": 50.0, "n_voxels": 12, "chunk_units": 5, "progress": False}


@dataclass
class Samples:
    """The part of brainfeat's FMRI that decode_layer reads: X and stimulus_names."""

    X: np.ndarray
    stimulus_names: tuple[str, ...]


def make_inputs(root: Path, seed: int = 0, n_units: int = 23) -> dict:
    """Synthetic fMRI and a features file in the features layout (train + test images)."""
    rng = np.random.default_rng(seed)
    n_voxels, train_ids = 40, [f"n0000000{i // 10}_{i:04d}" for i in range(70)]
    test_ids = [f"n0999999{i}_{i:04d}" for i in range(9)]
    ids = train_ids + test_ids
    latent = rng.standard_normal((len(ids), 6))
    brain = latent @ rng.standard_normal((6, n_voxels)) + rng.standard_normal((len(ids), n_voxels))
    features = (latent @ rng.standard_normal((6, n_units))
                + 0.5 * rng.standard_normal((len(ids), n_units))).astype(np.float32)
    features[:, 4] = 0.0  # a dead unit
    shuffled = rng.permutation(70)  # fMRI samples in another order than the feature rows
    path = root / "features.h5"
    with h5py.File(path, "w") as handle:
        handle["image_ids"] = np.array(ids, dtype=object)
        handle.create_dataset("layers/fc8", data=features)
    return {
        "features": path, "values": features, "ids": ids,
        "train": Samples((brain[shuffled] * 3 + 100).astype(np.float32),
                         tuple(train_ids[i] for i in shuffled)),
        "test": Samples((brain[70:] * 3 + 100).astype(np.float32), tuple(test_ids)),
    }


@pytest.fixture
def inputs(tmp_path: Path) -> dict:
    return make_inputs(tmp_path)


def run(inputs: dict, out: Path, **kw) -> Path:
    args = {**SETTINGS, "fmri_train": inputs["train"], "fmri_test": inputs["test"],
            "test_features": inputs["features"], **kw}
    return decode_layer("S1", "AlexNet", "fc8", inputs["features"], out, **args)


@pytest.mark.parametrize("backend", BACKENDS)
def test_decoded_features_are_those_of_the_estimator(inputs: dict, tmp_path: Path,
                                                     backend: dict) -> None:
    if backend.get("device") == "cuda":
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            pytest.skip("no CUDA device")
    out = run(inputs, tmp_path / "out.h5", **backend)
    rows = [inputs["ids"].index(name) for name in inputs["train"].stimulus_names]
    model = VoxelSelectRidge(alpha=50.0, n_voxels=12, normalize=True, **backend)
    expected = model.fit(inputs["train"].X, inputs["values"][rows]).predict(inputs["test"].X)
    true = inputs["values"][70:]
    with h5py.File(out, "r") as handle:
        decoded, accuracy = handle["decoded"][()], handle["accuracy"][()]
        assert handle["chunks_done"][()].all()
        assert [s.decode() for s in handle["image_ids"][()]] == list(inputs["test"].stimulus_names)
        assert handle.attrs["layer"] == "fc8" and handle.attrs["subject"] == "S1"
    np.testing.assert_allclose(decoded, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(accuracy, unit_correlation(decoded, true))
    assert np.isnan(accuracy[4]) and np.nanmean(accuracy) > 0.5


def test_features_given_as_arrays_or_feature_sets_agree(inputs: dict, tmp_path: Path) -> None:
    reference = run(inputs, tmp_path / "file.h5")
    rows = [inputs["ids"].index(name) for name in inputs["train"].stimulus_names]

    @dataclass
    class Features:
        values: np.ndarray
        image_ids: tuple[str, ...]

    labelled = Features(inputs["values"], tuple(inputs["ids"]))
    for name, train, true in (("aligned", inputs["values"][rows], inputs["values"][70:]),
                              ("labelled", labelled, labelled)):
        out = decode_layer("S1", "AlexNet", "fc8", train, tmp_path / f"{name}.h5",
                           fmri_train=inputs["train"], fmri_test=inputs["test"],
                           test_features=true, **SETTINGS)
        assert out.read_bytes() == reference.read_bytes(), name


def test_interrupted_run_resumes_to_the_same_bytes(inputs: dict, tmp_path: Path) -> None:
    whole = run(inputs, tmp_path / "whole.h5")
    calls: list[int] = []

    def stop_after_two(index: int, done: int) -> None:
        calls.append(index)
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated kill")

    partial = tmp_path / "partial.h5"
    with pytest.raises(KeyboardInterrupt):
        run(inputs, partial, on_chunk=stop_after_two)
    with h5py.File(partial, "r") as handle:
        assert handle["chunks_done"][()].tolist() == [True, True, False, False, False]
    resumed: list[int] = []
    run(inputs, partial, on_chunk=lambda index, done: resumed.append(index))
    assert resumed == [2, 3, 4]
    assert partial.read_bytes() == whole.read_bytes()


KILLED_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_decoding_layer import make_inputs, run
    inputs = make_inputs(Path({root!r}))
    def report(index, done):
        print(index, flush=True)
        time.sleep(30)
    run(inputs, Path({out!r}), on_chunk=report)
""")


def test_killed_process_resumes_to_the_same_bytes(inputs: dict, tmp_path: Path) -> None:
    whole = run(inputs, tmp_path / "whole.h5")
    out = tmp_path / "killed.h5"
    script = KILLED_RUN.format(tests=str(Path(__file__).parent), root=str(tmp_path / "k"),
                               out=str(out))
    (tmp_path / "k").mkdir()
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    try:
        assert process.stdout.readline().strip() == "0"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    with h5py.File(out, "r") as handle:
        assert handle["chunks_done"][()].sum() == 1
    run(inputs, out)
    assert out.read_bytes() == whole.read_bytes()


def test_other_settings_do_not_resume(inputs: dict, tmp_path: Path) -> None:
    out = run(inputs, tmp_path / "out.h5")
    with pytest.raises(FormatError, match="alpha"):
        run(inputs, out, alpha=1.0)


def test_missing_stimuli_and_shapes_are_reported(inputs: dict, tmp_path: Path) -> None:
    names = ("n12345678_0001",) + inputs["train"].stimulus_names[1:]
    with pytest.raises(FormatError, match="no features"):
        run(inputs, tmp_path / "a.h5", fmri_train=Samples(inputs["train"].X, names))
    with pytest.raises(FormatError, match="70 samples"):
        decode_layer("S1", "AlexNet", "fc8", inputs["values"][:50], tmp_path / "b.h5",
                     fmri_train=inputs["train"], fmri_test=inputs["test"], progress=False)
    with pytest.raises(FormatError, match="layers/fc7"):
        run(inputs, tmp_path / "c.h5", dataset="layers/fc7")
    with pytest.raises(ValueError, match="chunk_units=-5"):
        run(inputs, tmp_path / "d.h5", chunk_units=-5)
    assert not (tmp_path / "d.h5").exists()
