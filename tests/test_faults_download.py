"""Fault suite of the download path and the cache.

The rule every case enforces: a fault ends in correct data or a ``BrainfeatError`` that
names the file; never a raw exception, never silently wrong data, and never a cache that a
healthy mirror cannot repair (after each fault the mirror is healed and the same data
folder must give the correct files).

Classes: bad answers of one endpoint (HTML in its forms, 202, empty, HTTP errors, a short
body); endpoint fall-back; interrupted transfers (cut, Range ignored, trickle, stall,
deadline); malformed zips (a byte flipped in each central-directory field, members missing,
misplaced or extra, junk before or after, truncation); malformed manifests; kills
(``SIGKILL`` at chosen moments, then a rerun); stale temporary files.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import pytest
from _data import DS001246
from fault_server import HTML_MODES, fault_server

import brainfeat
from brainfeat.catalog import Network
from brainfeat.demo.replica import CATALOG_FILE, replica_catalog, write_replica
from brainfeat.errors import BrainfeatError, DownloadError, IntegrityError
from brainfeat.remote.cache import adopt, check_cache, forget
from brainfeat.remote.download import fetch_file, manifest_entries, verify_cache
from brainfeat.remote.registry import RemoteFile, default_registry
from brainfeat.remote.transfer import STALLS_PER_FILE, Deadlines

ZIP_ROW = default_registry().layer_archive("true", "AlexNet", "fc8")
ZIP_URL = "/" + ZIP_ROW.remote_path
EVENTS = ("sub-02/ses-perceptionTest01/func/"
          "sub-02_ses-perceptionTest01_task-perception_run-01_events.tsv")
EVENTS_ROW = default_registry().get(f"ds001246/{EVENTS}")
UNPINNED = RemoteFile(name="ds001246/extra/notes.tsv", source="openneuro",
                      remote_path="extra/notes.tsv", local_path="ds001246/extra/notes.tsv",
                      size=None, md5=None, check="text")
FAST = Deadlines(stall=0.5, total=30.0)


# ----------------------------------------------------------------------------------------
# Fixtures: one healthy replica of the true AlexNet fc8 zip, an events table, a text file


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("healthy")
    catalog = replica_catalog({(Network.ALEXNET, "fc8"): (30,)}, n_subjects=2)
    write_replica(root, catalog, kinds=["true"])
    data = (root / ZIP_ROW.remote_path).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {info.filename.split("decodedDNN/", 1)[1]: archive.read(info)
                   for info in archive.infolist() if not info.is_dir()}
    return {"zip": data, "members": members, "catalog": root / CATALOG_FILE,
            "events": (DS001246 / EVENTS).read_bytes(), "text": b"a\tb\n1\t2\n" * 50}


@pytest.fixture
def world(tmp_path: Path, healthy: dict):
    """A server folder holding the healthy files, and an empty data folder."""
    server = tmp_path / "server"
    _serve_files(server, healthy)
    return server, tmp_path / "data"


def _serve_files(server: Path, healthy: dict, zip_bytes: bytes | None = None) -> None:
    for relative, content in ((ZIP_ROW.remote_path, zip_bytes or healthy["zip"]),
                              (f"ds001246/{EVENTS}", healthy["events"]),
                              (f"ds001246/{UNPINNED.remote_path}", healthy["text"])):
        path = server / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def _fetch(target: str, data: Path, healthy: dict, **kw) -> Path:
    if target == "zip":
        return brainfeat.fetch("true", "AlexNet", "fc8", data_dir=data, progress=False,
                               catalog=healthy["catalog"], stall_timeout=FAST.stall,
                               deadline=FAST.total, **kw)
    if target == "events":
        return brainfeat.fetch_bids(2, include=[EVENTS], data_dir=data, progress=False,
                                    stall_timeout=FAST.stall, deadline=FAST.total,
                                    **kw) / EVENTS
    return fetch_file(UNPINNED, data, progress=False, deadlines=FAST, **kw)


def _assert_correct(target: str, result: Path, healthy: dict) -> None:
    if target == "zip":
        found = {p.relative_to(result.parents[2]).as_posix(): p.read_bytes()
                 for p in result.rglob("*") if p.is_file()}
        assert found == healthy["members"]
    else:
        assert result.read_bytes() == healthy["events" if target == "events" else "text"]


def _url(target: str) -> str:
    return {"zip": ZIP_URL, "events": f"/ds001246/{EVENTS}",
            "text": f"/ds001246/{UNPINNED.remote_path}"}[target]


def _name(target: str) -> str:
    return {"zip": ZIP_ROW.name, "events": EVENTS.rsplit("/", 1)[1], "text": "notes.tsv"}[target]


def _nothing_cached(data: Path) -> None:
    assert manifest_entries(data) == {}
    leftovers = [p for p in data.rglob("*") if p.is_file()
                 and not p.name.endswith((".lock", ".part"))]
    assert leftovers == []


def _fails_cleanly(call, name: str, error: type[BrainfeatError] = BrainfeatError) -> str:
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    assert name in message, message
    return message


# ----------------------------------------------------------------------------------------
# 1. Bad answers of one endpoint: a failed attempt, never a cached file


@pytest.mark.parametrize("fault", [*HTML_MODES, "202", "202-body", "empty", "404", "403", "503"])
@pytest.mark.parametrize("target", ["zip", "events", "text"])
def test_bad_answer_is_refused_then_the_healed_mirror_repairs(world, healthy, monkeypatch,
                                                              fault, target) -> None:
    server, data = world
    with fault_server(server, monkeypatch, {_url(target): [fault] * 4}) as handler:
        message = _fails_cleanly(lambda: _fetch(target, data, healthy), _name(target),
                                 DownloadError)
        if fault in HTML_MODES:
            assert "HTML page" in message
        _nothing_cached(data)
        handler.faults.clear()
        _assert_correct(target, _fetch(target, data, healthy), healthy)


@pytest.mark.parametrize("target", ["zip", "events"])
def test_short_body_with_a_matching_length_is_refused(world, healthy, monkeypatch,
                                                      target) -> None:
    server, data = world
    with fault_server(server, monkeypatch, {_url(target): ["short"] * 2}) as handler:
        _fails_cleanly(lambda: _fetch(target, data, healthy), _name(target), IntegrityError)
        _nothing_cached(data)
        handler.faults.clear()
        _assert_correct(target, _fetch(target, data, healthy), healthy)


def test_html_served_as_text_html_is_refused_by_its_content_type(world, healthy,
                                                                 monkeypatch) -> None:
    """An unpinned text file has no other protection (issue 13, survivor 3)."""
    server, data = world
    with fault_server(server, monkeypatch, {_url("text"): ["html-type"]}):
        message = _fails_cleanly(lambda: _fetch("text", data, healthy), "notes.tsv",
                                 DownloadError)
    assert "Content-Type text/html" in message
    _nothing_cached(data)


# ----------------------------------------------------------------------------------------
# 2. Fall-back between endpoints


@pytest.mark.parametrize("fault", [*HTML_MODES, "202", "empty", "404", "503"])
def test_a_failing_endpoint_falls_back_to_the_next(tmp_path, healthy, monkeypatch,
                                                   fault) -> None:
    for base in ("a", "b"):
        _serve_files(tmp_path / "server" / base, healthy)
    faults = {f"/a{ZIP_URL}": [fault] * 10}
    with fault_server(tmp_path / "server", monkeypatch, faults, bases=("a", "b")) as handler:
        result = _fetch("zip", tmp_path / "data", healthy)
    _assert_correct("zip", result, healthy)
    assert handler.requests[-1][0] == f"/b{ZIP_URL}"
    assert verify_cache(tmp_path / "data") == (1, [])


def test_every_figshare_file_has_fallback_endpoints() -> None:
    for row in default_registry():
        if row.source == "figshare":
            file_id = row.remote_path.removeprefix("files/")
            assert row.urls() == [f"https://ndownloader.figshare.com/files/{file_id}",
                                  f"https://api.figshare.com/v2/file/download/{file_id}",
                                  f"https://figshare.com/ndownloader/files/{file_id}"]


# ----------------------------------------------------------------------------------------
# 3. Interrupted transfers


@pytest.mark.parametrize("target", ["zip", "text"])
def test_a_server_ignoring_range_restarts_from_zero(world, healthy, monkeypatch,
                                                    target) -> None:
    """A partial file, a 200 with the whole body: one request, the exact file (survivor 4)."""
    server, data = world
    row_path = ZIP_ROW.local_path if target == "zip" else UNPINNED.local_path
    part = data / (row_path + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes((healthy["zip"] if target == "zip" else healthy["text"])[:200])
    with fault_server(server, monkeypatch, {_url(target): ["ignore-range"]}) as handler:
        result = _fetch(target, data, healthy)
    _assert_correct(target, result, healthy)
    assert handler.requests == [(_url(target), "bytes=200-")]
    assert verify_cache(data) == (1, [])


@pytest.mark.parametrize("target", ["zip", "events", "text"])
def test_a_cut_connection_is_resumed(world, healthy, monkeypatch, target) -> None:
    server, data = world
    with fault_server(server, monkeypatch, {_url(target): ["cut"]}) as handler:
        _assert_correct(target, _fetch(target, data, healthy), healthy)
    assert handler.requests[1][1].startswith("bytes=")


@pytest.mark.parametrize("fault", ["trickle", "stall"])
def test_a_trickle_or_a_stall_ends_with_a_clear_error_then_resumes(world, healthy,
                                                                   monkeypatch, fault) -> None:
    server, data = world
    with fault_server(server, monkeypatch, {ZIP_URL: [fault] * 3}) as handler:
        started = time.monotonic()
        message = _fails_cleanly(lambda: _fetch("zip", data, healthy), ZIP_ROW.name,
                                 DownloadError)
        assert time.monotonic() - started < 10  # three stalls of 0.5 s, not minutes
        assert "stalled 3 times" in message and "BRAINFEAT_STALL_TIMEOUT" in message
        assert (data / (ZIP_ROW.local_path + ".part")).stat().st_size > 0  # kept, resumable
        _assert_correct("zip", _fetch("zip", data, healthy), healthy)
    assert handler.requests[-1][1].startswith("bytes=")


def test_the_overall_deadline_ends_a_slow_download(world, healthy, monkeypatch) -> None:
    server, data = world
    monkeypatch.setenv("BRAINFEAT_DEADLINE", "1")
    monkeypatch.setenv("BRAINFEAT_STALL_TIMEOUT", "60")
    with fault_server(server, monkeypatch, {_url("text"): ["trickle"]}):
        started = time.monotonic()
        message = _fails_cleanly(lambda: fetch_file(UNPINNED, data, progress=False),
                                 "notes.tsv", DownloadError)
    assert time.monotonic() - started < 5
    assert "deadline of 1 s" in message and "BRAINFEAT_DEADLINE" in message


@pytest.mark.parametrize("stall,total,env", [("0", None, ""), (None, "-5", ""),
                                             (None, None, "soon")])
def test_bad_deadlines_are_refused_by_name(monkeypatch, stall, total, env) -> None:
    if env:
        monkeypatch.setenv("BRAINFEAT_STALL_TIMEOUT", env)
    with pytest.raises(BrainfeatError, match="positive number"):
        Deadlines.resolve(None if stall is None else float(stall),
                          None if total is None else float(total))


def test_default_deadlines_end_a_stalled_download_in_about_a_minute() -> None:
    limits = Deadlines.resolve()
    assert 30 <= limits.stall * STALLS_PER_FILE <= 90


# ----------------------------------------------------------------------------------------
# 4. Malformed zips


def _rezip(healthy: dict, rename=lambda name: name, drop: int | None = None,
           extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(healthy["zip"])) as source, \
            zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for index, info in enumerate(source.infolist()):
            if index != drop:
                target.writestr(rename(info.filename), source.read(info))
        for name, content in (extra or {}).items():
            target.writestr(name, content)
    return buffer.getvalue()


def _flip(data: bytes, offset: int) -> bytes:
    flipped = bytearray(data)
    flipped[offset] ^= 0x41
    return bytes(flipped)


def _central(data: bytes) -> int:
    return data.rfind(b"PK\x01\x02")  # the last entry of the central directory


# offsets inside one central-directory entry (APPNOTE 4.3.12) and the end record
CD_FIELDS = {"version made by": 4, "version needed": 6, "flags": 8, "method": 10,
             "time": 12, "date": 14, "crc": 16, "compressed size": 20, "size": 24,
             "name length": 28, "extra length": 30, "comment length": 32, "disk": 34,
             "internal attributes": 36, "external attributes": 38, "header offset": 42,
             "name": 50}
EOCD_FIELDS = {"entries on disk": 8, "entries": 10, "directory size": 12,
               "directory offset": 16, "comment length": 20}
MALFORMED = {
    **{f"central directory {field}": (lambda h, o=o: _flip(h["zip"], _central(h["zip"]) + o))
       for field, o in CD_FIELDS.items()},
    **{f"end record {field}": (lambda h, o=o: _flip(h["zip"], h["zip"].rfind(b"PK\x05\x06") + o))
       for field, o in EOCD_FIELDS.items()},
    "member data": lambda h: _flip(h["zip"], 100),
    "49 of 50 members": lambda h: _rezip(h, drop=7),
    "wrong prefix": lambda h: _rezip(h, rename=lambda n: n.replace("decodedDNN/", "decoded/")),
    "another layer's folder": lambda h: _rezip(h, rename=lambda n: n.replace("fc8", "fc7")),
    "an extra member overwriting another layer": lambda h: _rezip(
        h, extra={"decodedDNN/true/AlexNet/fc7/true-AlexNet-fc7-x.mat": b"x"}),
    "junk before": lambda h: h["zip"][:1000] + h["zip"],
    "junk after": lambda h: h["zip"] + b"\x00" * 100,
    "truncated": lambda h: h["zip"][: len(h["zip"]) // 2],
    "not a zip": lambda h: os.urandom(4096),
    "empty zip": lambda h: b"PK\x05\x06" + b"\x00" * 18,
}


@pytest.mark.parametrize("fault", sorted(MALFORMED))
def test_malformed_zip_is_refused_or_exact_and_never_blocks_the_correct_one(
        tmp_path, healthy, monkeypatch, fault) -> None:
    server, data = tmp_path / "server", tmp_path / "data"
    _serve_files(server, healthy, MALFORMED[fault](healthy))
    with fault_server(server, monkeypatch):
        try:
            result = _fetch("zip", data, healthy)
        except BrainfeatError as error:
            assert ZIP_ROW.name in str(error)
            assert not (data / "decodedDNN" / "true" / "AlexNet" / "fc7").exists()
            accepted = False
        else:
            _assert_correct("zip", result, healthy)  # the damage touched no data
            accepted = True
    _serve_files(server, healthy)  # the mirror is healed
    folder = data / "decodedDNN" / "true" / "AlexNet" / "fc8"
    if accepted:
        next(folder.iterdir()).unlink()  # a later repair must accept the correct zip
    with fault_server(server, monkeypatch):
        _assert_correct("zip", _fetch("zip", data, healthy), healthy)
    assert verify_cache(data) == (1, [])


class _Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then writes data descriptors after each member."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, block) -> int:
        self.data += block
        return len(block)


def _streamed_zip(healthy: dict, zip64: bool) -> bytes:
    sink = _Unseekable()
    with zipfile.ZipFile(io.BytesIO(healthy["zip"])) as source, \
            zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            with target.open(info.filename, "w", force_zip64=zip64) as member:
                member.write(source.read(info))
    return bytes(sink.data)


@pytest.mark.parametrize("zip64", [False, True], ids=["descriptors", "zip64 descriptors"])
def test_valid_zip_variants_are_accepted(tmp_path, healthy, monkeypatch, zip64) -> None:
    """Data descriptors and zip64 sizes are legal: the layout check must not refuse them."""
    variant = _streamed_zip(healthy, zip64)
    with zipfile.ZipFile(io.BytesIO(variant)) as archive:
        assert all(info.flag_bits & 0x08 for info in archive.infolist())
    _serve_files(tmp_path / "server", healthy, variant)
    with fault_server(tmp_path / "server", monkeypatch):
        _assert_correct("zip", _fetch("zip", tmp_path / "data", healthy), healthy)


def test_a_pin_that_never_fully_verified_is_replaced(world, healthy, monkeypatch) -> None:
    """A manifest written by an older brainfeat pinned a damaged zip's SHA-256."""
    server, data = world
    with fault_server(server, monkeypatch):
        folder = _fetch("zip", data, healthy)
    manifest = json.loads((data / "manifest.json").read_text())
    entry = manifest["files"][ZIP_ROW.local_path]
    del entry["checks"]
    entry["sha256"] = "0" * 64
    entry["members"] = {path: [1, 2] for path in entry["members"]}
    entry["state"] = "corrupt"
    (data / "manifest.json").write_text(json.dumps(manifest))
    next(folder.iterdir()).unlink()
    with fault_server(server, monkeypatch):
        _assert_correct("zip", _fetch("zip", data, healthy), healthy)
    assert manifest_entries(data)[ZIP_ROW.local_path]["checks"] == "every check"


