"""The typed result of :func:`brainfeat.verify`: what was checked, what agreed, what not.

A :class:`VerificationReport` holds one :class:`LayerCheck` per layer, each with one
:class:`SubjectCheck` per subject (``Averaged`` included), the :class:`Finding` of every
fact DATASET.md left open, and the Figure 2 comparison with the paper. It renders itself as
a terminal table (:meth:`VerificationReport.format_table`) and as JSON
(:meth:`VerificationReport.to_json`); :mod:`brainfeat.evaluation.html` makes the HTML page.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from brainfeat.errors import UnknownNameError
from brainfeat.evaluation.statistics import PUBLISHED_TOLERANCE, LayerFigureStats

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = [
    "AveragedCheck",
    "Figure2Comparison",
    "Finding",
    "LayerCheck",
    "SubjectCheck",
    "VerificationReport",
]


@dataclass(frozen=True)
class SubjectCheck:
    """Published accuracy and rank of one (network, layer, subject) against recomputation.

    Attributes
    ----------
    network, layer, subject : str
    n_units : int
    missing : tuple of str
        Kinds whose file is absent (``"decoded"``, ``"accuracy"``, ``"rank"``, ``"true"``).
    errors : tuple of str
        Files that exist but could not be read, with the reason.
    accuracy_max_abs_diff : float or None
        Max ``|recomputed - published|`` over units both score; None when not compared.
    accuracy_fraction_within : float or None
        Fraction of units within tolerance (NaN on both sides counts as agreement).
    accuracy_nan_mismatches : int or None
        Units NaN on one side only.
    rank_agreement : dict of str -> float
        Per rank policy, fraction of units whose published rank equals that policy's rank of
        the *published* accuracy.
    rank_agreement_recomputed : dict of str -> float
        The same with the *recomputed* accuracy.
    rank_policy : str or None
        The rank convention established over all files (set by :func:`verify`).
    problems : tuple of str
        Everything that disagrees, each in one sentence; empty when all agrees.
    """

    network: str
    layer: str
    subject: str
    n_units: int
    missing: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    accuracy_max_abs_diff: float | None = None
    accuracy_fraction_within: float | None = None
    accuracy_nan_mismatches: int | None = None
    rank_agreement: dict[str, float] = field(default_factory=dict)
    rank_agreement_recomputed: dict[str, float] = field(default_factory=dict)
    rank_policy: str | None = None
    problems: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """``"missing"``, ``"unreadable"``, ``"mismatch"`` or ``"ok"``."""
        if self.missing:
            return "missing"
        if self.errors:
            return "unreadable"
        return "mismatch" if self.problems else "ok"

    @property
    def rank_fraction(self) -> float | None:
        """Agreement of the rank file with its accuracy file under :attr:`rank_policy`."""
        agreements = self.rank_agreement or self.rank_agreement_recomputed
        return agreements.get(self.rank_policy) if self.rank_policy else None


@dataclass(frozen=True)
class AveragedCheck:
    """What the ``Averaged`` subject of one layer is.

    Attributes
    ----------
    n_subjects : int
        Subjects whose decoded features were averaged.
    decoded_max_relative_diff : float or None
        Max ``|published Averaged decoded - mean of the subjects' decoded| / max |mean|``.
    mean_then_score_max_abs_diff, mean_then_score_fraction_within : float or None
        Published Averaged accuracy against the accuracy of the averaged decoded features.
    mean_of_accuracies_max_abs_diff, mean_of_accuracies_fraction_within : float or None
        Published Averaged accuracy against the mean of the subjects' accuracy maps.
    """

    n_subjects: int
    decoded_max_relative_diff: float | None = None
    mean_then_score_max_abs_diff: float | None = None
    mean_then_score_fraction_within: float | None = None
    mean_of_accuracies_max_abs_diff: float | None = None
    mean_of_accuracies_fraction_within: float | None = None


@dataclass(frozen=True)
class LayerCheck:
    """All checks of one layer.

    Attributes
    ----------
    network, layer : str
    n_units : int
    subjects : tuple of SubjectCheck
    true_min : float or None
        Smallest true feature value (negative means pre-ReLU); None if true is missing.
    mat_flavours : dict of str -> int
        Number of .mat files of each flavour in the layer's folders.
    averaged : AveragedCheck or None
    figure : LayerFigureStats or None
    """

    network: str
    layer: str
    n_units: int
    subjects: tuple[SubjectCheck, ...]
    true_min: float | None = None
    mat_flavours: dict[str, int] = field(default_factory=dict)
    averaged: AveragedCheck | None = None
    figure: LayerFigureStats | None = None


@dataclass(frozen=True)
class Finding:
    """What the files established about one fact DATASET.md marks unverified.

    Attributes
    ----------
    topic : str
        ``"rank"``, ``"averaged"``, ``"relu"`` or ``"mat"``.
    conclusion : str
        One sentence.
    evidence : str
        The numbers behind it.
    settled : bool
        False when the files checked could not decide.
    """

    topic: str
    conclusion: str
    evidence: str
    settled: bool


@dataclass(frozen=True)
class Figure2Comparison:
    """A recomputed Figure 2 statistic beside the value read off the paper's figure."""

    network: str
    layer: str
    statistic: str
    published: float
    recomputed: float
    tolerance: float

    @property
    def within(self) -> bool:
        """True when the two agree to within :attr:`tolerance`."""
        return abs(self.recomputed - self.published) <= self.tolerance + 1e-12


