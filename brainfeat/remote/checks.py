"""Checks of a complete file before it is accepted: HTML, pinned size and MD5, structure.

A zip must be laid out member after member from byte 0, each local header agreeing with the
central directory, nothing after its end record; every member's CRC must match; it must
hold every file its :class:`ArchiveLayout` expects and nothing outside that layout's folder;
a re-download must hold the members (size, CRC) verified before.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from brainfeat.errors import BrainfeatError, DownloadError, IntegrityError, UnsafeArchiveError
from brainfeat.remote.registry import RemoteFile
from brainfeat.remote.transfer import CHUNK, looks_like_html

__all__ = ["VERIFIED", "ArchiveLayout", "digest", "member_target", "verify_file"]

#: The manifest's ``checks`` value of an entry that passed every check.
VERIFIED = "every check"


@dataclass(frozen=True)
class ArchiveLayout:
    """Where an archive's members go and which members it must hold.

    Attributes
    ----------
    strip : str
        Members keep the part of their path after this component (e.g. ``"decodedDNN"``);
        members without it are extracted as they are.
    extract_to : pathlib.Path
        Folder receiving the members.
    folder : pathlib.Path
        The folder below ``extract_to`` that the archive fills; a member outside it is refused.
    members : frozenset of str
        Every file the archive must hold, as paths below ``extract_to`` after ``strip``.
    """

    strip: str
    extract_to: Path
    folder: Path
    members: frozenset[str]


def verify_file(row: RemoteFile, path: Path, entry: dict[str, Any] | None,
                layout: ArchiveLayout | None, data_dir: Path, progress: bool,
                origin: str) -> None:
    """Every check of one complete file; raises IntegrityError/DownloadError naming it.

    Parameters
    ----------
    row : RemoteFile
        Gives the pinned size and MD5 and the structural check.
    path : pathlib.Path
        The complete file.
    entry : dict, optional
        Its manifest entry; its SHA-256 (or members) pin the file only if it passed every
        check when recorded.
    layout : ArchiveLayout, optional
        For a zip: the files it must hold.
    data_dir : pathlib.Path
        The data folder (manifest paths are relative to it).
    progress : bool
        Show a progress bar while a zip's members are checked.
    origin : str
        Names the file in messages (``"<name> from <url>"``, or an adopted file's path).
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(1024)
    if size == 0:
        raise IntegrityError(f"{origin} is empty.")
    if looks_like_html(head):
        raise DownloadError(f"{origin} is an HTML page, not {row.name} (its content is "
                            "markup); it was not cached.")
    if row.size is not None and size != row.size:
        raise IntegrityError(f"{origin} has {size} bytes; the registry expects {row.size}.")
    if row.md5 is not None and digest(path, "md5") != row.md5:
        raise IntegrityError(f"{origin} failed its checksum: MD5 differs from the "
                             f"registry's {row.md5}.")
    pinned = entry if entry and entry.get("checks") == VERIFIED else None
    if row.check == "zip":
        _verify_zip(row, path, layout, pinned, data_dir, progress, origin)
    elif row.md5 is None and pinned and "members" not in pinned and (
            digest(path, "sha256") != pinned["sha256"]):
        raise IntegrityError(f"{origin} failed its checksum: SHA-256 differs from the copy "
                             "verified before.")
    if row.check == "hdf5":
        import h5py

        try:
            with h5py.File(path, "r"):
                pass
        except OSError as error:
            raise IntegrityError(f"{origin} does not open as HDF5: {error}") from error
    elif row.check == "json":
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise IntegrityError(f"{origin} is not valid JSON: {error}") from error
    elif row.check == "gzip" and not head.startswith(b"\x1f\x8b"):
        raise IntegrityError(f"{origin} is not gzip-compressed.")


def _verify_zip(row: RemoteFile, path: Path, layout: ArchiveLayout | None,
                pinned: dict[str, Any] | None, data_dir: Path, progress: bool,
                origin: str) -> None:
    from tqdm.auto import tqdm

    def refuse(problem: str) -> IntegrityError:
        return IntegrityError(f"{origin} is not the published zip: {problem}.")

    try:
        with open(path, "rb") as handle, zipfile.ZipFile(handle) as archive:
            infos = archive.infolist()
            problem = _layout_problem(handle, infos, archive.start_dir)
            if problem:
                raise refuse(problem)
            if layout is not None:
                _check_members(infos, layout, refuse)
            if pinned is not None:
                _check_pinned_members(infos, layout, pinned, data_dir, refuse)
            with tqdm(total=sum(i.file_size for i in infos), unit="B", unit_scale=True,
                      leave=False, desc=f"checking {row.name}", disable=not progress) as bar:
                for info in infos:
                    with archive.open(info) as member:  # zipfile checks the CRC at the end
                        while block := member.read(CHUNK):
                            bar.update(len(block))
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError,
            ValueError, struct.error, RuntimeError) as error:  # RuntimeError: encrypted
        if isinstance(error, BrainfeatError):
            raise
        raise refuse(f"it is not a valid zip or a member is damaged ({error})") from error


