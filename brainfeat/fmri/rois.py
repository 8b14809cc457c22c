"""ROI masks of ds001246 (``sourcedata/sub-*/anat/sub-*_mask_{LH,RH}_<part>.nii.gz``).

A voxel belongs to a mask file when its value is nonzero, the usual reading of a binary
mask (FSL's ``-bin``): a mark other than 1 (255 in a ``uint8`` mask) still marks the voxel.
A NaN or infinite value says neither in nor out, so a mask holding one is refused.

The release publishes eleven mask files per hemisphere: ``V1d V1v V2d V2v V3d V3v hV4
LOC FFA PPA HVC``. brainfeat's ROIs combine them as the preprocessed files name them:

======  ===============================================================
ROI     mask files (each in the hemispheres asked for)
======  ===============================================================
V1      V1d | V1v            (V2, V3 likewise)
hV4     hV4                  (``V4`` is accepted: the BData key is ``ROI_V4``)
LOC     LOC                  (FFA, PPA, HVC likewise)
LVC     V1 | V2 | V3
VC      V1 | V2 | V3 | hV4 | LOC | FFA | PPA | HVC  (the union of all files)
======  ===============================================================

``VC`` as the union of every published mask is brainfeat's definition [I]: the 2017
paper describes VC as the combination of the lower and higher visual areas; the voxel
counts of ``ROI_VC`` in ``Subject*.h5`` can settle it once both are downloaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainfeat.catalog import Catalog, SubjectLike, resolve_catalog
from brainfeat.errors import DataNotFoundError, FormatError, IntegrityError, UnknownNameError

__all__ = ["HEMISPHERES", "ROIS", "ROIMask", "load_roi", "mask_files", "parse_roi"]

_PARTS = {
    "V1": ("V1d", "V1v"), "V2": ("V2d", "V2v"), "V3": ("V3d", "V3v"), "hV4": ("hV4",),
    "LOC": ("LOC",), "FFA": ("FFA",), "PPA": ("PPA",), "HVC": ("HVC",),
}
_PARTS["LVC"] = _PARTS["V1"] + _PARTS["V2"] + _PARTS["V3"]
_PARTS["VC"] = tuple(part for name in ("V1", "V2", "V3", "hV4", "LOC", "FFA", "PPA", "HVC")
                     for part in _PARTS[name])
#: ROI names brainfeat knows, in the order of the preprocessed files.
ROIS = ("V1", "V2", "V3", "hV4", "LOC", "FFA", "PPA", "LVC", "HVC", "VC")
#: Hemisphere names: ``both`` or one of the file labels.
HEMISPHERES = {"both": ("LH", "RH"), "left": ("LH",), "lh": ("LH",), "right": ("RH",), "rh": ("RH",)}


def parse_roi(roi: str) -> str:
    """Canonical ROI name (``"v4"`` -> ``"hV4"``, ``"vc"`` -> ``"VC"``).

    Raises
    ------
    UnknownNameError
        If ``roi`` is not one of :data:`ROIS`.
    """
    text = str(roi).strip().removeprefix("ROI_").lower()
    text = "hv4" if text == "v4" else text
    for name in ROIS:
        if name.lower() == text:
            return name
    raise UnknownNameError(f"Unknown ROI {roi!r}: expected one of {', '.join(ROIS)} (or V4 for hV4).")


def _hemispheres(hemisphere: str) -> tuple[str, ...]:
    found = HEMISPHERES.get(str(hemisphere).strip().lower())
    if found is None:
        raise UnknownNameError(f"Unknown hemisphere {hemisphere!r}: expected 'both', 'left' "
                               "('LH') or 'right' ('RH').")
    return found


def mask_files(root: str | os.PathLike[str], subject_label: str, roi: str,
               hemisphere: str = "both") -> list[Path]:
    """The mask files that make up ``roi`` for one subject (``subject_label`` like ``sub-01``)."""
    folder = Path(root) / "sourcedata" / subject_label / "anat"
    return [folder / f"{subject_label}_mask_{side}_{part}.nii.gz"
            for side in _hemispheres(hemisphere) for part in _PARTS[parse_roi(roi)]]


@dataclass(frozen=True)
class ROIMask:
    """A boolean ROI mask in the subject's EPI space.

    Attributes
    ----------
    mask : numpy.ndarray
        bool, the EPI grid (64 x 64 x 50 in ds001246); True inside the ROI.
    affine : numpy.ndarray
        (4, 4) voxel -> scanner mm.
    subject : str
        BIDS label, ``sub-01``.
    roi : str
        Canonical ROI name.
    hemisphere : str
        ``both``, ``left`` or ``right``.
    files : tuple of pathlib.Path
        The mask files combined.
    """

    mask: np.ndarray
    affine: np.ndarray
    subject: str
    roi: str
    hemisphere: str
    files: tuple[Path, ...]

    @property
    def n_voxels(self) -> int:
        """Voxels inside the ROI."""
        return int(self.mask.sum())

    def xyz(self) -> np.ndarray:
        """Scanner coordinates in mm of the ROI's voxels, (n_voxels, 3), in C order of the grid."""
        ijk = np.argwhere(self.mask)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]