# ----------------------------------------------------------------------------------------
# 5. Malformed manifests: rebuilt from what is on disk


MANIFESTS = {
    "empty": b"", "cut JSON": b'{"version": 1, "files": {"downl', "binary": b"\x00\xff\xfe" * 9,
    "a list": b"[]", "no files": b'{"version": 1}', "files a list": b'{"files": []}',
    "entry a number": b'{"files": {"downloads/x.zip": 5}}',
    "entry size a string": None, "members a string": None, "member pair short": None,
}


def _bad_manifest(kind: str, good: dict) -> bytes:
    if MANIFESTS[kind] is not None:
        return MANIFESTS[kind]
    files = json.loads(json.dumps(good))
    entry = files["files"][ZIP_ROW.local_path]
    if kind == "entry size a string":
        entry["size"] = "12"
    elif kind == "members a string":
        entry["members"] = "all"
    else:
        entry["members"][next(iter(entry["members"]))] = [3]
    return json.dumps(files).encode()


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_a_corrupt_manifest_is_rebuilt_from_what_is_on_disk(world, healthy, monkeypatch,
                                                            kind) -> None:
    server, data = world
    with fault_server(server, monkeypatch):
        _fetch("zip", data, healthy)
        events = _fetch("events", data, healthy)
    good = json.loads((data / "manifest.json").read_text())
    (data / "manifest.json").write_bytes(_bad_manifest(kind, good))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        verify_cache(data)  # no raw exception
        # the events table on disk is re-verified against its pinned MD5: no download needed
        assert _fetch("events", data, healthy, download=False) == events
        with fault_server(server, monkeypatch):
            _assert_correct("zip", _fetch("zip", data, healthy), healthy)
        assert check_cache(data, progress=False).problems == []
    assert set(manifest_entries(data)) == {ZIP_ROW.local_path, EVENTS_ROW.local_path}


