"""The `brainfeat features` verb on random weights (`verify-features`: test_features_verify)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from brainfeat.cli import main  # noqa: E402
from brainfeat.features.store import read_extracted  # noqa: E402

IDS = ("n01_1", "n02_1")


@pytest.fixture()
def images(tmp_path):
    rng = np.random.default_rng(4)
    folder = tmp_path / "img"
    folder.mkdir()
    for name in IDS:
        Image.fromarray(rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)).save(
            folder / f"{name}.png")
    return folder


def test_features_verb_writes_the_file(tmp_path, images, capsys) -> None:
    out = tmp_path / "alexnet.h5"
    code = main(["features", "AlexNet", str(images), "-o", str(out), "--weights", "random",
                 "--layers", "fc7", "fc8", "--relu", "--no-progress"])
    assert code == 0 and "layers fc7 fc8" in capsys.readouterr().out
    fc7 = read_extracted(out, "fc7")
    assert fc7.values.shape == (2, 4096) and (fc7.values >= 0).all()  # after ReLU
    assert fc7.provenance["relu"] == "after ReLU"


def test_missing_weights_exit_with_the_instructions(tmp_path, images, capsys) -> None:
    code = main(["features", "AlexNet", str(images), "-o", str(tmp_path / "a.h5"),
                 "--data-dir", str(tmp_path / "data"), "--no-progress"])
    error = capsys.readouterr().err
    assert code == 2 and "bvlc_alexnet.caffemodel" in error and "weights" in error
