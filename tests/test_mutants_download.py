"""The download engine's rules that mutmut's mutants of it showed unwatched (issue 13).

``remote/checks.py`` (what a complete file must be), ``remote/transfer.py`` (how bytes
arrive: headers, statuses, resume, retries, stalls, deadlines) and ``remote/download.py``
(the manifest and the cache). Expected values are written out from the HTTP and zip rules
(zips are written byte by byte here, not by zipfile) and from hashlib, zlib and json, never
taken from the code under test. Equivalent mutants are listed in docs/mutation.md.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import socket
import struct
import time
import types
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import h5py
import pytest

from brainfeat.demo.server import RangeRequestHandler, serve_folder
from brainfeat.errors import DataNotFoundError, DownloadError, IntegrityError, UnknownNameError
from brainfeat.remote import transfer
from brainfeat.remote.checks import VERIFIED, digest, verify_file
from brainfeat.remote.registry import RemoteFile
from brainfeat.remote.transfer import Deadlines, looks_like_html

# A fetch that never ends (a retry loop that no longer stops, a sweep waiting for a held
# lock) fails its test instead of hanging the run.
pytestmark = pytest.mark.timeout(30)

FAST = Deadlines(stall=5.0, total=30.0)
BODY = bytes(range(256)) * 40  # 10,240 bytes, no markup


def _row(check: str = "text", size: int | None = None, md5: str | None = None,
         name: str = "extra/blob.bin") -> RemoteFile:
    return RemoteFile(name=f"ds001246/{name}", source="openneuro", remote_path=name,
                      local_path=f"ds001246/{name}", size=size, md5=md5, check=check)


# ----------------------------------------------------------------------------------------
# checks.py: what a complete file must be


def _verify(row: RemoteFile, path: Path, entry: dict | None = None) -> None:
    verify_file(row, path, entry, None, path.parent, False, f"{row.name} at {path}")


def _file(tmp_path: Path, content: bytes, name: str = "blob.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


HTML_HEADS = [b"<!DOCTYPE html><html>", b"<html lang='en'>", b"<?xml version='1.0'?><html>",
              b"<!-- error -->", b"<head><title>x</title>", b"<body>Denied</body>",
              b"<HTML>", b"<Body>", b"<!doctype html>"]
BOMS = [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]


@pytest.mark.parametrize("bom", BOMS, ids=["no BOM", "utf-8 BOM", "utf-16le BOM", "utf-16be BOM"])
@pytest.mark.parametrize("head", HTML_HEADS)
@pytest.mark.parametrize("space", [b"", b" \t\r\n  "], ids=["flush", "after blanks"])
def test_markup_heads_are_html(bom: bytes, head: bytes, space: bytes) -> None:
    assert looks_like_html(bom + space + head + BODY)


@pytest.mark.parametrize("head", [b"PK\x03\x04", b"\x89HDF\r\n", b"\x1f\x8b\x08",
                                  b"onset\tduration\n", b"{\"Name\": 1}", b"<svg>",
                                  b"<h1>", b"x<html>", b"html", b"\xef\xbb\xbfonset",
                                  b""])
def test_data_heads_are_not_html(head: bytes) -> None:
    """Only markup that starts the document (after a BOM and blanks) counts."""
    assert not looks_like_html(head)


def test_a_file_with_markup_is_refused_naming_it(tmp_path: Path) -> None:
    row = _row()
    path = _file(tmp_path, b"\xef\xbb\xbf\n<html><body>Denied</body></html>")
    with pytest.raises(DownloadError) as caught:
        _verify(row, path)
    assert str(caught.value) == (f"{row.name} at {path} is an HTML page, not {row.name} (its "
                                 "content is markup); it was not cached.")


def test_markup_is_looked_for_in_the_first_kilobyte(tmp_path: Path) -> None:
    _verify(_row(), _file(tmp_path, b" " * 1021 + b"<!--"))  # its last byte is byte 1025
    with pytest.raises(DownloadError, match="is an HTML page"):
        _verify(_row(), _file(tmp_path, b" " * 1020 + b"<!--"))


def test_an_empty_file_is_refused_naming_it(tmp_path: Path) -> None:
    row = _row()
    path = _file(tmp_path, b"")
    with pytest.raises(IntegrityError, match=f"^{row.name} at {path} is empty.$"):
        _verify(row, path)


@pytest.mark.parametrize("delta", [-1, 1])
def test_a_size_off_by_one_is_refused_with_both_sizes(tmp_path: Path, delta: int) -> None:
    row = _row(size=len(BODY) + delta)
    with pytest.raises(IntegrityError) as caught:
        _verify(row, _file(tmp_path, BODY))
    assert f"has {len(BODY)} bytes; the registry expects {len(BODY) + delta}." in str(
        caught.value)


def test_the_pinned_size_and_md5_accept_the_exact_file(tmp_path: Path) -> None:
    _verify(_row(size=len(BODY), md5=hashlib.md5(BODY).hexdigest()), _file(tmp_path, BODY))


def test_a_wrong_md5_is_refused_naming_the_pin(tmp_path: Path) -> None:
    pin = hashlib.md5(BODY[:-1]).hexdigest()
    with pytest.raises(IntegrityError, match=f"MD5 differs from the registry's {pin}"):
        _verify(_row(size=len(BODY), md5=pin), _file(tmp_path, BODY))


def _entry(content: bytes, checks: str = VERIFIED, **extra) -> dict:
    return {"name": "x", "size": len(content), "sha256": hashlib.sha256(content).hexdigest(),
            "checks": checks, "state": "ok", **extra}


def test_an_unpinned_file_must_match_the_sha256_verified_before(tmp_path: Path) -> None:
    path = _file(tmp_path, BODY)
    _verify(_row(), path, _entry(BODY))
    with pytest.raises(IntegrityError, match="SHA-256 differs from the copy verified before"):
        _verify(_row(), path, _entry(BODY[::-1]))


@pytest.mark.parametrize("entry", [
    _entry(BODY[::-1], checks="size"),       # recorded without every check: no pin
    _entry(BODY[::-1], checks=None),
    _entry(BODY[::-1], members={}),          # an archive's entry pins its members instead
], ids=["partly checked", "no checks", "archive entry"])
def test_an_entry_that_is_no_pin_does_not_refuse(tmp_path: Path, entry: dict) -> None:
    _verify(_row(), _file(tmp_path, BODY), entry)


def test_the_registry_md5_wins_over_a_recorded_sha256(tmp_path: Path) -> None:
    row = _row(md5=hashlib.md5(BODY).hexdigest())
    _verify(row, _file(tmp_path, BODY), _entry(BODY[::-1]))


def test_hdf5_check(tmp_path: Path) -> None:
    good = tmp_path / "good.h5"
    with h5py.File(good, "w") as handle:
        handle["x"] = [1, 2, 3]
    _verify(_row("hdf5"), good)
    bad = _file(tmp_path, BODY)
    with pytest.raises(IntegrityError, match=f"{bad} does not open as HDF5"):
        _verify(_row("hdf5"), bad)
    _verify(_row("text"), bad)  # the check follows the row


@pytest.mark.parametrize("content", [b"{\"Name\": ", b"\"caf\xe9\""], ids=["cut", "latin-1"])
def test_json_check(tmp_path: Path, content: bytes) -> None:
    _verify(_row("json"), _file(tmp_path, "{\"Name\": \"café\"}".encode()))
    bad = _file(tmp_path, content, "bad.json")
    with pytest.raises(IntegrityError, match=f"{bad} is not valid JSON"):
        _verify(_row("json"), bad)
    _verify(_row("text"), bad)


def test_gzip_check(tmp_path: Path) -> None:
    _verify(_row("gzip"), _file(tmp_path, gzip.compress(BODY)))
    bad = _file(tmp_path, b"\x1f\x8a" + BODY, "bad.gz")
    with pytest.raises(IntegrityError, match=f"{bad} is not gzip-compressed.$"):
        _verify(_row("gzip"), bad)
    _verify(_row("text"), bad)


def test_digest_reads_past_the_first_block(tmp_path: Path) -> None:
    content = BODY * 150  # 1.5 MiB: two blocks of 1 MiB
    path = _file(tmp_path, content)
    assert digest(path, "sha256") == hashlib.sha256(content).hexdigest()
    assert digest(path, "md5") == hashlib.md5(content).hexdigest()


# ----------------------------------------------------------------------------------------
# transfer.py: deadlines


def test_default_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BRAINFEAT_STALL_TIMEOUT", raising=False)
    monkeypatch.delenv("BRAINFEAT_DEADLINE", raising=False)
    assert Deadlines.resolve() == Deadlines(20.0, 6 * 3600.0) == Deadlines()
    monkeypatch.setenv("BRAINFEAT_STALL_TIMEOUT", "")  # set but empty: the default
    assert Deadlines.resolve() == Deadlines(20.0, 21600.0)


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAINFEAT_STALL_TIMEOUT", "3.5")
    monkeypatch.setenv("BRAINFEAT_DEADLINE", "1e-3")
    assert Deadlines.resolve() == Deadlines(3.5, 0.001)
    assert Deadlines.resolve(7, 8) == Deadlines(7.0, 8.0)
    assert Deadlines.resolve(total=9) == Deadlines(3.5, 9.0)


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", "soon", "1e400"])
@pytest.mark.parametrize("which", ["stall", "total"])
def test_a_bad_environment_value_names_the_variable(monkeypatch, value: str,
                                                    which: str) -> None:
    env = {"stall": "BRAINFEAT_STALL_TIMEOUT", "total": "BRAINFEAT_DEADLINE"}[which]
    default = {"stall": "20", "total": "21600"}[which]
    monkeypatch.setenv(env, value)
    with pytest.raises(UnknownNameError) as caught:
        Deadlines.resolve()
    assert str(caught.value) == (
        f"{env} {value!r} is not a number of seconds: expected a positive number such as "
        f"{default}. Fix it (or unset {env}) and retry.")


@pytest.mark.parametrize("value", [0.0, -2.0, float("inf"), float("nan"), [20.0]])
def test_a_bad_argument_is_named_as_an_argument(value: float) -> None:
    start = f"^argument {re.escape(repr(value))} is not a number of seconds"
    with pytest.raises(UnknownNameError, match=f"{start}.* such as 20. .*STALL_TIMEOUT"):
        Deadlines.resolve(value, 1.0)
    with pytest.raises(UnknownNameError, match=f"{start}.* such as 21600. .*DEADLINE"):
        Deadlines.resolve(1.0, value)


def test_the_smallest_positive_deadline_is_accepted() -> None:
    assert Deadlines.resolve(5e-324, 1e308) == Deadlines(5e-324, 1e308)


# ----------------------------------------------------------------------------------------
# transfer.py: a scripted server, request by request


class ScriptedHandler(RangeRequestHandler):
    """``script[path]``: successive answers, each ``(status, headers, body)`` or None
    (serve the file, with Range). Records each request's path and headers.

    A body shorter than its Content-Length is followed by a cut connection. An answer may
    carry a fourth item, ``(wait, pieces, pause)``: wait before answering, send the body in
    that many pieces with a pause after each (then keep the connection silent until the
    client gives up, when the body is short). (``tests/fault_server.py`` serves fixed fault
    modes; these tests compose each answer's status, headers and timing.)
    """

    script: ClassVar[dict[str, list]] = {}
    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def do_GET(self) -> None:
        type(self).seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        queue = type(self).script.get(self.path, [])
        answer = queue.pop(0) if queue else None
        if answer is None:
            return super().do_GET()
        status, headers, body, (wait, pieces, pause) = (*answer, (0, 1, 0))[:4]
        time.sleep(wait)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers:
            self.close_connection = True  # the body ends with the connection
        self.end_headers()
        size = -(-len(body) // pieces)
        try:
            for start in range(0, len(body), size):
                self.wfile.write(body[start:start + size])
                self.wfile.flush()
                time.sleep(pause)
        except OSError:
            return  # the client gave up
        if int(headers.get("Content-Length", len(body))) > len(body):  # cut the connection
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True


@contextmanager
def scripted(root: Path, monkeypatch: pytest.MonkeyPatch, script: dict[str, list] | None = None,
             bases: tuple[str, ...] = ("",)) -> Iterator[tuple[type[ScriptedHandler], str]]:
    handler = type("Handler", (ScriptedHandler,), {"script": dict(script or {}), "seen": []})
    with serve_folder(root, handler) as url:
        monkeypatch.setenv("BRAINFEAT_MIRRORS",
                           "openneuro=" + " ".join(f"{url}/{b}".rstrip("/") for b in bases))
        yield handler, url


def _octets(body: bytes, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/octet-stream",
                 "Content-Length": str(len(body)), **headers}, body


@pytest.fixture
def served(tmp_path: Path) -> tuple[RemoteFile, Path, Path]:
    """A row, its file on the server folder, and the .part to fill."""
    row = _row()
    (tmp_path / "server" / "extra").mkdir(parents=True)
    (tmp_path / "server" / "extra" / "blob.bin").write_bytes(BODY)
    part = tmp_path / "data" / "blob.bin.part"
    part.parent.mkdir()
    return row, tmp_path / "server", part


URL_PATH = "/extra/blob.bin"


def _range(headers: dict[str, str]) -> str | None:
    """The Range header of a request (unit names are case-insensitive)."""
    return headers["range"].lower() if "range" in headers else None


def test_a_fresh_download_asks_for_the_bytes_as_published(served, monkeypatch) -> None:
    row, server, part = served
    with scripted(server, monkeypatch) as (handler, url):
        assert transfer.download(row, part, False, FAST) == f"{url}{URL_PATH}"
    assert part.read_bytes() == BODY
    (path, headers), = handler.seen  # header names and codings are case-insensitive
    assert path == URL_PATH and headers["accept-encoding"].lower() == "identity"
    assert "range" not in headers


def test_a_partial_file_is_resumed_from_its_size(served, monkeypatch) -> None:
    row, server, part = served
    part.write_bytes(BODY[:1234])
    with scripted(server, monkeypatch) as (handler, _):
        transfer.download(row, part, False, FAST)
    assert part.read_bytes() == BODY
    assert [h["range"].lower() for _, h in handler.seen] == ["bytes=1234-"]


def test_a_stale_partial_file_longer_than_the_file_starts_again(served, monkeypatch) -> None:
    """416 Range Not Satisfiable for a partial file: deleted, then downloaded from zero."""
    row, server, part = served
    part.write_bytes(BODY + b"stale tail")
    with scripted(server, monkeypatch) as (handler, _):
        transfer.download(row, part, False, FAST)
    assert part.read_bytes() == BODY
    assert [_range(h) for _, h in handler.seen] == [f"bytes={len(BODY) + 10}-", None]


def test_a_416_without_a_partial_file_is_a_failed_attempt(served, monkeypatch) -> None:
    row, server, part = served
    refused = (416, {"Content-Length": "0"}, b"")
    with scripted(server, monkeypatch, {URL_PATH: [refused]}) as (handler, url), \
            pytest.raises(DownloadError, match=f"{url}{URL_PATH}: HTTP 416 Requested Range"):
        transfer.download(row, part, False, FAST)
    assert len(handler.seen) == 1 and not part.exists()


@pytest.mark.parametrize("status,reason", [
    (400, "HTTP 400 Bad Request"), (404, "404 Not Found: the server does not hold this file"),
    (410, "HTTP 410 Gone"), (500, "HTTP 500 Internal Server Error"),
    (202, "HTTP 202 Accepted with no file"), (204, "HTTP 204 No Content with no file")])
def test_a_refused_status_names_the_endpoint_and_the_status(served, monkeypatch, status,
                                                            reason) -> None:
    row, server, part = served
    answer = (status, {"Content-Length": "5"} if status != 204 else {}, b"" if status == 204
              else b"wait\n")
    with scripted(server, monkeypatch, {URL_PATH: [answer]}) as (handler, url), \
            pytest.raises(DownloadError) as caught:
        transfer.download(row, part, False, FAST)
    message = str(caught.value)
    assert message.startswith(f"Could not download {row.name}:\n  {url}{URL_PATH}: {reason}")
    assert message.endswith("\nNothing was cached. If BRAINFEAT_MIRRORS points 'openneuro' to a "
                            "mirror, check that it serves 'extra/blob.bin'; otherwise retry "
                            "later (see docs/data-access.md).")
    if status == 202:
        assert message.split("\n")[1].endswith(
            "with no file (figshare answers some clients 202 and an empty body)")
    assert len(handler.seen) == 1 and not part.exists()


@pytest.mark.parametrize("status", [200, 203, 299])
def test_a_success_status_delivers(served, monkeypatch, status: int) -> None:
    row, server, part = served
    _, headers, body = _octets(BODY)
    with scripted(server, monkeypatch, {URL_PATH: [(status, headers, body)]}):
        transfer.download(row, part, False, FAST)
    assert part.read_bytes() == BODY


@pytest.mark.parametrize("content_type", ["text/html", "text/html; charset=utf-8"])
def test_a_text_html_answer_is_refused_whatever_its_body(served, monkeypatch,
                                                         content_type: str) -> None:
    row, server, part = served
    answer = _octets(b"Service unavailable", **{"Content-Type": content_type})
    with scripted(server, monkeypatch, {URL_PATH: [answer]}) as (_, url), pytest.raises(
            DownloadError,
            match=f"{url}{URL_PATH}: answered with an HTML page \\(Content-Type {content_type}"):
        transfer.download(row, part, False, FAST)
    assert not part.exists()


def test_an_answer_without_a_length_is_complete_when_the_connection_ends(served,
                                                                         monkeypatch) -> None:
    row, server, part = served
    answer = (200, {}, BODY)  # no Content-Length, no Content-Type
    with scripted(server, monkeypatch, {URL_PATH: [answer]}) as (handler, _):
        transfer.download(row, part, False, FAST)
    assert part.read_bytes() == BODY and len(handler.seen) == 1


def test_an_empty_answer_is_a_failed_attempt(served, monkeypatch) -> None:
    row, server, part = served
    with scripted(server, monkeypatch, {URL_PATH: [_octets(b"")]}) as (_, url), \
            pytest.raises(DownloadError, match=f"{url}{URL_PATH}: answered with an empty body"):
        transfer.download(row, part, False, FAST)
    assert not part.exists()


def test_a_markup_body_is_refused_and_a_partial_file_survives_it(served, monkeypatch) -> None:
    """Markup at the start of a resumed body is data; at the start of the file it is a page."""
    row, server, part = served
    page = _octets(b"<!DOCTYPE html><html>Denied</html>")
    with scripted(server, monkeypatch, {URL_PATH: [page]}) as (_, url), pytest.raises(
            DownloadError, match=f"{url}{URL_PATH}: answered with an HTML page "
                                 r"\(its body is markup\)"):
        transfer.download(row, part, False, FAST)
    assert not part.exists()
    part.write_bytes(BODY[:100])
    rest = (206, {"Content-Type": "application/octet-stream",
                  "Content-Length": str(len(b"<html>"))}, b"<html>")
    with scripted(server, monkeypatch, {URL_PATH: [rest]}):
        transfer.download(row, part, False, FAST)
    assert part.read_bytes() == BODY[:100] + b"<html>"


def test_endpoints_are_tried_in_order_and_all_named(tmp_path, monkeypatch) -> None:
    row = _row()
    for base in ("a", "b", "c"):
        (tmp_path / base / "extra").mkdir(parents=True)
    (tmp_path / "c" / "extra" / "blob.bin").write_bytes(BODY)
    part = tmp_path / "blob.bin.part"
    with scripted(tmp_path, monkeypatch, bases=("a", "b", "c")) as (handler, url):
        assert transfer.download(row, part, False, FAST) == f"{url}/c{URL_PATH}"
        assert [path for path, _ in handler.seen] == [f"/a{URL_PATH}", f"/b{URL_PATH}",
                                                      f"/c{URL_PATH}"]
        (tmp_path / "c" / "extra" / "blob.bin").unlink()
        part.unlink()
        with pytest.raises(DownloadError) as caught:
            transfer.download(row, part, False, FAST)
    lines = str(caught.value).splitlines()
    assert lines[1:4] == [f"  {url}/{base}{URL_PATH}: 404 Not Found: the server does not hold "
                          "this file" for base in "abc"]


def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Replace transfer's pauses by a record of them (the clock keeps running)."""
    pauses: list[float] = []
    fake = types.SimpleNamespace(monotonic=time.monotonic, sleep=pauses.append)
    monkeypatch.setattr(transfer, "time", fake)
    return pauses


def test_a_connection_error_is_retried_with_growing_pauses_then_named(tmp_path,
                                                                      monkeypatch) -> None:
    """Five connections per endpoint, pauses of 0.2, 0.4, 0.8 and 1.6 s between them."""
    pauses = _no_sleep(monkeypatch)
    with socket.socket() as probe:  # a port that nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("BRAINFEAT_MIRRORS", f"openneuro={url}")
    with pytest.raises(DownloadError) as caught:
        transfer.download(_row(), tmp_path / "blob.bin.part", False, Deadlines(5.0, 5.0))
    assert pauses == [0.2, 0.4, 0.8, 1.6]
    assert f"  {url}{URL_PATH}: failed 5 times (" in str(caught.value)


def test_a_connection_error_is_resumed_at_the_same_endpoint(served, monkeypatch) -> None:
    row, server, part = served
    pauses = _no_sleep(monkeypatch)
    first = (200, {"Content-Length": str(len(BODY))}, BODY[:3000])
    second = (206, {"Content-Length": str(len(BODY) - 3000)}, BODY[3000:6000])
    with scripted(server, monkeypatch, {URL_PATH: [first, second]}) as (handler, url):
        assert transfer.download(row, part, False, FAST) == f"{url}{URL_PATH}"
    assert part.read_bytes() == BODY
    assert [_range(h) for _, h in handler.seen] == [None, "bytes=3000-", "bytes=6000-"]
    assert pauses == [0.2, 0.4]


def test_the_pause_between_connections_is_at_most_five_seconds(served, monkeypatch) -> None:
    row, server, part = served
    pauses = _no_sleep(monkeypatch)
    monkeypatch.setattr(transfer, "CONNECT_ATTEMPTS", 8)
    cut = (200, {"Content-Length": str(len(BODY))}, BODY[:10])
    with scripted(server, monkeypatch, {URL_PATH: [cut] * 7}):
        transfer.download(row, part, False, FAST)
    assert pauses == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert part.read_bytes() == BODY


# ----------------------------------------------------------------------------------------
# download.py: the manifest


def _manifest(data: Path, files: object) -> None:
    data.mkdir(parents=True, exist_ok=True)
    (data / "manifest.json").write_text(json.dumps({"version": 1, "files": files}))


GOOD = {"name": "a", "size": 3, "sha256": "0" * 64, "state": "ok"}


@pytest.mark.parametrize("entry", [
    5, [], None,
    {**GOOD, "name": 1}, {**GOOD, "size": "3"}, {**GOOD, "size": 3.0}, {**GOOD, "sha256": None},
    {**GOOD, "state": "fine"}, {**GOOD, "state": None},
    {k: v for k, v in GOOD.items() if k != "name"}, {k: v for k, v in GOOD.items() if k != "size"},
    {k: v for k, v in GOOD.items() if k != "sha256"},
    {k: v for k, v in GOOD.items() if k != "state"},
    {**GOOD, "members": []}, {**GOOD, "members": "all"},
    {**GOOD, "members": {"m": [1]}}, {**GOOD, "members": {"m": [1, 2, 3]}},
    {**GOOD, "members": {"m": [1, "2"]}}, {**GOOD, "members": {"m": ["1", 2]}},
    {**GOOD, "members": {"m": [1, 2], "n": [1, 2.5]}},
])
def test_a_malformed_entry_is_dropped_and_its_neighbours_kept(tmp_path, entry) -> None:
    from brainfeat.remote.download import manifest_entries

    kept = {"ok": GOOD, "corrupt": {**GOOD, "state": "corrupt"},
            "archive": {**GOOD, "members": {"m": [1, 2], "n": [0, 0]}},
            "no members": {**GOOD, "members": {}}}
    _manifest(tmp_path, {**kept, "bad": entry})
    assert manifest_entries(tmp_path) == kept


def test_an_unreadable_manifest_is_set_aside_at_the_next_write_a_readable_one_is_not(
        tmp_path, served, monkeypatch) -> None:
    from brainfeat.remote.download import fetch_file, manifest_entries

    row, server, _ = served
    data = tmp_path / "data"
    (data / "manifest.json").write_text('{"files": [1]}')
    with pytest.warns(RuntimeWarning) as caught, scripted(server, monkeypatch):
        fetch_file(row, data, progress=False, deadlines=FAST)
    assert {str(w.message) for w in caught} == {(
        f"The cache manifest {data / 'manifest.json'} is unreadable (TypeError: 'files' is "
        "not an object); it is set aside as manifest.json.corrupt at the next write, and files "
        "on disk are re-verified when next fetched (or run `brainfeat cache check`).")}
    assert (data / "manifest.json.corrupt").read_text() == '{"files": [1]}'
    (data / "manifest.json.corrupt").unlink()
    written = json.loads((data / "manifest.json").read_text())
    assert written["version"] == 1 and set(written["files"]) == {row.local_path}
    other = _row(name="extra/other.bin")
    (server / "extra" / "other.bin").write_bytes(BODY[::-1])
    with scripted(server, monkeypatch):
        fetch_file(other, data, progress=False, deadlines=FAST)
    assert not (data / "manifest.json.corrupt").exists()
    assert set(manifest_entries(data)) == {row.local_path, other.local_path}


# ----------------------------------------------------------------------------------------
# download.py: fetching one file


def _fetch(row: RemoteFile, data: Path, **kw) -> Path:
    from brainfeat.remote.download import fetch_file

    return fetch_file(row, data, **{"progress": False, "deadlines": FAST, **kw})


@pytest.mark.parametrize("pinned", [True, False])
def test_a_fetched_file_is_recorded_with_its_hash_and_origin(tmp_path, served, monkeypatch,
                                                             pinned: bool) -> None:
    from brainfeat.remote.download import manifest_entries

    row, server, _ = served
    if pinned:
        row = _row(size=len(BODY), md5=hashlib.md5(BODY).hexdigest())
    before = time.time()
    with scripted(server, monkeypatch) as (handler, url):
        path = _fetch(row, tmp_path / "data")
        assert _fetch(row, tmp_path / "data") == path  # the second time from the cache
    assert path == tmp_path / "data" / row.local_path and path.read_bytes() == BODY
    assert len(handler.seen) == 1
    entry = manifest_entries(tmp_path / "data")[row.local_path]
    recorded = time.mktime(time.strptime(entry.pop("time"), "%Y-%m-%dT%H:%M:%S"))
    assert before - 1 <= recorded <= time.time()
    assert entry == {"name": row.name, "url": f"{url}{URL_PATH}", "size": len(BODY),
                     "sha256": hashlib.sha256(BODY).hexdigest(), "checks": "every check",
                     "pinned_by": "registry" if pinned else "first verified download",
                     "state": "ok"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["blob.bin", "blob.bin.lock"]


def test_a_cached_file_of_the_recorded_size_is_trusted_another_size_is_checked(
        tmp_path, served, monkeypatch) -> None:
    """The fast path compares sizes only (``verify_cache`` reads the bytes)."""
    from brainfeat.remote.download import CacheProblem, verify_cache

    row, server, _ = served
    data = tmp_path / "data"
    with scripted(server, monkeypatch) as (handler, _):
        path = _fetch(row, data)
        path.write_bytes(BODY[::-1])  # same size
        assert _fetch(row, data, download=False) == path and len(handler.seen) == 1
        assert verify_cache(data) == (1, [CacheProblem(
            row.local_path, "SHA-256 differs from the one recorded at download")])
        path.write_bytes(BODY + b"x")
        assert _fetch(row, data) == path and len(handler.seen) == 2
    assert path.read_bytes() == BODY


def test_a_file_found_without_its_entry_is_verified_and_recorded(tmp_path, served,
                                                                 monkeypatch) -> None:
    from brainfeat.remote.download import manifest_entries

    row = _row(size=len(BODY), md5=hashlib.md5(BODY).hexdigest())
    target = tmp_path / "data" / row.local_path
    target.parent.mkdir(parents=True)
    target.write_bytes(BODY)
    assert _fetch(row, tmp_path / "data", download=False) == target
    assert manifest_entries(tmp_path / "data")[row.local_path]["pinned_by"] == "registry"
    target.write_bytes(BODY[::-1])  # fails its MD5: not recorded, downloaded again
    (tmp_path / "data" / "manifest.json").unlink()
    _, server, _ = served
    with scripted(server, monkeypatch) as (handler, _):
        assert _fetch(row, tmp_path / "data").read_bytes() == BODY
    assert len(handler.seen) == 1


@pytest.mark.parametrize("command,how", [
    ("", "the matching brainfeat.fetch* function"),
    ("brainfeat fetch file x", "`brainfeat fetch file x`")])
def test_download_false_says_what_is_wrong_and_how_to_fetch(tmp_path, served, monkeypatch,
                                                            command: str, how: str) -> None:
    from brainfeat.remote.download import verify_cache

    row, server, _ = served
    data = tmp_path / "data"
    target = data / row.local_path

    def refused() -> str:
        named = {"command": command} if command else {}  # else the default
        with pytest.raises(DataNotFoundError) as caught:
            _fetch(row, data, download=False, **named)
        return str(caught.value)

    tail = (f" (expected at {target}) and download=False. Fetch it with {how}, or call again "
            "with download=True.")
    assert refused() == f"{row.name} is not in the local cache{tail}"
    with scripted(server, monkeypatch):
        _fetch(row, data)
    target.write_bytes(BODY[:-7])
    assert refused() == (f"{row.name} is in the local cache but damaged (file has "
                         f"{len(BODY) - 7} bytes, expected {len(BODY)}){tail}")
    target.unlink()
    assert refused() == f"{row.name} is in the local cache but damaged (file is missing){tail}"
    verify_cache(data)
    assert refused() == f"{row.name} was marked corrupt by `brainfeat verify-cache`{tail}"
    assert not (data / (row.local_path + ".part")).exists()


def test_a_pinned_file_failing_twice_is_refused_and_nothing_is_kept(tmp_path, served,
                                                                    monkeypatch) -> None:
    from brainfeat.remote.download import manifest_entries

    row = _row(size=len(BODY), md5=hashlib.md5(BODY).hexdigest())
    _, server, _ = served
    wrong = _octets(BODY[::-1])
    with scripted(server, monkeypatch, {URL_PATH: [wrong, wrong]}) as (handler, url), \
            pytest.raises(IntegrityError) as caught:
        _fetch(row, tmp_path / "data")
    message = str(caught.value)
    assert message.startswith(f"{row.name} from {url}{URL_PATH} failed its checksum")
    assert message.endswith("\nRefused after 2 downloads; nothing was cached. If "
                            "BRAINFEAT_MIRRORS points 'openneuro' to a mirror, check its copy; "
                            "otherwise retry later.")
    assert len(handler.seen) == 2 and manifest_entries(tmp_path / "data") == {}
    assert sorted(p.name for p in (tmp_path / "data" / "ds001246" / "extra").iterdir()) == [
        "blob.bin.lock"]
    with scripted(server, monkeypatch, {URL_PATH: [wrong]}) as (handler, _):
        assert _fetch(row, tmp_path / "data").read_bytes() == BODY  # the second one is right
    assert len(handler.seen) == 2


def test_a_file_failing_its_checks_is_not_left_in_place(tmp_path, served,
                                                       monkeypatch) -> None:
    row = _row(size=len(BODY), md5=hashlib.md5(BODY).hexdigest())
    _, server, _ = served
    target = tmp_path / "data" / row.local_path
    target.parent.mkdir(parents=True)
    target.write_bytes(BODY[::-1])
    wrong = _octets(BODY[::-1])
    with scripted(server, monkeypatch, {URL_PATH: [wrong, wrong]}), \
            pytest.raises(IntegrityError, match="Refused after 2 downloads"):
        _fetch(row, tmp_path / "data")
    assert not target.exists()


def test_html_found_on_disk_or_in_a_resumed_file_is_downloaded_again(tmp_path, served,
                                                                    monkeypatch) -> None:
    """An HTML page is a DownloadError of verify_file: the file is fetched again (once more
    when it came from a download)."""
    row, server, _ = served
    target = tmp_path / "data" / row.local_path
    target.parent.mkdir(parents=True)
    target.write_bytes(b"<html>" + BODY)  # a page cached by something else
    part = target.with_name("blob.bin.part")
    part.write_bytes(b"<html>")  # a partial file that began with markup
    with scripted(server, monkeypatch) as (handler, _):
        assert _fetch(row, tmp_path / "data").read_bytes() == BODY
    assert [_range(h) for _, h in handler.seen] == ["bytes=6-", None]


def test_adopting_a_file_checks_it_like_a_download(tmp_path) -> None:
    from brainfeat.remote.download import adopt_file, manifest_entries

    row = _row(size=len(BODY), md5=hashlib.md5(BODY).hexdigest())
    data = tmp_path / "data"
    missing = tmp_path / "nowhere.bin"
    with pytest.raises(DataNotFoundError, match=(
            f"^{missing} is not a file: pass the path of a downloaded {row.name}.$")):
        adopt_file(row, missing, data, progress=False)
    wrong = _file(tmp_path, BODY[::-1], "wrong.bin")
    with pytest.raises(IntegrityError, match=f"^{wrong} failed its checksum"):
        adopt_file(row, wrong, data, progress=False)
    folder = data / "ds001246" / "extra"
    assert [p.name for p in folder.iterdir()] == ["blob.bin.lock"]
    mine = _file(tmp_path, BODY, "mine.bin")
    assert adopt_file(row, mine, data, progress=False) == data / row.local_path
    assert (data / row.local_path).read_bytes() == BODY and mine.read_bytes() == BODY
    assert manifest_entries(data)[row.local_path]["sha256"] == hashlib.sha256(BODY).hexdigest()


# ----------------------------------------------------------------------------------------
# download.py: verify_cache, forget_entry, sweeps


def _crc(content: bytes) -> int:
    return zlib.crc32(content)


def test_verify_cache_names_each_problem_and_marks_it_corrupt(tmp_path) -> None:
    from brainfeat.remote.download import CacheProblem, manifest_entries, verify_cache

    big = BODY * 10  # 100 KiB: more than one block of the CRC
    files = {"a/ok.bin": big, "a/short.bin": big[:-1], "a/changed.bin": big[::-1],
             "m/ok.mat": big, "m/short.mat": big[:-2], "m/flipped.mat": big[::-1]}
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(content)

    def entry(**extra) -> dict:
        return {"name": "x", "size": len(big), "sha256": hashlib.sha256(big).hexdigest(),
                "checks": VERIFIED, "state": "ok", **extra}

    pair = [len(big), _crc(big)]
    _manifest(tmp_path, {
        "a/ok.bin": entry(), "a/short.bin": entry(), "a/changed.bin": entry(),
        "a/gone.bin": entry(),
        "z/good.zip": entry(members={"m/ok.mat": pair}),
        "z/gone.zip": entry(members={"m/ok.mat": pair, "m/gone.mat": pair}),
        "z/short.zip": entry(members={"m/short.mat": pair}),
        "z/flipped.zip": entry(members={"m/flipped.mat": pair}),
        "z/empty.zip": entry(members={}),  # an archive of no members, its zip long gone
    })
    checked, problems = verify_cache(tmp_path)
    assert checked == 9
    assert problems == [
        CacheProblem("a/changed.bin", "SHA-256 differs from the one recorded at download"),
        CacheProblem("a/gone.bin", "file is missing"),
        CacheProblem("a/short.bin", f"file has {len(big) - 1} bytes, expected {len(big)}"),
        CacheProblem("z/flipped.zip", "member m/flipped.mat fails its CRC check"),
        CacheProblem("z/gone.zip", "member m/gone.mat is missing"),
        CacheProblem("z/short.zip", f"member m/short.mat has {len(big) - 2} bytes, expected "
                                    f"{len(big)}"),
    ]
    states = {path: entry["state"] for path, entry in manifest_entries(tmp_path).items()}
    assert states == {"a/ok.bin": "ok", "z/good.zip": "ok", "z/empty.zip": "ok",
                      **{problem.path: "corrupt" for problem in problems}}


def test_forget_deletes_an_archives_members_its_part_and_its_entry(tmp_path) -> None:
    from brainfeat.remote.download import forget_entry, manifest_entries

    members = {"m/one.mat": b"1", "m/two.mat": b"22"}
    for name, content in {**members, "z/a.zip.part": b"p", "m/other.mat": b"3"}.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(content)
    entry = {"name": "a.zip", "size": 9, "sha256": "0" * 64, "state": "ok",
             "members": {name: [len(c), _crc(c)] for name, c in members.items()}}
    keep = {**entry, "members": {}}
    _manifest(tmp_path, {"z/a.zip": entry, "z/b.zip": keep})
    removed = forget_entry(tmp_path, "z/a.zip")
    assert removed == [tmp_path / "m/one.mat", tmp_path / "m/two.mat", tmp_path / "z/a.zip.part"]
    assert not any(path.exists() for path in removed) and (tmp_path / "m/other.mat").exists()
    assert manifest_entries(tmp_path) == {"z/b.zip": keep}
    assert forget_entry(tmp_path, "z/a.zip") == []


def test_forgetting_what_is_not_recorded_writes_no_manifest(tmp_path) -> None:
    from brainfeat.remote.download import forget_entry

    (tmp_path / "x.bin").write_bytes(b"x")
    assert forget_entry(tmp_path, "x.bin") == [tmp_path / "x.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json.lock", "x.bin.lock"]


def test_only_pooch_temporaries_are_swept(tmp_path) -> None:
    from brainfeat.remote.download import sweep_temporaries

    assert sweep_temporaries(tmp_path / "absent") == []
    stale = [tmp_path / "a" / "tmpk2x9_a1b", tmp_path / "a" / "tmp", tmp_path / "b" / "tmpzz"]
    kept = [tmp_path / "a" / "tmp.zip", tmp_path / "a" / "atmp1234", tmp_path / "a" / "x.part",
            tmp_path / "a" / "Tmp12345", tmp_path / "c" / "tmpdir" / "inside"]
    for path in stale + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert sweep_temporaries(tmp_path) == sorted(stale)
    assert all(path.exists() for path in kept) and not any(p.exists() for p in stale)


def test_a_held_lock_protects_a_folder_from_sweeping(tmp_path) -> None:
    from filelock import FileLock

    from brainfeat.remote.checks import ArchiveLayout
    from brainfeat.remote.download import sweep_extraction, sweep_temporaries

    stale = tmp_path / "downloads" / "tmpk2x9_a1b"
    half = tmp_path / "layer" / "sub" / "a.mat.extracting"
    for path in (stale, half):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
    row = _row(name="downloads/layer.zip")
    row = RemoteFile(**{**row.__dict__, "local_path": "downloads/layer.zip"})
    layout = ArchiveLayout("decodedDNN", tmp_path, tmp_path / "layer", frozenset())
    lock = FileLock(str(tmp_path / "downloads" / "layer.zip.lock"))
    with lock:
        assert sweep_temporaries(tmp_path) == [] and stale.exists()
        assert sweep_extraction(row, tmp_path, layout) == [] and half.exists()
    assert sweep_extraction(row, tmp_path, layout) == [half] and not half.exists()
    assert sweep_temporaries(tmp_path) == [stale] and not stale.exists()
    assert sweep_extraction(row, tmp_path, ArchiveLayout("d", tmp_path, tmp_path / "no",
                                                         frozenset())) == []


# ----------------------------------------------------------------------------------------
# transfer.py: slow servers, several endpoints, compressed answers


@pytest.mark.parametrize("kind", ["silent", "trickle"])
def test_a_stalled_answer_is_retried_three_times_then_kept_for_resuming(served, monkeypatch,
                                                                        kind: str) -> None:
    """Silent: 100 bytes, then nothing (the read times out). Trickle: 100 bytes every 0.1 s,
    less than 16 KiB per window of 0.3 s."""
    row, server, part = served
    pieces = (0, 1, 1.5) if kind == "silent" else (0, 100, 0.1)
    stalled = (200, {"Content-Length": str(len(BODY))}, BODY[:100] if kind == "silent" else BODY,
               pieces)
    limits = Deadlines(stall=0.3, total=6.0)
    with scripted(server, monkeypatch, {URL_PATH: [stalled] * 4}) as (handler, url), \
            pytest.raises(DownloadError) as caught:
        transfer.download(row, part, False, limits)
    assert len(handler.seen) == 3
    message = str(caught.value)
    assert f"  {url}{URL_PATH}: stalled (" in message
    assert message.endswith(f"The server stalled 3 times (less than 16384 bytes in 0.3 s); "
                            f"the partial file {part} is kept and the next fetch resumes it. "
                            "Retry later, or raise BRAINFEAT_STALL_TIMEOUT for a very slow "
                            "connection.")
    kept = part.read_bytes()
    assert kept and BODY.startswith(kept)
    if kind == "trickle":
        received, seconds = map(int, re.search(r"stalled \((\d+) bytes in (\d+) s\)",
                                               message).groups())
        assert 0 < received < 16384 and seconds < 60


def test_a_steady_slow_answer_is_no_stall(served, monkeypatch) -> None:
    """200 KiB in 4-KiB pieces 20 ms apart for 1 s: each read is far below the 16 KiB a
    window of 0.5 s must bring, the ~100 KiB a window brings is far above it."""
    row, server, part = served
    body = BODY * 20
    steady = (200, {"Content-Length": str(len(body))}, body, (0, 50, 0.02))
    with scripted(server, monkeypatch, {URL_PATH: [steady]}) as (handler, _):
        transfer.download(row, part, False, Deadlines(stall=0.5, total=20.0))
    assert part.read_bytes() == body and len(handler.seen) == 1


def test_the_deadline_also_bounds_the_wait_for_an_answer(served, monkeypatch) -> None:
    """A server silent past the deadline is given up at the deadline (the file would come
    after 2.5 s), not after the stall timeout."""
    row, server, part = served
    late = (*_octets(BODY), (2.5, 1, 0))
    with scripted(server, monkeypatch, {URL_PATH: [late]}), \
            pytest.raises(DownloadError) as caught:
        transfer.download(row, part, False, Deadlines(stall=60.0, total=0.5))
    assert str(caught.value) == (
        f"Downloading {row.name} took longer than its deadline of 0.5 s (BRAINFEAT_DEADLINE); "
        f"the partial file {part} is kept and the next fetch resumes it. Raise the deadline "
        "(argument deadline= or BRAINFEAT_DEADLINE) for a slow connection, or retry later.")


def test_a_failing_endpoint_keeps_the_partial_file_for_the_next(tmp_path, monkeypatch) -> None:
    row = _row()
    (tmp_path / "a" / "extra").mkdir(parents=True)
    (tmp_path / "b" / "extra").mkdir(parents=True)
    (tmp_path / "b" / "extra" / "blob.bin").write_bytes(BODY)
    part = tmp_path / "blob.bin.part"
    part.write_bytes(BODY[:1000])
    with scripted(tmp_path, monkeypatch, bases=("a", "b")) as (handler, url):
        assert transfer.download(row, part, False, FAST) == f"{url}/b{URL_PATH}"
    assert [(p, h["range"].lower()) for p, h in handler.seen] == [(f"/a{URL_PATH}", "bytes=1000-"),
                                                          (f"/b{URL_PATH}", "bytes=1000-")]
    assert part.read_bytes() == BODY


def test_a_failed_endpoint_is_not_asked_again(tmp_path, monkeypatch) -> None:
    """a: 404; b: 416 for a stale partial file, then the file; a is skipped in between."""
    row = _row()
    for base in ("a", "b"):
        (tmp_path / base / "extra").mkdir(parents=True)
    (tmp_path / "b" / "extra" / "blob.bin").write_bytes(BODY)
    part = tmp_path / "blob.bin.part"
    part.write_bytes(BODY + b"stale")
    with scripted(tmp_path, monkeypatch, bases=("a", "b")) as (handler, _):
        transfer.download(row, part, False, FAST)
    assert [(p, _range(h)) for p, h in handler.seen] == [
        (f"/a{URL_PATH}", f"bytes={len(BODY) + 5}-"), (f"/b{URL_PATH}", f"bytes={len(BODY) + 5}-"),
        (f"/b{URL_PATH}", None)]
    assert part.read_bytes() == BODY


def test_a_cut_connection_resumes_at_the_same_endpoint(tmp_path, monkeypatch) -> None:
    row = _row()
    for base in ("a", "b", "c"):
        (tmp_path / base / "extra").mkdir(parents=True)
        (tmp_path / base / "extra" / "blob.bin").write_bytes(BODY)
    _no_sleep(monkeypatch)
    cut = (200, {"Content-Length": str(len(BODY))}, BODY[:3000])
    with scripted(tmp_path, monkeypatch, {f"/a{URL_PATH}": [cut]}, bases=("a", "b", "c")) as (
            handler, url):
        assert transfer.download(row, tmp_path / "blob.part", False, FAST) == f"{url}/a{URL_PATH}"
    assert [(p, _range(h)) for p, h in handler.seen] == [(f"/a{URL_PATH}", None),
                                                              (f"/a{URL_PATH}", "bytes=3000-")]


def test_a_compressed_answer_never_yields_compressed_bytes(served, monkeypatch) -> None:
    """A server that compresses although asked not to: its body is decoded before it is
    checked, so a compressed HTML page is refused as HTML; the decoded length never matches
    the announced (compressed) one, so a compressed file is refused after five connections."""
    row, server, part = served
    page = gzip.compress(b"<!DOCTYPE html><html>Denied</html>")
    packed = gzip.compress(BODY)
    answers = [_octets(page, **{"Content-Encoding": "gzip"}),
               *[_octets(packed, **{"Content-Encoding": "gzip"})] * 5]
    with scripted(server, monkeypatch, {URL_PATH: answers}) as (handler, url):
        with pytest.raises(DownloadError, match="answered with an HTML page"):
            transfer.download(row, part, False, FAST)
        assert not part.exists()
        with pytest.raises(DownloadError, match=f"{url}{URL_PATH}: ended before its announced "
                                                "size 5 times"):
            transfer.download(row, part, False, FAST)
    assert len(handler.seen) == 6 and part.read_bytes() == BODY


def test_progress_shows_the_file_name_and_its_size(served, monkeypatch, capsys) -> None:
    row, server, part = served
    part.write_bytes(BODY[:1234])
    with scripted(server, monkeypatch):
        transfer.download(row, part, True, FAST)
    shown = capsys.readouterr().err
    assert f"{row.name}:" in shown and "1.23k/10.2k [" in shown and "B/s]" in shown
    assert "\n" not in shown  # the bar is cleared, not left behind
    part.unlink()
    with scripted(server, monkeypatch):
        transfer.download(row, part, False, FAST)
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------------------
# checks.py: zip layout, written byte by byte here (APPNOTE 6.3) rather than by zipfile


def _dos(date_time: tuple[int, ...]) -> tuple[int, int]:
    year, month, day, hour, minute, second = date_time
    return hour << 11 | minute << 5 | second // 2, (year - 1980) << 9 | month << 5 | day


def _descriptor(length: int, crc: int, size: int) -> bytes:
    """A data descriptor: 12 or 20 bytes (zip64), each with an optional signature; any
    other length is filler."""
    signature = b"PK\x07\x08" if length in (16, 24) else b""
    if length in (12, 16):
        return signature + struct.pack("<LLL", crc, size, size)
    if length in (20, 24):
        return signature + struct.pack("<LQQ", crc, size, size)
    return b"\x00" * length


def _zip(members: dict[str, bytes], *, descriptor: int = 0, announce: bool = True,
         utf8: bool = True, comment: bytes = b"", junk: bytes = b"",
         zip64_local: bool = False, local: dict[str, object] | None = None,
         when: tuple[int, ...] = (2019, 1, 2, 12, 30, 7), reverse: bool = False,
         encrypted: bool = False) -> bytes:
    """Stored members, each followed by ``descriptor`` bytes when not 0 (announced by flag
    bit 3 unless ``announce`` is False); ``junk`` before the whole archive; ``local``
    overrides fields of every local header (``signature``, ``flags``, ``method``, ``time``,
    ``crc``, ``name``); ``reverse`` lists the members in the central directory last first;
    ``encrypted`` sets flag bit 0 (the data is not really encrypted)."""
    local = local or {}
    mtime, mdate = _dos(when)
    out, entries = bytearray(junk), []
    for name, data in members.items():
        encoded = name.encode("utf-8" if utf8 else "cp437")
        deferred = bool(descriptor) and announce
        flags = ((0x08 if deferred else 0) | (0x800 if utf8 and not name.isascii() else 0)
                 | (0x01 if encrypted else 0))
        crc, offset = zlib.crc32(data), len(out) - len(junk)
        sizes = (0, 0) if deferred else (len(data), len(data))
        extra = b""
        if zip64_local:
            sizes = (0xFFFFFFFF, 0xFFFFFFFF)
            extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out += struct.pack(
            "<4s5H3L2H", local.get("signature", b"PK\x03\x04"), 20, local.get("flags", flags),
            local.get("method", 0), local.get("time", mtime), mdate,
            0 if deferred else local.get("crc", crc), *sizes,
            len(local.get("name", encoded)), len(extra))
        out += local.get("name", encoded) + extra + data
        if descriptor:
            out += _descriptor(descriptor, crc, len(data))
        entries.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, flags, 0, mtime,
                                   mdate, crc, len(data), len(data), len(encoded), 0, 0, 0, 0,
                                   0, offset) + encoded)
    central = b"".join(entries[::-1] if reverse else entries)
    start = len(out) - len(junk)
    out += central + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members),
                                 len(central), start, len(comment)) + comment
    return bytes(out)


