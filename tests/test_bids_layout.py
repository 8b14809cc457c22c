"""pybids over a ds001246 tree whose image files are empty or absent (a DataLad clone)."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest
from _data import DS001246 as DS

from brainfeat import bids
from brainfeat.bids.layout import preprocessed_bold_path
from brainfeat.errors import DataNotFoundError, FormatError


@pytest.fixture(scope="session")
def tree(tmp_path_factory) -> Path:
    """The real TSV/JSON of sub-01 and sub-02; images 0-byte (sub-01) or broken links (sub-02)."""
    root = tmp_path_factory.mktemp("ds001246")
    shutil.copytree(DS, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("annex-keys.tsv"))
    with (DS / "annex-keys.tsv").open() as keys:
        for row in csv.DictReader(keys, delimiter="\t"):
            path = root / row["path"]
            if "sub-01" in path.name:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            elif "sub-02" in path.name:
                path.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(f"../../.git/annex/objects/{row['md5']}", path)
    return root


@pytest.fixture(scope="session")
def dataset(tree, tmp_path_factory):
    return bids.open(tree, data_dir=tmp_path_factory.mktemp("index"))


def test_subjects_sessions_and_events(dataset):
    assert dataset.subjects == ["01", "02"]
    assert dataset.sessions("S1", "test") == [f"perceptionTest0{i}" for i in range(1, 5)]
    files = dataset.events_files("sub-02", "imagery")
    assert len(files) == 20 and all(f.name.startswith("sub-02_ses-imageryTest") for f in files)
    assert dataset.events("S2", "imagery")["run"].notna().all()


@pytest.mark.parametrize("subject", ["S1", "S2"])
def test_bold_files_are_listed_whether_present_or_not(dataset, subject):
    raw = dataset.bold_files(subject, "train", preprocessed=False)
    preprocessed = dataset.bold_files(subject, "train")
    assert len(raw) == len(preprocessed) == 24
    assert all(p.name.endswith("_bold_preproc.nii.gz") and os.path.lexists(p) for p in preprocessed)
    assert [p.name.replace("_preproc", "") for p in preprocessed] == [p.name for p in raw]


def test_the_index_is_cached_in_the_data_folder(tree, tmp_path):
    bids.open(tree, data_dir=tmp_path)
    cached = list((tmp_path / "bids-index").iterdir())
    assert len(cached) == 1 and any(cached[0].iterdir())
    again = bids.open(tree, data_dir=tmp_path)
    assert again.subjects == ["01", "02"]


def test_a_damaged_cached_index_is_rebuilt(tree, tmp_path):
    first = bids.open(tree, data_dir=tmp_path)
    for path in (tmp_path / "bids-index").rglob("*"):
        if path.is_file():
            path.write_bytes(b"not an index" * 100)
    again = bids.open(tree, data_dir=tmp_path)
    assert again.events_files("S1", "test") == first.events_files("S1", "test")


def test_a_folder_without_dataset_description_is_refused(tmp_path):
    with pytest.raises(DataNotFoundError, match="no dataset_description.json"):
        bids.open(tmp_path)


def test_preprocessed_bold_path_and_its_error(tmp_path):
    events = Path("sub-01/ses-perceptionTest01/func/sub-01_ses-perceptionTest01_task-perception_run-03_events.tsv")
    assert preprocessed_bold_path(tmp_path, events) == (
        tmp_path / "derivatives/preproc-spm/output/sub-01/ses-perceptionTest01/func"
        / "sub-01_ses-perceptionTest01_task-perception_run-03_bold_preproc.nii.gz")
    with pytest.raises(FormatError, match="expected a name such as"):
        preprocessed_bold_path(tmp_path, "events.tsv")
