"""The registry: every published remote file is one row, URLs honour mirrors."""

from __future__ import annotations

import re

import pytest

from brainfeat.catalog import Kind, Subject, default_catalog
from brainfeat.catalog import read_packaged_table
from brainfeat.errors import UnknownNameError
from brainfeat.remote.registry import (
    SOURCES, default_registry, events_paths, layer_archive_name)


@pytest.fixture(scope="module")
def registry():
    return default_registry()


def _figshare_id(row) -> int:
    match = re.fullmatch(r"files/(\d+)", row.remote_path)
    assert match, row
    return int(match.group(1))


def test_every_published_layer_and_kind_has_one_zip(registry) -> None:
    catalog = default_catalog()
    names = {layer_archive_name(kind, info.network, info.name)
             for info in catalog.layers for kind in Kind}
    assert len(names) == 4 * len(catalog.layers) == 108
    zips = {row.name for row in registry if row.name.startswith("decodedDNN-")}
    assert zips == names
    assert all(registry.get(name).check == "zip" for name in names)


def test_figshare_ids_are_unique_and_not_superseded(registry) -> None:
    ids = [_figshare_id(row) for row in registry if row.source == "figshare"]
    assert len(ids) == len(set(ids)) == 108 + 6 + 1
    assert not [i for i in ids if 11877389 <= i <= 11877941]  # the superseded upload
    fmri = [_figshare_id(registry.fmri(Subject(n))) for n in range(1, 6)]
    assert not [i for i in fmri if 15049646 <= i <= 15049658]  # before the 2020 fix
    assert registry.get("ImageFeatures.h5").check == "hdf5"


def test_every_annexed_image_file_is_registered_with_size_and_md5(registry) -> None:
    table = read_packaged_table("ds001246-annex-keys.tsv")[1:]
    assert len(table) > 900
    for path, size, md5 in table:
        row = registry.get(f"ds001246/{path}")
        assert (row.size, row.md5, row.check) == (int(size), md5, "gzip")


def test_events_tables_follow_the_run_table_and_the_bold_files(registry) -> None:
    catalog = default_catalog()
    paths = events_paths(catalog)
    runs = sum(entry.n_runs for entry in catalog.runs)
    assert len(paths) == len(set(paths)) == runs
    bold = {row.remote_path for row in registry
            if row.source == "openneuro" and row.remote_path.startswith("sub-")
            and row.remote_path.endswith("_bold.nii.gz")}
    assert {p.replace("_events.tsv", "_bold.nii.gz") for p in paths} == bold
    assert all(f"ds001246/{p}" in registry for p in paths)


def test_bids_selection_by_subject_and_pattern(registry) -> None:
    rows = registry.bids([Subject(2)], ["*_events.tsv", "dataset_description.json"])
    paths = [row.remote_path for row in rows]
    assert "dataset_description.json" in paths
    events = [p for p in paths if p.endswith("_events.tsv")]
    assert len(events) == 79 and all(p.startswith("sub-02/") for p in events)
    masks = registry.bids([Subject(1)], ["sourcedata/sub-*"])
    assert {p.remote_path.split("/")[1] for p in masks} == {"sub-01"}
    everything = registry.bids(None, None)
    assert len(everything) == sum(1 for row in registry if row.source == "openneuro")


def test_urls_use_default_bases_and_mirrors(registry, monkeypatch) -> None:
    row = registry.layer_archive("decoded", "VGG19", "conv1_1")
    assert row.url() == f"{SOURCES['figshare']}/{row.remote_path}"
    monkeypatch.setenv("BRAINFEAT_MIRRORS", "figshare=http://mirror.example/fs/,openneuro=http://o")
    assert row.url() == f"http://mirror.example/fs/{row.remote_path}"
    bids = registry.get("ds001246/README")
    assert bids.url() == "http://o/README"


