"""The fetch engine: one generic mechanism for every registry row.

For one :class:`~brainfeat.remote.registry.RemoteFile` it

1. takes a file lock beside the target, so two processes fetching one file never
   interleave (the second finds the first one's verified result);
2. downloads into ``<target>.part`` with HTTP Range resume (a partial file left by a cut
   connection or a killed process is continued, not restarted), checking Content-Length;
3. refuses HTML error pages, checks the pinned size/MD5 (through :func:`pooch.retrieve`)
   or, for unpinned rows, the structure: CRC of every zip member, HDF5 opens, JSON parses;
4. renames the verified file into place atomically, extracts archives refusing members that
   escape the target folder, and records size and SHA-256 (and each member's size and CRC)
   in the data folder's manifest, so later corruption is caught by :func:`verify_cache`.

Nothing here knows dataset names: callers pass the row, the data folder and the command
that fetches it (for error messages).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from brainfeat.errors import (
    DataNotFoundError, DownloadError, IntegrityError, UnsafeArchiveError)
from brainfeat.remote.registry import RemoteFile

__all__ = ["CacheProblem", "fetch_archive", "fetch_file", "manifest_entries", "verify_cache"]

MANIFEST_NAME = "manifest.json"
CONNECT_ATTEMPTS = 5          # connections per download (each resumes the partial file)
VERIFY_ATTEMPTS = 2           # full downloads when the content fails verification
CHUNK = 1 << 16              # bytes per read: what a cut connection can lose
TIMEOUT = (30, 120)           # connect, read (seconds)
_HTML_STARTS = (b"<!doctype html", b"<html", b"<?xml")


# ----------------------------------------------------------------------------------------
# Public entry points


def fetch_file(row: RemoteFile, data_dir: Path, *, download: bool = True,
               progress: bool = True, command: str = "") -> Path:
    """Make one remote file available, verified, at ``data_dir / row.local_path``.

    Parameters
    ----------
    row : RemoteFile
    data_dir : pathlib.Path
        The data folder (holds the manifest).
    download : bool
        If False and the file is not cached, raise :class:`DataNotFoundError`.
    progress : bool
        Show a tqdm progress bar on stderr while downloading.
    command : str
        The command that fetches this file, quoted in error messages.

    Returns
    -------
    pathlib.Path
        The local file.
    """
    target = data_dir / row.local_path
    with _locked(target):
        entry = _manifest(data_dir).get(row.local_path)
        if entry and entry.get("state") == "ok" and _size_of(target) == entry["size"]:
            return target
        if not download:
            raise _not_found(row, target, command, entry)
        pinned = entry.get("sha256") if entry else None
        _download_verified(row, target, progress, pinned)
        _record(data_dir, row, target, members=None)
    return target


def fetch_archive(row: RemoteFile, data_dir: Path, *, strip: str, extract_to: Path,
                  download: bool = True, progress: bool = True, command: str = "",
                  expected: Path | None = None) -> Path:
    """Download a zip (verified), extract it safely, record its members, drop the zip.

    Parameters
    ----------
    row : RemoteFile
        A row with ``check == "zip"``.
    data_dir : pathlib.Path
    strip : str
        Members keep the part of their path after this component (e.g. ``"decodedDNN"``);
        members without it are extracted as they are.
    extract_to : pathlib.Path
        Folder receiving the members.
    download, progress, command
        As in :func:`fetch_file`.
    expected : pathlib.Path, optional
        The folder the caller wants from the archive (named in error messages).

    Returns
    -------
    pathlib.Path
        ``extract_to``.
    """
    archive = data_dir / row.local_path
    with _locked(archive):
        entry = _manifest(data_dir).get(row.local_path)
        if entry and entry.get("state") == "ok" and _members_present(data_dir, entry):
            return extract_to
        if not download:
            raise _not_found(row, expected or extract_to, command, entry)
        pinned = entry.get("sha256") if entry else None
        _download_verified(row, archive, progress, pinned)
        members = _extract(archive, extract_to, strip, data_dir)
        _record(data_dir, row, archive, members=members)
        archive.unlink()
    return extract_to


@dataclass(frozen=True)
class CacheProblem:
    """One cached file that failed :func:`verify_cache`."""

    path: str
    reason: str


def verify_cache(data_dir: Path) -> tuple[int, list[CacheProblem]]:
    """Re-check every file recorded in the manifest (sizes, SHA-256, member CRCs).

    A failing entry is marked corrupt, so the next fetch downloads it again (and checks the
    new download against the SHA-256 recorded the first time).

    Returns
    -------
    (int, list of CacheProblem)
        Number of entries checked, and the problems found.
    """
    problems: list[CacheProblem] = []
    entries = _manifest(data_dir)
    for local_path, entry in entries.items():
        reason = _entry_problem(data_dir, local_path, entry)
        if reason:
            problems.append(CacheProblem(local_path, reason))
            with _locked(data_dir / local_path), _manifest_lock(data_dir):
                current = _manifest(data_dir)
                current[local_path]["state"] = "corrupt"
                _write_manifest(data_dir, current)
    return len(entries), problems


def manifest_entries(data_dir: Path) -> dict[str, dict[str, Any]]:
    """The manifest of ``data_dir``: ``{local_path: entry}`` (empty if none)."""
    return _manifest(data_dir)


# ----------------------------------------------------------------------------------------
# Downloading


def _download_verified(row: RemoteFile, target: Path, progress: bool,
                       pinned_sha256: str | None) -> None:
    """Download ``row`` to ``target`` through pooch; verified before the atomic rename."""
    import pooch

    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    if row.md5:
        known_hash = f"md5:{row.md5}"
    elif pinned_sha256:
        known_hash = f"sha256:{pinned_sha256}"
    else:
        known_hash = None
    downloader = _ResumingDownloader(row, target.with_name(target.name + ".part"), progress)
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # library code does not print
    try:
        for attempt in range(1, VERIFY_ATTEMPTS + 1):
            try:
                pooch.retrieve(row.url(), known_hash=known_hash, fname=target.name,
                               path=target.parent, downloader=downloader, progressbar=False)
                return
            except ValueError as error:  # IntegrityError or pooch's checksum mismatch
                if attempt == VERIFY_ATTEMPTS:
                    raise _integrity(row, error) from error
    finally:
        logger.setLevel(level)


def _integrity(row: RemoteFile, error: ValueError) -> IntegrityError:
    problem = error if isinstance(error, IntegrityError) else (
        f"{row.name} from {row.url()} failed its checksum: {error}")
    return IntegrityError(
        f"{problem}\nRefused after {VERIFY_ATTEMPTS} downloads; nothing was cached. If "
        f"BRAINFEAT_MIRRORS points '{row.source}' to a mirror, check its copy; otherwise "
        "retry later.")


class _ResumingDownloader:
    """A pooch downloader: ``.part`` file, Range resume, HTML refusal, structural check."""

    def __init__(self, row: RemoteFile, part: Path, progress: bool) -> None:
        self.row, self.part, self.progress = row, part, progress

    def __call__(self, url: str, output_file: str, pooch: Any = None) -> None:
        import requests

        with requests.Session() as session:
            for attempt in range(1, CONNECT_ATTEMPTS + 1):
                try:
                    if self._transfer(session, url):
                        break
                except (requests.ConnectionError, requests.Timeout,
                        requests.exceptions.ChunkedEncodingError) as error:
                    if attempt == CONNECT_ATTEMPTS:
                        raise DownloadError(
                            f"Downloading {self.row.name} from {url} failed {attempt} times "
                            f"({error}); the partial file {self.part} is kept and the next "
                            "fetch resumes it.") from error
                time.sleep(min(0.2 * 2 ** (attempt - 1), 5.0))
            else:
                raise DownloadError(
                    f"{url} kept ending before the announced size of {self.row.name}; "
                    f"the partial file {self.part} is kept and the next fetch resumes it.")
        try:
            _check_structure(self.row, self.part)
        except BaseException:
            self.part.unlink(missing_ok=True)
            raise
        os.replace(self.part, output_file)

    def _transfer(self, session: Any, url: str) -> bool:
        """One connection; True when the whole file is in ``.part``."""
        from tqdm.auto import tqdm

        offset = _size_of(self.part) or 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with session.get(url, stream=True, headers=headers, timeout=TIMEOUT) as response:
            if response.status_code == 416 and offset:  # stale partial file: start again
                self.part.unlink()
                return False
            _raise_for_status(self.row, url, response)
            if offset and response.status_code != 206:
                offset = 0  # the server ignored Range: restart from zero
            content_type = response.headers.get("Content-Type", "")
            if "text/html" in content_type:  # no registered file is an HTML page
                self.part.unlink(missing_ok=True)
                raise _html_refused(self.row, url, f"Content-Type {content_type}")
            length = response.headers.get("Content-Length")
            expected = offset + int(length) if length is not None else None
            with open(self.part, "ab" if offset else "wb") as sink, tqdm(
                    total=expected, initial=offset, unit="B", unit_scale=True, leave=False,
                    desc=self.row.name, disable=not self.progress) as bar:
                for chunk in response.iter_content(CHUNK):
                    sink.write(chunk)
                    bar.update(len(chunk))
        size = _size_of(self.part) or 0
        return expected is None or size == expected


def _raise_for_status(row: RemoteFile, url: str, response: Any) -> None:
    status = response.status_code
    if status < 400:
        return
    if status == 404:
        raise DownloadError(
            f"{url} answered 404 Not Found for {row.name}: the server does not hold this "
            f"file. If BRAINFEAT_MIRRORS points '{row.source}' to a mirror, check that it "
            f"serves '{row.remote_path}'; otherwise see docs/data-access.md.")
    raise DownloadError(
        f"{url} answered HTTP {status} {response.reason} for {row.name}; nothing was cached. "
        "Retry later; if it persists, check BRAINFEAT_MIRRORS and docs/data-access.md.")


def _html_refused(row: RemoteFile, url: str, evidence: str) -> DownloadError:
    return DownloadError(
        f"{url} answered with an HTML page ({evidence}) instead of {row.name}; it was not "
        "cached. A mirror or proxy may be showing an error or login page: check "
        "BRAINFEAT_MIRRORS and retry later.")


def _check_structure(row: RemoteFile, path: Path) -> None:
    """Refuse HTML pages and files whose structure is broken; check pinned size."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(512).lstrip().lower()
    if head.startswith(_HTML_STARTS):
        raise _html_refused(row, row.url(), "its content starts with HTML markup")
    if row.size is not None and size != row.size:
        raise IntegrityError(
            f"{row.name} from {row.url()} has {size} bytes; the registry expects {row.size}.")
    if row.check == "zip":
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
            raise IntegrityError(f"{row.name} from {row.url()} is not a valid zip or a member "
                                 f"is damaged: {error}") from error
        if bad is not None:
            raise IntegrityError(f"{row.name} from {row.url()}: member {bad} fails its CRC check.")
    elif row.check == "hdf5":
        import h5py

        try:
            with h5py.File(path, "r"):
                pass
        except OSError as error:
            raise IntegrityError(f"{row.name} from {row.url()} does not open as HDF5: {error}") from error
    elif row.check == "json":
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise IntegrityError(f"{row.name} from {row.url()} is not valid JSON: {error}") from error
    elif row.check == "gzip" and not head.startswith(b"\x1f\x8b") and size:
        raise IntegrityError(f"{row.name} from {row.url()} is not gzip-compressed.")


