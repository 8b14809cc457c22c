"""A SYNTHETIC subset of OpenNeuro ds001246 in its exact layout: event tables, ROI masks and,
on request, preprocessed BOLD runs.

:func:`write_bids_replica` writes, below ``<root>/ds001246`` (the path a mirror serves as
the ``openneuro`` source):

* the top-level files (``dataset_description.json``, ``README``, ``CHANGES``, the sidecars),
  each saying it is synthetic;
* every ``*_events.tsv`` the catalog's run table names (runs per session as in the paper's
  Table 1): training runs that show each of the catalog's training images once, test runs
  that show every test image once per run, both with one-back repeats (a button press);
  imagery runs of 25 distinct imagery categories (cue, imagery, evaluation, inter-rest).
  Each subject's tables are written in one of the release schemas of ds001246 (the stimulus
  in ``stimulus_id`` + ``stimulus_name``, ``stim_id``, ``stim_file`` or ``image_file``);
* ``sourcedata/sub-*/anat/sub-*_mask_{LH,RH}_<part>.nii.gz``: small 64 x 64 x 50 integer
  masks of the eleven published parts (V1d ... HVC), one box per part and hemisphere;
* given true features (``features=``), the SPM-preprocessed BOLD run of every perception
  run, ``derivatives/preproc-spm/output/sub-*/ses-*/func/*_bold_preproc.nii.gz`` (the names
  :func:`brainfeat.bids.layout.preprocessed_bold_path` derives from the event tables), one
  volume per 3 s from the events' time 0 to their end: each VC voxel of the subject rises by
  a random linear mixture of the shown image's z-scored true features
  (:func:`brainfeat.demo.loop_replica.feature_signal`, as in the replica's ``Subject*.h5``),
  in percent of its baseline, from 3 s after a block's onset to 3 s after its end, plus noise
  in every volume; so decoding from :func:`brainfeat.fmri.build_samples` means something.
  The runs are small: the masks and runs are then on a 24 x 16 x 14 grid (not the real
  64 x 64 x 50), and imagery runs get no BOLD.

These files differ from the published ones, whose sizes and MD5s the registry pins; the
pins of the synthetic files are written to ``<root>/pins.tsv``, which
``BRAINFEAT_PINS`` hands to the registry (:func:`brainfeat.remote.registry.default_registry`).
The numbers and the order of the images mean nothing; the layout and the design are real.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from brainfeat.catalog import Catalog, SessionRuns, Split, Subject
from brainfeat.errors import InvalidValueError
from brainfeat.remote.registry import BIDS_ROOT
from brainfeat.stimuli import name_to_id

__all__ = ["BOLD_GRID", "MASK_PARTS", "PINS_FILE", "SCHEMAS", "write_bids_replica"]

PINS_FILE = "pins.tsv"
#: The release schemas of the perception tables, by the column that holds the stimulus.
SCHEMAS = ("stimulus_name", "stim_id", "stim_file", "image_file")
#: The mask files ds001246 publishes per hemisphere.
MASK_PARTS = ("V1d", "V1v", "V2d", "V2v", "V3d", "V3v", "hV4", "LOC", "FFA", "PPA", "HVC")
_LABEL = "SYNTHETIC subset of OpenNeuro ds001246 written by brainfeat - the data mean nothing"
_SHAPE = (64, 64, 50)
#: The grid of the masks and BOLD runs written with ``features=``.
BOLD_GRID = (24, 16, 14)
_TR, _DELAY = 3.0, 3.0  # seconds: repetition time, hemodynamic delay (build_samples' shift)
_AFFINE = np.array([[-3.0, 0, 0, 96], [0, 3, 0, -96], [0, 0, 3, -72], [0, 0, 0, 1]])
_REPEATS_PER_RUN = 5  # one-back repeats per perception run (fewer in runs of few images)
_BLOCK, _REST_START, _REST_END = 9, 33, 6  # seconds (perception)
_IMAGERY_CATEGORIES_PER_RUN = 25


def write_bids_replica(root: str | os.PathLike[str], catalog: Catalog, *, seed: int = 0,
                       features: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                       noise: float = 1.0) -> Path:
    """Write the synthetic ds001246 subset of ``catalog``'s subjects into ``root/ds001246``.

    Parameters
    ----------
    root : path-like
        The mirror's folder; ``ds001246/`` and ``pins.tsv`` are written in it (files already
        there are overwritten).
    catalog : Catalog
        Subjects, run table, training and test images and imagery categories of the tables.
    seed : int
        Seed of the presentation orders, repeats, masks and BOLD signal.
    features : mapping of str to (ndarray, ndarray), optional
        ``{layer: (training rows, test rows)}``: true features of the catalog's training
        and test images, in catalog order, one row (of any unit shape) per image (as
        :func:`brainfeat.features.extract` gives them). Given, the preprocessed BOLD runs of every perception run are written too,
        and masks and runs are on :data:`BOLD_GRID`.
    noise : float
        Standard deviation of the BOLD noise of each volume, in percent of the baseline
        (the signal has about 1 % standard deviation per voxel).

    Returns
    -------
    pathlib.Path
        ``root/pins.tsv``: ``name``, ``size``, ``md5`` of every file written, by registry
        name (``ds001246/<path>``).

    Raises
    ------
    InvalidValueError
        ``features`` with a training run that would show no image (fewer training images
        than runs in the catalog's run table: its BOLD run would have no block), or
        feature rows that do not match the catalog's images.
    """
    root = Path(root)
    tree = root / BIDS_ROOT
    rng = np.random.default_rng(seed)
    if features is not None:
        _check_features(catalog, features)
    files: dict[str, bytes] = dict(_top_level_files())
    numbers = {s.number for s in catalog.subjects}
    for entry in catalog.runs:
        if entry.subject in numbers:
            files.update(_run_tables(entry, catalog, rng))
    grid = _SHAPE if features is None else BOLD_GRID
    for subject in catalog.subjects:
        files.update(_masks(subject, rng, grid))
    _write(tree, files)
    if features is not None:
        bold = dict(_bold_runs(tree, catalog, features, rng, noise))
        _write(tree, bold)
        files.update(bold)
    rows = ["name\tsize\tmd5"]
    rows += [f"{BIDS_ROOT}/{path}\t{len(content)}\t{hashlib.md5(content).hexdigest()}"
             for path, content in files.items()]
    pins = root / PINS_FILE
    pins.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return pins


def _write(tree: Path, files: Mapping[str, bytes]) -> None:
    for path, content in files.items():
        target = tree / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def _check_features(catalog: Catalog,
                    features: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Refuse features that miss images, and training runs that would show no image."""
    n_train, n_test = len(catalog.training_image_ids), len(catalog.test_image_ids)
    for layer, (train, test) in features.items():
        if len(train) != n_train or len(test) != n_test:
            raise InvalidValueError(
                f"features[{layer!r}] has {len(train)} training and {len(test)} test rows; the "
                f"catalog has {n_train} training and {n_test} test images: give one row per "
                "image, in catalog order.")
    numbers = {s.number for s in catalog.subjects}
    for entry in catalog.runs:
        if entry.subject in numbers and entry.split is Split.TRAIN and entry.n_runs > n_train:
            raise InvalidValueError(
                f"The catalog's run table gives {Subject(entry.subject).name} {entry.n_runs} "
                f"training runs for {n_train} training images: with BOLD runs each run needs "
                "at least one image. Give a catalog with fewer runs (Catalog.runs) or more "
                "training images.")


def _top_level_files() -> Iterator[tuple[str, bytes]]:
    description = {"Name": _LABEL, "BIDSVersion": "1.0.2", "License": "CC0"}
    yield "dataset_description.json", json.dumps(description, indent=1).encode()
    yield "README", f"{_LABEL}.\n".encode()
    yield "CHANGES", b"1.2.1 SYNTHETIC\n"
    yield "sourcedata/README", f"{_LABEL}: ROI masks.\n".encode()
    for task in ("perception", "imagery"):
        sidecar = {"TaskName": task, "RepetitionTime": 3.0}
        yield f"task-{task}_bold.json", json.dumps(sidecar).encode()


def _run_tables(entry: SessionRuns, catalog: Catalog,
                rng: np.random.Generator) -> Iterator[tuple[str, bytes]]:
    """``(path, table)`` of every run of one subject and split."""
    subject = Subject(entry.subject)
    schema = SCHEMAS[(entry.subject - 1) % len(SCHEMAS)]
    runs = [(session, run) for session, n in zip(entry.session_labels, entry.runs_per_session)
            for run in range(1, n + 1)]
    if entry.split is Split.IMAGERY:
        tables = [_imagery_table(rng.choice(catalog.imagery_categories,
                                            _IMAGERY_CATEGORIES_PER_RUN, replace=False), rng)
                  for _ in runs]
    else:
        if entry.split is Split.TRAIN:  # each training image once over all runs
            images = catalog.training_image_ids
            shown = np.array_split(rng.permutation(images), len(runs))
        else:  # every test image once per run
            images = catalog.test_image_ids
            shown = [rng.permutation(images) for _ in runs]
        tables = [_perception_table(list(names), images, schema, rng) for names in shown]
    task = "imagery" if entry.split is Split.IMAGERY else "perception"
    for (session, run), table in zip(runs, tables):
        yield (f"{subject.bids}/ses-{session}/func/{subject.bids}_ses-{session}_task-{task}"
               f"_run-{run:02d}_events.tsv", table.encode())


def _stimulus_cells(name: str, schema: str) -> list[str]:
    stimulus_id = f"{name_to_id(name):.6f}"  # the lab's float id, e.g. 2766534.015976
    return {"stimulus_name": [stimulus_id, name], "stim_id": [stimulus_id],
            "stim_file": [f"{name}.JPEG"], "image_file": [f"{name}.JPEG"]}[schema]


def _perception_table(names: list[str], images: Sequence[str], schema: str,
                      rng: np.random.Generator) -> str:
    """One perception run: rest, one block per image (plus one-back repeats), rest."""
    old = schema in ("stim_file", "image_file")
    missing = "null" if schema == "image_file" else "n/a"
    no_press = "0.000000" if old else "n/a"
    n_repeats = min(_REPEATS_PER_RUN, len(names) // 10)
    repeated = set(rng.choice(len(names), n_repeats, replace=False).tolist())
    stimulus_columns = {"stimulus_name": ["stimulus_id", "stimulus_name"]}.get(schema, [schema])
    header = ["onset", "duration", "trial_no", "event_type", *stimulus_columns]
    header += ["category_index", "image_index"] if schema == "stimulus_name" else []
    header.append("response_time")
    blank = [missing] * (len(header) - 5)
    image_index = {name: index for index, name in enumerate(images, start=1)}
    synsets = dict.fromkeys(name.split("_")[0] for name in images)
    category_index = {synset: index for index, synset in enumerate(synsets, start=1)}
    rows = [["0", str(_REST_START), "1", "rest", *blank, no_press]]
    onset = _REST_START
    for index, name in enumerate(names):
        for repeat in ((False, True) if index in repeated else (False,)):
            cells = _stimulus_cells(name, schema)
            if schema == "stimulus_name":
                cells += [str(category_index[name.split("_")[0]]), str(image_index[name])]
            press = f"{onset + 1.5:.6f}" if repeat else no_press
            rows.append([str(onset), str(_BLOCK), str(len(rows) + 1), "stimulus", *cells, press])
            onset += _BLOCK
    rows.append([str(onset), str(_REST_END), str(len(rows) + 1), "rest", *blank, no_press])
    return "\n".join("\t".join(row) for row in [header, *rows]) + "\n"


def _imagery_table(categories: Sequence[str], rng: np.random.Generator) -> str:
    """One imagery run: rest, then cue/imagery/evaluation/inter-rest per category, rest."""
    header = ["onset", "duration", "trial_no", "event_type", "category_id", "category_name",
              "category_index", "response_time", "evaluation"]
    rows = [["0", "33", "1", "rest"] + ["n/a"] * 5]
    onset = 33
    for trial, synset in enumerate(categories, start=2):
        score = f"{rng.integers(1, 6)}.0"
        cells = [str(int(synset[1:])), synset, str(trial - 1), f"{onset + 20.5:.6f}", score]
        for event_type, duration in (("cue", 3), ("imagery", 15), ("evaluation", 3),
                                     ("inter_rest", 3)):
            rows.append([str(onset), str(duration), str(trial), event_type, *cells])
            onset += duration
    rows.append([str(onset), "6", str(len(categories) + 2), "rest"] + ["n/a"] * 5)
    return "\n".join("\t".join(row) for row in [header, *rows]) + "\n"


def _masks(subject: Subject, rng: np.random.Generator,
           grid: tuple[int, int, int]) -> Iterator[tuple[str, bytes]]:
    """Every mask file of one subject: a 4-voxel box per part, left half of the grid for LH,
    right half for RH."""
    import nibabel

    folder = f"sourcedata/{subject.bids}/anat"
    half = grid[0] // 2
    for side, x_range in (("LH", (4, half - 2)), ("RH", (half + 2, grid[0] - 4))):
        for part in MASK_PARTS:
            data = np.zeros(grid, dtype=np.int16)
            x = rng.integers(x_range[0], x_range[1] - 4)
            y, z = rng.integers(4, grid[1] - 8), rng.integers(4, grid[2] - 8)
            data[x:x + 4, y:y + 4, z:z + 4] = 1
            content = nibabel.Nifti1Image(data, _AFFINE).to_bytes()
            yield (f"{folder}/{subject.bids}_mask_{side}_{part}.nii.gz",
                   gzip.compress(content, mtime=0))


def _bold_runs(tree: Path, catalog: Catalog,
               features: Mapping[str, tuple[np.ndarray, np.ndarray]],
               rng: np.random.Generator, noise: float) -> Iterator[tuple[str, bytes]]:
    """``(path, .nii.gz)`` of the preprocessed BOLD of every perception run (module docs)."""
    import nibabel

    from brainfeat.bids.events import events_files, read_events
    from brainfeat.bids.layout import preprocessed_bold_path
    from brainfeat.demo.loop_replica import feature_signal
    from brainfeat.fmri.rois import load_roi

    features = {layer: (np.reshape(train, (len(train), -1)), np.reshape(test, (len(test), -1)))
                for layer, (train, test) in features.items()}
    n_features = sum(train.shape[1] for train, _ in features.values())
    shared = rng.normal(size=(n_features, int(np.prod(BOLD_GRID))))  # over the whole grid
    names = catalog.training_image_ids + catalog.test_image_ids
    for subject in catalog.subjects:
        inside = load_roi(subject, "VC", root=tree, catalog=catalog).mask
        train, test = feature_signal(features, shared[:, inside.ravel()], rng)
        signal = dict(zip(names, np.vstack([train, test])))
        level = rng.uniform(500.0, 1500.0, size=inside.sum())
        for split in (Split.TRAIN, Split.TEST):
            for path in events_files(tree, subject.bids, split):
                events = read_events(path)
                n_volumes = round(float((events["onset"] + events["duration"]).max()) / _TR)
                times = np.arange(n_volumes) * _TR
                change = noise * rng.normal(size=(n_volumes, inside.sum()))
                for event in events[events["event_type"] == "stimulus"].itertuples():
                    start, end = event.onset + _DELAY, event.onset + event.duration + _DELAY
                    shown = (times >= start) & (times < end)
                    change[shown] += signal[event.stimulus_name]
                volumes = np.zeros(BOLD_GRID + (n_volumes,), dtype=np.float32)
                volumes[inside] = (level * (1.0 + change / 100.0)).T
                image = nibabel.Nifti1Image(volumes, _AFFINE)
                image.header.set_zooms((3.0, 3.0, 3.0, _TR))
                relative = preprocessed_bold_path(tree, path).relative_to(tree)
                yield relative.as_posix(), gzip.compress(image.to_bytes(), mtime=0)
