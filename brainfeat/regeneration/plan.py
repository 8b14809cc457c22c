"""What a regeneration run will do, checked before any long work starts.

:func:`plan_regeneration` resolves the network or model, the layers and their unit counts,
the subjects and their fMRI inputs, and the images of both splits; it refuses missing
images (named, with how many are missing and from which split), missing fMRI files and a
plan that does not fit on the disk. A :class:`Plan` lists the jobs of the task graph and
the disk they need (``--dry-run`` prints :meth:`Plan.describe`).

The fMRI comes by one of two routes (``Plan.route``): ``"h5"``, the published preprocessed
``Subject*.h5`` (a folder, else fetched from figshare), or ``"bids"``, ds001246's event
tables, ROI masks and SPM-preprocessed BOLD runs turned into block samples by
:func:`brainfeat.fmri.build_samples` (a local tree, else fetched from OpenNeuro). For the
BIDS route :func:`bids_inputs` names every file the samples are built from, and refuses a
tree that lacks any of them (event tables of the catalog's run table, the BOLD run of every
event table, the ROI's mask files) before any long work.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from brainfeat.catalog import Catalog, Network, Split, Subject, SubjectLike, resolve_catalog
from brainfeat.errors import (
    BrainfeatError, DataNotFoundError, InvalidValueError, UnknownNameError)

__all__ = ["BIDS_PATTERNS", "CALIBRATION_UNITS", "NOMINAL_TEST_RUNS", "NOMINAL_VC_VOXELS",
           "DecoderSettings", "LayerPlan", "Plan", "bids_inputs", "calibrate",
           "fetch_bids_inputs", "plan_regeneration", "with_bids_root"]

PathLike = str | os.PathLike[str]
#: VC voxels assumed by :func:`calibrate` when no fMRI file is at hand (users report 3,444 to
#: 6,237 for the five subjects, DATASET.md 1.2).
NOMINAL_VC_VOXELS = 5000
#: Test runs per subject assumed for the disk estimate of the BIDS route until the tree is
#: known (the paper's 35: every test image once per run).
NOMINAL_TEST_RUNS = 35
#: Units timed by :func:`calibrate`.
CALIBRATION_UNITS = 256
#: Bytes of a float32 and a float64 value.
_F4, _F8 = 4, 8
#: What ``bids=True`` fetches of each subject (``{s}``: ``sub-01`` ...): the perception
#: runs' event tables and preprocessed BOLD, and the ROI masks.
BIDS_PATTERNS = ("{s}/ses-perception*/func/*_events.tsv", "sourcedata/{s}/anat/*_mask_*.nii.gz",
                 "derivatives/preproc-spm/output/{s}/ses-perception*/func/*_bold_preproc.nii.gz")


@dataclass(frozen=True)
class DecoderSettings:
    """The decoder of every unit: the paper's settings by default (DATASET.md section 3).

    Attributes
    ----------
    roi : str
        ROI whose voxels are the decoder's inputs (``VC``).
    n_voxels : int
        Voxels selected per unit by |Pearson r| on the training samples (500).
    alpha : float
        Ridge penalty, bias included (100).
    """

    roi: str = "VC"
    n_voxels: int = 500
    alpha: float = 100.0


@dataclass(frozen=True)
class LayerPlan:
    """One layer to regenerate: its name and unit shape (None until extraction for models)."""

    name: str
    unit_shape: tuple[int, ...] | None

    @property
    def n_units(self) -> int | None:
        """Units of the layer, when known before extraction."""
        if self.unit_shape is None:
            return None
        count = 1
        for size in self.unit_shape:
            count *= size
        return count


@dataclass(frozen=True)
class Plan:
    """The jobs of one regeneration run.

    Attributes
    ----------
    model : str
        ``"AlexNet"``, ``"VGG19"``, ``"torchvision:resnet18"`` or a module's class name.
    network : Network or None
        The paper's network, whose output is written in the published layout; None for
        any other model (a decodability profile, no published comparison).
    layers : tuple of LayerPlan
    subjects : tuple of Subject
    fmri_files : dict of str to Path
        ``SubjectN.h5`` of each subject (``S1`` -> path); empty when they are fetched or
        on the BIDS route.
    train_ids, test_ids : tuple of str
        Stimulus names of the training and test images, in published order.
    image_paths : tuple of Path
        The image file of each name (training, then test).
    out : Path
    decoder : DecoderSettings
    seconds_per_unit : float or None
        One unit decoder's time on this machine (:func:`calibrate`), when measured.
    route : {"h5", "bids"}
        Where the fMRI comes from (module docstring).
    bids_root : Path or None
        The ds001246 tree of the BIDS route; None until it is fetched (``bids=True``).
    bids_files : dict of str to tuple of Path
        Per subject, every event table, BOLD run and mask file the BIDS route reads
        (``bids_inputs``); empty until the tree is known.
    """

    model: str
    network: Network | None
    layers: tuple[LayerPlan, ...]
    subjects: tuple[Subject, ...]
    fmri_files: dict[str, Path]
    train_ids: tuple[str, ...]
    test_ids: tuple[str, ...]
    image_paths: tuple[Path, ...]
    out: Path
    decoder: DecoderSettings
    seconds_per_unit: float | None = None
    route: str = "h5"
    bids_root: Path | None = None
    bids_files: dict[str, tuple[Path, ...]] = field(default_factory=dict)

    @property
    def jobs(self) -> list[str]:
        """Job names in graph order: features, samples per subject (BIDS route), decoders per
        (subject, layer), Averaged, publish."""
        names = ["features"]
        if self.route == "bids":
            names += [f"samples {s.name}" for s in self.subjects]
        for layer in self.layers:
            names += [f"decode {layer.name} {s.name}" for s in self.subjects]
            names += [f"averaged {layer.name}", f"true {layer.name}"]
        if self.network is not None:
            names += [f"publish {layer.name}" for layer in self.layers]
        return names + ["manifest"]

    @property
    def disk_bytes(self) -> int | None:
        """Bytes the run writes (None when a layer's units are not known before extraction).

        Features of every image (float32), each decoder's checkpoint (float64 decoded test
        features), the published files (float32 features of S1..Sn, Averaged and true;
        float64 accuracies and ranks) and, for the paper's networks, their zips once more;
        on the BIDS route each subject's block samples (float64; a training sample per
        image, a test sample per image and test run -- ``NOMINAL_TEST_RUNS`` until
        the tree is known -- and ``NOMINAL_VC_VOXELS`` voxels).
        """
        units = [layer.n_units for layer in self.layers]
        if any(n is None for n in units):
            return None
        n_units = sum(units)
        n_images = len(self.train_ids) + len(self.test_ids)
        n_test, n_subjects = len(self.test_ids), len(self.subjects)
        features = n_images * n_units * _F4
        checkpoints = n_subjects * n_test * n_units * _F8
        published = ((n_subjects + 2) * n_test * n_units * _F4
                     + 2 * (n_subjects + 1) * n_units * _F8)
        samples = 0
        if self.route == "bids":
            n_samples = sum(len(self.train_ids) + len(self.test_ids) * self._test_runs(s)
                            for s in self.subjects)
            samples = n_samples * NOMINAL_VC_VOXELS * _F8
        return (features + checkpoints + samples
                + published * (2 if self.network is not None else 1))

    def _test_runs(self, subject: Subject) -> int:
        events = [p for p in self.bids_files.get(subject.name, ()) if p.name.endswith(
            "_events.tsv") and f"ses-{Split.TEST.session_prefix}" in p.name]
        return len(events) or NOMINAL_TEST_RUNS

    def describe_fmri(self) -> str:
        """Where the decoders' fMRI comes from, in one line."""
        if self.route == "bids":
            if self.bids_root is None:
                return ("ds001246 BIDS (event tables, ROI masks, preprocessed BOLD) fetched "
                        "from OpenNeuro at run time, block samples by build_samples")
            counts = {"event tables": "_events.tsv", "BOLD runs": "_bold_preproc.nii.gz",
                      "mask files": "_mask_"}
            files = [p.name for paths in self.bids_files.values() for p in paths]
            found = ", ".join(f"{sum(kind in name for name in files)} {what}"
                              for what, kind in counts.items())
            return f"ds001246 BIDS tree {self.bids_root} ({found}), block samples by build_samples"
        if self.fmri_files:
            folder = next(iter(self.fmri_files.values())).parent
            return f"preprocessed {', '.join(p.name for p in self.fmri_files.values())} in {folder}"
        return "preprocessed Subject*.h5 fetched from figshare into the data folder"

    def describe(self) -> str:
        """The plan as text: model, layers and units, subjects, images, jobs, disk."""
        lines = [f"Regenerate {self.model} into {self.out}",
                 f"  decoder: ROI {self.decoder.roi}, {self.decoder.n_voxels} voxels per unit, "
                 f"alpha {self.decoder.alpha:g}, X and Y z-scored, test fMRI averaged over "
                 "repeats",
                 f"  fMRI: {self.describe_fmri()}",
                 f"  images: {len(self.train_ids)} training + {len(self.test_ids)} test",
                 f"  subjects: {' '.join(s.name for s in self.subjects)} (+ Averaged)"]
        for layer in self.layers:
            units = "units known after extraction" if layer.n_units is None else \
                f"{layer.n_units:,} units {layer.unit_shape}"
            lines.append(f"  layer {layer.name}: {units}")
        n_decoders = sum(layer.n_units or 0 for layer in self.layers) * len(self.subjects)
        lines.append(f"  jobs: {len(self.jobs)} ({len(self.layers) * len(self.subjects)} "
                     f"decoders, {n_decoders:,} unit decoders)")
        disk = self.disk_bytes
        lines.append("  disk needed: " + ("unknown until extraction" if disk is None
                                          else f"{disk / 1e6:,.1f} MB"))
        if self.seconds_per_unit is not None and n_decoders:
            seconds = n_decoders * self.seconds_per_unit
            when = f"{seconds:,.0f} s" if seconds < 3600 else f"{seconds / 3600:,.1f} h"
            lines.append(f"  estimated decoding time: {when} at {1 / self.seconds_per_unit:,.0f}"
                         " units/s (calibrated here; feature extraction not included)")
        return "\n".join(lines)


