"""brainfeat: the DNN-feature decodability dataset of Horikawa et al. (2019), usable and reproducible.

Load any published file with one call, verify the published numbers, and regenerate
features, decoders and accuracies from the raw material::

    import brainfeat
    decoded = brainfeat.load("decoded", "AlexNet", "fc8", subject="S1")
    true = brainfeat.load("true", "AlexNet", "fc8")

``import brainfeat`` touches neither the disk nor the network and imports neither torch,
pybids nor matplotlib: the public names below are resolved on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from brainfeat.catalog import (
    AVERAGED,
    Catalog,
    Kind,
    LayerInfo,
    Network,
    Split,
    Subject,
    default_catalog,
    layer_info,
)
from brainfeat.errors import (
    BrainfeatError,
    DataNotFoundError,
    DownloadError,
    FormatError,
    IntegrityError,
    InvalidValueError,
    OutputLockedError,
    ShapeMismatchError,
    UnknownNameError,
    UnsafeArchiveError,
)

__version__ = "0.1.0"

# Public name -> module that defines it; imported when first used.
_LAZY = {
    "fetch": "brainfeat.remote.api",
    "fetch_fmri": "brainfeat.remote.api",
    "fetch_bids": "brainfeat.remote.api",
    "load": "brainfeat.published",
    "load_features": "brainfeat.published",
    "load_accuracy": "brainfeat.published",
    "load_rank": "brainfeat.published",
    "FeatureSet": "brainfeat.published",
    "UnitScores": "brainfeat.published",
    "load_all": "brainfeat.exports",
    "identify": "brainfeat.evaluation.identify",
    "bh_score": "brainfeat.evaluation.hierarchy",
    "load_events": "brainfeat.bids.events",
    "load_roi": "brainfeat.fmri.rois",
    "load_fmri": "brainfeat.fmri.preprocessed",
    "FMRI": "brainfeat.fmri.preprocessed",
    "verify": "brainfeat.evaluation.report",
    "regenerate": "brainfeat.regeneration.loop",
}

__all__ = [
    "AVERAGED", "BrainfeatError", "Catalog", "DataNotFoundError", "DownloadError",
    "FormatError", "IntegrityError", "InvalidValueError", "Kind", "LayerInfo", "Network",
    "OutputLockedError", "ShapeMismatchError", "Split", "Subject", "UnknownNameError",
    "UnsafeArchiveError",
    "default_catalog", "layer_info",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'brainfeat' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from brainfeat.bids.events import load_events
    from brainfeat.evaluation.report import verify
    from brainfeat.regeneration.loop import regenerate
    from brainfeat.evaluation.hierarchy import bh_score
    from brainfeat.evaluation.identify import identify
    from brainfeat.exports import load_all
    from brainfeat.fmri.preprocessed import FMRI, load_fmri
    from brainfeat.fmri.rois import load_roi
    from brainfeat.published import (
        FeatureSet, UnitScores, load, load_accuracy, load_features, load_rank)
    from brainfeat.remote.api import fetch, fetch_bids, fetch_fmri
