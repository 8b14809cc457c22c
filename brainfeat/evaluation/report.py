"""``brainfeat.verify``: recompute every published accuracy and rank and say which agree.

For each selected (network, layer) the true features are read once; then, subject by
subject, the decoded features are read, scored against the true ones unit chunk by unit
chunk (:func:`~brainfeat.evaluation.metrics.unit_correlation`), added to a float64 running
sum for the ``Averaged`` subject, and released before the next subject is read. Peak memory
for one layer is therefore the true features + one subject's decoded features (+ the
loader's transient per-image copy) + the float64 running sum + 26 MB chunk temporaries:
for VGG19 conv1_1 (50 x 3.2 M float32 = 0.64 GB per array) about 0.64 + 0.64 + 1.28 GB plus
the small per-image copies, under 4 GB. Accuracy and rank maps are (n_units,) vectors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from brainfeat._checks import check_float, check_output_folder
from brainfeat.catalog import (
    AVERAGED, Catalog, Kind, LayerInfo, Network, Subject, SubjectLike, resolve_catalog)
from brainfeat.errors import BrainfeatError, UnknownNameError
from brainfeat.evaluation.facts import (
    DECODED_RELATIVE_TOLERANCE,
    RANK_MATCH_FRACTION,
    conclude_averaged,
    conclude_mat,
    conclude_rank,
    conclude_relu,
    mat_flavour,
    rank_agreements,
)
from brainfeat.evaluation.metrics import DEFAULT_CHUNK_UNITS, RunningMean, unit_correlation
from brainfeat.evaluation.results import (
    AveragedCheck,
    Figure2Comparison,
    LayerCheck,
    SubjectCheck,
    VerificationReport,
)
from brainfeat.evaluation.statistics import (
    PUBLISHED_ALEXNET_FIGURE2,
    PUBLISHED_TOLERANCE,
    LayerFigureStats,
    layer_figure_stats,
)

__all__ = ["DEFAULT_TOLERANCE", "figure2_statistics", "verify", "write_report"]

#: Absolute tolerance on accuracies (Pearson r): float32 features give ~1e-6 differences.
DEFAULT_TOLERANCE = 1e-4

PathLike = str | os.PathLike[str]


def verify(network: Network | str | None = None, layer: str | None = None,
           subject: SubjectLike | None = None, *, data_dir: PathLike | None = None,
           download: bool = True, catalog: Catalog | None = None,
           tolerance: float = DEFAULT_TOLERANCE, out_dir: PathLike | None = None,
           progress: bool = True) -> VerificationReport:
    """Recompute the published accuracies and ranks and compare them number by number.

    Parameters
    ----------
    network : {"AlexNet", "VGG19"}, optional
        Verify only this network (default: every network of the catalog).
    layer : str, optional
        Verify only this layer (needs ``network`` when the name exists in both networks).
    subject : {"S1".."S5", "Averaged"}, optional
        Verify only this subject. Default: every subject and ``Averaged``, plus Figure 2.
    data_dir : path-like, optional
        Data folder; defaults to ``BRAINFEAT_DATA`` or ``~/brainfeat_data``.
    download : bool, optional
        Download missing files; with False, missing files are reported as missing.
    catalog : Catalog, optional
        Dataset description; defaults to the published dataset (a replica passes its own).
    tolerance : float, optional
        Absolute tolerance on accuracies: a finite number >= 0.
    out_dir : path-like, optional
        If given, write ``verification.json``, ``verification.html`` (self-contained, figures
        embedded) and the Figure 2 PNG/SVG files there.
    progress : bool, optional
        Show a progress bar (on stderr) while files are read and scored.

    Returns
    -------
    VerificationReport
        Per (network, layer, subject): max ``|recomputed - published|`` accuracy, the fraction
        within ``tolerance``, rank agreement; the findings on rank convention, ``Averaged``,
        pre/post-ReLU and .mat flavours; Figure 2 statistics against the paper.

    Raises
    ------
    InvalidValueError
        ``tolerance`` negative, NaN or infinite.

    Examples
    --------
    >>> report = brainfeat.verify("AlexNet", "fc8")  # doctest: +SKIP
    >>> print(report.format_table())  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    tolerance = check_float("tolerance", tolerance, example=DEFAULT_TOLERANCE)
    if out_dir is not None:
        check_output_folder("out_dir", out_dir)  # before the work, not after it
    catalog = resolve_catalog(catalog)
    layers = _select_layers(catalog, network, layer)
    subjects = (catalog.subjects + (AVERAGED,) if subject is None
                else (catalog.subject(subject),))
    source = _Source(catalog, data_dir, download)
    checks = []
    with tqdm(total=len(layers) * len(subjects), desc="verify", unit="subject",
              disable=not progress, leave=False) as bar:
        for info in layers:
            bar.set_postfix_str(f"{info.network.value} {info.name}")
            checks.append(_verify_layer(info, subjects, source, tolerance, bar,
                                        with_figure=subject is None))
    rank_finding, policy = conclude_rank(checks)
    checks = [_settle(check, policy, tolerance) for check in checks]
    figure2, note = _compare_figure2(checks, catalog)
    report = VerificationReport(
        dataset=catalog.name, synthetic=catalog.synthetic, tolerance=tolerance,
        layers=tuple(checks),
        findings=(rank_finding, conclude_averaged(checks, tolerance), conclude_relu(checks),
                  conclude_mat(checks)),
        figure2=figure2, figure2_note=note, rank_policy=policy,
    )
    return write_report(report, out_dir) if out_dir is not None else report


