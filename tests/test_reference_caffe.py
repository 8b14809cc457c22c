"""brainfeat's torch AlexNet and VGG19 against an independent float64 Caffe forward pass.

The reference (``tests/reference/caffe_nets.py``) is numpy written from the published
prototxts. Random Caffe weight blobs (He-scaled, so signals keep their 0-255 scale and LRN
acts strongly) go through brainfeat's own loading path (:func:`load_paper_model` with a state
dict keyed by dataset layer names) and every pre-ReLU tap is compared with the reference.

Tolerance, from float32 precision: a float32 sum of ``n`` products carries a relative error of
about ``sqrt(n) u`` (u = 2**-24, the float32 unit roundoff; Higham, *Accuracy and Stability of
Numerical Algorithms*, 2nd ed., sec. 3.4, for independent roundings). Each weighted layer of
fan-in ``n`` adds that much; earlier errors pass on with a gain of about one (He-scaled
weights keep the signal's size; ReLU and max-pooling are 1-Lipschitz); the float32 input adds
``u``. :func:`tolerance` sums these to the tapped layer and allows ten times the estimate
for gains above one. Errors are measured relative to the layer's largest ``|value|``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference.caffe_nets import (BVLC_ALEXNET, LRN, VGG_ILSVRC_19_LAYERS, Conv, InnerProduct,
                                  blob_shapes, convolution, forward)

torch = pytest.importorskip("torch")

from brainfeat.features.layers import tap_modules  # noqa: E402
from brainfeat.features.weights import load_paper_model  # noqa: E402

torch.set_num_threads(2)
U32 = 2.0 ** -24   # float32 unit roundoff
SAFETY = 10.0      # gains above one through the layers (see the module docstring)


def tolerance(net, layer: str) -> float:
    """Largest allowed ``max|torch - reference| / max|reference|`` at ``layer``."""
    shapes = blob_shapes(net, (3, 227, 227) if net is BVLC_ALEXNET else (3, 224, 224))
    estimate = U32  # the float32 input
    for item in net:
        if isinstance(item, (Conv, InnerProduct)):
            estimate += math.sqrt(math.prod(shapes[item.name][0][1:])) * U32
        if item.name == layer:
            return SAFETY * estimate
    raise KeyError(layer)


def random_blobs(net, input_shape, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """He-scaled float32 Caffe blobs ``(weight, bias)`` for every weighted layer."""
    rng = np.random.default_rng(seed)
    blobs = {}
    for name, (weight_shape, bias_shape) in blob_shapes(net, input_shape).items():
        scale = np.float32(math.sqrt(2.0 / math.prod(weight_shape[1:])))
        blobs[name] = (rng.standard_normal(weight_shape, dtype=np.float32) * scale,
                       rng.standard_normal(bias_shape, dtype=np.float32) * np.float32(10))
    return blobs


def brainfeat_model(network: str, blobs):
    state = {f"{layer}.{suffix}": blob for layer, pair in blobs.items()
             for suffix, blob in zip(("weight", "bias"), pair)}
    model, _ = load_paper_model(network, state)
    return model


def taps(model, network: str, images: np.ndarray, layers, features_only: bool = False):
    """Pre-ReLU outputs of ``layers`` as float64 arrays, recorded with forward hooks."""
    paths = tap_modules(network)
    seen: dict[str, np.ndarray] = {}
    handles = [model.get_submodule(paths[layer]).register_forward_hook(
        lambda _module, _inputs, out, layer=layer: seen.__setitem__(
            layer, out.detach().double().numpy())) for layer in layers]
    try:
        with torch.no_grad():
            (model.features if features_only else model)(torch.from_numpy(images))
    finally:
        for handle in handles:
            handle.remove()
    return seen


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    assert got.shape == expected.shape
    return float(np.abs(got - expected).max() / np.abs(expected).max())


def images(shape, seed: int) -> np.ndarray:
    """Float32 BGR-like inputs in the 0-255 range minus a mean, as preprocessing gives."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 255, shape) - 117.0).astype(np.float32)


ALEXNET_TAPS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
VGG19_TAPS = tuple(item.name for item in VGG_ILSVRC_19_LAYERS
                   if isinstance(item, (Conv, InnerProduct)))


@pytest.fixture(scope="module")
def alexnet():
    blobs = random_blobs(BVLC_ALEXNET, (3, 227, 227), seed=11)
    return blobs, brainfeat_model("AlexNet", blobs)


