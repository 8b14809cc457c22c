"""Caffe semantics of the torch models, checked against direct numpy computations."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from brainfeat.catalog import Network, default_catalog  # noqa: E402
from brainfeat.features.layers import PAPER_TAPS, tap_modules  # noqa: E402
from brainfeat.features.models import caffe_alexnet  # noqa: E402

torch.set_num_threads(1)


def caffe_lrn_numpy(x: np.ndarray, size: int, alpha: float, beta: float, k: float) -> np.ndarray:
    """Caffe's LRNLayer, ACROSS_CHANNELS, written out channel by channel."""
    n, channels = x.shape[:2]
    out = np.empty_like(x, dtype=np.float64)
    half = (size - 1) // 2
    for c in range(channels):
        window = x[:, max(0, c - half):min(channels, c + half + 1)].astype(np.float64)
        scale = k + alpha / size * (window ** 2).sum(axis=1)
        out[:, c] = x[:, c] / scale ** beta
    return out


def grouped_conv_numpy(x: np.ndarray, w: np.ndarray, b: np.ndarray, groups: int,
                       pad: int) -> np.ndarray:
    """Caffe convolution with ``group``: each half of the outputs sees one half of the inputs."""
    n, cin, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    out = np.zeros((n, cout, oh, ow))
    per_group = cout // groups
    for o in range(cout):
        g = o // per_group
        for i in range(cin_g):
            channel = xp[:, g * cin_g + i]
            for dy in range(kh):
                for dx in range(kw):
                    out[:, o] += w[o, i, dy, dx] * channel[:, dy:dy + oh, dx:dx + ow]
        out[:, o] += b[o]
    return out


def test_lrn_matches_caffe_formula() -> None:
    model = caffe_alexnet()
    rng = np.random.default_rng(1)
    x = rng.normal(scale=40.0, size=(2, 7, 3, 4)).astype(np.float32)  # large: LRN matters
    got = model.features[2](torch.from_numpy(x)).numpy()
    expected = caffe_lrn_numpy(x, size=5, alpha=1e-4, beta=0.75, k=1.0)  # bvlc_alexnet norm1
    assert not np.allclose(expected, x, rtol=1e-3)  # the normalisation does change values
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-6)


def test_grouped_convolution_matches_caffe_groups() -> None:
    conv = torch.nn.Conv2d(4, 6, kernel_size=3, padding=1, groups=2)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 4, 5, 5)).astype(np.float32)
    got = conv(torch.from_numpy(x)).detach().numpy()
    expected = grouped_conv_numpy(x, conv.weight.detach().numpy(), conv.bias.detach().numpy(),
                                  groups=2, pad=1)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_alexnet_convs_are_caffe_shaped() -> None:
    model = caffe_alexnet()
    convs = {layer: model.get_submodule(path) for layer, path in tap_modules("AlexNet").items()
             if layer.startswith("conv")}
    assert [c.groups for c in convs.values()] == [1, 2, 1, 2, 2]
    assert convs["conv1"].out_channels == 96 and convs["conv1"].stride == (4, 4)
    assert convs["conv2"].padding == (2, 2) and convs["conv2"].kernel_size == (5, 5)
    assert all(p.ceil_mode for p in model.features if isinstance(p, torch.nn.MaxPool2d))


def test_taps_cover_every_catalog_layer_and_differ_by_relu() -> None:
    catalog = default_catalog()
    for network in (Network.ALEXNET, Network.VGG19):
        assert list(PAPER_TAPS[network]) == [i.name for i in catalog.layers_of(network)]
        before, after = tap_modules(network), tap_modules(network, relu=True)
        assert before["fc8"] == after["fc8"]
        assert all(before[k] != after[k] for k in before if k != "fc8")


def test_pre_relu_taps_hold_negative_values_post_relu_do_not(tmp_path) -> None:
    model = caffe_alexnet()
    seen: dict[str, torch.Tensor] = {}
    for relu in (False, True):
        for layer, path in tap_modules("AlexNet", relu=relu).items():
            model.get_submodule(path).register_forward_hook(
                lambda _m, _i, out, key=(layer, relu): seen.__setitem__(key, out.clone()))
    torch.manual_seed(0)
    model(torch.randn(1, 3, 227, 227) * 50)
    assert (seen[("conv1", False)] < 0).any() and (seen[("conv1", True)] >= 0).all()
    torch.testing.assert_close(seen[("conv1", True)], seen[("conv1", False)].clamp(min=0))
