"""ds001246 event tables of every release, read into one normalised table.

The releases of OpenNeuro ds001246 differ in how a run's events are written:

* the stimulus sits in ``image_file`` (``n02766534_15976.JPEG``, earliest release),
  ``stim_file``, ``stim_id`` (the float id) or ``stimulus_id`` + ``stimulus_name``;
* missing values are ``n/a``, ``null`` or empty;
* "no button press" is ``n/a`` or, in the earliest releases, ``0.000000``;
* imagery tables carry ``category_id`` as a synset (``n02690373``) or its number
  (``2690373``), with or without ``category_name``.

:func:`read_events` reads any of them into the columns of :data:`COLUMNS`; a column or
value it cannot interpret raises :class:`~brainfeat.errors.FormatError` naming the file,
the column and the value. :func:`load_events` joins every run of one subject and split.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pandas as pd

from brainfeat.catalog import Catalog, Split, SubjectLike, resolve_catalog
from brainfeat.errors import DataNotFoundError, FormatError
from brainfeat.stimuli import (
    MICRO, category_name, id_to_micro, micro_to_name, micro_to_synset, name_to_micro)

__all__ = ["COLUMNS", "EVENT_TYPES", "load_events", "read_events"]

#: Columns of every table returned by :func:`read_events`, in order.
COLUMNS = (
    "subject", "session", "task", "run", "onset", "duration", "trial_no", "event_type",
    "stimulus_name", "stimulus_id", "category", "category_label", "category_index",
    "image_index", "response_time", "evaluation",
)
#: Event types of the perception (rest, stimulus) and imagery tasks.
EVENT_TYPES = ("rest", "stimulus", "cue", "imagery", "evaluation", "inter_rest")
_MISSING = {"", "n/a", "null", "nan", "none"}
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
#: Smallest value of each numeric column, and whether it must be exceeded.
_BOUNDS = {"onset": (0.0, False), "duration": (0.0, True), "trial_no": (1, False),
           "response_time": (0.0, False), "category_index": (1, False), "image_index": (1, False)}
_REQUIRED = ("onset", "duration", "trial_no", "event_type")
_KNOWN = set(_REQUIRED) | {
    "image_file", "stim_file", "stim_id", "stimulus_id", "stimulus_name",
    "category_id", "category_name", "category_index", "image_index",
    "response_time", "evaluation",
}
_ENTITY = {"subject": r"sub-([A-Za-z0-9]+)", "session": r"ses-([A-Za-z0-9]+)",
           "task": r"task-([A-Za-z0-9]+)", "run": r"run-([0-9]+)"}


class _Table:
    """One raw table (all cells as text) with error messages that name file, line, column."""

    def __init__(self, path: Path):
        self.path = path
        if not path.is_file():
            raise DataNotFoundError(f"Event table {path} does not exist: pass the path of a "
                                    "*_events.tsv, or fetch it with brainfeat.fetch_bids().")
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise FormatError(f"Cannot read event table {path}: {err}. Expected UTF-8 text; "
                              "the file may be damaged: fetch it again.") from None
        if not text.strip():
            raise FormatError(f"Cannot read event table {path}: it is empty. Expected a header "
                              "line and one line per event; fetch it again.")
        if not text.endswith("\n"):
            raise FormatError(f"Cannot read event table {path}: it ends in the middle of a line "
                              "(no final newline), so it is truncated. Fetch it again.")
        lines = [line.removesuffix("\r") for line in text[:-1].split("\n")]
        header = [cell.strip() for cell in lines[0].split("\t")]
        twice = sorted({name for name in header if header.count(name) > 1})
        if twice:
            raise FormatError(f"{path}: column {twice[0]!r} appears more than once in the header"
                              " line. Expected each column once; fetch the table again.")
        rows = [line.split("\t") for line in lines[1:]]
        for number, row in enumerate(rows, start=2):
            if len(row) != len(header):
                raise FormatError(
                    f"{path}, line {number}: {len(row)} tab-separated fields, the header has "
                    f"{len(header)}. Expected a BIDS *_events.tsv; the file may be damaged: "
                    "fetch it again.")
        self.raw = pd.DataFrame(rows, columns=header, dtype=str)

    def error(self, column: str, row: int, value: str, expected: str) -> FormatError:
        return FormatError(
            f"{self.path}: column {column!r}, line {row + 2}: cannot interpret {value!r}; "
            f"expected {expected}. Fix or remove the row, or report the release this "
            "table comes from."
        )

    def cells(self, column: str) -> list[str | None]:
        """The column's cells, stripped, with every missing-value token as None."""
        return [None if v.strip().lower() in _MISSING else v.strip() for v in self.raw[column]]

    def numbers(self, column: str, *, integer: bool = False,
                minimum: float = -math.inf, above: bool = False) -> list[float | None]:
        """The column as numbers (None where missing); each at least ``minimum`` (or above it)."""
        result: list[float | None] = []
        for row, cell in enumerate(self.cells(column)):
            if cell is None:
                result.append(None)
                continue
            value = float(cell) if _NUMBER.fullmatch(cell) else math.nan
            if not math.isfinite(value) or not (value > minimum if above else value >= minimum) \
                    or (integer and value != int(value)):
                kind = "an integer" if integer else "a number"
                bound = f" above {minimum:g}" if above else (
                    f" of at least {minimum:g}" if minimum > -math.inf else "")
                raise self.error(column, row, cell, f"{kind}{bound} written in decimal digits")
            result.append(value)
        return result

    def parsed(self, column: str, parse, expected: str) -> list[object | None]:
        result = []
        for row, cell in enumerate(self.cells(column)):
            try:
                result.append(None if cell is None else parse(cell))
            except FormatError:
                raise self.error(column, row, cell or "", expected) from None
        return result


