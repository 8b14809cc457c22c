"""The registry: one row per remote file of the dataset, as data.

Rows come from packaged tables, never from code branches:

* ``_data/registry-figshare.tsv``: the 108 ``decodedDNN`` zips, ``Subject1..5.h5``,
  ``ImageFeatures.h5`` (and a VGG19 weight conversion), each with its figshare file id and,
  once pinned by ``scripts/pin_registry.py``, its size and MD5.
* OpenNeuro ds001246 release 1.2.1: the text files (``_data/ds001246-text.tsv`` where their
  hashes are known, and every ``*_events.tsv`` derived from the catalog's run table) and the
  image files of ``_data/ds001246-annex-keys.tsv`` with their size and MD5.

A row's URL is ``<base>/<remote_path>`` where the base of each source can be replaced with
``BRAINFEAT_MIRRORS`` (see :func:`brainfeat.config.mirrors`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from functools import cache
from typing import Literal

from brainfeat.catalog import (
    Catalog, Kind, Network, Split, Subject, default_catalog, read_packaged_table)
from brainfeat.config import MIRRORS_ENV, mirrors
from brainfeat.errors import UnknownNameError

__all__ = ["SOURCES", "Check", "Registry", "RemoteFile", "bids_subject", "default_registry",
           "layer_archive_name"]

#: Default base URL of each source.
SOURCES = {
    "figshare": "https://ndownloader.figshare.com",
    "openneuro": "https://s3.amazonaws.com/openneuro.org/ds001246",
}

#: Structural check applied to a downloaded file before it is accepted.
Check = Literal["zip", "hdf5", "json", "text", "gzip"]

BIDS_ROOT = "ds001246"


@dataclass(frozen=True)
class RemoteFile:
    """One remote file.

    Attributes
    ----------
    name : str
        Registry key: the published file name (figshare) or ``ds001246/<path>``.
    source : str
        Key of :data:`SOURCES` (``"figshare"`` or ``"openneuro"``).
    remote_path : str
        Path below the source's base URL (``files/13077257``, ``sub-01/anat/...``).
    local_path : str
        Path below the data folder where the verified file is kept.
    size : int or None
        Size in bytes, if pinned.
    md5 : str or None
        MD5 hex digest, if pinned.
    check : str
        Structural check (``zip``, ``hdf5``, ``json``, ``text``, ``gzip``).
    """

    name: str
    source: str
    remote_path: str
    local_path: str
    size: int | None
    md5: str | None
    check: Check

    def url(self) -> str:
        """The download URL, honouring ``BRAINFEAT_MIRRORS``."""
        overrides = mirrors()
        unknown = sorted(set(overrides) - set(SOURCES))
        if unknown:
            raise UnknownNameError(
                f"{MIRRORS_ENV} names unknown source(s) {', '.join(map(repr, unknown))}: "
                f"expected {', '.join(map(repr, SOURCES))}. Fix the spelling so the mirror "
                "is used instead of the original server.")
        base = overrides.get(self.source, SOURCES[self.source]).rstrip("/")
        return f"{base}/{self.remote_path}"


def bids_subject(path: str) -> str | None:
    """The ``sub-XX`` component of a path inside ds001246, or None for top-level files.

    Examples
    --------
    >>> bids_subject("sourcedata/sub-01/anat/sub-01_T1w.nii.gz")
    'sub-01'
    >>> bids_subject("dataset_description.json") is None
    True
    """
    return next((part for part in path.split("/") if part.startswith("sub-")), None)


def layer_archive_name(kind: Kind | str, network: Network | str, layer: str) -> str:
    """Published zip name of one layer: ``decodedDNN-<kind>-<net>-<layer>.zip``."""
    return f"decodedDNN-{Kind.parse(kind).value}-{Network.parse(network).value}-{layer}.zip"


class Registry:
    """All remote files, looked up by name.

    Parameters
    ----------
    rows : iterable of RemoteFile
    """

    def __init__(self, rows: Iterable[RemoteFile]) -> None:
        self._rows = {row.name: row for row in rows}

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self):
        return iter(self._rows.values())

    def __contains__(self, name: object) -> bool:
        return name in self._rows

    def get(self, name: str) -> RemoteFile:
        """The row called ``name``; an error says where names come from."""
        try:
            return self._rows[name]
        except KeyError:
            raise UnknownNameError(
                f"No remote file named {name!r} in the registry: names are the published "
                "figshare file names (e.g. 'Subject1.h5') or 'ds001246/<path>'.") from None

    def layer_archive(self, kind: Kind | str, network: Network | str, layer: str) -> RemoteFile:
        """The zip holding one (kind, network, layer)."""
        return self.get(layer_archive_name(kind, network, layer))

    def fmri(self, subject: Subject) -> RemoteFile:
        """The preprocessed fMRI file ``SubjectN.h5`` of one subject."""
        return self.get(f"{subject.h5_name}.h5")

    def bids(self, subjects: Sequence[Subject] | None = None,
             include: Sequence[str] | None = None) -> list[RemoteFile]:
        """ds001246 files of the given subjects (all if None) plus the top-level files.

        ``include`` holds glob patterns matched against the path inside ds001246 (e.g.
        ``"*_events.tsv"``, ``"sourcedata/*"``); None keeps every file.
        """
        labels = None if subjects is None else {s.bids for s in subjects}
        chosen = []
        for row in self:
            if row.source != "openneuro":
                continue
            path = row.remote_path
            subject = bids_subject(path)
            if labels is not None and subject is not None and subject not in labels:
                continue
            if include is not None and not any(fnmatch(path, pattern) for pattern in include):
                continue
            chosen.append(row)
        return chosen


# ----------------------------------------------------------------------------------------
# Building the default registry from the packaged tables


def _table(name: str) -> list[dict[str, str]]:
    header, *rows = read_packaged_table(name)
    return [dict(zip(header, row)) for row in rows]


def _figshare_rows() -> list[RemoteFile]:
    rows = []
    for entry in _table("registry-figshare.tsv"):
        name = entry["name"]
        folder = "downloads" if entry["check"] == "zip" else "fmri"
        rows.append(RemoteFile(
            name=name, source="figshare", remote_path=f"files/{entry['file_id']}",
            local_path=f"{folder}/{name}", size=int(entry["size"]) if entry["size"] else None,
            md5=entry["md5"] or None, check=entry["check"]))  # type: ignore[arg-type]
    return rows


def _check_for(path: str) -> Check:
    if path.endswith(".json"):
        return "json"
    if path.endswith(".gz"):
        return "gzip"
    return "text"


def events_paths(catalog: Catalog) -> list[str]:
    """Every ``*_events.tsv`` of ds001246, derived from the catalog's run table."""
    paths = []
    for entry in catalog.runs:
        task = "imagery" if entry.split is Split.IMAGERY else "perception"
        sub = Subject(entry.subject).bids
        for session, n_runs in zip(entry.session_labels, entry.runs_per_session):
            for run in range(1, n_runs + 1):
                paths.append(f"{sub}/ses-{session}/func/"
                             f"{sub}_ses-{session}_task-{task}_run-{run:02d}_events.tsv")
    return paths


def _openneuro_rows(catalog: Catalog) -> list[RemoteFile]:
    known = {e["path"]: e for e in _table("ds001246-text.tsv")}
    known.update({e["path"]: e for e in _table("ds001246-annex-keys.tsv")})
    paths = dict.fromkeys([*known, *events_paths(catalog)])
    rows = []
    for path in paths:
        entry = known.get(path, {})
        rows.append(RemoteFile(
            name=f"{BIDS_ROOT}/{path}", source="openneuro", remote_path=path,
            local_path=f"{BIDS_ROOT}/{path}",
            size=int(entry["size"]) if entry.get("size") else None,
            md5=entry.get("md5") or None, check=_check_for(path)))
    return rows


@cache
def default_registry() -> Registry:
    """The registry of every published remote file (read once from packaged tables)."""
    return Registry([*_figshare_rows(), *_openneuro_rows(default_catalog())])