ZIP_ROW = _row("zip", name="extra/layer.zip")
MEMBERS = {"decodedDNN/t/fc8/a.mat": BODY, "decodedDNN/t/fc8/b.mat": BODY[::-1] * 8}


def _verify_zip(tmp_path: Path, content: bytes, entry: dict | None = None,
                layout=None) -> Path:
    path = _file(tmp_path, content, "layer.zip")
    verify_file(ZIP_ROW, path, entry, layout, tmp_path, False, "layer.zip from mirror")
    return path


@pytest.mark.parametrize("options", [
    {}, {"descriptor": 12}, {"descriptor": 16}, {"descriptor": 20}, {"descriptor": 24},
    {"comment": b"made by hand"}, {"comment": b"c" * 65535}, {"zip64_local": True},
    {"utf8": False},
    {"when": (2007, 12, 31, 23, 59, 59)}, {"when": (1980, 1, 1, 0, 0, 0)}, {"reverse": True},
], ids=["plain", "descriptor 12", "descriptor 16", "descriptor 20", "descriptor 24",
        "comment", "longest comment", "zip64 local header", "cp437 names", "late date",
        "earliest date",
        "directory out of order"])
@pytest.mark.parametrize("names", [["a.mat", "b.mat"], ["é.mat", "Ü/ß.mat"]],
                         ids=["ascii", "accented"])