def write_report(report: VerificationReport, out_dir: PathLike) -> VerificationReport:
    """Write the JSON, the HTML page and the Figure 2 files of ``report`` into ``out_dir``.

    Returns
    -------
    VerificationReport
        ``report`` with :attr:`~VerificationReport.outputs` naming the files written.
    """
    from brainfeat.evaluation.figures import save_figure2
    from brainfeat.evaluation.html import render_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats = [layer.figure for layer in report.layers if layer.figure is not None]
    outputs = {f"figure:{path.name}": str(path)
               for path in save_figure2(stats, out / "figures", synthetic=report.synthetic)}
    outputs["html"] = str(out / "verification.html")
    outputs["json"] = str(out / "verification.json")
    report = replace(report, outputs=outputs)
    (out / "verification.html").write_text(render_html(report), encoding="utf-8")
    (out / "verification.json").write_text(report.to_json(), encoding="utf-8")
    return report


def figure2_statistics(network: Network | str | None = None, layer: str | None = None, *,
                       data_dir: PathLike | None = None, download: bool = True,
                       catalog: Catalog | None = None,
                       progress: bool = True) -> list[LayerFigureStats]:
    """Figure 2 statistics from the published accuracy files alone (no decoded features).

    Parameters
    ----------
    network, layer, data_dir, download, catalog, progress
        As in :func:`verify`.

    Returns
    -------
    list of LayerFigureStats
        One per layer with at least one subject's accuracy file; ``source="published"``.
    """
    from tqdm.auto import tqdm

    catalog = resolve_catalog(catalog)
    source = _Source(catalog, data_dir, download)
    stats = []
    for info in tqdm(_select_layers(catalog, network, layer), desc="figures", unit="layer",
                     disable=not progress, leave=False):
        accuracies = {}
        for subject in catalog.subjects:
            loaded = source.load(Kind.ACCURACY, info, subject)
            if loaded.values is not None:
                accuracies[subject.name] = loaded.values
        if accuracies:
            stats.append(layer_figure_stats(accuracies, info.network.value, info.name,
                                            source="published"))
    return stats


def _select_layers(catalog: Catalog, network: Network | str | None,
                   layer: str | None) -> tuple[LayerInfo, ...]:
    networks = catalog.networks if network is None else (Network.parse(network),)
    if layer is None:
        return tuple(info for net in networks for info in catalog.layers_of(net))
    found = []
    for net in networks:
        try:
            found.append(catalog.layer(net, layer))
        except UnknownNameError:
            if network is not None:
                raise
    if not found:
        valid = " ".join(sorted({info.name for info in catalog.layers}))
        raise UnknownNameError(f"Unknown layer {layer!r}: expected one of {valid}.")
    return tuple(found)


