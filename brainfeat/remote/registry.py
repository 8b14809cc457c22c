"""The registry: one row per remote file of the dataset, as data.

Rows come from packaged tables, never from code branches:

* ``_data/registry-figshare.tsv``: the 108 ``decodedDNN`` zips, ``Subject1..5.h5``,
  ``ImageFeatures.h5`` (and a VGG19 weight conversion), each with its figshare file id and,
  once pinned by ``scripts/pin_registry.py``, its size and MD5.
* OpenNeuro ds001246 release 1.2.1: the text files (``_data/ds001246-text.tsv`` where their
  hashes are known, and every ``*_events.tsv`` derived from the catalog's run table) and the
  image files of ``_data/ds001246-annex-keys.tsv`` with their size and MD5.

A row's URLs are ``<base>/<remote_path>`` for each base of its source, tried in order: the
source's own base, then its fallbacks (figshare's download endpoints are fragile; see
docs/data-access.md). ``BRAINFEAT_MIRRORS`` replaces them (see :func:`brainfeat.config.mirrors`);
several bases of one source are separated by spaces and tried in order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatch
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Literal

from brainfeat.catalog import (
    Catalog, Kind, Network, Split, Subject, default_catalog, read_packaged_table)
from brainfeat.config import MIRRORS_ENV, PINS_ENV, mirrors
from brainfeat.errors import DataNotFoundError, UnknownNameError

__all__ = ["FALLBACKS", "SOURCES", "Check", "Registry", "RemoteFile", "archive_members",
           "bids_subject", "default_registry", "layer_archive_name", "parse_layer_archive_name"]

#: Default base URL of each source.
SOURCES = {
    "figshare": "https://ndownloader.figshare.com",
    "openneuro": "https://s3.amazonaws.com/openneuro.org/ds001246",
}

#: Further endpoints tried in order when a source's base fails, as templates of
#: ``{path}`` (the remote path) and ``{file}`` (its last component, a figshare file id).
FALLBACKS = {
    "figshare": ("https://api.figshare.com/v2/file/download/{file}",
                 "https://figshare.com/ndownloader/{path}"),
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
        """The first download URL, honouring ``BRAINFEAT_MIRRORS``."""
        return self.urls()[0]

    def urls(self) -> list[str]:
        """Every download URL, in the order they are tried, honouring ``BRAINFEAT_MIRRORS``."""
        overrides = mirrors()
        unknown = sorted(set(overrides) - set(SOURCES))
        if unknown:
            raise UnknownNameError(
                f"{MIRRORS_ENV} names unknown source(s) {', '.join(map(repr, unknown))}: "
                f"expected {', '.join(map(repr, SOURCES))}. Fix the spelling so the mirror "
                "is used instead of the original server.")
        if self.source in overrides:
            return [f"{base.rstrip('/')}/{self.remote_path}"
                    for base in overrides[self.source].split()]
        file = self.remote_path.rsplit("/", 1)[-1]
        return [f"{SOURCES[self.source]}/{self.remote_path}", *(
            template.format(path=self.remote_path, file=file)
            for template in FALLBACKS.get(self.source, ()))]


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


def parse_layer_archive_name(name: str) -> tuple[Kind, Network, str] | None:
    """``(kind, network, layer)`` of a layer's zip name, or None for other names.

    Examples
    --------
    >>> parse_layer_archive_name("decodedDNN-true-AlexNet-fc8.zip")
    (<Kind.TRUE: 'true'>, <Network.ALEXNET: 'AlexNet'>, 'fc8')
    """
    parts = name.removesuffix(".zip").split("-", 3)
    if len(parts) != 4 or parts[0] != "decodedDNN" or not name.endswith(".zip"):
        return None
    return Kind.parse(parts[1]), Network.parse(parts[2]), parts[3]


def published_path(kind: Kind | str, network: Network | str, layer: str,
                   subject: Subject | None = None, image: str | None = None) -> PurePosixPath:
    """Path of one published file relative to the ``decodedDNN/`` folder.

    Parameters
    ----------
    kind, network, layer : the result; ``layer`` is written as given.
    subject : Subject, optional
        Required for decoded, accuracy and rank; must be None for true.
    image : str, optional
        Stimulus name; required for decoded and true.

    Examples
    --------
    >>> str(published_path("true", "AlexNet", "fc8", image="n01443537_22563"))
    'true/AlexNet/fc8/true-AlexNet-fc8-n01443537_22563.mat'
    """
    kind, network = Kind.parse(kind), Network.parse(network)
    folder = PurePosixPath(kind.value, network.value, layer)
    stem = f"{kind.value}-{network.value}-{layer}"
    if kind is Kind.TRUE:
        return folder / f"{stem}-{image}.mat"
    if subject is None:
        raise UnknownNameError(
            f"{kind.value} files are per subject: pass subject='S1' ... 'S5' or 'Averaged'.")
    if kind is Kind.DECODED:
        return folder / subject.name / f"{stem}-{subject.name}-{image}.mat"
    return folder / f"{stem}-{subject.name}.mat"


def archive_members(kind: Kind | str, network: Network | str, layer: str,
                    catalog: Catalog) -> frozenset[str]:
    """Every file the zip of one (kind, network, layer) holds, below ``decodedDNN/``.

    Derived from the catalog: its subjects (and ``Averaged``) and its 50 test images.
    """
    kind = Kind.parse(kind)
    subjects = catalog.subjects_for(kind) or (None,)
    images = catalog.test_image_ids if kind.per_image else (None,)
    return frozenset(published_path(kind, network, layer, subject, image).as_posix()
                     for subject in subjects for image in images)


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


def default_registry() -> Registry:
    """The registry of every published remote file (read once from packaged tables).

    Where ``BRAINFEAT_PINS`` names a table of ``name``, ``size`` and ``md5`` (as
    ``brainfeat demo --serve`` writes for its SYNTHETIC mirror), its rows replace the sizes
    and MD5s of the files they name.
    """
    pins = os.environ.get(PINS_ENV, "").strip()
    return _registry(pins, os.stat(pins).st_mtime_ns if pins and os.path.isfile(pins) else 0)


@cache
def _registry(pins: str, _mtime: int) -> Registry:
    rows = [*_figshare_rows(), *_openneuro_rows(default_catalog())]
    return Registry(_repinned(rows, pins) if pins else rows)


def _repinned(rows: list[RemoteFile], pins: str) -> list[RemoteFile]:
    """``rows`` with the sizes and MD5s of the ``BRAINFEAT_PINS`` table ``pins``."""
    try:
        header, *lines = [line.split("\t") for line in
                          Path(pins).read_text(encoding="utf-8").splitlines() if line.strip()]
        table = {line[0]: (int(line[1]), line[2]) for line in lines}
        if header != ["name", "size", "md5"]:
            raise ValueError(f"header {header}")
    except (OSError, UnicodeDecodeError, ValueError, IndexError) as error:
        raise DataNotFoundError(
            f"${PINS_ENV}={pins} cannot be read as a pins table ({error}): expected a file of "
            "tab-separated name, size, md5 lines under that header, such as the pins.tsv of "
            "`brainfeat demo --serve`; unset it to use the published pins.") from None
    unknown = sorted(set(table) - {row.name for row in rows})
    if unknown:
        raise UnknownNameError(
            f"${PINS_ENV}={pins} pins {len(unknown)} file(s) the registry does not know, e.g. "
            f"{unknown[0]!r}: expected registry names ('Subject1.h5', 'ds001246/<path>'); "
            "write the table again or unset it.")
    return [replace(row, size=table[row.name][0], md5=table[row.name][1])
            if row.name in table else row for row in rows]