@pytest.fixture(scope="module")
def vgg19():
    blobs = random_blobs(VGG_ILSVRC_19_LAYERS, (3, 224, 224), seed=12)
    return blobs, brainfeat_model("VGG19", blobs)


def test_alexnet_every_tap_matches_the_caffe_reference(alexnet) -> None:
    blobs, model = alexnet
    x = images((1, 3, 227, 227), seed=1)
    expected = forward(BVLC_ALEXNET, blobs, x)
    got = taps(model, "AlexNet", x, ALEXNET_TAPS)
    for layer in ALEXNET_TAPS:
        assert relative_error(got[layer], expected[layer]) <= tolerance(BVLC_ALEXNET, layer), layer
    # the weights make LRN matter: Caffe's alpha ten times larger moves conv2 by far more
    stronger = tuple(LRN(item.name, alpha=10 * item.alpha) if isinstance(item, LRN) else item
                     for item in BVLC_ALEXNET[:6])
    moved = forward(stronger, blobs, x)["conv2"]
    assert relative_error(moved, expected["conv2"]) > 100 * tolerance(BVLC_ALEXNET, "conv2")


def test_alexnet_pools_round_up_and_groups_keep_their_order(alexnet) -> None:
    """71 x 103 pixels: every pool has a partial last window (ceil 8 x 12, floor 7 x 12 ...)."""
    blobs, model = alexnet
    x = images((2, 3, 71, 103), seed=2)
    expected = forward(BVLC_ALEXNET, blobs, x)
    assert expected["pool1"].shape[2:] == (8, 12) and expected["pool5"].shape[2:] == (2, 3)
    conv_taps = ALEXNET_TAPS[:5]
    got = taps(model, "AlexNet", x, conv_taps, features_only=True)
    for layer in conv_taps:
        assert relative_error(got[layer], expected[layer]) <= tolerance(BVLC_ALEXNET, layer), layer
    # group order is visible: conv2 with its two input halves swapped is far off
    swapped = convolution(np.roll(expected["pool1"], 48, axis=1), *blobs["conv2"], stride=1,
                          pad=2, group=2)
    assert relative_error(swapped, expected["conv2"]) > 100 * tolerance(BVLC_ALEXNET, "conv2")


def test_vgg19_classifier_taps_match_the_caffe_reference(vgg19) -> None:
    """At 224 pixels: pool5 (7 x 7) flattened in Caffe's (C, H, W) order into fc6, fc7, fc8.

    The convolutions are checked at a smaller input below (the same code at any size); here
    the reference runs Caffe's fully connected layers on torch's own pool5 output.
    """
    blobs, model = vgg19
    x = images((1, 3, 224, 224), seed=3)
    pool5 = {}
    hook = model.features.register_forward_hook(
        lambda _module, _inputs, out: pool5.__setitem__("pool5", out.double().numpy()))
    try:
        got = taps(model, "VGG19", x, ("fc6", "fc7", "fc8"))
    finally:
        hook.remove()
    assert pool5["pool5"].shape == (1, 512, 7, 7)
    classifier = VGG_ILSVRC_19_LAYERS[[item.name for item in VGG_ILSVRC_19_LAYERS].index("fc6"):]
    expected = forward(classifier, blobs, pool5["pool5"])
    for layer in ("fc6", "fc7", "fc8"):
        # pool5 is float32 already: the rounding before fc6 is torch's, fc6 onwards adds its own
        allowed = tolerance(VGG_ILSVRC_19_LAYERS, layer) - tolerance(VGG_ILSVRC_19_LAYERS, "conv5_4")
        assert relative_error(got[layer], expected[layer]) <= allowed, layer


def test_vgg19_convolutions_and_pools_match_caffe_at_an_odd_size(vgg19) -> None:
    """40 x 52 pixels: pools 3 to 5 have partial last windows (ceil 2 x 2, floor 1 x 1)."""
    blobs, model = vgg19
    x = images((1, 3, 40, 52), seed=4)
    expected = forward(VGG_ILSVRC_19_LAYERS, blobs, x)
    assert expected["pool5"].shape[2:] == (2, 2)
    conv_taps = VGG19_TAPS[:-3]
    got = taps(model, "VGG19", x, conv_taps, features_only=True)
    for layer in conv_taps:
        assert relative_error(got[layer], expected[layer]) <= tolerance(
            VGG_ILSVRC_19_LAYERS, layer), layer