@dataclass
class _Loaded:
    """One published array, or why there is none: missing, or ``error`` (unreadable)."""

    values: np.ndarray | None = None
    missing: bool = False
    error: str | None = None


class _Source:
    """Reads published files through :mod:`brainfeat.published`, never raising for absence."""

    def __init__(self, catalog: Catalog, data_dir: PathLike | None, download: bool) -> None:
        self.catalog, self.data_dir, self.download = catalog, data_dir, download

    def load(self, kind: Kind, info: LayerInfo, subject: Subject | None = None) -> _Loaded:
        from brainfeat.published import load_accuracy, load_features, load_rank

        options: dict[str, Any] = dict(data_dir=self.data_dir, download=self.download,
                                       progress=False, catalog=self.catalog)
        try:
            if kind.per_image:
                result = load_features(kind, info.network, info.name, subject, **options)
            else:
                loader = load_accuracy if kind is Kind.ACCURACY else load_rank
                result = loader(info.network, info.name, subject, **options)
        except FileNotFoundError:
            return _Loaded(missing=True)
        except (BrainfeatError, OSError, ValueError) as error:
            return _Loaded(error=f"{kind.value}: {error}")
        return _Loaded(values=result.values)

    def mat_flavours(self, info: LayerInfo) -> dict[str, int]:
        from brainfeat.remote.api import fetch

        counts: dict[str, int] = {}
        for kind in Kind:
            try:
                folder = fetch(kind, info.network, info.name, data_dir=self.data_dir,
                               download=False, progress=False, catalog=self.catalog)
            except (BrainfeatError, OSError):
                continue
            for path in sorted(Path(folder).rglob("*.mat")):
                flavour = mat_flavour(path)
                counts[flavour] = counts.get(flavour, 0) + 1
        return counts


def _verify_layer(info: LayerInfo, subjects: tuple[Subject, ...], source: _Source,
                  tolerance: float, bar: Any, *, with_figure: bool) -> LayerCheck:
    true = source.load(Kind.TRUE, info)
    with_averaged = AVERAGED in subjects
    real = [s for s in source.catalog.subjects if s in subjects or with_averaged]
    running = RunningMean()
    recomputed: dict[str, np.ndarray] = {}
    published: dict[str, np.ndarray] = {}
    checks: dict[str, SubjectCheck] = {}
    for subject in real:
        decoded = source.load(Kind.DECODED, info, subject)
        if decoded.values is not None and true.values is not None:
            recomputed[subject.name] = unit_correlation(decoded.values, true.values)
            if with_averaged:
                running.add(decoded.values)
        if subject in subjects:
            checks[subject.name] = _check_subject(info, subject, decoded, true, recomputed,
                                                  published, source, tolerance)
            bar.update()
        del decoded
    averaged = None
    if with_averaged:
        decoded = source.load(Kind.DECODED, info, AVERAGED)
        if decoded.values is not None and true.values is not None:
            recomputed[AVERAGED.name] = unit_correlation(decoded.values, true.values)
        checks[AVERAGED.name] = _check_subject(info, AVERAGED, decoded, true, recomputed,
                                               published, source, tolerance)
        averaged = _check_averaged(running, len(real), decoded, true, recomputed, published,
                                   tolerance)
        bar.update()
        del decoded
    real_names = [s.name for s in source.catalog.subjects]
    figure = _figure_stats(info, real_names, recomputed, published) if with_figure else None
    return LayerCheck(
        network=info.network.value, layer=info.name, n_units=info.n_units,
        subjects=tuple(checks.values()),
        true_min=_min(true.values) if true.values is not None else None,
        mat_flavours=source.mat_flavours(info), averaged=averaged, figure=figure,
    )


