"""The .caffemodel reader against files synthesised here with a hand-written protobuf encoder."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from brainfeat.errors import DataNotFoundError, FormatError
from brainfeat.features.caffemodel import caffe_state_dict, read_caffemodel


# -- an independent protobuf wire-format encoder (only what Caffe's NetParameter needs) --
def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3 | 0) + varint(value)


def field_bytes(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def blob_v1(array: np.ndarray) -> bytes:
    """BlobProto with the legacy num/channels/height/width shape (padded with ones)."""
    dims = (1,) * (4 - array.ndim) + array.shape
    head = b"".join(field_varint(n, d) for n, d in zip((1, 2, 3, 4), dims))
    return head + field_bytes(5, np.ascontiguousarray(array, dtype="<f4").tobytes())


def blob_v2(array: np.ndarray, doubles: bool = False) -> bytes:
    """BlobProto with a BlobShape (packed int64 dims) and float or double data."""
    shape = field_bytes(1, b"".join(varint(d) for d in array.shape))
    data = (field_bytes(8, array.astype("<f8").tobytes()) if doubles
            else field_bytes(5, array.astype("<f4").tobytes()))
    return field_bytes(7, shape) + data


def layer_v1(name: str, blobs: list[np.ndarray]) -> bytes:
    body = field_bytes(2, b"data") + field_bytes(3, name.encode()) + field_bytes(4, name.encode())
    body += field_varint(5, 4)  # type enum (CONVOLUTION), skipped by the reader
    body += b"".join(field_bytes(6, blob_v1(b)) for b in blobs)
    return field_bytes(2, body)


def layer_v2(name: str, blobs: list[np.ndarray], doubles: bool = False) -> bytes:
    body = field_bytes(1, name.encode()) + field_bytes(2, b"Convolution")
    body += field_bytes(3, b"bottom") + varint(15 << 3 | 5) + struct.pack("<f", 0.5)  # skipped
    body += b"".join(field_bytes(7, blob_v2(b, doubles)) for b in blobs)
    return field_bytes(100, body)


def test_reads_v1_layers_with_legacy_shapes(tmp_path) -> None:
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(size=(4, 3, 2, 2)).astype(np.float32), np.arange(4.0)
    fc = rng.normal(size=(5, 6)).astype(np.float32)
    net = field_bytes(1, b"tiny") + layer_v1("conv1", [weight, bias]) + layer_v1("relu1", [])
    net += layer_v1("fc6", [fc])
    path = tmp_path / "tiny.caffemodel"
    path.write_bytes(net)
    layers = read_caffemodel(path)
    assert list(layers) == ["conv1", "fc6"]  # layers without blobs are left out
    np.testing.assert_array_equal(layers["conv1"][0], weight)
    np.testing.assert_array_equal(layers["conv1"][1].ravel(), bias)
    assert layers["fc6"][0].shape == (1, 1, 5, 6)  # Caffe's V1 inner-product blob
    np.testing.assert_array_equal(layers["fc6"][0][0, 0], fc)


def test_reads_v2_layers_with_blob_shapes_and_doubles(tmp_path) -> None:
    weight = np.linspace(-1, 1, 24).reshape(2, 3, 2, 2)
    path = tmp_path / "v2.caffemodel"
    path.write_bytes(layer_v2("conv1_1", [weight], doubles=True)
                     + layer_v2("fc8", [np.ones((3, 4))]))
    layers = read_caffemodel(path)
    np.testing.assert_allclose(layers["conv1_1"][0], weight.astype(np.float32))
    assert layers["conv1_1"][0].dtype == np.float32 and layers["fc8"][0].shape == (3, 4)


def test_rejects_files_that_are_not_caffemodels(tmp_path) -> None:
    text = tmp_path / "deploy.prototxt"
    text.write_text('name: "AlexNet"\nlayer { name: "conv1" }\n')
    with pytest.raises(FormatError, match="deploy.prototxt.*is this a .caffemodel"):
        read_caffemodel(text)
    truncated = tmp_path / "cut.caffemodel"
    truncated.write_bytes(layer_v1("conv1", [np.ones((2, 2), np.float32)])[:-3])
    with pytest.raises(FormatError, match="runs past the end"):
        read_caffemodel(truncated)
    wrong = tmp_path / "wrong.caffemodel"
    wrong.write_bytes(layer_v2("conv1", [np.ones(3)])[:-12] + field_bytes(5, b"\0" * 8))
    with pytest.raises(FormatError, match="wrong.caffemodel: field 100 runs past the end"):
        read_caffemodel(wrong)
    mismatched = tmp_path / "mismatched.caffemodel"
    blob = field_varint(1, 2) + field_varint(2, 3) + field_bytes(5, np.ones(5, "<f4").tobytes())
    mismatched.write_bytes(field_bytes(100, field_bytes(1, b"conv1") + field_bytes(7, blob)))
    with pytest.raises(FormatError, match=r"shape \(2, 3, 1, 1\) \(6 values\) but holds 5"):
        read_caffemodel(mismatched)


def test_state_dict_mapping_reshapes_and_checks(tmp_path) -> None:
    rng = np.random.default_rng(3)
    names = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    shapes = {f"features.{i}.weight": (2, 1, 1, 1) for i in (0, 4, 8, 10, 12)}
    shapes.update({f"classifier.{i}.weight": (3, 2) for i in (0, 2, 4)})
    shapes.update({k.replace("weight", "bias"): (s[0],) for k, s in list(shapes.items())})
    blobs = {n: [rng.normal(size=(2, 1, 1, 1) if n.startswith("conv") else (1, 1, 3, 2))
                 .astype(np.float32), np.ones((1, 1, 1, 2 if n.startswith("conv") else 3),
                                               np.float32)] for n in names}
    state = caffe_state_dict(blobs, "AlexNet", shapes)
    assert state["classifier.4.weight"].shape == (3, 2)
    np.testing.assert_array_equal(state["classifier.4.weight"], blobs["fc8"][0][0, 0])
    assert state["features.12.bias"].shape == (2,)
    del blobs["conv3"]
    with pytest.raises(FormatError, match="no layer 'conv3'"):
        caffe_state_dict(blobs, "AlexNet", shapes)


def test_full_alexnet_caffemodel_loads_into_the_torch_model(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from brainfeat.features.layers import tap_modules
    from brainfeat.features.models import caffe_alexnet
    from brainfeat.features.weights import load_paper_model

    torch.manual_seed(5)
    reference = caffe_alexnet()
    state = reference.state_dict()
    parts = []
    for layer, module in tap_modules("AlexNet").items():
        parts.append(layer_v1(layer, [state[f"{module}.weight"].numpy(),
                                      state[f"{module}.bias"].numpy()]))
    path = tmp_path / "bvlc_alexnet.caffemodel"
    path.write_bytes(field_bytes(1, b"AlexNet") + b"".join(parts))
    del parts
    model, description = load_paper_model("AlexNet", path)
    assert description == "bvlc_alexnet.caffemodel"
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    with pytest.raises(DataNotFoundError, match="bvlc_alexnet.caffemodel.*weights='random'"):
        load_paper_model("AlexNet", None, data_dir=tmp_path / "empty")
