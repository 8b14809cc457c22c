"""The demo job behind ``brainfeat demo`` (and ``make demo``).

1. :func:`write_replica` writes a SYNTHETIC miniature of the figshare files into
   ``<work_dir>/replica``;
2. :func:`serve_folder` serves it on 127.0.0.1 and ``BRAINFEAT_MIRRORS`` points the
   ``figshare`` source at it, so the registry's own rows and URLs (``<base>/files/<id>``)
   are fetched through the real download path into ``<work_dir>/data`` (unpinned rows:
   verified structurally, then pinned in the local manifest);
3. every layer and subject is loaded with one call, accuracy is recomputed from decoded and
   true features and compared with the replica's accuracy files;
4. :func:`verify_replica`: :func:`brainfeat.verify` on the fetched files;
5. :func:`regenerate_replica`: the regeneration loop (fMRI fetched, features, decoders,
   Averaged, scores) on a second SYNTHETIC replica, and ``verify --regenerated`` of its output.

:func:`fetch_replica` stops after step 2 and returns the :class:`DemoData` (data folder and
catalog), so later steps (e.g. ``brainfeat.verify``) can run on the same files.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from brainfeat._checks import check_int, check_output_folder
from brainfeat.catalog import Catalog, Kind, Subject
from brainfeat.config import MIRRORS_ENV
from brainfeat.demo.replica import write_replica
from brainfeat.demo.server import serve_folder
from brainfeat.evaluation.metrics import unit_correlation
from brainfeat.published import load
from brainfeat.remote.api import fetch

__all__ = ["DEMO_TRAIN_IMAGES", "AccuracyCheck", "DemoData", "check_accuracies", "fetch_replica",
           "regenerate_replica", "verify_replica"]

#: Training images of the demo's regeneration loop (the first ones of the published list):
#: enough for 20-voxel decoders, few enough that ``brainfeat demo`` stays under a minute.
DEMO_TRAIN_IMAGES = 50


@dataclass(frozen=True)
class DemoData:
    """Where the demo put its files.

    Attributes
    ----------
    work_dir : pathlib.Path
    replica_dir : pathlib.Path
        The synthetic replica as a server would publish it.
    data_dir : pathlib.Path
        The brainfeat data folder the replica was fetched into.
    catalog : Catalog
        The replica's catalog (pass it as ``catalog=`` to every brainfeat call).
    """

    work_dir: Path
    replica_dir: Path
    data_dir: Path
    catalog: Catalog


@dataclass(frozen=True)
class AccuracyCheck:
    """Recomputed vs published accuracy of one layer and subject."""

    network: str
    layer: str
    subject: str
    n_units: int
    n_nan: int
    mean_recomputed: float
    mean_published: float
    max_abs_difference: float

    @property
    def agrees(self) -> bool:
        """True when every unit agrees within 1e-5 and NaN units coincide."""
        return self.max_abs_difference <= 1e-5


@contextmanager
def mirrored(url: str, source: str = "figshare") -> Iterator[None]:
    """Point ``source`` at ``url`` through ``BRAINFEAT_MIRRORS`` for the duration."""
    previous = os.environ.get(MIRRORS_ENV)
    os.environ[MIRRORS_ENV] = f"{source}={url}"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(MIRRORS_ENV, None)
        else:
            os.environ[MIRRORS_ENV] = previous


def fetch_replica(work_dir: str | os.PathLike[str], *, seed: int = 0,
                  progress: bool = False) -> DemoData:
    """Write the replica, serve it on 127.0.0.1 and fetch every zip through the real path.

    Parameters
    ----------
    work_dir : path-like
        Folder for ``replica/`` and ``data/``; both are replaced.
    seed : int
        Seed of the replica's random numbers.
    progress : bool
        Show download progress bars.

    Returns
    -------
    DemoData
    """
    work_dir = check_output_folder("work_dir", work_dir)
    seed = check_int("seed", seed, minimum=0, example=0)
    replica_dir, data_dir = work_dir / "replica", work_dir / "data"
    for folder in (replica_dir, data_dir):
        shutil.rmtree(folder, ignore_errors=True)
    catalog = write_replica(replica_dir, seed=seed)
    with serve_folder(replica_dir) as url, mirrored(url):
        for info in catalog.layers:
            for kind in Kind:
                fetch(kind, info.network, info.name, data_dir=data_dir, progress=progress,
                      catalog=catalog)
    return DemoData(work_dir, replica_dir, data_dir, catalog)


def check_accuracies(data: DemoData) -> list[AccuracyCheck]:
    """Recompute each layer's accuracy from decoded + true; compare with the accuracy files.

    Everything is read from the local cache (``download=False``).
    """
    checks = []
    kw = dict(data_dir=data.data_dir, catalog=data.catalog, download=False, progress=False)
    for info in data.catalog.layers:
        true = load("true", info.network, info.name, **kw).values
        for subject in data.catalog.subjects_for(Kind.DECODED):
            decoded = load("decoded", info.network, info.name, subject, **kw).values
            published = load("accuracy", info.network, info.name, subject, **kw).values
            checks.append(_compare(info.network.value, info.name, subject,
                                   unit_correlation(decoded, true), published))
    return checks


def _compare(network: str, layer: str, subject: Subject, recomputed: np.ndarray,
             published: np.ndarray) -> AccuracyCheck:
    nan_mismatch = np.isnan(recomputed) != np.isnan(published)
    both = ~np.isnan(recomputed) & ~np.isnan(published)
    difference = float(np.max(np.abs(recomputed[both] - published[both]), initial=0.0))
    return AccuracyCheck(
        network=network, layer=layer, subject=subject.name, n_units=recomputed.size,
        n_nan=int(np.isnan(published).sum()),
        mean_recomputed=float(np.nanmean(recomputed)),
        mean_published=float(np.nanmean(published)),
        max_abs_difference=float("inf") if nan_mismatch.any() else difference)


def verify_replica(data: DemoData, out_dir: str | os.PathLike[str] | None = None, *,
                   progress: bool = False) -> "VerificationReport":
    """Step 4: :func:`brainfeat.verify` on the fetched replica, from the local cache.

    Parameters
    ----------
    data : DemoData
        What :func:`fetch_replica` returned.
    out_dir : path-like, optional
        Where ``verification.json``, ``verification.html`` and the Figure 2 files go;
        defaults to ``<work_dir>/verification``.
    progress : bool
        Show a progress bar.

    Returns
    -------
    VerificationReport
    """
    from brainfeat.evaluation.report import verify

    out = Path(out_dir) if out_dir is not None else data.work_dir / "verification"
    return verify(data_dir=data.data_dir, catalog=data.catalog, download=False, out_dir=out,
                  progress=progress)


def regenerate_replica(work_dir: str | os.PathLike[str], *, seed: int = 0,
                       n_train: int = DEMO_TRAIN_IMAGES, n_test: int = 50,
                       ) -> tuple["Regeneration", "RegeneratedComparison"]:
    """The regeneration loop on a SYNTHETIC replica, offline, end to end.

    :func:`~brainfeat.demo.loop_replica.write_loop_replica` writes images, ``Subject*.h5``
    and "published" AlexNet fc8 files (made by its own plain decoder) into
    ``<work_dir>/loop-replica``; a local server publishes them; :func:`brainfeat.regenerate`
    fetches the fMRI through the real download path, extracts the features, decodes every
    unit of every subject and writes ``<work_dir>/regenerated``; the replica's published
    files are fetched the same way and compared with the regenerated ones, and the
    decodability profile is drawn beside theirs (``regenerated/profile.png``).

    Parameters
    ----------
    work_dir : path-like
        Its ``loop-replica/``, ``loop-data/`` and ``regenerated/`` are replaced.
    seed : int
        Seed of the replica.
    n_train, n_test : int
        Training and test images of the replica (the first ones of the published lists).

    Returns
    -------
    (Regeneration, RegeneratedComparison)
    """
    from brainfeat.demo.loop_replica import LOOP_FILE, loop_catalog, write_loop_replica
    from brainfeat.evaluation.regenerated import compare_regenerated, draw_profile
    from brainfeat.regeneration.loop import regenerate

    work_dir = Path(work_dir)
    replica_dir, data_dir, out = (work_dir / name for name in
                                  ("loop-replica", "loop-data", "regenerated"))
    for folder in (replica_dir, data_dir, out):
        shutil.rmtree(folder, ignore_errors=True)
    catalog = write_loop_replica(replica_dir, loop_catalog(n_train, n_test), seed=seed)
    settings = json.loads((replica_dir / LOOP_FILE).read_text(encoding="utf-8"))
    with serve_folder(replica_dir) as url, mirrored(url):
        result = regenerate("AlexNet", replica_dir / "images", out=out,
                            layers=[name for _, name in settings["layers"]],
                            weights=settings["weights"], batch_size=settings["batch_size"],
                            n_voxels=settings["n_voxels"],
                            alpha=settings["alpha"], data_dir=data_dir, catalog=catalog,
                            command="brainfeat.demo.run.regenerate_replica")
        for info in catalog.layers:
            for kind in Kind:
                fetch(kind, info.network, info.name, data_dir=data_dir, progress=False,
                      catalog=catalog)
    draw_profile(out, data_dir=data_dir, catalog=catalog)
    return result, compare_regenerated(out, data_dir=data_dir, download=False, catalog=catalog)


if TYPE_CHECKING:  # pragma: no cover
    from brainfeat.evaluation.regenerated import RegeneratedComparison
    from brainfeat.evaluation.results import VerificationReport
    from brainfeat.regeneration.loop import Regeneration