def test_a_valid_zip_layout_is_accepted(tmp_path: Path, options: dict, names) -> None:
    """The second member's data holds the end record's signature: only the last one counts."""
    data = [BODY, b"PK\x05\x06" + b"\x00" * 18 + BODY[:77]]
    _verify_zip(tmp_path, _zip(dict(zip(names, data)), **options))


def _refused(tmp_path: Path, content: bytes, entry: dict | None = None, layout=None) -> str:
    with pytest.raises(IntegrityError) as caught:
        _verify_zip(tmp_path, content, entry, layout)
    message = str(caught.value)
    assert message.startswith("layer.zip from mirror is not the published zip: "), message
    return message.removeprefix("layer.zip from mirror is not the published zip: ")


@pytest.mark.parametrize("descriptor,announce", [(8, True), (13, True), (28, True),
                                                 (12, False), (16, False)])
def test_bytes_between_members_are_refused(tmp_path, descriptor: int, announce: bool) -> None:
    content = _zip({"a.mat": BODY, "b.mat": BODY}, descriptor=descriptor, announce=announce)
    assert _refused(tmp_path, content) == (
        f"{descriptor} bytes lie between the data of a.mat and what follows it.")


@pytest.mark.parametrize("field,value", [
    ("signature", b"PK\x03\x05"), ("flags", 0x02), ("method", 8), ("crc", 7),
    ("name", b"A.mat"), ("time", _dos((2019, 1, 2, 12, 30, 9))[0])])
