"""The demo mirror: its SYNTHETIC ds001246 subset and the settings that point brainfeat at it
(``BRAINFEAT_CATALOG``, ``BRAINFEAT_PINS``, the printed ``export`` line)."""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import replace
from pathlib import Path

import nibabel
import numpy as np
import pytest

from brainfeat.bids.design import check_design
from brainfeat.bids.events import read_events
from brainfeat.catalog import Subject, default_catalog, resolve_catalog
from brainfeat.demo.bids_replica import MASK_PARTS, PINS_FILE, SCHEMAS, write_bids_replica
from brainfeat.demo.serve import Mirror
from brainfeat.demo.server import serve_folder
from brainfeat.errors import DataNotFoundError, IntegrityError, UnknownNameError
from brainfeat.fmri.rois import load_roi
from brainfeat.remote.api import fetch_bids
from brainfeat.remote.registry import default_registry

EVENTS = ("sub-01/ses-perceptionTest01/func/"
          "sub-01_ses-perceptionTest01_task-perception_run-01_events.tsv")


@pytest.fixture(scope="module")
def bids(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BIDS replica of the published catalog (every training image, S1..S5)."""
    root = tmp_path_factory.mktemp("bids")
    write_bids_replica(root, default_catalog(), seed=3)
    return root


@pytest.mark.parametrize("split", ["train", "test", "imagery"])
def test_replica_tables_follow_the_published_design(bids: Path, split: str) -> None:
    report = check_design("S1", split, root=bids / "ds001246", catalog=default_catalog())
    assert report.ok, report.deviations
    expected = {"train": 1200, "test": 50 * 35, "imagery": 25 * 20}[split]
    assert report.n_blocks == expected
    assert (len(report.repeats) > 0) is (split != "imagery")


def test_replica_tables_use_every_release_schema(bids: Path) -> None:
    seen = set()
    for number in range(1, 6):
        label = Subject(number).bids
        path = next((bids / "ds001246" / label / "ses-perceptionTest01" / "func").glob("*run-01_*"))
        header = path.read_text(encoding="utf-8").splitlines()[0].split("\t")
        seen.update(schema for schema in SCHEMAS if schema in header)
        events = read_events(path)
        shown = events.loc[events.event_type == "stimulus", "stimulus_name"]
        assert set(shown) == set(default_catalog().test_image_ids), path.name
    assert seen == set(SCHEMAS)


def test_pins_describe_the_files_and_replace_the_registry_s(
        bids: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"ds001246/{EVENTS}"
    published = default_registry().get(name).md5
    content = (bids / "ds001246" / EVENTS).read_bytes()
    monkeypatch.setenv("BRAINFEAT_PINS", str(bids / PINS_FILE))
    row = default_registry().get(name)
    assert (row.size, row.md5) == (len(content), hashlib.md5(content).hexdigest())
    assert row.md5 != published
    monkeypatch.delenv("BRAINFEAT_PINS")
    assert default_registry().get(name).md5 == published


def test_bad_pins_are_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAINFEAT_PINS", str(tmp_path / "missing.tsv"))
    with pytest.raises(DataNotFoundError, match="BRAINFEAT_PINS"):
        default_registry()
    pins = tmp_path / "pins.tsv"
    pins.write_text("name\tsize\tmd5\nds001246/sub-09/x.tsv\t3\tabc\n", encoding="utf-8")
    monkeypatch.setenv("BRAINFEAT_PINS", str(pins))
    with pytest.raises(UnknownNameError, match="sub-09"):
        default_registry()


def test_catalog_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = replace(default_catalog(), name="small", synthetic=True,
                    test_image_ids=default_catalog().test_image_ids[:3])
    path = tmp_path / "catalog.json"
    path.write_text(small.to_json(), encoding="utf-8")
    monkeypatch.setenv("BRAINFEAT_CATALOG", str(path))
    assert resolve_catalog(None) == small
    assert resolve_catalog(default_catalog()) == default_catalog()  # an explicit one wins
    monkeypatch.setenv("BRAINFEAT_CATALOG", str(tmp_path / "nowhere.json"))
    with pytest.raises(DataNotFoundError, match="BRAINFEAT_CATALOG.*nowhere.json"):
        resolve_catalog(None)


def test_masks_fetched_through_the_mirror(bids: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAINFEAT_PINS", str(bids / PINS_FILE))
    with serve_folder(bids) as url:
        monkeypatch.setenv("BRAINFEAT_MIRRORS", f"openneuro={url}/ds001246")
        fetch_bids("S2", include=["sourcedata/*"], data_dir=tmp_path, progress=False)
    roi = load_roi("S2", "LVC", data_dir=tmp_path, download=False)
    anat = bids / "ds001246" / "sourcedata" / "sub-02" / "anat"
    union = np.zeros((64, 64, 50), dtype=bool)
    for side in ("LH", "RH"):
        for part in MASK_PARTS[:6]:  # V1d .. V3v
            image = nibabel.load(anat / f"sub-02_mask_{side}_{part}.nii.gz")
            union |= np.asarray(image.dataobj) != 0
    assert roi.mask.shape == (64, 64, 50) and roi.n_voxels > 0
    assert np.array_equal(roi.mask, union)


def test_a_file_that_differs_from_its_pin_is_refused(bids: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    served = tmp_path / "served"
    write_bids_replica(served, default_catalog(), seed=3)
    path = served / "ds001246" / EVENTS
    path.write_bytes(path.read_bytes().replace(b"stimulus", b"stimulux", 1))
    monkeypatch.setenv("BRAINFEAT_PINS", str(bids / PINS_FILE))  # the untampered pins
    with serve_folder(served) as url:
        monkeypatch.setenv("BRAINFEAT_MIRRORS", f"openneuro={url}/ds001246")
        with pytest.raises((IntegrityError, DataNotFoundError), match="md5|MD5"):
            fetch_bids("S1", include=[EVENTS], data_dir=tmp_path / "data", progress=False)


def test_export_line_sets_the_environment_even_with_odd_paths(tmp_path: Path) -> None:
    """`brainfeat demo --serve` itself runs in tests/test_readme_offline.py (its fixture)."""
    root = tmp_path / "a b'c"
    mirror = Mirror(root / "mirror", "http://127.0.0.1:8000", root / "data", default_catalog())
    words = shlex.split(mirror.export_line())
    assert words[0] == "export"
    assert dict(word.split("=", 1) for word in words[1:]) == mirror.environment()
    assert mirror.environment()["BRAINFEAT_MIRRORS"] == (
        "figshare=http://127.0.0.1:8000,openneuro=http://127.0.0.1:8000/ds001246")
    assert mirror.environment()["BRAINFEAT_DATA"] == str(root / "data")


def test_where_shows_the_replica_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from brainfeat.cli import main

    monkeypatch.setenv("BRAINFEAT_CATALOG", str(tmp_path / "catalog.json"))
    monkeypatch.setenv("BRAINFEAT_PINS", str(tmp_path / "pins.tsv"))
    assert main(["where"]) == 0
    out = capsys.readouterr().out
    assert f"catalog: {tmp_path / 'catalog.json'} ($BRAINFEAT_CATALOG" in out
    assert f"pins: {tmp_path / 'pins.tsv'} ($BRAINFEAT_PINS" in out
    monkeypatch.delenv("BRAINFEAT_CATALOG")
    monkeypatch.delenv("BRAINFEAT_PINS")
    assert main(["where"]) == 0
    assert "catalog:" not in capsys.readouterr().out
