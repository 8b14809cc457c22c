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
from dataclasses import dataclass

import numpy as np

from brainfeat.catalog import Catalog, Split, Subject, SubjectLike, default_catalog
from brainfeat.errors import FormatError, IntegrityError, UnknownNameError
from brainfeat.fmri.rois import parse_roi
from brainfeat.io.bdata import read_bdata, read_bdata_metadata
from brainfeat.stimuli import MICRO, category_name, id_to_micro, micro_to_name

__all__ = ["DATA_TYPE", "FMRI", "load_fmri", "read_fmri"]

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


def _bdata_roi_key(roi: str) -> str:
    return "ROI_V4" if roi == "hV4" else f"ROI_{roi}"


def _sample_name(value: float, split: Split, path: os.PathLike[str] | str) -> str:
    if not np.isfinite(value):
        raise FormatError(f"{path}: a {split.value} sample has no stimulus id (NaN).")
    micro = id_to_micro(value)
    if split is Split.IMAGERY and micro % MICRO == 0:
        return category_name(micro // MICRO)
    return micro_to_name(micro)


def _average(X: np.ndarray, names: list[str], order: tuple[str, ...], split: Split,
             path: os.PathLike[str] | str) -> np.ndarray:
    key = [n.split("_")[0] for n in names] if split is Split.IMAGERY else names
    result = np.empty((len(order), X.shape[1]), dtype=np.float32)
    for row, name in enumerate(order):
        members = [i for i, k in enumerate(key) if k == name]
        if not members:
            raise IntegrityError(f"{path}: no {split.value} sample of {name}; expected every "
                                 f"one of the {len(order)} published {split.value} stimuli.")
        result[row] = X[members].mean(axis=0)
    return result


def _parse_split(split: Split | str, average_repeats: bool) -> Split:
    split = Split.parse(split)
    if average_repeats and split is Split.TRAIN:
        raise UnknownNameError("average_repeats applies to split 'test' or 'imagery': "
                               "every training image was shown once.")
    return split


def read_fmri(path: str | os.PathLike[str], subject: SubjectLike, roi: str = "VC",
              split: Split | str = "train", average_repeats: bool = False, *,
              catalog: Catalog | None = None) -> FMRI:
    """Read one ROI and split of a local ``Subject*.h5`` (see :func:`load_fmri`)."""
    catalog = catalog or default_catalog()
    subject = catalog.subject(subject)
    _ = subject.h5_name  # the Averaged pseudo-subject has no fMRI: a clear error
    roi, split = parse_roi(roi), _parse_split(split, average_repeats)
    meta = read_bdata_metadata(path)
    id_key = "stimulus_id" if "stimulus_id" in meta.keys else "Label"
    roi_key = _bdata_roi_key(roi)
    for key in ("VoxelData", "DataType", "Run", id_key, roi_key):
        if key not in meta.keys:
            raise FormatError(f"{path} has no {key!r} metadata (it has {', '.join(meta.keys)}): "
                              "expected a Generic Object Decoding Subject*.h5.")
    labels = read_bdata(path, columns=meta.columns("DataType") | meta.columns("Run")
                        | meta.columns(id_key))
    data_type, runs, ids = (labels.get(k)[:, 0] for k in ("DataType", "Run", id_key))
    rows = data_type == DATA_TYPE[split]
    voxels = meta.columns("VoxelData", roi_key)
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
    catalog = catalog or default_catalog()
    subject = catalog.subject(subject)
    _ = subject.h5_name
    parse_roi(roi)  # name errors come before any download
    _parse_split(split, average_repeats)
    from brainfeat.remote.api import fetch_fmri

    path = fetch_fmri(subject.name, data_dir=data_dir, download=download, progress=False)
    return read_fmri(path, subject, roi, split, average_repeats, catalog=catalog)
