"""Regenerated vs published: decoded features, accuracies and ranks, number by number.

:func:`compare_regenerated` reads a folder written by :func:`brainfeat.regenerate` and the
published files through the same loader (:func:`brainfeat.load`), and for every layer and
subject (``Averaged`` included) reports

* decoded features: per-unit Pearson r over the test images between the regenerated and
  the published values (median and minimum over units), max |difference| and the max
  relative to the largest published magnitude;
* accuracies: Pearson r between the two accuracy maps, mean |difference|, and the fraction
  of units within ``tolerance`` (NaN on both sides counts as agreement);
* ranks: the fraction of units with the same rank;
* true features, per layer: :func:`brainfeat.features.verify.compare_layer`, the check of
  ``brainfeat verify-features`` (its tolerance: max |difference| within 1e-3 of the largest
  published value, every image's r >= 0.999);
* Figure 2's statistics (:func:`~brainfeat.evaluation.statistics.layer_figure_stats`) of the
  regenerated and of the published accuracies of S1..Sn, side by side;

with provenance: the regenerated folder's ``regenerated.json`` (versions, command, settings,
date, input SHA-256s) and the comparison's own (date, versions, the SHA-256 of every
published zip compared, from the data folder's manifest). :func:`write_comparison` writes
it as JSON and as a self-contained HTML page.

Tolerances. Both sides store float32 features, whose rounding is 2**-24 (6e-8) of each
value; two faithful float64 implementations of the decoder differ far less. Decoded
features therefore agree when their relative difference is below
:data:`~brainfeat.evaluation.facts.DECODED_RELATIVE_TOLERANCE` (1e-5, 150 float32 steps,
room for a different summation order); an accuracy, a Pearson r over 50 images computed
from such features, moves by about 1e-6, and ``DEFAULT_TOLERANCE`` (1e-4) is the
absolute tolerance ``brainfeat.verify`` uses for the same quantity.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from brainfeat.catalog import AVERAGED, Catalog, Kind, Network, resolve_catalog
from brainfeat.errors import DataNotFoundError, UnknownNameError
from brainfeat.evaluation.facts import DECODED_RELATIVE_TOLERANCE
from brainfeat.evaluation.metrics import unit_correlation
from brainfeat.evaluation.report import DEFAULT_TOLERANCE
from brainfeat.evaluation.statistics import LayerFigureStats, layer_figure_stats
from brainfeat.features.verify import compare_layer

__all__ = ["MANIFEST_FILE", "PAPER_ALEXNET", "PROFILE_FIGURE", "PROFILE_FILE", "VERSIONED",
           "RegeneratedCheck", "RegeneratedComparison", "TrueFeatureCheck", "compare_regenerated",
           "draw_profile", "library_versions", "published_profiles", "read_provenance",
           "write_comparison"]

#: The provenance file :func:`brainfeat.regenerate` leaves in its output folder.
MANIFEST_FILE = "regenerated.json"
#: Mean accuracy per layer and subject and inter-subject r, written by the loop.
PROFILE_FILE = "profile.json"
#: The figure :func:`draw_profile` writes into the regenerated folder.
PROFILE_FIGURE = "profile.png"
#: Label of the AlexNet profile read off the paper when no accuracy file is cached.
PAPER_ALEXNET = "AlexNet (paper's Figure 2, read off; DATASET.md section 3)"
#: Libraries whose versions the provenance records (with Python's).
VERSIONED = ("brainfeat", "numpy", "scipy", "h5py", "torch", "torchvision", "dask")
PathLike = str | os.PathLike[str]


def library_versions() -> dict[str, str]:
    """Installed versions of :data:`VERSIONED` ("not installed" where absent) and Python."""
    import platform
    from importlib import metadata

    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {**versions, "python": platform.python_version()}


@dataclass(frozen=True)
class RegeneratedCheck:
    """Regenerated vs published numbers of one (network, layer, subject).

    Attributes
    ----------
    network, layer, subject : str
    n_units : int
    decoded_unit_r_median, decoded_unit_r_min : float
        Per-unit Pearson r over the test images between regenerated and published decoded
        features: median and minimum over units (NaN where a unit is constant).
    decoded_max_abs_diff, decoded_max_rel_diff : float
        Largest absolute difference between regenerated and published decoded values,
        and the same divided by the largest published magnitude.
    accuracy_r : float
        Pearson r between the two accuracy maps (units both score).
    accuracy_mean_abs_diff : float
        Mean absolute difference of the two accuracies over the units both score.
    accuracy_fraction_within : float
        Fraction of units within the tolerance (NaN on both sides counts as agreement).
    rank_fraction_equal : float
        Fraction of units with the same rank (NaN on both sides counts as equal).
    """

    network: str
    layer: str
    subject: str
    n_units: int
    decoded_unit_r_median: float
    decoded_unit_r_min: float
    decoded_max_abs_diff: float
    decoded_max_rel_diff: float
    accuracy_r: float
    accuracy_mean_abs_diff: float
    accuracy_fraction_within: float
    rank_fraction_equal: float

    @property
    def agrees(self) -> bool:
        """Decoded features within the relative tolerance, every accuracy within tolerance."""
        return (self.decoded_max_rel_diff <= DECODED_RELATIVE_TOLERANCE
                and self.accuracy_fraction_within == 1.0)


@dataclass(frozen=True)
class TrueFeatureCheck:
    """Regenerated vs published true features of one layer (``verify-features``' check).

    Attributes
    ----------
    layer : str
    max_abs_diff, relative_diff : float
        Largest ``|regenerated - published|``, and over the largest published magnitude.
    min_r : float
        Smallest per-image Pearson r across units.
    passed : bool
    note : str
        Why it failed, or ``""``.
    """

    layer: str
    max_abs_diff: float
    relative_diff: float
    min_r: float
    passed: bool
    note: str = ""


@dataclass(frozen=True)
class RegeneratedComparison:
    """Every check of one regenerated folder, with its provenance.

    Attributes
    ----------
    checks : tuple of RegeneratedCheck
    true : tuple of TrueFeatureCheck
        One per layer.
    figure2 : dict of str to (LayerFigureStats, LayerFigureStats)
        Per layer, Figure 2's statistics of the regenerated and of the published accuracies.
    provenance : dict
        ``{"regenerated": <the folder's regenerated.json>, "comparison": {date, versions,
        published_sha256}}``.
    tolerance : float
        Absolute tolerance on accuracies.
    synthetic : bool
        Compared with a SYNTHETIC replica (the demo's).
    """

    checks: tuple[RegeneratedCheck, ...]
    true: tuple[TrueFeatureCheck, ...]
    figure2: dict[str, tuple[LayerFigureStats, LayerFigureStats]] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    tolerance: float = DEFAULT_TOLERANCE
    synthetic: bool = False

    @property
    def disagreements(self) -> list[RegeneratedCheck]:
        """Checks that do not agree."""
        return [c for c in self.checks if not c.agrees]

    @property
    def ok(self) -> bool:
        """True when every subject and every layer's true features agree."""
        return not self.disagreements and all(check.passed for check in self.true)

    def format_table(self) -> str:
        """A terminal table: one row per layer and subject, then the provenance."""
        head = (f"{'network':<8} {'layer':<8} {'subject':<9} {'units':>7} {'dec r med':>9} "
                f"{'dec rel':>8} {'acc r':>7} {'acc |d|':>8} {'within':>7} {'rank =':>7}  ok")
        rows = [head]
        for c in self.checks:
            rows.append(
                f"{c.network:<8} {c.layer:<8} {c.subject:<9} {c.n_units:>7} "
                f"{c.decoded_unit_r_median:>9.6f} {c.decoded_max_rel_diff:>8.1e} "
                f"{c.accuracy_r:>7.4f} {c.accuracy_mean_abs_diff:>8.1e} "
                f"{c.accuracy_fraction_within:>7.1%} {c.rank_fraction_equal:>7.1%}  "
                f"{'yes' if c.agrees else 'NO'}")
        for t in self.true:
            rows.append(f"true features {t.layer} (verify-features): max relative difference "
                        f"{t.relative_diff:.1e}, min image r {t.min_r:.6f}  "
                        f"{'PASS' if t.passed else 'FAIL ' + t.note}")
        rows.append(f"{'Figure 2':<17}{'mean acc regen':>15}{'published':>10}"
                    f"{'inter-r regen':>14}{'published':>10}")
        for layer, (ours, theirs) in self.figure2.items():
            rows.append(f"{layer:<17}{ours.mean_accuracy:>15.4f}{theirs.mean_accuracy:>10.4f}"
                        f"{ours.mean_intersubject:>14.4f}{theirs.mean_intersubject:>10.4f}")
        p = self.provenance.get("regenerated", {})
        rows.append(f"regenerated by brainfeat {p.get('versions', {}).get('brainfeat', '?')} "
                    f"on {p.get('date', '?')}: {p.get('command') or 'Python call'}; "
                    f"{len(p.get('inputs_sha256', {}))} input files hashed (SHA-256); "
                    f"{len(self.provenance.get('comparison', {}).get('published_sha256', {}))} "
                    "published zips compared (SHA-256)")
        agree = len(self.checks) - len(self.disagreements)
        rows.append(f"{agree}/{len(self.checks)} (layer, subject) agree "
                    f"(accuracy tolerance {self.tolerance:g}, decoded relative "
                    f"{DECODED_RELATIVE_TOLERANCE:g}).")
        return "\n".join(rows)

    def to_json(self) -> str:
        """Checks, true-feature differences, tolerance and provenance as JSON."""
        return json.dumps({"checks": [asdict(c) for c in self.checks],
                           "true_features": [asdict(t) for t in self.true],
                           "figure2": {layer: {"regenerated": ours.to_dict(),
                                               "published": theirs.to_dict()}
                                       for layer, (ours, theirs) in self.figure2.items()},
                           "tolerance": self.tolerance, "ok": self.ok,
                           "synthetic": self.synthetic,
                           "provenance": self.provenance}, indent=1, allow_nan=True)


def read_provenance(regenerated: PathLike) -> dict[str, Any]:
    """The ``regenerated.json`` of a folder written by :func:`brainfeat.regenerate`."""
    path = Path(regenerated) / MANIFEST_FILE
    if not path.is_file():
        raise DataNotFoundError(
            f"{regenerated} has no {MANIFEST_FILE}: pass the out= folder of a finished "
            "brainfeat.regenerate run (rerun it to finish an interrupted one).")
    return json.loads(path.read_text(encoding="utf-8"))


def compare_regenerated(regenerated: PathLike, *, data_dir: PathLike | None = None,
                        download: bool = True, catalog: Catalog | None = None,
                        tolerance: float = DEFAULT_TOLERANCE) -> RegeneratedComparison:
    """Compare a regenerated folder with the published files, layer by layer and subject.

    Parameters
    ----------
    regenerated : path-like
        The ``out`` folder of :func:`brainfeat.regenerate` (AlexNet or VGG19).
    data_dir, download
        Where the published files are (and whether they may be downloaded).
    catalog : Catalog, optional
        The catalog both were written with (a replica's for the demo).
    tolerance : float
        Absolute tolerance on accuracies (see the module docstring).

    Returns
    -------
    RegeneratedComparison
    """
    from brainfeat.published import load

    provenance = read_provenance(regenerated)
    if provenance.get("network") is None:
        raise UnknownNameError(
            f"{regenerated} holds features of {provenance.get('model')!r}, which has no "
            "published files to compare with: read its profile.json instead.")
    catalog = resolve_catalog(catalog)
    network = Network.parse(provenance["network"])
    ours = {"data_dir": regenerated, "download": False, "catalog": catalog, "progress": False}
    theirs = {"data_dir": data_dir, "download": download, "catalog": catalog, "progress": False}
    subjects = [catalog.subject(s) for s in provenance["subjects"]] + [AVERAGED]
    checks, true, figure = [], [], {}
    for layer in provenance["layers"]:
        true.append(_true_check(layer, load(Kind.TRUE, network, layer, **ours),
                                load(Kind.TRUE, network, layer, **theirs)))
        accuracies: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for subject in subjects:
            args = (network, layer, subject)
            mine = [load(kind, *args, **ours).values for kind in (Kind.DECODED, Kind.ACCURACY,
                                                                  Kind.RANK)]
            published = [load(kind, *args, **theirs).values
                         for kind in (Kind.DECODED, Kind.ACCURACY, Kind.RANK)]
            checks.append(_check(network.value, layer, subject.name, mine, published,
                                 tolerance))
            if not subject.is_averaged:
                accuracies[subject.name] = (mine[1], published[1])
        figure[layer] = tuple(
            layer_figure_stats({name: pair[side] for name, pair in accuracies.items()},
                               network.value, layer, source=source)
            for side, source in ((0, "regenerated"), (1, "published")))
    return RegeneratedComparison(
        tuple(checks), tuple(true), figure,
        {"regenerated": provenance,
         "comparison": _comparison_provenance(network, list(provenance["layers"]), data_dir)},
        tolerance, catalog.synthetic)


def _true_check(layer: str, ours: Any, theirs: Any) -> TrueFeatureCheck:
    check = compare_layer(layer, ours.values.astype(np.float64), theirs.values,
                          theirs.image_ids)
    return TrueFeatureCheck(layer, check.max_abs_diff, check.relative_diff, check.min_r,
                            check.passed, check.note)


def _comparison_provenance(network: Network, layers: list[str],
                           data_dir: PathLike | None) -> dict[str, Any]:
    """Date, versions and the SHA-256 of every published zip compared (from the manifest)."""
    import time

    from brainfeat.config import data_dir as resolve_data_dir
    from brainfeat.remote.download import manifest_entries
    from brainfeat.remote.registry import default_registry

    names = {default_registry().layer_archive(kind, network, layer).name
             for kind in Kind for layer in layers}
    entries = manifest_entries(resolve_data_dir(data_dir))
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "versions": library_versions(),
            "published_sha256": {entry["name"]: entry.get("sha256")
                                 for entry in entries.values()
                                 if entry.get("name") in names}}


