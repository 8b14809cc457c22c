"""Structure of features/models.py against the published prototxts (docs/mutation.md).

Every layer of :func:`caffe_alexnet` and :func:`vgg19`, in order, is described in the terms of
``tests/reference/caffe_nets.py`` (written from the deploy prototxts, not from brainfeat) and
compared with it whole: a changed kernel, stride, pad, group, width or a dropped ReLU fails
here in milliseconds, before any forward pass. Caffe semantics that a description cannot show
(pool rounding, out-of-place ReLUs, evaluation mode, batches) are checked directly.
"""

from __future__ import annotations

import dataclasses

import pytest
from reference.caffe_nets import (BVLC_ALEXNET, LRN, VGG_ILSVRC_19_LAYERS, Conv, InnerProduct,
                                  MaxPool, ReLU)

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from brainfeat.features.models import (CaffeAlexNet, caffe_alexnet,  # noqa: E402
                                       paper_architecture, vgg19)

torch.set_num_threads(1)


def described(model: nn.Module) -> list:
    """The model's layers in forward order as unnamed ``caffe_nets`` layers.

    Dropout (the identity at test time) and VGG's adaptive average pool (the identity at
    224 pixels, where the two graphs are compared) have no prototxt counterpart here.
    """
    layers = []
    for module in [*model.features, *model.classifier]:
        if isinstance(module, nn.Conv2d):
            (kernel, _), (stride, _), (pad, _) = module.kernel_size, module.stride, module.padding
            layers.append(Conv("", module.out_channels, kernel, stride, pad, module.groups))
        elif isinstance(module, nn.ReLU):
            layers.append(ReLU(""))
        elif isinstance(module, nn.LocalResponseNorm):
            layers.append(LRN("", module.size, module.alpha, module.beta, module.k))
        elif isinstance(module, nn.MaxPool2d):
            layers.append(MaxPool("", module.kernel_size, module.stride))
        elif isinstance(module, nn.Linear):
            layers.append(InnerProduct("", module.out_features))
        elif not isinstance(module, nn.Dropout):
            raise AssertionError(f"unexpected layer {module}")
    return layers


def unnamed(net) -> list:
    return [dataclasses.replace(layer, name="") for layer in net]


@pytest.mark.parametrize(("build", "prototxt"), [(caffe_alexnet, BVLC_ALEXNET),
                                                 (vgg19, VGG_ILSVRC_19_LAYERS)])
def test_every_layer_is_the_prototxts(build, prototxt) -> None:
    with torch.device("meta"):  # the layers without their weights: built in milliseconds
        model = build()
    assert described(model) == unnamed(prototxt)
    assert not model.training  # evaluation mode: dropout off
    assert all(module.ceil_mode for module in model.modules() if isinstance(module, nn.MaxPool2d))
    assert not any(module.inplace for module in model.modules() if isinstance(module, nn.ReLU))


def test_paper_architecture_builds_each_network() -> None:
    with torch.device("meta"):
        assert isinstance(paper_architecture("AlexNet"), CaffeAlexNet)
        assert described(paper_architecture("vgg19")) == unnamed(VGG_ILSVRC_19_LAYERS)


def test_alexnet_classifies_a_batch_image_by_image() -> None:
    assert CaffeAlexNet(num_classes=7).classifier[-1].out_features == 7
    model = caffe_alexnet()
    torch.manual_seed(0)
    batch = torch.randn(2, 3, 227, 227) * 50
    with torch.no_grad():
        logits = model(batch)
        assert logits.shape == (2, 1000)
        torch.testing.assert_close(logits[1:], model(batch[1:]))
