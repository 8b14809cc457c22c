"""verify-features against published true files served from 127.0.0.1, with a planted mismatch.

The published zips (``decodedDNN-true-<net>-<layer>.zip``, members under ``decodedDNN/``)
are built here and served as a figshare mirror (``BRAINFEAT_MIRRORS``), so the features
are loaded through the real download, extraction and .mat reading code.
"""

from __future__ import annotations

import dataclasses
import re
import zipfile
from contextlib import contextmanager
from io import BytesIO

import numpy as np
import pytest
import scipy.io
from PIL import Image

torch = pytest.importorskip("torch")

from brainfeat.catalog import default_catalog  # noqa: E402
from brainfeat.cli import main  # noqa: E402
from brainfeat.demo.server import serve_folder  # noqa: E402
from brainfeat.errors import FormatError  # noqa: E402
from brainfeat.features.extraction import extract  # noqa: E402
from brainfeat.features.store import read_extracted  # noqa: E402
from brainfeat.features.verify import verify_features  # noqa: E402

torch.set_num_threads(2)
IDS = ("n01_1", "n02_1", "n03_1")
# figshare file ids of the published true-feature zips (DATASET.md 1.1)
TRUE_FILE_IDS = {("AlexNet", "conv5"): 13110734, ("AlexNet", "fc8"): 13110737,
                 ("VGG19", "fc8"): 13110794}


def publish_true(root, network, layer, values_by_image) -> None:
    """Write the published zip of one layer's true features where the mirror serves it."""
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for image, values in values_by_image.items():
            mat = BytesIO()
            scipy.io.savemat(mat, {"feat": values})
            archive.writestr(f"decodedDNN/true/{network}/{layer}/"
                             f"true-{network}-{layer}-{image}.mat", mat.getvalue())
    (root / "files").mkdir(parents=True, exist_ok=True)
    (root / "files" / str(TRUE_FILE_IDS[network, layer])).write_bytes(buffer.getvalue())


@contextmanager
def figshare_mirror(root, monkeypatch):
    """Serve ``root`` on 127.0.0.1 as the figshare mirror."""
    with serve_folder(root) as url:
        monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={url}")
        yield


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    root = tmp_path_factory.mktemp("verify")
    rng = np.random.default_rng(0)
    (root / "img").mkdir()
    for name in ("n00_9",) + IDS:  # one extra image that is not a published test image
        Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(
            root / "img" / f"{name}.JPEG")
    return extract("AlexNet", root / "img", out=root / "alexnet.h5", layers=["conv5", "fc8"],
                   weights="random", batch_size=2, progress=False)


@pytest.fixture()
def catalog():
    return dataclasses.replace(default_catalog(), name="verify test", synthetic=True,
                               test_image_ids=IDS)


def test_planted_mismatch_is_flagged(tmp_path, regenerated, catalog, monkeypatch) -> None:
    conv5 = read_extracted(regenerated, "conv5", image_ids=IDS)
    fc8 = read_extracted(regenerated, "fc8", image_ids=IDS)
    served = tmp_path / "served"
    # conv5 as Caffe saves it, (C, H, W), with rounding noise far below the tolerance
    publish_true(served, "AlexNet", "conv5", {
        image: conv5.reshape_units()[k] * np.float32(1 + 1e-7) for k, image in enumerate(IDS)})
    planted = fc8.values.copy()
    planted[1, 17] += 0.5 * np.abs(planted).max()  # one unit of the second image is wrong
    publish_true(served, "AlexNet", "fc8", {image: planted[k] for k, image in enumerate(IDS)})

    with figshare_mirror(served, monkeypatch):
        report = verify_features(regenerated, "AlexNet", data_dir=tmp_path / "data",
                                 progress=False, catalog=catalog)
    by_layer = {check.layer: check for check in report.checks}
    assert list(by_layer) == ["conv5", "fc8"]
    assert by_layer["conv5"].passed and by_layer["conv5"].min_r > 0.9999
    assert not by_layer["fc8"].passed and not report.passed
    assert by_layer["fc8"].max_abs_diff == pytest.approx(0.5 * np.abs(planted).max(), rel=0.1)
    assert by_layer["fc8"].image_ids == IDS and "max|diff|" in by_layer["fc8"].note
    assert "FAIL" in str(report) and "PASS" in str(report)
    assert not report.to_frame().loc["fc8", "passed"]


def test_features_of_another_network_are_refused(tmp_path, regenerated, catalog,
                                                 monkeypatch) -> None:
    publish_true(tmp_path, "VGG19", "fc8", {image: np.zeros(1000, np.float32) for image in IDS})
    with figshare_mirror(tmp_path, monkeypatch), \
            pytest.raises(FormatError, match="holds AlexNet features, not VGG19"):
        verify_features(regenerated, "VGG19", layers=["fc8"], data_dir=tmp_path / "data",
                        progress=False, catalog=catalog)


