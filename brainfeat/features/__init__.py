"""Regenerate DNN features from stimulus images: the paper's Caffe AlexNet and VGG19 in
torch, any torchvision model, or any torch module - streamed to HDF5 and checked against
the published ``true`` features.

``import brainfeat.features`` does not import torch; the names below are resolved on
first use::

    from brainfeat.features import extract, verify_features
    path = extract("AlexNet", "stimuli/", out="alexnet.h5")
    report = verify_features(path, "AlexNet")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "extract": "brainfeat.features.extraction",
    "verify_features": "brainfeat.features.verify",
    "FeatureVerification": "brainfeat.features.verify",
    "LayerCheck": "brainfeat.features.verify",
    "read_extracted": "brainfeat.features.store",
    "extracted_layers": "brainfeat.features.store",
    "ExtractedFeatures": "brainfeat.features.store",
    "read_caffemodel": "brainfeat.features.caffemodel",
    "load_paper_model": "brainfeat.features.weights",
    "caffe_preprocess": "brainfeat.features.preprocess",
    "list_images": "brainfeat.features.preprocess",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'brainfeat.features' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover
    from brainfeat.features.caffemodel import read_caffemodel
    from brainfeat.features.extraction import extract
    from brainfeat.features.preprocess import caffe_preprocess, list_images
    from brainfeat.features.store import ExtractedFeatures, extracted_layers, read_extracted
    from brainfeat.features.verify import FeatureVerification, LayerCheck, verify_features
    from brainfeat.features.weights import load_paper_model