def _model_name(network_or_model: Any) -> tuple[str, Network | None]:
    """The model's name and, for the paper's networks, the :class:`Network`."""
    if isinstance(network_or_model, (str, Network)):
        text = str(network_or_model)
        if not text.startswith("torchvision:"):
            try:
                network = Network.parse(network_or_model)
            except UnknownNameError:
                return f"torchvision:{text}", None
            return network.value, network
        return text, None
    return type(network_or_model).__name__, None


def _layers(network: Network | None, layers: Sequence[str] | None,
            catalog: Catalog) -> tuple[LayerPlan, ...]:
    if network is not None:
        infos = (catalog.layers_of(network) if layers is None
                 else tuple(catalog.layer(network, name) for name in layers))
        return tuple(LayerPlan(info.name, info.unit_shape) for info in infos)
    if not layers:
        raise UnknownNameError(
            "Name the layers to decode for a model other than AlexNet and VGG19 (module "
            "names from named_modules(), e.g. layers=['layer1', 'fc']).")
    return tuple(LayerPlan(name, None) for name in layers)


def _images(images: PathLike, train_ids: Sequence[str], test_ids: Sequence[str],
            ) -> tuple[Path, ...]:
    from brainfeat.features.preprocess import list_images

    paths: list[Path] = []
    for split, ids in (("training", train_ids), ("test", test_ids)):
        try:
            paths += list_images(images, ids).paths
        except DataNotFoundError as error:
            raise DataNotFoundError(
                f"The {split} images are incomplete ({len(ids)} needed): {error}") from None
    return tuple(paths)


