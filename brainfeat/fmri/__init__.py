"""fMRI of the experiment: ROI masks, the preprocessed files, and samples built from raw BOLD.

* :func:`load_roi` — a subject's ROI mask from ds001246's mask files (nibabel);
* :func:`load_fmri` — block samples from the preprocessed ``Subject*.h5`` (figshare);
* :func:`build_samples` — the same samples rebuilt from ds001246's preprocessed BOLD runs.
"""

from __future__ import annotations

from brainfeat.fmri.preprocessed import FMRI, load_fmri, read_fmri
from brainfeat.fmri.rois import ROIS, ROIMask, load_roi
from brainfeat.fmri.samples import build_samples

__all__ = ["FMRI", "ROIMask", "ROIS", "build_samples", "load_fmri", "load_roi", "read_fmri"]
