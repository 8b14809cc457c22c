"""Every command line and Python block of the README, run offline against the demo mirror.

The mirror is served by ``brainfeat demo --serve`` in a subprocess and pointed at through the
``export`` line it prints, as a reader would; Ctrl-C must stop it cleanly.
Lines are read from README.md each run, so new lines are picked up; a line that is neither a
``brainfeat`` command nor one of the two set-up commands fails the test with its text.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from brainfeat.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
#: The README's set-up commands: `make demo` runs `brainfeat demo` (a README line run here)
#: and `make test` runs this suite; neither is run from inside it.
SETUP = ("make demo", "make test")
#: Options appended to lines whose full run is heavy, so they take seconds on the SYNTHETIC
#: mirror; they are the mirror's own settings (its loop.json: random weights, fc8, 20 voxels).
SMALL = {
    "features": ["--layers", "fc8", "--weights", "random"],
    "regenerate": ["--layers", "fc8", "--weights", "random", "--n-voxels", "20"],
}
#: Text the output of a verb must hold besides exiting 0 with some output ({url}: the mirror's).
EXPECT = {
    "where": "{url}",
    "verify-cache": "all intact",
    "design-check": "design holds",
    "events": "stimulus",
    "verify-features": "all layers pass",
    "load": "accuracy VGG19 fc8 Averaged",
    "verify-regenerated": "agree",
}
#: Replacements in the Python blocks: the images folder, and the mirror's weights.
PYTHON_SUBSTITUTIONS = {
    '"my_images/"': "IMAGES",
    'weights="alexnet.caffemodel"': 'weights="random", layers=["fc8"]',
}


def readme_blocks(language: str) -> list[str]:
    """The fenced code blocks of README.md in ``language``, in order."""
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.M | re.S)


def command_lines() -> list[str]:
    """Every non-empty line of the README's bash blocks."""
    return [line.strip() for block in readme_blocks("bash") for line in block.splitlines()
            if line.strip()]


@dataclass(frozen=True)
class Served:
    """What ``brainfeat demo --serve`` printed: the settings of its ``export`` line, its images."""

    settings: dict[str, str]
    images: Path

    @property
    def url(self) -> str:
        """The mirror's base URL (its figshare source)."""
        return dict(item.split("=", 1) for item in
                    self.settings["BRAINFEAT_MIRRORS"].split(","))["figshare"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``brainfeat demo --serve`` in a subprocess, as a reader starts it; stopped by Ctrl-C."""
    work = tmp_path_factory.mktemp("serve")
    process = subprocess.Popen(
        [sys.executable, "-m", "brainfeat", "demo", "--serve", "--dir", str(work / "demo")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work,
        # As from a terminal: a shell starts background jobs (make test &) with SIGINT
        # ignored, which the child would inherit, and then Ctrl-C could not stop it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("export "):
                break
        assert lines and lines[-1].startswith("export "), "".join(lines)
        settings = dict(word.split("=", 1) for word in shlex.split(lines[-1])[1:])
        assert set(settings) == {"BRAINFEAT_MIRRORS", "BRAINFEAT_CATALOG", "BRAINFEAT_PINS",
                                 "BRAINFEAT_DATA"}, lines[-1]
        images = re.search(r"\(images: (.+)\)\.$", "".join(lines), flags=re.M)
        assert images, "".join(lines)
        yield Served(settings, Path(images.group(1)))
    finally:
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=60)[0]
    assert process.returncode == 0 and "Stopped." in rest, rest


@pytest.fixture
def pointed(served: Served, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Served:
    """The printed settings exported; the current folder a fresh one."""
    for name, value in served.settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return served


def _argv(line: str, served: Served) -> list[str]:
    words = shlex.split(line, comments=True)
    words = [str(served.images) if word == "IMAGES" else word for word in words]
    return words[1:] + SMALL.get(words[1], []) if len(words) > 1 else []


def test_readme_lists_commands() -> None:
    lines = command_lines()
    assert SETUP[0] in " ".join(lines) and SETUP[1] in " ".join(lines)
    assert sum(line.startswith("brainfeat ") for line in lines) >= 15
    assert len(readme_blocks("python")) >= 2
    for key in PYTHON_SUBSTITUTIONS:  # a README edit that drops one must update this test
        assert any(key in block for block in readme_blocks("python")), key


@pytest.mark.slow
def test_every_command_line_runs_offline(pointed: Served,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    failures = []
    for line in command_lines():
        if shlex.split(line, comments=True) in [s.split() for s in SETUP]:
            continue
        if not line.startswith("brainfeat "):
            failures.append(f"{line!r}: not a brainfeat command; it cannot run offline here")
            continue
        argv = _argv(line, pointed)
        code = main(argv)
        out, err = capsys.readouterr()
        verb = argv[0]
        wanted = EXPECT.get(verb, "").format(url=pointed.url)
        if code != 0 or not out.strip() or wanted not in out:
            failures.append(f"{line!r}: exit {code}, expected {wanted!r} in the output\n"
                            f"stdout: {out[-1500:]}\nstderr: {err[-1500:]}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_python_blocks_run_offline(pointed: Served) -> None:
    """Each block in a fresh interpreter, as a reader runs it after the printed ``export``."""
    outputs = []
    for block in readme_blocks("python"):
        for old, new in PYTHON_SUBSTITUTIONS.items():
            block = block.replace(old, repr(str(pointed.images)) if new == "IMAGES" else new)
        run = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                             timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        assert run.returncode == 0, f"README block failed offline:\n{block}\n{run.stderr[-3000:]}"
        outputs.append(run.stdout)
    assert "n0" in outputs[0] and "mean" in outputs[0]  # the quick start's image ids, summary