def test_a_local_header_disagreeing_with_the_directory_is_refused(tmp_path, field,
                                                                  value) -> None:
    problem = _refused(tmp_path, _zip({"a.mat": BODY}, local={field: value}))
    assert problem == "the local header of a.mat disagrees with the central directory."


def test_a_cp437_name_marked_as_utf8_disagrees(tmp_path) -> None:
    content = _zip({"é.mat": BODY}, utf8=False, local={"flags": 0x800})
    assert "disagrees with the central directory" in _refused(tmp_path, content)


def test_bytes_before_the_first_member_are_refused(tmp_path) -> None:
    problem = _refused(tmp_path, _zip({"a.mat": BODY}, junk=b"12345"))
    assert problem == ("member a.mat starts at byte 5, expected 0 (bytes before or between "
                       "members).")


@pytest.mark.parametrize("tail", [b"\x00", b"x" * 30])
def test_bytes_after_the_end_record_are_refused(tmp_path, tail: bytes) -> None:
    assert _refused(tmp_path, _zip({"a.mat": BODY}, comment=b"note") + tail) == (
        "bytes follow the end of the archive.")
    short = bytearray(_zip({"a.mat": BODY}, comment=b"note"))
    short[-6:-4] = struct.pack("<H", 3)  # the comment is one byte longer than announced
    assert _refused(tmp_path, bytes(short)) == "bytes follow the end of the archive."