def _read_mask(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import nibabel

    if not path.exists():
        raise DataNotFoundError(
            f"Mask file {path} is missing. Fetch the subject's masks with "
            "brainfeat.fetch_bids(subject, include=['sourcedata/*']) or, in a DataLad clone, "
            f"`datalad get {path.name}`."
        )
    if path.stat().st_size == 0:
        raise DataNotFoundError(
            f"Mask file {path} is empty (0 bytes): its content was never downloaded. Fetch it "
            f"with brainfeat.fetch_bids() or, in a DataLad clone, `datalad get {path.name}`."
        )
    try:
        image = nibabel.load(path)
        data = np.asanyarray(image.dataobj)
    except Exception as error:  # nibabel raises many types for damaged files
        raise FormatError(f"Cannot read mask {path} as NIfTI ({error}); fetch it again.") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise FormatError(f"Mask {path} has shape {data.shape}: expected a 3-D volume (64 x 64 x 50).")
    if data.dtype.kind not in "biuf" or not np.isfinite(data).all():
        raise FormatError(f"Mask {path} holds {data.dtype} values that are not all finite numbers "
                          "(NaN marks no voxel as in or out): expected a mask with nonzero "
                          "voxels inside the ROI. Fetch it again.")
    return data != 0, np.asarray(image.affine, dtype=np.float64)


def load_roi(subject: SubjectLike, roi: str, hemisphere: str = "both", *,
             root: str | os.PathLike[str] | None = None,
             data_dir: str | os.PathLike[str] | None = None, download: bool = True,
             catalog: Catalog | None = None) -> ROIMask:
    """Load one subject's ROI mask from ds001246, combining the published mask files.

    Parameters
    ----------
    subject : Subject, int or str
        ``1``, ``"S1"``, ``"sub-01"`` ...
    roi : str
        One of ``V1 V2 V3 hV4 LOC FFA PPA LVC HVC VC`` (see the module documentation for
        which files each combines).
    hemisphere : {"both", "left", "right"}
    root : path-like, optional
        A local ds001246 tree; fetched with :func:`brainfeat.fetch_bids` when omitted.
    data_dir, download
        Where fetched files go, and whether they may be downloaded.
    catalog : Catalog, optional
        Dataset facts (which subjects exist).

    Returns
    -------
    ROIMask

    Raises
    ------
    UnknownNameError
        For an unknown subject, ROI or hemisphere.
    DataNotFoundError
        If a mask file is missing or empty.
    IntegrityError
        If the files disagree in grid shape or affine.

    Examples
    --------
    >>> v1 = brainfeat.load_roi("S1", "V1", root="~/ds001246")  # doctest: +SKIP
    >>> v1.mask.shape, v1.n_voxels  # doctest: +SKIP
    ((64, 64, 50), 1004)
    """
    catalog = resolve_catalog(catalog)
    subject = catalog.subject(subject)
    name = parse_roi(roi)
    sides = _hemispheres(hemisphere)  # name errors come before any download
    side = next(name for name in ("both", "left", "right") if HEMISPHERES[name] == sides)
    if root is None:
        from brainfeat.bids.layout import fetch_tree

        root = fetch_tree(subject, (f"sourcedata/{subject.bids}/anat/*_mask_*.nii.gz",),
                          data_dir=data_dir, download=download)
    files = mask_files(root, subject.bids, name, hemisphere)
    mask, affine = _read_mask(files[0])
    for path in files[1:]:
        more, more_affine = _read_mask(path)
        if more.shape != mask.shape or not np.allclose(more_affine, affine, atol=1e-4):
            raise IntegrityError(
                f"Mask {path} ({more.shape}) is not on the grid of {files[0]} ({mask.shape}): "
                "expected every mask of one subject on the same EPI grid and affine."
            )
        mask |= more
    return ROIMask(mask, affine, subject.bids, name, side, tuple(files))
