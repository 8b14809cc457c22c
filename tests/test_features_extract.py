"""Extraction to HDF5: catalog shapes, interruption and resumption, any model, errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from brainfeat.catalog import default_catalog  # noqa: E402
from brainfeat.errors import DataNotFoundError, FormatError  # noqa: E402
from brainfeat.features.extraction import extract  # noqa: E402
from brainfeat.features.models import caffe_alexnet  # noqa: E402
from brainfeat.features.store import read_extracted  # noqa: E402

torch.set_num_threads(2)


def write_images(folder, names, seed=0, size=(90, 70)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{name}.JPEG", quality=95)
    return folder


@pytest.mark.parametrize("network", ["AlexNet", "VGG19"])
def test_every_layer_has_the_catalog_shape(tmp_path, network) -> None:
    images = write_images(tmp_path / "img", ["n01_1"])
    out = extract(network, images, out=tmp_path / "f.h5", weights="random", progress=False)
    catalog = default_catalog()
    with h5py.File(out) as handle:
        assert list(handle["layers"]) == sorted(i.name for i in catalog.layers_of(network))
        for info in catalog.layers_of(network):
            dataset = handle["layers"][info.name]
            assert tuple(dataset.attrs["unit_shape"]) == info.unit_shape
            assert dataset.shape == (1, info.n_units) and dataset.dtype == np.float32
        assert handle["batches_done"][()].all()
    conv = read_extracted(out, catalog.layers_of(network)[0].name)
    assert conv.image_ids == ("n01_1",) and (conv.values < 0).any()  # pre-ReLU by default


def test_interrupted_run_resumes_to_an_identical_file(tmp_path) -> None:
    names = [f"n0{i}_1" for i in range(5)]
    images = write_images(tmp_path / "img", names)
    torch.manual_seed(1)
    state = caffe_alexnet().state_dict()
    kwargs = dict(weights=state, batch_size=2, layers=["conv5", "fc8"], progress=False)
    whole = extract("AlexNet", images, out=tmp_path / "whole.h5", **kwargs)

    good = (images / "n02_1.JPEG").read_bytes()
    (images / "n02_1.JPEG").write_bytes(b"truncated download")  # breaks the second batch
    with pytest.raises(FormatError, match="n02_1.JPEG"):
        extract("AlexNet", images, out=tmp_path / "resumed.h5", **kwargs)
    with h5py.File(tmp_path / "resumed.h5") as handle:
        assert handle["batches_done"][()].tolist() == [True, False, False]
    with pytest.raises(FormatError, match="incomplete"):
        read_extracted(tmp_path / "resumed.h5", "fc8")

    (images / "n02_1.JPEG").write_bytes(good)
    resumed = extract("AlexNet", images, out=tmp_path / "resumed.h5", **kwargs)
    for layer in ("conv5", "fc8"):
        np.testing.assert_array_equal(read_extracted(resumed, layer).values,
                                      read_extracted(whole, layer).values)
    assert resumed.read_bytes() == whole.read_bytes()


class CountingNet(torch.nn.Module):
    """A small model that counts the images it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.head = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(),
                                        torch.nn.Linear(16, 3))
        self.seen = 0

    def forward(self, x):
        self.seen += x.shape[0]
        return self.head(torch.relu(self.conv(x)))


def tiny_transform(image):
    return torch.from_numpy(np.asarray(image.resize((8, 8)), np.float32).transpose(2, 0, 1))


def test_resumed_run_computes_only_the_missing_batches(tmp_path) -> None:
    images = write_images(tmp_path / "img", [f"n0{i}_1" for i in range(5)])
    model = CountingNet()
    out = tmp_path / "f.h5"
    kwargs = dict(layers=["conv", "head.2"], transform=tiny_transform, batch_size=2,
                  progress=False)
    extract(model, images, out=out, **kwargs)
    assert model.seen == 5
    with h5py.File(out, "r+") as handle:  # as if the run had stopped before the last batch
        handle["batches_done"][2] = False
    extract(model, images, out=out, **kwargs)
    assert model.seen == 6
    head = read_extracted(out, "head.2")
    assert head.values.shape == (5, 3) and head.unit_shape == (3,)
    assert read_extracted(out, "conv").unit_shape == (4, 6, 6)
    with pytest.raises(FormatError, match="another run.*batch_size"):
        extract(model, images, out=out, **{**kwargs, "batch_size": 3})
    extract(model, images, out=out, overwrite=True, **{**kwargs, "batch_size": 3})


def test_random_weights_are_the_same_in_every_run(tmp_path) -> None:
    images = write_images(tmp_path / "img", ["n01_1"])
    runs = [extract("AlexNet", images, layers=["fc8"], out=tmp_path / f"{i}.h5",
                    weights="random", progress=False) for i in range(2)]
    first, second = (read_extracted(path, "fc8").values for path in runs)
    np.testing.assert_array_equal(first, second)
    assert np.abs(first).max() > 0


def test_torchvision_model_by_name_with_random_weights(tmp_path) -> None:
    images = write_images(tmp_path / "img", ["a", "b"])
    out = extract("resnet18", images, out=tmp_path / "r.h5", layers=["layer4", "fc"],
                  weights=None, progress=False)
    assert read_extracted(out, "layer4").unit_shape == (512, 7, 7)
    fc = read_extracted(out, "fc", image_ids=["b", "a"])
    assert fc.values.shape == (2, 1000) and fc.model == "torchvision:resnet18"
    assert fc.image_ids == ("b", "a")
    in_file_order = read_extracted(out, "fc")
    assert in_file_order.image_ids == ("a", "b")
    np.testing.assert_array_equal(fc.values, in_file_order.values[::-1])  # rows follow the ids
    assert not np.array_equal(fc.values[0], fc.values[1])
    repeated = read_extracted(out, "fc", image_ids=["b", "a", "b"])
    np.testing.assert_array_equal(repeated.values, in_file_order.values[[1, 0, 1]])


def test_missing_weights_and_images_give_the_documented_errors(tmp_path) -> None:
    images = write_images(tmp_path / "img", ["n01_1"])
    with pytest.raises(DataNotFoundError, match=r"VGG_ILSVRC_19_layers\.caffemodel.*figshare"):
        extract("VGG19", images, out=tmp_path / "v.h5", data_dir=tmp_path / "data")
    with pytest.raises(DataNotFoundError, match="request them from the authors"):
        extract("AlexNet", tmp_path / "nowhere", out=tmp_path / "a.h5", weights="random")
    ids = default_catalog().test_image_ids[:2]
    with pytest.raises(DataNotFoundError, match=f"2 of 2 requested images.*{ids[0]}"):
        extract("AlexNet", images, out=tmp_path / "a.h5", weights="random", image_ids=ids)