def _fmri_files(fmri: PathLike | None, subjects: Sequence[Subject]) -> dict[str, Path]:
    if fmri is None:
        return {}
    folder = Path(fmri)
    files = {s.name: folder / f"{s.h5_name}.h5" for s in subjects}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise DataNotFoundError(
            f"{len(missing)} fMRI file(s) missing: {', '.join(missing)}. Put the figshare "
            "Subject1.h5 ... Subject5.h5 there, or omit fmri= to fetch them.")
    return files


def _route(fmri: PathLike | None, bids: PathLike | bool | None) -> str:
    if bids is None or bids is False:
        return "h5"
    if fmri is not None:
        raise InvalidValueError(
            f"fmri={str(fmri)!r} and bids={str(bids)!r} were both given: they name two routes "
            "to the fMRI (the published Subject*.h5, or ds001246 BIDS through build_samples). "
            "Give one of them (neither: Subject*.h5 fetched).")
    if bids is not True and (not isinstance(bids, (str, os.PathLike)) or not str(bids).strip()):
        raise InvalidValueError(
            f"bids={bids!r}: expected the root folder of a local ds001246 tree, or True to "
            "fetch the files the BIDS route needs.")
    return "bids"


def bids_inputs(root: PathLike, subjects: Sequence[Subject], roi: str,
                catalog: Catalog) -> dict[str, tuple[Path, ...]]:
    """Every file the BIDS route reads, per subject; all must be there and non-empty.

    Per subject: the event tables of the perception training and test sessions found in
    the tree (:func:`brainfeat.bids.events.events_files`, as ``build_samples`` reads them),
    the preprocessed BOLD run of each (:func:`brainfeat.bids.layout.preprocessed_bold_path`)
    and the mask files of ``roi`` (:func:`brainfeat.fmri.rois.mask_files`).

    Raises
    ------
    DataNotFoundError
        ``root`` is not a folder; a subject has no event table of a split; an event table of
        the catalog's run table is absent, or a BOLD run or mask file is missing or empty
        (all of them counted, the first few named).
    """
    from brainfeat.bids.events import events_files
    from brainfeat.bids.layout import preprocessed_bold_path
    from brainfeat.fmri.rois import mask_files

    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataNotFoundError(
            f"bids={str(root)!r} is not a folder: give the root of a local ds001246 tree (the "
            "folder holding dataset_description.json), or bids=True to fetch it.")
    found: dict[str, tuple[Path, ...]] = {}
    missing: list[Path] = []
    for subject in subjects:
        files: list[Path] = []
        for split in (Split.TRAIN, Split.TEST):
            events = events_files(root, subject.bids, split)
            runs = catalog.runs_of(subject, split)
            expected = [root / subject.bids / f"ses-{session}" / "func" /
                        f"{subject.bids}_ses-{session}_task-perception_run-{run:02d}_events.tsv"
                        for session, n in zip(runs.session_labels, runs.runs_per_session)
                        for run in range(1, n + 1)]
            missing += [path for path in expected if path not in events]
            files += events + [preprocessed_bold_path(root, path) for path in events]
        files += mask_files(root, subject.bids, roi)
        missing += [path for path in files if not path.is_file() or path.stat().st_size == 0]
        found[subject.name] = tuple(files)
    if missing:
        named = ", ".join(str(path.relative_to(root)) for path in missing[:5])
        raise DataNotFoundError(
            f"{len(missing)} file(s) of the BIDS route are missing or empty under {root}: "
            f"{named}{', ...' if len(missing) > 5 else ''}. Fetch them with "
            "brainfeat.fetch_bids (or pass bids=True), or `datalad get` them in a DataLad "
            "clone.")
    return found


