"""The demo mirror behind ``brainfeat demo --serve``: every source of the dataset, SYNTHETIC.

:func:`write_mirror` writes one folder that a local server publishes as both sources of the
registry:

* figshare (``files/<id>``): from :func:`~brainfeat.demo.loop_replica.write_loop_replica`,
  ``Subject1-5.h5`` and the AlexNet fc8 zips at their real size, with the images they were
  made from (``images/``, named by stimulus name, for ``brainfeat features``); the other
  default layers of :func:`~brainfeat.demo.replica.write_replica` as miniature zips;
* openneuro (``ds001246/``): event tables and ROI masks of
  :func:`~brainfeat.demo.bids_replica.write_bids_replica`.

:func:`serve_mirror` serves it on 127.0.0.1 and returns a :class:`Mirror` whose
:meth:`~Mirror.environment` (``BRAINFEAT_MIRRORS``, ``BRAINFEAT_CATALOG``, ``BRAINFEAT_PINS``,
``BRAINFEAT_DATA``) points every command and call at it.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from brainfeat._checks import check_int, check_output_folder
from brainfeat.catalog import Catalog
from brainfeat.config import CATALOG_ENV, DATA_ENV, MIRRORS_ENV, PINS_ENV
from brainfeat.demo.bids_replica import write_bids_replica
from brainfeat.demo.replica import CATALOG_FILE, replica_catalog, write_replica
from brainfeat.demo.server import serve_folder
from brainfeat.remote.registry import BIDS_ROOT

__all__ = ["Mirror", "serve_mirror", "write_mirror"]

@dataclass(frozen=True)
class Mirror:
    """A served demo mirror.

    Attributes
    ----------
    root : pathlib.Path
        The folder served.
    url : str
        Its base URL on 127.0.0.1.
    data_dir : pathlib.Path
        The data folder its files are fetched into (kept apart from your real data).
    catalog : Catalog
        The mirror's catalog (also ``root/catalog.json``).
    """

    root: Path
    url: str
    data_dir: Path
    catalog: Catalog

    @property
    def images(self) -> Path:
        """The folder of synthetic images, named by stimulus name."""
        return self.root / "images"

    def environment(self) -> dict[str, str]:
        """The variables that point brainfeat at this mirror, by name."""
        return {MIRRORS_ENV: f"figshare={self.url},openneuro={self.url}/{BIDS_ROOT}",
                CATALOG_ENV: str(self.root / CATALOG_FILE),
                PINS_ENV: str(self.root / "pins.tsv"),
                DATA_ENV: str(self.data_dir)}

    def export_line(self) -> str:
        """One shell line that sets :meth:`environment`: ``export NAME=value ...``."""
        return "export " + " ".join(f"{name}={shlex.quote(value)}"
                                    for name, value in self.environment().items())


def write_mirror(root: str | os.PathLike[str], *, seed: int = 0, n_train: int = 20,
                 n_test: int = 50) -> Catalog:
    """Write the whole SYNTHETIC mirror (figshare files, images, ds001246 subset) into ``root``.

    Parameters
    ----------
    root : path-like
        Folder to write; replaced.
    seed : int
        Seed of every random number.
    n_train, n_test : int
        Training and test images (the first ones of the published lists) the fMRI, images,
        event tables and decoded features cover.

    Returns
    -------
    Catalog
        The mirror's catalog, also written to ``root/catalog.json``.
    """
    from brainfeat.demo.loop_replica import loop_catalog, write_loop_replica

    root = check_output_folder("root", root)
    seed = check_int("seed", seed, minimum=0, example=0)
    shutil.rmtree(root, ignore_errors=True)
    loop = write_loop_replica(root, loop_catalog(n_train, n_test), seed=seed)
    real_size = {(info.network, info.name) for info in loop.layers}
    small = replace(loop, layers=tuple(info for info in replica_catalog().layers
                                       if (info.network, info.name) not in real_size))
    write_replica(root, small, seed=seed)
    catalog = replace(loop, layers=small.layers + loop.layers)
    (root / CATALOG_FILE).write_text(catalog.to_json(), encoding="utf-8")
    write_bids_replica(root, catalog, seed=seed)
    return catalog


@contextmanager
def serve_mirror(work_dir: str | os.PathLike[str], *, seed: int = 0, n_train: int = 20,
                 n_test: int = 50) -> Iterator[Mirror]:
    """Write the mirror into ``work_dir/mirror`` and serve it on 127.0.0.1 while in the block.

    ``work_dir/mirror-data`` (replaced) is the data folder of :meth:`Mirror.environment`. Nothing
    in the process environment is changed: set :meth:`Mirror.environment` where you want it.

    Parameters
    ----------
    work_dir : path-like
        Folder for ``mirror/`` and ``mirror-data/``.
    seed, n_train, n_test
        As for :func:`write_mirror`.

    Yields
    ------
    Mirror
    """
    work_dir = check_output_folder("work_dir", work_dir)
    root, data_dir = work_dir / "mirror", work_dir / "mirror-data"  # `demo` replaces data/
    shutil.rmtree(data_dir, ignore_errors=True)
    catalog = write_mirror(root, seed=seed, n_train=n_train, n_test=n_test)
    with serve_folder(root) as url:
        yield Mirror(root, url, data_dir, catalog)