def test_an_empty_archive_must_start_at_byte_zero(tmp_path) -> None:
    _verify_zip(tmp_path, _zip({}))
    assert _refused(tmp_path, b"junk" + _zip({})) == (
        "4 bytes lie before the central directory of an empty archive.")


@pytest.mark.parametrize("name,utf8", [("a.mat", True), ("é.mat", False)])
def test_an_encrypted_zip_is_refused_not_raised(tmp_path, name: str, utf8: bool) -> None:
    """zipfile raises RuntimeError for an encrypted member: it must become an IntegrityError."""
    problem = _refused(tmp_path, _zip({name: BODY}, encrypted=True, utf8=utf8))
    assert problem.startswith("it is not a valid zip or a member is damaged (File "), problem
    assert name in problem and "is encrypted" in problem


def test_a_damaged_member_is_named_by_zipfile(tmp_path) -> None:
    content = bytearray(_zip({"a.mat": BODY}))
    content[40] ^= 0xFF  # a byte of the data: the CRC fails
    problem = _refused(tmp_path, bytes(content))
    assert problem.startswith("it is not a valid zip or a member is damaged (Bad CRC-32 for "
                              "file 'a.mat')"), problem


def _layout(data: Path, *members: str):
    from brainfeat.remote.checks import ArchiveLayout

    extract_to = data / "decodedDNN"
    return ArchiveLayout("decodedDNN", extract_to, extract_to / "t" / "fc8",
                         frozenset(members))