def fetch_bids_inputs(subjects: Sequence[Subject], *, data_dir: PathLike | None,
                      download: bool) -> Path:
    """Fetch :data:`BIDS_PATTERNS` of every subject from OpenNeuro; the tree's root."""
    from brainfeat.bids.layout import fetch_tree

    roots = [fetch_tree(subject, [pattern.format(s=subject.bids) for pattern in BIDS_PATTERNS],
                        data_dir=data_dir, download=download) for subject in subjects]
    return roots[0]  # every subject's files land in the same ds001246 folder


def with_bids_root(plan: Plan, root: PathLike, catalog: Catalog) -> Plan:
    """``plan`` on the BIDS route with its tree at ``root``, every input checked."""
    root = Path(root).expanduser()
    return replace(plan, bids_root=root,
                   bids_files=bids_inputs(root, plan.subjects, plan.decoder.roi, catalog))


def calibrate(plan: Plan, units: int = CALIBRATION_UNITS) -> float:
    """Seconds per unit decoder on this machine, timed on synthetic data of the plan's sizes.

    The training samples and selected voxels are the plan's; the ROI's voxel count is read
    from the first subject's fMRI file, or from its ROI mask on the BIDS route, when the
    plan names the files, else :data:`NOMINAL_VC_VOXELS`. The fit and prediction of
    ``units`` units are timed once.
    """
    import time

    import numpy as np

    from brainfeat.decoding.estimator import VoxelSelectRidge
    from brainfeat.fmri.preprocessed import read_fmri
    from brainfeat.fmri.rois import load_roi

    voxels = NOMINAL_VC_VOXELS
    for name, path in list(plan.fmri_files.items())[:1]:
        voxels = read_fmri(path, name, plan.decoder.roi, "train").n_voxels
    if plan.bids_root is not None:
        voxels = load_roi(plan.subjects[0], plan.decoder.roi, root=plan.bids_root).n_voxels
    rng = np.random.default_rng(0)
    x = rng.standard_normal((len(plan.train_ids), voxels))
    y = rng.standard_normal((len(plan.train_ids), units))
    decoder = VoxelSelectRidge(alpha=plan.decoder.alpha, n_voxels=plan.decoder.n_voxels,
                               normalize=True)
    start = time.perf_counter()
    decoder.fit(x, y).predict(x[:len(plan.test_ids)])
    return (time.perf_counter() - start) / units