def _check_subject(info: LayerInfo, subject: Subject, decoded: _Loaded, true: _Loaded,
                   recomputed: dict[str, np.ndarray], published: dict[str, np.ndarray],
                   source: _Source, tolerance: float) -> SubjectCheck:
    accuracy = source.load(Kind.ACCURACY, info, subject)
    rank = source.load(Kind.RANK, info, subject)
    loaded = {"true": true, "decoded": decoded, "accuracy": accuracy, "rank": rank}
    fields: dict[str, Any] = {
        "missing": tuple(kind for kind, item in loaded.items() if item.missing),
        "errors": tuple(item.error for item in loaded.values() if item.error),
    }
    mine = recomputed.get(subject.name)
    if accuracy.values is not None:
        published[subject.name] = accuracy.values
        if mine is not None:
            fields.update(_compare_accuracy(mine, accuracy.values, tolerance, "accuracy_"))
    if rank.values is not None:
        if accuracy.values is not None:
            fields["rank_agreement"] = rank_agreements(accuracy.values, rank.values)
        if mine is not None:
            fields["rank_agreement_recomputed"] = rank_agreements(mine, rank.values)
    return SubjectCheck(network=info.network.value, layer=info.name, subject=subject.name,
                        n_units=info.n_units, **fields)


def _compare_accuracy(mine: np.ndarray, theirs: np.ndarray, tolerance: float, prefix: str,
                      keys: tuple[str, ...] = ("max_abs_diff", "fraction_within",
                                               "nan_mismatches")) -> dict[str, Any]:
    """``<prefix><key>`` for ``keys``: max |diff|, fraction within tolerance, NaN on one side."""
    mine = np.asarray(mine, dtype=np.float64).ravel()
    theirs = np.asarray(theirs, dtype=np.float64).ravel()
    nan_mine, nan_theirs = np.isnan(mine), np.isnan(theirs)
    both = ~(nan_mine | nan_theirs)
    difference = np.abs(mine[both] - theirs[both])
    within = np.zeros(mine.size, dtype=bool)
    within[both] = difference <= tolerance
    within |= nan_mine & nan_theirs
    values = {
        "max_abs_diff": float(difference.max()) if difference.size else 0.0,
        "fraction_within": float(within.mean()),
        "nan_mismatches": int((nan_mine ^ nan_theirs).sum()),
    }
    return {prefix + key: values[key] for key in keys}


def _check_averaged(running: RunningMean, n_subjects: int, decoded: _Loaded, true: _Loaded,
                    recomputed: dict[str, np.ndarray], published: dict[str, np.ndarray],
                    tolerance: float) -> AveragedCheck:
    """Test both meanings of ``Averaged`` (only when every subject's decoded features exist)."""
    fields: dict[str, Any] = {"n_subjects": running.count}
    compared = ("max_abs_diff", "fraction_within")
    theirs = published.get(AVERAGED.name)
    if running.count < n_subjects:  # a subject is missing: its mean is not the Averaged one
        return AveragedCheck(**fields)
    if true.values is not None:
        mean = running.result()
        if decoded.values is not None:
            fields["decoded_max_relative_diff"] = _max_relative_diff(decoded.values, mean)
        if theirs is not None:
            scored = unit_correlation(mean, true.values)
            del mean
            fields.update(_compare_accuracy(scored, theirs, tolerance, "mean_then_score_",
                                            compared))
    maps = [recomputed[name] for name in recomputed if name != AVERAGED.name]
    if maps and theirs is not None:
        fields.update(_compare_accuracy(np.mean(maps, axis=0), theirs, tolerance,
                                        "mean_of_accuracies_", compared))
    return AveragedCheck(**fields)


def _max_relative_diff(values: np.ndarray, reference: np.ndarray) -> float:
    """max |values - reference| / max |reference|, chunk by chunk (no full-size temporary)."""
    difference, scale = 0.0, 0.0
    for start in range(0, values.shape[1], DEFAULT_CHUNK_UNITS):
        chunk = slice(start, start + DEFAULT_CHUNK_UNITS)
        difference = max(difference, float(np.max(np.abs(values[:, chunk] - reference[:, chunk]))))
        scale = max(scale, float(np.max(np.abs(reference[:, chunk]))))
    return difference / scale if scale > 0 else difference


def _min(values: np.ndarray) -> float:
    return min(float(np.nanmin(values[:, start:start + DEFAULT_CHUNK_UNITS]))
               for start in range(0, values.shape[1], DEFAULT_CHUNK_UNITS))


