"""Compare regenerated features with the published ``true`` features, layer by layer.

For each layer the published file set (50 test images) is loaded with
:func:`brainfeat.published.load_features`, the same images are read from a feature file
written by :func:`brainfeat.features.extract`, and three numbers are reported: the
largest absolute difference, that difference relative to the largest absolute published
value, and the Pearson correlation between regenerated and published units per image.

A layer **passes** when ``max_abs_diff <= tolerance * max_abs_true`` (default tolerance
1e-3: float32 rounding of a different library is ~1e-6) and every image's ``r >= min_r``
(default 0.999). A pipeline that decodes the same pixels with the same weights passes;
a different JPEG decoder, resampler or image mean fails visibly, with r still near 1.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from brainfeat._checks import check_float
from brainfeat.catalog import Catalog, Network, resolve_catalog
from brainfeat.errors import FormatError
from brainfeat.evaluation.metrics import unit_correlation
from brainfeat.features.store import extracted_layers, read_extracted

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["DEFAULT_MIN_R", "DEFAULT_TOLERANCE", "FeatureVerification", "LayerCheck",
           "compare_layer", "verify_features"]

DEFAULT_TOLERANCE = 1e-3
DEFAULT_MIN_R = 0.999


@dataclass(frozen=True)
class LayerCheck:
    """Regenerated vs published features of one layer.

    Attributes
    ----------
    layer : str
    image_ids : tuple of str
        The published test images, in published order.
    max_abs_diff : float
        Largest ``|regenerated - published|`` over images and units.
    max_abs_true : float
        Largest ``|published|``: the scale the tolerance is relative to.
    pearson_r : numpy.ndarray
        ``(n_images,)`` correlation across units, per image (NaN for a constant image).
    passed : bool
    note : str
        Why the layer failed, or ``""``.
    """

    layer: str
    image_ids: tuple[str, ...]
    max_abs_diff: float
    max_abs_true: float
    pearson_r: np.ndarray
    passed: bool
    note: str = ""

    @property
    def relative_diff(self) -> float:
        """``max_abs_diff / max_abs_true`` (inf when the published layer is all zero)."""
        return self.max_abs_diff / self.max_abs_true if self.max_abs_true > 0 else float("inf")

    @property
    def min_r(self) -> float:
        """Smallest per-image correlation (NaN counts as the smallest)."""
        r = self.pearson_r
        return float("nan") if r.size == 0 or np.isnan(r).any() else float(r.min())


@dataclass(frozen=True)
class FeatureVerification:
    """The outcome of :func:`verify_features` for one network.

    Attributes
    ----------
    network : Network
    features_path : Path
    checks : tuple of LayerCheck
    tolerance, min_r : float
        The pass criteria used.
    """

    network: Network
    features_path: Path
    checks: tuple[LayerCheck, ...]
    tolerance: float
    min_r: float

    @property
    def passed(self) -> bool:
        """True when every layer passed."""
        return all(check.passed for check in self.checks)

    def to_frame(self) -> "pd.DataFrame":
        """One row per layer: max_abs_diff, relative_diff, min_r, mean_r, passed, note."""
        import pandas as pd

        return pd.DataFrame([{
            "layer": c.layer, "n_images": len(c.image_ids), "max_abs_diff": c.max_abs_diff,
            "relative_diff": c.relative_diff, "min_r": c.min_r,
            "mean_r": float(np.nanmean(c.pearson_r)) if c.pearson_r.size else float("nan"),
            "passed": c.passed, "note": c.note} for c in self.checks]).set_index("layer")

    def __str__(self) -> str:
        lines = [f"{self.network.value} features in {self.features_path} vs published true "
                 f"features (pass: max|diff| <= {self.tolerance:g} x max|true| and every "
                 f"image r >= {self.min_r:g})",
                 f"{'layer':<9}{'max|diff|':>12}{'relative':>11}{'min r':>10}  result"]
        for c in self.checks:
            verdict = "PASS" if c.passed else f"FAIL {c.note}".rstrip()
            lines.append(f"{c.layer:<9}{c.max_abs_diff:>12.4g}{c.relative_diff:>11.3g}"
                         f"{c.min_r:>10.6f}  {verdict}")
        lines.append("all layers pass" if self.passed else
                     f"{sum(not c.passed for c in self.checks)} of {len(self.checks)} layers fail")
        return "\n".join(lines)


def compare_layer(layer: str, regenerated: np.ndarray, published: np.ndarray,
                  image_ids: Sequence[str], tolerance: float = DEFAULT_TOLERANCE,
                  min_r: float = DEFAULT_MIN_R) -> LayerCheck:
    """Compare two ``(n_images, n_units)`` arrays of one layer (see the module docstring)."""
    if regenerated.shape != published.shape:
        return LayerCheck(layer, tuple(image_ids), float("nan"), float("nan"),
                          np.full(len(image_ids), np.nan), False,
                          f"shape {regenerated.shape} != published {published.shape}")
    max_diff = float(np.max(np.abs(regenerated - published))) if published.size else 0.0
    max_true = float(np.max(np.abs(published))) if published.size else 0.0
    # Per image, across units: the per-unit correlation of the transposed arrays.
    r = (unit_correlation(regenerated.T, published.T) if published.shape[1] > 1
         else np.full(len(image_ids), np.nan))
    notes = []
    if not max_diff <= tolerance * max_true:
        notes.append(f"max|diff| {max_diff:.4g} > {tolerance:g} x {max_true:.4g}")
    low = [image_ids[i] for i in np.flatnonzero(~(r >= min_r))]
    if low:
        notes.append(f"r < {min_r:g} for {len(low)} images (first {low[0]})")
    return LayerCheck(layer, tuple(image_ids), max_diff, max_true, r, not notes, "; ".join(notes))


def verify_features(features: str | os.PathLike[str], network: Network | str,
                    layers: Sequence[str] | None = None, *,
                    tolerance: float = DEFAULT_TOLERANCE, min_r: float = DEFAULT_MIN_R,
                    data_dir: str | os.PathLike[str] | None = None, download: bool = True,
                    progress: bool = True, catalog: Catalog | None = None) -> FeatureVerification:
    """Check regenerated features against the published ``true`` features.

    Parameters
    ----------
    features : path-like
        A feature file written by :func:`brainfeat.features.extract` that holds (at least)
        the published test images.
    network : {"AlexNet", "VGG19"}
    layers : sequence of str, optional
        Default: every published layer of ``network`` that the file holds.
    tolerance : float
        Largest allowed ``max|diff|``, relative to the layer's largest ``|published|`` value.
    min_r : float
        Smallest allowed per-image Pearson r.
    data_dir, download, progress, catalog
        As for :func:`brainfeat.published.load_features`.

    Returns
    -------
    FeatureVerification
        Per-layer numbers and verdicts; ``.passed``, ``.to_frame()``, ``str()``.

    Raises
    ------
    InvalidValueError
        A negative or non-finite ``tolerance``, or ``min_r`` outside [-1, 1].
    """
    from brainfeat.published import load_features

    catalog = resolve_catalog(catalog)
    network = Network.parse(network)
    tolerance = check_float("tolerance", tolerance, example=DEFAULT_TOLERANCE)
    min_r = check_float("min_r", min_r, minimum=-1.0, maximum=1.0, example=DEFAULT_MIN_R)
    if layers is None:
        held = set(extracted_layers(features))
        layers = [info.name for info in catalog.layers_of(network) if info.name in held]
    checks = []
    for layer in layers:
        name = catalog.layer(network, layer).name
        true = load_features("true", network, name, data_dir=data_dir, download=download,
                             progress=progress, catalog=catalog)
        regenerated = read_extracted(features, name, image_ids=true.image_ids)
        if regenerated.model != network.value:
            raise FormatError(f"{features} holds {regenerated.model} features, not "
                              f"{network.value}: verify it against its own network.")
        checks.append(compare_layer(name, regenerated.values, true.values, true.image_ids,
                                    tolerance, min_r))
    return FeatureVerification(network, Path(features), tuple(checks), tolerance, min_r)
