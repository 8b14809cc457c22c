"""What a regeneration run will do, checked before any long work starts.

:func:`plan_regeneration` resolves the network or model, the layers and their unit counts,
the subjects and their fMRI files, and the images of both splits; it refuses missing
images (named, with how many are missing and from which split), missing fMRI files and a
plan that does not fit on the disk. A :class:`Plan` lists the jobs of the task graph and
the disk they need (``--dry-run`` prints :meth:`Plan.describe`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brainfeat.catalog import Catalog, Network, Subject, SubjectLike, resolve_catalog
from brainfeat.errors import BrainfeatError, DataNotFoundError, UnknownNameError

__all__ = ["CALIBRATION_UNITS", "NOMINAL_VC_VOXELS", "DecoderSettings", "LayerPlan", "Plan",
           "calibrate", "plan_regeneration"]

PathLike = str | os.PathLike[str]
#: VC voxels assumed by :func:`calibrate` when no fMRI file is at hand (users report 3,444 to
#: 6,237 for the five subjects, DATASET.md 1.2).
NOMINAL_VC_VOXELS = 5000
#: Units timed by :func:`calibrate`.
CALIBRATION_UNITS = 256
#: Bytes of a float32 and a float64 value.
_F4, _F8 = 4, 8


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
        ``SubjectN.h5`` of each subject (``S1`` -> path); empty when they are fetched.
    train_ids, test_ids : tuple of str
        Stimulus names of the training and test images, in published order.
    image_paths : tuple of Path
        The image file of each name (training, then test).
    out : Path
    decoder : DecoderSettings
    seconds_per_unit : float or None
        One unit decoder's time on this machine (:func:`calibrate`), when measured.
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

    @property
    def jobs(self) -> list[str]:
        """Job names in graph order: features, decoders per (subject, layer), Averaged, publish."""
        names = ["features"]
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
        float64 accuracies and ranks) and, for the paper's networks, their zips once more.
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
        return features + checkpoints + published * (2 if self.network is not None else 1)

    def describe(self) -> str:
        """The plan as text: model, layers and units, subjects, images, jobs, disk."""
        lines = [f"Regenerate {self.model} into {self.out}",
                 f"  decoder: ROI {self.decoder.roi}, {self.decoder.n_voxels} voxels per unit, "
                 f"alpha {self.decoder.alpha:g}, X and Y z-scored, test fMRI averaged over "
                 "repeats",
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


def calibrate(plan: Plan, units: int = CALIBRATION_UNITS) -> float:
    """Seconds per unit decoder on this machine, timed on synthetic data of the plan's sizes.

    The training samples and selected voxels are the plan's; the ROI's voxel count is read
    from the first subject's fMRI file when the plan names the files, else
    :data:`NOMINAL_VC_VOXELS`. The fit and prediction of ``units`` units are timed once.
    """
    import time

    import numpy as np

    from brainfeat.decoding.estimator import VoxelSelectRidge
    from brainfeat.fmri.preprocessed import read_fmri

    voxels = NOMINAL_VC_VOXELS
    for name, path in list(plan.fmri_files.items())[:1]:
        voxels = read_fmri(path, name, plan.decoder.roi, "train").n_voxels
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
                      catalog: Catalog | None = None, check_disk: bool = True) -> Plan:
    """Resolve and check the inputs of :func:`brainfeat.regenerate`; nothing is written.

    Parameters
    ----------
    network_or_model, images, out, layers, subjects, fmri, catalog
        As in :func:`brainfeat.regenerate`.
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
        Missing images (with the split and how many) or fMRI files.
    UnknownNameError
        Unknown layer or subject; no layers named for a model other than the paper's.
    BrainfeatError
        Not enough disk space.
    """
    catalog = resolve_catalog(catalog)
    model, network = _model_name(network_or_model)
    chosen = tuple(catalog.subject(s) for s in subjects) if subjects else catalog.subjects
    if any(s.is_averaged for s in chosen):
        raise UnknownNameError("Averaged is computed from the subjects' decoded features: "
                               "name S1..S5 only.")
    plan = Plan(model=model, network=network, layers=_layers(network, layers, catalog),
                subjects=chosen, fmri_files=_fmri_files(fmri, chosen),
                train_ids=catalog.training_image_ids, test_ids=catalog.test_image_ids,
                image_paths=_images(images, catalog.training_image_ids, catalog.test_image_ids),
                out=Path(out), decoder=decoder or DecoderSettings())
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
