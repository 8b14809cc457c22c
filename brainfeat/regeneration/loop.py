"""``brainfeat.regenerate``: the paper's pipeline end to end, as one Dask task graph.

Graph (one task per job, see ``Plan.jobs``)::

    features -> decode <layer> <S1> ... <Sn> -> averaged <layer> -> publish <layer> -> manifest
             +-> true <layer> ------------------------------+
    samples <S1> ... <Sn> -> decode <layer> <S1> ... <Sn>   (BIDS route only)

* ``features``: :func:`brainfeat.features.extract` of every training and test image into
  ``work/features.h5`` (Caffe-exact for AlexNet and VGG19; any torchvision model or module);
* ``samples`` (``bids=`` only): :func:`brainfeat.fmri.build_samples` of the subject's
  training and test runs, written as ``work/fmri/SubjectN.h5`` in the layout of the
  published files (BData, ``VoxelData``, ``DataType``, ``Run``, ``stimulus_id``, the ROI,
  ``voxel_x/y/z``), which the decoders then read exactly as they read a published
  ``SubjectN.h5`` (test samples averaged over repeats by the same reader);
* ``decode``: :func:`brainfeat.decoding.decode_layer` with the paper's settings, then the
  test predictions as float32, scored against the true features
  (:func:`~brainfeat.evaluation.metrics.unit_correlation`) and ranked; on a cluster its
  unit chunks run as tasks of their own (one per subject, layer and unit chunk);
* ``averaged``: the subjects' decoded features averaged, then scored (the definition
  ``brainfeat.verify`` settled);
* ``publish`` (paper networks): the layer's four zips, recorded so that
  ``brainfeat.load(..., data_dir=out, download=False)`` reads them;
* ``manifest``: ``regenerated.json`` (settings, versions, command, date, input SHA-256s)
  and ``profile.json`` (mean accuracy per layer and subject, inter-subject r).

Every job is idempotent: its outputs are written atomically and a marker is left last;
a rerun skips finished jobs, and the resumable extraction and decoders redo only the
batches and unit chunks not yet written, so a killed run ends with the same files.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from brainfeat._checks import check_int
from brainfeat.catalog import AVERAGED, Catalog, Kind, SubjectLike, resolve_catalog
from brainfeat.evaluation.metrics import (
    averaged_decoded, intersubject_correlation, rank_units, unit_correlation)
from brainfeat.evaluation.regenerated import library_versions
from brainfeat.regeneration.output import MANIFEST_FILE, PROFILE_FILE, Layout
from brainfeat.regeneration.plan import (
    DecoderSettings, Plan, calibrate, fetch_bids_inputs, plan_regeneration, with_bids_root)

__all__ = ["FORMAT", "RANK_CONVENTION", "Regeneration", "regenerate"]

FORMAT = "brainfeat-regenerated/1"
#: How ranks are written: 1 = most accurate unit, NaN accuracies left unranked -- the
#: convention ``brainfeat.verify`` reports for the files it has checked (docs/verification.md).
RANK_CONVENTION = {"descending": True, "nan": "keep"}


@dataclass(frozen=True)
class Regeneration:
    """What :func:`regenerate` produced.

    Attributes
    ----------
    plan : Plan
    out : pathlib.Path
    profile : dict
        ``{layer: {"mean_accuracy": {subject: float}, "intersubject_r": float}}``
        (subjects S1..Sn and Averaged; the mean of the pairwise r of S1..Sn).
    manifest : dict
        The content of ``regenerated.json``.
    timings : dict of str to float
        Seconds of each job (``decode-fc8-S1`` ...), as measured by the run that did it.
    """

    plan: Plan
    out: Path
    profile: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def format_profile(self) -> str:
        """The decodability profile as a table (one row per layer)."""
        subjects = [s.name for s in self.plan.subjects] + [AVERAGED.name]
        head = f"{'layer':<12}" + "".join(f"{s:>9}" for s in subjects) + f"{'inter-r':>9}"
        rows = [head]
        for layer, entry in self.profile.items():
            means = entry["mean_accuracy"]
            rows.append(f"{layer:<12}" + "".join(_cell(means[s]) for s in subjects)
                        + _cell(entry["intersubject_r"]))
        return "\n".join(rows)


def regenerate(network_or_model: Any, images: str | os.PathLike[str], *,
               out: str | os.PathLike[str], layers: Sequence[str] | None = None,
               subjects: Sequence[SubjectLike] | None = None, weights: Any = None,
               roi: str = "VC", n_voxels: int = 500, alpha: float = 100.0,
               fmri: str | os.PathLike[str] | None = None,
               bids: str | os.PathLike[str] | bool | None = None, client: Any = None,
               device: str | None = None, batch_size: int = 8, chunk_units: int | None = None,
               data_dir: str | os.PathLike[str] | None = None, download: bool = True,
               catalog: Catalog | None = None, command: str = "", dry_run: bool = False,
               ) -> Regeneration:
    """Regenerate decoded features, accuracies and ranks from images, weights and fMRI.

    Parameters
    ----------
    network_or_model : str or torch.nn.Module
        ``"AlexNet"`` / ``"VGG19"`` (output in the published layout, loadable with
        ``brainfeat.load(..., data_dir=out, download=False)``), a torchvision model name or
        a module (a decodability profile; ``layers`` must name its modules).
    images : path-like
        Folder of the stimulus images, named by stimulus name (``n01443537_22563.JPEG``):
        the catalog's training and test images.
    out : path-like
        Output folder (layout in ``brainfeat.regeneration.output``); a rerun resumes it.
    layers : sequence of str, optional
        Layers to decode; default every published layer of the network.
    subjects : sequence of subject, optional
        Default S1..S5 (the catalog's subjects); ``Averaged`` is the mean over these.
    weights : optional
        As in :func:`brainfeat.features.extract` (``"random"`` for seeded random weights).
    roi, n_voxels, alpha
        The decoder: ROI, voxels selected per unit, ridge penalty (the paper: VC, 500, 100).
    fmri : path-like, optional
        Folder holding ``Subject1.h5`` ...; default: fetched with
        :func:`brainfeat.fetch_fmri` into ``data_dir``.
    bids : path-like or True, optional
        Take the fMRI from raw ds001246 instead of ``Subject*.h5``: the root of a local
        tree (event tables, ``sourcedata`` ROI masks, ``derivatives/preproc-spm`` BOLD
        runs), or True to fetch those files of the chosen subjects from OpenNeuro into
        ``data_dir`` (``brainfeat.regeneration.plan.BIDS_PATTERNS``; after the plan's
        checks, before the features). :func:`brainfeat.fmri.build_samples` makes one sample
        per block with its default preprocessing; the test samples are averaged over repeats
        as on the ``Subject*.h5`` route. Not together with ``fmri``. The manifest records
        the route and the SHA-256 of every event table, BOLD run and mask file read; a
        rerun into ``out`` must take the same route.
    client : distributed.Client, optional
        Run the graph on this Dask cluster (its workers must share ``out``); default the
        local threaded scheduler. On a cluster each decoder job hands its unit chunks to
        the cluster as tasks of their own (one task per subject, layer and unit chunk), so
        the workers share one big layer; the files are the same as a local run's.
    device : str, optional
        torch device of the feature extraction and of the decoders (``"cuda"``): given,
        the decoders run on :mod:`brainfeat.decoding`'s torch backend in float64 there;
        None, extraction on the CPU and the decoders on numpy. Both backends implement the
        same solves; their decoded features agree within the comparison's tolerance.
    batch_size : int
        Images per forward pass.
    chunk_units : int, optional
        Units per decoder chunk (and per checkpoint and per cluster task); default
        :func:`brainfeat.decoding.decode_layer`'s (about 128 MB of temporaries).
    data_dir, download
        Where the fMRI files are cached, and whether they may be downloaded.
    catalog : Catalog, optional
        Images, subjects and layers; a restricted catalog runs the loop on fewer images.
    command : str
        The command line recorded in the manifest (the CLI passes its own).
    dry_run : bool
        Check the inputs and return the plan (with a decoding time calibrated on this
        machine) without running anything.

    Returns
    -------
    Regeneration

    Raises
    ------
    DataNotFoundError
        Missing images (named, with the split and the count), fMRI files, or event
        tables, BOLD runs or masks of the BIDS route (counted, the first few named).
    InvalidValueError
        Both ``fmri`` and ``bids``, or a ``bids`` that is neither a path nor True.
    FormatError
        ``out`` holds features of another network, or weights that do not fit it, or a
        run with other settings (another fMRI route included).
    """
    catalog = resolve_catalog(catalog)
    if chunk_units is not None:
        chunk_units = check_int("chunk_units", chunk_units, minimum=1, example=4096)
    plan = plan_regeneration(network_or_model, images, out=out, layers=layers,
                             subjects=subjects, fmri=fmri, bids=bids, catalog=catalog,
                             decoder=DecoderSettings(roi, n_voxels, alpha),
                             check_disk=not dry_run)
    if dry_run:
        return Regeneration(replace(plan, seconds_per_unit=calibrate(plan)), plan.out)
    runner = _Runner(plan, catalog, network_or_model, weights, device, batch_size, data_dir,
                     download, command, chunk_units, spread=client is not None)
    runner.layout.claim(runner.identity())  # another route's run is refused before a fetch
    if plan.route == "bids" and plan.bids_root is None:
        root = fetch_bids_inputs(plan.subjects, data_dir=data_dir, download=download)
        runner.plan = plan = with_bids_root(plan, root, catalog)
    graph = runner.graph()
    import_task_modules()
    if client is not None:
        from distributed.diagnostics.plugin import WorkerPlugin

        class ImportFirst(WorkerPlugin):
            name = "brainfeat-regeneration-imports"

            def setup(self, worker: Any) -> None:
                import_task_modules()

        client.register_plugin(ImportFirst())
        profile, manifest = client.compute(graph).result()
    else:
        import dask

        # Leaving the pool waits for running jobs: after an error (or Ctrl-C) nothing is
        # still writing when regenerate returns, so a rerun starts from a quiet folder.
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            profile, manifest = dask.compute(graph, scheduler="threads", pool=pool)[0]
    return Regeneration(plan, plan.out, profile, manifest, runner.layout.timings())


# What the jobs import. Imported once before any job starts, in this process and on every
# worker: two threads importing scipy for the first time at once can fail halfway
# (KeyError: 'scipy', "partially initialized module"), seen on a 2-thread Dask worker.
TASK_MODULES = ("h5py", "scipy.io", "sklearn", "pooch", "brainfeat.io.mat",
                "brainfeat.decoding.layer", "brainfeat.features.store",
                "brainfeat.fmri.preprocessed", "brainfeat.fmri.samples", "nibabel",
                "brainfeat.remote.api")


def import_task_modules() -> None:
    """Import :data:`TASK_MODULES` (a no-op where they are imported already)."""
    import importlib

    for module in TASK_MODULES:
        importlib.import_module(module)


class _Runner:
    """The jobs of one plan, and the Dask graph that runs them."""

    def __init__(self, plan: Plan, catalog: Catalog, model: Any, weights: Any,
                 device: str | None, batch_size: int, data_dir: Any, download: bool,
                 command: str, chunk_units: int | None = None, spread: bool = False) -> None:
        self.plan, self.catalog, self.model, self.weights = plan, catalog, model, weights
        self.device, self.batch_size = device, batch_size
        self.chunk_units, self.spread = chunk_units, spread
        self.data_dir, self.download, self.command = data_dir, download, command
        self.layout = Layout(plan.out)

    def identity(self) -> dict[str, Any]:
        """What makes two runs the same run: a rerun into ``out`` must match it."""
        plan = self.plan
        return {"model": plan.model, "weights": str(self.weights),
                "layers": [layer.name for layer in plan.layers],
                "subjects": [s.name for s in plan.subjects], "roi": plan.decoder.roi,
                "n_voxels": plan.decoder.n_voxels, "alpha": plan.decoder.alpha,
                "fmri": plan.route,
                "batch_size": self.batch_size, "train_ids": list(plan.train_ids),
                "test_ids": list(plan.test_ids)}

    def graph(self) -> Any:
        from dask import delayed

        plan = self.plan
        features = delayed(self.features, pure=False)(dask_key_name="features")
        samples = {s.name: delayed(self.samples, pure=False)(s, dask_key_name=f"samples-{s.name}")
                   if plan.route == "bids" else None for s in plan.subjects}
        finished = []
        for layer in plan.layers:
            decoded = [delayed(self.decode, pure=False)(
                features, layer.name, s, samples[s.name],
                dask_key_name=f"decode-{layer.name}-{s.name}") for s in plan.subjects]
            true = delayed(self.true, pure=False)(features, layer.name,
                                                  dask_key_name=f"true-{layer.name}")
            averaged = delayed(self.averaged, pure=False)(
                features, layer.name, decoded, true, dask_key_name=f"averaged-{layer.name}")
            finished.append(delayed(self.publish, pure=False)(
                layer.name, averaged, dask_key_name=f"publish-{layer.name}"))
        return delayed(self.manifest, pure=False)(finished, dask_key_name="manifest")

    # -- the jobs --
    def features(self) -> Path:
        """Extract the true features of every image (resumes an interrupted extraction)."""
        from brainfeat.features.extraction import extract

        plan = self.plan
        if self.layout.begin("features"):
            extract(self.model, plan.image_paths, [layer.name for layer in plan.layers],
                    self.layout.features, device=self.device, batch_size=self.batch_size,
                    weights=self.weights, image_ids=plan.train_ids + plan.test_ids,
                    progress=False, data_dir=self.data_dir, catalog=self.catalog)
            self.layout.finish("features", {"images": len(plan.image_paths)})
        return self.layout.features

    def samples(self, subject: Any) -> Path:
        """BIDS route: the subject's block samples, as ``work/fmri/SubjectN.h5``."""
        from brainfeat.fmri.samples import build_samples

        job = f"samples {subject.name}"
        if self.layout.begin(job):
            splits = [build_samples(subject, split, self.plan.decoder.roi,
                                    root=self.plan.bids_root, catalog=self.catalog)
                      for split in ("train", "test")]
            self.layout.write_samples(subject, splits)
            self.layout.finish(job, {split.split.value: split.n_samples for split in splits})
        return self.layout.samples(subject)

    def _test_features(self, features: Path, layer: str) -> Any:
        from brainfeat.features.store import read_extracted

        return read_extracted(features, layer, self.plan.test_ids)

    def _fmri_path(self, subject: Any) -> Path:
        from brainfeat.remote.api import fetch_fmri

        if self.plan.route == "bids":
            return self.layout.samples(subject)
        return self.plan.fmri_files.get(subject.name) or fetch_fmri(
            subject, data_dir=self.data_dir, download=self.download, progress=False)

    def _fmri(self, subject: Any, split: str) -> Any:
        from brainfeat.fmri.preprocessed import read_fmri

        return read_fmri(self._fmri_path(subject), subject, self.plan.decoder.roi, split,
                         average_repeats=split == "test", catalog=self.catalog)

    def _decoded(self, layer: str, subject: Any) -> np.ndarray:
        import h5py

        with h5py.File(self.layout.checkpoint(layer, subject), "r") as handle:
            return handle["decoded"][()].astype(np.float32)

    def decode(self, features: Path, layer: str, subject: Any, _samples: Path | None) -> str:
        """Fit every unit's decoder for one subject; write decoded, accuracy and rank."""
        from brainfeat.decoding.layer import decode_layer

        job = f"decode {layer} {subject.name}"
        if not self.layout.begin(job):
            return job
        decoder = self.plan.decoder
        options = {} if self.device is None else {"backend": "torch", "device": self.device}

        def run(client: Any = None) -> None:
            decode_layer(subject, self.plan.model, layer, features,
                         self.layout.checkpoint(layer, subject),
                         fmri_train=self._fmri(subject, "train"),
                         fmri_test=self._fmri(subject, "test"), roi=decoder.roi,
                         alpha=decoder.alpha, n_voxels=decoder.n_voxels,
                         chunk_units=self.chunk_units, client=client, progress=False,
                         catalog=self.catalog, **options)

        if self.spread:  # on a worker: its unit chunks go to the cluster as tasks
            from distributed import worker_client

            with worker_client() as client:
                run(client)
        else:
            run()
        self._score(features, layer, subject, self._decoded(layer, subject))
        self.layout.finish(job, {})
        return job

    def averaged(self, features: Path, layer: str, decoded_jobs: list[str], _true: str) -> str:
        """The subjects' decoded features averaged, then scored like a subject."""
        job = f"averaged {layer}"
        if self.layout.begin(job):
            mean = averaged_decoded(self._decoded(layer, s) for s in self.plan.subjects)
            self._score(features, layer, AVERAGED, mean.astype(np.float32))
            self.layout.finish(job, {"subjects": decoded_jobs})
        return job

    def _score(self, features: Path, layer: str, subject: Any, decoded: np.ndarray) -> None:
        true = self._test_features(features, layer)
        accuracy = unit_correlation(decoded, true.values)
        self.layout.write_array(self.layout.accuracy(layer, subject), accuracy)
        network = self.plan.network
        if network is None:
            return
        write = self.layout.write_published
        write(Kind.DECODED, network, layer, subject, dict(zip(self.plan.test_ids, decoded)),
              true.unit_shape)
        write(Kind.ACCURACY, network, layer, subject, {None: accuracy}, true.unit_shape)
        write(Kind.RANK, network, layer, subject, {None: rank_units(accuracy, **RANK_CONVENTION)},
              true.unit_shape)

    def true(self, features: Path, layer: str) -> str:
        """The true features of the test images, in the published layout."""
        job = f"true {layer}"
        if not self.layout.begin(job):
            return job
        if self.plan.network is not None:
            true = self._test_features(features, layer)
            self.layout.write_published(Kind.TRUE, self.plan.network, layer, None,
                                        dict(zip(self.plan.test_ids, true.values)),
                                        true.unit_shape)
        self.layout.finish(job, {})
        return job

    def publish(self, layer: str, _averaged: str) -> str:
        """The layer's four zips, recorded in the folder's cache manifest."""
        job = f"publish {layer}"
        network = self.plan.network
        if network is not None and self.layout.begin(job):
            for kind in Kind:
                folder = self.layout.out / "decodedDNN" / kind.value / network.value / layer
                self.layout.publish(kind, network, layer, folder.rglob("*.mat"))
            self.layout.finish(job, {})
        return job

    def manifest(self, _published: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Write ``profile.json`` and ``regenerated.json``; return both."""
        from pooch import file_hash

        plan, layout = self.plan, self.layout
        profile = {}
        for layer in plan.layers:
            accuracy = {s.name: np.load(layout.accuracy(layer.name, s))
                        for s in (*plan.subjects, AVERAGED)}
            pairs = intersubject_correlation({s.name: accuracy[s.name] for s in plan.subjects})
            profile[layer.name] = {
                "mean_accuracy": {name: _mean(values) for name, values in accuracy.items()},
                "intersubject_r": _mean(np.array(list(pairs.values()))) if pairs else None}
        (layout.out / PROFILE_FILE).write_text(json.dumps(profile, indent=1), encoding="utf-8")
        fmri_inputs = ([path for paths in plan.bids_files.values() for path in paths]
                       if plan.route == "bids" else list(map(self._fmri_path, plan.subjects)))
        inputs = {str(path): file_hash(str(path), alg="sha256")
                  for path in (*plan.image_paths, *fmri_inputs)}
        if isinstance(self.weights, (str, os.PathLike)) and Path(self.weights).is_file():
            inputs[str(self.weights)] = file_hash(str(self.weights), alg="sha256")
        manifest = {
            "format": FORMAT, "model": plan.model,
            "network": plan.network.value if plan.network else None,
            "layers": {layer.name: list(self._test_features(layout.features, layer.name)
                                        .unit_shape) for layer in plan.layers},
            "subjects": [s.name for s in plan.subjects],
            "images": {"training": len(plan.train_ids), "test": len(plan.test_ids)},
            "fmri": _fmri_provenance(plan),
            "settings": {"roi": plan.decoder.roi, "n_voxels": plan.decoder.n_voxels,
                         "alpha": plan.decoder.alpha, "normalize": True,
                         "test_fmri": "averaged over repeats",
                         "averaged": "mean of the subjects' decoded features, then scored",
                         "rank": RANK_CONVENTION, "weights": str(self.weights),
                         "device": str(self.device), "batch_size": self.batch_size,
                         "catalog": self.catalog.name},
            "versions": library_versions(),
            "command": self.command,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "inputs_sha256": inputs,
        }
        (layout.out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        return profile, manifest


def _fmri_provenance(plan: Plan) -> dict[str, Any]:
    """The manifest's record of the fMRI route."""
    if plan.route == "bids":
        return {"route": "bids", "root": str(plan.bids_root),
                "samples": "brainfeat.fmri.build_samples defaults (TR 3 s, first 9 s "
                           "discarded, detrended, % signal change, despiked at 3 SD, 3-s "
                           "shift, one-back repeats left out), written to work/fmri/"
                           "SubjectN.h5; test samples averaged over repeats"}
    return {"route": "h5", "files": "preprocessed Subject*.h5 (figshare)"}


def _cell(value: float | None) -> str:
    return f"{'-':>9}" if value is None else f"{value:>9.3f}"


def _mean(values: np.ndarray) -> float | None:
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else None
