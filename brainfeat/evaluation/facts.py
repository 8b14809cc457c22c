"""Hypotheses about the published files, and how each is tested.

DATASET.md leaves four facts open; :func:`~brainfeat.evaluation.report.verify` settles each
from the files themselves:

* rank convention -- every :class:`RankPolicy` (direction x NaN placement x 0/1-based) is
  applied to the published accuracy and compared with the published rank file;
* ``Averaged`` -- the mean of the decoded features scored afterwards, or the mean of the five
  accuracy maps (compared in :mod:`brainfeat.evaluation.report`);
* pre- or post-ReLU true features -- any negative true value means pre-ReLU;
* .mat flavour -- read from each file's signature (:func:`mat_flavour`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainfeat.evaluation.metrics import NanPolicy, rank_ranges
from brainfeat.evaluation.results import Finding, LayerCheck

__all__ = [
    "DECODED_RELATIVE_TOLERANCE",
    "RANK_MATCH_FRACTION",
    "RANK_POLICIES",
    "RankPolicy",
    "conclude_averaged",
    "conclude_mat",
    "conclude_rank",
    "conclude_relu",
    "mat_flavour",
    "rank_agreements",
]

#: A rank file "matches" a policy when at least this fraction of its units agree (a unit
#: tied with others in the stored accuracy agrees anywhere in its group's range of ranks;
#: the slack is for near-ties of recomputed accuracies, whose order rounding may swap).
RANK_MATCH_FRACTION = 0.999
#: Published Averaged decoded features "equal" the subjects' mean within this relative error.
DECODED_RELATIVE_TOLERANCE = 1e-5


@dataclass(frozen=True)
class RankPolicy:
    """One hypothesis about how the published rank files were computed."""

    descending: bool
    nan: NanPolicy
    base: int

    @property
    def label(self) -> str:
        """Readable name, e.g. ``"descending (first = most accurate), NaN ranked last, 1-based"``."""
        direction = ("descending (first = most accurate)" if self.descending
                     else "ascending (first = least accurate)")
        nan = {"last": "NaN ranked last", "first": "NaN ranked first",
               "keep": "NaN left unranked"}[self.nan]
        return f"{direction}, {nan}, {self.base}-based"


RANK_POLICIES: tuple[RankPolicy, ...] = tuple(
    RankPolicy(descending, nan, base)
    for descending, nan, base in itertools.product((True, False), ("last", "first", "keep"), (1, 0))
)


def rank_agreements(accuracy: np.ndarray, published_rank: np.ndarray) -> dict[str, float]:
    """Fraction of units whose published rank each policy's ranking of ``accuracy`` allows.

    Units tied in ``accuracy`` may come in any order (the lab may have ranked unrounded
    values, or broken ties its own way), so a unit agrees when its published rank lies in
    the range of ranks its tied group takes (:func:`~brainfeat.evaluation.metrics.rank_ranges`).

    Parameters
    ----------
    accuracy : ndarray (n_units,)
        The accuracies the ranks should follow (published or recomputed).
    published_rank : ndarray (n_units,)
        The published rank file's values. NaN equals NaN.

    Returns
    -------
    dict of policy label -> fraction in [0, 1]
    """
    published = np.asarray(published_rank, dtype=np.float64).ravel()
    one_based: dict[tuple[bool, str], tuple[np.ndarray, np.ndarray]] = {}
    result = {}
    for policy in RANK_POLICIES:
        key = (policy.descending, policy.nan)
        if key not in one_based:
            one_based[key] = rank_ranges(accuracy, descending=policy.descending, nan=policy.nan)
        low, high = (ranks - (1 - policy.base) for ranks in one_based[key])
        agree = (low <= published) & (published <= high)
        agree |= np.isnan(low) & np.isnan(published)
        result[policy.label] = float(agree.mean())
    return result


_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def mat_flavour(path: str | Path) -> str:
    """The MATLAB file format of ``path``, read from its signature.

    Returns
    -------
    str
        ``"v7.3"`` (HDF5: ``MATLAB 7.3`` header text or the HDF5 magic at byte 0 or 512),
        ``"v5"`` (``MATLAB 5.0`` header, also written by MATLAB v6/v7 and scipy), or
        ``"v4 or unknown"``.
    """
    with open(path, "rb") as handle:
        head = handle.read(520)
    if head.startswith(b"MATLAB 7.3") or head[:8] == _HDF5_MAGIC or head[512:520] == _HDF5_MAGIC:
        return "v7.3"
    if head.startswith(b"MATLAB 5.0"):
        return "v5"
    return "v4 or unknown"


def conclude_rank(layers: Sequence[LayerCheck]) -> tuple[Finding, str | None]:
    """Which :class:`RankPolicy` the published rank files follow.

    Each rank file is compared with every policy applied to its own published accuracy
    (the recomputed accuracy where the published one is missing). The policy matched by
    the most files is established; policies that no file tells apart (e.g. NaN placement
    when no accuracy is NaN) are reported as undetermined.

    Returns
    -------
    (Finding, str or None)
        The finding and the established policy's label (None if no file matches any).
    """
    files = [check.rank_agreement or check.rank_agreement_recomputed
             for layer in layers for check in layer.subjects]
    files = [agreements for agreements in files if agreements]
    if not files:
        return Finding("rank", "not tested: no rank file was read", "", False), None
    matches = {policy.label: sum(f[policy.label] >= RANK_MATCH_FRACTION for f in files)
               for policy in RANK_POLICIES}
    most = max(matches.values())
    if most == 0:
        closest = max(matches, key=lambda label: max(f[label] for f in files))
        return Finding("rank", "no tested rank convention reproduces the rank files",
                       f"{len(files)} rank files; closest: {closest}", False), None
    best = [policy for policy in RANK_POLICIES if matches[policy.label] == most]
    aspects = [
        ("direction", {p.descending for p in best},
         lambda v: "descending (rank 1 = most accurate unit)" if v
         else "ascending (rank 1 = least accurate unit)"),
        ("NaN accuracies", {p.nan for p in best},
         lambda v: {"last": "ranked after every scored unit", "first": "ranked first",
                    "keep": "left unranked (NaN rank)"}[v]),
        ("numbering", {p.base for p in best}, lambda v: f"{v}-based"),
    ]
    parts = [f"{name}: {describe(next(iter(values)))}" if len(values) == 1
             else f"{name}: undetermined (the files do not tell "
                  f"{' from '.join(sorted(str(describe(v)) for v in values))})"
             for name, values, describe in aspects]
    evidence = (f"{most} of {len(files)} rank files match (>= {RANK_MATCH_FRACTION:.1%} of "
                f"units, ties in either order) under {best[0].label}"
                + "".join(f"; equally under {policy.label}" for policy in best[1:]))
    return Finding("rank", "; ".join(parts), evidence, len(best) == 1), best[0].label


def conclude_averaged(layers: Sequence[LayerCheck], tolerance: float) -> Finding:
    """Whether ``Averaged`` is "average the decoded features, then score" or "average the maps"."""
    checked = [layer for layer in layers if layer.averaged is not None]
    then_score = [la for la in checked
                  if la.averaged.mean_then_score_fraction_within == 1.0]  # type: ignore[union-attr]
    of_maps = [la for la in checked
               if la.averaged.mean_of_accuracies_fraction_within == 1.0]  # type: ignore[union-attr]
    decided = [la for la in checked
               if la.averaged.mean_then_score_fraction_within is not None]  # type: ignore[union-attr]
    if not decided:
        return Finding("averaged", "not tested: the Averaged accuracy or the subjects' "
                       "decoded features were not all available", "", False)
    same_decoded = [la for la in checked
                    if (la.averaged.decoded_max_relative_diff or 0.0) <= DECODED_RELATIVE_TOLERANCE]  # type: ignore[union-attr]
    evidence = (f"published Averaged accuracy within {tolerance:g} of: decoded-mean-then-scored "
                f"in {len(then_score)} of {len(decided)} layers, mean of the subjects' "
                f"accuracy maps in {len(of_maps)} of {len(decided)}; published Averaged "
                f"decoded = mean of the subjects' decoded in {len(same_decoded)} of "
                f"{len(checked)} layers")
    if len(then_score) == len(decided) and len(of_maps) < len(decided):
        conclusion = ("Averaged = the subjects' decoded features averaged, then scored "
                      "(not the mean of their accuracy maps)")
    elif len(of_maps) == len(decided) and len(then_score) < len(decided):
        conclusion = "Averaged = the mean of the subjects' accuracy maps"
    elif then_score and of_maps and len(then_score) == len(of_maps) == len(decided):
        conclusion = "undetermined: both hypotheses reproduce the Averaged accuracy"
    else:
        conclusion = "neither hypothesis reproduces the Averaged accuracy in every layer"
    settled = conclusion.startswith("Averaged =")
    return Finding("averaged", conclusion, evidence, settled)


def conclude_relu(layers: Sequence[LayerCheck]) -> Finding:
    """Pre- or post-ReLU true features: any negative true value means pre-ReLU."""
    checked = [layer for layer in layers if layer.true_min is not None]
    if not checked:
        return Finding("relu", "not tested: no true features were read", "", False)
    negative = [f"{la.network} {la.layer}" for la in checked if la.true_min < 0]  # type: ignore[operator]
    non_negative = [f"{la.network} {la.layer}" for la in checked
                    if la.true_min >= 0]  # type: ignore[operator]
    evidence = (f"negative true values in {len(negative)} of {len(checked)} layers"
                + (f"; none in {', '.join(non_negative)}" if non_negative else ""))
    if not non_negative:
        conclusion = "true features are pre-ReLU (every layer checked has negative values)"
    elif not negative:
        conclusion = ("no negative true value: consistent with post-ReLU features "
                      "(or non-negative by chance)")
    else:
        conclusion = (f"pre-ReLU in {', '.join(negative)}; no negative value in "
                      f"{', '.join(non_negative)}")
    return Finding("relu", conclusion, evidence, True)


def conclude_mat(layers: Sequence[LayerCheck]) -> Finding:
    """The .mat flavours met in the files verified."""
    totals: dict[str, int] = {}
    for layer in layers:
        for flavour, count in layer.mat_flavours.items():
            totals[flavour] = totals.get(flavour, 0) + count
    if not totals:
        return Finding("mat", "not tested: no .mat file was found", "", False)
    per_layer = "; ".join(
        f"{la.network} {la.layer}: " + ", ".join(f"{k} {v}" for k, v in sorted(la.mat_flavours.items()))
        for la in layers if la.mat_flavours)
    conclusion = "met " + ", ".join(f"{flavour} ({count} files)"
                                    for flavour, count in sorted(totals.items()))
    return Finding("mat", conclusion, per_layer, True)