@dataclass(frozen=True)
class VerificationReport:
    """Everything :func:`brainfeat.verify` established.

    Attributes
    ----------
    dataset : str
        The catalog's name.
    synthetic : bool
        True for a replica: the Figure 2 comparison with the paper does not apply.
    tolerance : float
        Absolute tolerance on accuracies.
    layers : tuple of LayerCheck
    findings : tuple of Finding
    figure2 : tuple of Figure2Comparison
    figure2_note : str
        Why the comparison is empty or partial (e.g. ``"not applicable (synthetic)"``).
    rank_policy : str or None
        The rank convention the published rank files follow.
    outputs : dict of str -> str
        Files written (``"json"``, ``"html"``, figures), as paths.
    """

    dataset: str
    synthetic: bool
    tolerance: float
    layers: tuple[LayerCheck, ...]
    findings: tuple[Finding, ...]
    figure2: tuple[Figure2Comparison, ...]
    figure2_note: str
    rank_policy: str | None
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def subject_checks(self) -> tuple[SubjectCheck, ...]:
        """Every (network, layer, subject) check, in order."""
        return tuple(check for layer in self.layers for check in layer.subjects)

    @property
    def problems(self) -> tuple[str, ...]:
        """Every disagreement, prefixed with network, layer and subject."""
        lines = [f"{c.network} {c.layer} {c.subject}: {p}"
                 for c in self.subject_checks for p in c.problems]
        lines += [f"{c.network} {c.layer}: Figure 2 {c.statistic} {c.recomputed:.3f} vs "
                  f"published {c.published:.2f} (beyond +-{c.tolerance})"
                  for c in self.figure2 if not c.within]
        return tuple(lines)

    @property
    def ok(self) -> bool:
        """True when every check agreed and nothing was missing."""
        return not self.problems

    def finding(self, topic: str) -> Finding:
        """The :class:`Finding` of ``topic`` (``"rank"``, ``"averaged"``, ``"relu"``, ``"mat"``).

        Raises :class:`~brainfeat.errors.UnknownNameError` (naming the report's topics) for a
        topic the report has no finding on.
        """
        for item in self.findings:
            if item.topic == topic:
                return item
        raise UnknownNameError(f"No finding on {topic!r}: topics are "
                               f"{', '.join(f.topic for f in self.findings)}.")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (NaN becomes ``None``)."""
        return _jsonable({
            "dataset": self.dataset, "synthetic": self.synthetic, "tolerance": self.tolerance,
            "ok": self.ok, "problems": list(self.problems), "rank_policy": self.rank_policy,
            "findings": [vars(f) for f in self.findings],
            "figure2_note": self.figure2_note,
            "figure2": [dict(vars(c), within=c.within) for c in self.figure2],
            "layers": [_layer_dict(layer) for layer in self.layers],
            "outputs": self.outputs,
        })

    def to_json(self) -> str:
        """The report as JSON text."""
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    def to_frame(self) -> "pandas.DataFrame":
        """One row per (network, layer, subject) check: the numbers of :meth:`format_table`.

        Columns: ``network``, ``layer``, ``subject``, ``n_units``,
        ``accuracy_max_abs_diff``, ``accuracy_fraction_within``, ``accuracy_nan_mismatches``,
        ``rank_policy``, ``rank_fraction``, ``status`` and ``problems`` (joined by ``"; "``);
        a number not compared is NaN.
        """
        import pandas

        return pandas.DataFrame(
            [{"network": c.network, "layer": c.layer, "subject": c.subject,
              "n_units": c.n_units, "accuracy_max_abs_diff": c.accuracy_max_abs_diff,
              "accuracy_fraction_within": c.accuracy_fraction_within,
              "accuracy_nan_mismatches": c.accuracy_nan_mismatches,
              "rank_policy": c.rank_policy, "rank_fraction": c.rank_fraction,
              "status": c.status, "problems": "; ".join(c.problems)}
             for c in self.subject_checks]).astype(
            {"accuracy_max_abs_diff": float, "accuracy_fraction_within": float,
             "accuracy_nan_mismatches": float, "rank_fraction": float})

    def format_table(self) -> str:
        """A plain-text summary: one row per (network, layer, subject), then the findings."""
        header = ("network", "layer", "subject", "max|d acc|", "within tol", "rank agree",
                  "status")
        rows = [header]
        for check in self.subject_checks:
            rows.append((check.network, check.layer, check.subject,
                         format_number(check.accuracy_max_abs_diff, ".2e"),
                         format_number(check.accuracy_fraction_within, ".2%"),
                         format_number(check.rank_fraction, ".2%"),
                         check.status + (f" ({', '.join(check.missing)})" if check.missing else "")))
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        synthetic = self.synthetic and "synthetic" not in self.dataset.lower()
        lines = [f"brainfeat verify: {self.dataset}"
                 + (" [SYNTHETIC: numbers mean nothing]" if synthetic else ""),
                 f"accuracy tolerance {self.tolerance:g}", ""]
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                  for row in rows]
        lines += ["", "What the files established:"]
        lines += [f"  {f.topic}: {f.conclusion}" for f in self.findings]
        lines += ["", f"Figure 2 against the paper (+-{PUBLISHED_TOLERANCE:g}): "
                  + (self.figure2_note or "")]
        lines += [f"  {c.network} {c.layer} {c.statistic}: recomputed {c.recomputed:.3f}, "
                  f"published {c.published:.2f} -> {'ok' if c.within else 'DIFFERS'}"
                  for c in self.figure2]
        lines += ["", f"{len(self.problems)} problem(s)" + (":" if self.problems else ".")]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


def format_number(value: float | None, spec: str) -> str:
    """``value`` formatted with ``spec``; ``"-"`` for None or NaN (nothing compared)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def _layer_dict(layer: LayerCheck) -> dict[str, Any]:
    return {
        "network": layer.network, "layer": layer.layer, "n_units": layer.n_units,
        "true_min": layer.true_min, "mat_flavours": layer.mat_flavours,
        "averaged": vars(layer.averaged) if layer.averaged else None,
        "figure": layer.figure.to_dict() if layer.figure else None,
        "subjects": [dict(vars(c), status=c.status, rank_fraction=c.rank_fraction)
                     for c in layer.subjects],
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
