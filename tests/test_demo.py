"""The demo: replica written, served, fetched through the real path, checked."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from brainfeat.catalog import Catalog, Kind
from brainfeat.demo.replica import CATALOG_FILE, replica_catalog, write_replica
from brainfeat.demo.run import check_accuracies, fetch_replica
from brainfeat.io.mat import write_mat_array
from brainfeat.published import published_path
from brainfeat.remote.download import manifest_entries
from brainfeat.remote.registry import default_registry


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    return fetch_replica(tmp_path_factory.mktemp("demo"))


def test_replica_has_the_published_layout_and_says_it_is_synthetic(tmp_path: Path) -> None:
    catalog = write_replica(tmp_path)
    assert catalog.synthetic and "SYNTHETIC" in catalog.name
    assert "SYNTHETIC" in (tmp_path / "README.txt").read_text()
    assert Catalog.load(tmp_path / CATALOG_FILE) == catalog == replica_catalog()
    assert len(catalog.test_image_ids) == 50
    flavours = set()
    for info in catalog.layers:
        for kind in Kind:
            row = default_registry().layer_archive(kind, info.network, info.name)
            served = tmp_path / row.remote_path  # files/<figshare id>
            assert served.read_bytes() == (tmp_path / row.name).read_bytes()
            with zipfile.ZipFile(served) as archive:
                names = archive.namelist()
                first = archive.read(names[0])
            subjects = catalog.subjects_for(kind) or (None,)
            images = catalog.test_image_ids if kind.per_image else (None,)
            expected = {f"decodedDNN/{published_path(kind, info.network, info.name, s, i)}"
                        for s in subjects for i in images}
            assert set(names) == expected
            flavours.add(first[:10].decode())  # "MATLAB 5.0" or "MATLAB 7.3"
    assert flavours == {"MATLAB 5.0", "MATLAB 7.3"}


def test_demo_fetches_through_the_download_path_and_pins(demo) -> None:
    entries = manifest_entries(demo.data_dir)
    assert len(entries) == 4 * len(demo.catalog.layers)
    assert {e["pinned_by"] for e in entries.values()} == {"first verified download"}
    assert all(e["url"].startswith("http://127.0.0.1:") and "/files/" in e["url"]
               for e in entries.values())


def test_accuracy_check_agrees_on_the_replica(demo) -> None:
    checks = check_accuracies(demo)
    assert len(checks) == len(demo.catalog.layers) * (len(demo.catalog.subjects) + 1)
    assert all(check.agrees for check in checks)
    assert all(check.n_nan == 1 for check in checks)


def test_accuracy_check_catches_a_wrong_accuracy_file(tmp_path: Path) -> None:
    data = fetch_replica(tmp_path)
    info = data.catalog.layers[1]
    folder = data.data_dir / "decodedDNN" / "accuracy" / info.network.value / info.name
    path = folder / f"accuracy-{info.network.value}-{info.name}-S2.mat"
    write_mat_array(path, "accuracy", np.linspace(-1, 1, info.n_units), "v5")
    bad = [c for c in check_accuracies(data) if not c.agrees]
    assert [(c.layer, c.subject) for c in bad] == [(info.name, "S2")]

