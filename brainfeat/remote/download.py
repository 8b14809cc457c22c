"""The fetch engine: one generic mechanism for every registry row.

For one :class:`~brainfeat.remote.registry.RemoteFile` it

1. takes a file lock beside the target, so two processes fetching one file never
   interleave (the second finds the first one's verified result);
2. downloads into ``<target>.part`` (:mod:`brainfeat.remote.transfer`: endpoints in turn,
   Range resume, stall timeout and deadline);
3. verifies the whole file (:mod:`brainfeat.remote.checks`), fetching it once more if it
   fails;
4. renames the verified file into place atomically, extracts archives refusing members that
   escape the target folder, and records size and SHA-256 (and each member's size and CRC)
   in the data folder's manifest, so later corruption is caught by :func:`verify_cache`.

Only what passed every check is recorded. A re-download of an archive is compared with the
recorded members (their sizes and CRCs), not with the bytes of the zip, so a correct copy
is never refused because an earlier one differed in bytes that carry no data. A file found
in place without a manifest entry (an unreadable manifest, a killed fetch, an adopted file)
is re-verified and recorded instead of downloaded again.

Nothing here knows dataset names: callers pass the row, the data folder and the command
that fetches it (for error messages).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brainfeat.errors import DataNotFoundError, DownloadError, IntegrityError
from brainfeat.remote.checks import VERIFIED, ArchiveLayout, digest, member_target, verify_file
from brainfeat.remote.registry import RemoteFile
from brainfeat.remote import transfer
from brainfeat.remote.transfer import CHUNK, Deadlines, size_of

__all__ = ["CacheProblem", "adopt_file", "fetch_archive", "fetch_file", "forget_entry",
           "manifest_entries", "sweep_extraction", "sweep_temporaries", "verify_cache"]

MANIFEST_NAME = "manifest.json"
VERIFY_ATTEMPTS = 2           # full downloads when the content fails verification


# ----------------------------------------------------------------------------------------
# Public entry points


def fetch_file(row: RemoteFile, data_dir: Path, *, download: bool = True,
               progress: bool = True, command: str = "",
               deadlines: Deadlines | None = None) -> Path:
    """Make one remote file available, verified, at ``data_dir / row.local_path``.

    Parameters
    ----------
    row : RemoteFile
    data_dir : pathlib.Path
        The data folder (holds the manifest).
    download : bool
        If False and the file is not cached, raise :class:`DataNotFoundError`.
    progress : bool
        Show a tqdm progress bar on stderr while downloading and checking.
    command : str
        The command that fetches this file, quoted in error messages.
    deadlines : Deadlines, optional
        Stall timeout and overall deadline; default :meth:`Deadlines.resolve`.

    Returns
    -------
    pathlib.Path
        The local file.
    """
    target = data_dir / row.local_path
    with _locked(target):
        entry = _manifest(data_dir).get(row.local_path)
        if entry and entry["state"] == "ok" and size_of(target) == entry["size"]:
            return target
        if target.is_file() and _passes(row, target, entry, None, data_dir, progress):
            record_verified(data_dir, row, target, members=None)  # a copy on disk, re-verified
            return target
        if not download:
            raise _not_found(row, target, command, entry, data_dir)
        _sweep_folder(target.parent, own_lock=_lock_path(target))
        _download_verified(row, target, data_dir, progress, entry, None, deadlines)
        record_verified(data_dir, row, target, members=None)
    return target


def fetch_archive(row: RemoteFile, data_dir: Path, layout: ArchiveLayout, *,
                  download: bool = True, progress: bool = True, command: str = "",
                  deadlines: Deadlines | None = None) -> Path:
    """Download a zip (verified), extract it safely, record its members, drop the zip.

    Parameters
    ----------
    row : RemoteFile
        A row with ``check == "zip"``.
    data_dir : pathlib.Path
    layout : ArchiveLayout
        Where the members go and which members the archive must hold.
    download, progress, command, deadlines
        As in :func:`fetch_file`.

    Returns
    -------
    pathlib.Path
        ``layout.folder``, the folder the archive filled.
    """
    archive = data_dir / row.local_path
    with _locked(archive):
        entry = _manifest(data_dir).get(row.local_path)
        if entry and entry["state"] == "ok" and _members_present(data_dir, entry):
            return layout.folder
        if not (archive.is_file() and _passes(row, archive, entry, layout, data_dir, progress)):
            if not download:
                raise _not_found(row, layout.folder, command, entry, data_dir)
            _sweep_folder(archive.parent, own_lock=_lock_path(archive))
            _download_verified(row, archive, data_dir, progress, entry, layout, deadlines)
        _sweep_extracting(layout)
        extracted = _extract(archive, layout, data_dir, progress)
        record_verified(data_dir, row, archive, members=extracted)
        archive.unlink()
    return layout.folder


def adopt_file(row: RemoteFile, source: Path, data_dir: Path, *, progress: bool = True,
               layout: ArchiveLayout | None = None) -> Path:
    """Take a file the user already has (``Subject1.h5``, a zip downloaded by hand) into the cache.

    The file is copied, then verified exactly as a download would be; only a file that
    passes every check is recorded. Archives are extracted (``layout`` says where).

    Returns
    -------
    pathlib.Path
        The cached file, or the folder the archive filled.
    """
    if not source.is_file():
        raise DataNotFoundError(f"{source} is not a file: pass the path of a downloaded "
                                f"{row.name}.")
    target = data_dir / row.local_path
    with _locked(target):
        part = _part(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, part)
        entry = _manifest(data_dir).get(row.local_path)
        try:
            verify_file(row, part, entry, layout, data_dir, progress, str(source))
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, target)
        if layout is None:
            record_verified(data_dir, row, target, members=None)
            return target
        record_verified(data_dir, row, target, members=_extract(target, layout, data_dir, progress))
        target.unlink()
        return layout.folder


def forget_entry(data_dir: Path, local_path: str) -> list[Path]:
    """Delete one cached entry's files (its members for an archive) and its manifest entry.

    Returns
    -------
    list of pathlib.Path
        The files deleted.
    """
    with _locked(data_dir / local_path):
        entry = _manifest(data_dir).get(local_path)
        paths = [data_dir / p for p in (entry or {}).get("members", {})]
        paths += [data_dir / local_path, _part(data_dir / local_path)]
        removed = [path for path in paths if path.is_file()]
        for path in removed:
            path.unlink()
        with _manifest_lock(data_dir):
            files = _manifest(data_dir)
            if files.pop(local_path, None) is not None:
                _write_manifest(data_dir, files)
    return removed


@dataclass(frozen=True)
class CacheProblem:
    """One cached file that failed :func:`verify_cache`."""

    path: str
    reason: str


def verify_cache(data_dir: Path, progress: bool = False) -> tuple[int, list[CacheProblem]]:
    """Re-check every file recorded in the manifest (sizes, SHA-256, member CRCs).

    A failing entry is marked corrupt, so the next fetch downloads it again.

    Returns
    -------
    (int, list of CacheProblem)
        Number of entries checked, and the problems found.
    """
    from tqdm.auto import tqdm

    problems: list[CacheProblem] = []
    entries = _manifest(data_dir)
    for local_path, entry in tqdm(sorted(entries.items()), desc="verify-cache", unit="entry",
                                  leave=False, disable=not progress):
        reason = _entry_problem(data_dir, local_path, entry)
        if reason:
            problems.append(CacheProblem(local_path, reason))
            with _locked(data_dir / local_path), _manifest_lock(data_dir):
                current = _manifest(data_dir)
                if local_path in current:
                    current[local_path]["state"] = "corrupt"
                    _write_manifest(data_dir, current)
    return len(entries), problems


def manifest_entries(data_dir: Path) -> dict[str, dict[str, Any]]:
    """The manifest of ``data_dir``: ``{local_path: entry}`` (empty if none).

    An unreadable manifest is set aside as ``manifest.json.corrupt`` (with a warning) and
    the cache is rebuilt as files are next fetched: copies on disk are re-verified.
    """
    return _manifest(data_dir)


def sweep_temporaries(data_dir: Path) -> list[Path]:
    """Delete the ``tmp*`` files that killed fetches of older versions left.

    A folder is swept only when no lock in it is held, so the temporary files of a live
    fetch in another process are never touched. Partial downloads (``*.part``) are kept:
    the next fetch resumes them. (Members half-extracted by a killed fetch are swept by
    :func:`sweep_extraction`, and by the next fetch of their archive.)

    Returns
    -------
    list of pathlib.Path
        The files deleted.
    """
    if not data_dir.is_dir():
        return []
    folders = {path.parent for path in data_dir.rglob("tmp*") if _is_temporary(path)}
    return [path for folder in sorted(folders) for path in _sweep_folder(folder)]


def sweep_extraction(row: RemoteFile, data_dir: Path, layout: ArchiveLayout) -> list[Path]:
    """Delete the ``*.extracting`` files a killed extraction of ``row`` left in its folder.

    Nothing is deleted while the archive's lock is held (a live fetch).

    Returns
    -------
    list of pathlib.Path
        The files deleted.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(_lock_path(data_dir / row.local_path)))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return []  # the archive is being fetched: its extraction is live
    try:
        return _sweep_extracting(layout)
    finally:
        lock.release()


