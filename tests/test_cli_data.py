"""The data verbs: fetch, load, info, where, verify-cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from served_replica import served_replica

from brainfeat.catalog import Network
from brainfeat.cli import main
from brainfeat.demo.replica import CATALOG_FILE, replica_catalog


@pytest.fixture
def replica(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    catalog = replica_catalog({(Network.ALEXNET, "fc8"): (12,)}, n_subjects=2)
    with served_replica(tmp_path / "server", monkeypatch, catalog=catalog):
        yield tmp_path / "server" / CATALOG_FILE, tmp_path / "data"


def test_where_reports_folder_and_mirrors(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BRAINFEAT_MIRRORS", "openneuro=http://lab.example/ds001246")
    assert main(["where", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"data folder: {tmp_path} (from --data-dir)" in out
    assert "openneuro: http://lab.example/ds001246 (BRAINFEAT_MIRRORS)" in out
    assert "figshare: https://ndownloader.figshare.com" in out


def test_fetch_load_info_verify(replica, capsys) -> None:
    catalog, data = replica
    common = ["--data-dir", str(data)]
    assert main(["fetch", "true", "AlexNet", "fc8", "--catalog", str(catalog),
                 "--no-progress", *common]) == 0
    assert capsys.readouterr().out.strip() == str(data / "decodedDNN/true/AlexNet/fc8")
    assert main(["load", "decoded", "AlexNet", "fc8", "S2", "--catalog", str(catalog),
                 *common]) == 0
    out = capsys.readouterr().out
    assert "decoded AlexNet fc8 S2: 50 images x 12 units" in out and "n01443537_22563" in out
    assert main(["info", *common]) == 0
    out = capsys.readouterr().out
    assert "decodedDNN-true-AlexNet-fc8.zip" in out and "verified" in out and "2 entries" in out
    assert main(["verify-cache", *common]) == 0
    assert "2 cached entries checked" in capsys.readouterr().out
    victim = next((data / "decodedDNN/true/AlexNet/fc8").iterdir())
    victim.write_bytes(victim.read_bytes()[:-1] + b"!")
    assert main(["verify-cache", *common]) == 1
    assert "CORRUPT downloads/decodedDNN-true-AlexNet-fc8.zip" in capsys.readouterr().out
    assert main(["info", *common]) == 0
    assert "CORRUPT" in capsys.readouterr().out


def test_errors_exit_2_with_a_message(tmp_path: Path, capsys) -> None:
    assert main(["load", "true", "AlexNet", "fc8", "--no-download",
                 "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "download=False" in err and "brainfeat fetch true AlexNet fc8" in err
    assert main(["fetch", "fmri", "--data-dir", str(tmp_path)]) == 2
    assert "S1 S2" in capsys.readouterr().err
    assert main(["fetch", "decoded", "AlexNet", "--data-dir", str(tmp_path)]) == 2
    assert "NETWORK LAYER" in capsys.readouterr().err


def test_cache_verbs_list_check_forget_refetch_adopt(replica, tmp_path, capsys) -> None:
    catalog, data = replica
    common = ["--data-dir", str(data)]
    folder = data / "decodedDNN/true/AlexNet/fc8"
    zip_name = "decodedDNN-true-AlexNet-fc8.zip"
    assert main(["fetch", "true", "AlexNet", "fc8", "--catalog", str(catalog), "--no-progress",
                 *common]) == 0
    assert main(["cache", "list", *common]) == 0
    assert zip_name in capsys.readouterr().out
    (data / "downloads" / "tmpq1w2e3r4").write_bytes(b"left by a killed fetch")
    assert main(["cache", "check", "--no-progress", *common]) == 0
    out = capsys.readouterr().out
    assert "tmpq1w2e3r4 (left by a killed fetch)" in out and "all intact" in out
    assert main(["cache", "forget", zip_name, *common]) == 0
    assert f"{zip_name}: 50 files deleted" in capsys.readouterr().out
    assert not folder.exists() or not any(folder.iterdir())
    assert main(["cache", "refetch", zip_name, "--catalog", str(catalog), "--no-progress",
                 *common]) == 0
    assert len(list(folder.iterdir())) == 50
    served = catalog.parent / "files" / "13110737"
    mine = tmp_path / "by-hand.zip"
    mine.write_bytes(served.read_bytes())
    other = tmp_path / "other-data"
    assert main(["cache", "adopt", str(mine), "--as", zip_name, "--catalog", str(catalog),
                 "--no-progress", "--data-dir", str(other)]) == 0
    assert len(list((other / "decodedDNN/true/AlexNet/fc8").iterdir())) == 50
    mine.write_bytes(served.read_bytes()[:-10])
    assert main(["cache", "adopt", str(mine), "--as", "decodedDNN-true-AlexNet-fc7.zip",
                 "--no-progress", "--data-dir", str(tmp_path / "third")]) == 2
    assert "not adopted" in capsys.readouterr().err
