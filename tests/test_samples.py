"""Raw preprocessed BOLD + events + masks -> block samples, checked against load_fmri's reader."""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pandas as pd
import pytest

from brainfeat.errors import DataNotFoundError, FormatError, UnknownNameError
from brainfeat.fmri.preprocessed import read_fmri
from brainfeat.fmri.rois import load_roi
from brainfeat.fmri.samples import block_samples, build_samples
from brainfeat.io.bdata import BDataBuilder, write_bdata
from brainfeat.stimuli import name_to_id

GRID = (6, 5, 4)
AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])
TR = 3.0
TRAIN = ["n01518878_10042", "n01518878_12028", "n01518878_14075", "n01621127_19020", "n02766534_15976"]
IMAGERY = ["n01443537", "n02690373", "n01976957"]


def _events(rows: list[tuple], columns: str) -> str:
    return "\n".join([columns] + ["\t".join(str(v) for v in row) for row in rows]) + "\n"


def perception_events(order: list[str]) -> tuple[str, float]:
    rows, onset = [(0, 33, 1, "rest", "n/a", "n/a", "n/a")], 33
    for trial, name in enumerate(order, start=2):
        rows.append((onset, 9, trial, "stimulus", f"{name_to_id(name):.6f}", name, "n/a"))
        onset += 9
    rows.append((onset, 6, len(order) + 2, "rest", "n/a", "n/a", "n/a"))
    return _events(rows, "onset\tduration\ttrial_no\tevent_type\tstimulus_id\tstimulus_name\tresponse_time"), onset + 6


def imagery_events(order: list[str]) -> tuple[str, float]:
    rows, onset = [(0, 33, 1, "rest", "n/a", "n/a", "n/a", "n/a")], 33
    for trial, synset in enumerate(order, start=2):
        for event_type, duration in (("cue", 3), ("imagery", 15), ("evaluation", 3), ("inter_rest", 3)):
            rows.append((onset, duration, trial, event_type, int(synset[1:]), synset, 50.0, 4.0))
            onset += duration
    rows.append((onset, 6, len(order) + 2, "rest", "n/a", "n/a", "n/a", "n/a"))
    return _events(rows, "onset\tduration\ttrial_no\tevent_type\tcategory_id\tcategory_name\tresponse_time\tevaluation"), onset + 6


RUNS = {  # (session, task, run) -> events text and end time
    ("perceptionTraining01", "perception", 1): perception_events(TRAIN[:3] + [TRAIN[2]]),  # one-back repeat
    ("perceptionTraining02", "perception", 1): perception_events(TRAIN[3:]),
    ("imageryTest01", "imagery", 1): imagery_events(IMAGERY),
}


def write_subject(root: Path, seed: int = 0) -> np.ndarray:
    """Events, masks and preprocessed BOLD of a synthetic sub-01; returns the VC mask."""
    rng = np.random.default_rng(seed)
    (root / "dataset_description.json").write_text('{"Name": "synthetic", "BIDSVersion": "1.0.2"}')
    anat = root / "sourcedata/sub-01/anat"
    anat.mkdir(parents=True)
    union = np.zeros(GRID, bool)
    for side in ("LH", "RH"):
        for part in ("V1d", "V1v", "V2d", "V2v", "V3d", "V3v", "hV4", "LOC", "FFA", "PPA", "HVC"):
            mask = rng.random(GRID) < 0.1
            union |= mask
            nibabel.Nifti1Image(mask.astype(np.uint8), AFFINE).to_filename(anat / f"sub-01_mask_{side}_{part}.nii.gz")
    for (session, task, run), (text, end) in RUNS.items():
        stem = f"sub-01_ses-{session}_task-{task}_run-{run:02d}"
        func = root / "sub-01" / f"ses-{session}" / "func"
        func.mkdir(parents=True)
        (func / f"{stem}_events.tsv").write_text(text)
        n_volumes = int(round(end / TR))
        level = rng.uniform(500, 1500, GRID)
        drift = rng.normal(0, 0.5, GRID)[..., None] * np.arange(n_volumes)
        bold = level[..., None] * (1 + rng.normal(0, 0.01, GRID + (n_volumes,))) + drift
        out = root / "derivatives/preproc-spm/output/sub-01" / f"ses-{session}" / "func"
        out.mkdir(parents=True)
        nibabel.Nifti1Image(bold.astype(np.float32), AFFINE).to_filename(out / f"{stem}_bold_preproc.nii.gz")
    return union


