"""A local ds001246 tree, indexed with pybids.

:func:`open` works on any local copy: one fetched with :func:`brainfeat.fetch_bids`, or
a user's DataLad clone whose image files are absent (broken links) or empty. pybids is
imported only here and only when a tree is opened; its index is cached in the data
folder, so the second opening of a tree is fast.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainfeat.catalog import Catalog, Split, Subject, SubjectLike, resolve_catalog
from brainfeat.config import data_dir as resolve_data_dir
from brainfeat.errors import DataNotFoundError, FormatError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["BIDSDataset", "fetch_tree", "open", "preprocessed_bold_path"]

PREPROCESSED_DIR = Path("derivatives", "preproc-spm", "output")


def fetch_tree(subject: Subject, include: Sequence[str], *,
               data_dir: str | os.PathLike[str] | None, download: bool) -> Path:
    """Root of a local ds001246 tree holding ``include`` (glob patterns) of ``subject``."""
    from brainfeat.remote.api import fetch_bids

    return Path(fetch_bids(subject.bids, include=list(include), data_dir=data_dir,
                           download=download, progress=False))


def preprocessed_bold_path(root: str | os.PathLike[str], events_path: str | os.PathLike[str]) -> Path:
    """The SPM-preprocessed BOLD run that belongs to an event table.

    ``sub-01/ses-X/func/sub-01_ses-X_task-T_run-01_events.tsv`` ->
    ``derivatives/preproc-spm/output/sub-01/ses-X/func/sub-01_ses-X_task-T_run-01_bold_preproc.nii.gz``.
    """
    events_path = Path(events_path)
    stem = re.sub(r"_events\.tsv$", "", events_path.name)
    subject = re.search(r"sub-[A-Za-z0-9]+", stem)
    session = re.search(r"ses-[A-Za-z0-9]+", stem)
    if stem == events_path.name or subject is None or session is None:
        raise FormatError(
            f"Cannot derive a BOLD file from {events_path}: expected a name such as "
            "sub-01_ses-perceptionTraining01_task-perception_run-01_events.tsv."
        )
    return (Path(root) / PREPROCESSED_DIR / subject.group(0) / session.group(0) / "func"
            / f"{stem}_bold_preproc.nii.gz")


@dataclass(frozen=True)
class BIDSDataset:
    """An opened ds001246 tree.

    Attributes
    ----------
    root : pathlib.Path
        The tree's root folder (it holds ``dataset_description.json``).
    layout : bids.BIDSLayout
        The pybids layout, for any query this class does not offer.
    """

    root: Path
    layout: Any

    @property
    def subjects(self) -> list[str]:
        """Subject labels present in the tree (``["01", "02"]``)."""
        return sorted(self.layout.get_subjects())

    def sessions(self, subject: SubjectLike, split: Split | str) -> list[str]:
        """Session labels of one subject and split present in the tree."""
        prefix = Split.parse(split).session_prefix
        label = Subject.parse(subject).bids[4:]
        return sorted(s for s in self.layout.get_sessions(subject=label) if s.startswith(prefix))

    def _files(self, subject: SubjectLike, split: Split | str, **filters: Any) -> list[Path]:
        split = Split.parse(split)
        label = Subject.parse(subject).bids[4:]
        found = self.layout.get(subject=label, session=f"^{split.session_prefix}.*",
                                regex_search=True, return_type="filename", **filters)
        return sorted(Path(f) for f in found)

    def events_files(self, subject: SubjectLike, split: Split | str) -> list[Path]:
        """Event tables of one subject and split, in session and run order."""
        return self._files(subject, split, suffix="events", extension=".tsv")

    def bold_files(self, subject: SubjectLike, split: Split | str, *,
                   preprocessed: bool = True) -> list[Path]:
        """BOLD runs of one subject and split (SPM-preprocessed by default), one per event table.

        Files are listed whether or not their content is present.
        """
        if preprocessed:
            return [preprocessed_bold_path(self.root, p) for p in self.events_files(subject, split)]
        return self._files(subject, split, suffix="bold", extension=[".nii", ".nii.gz"])

    def events(self, subject: SubjectLike, split: Split | str, *,
               catalog: Catalog | None = None) -> "pd.DataFrame":
        """All runs of one subject and split in one table (see :func:`brainfeat.load_events`)."""
        from brainfeat.bids.events import load_events

        return load_events(subject, split, root=self.root, catalog=resolve_catalog(catalog))


def _index_folder(root: Path, data_dir: str | os.PathLike[str] | None) -> Path:
    digest = hashlib.sha1(str(root.resolve()).encode("utf-8")).hexdigest()[:16]
    return resolve_data_dir(data_dir) / "bids-index" / digest


def open(root: str | os.PathLike[str], *, data_dir: str | os.PathLike[str] | None = None,
         reset: bool = False) -> BIDSDataset:  # noqa: A001 - the issue names it open()
    """Open a local ds001246 tree with pybids.

    Parameters
    ----------
    root : path-like
        The folder holding ``dataset_description.json``. Image files may be empty or
        absent (a DataLad clone without ``datalad get``): only names are indexed.
    data_dir : path-like, optional
        brainfeat's data folder; the pybids index is cached in its ``bids-index/``.
    reset : bool
        Rebuild the cached index (after files were added to the tree).

    Returns
    -------
    BIDSDataset

    Raises
    ------
    DataNotFoundError
        If ``root`` is not a folder holding ``dataset_description.json``.
    FormatError
        If pybids cannot index the tree even from scratch (a damaged cached index is
        rebuilt first).

    Examples
    --------
    >>> from brainfeat import bids
    >>> dataset = bids.open("~/ds001246")  # doctest: +SKIP
    >>> dataset.events_files("S1", "train")[0].name  # doctest: +SKIP
    'sub-01_ses-perceptionTraining01_task-perception_run-01_events.tsv'
    """
    import bids as pybids
    from bids.layout import BIDSLayoutIndexer

    root = Path(root).expanduser()
    if not (root / "dataset_description.json").is_file():
        raise DataNotFoundError(
            f"{root} is not a BIDS tree: it has no dataset_description.json. Pass the root "
            "folder of ds001246 (fetch it with brainfeat.fetch_bids())."
        )
    index = _index_folder(root, data_dir)
    index.mkdir(parents=True, exist_ok=True)
    fresh = reset or not any(index.iterdir())
    while True:
        indexer = BIDSLayoutIndexer(validate=False, index_metadata=False)
        try:
            layout = pybids.BIDSLayout(root, validate=False, indexer=indexer,
                                       database_path=index, reset_database=fresh)
            return BIDSDataset(root=root, layout=layout)
        except Exception as error:  # pybids, json, sqlite: many types
            if not fresh:  # a damaged cached index is rebuilt once, from nothing
                shutil.rmtree(index)
                index.mkdir(parents=True)
                fresh = True
                continue
            raise FormatError(
                f"Cannot index {root} as a BIDS tree ({type(error).__name__}: {error}). "
                f"Delete the index {index} and check the tree, or fetch it again with "
                "brainfeat.fetch_bids()."
            ) from None

