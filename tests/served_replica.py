"""Test helper: a synthetic replica served from 127.0.0.1 as the figshare mirror."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from brainfeat.catalog import Catalog, Network
from brainfeat.demo.replica import replica_catalog, write_replica
from brainfeat.demo.server import serve_folder


@contextmanager
def served_replica(root: Path, monkeypatch: pytest.MonkeyPatch,
                   **replica_options: object) -> Iterator[tuple[Catalog, str]]:
    """Write a replica into ``root``, serve it, point BRAINFEAT_MIRRORS at it."""
    catalog = write_replica(root, **replica_options)
    with serve_folder(root) as url:
        monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={url}")
        yield catalog, url


def small_downstream_replica(
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Catalog, str, Path]]:
    """Decoded and true AlexNet conv1 (8x6x6) and fc8 and VGG19 fc8 (40 units), 3 subjects,
    served; yields (catalog, url, root). For a module-scoped fixture: ``yield from`` it."""
    root = tmp_path_factory.mktemp("replica")
    monkeypatch = pytest.MonkeyPatch()
    small = replica_catalog({(Network.ALEXNET, "conv1"): (8, 6, 6), (Network.ALEXNET, "fc8"): (40,),
                             (Network.VGG19, "fc8"): (40,)}, n_subjects=3)
    try:
        with served_replica(root, monkeypatch, catalog=small, kinds=["decoded", "true"]) as (
                catalog, url):
            yield catalog, url, root
    finally:
        monkeypatch.undo()