def _layout_problem(handle: Any, infos: list[zipfile.ZipInfo], start_dir: int) -> str:
    """Members must follow each other from byte 0, each local header agreeing with the
    central directory, and the end record must close the file."""
    ordered = sorted(infos, key=lambda i: i.header_offset)
    position = 0
    for info, following in zip(ordered, [*ordered[1:], None]):
        if info.header_offset != position:
            return (f"member {info.filename} starts at byte {info.header_offset}, expected "
                    f"{position} (bytes before or between members)")
        handle.seek(position)
        (signature, _version, flags, method, mtime, mdate, crc, csize, usize, name_length,
         extra_length) = struct.unpack("<4s5H3L2H", handle.read(30))
        name = handle.read(name_length)
        date_time = info.date_time
        central = ((date_time[0] - 1980) << 9 | date_time[1] << 5 | date_time[2],
                   date_time[3] << 11 | date_time[4] << 5 | date_time[5] // 2)
        if (signature != b"PK\x03\x04" or method != info.compress_type
                or flags != info.flag_bits or (mdate, mtime) != central
                or name.decode("utf-8" if flags & 0x800 else "cp437") != info.orig_filename):
            return f"the local header of {info.filename} disagrees with the central directory"
        if not flags & 0x08 and 0xFFFFFFFF not in (csize, usize) and (
                (crc, csize, usize) != (info.CRC, info.compress_size, info.file_size)):
            return f"the local header of {info.filename} disagrees with the central directory"
        data_end = position + 30 + name_length + extra_length + info.compress_size
        position = start_dir if following is None else following.header_offset
        # a data descriptor (flag bit 3) follows the data: 12 or 20 bytes (zip64), each
        # with an optional 4-byte signature
        if position - data_end not in ((12, 16, 20, 24) if flags & 0x08 else (0,)):
            return (f"{position - data_end} bytes lie between the data of {info.filename} "
                    "and what follows it")
    if not ordered and start_dir != 0:
        return f"{start_dir} bytes lie before the central directory of an empty archive"
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - (1 << 16) - 22))
    tail = handle.read()
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or end + 22 + int.from_bytes(tail[end + 20:end + 22], "little") != len(tail):
        return "bytes follow the end of the archive"
    return ""


def _check_members(infos: list[zipfile.ZipInfo], layout: ArchiveLayout, refuse: Any) -> None:
    found = set()
    for info in infos:
        target = member_target(info.filename, layout.strip, layout.extract_to)
        if target is None:
            continue
        if not target.is_relative_to(layout.folder):
            raise refuse(f"member {info.filename} lies outside "
                         f"{layout.folder.relative_to(layout.extract_to).as_posix()}/")
        found.add(target.relative_to(layout.extract_to).as_posix())
    missing = sorted(layout.members - found)
    if missing:
        raise refuse(f"{len(missing)} of its {len(layout.members)} expected files are "
                     f"missing, e.g. {missing[0]}")


def _check_pinned_members(infos: list[zipfile.ZipInfo], layout: ArchiveLayout | None,
                          pinned: dict[str, Any], data_dir: Path, refuse: Any) -> None:
    """A re-download must hold the members (size, CRC) verified the first time."""
    if layout is None or "members" not in pinned:
        return
    recorded = {path: tuple(value) for path, value in pinned["members"].items()}
    for info in infos:
        target = member_target(info.filename, layout.strip, layout.extract_to)
        if target is None:
            continue
        key = target.relative_to(data_dir).as_posix()
        if key in recorded and recorded[key] != (info.file_size, info.CRC):
            raise refuse(f"failed its checksum: member {info.filename} differs from the copy "
                         "verified before (size and CRC)")


def digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file (``algorithm``: ``"md5"``, ``"sha256"``), read in blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def member_target(name: str, strip: str, extract_to: Path) -> Path | None:
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