# ----------------------------------------------------------------------------------------
# Zip extraction


def _member_target(name: str, strip: str, extract_to: Path) -> Path | None:
    """Where a member goes; None for directories; refuses paths escaping ``extract_to``."""
    if name.endswith("/"):
        return None
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or ":" in path.parts[0]:
        raise UnsafeArchiveError(
            f"Zip member {name!r} would be written outside {extract_to}; the archive was "
            "refused and nothing was extracted.")
    parts = path.parts
    if strip in parts:
        parts = parts[parts.index(strip) + 1:]
    target = extract_to.joinpath(*parts)
    if not target.resolve().is_relative_to(extract_to.resolve()):
        raise UnsafeArchiveError(f"Zip member {name!r} escapes {extract_to}; refused.")
    return target


def _extract(archive: Path, extract_to: Path, strip: str,
             data_dir: Path) -> dict[str, list[int]]:
    """Extract every member (after checking them all); returns ``{path: [size, crc]}``."""
    with zipfile.ZipFile(archive) as handle:
        infos = handle.infolist()
        targets = [(info, _member_target(info.filename, strip, extract_to)) for info in infos]
        members: dict[str, list[int]] = {}
        for info, target in targets:
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
    with FileLock(str(target) + ".lock"):
        yield


@contextmanager
def _manifest_lock(data_dir: Path) -> Iterator[None]:
    with _locked(data_dir / MANIFEST_NAME):
        yield


