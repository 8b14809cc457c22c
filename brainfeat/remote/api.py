"""Public fetchers: make published files available locally, downloaded once and verified.

Shared parameters
-----------------
data_dir : path-like, optional
    Data folder; the argument wins over ``BRAINFEAT_DATA``, which wins over ``~/brainfeat_data``.
download : bool
    If False, a file missing from the cache raises :class:`~brainfeat.errors.DataNotFoundError`
    naming the file and the command that fetches it.
progress : bool
    Show progress bars (stderr) while downloading, checking and unpacking.
stall_timeout : float, optional
    Seconds an attempt may receive (almost) nothing before it counts as stalled; three
    stalls end the download with :class:`~brainfeat.errors.DownloadError`. Default
    ``BRAINFEAT_STALL_TIMEOUT``, else 20.
deadline : float, optional
    Seconds one file may take in all. Default ``BRAINFEAT_DEADLINE``, else 21600 (6 h).

Base URLs can be replaced per source with ``BRAINFEAT_MIRRORS="figshare=URL,openneuro=URL"``
(several URLs of one source, separated by spaces, are tried in order).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from brainfeat.catalog import Catalog, Kind, Network, SubjectLike, default_catalog, resolve_catalog
from brainfeat.config import data_dir as resolve_data_dir
from brainfeat.remote.checks import ArchiveLayout
from brainfeat.remote.download import fetch_archive, fetch_file
from brainfeat.remote.registry import (
    BIDS_ROOT, RemoteFile, archive_members, bids_subject, default_registry)
from brainfeat.remote.transfer import Deadlines

__all__ = ["fetch", "fetch_bids", "fetch_fmri", "fetch_registered", "layer_archive"]

PathLike = str | os.PathLike[str]

#: Path component of the figshare zip members after which the published layout starts.
ARCHIVE_ROOT = "decodedDNN"


def fetch(kind: Kind | str, network: Network | str, layer: str, *,
          data_dir: PathLike | None = None, download: bool = True, progress: bool = True,
          catalog: Catalog | None = None, stall_timeout: float | None = None,
          deadline: float | None = None) -> Path:
    """Download (once) and extract the published zip of one (kind, network, layer).

    Parameters
    ----------
    kind : {"decoded", "true", "accuracy", "rank"}
    network : {"AlexNet", "VGG19"}
    layer : str
        Layer name as in the catalog, e.g. ``"conv1"``.
    data_dir, download, progress, stall_timeout, deadline
        See the module docstring.
    catalog : Catalog, optional
        Checks the names and lists the files the zip must hold; defaults to the published
        dataset.

    Returns
    -------
    pathlib.Path
        ``<data_dir>/decodedDNN/<kind>/<net>/<layer>/``, the folder holding that layer's files.

    Examples
    --------
    >>> folder = brainfeat.fetch("true", "AlexNet", "fc8")  # doctest: +SKIP
    """
    kind = Kind.parse(kind)
    info = resolve_catalog(catalog).layer(network, layer)
    root = resolve_data_dir(data_dir)
    row, layout = layer_archive(kind, info.network, info.name, catalog, data_dir=root)
    return fetch_archive(
        row, root, layout, download=download, progress=progress,
        deadlines=Deadlines.resolve(stall_timeout, deadline),
        command=f"brainfeat fetch {kind.value} {info.network.value} {info.name}")


def layer_archive(kind: Kind | str, network: Network | str, layer: str,
                  catalog: Catalog | None = None, *,
                  data_dir: PathLike | None = None) -> tuple[RemoteFile, ArchiveLayout]:
    """The registry row of one layer's zip, and where it unpacks with the files it must hold.

    The files are derived from the catalog: its subjects (and ``Averaged``) for decoded,
    accuracy and rank, its test images for decoded and true.
    """
    kind = Kind.parse(kind)
    catalog = resolve_catalog(catalog)
    info = catalog.layer(network, layer)
    root = resolve_data_dir(data_dir) / ARCHIVE_ROOT
    row = default_registry().layer_archive(kind, info.network, info.name)
    layout = ArchiveLayout(
        strip=ARCHIVE_ROOT, extract_to=root,
        folder=root / kind.value / info.network.value / info.name,
        members=archive_members(kind, info.network, info.name, catalog))
    return row, layout


def fetch_fmri(subject: SubjectLike, *, data_dir: PathLike | None = None,
               download: bool = True, progress: bool = True,
               stall_timeout: float | None = None, deadline: float | None = None) -> Path:
    """Download (once) the preprocessed fMRI of one subject (figshare ``SubjectN.h5``).

    Parameters
    ----------
    subject : {1..5, "S1".."S5", "sub-01", "Subject1"}
    data_dir, download, progress, stall_timeout, deadline
        See the module docstring.

    Returns
    -------
    pathlib.Path
        The local ``SubjectN.h5`` (BData HDF5).
    """
    who = default_catalog().subject(subject)
    row = default_registry().fmri(who)
    return fetch_file(row, resolve_data_dir(data_dir), download=download, progress=progress,
                      command=f"brainfeat fetch fmri {who.name}",
                      deadlines=Deadlines.resolve(stall_timeout, deadline))


def fetch_bids(subject: SubjectLike | Sequence[SubjectLike] | None = None,
               include: Sequence[str] | None = None, *, data_dir: PathLike | None = None,
               download: bool = True, progress: bool = True,
               stall_timeout: float | None = None, deadline: float | None = None) -> Path:
    """Download (once) files of OpenNeuro ds001246 (release 1.2.1) into a local BIDS tree.

    Parameters
    ----------
    subject : subject or list of subjects, optional
        Subjects whose files to fetch; None fetches all five. Top-level files
        (``dataset_description.json``, sidecars, README) always come along.
    include : list of str, optional
        Glob patterns matched against paths inside ds001246, e.g. ``["*_events.tsv"]`` or
        ``["sourcedata/*"]``; None fetches every file (tens of GB for all subjects).
    data_dir, download, progress, stall_timeout, deadline
        See the module docstring.

    Returns
    -------
    pathlib.Path
        The root of the local ds001246 tree.
    """
    catalog = default_catalog()
    if subject is None:
        subjects = None
    elif isinstance(subject, (str, int)) or not isinstance(subject, Sequence):
        subjects = [catalog.subject(subject)]
    else:
        subjects = [catalog.subject(s) for s in subject]
    root = resolve_data_dir(data_dir)
    deadlines = Deadlines.resolve(stall_timeout, deadline)
    include_args = [f"--include '{pattern}'" for pattern in include or ()]
    for row in default_registry().bids(subjects, include):
        command = " ".join(filter(None, ["brainfeat fetch bids", bids_subject(row.remote_path),
                                         *include_args]))
        fetch_file(row, root, download=download, progress=progress, command=command,
                   deadlines=deadlines)
    return root / BIDS_ROOT


def fetch_registered(name: str, *, data_dir: PathLike | None = None, download: bool = True,
                     progress: bool = True, stall_timeout: float | None = None,
                     deadline: float | None = None) -> Path:
    """Download (once) any registry file by its name (e.g. ``"ImageFeatures.h5"``).

    Zip files are returned as downloaded (not extracted).

    Parameters
    ----------
    name : str
        A registry name: a figshare file name or ``ds001246/<path>``.
    data_dir, download, progress, stall_timeout, deadline
        See the module docstring.

    Returns
    -------
    pathlib.Path
    """
    row = default_registry().get(name)
    return fetch_file(row, resolve_data_dir(data_dir), download=download, progress=progress,
                      command=f"brainfeat fetch file {name}",
                      deadlines=Deadlines.resolve(stall_timeout, deadline))