def write_comparison(comparison: RegeneratedComparison, json_path: PathLike,
                     ) -> tuple[Path, Path]:
    """Write ``comparison`` as JSON at ``json_path`` and as HTML beside it (``.html``).

    Returns
    -------
    (Path, Path)
        The JSON and the HTML file.
    """
    from brainfeat.evaluation.html import render_regenerated_html

    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    html_path = json_path.with_suffix(".html")
    json_path.write_text(comparison.to_json(), encoding="utf-8")
    html_path.write_text(render_regenerated_html(comparison), encoding="utf-8")
    return json_path, html_path


def _relative(ours: np.ndarray, theirs: np.ndarray) -> float:
    scale = float(np.max(np.abs(theirs), initial=0.0)) or 1.0
    return float(np.max(np.abs(ours.astype(np.float64) - theirs), initial=0.0)) / scale


def _check(network: str, layer: str, subject: str, ours: list[np.ndarray],
           theirs: list[np.ndarray], tolerance: float) -> RegeneratedCheck:
    decoded, accuracy, rank = ours
    published_decoded, published_accuracy, published_rank = theirs
    unit_r = unit_correlation(decoded, published_decoded)
    both = np.isfinite(accuracy) & np.isfinite(published_accuracy)
    within = (np.abs(accuracy - published_accuracy) <= tolerance) & both
    within |= np.isnan(accuracy) & np.isnan(published_accuracy)
    map_r = unit_correlation(accuracy[both, None], published_accuracy[both, None])[0] \
        if both.sum() >= 2 else float("nan")
    equal_rank = (rank == published_rank) | (np.isnan(rank) & np.isnan(published_rank))
    return RegeneratedCheck(
        network=network, layer=layer, subject=subject, n_units=int(accuracy.size),
        decoded_unit_r_median=float(np.nanmedian(unit_r)) if np.isfinite(unit_r).any()
        else float("nan"),
        decoded_unit_r_min=float(np.nanmin(unit_r)) if np.isfinite(unit_r).any()
        else float("nan"),
        decoded_max_abs_diff=float(np.max(np.abs(decoded.astype(np.float64)
                                                  - published_decoded), initial=0.0)),
        decoded_max_rel_diff=_relative(decoded, published_decoded),
        accuracy_r=float(map_r),
        accuracy_mean_abs_diff=float(np.mean(np.abs(accuracy[both] - published_accuracy[both])))
        if both.any() else float("nan"),
        accuracy_fraction_within=float(np.mean(within)),
        rank_fraction_equal=float(np.mean(equal_rank)))


