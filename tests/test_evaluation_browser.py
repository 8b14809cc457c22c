"""The HTML verification report opened in a real browser (headless Chromium).

Skipped, with the reason, where no Chromium is installed, except in CI (``CI=true``): there a
missing browser fails the test (``.ci/run`` installs Debian's ``chromium`` first and stops
if it cannot).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from brainfeat.catalog import Network
from brainfeat.demo.replica import replica_catalog, write_replica
from brainfeat.demo.server import serve_folder
from brainfeat.evaluation.report import verify

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    reason = ("no headless browser: install Debian's `chromium` package "
              "(`apt-get install -y chromium`, as .ci/run does) to run the HTML report test")
    if _in_ci():
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """verify() on a two-network synthetic replica, written with its HTML report."""
    root = tmp_path_factory.mktemp("replica")
    catalog = write_replica(root, replica_catalog({(Network.ALEXNET, "fc8"): (30,),
                                                   (Network.VGG19, "fc7"): (30,)}), seed=3)
    with pytest.MonkeyPatch.context() as monkeypatch, serve_folder(root) as url:
        monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={url}")
        report = verify(data_dir=tmp_path_factory.mktemp("data"), catalog=catalog,
                        out_dir=tmp_path_factory.mktemp("out"), progress=False)
    assert report.ok, report.problems
    return Path(report.outputs["html"])


def _run_browser(browser: str, profile: Path, *arguments: str) -> subprocess.CompletedProcess:
    command = [browser, *FLAGS, f"--user-data-dir={profile}", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(profile)})


def test_report_renders_with_every_figure_and_the_summary_table(report_html: Path,
                                                                tmp_path: Path) -> None:
    browser = _browser()
    result = _run_browser(browser, tmp_path / "profile", "--virtual-time-budget=10000",
                          "--dump-dom", report_html.as_uri())
    dom = result.stdout
    assert result.returncode == 0 and "<html" in dom, result.stderr[-2000:]
    marker = re.search(r'id="render-check"[^>]*>([^<]*)<', dom)
    assert marker is not None, "the load-time script did not run"
    assert marker.group(1) == "figures loaded: 2 of 2"
    assert 'data-figures-loaded="2"' in dom and 'data-figures-total="2"' in dom
    table = re.search(r'<table id="summary-table">(.*?)</table>', dom, re.S)
    assert table is not None
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    assert len(rows) == 1 + 2 * 6  # header + 2 layers x (S1..S5, Averaged)
    assert "every check agreed" in dom and "SYNTHETIC replica" in dom


def test_report_screenshot_is_not_blank(report_html: Path, tmp_path: Path) -> None:
    import matplotlib.image

    browser = _browser()
    shot = tmp_path / "report.png"
    result = _run_browser(browser, tmp_path / "profile", "--window-size=1280,2000",
                          "--virtual-time-budget=10000", f"--screenshot={shot}",
                          report_html.as_uri())
    assert shot.is_file(), result.stderr[-2000:]
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    assert float(np.std(pixels[..., :3])) > 0.05  # text, tables and figures, not a blank page
