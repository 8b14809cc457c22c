"""What to run: a network, the modules to record, and the preprocessing of its images.

:func:`model_spec` turns the first argument of :func:`brainfeat.features.extract` into a
:class:`ModelSpec`:

* ``"AlexNet"`` / ``"VGG19"`` (any case): the paper's Caffe models, Caffe preprocessing,
  dataset layer names, shapes checked against the catalog;
* any other string: a torchvision model name (``"resnet18"``; ``"torchvision:alexnet"``
  names torchvision's own AlexNet), with its weights enum and bundled transforms;
* a :class:`torch.nn.Module`: any model; layers are module names from ``named_modules()``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from brainfeat.catalog import Catalog, Network, resolve_catalog
from brainfeat.errors import UnknownNameError
from brainfeat.features.layers import tap_modules
from brainfeat.features.preprocess import as_rgb, caffe_preprocess, resolve_mean
from brainfeat.features.weights import RANDOM, WeightsLike, load_paper_model, seeded

__all__ = ["IMAGENET_TRANSFORM", "ModelSpec", "model_spec"]

#: Preprocessing used for torchvision models without a weights enum and for bare modules.
IMAGENET_TRANSFORM = ("Resize(256, bilinear, antialias) -> CenterCrop(224) -> RGB in [0, 1] "
                      "-> Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))")

Preprocess = Callable[[Any], np.ndarray]


@dataclass
class ModelSpec:
    """A model ready to run, with its taps and preprocessing.

    Attributes
    ----------
    model : torch.nn.Module
    name : str
        ``"AlexNet"``, ``"VGG19"``, ``"torchvision:resnet18"`` or the module's class name.
    taps : dict of str to str
        Layer name (as written to the file) -> module path recorded for it.
    preprocess : callable
        Image path -> float32 array ``(3, H, W)``.
    provenance : dict of str to str
        Weights, preprocessing and tap choice, stored in the output file.
    expected_shapes : dict of str to tuple of int
        Unit shapes the catalog promises (paper networks only).
    """

    model: nn.Module
    name: str
    taps: dict[str, str]
    preprocess: Preprocess
    provenance: dict[str, str] = field(default_factory=dict)
    expected_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)


def _paper_spec(network: Network, layers: Sequence[str] | None, weights: WeightsLike,
                relu: bool, mean_bgr: Any, data_dir: str | os.PathLike[str] | None,
                catalog: Catalog, progress: bool) -> ModelSpec:
    infos = catalog.layers_of(network)
    chosen = infos if layers is None else tuple(catalog.layer(network, name) for name in layers)
    model, description = load_paper_model(network, weights, data_dir=data_dir,
                                          progress=progress)
    side = catalog.input_size(network)
    mean = resolve_mean(mean_bgr, side)
    taps_by_layer = tap_modules(network, relu=relu)
    mean_text = (np.array2string(mean.ravel(), precision=8) if mean.size == 3
                 else f"mean image {mean.shape}")
    return ModelSpec(
        model=model, name=network.value,
        taps={info.name: taps_by_layer[info.name] for info in chosen},
        preprocess=lambda path: caffe_preprocess(path, side, mean),
        provenance={
            "weights": description,
            "relu": "after ReLU" if relu else "before ReLU (fc8: logits)",
            "preprocessing": (f"Caffe: whole image, PIL BICUBIC to {side}x{side}, RGB->BGR, "
                              f"0-255, minus BGR mean {mean_text}"),
        },
        expected_shapes={info.name: info.unit_shape for info in chosen},
    )


def _imagenet_transform() -> Callable[[Any], torch.Tensor]:
    from torchvision import transforms

    return transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))])


def _torchvision_model(name: str, weights: Any) -> tuple[nn.Module, Any, str]:
    import torchvision.models as tvm

    if name not in tvm.list_models():
        raise UnknownNameError(
            f"Unknown network {name!r}: expected 'AlexNet', 'VGG19' (the paper's Caffe models), "
            "a torchvision model name such as 'resnet18' (see torchvision.models.list_models()),"
            " or a torch.nn.Module.")
    if weights == RANDOM:
        weights = None
    if isinstance(weights, str):
        known = tvm.get_model_weights(name)
        try:
            weights = tvm.get_weight(weights) if "." in weights else known[weights]
        except (KeyError, ValueError):
            valid = ", ".join(["DEFAULT", *(member.name for member in known), RANDOM])
            raise UnknownNameError(
                f"Unknown weights {weights!r} for torchvision model {name!r}: expected one of "
                f"{valid} (or a full name such as '{known.__name__}.DEFAULT').") from None
    model = seeded(tvm.get_model, name, weights=weights)
    return model, weights, "random" if weights is None else str(weights)


def _describe(transform: Callable[[Any], Any]) -> str:
    """A description of ``transform`` that is the same in every process (no addresses)."""
    text = getattr(transform, "__qualname__", None) or repr(transform)
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


def _default_layers(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_children()]


def _module_spec(model: nn.Module, name: str, layers: Sequence[str] | None,
                 transform: Callable[[Any], Any] | None, weights_text: str) -> ModelSpec:
    modules = dict(model.named_modules())
    layers = list(layers) if layers is not None else _default_layers(model)
    unknown = [layer for layer in layers if layer not in modules or layer == ""]
    if unknown:
        valid = " ".join(n for n in modules if n)
        raise UnknownNameError(f"Unknown layer(s) {', '.join(map(repr, unknown))} of {name}: "
                               f"expected module names from named_modules(): {valid}")
    chosen_transform = transform or _imagenet_transform()

    def preprocess(path: Any) -> np.ndarray:
        return np.asarray(chosen_transform(as_rgb(path)), dtype=np.float32)

    return ModelSpec(
        model=model.eval(), name=name, taps={layer: layer for layer in layers},
        preprocess=preprocess,
        provenance={"weights": weights_text, "relu": "module outputs",
                    "preprocessing": _describe(transform) if transform is not None
                    else IMAGENET_TRANSFORM})


def model_spec(network_or_model: str | Network | nn.Module, *, layers: Sequence[str] | None = None,
               weights: Any = None, relu: bool = False,
               transform: Callable[[Any], Any] | None = None, mean_bgr: Any = None,
               data_dir: str | os.PathLike[str] | None = None,
               catalog: Catalog | None = None, progress: bool = True) -> ModelSpec:
    """Resolve what :func:`brainfeat.features.extract` runs (see the module docstring)."""
    if isinstance(network_or_model, nn.Module):
        return _module_spec(network_or_model, type(network_or_model).__name__, layers,
                            transform, "given module" if weights is None else str(weights))
    catalog = resolve_catalog(catalog)
    text = str(network_or_model)
    if not text.startswith("torchvision:"):
        try:
            network = Network.parse(network_or_model)
        except UnknownNameError:
            pass
        else:
            return _paper_spec(network, layers, weights, relu, mean_bgr, data_dir, catalog,
                               progress)
    name = text.removeprefix("torchvision:")
    model, weights_enum, weights_text = _torchvision_model(name, weights)
    if transform is None and weights_enum is not None:
        transform = weights_enum.transforms()
    return _module_spec(model, f"torchvision:{name}", layers, transform, weights_text)
