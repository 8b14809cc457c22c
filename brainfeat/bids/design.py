"""Check a subject's event tables against the experiment's design.

The design of Horikawa & Kamitani (2017), as the catalog records it:

* runs per session as in the paper's Table 1 (imagery: the ds001246 file list);
* training: every one of the 1,200 training images shown once, plus one-back repeats
  (an image shown again right after itself, the subjects' attention task);
* test: every one of the 50 test images shown once per run, i.e. 35 times, plus
  one-back repeats;
* imagery: 25 categories per run, every one an imagery category.

:func:`check_design` reports every deviation it finds; it never corrects anything.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import pandas as pd

from brainfeat.catalog import Catalog, Split, Subject, SubjectLike, resolve_catalog

__all__ = ["DesignReport", "Deviation", "OneBackRepeat", "check_design", "one_back_repeats"]

IMAGERY_CATEGORIES_PER_RUN = 25


@dataclass(frozen=True)
class Deviation:
    """One way the tables differ from the design.

    Attributes
    ----------
    check : str
        Which rule: ``"runs"``, ``"unknown-stimulus"``, ``"missing-stimulus"``,
        ``"stimulus-count"``, ``"categories-per-run"``.
    where : str
        The session, run or stimulus concerned.
    message : str
        What was found and what was expected.
    """

    check: str
    where: str
    message: str


@dataclass(frozen=True)
class OneBackRepeat:
    """A stimulus block that repeats the block right before it (the one-back task)."""

    session: str
    run: int
    trial_no: int
    stimulus_name: str


@dataclass(frozen=True)
class DesignReport:
    """Outcome of :func:`check_design`.

    Attributes
    ----------
    subject : Subject
    split : Split
    runs_per_session : tuple of int
        Runs found per session, in session order.
    expected_runs_per_session : tuple of int
        Runs per session according to the catalog.
    n_blocks : int
        Stimulus (perception) or imagery blocks, one-back repeats excluded.
    repeats : tuple of OneBackRepeat
        One-back repeats found (expected in perception runs, flagged, not deviations).
    deviations : tuple of Deviation
        Everything that differs from the design; empty when the design holds.
    """

    subject: Subject
    split: Split
    runs_per_session: tuple[int, ...]
    expected_runs_per_session: tuple[int, ...]
    n_blocks: int
    repeats: tuple[OneBackRepeat, ...]
    deviations: tuple[Deviation, ...]

    @property
    def ok(self) -> bool:
        """True when no deviation was found."""
        return not self.deviations

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = [
            f"{self.subject.bids} {self.split.value}: runs per session "
            f"{list(self.runs_per_session)} (expected {list(self.expected_runs_per_session)}), "
            f"{self.n_blocks} blocks, {len(self.repeats)} one-back repeats",
            "design holds" if self.ok else f"{len(self.deviations)} deviation(s):",
        ]
        lines += [f"  [{d.check}] {d.where}: {d.message}" for d in self.deviations]
        return "\n".join(lines)


def one_back_repeats(events: pd.DataFrame) -> pd.Series:
    """Boolean mask of the stimulus events that repeat the stimulus event before them in their run."""
    mask = pd.Series(False, index=events.index)
    for _, run in events.groupby(["session", "run"], sort=False, dropna=False):
        stimuli = run[run["event_type"] == "stimulus"]["stimulus_name"]
        repeated = stimuli.eq(stimuli.shift(1)).fillna(False).astype(bool)
        mask.loc[repeated.index[repeated.to_numpy()]] = True
    return mask


def _count_deviations(counts: Counter, expected: dict[str, int], kind: str) -> list[Deviation]:
    deviations = []
    for name, count in sorted(counts.items()):
        if name not in expected:
            deviations.append(Deviation("unknown-stimulus", name,
                                        f"shown {count} time(s) but not a {kind} image"))
    for name, want in expected.items():
        got = counts.get(name, 0)
        if got == 0:
            deviations.append(Deviation("missing-stimulus", name, f"never shown (expected {want})"))
        elif got != want:
            deviations.append(Deviation("stimulus-count", name,
                                        f"shown {got} times outside one-back repeats, expected {want}"))
    return deviations


def _imagery_deviations(events: pd.DataFrame, catalog: Catalog) -> tuple[int, list[Deviation]]:
    deviations = []
    imagery = events[events["event_type"] == "imagery"]
    known = set(catalog.imagery_categories)
    for (session, run), blocks in imagery.groupby(["session", "run"], sort=True):
        categories = blocks["category"].tolist()
        where = f"ses-{session} run-{run:02d}"
        if len(set(categories)) != IMAGERY_CATEGORIES_PER_RUN or len(categories) != len(set(categories)):
            deviations.append(Deviation(
                "categories-per-run", where,
                f"{len(categories)} imagery blocks of {len(set(categories))} categories, "
                f"expected {IMAGERY_CATEGORIES_PER_RUN} distinct categories"))
        for category in sorted(set(categories) - known):
            deviations.append(Deviation("unknown-stimulus", f"{where} {category}",
                                        "not an imagery category"))
    return len(imagery), deviations


def check_design(subject: SubjectLike, split: Split | str, *, events: pd.DataFrame | None = None,
                 root: str | os.PathLike[str] | None = None,
                 data_dir: str | os.PathLike[str] | None = None, download: bool = True,
                 catalog: Catalog | None = None) -> DesignReport:
    """Compare one subject's event tables with the experiment's design.

    Parameters
    ----------
    subject : Subject, int or str
    split : {"train", "test", "imagery"}
    events : pandas.DataFrame, optional
        Tables as returned by :func:`brainfeat.load_events`; read from ``root`` (or
        fetched) when omitted.
    root, data_dir, download
        As for :func:`brainfeat.load_events`.
    catalog : Catalog, optional
        Dataset facts (runs per session, image lists); defaults to the published dataset.

    Returns
    -------
    DesignReport
        ``report.ok`` tells whether the design holds; ``report.deviations`` lists what does not.

    Examples
    --------
    >>> report = check_design("S1", "test", root="~/ds001246")  # doctest: +SKIP
    >>> report.ok, len(report.repeats)  # doctest: +SKIP
    (True, 175)
    """
    catalog = resolve_catalog(catalog)
    subject = catalog.subject(subject)
    split = Split.parse(split)
    if events is None:
        from brainfeat.bids.events import load_events

        events = load_events(subject, split, root=root, data_dir=data_dir, download=download,
                             catalog=catalog)
    expected = catalog.runs_of(subject, split)
    runs = events.groupby("session", sort=True)["run"].nunique()
    found_runs = tuple(int(n) for n in runs)
    deviations: list[Deviation] = []
    if found_runs != expected.runs_per_session or tuple(runs.index) != expected.session_labels:
        deviations.append(Deviation(
            "runs", subject.bids,
            f"runs per session {dict(zip(runs.index, found_runs))}, expected "
            f"{dict(zip(expected.session_labels, expected.runs_per_session))}"))
    repeats: tuple[OneBackRepeat, ...] = ()
    if split is Split.IMAGERY:
        n_blocks, more = _imagery_deviations(events, catalog)
        deviations += more
    else:
        repeated = one_back_repeats(events)
        repeats = tuple(OneBackRepeat(str(r.session), int(r.run), int(r.trial_no), str(r.stimulus_name))
                        for r in events[repeated].itertuples())
        shown = events[(events["event_type"] == "stimulus") & ~repeated]["stimulus_name"]
        n_blocks = len(shown)
        if split is Split.TRAIN:
            wanted = dict.fromkeys(catalog.training_image_ids, 1)
        else:
            wanted = dict.fromkeys(catalog.test_image_ids, expected.n_runs)
        deviations += _count_deviations(Counter(shown.tolist()), wanted, split.value)
    return DesignReport(subject, split, found_runs, expected.runs_per_session, n_blocks,
                        repeats, tuple(deviations))
