"""ROI masks combined from synthetic NIfTI files named as in ds001246."""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pytest

import brainfeat
from brainfeat.errors import DataNotFoundError, FormatError, IntegrityError, UnknownNameError
from brainfeat.fmri.rois import ROIS, mask_files, parse_roi

GRID = (64, 64, 50)
PARTS = ("V1d", "V1v", "V2d", "V2v", "V3d", "V3v", "hV4", "LOC", "FFA", "PPA", "HVC")
AFFINE = np.array([[-3.0, 0, 0, 96], [0, 3, 0, -96], [0, 0, 3, -72], [0, 0, 0, 1]])


def write_masks(root: Path, subject: str = "sub-01", seed: int = 0) -> dict[tuple[str, str], np.ndarray]:
    """One random sparse mask per hemisphere and part; returns them by (side, part)."""
    rng = np.random.default_rng(seed)
    folder = root / "sourcedata" / subject / "anat"
    folder.mkdir(parents=True, exist_ok=True)
    masks = {}
    for side in ("LH", "RH"):
        for part in PARTS:
            mask = rng.random(GRID) < 0.002
            nibabel.Nifti1Image(mask.astype(np.int16), AFFINE).to_filename(
                folder / f"{subject}_mask_{side}_{part}.nii.gz")
            masks[side, part] = mask
    return masks


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds001246")
    return root, write_masks(root)


def _union(masks, sides, parts):
    return np.logical_or.reduce([masks[s, p] for s in sides for p in parts])


EXPECTED_PARTS = {
    "V1": ("V1d", "V1v"), "V2": ("V2d", "V2v"), "V3": ("V3d", "V3v"), "hV4": ("hV4",),
    "LOC": ("LOC",), "FFA": ("FFA",), "PPA": ("PPA",), "HVC": ("HVC",),
    "LVC": ("V1d", "V1v", "V2d", "V2v", "V3d", "V3v"), "VC": PARTS,
}


@pytest.mark.parametrize("roi", ROIS)
@pytest.mark.parametrize("hemisphere", ["both", "left", "right"])
def test_each_roi_is_the_union_of_its_files(tree, roi, hemisphere):
    root, masks = tree
    sides = {"both": ("LH", "RH"), "left": ("LH",), "right": ("RH",)}[hemisphere]
    result = brainfeat.load_roi("S1", roi, hemisphere, root=root)
    expected = _union(masks, sides, EXPECTED_PARTS[roi])
    assert result.mask.dtype == bool and result.mask.shape == GRID
    np.testing.assert_array_equal(result.mask, expected)
    np.testing.assert_array_equal(result.affine, AFFINE)
    assert (result.roi, result.hemisphere, result.subject) == (roi, hemisphere, "sub-01")
    assert result.n_voxels == expected.sum() > 0
    assert len(result.files) == len(sides) * len(EXPECTED_PARTS[roi])


def test_voxel_coordinates_follow_the_affine(tree):
    root, _ = tree
    roi = brainfeat.load_roi(1, "V4", "LH", root=root)
    ijk = np.argwhere(roi.mask)
    xyz = roi.xyz()
    assert xyz.shape == (roi.n_voxels, 3)
    np.testing.assert_allclose(xyz[:, 0], 96 - 3 * ijk[:, 0])
    np.testing.assert_allclose(xyz[:, 2], -72 + 3 * ijk[:, 2])


