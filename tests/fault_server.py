"""Test helper: a loopback server over a folder that misbehaves on purpose.

``faults[url_path]`` lists what goes wrong on successive requests of that path (an empty
string or an exhausted list: served correctly, with Range). Modes:

* ``ignore-range``: a 200 with the whole file even when the request has a Range header;
* ``html-type``: an error page served as ``text/html`` whose text starts without markup;
* ``html-comment``, ``html-bom``, ``html-space``: an HTML page served as
  ``application/octet-stream``, starting with a comment, a UTF-8 BOM, or blank lines;
* ``202``: 202 Accepted and an empty body (figshare's bot challenge); ``202-body``: 202 and
  a short text; ``empty``: 200, 0 bytes;
* ``404``, ``403``, ``503``: that status;
* ``cut``: half the body, then the connection is dropped;
* ``short``: the first half of the file as if it were all of it (Content-Length agrees);
* ``trickle``: one byte every 0.2 s; ``stall``: 100 bytes, then nothing for 3 s.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from brainfeat.demo.server import RangeRequestHandler, serve_folder

HTML_BODIES = {
    "html-type": (b"Service temporarily unavailable. Please retry later.\n", "text/html"),
    "html-comment": (b"<!-- cache: miss -->\n<!DOCTYPE html><html><body>Denied</body></html>",
                     "application/octet-stream"),
    "html-bom": (b"\xef\xbb\xbf<!DOCTYPE html><html><body>Denied</body></html>",
                 "application/octet-stream"),
    "html-space": (b"\n\n   <html><head><title>Error</title></head></html>",
                   "application/octet-stream"),
}
HTML_MODES = tuple(HTML_BODIES)


class FaultHandler(RangeRequestHandler):
    """Serves a folder; ``faults`` and ``requests`` are set per server by :func:`fault_server`."""

    faults: dict[str, list[str]] = {}
    requests: list[tuple[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802
        type(self).requests.append((self.path, self.headers.get("Range", "")))
        queue = type(self).faults.get(self.path, [])
        self.fault = queue.pop(0) if queue else ""
        if self.fault in HTML_BODIES:
            body, content_type = HTML_BODIES[self.fault]
            self._answer(200, body, content_type)
        elif self.fault in ("202", "202-body", "empty"):
            body = b"Preparing your download, please wait.\n" if self.fault == "202-body" else b""
            self._answer(200 if self.fault == "empty" else 202, body, "text/plain")
        elif self.fault in ("404", "403", "503"):
            self.send_error(int(self.fault))
        elif self.fault in ("ignore-range", "short"):
            data = Path(self.translate_path(self.path)).read_bytes()
            self._answer(200, data[: len(data) // 2] if self.fault == "short" else data,
                         "application/octet-stream")
        else:
            super().do_GET()

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def copyfile(self, source, outputfile) -> None:  # type: ignore[override]
        if self.fault == "cut":
            data = source.read()
            outputfile.write(data[: len(data) // 2])
            outputfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif self.fault == "trickle":
            while byte := source.read(1):
                outputfile.write(byte)
                outputfile.flush()
                time.sleep(0.2)
        elif self.fault == "stall":
            outputfile.write(source.read(100))
            outputfile.flush()
            time.sleep(3)
            self.close_connection = True
        else:
            super().copyfile(source, outputfile)


@contextmanager
def fault_server(root: Path, monkeypatch: pytest.MonkeyPatch,
                 faults: dict[str, list[str]] | None = None, *,
                 bases: tuple[str, ...] = ("",)) -> Iterator[type[FaultHandler]]:
    """Serve ``root`` and point both sources of BRAINFEAT_MIRRORS at it.

    ``bases`` are sub-folders of ``root`` listed, in order, as the figshare mirrors (e.g.
    ``("a", "b")``: two endpoints to fall back between).
    """
    handler = type("Handler", (FaultHandler,), {"faults": dict(faults or {}), "requests": []})
    with serve_folder(root, handler) as url:
        figshare = " ".join(f"{url}/{base}".rstrip("/") for base in bases)
        monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={figshare},openneuro={url}/ds001246")
        yield handler
