"""The paper's two networks in torch: Caffe's bvlc_alexnet and VGG19.

* :func:`caffe_alexnet` rebuilds ``bvlc_alexnet`` (not torchvision's 64-channel AlexNet):
  96-channel conv1 (11x11, stride 4), ReLU, local response normalisation, max-pool 3/2,
  conv2 (5x5, pad 2, 2 groups), ReLU, LRN, pool, conv3 (3x3, pad 1), conv4 and conv5
  (3x3, pad 1, 2 groups), pool, fc6, fc7, fc8. Max-pools use Caffe's ceil rounding.
* :func:`vgg19` is torchvision's ``vgg19`` graph (the same as ``VGG_ILSVRC_19_layers``),
  with its ReLUs made out-of-place so pre-ReLU taps stay intact and its max-pools rounding
  up like Caffe's (torchvision rounds down; the two agree at the 224-pixel input, Caffe's
  rounding keeps the features Caffe-exact at any other input size).

Caffe's across-channel LRN computes ``x / (k + alpha / n * sum(x_j ** 2)) ** beta`` over a
window of ``n`` channels centred on each channel (zero-padded at the edges); torch's
:class:`~torch.nn.LocalResponseNorm` divides alpha by ``n`` in the same way, so the Caffe
parameters (local_size 5, alpha 1e-4, beta 0.75, k 1) carry over unchanged. Caffe's
``group: 2`` splits input and output channels into two halves exactly as torch's ``groups=2``,
with the same weight layout ``(out, in / groups, kh, kw)``.

The models keep the module layout of the lab's PyTorch definitions (``features`` and
``classifier`` sequences), so the lab's converted state dicts load without renaming;
:data:`brainfeat.features.layers.PAPER_TAPS` names the module of every published layer.
"""

from __future__ import annotations

import torch
from torch import nn

from brainfeat.catalog import Network

__all__ = ["CaffeAlexNet", "LRN_PARAMETERS", "caffe_alexnet", "paper_architecture", "vgg19"]

#: bvlc_alexnet's LRN layers (norm1, norm2): local_size, alpha, beta, k.
LRN_PARAMETERS = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0}


class CaffeAlexNet(nn.Module):
    """Caffe's ``bvlc_alexnet`` (227x227 BGR input, mean-subtracted, 0-255 range)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()

        def pool() -> nn.MaxPool2d:
            return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)

        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=11, stride=4),               # 0 conv1
            nn.ReLU(),                                                 # 1 relu1
            nn.LocalResponseNorm(**LRN_PARAMETERS),                    # 2 norm1
            pool(),                                                    # 3 pool1
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2),    # 4 conv2
            nn.ReLU(),                                                 # 5 relu2
            nn.LocalResponseNorm(**LRN_PARAMETERS),                    # 6 norm2
            pool(),                                                    # 7 pool2
            nn.Conv2d(256, 384, kernel_size=3, padding=1),             # 8 conv3
            nn.ReLU(),                                                 # 9 relu3
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2),   # 10 conv4
            nn.ReLU(),                                                 # 11 relu4
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2),   # 12 conv5
            nn.ReLU(),                                                 # 13 relu5
            pool(),                                                    # 14 pool5
        )
        self.classifier = nn.Sequential(
            nn.Linear(256 * 6 * 6, 4096),   # 0 fc6
            nn.ReLU(),                      # 1 relu6
            nn.Linear(4096, 4096),          # 2 fc7
            nn.ReLU(),                      # 3 relu7
            nn.Linear(4096, num_classes),   # 4 fc8
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (fc8) of a batch ``(n, 3, 227, 227)``."""
        return self.classifier(torch.flatten(self.features(x), 1))


def caffe_alexnet() -> CaffeAlexNet:
    """A randomly initialised :class:`CaffeAlexNet` in evaluation mode."""
    return CaffeAlexNet().eval()


def vgg19() -> nn.Module:
    """torchvision's ``vgg19`` graph, randomly initialised, out-of-place ReLUs, Caffe pooling."""
    from torchvision.models import vgg19 as torchvision_vgg19

    model = torchvision_vgg19(weights=None)
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
        if isinstance(module, nn.MaxPool2d):
            module.ceil_mode = True
    return model.eval()


def paper_architecture(network: Network | str) -> nn.Module:
    """The randomly initialised architecture of one of the paper's networks."""
    builders = {Network.ALEXNET: caffe_alexnet, Network.VGG19: vgg19}
    return builders[Network.parse(network)]()