def plan_regeneration(network_or_model: Any, images: PathLike, *, out: PathLike,
                      layers: Sequence[str] | None = None,
                      subjects: Sequence[SubjectLike] | None = None,
                      decoder: DecoderSettings | None = None, fmri: PathLike | None = None,
                      bids: PathLike | bool | None = None, catalog: Catalog | None = None,
                      check_disk: bool = True) -> Plan:
    """Resolve and check the inputs of :func:`brainfeat.regenerate`; nothing is written.

    Parameters
    ----------
    network_or_model, images, out, layers, subjects, fmri, bids, catalog
        As in :func:`brainfeat.regenerate`. With ``bids=True`` nothing is fetched here:
        the plan's ``bids_root`` stays None until ``fetch_bids_inputs``.
    decoder : DecoderSettings, optional
        The paper's settings by default.
    check_disk : bool
        Refuse a plan that needs more than the free space under ``out``.

    Returns
    -------
    Plan

    Raises
    ------
    DataNotFoundError
        Missing images (with the split and how many), fMRI files, or files of a local
        BIDS tree (``bids_inputs``).
    InvalidValueError
        Both ``fmri`` and ``bids`` given, or a ``bids`` that is neither a path nor True.
    UnknownNameError
        Unknown layer or subject; no layers named for a model other than the paper's.
    BrainfeatError
        Not enough disk space.
    """
    catalog = resolve_catalog(catalog)
    route = _route(fmri, bids)
    model, network = _model_name(network_or_model)
    chosen = tuple(catalog.subject(s) for s in subjects) if subjects else catalog.subjects
    if any(s.is_averaged for s in chosen):
        raise UnknownNameError("Averaged is computed from the subjects' decoded features: "
                               "name S1..S5 only.")
    plan = Plan(model=model, network=network, layers=_layers(network, layers, catalog),
                subjects=chosen, fmri_files=_fmri_files(fmri, chosen),
                train_ids=catalog.training_image_ids, test_ids=catalog.test_image_ids,
                image_paths=_images(images, catalog.training_image_ids, catalog.test_image_ids),
                out=Path(out), decoder=decoder or DecoderSettings(), route=route)
    if route == "bids" and bids is not True:
        plan = with_bids_root(plan, bids, catalog)
    needed = plan.disk_bytes
    if check_disk and needed is not None:
        existing = next(p for p in (plan.out, *plan.out.parents) if p.exists())
        free = shutil.disk_usage(existing).free
        if needed > free:
            raise BrainfeatError(
                f"Regenerating {model} into {plan.out} needs about {needed / 1e9:.1f} GB; "
                f"{free / 1e9:.1f} GB are free there: choose another out= folder or fewer "
                "layers or subjects.")
    return plan