def test_an_unreadable_manifest_is_set_aside_with_a_warning(world, healthy,
                                                            monkeypatch) -> None:
    server, data = world
    data.mkdir()
    (data / "manifest.json").write_text("{")
    with pytest.warns(RuntimeWarning, match="manifest.json is unreadable.*set aside"):
        assert manifest_entries(data) == {}
        with fault_server(server, monkeypatch):
            _fetch("text", data, healthy)
    assert (data / "manifest.json.corrupt").read_text() == "{"
    assert set(manifest_entries(data)) == {UNPINNED.local_path}


# ----------------------------------------------------------------------------------------
# 6. Kills at chosen moments, then a rerun against a healthy server


_KILL_AT = """
import os, signal, sys
import brainfeat
import brainfeat.remote.download as engine
from brainfeat.remote.download import Deadlines
calls = [0]
real_replace = os.replace
def replace(*args):
    calls[0] += 1
    if calls[0] == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(*args)
engine.os.replace = replace
brainfeat.fetch("true", "AlexNet", "fc8", data_dir=sys.argv[1], catalog=sys.argv[2],
                progress=False)
"""
# os.replace calls of one archive fetch: 1 the verified .part to the zip, 2..51 the 50
# extracted members, 52 the manifest
KILL_MOMENTS = {"before the zip is renamed": 1, "before the first member": 2,
                "half-way through extraction": 27, "before the manifest is written": 52}


