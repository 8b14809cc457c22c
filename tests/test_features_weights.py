"""Weights from converted PyTorch state dicts and zips; the documented errors."""

from __future__ import annotations

import zipfile

import pytest

torch = pytest.importorskip("torch")

from brainfeat.demo.server import serve_folder  # noqa: E402
from brainfeat.errors import DataNotFoundError, FormatError, IntegrityError  # noqa: E402
from brainfeat.features.layers import tap_modules  # noqa: E402
from brainfeat.features.models import caffe_alexnet  # noqa: E402
from brainfeat.features.weights import (  # noqa: E402
    DOWNLOAD, VGG19_CONVERSION_MD5, VGG19_CONVERSION_URL, load_paper_model, weights_folder)


def test_zipped_state_dict_with_dataset_layer_names_loads(tmp_path) -> None:
    torch.manual_seed(7)
    reference = caffe_alexnet().state_dict()
    module_to_layer = {module: layer for layer, module in tap_modules("AlexNet").items()}
    renamed = {}
    for key, value in reference.items():  # "module.conv1.weight", as DataParallel saves it
        module, _, suffix = key.rpartition(".")
        renamed[f"module.{module_to_layer[module]}.{suffix}"] = value
    torch.save({"state_dict": renamed}, tmp_path / "alexnet.pt")
    with zipfile.ZipFile(tmp_path / "alexnet.zip", "w") as archive:
        archive.write(tmp_path / "alexnet.pt", "pytorch/AlexNet/alexnet.pt")
    (tmp_path / "alexnet.pt").unlink()

    model, description = load_paper_model("AlexNet", tmp_path / "alexnet.zip")
    assert description == "alexnet.zip"
    assert (tmp_path / "alexnet" / "alexnet.pt").is_file()  # extracted once, beside the zip
    for key, value in model.state_dict().items():
        assert torch.equal(value, reference[key]), key


def test_vgg19_zip_must_be_the_labs_conversion(tmp_path) -> None:
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "VGG_ILSVRC_19_layers.pt")
    with zipfile.ZipFile(tmp_path / "vgg19.zip", "w") as archive:
        archive.write(tmp_path / "VGG_ILSVRC_19_layers.pt", "VGG_ILSVRC_19_layers.pt")
    with pytest.raises(IntegrityError, match=f"not {VGG19_CONVERSION_MD5}.*38225868"):
        load_paper_model("VGG19", tmp_path / "vgg19.zip")


def test_wrong_state_dict_names_the_problem(tmp_path) -> None:
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "tiny.pt")
    with pytest.raises(FormatError, match="do not fit AlexNet"):
        load_paper_model("AlexNet", tmp_path / "tiny.pt")
    (tmp_path / "model.pt").write_bytes(b"not a torch file")
    with pytest.raises(FormatError, match="Cannot read a state dict"):
        load_paper_model("AlexNet", tmp_path / "model.pt")


def test_missing_weights_say_what_to_get_and_where(tmp_path) -> None:
    folder = weights_folder("VGG19", tmp_path)
    assert folder == tmp_path / "weights" / "VGG19"
    with pytest.raises(DataNotFoundError) as caught:
        load_paper_model("VGG19", data_dir=tmp_path)
    message = str(caught.value)
    assert str(folder / "VGG_ILSVRC_19_layers.caffemodel") in message
    assert VGG19_CONVERSION_URL in message and VGG19_CONVERSION_MD5 in message
    with pytest.raises(DataNotFoundError, match="absent.caffemodel does not exist"):
        load_paper_model("AlexNet", tmp_path / "absent.caffemodel")


def test_download_goes_through_the_registry_and_is_verified(tmp_path, monkeypatch) -> None:
    served = tmp_path / "served" / "files"
    served.mkdir(parents=True)
    with zipfile.ZipFile(served / "38225868", "w") as archive:  # not the lab's zip
        archive.writestr("VGG_ILSVRC_19_layers.pt", b"bogus")
    with serve_folder(tmp_path / "served") as url:
        monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={url}")
        with pytest.raises(IntegrityError, match=VGG19_CONVERSION_MD5):
            load_paper_model("VGG19", DOWNLOAD, data_dir=tmp_path / "data", progress=False)
    with pytest.raises(DataNotFoundError, match="no download of AlexNet weights"):
        load_paper_model("AlexNet", DOWNLOAD, data_dir=tmp_path / "data")