def reference_samples(root: Path, mask: np.ndarray, session: str, task: str) -> tuple[np.ndarray, list[str]]:
    """The documented recipe written out plainly, one voxel at a time (an independent oracle)."""
    stem = f"sub-01_ses-{session}_task-{task}_run-01"
    events = pd.read_csv(root / "sub-01" / f"ses-{session}" / "func" / f"{stem}_events.tsv", sep="\t")
    bold = np.asarray(nibabel.load(root / "derivatives/preproc-spm/output/sub-01" / f"ses-{session}" / "func"
                                   / f"{stem}_bold_preproc.nii.gz").dataobj, dtype=np.float64)
    voxels = [bold[i, j, k] for i, j, k in np.argwhere(mask)]
    times = np.arange(bold.shape[3]) * TR
    kept = times >= 9
    normalised = []
    for series in voxels:
        y = series[kept]
        slope, intercept = np.polyfit(times[kept], y, 1)
        y = y - slope * (times[kept] - times[kept].mean())
        base = y[times[kept] < 33].mean()
        y = 100 * (y - base) / base
        y = np.clip(y, y.mean() - 3 * y.std(), y.mean() + 3 * y.std())
        full = np.full(len(times), np.nan)
        full[kept] = y
        normalised.append(full)
    normalised = np.array(normalised).T
    samples, names, previous = [], [], None
    for event in events.itertuples():
        if event.event_type not in ("stimulus", "imagery"):
            continue
        name = event.stimulus_name if event.event_type == "stimulus" else event.category_name
        if event.event_type == "stimulus" and name == previous:
            continue
        previous = name
        volumes = [k for k, t in enumerate(times) if event.onset + 3 <= t < event.onset + event.duration + 3]
        samples.append(normalised[volumes].mean(axis=0))
        names.append(name)
    return np.array(samples), names