def test_the_layout_names_missing_and_misplaced_members(tmp_path) -> None:
    expected = ("t/fc8/a.mat", "t/fc8/b.mat", "t/fc8/c.mat")
    content = _zip({"decodedDNN/": b"", **MEMBERS})
    assert _refused(tmp_path, content, layout=_layout(tmp_path, *expected)) == (
        "1 of its 3 expected files are missing, e.g. t/fc8/c.mat.")
    _verify_zip(tmp_path, content, layout=_layout(tmp_path, *expected[:2]))
    astray = _zip({**MEMBERS, "decodedDNN/t/fc7/a.mat": b"x"})
    assert _refused(tmp_path, astray, layout=_layout(tmp_path, *expected[:2])) == (
        "member decodedDNN/t/fc7/a.mat lies outside t/fc8/.")


def test_a_redownload_must_hold_the_members_verified_before(tmp_path) -> None:
    layout = _layout(tmp_path, "t/fc8/a.mat", "t/fc8/b.mat")
    recorded = {"decodedDNN/t/fc8/a.mat": [len(BODY), zlib.crc32(BODY)],
                "decodedDNN/t/fc8/b.mat": [len(BODY) * 8, zlib.crc32(BODY[::-1] * 8)]}
    entry = {**_entry(b"other zip bytes"), "members": recorded}
    _verify_zip(tmp_path, _zip(MEMBERS), entry, layout)
    _verify_zip(tmp_path, _zip({**MEMBERS, "decodedDNN/t/fc8/new.mat": b"n"}), entry, layout)
    changed = {"decodedDNN/t/": b"", **MEMBERS,
               "decodedDNN/t/fc8/b.mat": BODY * 8}  # same size, other CRC
    assert _refused(tmp_path, _zip(changed), entry, layout) == (
        "failed its checksum: member decodedDNN/t/fc8/b.mat differs from the copy verified "
        "before (size and CRC).")
    _verify_zip(tmp_path, _zip(changed), {**entry, "checks": "size"}, layout)  # no pin
    _verify_zip(tmp_path, _zip(changed), entry, None)  # kept as a zip: its members unpinned


