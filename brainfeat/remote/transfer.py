"""Transferring one remote file into a partial file: endpoints, resume, deadlines.

:func:`download` fills ``<target>.part`` from the first of a row's endpoints that delivers
the file, resuming a partial file with HTTP Range (a server that ignores Range is read from
the start). An HTTP error, a ``202`` or empty answer, an HTML page (by its Content-Type or
by its first bytes) is a failed attempt at that endpoint, and the next one is tried.

Deadlines
---------
``stall_timeout`` (``BRAINFEAT_STALL_TIMEOUT``, default 20 s): an attempt that receives
less than 16 KiB in that many seconds has stalled; after three stalls (all endpoints
together) the file is given up, its partial file kept for the next fetch to resume.
``deadline`` (``BRAINFEAT_DEADLINE``, default 6 h): the longest one file may take in all.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brainfeat.errors import DownloadError, UnknownNameError
from brainfeat.remote.registry import RemoteFile

__all__ = ["Deadlines", "download", "looks_like_html", "size_of"]

CONNECT_ATTEMPTS = 5          # connections per endpoint (each resumes the partial file)
STALLS_PER_FILE = 3           # stalled attempts (all endpoints together) before giving up
MIN_PROGRESS = 1 << 14        # bytes an attempt must receive per stall window
CHUNK = 1 << 16               # bytes per read: what a cut connection can lose
STALL_ENV = "BRAINFEAT_STALL_TIMEOUT"
DEADLINE_ENV = "BRAINFEAT_DEADLINE"
DEFAULT_STALL_TIMEOUT = 20.0
DEFAULT_DEADLINE = 6 * 3600.0
_HTML_STARTS = (b"<!doctype", b"<html", b"<?xml", b"<!--", b"<head", b"<body")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class Deadlines:
    """How long a download may stall, and how long one file may take in all (seconds)."""

    stall: float = DEFAULT_STALL_TIMEOUT
    total: float = DEFAULT_DEADLINE

    @classmethod
    def resolve(cls, stall: float | None = None, total: float | None = None) -> Deadlines:
        """Arguments win over ``BRAINFEAT_STALL_TIMEOUT``/``BRAINFEAT_DEADLINE``, then defaults."""
        return cls(_seconds(stall, STALL_ENV, DEFAULT_STALL_TIMEOUT),
                   _seconds(total, DEADLINE_ENV, DEFAULT_DEADLINE))


def _seconds(value: float | None, env: str, default: float) -> float:
    origin = "argument" if value is not None else env
    text = value if value is not None else os.environ.get(env) or default
    try:
        seconds = float(text)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise UnknownNameError(
            f"{origin} {text!r} is not a number of seconds: expected a positive number such "
            f"as {default:g}. Fix it (or unset {env}) and retry.")
    return seconds


class _AttemptFailed(Exception):
    """One endpoint did not deliver the file (reason in the message)."""


class _Stalled(Exception):
    """An attempt received less than MIN_PROGRESS bytes in one stall window."""


class _Transfer:
    """Fill ``part`` with the whole file from the first endpoint that delivers it."""

    def __init__(self, row: RemoteFile, part: Path, progress: bool, limits: Deadlines) -> None:
        self.row, self.part, self.progress, self.limits = row, part, progress, limits
        self.give_up_at = time.monotonic() + limits.total

    def run(self) -> str:
        """Download; returns the URL that delivered the file."""
        import requests
        import urllib3

        urls = self.row.urls()
        failures: dict[str, str] = {}
        stalls = 0
        index = 0
        connections = dict.fromkeys(urls, 0)
        with requests.Session() as session:
            while len(failures) < len(urls):
                url = urls[index % len(urls)]
                index += 1
                if url in failures:
                    continue
                self._check_deadline()
                connections[url] += 1
                try:
                    if self._transfer(session, url):
                        return url
                    if connections[url] >= CONNECT_ATTEMPTS:
                        failures[url] = f"ended before its announced size {connections[url]} times"
                except _AttemptFailed as error:
                    failures[url] = str(error)
                    if size_of(self.part) == 0:
                        self.part.unlink()
                except (_Stalled, requests.Timeout, urllib3.exceptions.TimeoutError,
                        TimeoutError) as error:
                    stalls += 1
                    if stalls >= STALLS_PER_FILE:
                        raise self._error({**failures, url: f"stalled ({error})"},
                                          stalled=True) from None
                except (requests.RequestException, urllib3.exceptions.HTTPError,
                        OSError) as error:
                    if connections[url] >= CONNECT_ATTEMPTS:
                        failures[url] = f"failed {connections[url]} times ({error})"
                    else:
                        index -= 1  # resume at the same endpoint after a pause
                        time.sleep(min(0.2 * 2 ** (connections[url] - 1), 5.0))
        raise self._error(failures, stalled=False)

    def _check_deadline(self) -> None:
        if time.monotonic() > self.give_up_at:
            raise DownloadError(
                f"Downloading {self.row.name} took longer than its deadline of "
                f"{self.limits.total:g} s ({DEADLINE_ENV}); the partial file {self.part} is "
                "kept and the next fetch resumes it. Raise the deadline (argument "
                f"deadline= or {DEADLINE_ENV}) for a slow connection, or retry later.")

    def _error(self, failures: dict[str, str], stalled: bool) -> DownloadError:
        tried = "\n".join(f"  {url}: {reason}" for url, reason in failures.items())
        if stalled:
            advice = (f"The server stalled {STALLS_PER_FILE} times (less than {MIN_PROGRESS} "
                      f"bytes in {self.limits.stall:g} s); the partial file {self.part} is "
                      "kept and the next fetch resumes it. Retry later, or raise "
                      f"{STALL_ENV} for a very slow connection.")
        else:
            advice = (f"Nothing was cached. If BRAINFEAT_MIRRORS points '{self.row.source}' "
                      f"to a mirror, check that it serves '{self.row.remote_path}'; otherwise "
                      "retry later (see docs/data-access.md).")
        return DownloadError(f"Could not download {self.row.name}:\n{tried}\n{advice}")

    def _transfer(self, session: Any, url: str) -> bool:
        """One connection; True when the whole file is in ``.part``."""
        offset = size_of(self.part) or 0
        headers = {"Accept-Encoding": "identity"}  # the bytes as published, no transcoding
        if offset:
            headers["Range"] = f"bytes={offset}-"
        remaining = self.give_up_at - time.monotonic()
        timeout = (min(self.limits.stall, remaining), min(self.limits.stall, remaining))
        with session.get(url, stream=True, headers=headers, timeout=timeout) as response:
            if response.status_code == 416 and offset:  # stale partial file: start again
                self.part.unlink()
                return False
            _refuse_status(response)
            if offset and response.status_code != 206:
                offset = 0  # the server ignored Range: restart from zero
            content_type = response.headers.get("Content-Type", "")
            if "text/html" in content_type:  # no registered file is an HTML page
                raise _AttemptFailed(f"answered with an HTML page (Content-Type {content_type})")
            length = response.headers.get("Content-Length")
            expected = offset + int(length) if length is not None else None
            self._receive(response, offset, expected)
        size = size_of(self.part) or 0
        if size == 0:
            self.part.unlink(missing_ok=True)
            raise _AttemptFailed("answered with an empty body")
        return expected is None or size == expected

    def _receive(self, response: Any, offset: int, expected: int | None) -> None:
        from tqdm.auto import tqdm

        raw = response.raw
        window_start, window_bytes = time.monotonic(), 0
        with open(self.part, "ab" if offset else "wb", buffering=0) as sink, tqdm(
                total=expected, initial=offset, unit="B", unit_scale=True, leave=False,
                desc=self.row.name, disable=not self.progress) as bar:
            while chunk := raw.read1(CHUNK, decode_content=True):
                if sink.tell() == 0 and looks_like_html(chunk):
                    sink.truncate(0)
                    raise _AttemptFailed("answered with an HTML page (its body is markup)")
                sink.write(chunk)
                bar.update(len(chunk))
                window_bytes += len(chunk)
                now = time.monotonic()
                if now - window_start >= self.limits.stall:
                    if window_bytes < MIN_PROGRESS:
                        raise _Stalled(f"{window_bytes} bytes in {now - window_start:.0f} s")
                    window_start, window_bytes = now, 0
                if now > self.give_up_at:
                    self._check_deadline()


def _refuse_status(response: Any) -> None:
    status = response.status_code
    if status == 404:
        raise _AttemptFailed("404 Not Found: the server does not hold this file")
    if status >= 400:
        raise _AttemptFailed(f"HTTP {status} {response.reason}")
    if status in (202, 204):
        raise _AttemptFailed(f"HTTP {status} {response.reason} with no file (figshare answers "
                             "some clients 202 and an empty body)")


def looks_like_html(head: bytes) -> bool:
    """Whether the first bytes of a body are HTML (after a BOM and blank space), e.g.
    ``<!DOCTYPE``, ``<html``, ``<!--``; no registered file starts like that."""
    for bom in _BOMS:
        head = head.removeprefix(bom)
    return head.lstrip().lower().startswith(_HTML_STARTS)


def download(row: RemoteFile, part: Path, progress: bool, deadlines: Deadlines) -> str:
    """Fill ``part`` with the whole file of ``row``; returns the URL that delivered it.

    Raises
    ------
    DownloadError
        Naming every endpoint tried and what it answered, or the stall or the deadline.
    """
    return _Transfer(row, part, progress, deadlines).run()


def size_of(path: Path) -> int | None:
    """Size of a file in bytes, None if it does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None