@pytest.fixture(scope="module")
def subject(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds001246")
    return root, write_subject(root)


def test_built_samples_agree_with_load_fmri_of_the_same_numbers(subject, tmp_path):
    root, mask = subject
    train_a, names_a = reference_samples(root, mask, "perceptionTraining01", "perception")
    train_b, names_b = reference_samples(root, mask, "perceptionTraining02", "perception")
    imagery, imagery_names = reference_samples(root, mask, "imageryTest01", "imagery")
    assert len(names_a) == 3 and len(imagery_names) == 3  # the repeat left out
    X = np.vstack([train_a, train_b, imagery])
    builder = BDataBuilder()
    builder.add(X, "VoxelData")
    builder.add(np.array([1] * 5 + [3] * 3, float), "DataType")
    builder.add(np.array([1, 1, 1, 2, 2, 1, 1, 1], float), "Run")
    ids = [name_to_id(n) for n in names_a + names_b] + [float(int(c[1:])) for c in imagery_names]
    builder.add(np.array(ids), "stimulus_id")
    builder.add_metadata("ROI_VC", np.ones(X.shape[1]), "1 = ROI VC", where="VoxelData")
    xyz = np.argwhere(mask) * 3.0
    for axis, values in zip("xyz", xyz.T):
        builder.add_metadata(f"voxel_{axis}", values, "", where="VoxelData")
    path = write_bdata(tmp_path / "Subject1.h5", builder.build())

    for split in ("train", "imagery"):
        built = build_samples("S1", split, "VC", root=root)
        loaded = read_fmri(path, "S1", "VC", split)
        np.testing.assert_allclose(built.X, loaded.X, rtol=1e-5, atol=1e-5)
        assert built.stimulus_names == loaded.stimulus_names
        np.testing.assert_array_equal(built.runs, loaded.runs)
        np.testing.assert_array_equal(built.voxel_xyz, loaded.voxel_xyz)
        assert (built.roi, built.split) == (loaded.roi, loaded.split)


def test_repeats_can_be_kept(subject):
    root, _ = subject
    built = build_samples("S1", "train", "V1", root=root, include_repeats=True)
    assert built.stimulus_names == tuple(TRAIN[:3] + [TRAIN[2]] + TRAIN[3:])
    np.testing.assert_array_equal(built.runs, [1, 1, 1, 1, 2, 2])


def test_blocks_average_the_shifted_volumes():
    volume_index = np.arange(40, dtype=float)[:, None] * np.ones((1, 2))
    events = pd.DataFrame({"onset": [33.0, 42.0, 51.0], "duration": [9.0, 9.0, 15.0],
                           "event_type": ["stimulus", "stimulus", "imagery"], "session": "s", "run": 1,
                           "stimulus_name": ["n01518878_10042", "n01518878_12028", None],
                           "category": ["n01518878", "n01518878", "n01443537"]})
    samples, names = block_samples(volume_index, events, tr=3.0)
    # 33 s + 3 s shift -> volumes 12, 13, 14; 42 s -> 15..17; a 15-s block at 51 s -> 18..22
    np.testing.assert_array_equal(samples[:, 0], [13.0, 16.0, 20.0])
    assert names == ["n01518878_10042", "n01518878_12028", "n01443537"]
    with pytest.raises(FormatError, match="block at 120"):
        block_samples(volume_index, events.assign(onset=[33.0, 42.0, 120.0]), tr=3.0)


def test_missing_empty_and_misaligned_bold_are_errors(tmp_path):
    write_subject(tmp_path)
    bold = next((tmp_path / "derivatives").rglob("*perceptionTraining02*_bold_preproc.nii.gz"))
    short = nibabel.load(bold)
    nibabel.Nifti1Image(np.asarray(short.dataobj)[..., 3:], AFFINE).to_filename(bold)
    with pytest.raises(FormatError, match=r"has 16 volumes \(48 s\) but its events end at 57 s"):
        build_samples("S1", "train", "VC", root=tmp_path)
    data = np.asarray(nibabel.load(bold).dataobj).copy()
    gz = bold.read_bytes()
    bold.write_bytes(gz[: len(gz) // 2])  # a truncated download
    with pytest.raises(FormatError, match=f"Cannot read BOLD run {bold}.*fetch it again"):
        build_samples("S1", "train", "VC", root=tmp_path)
    inside = np.argwhere(load_roi("S1", "VC", root=tmp_path).mask)[0]
    data[(*inside, 5)] = np.nan  # one voxel of the mask, one volume
    nibabel.Nifti1Image(data, AFFINE).to_filename(bold)
    with pytest.raises(FormatError, match=f"BOLD run {bold} holds float32 values that are not all"):
        build_samples("S1", "train", "VC", root=tmp_path)
    bold.write_bytes(b"")
    with pytest.raises(DataNotFoundError, match="is empty .0 bytes"):
        build_samples("S1", "train", "VC", root=tmp_path)
    bold.unlink()
    with pytest.raises(DataNotFoundError, match="is missing.*fetch_bids"):
        build_samples("S1", "train", "VC", root=tmp_path)
    with pytest.raises(DataNotFoundError, match="No event table of sub-01 .test."):
        build_samples("S1", "test", "VC", root=tmp_path)


def test_roi_name_is_checked_before_any_download(tmp_path):
    with pytest.raises(UnknownNameError, match="Unknown ROI 'MT'"):
        build_samples("S1", "train", "MT", data_dir=tmp_path)
    assert not any(tmp_path.iterdir()), "nothing may be fetched for a bad name"
