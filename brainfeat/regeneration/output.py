"""The regenerated folder: published layout, atomic writes, job markers, manifests.

Layout of ``out``::

    regenerated.json                  settings, versions, command, date, input SHA-256s
    profile.json                      per layer and subject: mean accuracy, inter-subject r
    decodedDNN/<kind>/<net>/<layer>/  the published layout (paper networks only)
    decodedDNN-<kind>-<net>-<layer>.zip   the same files as figshare publishes them
    manifest.json                     brainfeat's cache manifest: ``out`` is a data folder
    work/run.json                     the run's settings: a rerun must match them
    work/features.h5                  true features of every image (resumable)
    work/fmri/SubjectN.h5             BIDS route: block samples from build_samples (BData)
    work/decoded-<layer>-<S>.h5       each decoder's checkpoint (resumable)
    work/accuracy-<layer>-<subject>.npy
    work/done/<job>.json              written last by every finished job (its run time)

Every file is written to a temporary name and renamed, so a killed run leaves no
half-written file under a final name; a job whose marker exists is not run again.
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from brainfeat.catalog import Kind, Network, Subject
from brainfeat.errors import FormatError
from brainfeat.evaluation.regenerated import MANIFEST_FILE, PROFILE_FILE
from brainfeat.io.mat import mat_bytes
from brainfeat.published import published_path, variable_name
from brainfeat.remote.api import ARCHIVE_ROOT

if TYPE_CHECKING:  # pragma: no cover
    from brainfeat.fmri.preprocessed import FMRI

__all__ = ["MANIFEST_FILE", "PROFILE_FILE", "Layout", "write_atomic"]

#: Flavour of the regenerated .mat files: v7.3 files have no creation date inside, so a
#: rerun writes the same bytes (scipy's v5 writer stamps the current time in the header).
MAT_FLAVOUR = "v7.3"
#: Date stamped on every zip member, for the same reason.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return path


class Layout:
    """Paths of one regenerated folder (see the module docstring)."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.work = self.out / "work"
        self.features = self.work / "features.h5"
        self._started: dict[str, float] = {}

    def claim(self, identity: Mapping[str, Any]) -> None:
        """Record the run's identity in ``work/run.json``, or check it against an earlier run's.

        Raises
        ------
        FormatError
            If ``out`` holds a run with other settings: its finished jobs would be skipped
            and their outputs taken for this run's.
        """
        path = self.work / "run.json"
        identity = json.loads(json.dumps(dict(identity)))  # tuples as lists, as read back
        if path.is_file():
            earlier = json.loads(path.read_text(encoding="utf-8"))
            differing = sorted(k for k in identity.keys() | earlier.keys()
                               if identity.get(k) != earlier.get(k))
            if differing:
                raise FormatError(
                    f"{self.out} holds a regeneration with other settings "
                    f"({', '.join(differing)}): rerun with the same settings to resume it, "
                    "or choose another output folder.")
            return
        write_atomic(path, json.dumps(identity, indent=1, sort_keys=True).encode())

    def samples(self, subject: Subject) -> Path:
        """The block samples of one subject built on the BIDS route (``SubjectN.h5``)."""
        return self.work / "fmri" / f"{subject.h5_name}.h5"

    def write_samples(self, subject: Subject, splits: Sequence[FMRI]) -> Path:
        """Write block samples as :meth:`samples`, in the layout of the published files.

        A BData file with the keys :func:`brainfeat.fmri.read_fmri` reads: ``VoxelData``,
        ``DataType`` (1 training, 2 test, 3 imagery), ``Run``, ``stimulus_id`` (the lab's
        float id of each sample's image), the ROI's key marking every voxel, and
        ``voxel_x/y/z`` when the samples have coordinates. Samples keep their order.
        """
        from brainfeat.fmri.preprocessed import DATA_TYPE, bdata_roi_key
        from brainfeat.io.bdata import BDataBuilder, write_bdata
        from brainfeat.stimuli import name_to_id

        builder = BDataBuilder()
        builder.add(np.vstack([split.X for split in splits]), "VoxelData")
        columns = {
            "DataType": [DATA_TYPE[split.split] for split in splits for _ in split.runs],
            "Run": np.concatenate([split.runs for split in splits]),
            "stimulus_id": [name_to_id(name) for split in splits
                            for name in split.stimulus_names]}
        for key, values in columns.items():
            builder.add(np.asarray(values, dtype=np.float64), key)
        first = splits[0]
        builder.add_metadata(bdata_roi_key(first.roi), np.ones(first.n_voxels),
                             f"1 = ROI {first.roi}", where="VoxelData")
        if first.voxel_xyz is not None:
            for axis, column in zip("xyz", first.voxel_xyz.T):
                builder.add_metadata(f"voxel_{axis}", column, f"voxel {axis} (mm)",
                                     where="VoxelData")
        path = self.samples(subject)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.stem}.partial.h5")
        write_bdata(temporary, builder.build())
        os.replace(temporary, path)
        return path

    def checkpoint(self, layer: str, subject: Subject) -> Path:
        """The decoder checkpoint of one (layer, subject)."""
        return self.work / f"decoded-{layer}-{subject.name}.h5"

    def accuracy(self, layer: str, subject: Subject) -> Path:
        """The accuracy vector of one (layer, subject), float64 ``.npy``."""
        return self.work / f"accuracy-{layer}-{subject.name}.npy"

    def marker(self, job: str) -> Path:
        """The file a finished job leaves."""
        return self.work / "done" / f"{job.replace(' ', '-')}.json"

    def is_done(self, job: str) -> bool:
        """Whether ``job`` finished in an earlier run."""
        return self.marker(job).is_file()

    def begin(self, job: str) -> bool:
        """True (and the job's clock started) when ``job`` still has to run."""
        if self.is_done(job):
            return False
        self._started[job] = time.perf_counter()
        return True

    def finish(self, job: str, summary: Mapping[str, Any]) -> None:
        """Mark ``job`` finished (its outputs are all in place), with its run time."""
        seconds = time.perf_counter() - self._started.pop(job)
        write_atomic(self.marker(job), json.dumps({**summary, "seconds": seconds},
                                                  sort_keys=True).encode())

    def timings(self) -> dict[str, float]:
        """Seconds of every finished job (as measured by the run that finished it)."""
        return {path.stem: json.loads(path.read_text())["seconds"]
                for path in sorted((self.work / "done").glob("*.json"))}

    def write_array(self, path: Path, array: np.ndarray) -> None:
        """Save ``array`` as ``.npy`` atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".partial")
        with open(temporary, "wb") as handle:
            np.save(handle, array)
        os.replace(temporary, path)

    def published(self, kind: Kind, network: Network, layer: str,
                  subject: Subject | None = None, image: str | None = None) -> Path:
        """Where a published file of this folder lives."""
        relative = published_path(kind, network, layer, subject, image)
        return self.out / ARCHIVE_ROOT / relative

    def write_published(self, kind: Kind, network: Network, layer: str,
                        subject: Subject | None, arrays: Mapping[str | None, np.ndarray],
                        unit_shape: tuple[int, ...]) -> None:
        """Write files of one kind: ``{image: values}`` (per-image kinds) or ``{None: values}``."""
        for image, values in arrays.items():
            path = self.published(kind, network, layer, subject, image)
            write_atomic(path, mat_bytes(variable_name(kind), values.reshape(unit_shape),
                                         MAT_FLAVOUR))

    def publish(self, kind: Kind, network: Network, layer: str,
                files: Iterable[Path]) -> Path:
        """Zip ``files`` as figshare does and record them in the cache manifest of ``out``.

        Afterwards ``brainfeat.load(..., data_dir=out, download=False)`` reads them
        exactly like downloaded published files (sizes and CRCs recorded, as for a
        download, so ``brainfeat verify-cache`` checks them too).
        """
        from brainfeat.remote.download import record_verified
        from brainfeat.remote.registry import default_registry

        row = default_registry().layer_archive(kind, network, layer)
        archive = self.out / row.name
        temporary = archive.with_name(archive.name + ".partial")
        members: dict[str, list[int]] = {}
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as handle:
            for path in sorted(files):
                relative = path.relative_to(self.out).as_posix()
                info = zipfile.ZipInfo(relative, date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                handle.writestr(info, path.read_bytes())
                written = handle.getinfo(relative)
                members[relative] = [written.file_size, written.CRC]
        os.replace(temporary, archive)
        record_verified(self.out, row, archive, members=members)
        return archive
