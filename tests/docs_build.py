"""Test helper: the documentation site built once per test process, as ``make docs`` builds it.

Warnings are errors (``-W --keep-going``) and every gallery example runs again
(``run_stale_examples``), so a broken docstring, a dead cross-reference, an outdated CLI
option or a failing example fails the build. The HTML goes to a temporary folder; the
generated sources (``docs/generated``, ``docs/auto_examples``) go where ``make docs`` puts
them.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
BUILD_TIMEOUT_S = 600


@dataclass(frozen=True)
class SiteBuild:
    """One build: its exit code, its output, where the HTML is and how long it took."""

    returncode: int
    output: str
    html: Path
    seconds: float


def sphinx_command(html: Path, doctrees: Path) -> list[str]:
    """The ``make docs`` command line, with the output folders of this build."""
    return [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
            "-d", str(doctrees), "-D", "sphinx_gallery_conf.run_stale_examples=1",
            str(DOCS), str(html)]


@functools.cache
def build_site() -> SiteBuild:
    """Build the site into a temporary folder (once per process)."""
    try:
        import sphinx  # noqa: F401
    except ImportError:
        pytest.fail("the docs extra is not installed: pip install -e '.[docs]' "
                    "(make test installs it)")
    out = Path(tempfile.mkdtemp(prefix="brainfeat-docs-"))
    start = time.perf_counter()
    result = subprocess.run(sphinx_command(out / "html", out / "doctrees"), cwd=REPO,
                            capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    return SiteBuild(result.returncode, result.stdout + result.stderr, out / "html",
                     time.perf_counter() - start)