def _sweep_extracting(layout: ArchiveLayout) -> list[Path]:
    """Under the archive's lock: only its own fetch writes into its folder."""
    stale = sorted(layout.folder.rglob("*.extracting")) if layout.folder.is_dir() else []
    for path in stale:
        path.unlink()
    return stale


def _sweep_folder(folder: Path, own_lock: Path | None = None) -> list[Path]:
    """Delete ``tmp*`` files of ``folder`` unless a lock there (other than ours) is held."""
    from filelock import FileLock, Timeout

    locks = [FileLock(str(path)) for path in sorted(folder.glob("*.lock")) if path != own_lock]
    acquired = []
    try:
        for lock in locks:
            lock.acquire(timeout=0)
            acquired.append(lock)
    except Timeout:
        return []  # a fetch is running in this folder: leave its files alone
    finally:
        for lock in acquired:
            lock.release()
    stale = [path for path in sorted(folder.iterdir()) if _is_temporary(path)]
    for path in stale:
        path.unlink()
    return stale


def _is_temporary(path: Path) -> bool:
    """A temporary file of pooch, which older versions used (``tmp`` + 8 characters)."""
    return path.is_file() and path.name.startswith("tmp") and "." not in path.name


# ----------------------------------------------------------------------------------------
# Downloading