@pytest.mark.parametrize("name,parts", [
    ("decodedDNN/t/fc8/a.mat", ("t", "fc8", "a.mat")), ("t/fc8/a.mat", ("t", "fc8", "a.mat")),
    ("x/decodedDNN/t/a.mat", ("t", "a.mat")), ("decodedDNN\\t\\a.mat", ("t", "a.mat")),
    ("decodedDNN/decodedDNN/a.mat", ("decodedDNN", "a.mat")),
    ("décodé/a b.mat", ("décodé", "a b.mat"))])
def test_member_targets(tmp_path, name: str, parts) -> None:
    from brainfeat.remote.checks import member_target

    assert member_target(name, "decodedDNN", tmp_path) == tmp_path.joinpath(*parts)
    assert member_target(name.rsplit("/", 1)[0] + "/", "decodedDNN", tmp_path) is None


@pytest.mark.parametrize("name", ["/etc/passwd", "../x.mat", "decodedDNN/../../x.mat",
                                  "..\\x.mat", "C:/x.mat", "c:x.mat", "a/..", "\\\\host\\x"])
def test_member_names_escaping_the_folder_are_refused(tmp_path, name: str) -> None:
    from brainfeat.errors import UnsafeArchiveError
    from brainfeat.remote.checks import member_target

    with pytest.raises(UnsafeArchiveError) as caught:
        member_target(name, "decodedDNN", tmp_path)
    assert str(caught.value) == (f"Zip member {name!r} would be written outside {tmp_path}; "
                                 "the archive was refused and nothing was extracted.")


def test_a_symbolic_link_out_of_the_folder_is_refused_one_into_it_is_not(tmp_path) -> None:
    from brainfeat.errors import UnsafeArchiveError
    from brainfeat.remote.checks import member_target

    real, outside = tmp_path / "real", tmp_path / "outside"
    (real / "inner").mkdir(parents=True)
    outside.mkdir()
    (real / "door").symlink_to(outside)
    (tmp_path / "alias").symlink_to(real)
    with pytest.raises(UnsafeArchiveError, match=f"'door/x.mat' escapes {real}; refused."):
        member_target("door/x.mat", "decodedDNN", real)
    alias = tmp_path / "alias"
    assert member_target("inner/x.mat", "decodedDNN", alias) == alias / "inner" / "x.mat"


# ----------------------------------------------------------------------------------------
# download.py: archives


def test_an_archive_is_extracted_recorded_and_dropped(tmp_path, monkeypatch, capsys) -> None:
    from brainfeat.remote.download import fetch_archive, manifest_entries, verify_cache

    data = tmp_path / "data"
    (tmp_path / "server" / "extra").mkdir(parents=True)
    content = _zip({"decodedDNN/": b"", "decodedDNN/t/": b"", **MEMBERS})
    (tmp_path / "server" / "extra" / "layer.zip").write_bytes(content)
    layout = _layout(data, "t/fc8/a.mat", "t/fc8/b.mat")
    with scripted(tmp_path / "server", monkeypatch) as (handler, _):
        folder = fetch_archive(ZIP_ROW, data, layout, progress=True, deadlines=FAST)
        shown = capsys.readouterr().err
        assert fetch_archive(ZIP_ROW, data, layout, download=False) == folder
    assert folder == data / "decodedDNN" / "t" / "fc8" and len(handler.seen) == 1
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {
        "a.mat": MEMBERS["decodedDNN/t/fc8/a.mat"], "b.mat": MEMBERS["decodedDNN/t/fc8/b.mat"]}
    assert "checking ds001246/extra/layer.zip:" in shown and "unpacking layer.zip:" in shown
    assert f"0.00/{len(content) / 1000:.1f}k [" in shown  # the download
    checking = f"checking {ZIP_ROW.name}:   0%|          | 0.00/{len(BODY) * 9 / 1000:.1f}k"
    assert f"{checking} [00:00<?, ?B/s]" in shown
    assert "unpacking layer.zip:   0%|          | 0/4 [00:00<?, ?file/s]" in shown
    assert "\n" not in shown  # every bar is cleared, none is left behind
    entry = manifest_entries(data)[ZIP_ROW.local_path]
    assert entry["members"] == {name: [len(c), zlib.crc32(c)] for name, c in MEMBERS.items()}
    assert entry["sha256"] == hashlib.sha256(content).hexdigest()
    assert not (data / ZIP_ROW.local_path).exists()
    assert sorted(p.name for p in (data / "ds001246" / "extra").iterdir()) == ["layer.zip.lock"]
    verify_cache(data, progress=True)
    shown = capsys.readouterr().err
    assert "verify-cache:   0%|          | 0/1 [00:00<?, ?entry/s]" in shown and "\n" not in shown
    fetch_archive(ZIP_ROW, data, layout, download=False, progress=False)
    verify_cache(data)
    assert capsys.readouterr().err == ""  # progress=False (verify_cache's default): silent


def test_an_archive_entry_without_members_is_no_cache(tmp_path) -> None:
    from brainfeat.remote.download import fetch_archive

    data = tmp_path / "data"
    _manifest(data, {ZIP_ROW.local_path: {**GOOD, "members": {}}})
    with pytest.raises(DataNotFoundError, match=re.escape(
            f"{ZIP_ROW.name} is in the local cache but damaged (a file changed) (expected at "
            f"{data / 'decodedDNN' / 't' / 'fc8'}) and download=False. Fetch it with "
            "`brainfeat fetch x`, or")):
        fetch_archive(ZIP_ROW, data, _layout(data), download=False, progress=False,
                      command="brainfeat fetch x")


def test_a_missing_member_is_fetched_again(tmp_path, monkeypatch, capsys) -> None:
    from brainfeat.remote.download import fetch_archive

    data = tmp_path / "data"
    (tmp_path / "server" / "extra").mkdir(parents=True)
    (tmp_path / "server" / "extra" / "layer.zip").write_bytes(_zip(MEMBERS))
    layout = _layout(data, "t/fc8/a.mat", "t/fc8/b.mat")
    with scripted(tmp_path / "server", monkeypatch) as (handler, _):
        folder = fetch_archive(ZIP_ROW, data, layout, progress=False, deadlines=FAST)
        assert capsys.readouterr().err == ""  # downloaded, checked, unpacked: no bar
        (folder / "b.mat").write_bytes(b"short")
        with pytest.raises(DataNotFoundError, match=(
                f"damaged \\(member decodedDNN/t/fc8/b.mat has 5 bytes, expected "
                f"{len(BODY) * 8}\\)")):
            fetch_archive(ZIP_ROW, data, layout, download=False, progress=False)
        fetch_archive(ZIP_ROW, data, layout, progress=False, deadlines=FAST)
    assert len(handler.seen) == 2 and (folder / "b.mat").read_bytes() == BODY[::-1] * 8