def test_voxel_coordinates_under_an_oblique_affine(tmp_path):
    """A rotated, sheared grid: every coordinate mixes i, j and k (a transposed matrix shows)."""
    from nibabel.affines import apply_affine

    oblique = np.array([[-2.9, 0.5, 0.3, 96], [0.4, 2.8, -0.7, -96], [-0.2, 0.6, 3.1, -72],
                        [0, 0, 0, 1]])
    folder = tmp_path / "sourcedata" / "sub-01" / "anat"
    folder.mkdir(parents=True)
    mask = np.zeros(GRID, dtype=np.uint8)
    mask[[3, 40, 63], [5, 17, 60], [0, 22, 49]] = 1
    for side in ("LH", "RH"):
        nibabel.Nifti1Image(mask, oblique).to_filename(folder / f"sub-01_mask_{side}_hV4.nii.gz")
    roi = brainfeat.load_roi("S1", "hV4", root=tmp_path)
    ijk = np.argwhere(mask)
    # NIfTI stores the affine as float32: equal to it within float32's relative precision.
    np.testing.assert_allclose(roi.affine, oblique, rtol=2.0**-23, atol=0)
    np.testing.assert_allclose(roi.xyz(), apply_affine(roi.affine, ijk), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("marks", [np.uint8(255), np.float32(2.0), np.float32(0.5)])
def test_any_nonzero_mark_is_a_member(tmp_path, marks):
    folder = tmp_path / "sourcedata" / "sub-01" / "anat"
    folder.mkdir(parents=True)
    mask = np.zeros(GRID, dtype=np.asarray(marks).dtype)
    mask[1, 2, 3] = mask[10, 20, 30] = marks
    for side in ("LH", "RH"):
        nibabel.Nifti1Image(mask, AFFINE).to_filename(folder / f"sub-01_mask_{side}_PPA.nii.gz")
    roi = brainfeat.load_roi("S1", "PPA", root=tmp_path)
    assert roi.n_voxels == 2 and roi.mask[1, 2, 3] and roi.mask[10, 20, 30]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_masks_with_nan_or_inf_are_refused(tmp_path, bad):
    folder = tmp_path / "sourcedata" / "sub-01" / "anat"
    folder.mkdir(parents=True)
    mask = np.zeros(GRID, dtype=np.float32)
    mask[1, 2, 3], mask[4, 5, 6] = 1, bad
    for side in ("LH", "RH"):
        nibabel.Nifti1Image(mask, AFFINE).to_filename(folder / f"sub-01_mask_{side}_PPA.nii.gz")
    with pytest.raises(FormatError, match=r"sub-01_mask_LH_PPA.nii.gz holds float32 values "
                                          "that are not all finite.*Fetch it again"):
        brainfeat.load_roi("S1", "PPA", root=tmp_path)


def test_roi_names_are_forgiving_but_unknown_names_are_errors():
    assert parse_roi("v4") == parse_roi("ROI_V4") == "hV4"
    assert parse_roi("vc") == "VC"
    with pytest.raises(UnknownNameError, match="Unknown ROI 'MT'.*expected one of V1, V2"):
        parse_roi("MT")


def test_errors(tree, tmp_path):
    root, _ = tree
    with pytest.raises(UnknownNameError, match="Unknown ROI 'V5'"):
        brainfeat.load_roi("S1", "V5", root=root)
    with pytest.raises(UnknownNameError, match="Unknown hemisphere 'top'"):
        brainfeat.load_roi("S1", "V1", "top", root=root)
    with pytest.raises(UnknownNameError, match="Unknown subject 'S7'"):
        brainfeat.load_roi("S7", "V1", root=root)
    with pytest.raises(DataNotFoundError, match=r"sub-02_mask_LH_V1d.nii.gz is missing.*fetch_bids"):
        brainfeat.load_roi("S2", "V1", root=root)
    empty = mask_files(tmp_path, "sub-03", "FFA", "left")[0]
    empty.parent.mkdir(parents=True)
    empty.touch()
    with pytest.raises(DataNotFoundError, match="empty .0 bytes.*datalad get"):
        brainfeat.load_roi("S3", "FFA", "left", root=tmp_path)
    empty.write_bytes(b"not a nifti")
    with pytest.raises(FormatError, match="Cannot read mask"):
        brainfeat.load_roi("S3", "FFA", "left", root=tmp_path)


def test_masks_on_different_grids_are_refused(tmp_path):
    write_masks(tmp_path, "sub-04")
    other = mask_files(tmp_path, "sub-04", "V1", "both")[1]
    nibabel.Nifti1Image(np.zeros((64, 64, 49), np.int16), AFFINE).to_filename(other)
    with pytest.raises(IntegrityError, match="not on the grid"):
        brainfeat.load_roi("S4", "V1", root=tmp_path)


def test_names_are_checked_before_any_download(tmp_path):
    """Without root the masks would be fetched: a bad name must fail first, offline."""
    with pytest.raises(UnknownNameError, match="Unknown hemisphere 'top'"):
        brainfeat.load_roi("S1", "V1", "top", data_dir=tmp_path)
    with pytest.raises(UnknownNameError, match="Unknown ROI 'MT'"):
        brainfeat.load_roi("S1", "MT", data_dir=tmp_path)
    assert not any(tmp_path.iterdir()), "nothing may be fetched for a bad name"
