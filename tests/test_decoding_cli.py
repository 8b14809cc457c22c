"""``brainfeat decode`` on a GOD-like Subject*.h5 and a features file."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from brainfeat.catalog import default_catalog
from brainfeat.cli import main
from brainfeat.decoding import decode_layer
from brainfeat.fmri.preprocessed import read_fmri
from brainfeat.io.bdata import BDataBuilder, write_bdata
from brainfeat.stimuli import name_to_id

N_VOXELS, N_UNITS = 25, 13


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Subject1.h5 (60 training images, 50 test images x 2 repeats) and features.h5."""
    root = tmp_path_factory.mktemp("cli")
    catalog, rng = default_catalog(), np.random.default_rng(7)
    train, test = list(catalog.training_image_ids[:60]), list(catalog.test_image_ids)
    images = train + test
    latent = rng.standard_normal((len(images), 5))
    brain = latent @ rng.standard_normal((5, N_VOXELS))
    samples = train + [name for _ in range(2) for name in rng.permutation(test)]
    rows = [images.index(name) for name in samples]
    builder = BDataBuilder()
    builder.add(brain[rows] + rng.standard_normal((len(rows), N_VOXELS)), "VoxelData")
    builder.add(np.array([1.0] * 60 + [2.0] * 100), "DataType")
    builder.add(np.array([1 + i // 20 for i in range(60)] + [1 + i // 50 for i in range(100)],
                         dtype=float), "Run")
    builder.add(np.array([name_to_id(name) for name in samples]), "stimulus_id")
    builder.add_metadata("ROI_VC", np.ones(N_VOXELS), "1 = ROI VC", where="VoxelData")
    subject = write_bdata(root / "Subject1.h5", builder.build())
    features = root / "features.h5"
    with h5py.File(features, "w") as handle:
        handle["image_ids"] = np.array(images, dtype=object)
        handle["layers/fc8"] = (latent @ rng.standard_normal((5, N_UNITS))).astype(np.float32)
    return subject, features


def test_decode_verb_writes_what_decode_layer_writes(files, tmp_path: Path, capsys) -> None:
    subject, features = files
    out = tmp_path / "cli.h5"
    code = main(["decode", "--subject", "S1", "--network", "AlexNet", "--layer", "fc8",
                 "--train-features", str(features), "--test-features", str(features),
                 "--fmri", str(subject), "--out", str(out), "--n-voxels", "8",
                 "--chunk-units", "4", "--no-progress"])
    assert code == 0
    summary = capsys.readouterr().out
    assert "13 units x 50 test images" in summary and "units/s" in summary
    assert "mean accuracy" in summary
    api = decode_layer("S1", "AlexNet", "fc8", features, tmp_path / "api.h5",
                       fmri_train=read_fmri(subject, "S1", "VC", "train"),
                       fmri_test=read_fmri(subject, "S1", "VC", "test", True),
                       test_features=features, n_voxels=8, chunk_units=4, progress=False)
    assert out.read_bytes() == api.read_bytes()


def test_decode_verb_reports_missing_fmri(files, tmp_path: Path, capsys) -> None:
    _, features = files
    code = main(["decode", "--subject", "S2", "--network", "AlexNet", "--layer", "fc8",
                 "--train-features", str(features), "--out", str(tmp_path / "x.h5"),
                 "--data-dir", str(tmp_path), "--no-download", "--no-progress"])
    assert code == 2
    assert "Subject2" in capsys.readouterr().err