def test_verify_features_verb_exit_codes(tmp_path, regenerated, catalog, monkeypatch,
                                         capsys) -> None:
    (tmp_path / "catalog.json").write_text(catalog.to_json())
    fc8 = read_extracted(regenerated, "fc8", image_ids=IDS)
    verify = ["verify-features", str(regenerated), "AlexNet", "--layers", "fc8",
              "--catalog", str(tmp_path / "catalog.json"), "--no-progress"]
    publish_true(tmp_path / "good", "AlexNet", "fc8", dict(zip(IDS, fc8.values)))
    with figshare_mirror(tmp_path / "good", monkeypatch):
        assert main([*verify, "--data-dir", str(tmp_path / "a")]) == 0
    assert "all layers pass" in capsys.readouterr().out
    publish_true(tmp_path / "bad", "AlexNet", "fc8", dict(zip(IDS, -fc8.values)))
    with figshare_mirror(tmp_path / "bad", monkeypatch):
        assert main([*verify, "--data-dir", str(tmp_path / "b")]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_compare_layer_correlates_each_image_across_units() -> None:
    from brainfeat.features.verify import compare_layer

    published = np.random.default_rng(5).normal(size=(3, 40)).astype(np.float32)
    regenerated = np.stack([2 * published[0] + 1, -published[1], np.full(40, 3.0, np.float32)])
    check = compare_layer("fc8", regenerated, published, ("a", "b", "c"))
    np.testing.assert_allclose(check.pearson_r[:2], [1.0, -1.0], atol=1e-12)
    assert np.isnan(check.pearson_r[2])                       # a constant image has no r
    assert not check.passed and "r < 0.999 for 2 images (first b)" in check.note
    same = compare_layer("fc8", published, published, ("a", "b", "c"))
    assert same.passed and same.max_abs_diff == 0 and same.min_r == pytest.approx(1.0)


def _planted(values: np.ndarray, factor: float) -> np.ndarray:
    """``values`` with one unit moved by ``factor`` x the default tolerance x max|values|."""
    planted = values.astype(np.float64)
    planted[-1, 3] += factor * 1e-3 * np.abs(values).max()   # 1e-3: the documented default
    return planted.astype(np.float32)


@pytest.mark.parametrize(("factor", "passes"), [(0.9, True), (1.1, False)])
def test_default_tolerance_decides_just_below_and_just_above(factor, passes) -> None:
    from brainfeat.features.verify import compare_layer

    published = np.random.default_rng(8).normal(size=(3, 200)).astype(np.float32)
    check = compare_layer("fc8", _planted(published, factor), published, ("a", "b", "c"))
    assert check.relative_diff == pytest.approx(factor * 1e-3, rel=1e-3)
    assert check.min_r > 0.9999 and check.passed is passes  # r does not decide here
    assert ("max|diff|" in check.note) is not passes


@pytest.mark.parametrize(("r", "passes"), [(0.9985, False), (0.9995, True)])
def test_default_min_r_decides_just_below_and_just_above(r, passes) -> None:
    from brainfeat.features.verify import compare_layer

    rng = np.random.default_rng(9)
    published = rng.normal(size=(2, 300))
    centred = published - published.mean(axis=1, keepdims=True)
    noise = rng.normal(size=(2, 300))
    noise -= noise.mean(axis=1, keepdims=True)
    noise -= (noise * centred).sum(1, keepdims=True) / (centred ** 2).sum(1, keepdims=True) * centred
    # orthogonal, centred noise of norm |p| sqrt(1/r^2 - 1) gives correlation exactly r
    noise *= (np.linalg.norm(centred, axis=1) / np.linalg.norm(noise, axis=1)
              * np.sqrt(1 / r ** 2 - 1))[:, None]
    check = compare_layer("fc8", published + noise, published, ("a", "b"), tolerance=1.0)
    np.testing.assert_allclose(check.pearson_r, r, rtol=1e-9)
    assert check.passed is passes


def test_verify_features_and_its_verb_flag_a_unit_just_over_the_tolerance(
        tmp_path, regenerated, catalog, monkeypatch, capsys) -> None:
    conv5 = read_extracted(regenerated, "conv5", image_ids=IDS)
    fc8 = read_extracted(regenerated, "fc8", image_ids=IDS)
    published_conv5 = _planted(conv5.values, 0.9).reshape((len(IDS), *conv5.unit_shape))
    publish_true(tmp_path, "AlexNet", "conv5", dict(zip(IDS, published_conv5)))
    publish_true(tmp_path, "AlexNet", "fc8", dict(zip(IDS, _planted(fc8.values, 1.1))))
    (tmp_path / "catalog.json").write_text(catalog.to_json())
    with figshare_mirror(tmp_path, monkeypatch):
        report = verify_features(regenerated, "AlexNet", data_dir=tmp_path / "data",
                                 progress=False, catalog=catalog)
        assert main(["verify-features", str(regenerated), "AlexNet", "--catalog",
                     str(tmp_path / "catalog.json"), "--data-dir", str(tmp_path / "data"),
                     "--no-progress"]) == 1
    by_layer = {check.layer: check for check in report.checks}
    assert by_layer["conv5"].passed and not by_layer["fc8"].passed
    printed = capsys.readouterr().out
    assert re.search(r"^conv5 .*PASS$", printed, re.M) and re.search(r"^fc8 .*FAIL", printed, re.M)