def _run_killed(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ))


def _assert_repaired(data: Path, healthy: dict) -> None:
    _assert_correct("zip", _fetch("zip", data, healthy), healthy)
    report = check_cache(data, progress=False)
    assert report.problems == []
    left = [p.name for p in data.rglob("*") if p.is_file()
            and p.name.endswith((".part", ".extracting", ".tmp"))]
    assert left == [] or left == ["manifest.json.tmp"], left


@pytest.mark.parametrize("moment", sorted(KILL_MOMENTS))
def test_a_fetch_killed_at_a_chosen_moment_is_repaired_by_a_rerun(world, healthy,
                                                                  monkeypatch, moment) -> None:
    server, data = world
    with fault_server(server, monkeypatch):
        killed = _run_killed(_KILL_AT, data, healthy["catalog"], KILL_MOMENTS[moment])
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        _assert_repaired(data, healthy)


def test_a_fetch_killed_mid_download_resumes(world, healthy, monkeypatch) -> None:
    server, data = world
    code = ("import sys, brainfeat; brainfeat.fetch('true', 'AlexNet', 'fc8', "
            "data_dir=sys.argv[1], catalog=sys.argv[2], progress=False)")
    part = data / (ZIP_ROW.local_path + ".part")
    with fault_server(server, monkeypatch, {ZIP_URL: ["trickle"]}) as handler:
        process = subprocess.Popen([sys.executable, "-c", code, str(data),
                                    str(healthy["catalog"])], env=dict(os.environ))
        deadline = time.monotonic() + 60
        while not (part.is_file() and part.stat().st_size >= 3) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        kept = part.stat().st_size
        assert kept >= 3
        _assert_repaired(data, healthy)
    assert handler.requests[-1] == (ZIP_URL, f"bytes={kept}-")


