"""Test helper: a synthetic replica served from 127.0.0.1 as the figshare mirror."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from brainfeat.catalog import Catalog
from brainfeat.demo.replica import write_replica
from brainfeat.demo.server import serve_folder


@contextmanager
def served_replica(root: Path, monkeypatch: pytest.MonkeyPatch,
                   **replica_options: object) -> Iterator[tuple[Catalog, str]]:
    """Write a replica into ``root``, serve it, point BRAINFEAT_MIRRORS at it."""
    catalog = write_replica(root, **replica_options)
    with serve_folder(root) as url:
        monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={url}")
        yield catalog, url
