"""The preprocessed fMRI of the experiment (figshare ``Subject1.h5`` ... ``Subject5.h5``).

Each file is a BData table with one row per stimulus block, already block-averaged:
``DataType`` 1 = training perception (1,200 samples), 2 = test perception (1,750 =
35 x 50), 3 = imagery (500). Columns marked ``VoxelData`` hold voxels; ``ROI_<name>`` rows
mark each ROI's voxels; ``stimulus_id`` (``Label`` in older files) holds the lab's float id
of the image, or of the category for imagery samples; ``voxel_x/y/z`` give coordinates.

:func:`load_fmri` fetches and reads one subject, ROI and split into an :class:`FMRI`;
:func:`read_fmri` does the same for a file already on disk.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainfeat.catalog import Catalog, Split, Subject, SubjectLike, resolve_catalog
from brainfeat.errors import FormatError, IntegrityError, UnknownNameError
from brainfeat.fmri.rois import parse_roi
from brainfeat.io.bdata import BData, read_bdata, read_bdata_metadata
from brainfeat.stimuli import MICRO, category_name, id_to_micro, micro_to_name

__all__ = ["DATA_TYPE", "FMRI", "bdata_roi_key", "load_fmri", "read_fmri"]

#: ``DataType`` code of each split in ``Subject*.h5``.
DATA_TYPE = {Split.TRAIN: 1, Split.TEST: 2, Split.IMAGERY: 3}


@dataclass(frozen=True)
class FMRI:
    """Block samples of one subject, ROI and split.

    Attributes
    ----------
    X : numpy.ndarray
        float32 (n_samples, n_voxels).
    stimulus_names : tuple of str
        Per sample, the image shown (``n01443537_22563``) or, for imagery, the category
        imagined (``n01443537``) when the file stores a category id.
    runs : numpy.ndarray
        int (n_samples,), the run of each sample, numbered 1.. within the split; -1 for
        samples averaged over repeats.
    subject : Subject
    roi : str
        Canonical ROI name (``VC``, ``hV4`` ...).
    split : Split
    voxel_xyz : numpy.ndarray or None
        (n_voxels, 3) voxel coordinates in mm, when the source gives them.
    """

    X: np.ndarray
    stimulus_names: tuple[str, ...]
    runs: np.ndarray
    subject: Subject
    roi: str
    split: Split
    voxel_xyz: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        """Rows of :attr:`X`."""
        return int(self.X.shape[0])

    @property
    def n_voxels(self) -> int:
        """Columns of :attr:`X`."""
        return int(self.X.shape[1])

    def __repr__(self) -> str:
        return (f"FMRI(subject={self.subject.name}, roi={self.roi}, split={self.split.value}, "
                f"X={self.n_samples}x{self.n_voxels}, runs={len(np.unique(self.runs))})")


def bdata_roi_key(roi: str) -> str:
    """The metadata key of a canonical ROI name in ``Subject*.h5`` (``hV4`` -> ``ROI_V4``)."""
    return "ROI_V4" if roi == "hV4" else f"ROI_{roi}"


def _sample_name(value: float, split: Split, path: os.PathLike[str] | str) -> str:
    if not np.isfinite(value):
        raise FormatError(f"{path}: a {split.value} sample has no stimulus id (NaN): fetch "
                          "the file again.")
    try:
        micro = id_to_micro(float(value))
    except FormatError as error:
        raise FormatError(f"{path}: a {split.value} sample's stimulus id: {error} "
                          "Fetch the file again.") from None
    if micro % MICRO == 0:
        if split is Split.IMAGERY:
            return category_name(micro // MICRO)
        raise FormatError(f"{path}: a {split.value} sample has the id {float(value)!r}, which "
                          "names no image (no image number after the point). Fetch the file "
                          "again.")
    return micro_to_name(micro)


def _label(labels: BData, key: str, path: os.PathLike[str] | str) -> np.ndarray:
    """The one column of label ``key``; DataType and Run must be whole numbers in every row."""
    block = labels.get(key)
    if block.shape[1] != 1:
        raise FormatError(f"{path}: metadata {key!r} marks {block.shape[1]} columns; expected "
                          "exactly one label column. Fetch the file again.")
    column = block[:, 0]
    if key in ("DataType", "Run"):
        bad = np.flatnonzero(~np.isfinite(column) | (column != np.round(column)))
        if bad.size:
            raise FormatError(
                f"{path}: {bad.size} sample(s) have a {key} that is not a whole number (row "
                f"{bad[0]}: {float(column[bad[0]])!r}); their split or run cannot be known. Expected "
                "an intact Subject*.h5: fetch it again.")
    return column


def _roi_voxels(meta: BData, roi_key: str, path: os.PathLike[str] | str) -> np.ndarray:
    """Voxel columns of an ROI: marked 1, as bdpy selects them; other marks are refused.

    bdpy's ``select`` takes the columns whose mark is exactly 1, so a mark of 2 or 0.5
    would silently drop voxels that the file meant to include (or the reverse). Marks other
    than 0, 1 or NaN therefore mean the file is not what it claims to be.
    """
    is_voxel = meta.columns("VoxelData")
    marks = meta.metadata(roi_key)[is_voxel]
    odd = marks[~np.isnan(marks) & (marks != 0) & (marks != 1)]
    if odd.size:
        raise FormatError(
            f"{path}: {roi_key} marks {odd.size} voxel(s) with {np.unique(odd)[:5].tolist()}; "
            "expected 1 for voxels of the ROI and 0 or NaN elsewhere. Fetch the file again.")
    voxels = is_voxel & (meta.metadata(roi_key) == 1)
    if not voxels.any():
        raise FormatError(f"{path}: {roi_key} marks no voxel; expected the ROI's voxels marked "
                          "1. Fetch the file again.")
    return voxels


def _average(X: np.ndarray, names: list[str], order: tuple[str, ...], split: Split,
             path: os.PathLike[str] | str) -> np.ndarray:
    key = [n.split("_")[0] for n in names] if split is Split.IMAGERY else names
    result = np.empty((len(order), X.shape[1]), dtype=np.float32)
    counts = set()
    for row, name in enumerate(order):
        members = [i for i, k in enumerate(key) if k == name]
        if not members:
            raise IntegrityError(f"{path}: no {split.value} sample of {name}; expected every "
                                 f"one of the {len(order)} published {split.value} stimuli.")
        counts.add(len(members))
        result[row] = X[members].mean(axis=0)
    if len(counts) > 1:
        raise IntegrityError(
            f"{path}: the {split.value} stimuli have {min(counts)} to {max(counts)} samples "
            "each; expected the same number of repeats for every stimulus. Samples are missing "
            "or mislabelled: fetch the file again.")
    return result


def _parse_split(split: Split | str, average_repeats: bool) -> Split:
    split = Split.parse(split)
    if average_repeats and split is Split.TRAIN:
        raise UnknownNameError("average_repeats applies to split 'test' or 'imagery': "
                               "every training image was shown once.")
    return split


def _check_file_subject(path: str | os.PathLike[str], subject: Subject) -> None:
    _ = subject.h5_name  # the Averaged pseudo-subject has no fMRI: a clear error
    match = re.fullmatch(r"subject0*(\d+)", Path(path).stem, flags=re.IGNORECASE)
    if match and int(match.group(1)) != subject.number:
        named = int(match.group(1))
        raise IntegrityError(
            f"{path} is named as the fMRI of S{named} but subject {subject.name} was asked "
            f"for: its data would be labelled {subject.name}. Pass subject S{named}, or "
            f"{subject.h5_name}.h5 (rename a file whose name is wrong).")


def read_fmri(path: str | os.PathLike[str], subject: SubjectLike, roi: str = "VC",
              split: Split | str = "train", average_repeats: bool = False, *,
              catalog: Catalog | None = None) -> FMRI:
    """Read one ROI and split of a local ``Subject*.h5`` (see :func:`load_fmri`).

    A file named ``SubjectN.h5`` must be the file of ``subject`` (an ``IntegrityError``
    otherwise): its data would be labelled with the wrong subject.
    """
    catalog = resolve_catalog(catalog)
    subject = catalog.subject(subject)
    _check_file_subject(path, subject)
    roi, split = parse_roi(roi), _parse_split(split, average_repeats)
    meta = read_bdata_metadata(path)
    id_key = "stimulus_id" if "stimulus_id" in meta.keys else "Label"
    roi_key = bdata_roi_key(roi)
    for key in ("VoxelData", "DataType", "Run", id_key, roi_key):
        if key not in meta.keys:
            raise FormatError(f"{path} has no {key!r} metadata (it has {', '.join(meta.keys)}): "
                              "expected a Generic Object Decoding Subject*.h5.")
    labels = read_bdata(path, columns=meta.columns("DataType") | meta.columns("Run")
                        | meta.columns(id_key))
    data_type, runs, ids = (_label(labels, k, path) for k in ("DataType", "Run", id_key))
    rows = data_type == DATA_TYPE[split]
    voxels = _roi_voxels(meta, roi_key, path)
    X = read_bdata(path, rows=rows, columns=voxels).dataset.astype(np.float32)
    names = [_sample_name(v, split, path) for v in ids[rows]]
    xyz = None
    if all(f"voxel_{a}" in meta.keys for a in "xyz"):
        xyz = np.stack([meta.metadata(f"voxel_{a}")[voxels] for a in "xyz"], axis=1)
    run_numbers = runs[rows].astype(np.int64)
    if average_repeats:
        order = catalog.test_image_ids if split is Split.TEST else catalog.imagery_categories
        X = _average(X, names, order, split, path)
        names, run_numbers = list(order), np.full(len(order), -1, dtype=np.int64)
    return FMRI(X, tuple(names), run_numbers, subject, roi, split, xyz)


def load_fmri(subject: SubjectLike, roi: str = "VC", split: Split | str = "train",
              average_repeats: bool = False, *, data_dir: str | os.PathLike[str] | None = None,
              download: bool = True, catalog: Catalog | None = None) -> FMRI:
    """Load a subject's preprocessed fMRI for one ROI and split.

    Parameters
    ----------
    subject : Subject, int or str
        ``1``, ``"S1"``, ``"sub-01"`` or ``"Subject1"``.
    roi : str
        ``V1 V2 V3 hV4 (V4) LOC FFA PPA LVC HVC VC``.
    split : {"train", "test", "imagery"}
    average_repeats : bool
        Average the repeated samples of each stimulus: for ``test`` one sample per
        test image in the published order (the order of the decoded feature files);
        for ``imagery`` one per category in the order of the imagery category list.
    data_dir, download
        Where ``SubjectN.h5`` is kept, and whether it may be downloaded.
    catalog : Catalog, optional
        Dataset facts; defaults to the published dataset.

    Returns
    -------
    FMRI

    Raises
    ------
    UnknownNameError
        For an unknown subject, ROI or split.
    FormatError
        If the file lacks the metadata of a Generic Object Decoding file.

    Examples
    --------
    >>> fmri = brainfeat.load_fmri("S1", "VC", "test", average_repeats=True)  # doctest: +SKIP
    >>> fmri.X.shape[0], fmri.stimulus_names[0]  # doctest: +SKIP
    (50, 'n01443537_22563')
    """
    catalog = resolve_catalog(catalog)
    subject = catalog.subject(subject)
    _ = subject.h5_name
    parse_roi(roi)  # name errors come before any download
    _parse_split(split, average_repeats)
    from brainfeat.remote.api import fetch_fmri

    path = fetch_fmri(subject.name, data_dir=data_dir, download=download, progress=False)
    return read_fmri(path, subject, roi, split, average_repeats, catalog=catalog)