# ----------------------------------------------------------------------------------------
# 7. Temporary files left by killed fetches


def _hold_lock(path: Path) -> subprocess.Popen:
    """Another process holding a fetch's lock (as a live fetch does)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from filelock import FileLock; "
         "lock = FileLock(sys.argv[1]); lock.acquire(); print('held', flush=True); "
         "time.sleep(60)", str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def _plant_stale_files(data: Path) -> list[Path]:
    stale = [data / "downloads" / "tmpk2x9_a1b",  # pooch's, from an older brainfeat
             data / "decodedDNN/true/AlexNet/fc8/true-AlexNet-fc8-x.mat.extracting"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    (data / "downloads" / "keep.zip.part").write_bytes(b"resume me")
    return stale


def test_stale_temporary_files_are_swept_but_not_those_of_a_live_fetch(world,
                                                                       healthy) -> None:
    server, data = world
    stale = _plant_stale_files(data)
    holder = _hold_lock(data / "downloads" / (ZIP_ROW.name + ".lock"))
    try:  # a live fetch holds the archive's lock: its folders are left alone
        assert check_cache(data, progress=False, catalog=healthy["catalog"]).swept == []
    finally:
        holder.kill()
        holder.wait()
    swept = check_cache(data, progress=False, catalog=healthy["catalog"]).swept
    assert sorted(swept) == sorted(stale)
    assert (data / "downloads" / "keep.zip.part").read_bytes() == b"resume me"


def test_the_next_fetch_sweeps_stale_temporary_files(world, healthy, monkeypatch) -> None:
    server, data = world
    stale = _plant_stale_files(data)
    stale.append(data / UNPINNED.local_path.replace("notes.tsv", "tmp3f9_zq1p"))
    stale[-1].parent.mkdir(parents=True)
    stale[-1].write_bytes(b"x")
    with fault_server(server, monkeypatch):
        _assert_correct("zip", _fetch("zip", data, healthy), healthy)
        _assert_correct("text", _fetch("text", data, healthy), healthy)
    assert not any(path.exists() for path in stale)


# ----------------------------------------------------------------------------------------
# 8. Adopting files the user already has


def test_adopt_a_zip_downloaded_by_hand(tmp_path, healthy, monkeypatch) -> None:
    mine = tmp_path / ZIP_ROW.name
    mine.write_bytes(healthy["zip"])
    folder = adopt(mine, data_dir=tmp_path / "data", progress=False,
                   catalog=healthy["catalog"])
    _assert_correct("zip", folder, healthy)
    assert mine.read_bytes() == healthy["zip"]  # the user's copy is left as it is
    assert verify_cache(tmp_path / "data") == (1, [])


@pytest.mark.parametrize("fault", ["49 of 50 members", "truncated", "junk before"])
def test_adopt_refuses_a_damaged_zip_and_caches_nothing(tmp_path, healthy, fault) -> None:
    mine = tmp_path / ZIP_ROW.name
    mine.write_bytes(MALFORMED[fault](healthy))
    with pytest.raises(IntegrityError, match=f"{mine}.*not adopted"):
        adopt(mine, data_dir=tmp_path / "data", progress=False, catalog=healthy["catalog"])
    _nothing_cached(tmp_path / "data")


def test_adopt_an_hdf5_file_then_forget_it(tmp_path) -> None:
    import h5py

    mine = tmp_path / "Subject1.h5"
    with h5py.File(mine, "w") as handle:
        handle["dataset"] = [1, 2, 3]
    path = adopt(mine, data_dir=tmp_path / "data", progress=False)
    assert path == tmp_path / "data" / "fmri" / "Subject1.h5"
    assert brainfeat.fetch_fmri(1, data_dir=tmp_path / "data", download=False) == path
    assert forget("Subject1.h5", tmp_path / "data") == [path]
    assert manifest_entries(tmp_path / "data") == {}
