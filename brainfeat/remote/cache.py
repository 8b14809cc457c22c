"""Cache management: list, check, forget, re-fetch and adopt the files of the data folder.

Every function takes a registry name: a figshare file name (``Subject1.h5``,
``decodedDNN-true-AlexNet-fc8.zip``) or ``ds001246/<path>``. ``data_dir``, ``progress`` and
``catalog`` mean what they mean in :mod:`brainfeat.remote.api`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brainfeat.catalog import Catalog
from brainfeat.config import data_dir as resolve_data_dir
from brainfeat.errors import DataNotFoundError, IntegrityError, UnknownNameError
from brainfeat.remote import api
from brainfeat.remote.download import (
    CacheProblem, adopt_file, fetch_archive, fetch_file, forget_entry, manifest_entries,
    sweep_extraction, sweep_temporaries, verify_cache)
from brainfeat.remote.registry import default_registry, parse_layer_archive_name

__all__ = ["CacheCheck", "adopt", "cache_entries", "check_cache", "forget", "refetch"]

PathLike = str | os.PathLike[str]


def cache_entries(data_dir: PathLike | None = None) -> dict[str, dict[str, Any]]:
    """What the data folder holds: ``{local path: manifest entry}``."""
    return manifest_entries(resolve_data_dir(data_dir))


@dataclass(frozen=True)
class CacheCheck:
    """What :func:`check_cache` found and did."""

    checked: int
    problems: list[CacheProblem]
    recovered: list[str] = field(default_factory=list)
    swept: list[Path] = field(default_factory=list)


def check_cache(data_dir: PathLike | None = None, *, progress: bool = True,
                catalog: Catalog | None = None) -> CacheCheck:
    """Re-verify every cached file and repair the bookkeeping.

    1. registry files present on disk but missing from the manifest (e.g. after an
       unreadable manifest was set aside, or a zip left by a killed fetch) are verified and
       recorded; files that fail stay unrecorded and are downloaded at the next fetch;
    2. every manifest entry is re-checked (sizes, SHA-256, member CRCs); failures are
       marked corrupt, so the next fetch downloads them again;
    3. temporary files left by killed fetches are deleted (never those of a live fetch:
       a folder is swept only when no lock in it is held, a layer's folder under its
       archive's lock).

    Returns
    -------
    CacheCheck
    """
    root = resolve_data_dir(data_dir)
    known = manifest_entries(root)
    recovered = []
    for row in default_registry():
        if row.local_path in known or not (root / row.local_path).is_file():
            continue
        layer = parse_layer_archive_name(row.name)
        try:
            if layer is None:
                fetch_file(row, root, download=False, progress=progress)
            else:
                _, layout = api.layer_archive(*layer, catalog, data_dir=root)
                fetch_archive(row, root, layout, download=False, progress=progress)
        except DataNotFoundError:
            continue  # failed verification: fetched again when next needed
        recovered.append(row.name)
    checked, problems = verify_cache(root, progress=progress)
    swept = sweep_temporaries(root)
    for folder in sorted((root / api.ARCHIVE_ROOT).glob("*/*/*")):
        try:
            row, layout = api.layer_archive(*folder.relative_to(root / api.ARCHIVE_ROOT).parts,
                                            catalog, data_dir=root)
        except UnknownNameError:
            continue  # not a layer of this catalog
        swept += sweep_extraction(row, root, layout)
    return CacheCheck(checked, problems, recovered, swept)


def forget(name: str, data_dir: PathLike | None = None) -> list[Path]:
    """Delete one cached file (or all files of a layer's zip) and its manifest entry.

    Returns
    -------
    list of pathlib.Path
        The files deleted (empty if nothing was cached).
    """
    row = default_registry().get(name)
    return forget_entry(resolve_data_dir(data_dir), row.local_path)


def refetch(name: str, data_dir: PathLike | None = None, *, progress: bool = True,
            catalog: Catalog | None = None) -> Path:
    """Forget one cached file, then download and verify it again.

    Returns
    -------
    pathlib.Path
        The file, or the folder a layer's zip fills.
    """
    forget(name, data_dir)
    layer = parse_layer_archive_name(name)
    if layer is not None:
        return api.fetch(*layer, data_dir=data_dir, progress=progress, catalog=catalog)
    return api.fetch_registered(name, data_dir=data_dir, progress=progress)


def adopt(path: PathLike, name: str | None = None, data_dir: PathLike | None = None, *,
          progress: bool = True, catalog: Catalog | None = None) -> Path:
    """Take a file you already have (a ``Subject1.h5``, a zip downloaded by hand) into the cache.

    The file is copied and verified exactly as a download would be (pinned size and MD5,
    structure, a zip's member list); a layer's zip is unpacked. Your file is left as it is.

    Parameters
    ----------
    path : path-like
        The file.
    name : str, optional
        Its registry name; default: the file's name.

    Returns
    -------
    pathlib.Path
        The cached file, or the folder a layer's zip fills.

    Raises
    ------
    IntegrityError
        If the file fails verification (nothing is cached).
    """
    source = Path(path).expanduser()
    row = default_registry().get(name or source.name)
    root = resolve_data_dir(data_dir)
    layer = parse_layer_archive_name(row.name)
    layout = None if layer is None else api.layer_archive(*layer, catalog, data_dir=root)[1]
    try:
        return adopt_file(row, source, root, progress=progress, layout=layout)
    except IntegrityError as error:
        raise IntegrityError(f"{source} was not adopted as {row.name}: {error}\nCheck that "
                             "it is the complete published file, or fetch it instead.") from error