def _entities(path: Path) -> dict[str, object]:
    found: dict[str, object] = {}
    for entity, pattern in _ENTITY.items():
        match = re.search(pattern, path.name)
        value = match.group(1) if match else None
        found[entity] = int(value) if entity == "run" and value is not None else value
    if found["subject"] is not None:
        found["subject"] = f"sub-{found['subject']}"
    return found


def _merge(table: _Table, target: list, source: list, column: str, expected: str) -> None:
    """Fill ``target`` from ``source``; where both hold a value they must agree."""
    for row, value in enumerate(source):
        if value is None:
            continue
        if target[row] is not None and target[row] != value:
            other = target[row]  # an image as micro-units, shown by its name; or a synset
            shown = micro_to_name(other) if isinstance(other, int) else other
            raise table.error(column, row, table.cells(column)[row],
                              f"the same stimulus as the other columns ({shown!r}); {expected}")
        target[row] = value


def _image_micro(text: str) -> int:
    """Micro-units of an image's id; an id without an image number names no image."""
    micro = id_to_micro(text)
    if micro % MICRO == 0:
        raise FormatError(f"Stimulus id {text!r} has no image number.")
    return micro


def _stimulus_micros(table: _Table) -> list[int | None]:
    names = table.raw.columns
    micros: list[int | None] = [None] * len(table.raw)
    image_expected = "an image name such as 'n02766534_15976' or 'n02766534_15976.JPEG'"
    for column in ("image_file", "stim_file", "stimulus_name"):
        if column in names:
            _merge(table, micros, table.parsed(column, name_to_micro, image_expected),
                   column, image_expected)
    id_expected = "a stimulus id such as '2766534.015976' (image number after the point)"
    for column in ("stim_id", "stimulus_id"):
        if column in names:
            _merge(table, micros, table.parsed(column, _image_micro, id_expected),
                   column, id_expected)
    return micros


def _categories(table: _Table, micros: list[int | None]) -> tuple[list, list]:
    synset_expected = "a synset such as 'n02690373' or its number 2690373"
    categories: list[str | None] = [None if m is None else micro_to_synset(m) for m in micros]
    labels: list[str | None] = [None] * len(micros)
    if "category_id" in table.raw.columns:
        _merge(table, categories, table.parsed("category_id", category_name, synset_expected),
               "category_id", synset_expected)
    if "category_name" in table.raw.columns:
        synsets: list[str | None] = [None] * len(micros)
        for row, cell in enumerate(table.cells("category_name")):
            if cell is not None and re.fullmatch(r"n[0-9]{8}", cell):
                synsets[row] = cell
            elif cell is not None:
                labels[row] = cell  # a human-readable name, kept beside the synset
        _merge(table, categories, synsets, "category_name", synset_expected)
    return categories, labels