def _manifest(data_dir: Path) -> dict[str, dict[str, Any]]:
    path = data_dir / MANIFEST_NAME
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))["files"]


def _write_manifest(data_dir: Path, files: dict[str, dict[str, Any]]) -> None:
    path = data_dir / MANIFEST_NAME
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({"version": 1, "files": files}, indent=1, sort_keys=True),
                         encoding="utf-8")
    os.replace(temporary, path)


def _record(data_dir: Path, row: RemoteFile, path: Path,
            members: dict[str, list[int]] | None) -> None:
    from pooch import file_hash

    entry: dict[str, Any] = {
        "name": row.name, "url": row.url(), "size": path.stat().st_size,
        "sha256": file_hash(str(path), alg="sha256"),
        "pinned_by": "registry" if row.md5 else "first verified download", "state": "ok",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if members is not None:
        entry["members"] = members
    with _manifest_lock(data_dir):
        files = _manifest(data_dir)
        files[row.local_path] = entry
        _write_manifest(data_dir, files)


def _size_of(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _members_present(data_dir: Path, entry: dict[str, Any]) -> bool:
    return all(_size_of(data_dir / path) == size
               for path, (size, _crc) in entry.get("members", {}).items())


def _entry_problem(data_dir: Path, local_path: str, entry: dict[str, Any]) -> str:
    if "members" in entry:
        for path, (size, crc) in entry["members"].items():
            found = _size_of(data_dir / path)
            if found is None:
                return f"member {path} is missing"
            if found != size:
                return f"member {path} has {found} bytes, expected {size}"
            if _crc32(data_dir / path) != crc:
                return f"member {path} fails its CRC check"
        return ""
    from pooch import file_hash

    found = _size_of(data_dir / local_path)
    if found is None:
        return "file is missing"
    if found != entry["size"]:
        return f"file has {found} bytes, expected {entry['size']}"
    if file_hash(str(data_dir / local_path), alg="sha256") != entry["sha256"]:
        return "SHA-256 differs from the one recorded at download"
    return ""


def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def _not_found(row: RemoteFile, where: Path, command: str,
               entry: dict[str, Any] | None) -> DataNotFoundError:
    how = f"`{command}`" if command else "the matching brainfeat.fetch* function"
    if entry is None:
        state = "is not in the local cache"
    elif entry.get("state") == "ok":
        state = "is in the local cache but some of its files are missing or changed"
    else:
        state = "was marked corrupt by `brainfeat verify-cache`"
    return DataNotFoundError(
        f"{row.name} {state} (expected at {where}) and download=False. "
        f"Fetch it with {how}, or call again with download=True.")
