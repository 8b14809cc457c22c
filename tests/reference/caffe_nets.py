"""Caffe's ``bvlc_alexnet`` and ``VGG_ILSVRC_19_layers`` forward pass in plain numpy float64.

Written from the published deploy prototxts (BVLC model zoo ``models/bvlc_alexnet/deploy.prototxt``;
the VGG page's ``VGG_ILSVRC_19_layers_deploy.prototxt``) and Caffe's layer code, not from
:mod:`brainfeat.features`:

* ``Convolution``: output side ``(H + 2 pad - kernel) // stride + 1``; with ``group: g`` the
  input channels and the outputs are each cut into ``g`` consecutive blocks, output block
  ``i`` sees input block ``i`` only; weights ``(out, in / g, kh, kw)``.
* ``LRN`` (ACROSS_CHANNELS): ``x / (k + alpha / local_size * sum_window x^2) ** beta``, the
  window ``local_size`` channels centred on each channel, zero outside (Caffe divides alpha by
  local_size).
* ``Pooling`` MAX: output side ``ceil((H - kernel) / stride) + 1`` (Caffe rounds up; these nets
  have no pooling pad), a window cut by the border takes the max of what is inside.
* ``InnerProduct``: the input blob flattened in (C, H, W) order, weights ``(out, in)``.
* ``Dropout`` is the identity at test time and is left out; ``ReLU`` is ``max(x, 0)``.

Every blob is float64. :func:`forward` returns each layer's own output under the layer's name
(Caffe's in-place ReLUs overwrite ``conv1`` with its ReLU; here ``conv1`` stays pre-ReLU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


@dataclass(frozen=True)
class Conv:
    name: str
    num_output: int
    kernel: int
    stride: int = 1
    pad: int = 0
    group: int = 1


@dataclass(frozen=True)
class ReLU:
    name: str


@dataclass(frozen=True)
class LRN:
    name: str
    local_size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0


@dataclass(frozen=True)
class MaxPool:
    name: str
    kernel: int
    stride: int


@dataclass(frozen=True)
class InnerProduct:
    name: str
    num_output: int


Layer = Conv | ReLU | LRN | MaxPool | InnerProduct

#: models/bvlc_alexnet/deploy.prototxt (drop6, drop7 and the softmax left out)
BVLC_ALEXNET: tuple[Layer, ...] = (
    Conv("conv1", 96, kernel=11, stride=4), ReLU("relu1"),
    LRN("norm1", local_size=5, alpha=0.0001, beta=0.75), MaxPool("pool1", kernel=3, stride=2),
    Conv("conv2", 256, kernel=5, pad=2, group=2), ReLU("relu2"),
    LRN("norm2", local_size=5, alpha=0.0001, beta=0.75), MaxPool("pool2", kernel=3, stride=2),
    Conv("conv3", 384, kernel=3, pad=1), ReLU("relu3"),
    Conv("conv4", 384, kernel=3, pad=1, group=2), ReLU("relu4"),
    Conv("conv5", 256, kernel=3, pad=1, group=2), ReLU("relu5"),
    MaxPool("pool5", kernel=3, stride=2),
    InnerProduct("fc6", 4096), ReLU("relu6"),
    InnerProduct("fc7", 4096), ReLU("relu7"),
    InnerProduct("fc8", 1000),
)


def _vgg19() -> tuple[Layer, ...]:
    layers: list[Layer] = []
    for block, (count, width) in enumerate(((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),
                                           start=1):
        for i in range(1, count + 1):
            layers += [Conv(f"conv{block}_{i}", width, kernel=3, pad=1),
                       ReLU(f"relu{block}_{i}")]
        layers.append(MaxPool(f"pool{block}", kernel=2, stride=2))
    return (*layers, InnerProduct("fc6", 4096), ReLU("relu6"),
            InnerProduct("fc7", 4096), ReLU("relu7"), InnerProduct("fc8", 1000))


#: VGG_ILSVRC_19_layers_deploy.prototxt (drop6, drop7 and the softmax left out)
VGG_ILSVRC_19_LAYERS: tuple[Layer, ...] = _vgg19()


def blob_shapes(net: tuple[Layer, ...], input_shape: tuple[int, int, int]
                ) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """Weight and bias shapes of every weighted layer for a ``(C, H, W)`` input."""
    channels, height, width = input_shape
    shapes = {}
    for layer in net:
        if isinstance(layer, Conv):
            shapes[layer.name] = ((layer.num_output, channels // layer.group, layer.kernel,
                                   layer.kernel), (layer.num_output,))
            channels = layer.num_output
            height, width = ((side + 2 * layer.pad - layer.kernel) // layer.stride + 1
                             for side in (height, width))
        elif isinstance(layer, MaxPool):
            height, width = (_pooled_side(side, layer) for side in (height, width))
        elif isinstance(layer, InnerProduct):
            shapes[layer.name] = ((layer.num_output, channels * height * width),
                                  (layer.num_output,))
            channels, height, width = layer.num_output, 1, 1
    return shapes


def convolution(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int, pad: int,
                group: int) -> np.ndarray:
    """Caffe ``Convolution`` of ``x`` ``(N, C, H, W)``, float64."""
    padded = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    kernel = weight.shape[-1]
    windows = sliding_window_view(padded, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride]
    cin, cout = x.shape[1] // group, weight.shape[0] // group
    blocks = []
    for g in range(group):
        w = np.asarray(weight[g * cout:(g + 1) * cout], np.float64)
        out = np.tensordot(windows[:, g * cin:(g + 1) * cin], w, axes=([1, 4, 5], [1, 2, 3]))
        blocks.append(out.transpose(0, 3, 1, 2))   # (N, OH, OW, O) -> (N, O, OH, OW)
    return np.concatenate(blocks, axis=1) + np.asarray(bias, np.float64)[:, None, None]


def local_response_norm(x: np.ndarray, layer: LRN) -> np.ndarray:
    """Caffe ``LRN`` across channels of ``x`` ``(N, C, H, W)``."""
    half = (layer.local_size - 1) // 2
    squares = np.pad(x * x, ((0, 0), (half, half), (0, 0), (0, 0)))
    window_sum = sum(squares[:, i:i + x.shape[1]] for i in range(layer.local_size))
    return x / (layer.k + layer.alpha / layer.local_size * window_sum) ** layer.beta


def _pooled_side(side: int, layer: MaxPool) -> int:
    return math.ceil((side - layer.kernel) / layer.stride) + 1


def max_pool(x: np.ndarray, layer: MaxPool) -> np.ndarray:
    """Caffe MAX ``Pooling`` (ceil rounding, windows cut at the border) of ``(N, C, H, W)``."""
    out_h, out_w = (_pooled_side(side, layer) for side in x.shape[2:])
    need_h, need_w = ((out - 1) * layer.stride + layer.kernel for out in (out_h, out_w))
    padded = np.pad(x, ((0, 0), (0, 0), (0, need_h - x.shape[2]), (0, need_w - x.shape[3])),
                    constant_values=-np.inf)
    windows = sliding_window_view(padded, (layer.kernel, layer.kernel), axis=(2, 3))
    return windows[:, :, ::layer.stride, ::layer.stride].max(axis=(4, 5))


def inner_product(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Caffe ``InnerProduct``: ``(N, ...)`` flattened in C order, times ``weight.T``."""
    flat = x.reshape(len(x), -1)
    rows = 512  # float64 copies of the weights a block of rows at a time
    out = np.concatenate([flat @ np.asarray(weight[i:i + rows], np.float64).T
                          for i in range(0, len(weight), rows)], axis=1)
    return out + np.asarray(bias, np.float64)


def forward(net: tuple[Layer, ...], blobs: dict[str, tuple[np.ndarray, np.ndarray]],
            images: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's output for ``images`` ``(N, 3, H, W)`` (BGR, mean-subtracted).

    ``blobs`` maps each Conv / InnerProduct layer name to its Caffe ``(weight, bias)``.
    Stops after the last layer, or earlier when the spatial size left is too small for a
    layer (fully connected layers then need the network's own input size).
    """
    x = np.asarray(images, np.float64)
    outputs = {}
    for layer in net:
        if isinstance(layer, Conv):
            x = convolution(x, *blobs[layer.name], layer.stride, layer.pad, layer.group)
        elif isinstance(layer, ReLU):
            x = np.maximum(x, 0.0)
        elif isinstance(layer, LRN):
            x = local_response_norm(x, layer)
        elif isinstance(layer, MaxPool):
            x = max_pool(x, layer)
        elif x[0].size != blobs[layer.name][0].shape[1]:
            break  # InnerProduct: the input is not the size the network was built for
        else:
            x = inner_product(x, *blobs[layer.name])
        outputs[layer.name] = x
    return outputs