def test_misspelt_mirror_source_is_an_error_not_a_silent_fallback(registry, monkeypatch) -> None:
    monkeypatch.setenv("BRAINFEAT_MIRRORS", "figshar=http://mirror.example/fs")
    row = registry.layer_archive("decoded", "AlexNet", "fc8")
    with pytest.raises(UnknownNameError, match="unknown source.*'figshar'.*expected 'figshare'"):
        row.url()


def test_unknown_name_is_an_error(registry) -> None:
    with pytest.raises(UnknownNameError, match="Subject1.h5"):
        registry.get("Subject9.h5")


def _pin_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "pin_registry.py"
    spec = importlib.util.spec_from_file_location("pin_registry", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pin_script_fills_empty_cells_from_the_api_listing(tmp_path) -> None:
    import json

    from brainfeat.demo.server import serve_folder

    script = _pin_script()
    comments, header, rows = script.read_table(script.FIGSHARE_TABLE)
    target = next(r for r in rows if r["name"] == "decodedDNN-true-AlexNet-fc8.zip")
    pinned = next(r for r in rows if r["md5"])
    listing = [{"id": int(target["file_id"]), "name": target["name"], "size": 1234,
                "computed_md5": "0" * 32},
               {"id": int(pinned["file_id"]), "name": "renamed.zip", "size": 1,
                "computed_md5": "f" * 32}]
    (tmp_path / "articles" / "42").mkdir(parents=True)
    (tmp_path / "articles" / "42" / "files").write_text(json.dumps(listing))
    with serve_folder(tmp_path) as url:
        listed = script.article_files(url, "42")
    before = dict(pinned)
    messages = script.pin(rows, listed)
    assert (target["size"], target["md5"]) == ("1234", "0" * 32)
    assert pinned == {**before, "size": "1"}  # an empty cell filled, the pinned md5 kept
    assert any("left unchanged" in m for m in messages)
    assert any("renamed.zip" in m for m in messages)
    script.write_table(tmp_path / "table.tsv", comments, header, rows)
    assert script.read_table(tmp_path / "table.tsv") == (comments, header, rows)


def test_every_ds001246_text_file_is_pinned_with_size_and_md5(registry) -> None:
    """A truncated table or an HTML page can only be refused when the table is pinned."""
    events = events_paths(default_catalog())
    text = [row for row in registry if row.source == "openneuro" and row.check != "gzip"]
    assert len(events) == 395 and len(text) == 403
    assert all(row.size and row.md5 and len(row.md5) == 32 for row in text)
    assert {f"ds001246/{p}" for p in events} <= {row.name for row in text}


def test_several_mirror_bases_of_one_source_are_tried_in_order(registry, monkeypatch) -> None:
    row = registry.get("Subject1.h5")
    monkeypatch.setenv("BRAINFEAT_MIRRORS", "figshare=http://a.example/x/ http://b.example")
    assert row.urls() == ["http://a.example/x/files/24080120", "http://b.example/files/24080120"]
    assert row.url() == row.urls()[0]


def test_pin_script_merges_a_hash_table_without_overwriting(tmp_path) -> None:
    script = _pin_script()
    rows = [{"path": "b.tsv", "size": "3", "md5": "b" * 32},
            {"path": "c.tsv", "size": "4", "md5": "c" * 32}]
    table = tmp_path / "hashes.tsv"
    table.write_text("path\tsize\tmd5\na.tsv\t1\t" + "a" * 32 + "\nb.tsv\t3\t" + "b" * 32
                     + "\nc.tsv\t5\t" + "d" * 32 + "\n")
    messages = script.merge_text_hashes(rows, table)
    assert [r["path"] for r in rows] == ["a.tsv", "b.tsv", "c.tsv"]
    assert rows[2] == {"path": "c.tsv", "size": "4", "md5": "c" * 32}  # kept, reported
    assert len(messages) == 1 and "c.tsv" in messages[0] and "left unchanged" in messages[0]