def _part(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def _download_verified(row: RemoteFile, target: Path, data_dir: Path, progress: bool,
                       entry: dict[str, Any] | None, layout: ArchiveLayout | None,
                       deadlines: Deadlines | None) -> None:
    """Download ``row`` into ``<target>.part``, verify it, rename it to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    part = _part(target)
    limits = deadlines or Deadlines.resolve()
    for attempt in range(1, VERIFY_ATTEMPTS + 1):
        url = transfer.download(row, part, progress, limits)
        try:
            verify_file(row, part, entry, layout, data_dir, progress, f"{row.name} from {url}")
        except BaseException as error:
            part.unlink(missing_ok=True)
            if not isinstance(error, (IntegrityError, DownloadError)):
                raise
            if attempt == VERIFY_ATTEMPTS:
                raise IntegrityError(
                    f"{error}\nRefused after {VERIFY_ATTEMPTS} downloads; nothing was cached. "
                    f"If BRAINFEAT_MIRRORS points '{row.source}' to a mirror, check its copy; "
                    "otherwise retry later.") from error
        else:
            os.replace(part, target)
            return


def _passes(row: RemoteFile, path: Path, entry: dict[str, Any] | None,
            layout: ArchiveLayout | None, data_dir: Path, progress: bool) -> bool:
    """Whether a file already on disk passes :func:`verify_file` (then it need not be fetched)."""
    try:
        verify_file(row, path, entry, layout, data_dir, progress, f"{row.name} at {path}")
    except (IntegrityError, DownloadError):
        return False
    return True


# ----------------------------------------------------------------------------------------
# Zip extraction


def _extract(archive: Path, layout: ArchiveLayout, data_dir: Path,
             progress: bool) -> dict[str, list[int]]:
    """Extract every member (after checking them all); returns ``{path: [size, crc]}``."""
    from tqdm.auto import tqdm

    with zipfile.ZipFile(archive) as handle:
        infos = handle.infolist()
        targets = [(info, member_target(info.filename, layout.strip, layout.extract_to))
                   for info in infos]
        members: dict[str, list[int]] = {}
        for info, target in tqdm(targets, desc=f"unpacking {archive.name}", unit="file",
                                 leave=False, disable=not progress):
            if target is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(target.name + ".extracting")
            with handle.open(info) as source, open(temporary, "wb") as sink:
                shutil.copyfileobj(source, sink, CHUNK)
            os.replace(temporary, target)
            members[target.relative_to(data_dir).as_posix()] = [info.file_size, info.CRC]
    return members


# ----------------------------------------------------------------------------------------
# Manifest and locks


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(_lock_path(target))):
        yield


def _lock_path(target: Path) -> Path:
    return target.with_name(target.name + ".lock")


@contextmanager
def _manifest_lock(data_dir: Path) -> Iterator[None]:
    with _locked(data_dir / MANIFEST_NAME):
        yield


def _manifest(data_dir: Path) -> dict[str, dict[str, Any]]:
    """The manifest's entries: none for an unreadable manifest (with a warning), and
    malformed entries dropped. The next write sets an unreadable manifest aside."""
    files = _read_manifest(data_dir / MANIFEST_NAME)
    if isinstance(files, Exception):
        warnings.warn(
            f"The cache manifest {data_dir / MANIFEST_NAME} is unreadable "
            f"({type(files).__name__}: {files}); it is set aside as {MANIFEST_NAME}.corrupt "
            "at the next write, and files on disk are re-verified when next fetched (or run "
            "`brainfeat cache check`).", RuntimeWarning, stacklevel=3)
        return {}
    return {key: entry for key, entry in files.items() if _valid_entry(entry)}


def _read_manifest(path: Path) -> dict[str, Any] | Exception:
    """The ``files`` object of a manifest ({} if there is none), or why it is unreadable."""
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
        if not isinstance(files, dict):
            raise TypeError("'files' is not an object")
    except FileNotFoundError:
        return {}
    except (ValueError, UnicodeDecodeError, KeyError, TypeError) as error:
        return error
    return files


def _valid_entry(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    try:
        ok = (isinstance(entry["name"], str) and isinstance(entry["size"], int)
              and isinstance(entry["sha256"], str) and entry["state"] in ("ok", "corrupt"))
        members = entry.get("members", {})
        return ok and isinstance(members, dict) and all(
            isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)
            for value in members.values())
    except (KeyError, TypeError):
        return False


def _write_manifest(data_dir: Path, files: dict[str, dict[str, Any]]) -> None:
    """Replace the manifest atomically (the caller holds the manifest lock)."""
    path = data_dir / MANIFEST_NAME
    if isinstance(_read_manifest(path), Exception):
        os.replace(path, path.with_name(MANIFEST_NAME + ".corrupt"))
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({"version": 1, "files": files}, indent=1, sort_keys=True),
                         encoding="utf-8")
    os.replace(temporary, path)


def record_verified(data_dir: Path, row: RemoteFile, path: Path,
                    members: dict[str, list[int]] | None) -> None:
    """Record ``path`` in the manifest of ``data_dir`` as ``row``'s file, verified.

    Call it only for a file that passed every check (or that brainfeat wrote itself);
    ``members`` maps each extracted member to its ``[size, crc]``.
    """
    entry: dict[str, Any] = {
        "name": row.name, "url": row.url(), "size": path.stat().st_size,
        "sha256": digest(path, "sha256"), "checks": VERIFIED,
        "pinned_by": "registry" if row.md5 else "first verified download", "state": "ok",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if members is not None:
        entry["members"] = members
    with _manifest_lock(data_dir):
        files = _manifest(data_dir)
        files[row.local_path] = entry
        _write_manifest(data_dir, files)


def _members_present(data_dir: Path, entry: dict[str, Any]) -> bool:
    return bool(entry.get("members")) and all(
        size_of(data_dir / path) == size for path, (size, _crc) in entry["members"].items())


def _entry_problem(data_dir: Path, local_path: str, entry: dict[str, Any]) -> str:
    if "members" in entry:
        for path, (size, crc) in entry["members"].items():
            found = size_of(data_dir / path)
            if found is None:
                return f"member {path} is missing"
            if found != size:
                return f"member {path} has {found} bytes, expected {size}"
            if _crc32(data_dir / path) != crc:
                return f"member {path} fails its CRC check"
        return ""
    found = size_of(data_dir / local_path)
    if found is None:
        return "file is missing"
    if found != entry["size"]:
        return f"file has {found} bytes, expected {entry['size']}"
    if digest(data_dir / local_path, "sha256") != entry["sha256"]:
        return "SHA-256 differs from the one recorded at download"
    return ""


def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def _not_found(row: RemoteFile, where: Path, command: str,
               entry: dict[str, Any] | None, data_dir: Path) -> DataNotFoundError:
    how = f"`{command}`" if command else "the matching brainfeat.fetch* function"
    if entry is None:
        state = "is not in the local cache"
    elif entry["state"] == "ok":
        problem = _entry_problem(data_dir, row.local_path, entry) or "a file changed"
        state = f"is in the local cache but damaged ({problem})"
    else:
        state = "was marked corrupt by `brainfeat verify-cache`"
    return DataNotFoundError(
        f"{row.name} {state} (expected at {where}) and download=False. "
        f"Fetch it with {how}, or call again with download=True.")
