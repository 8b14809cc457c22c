"""Behaviour of fmri/rois.py that mutation testing found unpinned (docs/mutation.md).

Single-volume 4-D mask files, the grid check's affine tolerance, the defaults, what
:func:`brainfeat.load_roi` asks the fetcher for when no local tree is given, the catalog
passed in, and the full text of its errors.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import nibabel
import numpy as np
import pytest

import brainfeat
import brainfeat.bids.layout
from brainfeat.catalog import default_catalog
from brainfeat.errors import DataNotFoundError, FormatError, IntegrityError, UnknownNameError
from brainfeat.fmri.rois import mask_files

GRID = (64, 64, 50)
AFFINE = np.array([[-3.0, 0, 0, 96], [0, 3, 0, -96], [0, 0, 3, -72], [0, 0, 0, 1]])


def write_ppa(root: Path, data: np.ndarray, affines=(AFFINE, AFFINE)) -> list[Path]:
    """sub-01's PPA mask files (LH, RH) holding ``data``, each with its own affine."""
    files = mask_files(root, "sub-01", "PPA")
    files[0].parent.mkdir(parents=True, exist_ok=True)
    for path, affine in zip(files, affines):
        nibabel.Nifti1Image(data, affine).to_filename(path)
    return files


def test_a_single_volume_4d_mask_is_read_as_3d(tmp_path) -> None:
    mask = np.zeros((*GRID, 1), dtype=np.uint8)
    mask[1, 2, 3, 0] = 1
    write_ppa(tmp_path, mask)
    roi = brainfeat.load_roi("S1", "PPA", root=tmp_path)
    assert roi.mask.shape == GRID and roi.n_voxels == 1 and roi.mask[1, 2, 3]
    assert roi.hemisphere == "both" and len(roi.files) == 2  # the default: both hemispheres


def test_a_mask_with_two_volumes_is_refused(tmp_path) -> None:
    write_ppa(tmp_path, np.zeros((*GRID, 2), dtype=np.uint8))
    with pytest.raises(FormatError, match=r"mask_LH_PPA.nii.gz has shape \(64, 64, 50, 2\): "
                                          "expected a 3-D volume"):
        brainfeat.load_roi("S1", "PPA", root=tmp_path)


@pytest.mark.parametrize(("shift", "same_grid"), [(5e-5, True), (1e-2, False), (0.5, False)])
def test_affines_must_agree_to_a_tenth_of_a_micrometre(tmp_path, shift, same_grid) -> None:
    """The NIfTI header keeps float32: 96 mm is exact to about 1e-5 mm, so 1e-4 mm is agreement."""
    moved = AFFINE.copy()
    moved[0, 1] += shift  # an off-diagonal zero: no relative tolerance can absorb it
    mask = np.zeros(GRID, dtype=np.uint8)
    mask[4, 5, 6] = 1
    files = write_ppa(tmp_path, mask, (AFFINE, moved))
    if same_grid:
        assert brainfeat.load_roi("S1", "PPA", root=tmp_path).n_voxels == 1
    else:
        with pytest.raises(IntegrityError) as raised:
            brainfeat.load_roi("S1", "PPA", root=tmp_path)
        assert str(raised.value) == (
            f"Mask {files[1]} ({GRID}) is not on the grid of {files[0]} ({GRID}): expected "
            "every mask of one subject on the same EPI grid and affine.")


def test_without_a_root_the_subjects_masks_are_fetched(tmp_path, monkeypatch) -> None:
    mask = np.zeros(GRID, dtype=np.uint8)
    mask[7, 8, 9] = 1
    write_ppa(tmp_path, mask)
    asked = []

    def fetch_tree(subject, include, *, data_dir, download):
        asked.append((subject.bids, tuple(include), data_dir, download))
        return tmp_path

    monkeypatch.setattr(brainfeat.bids.layout, "fetch_tree", fetch_tree)
    for download in (True, False):
        roi = brainfeat.load_roi("S1", "PPA", data_dir=tmp_path / "cache", download=download)
        assert roi.mask[7, 8, 9] and roi.n_voxels == 1
    brainfeat.load_roi("S1", "PPA")
    pattern = ("sourcedata/sub-01/anat/*_mask_*.nii.gz",)
    assert asked == [("sub-01", pattern, tmp_path / "cache", True),
                     ("sub-01", pattern, tmp_path / "cache", False),
                     ("sub-01", pattern, None, True)]  # downloads unless told not to


def test_the_catalog_given_decides_which_subjects_exist(tmp_path) -> None:
    catalog = default_catalog()
    only_s1 = dataclasses.replace(catalog, subjects=catalog.subjects[:1])
    write_ppa(tmp_path, np.ones(GRID, dtype=np.uint8))
    assert brainfeat.load_roi("S1", "PPA", root=tmp_path, catalog=only_s1).n_voxels > 0
    with pytest.raises(UnknownNameError, match="Unknown subject 'S2'"):
        brainfeat.load_roi("S2", "PPA", root=tmp_path, catalog=only_s1)


def test_errors_name_the_choices_and_the_fix(tmp_path) -> None:
    """The whole message: each names the value or file, what was expected and what to do."""
    with pytest.raises(UnknownNameError) as raised:
        brainfeat.load_roi("S1", "PPA", "top", root=tmp_path)
    assert str(raised.value) == ("Unknown hemisphere 'top': expected 'both', 'left' ('LH') or "
                                 "'right' ('RH').")
    with pytest.raises(DataNotFoundError) as raised:
        brainfeat.load_roi("S1", "PPA", root=tmp_path)
    path = mask_files(tmp_path, "sub-01", "PPA")[0]
    assert str(raised.value) == (
        f"Mask file {path} is missing. Fetch the subject's masks with "
        "brainfeat.fetch_bids(subject, include=['sourcedata/*']) or, in a DataLad clone, "
        f"`datalad get {path.name}`.")
    mask = np.zeros(GRID, dtype=np.float32)
    mask[0, 0, 0] = np.nan
    write_ppa(tmp_path, mask)
    with pytest.raises(FormatError) as raised:
        brainfeat.load_roi("S1", "PPA", root=tmp_path)
    assert str(raised.value) == (
        f"Mask {path} holds float32 values that are not all finite numbers (NaN marks no voxel "
        "as in or out): expected a mask with nonzero voxels inside the ROI. Fetch it again.")