def _check_rows(table: _Table, event_types: list[str], stimuli: list, categories: list) -> None:
    for row, event_type in enumerate(event_types):
        if event_type == "stimulus" and stimuli[row] is None:
            column = next((c for c in ("stimulus_name", "stimulus_id", "stim_id", "stim_file",
                                       "image_file") if c in table.raw.columns), "stimulus")
            raise table.error(column, row, "n/a", "the stimulus shown in a 'stimulus' event")
        if event_type in ("cue", "imagery") and categories[row] is None:
            raise table.error("category_id", row, "n/a",
                              f"the imagined category of an {event_type!r} event")


def read_events(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read one ds001246 ``*_events.tsv`` of any release into the normalised schema.

    Parameters
    ----------
    path : path-like
        The event table. Subject, session, task and run are taken from its file name
        (``sub-01_ses-perceptionTraining01_task-perception_run-01_events.tsv``); parts that
        are absent are left missing.

    Returns
    -------
    pandas.DataFrame
        One row per event with the columns of :data:`COLUMNS`: ``onset``, ``duration``
        (float seconds), ``trial_no`` (int), ``event_type`` (categorical over
        :data:`EVENT_TYPES`), ``stimulus_name`` (``n########_#####``), ``stimulus_id`` (the
        lab's float id, exact to the micro-unit), ``category`` (synset), ``category_label``
        (a human-readable category name where a table gives one), ``category_index`` and
        ``image_index`` (nullable Int64, where present), ``response_time`` (float, NaN when
        there was no response, including the earliest release's ``0.000000``) and
        ``evaluation`` (imagery vividness, NaN elsewhere).

    Raises
    ------
    FormatError
        If a column is unknown or missing, or a value cannot be interpreted; the message
        names the file, the column, the line and the value.

    Examples
    --------
    >>> events = read_events("sub-01_ses-perceptionTraining01_task-perception_run-01_events.tsv")
    ... # doctest: +SKIP
    >>> events.loc[events.event_type == "stimulus", "stimulus_name"].head(1)  # doctest: +SKIP
    1    n02766534_15976
    """
    path = Path(path)
    table = _Table(path)
    columns = list(table.raw.columns)
    unknown = [c for c in columns if c not in _KNOWN]
    missing = [c for c in _REQUIRED if c not in columns]
    if unknown or missing:
        problem = (f"unknown column {unknown[0]!r}" if unknown else
                   f"missing column {missing[0]!r}")
        raise FormatError(
            f"{path}: {problem} (columns: {', '.join(columns)}). Expected the columns of a "
            f"ds001246 event table: {', '.join(_REQUIRED)} and some of "
            f"{', '.join(sorted(_KNOWN - set(_REQUIRED)))}."
        )
    event_types = [t or "" for t in table.cells("event_type")]
    for row, event_type in enumerate(event_types):
        if event_type not in EVENT_TYPES:
            raise table.error("event_type", row, event_type, f"one of {', '.join(EVENT_TYPES)}")
    micros = _stimulus_micros(table)
    categories, labels = _categories(table, micros)
    _check_rows(table, event_types, micros, categories)

    def numbers(column: str, *, integer: bool = False) -> list[float | None]:
        if column not in columns:
            return [None] * len(table.raw)
        minimum, above = _BOUNDS.get(column, (-math.inf, False))
        return table.numbers(column, integer=integer, minimum=minimum, above=above)

    timing = {column: numbers(column, integer=column == "trial_no")
              for column in ("onset", "duration", "trial_no")}
    for column, values in timing.items():
        if None in values:
            raise table.error(column, values.index(None), "n/a", "a value in every row")
    response = [math.nan if v in (None, 0.0) else v for v in numbers("response_time")]
    frame = pd.DataFrame({
        **{k: [v] * len(table.raw) for k, v in _entities(path).items()},
        "onset": timing["onset"],
        "duration": timing["duration"],
        "trial_no": timing["trial_no"],
        "event_type": pd.Categorical(event_types, categories=EVENT_TYPES),
        "stimulus_name": [None if m is None else micro_to_name(m) for m in micros],
        "stimulus_id": [math.nan if m is None else m / MICRO for m in micros],
        "category": categories,
        "category_label": labels,
        "category_index": pd.array(numbers("category_index", integer=True), dtype="Int64"),
        "image_index": pd.array(numbers("image_index", integer=True), dtype="Int64"),
        "response_time": pd.array(response, dtype="float64"),
        "evaluation": pd.array([math.nan if v is None else v for v in numbers("evaluation")],
                               dtype="float64"),
    })
    frame["trial_no"] = frame["trial_no"].astype("int64")
    frame["run"] = pd.array(frame["run"], dtype="Int64")
    for column in ("subject", "session", "task", "stimulus_name", "category", "category_label"):
        frame[column] = frame[column].astype("string")
    return frame[list(COLUMNS)]


def events_files(root: Path, subject_label: str, split: Split) -> list[Path]:
    """Event tables of one subject and split under a BIDS root, in session and run order.

    Raises
    ------
    DataNotFoundError
        If ``root`` holds no event table of that subject and split.
    """
    pattern = f"{subject_label}/ses-{split.session_prefix}*/func/*_events.tsv"

    def order(path: Path) -> tuple[str, int]:
        entities = _entities(path)
        return str(entities["session"]), int(entities["run"] or 0)

    files = sorted(root.glob(pattern), key=order)
    if not files:
        raise DataNotFoundError(
            f"No event table of {subject_label} ({split.value}) under {root}: expected "
            f"{subject_label}/ses-{split.session_prefix}NN/func/*_events.tsv. Pass the root "
            "of a ds001246 copy, or fetch it with brainfeat.fetch_bids()."
        )
    return files


def load_events(subject: SubjectLike, split: Split | str, *,
                root: str | os.PathLike[str] | None = None,
                data_dir: str | os.PathLike[str] | None = None, download: bool = True,
                catalog: Catalog | None = None) -> pd.DataFrame:
    """Every event of one subject and split, all runs in one table.

    Parameters
    ----------
    subject : Subject, int or str
        ``1``, ``"S1"``, ``"sub-01"`` or ``"Subject1"``.
    split : {"train", "test", "imagery"}
        Training perception, test perception or imagery sessions.
    root : path-like, optional
        A local ds001246 tree (a DataLad clone whose image files are absent is fine).
        Without it, the event tables are fetched with :func:`brainfeat.fetch_bids`.
    data_dir : path-like, optional
        brainfeat's data folder (default ``BRAINFEAT_DATA`` or ``~/brainfeat_data``).
    download : bool
        Whether missing files may be downloaded (only without ``root``).
    catalog : Catalog, optional
        Dataset facts; defaults to the published dataset.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`read_events`, sorted by session, run and onset.

    Raises
    ------
    UnknownNameError
        For a subject or split the catalog does not know.
    DataNotFoundError
        If the tree holds no event table of that subject and split.

    Examples
    --------
    >>> events = brainfeat.load_events("S1", "test")  # doctest: +SKIP
    >>> events.groupby(["session", "run"]).ngroups  # doctest: +SKIP
    35
    """
    catalog = resolve_catalog(catalog)
    subject = catalog.subject(subject)
    split = Split.parse(split)
    if root is None:
        from brainfeat.bids.layout import fetch_tree

        tree = fetch_tree(subject, ("*_events.tsv",), data_dir=data_dir, download=download)
    else:
        tree = Path(root)
    files = events_files(tree, subject.bids, split)
    frame = pd.concat([read_events(path) for path in files], ignore_index=True)
    return frame.sort_values(["session", "run", "onset"], kind="stable", ignore_index=True)
