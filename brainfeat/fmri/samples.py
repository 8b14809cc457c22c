"""Block samples from ds001246's preprocessed BOLD runs, events and ROI masks.

For users with only the OpenNeuro release: this rebuilds what ``Subject*.h5`` holds, one
sample per stimulus block, following the preprocessing described in the Methods of
Horikawa & Kamitani (2017, Nat Commun 8:15037) [I: from the paper's text; the lab's code
for this step is not public]. Per run and per voxel of the mask:

1. the first ``discard_s`` = 9 s (3 volumes) are discarded (scanner instability);
2. the linear trend is removed, keeping the run mean;
3. amplitudes are converted to percent signal change relative to the mean of the
   initial rest after the discarded volumes (24 s: from 9 s to the first block at 33 s);
4. values beyond ``despike_sd`` = 3 standard deviations of the run are clipped
   ("despiked");
5. each block's volumes are averaged after shifting by ``shift_s`` = 3 s (one volume)
   for the hemodynamic delay: a 9-s stimulus block gives 3 volumes, a 15-s imagery
   period 5.

One-back repeats (an image shown again right after itself) are left out, as in the
preprocessed files (1,200 training and 1,750 test samples). The BOLD run must start at
the events' time 0: a run whose length does not match its events is refused rather
than silently misaligned.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from brainfeat.bids.design import one_back_repeats
from brainfeat.bids.events import events_files, read_events
from brainfeat.bids.layout import fetch_tree, preprocessed_bold_path
from brainfeat.catalog import Catalog, Split, SubjectLike, resolve_catalog
from brainfeat.errors import DataNotFoundError, FormatError, IntegrityError
from brainfeat.fmri.preprocessed import FMRI
from brainfeat.fmri.rois import ROIMask, load_roi, parse_roi

__all__ = ["block_samples", "build_samples", "normalise_run"]

_TOLERANCE = 1e-6


def _times(n_volumes: int, tr: float) -> np.ndarray:
    return np.arange(n_volumes) * tr


def normalise_run(bold: np.ndarray, *, tr: float, baseline_end_s: float, discard_s: float = 9.0,
                  despike_sd: float = 3.0, where: str = "run") -> np.ndarray:
    """Detrend, convert to percent signal change and despike one run.

    Parameters
    ----------
    bold : numpy.ndarray
        (n_volumes, n_voxels) signal of one run; volume ``k`` starts at ``k * tr`` seconds.
    tr : float
        Repetition time in seconds.
    baseline_end_s : float
        End of the initial rest period (the first block's onset).
    discard_s : float
        Leading seconds to discard.
    despike_sd : float
        Clip at the run mean +- this many standard deviations (per voxel).
    where : str
        Names the run in error messages.

    Returns
    -------
    numpy.ndarray
        float64 (n_volumes, n_voxels) percent signal change; discarded volumes are NaN.
    """
    times = _times(bold.shape[0], tr)
    kept = times >= discard_s - _TOLERANCE
    baseline = kept & (times < baseline_end_s - _TOLERANCE)
    if not baseline.any():
        raise FormatError(f"{where}: no volume between {discard_s} s and the first block at "
                          f"{baseline_end_s} s to serve as rest baseline.")
    signal = np.asarray(bold, dtype=np.float64)[kept]
    t = times[kept] - times[kept].mean()
    slope = t @ (signal - signal.mean(axis=0)) / (t @ t) if len(t) > 1 else 0.0
    detrended = signal - np.outer(t, slope)
    reference = detrended[baseline[kept]].mean(axis=0)
    if np.any(reference == 0):
        raise IntegrityError(f"{where}: {int(np.sum(reference == 0))} voxel(s) of the mask have "
                             "zero baseline signal (outside the brain?); use a mask inside the brain.")
    change = 100.0 * (detrended - reference) / reference
    centre, spread = change.mean(axis=0), change.std(axis=0)
    change = np.clip(change, centre - despike_sd * spread, centre + despike_sd * spread)
    result = np.full(bold.shape, np.nan)
    result[kept] = change
    return result


def block_samples(normalised: np.ndarray, events: pd.DataFrame, *, tr: float, shift_s: float = 3.0,
                  include_repeats: bool = False, where: str = "run") -> tuple[np.ndarray, list[str]]:
    """Average each block's volumes after the hemodynamic shift.

    Parameters
    ----------
    normalised : numpy.ndarray
        (n_volumes, n_voxels), e.g. from :func:`normalise_run`.
    events : pandas.DataFrame
        One run's events (:func:`brainfeat.bids.read_events`); blocks are ``stimulus``
        events (perception) and ``imagery`` events.
    tr, shift_s : float
        Repetition time and hemodynamic shift in seconds.
    include_repeats : bool
        Keep one-back repeats (left out by default, as in ``Subject*.h5``).

    Returns
    -------
    samples : numpy.ndarray
        (n_blocks, n_voxels).
    names : list of str
        Stimulus name (perception) or category synset (imagery) of each block.
    """
    times = _times(normalised.shape[0], tr)
    blocks = events["event_type"].isin(["stimulus", "imagery"])
    if not include_repeats:
        blocks &= ~one_back_repeats(events)
    samples, names = [], []
    for event in events[blocks].itertuples():
        start, end = event.onset + shift_s, event.onset + event.duration + shift_s
        volumes = (times >= start - _TOLERANCE) & (times < end - _TOLERANCE)
        if not volumes.any() or np.isnan(normalised[volumes]).any():
            raise FormatError(f"{where}: block at {event.onset} s (+{shift_s} s shift) has no "
                              "usable volume in the run.")
        samples.append(normalised[volumes].mean(axis=0))
        names.append(str(event.stimulus_name if event.event_type == "stimulus" else event.category))
    width = normalised.shape[1]
    return (np.vstack(samples) if samples else np.empty((0, width))), names


def _read_bold(path: Path, mask: ROIMask) -> np.ndarray:
    import nibabel

    if not os.path.exists(path) or os.path.getsize(path) == 0:
        state = "missing" if not os.path.exists(path) else "empty (0 bytes)"
        raise DataNotFoundError(
            f"BOLD file {path} is {state}. Fetch it with brainfeat.fetch_bids(subject, "
            "include=['derivatives/preproc-spm/*']) or, in a DataLad clone, `datalad get` it."
        )
    try:
        image = nibabel.load(path)
        shape = image.shape
        if shape[:3] != mask.mask.shape or len(shape) != 4:
            raise FormatError(f"{path} has shape {shape}: expected 4-D on the mask's grid "
                              f"{mask.mask.shape} + (volumes,).")
        bold = np.asanyarray(image.dataobj)[mask.mask].T  # (volumes, voxels), C order of the grid
    except FormatError:
        raise
    except Exception as error:  # nibabel raises many types for damaged files
        raise FormatError(f"Cannot read BOLD run {path} as NIfTI ({type(error).__name__}: "
                          f"{error}); fetch it again.") from None
    if bold.dtype.kind not in "biuf" or not np.isfinite(bold).all():
        raise FormatError(f"BOLD run {path} holds {bold.dtype} values that are not all finite "
                          "numbers inside the mask: expected a preprocessed BOLD run; fetch it "
                          "again.")
    return bold


def build_samples(subject: SubjectLike, split: Split | str, roi: str = "VC", *,
                  root: str | os.PathLike[str] | None = None,
                  data_dir: str | os.PathLike[str] | None = None, download: bool = True,
                  tr: float = 3.0, shift_s: float = 3.0, discard_s: float = 9.0,
                  despike_sd: float = 3.0, include_repeats: bool = False,
                  catalog: Catalog | None = None) -> FMRI:
    """Build one subject's block samples from ds001246's preprocessed BOLD (see module docs).

    Parameters
    ----------
    subject : Subject, int or str
    split : {"train", "test", "imagery"}
    roi : str
        ROI whose voxels are kept (:func:`brainfeat.load_roi`).
    root : path-like, optional
        A local ds001246 tree with events, masks and ``derivatives/preproc-spm``; fetched
        when omitted.
    data_dir, download
        As for :func:`brainfeat.fetch_bids`.
    tr, shift_s, discard_s, despike_sd : float
        Repetition time, hemodynamic shift, leading seconds discarded, despiking threshold.
    include_repeats : bool
        Keep one-back repeat blocks.
    catalog : Catalog, optional

    Returns
    -------
    FMRI
        Samples in session and run order, runs numbered 1.. within the split, voxels in
        C order of the mask grid, ``voxel_xyz`` in scanner mm.

    Examples
    --------
    >>> from brainfeat.fmri.samples import build_samples
    >>> train = build_samples("S1", "train", "VC", root="~/ds001246")  # doctest: +SKIP
    >>> train.X.shape  # doctest: +SKIP
    (1200, 4466)
    """
    catalog = resolve_catalog(catalog)
    subject = catalog.subject(subject)
    split = Split.parse(split)
    parse_roi(roi)  # name errors come before any download
    if root is None:
        root = fetch_tree(subject, ("*_events.tsv", f"sourcedata/{subject.bids}/*",
                                    f"derivatives/preproc-spm/output/{subject.bids}/*"),
                          data_dir=data_dir, download=download)
    root = Path(root)
    mask = load_roi(subject, roi, root=root, catalog=catalog)
    files = events_files(root, subject.bids, split)
    samples, names, runs = [], [], []
    for number, events_path in enumerate(files, start=1):
        events = read_events(events_path)
        bold_path = preprocessed_bold_path(root, events_path)
        bold = _read_bold(bold_path, mask)
        end = float((events["onset"] + events["duration"]).max())
        if round(end / tr) != bold.shape[0]:
            raise FormatError(
                f"{bold_path} has {bold.shape[0]} volumes ({bold.shape[0] * tr:g} s) but its events "
                f"end at {end:g} s: expected the run to start at the events' time 0 with one "
                f"volume per {tr:g} s. The alignment cannot be assumed; check the release."
            )
        first_block = float(events.loc[events["event_type"] != "rest", "onset"].min())
        normalised = normalise_run(bold, tr=tr, baseline_end_s=first_block, discard_s=discard_s,
                                   despike_sd=despike_sd, where=str(bold_path))
        run_samples, run_names = block_samples(normalised, events, tr=tr, shift_s=shift_s,
                                               include_repeats=include_repeats, where=str(bold_path))
        samples.append(run_samples)
        names += run_names
        runs += [number] * len(run_names)
    X = np.vstack(samples).astype(np.float32)
    return FMRI(X, tuple(names), np.asarray(runs, dtype=np.int64), subject, mask.roi, split,
                mask.xyz())
