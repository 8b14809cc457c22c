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