def test_a_zip_left_on_disk_must_hold_the_members_verified_before(tmp_path, monkeypatch,
                                                                  capsys) -> None:
    """A zip a killed fetch left in place is checked (with its bar) against the recorded
    members before it is extracted."""
    from brainfeat.remote.download import fetch_archive

    data = tmp_path / "data"
    (tmp_path / "server" / "extra").mkdir(parents=True)
    (tmp_path / "server" / "extra" / "layer.zip").write_bytes(_zip(MEMBERS))
    layout = _layout(data, "t/fc8/a.mat", "t/fc8/b.mat")
    with scripted(tmp_path / "server", monkeypatch):
        folder = fetch_archive(ZIP_ROW, data, layout, progress=False, deadlines=FAST)
    (folder / "b.mat").unlink()
    left = data / ZIP_ROW.local_path
    left.write_bytes(_zip({**MEMBERS, "decodedDNN/t/fc8/b.mat": BODY * 8}))  # b changed
    with pytest.raises(DataNotFoundError, match="member decodedDNN/t/fc8/b.mat is missing"):
        fetch_archive(ZIP_ROW, data, layout, download=False, progress=False)
    assert not (folder / "b.mat").exists()
    left.write_bytes(_zip(MEMBERS))  # the right one is taken without a download
    capsys.readouterr()
    assert fetch_archive(ZIP_ROW, data, layout, download=False, progress=True) == folder
    assert f"checking {ZIP_ROW.name}:" in capsys.readouterr().err
    assert (folder / "b.mat").read_bytes() == MEMBERS["decodedDNN/t/fc8/b.mat"]


def test_a_redownloaded_file_must_match_the_copy_verified_before(tmp_path, served,
                                                                 monkeypatch) -> None:
    """An unpinned file that changed on the server is refused, not silently replaced."""
    row, server, _ = served
    with scripted(server, monkeypatch):
        path = _fetch(row, tmp_path / "data")
        path.write_bytes(b"damaged")
        (server / "extra" / "blob.bin").write_bytes(BODY[::-1])
        with pytest.raises(IntegrityError, match="SHA-256 differs from the copy verified before"):
            _fetch(row, tmp_path / "data")


@pytest.mark.parametrize("archive", [False, True], ids=["file", "archive"])
def test_the_deadline_passed_is_the_one_kept(tmp_path, monkeypatch, archive: bool) -> None:
    from brainfeat.remote.download import fetch_archive

    (tmp_path / "server" / "extra").mkdir(parents=True)
    content = _zip(MEMBERS) if archive else BODY
    name = "layer.zip" if archive else "blob.bin"
    (tmp_path / "server" / "extra" / name).write_bytes(content)
    late = (*_octets(content), (2.5, 1, 0))
    limits = Deadlines(stall=60.0, total=0.5)
    data = tmp_path / "data"
    with scripted(tmp_path / "server", monkeypatch, {f"/extra/{name}": [late]}), \
            pytest.raises(DownloadError, match="took longer than its deadline of 0.5 s"):
        if archive:
            fetch_archive(ZIP_ROW, data, _layout(data), progress=False, deadlines=limits)
        else:
            _fetch(_row(), data, deadlines=limits)


def test_progress_is_shown_by_default(tmp_path, monkeypatch, capsys) -> None:
    from brainfeat.remote.download import adopt_file, fetch_archive, fetch_file

    (tmp_path / "server" / "extra").mkdir(parents=True)
    (tmp_path / "server" / "extra" / "blob.bin").write_bytes(BODY)
    (tmp_path / "server" / "extra" / "layer.zip").write_bytes(_zip(MEMBERS))
    data = tmp_path / "data"
    with scripted(tmp_path / "server", monkeypatch):
        fetch_file(_row(), data, deadlines=FAST)
        assert "ds001246/extra/blob.bin:" in capsys.readouterr().err
        fetch_archive(ZIP_ROW, data, _layout(data), deadlines=FAST)
        assert "unpacking layer.zip:" in capsys.readouterr().err
    mine = _file(tmp_path, _zip(MEMBERS), "mine.zip")
    adopt_file(ZIP_ROW, mine, tmp_path / "other", layout=_layout(tmp_path / "other"))
    shown = capsys.readouterr().err
    assert f"checking {ZIP_ROW.name}:" in shown and "unpacking layer.zip:" in shown
    left = tmp_path / "third" / ZIP_ROW.local_path  # a zip on disk, fetched as a plain file
    left.parent.mkdir(parents=True)
    left.write_bytes(_zip(MEMBERS))
    fetch_file(ZIP_ROW, tmp_path / "third", download=False)
    assert f"checking {ZIP_ROW.name}:" in capsys.readouterr().err


def test_an_adopted_copy_must_match_the_copy_verified_before(tmp_path) -> None:
    from brainfeat.remote.download import adopt_file

    data = tmp_path / "data"
    adopt_file(_row(), _file(tmp_path, BODY, "first.bin"), data, progress=False)
    other = _file(tmp_path, BODY[::-1], "other.bin")
    with pytest.raises(IntegrityError, match=f"^{other} failed its checksum: SHA-256 differs"):
        adopt_file(_row(), other, data, progress=False)
    assert (data / _row().local_path).read_bytes() == BODY


def test_bytes_reach_the_partial_file_as_they_arrive(served, monkeypatch) -> None:
    """What arrived before a stall is on disk during the stall (a killed fetch resumes it),
    not held in a buffer until the file is closed; the next attempt resumes from it."""
    from concurrent.futures import ThreadPoolExecutor

    row, server, part = served
    stalled = (200, {"Content-Length": str(len(BODY))}, BODY[:100], (0, 1, 5.0))
    with scripted(server, monkeypatch, {URL_PATH: [stalled]}) as (handler, _), \
            ThreadPoolExecutor(1) as pool:
        done = pool.submit(transfer.download, row, part, False, Deadlines(1.0, 20.0))
        seen = 0
        for _ in range(100):  # up to 1 s, while the server is silent
            seen = part.stat().st_size if part.exists() else 0
            if seen:
                break
            time.sleep(0.01)
        done.result()
    assert seen == 100 and part.read_bytes() == BODY
    assert [_range(h) for _, h in handler.seen] == [None, "bytes=100-"]


def test_an_interrupted_extraction_is_swept_and_an_archive_adopted_again_is_checked(
        tmp_path, monkeypatch) -> None:
    """A member half written when extraction stopped is found by the sweep; adopting the
    same archive again compares its members with those recorded the first time."""
    from brainfeat.remote import download

    data = tmp_path / "data"
    layout = _layout(data)
    mine = _file(tmp_path, _zip(MEMBERS), "mine.zip")
    replace = os.replace

    def stop_at_the_first_member(source, target) -> None:
        if Path(target).parent == layout.folder:
            raise OSError(28, "No space left on device")
        replace(source, target)

    monkeypatch.setattr(download.os, "replace", stop_at_the_first_member)
    with pytest.raises(OSError, match="No space left on device"):
        download.adopt_file(ZIP_ROW, mine, data, progress=False, layout=layout)
    monkeypatch.undo()
    assert download.sweep_extraction(ZIP_ROW, data, layout) == [
        layout.folder / "a.mat.extracting"]
    for _ in range(2):
        assert download.adopt_file(ZIP_ROW, mine, data, progress=False,
                                   layout=layout) == layout.folder
    assert sorted(path.name for path in layout.folder.iterdir()) == ["a.mat", "b.mat"]


def test_a_missing_archive_with_download_false_says_how_to_fetch_it(tmp_path) -> None:
    from brainfeat.remote.download import fetch_archive

    data = tmp_path / "data"
    layout = _layout(data)
    with pytest.raises(DataNotFoundError) as caught:
        fetch_archive(ZIP_ROW, data, layout, download=False)
    assert str(caught.value) == (
        f"{ZIP_ROW.name} is not in the local cache (expected at {layout.folder}) and "
        "download=False. Fetch it with the matching brainfeat.fetch* function, or call again "
        "with download=True.")


def test_a_connection_waits_no_longer_than_the_time_left(served, monkeypatch) -> None:
    """With 0.5 s left of the whole fetch, a server silent for 3 s before answering is given
    up on when the 0.5 s are over, not after the 60-s stall limit (nor after its 3 s)."""
    row, server, part = served
    silent = (*_octets(BODY), (3.0, 1, 0))
    with scripted(server, monkeypatch, {URL_PATH: [silent]}):
        start = time.monotonic()
        with pytest.raises(DownloadError, match="took longer than its deadline of 0.5 s"):
            transfer.download(row, part, False, Deadlines(stall=60.0, total=0.5))
        elapsed = time.monotonic() - start
    assert elapsed < 2.0