def published_profiles(*, data_dir: PathLike | None = None, catalog: Catalog | None = None,
                       ) -> dict[str, list[tuple[str, float | None, float | None]]]:
    """The published decodability profiles of AlexNet and VGG19, without downloading.

    From the accuracy files already in ``data_dir`` (Figure 2's statistics of each cached
    layer); for AlexNet with none cached, the paper's values (:data:`PAPER_ALEXNET`); VGG19
    with none cached is left out (the paper's text gives no VGG19 values).

    Returns
    -------
    dict of str to list of (layer, mean accuracy, mean inter-subject r)
        Labelled by network and source.
    """
    from brainfeat.evaluation.report import figure2_statistics
    from brainfeat.evaluation.statistics import PUBLISHED_ALEXNET_FIGURE2

    catalog = resolve_catalog(catalog)
    lines = {}
    for network in catalog.networks:
        stats = figure2_statistics(network, data_dir=data_dir, download=False, catalog=catalog,
                                   progress=False)
        if stats:
            lines[f"{network.value} (published accuracy files)"] = [
                (s.layer, s.mean_accuracy, s.mean_intersubject) for s in stats]
        elif network is Network.ALEXNET:
            lines[PAPER_ALEXNET] = [(layer, mean, r) for layer, (mean, r)
                                    in PUBLISHED_ALEXNET_FIGURE2.items()]
    return lines


