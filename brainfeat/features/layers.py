"""Where each published layer sits inside the torch models (no torch needed here).

The models of :mod:`brainfeat.features.models` keep the module layout of the lab's own
PyTorch definitions (``bdpy.dl.torch.models``): a ``features`` sequence, a ``classifier``
sequence. A dataset layer name such as ``conv2`` or ``conv5_4`` is a *tap*: the module
whose output is recorded. Each layer has two taps, the convolution / linear module itself
(pre-ReLU, the default) and the ReLU that follows it; ``fc8`` has only its logits.
"""

from __future__ import annotations

from brainfeat.catalog import Network

__all__ = ["PAPER_TAPS", "tap_modules"]


def _alexnet_taps() -> dict[str, tuple[str, str]]:
    # features: 0 conv1, 1 relu1, 2 norm1, 3 pool1, 4 conv2, 5 relu2, 6 norm2, 7 pool2,
    # 8 conv3, 9 relu3, 10 conv4, 11 relu4, 12 conv5, 13 relu5, 14 pool5
    # classifier: 0 fc6, 1 relu6, 2 fc7, 3 relu7, 4 fc8
    convs = {"conv1": 0, "conv2": 4, "conv3": 8, "conv4": 10, "conv5": 12}
    taps = {name: (f"features.{i}", f"features.{i + 1}") for name, i in convs.items()}
    taps.update({"fc6": ("classifier.0", "classifier.1"),
                 "fc7": ("classifier.2", "classifier.3"),
                 "fc8": ("classifier.4", "classifier.4")})
    return taps


def _vgg19_taps() -> dict[str, tuple[str, str]]:
    # torchvision's vgg19: each conv is followed by a ReLU; each block ends with a pool.
    taps: dict[str, tuple[str, str]] = {}
    index = 0
    for block, count in enumerate((2, 2, 4, 4, 4), start=1):
        for conv in range(1, count + 1):
            taps[f"conv{block}_{conv}"] = (f"features.{index}", f"features.{index + 1}")
            index += 2
        index += 1  # the max-pool closing the block
    taps.update({"fc6": ("classifier.0", "classifier.1"),
                 "fc7": ("classifier.3", "classifier.4"),
                 "fc8": ("classifier.6", "classifier.6")})
    return taps


#: network -> dataset layer name -> (pre-ReLU module path, post-ReLU module path)
PAPER_TAPS: dict[Network, dict[str, tuple[str, str]]] = {
    Network.ALEXNET: _alexnet_taps(),
    Network.VGG19: _vgg19_taps(),
}


def tap_modules(network: Network | str, relu: bool = False) -> dict[str, str]:
    """Dataset layer name -> module path recorded for it.

    Parameters
    ----------
    network : {"AlexNet", "VGG19"}
    relu : bool
        False (default) records conv and fc6/fc7 outputs before the ReLU; True after it.
        ``fc8`` is always the pre-softmax logit.

    Returns
    -------
    dict of str to str
        E.g. ``{"conv1": "features.0", ...}`` for AlexNet with ``relu=False``.
    """
    side = 1 if relu else 0
    return {layer: paths[side] for layer, paths in PAPER_TAPS[Network.parse(network)].items()}
