"""The fetch engine against a local HTTP server that misbehaves on purpose."""

from __future__ import annotations

import json
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pytest
from _data import DS001246

import brainfeat
from brainfeat.catalog import LayerInfo, Network
from brainfeat.demo.replica import replica_catalog, write_replica
from brainfeat.demo.server import RangeRequestHandler, serve_folder
from brainfeat.errors import (
    DataNotFoundError, DownloadError, IntegrityError, UnsafeArchiveError)
from brainfeat.remote.download import manifest_entries, verify_cache
from brainfeat.remote.registry import default_registry

TRUE_FC8 = default_registry().layer_archive("true", "AlexNet", "fc8")
TRUE_FC8_URL_PATH = "/" + TRUE_FC8.remote_path


class FaultyHandler(RangeRequestHandler):
    """Serves a folder; ``faults[path]`` lists what goes wrong on successive requests."""

    faults: dict[str, list[str]] = {}
    requests: list[tuple[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802
        type(self).requests.append((self.path, self.headers.get("Range", "")))
        queue = type(self).faults.get(self.path, [])
        fault = queue.pop(0) if queue else ""
        if fault == "html":
            body = b"<!DOCTYPE html><html><body>Service unavailable</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if fault == "503":
            self.send_error(503, "Service Unavailable")
            return
        self.fault = fault
        super().do_GET()

    def copyfile(self, source, outputfile) -> None:  # type: ignore[override]
        fault = getattr(self, "fault", "")
        if fault == "cut":  # send half the body, then drop the connection
            data = source.read()
            outputfile.write(data[: len(data) // 2])
            outputfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif fault == "corrupt":  # same size, one byte of a member flipped
            data = bytearray(source.read())
            data[_first_member_data_offset(data) + 40] ^= 0xFF
            outputfile.write(bytes(data))
        elif fault in ("slow", "slower"):
            while chunk := source.read(2048):
                outputfile.write(chunk)
                time.sleep(0.01 if fault == "slow" else 0.15)
        else:
            super().copyfile(source, outputfile)


def _first_member_data_offset(data: bytearray) -> int:
    name_length = int.from_bytes(data[26:28], "little")
    extra_length = int.from_bytes(data[28:30], "little")
    return 30 + name_length + extra_length


@contextmanager
def faulty_server(root: Path, monkeypatch: pytest.MonkeyPatch,
                  faults: dict[str, list[str]] | None = None) -> Iterator[type[FaultyHandler]]:
    handler = type("Handler", (FaultyHandler,), {"faults": dict(faults or {}), "requests": []})
    with serve_folder(root, handler) as url:
        monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={url},openneuro={url}/ds001246")
        yield handler


def _replica_of_true_fc8(tmp_path: Path, n_units: int):
    catalog = replica_catalog({(Network.ALEXNET, "fc8"): (n_units,)}, n_subjects=2)
    write_replica(tmp_path / "server", catalog, kinds=["true"])
    return catalog, tmp_path / "server", tmp_path / "data"


@pytest.fixture
def tiny(tmp_path: Path):
    """A replica of only AlexNet fc8 (true features, 30 units)."""
    return _replica_of_true_fc8(tmp_path, 30)


def _fetch_true_fc8(catalog, data_dir: Path, **kw) -> Path:
    return brainfeat.fetch("true", "AlexNet", "fc8", data_dir=data_dir, catalog=catalog,
                           progress=False, **kw)


def test_fetch_extracts_layer_and_records_manifest(tiny, monkeypatch) -> None:
    catalog, server, data = tiny
    with faulty_server(server, monkeypatch) as handler:
        folder = _fetch_true_fc8(catalog, data)
        again = _fetch_true_fc8(catalog, data, download=False)
    assert folder == again == data / "decodedDNN" / "true" / "AlexNet" / "fc8"
    assert len(list(folder.glob("true-AlexNet-fc8-*.mat"))) == 50
    assert len(handler.requests) == 1
    entry = manifest_entries(data)[TRUE_FC8.local_path]
    assert entry["pinned_by"] == "first verified download" and len(entry["sha256"]) == 64
    assert len(entry["members"]) == 50
    assert not (data / TRUE_FC8.local_path).exists()  # the zip is dropped after extraction


def test_truncated_download_is_resumed_with_range(tmp_path: Path, monkeypatch) -> None:
    catalog, server, data = _replica_of_true_fc8(tmp_path, 3000)  # a zip of ~0.6 MB
    with faulty_server(server, monkeypatch, {TRUE_FC8_URL_PATH: ["cut"]}) as handler:
        features = brainfeat.load("true", "AlexNet", "fc8", data_dir=data, catalog=catalog,
                                  progress=False)
    assert features.values.shape == (50, 3000) and np.isfinite(features.values).all()
    (first, first_range), (second, second_range) = handler.requests
    assert first == second == TRUE_FC8_URL_PATH and first_range == ""
    half = (server / TRUE_FC8.remote_path).stat().st_size // 2
    resumed_at = int(second_range.removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_at <= half  # what arrived before the cut was kept


def test_partial_file_left_by_a_killed_process_is_resumed(tiny, monkeypatch) -> None:
    catalog, server, data = tiny
    source = (server / TRUE_FC8.remote_path).read_bytes()
    part = data / (TRUE_FC8.local_path + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(source[:1000])
    with faulty_server(server, monkeypatch) as handler:
        folder = _fetch_true_fc8(catalog, data)
    assert handler.requests == [(TRUE_FC8_URL_PATH, "bytes=1000-")]
    assert len(list(folder.iterdir())) == 50 and not part.exists()


def test_corrupt_member_is_detected_and_fetched_again(tiny, monkeypatch) -> None:
    catalog, server, data = tiny
    with faulty_server(server, monkeypatch, {TRUE_FC8_URL_PATH: ["corrupt"]}) as handler:
        features = brainfeat.load("true", "AlexNet", "fc8", data_dir=data, catalog=catalog,
                                  progress=False)
    assert len(handler.requests) == 2 and np.isfinite(features.values).all()


def test_always_corrupt_download_is_an_integrity_error_and_not_cached(tiny, monkeypatch) -> None:
    catalog, server, data = tiny
    with faulty_server(server, monkeypatch, {TRUE_FC8_URL_PATH: ["corrupt"] * 2}):
        with pytest.raises(IntegrityError, match=r"(?s)decodedDNN-true-AlexNet-fc8\.zip.*"
                                                 r"Refused after 2 downloads"):
            _fetch_true_fc8(catalog, data)
    assert manifest_entries(data) == {}
    left = [p.name for p in (data / "downloads").iterdir() if not p.name.endswith(".lock")]
    assert left == []  # neither the zip nor a .part is kept


def test_html_error_page_is_refused_and_not_cached(tiny, monkeypatch) -> None:
    catalog, server, data = tiny
    with faulty_server(server, monkeypatch, {TRUE_FC8_URL_PATH: ["html"]}):
        with pytest.raises(DownloadError, match="HTML page"):
            _fetch_true_fc8(catalog, data)
        assert manifest_entries(data) == {}
        assert not (data / (TRUE_FC8.local_path + ".part")).exists()
        assert _fetch_true_fc8(catalog, data).is_dir()  # the next try succeeds


def test_404_is_reported_clearly(tmp_path: Path, monkeypatch) -> None:
    catalog = replica_catalog({(Network.ALEXNET, "fc8"): (30,)}, n_subjects=1)
    (tmp_path / "empty").mkdir()
    with faulty_server(tmp_path / "empty", monkeypatch):
        with pytest.raises(DownloadError, match=r"(?s)decodedDNN-true-AlexNet-fc8.*404 Not "
                                                r"Found.*BRAINFEAT_MIRRORS.*files/13110737"):
            _fetch_true_fc8(catalog, tmp_path / "data")


def test_server_error_names_status_file_and_what_to_do(tiny, monkeypatch) -> None:
    catalog, server, data = tiny
    with faulty_server(server, monkeypatch, {TRUE_FC8_URL_PATH: ["503"]}):
        with pytest.raises(DownloadError, match=r"(?s)decodedDNN-true-AlexNet-fc8\.zip.*HTTP "
                                                r"503.*retry later"):
            _fetch_true_fc8(catalog, data)
        assert manifest_entries(data) == {}
        assert _fetch_true_fc8(catalog, data).is_dir()  # the next try succeeds


def test_zip_slip_is_refused(tiny, monkeypatch, tmp_path: Path) -> None:
    catalog, server, data = tiny
    with zipfile.ZipFile(server / TRUE_FC8.remote_path, "w") as archive:
        archive.writestr("decodedDNN/true/AlexNet/fc8/ok.mat", b"x")
        archive.writestr("decodedDNN/../../../escaped.txt", b"gotcha")
    with faulty_server(server, monkeypatch):
        with pytest.raises(UnsafeArchiveError, match="escaped.txt"):
            _fetch_true_fc8(catalog, data)
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not (data / "decodedDNN" / "true" / "AlexNet" / "fc8" / "ok.mat").exists()


def test_two_concurrent_fetches_give_one_intact_copy(tiny, monkeypatch) -> None:
    catalog, server, data = tiny
    results: list[object] = []

    def fetch() -> None:
        try:
            results.append(_fetch_true_fc8(catalog, data))
        except Exception as error:  # noqa: BLE001 - reported below
            results.append(error)

    with faulty_server(server, monkeypatch, {TRUE_FC8_URL_PATH: ["slow"]}) as handler:
        threads = [threading.Thread(target=fetch) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(results) == 2 and results[0] == results[1], results
    assert len(handler.requests) == 1
    assert verify_cache(data) == (1, [])


def test_two_processes_fetching_one_file_give_one_intact_copy(tiny, monkeypatch) -> None:
    import os
    import subprocess
    import sys

    catalog, server, data = tiny
    code = ("import sys, brainfeat; from brainfeat.catalog import Catalog; "
            "print(brainfeat.fetch('true', 'AlexNet', 'fc8', data_dir=sys.argv[1], "
            "catalog=Catalog.load(sys.argv[2]), progress=False))")
    # ~1.6 s of download: the second process starts while the first one holds the lock
    with faulty_server(server, monkeypatch, {TRUE_FC8_URL_PATH: ["slower"]}) as handler:
        processes = [subprocess.Popen(
            [sys.executable, "-c", code, str(data), str(server / "catalog.json")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
            for _ in range(2)]
        outputs = [process.communicate(timeout=120) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert {out.strip() for out, _ in outputs} == {str(data / "decodedDNN/true/AlexNet/fc8")}
    assert len(handler.requests) == 1
    assert verify_cache(data) == (1, [])


def test_verify_cache_catches_local_corruption_then_fetch_repairs(tiny, monkeypatch) -> None:
    catalog, server, data = tiny
    with faulty_server(server, monkeypatch) as handler:
        folder = _fetch_true_fc8(catalog, data)
        victim = sorted(folder.iterdir())[7]
        content = bytearray(victim.read_bytes())
        content[-3] ^= 0xFF  # same size: only the CRC notices
        victim.write_bytes(bytes(content))
        checked, problems = verify_cache(data)
        assert checked == 1 and len(problems) == 1 and "CRC" in problems[0].reason
        with pytest.raises(DataNotFoundError, match="marked corrupt"):
            _fetch_true_fc8(catalog, data, download=False)
        _fetch_true_fc8(catalog, data)
    assert len(handler.requests) == 2
    assert verify_cache(data) == (1, [])


def test_redownload_must_match_the_locally_pinned_hash(tiny, monkeypatch) -> None:
    catalog, server, data = tiny
    with faulty_server(server, monkeypatch):
        folder = _fetch_true_fc8(catalog, data)
    (folder / sorted(p.name for p in folder.iterdir())[0]).unlink()
    write_replica(server, catalog, kinds=["true"], seed=99)  # the "remote" file changed
    with faulty_server(server, monkeypatch):
        with pytest.raises(IntegrityError, match="checksum"):
            _fetch_true_fc8(catalog, data)


def _write_h5(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        handle["dataset"] = np.zeros((2, 3))


def test_fetch_fmri_checks_hdf5(tmp_path: Path, monkeypatch) -> None:
    row = default_registry().get("Subject2.h5")
    served = tmp_path / "server" / row.remote_path
    served.parent.mkdir(parents=True)
    served.write_bytes(b"\x00" * 2048)
    with faulty_server(tmp_path / "server", monkeypatch):
        with pytest.raises(IntegrityError, match="HDF5"):
            brainfeat.fetch_fmri("sub-02", data_dir=tmp_path / "data", progress=False)
        _write_h5(served)
        path = brainfeat.fetch_fmri(2, data_dir=tmp_path / "data", progress=False)
    assert path == tmp_path / "data" / "fmri" / "Subject2.h5"
    with h5py.File(path) as handle:
        assert handle["dataset"].shape == (2, 3)


def test_pinned_md5_mismatch_is_refused(tmp_path: Path, monkeypatch) -> None:
    row = default_registry().get("ds001246/dataset_description.json")
    assert row.md5 is not None
    served = tmp_path / "server" / "ds001246" / "dataset_description.json"
    served.parent.mkdir(parents=True)
    served.write_text(json.dumps({"Name": "not the real file"}).ljust(row.size))
    with faulty_server(tmp_path / "server", monkeypatch):  # right size, wrong MD5
        with pytest.raises(IntegrityError, match="checksum"):
            brainfeat.fetch_bids(1, include=["dataset_description.json"],
                                 data_dir=tmp_path / "data", progress=False)
    assert not (tmp_path / "data" / "ds001246" / "dataset_description.json").exists()


def test_fetch_bids_serves_a_tree(tmp_path: Path, monkeypatch) -> None:
    rows = default_registry().bids([brainfeat.Subject(2)], ["*_events.tsv"])
    assert rows and all(r.md5 and r.size for r in rows)  # every event table is pinned
    for row in rows:  # the real tables of release 1.2.1, checked against their MD5s
        path = tmp_path / "server" / "ds001246" / row.remote_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes((DS001246 / row.remote_path).read_bytes())
    with faulty_server(tmp_path / "server", monkeypatch) as handler:
        root = brainfeat.fetch_bids("S2", include=["*_events.tsv"], data_dir=tmp_path / "data",
                                    progress=False)
    assert root == tmp_path / "data" / "ds001246"
    assert len(list(root.rglob("*_events.tsv"))) == len(rows) == 79 == len(handler.requests)


@pytest.mark.parametrize("call,names", [
    (lambda d: brainfeat.fetch("decoded", "VGG19", "conv5_4", data_dir=d, download=False),
     ["decodedDNN-decoded-VGG19-conv5_4.zip", "`brainfeat fetch decoded VGG19 conv5_4`"]),
    (lambda d: brainfeat.fetch_fmri("S4", data_dir=d, download=False),
     ["Subject4.h5", "`brainfeat fetch fmri S4`"]),
    (lambda d: brainfeat.fetch_bids(5, include=["*run-01_events.tsv"], data_dir=d,
                                    download=False),
     ["sub-05", "_events.tsv", "`brainfeat fetch bids sub-05 --include '*run-01_events.tsv'`"]),
])
def test_download_false_names_the_file_and_the_command(tmp_path: Path, call, names) -> None:
    with pytest.raises(DataNotFoundError) as caught:
        call(tmp_path)
    message = str(caught.value)
    assert "download=False" in message and all(name in message for name in names), message
    assert isinstance(caught.value, FileNotFoundError)


def test_unknown_layer_for_the_registry() -> None:
    with pytest.raises(brainfeat.UnknownNameError, match="relu7"):
        brainfeat.fetch("true", "AlexNet", "relu7", download=False)


def test_catalog_layer_without_registry_row_is_an_error(tmp_path: Path) -> None:
    catalog = replica_catalog()
    fake = catalog.__class__(**{**catalog.__dict__, "layers": (
        LayerInfo(Network.ALEXNET, "pool5", (2,)),)})
    with pytest.raises(brainfeat.UnknownNameError, match="pool5"):
        brainfeat.fetch("true", "AlexNet", "pool5", catalog=fake, data_dir=tmp_path,
                        download=False)


def test_html_page_is_refused_for_a_text_file_too(tmp_path: Path, monkeypatch) -> None:
    row = default_registry().get(
        "ds001246/sub-04/ses-perceptionTest01/func/"
        "sub-04_ses-perceptionTest01_task-perception_run-01_events.tsv")
    served = tmp_path / "server" / "ds001246" / row.remote_path
    served.parent.mkdir(parents=True)
    served.write_bytes(b"<html><body>AccessDenied</body></html>")
    with faulty_server(tmp_path / "server", monkeypatch):
        with pytest.raises(DownloadError, match="HTML"):
            brainfeat.fetch_bids(4, include=["*perceptionTest01*run-01_events.tsv"],
                                 data_dir=tmp_path / "data", progress=False)
    assert not (tmp_path / "data" / row.local_path).exists()


@pytest.mark.network
def test_real_openneuro_text_file_matches_its_pinned_md5(tmp_path: Path) -> None:
    root = brainfeat.fetch_bids(1, include=["dataset_description.json"], data_dir=tmp_path,
                                progress=False)
    description = json.loads((root / "dataset_description.json").read_text())
    assert description["DatasetDOI"] == "10.18112/openneuro.ds001246.v1.2.1"


@pytest.mark.network
def test_real_figshare_accuracy_loads_with_the_catalog_shape(tmp_path: Path) -> None:
    accuracy = brainfeat.load_accuracy("AlexNet", "fc8", "S1", data_dir=tmp_path,
                                       progress=False)
    assert accuracy.values.shape == (1000,)
    assert np.nanmax(np.abs(accuracy.values)) <= 1


def test_a_deleted_member_is_named_when_download_is_off_then_fetch_repairs(tiny,
                                                                          monkeypatch) -> None:
    catalog, server, data = tiny
    with faulty_server(server, monkeypatch) as handler:
        folder = _fetch_true_fc8(catalog, data)
        victim = sorted(folder.iterdir())[3]
        victim.unlink()
        with pytest.raises(DataNotFoundError, match=f"member .*{victim.name} is missing"):
            _fetch_true_fc8(catalog, data, download=False)
        _fetch_true_fc8(catalog, data)
    assert victim.is_file() and len(handler.requests) == 2