def draw_profile(regenerated: PathLike, *, data_dir: PathLike | None = None,
                 catalog: Catalog | None = None) -> Path:
    """Draw a regenerated folder's profile beside the published ones (``profile.png``).

    Parameters
    ----------
    regenerated : path-like
        The ``out`` folder of :func:`brainfeat.regenerate` (any model).
    data_dir, catalog
        Where published accuracy files may be cached (never downloaded), and their catalog.

    Returns
    -------
    pathlib.Path
        ``<regenerated>/profile.png``: mean accuracy over S1..Sn (each subject's as a dot)
        and mean inter-subject r per layer, beside :func:`published_profiles`.
    """
    from brainfeat.evaluation.figures import profile_figure

    provenance = read_provenance(regenerated)
    profile = json.loads((Path(regenerated) / PROFILE_FILE).read_text(encoding="utf-8"))
    subjects = provenance["subjects"]
    line, per_subject = [], []
    for layer, entry in profile.items():
        means = [entry["mean_accuracy"][s] for s in subjects
                 if entry["mean_accuracy"].get(s) is not None]
        line.append((layer, float(np.mean(means)) if means else None, entry["intersubject_r"]))
        per_subject.append(means)
    catalog = resolve_catalog(catalog)
    label = f"{provenance['model']} (regenerated)"
    lines = {label: line, **published_profiles(data_dir=data_dir, catalog=catalog)}
    figure = profile_figure(lines, title=f"Decodability profile of {provenance['model']} "
                            f"({', '.join(subjects)})", subject_means={label: per_subject},
                            synthetic=catalog.synthetic)
    path = Path(regenerated) / PROFILE_FIGURE
    figure.savefig(path, dpi=110)
    return path