def _figure_stats(info: LayerInfo, real_names: list[str], recomputed: dict[str, np.ndarray],
                  published: dict[str, np.ndarray]) -> LayerFigureStats | None:
    """Figure 2 statistics from the recomputed accuracies (published ones where no decoded)."""
    chosen: dict[str, np.ndarray] = {}
    sources = set()
    for name in real_names:
        for source, accuracies in (("recomputed", recomputed), ("published", published)):
            if name in accuracies:
                chosen[name] = accuracies[name]
                sources.add(source)
                break
    if not chosen:
        return None
    return layer_figure_stats(chosen, info.network.value, info.name,
                              source="+".join(sorted(sources)))


def _settle(layer: LayerCheck, policy: str | None, tolerance: float) -> LayerCheck:
    """Attach the established rank policy and the list of problems to every subject check."""
    checks = []
    for check in layer.subjects:
        check = replace(check, rank_policy=policy)
        problems = list(_problems(check, tolerance))
        if check.subject == AVERAGED.name and layer.averaged is not None:
            problems += _averaged_problems(layer.averaged)
        checks.append(replace(check, problems=tuple(problems)))
    return replace(layer, subjects=tuple(checks))


def _problems(check: SubjectCheck, tolerance: float) -> list[str]:
    problems = []
    if check.missing:
        problems.append(f"missing file(s): {', '.join(check.missing)}")
    problems += [f"unreadable: {error}" for error in check.errors]
    if check.accuracy_fraction_within is not None and check.accuracy_fraction_within < 1:
        bad = round((1 - check.accuracy_fraction_within) * check.n_units)
        problems.append(
            f"published accuracy differs from the recomputation in {bad} of {check.n_units} "
            f"units (max |diff| {check.accuracy_max_abs_diff:.3g}, tolerance {tolerance:g}; "
            f"{check.accuracy_nan_mismatches} NaN on one side only)")
    agreements = check.rank_agreement or check.rank_agreement_recomputed
    if agreements:
        fraction = check.rank_fraction
        if check.rank_policy is None:
            problems.append(f"rank file matches no tested convention (closest: "
                            f"{_closest(agreements)} of units)")
        elif fraction is not None and fraction < RANK_MATCH_FRACTION:
            problems.append(
                f"rank file follows the established convention ({check.rank_policy}) for only "
                f"{fraction:.1%} of units; closest convention: {_closest(agreements)}")
    return problems


def _closest(agreements: dict[str, float]) -> str:
    """The conventions of highest agreement: ``"A (97.0%)"`` or ``"A (97.0%), tied with B"``."""
    top = max(agreements.values())
    tied = [label for label, fraction in agreements.items() if fraction == top]
    return f"{tied[0]} ({top:.1%})" + (f", tied with {'; '.join(tied[1:])}" if tied[1:] else "")


def _averaged_problems(averaged: AveragedCheck) -> list[str]:
    difference = averaged.decoded_max_relative_diff
    if difference is not None and difference > DECODED_RELATIVE_TOLERANCE:
        return [f"published Averaged decoded features differ from the mean of the "
                f"{averaged.n_subjects} subjects' decoded features (max |diff| / max |mean| = "
                f"{difference:.3g} > {DECODED_RELATIVE_TOLERANCE:g})"]
    return []


def _compare_figure2(layers: list[LayerCheck], catalog: Catalog,
                     ) -> tuple[tuple[Figure2Comparison, ...], str]:
    if catalog.synthetic:
        return (), "not applicable (synthetic)"
    comparisons = []
    for layer in layers:
        reference = PUBLISHED_ALEXNET_FIGURE2.get(layer.layer)
        if layer.network != Network.ALEXNET.value or reference is None or layer.figure is None:
            continue
        for statistic, published, recomputed in (
                ("mean accuracy", reference[0], layer.figure.mean_accuracy),
                ("mean inter-subject r", reference[1], layer.figure.mean_intersubject)):
            comparisons.append(Figure2Comparison(layer.network, layer.layer, statistic,
                                                 published, recomputed, PUBLISHED_TOLERANCE))
    note = ("AlexNet values read off the paper's Figure 2; VGG19 has no published reference"
            if comparisons else "no AlexNet layer verified with all subjects")
    return tuple(comparisons), note
